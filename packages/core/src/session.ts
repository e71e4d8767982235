/**
 * What every Faultline client shares, whatever its transport: the connection states it reports,
 * the options of a request, and how an idempotency key is chosen (PROTOCOL.md §8).
 */
import type { FaultlineError } from './error.js';

/** Where a client is. */
export type ConnectionState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

/** A connection state change. */
export interface StateChange {
  previous: ConnectionState;
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
