/**
 * Retry pacing (PROTOCOL.md §8): exponential backoff with full jitter and a cap, honouring the
 * sender's `retry_after_ms`, plus a token-bucket budget shared by every retry and reconnect of a
 * client. No configuration produces a zero-delay loop: the floor and the budget both forbid it.
 */

/** Options of {@link createBackoff}. */
export interface BackoffOptions {
  /** First delay ceiling, in ms. @default 500 */
  baseMs?: number;
  /** Largest delay, in ms. @default 30000 */
  maxMs?: number;
  /** Growth per attempt. @default 2 */
  factor?: number;
  /** Smallest delay, in ms; at least 10. @default 100 */
  minMs?: number;
  /** Attempts before giving up. @default Infinity */
  maxAttempts?: number;
  /** Source of randomness in [0, 1), for tests. @default Math.random */
  random?: () => number;
}

/** A backoff policy. */
export interface Backoff {
  /** Delay before attempt `attempt` (0-based), never below `retryAfterMs` nor the floor. */
  delay(attempt: number, retryAfterMs?: number): number;
  /** Whether attempt `attempt` (0-based) may still be made. */
  allows(attempt: number): boolean;
  /** The options in force, defaults filled in. */
  readonly options: Readonly<Required<Omit<BackoffOptions, 'random'>>>;
}

/** Smallest floor any policy accepts: below it, retries are a loop, not a backoff. */
export const MIN_RETRY_FLOOR_MS = 10;

/** Longest delay a timer can hold: `setTimeout` fires at once (1 ms) above 2^31 - 1. */
const MAX_DELAY_MS = 2_147_483_647;

function positive(name: string, value: number, min: number, infinite = false): number {
  if (typeof value !== 'number' || Number.isNaN(value) || value < min || (!infinite && !Number.isFinite(value))) {
    throw new RangeError(`Faultline backoff: ${name} must be a finite number >= ${min}, got ${String(value)}`);
  }
  return value;
}

/** Creates an exponential backoff with full jitter between the floor and the ceiling. */
export function createBackoff(options: BackoffOptions = {}): Backoff {
  const minMs = positive('minMs', options.minMs ?? 100, MIN_RETRY_FLOOR_MS);
  const baseMs = positive('baseMs', options.baseMs ?? 500, minMs);
  const maxMs = positive('maxMs', options.maxMs ?? 30_000, baseMs);
  const factor = positive('factor', options.factor ?? 2, 1);
  const maxAttempts = positive('maxAttempts', options.maxAttempts ?? Number.POSITIVE_INFINITY, 0, true);
  const random = options.random ?? Math.random;
  return {
    options: { minMs, baseMs, maxMs, factor, maxAttempts },
    allows: (attempt) => attempt < maxAttempts,
    delay(attempt, retryAfterMs) {
      const ceiling = Math.min(maxMs, baseMs * factor ** (attempt > 0 ? attempt : 0));
      const r = random();
      const jittered = minMs + (r >= 0 && r < 1 ? r : 0) * (ceiling - minMs);
      const floor = retryAfterMs !== undefined && retryAfterMs > 0 ? retryAfterMs : 0;
      // Capped so a huge retry_after_ms from the wire cannot overflow the timer into a 1 ms loop.
      return Math.min(MAX_DELAY_MS, Math.round(Math.max(jittered, floor)));
    },
  };
}

/** Options of {@link createRetryBudget}. */
export interface RetryBudgetOptions {
  /** Tokens available at once (burst). @default 10 */
  capacity?: number;
  /** Tokens regained per second. @default 1 */
  refillPerSecond?: number;
  /** Clock in ms, for tests. @default Date.now */
  now?: () => number;
}

/** A token bucket shared by all retries and reconnects of one client. */
export interface RetryBudget {
  /**
   * Takes a token and returns how long to wait before using it: 0 when one is available, else the
   * time until the next refill. The token is reserved, so concurrent callers are spread out.
   */
  take(): number;
  /** Tokens available now (may be negative while reservations wait). */
  available(): number;
}

/** Creates a retry budget. */
export function createRetryBudget(options: RetryBudgetOptions = {}): RetryBudget {
  const capacity = positive('capacity', options.capacity ?? 10, 1);
  const rate = positive('refillPerSecond', options.refillPerSecond ?? 1, 0.001);
  const clock = options.now ?? Date.now;
  let tokens = capacity;
  let last = clock();
  const refill = (): void => {
    const t = clock();
    // A clock that steps back (wall-clock adjustment) refills nothing rather than draining.
    if (t > last) tokens = Math.min(capacity, tokens + ((t - last) / 1000) * rate);
    last = t;
  };
  return {
    take() {
      refill();
      tokens -= 1;
      return tokens >= 0 ? 0 : Math.min(MAX_DELAY_MS, Math.ceil((-tokens / rate) * 1000));
    },
    available() {
      refill();
      return tokens;
    },
  };
}

/** Options of {@link createRetryPlanner}. */
export interface RetryPlannerOptions {
  /** A backoff policy, or the options to make one. @default createBackoff() */
  backoff?: Backoff | BackoffOptions;
  /** A budget (pass one to several planners to share it), or the options to make one. @default createRetryBudget() */
  budget?: RetryBudget | RetryBudgetOptions;
}

/** Backoff and budget together: the delay of the next attempt, or `undefined` to give up. */
export interface RetryPlanner {
  /**
   * The delay in ms before attempt `attempt` (0-based), or `undefined` once the backoff allows no
   * more attempts. Reserves a budget token: never less than `retryAfterMs` nor than the wait for it.
   */
  next(attempt: number, retryAfterMs?: number): number | undefined;
  /** The backoff policy in use. */
  readonly backoff: Backoff;
  /** The budget it draws from. */
  readonly budget: RetryBudget;
}

const isBackoff = (v: unknown): v is Backoff => typeof (v as Backoff | undefined)?.delay === 'function';
const isBudget = (v: unknown): v is RetryBudget => typeof (v as RetryBudget | undefined)?.take === 'function';

/** Combines a backoff policy and a shared budget. */
export function createRetryPlanner(options: RetryPlannerOptions = {}): RetryPlanner {
  const backoff = isBackoff(options.backoff) ? options.backoff : createBackoff(options.backoff);
  const budget = isBudget(options.budget) ? options.budget : createRetryBudget(options.budget);
  return {
    backoff,
    budget,
    next(attempt, retryAfterMs) {
      if (!backoff.allows(attempt)) return undefined;
      return Math.max(backoff.delay(attempt, retryAfterMs), budget.take());
    },
  };
}

/**
 * Whether a failed request may be re-sent automatically (PROTOCOL.md §8.3): always when the
 * server refused it before running it; when it may have run, only with an idempotency key.
 */
export function mayResend(
  error: { recoverable: boolean; recovery: string; executed?: string | undefined; name: string },
  idempotent: boolean,
): boolean {
  if (!error.recoverable || error.recovery === 'reauthenticate') return false;
  if (error.executed === 'no') return true;
  if (error.name === 'RATE_LIMITED' || error.name === 'SHUTTING_DOWN' || error.name === 'UNAVAILABLE') return true;
  return idempotent;
}
