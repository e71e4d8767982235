/**
 * Per-connection rate limiting and idempotency de-duplication (PROTOCOL.md §7.3, §8.3). Both are
 * interfaces with an in-memory default; a shared store (Redis) plugs in for several nodes.
 */
import type { ErrorBody, Json } from './envelope.js';

/** A rate limiter for one connection: how long to wait before a request is allowed. */
export interface RateLimiter {
  /** Takes one point; returns 0 when allowed, else the ms until one is. */
  consume(): number;
}

/** Options of {@link createRateLimiter}: `points` requests per `durationMs`, as a token bucket. */
export interface RateLimitOptions {
  /** Requests allowed in a burst and per window. */
  points: number;
  /** Window length in ms. */
  durationMs: number;
  /** Clock, for tests. @default Date.now */
  now?: () => number;
}

/** Checks rate-limit options, with a message that names the bad field. */
export function checkRateLimitOptions(options: RateLimitOptions): void {
  if (!(Number.isInteger(options.points) && options.points > 0)) {
    throw new RangeError(`Faultline rateLimit.points must be a positive integer, got ${String(options.points)}`);
  }
  if (!(typeof options.durationMs === 'number' && options.durationMs > 0)) {
    throw new RangeError(`Faultline rateLimit.durationMs must be a positive number, got ${String(options.durationMs)}`);
  }
}

/** A token bucket of `points` tokens refilled evenly over `durationMs`. */
export function createRateLimiter(options: RateLimitOptions): RateLimiter {
  checkRateLimitOptions(options);
  const { points, durationMs } = options;
  const clock = options.now ?? Date.now;
  const perMs = points / durationMs;
  let tokens = points;
  let last = clock();
  return {
    consume() {
      const t = clock();
      tokens = Math.min(points, tokens + (t - last) * perMs);
      last = t;
      if (tokens >= 1) {
        tokens -= 1;
        return 0;
      }
      return Math.max(1, Math.ceil((1 - tokens) / perMs));
    },
  };
}

/** The outcome of a request, as the server sends it. */
export type Outcome = { ok: true; data: Json | undefined } | { ok: false; error: ErrorBody };

/**
 * Runs each idempotency key's work once. `run` returns the first run's outcome to every caller with
 * the same key, while it runs and for `ttlMs` after.
 */
export interface IdempotencyStore {
  /**
   * Runs `execute` for the first caller with `key`; every other caller with the same key, while
   * it runs or within the retention time, gets that first outcome without running it again.
   */
  run(key: string, execute: () => Promise<Outcome>): Promise<Outcome>;
}

/** Options of {@link createMemoryIdempotencyStore}. */
export interface MemoryIdempotencyOptions {
  /** How long an outcome is remembered, in ms. @default 300000 */
  ttlMs?: number;
  /** Most keys remembered; the oldest are forgotten first. @default 10000 */
  maxKeys?: number;
}

/** An in-process idempotency store: enough for one node. */
export function createMemoryIdempotencyStore(options: MemoryIdempotencyOptions = {}): IdempotencyStore {
  const ttlMs = options.ttlMs ?? 300_000;
  const maxKeys = options.maxKeys ?? 10_000;
  const entries = new Map<string, { outcome: Promise<Outcome>; expires: number }>();
  return {
    run(key, execute) {
      const t = Date.now();
      const hit = entries.get(key);
      if (hit && hit.expires > t) return hit.outcome;
      if (hit) entries.delete(key);
      const outcome = execute();
      entries.set(key, { outcome, expires: t + ttlMs });
      if (entries.size > maxKeys) {
        const oldest = entries.keys().next().value;
        if (oldest !== undefined) entries.delete(oldest);
      }
      return outcome;
    },
  };
}

/** Options of {@link createAbuseCounter}. */
export interface AbuseOptions {
  /** Bad frames tolerated within `windowMs`. @default 20 */
  maxBadFrames?: number;
  /** @default 10000 */
  windowMs?: number;
}

/**
 * Counts one connection's bad frames in a sliding window. Each call records one and returns true
 * once more than `maxBadFrames` fell within `windowMs`: the connection should then be closed
 * (PROTOCOL.md §7.2).
 */
export function createAbuseCounter(options: AbuseOptions = {}): () => boolean {
  const max = options.maxBadFrames ?? 20;
  const windowMs = options.windowMs ?? 10_000;
  let bad: number[] = [];
  return () => {
    const t = Date.now();
    bad = bad.filter((at) => t - at < windowMs);
    bad.push(t);
    return bad.length > max;
  };
}
