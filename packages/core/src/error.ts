/**
 * The one error class. Built cheaply (no stack unless asked: stack capture dominates every error
 * path), recognised across duplicate installs by a brand, and dehydrated to a body that carries
 * only what the sender chose (PROTOCOL.md §3).
 */
import type { ErrorBody, Executed, Json } from './envelope.js';
import { type BuiltinName, type Category, type CodeEntry, codes, type Recovery, type Registry } from './registry.js';
import { DEFAULT_DETAIL_LIMITS, type DetailLimits, toBoundedObject } from './sanitize.js';

const BRAND = Symbol.for('faultline.error');

/** The part of a registry the error class needs; any `Registry<N>` satisfies it. */
export type RegistryLike = Pick<Registry<string>, 'lookupName' | 'byCode'>;

/** Options of {@link FaultlineError}. */
export interface FaultlineErrorOptions {
  /** Safe for a person to read; sent on the wire. Defaults to the registry's message. */
  message?: string;
  /** JSON sent on the wire after bounding. Put nothing secret here. */
  details?: Record<string, unknown>;
  /** The underlying error. Only a Faultline error's body is sent; anything else stays local. */
  cause?: unknown;
  /** Pacing for the receiver: do not retry before this many ms. */
  retryAfterMs?: number;
  /** Whether the handler ran before the failure. */
  executed?: Executed;
  /** The registry holding `name`; defaults to the built-in codes. */
  registry?: RegistryLike;
  /** Capture a stack trace (costs ~4 µs). @default false */
  captureStack?: boolean;
}

/** Options with nothing set, shared by {@link FaultlineError.fromBody}. */
const NO_OPTIONS: FaultlineErrorOptions = Object.freeze({});

type Writable<T> = { -readonly [K in keyof T]: T[K] };

/** Everything that defines an error's classification, for errors built from a wire body. */
interface Resolved {
  code: number;
  category: Category;
  recovery: Recovery;
  message: string;
}

function resolve(name: string, registry: RegistryLike): CodeEntry {
  const entry = registry.lookupName(name);
  if (entry === undefined) {
    throw new RangeError(
      `Unknown Faultline code ${JSON.stringify(name)}: register it with defineCodes() and pass { registry }`,
    );
  }
  return entry;
}

/**
 * A classified error: code, name, safe message, details and cause.
 *
 * @example
 * throw new FaultlineError('NOT_FOUND', { message: 'Room not found', details: { room } });
 */
export class FaultlineError<Name extends string = string> extends Error {
  /** The symbolic name from the registry, e.g. `NOT_FOUND`; what `isError` narrows on. */
  declare readonly name: Name;
  /** The integer code on the wire. */
  readonly code: number;
  /** Where the failure happened: the connection, the transport or the application (PROTOCOL.md §4). */
  readonly category: Category;
  /** What the receiver should do: `retry`, `reconnect`, `reauthenticate`, or `none` (fatal). */
  readonly recovery: Recovery;
  /** `recovery !== 'none'`. */
  readonly recoverable: boolean;
  /** The sender's pacing: do not retry or reconnect before this many ms. */
  readonly retryAfterMs: number | undefined;
  /** Whether the handler ran before the failure (`no`, `maybe`, `yes`), when known. */
  readonly executed: Executed | undefined;
  /** JSON for the receiver, bounded when sent; never anything secret. */
  readonly details: Record<string, unknown> | undefined;
  /** Set on errors that answer a request: its correlation id. */
  requestId: string | undefined;
  /** Backs the read-only, non-enumerable `name` getter (a per-instance `defineProperty` cost ~150 ns). */
  #name: Name;

  static {
    // `name` is an accessor on the prototype: not an own key, read-only (assigning throws in strict
    // code), shown by `inspect` and in `stack` as before. 'Error' on the prototype itself.
    Object.defineProperty(FaultlineError.prototype, 'name', {
      get(this: object): string {
        return #name in this ? (this as FaultlineError).#name : 'Error';
      },
      enumerable: false,
      configurable: true,
    });
  }

  constructor(name: Name, options: FaultlineErrorOptions = {}, resolved?: Resolved) {
    const spec = resolved ?? resolve(name, options.registry ?? codes);
    const limit = Error.stackTraceLimit;
    if (options.captureStack !== true) Error.stackTraceLimit = 0;
    try {
      super(
        options.message ?? spec.message,
        options.cause === undefined ? undefined : { cause: options.cause },
      );
    } finally {
      Error.stackTraceLimit = limit;
    }
    this.#name = name;
    this.code = spec.code;
    this.category = spec.category;
    this.recovery = spec.recovery;
    this.recoverable = spec.recovery !== 'none';
    this.retryAfterMs = options.retryAfterMs;
    this.executed = options.executed;
    this.details = options.details;
    this.requestId = undefined;
  }

