// The reliability scenarios, written once against the driver interface and sized by the caller:
// the conformance suite runs them small (vitest), benchmarks/reliability.mjs runs them full size.
// Each returns plain figures; the caller asserts or reports them.
import { FaultlineError } from '@faultline/core';
import { fuzzHandlers } from './fuzz.mjs';
import {
  deferred,
  maxInWindow,
  maxShare,
  memoryLogger,
  now,
  observe,
  rng,
  sleep,
  trapUnhandled,
  waitFor,
} from './util.mjs';
import { scanForLeaks } from './wire.mjs';

/**
 * Wire fuzzing: random and mutated frames against a server that must keep answering.
 * @param {import('./driver.mjs').Transport} transport
 * @param {{ frames: number, seed?: number }} opts
 */
export async function runFuzz(transport, opts) {
  const trap = trapUnhandled();
  let crashes = 0;
  const running = await transport.start({
    handlers: await fuzzHandlers(),
    logger: { error() {}, warn() {} },
    rateLimit: false,
    // The abuse close is checked on its own; here every frame must be answered.
    maxBadFrames: 1e9,
  });
  try {
    const started = now();
    const stats = await running.fuzz({ frames: opts.frames, seed: opts.seed ?? 1 });
    // Still serving afterwards?
    const probe = running.client({ timeoutMs: 3000 });
    let alive = false;
    try {
      await probe.ready();
      alive = (await probe.request('echo', { still: 'here' }))?.still === 'here';
    } catch {
      alive = false;
    }
    probe.close();
    if (!alive) crashes++;
    crashes += trap.caught.length;
    const leak = scanForLeaks(running.incoming());
    return {
      ...stats,
      crashes,
      unhandled: trap.caught.map(String).slice(0, 5),
      leaks: leak.hits,
      leakSamples: leak.samples,
      seconds: (now() - started) / 1000,
    };
  } finally {
    trap.dispose();
    await running.close();
  }
}

/**
 * Chaos: clients send requests while the server drops random connections. Every request must get
 * exactly one outcome within its timeout; idempotent requests must succeed with one effect each.
 * @param {import('./driver.mjs').Transport} transport
 * @param {{ clients: number, requests: number, dropEveryMs: number, concurrency?: number, timeoutMs?: number, idempotentShare?: number, maxDelayMs?: number, seed?: number }} opts
 *   `maxDelayMs`: each handler waits a random time up to this, so drops catch requests in flight.
 */
export async function runChaos(transport, opts) {
  const {
    clients: nClients,
    requests,
    dropEveryMs,
    concurrency = 2,
    timeoutMs = 8000,
    idempotentShare = 0.75,
    maxDelayMs = 40,
  } = opts;
  const r = rng(opts.seed ?? 7);
  /** @type {Map<string, number>} effects per request key */
  const effects = new Map();
  const trap = trapUnhandled();
  const running = await transport.start({
    handlers: {
      inc: async (data) => {
        effects.set(data.k, (effects.get(data.k) ?? 0) + 1);
        if (data.delay) await sleep(data.delay);
        return { k: data.k };
      },
    },
    rateLimit: false,
  });
  let drops = 0;
  let stop = false;
  const dropper = (async () => {
    while (!stop) {
      await sleep(dropEveryMs * (0.5 + r.next()));
      if (!stop && running.killOne()) drops++;
    }
  })();
  const started = now();
  /** @type {{ rec: ReturnType<typeof observe>, idempotent: boolean, k: string, timeoutMs: number, retries: number }[]} */
  const all = [];
  try {
    const clients = Array.from({ length: nClients }, () =>
      running.client({ timeoutMs, reconnect: { minMs: 50, baseMs: 300, maxMs: 2000 } }),
    );
    await Promise.all(clients.map((c) => c.ready().catch(() => {})));
    await Promise.all(
      clients.map(async (c, ci) => {
        let next = 0;
        const worker = async () => {
          while (next < requests) {
            const i = next++;
            const idempotent = r.next() < idempotentShare;
            const k = `c${ci}-r${i}`;
            const retries = idempotent ? 3 : 0;
            const p = c.request(
              'inc',
              { k, delay: r.int(maxDelayMs + 1) },
              {
                timeoutMs,
                retries,
                ...(idempotent ? { idempotencyKey: `key-${k}` } : {}),
              },
            );
            const rec = observe(p);
            all.push({ rec, idempotent, k, timeoutMs, retries });
            await rec.done;
          }
        };
        await Promise.all(Array.from({ length: concurrency }, worker));
      }),
    );
    stop = true;
    await dropper;
    for (const c of clients) c.close();
  } finally {
    stop = true;
    trap.dispose();
    await running.close();
  }
  let lost = 0;
  let duplicates = 0;
  let multipleOutcomes = 0;
  let late = 0;
  let failedNonIdempotent = 0;
  /** @type {Record<string, number>} */
  const failures = {};
  for (const { rec, idempotent, k, timeoutMs: t, retries } of all) {
    if (rec.settled !== 1) multipleOutcomes++;
    // One attempt may take its whole timeout; retries add their own (and their backoff).
    if ((rec.elapsed ?? Number.POSITIVE_INFINITY) > (t + 500) * (retries + 1) + 2000 * retries) late++;
    const n = effects.get(k) ?? 0;
    if (n > 1) duplicates++;
    if (!rec.ok) failures[rec.error?.name ?? 'non-faultline'] = (failures[rec.error?.name ?? 'non-faultline'] ?? 0) + 1;
    if (idempotent) {
      if (!rec.ok || n === 0) lost++;
    } else if (!rec.ok) {
      failedNonIdempotent++;
      if (!['BAD_CONNECTION', 'TIMEOUT'].includes(rec.error?.name)) lost++;
    } else if (n === 0) lost++;
  }
  return {
    requests: all.length,
    expected: nClients * requests,
    drops,
    lost,
    duplicates,
    multipleOutcomes,
    late,
    failedNonIdempotent,
    failures,
    unhandled: trap.caught.length,
    seconds: (now() - started) / 1000,
  };
}

