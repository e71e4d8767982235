// Small helpers shared by the conformance tests and benchmarks/reliability.mjs. Plain ESM with
// JSDoc types so both vitest and a bare `node` can import them. Every wait here is bounded.

/** @param {number} ms */
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Monotonic milliseconds. */
export const now = () => performance.now();

/**
 * Polls `predicate` until it is truthy; rejects after `timeoutMs` with `what` in the message.
 * @template T
 * @param {() => T} predicate
 * @param {{ timeoutMs?: number, intervalMs?: number, what?: string }} [options]
 * @returns {Promise<T>}
 */
export async function waitFor(predicate, options = {}) {
  const { timeoutMs = 5000, intervalMs = 5, what = 'condition' } = options;
  const deadline = now() + timeoutMs;
  for (;;) {
    const value = predicate();
    if (value) return value;
    if (now() > deadline) throw new Error(`waitFor: ${what} not met within ${timeoutMs} ms`);
    await sleep(intervalMs);
  }
}

/**
 * Races a promise against a deadline.
 * @template T
 * @param {Promise<T>} promise
 * @param {number} ms
 * @param {string} [what]
 * @returns {Promise<T>}
 */
export function within(promise, ms, what = 'operation') {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Settles a promise into a record, with when it settled and how often (a promise settles once;
 * the count guards against a wrapper that calls back twice).
 * @param {Promise<unknown>} promise
 */
export function observe(promise) {
  const started = now();
  /** @type {{ settled: number, ok?: boolean, value?: unknown, error?: any, at?: number, elapsed?: number, done: Promise<void> }} */
  const record = { settled: 0, done: Promise.resolve() };
  record.done = promise.then(
    (value) => {
      record.settled++;
      record.ok = true;
      record.value = value;
      record.at = now();
      record.elapsed = record.at - started;
    },
    (error) => {
      record.settled++;
      record.ok = false;
      record.error = error;
      record.at = now();
      record.elapsed = record.at - started;
    },
  );
  return record;
}

/** A deferred promise. */
export function deferred() {
  /** @type {(v?: unknown) => void} */
  let resolve = () => {};
  /** @type {(e: unknown) => void} */
  let reject = () => {};
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * A small seeded PRNG (mulberry32): fuzzing and chaos runs are reproducible from their seed.
 * @param {number} seed
 */
export function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    /** @param {number} n */
    int: (n) => Math.floor(next() * n),
    /** @template T @param {readonly T[]} xs @returns {T} */
    pick: (xs) => xs[Math.floor(next() * xs.length)],
    /** @param {number} p */
    chance: (p) => next() < p,
  };
}

/**
 * JSON of anything, for reading logs: errors with their name, message, stack and own properties,
 * cycles as "[Circular]". Never throws.
 * @param {unknown} value
 */
export function safeStringify(value) {
  const seen = new WeakSet();
  try {
    return JSON.stringify(value, function replacer(_key, v) {
      if (typeof v === 'bigint') return String(v);
      if (typeof v !== 'object' || v === null) return v;
      if (seen.has(v)) return '[Circular]';
      seen.add(v);
      if (v instanceof Error) {
        /** @type {Record<string, unknown>} */
        const out = { name: v.name, message: v.message, stack: v.stack };
        for (const k of Object.keys(v)) out[k] = /** @type {any} */ (v)[k];
        return out;
      }
      return v;
    });
  } catch {
    return '[unserialisable]';
  }
}

/**
 * A logger (pino's shape) that keeps every entry, so tests can read what the server logged.
 */
export function memoryLogger() {
  /** @type {{ level: string, obj: any, msg: string | undefined }[]} */
  const entries = [];
  const at = (level) => (obj, msg) => {
    entries.push({ level, obj, msg });
  };
  return {
    entries,
    error: at('error'),
    warn: at('warn'),
    info: at('info'),
    debug: at('debug'),
    /** Everything logged, as one string (stacks included). */
    text() {
      return entries.map((e) => `${e.msg ?? ''} ${safeStringify(e.obj)}`).join('\n');
    },
    /** The first entry whose JSON holds `"<requestId>"`, as that JSON. @param {string} requestId */
    find(requestId) {
      for (const e of entries) {
        const text = safeStringify(e.obj);
        if (text.includes(`"${requestId}"`)) return { entry: e, text };
      }
      return undefined;
    },
  };
}

/**
 * Largest share of timestamps in any window of `windowMs` (a sliding window over sorted times).
 * @param {number[]} times
 * @param {number} windowMs
 */
export function maxShare(times, windowMs) {
  if (times.length === 0) return 0;
  const t = [...times].sort((a, b) => a - b);
  let best = 0;
  let j = 0;
  for (let i = 0; i < t.length; i++) {
    while (t[i] - t[j] >= windowMs) j++;
    best = Math.max(best, i - j + 1);
  }
  return best / t.length;
}

/**
 * Most timestamps of one series in any window of `windowMs`.
 * @param {number[]} times
 * @param {number} windowMs
 */
export function maxInWindow(times, windowMs) {
  return times.length === 0 ? 0 : Math.round(maxShare(times, windowMs) * times.length);
}

/** Collects unhandled rejections and uncaught exceptions while installed. */
export function trapUnhandled() {
  /** @type {unknown[]} */
  const caught = [];
  const onRejection = (reason) => caught.push(reason);
  const onException = (error) => caught.push(error);
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  return {
    caught,
    dispose() {
      process.off('unhandledRejection', onRejection);
      process.off('uncaughtException', onException);
    },
  };
}
