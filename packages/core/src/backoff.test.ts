import { describe, expect, it } from 'vitest';
import {
  bodyOf,
  createBackoff,
  createRetryBudget,
  createRetryPlanner,
  FaultlineError,
  MIN_RETRY_FLOOR_MS,
  mayResend,
} from './index.js';

/** A clock tests move by hand. */
function manualClock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms), set: (ms: number) => (t = ms) };
}

describe('createBackoff', () => {
  it('draws full jitter between the floor and the exponential ceiling', () => {
    const low = createBackoff({ minMs: 100, baseMs: 500, factor: 2, maxMs: 30_000, random: () => 0 });
    const high = createBackoff({ minMs: 100, baseMs: 500, factor: 2, maxMs: 30_000, random: () => 0.999_999 });
    const ceilings = [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000];
    ceilings.forEach((ceiling, attempt) => {
      expect(low.delay(attempt)).toBe(100);
      expect(high.delay(attempt)).toBe(ceiling);
    });
    const mid = createBackoff({ minMs: 100, baseMs: 500, random: () => 0.5 });
    expect(mid.delay(0)).toBe(300);
    expect(mid.delay(1)).toBe(550);
  });

  it('stays within bounds for any random draw and attempt', () => {
    let seed = 42;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const backoff = createBackoff({ minMs: 50, baseMs: 200, maxMs: 5000, random });
    for (let attempt = 0; attempt < 2000; attempt++) {
      const d = backoff.delay(attempt % 40);
      expect(d).toBeGreaterThanOrEqual(50);
      expect(d).toBeLessThanOrEqual(Math.min(5000, 200 * 2 ** (attempt % 40)));
    }
  });

  it('is capped at maxMs for huge attempts', () => {
    const backoff = createBackoff({ maxMs: 10_000, random: () => 0.999 });
    expect(backoff.delay(10_000)).toBeLessThanOrEqual(10_000);
    expect(backoff.delay(Number.MAX_SAFE_INTEGER)).toBeLessThanOrEqual(10_000);
  });

  it('honours retryAfterMs, even above the cap', () => {
    const backoff = createBackoff({ maxMs: 1000, random: () => 0 });
    expect(backoff.delay(0, 5000)).toBe(5000);
    expect(backoff.delay(0, 50)).toBe(100);
    expect(backoff.delay(0, 0)).toBe(100);
    expect(backoff.delay(0, -5)).toBe(100);
    expect(backoff.delay(0, Number.NaN)).toBe(100);
  });

  it('never returns a delay a timer would overflow into a 1 ms loop', () => {
    const backoff = createBackoff({ random: () => 0.5 });
    for (const huge of [2 ** 31, 1e300, Number.MAX_VALUE, Number.POSITIVE_INFINITY]) {
      const d = backoff.delay(0, huge);
      expect(d).toBeLessThanOrEqual(2 ** 31 - 1);
      expect(d).toBeGreaterThan(1000);
    }
  });

  it('never goes below the floor, whatever attempt or random it gets', () => {
    const bad = createBackoff({ minMs: 10, baseMs: 10, random: () => Number.NaN });
    for (const attempt of [Number.NaN, -1, -Number.MAX_VALUE, 0]) {
      const d = bad.delay(attempt);
      expect(d, String(attempt)).toBeGreaterThanOrEqual(MIN_RETRY_FLOOR_MS);
    }
    const negative = createBackoff({ random: () => -3 });
    expect(negative.delay(0)).toBeGreaterThanOrEqual(100);
  });

  it('counts attempts', () => {
    const backoff = createBackoff({ maxAttempts: 3 });
    expect([0, 1, 2, 3, 4].map((a) => backoff.allows(a))).toEqual([true, true, true, false, false]);
    expect(createBackoff().allows(1e9)).toBe(true);
    expect(createBackoff().options).toEqual({
      minMs: 100,
      baseMs: 500,
      maxMs: 30_000,
      factor: 2,
      maxAttempts: Number.POSITIVE_INFINITY,
    });
  });

  it('refuses invalid options with a clear error', () => {
    expect(MIN_RETRY_FLOOR_MS).toBe(10);
    const cases: [object, RegExp][] = [
      [{ minMs: 0 }, /minMs must be a finite number >= 10, got 0/],
      [{ minMs: 9 }, /minMs must be a finite number >= 10/],
      [{ minMs: Number.NaN }, /minMs/],
      [{ baseMs: 50 }, /baseMs must be a finite number >= 100/],
      [{ maxMs: 400 }, /maxMs must be a finite number >= 500/],
      [{ maxMs: Number.POSITIVE_INFINITY }, /maxMs must be a finite number/],
      [{ factor: 0.5 }, /factor must be a finite number >= 1/],
      [{ maxAttempts: -1 }, /maxAttempts/],
      [{ minMs: '100' }, /minMs/],
    ];
    for (const [options, message] of cases) {
      expect(() => createBackoff(options as never), JSON.stringify(options)).toThrow(message);
    }
    expect(() => createBackoff({ minMs: 10, baseMs: 10, maxMs: 10, factor: 1, maxAttempts: 0 })).not.toThrow();
  });
});