/**
 * Retry storm: many clients, the server goes away and comes back. Reports how the reconnect
 * attempts spread (largest share in any 100 ms window) and the most attempts one client made in
 * any second.
 * @param {import('./driver.mjs').Transport} transport
 * @param {{ clients: number, downMs?: number, connectBatch?: number }} opts
 */
export async function runStorm(transport, opts) {
  const { clients: n, downMs = 1000, connectBatch = 100 } = opts;
  const running = await transport.start({ handlers: { echo: (d) => d ?? null }, rateLimit: false });
  const started = now();
  try {
    /** @type {import('./driver.mjs').Client[]} */
    const clients = [];
    for (let i = 0; i < n; i += connectBatch) {
      const batch = Array.from({ length: Math.min(connectBatch, n - i) }, () => running.client({ timeoutMs: 5000 }));
      clients.push(...batch);
      await Promise.all(batch.map((c) => c.ready()));
    }
    const before = clients.map((c) => c.wire.attempts.length);
    const restartAt = now();
    await running.restart({ downMs });
    await waitFor(() => clients.every((c) => c.state() === 'open'), {
      timeoutMs: 60_000,
      intervalMs: 20,
      what: `all ${n} clients reconnected`,
    });
    const recovered = now() - restartAt;
    // Attempts made after the restart began.
    const perClient = clients.map((c, i) => c.wire.attempts.slice(before[i]));
    const all = perClient.flat();
    const share = maxShare(all, 100);
    const perSecond = Math.max(...perClient.map((a) => maxInWindow(a, 1000)));
    const ok = await Promise.all(
      clients.slice(0, 20).map((c) =>
        c.request('echo', 1).then(
          () => true,
          () => false,
        ),
      ),
    );
    return {
      clients: n,
      attempts: all.length,
      max_share_100ms: Number(share.toFixed(4)),
      max_attempts_per_client_per_s: perSecond,
      recovered_ms: Math.round(recovered),
      serving_after: ok.every(Boolean),
      seconds: (now() - started) / 1000,
    };
  } finally {
    await running.close();
  }
}

/** Secrets and internals every error path below tries to leak. */
function leakyHandlers() {
  const cyclic = /** @type {any} */ ({ room: 'r1' });
  cyclic.self = cyclic;
  return {
    join: ({ room } = {}) => {
      throw new FaultlineError('NOT_FOUND', { message: 'Room not found', details: { room } });
    },
    boom: () => {
      throw new TypeError('db password=hunter2 at 10.0.0.5');
    },
    leaky: () => {
      const err = /** @type {any} */ (new Error('query failed: password=hunter2'));
      err.sql = "SELECT * FROM users WHERE pw='s3cr3t-sql'";
      err.config = { headers: { authorization: 'Bearer tok-SECRET-123' } };
      err.self = err;
      throw err;
    },
    cyclicDetails: () => {
      throw new FaultlineError('INVALID_ACTION', {
        message: 'Room is closed',
        details: cyclic,
        cause: new Error('cause-secret-77 at 10.0.0.5'),
      });
    },
    stringThrow: () => {
      throw 'string-thrown-secret';
    },
    asyncReject: async () => {
      await sleep(1);
      throw new Error('async-secret-42');
    },
    getter: () => {
      throw {
        get message() {
          throw new Error('getter-secret');
        },
        toString() {
          return 'getter-secret';
        },
      };
    },
    enumerable: () => {
      const err = /** @type {any} */ (new RangeError('enumerable-secret'));
      err.token = 'enumerable-secret';
      err.toJSON = () => ({ token: 'enumerable-secret' });
      throw err;
    },
    bigint: () => 10n,
    slow: async () => {
      await sleep(300);
      return 'late';
    },
  };
}

