import { decodeFrame, FaultlineError, type Json, type RequestHandler } from '@faultline/core';
import { createClient } from '@faultline/ws/client';
import { createServer } from '@faultline/ws/server';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { createRpcClient } from '../src/client.js';
import { type FaultlineRpcOptions, faultline, faultlineRpc } from '../src/index.js';
import { captureLogs, start } from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

type Handlers = Record<string, RequestHandler<unknown>>;

/** One handler map, served by both an @faultline/ws server and the RPC plugin. */
function makeHandlers(runs: Map<string, number>): Handlers {
  return {
    echo: (data) => data ?? null,
    'rooms/r1 ä?#': (data) => ({ got: data }),
    nothing: () => undefined,
    join: (data) => {
      const room = (data as { room?: string } | undefined)?.room;
      if (room === 'lobby') return { joined: room };
      throw new FaultlineError('NOT_FOUND', { message: 'Room not found', details: { room: room ?? null } });
    },
    boom: () => {
      throw new Error('db password is hunter2');
    },
    count: (_data, ctx) => {
      const key = ctx.idempotencyKey ?? 'none';
      runs.set(key, (runs.get(key) ?? 0) + 1);
      return { runs: runs.get(key) };
    },
    who: (_data, ctx) => ctx.auth as never,
  };
}

async function rpcServer(handlers: Handlers, extra: Partial<FaultlineRpcOptions> = {}, fastify: object = {}) {
  return start(
    async (app) => {
      await app.register(faultlineRpc, { prefix: '/rpc', handlers, rateLimit: false, ...extra });
    },
    { fastify },
  );
}

async function wsServer(handlers: Handlers) {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  cleanups.push(() => new Promise<void>((resolve) => wss.close(() => resolve())));
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const server = createServer({ handlers, rateLimit: false, heartbeatMs: 0, logger: { error() {}, warn() {} } });
  wss.on('connection', (socket, request) => server.handle(socket, request));
  const address = wss.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  const client = createClient({
    url: `ws://127.0.0.1:${address.port}`,
    WebSocket,
    heartbeat: false,
  });
  cleanups.push(() => client.close());
  return client;
}

const rejection = (p: Promise<unknown>): Promise<FaultlineError> =>
  p.then(
    () => {
      throw new Error('resolved');
    },
    (e: unknown) => e as FaultlineError,
  );

