import { createMemoryIdempotencyStore, defineCodes, FaultlineError } from '@faultline/core';
import { describe, expect, it } from 'vitest';
import { createServer } from '../src/server.js';
import {
  defer,
  faultlineClient,
  rawClient,
  recordingLogger,
  recordingRoute,
  req,
  settle,
  sleep,
  startRawServer,
  startServer,
  waitFor,
  withTimeout,
} from './helpers.js';

const fast = { minMs: 10, baseMs: 20, maxMs: 100 };

/** A promise and the function that resolves it. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => {
    open = r;
  });
  return { promise, open };
}

describe('heartbeat', () => {
  it('server terminates a peer that stops answering pings', async () => {
    const { url, server } = await startServer({ heartbeatMs: 100 });
    const silent = await rawClient(url, { autoPong: false });
    const healthy = await rawClient(url);
    const started = Date.now();
    const closed = await withTimeout(silent.closed, 2000, 'dead peer terminated');
    expect(closed.code).toBe(1006);
    expect(Date.now() - started).toBeLessThan(1000);
    await sleep(250);
    expect(healthy.ws.readyState).toBe(healthy.ws.OPEN);
    expect(server.connections.size).toBe(1);
  });

  it('client notices a server that accepts but never answers, and reconnects', async () => {
    const { wss, url } = await startRawServer();
    let connections = 0;
    wss.on('connection', () => connections++);
    const t = faultlineClient({ url, heartbeat: { intervalMs: 100, timeoutMs: 100 }, reconnect: fast });
    await t.reached('open');
    const started = Date.now();
    const change = await t.reached('reconnecting', 2000);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(change.previous).toBe('open');
    expect(change.reason?.name).toBe('BAD_CONNECTION');
    expect(change.nextRetryInMs).toBeGreaterThanOrEqual(10);
    await waitFor(() => connections >= 2, 2000, 'reconnect');
  });
});

describe('closing', () => {
  it('a fatal error sends the error frame first, then closes with the mapped code', async () => {
    const { url } = await startServer({
      handlers: {
        ban: (_, ctx) => ctx.connection.fail(new FaultlineError('FORBIDDEN', { message: 'Banned' })),
        crash: (_, ctx) => ctx.connection.fail(new Error('db password is hunter2')),
        limit: (_, ctx) => ctx.connection.fail(new FaultlineError('RATE_LIMITED', { retryAfterMs: 1500 })),
      },
    });
    const cases: [string, number, string, string][] = [
      ['ban', 4004, 'FORBIDDEN', 'FORBIDDEN'],
      ['crash', 1011, 'INTERNAL', 'INTERNAL'],
      ['limit', 4005, 'RATE_LIMITED', 'RATE_LIMITED:1500'],
    ];
    for (const [event, code, name, reason] of cases) {
      const raw = await rawClient(url);
      raw.send(req(event, null, `${event}-1`));
      const closed = await raw.closed;
      expect(closed).toEqual({ code, reason });
      // The frame arrived before the close, without a request id (it is about the connection).
      expect(raw.frames[0]).toMatchObject({ type: 'error', data: { name } });
      expect(raw.frames[0]?.meta?.request_id).toBeUndefined();
      expect(raw.texts.join()).not.toContain('hunter2');
    }
  });

  it('classifies the close code alone when the error frame is lost', async () => {
    const { wss, url } = await startRawServer();
    let mode = 4004;
    let connections = 0;
    wss.on('connection', (ws) => {
      connections++;
      ws.close(mode, '');
    });
    const forbidden = faultlineClient({ url, reconnect: fast });
    const closed = await forbidden.reached('closed');
    expect(closed.reason).toMatchObject({ name: 'FORBIDDEN', code: 4004, recoverable: false });
    await sleep(100);
    expect(connections).toBe(1);

    mode = 1012;
    const restarting = faultlineClient({ url, reconnect: fast });
    const change = await restarting.reached('reconnecting');
    expect(change.reason).toMatchObject({ name: 'SHUTTING_DOWN', recovery: 'reconnect' });
    await waitFor(() => connections >= 3, 2000, 'reconnect after 1012');
    restarting.client.close();

    // The close reason carries the pacing when the frame is lost.
    mode = 4005;
    wss.removeAllListeners('connection');
    wss.on('connection', (ws) => ws.close(4005, 'RATE_LIMITED:700'));
    const paced = faultlineClient({ url, reconnect: fast });
    const p = await paced.reached('reconnecting');
    expect(p.reason).toMatchObject({ name: 'RATE_LIMITED', retryAfterMs: 700 });
    expect(p.nextRetryInMs).toBeGreaterThanOrEqual(700);
  });

  it("classifies a close with an application code by the client's registry", async () => {
    const registry = defineCodes({ ROOM_CLOSED: { code: 4100, message: 'Room closed', recovery: 'none' } });
    const { wss, url } = await startRawServer();
    wss.on('connection', (ws) => ws.close(4100, ''));
    const typed = faultlineClient({ url, registry, reconnect: fast });
    const closed = await typed.reached('closed');
    expect(closed.reason).toMatchObject({ name: 'ROOM_CLOSED', code: 4100, recoverable: false });
    expect(typed.client.isError(closed.reason, 'ROOM_CLOSED')).toBe(true);
    // Without the registry the code is unknown: reconnect with backoff (the budget bounds it).
    const untyped = faultlineClient({ url, reconnect: fast });
    const change = await untyped.reached('reconnecting');
    expect(change.reason).toMatchObject({ code: 4100, recovery: 'reconnect' });
  });

  it('a server that drops every connection cannot drive a reconnect storm: the retry budget paces it', async () => {
    const { wss, url } = await startRawServer();
    let connections = 0;
    wss.on('connection', (ws) => {
      connections++;
      ws.close(1012, '');
    });
    const t = faultlineClient({
      url,
      reconnect: { minMs: 10, baseMs: 10, maxMs: 10 },
      budget: { capacity: 3, refillPerSecond: 2 },
    });
    await sleep(1000);
    t.client.close();
    // 1 connect + 3 burst tokens + ~2 refilled in a second; a 10 ms loop would be ~50.
    expect(connections).toBeGreaterThanOrEqual(3);
    expect(connections).toBeLessThanOrEqual(7);
    const delays = t.states.filter((s) => s.current === 'reconnecting').map((s) => s.nextRetryInMs as number);
    for (const d of delays) expect(d).toBeGreaterThanOrEqual(10);
    expect(Math.max(...delays)).toBeGreaterThan(100);
  });

  it('a refused frame notice never decides how a later close is classified', async () => {
    // The server answers a bad frame with a request-less BAD_REQUEST (recovery none); the
    // connection then drops for another reason: the client must reconnect, not give up.
    const { wss, url } = await startRawServer();
    wss.on('connection', (ws) => {
      ws.send(
        JSON.stringify({
          type: 'error',
          data: {
            code: 4000,
            name: 'BAD_REQUEST',
            message: 'Frame is not valid JSON',
            category: 'application',
            recoverable: false,
            recovery: 'none',
          },
          meta: {},
        }),
      );
      setTimeout(() => ws.terminate(), 30);
    });
    const t = faultlineClient({ url, reconnect: fast });
    const change = await t.reached('reconnecting');
    expect(change.reason?.name).toBe('BAD_CONNECTION');
  });

  it('graceful shutdown: running handlers finish, every client gets SHUTTING_DOWN with a spread retry_after_ms and comes back after it', async () => {
    const store = createMemoryIdempotencyStore();
    const slow = gate();
    const { wss, url, server, logger, route } = await startServer({
      idempotency: store,
      handlers: {
        slow: async () => {
          await slow.promise;
          return 'finished';
        },
        echo: (d) => d,
      },
    });
    const clients = Array.from({ length: 6 }, () => faultlineClient({ url, reconnect: fast }));
    await Promise.all(clients.map((c) => c.reached('open')));
    const raw = await rawClient(url);
    const running = settle(clients[0]!.client.request('slow'));
    await waitFor(() => server.connections.size === 7, 2000, 'all connected');
    await sleep(20);

    const detachOld = () => wss.removeAllListeners('connection');
    const closing = server.close({ windowMs: 1500, graceMs: 2000 });
    await sleep(50);
    // New requests are refused while draining, before the connections close.
    // Their retry_after_ms is drawn from the shutdown's own window, like the final notices.
    for (let i = 1; i <= 8; i++) raw.send(req('echo', i, `late-${i}`));
    for (let i = 1; i <= 8; i++) {
      const refused = await raw.next((f) => f.meta?.request_id === `late-${i}`);
      expect(refused.data).toMatchObject({ name: 'SHUTTING_DOWN', recovery: 'reconnect', executed: 'no' });
      expect(refused.data.retry_after_ms).toBeLessThan(1500);
    }
    slow.open();
    expect(await running).toEqual({ ok: true, value: 'finished' });

    const frame = await raw.next((f) => f.type === 'error' && f.meta?.request_id === undefined);
    expect(frame.data).toMatchObject({ code: 5002, name: 'SHUTTING_DOWN', recoverable: true, recovery: 'reconnect' });
    expect((await raw.closed).code).toBe(1012);
    await withTimeout(closing, 5000, 'server.close');

    // Bring up a new server on the same listener; everyone comes back after its own delay.
    detachOld();
    const next = createServer({ logger, errorRoute: route, idempotency: store, handlers: { echo: (d) => d } });
    defer(() => next.close({ windowMs: 10, graceMs: 10, timeoutMs: 200 }));
    next.attach(wss);
    const changes = await Promise.all(clients.map((c) => c.reached('reconnecting')));
    const after = changes.map((c) => c.reason?.retryAfterMs as number);
    for (const [i, c] of changes.entries()) {
      expect(c.reason?.name).toBe('SHUTTING_DOWN');
      expect(after[i]).toBeGreaterThanOrEqual(0);
      expect(after[i]).toBeLessThan(1500);
      expect(c.nextRetryInMs).toBeGreaterThanOrEqual(after[i] as number);
    }
    expect(new Set(after).size).toBeGreaterThan(1);
    await Promise.all(
      clients.map(async (c, i) => {
        const reopened = await withTimeout(
          (async () => {
            await waitFor(() => c.states.filter((s) => s.current === 'open').length >= 2, 4000, `client ${i} back`);
            return c.states.filter((s) => s.current === 'open')[1] as { at: number };
          })(),
          4500,
          'reopen',
        );
        const left = changes[i] as { at: number };
        expect(reopened.at - left.at).toBeGreaterThanOrEqual((after[i] as number) - 5);
      }),
    );
    await expect(clients[1]!.client.request('echo', 'again')).resolves.toBe('again');
  });
});

describe('client requests', () => {
  it('TIMEOUT when no reply comes; the late reply is dropped and reported, never delivered', async () => {
    const late = gate();
    const { url } = await startServer({
      handlers: {
        slow: async () => {
          await late.promise;
          return 'too late';
        },
      },
    });
    const clientRoute = recordingRoute();
    const t = faultlineClient({ url, errorRoute: clientRoute });
    let outcomes = 0;
    const p = t.client.request('slow', null, { timeoutMs: 100 });
    p.then(
      () => outcomes++,
      () => outcomes++,
    );
    const r = await settle(p);
    expect((r as { error: FaultlineError }).error).toMatchObject({
      name: 'TIMEOUT',
      code: 5003,
      recovery: 'retry',
      executed: 'maybe',
    });
    late.open();
    await waitFor(() => clientRoute.failures.some((f) => f.location === 'Request#late'), 2000, 'late reply reported');
    await sleep(20);
    expect(outcomes).toBe(1);
    expect(t.errors.find((e) => e.location === 'Request#slow')?.name).toBe('TIMEOUT');
  });

  it('BAD_CONNECTION when the server socket is killed mid-flight, exactly one outcome each; then reconnects', async () => {
    const hold = gate();
    let started = 0;
    const { wss, url } = await startServer({
      handlers: {
        work: async () => {
          started++;
          await hold.promise;
          return 'done';
        },
        echo: (d) => d,
      },
    });
    const t = faultlineClient({ url, reconnect: fast });
    await t.reached('open');
    const outcomes = [0, 0, 0];
    const requests = [0, 1, 2].map((i) => {
      const p = t.client.request('work', i, { timeoutMs: 3000 });
      p.then(
        () => outcomes[i]!++,
        () => outcomes[i]!++,
      );
      return settle(p);
    });
    await waitFor(() => started === 3, 2000, 'handlers running');
    for (const ws of wss.clients) ws.terminate();
    const results = await Promise.all(requests);
    for (const r of results) {
      expect(r.ok).toBe(false);
      expect((r as { error: FaultlineError }).error).toMatchObject({
        name: 'BAD_CONNECTION',
        recovery: 'reconnect',
        executed: 'maybe',
      });
      expect((r as { error: FaultlineError }).error.requestId).toBeTypeOf('string');
    }
    hold.open();
    await t.reached('reconnecting');
    await waitFor(() => t.states.filter((s) => s.current === 'open').length === 2, 3000, 'reopen');
    await sleep(50);
    expect(outcomes).toEqual([1, 1, 1]);
    await expect(t.client.request('echo', 'ok')).resolves.toBe('ok');
  });

  it('re-sends idempotent requests after reconnect; the handler runs once', async () => {
    const hold = gate();
    let charges = 0;
    let plain = 0;
    const { wss, url } = await startServer({
      handlers: {
        charge: async (data) => {
          charges++;
          await hold.promise;
          return { charged: data };
        },
        note: async () => {
          plain++;
          await hold.promise;
          return 'noted';
        },
      },
    });
    const t = faultlineClient({ url, reconnect: fast });
    await t.reached('open');
    const charged = settle(t.client.request('charge', 42, { idempotencyKey: 'order-42', timeoutMs: 4000 }));
    const auto = settle(t.client.request('charge', 43, { idempotent: true, timeoutMs: 4000 }));
    const noted = settle(t.client.request('note', null, { timeoutMs: 4000 }));
    await waitFor(() => charges === 2 && plain === 1, 2000, 'handlers running');
    for (const ws of wss.clients) ws.terminate();
    // The non-idempotent one may have run: it fails; the idempotent ones wait for the reconnect.
    expect((await noted).ok).toBe(false);
    await waitFor(() => t.states.filter((s) => s.current === 'open').length === 2, 3000, 'reopen');
    await sleep(50);
    hold.open();
    expect(await charged).toEqual({ ok: true, value: { charged: 42 } });
    expect(await auto).toEqual({ ok: true, value: { charged: 43 } });
    expect(charges).toBe(2);
    expect(plain).toBe(1);
  });

  it('reconnects to a restarted server on the same port and replays idempotent work once', async () => {
    const store = createMemoryIdempotencyStore();
    let runs = 0;
    const handlers = {
      echo: (d: unknown) => d,
      once: () => {
        runs++;
        return runs;
      },
    };
    const first = await startServer({ handlers, idempotency: store });
    const t = faultlineClient({ url: first.url, reconnect: fast });
    await t.reached('open');
    await expect(t.client.request('once', null, { idempotencyKey: 'k-1' })).resolves.toBe(1);
    await first.server.close({ windowMs: 10, graceMs: 10, timeoutMs: 500 });
    await new Promise<void>((resolve) => first.wss.close(() => resolve()));
    await t.reached('reconnecting');
    // While the server is down, requests queue (idempotent) and the client keeps trying.
    const queued = settle(t.client.request('once', null, { idempotencyKey: 'k-1', timeoutMs: 5000 }));
    await sleep(150);
    const second = await startServer({ handlers, idempotency: store }, { port: first.port });
    expect(second.port).toBe(first.port);
    expect(await queued).toEqual({ ok: true, value: 1 });
    expect(runs).toBe(1);
    await expect(t.client.request('echo', 'back')).resolves.toBe('back');
  });

  it('state changes carry previous, current, reason and nextRetryInMs', async () => {
    const { wss, url } = await startServer({ handlers: { echo: (d) => d } });
    const t = faultlineClient({ url, reconnect: fast });
    await t.reached('open');
    for (const ws of wss.clients) ws.terminate();
    await waitFor(() => t.states.filter((s) => s.current === 'open').length === 2, 3000, 'reopen');
    t.client.close();
    const seen = t.states.map((s) => `${s.previous}>${s.current}`);
    expect(seen).toEqual([
      'idle>connecting',
      'connecting>open',
      'open>reconnecting',
      'reconnecting>open',
      'open>closed',
    ]);
    const rec = t.states[2]!;
    expect(rec.reason).toBeInstanceOf(FaultlineError);
    expect(rec.reason?.name).toBe('BAD_CONNECTION');
    expect(rec.nextRetryInMs).toBeGreaterThanOrEqual(10);
    expect(rec.nextRetryInMs).toBeLessThanOrEqual(20);
    expect(rec.attempt).toBe(1);
    expect(t.states[1]!.reason).toBeUndefined();
    expect(t.states[1]!.nextRetryInMs).toBeUndefined();
    for (const s of t.states) expect(s.at).toBeTypeOf('number');
  });

  it('notifies success and error with locations', async () => {
    // Nothing listens at first: the first attempt fails at Connect#Open, the next at Reconnect#Attempt.
    const { port } = await startRawServer();
    const probe = await startRawServer();
    await new Promise<void>((resolve) => probe.wss.close(() => resolve()));
    const t = faultlineClient({ url: `ws://127.0.0.1:${probe.port}`, reconnect: fast });
    await waitFor(() => t.errors.some((e) => e.location === 'Reconnect#Attempt'), 3000, 'failed reconnect');
    expect(t.errors[0]).toMatchObject({ location: 'Connect#Open', name: 'BAD_CONNECTION' });
    expect(t.successes.some((s) => s.location === 'Reconnect#Attempt')).toBe(true);
    t.client.close();
    expect(port).toBeGreaterThan(0);

    const { url } = await startServer({
      handlers: {
        echo: (d) => d,
        fail: () => {
          throw new FaultlineError('INVALID_ACTION');
        },
      },
    });
    const u = faultlineClient({ url });
    await u.reached('open');
    await u.client.request('echo', 1);
    await settle(u.client.request('fail'));
    expect(u.successes.find((s) => s.location === 'Connect#Open')).toBeDefined();
    const ok = u.successes.find((s) => s.location === 'Request#echo');
    expect(ok?.durationMs).toBeTypeOf('number');
    expect(u.errors).toContainEqual({ location: 'Request#fail', name: 'INVALID_ACTION', code: 4002 });
  });

  it('closing the client while it connects neither throws nor leaves anything pending', async () => {
    const { url } = await startServer({ handlers: { echo: (d) => d } });
    const logger = recordingLogger();
    for (let i = 0; i < 5; i++) {
      const t = faultlineClient({ url, logger });
      const p = settle(t.client.request('echo', i));
      t.client.close();
      const r = await p;
      expect((r as { error: FaultlineError }).error.name).toBe('BAD_CONNECTION');
      expect(t.client.state).toBe('closed');
    }
    await sleep(50);
  });
});
