import { FaultlineError } from '@faultline/core';
import { describe, expect, it } from 'vitest';
import { faultlineClient, rawClient, req, settle, startServer, waitFor } from './helpers.js';

describe('handlers', () => {
  it('answers with the handler value, or the thrown FaultlineError as a typed error', async () => {
    const { url } = await startServer({
      handlers: {
        add: (data) => {
          const { a, b } = data as { a: number; b: number };
          return { sum: a + b };
        },
        join: async (data) => {
          throw new FaultlineError('NOT_FOUND', {
            message: 'Room not found',
            details: { room: (data as { room: string }).room },
          });
        },
      },
    });
    const { client } = faultlineClient({ url });
    await expect(client.request('add', { a: 2, b: 3 })).resolves.toEqual({ sum: 5 });
    const r = await settle(client.request('join', { room: 'r1' }));
    expect(r.ok).toBe(false);
    const err = (r as { error: FaultlineError }).error;
    expect(FaultlineError.is(err)).toBe(true);
    expect(client.isError(err, 'NOT_FOUND')).toBe(true);
    expect(err).toMatchObject({
      code: 4001,
      name: 'NOT_FOUND',
      message: 'Room not found',
      details: { room: 'r1' },
      recoverable: false,
    });
    expect(err.executed).toBe('yes');
    expect(err.requestId).toBeTypeOf('string');

    // The same on the wire, for a client that is not ours.
    const raw = await rawClient(url);
    raw.send(req('join', { room: 'r2' }, 'abc-123'));
    const frame = await raw.next((f) => f.meta?.request_id === 'abc-123');
    expect(frame).toMatchObject({
      type: 'error',
      data: {
        code: 4001,
        name: 'NOT_FOUND',
        message: 'Room not found',
        category: 'application',
        recoverable: false,
        recovery: 'none',
        details: { room: 'r2' },
      },
      meta: { request_id: 'abc-123' },
    });
    expect(frame.meta?.timestamp).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('turns an unknown throw into INTERNAL with a generic message; the secret stays in the server log', async () => {
    const secret = 'password=hunter2 at db.internal:5432';
    const { url, logger } = await startServer({
      handlers: {
        leak: () => {
          const e = new Error(secret) as Error & { sql?: string };
          e.sql = `SELECT * FROM users WHERE pw='${secret}'`;
          throw e;
        },
        leakAsync: async () => {
          throw new TypeError(secret);
        },
        leakValue: () => {
          throw { secret };
        },
      },
    });
    const raw = await rawClient(url);
    raw.send(req('leak', {}, 'r-1'));
    raw.send(req('leakAsync', {}, 'r-2'));
    raw.send(req('leakValue', {}, 'r-3'));
    for (const id of ['r-1', 'r-2', 'r-3']) {
      const frame = await raw.next((f) => f.meta?.request_id === id);
      expect(frame.type).toBe('error');
      expect(frame.data).toMatchObject({
        code: 5000,
        name: 'INTERNAL',
        message: 'Internal server error',
        recovery: 'retry',
        executed: 'maybe',
      });
      expect(frame.data.details).toBeUndefined();
      expect(frame.data.cause).toBeUndefined();
    }
    // Nothing of the secret, no stack, no extra property ever crossed the wire.
    for (const text of raw.texts) {
      expect(text).not.toContain('hunter2');
      expect(text).not.toContain('db.internal');
      expect(text).not.toContain('SELECT');
      expect(text).not.toMatch(/\bat .*\.(ts|js):\d+/);
      expect(text).not.toContain('stack');
    }
    // The log got the stack, the original message and the request id.
    await waitFor(() => logger.errors.length >= 3, 2000, 'log lines');
    const line = logger.errors.find((l) => l.obj.request_id === 'r-1');
    expect(line).toBeDefined();
    const err = line?.obj.err as { message: string; stack: string; type: string };
    expect(err.message).toBe(secret);
    expect(err.stack).toContain('handlers.test.ts');
    expect(line?.obj.event).toBe('leak');
    expect(logger.errors.find((l) => l.obj.request_id === 'r-2')).toBeDefined();

    // The Faultline client sees the same typed INTERNAL.
    const { client } = faultlineClient({ url });
    const r = await settle(client.request('leak'));
    expect((r as { error: FaultlineError }).error).toMatchObject({
      name: 'INTERNAL',
      code: 5000,
      message: 'Internal server error',
    });
  });

  it('still answers when the logger or a custom idempotency store fails', async () => {
    const { url } = await startServer({
      logger: {
        error: () => {
          throw new Error('logger down');
        },
        warn: () => {},
      },
      idempotency: { run: () => Promise.reject(new Error('redis down')) },
      handlers: {
        crash: () => {
          throw new Error('boom');
        },
        pay: () => 'paid',
      },
    });
    const { client } = faultlineClient({ url });
    const crash = await settle(client.request('crash'));
    expect((crash as { error: FaultlineError }).error.name).toBe('INTERNAL');
    const pay = await settle(client.request('pay', null, { idempotencyKey: 'p-1' }));
    expect((pay as { error: FaultlineError }).error).toMatchObject({
      name: 'INTERNAL',
      message: 'Internal server error',
      executed: 'maybe',
    });
    await expect(client.request('pay')).resolves.toBe('paid');
  });

  it('rate-limits per connection with RATE_LIMITED and retry_after_ms', async () => {
    const { url } = await startServer({ handlers: { ping: () => 'pong' }, rateLimit: { points: 3, durationMs: 1000 } });
    const raw = await rawClient(url);
    for (let i = 0; i < 5; i++) raw.send(req('ping', null, `p${i}`));
    const frames = await Promise.all([0, 1, 2, 3, 4].map((i) => raw.next((f) => f.meta?.request_id === `p${i}`)));
    expect(frames.slice(0, 3).map((f) => f.type)).toEqual(['response', 'response', 'response']);
    for (const f of frames.slice(3)) {
      expect(f).toMatchObject({
        type: 'error',
        data: { code: 4005, name: 'RATE_LIMITED', recoverable: true, recovery: 'retry', executed: 'no' },
      });
      expect(f.data.retry_after_ms).toBeGreaterThan(0);
      expect(f.data.retry_after_ms).toBeLessThanOrEqual(1000);
    }
    // The connection stays.
    expect(raw.ws.readyState).toBe(raw.ws.OPEN);

    // The Faultline client gets a typed RATE_LIMITED carrying retryAfterMs, and may retry it.
    const { client } = faultlineClient({ url });
    const results = await Promise.all([1, 2, 3, 4].map(() => settle(client.request('ping'))));
    const limited = results.find((r) => !r.ok) as { error: FaultlineError };
    expect(limited.error.name).toBe('RATE_LIMITED');
    expect(limited.error.retryAfterMs).toBeGreaterThan(0);
    await expect(client.request('ping', null, { retries: 2 })).resolves.toBe('pong');
  });

  it('delivers volatile events both ways and broadcasts to every connection', async () => {
    const seen: unknown[] = [];
    const { url, server } = await startServer({
      events: {
        typing: (data, ctx) => {
          seen.push(data);
          ctx.connection.emit('echo', data as never);
        },
      },
    });
    const a = faultlineClient({ url });
    const b = faultlineClient({ url });
    await Promise.all([a.reached('open'), b.reached('open')]);
    const gotA: unknown[] = [];
    const gotB: unknown[] = [];
    a.client.on('news', (d) => gotA.push(d));
    b.client.on('news', (d) => gotB.push(d));
    const echoed: unknown[] = [];
    a.client.on('echo', (d) => echoed.push(d));

    a.client.emit('typing', { who: 'a' });
    await waitFor(() => echoed.length === 1, 2000, 'echo');
    expect(seen).toEqual([{ who: 'a' }]);
    expect(echoed).toEqual([{ who: 'a' }]);

    // Volatile: data JSON cannot carry never throws; it is dropped and reported.
    a.client.emit('typing', { n: 1n } as never);
    expect(server.broadcast('news', { n: 1 })).toBe(2);
    await waitFor(() => gotA.length === 1 && gotB.length === 1, 2000, 'broadcast');
    expect(gotA).toEqual([{ n: 1 }]);
    // A filter picks connections.
    const first = [...server.connections][0];
    expect(server.broadcast('news', { n: 2 }, (c) => c === first)).toBe(1);
    await waitFor(() => gotA.length + gotB.length === 3, 2000, 'filtered broadcast');
  });

  it('sends failures nobody waits for to the error route with {cause, time, attempts}', async () => {
    const boom = new Error('event handler exploded');
    const { url, route } = await startServer({
      events: {
        sync: () => {
          throw boom;
        },
        async: async () => {
          throw new Error('async escape');
        },
      },
    });
    const raw = await rawClient(url);
    raw.send({ type: 'event', event: 'sync', data: 1 });
    raw.send({ type: 'event', event: 'async', data: 2 });
    raw.send({ type: 'event', event: 'nobody-listens' });
    await waitFor(() => route.failures.length >= 3, 2000, 'error route');
    const sync = route.failures.find((f) => f.location === 'Event#sync');
    expect(sync?.cause).toBe(boom);
    expect(sync?.time).toBeInstanceOf(Date);
    expect(sync?.attempts).toBe(1);
    expect(route.failures.find((f) => f.location === 'Event#async')?.cause).toMatchObject({ message: 'async escape' });
    expect(route.failures.find((f) => f.location === 'Event#nobody-listens')).toBeDefined();
    // Events are never answered, not even with an error.
    expect(raw.frames).toEqual([]);
    expect(raw.ws.readyState).toBe(raw.ws.OPEN);
  });

  it('makes server-to-client requests with acks and timeouts', async () => {
    const { url, server } = await startServer();
    const { client, reached } = faultlineClient({ url });
    client.handle('confirm', (data) => ({ ok: true, got: data }));
    client.handle('refuse', () => {
      throw new FaultlineError('FORBIDDEN', { message: 'Not yours' });
    });
    client.handle('hang', () => new Promise(() => {}));
    await reached('open');
    await waitFor(() => server.connections.size === 1, 2000, 'connection');
    const conn = [...server.connections][0] as typeof server.connections extends ReadonlySet<infer C> ? C : never;
    await expect(conn.request('confirm', { order: 7 })).resolves.toEqual({ ok: true, got: { order: 7 } });
    await expect(conn.request('refuse')).rejects.toMatchObject({ name: 'FORBIDDEN', message: 'Not yours' });
    await expect(conn.request('nobody')).rejects.toMatchObject({ name: 'NOT_FOUND' });
    const started = Date.now();
    await expect(conn.request('hang', null, { timeoutMs: 150 })).rejects.toMatchObject({ name: 'TIMEOUT', code: 5003 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    // Pending server-to-client requests fail with BAD_CONNECTION when the client goes.
    const pending = settle(conn.request('hang', null, { timeoutMs: 5000 }));
    client.close();
    const r = await pending;
    expect((r as { error: FaultlineError }).error.name).toBe('BAD_CONNECTION');
  });
});
