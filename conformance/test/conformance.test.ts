// The conformance suite (issue 6): every scenario is written once against the transport driver
// interface (lib/driver.mjs) and runs against every transport in lib/transports.mjs. Real servers
// on 127.0.0.1 port 0, real clients, raw wire capture below the Faultline client, bounded waits.
import { FaultlineError } from '@faultline/core';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KNOWN, noteDeviation, reportDeviations, unknownDeviations } from '../lib/known.mjs';
import { transports } from '../lib/transports.mjs';
import { deferred, memoryLogger, now, observe, sleep, trapUnhandled, waitFor, within } from '../lib/util.mjs';
import { LEAK_PATTERNS, SECRETS, scanForLeaks } from '../lib/wire.mjs';

type Body = Record<string, unknown>;

/** scenario → transport → the error `data` the client got (cross-transport comparison at the end). */
const observed = new Map<string, Map<string, Body>>();
const keep = (scenario: string, transport: string, body: Body): void => {
  let m = observed.get(scenario);
  if (!m) {
    m = new Map();
    observed.set(scenario, m);
  }
  m.set(transport, structuredClone(body));
};

/**
 * Node starts a timer from the event loop's cached clock, so a timer can fire a few ms early as
 * seen by performance.now() when the loop was busy: the tolerance on "not before N ms".
 */
const TIMER_SLACK_MS = 20;

const ALLOWED_FIELDS = new Set([
  'code',
  'name',
  'message',
  'category',
  'recoverable',
  'recovery',
  'retry_after_ms',
  'executed',
  'details',
  'cause',
]);

/** The handlers every scenario uses; `state` lets a test look inside the server. */
function makeHandlers(state: State) {
  return {
    echo: (data: unknown) => data ?? null,
    join: ({ room }: { room?: string } = {}) => {
      if (room === 'lobby') return { joined: room };
      throw new FaultlineError('NOT_FOUND', { message: 'Room not found', details: { room: room ?? null } });
    },
    boom: () => {
      throw new TypeError('db password=hunter2 at 10.0.0.5');
    },
    leaky: () => {
      const err = new Error('query failed: password=hunter2') as Error & Record<string, unknown>;
      err.sql = "SELECT * FROM users WHERE pw='s3cr3t-sql'";
      err.config = { headers: { authorization: 'Bearer tok-SECRET-123' } };
      err.self = err;
      throw err;
    },
    cyclic: () => {
      const details: Record<string, unknown> = { room: 'r1', nested: { list: [1, 2] } };
      details.self = details;
      (details.nested as Record<string, unknown>).up = details;
      throw new FaultlineError('INVALID_ACTION', {
        message: 'Room is closed',
        details,
        cause: new Error('cause-secret-77'),
      });
    },
    slow: async (data: { ms: number }) => {
      await sleep(data.ms);
      state.slowDone++;
      return 'late';
    },
    hold: async (data: { n: number }, ctx: { idempotencyKey?: string | undefined }) => {
      const key = ctx.idempotencyKey ?? `n${data.n}`;
      state.runs.set(key, (state.runs.get(key) ?? 0) + 1);
      state.started++;
      await state.gate.promise;
      return { n: data.n };
    },
    limited: (data: { k: string }) => {
      const calls = state.limitedCalls.get(data.k) ?? [];
      calls.push(now());
      state.limitedCalls.set(data.k, calls);
      if (calls.length === 1) {
        throw new FaultlineError('RATE_LIMITED', { message: 'Slow down', retryAfterMs: 500, executed: 'no' });
      }
      return { ok: true };
    },
  };
}

interface State {
  slowDone: number;
  runs: Map<string, number>;
  started: number;
  gate: ReturnType<typeof deferred>;
  limitedCalls: Map<string, number[]>;
}

const newState = (): State => ({ slowDone: 0, runs: new Map(), started: 0, gate: deferred(), limitedCalls: new Map() });

/** Authentication by token value, the same on every transport. */
function authenticate(token: string | undefined) {
  if (token === 'good') return { user: 'u1' };
  if (token === 'forbidden') throw new FaultlineError('FORBIDDEN', { message: 'Account suspended' });
  throw new FaultlineError('UNAUTHORIZED', { message: 'Token expired' });
}

