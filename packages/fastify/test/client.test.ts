import { createRetryBudget, FaultlineError, isFaultlineError } from '@faultline/core';
import type { FastifyInstance } from 'fastify';
import { describe, expect, it } from 'vitest';
import { createHttpClient, type HttpClientOptions } from '../src/client.js';
import { sleep, start } from './helpers.js';

const FAST: Pick<HttpClientOptions, 'retry'> = { retry: { minMs: 10, baseMs: 20, maxMs: 40 } };

async function rejection(promise: Promise<unknown>): Promise<FaultlineError> {
  try {
    await promise;
  } catch (err) {
    expect(FaultlineError.is(err)).toBe(true);
    return err as FaultlineError;
  }
  throw new Error('expected a rejection');
}

/** A server whose route fails `failures` times with `error`, then answers `{ ok: true }`. */
async function flaky(
  failures: number,
  error: () => unknown,
  method: 'GET' | 'POST' = 'GET',
): Promise<{ url: string; hits: () => number; keys: (string | undefined)[] }> {
  let hits = 0;
  const keys: (string | undefined)[] = [];
  const { url } = await start((app: FastifyInstance) => {
    app.route({
      method,
      url: '/flaky',
      handler: async (req) => {
        hits++;
        keys.push(req.headers['idempotency-key'] as string | undefined);
        if (hits <= failures) throw error();
        return { ok: true, hits };
      },
    });
  });
  return { url, hits: () => hits, keys };
}

describe('createHttpClient: answers', () => {
  it('parses JSON, text and empty success bodies, and sends JSON bodies, queries and headers', async () => {
    const { url } = await start((app) => {
      app.post('/echo', async (req) => ({ body: req.body, query: req.query, auth: req.headers.authorization }));
      app.get('/text', async (_req, reply) => reply.type('text/plain').send('hello'));
      app.delete('/empty', async (_req, reply) => reply.code(204).send());
    });
    const api = createHttpClient({ baseUrl: `${url}/`, headers: { authorization: 'Bearer t' } });
    expect(await api.post('echo', { a: 1 }, { query: { page: 2, skip: undefined } })).toEqual({
      body: { a: 1 },
      query: { page: '2' },
      auth: 'Bearer t',
    });
    expect(await api.get('/text')).toBe('hello');
    expect(await api.delete('/empty')).toBeUndefined();
  });

  it('rejects with the rehydrated error of the envelope, request id included', async () => {
    const { url } = await start(
      (app) => {
        app.get('/rooms/:id', async () => {
          throw new FaultlineError('NOT_FOUND', { message: 'Room not found', details: { room: 'r1' } });
        });
      },
      { fastify: { genReqId: () => 'req-77' } },
    );
    const err = await rejection(createHttpClient({ baseUrl: url }).get('/rooms/r1'));
    expect(isFaultlineError(err, 'NOT_FOUND')).toBe(true);
    expect(err).toMatchObject({
      name: 'NOT_FOUND',
      code: 4001,
      message: 'Room not found',
      recoverable: false,
      details: { room: 'r1' },
      requestId: 'req-77',
    });
    expect(err.stack).not.toMatch(/client\.ts/);
  });

  it('rejects with the same error from Problem Details', async () => {
    const { url } = await start(
      (app) => {
        app.get('/limited', async () => {
          throw new FaultlineError('RATE_LIMITED', { retryAfterMs: 1500, details: { limit: 5 } });
        });
      },
      { fastify: { genReqId: () => 'req-pd' } },
    );
    const api = createHttpClient({ baseUrl: url, headers: { accept: 'application/problem+json' }, retry: false });
    const err = await rejection(api.get('/limited'));
    expect(err).toMatchObject({
      name: 'RATE_LIMITED',
      code: 4005,
      recovery: 'retry',
      retryAfterMs: 1500,
      details: { limit: 5 },
      requestId: 'req-pd',
    });
  });

  it('classifies foreign error answers by status, with a generic message', async () => {
    const { url } = await start(
      (app) => {
        app.get('/gone', async () => {
          throw Object.assign(new Error('secret internals'), { statusCode: 404 });
        });
        app.get('/proxy', async (_req, reply) => reply.code(502).type('text/html').send('<h1>Bad gateway</h1>'));
        app.get('/maint', async (_req, reply) => reply.code(503).header('retry-after', '7').send('down'));
      },
      { plugin: false },
    );
    const api = createHttpClient({ baseUrl: url, retry: false });
    const gone = await rejection(api.get('/gone'));
    expect(gone).toMatchObject({ name: 'NOT_FOUND', message: 'Not found', details: { status: 404 } });
    const proxy = await rejection(api.get('/proxy'));
    expect(proxy).toMatchObject({ name: 'BAD_CONNECTION', recovery: 'reconnect', details: { status: 502 } });
    const maint = await rejection(api.get('/maint'));
    expect(maint).toMatchObject({ name: 'UNAVAILABLE', retryAfterMs: 7000 });
  });

  it('ignores an envelope that does not decode (hostile or foreign), classifying by status instead', async () => {
    const { url } = await start(
      (app) => {
        app.get('/weird', async (_req, reply) =>
          reply.code(500).send({ type: 'error', data: { code: 'x', name: 'ADMIN', recovery: 'retry' } }),
        );
      },
      { plugin: false },
    );
    const err = await rejection(createHttpClient({ baseUrl: url, retry: false }).get('/weird'));
    expect(err.name).toBe('INTERNAL');
  });
});

