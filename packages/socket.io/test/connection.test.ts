/**
 * What happens to requests and to the connection when it drops, is rate-limited, is too large,
 * or the server shuts down; and requests from the server to the client.
 */
import { defineCodes, FaultlineError } from '@faultline/core';
import type { Socket as ServerSocket } from 'socket.io';
import { describe, expect, it } from 'vitest';
import { createClient, type StateChange } from '../src/client.js';
import { attach, ERROR_EVENT } from '../src/server.js';
import {
  closeServer,
  defer,
  makeClient,
  settle,
  sleep,
  startServer,
  TRANSPORTS,
  type Transport,
  untilState,
  waitFor,
  withTimeout,
} from './helpers.js';

describe.each(TRANSPORTS)('connection over %s', (transport) => {
  const transports = [transport];

  it('rate-limits per socket with RATE_LIMITED and retry_after_ms; retries honour it', async () => {
    const s = await startServer(transports, {
      handlers: { echo: (d: unknown) => d },
      rateLimit: { points: 2, durationMs: 400 },
    });
    const { client } = makeClient(s.url, transports);
    const outs = await Promise.all([1, 2, 3].map((n) => settle(client.request('echo', n))));
    expect(outs.slice(0, 2)).toEqual([
      { ok: true, value: 1 },
      { ok: true, value: 2 },
    ]);
    const err = (outs[2] as { error: FaultlineError }).error;
    expect(err.name).toBe('RATE_LIMITED');
    expect(err.executed).toBe('no');
    expect(err.retryAfterMs).toBeGreaterThan(0);
    expect(err.retryAfterMs).toBeLessThanOrEqual(400);
    // Another socket has its own budget.
    const other = makeClient(s.url, transports);
    expect(await other.client.request('echo', 'other')).toBe('other');
    // A retry waits at least retry_after_ms, then succeeds.
    await client.request('echo', 0).catch(() => undefined);
    const started = Date.now();
    expect(await client.request('echo', 4, { retries: 2 })).toBe(4);
    expect(Date.now() - started).toBeGreaterThanOrEqual(50);
  });

  it('fails a request in flight with BAD_CONNECTION exactly once when the connection drops, then reconnects', async () => {
    const s = await startServer(transports, {
      handlers: { slow: () => sleep(300).then(() => 'done'), echo: (d: unknown) => d },
    });
    const { client, observer } = makeClient(s.url, transports);
    expect(await client.request('echo', 1)).toBe(1);
    let settledCount = 0;
    const inFlight = client.request('slow').then(
      (v) => {
        settledCount++;
        return { ok: true, v };
      },
      (e: FaultlineError) => {
        settledCount++;
        return { ok: false, e };
      },
    );
    await sleep(50);
    s.sockets[0]?.conn.close();
    const out = (await withTimeout(inFlight, 3000)) as { ok: false; e: FaultlineError };
    expect(out.ok).toBe(false);
    expect(out.e.name).toBe('BAD_CONNECTION');
    expect(out.e.executed).toBe('maybe');
    expect(out.e.requestId).toEqual(expect.any(String));
    await untilState(client, 'open');
    await sleep(400); // the server's late answer to the old socket must not settle anything again
    expect(settledCount).toBe(1);
    expect(observer.errors.filter((e) => e.location === 'Request#slow')).toHaveLength(1);
    expect(client.pending).toBe(0);
    expect(await client.request('echo', 2)).toBe(2);
  });

  it('re-sends an idempotent request after reconnect; the handler runs once', async () => {
    let runs = 0;
    const s = await startServer(transports, {
      handlers: {
        pay: async (d: unknown) => {
          runs++;
          await sleep(200);
          return { paid: d, runs };
        },
      },
    });
    const { client } = makeClient(s.url, transports);
    await untilState(client, 'open');
    const paid = client.request('pay', 10, { idempotencyKey: 'order-1', timeoutMs: 5000 });
    await waitFor(() => runs === 1, 3000, 'handler started');
    s.sockets[0]?.conn.close();
    expect(await withTimeout(paid, 5000)).toEqual({ paid: 10, runs: 1 });
    expect(runs).toBe(1);
    expect(s.sockets.length).toBe(2);
  });

  it('holds requests made while disconnected until the connection opens', async () => {
    const s = await startServer(transports, { handlers: { echo: (d: unknown) => d } });
    const { client } = makeClient(s.url, transports, {}, { autoConnect: false });
    expect(client.state).toBe('idle');
    const early = client.request('echo', 'early');
    await sleep(50);
    client.connect();
    expect(await withTimeout(early, 3000)).toBe('early');
  });

  it('times out with TIMEOUT and reports the late reply to the error route', async () => {
    const s = await startServer(transports, { handlers: { slow: () => sleep(150).then(() => 'late') } });
    const { client, route } = makeClient(s.url, transports);
    const out = await settle(client.request('slow', undefined, { timeoutMs: 50 }));
    expect((out as { error: FaultlineError }).error.name).toBe('TIMEOUT');
    await waitFor(() => route.failures.some((f) => f.location === 'Request#late'), 3000, 'late reply reported');
  });

  it('cancels with an AbortSignal', async () => {
    const s = await startServer(transports, { handlers: { slow: () => sleep(200) } });
    const { client } = makeClient(s.url, transports);
    const controller = new AbortController();
    const pending = settle(client.request('slow', undefined, { signal: controller.signal }));
    await sleep(20);
    controller.abort();
    expect((await pending).ok).toBe(false);
    expect(((await pending) as { error: FaultlineError }).error.name).toBe('CANCELLED');
  });

  it('turns an oversized payload into BAD_CONNECTION caused by PAYLOAD_TOO_LARGE, then reconnects', async () => {
    const s = await startServer(transports, { handlers: { echo: (d: unknown) => d } }, { maxHttpBufferSize: 10_000 });
    const { client, observer } = makeClient(s.url, transports);
    expect(await client.request('echo', 'small')).toBe('small');
    const out = await settle(client.request('echo', 'x'.repeat(50_000)));
    const err = (out as { error: FaultlineError }).error;
    expect(err.name).toBe('BAD_CONNECTION');
    expect(FaultlineError.is(err.cause, 'PAYLOAD_TOO_LARGE')).toBe(true);
    expect(observer.errors.some((e) => e.location === 'Connect#Close')).toBe(true);
    await untilState(client, 'open');
    expect(await client.request('echo', 'after')).toBe('after');
  });

  it('on shutdown tells the client SHUTTING_DOWN; it reconnects after retry_after_ms', async () => {
    const s = await startServer(transports, {
      handlers: { echo: (d: unknown) => d, slow: () => sleep(100).then(() => 'finished') },
    });
    const { client, observer, states } = makeClient(s.url, transports);
    const attempts: number[] = [];
    const record = observer.success;
    observer.success = (e) => {
      if (e.location === 'Reconnect#Attempt') attempts.push(Date.now());
      record?.(e);
    };
    await untilState(client, 'open');
    const running = client.request('slow');
    await sleep(20);
    const closing = s.fl.close({ windowMs: 300, graceMs: 1000 });
    // New requests are refused while draining; the running handler finishes.
    const refused = await settle(client.request('echo', 1));
    expect((refused as { error: FaultlineError }).error.name).toBe('SHUTTING_DOWN');
    expect(await running).toBe('finished');
    await closing;
    await waitFor(() => states.some((c) => c.current === 'reconnecting'), 3000, 'reconnecting');
    const change = states.find((c) => c.current === 'reconnecting');
    const notice = observer.errors.find((e) => e.location === 'Connect#Error');
    expect(notice?.error.name).toBe('SHUTTING_DOWN');
    expect(change?.reason?.name).toBe('SHUTTING_DOWN');
    // The server ended the transport (a retryable error): plain Socket.IO clients reconnect too.
    // Over polling the end is the HTTP error answer to a long-poll: a transport error.
    expect(change?.detail).toBe(transport === 'websocket' ? 'transport close' : 'transport error');
    expect(change?.nextRetryInMs).toBeGreaterThanOrEqual(notice?.error.retryAfterMs ?? 0);
    expect(notice?.error.retryAfterMs).toBeLessThan(300);
    // The attempt itself waits that long.
    await waitFor(() => observer.successes.some((e) => e.location === 'Reconnect#Attempt'), 3000, 'attempt');
    const attemptAt = attempts[0] as number;
    expect(attemptAt - (change?.at ?? 0)).toBeGreaterThanOrEqual((change?.nextRetryInMs ?? 0) - 5);

    // The old server goes away; a new one comes up on the same port. The client finds it.
    await closeServer(s.io);
    const next = await startServer(transports, { handlers: { echo: (d: unknown) => `new:${d}` } }, {}, s.port);
    await untilState(client, 'open', 8000);
    expect(await client.request('echo', 1)).toBe('new:1');
    expect(next.sockets.length).toBe(1);
  });

  it('refuses new connections with SHUTTING_DOWN while draining', async () => {
    const s = await startServer(transports, { handlers: { echo: (d: unknown) => d } });
    await s.fl.close({ windowMs: 200 });
    const { client, states } = makeClient(s.url, transports, {
      reconnect: { minMs: 10, baseMs: 20, maxMs: 50, maxAttempts: 2 },
    });
    await untilState(client, 'closed', 5000);
    expect(states.some((c) => c.reason?.name === 'SHUTTING_DOWN')).toBe(true);
  });

  it('close() fails pending requests and stops reconnecting', async () => {
    const s = await startServer(transports, { handlers: { slow: () => sleep(300) } });
    const { client } = makeClient(s.url, transports);
    await untilState(client, 'open');
    const pending = settle(client.request('slow'));
    client.close();
    const out = await pending;
    expect((out as { error: FaultlineError }).error.name).toBe('BAD_CONNECTION');
    expect(client.state).toBe('closed');
    await sleep(150);
    expect(client.socket.connected).toBe(false);
    expect((await settle(client.request('slow'))).ok).toBe(false);
  });

  describe('the end of a connection whose error event was lost', () => {
    /** Drops every `$faultline:error` event below the client. */
    const dropErrorEvents = (socket: { onpacket: (packet: { data?: unknown }) => void }) => {
      const onpacket = socket.onpacket.bind(socket);
      socket.onpacket = (packet) => {
        if (Array.isArray(packet.data) && packet.data[0] === ERROR_EVENT) return;
        onpacket(packet);
      };
    };
    /** A client that never sees the error event, counting its connection attempts. */
    const deafClient = async (url: string, options: Parameters<typeof makeClient>[2] = {}) => {
      // Socket.IO binds onpacket when it subscribes: replace it before the first connect.
      const c = makeClient(url, transports, options, { autoConnect: false });
      dropErrorEvents(c.socket as never);
      const attempts: number[] = [];
      const record = c.observer.success;
      c.observer.success = (e) => {
        if (e.location === 'Reconnect#Attempt') attempts.push(Date.now());
        record?.(e);
      };
      c.client.connect();
      await untilState(c.client, 'open');
      return { ...c, attempts };
    };

    it('a fatal error (FORBIDDEN) is still named FORBIDDEN and the client stops', async () => {
      const s = await startServer(transports, { handlers: { echo: (d: unknown) => d } });
      const a = await deafClient(s.url);
      const inFlight = settle(a.client.request('echo', 'never', { timeoutMs: 3000 }).then(() => sleep(10)));
      s.fl.fail(s.sockets.at(-1) as never, new FaultlineError('FORBIDDEN', { message: 'Banned' }));
      await untilState(a.client, 'closed');
      await inFlight;
      expect(a.observer.errors.some((e) => e.location === 'Connect#Error')).toBe(false);
      const last = a.states.at(-1);
      expect(last?.current).toBe('closed');
      expect(last?.reason?.name).toBe('FORBIDDEN');
      expect(last?.reason?.code).toBe(4004);
      expect(last?.reason?.recovery).toBe('none');
      // Over websocket the close code and reason say it; over polling the HTTP error answer
      // carries the whole body, message included.
      expect(last?.reason?.message).toBe(transport === 'polling' ? 'Banned' : 'Connection closed: FORBIDDEN');
      expect(a.observer.errors.find((e) => e.location === 'Connect#Close')?.error.name).toBe('FORBIDDEN');
      // No reconnect: neither ours nor Socket.IO's.
      await sleep(300);
      expect(a.attempts).toEqual([]);
      expect(s.sockets.length).toBe(1);
      expect(a.client.state).toBe('closed');
      expect(a.socket.active).toBe(false);
    });

    it('an application-registered fatal code keeps its name through the close', async () => {
      const registry = defineCodes({
        ACCOUNT_LOCKED: { code: 4100, category: 'connection', recovery: 'none', message: 'Account locked' },
      });
      const s = await startServer(transports, { registry });
      const a = await deafClient(s.url, { registry });
      s.fl.fail(s.sockets.at(-1) as never, new FaultlineError('ACCOUNT_LOCKED', { registry }));
      await untilState(a.client, 'closed');
      expect(a.states.at(-1)?.reason?.name).toBe('ACCOUNT_LOCKED');
      expect(a.states.at(-1)?.reason?.code).toBe(4100);
      await sleep(200);
      expect(a.attempts).toEqual([]);
    });

    it('a recoverable error (UNAVAILABLE, retry_after_ms 300) is named and reconnects no earlier', async () => {
      const s = await startServer(transports, { handlers: { echo: (d: unknown) => d } });
      const b = await deafClient(s.url);
      const failedAt = Date.now();
      s.fl.fail(s.sockets.at(-1) as never, new FaultlineError('UNAVAILABLE', { retryAfterMs: 300 }));
      await waitFor(() => s.sockets.length === 2 && b.client.state === 'open', 3000, 'reconnected');
      expect(b.observer.errors.some((e) => e.location === 'Connect#Error')).toBe(false);
      const change = b.states.find((c) => c.current === 'reconnecting');
      expect(change?.reason?.name).toBe('UNAVAILABLE');
      expect(change?.reason?.retryAfterMs).toBe(300);
      expect(change?.nextRetryInMs).toBeGreaterThanOrEqual(300);
      expect(b.attempts).toHaveLength(1);
      expect((b.attempts[0] as number) - failedAt).toBeGreaterThanOrEqual(295);
      expect(await b.client.request('echo', 'back')).toBe('back');
    });

    it('UNAUTHORIZED refreshes the token once and reconnects', async () => {
      const tokens: boolean[] = [];
      const s = await startServer(transports, {
        handlers: { echo: (d: unknown) => d },
        authenticate: (hs) => ({ token: (hs.auth as { token?: string }).token }),
      });
      const c = await deafClient(s.url, {
        token: ({ refresh }) => {
          tokens.push(refresh);
          return refresh ? 'fresh' : 'stale';
        },
      });
      s.fl.fail(s.sockets.at(-1) as never, new FaultlineError('UNAUTHORIZED', { message: 'Token expired' }));
      await waitFor(() => s.sockets.length === 2 && c.client.state === 'open', 3000, 'reconnected');
      expect(c.states.find((x) => x.current === 'reconnecting')?.reason?.name).toBe('UNAUTHORIZED');
      expect(tokens).toEqual([false, true]);
      expect(s.fl.connection(s.sockets.at(-1) as never)?.auth).toEqual({ token: 'fresh' });
    });
    it('with reconnect: false (Socket.IO reconnects), a fatal error still stops the socket', async () => {
      const s = await startServer(transports);
      const a = await deafClient(s.url, { reconnect: false });
      s.fl.fail(s.sockets.at(-1) as never, new FaultlineError('FORBIDDEN'));
      await untilState(a.client, 'closed');
      expect(a.states.at(-1)?.reason?.name).toBe('FORBIDDEN');
      await sleep(300);
      expect(s.sockets.length).toBe(1);
      expect(a.socket.active).toBe(false);
    });

    it('a fatal error on one of several namespaces of a connection ends that namespace only', async () => {
      const s = await startServer(transports);
      const admin = attach(s.io.of('/admin'), { logger: s.logger, errorRoute: s.route });
      const adminSockets: ServerSocket[] = [];
      s.io.of('/admin').on('connection', (x) => adminSockets.push(x));
      const main = await deafClient(s.url);
      // Same Manager, hence the same Engine.IO connection; Faultline leaves its reconnection off.
      const adminSocket = main.socket.io.socket('/admin');
      defer(() => adminSocket.disconnect());
      dropErrorEvents(adminSocket as never);
      const adminClient = createClient(adminSocket, { reconnect: false, errorRoute: () => {} });
      const adminStates: StateChange[] = [];
      adminClient.onStateChange((c) => adminStates.push(c));
      adminClient.connect();
      await untilState(adminClient, 'open');
      admin.fail(adminSockets[0] as never, new FaultlineError('FORBIDDEN'));
      await untilState(adminClient, 'closed');
      // Socket.IO's DISCONNECT packet carries nothing: without the event only `io server disconnect`.
      expect(adminStates.at(-1)).toMatchObject({ current: 'closed', detail: 'io server disconnect' });
      expect(adminStates.at(-1)?.reason?.name).toBe('BAD_CONNECTION');
      // The main namespace lives on, on the same connection.
      await sleep(100);
      expect(main.client.state).toBe('open');
      expect(main.states.some((c) => c.current === 'closed' || c.current === 'reconnecting')).toBe(false);
      expect(s.sockets.length).toBe(1);
    });
  });

  it('a fatal error with the event delivered: named from the event, the client stops', async () => {
    const s = await startServer(transports);
    const { client, states, observer } = makeClient(s.url, transports);
    await untilState(client, 'open');
    s.fl.fail(s.sockets.at(-1) as never, new FaultlineError('FORBIDDEN', { message: 'Banned' }));
    await untilState(client, 'closed');
    expect(observer.errors.find((e) => e.location === 'Connect#Error')?.error.message).toBe('Banned');
    expect(states.at(-1)?.reason?.name).toBe('FORBIDDEN');
    expect(states.at(-1)?.reason?.message).toBe('Banned');
    await sleep(200);
    expect(s.sockets.length).toBe(1);
  });

  describe('requests of a client nobody observes (its fast path)', () => {
    const quiet = (url: string) => makeClient(url, transports, { observer: {} });

    it('resolves, rejects with the server error, and times out with a reported late reply', async () => {
      const s = await startServer(transports, {
        handlers: {
          echo: (d: unknown) => d,
          nf: () => {
            throw new FaultlineError('NOT_FOUND', { details: { x: 1 } });
          },
          slow: () => sleep(150).then(() => 'late'),
        },
      });
      const { client, route } = quiet(s.url);
      await untilState(client, 'open');
      expect(await client.request('echo', 'fast')).toBe('fast');
      const nf = await settle(client.request('nf'));
      expect((nf as { error: FaultlineError }).error).toMatchObject({ name: 'NOT_FOUND', details: { x: 1 } });
      const slow = await settle(client.request('slow', undefined, { timeoutMs: 50 }));
      expect((slow as { error: FaultlineError }).error.name).toBe('TIMEOUT');
      await waitFor(() => route.failures.some((f) => f.location === 'Request#late'), 3000, 'late reply reported');
      const controller = new AbortController();
      const cancelled = settle(client.request('slow', undefined, { signal: controller.signal }));
      controller.abort();
      expect(((await cancelled) as { error: FaultlineError }).error.name).toBe('CANCELLED');
      expect(client.pending).toBe(0);
    });

    it('fails requests in flight with BAD_CONNECTION exactly once when the connection drops', async () => {
      const s = await startServer(transports, {
        handlers: { slow: () => sleep(300).then(() => 'done'), echo: (d: unknown) => d },
      });
      const { client } = quiet(s.url);
      await untilState(client, 'open');
      const outcomes: string[] = [];
      const flights = [1, 2, 3].map((n) =>
        client.request('slow', n).then(
          () => outcomes.push('resolved'),
          (e: FaultlineError) => outcomes.push(e.name),
        ),
      );
      await sleep(50);
      s.sockets[0]?.conn.close();
      await withTimeout(Promise.all(flights), 3000);
      await untilState(client, 'open');
      await sleep(400);
      expect(outcomes).toEqual(['BAD_CONNECTION', 'BAD_CONNECTION', 'BAD_CONNECTION']);
      expect(client.pending).toBe(0);
      expect(await client.request('echo', 'again')).toBe('again');
    });
  });

  describe('server-to-client requests', () => {
    it('resolves with what the client handler returns', async () => {
      const s = await startServer(transports, {});
      const { client } = makeClient(s.url, transports);
      client.handle('confirm', (data: unknown) => ({ confirmed: data }));
      await untilState(client, 'open');
      await waitFor(() => s.sockets.length === 1, 2000);
      expect(await s.fl.request(s.sockets[0] as never, 'confirm', 7)).toEqual({ confirmed: 7 });
    });

    it('rehydrates the client handler error; an unknown throw reaches the server as INTERNAL only', async () => {
      const s = await startServer(transports, {});
      const { client, route } = makeClient(s.url, transports);
      client.handle('pick', (data: unknown) => {
        if (data === 'known') throw new FaultlineError('INVALID_ACTION', { message: 'No', details: { why: 'closed' } });
        throw new Error('client secret hunter2');
      });
      await untilState(client, 'open');
      await waitFor(() => s.sockets.length === 1, 2000);
      const socket = s.sockets[0] as never;
      const known = await settle(s.fl.request(socket, 'pick', 'known'));
      const kerr = (known as { error: FaultlineError }).error;
      expect(kerr.name).toBe('INVALID_ACTION');
      expect(kerr.details).toEqual({ why: 'closed' });
      const unknown = await settle(s.fl.request(socket, 'pick', 'other'));
      const uerr = (unknown as { error: FaultlineError }).error;
      expect(uerr.name).toBe('INTERNAL');
      expect(uerr.message).not.toContain('hunter2');
      expect(route.failures.some((f) => f.location === 'Handle#pick')).toBe(true);
    });

    it('times out, answers unknown events with NOT_FOUND, and fails with BAD_CONNECTION on disconnect', async () => {
      const s = await startServer(transports, {});
      const { client } = makeClient(s.url, transports);
      client.handle('never', () => new Promise(() => {}));
      await untilState(client, 'open');
      await waitFor(() => s.sockets.length === 1, 2000);
      const socket = s.sockets[0] as never;
      const timedOut = await settle(s.fl.request(socket, 'never', null, { timeoutMs: 50 }));
      expect((timedOut as { error: FaultlineError }).error.name).toBe('TIMEOUT');
      const missing = await settle(s.fl.request(socket, 'nobodyHome'));
      expect((missing as { error: FaultlineError }).error.name).toBe('NOT_FOUND');
      const inFlight = settle(s.fl.request(socket, 'never', null, { timeoutMs: 5000 }));
      await sleep(20);
      client.close();
      const out = await inFlight;
      expect((out as { error: FaultlineError }).error.name).toBe('BAD_CONNECTION');
    });
  });
});

describe('connection over polling upgraded to websocket', () => {
  it('with polling upgraded to websocket (Socket.IO defaults), a lost fatal error is still named', async () => {
    const both: Transport[] = ['polling', 'websocket'];
    const s = await startServer(both);
    // Fail at once (the socket is then still polling, its upgrade under way) and once upgraded.
    for (const delayMs of [0, 200]) {
      s.io.once('connection', (sock) => {
        setTimeout(() => {
          s.fl.fail(sock as never, new FaultlineError('FORBIDDEN'));
        }, delayMs);
      });
      const c = makeClient(s.url, both, {}, { autoConnect: false });
      const onpacket = (c.socket as any).onpacket.bind(c.socket);
      (c.socket as any).onpacket = (packet: { data?: unknown }) => {
        if (Array.isArray(packet.data) && packet.data[0] === ERROR_EVENT) return;
        onpacket(packet);
      };
      c.client.connect();
      await untilState(c.client, 'closed', 8000);
      expect(c.states.at(-1)?.reason?.name).toBe('FORBIDDEN');
    }
  });
});