/**
 * Leak scan: drives every error path of a transport (handler throws of every shape, bad input,
 * auth refusals, timeouts, rate limits, dropped connections, fatal errors, shutdown), captures
 * everything that reached the clients on the wire, and scans it.
 * @param {import('./driver.mjs').Transport} transport
 * @param {{ fuzzFrames?: number }} [opts]
 */
export async function runLeakScan(transport, opts = {}) {
  const logger = memoryLogger();
  const running = await transport.start({
    handlers: leakyHandlers(),
    logger,
    rateLimit: { points: 50, durationMs: 1000 },
    authenticate: (token) => {
      if (token === 'forbidden') throw new FaultlineError('FORBIDDEN', { message: 'Forbidden' });
      if (token === 'throws') throw new Error('auth db password=hunter2 at 10.0.0.5');
      if (token !== undefined && token !== 'good')
        throw new FaultlineError('UNAUTHORIZED', { message: 'Token expired' });
      return { user: 1 };
    },
  });
  /** @type {string[]} */
  const paths = [];
  try {
    const c = running.client({ token: () => 'good', timeoutMs: 2000 });
    await c.ready();
    const settle = (p) =>
      p.then(
        () => undefined,
        () => undefined,
      );
    for (const ev of [
      'join',
      'boom',
      'leaky',
      'cyclicDetails',
      'stringThrow',
      'asyncReject',
      'getter',
      'enumerable',
      'bigint',
      'nope',
    ]) {
      await settle(c.request(ev, { room: 'r9' }));
      paths.push(ev);
    }
    await settle(c.request('slow', null, { timeoutMs: 50 }));
    paths.push('timeout');
    // Bad input through the client: hostile key, too deep.
    await settle(c.request('join', JSON.parse('{"__proto__":{"admin":true}}')));
    let deep = /** @type {any} */ (1);
    for (let i = 0; i < 40; i++) deep = { d: deep };
    await settle(c.request('join', deep));
    paths.push('bad-input');
    // Rate limit.
    await Promise.all(Array.from({ length: 60 }, () => settle(c.request('join', { room: 'x' }))));
    paths.push('rate-limit');
    const conn = transport.caps.connection;
    // Auth refusals (UNAUTHORIZED twice, FORBIDDEN, a throwing authenticate).
    for (const token of conn ? ['stale', 'forbidden', 'throws'] : []) {
      const a = running.client({
        token: () => token,
        timeoutMs: 1000,
        reconnect: { minMs: 20, baseMs: 40, maxMs: 80 },
      });
      await waitFor(() => a.state() === 'closed' || a.wire.attempts.length >= 3, {
        timeoutMs: 5000,
        what: `auth ${token} settled`,
      }).catch(() => {});
      a.close();
      paths.push(`auth-${token}`);
    }
    // In flight when the connection drops.
    if (!conn) {
      const fuzz = await running.fuzz({ frames: opts.fuzzFrames ?? 500, seed: 99 });
      paths.push('fuzz');
      const scan = scanForLeaks(running.incoming());
      return {
        ...scan,
        paths,
        fuzzWrong: fuzz.wrongAnswers,
        fuzzSamples: fuzz.samples,
        logEntries: logger.entries.length,
      };
    }
    const inflight = settle(c.request('slow', null, { timeoutMs: 2000 }));
    await sleep(20);
    running.killConnections();
    await inflight;
    paths.push('bad-connection');
    await c.ready().catch(() => {});
    // Wire fuzzing of this transport's bad-input paths.
    const fuzz = await running.fuzz({ frames: opts.fuzzFrames ?? 500, seed: 99 });
    paths.push('fuzz');
    // A fatal error from the server, an unknown throw as the fatal error, then shutdown.
    running.failAll(new TypeError('fatal db password=hunter2'));
    await sleep(100);
    await waitFor(() => c.state() === 'open', { timeoutMs: 5000, what: 'reconnect after fatal INTERNAL' }).catch(
      () => {},
    );
    running.failAll(
      new FaultlineError('FORBIDDEN', { message: 'Account suspended', cause: new Error('cause-secret-77') }),
    );
    paths.push('fatal');
    const d = running.client({ token: () => 'good' });
    await d.ready().catch(() => {});
    await running.shutdown({ windowMs: 200, graceMs: 100 });
    paths.push('shutdown');
    const scan = scanForLeaks(running.incoming());
    return {
      ...scan,
      paths,
      fuzzWrong: fuzz.wrongAnswers,
      fuzzSamples: fuzz.samples,
      logEntries: logger.entries.length,
    };
  } finally {
    await running.close();
  }
}

export { deferred };