describe('faultlineRpc: a socket handler map over HTTP', () => {
  it('answers with the same results and the same error data as @faultline/ws for the same handlers', async () => {
    const { url } = await rpcServer(makeHandlers(new Map()));
    const rpc = createRpcClient({ baseUrl: url, retries: 0 });
    const ws = await wsServer(makeHandlers(new Map()));

    const ok: [string, Json | undefined][] = [
      ['echo', { a: [1, 'x'] }],
      ['echo', 'text'],
      ['echo', undefined],
      ['nothing', 1],
      ['join', { room: 'lobby' }],
      ['rooms/r1 ä?#', 'any characters'],
    ];
    for (const [event, data] of ok) {
      expect(await rpc.request(event, data)).toEqual(await ws.request(event, data));
    }
    const hostile = JSON.parse('{"__proto__":{"admin":true}}') as Json;
    let deep: Json = 1;
    for (let i = 0; i < 40; i++) deep = { d: deep };
    const failing: [string, Json][] = [
      ['join', { room: 'r1' }],
      ['no-such-event', {}],
      ['boom', {}],
      ['echo', hostile],
      ['echo', deep],
    ];
    for (const [event, data] of failing) {
      const overHttp = await rejection(rpc.request(event, data));
      const overWs = await rejection(ws.request(event, data));
      expect(overHttp.toBody(), event.slice(0, 20)).toEqual(overWs.toBody());
    }
    // Event names the socket client refuses before sending: over HTTP the server's decoder answers,
    // with what the socket engine sends for the same raw frame.
    for (const event of ['x'.repeat(129)]) {
      const frame = decodeFrame({ type: 'request', event, meta: { request_id: 'r' } });
      expect(frame.ok).toBe(false);
      const overHttp = await rejection(rpc.request(event));
      expect(overHttp.toBody()).toEqual(frame.ok ? undefined : frame.error);
    }
    const unknown = await rejection(rpc.request('no-such-event'));
    expect(unknown.toBody()).toMatchObject({
      name: 'NOT_FOUND',
      message: 'Unknown event "no-such-event"',
      executed: 'no',
      details: { event: 'no-such-event' },
    });
  });

  it('answers $ping itself with an empty response, as a socket server does', async () => {
    const { url } = await rpcServer({});
    const res = await fetch(`${url}/rpc/$ping`, { method: 'POST' });
    expect(res.status).toBe(204);
    expect(await createRpcClient({ baseUrl: url, retries: 0 }).request('$ping')).toBeUndefined();
  });

  it('runs an Idempotency-Key once and gives every repeat the first outcome', async () => {
    const runs = new Map<string, number>();
    const { url } = await rpcServer(makeHandlers(runs));
    const rpc = createRpcClient({ baseUrl: url, retries: 0 });
    const first = await rpc.request('count', {}, { idempotencyKey: 'k1' });
    const again = await rpc.request('count', {}, { idempotencyKey: 'k1' });
    expect(first).toEqual({ runs: 1 });
    expect(again).toEqual({ runs: 1 });
    expect(runs.get('k1')).toBe(1);
    await rpc.request('count', {}, { idempotent: true });
    await rpc.request('count', {}, { idempotent: true });
    // Generated keys differ per request.
    expect([...runs.keys()].filter((k) => k !== 'k1')).toHaveLength(2);
    const bad = await rejection(rpc.request('count', {}, { idempotencyKey: 'k'.repeat(129) }));
    expect(bad.toBody()).toMatchObject({
      name: 'BAD_REQUEST',
      executed: 'no',
      details: { reason: 'invalid_field', field: 'meta.idempotency_key' },
    });
  });

  it('scopes an Idempotency-Key by its owner with idempotencyScope', async () => {
    const runs = new Map<string, number>();
    const { url } = await rpcServer(makeHandlers(runs), {
      authenticate: (request) => ({ user: String(request.headers['x-user']) }),
      idempotencyScope: (auth) => (auth as { user: string }).user,
    });
    const as = (user: string) => createRpcClient({ baseUrl: url, retries: 0, headers: { 'x-user': user } });
    expect(await as('alice').request('count', {}, { idempotencyKey: 'k1' })).toEqual({ runs: 1 });
    expect(await as('alice').request('count', {}, { idempotencyKey: 'k1' })).toEqual({ runs: 1 });
    // Bob's request with Alice's key runs for Bob (the handler counts by key, so it sees a second run).
    expect(await as('bob').request('count', {}, { idempotencyKey: 'k1' })).toEqual({ runs: 2 });
    expect(runs.get('k1')).toBe(2);
  });

  it('rate-limits per client with RATE_LIMITED, retry_after_ms, Retry-After and executed "no"', async () => {
    const { url } = await rpcServer(makeHandlers(new Map()), { rateLimit: { points: 1, durationMs: 60_000 } });
    const rpc = createRpcClient({ baseUrl: url, retries: 0 });
    expect(await rpc.request('echo', 1)).toBe(1);
    const res = await fetch(`${url}/rpc/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '2',
    });
    expect(res.status).toBe(429);
    const frame = (await res.json()) as { data: Record<string, unknown> };
    expect(frame.data).toMatchObject({ name: 'RATE_LIMITED', executed: 'no' });
    expect(frame.data.retry_after_ms).toBeGreaterThan(50_000);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(50);
  });

  it('logs an unknown throw once, with the envelope request id; the wire has the generic INTERNAL', async () => {
    const { lines, logger } = captureLogs();
    const { url } = await rpcServer(makeHandlers(new Map()), {}, { logger });
    const rpc = createRpcClient({ baseUrl: url, retries: 0 });
    const err = await rejection(rpc.request('boom'));
    expect(err.toBody()).toEqual({
      code: 5000,
      name: 'INTERNAL',
      message: 'Internal server error',
      category: 'application',
      recoverable: true,
      recovery: 'retry',
      executed: 'maybe',
    });
    const errors = lines.filter((l) => l.level >= 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.request_id).toBe(err.requestId);
    expect(JSON.stringify(errors[0])).toContain('hunter2');
  });

  it('authenticate runs before the handler: its refusal is executed "no", its result is ctx.auth', async () => {
    const { url } = await rpcServer(makeHandlers(new Map()), {
      authenticate: (request) => {
        if (request.headers.authorization !== 'Bearer good') throw new FaultlineError('UNAUTHORIZED');
        return { user: 'u1' };
      },
    });
    const anonymous = createRpcClient({ baseUrl: url, retries: 0 });
    const refused = await rejection(anonymous.request('who'));
    expect(refused.toBody()).toMatchObject({ name: 'UNAUTHORIZED', executed: 'no' });
    const signed = createRpcClient({ baseUrl: url, retries: 0, headers: { authorization: 'Bearer good' } });
    expect(await signed.request('who')).toEqual({ user: 'u1' });
  });

  it('a TIMEOUT names the event, as the socket clients word it', async () => {
    const { url } = await rpcServer({ slow: () => new Promise((resolve) => setTimeout(() => resolve('late'), 300)) });
    const rpc = createRpcClient({ baseUrl: url, retries: 0 });
    const err = await rejection(rpc.request('slow', {}, { timeoutMs: 50 }));
    expect(err.toBody()).toMatchObject({
      name: 'TIMEOUT',
      message: 'Request slow timed out after 50 ms',
      executed: 'maybe',
    });
  });

  it('fastify.close() drains: running handlers finish, new requests get SHUTTING_DOWN', async () => {
    let release: (() => void) | undefined;
    const { app, url } = await rpcServer(
      {
        hold: () =>
          new Promise((resolve) => {
            release = () => resolve('done');
          }),
        echo: (d) => d,
      },
      { shutdown: { windowMs: 1000, graceMs: 2000 } },
      // Else Fastify itself answers requests during close with its own 503 body.
      { return503OnClosing: false },
    );
    const rpc = createRpcClient({ baseUrl: url, retries: 0 });
    // Observed at once: a failing assertion below must not leave it unhandled.
    const held = rpc.request('hold').catch((e: unknown) => e);
    const deadline = Date.now() + 2000;
    while (release === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    const closing = app.close();
    const refused = await rejection(rpc.request('echo', 1));
    expect(refused.toBody()).toMatchObject({ name: 'SHUTTING_DOWN', executed: 'no' });
    // Jittered (core's engine draws it over its default 5 s window while draining).
    expect(refused.retryAfterMs).toBeLessThan(5000);
    release?.();
    expect(await held).toBe('done');
    await closing;
  });

  it('checks its options at registration and needs the faultline plugin', async () => {
    const bare = Fastify();
    cleanups.push(() => bare.close());
    await expect(bare.register(faultlineRpc, { handlers: {} }).ready()).rejects.toThrow(/faultline/);
    for (const [options, message] of [
      [{ handlers: { echo: 1 } }, /must be a function/],
      [{ handlers: { $x: () => 1 } }, /reserved/],
      [{ handlers: {}, rateLimitKey: 'ip' }, /rateLimitKey must be a function/],
      [{ handler: {} }, /unknown option "handler"/],
    ] as const) {
      const app = Fastify();
      cleanups.push(() => app.close());
      await app.register(faultline);
      await expect(app.register(faultlineRpc, options as never).ready()).rejects.toThrow(message);
    }
  });
});
