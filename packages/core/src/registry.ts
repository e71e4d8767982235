/**
 * The code registry: every error code Faultline knows, as data. Classification, HTTP status and
 * close codes all derive from an entry here (PROTOCOL.md §4).
 */

/** Where the failure happened. `connection`: the session itself; `transport`: the bytes on the
 * way; `application`: the handler's domain. */
export type Category = 'connection' | 'application' | 'transport';

/** What the receiving side should do about an error (PROTOCOL.md §5). */
export type Recovery = 'retry' | 'reconnect' | 'reauthenticate' | 'none';

/** The description of one code, as written by the registry's author. */
export interface CodeSpec {
  /** Integer on the wire. 4000-4999 double as WebSocket close codes. */
  readonly code: number;
  /** Message used when none is given; safe for a person to read. */
  readonly message: string;
  /** Where the failure happens: the session, the bytes on the way, or the handler's domain. */
  readonly category: Category;
  /** What the receiver should do. `none` means fatal. */
  readonly recovery: Recovery;
  /** HTTP status when the error answers an HTTP request. */
  readonly http: number;
  /**
   * WebSocket close code used when this error ends a connection, or `null` when the error is
   * only ever request-scoped and never closes a connection by itself.
   */
  readonly close: number | null;
}

/** A registry entry: the spec plus its name and derived classification. */
export interface CodeEntry<Name extends string = string> extends CodeSpec {
  /** The key the code was defined under. */
  readonly name: Name;
  /** `recovery !== 'none'`. */
  readonly recoverable: boolean;
}

/** The built-in codes (PROTOCOL.md §4). Extend, never renumber. */
export const builtinCodes = {
  BAD_REQUEST: {
    code: 4000,
    message: 'Bad request',
    category: 'application',
    recovery: 'none',
    http: 400,
    close: 4000,
  },
  NOT_FOUND: {
    code: 4001,
    message: 'Not found',
    category: 'application',
    recovery: 'none',
    http: 404,
    close: null,
  },
  INVALID_ACTION: {
    code: 4002,
    message: 'Invalid action',
    category: 'application',
    recovery: 'none',
    http: 409,
    close: null,
  },
  UNAUTHORIZED: {
    code: 4003,
    message: 'Unauthorized',
    category: 'connection',
    recovery: 'reauthenticate',
    http: 401,
    close: 4003,
  },
  FORBIDDEN: {
    code: 4004,
    message: 'Forbidden',
    category: 'connection',
    recovery: 'none',
    http: 403,
    close: 4004,
  },
  RATE_LIMITED: {
    code: 4005,
    message: 'Too many requests',
    category: 'application',
    recovery: 'retry',
    http: 429,
    close: 4005,
  },
  PAYLOAD_TOO_LARGE: {
    code: 4006,
    message: 'Payload too large',
    category: 'transport',
    recovery: 'none',
    http: 413,
    close: 1009,
  },
  UNSUPPORTED_MEDIA_TYPE: {
    code: 4007,
    message: 'Unsupported media type',
    category: 'transport',
    recovery: 'none',
    http: 415,
    close: null,
  },
  INTERNAL: {
    code: 5000,
    message: 'Internal server error',
    category: 'application',
    recovery: 'retry',
    http: 500,
    close: 1011,
  },
  UNAVAILABLE: {
    code: 5001,
    message: 'Service unavailable',
    category: 'connection',
    recovery: 'reconnect',
    http: 503,
    close: 1013,
  },
  SHUTTING_DOWN: {
    code: 5002,
    message: 'Server is shutting down',
    category: 'connection',
    recovery: 'reconnect',
    http: 503,
    close: 1012,
  },
  TIMEOUT: {
    code: 5003,
    message: 'Request timed out',
    category: 'transport',
    recovery: 'retry',
    http: 504,
    close: null,
  },
  BAD_CONNECTION: {
    code: 5004,
    message: 'Connection lost',
    category: 'transport',
    recovery: 'reconnect',
    http: 502,
    close: 1006,
  },
  CANCELLED: {
    code: 5005,
    message: 'Request cancelled',
    category: 'transport',
    recovery: 'none',
    http: 499,
    close: null,
  },
} as const satisfies Record<string, CodeSpec>;

