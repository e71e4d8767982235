import { defineCodes, FaultlineError } from '@faultline/core';
import { createClient, type StateChange, type WebSocketConstructor } from '@faultline/ws/client';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { faultlineWebSocket } from '../src/index.js';
import { captureLogs, start } from './helpers.js';

/** Waits until `check` is true, at most `ms`. */
async function until(check: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Opens a raw ws client and records every frame and the close. */
function raw(url: string) {
  const frames: Record<string, unknown>[] = [];
  let closed: { code: number; reason: string } | undefined;
  const socket = new WebSocket(url);
  socket.on('message', (m) => frames.push(JSON.parse(String(m))));
  socket.on('close', (code, reason) => {
    closed = { code, reason: String(reason) };
  });
  socket.on('error', () => {});
  return { socket, frames, closed: () => closed };
}

describe('@fastify/websocket routes speaking Faultline', () => {
  it('answers requests and typed errors over a route, with the same body as @faultline/ws', async () => {
    const { app, url } = await start(async (app) => {
      await app.register(faultlineWebSocket);
      app.faultlineWebSocket.route('/ws', {
        handlers: {
          echo: (data) => data,
          join: (data) => {
            throw new FaultlineError('NOT_FOUND', {
              message: 'Room not found',
              details: { room: (data as { room: string }).room },
            });
          },
        },
      });
    });
    expect(app.faultlineWebSocket.servers.size).toBe(1);
    const client = createClient({
      url: `${url.replace('http', 'ws')}/ws`,
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      heartbeat: false,
    });
    try {
      await expect(client.request('echo', { a: 1 })).resolves.toEqual({ a: 1 });
      const err = await client.request('join', { room: 'r1' }).catch((e: unknown) => e);
      expect(FaultlineError.is(err, 'NOT_FOUND')).toBe(true);
      expect((err as FaultlineError).toBody()).toEqual({
        code: 4001,
        name: 'NOT_FOUND',
        message: 'Room not found',
        category: 'application',
        recoverable: false,
        recovery: 'none',
        executed: 'yes',
        details: { room: 'r1' },
      });
    } finally {
      client.close();
    }
  });

  it('refuses an upgrade from authenticate with the error frame, then close 4003', async () => {
    const { url } = await start(async (app) => {
      await app.register(faultlineWebSocket);
      app.faultlineWebSocket.route('/ws', {
        authenticate: (request) => {
          if (request.headers.authorization !== 'Bearer good')
            throw new FaultlineError('UNAUTHORIZED', { message: 'Token expired' });
          return { user: 'u1' };
        },
        handlers: { who: (_d, ctx) => ctx.auth },
      });
    });
    const c = raw(`${url.replace('http', 'ws')}/ws`);
    await until(() => c.closed() !== undefined);
    expect(c.frames[0]).toMatchObject({
      type: 'error',
      data: { name: 'UNAUTHORIZED', code: 4003, message: 'Token expired' },
    });
    expect(c.closed()?.code).toBe(4003);
  });

  it('turns an error thrown by an onRequest hook before the upgrade into a frame and close code', async () => {
    const { url } = await start(async (app) => {
      await app.register(faultlineWebSocket);
      app.addHook('onRequest', async (request) => {
        if (request.url.startsWith('/ws')) throw new FaultlineError('FORBIDDEN', { message: 'Not in this room' });
      });
      app.faultlineWebSocket.route('/ws', { handlers: {} });
    });
    const c = raw(`${url.replace('http', 'ws')}/ws`);
    await until(() => c.closed() !== undefined);
    expect(c.frames[0]).toMatchObject({ type: 'error', data: { name: 'FORBIDDEN', code: 4004 } });
    expect(c.closed()?.code).toBe(4004);
  });

  it('drains on fastify.close(): every client gets SHUTTING_DOWN with retry_after_ms, then 1012', async () => {
    const { app, url } = await start(async (app) => {
      await app.register(faultlineWebSocket, { shutdown: { windowMs: 2000 } });
      app.faultlineWebSocket.route('/ws', { handlers: { echo: (d) => d } });
    });
    const clients = [raw(`${url.replace('http', 'ws')}/ws`), raw(`${url.replace('http', 'ws')}/ws`)];
    await until(() => clients.every((c) => c.socket.readyState === WebSocket.OPEN));
    await app.close();
    await until(() => clients.every((c) => c.closed() !== undefined));
    for (const c of clients) {
      const frame = c.frames.at(-1) as { data: { name: string; retry_after_ms: number } };
      expect(frame.data.name).toBe('SHUTTING_DOWN');
      expect(frame.data.retry_after_ms).toBeGreaterThanOrEqual(0);
      expect(frame.data.retry_after_ms).toBeLessThan(2000);
      expect(c.closed()?.code).toBe(1012);
    }
  });

  it('a Faultline client reconnects after the drain, classifying the close', async () => {
    const { app, url } = await start(async (app) => {
      await app.register(faultlineWebSocket, { shutdown: { windowMs: 200 } });
      app.faultlineWebSocket.route('/ws', { handlers: { echo: (d) => d } });
    });
    const changes: StateChange[] = [];
    const client = createClient({
      url: `${url.replace('http', 'ws')}/ws`,
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      heartbeat: false,
    });
    client.onStateChange((c) => changes.push(c));
    try {
      await client.request('echo', 1);
      await app.close();
      await until(() => changes.some((c) => c.current === 'reconnecting'));
      const change = changes.find((c) => c.current === 'reconnecting');
      expect(change?.reason?.name).toBe('SHUTTING_DOWN');
      expect(change?.nextRetryInMs).toBeGreaterThan(0);
    } finally {
      client.close();
    }
  });

  it('a websocket route handler that throws ends with the error frame and the mapped close, not terminate()', async () => {
    const registry = defineCodes({ ROOM_GONE: { code: 4100, message: 'Room is gone', recovery: 'none', http: 410 } });
    const { lines, logger } = captureLogs();
    const { url } = await start(
      async (app) => {
        await app.register(faultlineWebSocket);
        // Routes of the application's own, next to Faultline ones: `@fastify/websocket` hands
        // their throws to the plugin's error handler.
        app.get('/forbidden', { websocket: true }, () => {
          throw new FaultlineError('FORBIDDEN', { message: 'Not yours' });
        });
        app.get('/limited', { websocket: true }, async () => {
          throw new FaultlineError('RATE_LIMITED', { retryAfterMs: 1500 });
        });
        app.get('/gone', { websocket: true }, () => {
          throw new FaultlineError('ROOM_GONE', { registry });
        });
        app.get('/boom', { websocket: true }, () => {
          throw new Error('db password is hunter2');
        });
      },
      { fastify: { logger }, plugin: { registry } },
    );
    const ws = url.replace('http', 'ws');
    const cases: [string, string, number, string][] = [
      ['/forbidden', 'FORBIDDEN', 4004, 'FORBIDDEN'],
      ['/limited', 'RATE_LIMITED', 4005, 'RATE_LIMITED:1500'],
      ['/gone', 'ROOM_GONE', 4100, 'ROOM_GONE'],
      ['/boom', 'INTERNAL', 1011, 'INTERNAL'],
    ];
    for (const [path, name, code, reason] of cases) {
      const c = raw(`${ws}${path}`);
      try {
        await until(() => c.closed() !== undefined);
        expect(c.closed()).toEqual({ code, reason });
        expect(c.frames).toHaveLength(1);
        const frame = c.frames[0] as { type: string; data: Record<string, unknown>; meta: Record<string, unknown> };
        expect(frame.type).toBe('error');
        expect(frame.data.name).toBe(name);
        // A connection-level error: no request id (PROTOCOL.md §6).
        expect(frame.meta.request_id).toBeUndefined();
        expect(typeof frame.meta.timestamp).toBe('string');
      } finally {
        c.socket.terminate();
      }
    }
    const boom = raw(`${ws}/boom`);
    await until(() => boom.closed() !== undefined);
    expect(JSON.stringify(boom.frames)).not.toContain('hunter2');
    expect((boom.frames[0] as { data: { message: string } }).data.message).toBe('Internal server error');
    // Unknown throws are logged, each once with its stack; expected errors are not.
    const logged = lines.filter((l) => l.level >= 50);
    expect(logged).toHaveLength(2);
    expect(JSON.stringify(logged[0])).toContain('hunter2');
    expect((logged[0] as { err?: { stack?: string } }).err?.stack).toMatch(/at /);
  });

  it.each([
    [{ ws: 5 }, /the ws option must be an object/],
    [{ shutdown: { windowMs: -1 } }, /shutdown.windowMs/],
    [{ shutdown: 'now' }, /shutdown must be/],
    [{ shutdwn: {} }, /unknown option "shutdwn"/],
  ])('rejects %j at registration', async (options, message) => {
    const app = Fastify();
    try {
      await expect(app.register(faultlineWebSocket, options as never).ready()).rejects.toThrow(message);
    } finally {
      await app.close();
    }
  });
});
