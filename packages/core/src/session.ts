/**
 * What every Faultline client shares, whatever its transport: the connection states it reports,
 * the options of a request, and how an idempotency key is chosen (PROTOCOL.md §8).
 */
import type { Executed } from './envelope.js';
import { FaultlineError } from './error.js';

/** Where a client is. */
export type ConnectionState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

/** A connection state change. */
export interface StateChange {
  /** The state left. */
  previous: ConnectionState;
  /** The state entered. */
  current: ConnectionState;
  /** Why: the classified error that caused it, if any. */
  reason: FaultlineError | undefined;
  /** When `current` is `reconnecting`: milliseconds until the next attempt. */
  nextRetryInMs: number | undefined;
  /** Reconnect attempts made since the last stable connection. */
  attempt: number;
  /** When it happened (epoch ms). */
  at: number;
}

/** Options of a client's `request`. */
export interface RequestOptions {
  /** @default the client's `timeoutMs` */
  timeoutMs?: number;
  /** Aborting rejects with CANCELLED (TIMEOUT for a `TimeoutError` reason). */
  signal?: AbortSignal;
  /**
   * Makes the request idempotent: the server runs it once per key, so the client re-sends it
   * after a reconnect instead of failing it with BAD_CONNECTION.
   */
  idempotencyKey?: string;
  /** Shorthand for a generated `idempotencyKey`. */
  idempotent?: boolean;
  /** Automatic retries of recoverable errors (PROTOCOL.md §8.3, `mayResend`). @default 0 */
  retries?: number;
}

/** The idempotency key of a request: the one given, a fresh one for `idempotent`, else none. */
export function idempotencyKeyOf(options: Pick<RequestOptions, 'idempotencyKey' | 'idempotent'>): string | undefined {
  if (options.idempotencyKey !== undefined) return options.idempotencyKey;
  if (!options.idempotent) return undefined;
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (c?.randomUUID) return c.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}-${Math.random().toString(36).slice(2)}`;
}

/**
 * The BAD_CONNECTION a client gives a request that was in flight when its connection ended
 * (PROTOCOL.md §8.3). Every client builds it here, so the same loss reads the same on every
 * transport; what the transport said about it belongs in the client's state-change event.
 *
 * @param options.closedBy the name of the fatal error that ended the connection, if one did
 * @param options.cause why the connection ended, when it is worth sending on (PAYLOAD_TOO_LARGE)
 * @param options.executed `no` for a request that never left the client @default 'maybe'
 */
export function connectionLost(
  options: { closedBy?: string | undefined; cause?: FaultlineError | undefined; executed?: Executed } = {},
): FaultlineError {
  return new FaultlineError('BAD_CONNECTION', {
    message: options.closedBy === undefined ? 'Connection lost' : `Connection closed: ${options.closedBy}`,
    executed: options.executed ?? 'maybe',
    cause: options.cause,
  });
}

/**
 * The TIMEOUT a client gives a request that got no reply within `timeoutMs` (PROTOCOL.md §8.5).
 * `event` is the request's event (over HTTP, the RPC event or the method and path).
 */
export function requestTimedOut(event: string, timeoutMs: number, cause?: unknown): FaultlineError {
  return new FaultlineError('TIMEOUT', {
    message: `Request ${event} timed out after ${timeoutMs} ms`,
    executed: 'maybe',
    cause,
  });
}

/**
 * The error of a request its caller aborted through `signal`: TIMEOUT for a `TimeoutError`
 * reason (`AbortSignal.timeout()`), else CANCELLED, which is never retried automatically.
 *
 * @param executed `no` when the request never left the client @default 'maybe'
 */
export function requestAborted(signal: AbortSignal, event: string, executed: Executed = 'maybe'): FaultlineError {
  const reason = signal.reason as { name?: unknown } | undefined;
  return reason?.name === 'TimeoutError'
    ? new FaultlineError('TIMEOUT', { message: `Request ${event} timed out`, cause: reason, executed })
    : new FaultlineError('CANCELLED', { message: `Request ${event} was cancelled`, cause: reason, executed });
}