/** Names of the built-in codes. */
export type BuiltinName = keyof typeof builtinCodes;

/** Ranges an application may use for its own codes (PROTOCOL.md §4.2). */
export const APPLICATION_CODE_RANGES = [
  [4100, 4999],
  [5100, 5999],
] as const;

const NAME_PATTERN = /^[A-Z][A-Z0-9_]{0,63}$/;
const CATEGORIES: ReadonlySet<string> = new Set(['connection', 'application', 'transport']);
const RECOVERIES: ReadonlySet<string> = new Set(['retry', 'reconnect', 'reauthenticate', 'none']);

/** Thrown at definition time when a registry would be ambiguous or unsafe. */
export class RegistryDefinitionError extends Error {
  /** Always `RegistryDefinitionError`. */
  override readonly name = 'RegistryDefinitionError';
}

/** Codes an application adds: the same shape, minus what can be defaulted. */
export interface CustomCodeSpec {
  /** Within 4100-4999 or 5100-5999 (PROTOCOL.md §4.2), unique in the registry. */
  readonly code: number;
  /** Message used when none is given; safe for a person to read. */
  readonly message: string;
  /** @default 'application' */
  readonly category?: Category;
  /** What the receiver should do. @default 'none' */
  readonly recovery?: Recovery;
  /** HTTP status when the error answers an HTTP request. @default 400 for 4xxx codes, 500 for 5xxx */
  readonly http?: number;
  /**
   * WebSocket close code when this error ends a connection; `null`: it never closes one by itself.
   * @default the code itself for 4xxx codes, `null` for 5xxx
   */
  readonly close?: number | null;
}

/**
 * A set of codes, looked up by number or by name. `Name` is the union of every name it holds, so
 * `error.name` narrows in a `switch`.
 */
export interface Registry<Name extends string = BuiltinName> {
  /** Looks a code up by its name; always defined for a `Name`. */
  byName<N extends Name>(name: N): CodeEntry<N>;
  /** Looks a code up by its name, for untrusted strings. */
  lookupName(name: string): CodeEntry<Name> | undefined;
  /** Looks a code up by its number. */
  byCode(code: number): CodeEntry<Name> | undefined;
  /** Every entry, built-ins first. */
  entries(): readonly CodeEntry<Name>[];
  /** Returns a new registry with these codes added. Refuses duplicates and reserved ranges. */
  extend<const C extends Record<string, CustomCodeSpec>>(codes: C): Registry<Name | (keyof C & string)>;
}

function isInRange(code: number, ranges: readonly (readonly [number, number])[]): boolean {
  for (const [lo, hi] of ranges) if (code >= lo && code <= hi) return true;
  return false;
}