describe.each(transports)('$name', (transport) => {
  let running: any;
  let state: State;
  let logger: ReturnType<typeof memoryLogger>;
  let trap: ReturnType<typeof trapUnhandled>;
  const name = transport.name;

  const start = async (extra: Record<string, any> = {}) => {
    running = await transport.start({ handlers: makeHandlers(state) as never, logger, rateLimit: false, ...extra });
    return running;
  };
  const connected = async (opts: Record<string, any> = {}) => {
    const c = running.client({ timeoutMs: 3000, reconnect: { minMs: 20, baseMs: 100, maxMs: 400 }, ...opts });
    await c.ready();
    return c;
  };

  beforeEach(() => {
    state = newState();
    logger = memoryLogger();
    trap = trapUnhandled();
  });

  afterEach(async () => {
    state.gate.resolve();
    const incoming: string[] = running ? running.incoming() : [];
    await running?.close();
    running = undefined;
    trap.dispose();
    // Every test doubles as a leak scan of what it put on the wire.
    const scan = scanForLeaks(incoming);
    expect(scan.samples, 'leak on the wire').toEqual([]);
    expect(trap.caught.map(String), 'unhandled rejection or exception').toEqual([]);
  });

  it('an application error with details (NOT_FOUND {room}) reaches the client as sent', async () => {
    await start();
    const c = await connected();
    const err = await c.request('join', { room: 'r1' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(FaultlineError.is(err)).toBe(true);
    const e = err as FaultlineError;
    expect(e.name).toBe('NOT_FOUND');
    expect(e.code).toBe(4001);
    expect(e.message).toBe('Room not found');
    expect(e.details).toEqual({ room: 'r1' });
    expect(e.recovery).toBe('none');
    const body = transport.bodyOf(e);
    const raw = c.errors().find((x: { meta?: { request_id?: string } }) => x.meta?.request_id === e.requestId);
    expect(raw, 'the error body on the wire, by request id').toBeDefined();
    expect(raw.data).toEqual(body);
    keep('NOT_FOUND {room}', name, raw.data);

    const unknown = await c.request('no-such-event', {}).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect((unknown as FaultlineError).name).toBe('NOT_FOUND');
    // Over HTTP an unknown event is an unknown route: the plugin's not-found answer says which.
    if (transport.caps.connection) expect((unknown as FaultlineError).details).toEqual({ event: 'no-such-event' });
    keep('NOT_FOUND unknown event', name, transport.bodyOf(unknown));
    // The connection survives application errors.
    expect(await c.request('join', { room: 'lobby' })).toEqual({ joined: 'lobby' });
  });

  it('unknown throws become INTERNAL: generic message, no stack, nothing secret on the wire; the log has it all', async () => {
    await start();
    const c = await connected();
    for (const event of ['boom', 'leaky']) {
      const err = (await c.request(event, {}).then(
        () => undefined,
        (x: unknown) => x,
      )) as FaultlineError;
      expect(err.name).toBe('INTERNAL');
      expect(err.code).toBe(5000);
      expect(err.message).toBe('Internal server error');
      expect(err.executed).toBe('maybe');
      const raw = c.errors().find((x: { meta?: { request_id?: string } }) => x.meta?.request_id === err.requestId);
      expect(raw, `${event}: raw error body by request id`).toBeDefined();
      expect(
        Object.keys(raw.data).every((k) => ALLOWED_FIELDS.has(k)),
        JSON.stringify(raw.data),
      ).toBe(true);
      expect(raw.data.details).toBeUndefined();
      expect(raw.data.cause).toBeUndefined();
      keep(`INTERNAL (${event})`, name, raw.data);
      // The server log: the stack, the original message and the same request id.
      const found = logger.find(err.requestId as string);
      expect(found, `${event}: a log entry with request_id ${err.requestId}`).toBeDefined();
      const logged = found?.text ?? '';
      expect(logged).toContain(event === 'boom' ? 'db password=hunter2 at 10.0.0.5' : 'query failed: password=hunter2');
      expect(logged).toMatch(/at .* \(/);
      expect(found?.entry.obj.request_id).toBe(err.requestId);
    }
    const cyc = (await c.request('cyclic', {}).then(
      () => undefined,
      (x: unknown) => x,
    )) as FaultlineError;
    expect(cyc.name).toBe('INVALID_ACTION');
    expect(cyc.details).toMatchObject({ room: 'r1', self: '[Circular]' });
    keep('INVALID_ACTION cyclic details', name, transport.bodyOf(cyc));
    // Nothing anywhere on this client's wire: secrets, stack frames, file paths.
    const texts = c.wire.incoming();
    expect(texts.length).toBeGreaterThan(0);
    for (const s of SECRETS)
      expect(
        texts.filter((t: string) => t.includes(s)),
        s,
      ).toEqual([]);
    for (const { re } of LEAK_PATTERNS) expect(texts.filter((t: string) => re.test(t))).toEqual([]);
  });

  it('a reply after the timeout: one TIMEOUT at the timeout, the late reply never delivered', async () => {
    await start();
    const routed: string[] = [];
    const c = await connected({ errorRoute: (f: { location: string }) => routed.push(f.location) });
    const rec = observe(c.request('slow', { ms: 400 }, { timeoutMs: 150 }));
    await within(rec.done, 2000, 'timed-out request');
    expect(rec.ok).toBe(false);
    expect(rec.error.name).toBe('TIMEOUT');
    expect(rec.elapsed).toBeGreaterThanOrEqual(150 - TIMER_SLACK_MS);
    expect(rec.elapsed).toBeLessThan(400);
    keep('TIMEOUT (client-made)', name, transport.bodyOf(rec.error));
    await waitFor(() => state.slowDone === 1, { timeoutMs: 2000, what: 'slow handler done' });
    if (transport.caps.connection) {
      // The late reply does cross the wire (over HTTP the aborted exchange never receives it)...
      await waitFor(() => c.wire.incoming().some((t: string) => t.includes('"late"')), {
        timeoutMs: 2000,
        what: 'late reply on the wire',
      });
      noteDeviation(
        name,
        'late-reply-hook',
        routed.includes('Request#late'),
        'a late reply is reported to the error route',
      );
    }
    await sleep(50);
    // ...and is dropped: the request settled once, with TIMEOUT.
    expect(rec.settled).toBe(1);
    expect(rec.error.name).toBe('TIMEOUT');
    expect(await c.request('echo', 'still-open')).toBe('still-open');
  });

  it.runIf(transport.caps.connection)(
    'three requests in flight when the server kills the connection: each settles once with BAD_CONNECTION',
    async () => {
      await start();
      const c = await connected({ timeoutMs: 5000 });
      const recs = [1, 2, 3].map((n) => observe(c.request('hold', { n })));
      await waitFor(() => state.started === 3, { timeoutMs: 3000, what: '3 handlers running' });
      const killedAt = now();
      expect(running.killConnections()).toBeGreaterThan(0);
      await within(Promise.all(recs.map((r) => r.done)), 2000, 'in-flight requests');
      for (const r of recs) {
        expect(r.settled).toBe(1);
        expect(r.ok).toBe(false);
        expect(r.error.name).toBe('BAD_CONNECTION');
        expect(r.error.recovery).toBe('reconnect');
        expect((r.at as number) - killedAt).toBeLessThan(1500);
      }
      keep('BAD_CONNECTION (client-made)', name, transport.bodyOf(recs[0]?.error));
      state.gate.resolve();
      await waitFor(() => c.state() === 'open', { timeoutMs: 3000, what: 'reconnected' });
      await sleep(50);
      for (const r of recs) expect(r.settled).toBe(1);
    },
  );

  it.runIf(transport.caps.connection)(
    'idempotent requests in flight are re-sent after reconnect and run once on the server',
    async () => {
      await start();
      const c = await connected({ timeoutMs: 5000 });
      const keys = ['idem-1', 'idem-2', 'idem-3'];
      const recs = keys.map((k, i) => observe(c.request('hold', { n: i }, { idempotencyKey: k })));
      await waitFor(() => state.started === 3, { timeoutMs: 3000, what: '3 handlers running' });
      running.killConnections();
      await waitFor(() => c.state() !== 'open', { timeoutMs: 2000, what: 'drop noticed' });
      await waitFor(() => c.state() === 'open', { timeoutMs: 3000, what: 'reconnected' });
      // The re-sent requests reach the server (their frames leave after the reconnect).
      await sleep(100);
      for (const r of recs) expect(r.settled).toBe(0);
      state.gate.resolve();
      await within(Promise.all(recs.map((r) => r.done)), 3000, 'idempotent requests');
      recs.forEach((r, i) => {
        expect(r.settled).toBe(1);
        expect(r.ok, String(r.error)).toBe(true);
        expect(r.value).toEqual({ n: i });
      });
      for (const k of keys) expect(state.runs.get(k), `runs of ${k}`).toBe(1);
    },
  );

  it.runIf(transport.caps.connection)('UNAUTHORIZED: one token refresh and a reconnect', async () => {
    await start({ authenticate });
    const calls: boolean[] = [];
    const c = running.client({
      token: ({ refresh }: { refresh: boolean }) => {
        calls.push(refresh);
        return refresh ? 'good' : 'stale';
      },
      reconnect: { minMs: 20, baseMs: 100, maxMs: 400 },
    });
    // Over ws the socket opens before the server authenticates: wait for the second connection.
    await waitFor(() => calls.length === 2 && c.wire.opens.length === 2 && c.state() === 'open', {
      timeoutMs: 3000,
      what: 'reconnected with a fresh token',
    });
    expect(calls).toEqual([false, true]);
    expect(c.wire.attempts.length).toBe(2);
    expect(await c.request('echo', 1)).toBe(1);
    const refused = c.errors().find((x: { data: Body }) => x.data.name === 'UNAUTHORIZED');
    expect(refused, 'the UNAUTHORIZED body on the wire').toBeDefined();
    keep('UNAUTHORIZED (connect)', name, refused.data);
  });

  it.runIf(transport.caps.connection)('UNAUTHORIZED twice in a row is fatal', async () => {
    await start({ authenticate });
    const calls: boolean[] = [];
    const changes: { current: string; reason?: FaultlineError }[] = [];
    const c = running.client({
      token: ({ refresh }: { refresh: boolean }) => {
        calls.push(refresh);
        return 'stale';
      },
      reconnect: { minMs: 20, baseMs: 100, maxMs: 400 },
    });
    c.onStateChange((ch: { current: string; reason?: FaultlineError }) => changes.push(ch));
    await waitFor(() => c.state() === 'closed', { timeoutMs: 3000, what: 'client closed' });
    await sleep(500);
    expect(calls).toEqual([false, true]);
    expect(c.wire.attempts.length).toBe(2);
    const last = changes[changes.length - 1];
    expect(last?.current).toBe('closed');
    expect(last?.reason?.name).toBe('UNAUTHORIZED');
  });

  it.runIf(transport.caps.connection)('FORBIDDEN is fatal at once: no reconnect attempt', async () => {
    await start({ authenticate });
    const changes: { current: string; reason?: FaultlineError }[] = [];
    const c = running.client({ token: () => 'forbidden', reconnect: { minMs: 20, baseMs: 100, maxMs: 400 } });
    c.onStateChange((ch: { current: string; reason?: FaultlineError }) => changes.push(ch));
    await waitFor(() => c.state() === 'closed', { timeoutMs: 3000, what: 'client closed' });
    await sleep(500);
    expect(c.wire.attempts.length).toBe(1);
    const last = changes[changes.length - 1];
    expect(last?.reason?.name).toBe('FORBIDDEN');
    const raw = c.errors().find((x: { data: Body }) => x.data.name === 'FORBIDDEN');
    expect(raw).toBeDefined();
    keep('FORBIDDEN (connect)', name, raw.data);
    await expect(c.request('echo', 1)).rejects.toMatchObject({ name: 'BAD_CONNECTION' });
  });

  it('RATE_LIMITED with retry_after_ms 500: no retry before 500 ms', async () => {
    await start();
    const c = await connected();
    const err = (await c.request('limited', { k: 'a' }).then(
      () => undefined,
      (x: unknown) => x,
    )) as FaultlineError;
    expect(err.name).toBe('RATE_LIMITED');
    expect(err.retryAfterMs).toBe(500);
    expect(err.executed).toBe('no');
    keep('RATE_LIMITED (handler)', name, transport.bodyOf(err));
    // With the client's own retries, the second attempt waits at least retry_after_ms.
    const rec = observe(c.request('limited', { k: 'b' }, { retries: 1 }));
    await within(rec.done, 3000, 'retried request');
    expect(rec.ok).toBe(true);
    const calls = state.limitedCalls.get('b') ?? [];
    expect(calls.length).toBe(2);
    expect((calls[1] as number) - (calls[0] as number)).toBeGreaterThanOrEqual(500 - TIMER_SLACK_MS);
  });

  it.runIf(transport.caps.rateLimit !== false)(
    'RATE_LIMITED from the server rate limiter: retry_after_ms set, executed "no", retried after it',
    async () => {
      await start({ rateLimit: { points: 1, durationMs: 500 } });
      const c = await connected();
      expect(await c.request('echo', 1)).toBe(1);
      const err = (await c.request('echo', 2).then(
        () => undefined,
        (x: unknown) => x,
      )) as FaultlineError;
      expect(err.name).toBe('RATE_LIMITED');
      expect(err.executed).toBe('no');
      expect(err.retryAfterMs).toBeGreaterThan(300);
      expect(err.retryAfterMs).toBeLessThanOrEqual(500);
      const body = transport.bodyOf(err);
      keep('RATE_LIMITED (limiter)', name, {
        ...body,
        retry_after_ms: typeof body.retry_after_ms,
        message: String(body.message).replace(/\d+/, 'N'),
      });
      const t0 = now();
      expect(await c.request('echo', 3, { retries: 2 })).toBe(3);
      expect(now() - t0).toBeGreaterThanOrEqual(250);
    },
  );

  it.runIf(transport.caps.connection)(
    'a fatal error: error frame first, then the mapped close; the client stops',
    async () => {
      await start();
      const c = await connected();
      const changes: { current: string; reason?: FaultlineError }[] = [];
      c.onStateChange((ch: { current: string; reason?: FaultlineError }) => changes.push(ch));
      expect(running.failAll(new FaultlineError('FORBIDDEN', { message: 'Account suspended' }))).toBe(1);
      await waitFor(() => c.state() === 'closed', { timeoutMs: 3000, what: 'client closed' });
      const frames = c.wire.frames.filter((f: { dir: string }) => f.dir === 'in');
      const errFrame = frames.find((f: { text: string }) => f.text.includes('Account suspended'));
      expect(errFrame, 'the error frame').toBeDefined();
      const raw = c.errors().find((x: { data: Body }) => x.data.name === 'FORBIDDEN');
      keep('FORBIDDEN (fatal)', name, raw.data);
      if (transport.caps.closeCodes) {
        const close = c.wire.closes[0];
        expect(close?.code).toBe(4004);
        expect(close?.reason).toBe('FORBIDDEN');
        expect(errFrame.at).toBeLessThanOrEqual(close.at);
      }
      expect(changes[changes.length - 1]?.reason?.name).toBe('FORBIDDEN');
      await sleep(300);
      expect(c.wire.attempts.length).toBe(1);
    },
  );

  it.runIf(transport.caps.connection)(
    'a fatal error whose frame is dropped: the close alone is classified',
    async () => {
      await start();
      // FORBIDDEN: fatal, no reconnect.
      const c = await connected({ dropConnectionErrors: true });
      const changes: { current: string; reason?: FaultlineError }[] = [];
      c.onStateChange((ch: { current: string; reason?: FaultlineError }) => changes.push(ch));
      running.failAll(new FaultlineError('FORBIDDEN', { message: 'Account suspended' }));
      await waitFor(() => c.state() === 'closed', { timeoutMs: 3000, what: 'client closed' });
      await sleep(300);
      expect(c.wire.attempts.length).toBe(1);
      noteDeviation(
        name,
        'dropped-frame-name',
        changes[changes.length - 1]?.reason?.name === 'FORBIDDEN',
        'close without its frame classified by name (FORBIDDEN)',
      );
      // UNAVAILABLE with retry_after_ms 300: retryable, reconnect no earlier than 300 ms.
      const d = await connected({ dropConnectionErrors: true });
      const failedAt = now();
      running.failAll(new FaultlineError('UNAVAILABLE', { message: 'Overloaded', retryAfterMs: 300 }));
      const reconnected = await waitFor(() => d.state() === 'open' && d.wire.opens.length === 2, {
        timeoutMs: 1500,
        what: 'reconnected',
      }).then(
        () => true,
        () => false,
      );
      noteDeviation(
        name,
        'dropped-frame-retryable',
        reconnected,
        'a retryable close without its frame leads to a reconnect',
      );
      if (reconnected) expect((d.wire.attempts[1] as number) - failedAt).toBeGreaterThanOrEqual(300 - TIMER_SLACK_MS);
    },
  );

  it.runIf(transport.caps.connection)('a retryable fatal error (an unknown throw, INTERNAL) reconnects', async () => {
    await start();
    const c = await connected();
    running.failAll(new TypeError('fatal db password=hunter2'));
    await waitFor(() => c.wire.opens.length === 2 && c.state() === 'open', { timeoutMs: 3000, what: 'reconnected' });
    const raw = c.errors().find((x: { data: Body }) => x.data.name === 'INTERNAL');
    expect(raw).toBeDefined();
    keep('INTERNAL (fatal)', name, raw.data);
    if (transport.caps.closeCodes) expect(c.wire.closes[0]?.code).toBe(1011);
    expect(await c.request('echo', 'back')).toBe('back');
  });

  it('bad input (a hostile key, too deep) is answered BAD_REQUEST', async () => {
    await start();
    const c = await connected();
    const hostile = JSON.parse('{"__proto__":{"admin":true}}');
    const first = (await c.request('echo', hostile).then(
      () => undefined,
      (x: unknown) => x,
    )) as FaultlineError;
    expect(first?.name).toBe('BAD_REQUEST');
    keep('BAD_REQUEST (forbidden key)', name, transport.bodyOf(first));
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = { d: deep };
    const tooDeep = (await c.request('echo', deep).then(
      () => undefined,
      (x: unknown) => x,
    )) as FaultlineError | undefined;
    noteDeviation(name, 'depth-limit', tooDeep?.name === 'BAD_REQUEST', 'data nested deeper than 32 levels is refused');
    if (tooDeep !== undefined) {
      expect(tooDeep.name).toBe('BAD_REQUEST');
      keep('BAD_REQUEST (too deep)', name, transport.bodyOf(tooDeep));
    }
  });

  it.runIf(transport.caps.connection)(
    'repeated bad input: each answered BAD_REQUEST, then the connection is closed with BAD_REQUEST',
    async () => {
      await start();
      const c = await connected();
      const hostile = JSON.parse('{"__proto__":{"admin":true}}');
      const rest = await Promise.all(
        Array.from({ length: 25 }, () =>
          c.request('echo', hostile).then(
            () => 'ok',
            (x: FaultlineError) => x.name,
          ),
        ),
      );
      expect(rest.filter((r) => r === 'ok')).toEqual([]);
      await waitFor(() => c.state() === 'closed', { timeoutMs: 3000, what: 'closed after abuse' });
      if (transport.caps.closeCodes) expect(c.wire.closes[0]?.code).toBe(4000);
      const closing = c.errors().find((x: { data: Body; meta?: Body }) => x.data.message === 'Too many bad frames');
      expect(closing).toBeDefined();
      keep('BAD_REQUEST (abuse close)', name, closing.data);
    },
  );

  it.runIf(transport.caps.connection)(
    'graceful shutdown: every client gets SHUTTING_DOWN, reconnects spread over the window',
    async () => {
      await start();
      const n = 10;
      const windowMs = 1500;
      const clients = await Promise.all(
        Array.from({ length: n }, () => connected({ reconnect: { minMs: 20, baseMs: 100, maxMs: 400 } })),
      );
      const t0 = now();
      await running.shutdown({ windowMs, graceMs: 200 });
      // Let the last frames flush, as a process would before exiting; clients that come back before
      // the restart are refused with SHUTTING_DOWN again.
      await sleep(100);
      await running.restart();
      await waitFor(() => clients.every((c) => c.state() === 'open' && c.wire.opens.length >= 2), {
        timeoutMs: windowMs + 3000,
        what: 'all clients back',
      }).catch((e: Error) => {
        const where = clients.map((c) => ({
          state: c.state(),
          attempts: c.wire.attempts.map((t: number) => Math.round(t - t0)),
          opens: c.wire.opens.length,
          closes: c.wire.closes.map((x: { code: number; reason: string }) => `${x.code}:${x.reason}`),
          errors: c.errors().map((x: { data: Body }) => x.data.name),
        }));
        throw new Error(`${e.message}: ${JSON.stringify(where)}`);
      });
      const retryAfter: number[] = [];
      const reconnectAt: number[] = [];
      for (const c of clients) {
        const sd = c.errors().find((x: { data: Body }) => x.data.name === 'SHUTTING_DOWN');
        expect(sd, 'SHUTTING_DOWN on the wire').toBeDefined();
        expect(sd.meta?.request_id).toBeUndefined();
        const ra = sd.data.retry_after_ms as number;
        expect(ra).toBeGreaterThanOrEqual(0);
        expect(ra).toBeLessThan(windowMs);
        retryAfter.push(ra);
        const at = (c.wire.attempts[1] as number) - t0;
        reconnectAt.push(at);
        // Never before the server's retry_after_ms (measured from before shutdown began; Node
        // timers start from the event loop's cached time, so they may fire a few ms early).
        expect(at).toBeGreaterThanOrEqual(ra - TIMER_SLACK_MS);
        if (transport.caps.closeCodes) expect(c.wire.closes[0]?.code).toBe(1012);
      }
      const first = clients[0]?.errors().find((x: { data: Body }) => x.data.name === 'SHUTTING_DOWN');
      keep('SHUTTING_DOWN', name, { ...first.data, retry_after_ms: typeof first.data.retry_after_ms });
      // Spread: jittered over the window, not a herd.
      expect(Math.max(...retryAfter) - Math.min(...retryAfter)).toBeGreaterThan(windowMs / 5);
      expect(Math.max(...reconnectAt) - Math.min(...reconnectAt)).toBeGreaterThan(windowMs / 5);
    },
  );
});

describe('cross-transport', () => {
  afterAll(() => {
    reportDeviations();
  });

  it('the error data object is identical across transports (apart from meta)', () => {
    const names = transports.map((t) => t.name);
    const diffs: string[] = [];
    for (const [scenario, byTransport] of observed) {
      // Scenarios that do not apply to a transport (caps) have no entry for it.
      const present = names.filter((n) => byTransport.has(n));
      const [base, ...rest] = present;
      const want = byTransport.get(base as string) as Body;
      for (const other of rest) {
        const got = byTransport.get(other) as Body;
        for (const field of new Set([...Object.keys(want), ...Object.keys(got)])) {
          const a = JSON.stringify(want[field]);
          const b = JSON.stringify(got[field]);
          if (a !== b) diffs.push(`${scenario}: data.${field} ${base}=${a} ${other}=${b}`);
        }
      }
    }
    const unknown = diffs.filter((d) => !KNOWN.dataDiffs.some((k: RegExp) => k.test(d)));
    if (diffs.length > 0) console.log(`cross-transport differences:\n  ${diffs.join('\n  ')}`);
    expect(unknown).toEqual([]);
    expect(unknownDeviations()).toEqual([]);
    expect(observed.size).toBeGreaterThanOrEqual(10);
  });
});
