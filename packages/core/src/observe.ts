/**
 * Observability without lock-in (PROTOCOL.md §9): `success` / `error` notifications with a
 * location, a logger interface that pino satisfies, and the error route for failures nobody is
 * waiting for.
 */
import { FaultlineError } from './error.js';

/** Where something happened: `Connect#Open`, `Reconnect#Attempt`, `Auth#Refresh`, `Request#join`. */
export type Location = `${string}#${string}`;

/** A success notification. */
export interface SuccessEvent {
  /** What succeeded, e.g. `Request#join`. */
  location: Location;
  /** How long it took, when measured. */
  durationMs?: number;
}

/** An error notification. */
export interface ErrorEvent {
  /** Where it surfaced, e.g. `Request#join`, `Connect#Open`. */
  location: Location;
  /** The classified error. */
  error: FaultlineError;
}

/** Listeners a client or server calls. Both optional; a throwing listener is ignored. */
export interface Observer {
  /** Called when something at `event.location` succeeded. */
  success?(event: SuccessEvent): void;
  /** Called with every classified error, whether or not someone handles it. */
  error?(event: ErrorEvent): void;
}

/** The logger interface: pino, or anything with the same `(obj, msg)` methods. */
export interface Logger {
  /** Failures: an unhandled failure, a handler that threw something other than a Faultline error. */
  error(obj: object, msg?: string): void;
  /** Recoverable trouble worth a look: refused frames, misbehaving peers. */
  warn(obj: object, msg?: string): void;
  /** Lifecycle notes; optional. */
  info?(obj: object, msg?: string): void;
  /** Detail for debugging; optional. */
  debug?(obj: object, msg?: string): void;
}

/** A failure nobody waits for. */
export interface Failure {
  /** What went wrong: the original value as thrown, for the server log. */
  cause: unknown;
  /** When it happened. */
  time: Date;
  /** How many attempts were made. */
  attempts: number;
  /** Where it happened. */
  location: Location;
}

/** Receives failures nobody waits for: volatile handlers that throw, exhausted retries, escapes. */
export type ErrorRoute = (failure: Failure) => void;

/** A logger that writes to the console, used when none is given. */
export const consoleLogger: Logger = {
  error: (obj, msg) => console.error(msg ?? '', obj),
  warn: (obj, msg) => console.warn(msg ?? '', obj),
};

/** A logger that discards everything. */
export const silentLogger: Logger = { error: () => {}, warn: () => {} };

/** The default error route: logs the failure, with the stack of the original cause. */
export function loggingErrorRoute(logger: Logger): ErrorRoute {
  return (failure) => {
    const cause = failure.cause;
    logger.error(
      {
        location: failure.location,
        attempts: failure.attempts,
        time: failure.time.toISOString(),
        err: describe(cause, 0),
        ...(FaultlineError.is(cause) && cause.requestId ? { request_id: cause.requestId } : {}),
      },
      `faultline: unhandled failure at ${failure.location}`,
    );
  };
}

/**
 * The log form of an error and its causes: an INTERNAL made by `FaultlineError.from` keeps the
 * original throw (message and stack) in `cause`, which is exactly what the server log needs.
 */
function describe(value: unknown, depth: number): unknown {
  if (!(value instanceof Error) && !FaultlineError.is(value)) return value;
  const err = value as Error;
  const out: { name: unknown; message: unknown; stack: unknown; cause?: unknown } = {
    name: err.name,
    message: err.message,
    stack: err.stack,
  };
  if (err.cause !== undefined) out.cause = depth < 4 ? describe(err.cause, depth + 1) : '[Truncated]';
  return out;
}

/** Calls an observer and a route safely: a faulty listener never breaks the protocol. */
export class Notifier {
  constructor(
    private readonly observer: Observer | undefined,
    private readonly route: ErrorRoute,
  ) {}

  /** Tells the observer that `location` succeeded; a throwing listener is ignored. */
  success(location: Location, durationMs?: number): void {
    const fn = this.observer?.success;
    if (!fn) return;
    try {
      fn.call(this.observer, durationMs === undefined ? { location } : { location, durationMs });
    } catch {
      // A listener's fault is not the protocol's.
    }
  }

  /** Tells the observer about `error` at `location`; a throwing listener is ignored. */
  error(location: Location, error: FaultlineError): void {
    const fn = this.observer?.error;
    if (!fn) return;
    try {
      fn.call(this.observer, { location, error });
    } catch {
      // A listener's fault is not the protocol's.
    }
  }

  /** Sends a failure to the error route. */
  unhandled(location: Location, cause: unknown, attempts = 1): void {
    try {
      this.route({ cause, time: new Date(), attempts, location });
    } catch {
      // The route is the last resort; nothing is left to tell.
    }
  }
}

/**
 * Logs the cause of an INTERNAL error (stack and original message, for the server log only) with
 * `fields` such as the request id. Does nothing for other errors. Never throws: a faulty logger
 * must not cost a client its answer.
 */
export function logUnknownThrow(
  logger: Logger,
  err: FaultlineError,
  fields: Record<string, unknown>,
  msg: string,
): void {
  if (err.code !== 5000 || err.cause === undefined) return;
  const cause = err.cause;
  try {
    logger.error(
      {
        err:
          cause instanceof Error
            ? { type: cause.name, message: cause.message, stack: cause.stack }
            : { value: String(cause) },
        ...fields,
      },
      msg,
    );
  } catch {
    // Nothing is left to tell.
  }
}