function checkSpec(name: string, spec: CustomCodeSpec, builtin: boolean): void {
  const where = `Faultline code ${JSON.stringify(name)}`;
  if (!NAME_PATTERN.test(name)) {
    throw new RegistryDefinitionError(`${where}: names are UPPER_SNAKE_CASE, at most 64 characters`);
  }
  if (!Number.isInteger(spec.code)) throw new RegistryDefinitionError(`${where}: code must be an integer`);
  if (!builtin && !isInRange(spec.code, APPLICATION_CODE_RANGES)) {
    throw new RegistryDefinitionError(
      `${where}: code ${spec.code} is reserved; application codes must be within 4100-4999 or 5100-5999`,
    );
  }
  if (typeof spec.message !== 'string' || spec.message.length === 0) {
    throw new RegistryDefinitionError(`${where}: a default message is required`);
  }
  if (spec.category !== undefined && !CATEGORIES.has(spec.category)) {
    throw new RegistryDefinitionError(`${where}: unknown category ${String(spec.category)}`);
  }
  if (spec.recovery !== undefined && !RECOVERIES.has(spec.recovery)) {
    throw new RegistryDefinitionError(`${where}: unknown recovery ${String(spec.recovery)}`);
  }
  if (spec.http !== undefined && !(Number.isInteger(spec.http) && spec.http >= 400 && spec.http <= 599)) {
    throw new RegistryDefinitionError(`${where}: http must be an error status (400-599)`);
  }
  const close = spec.close;
  if (close !== undefined && close !== null) {
    const valid = Number.isInteger(close) && ((close >= 1000 && close <= 1015) || (close >= 3000 && close <= 4999));
    if (!valid) throw new RegistryDefinitionError(`${where}: close must be a WebSocket close code or null`);
    // 1004, 1005, 1006 and 1015 describe a closed connection but may never be sent (RFC 6455 §7.4.1).
    if (!builtin && (close === 1004 || close === 1005 || close === 1006 || close === 1015)) {
      throw new RegistryDefinitionError(`${where}: close code ${close} may not be sent; use another or null`);
    }
  }
}

function toEntry<N extends string>(name: N, spec: CustomCodeSpec): CodeEntry<N> {
  const recovery = spec.recovery ?? 'none';
  return Object.freeze({
    name,
    code: spec.code,
    message: spec.message,
    category: spec.category ?? 'application',
    recovery,
    recoverable: recovery !== 'none',
    http: spec.http ?? (spec.code >= 5000 ? 500 : 400),
    close: spec.close === undefined ? (spec.code < 5000 ? spec.code : null) : spec.close,
  });
}

function build<Name extends string>(list: readonly CodeEntry<Name>[]): Registry<Name> {
  const names = new Map<string, CodeEntry<Name>>();
  const codes = new Map<number, CodeEntry<Name>>();
  for (const entry of list) {
    names.set(entry.name, entry);
    codes.set(entry.code, entry);
  }
  const frozen = Object.freeze([...list]);
  const registry: Registry<Name> = {
    byName: <N extends Name>(name: N) => {
      const entry = names.get(name);
      if (entry === undefined) throw new RangeError(`Unknown Faultline code name ${JSON.stringify(name)}`);
      return entry as unknown as CodeEntry<N>;
    },
    lookupName: (name) => names.get(name),
    byCode: (code) => codes.get(code),
    entries: () => frozen,
    extend: (custom) => {
      const added: CodeEntry<string>[] = [];
      for (const [name, spec] of Object.entries(custom)) {
        checkSpec(name, spec, false);
        if (names.has(name) || added.some((e) => e.name === name)) {
          throw new RegistryDefinitionError(`Faultline code name ${name} is already defined`);
        }
        const clash = codes.get(spec.code) ?? added.find((e) => e.code === spec.code);
        if (clash) {
          throw new RegistryDefinitionError(`Faultline code ${spec.code} (${name}) is already used by ${clash.name}`);
        }
        added.push(toEntry(name, spec));
      }
      return build([...list, ...added] as CodeEntry<never>[]);
    },
  };
  return registry;
}

const builtinEntries = Object.entries(builtinCodes).map(([name, spec]) => {
  checkSpec(name, spec, true);
  return toEntry(name as BuiltinName, spec);
});

/** The registry of built-in codes. Every other registry extends it. */
export const codes: Registry<BuiltinName> = build(builtinEntries);

/**
 * Defines an application's registry: the built-in codes plus its own. Names become a TypeScript
 * union so a client can narrow on them.
 *
 * @example
 * const registry = defineCodes({ ROOM_FULL: { code: 4100, message: 'Room is full', recovery: 'retry' } });
 */
export function defineCodes<const C extends Record<string, CustomCodeSpec>>(
  custom: C,
): Registry<BuiltinName | (keyof C & string)> {
  return codes.extend(custom);
}

/** Names a registry holds. */
export type NameOf<R> = R extends Registry<infer N> ? N : never;