describe('createRetryBudget', () => {
  it('allows a burst, then spaces retries at the refill rate', () => {
    const clock = manualClock();
    const budget = createRetryBudget({ capacity: 3, refillPerSecond: 2, now: clock.now });
    expect([budget.take(), budget.take(), budget.take()]).toEqual([0, 0, 0]);
    // Tokens are reserved: concurrent callers are spread 500 ms apart.
    expect(budget.take()).toBe(500);
    expect(budget.take()).toBe(1000);
    expect(budget.take()).toBe(1500);
    expect(budget.available()).toBe(-3);
    clock.advance(1500);
    expect(budget.available()).toBe(0);
    expect(budget.take()).toBe(500);
  });

  it('refills up to capacity, not beyond', () => {
    const clock = manualClock();
    const budget = createRetryBudget({ capacity: 2, refillPerSecond: 1, now: clock.now });
    budget.take();
    budget.take();
    clock.advance(60_000);
    expect(budget.available()).toBe(2);
    expect([budget.take(), budget.take(), budget.take()]).toEqual([0, 0, 1000]);
  });

  it('makes a zero-delay loop impossible: 1000 immediate retries are spread over time', () => {
    const clock = manualClock();
    const budget = createRetryBudget({ now: clock.now });
    const waits = Array.from({ length: 1000 }, () => budget.take());
    expect(waits.filter((w) => w === 0)).toHaveLength(10);
    expect(waits.at(-1)).toBe(990_000);
  });

  it('does not drain or refill when the clock steps back', () => {
    const clock = manualClock(10_000);
    const budget = createRetryBudget({ capacity: 2, refillPerSecond: 1, now: clock.now });
    budget.take();
    clock.set(0);
    expect(budget.available()).toBe(1);
    clock.set(1000);
    expect(budget.available()).toBe(2);
  });

  it('caps the wait a timer can hold', () => {
    const clock = manualClock();
    const budget = createRetryBudget({ capacity: 1, refillPerSecond: 0.001, now: clock.now });
    let last = 0;
    for (let i = 0; i < 5000; i++) last = budget.take();
    expect(last).toBe(2 ** 31 - 1);
  });

  it('refuses invalid options', () => {
    expect(() => createRetryBudget({ capacity: 0 })).toThrow(/capacity/);
    expect(() => createRetryBudget({ refillPerSecond: 0 })).toThrow(/refillPerSecond/);
    expect(() => createRetryBudget({ refillPerSecond: Number.NaN })).toThrow(/refillPerSecond/);
  });
});

describe('createRetryPlanner', () => {
  it('waits for the longer of backoff and budget, and gives up after maxAttempts', () => {
    const clock = manualClock();
    const planner = createRetryPlanner({
      backoff: { random: () => 0, maxAttempts: 5 },
      budget: { capacity: 2, refillPerSecond: 1, now: clock.now },
    });
    expect(planner.next(0)).toBe(100);
    expect(planner.next(1, 700)).toBe(700);
    expect(planner.next(2)).toBe(1000);
    expect(planner.next(5)).toBeUndefined();
  });

  it('accepts ready-made policies', () => {
    const backoff = createBackoff({ random: () => 0 });
    const budget = createRetryBudget();
    const planner = createRetryPlanner({ backoff, budget });
    expect(planner.backoff).toBe(backoff);
    expect(planner.budget).toBe(budget);
  });
});

describe('mayResend', () => {
  const body = (name: Parameters<typeof bodyOf>[0], executed?: 'no' | 'maybe' | 'yes') =>
    bodyOf(name, executed === undefined ? {} : { executed });

  it('always re-sends what the server refused before running it', () => {
    for (const name of ['RATE_LIMITED', 'SHUTTING_DOWN', 'UNAVAILABLE'] as const) {
      expect(mayResend(body(name), false), name).toBe(true);
    }
    expect(mayResend(body('INTERNAL', 'no'), false)).toBe(true);
    expect(mayResend(body('TIMEOUT', 'no'), false)).toBe(true);
  });

  it('re-sends what may have run only when idempotent', () => {
    for (const error of [
      body('TIMEOUT', 'maybe'),
      body('INTERNAL', 'maybe'),
      body('BAD_CONNECTION', 'maybe'),
      body('INTERNAL', 'yes'),
      new FaultlineError('TIMEOUT', { executed: 'maybe' }),
      FaultlineError.from(new Error('x')),
    ]) {
      expect(mayResend(error, false), error.name).toBe(false);
      expect(mayResend(error, true), error.name).toBe(true);
    }
  });

  it('never re-sends fatal errors, and re-authenticates before re-sending', () => {
    for (const name of ['BAD_REQUEST', 'NOT_FOUND', 'FORBIDDEN', 'PAYLOAD_TOO_LARGE', 'CANCELLED'] as const) {
      expect(mayResend(body(name, 'no'), true), name).toBe(false);
    }
    expect(mayResend(body('UNAUTHORIZED', 'no'), true)).toBe(false);
  });
});