describe('createHttpClient: retries', () => {
  it('retries a recoverable error until it succeeds, counting server hits', async () => {
    const server = await flaky(2, () => new FaultlineError('UNAVAILABLE'));
    const retried: string[] = [];
    const api = createHttpClient({
      baseUrl: server.url,
      ...FAST,
      retries: 3,
      observer: { error: (e) => retried.push(`${e.location} ${e.error.name}`) },
    });
    expect(await api.get('/flaky')).toEqual({ ok: true, hits: 3 });
    expect(server.hits()).toBe(3);
    expect(retried).toEqual(['Retry#GET /flaky UNAVAILABLE', 'Retry#GET /flaky UNAVAILABLE']);
  });

  it('honours Retry-After before retrying', async () => {
    const server = await flaky(1, () => new FaultlineError('RATE_LIMITED', { retryAfterMs: 1000 }), 'POST');
    const api = createHttpClient({ baseUrl: server.url, ...FAST });
    const started = performance.now();
    expect(await api.post('/flaky', { x: 1 })).toEqual({ ok: true, hits: 2 });
    const elapsed = performance.now() - started;
    expect(server.hits()).toBe(2);
    expect(elapsed).toBeGreaterThanOrEqual(1000);
    expect(elapsed).toBeLessThan(3000);
  });

  it('does not retry a non-idempotent POST after INTERNAL, but retries GET and keyed POSTs', async () => {
    const post = await flaky(1, () => new Error('boom'), 'POST');
    const api = createHttpClient({ baseUrl: post.url, ...FAST });
    const err = await rejection(api.post('/flaky', {}));
    expect(err).toMatchObject({ name: 'INTERNAL', executed: 'maybe' });
    expect(post.hits()).toBe(1);

    const keyed = await flaky(1, () => new Error('boom'), 'POST');
    const api2 = createHttpClient({ baseUrl: keyed.url, ...FAST });
    expect(await api2.post('/flaky', {}, { idempotencyKey: 'k-1' })).toEqual({ ok: true, hits: 2 });
    expect(keyed.keys).toEqual(['k-1', 'k-1']);

    const get = await flaky(1, () => new Error('boom'));
    expect(await createHttpClient({ baseUrl: get.url, ...FAST }).get('/flaky')).toEqual({ ok: true, hits: 2 });
  });

  it('retries a POST refused before running (executed: no)', async () => {
    const server = await flaky(1, () => new FaultlineError('INTERNAL', { executed: 'no' }), 'POST');
    expect(await createHttpClient({ baseUrl: server.url, ...FAST }).post('/flaky')).toEqual({ ok: true, hits: 2 });
  });

  it('never retries fatal or re-authentication errors', async () => {
    const server = await flaky(5, () => new FaultlineError('UNAUTHORIZED'));
    const err = await rejection(createHttpClient({ baseUrl: server.url, ...FAST, retries: 5 }).get('/flaky'));
    expect(err.name).toBe('UNAUTHORIZED');
    expect(server.hits()).toBe(1);
  });

  it('stops at the retry limit, and when the shared budget runs dry', async () => {
    const server = await flaky(100, () => new FaultlineError('UNAVAILABLE'));
    const limited = createHttpClient({ baseUrl: server.url, ...FAST, retries: 2 });
    expect((await rejection(limited.get('/flaky'))).name).toBe('UNAVAILABLE');
    expect(server.hits()).toBe(3);

    const budget = createRetryBudget({ capacity: 2, refillPerSecond: 0.001 });
    const a = createHttpClient({ baseUrl: server.url, ...FAST, budget, retries: 10, maxRetryAfterMs: 1000 });
    const b = createHttpClient({ baseUrl: server.url, ...FAST, budget, retries: 10, maxRetryAfterMs: 1000 });
    const before = server.hits();
    await rejection(a.get('/flaky'));
    expect(server.hits() - before).toBe(3);
    await rejection(b.get('/flaky'));
    expect(server.hits() - before).toBe(4);
  });

  it('does not wait for a Retry-After beyond maxRetryAfterMs', async () => {
    const server = await flaky(1, () => new FaultlineError('RATE_LIMITED', { retryAfterMs: 120_000 }));
    const started = performance.now();
    const err = await rejection(createHttpClient({ baseUrl: server.url, ...FAST }).get('/flaky'));
    expect(err.retryAfterMs).toBe(120_000);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(server.hits()).toBe(1);
  });
});