  /** True for any Faultline error, including one from another copy of this package. */
  static is<N extends string = string>(value: unknown, name?: N): value is FaultlineError<N> {
    if (typeof value !== 'object' || value === null) return false;
    try {
      return (
        (value as Record<symbol, unknown>)[BRAND] === true &&
        (name === undefined || (value as { name?: unknown }).name === name)
      );
    } catch {
      // A proxy or getter that throws is not one of ours; `from` and `toErrorBody` never throw.
      return false;
    }
  }

  /**
   * Turns anything thrown into a Faultline error. Unknown throws become INTERNAL with a generic
   * message; the original is kept only as `cause`, which never leaves the process.
   */
  static from(value: unknown, options: { registry?: RegistryLike } = {}): FaultlineError {
    if (FaultlineError.is(value)) return value;
    return new FaultlineError('INTERNAL', {
      cause: value,
      executed: 'maybe',
      ...(options.registry ? { registry: options.registry } : {}),
    });
  }

  /**
   * Rehydrates a wire body, unknown codes included: the body's own classification is kept, so a
   * client classifies a code it has never seen.
   */
  static fromBody<N extends string = string>(body: ErrorBody, options: { requestId?: string } = {}): FaultlineError<N> {
    // Direct path: the body is its own classification (message included), the optional fields are
    // stored after construction instead of going through an options object.
    const err = new FaultlineError<N>(
      body.name as N,
      body.cause === undefined ? NO_OPTIONS : { cause: FaultlineError.fromBody(body.cause) },
      body,
    );
    const fields = err as Writable<Pick<FaultlineError, 'retryAfterMs' | 'executed' | 'details'>>;
    fields.retryAfterMs = body.retry_after_ms;
    fields.executed = body.executed;
    fields.details = body.details;
    err.requestId = options.requestId;
    return err;
  }

  /** The wire body of this error. See {@link toErrorBody}. */
  toBody(options?: ToBodyOptions): ErrorBody {
    return toErrorBody(this, options);
  }

  /** `JSON.stringify` of an error sends its body, never its stack. */
  toJSON(): ErrorBody {
    return toErrorBody(this);
  }
}

Object.defineProperty(FaultlineError.prototype, BRAND, { value: true });

/** Options of {@link toErrorBody}. */
export interface ToBodyOptions {
  /** Bounds on `details`. */
  limits?: DetailLimits;
  /** Greatest depth of nested `cause` bodies. @default 3 */
  maxCauseDepth?: number;
}

/**
 * Dehydrates anything thrown into a wire body: no stack, no original message of an unknown
 * error, `details` bounded, cycles cut. Never throws.
 */
export function toErrorBody(error: unknown, options: ToBodyOptions = {}, depth = 0): ErrorBody {
  const err = FaultlineError.from(error);
  const body: ErrorBody = {
    code: err.code,
    name: err.name,
    message: err.message,
    category: err.category,
    recoverable: err.recoverable,
    recovery: err.recovery,
  };
  if (err.retryAfterMs !== undefined && Number.isFinite(err.retryAfterMs) && err.retryAfterMs >= 0) {
    body.retry_after_ms = Math.ceil(err.retryAfterMs);
  }
  if (err.executed !== undefined) body.executed = err.executed;
  if (err.details !== undefined) {
    const details = toBoundedObject(err.details, options.limits ?? DEFAULT_DETAIL_LIMITS);
    if (details !== undefined) body.details = details;
  }
  if (FaultlineError.is(err.cause) && depth < (options.maxCauseDepth ?? 3)) {
    body.cause = toErrorBody(err.cause, options, depth + 1);
  }
  return body;
}

/** A wire body for a registry name, without building an error object (the cheapest path). */
export function bodyOf<N extends string = BuiltinName>(
  name: N,
  extra: { message?: string; details?: { [key: string]: Json }; retry_after_ms?: number; executed?: Executed } = {},
  registry: RegistryLike = codes,
): ErrorBody {
  const spec = resolve(name, registry);
  const body: ErrorBody = {
    code: spec.code,
    name,
    message: extra.message ?? spec.message,
    category: spec.category,
    recoverable: spec.recoverable,
    recovery: spec.recovery,
  };
  if (extra.retry_after_ms !== undefined) body.retry_after_ms = Math.max(0, Math.ceil(extra.retry_after_ms));
  if (extra.executed !== undefined) body.executed = extra.executed;
  if (extra.details !== undefined) body.details = extra.details;
  return body;
}

/** Narrows an unknown value to a Faultline error with one of the given names. */
export function isFaultlineError<N extends string>(value: unknown, ...names: N[]): value is FaultlineError<N> {
  if (!FaultlineError.is(value)) return false;
  return names.length === 0 || (names as string[]).includes(value.name);
}