describe('createHttpClient: transport failures', () => {
  it('maps a timeout to TIMEOUT', async () => {
    let hits = 0;
    const { url } = await start((app) => {
      app.get('/slow', async () => {
        hits++;
        await sleep(400);
        return { late: true };
      });
    });
    const api = createHttpClient({ baseUrl: url, timeoutMs: 100, retries: 0 });
    const started = performance.now();
    const err = await rejection(api.get('/slow'));
    expect(err).toMatchObject({ name: 'TIMEOUT', code: 5003, recovery: 'retry', executed: 'maybe' });
    expect(performance.now() - started).toBeLessThan(350);
    expect(hits).toBe(1);
  });

  it("maps the caller's abort to CANCELLED (not retried), and an AbortSignal.timeout to TIMEOUT", async () => {
    const { url } = await start((app) => {
      app.get('/slow', async () => {
        await sleep(300);
        return {};
      });
    });
    const api = createHttpClient({ baseUrl: url, ...FAST, retries: 3 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const cancelled = await rejection(api.get('/slow', { signal: controller.signal }));
    expect(cancelled).toMatchObject({ name: 'CANCELLED', recoverable: false });
    const timed = await rejection(api.get('/slow', { signal: AbortSignal.timeout(50), retries: 0 }));
    expect(timed.name).toBe('TIMEOUT');
    const already = await rejection(api.get('/slow', { signal: AbortSignal.abort() }));
    expect(already.name).toBe('CANCELLED');
  });

  it('maps a refused connection to BAD_CONNECTION (executed: no, so even a POST is retried)', async () => {
    const { app, url } = await start(() => {});
    await app.close();
    const attempts: string[] = [];
    const api = createHttpClient({
      baseUrl: url,
      ...FAST,
      retries: 2,
      observer: { error: (e) => attempts.push(e.location) },
    });
    const err = await rejection(api.post('/x', { a: 1 }));
    expect(err).toMatchObject({ name: 'BAD_CONNECTION', recovery: 'reconnect', executed: 'no' });
    expect(err.message).toContain('ECONNREFUSED');
    expect(attempts).toEqual(['Retry#POST /x', 'Retry#POST /x', 'Request#POST /x']);
  });

  it('checks its options', () => {
    expect(() => createHttpClient({ baseUrl: 'not a url' })).toThrow(/absolute URL/);
    expect(() => createHttpClient({ baseUrl: 'http://x', timeoutMs: 0 })).toThrow(/timeoutMs/);
    expect(() => createHttpClient({ baseUrl: 'http://x', retries: -1 })).toThrow(/retries/);
  });
});
