import { decodeFrame, defineCodes, FaultlineError } from '@faultline/core';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { faultline, frameworkErrors } from '../src/index.js';
import { build, captureLogs, sleep, start } from './helpers.js';

type Loose = Record<string, any>;

const SECRET = 'db password is hunter2';

async function json(res: Response): Promise<Loose> {
  return (await res.json()) as Loose;
}

describe('error envelope over real HTTP', () => {
  it('answers a thrown FaultlineError with the envelope, the registry status and the request id', async () => {
    let seenId: string | undefined;
    const { url } = await start(
      (app) => {
        app.get('/rooms/:id', async (req) => {
          seenId = req.id;
          throw new FaultlineError('NOT_FOUND', { message: 'Room not found', details: { room: 'r1' } });
        });
      },
      { fastify: { genReqId: () => 'req-abc' } },
    );
    const res = await fetch(`${url}/rooms/r1`);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const body = await json(res);
    expect(body).toEqual({
      type: 'error',
      data: {
        code: 4001,
        name: 'NOT_FOUND',
        message: 'Room not found',
        category: 'application',
        recoverable: false,
        recovery: 'none',
        // Thrown by the route handler, which ran: `yes`, as the socket engine says.
        executed: 'yes',
        details: { room: 'r1' },
      },
      meta: { request_id: 'req-abc', timestamp: expect.any(String) },
    });
    expect(seenId).toBe('req-abc');
    expect(decodeFrame(body).ok).toBe(true);
    expect(Number.isNaN(Date.parse(body.meta.timestamp))).toBe(false);
  });

  it("uses the registry's status even when the error carries its own statusCode or reply.code() was set", async () => {
    const { url } = await start((app) => {
      app.get('/own', async () => {
        const err = new FaultlineError('FORBIDDEN');
        Object.assign(err, { statusCode: 418, status: 418 });
        throw err;
      });
      app.get('/code', async (_req, reply) => {
        reply.code(202);
        throw new FaultlineError('INVALID_ACTION');
      });
    });
    expect((await fetch(`${url}/own`)).status).toBe(403);
    const res = await fetch(`${url}/code`);
    expect(res.status).toBe(409);
    expect((await json(res)).data.name).toBe('INVALID_ACTION');
  });

  it("maps an application's own codes through the registry given as option", async () => {
    const registry = defineCodes({ ROOM_FULL: { code: 4100, message: 'Room is full', recovery: 'retry', http: 409 } });
    const { url } = await start(
      (app) => {
        app.get('/join', async () => {
          throw new FaultlineError('ROOM_FULL', { registry, retryAfterMs: 250 });
        });
      },
      { plugin: { registry } },
    );
    const res = await fetch(`${url}/join`);
    expect(res.status).toBe(409);
    expect(res.headers.get('retry-after')).toBe('1');
    expect((await json(res)).data).toMatchObject({
      code: 4100,
      name: 'ROOM_FULL',
      recoverable: true,
      retry_after_ms: 250,
    });
  });

  it('sets Retry-After (whole seconds, rounded up) for RATE_LIMITED, SHUTTING_DOWN and UNAVAILABLE', async () => {
    const { url } = await start((app) => {
      app.get('/limited', async () => {
        throw new FaultlineError('RATE_LIMITED', { retryAfterMs: 1500, executed: 'no' });
      });
      app.get('/draining', async () => {
        throw new FaultlineError('SHUTTING_DOWN', { retryAfterMs: 3000 });
      });
      app.get('/busy', async () => {
        throw new FaultlineError('UNAVAILABLE', { retryAfterMs: 1 });
      });
      app.get('/no-pacing', async () => {
        throw new FaultlineError('RATE_LIMITED');
      });
    });
    const limited = await fetch(`${url}/limited`);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('2');
    expect((await json(limited)).data).toMatchObject({ name: 'RATE_LIMITED', retry_after_ms: 1500, executed: 'no' });
    const draining = await fetch(`${url}/draining`);
    expect(draining.status).toBe(503);
    expect(draining.headers.get('retry-after')).toBe('3');
    const busy = await fetch(`${url}/busy`);
    expect(busy.status).toBe(503);
    expect(busy.headers.get('retry-after')).toBe('1');
    const none = await fetch(`${url}/no-pacing`);
    expect(none.status).toBe(429);
    expect(none.headers.get('retry-after')).toBeNull();
  });

  it('answers Accept: application/problem+json with RFC 9457 Problem Details', async () => {
    const { url } = await start(
      (app) => {
        app.get('/limited', async () => {
          throw new FaultlineError('RATE_LIMITED', {
            message: 'Slow down',
            retryAfterMs: 2000,
            details: { limit: 10 },
          });
        });
      },
      { fastify: { genReqId: () => 'req-p' } },
    );
    const res = await fetch(`${url}/limited?token=secret-token`, { headers: { accept: 'application/problem+json' } });
    expect(res.status).toBe(429);
    expect(res.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
    expect(res.headers.get('retry-after')).toBe('2');
    expect(await json(res)).toEqual({
      type: 'urn:faultline:error:RATE_LIMITED',
      title: 'RATE_LIMITED',
      status: 429,
      detail: 'Slow down',
      instance: '/limited',
      code: 4005,
      name: 'RATE_LIMITED',
      category: 'application',
      recoverable: true,
      recovery: 'retry',
      retry_after_ms: 2000,
      executed: 'yes',
      details: { limit: 10 },
      request_id: 'req-p',
    });
  });

  it('negotiates: problem+json only when preferred, and never when turned off', async () => {
    const { url } = await start(
      (app) => {
        app.get('/x', async () => {
          throw new FaultlineError('NOT_FOUND');
        });
      },
      { plugin: { problemDetails: { typeBase: 'https://errors.example.com/' } } },
    );
    const lower = await fetch(`${url}/x`, { headers: { accept: 'application/json, application/problem+json;q=0.5' } });
    expect(lower.headers.get('content-type')).toContain('application/json');
    const both = await fetch(`${url}/x`, { headers: { accept: 'application/problem+json, application/json' } });
    expect(both.headers.get('content-type')).toContain('application/problem+json');
    expect((await json(both)).type).toBe('https://errors.example.com/NOT_FOUND');

    const off = await start(
      (app) => {
        app.get('/x', async () => {
          throw new FaultlineError('NOT_FOUND');
        });
      },
      { plugin: { problemDetails: false } },
    );
    const res = await fetch(`${off.url}/x`, { headers: { accept: 'application/problem+json' } });
    expect(res.headers.get('content-type')).toContain('application/json');
    expect((await json(res)).type).toBe('error');
  });

  it('answers unrouted requests with NOT_FOUND in the envelope (or problem+json)', async () => {
    const { url } = await start(() => {}, { fastify: { genReqId: () => 'req-404' } });
    const res = await fetch(`${url}/nope?q=1`, { method: 'DELETE' });
    expect(res.status).toBe(404);
    expect(await json(res)).toEqual({
      type: 'error',
      data: {
        code: 4001,
        name: 'NOT_FOUND',
        message: 'Route not found',
        category: 'application',
        recoverable: false,
        recovery: 'none',
        executed: 'no',
        details: { method: 'DELETE', path: '/nope' },
      },
      meta: { request_id: 'req-404', timestamp: expect.any(String) },
    });
    const problem = await fetch(`${url}/nope`, { headers: { accept: 'application/problem+json' } });
    expect(problem.status).toBe(404);
    expect(await json(problem)).toMatchObject({
      status: 404,
      name: 'NOT_FOUND',
      instance: '/nope',
      request_id: 'req-404',
    });
  });

  it('leaves the not-found handler to the application when notFound is false', async () => {
    const app = await build(
      (a) => {
        a.setNotFoundHandler((_req, reply) => reply.code(404).send('mine'));
      },
      { plugin: { notFound: false } },
    );
    const res = await app.inject({ url: '/nope' });
    expect(res.body).toBe('mine');
  });
});

describe('executed: whether the route handler ran (PROTOCOL.md §3)', () => {
  const executedOf = async (res: Response): Promise<unknown> => (await json(res)).data.executed;

  it('errors from the handler are "yes" unless the error says otherwise; unknown throws are INTERNAL "maybe"', async () => {
    const { url } = await start((app) => {
      app.get('/sync', () => {
        throw new FaultlineError('INVALID_ACTION', { message: 'Room is closed' });
      });
      app.get('/async', async () => {
        await Promise.resolve();
        throw new FaultlineError('NOT_FOUND');
      });
      app.get('/explicit', async () => {
        throw new FaultlineError('RATE_LIMITED', { retryAfterMs: 100, executed: 'no' });
      });
      app.get('/unknown', async () => {
        throw new Error('boom');
      });
      app.get('/fail', (_req, reply) => reply.fail('FORBIDDEN', { message: 'Not yours' }));
    });
    expect(await executedOf(await fetch(`${url}/sync`))).toBe('yes');
    expect(await executedOf(await fetch(`${url}/async`))).toBe('yes');
    expect(await executedOf(await fetch(`${url}/explicit`))).toBe('no');
    const unknown = await json(await fetch(`${url}/unknown`));
    expect(unknown.data).toMatchObject({ name: 'INTERNAL', executed: 'maybe' });
    expect(await executedOf(await fetch(`${url}/fail`))).toBe('yes');
  });

  it('errors before the handler ran are "no": hooks (auth), validation, body parsing, not-found', async () => {
    const ran: string[] = [];
    const { url } = await start((app) => {
      app.register(async (scope) => {
        scope.addHook('onRequest', async (req) => {
          if (req.headers.authorization !== 'Bearer good') throw new FaultlineError('UNAUTHORIZED');
        });
        scope.get('/private', () => {
          ran.push('private');
          return { ok: true };
        });
      });
      app.get(
        '/pre',
        {
          preHandler: async () => {
            throw new Error('lookup failed');
          },
        },
        () => {
          ran.push('pre');
          return { ok: true };
        },
      );
      app.post(
        '/typed',
        { schema: { body: { type: 'object', required: ['n'], properties: { n: { type: 'integer' } } } } },
        (req) => {
          ran.push('typed');
          return req.body;
        },
      );
      app.post('/echo', (req) => {
        ran.push('echo');
        return req.body;
      });
    });
    const auth = await json(await fetch(`${url}/private`));
    expect(auth.data).toMatchObject({ name: 'UNAUTHORIZED', executed: 'no' });
    // An unknown throw in a hook is INTERNAL, but the handler never ran: safe to re-send.
    const pre = await json(await fetch(`${url}/pre`));
    expect(pre.data).toMatchObject({ name: 'INTERNAL', message: 'Internal server error', executed: 'no' });
    const post = (path: string, body: string) =>
      fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(await executedOf(await post('/typed', '{"n":"x"}'))).toBe('no');
    expect(await executedOf(await post('/echo', '{"n":'))).toBe('no');
    expect(await executedOf(await fetch(`${url}/nowhere`))).toBe('no');
    expect(ran).toEqual([]);
    // The same routes, once past their hooks, do run.
    expect(await (await fetch(`${url}/private`, { headers: { authorization: 'Bearer good' } })).json()).toEqual({
      ok: true,
    });
    expect(ran).toEqual(['private']);
  });
});

describe('unknown throws', () => {
  it('sends a generic INTERNAL and logs the original once, with its stack and the request id', async () => {
    const { lines, logger } = captureLogs();
    const { url } = await start(
      (app) => {
        app.post('/pay', async () => {
          const err = new Error(SECRET) as Error & { sql?: string };
          err.sql = 'SELECT * FROM cards';
          throw err;
        });
      },
      { fastify: { logger } },
    );
    const res = await fetch(`${url}/pay`, { method: 'POST' });
    const text = await res.text();
    expect(res.status).toBe(500);
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('SELECT');
    expect(text).not.toMatch(/at .*\.ts/);
    const body = JSON.parse(text);
    expect(body.data).toEqual({
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
    const entry = errors[0] as Loose;
    expect(entry.reqId).toBe(body.meta.request_id);
    expect(entry.request_id).toBe(body.meta.request_id);
    expect(entry.err.message).toBe(SECRET);
    expect(entry.err.stack).toContain('http.test.ts');
    expect(entry.err.sql).toBe('SELECT * FROM cards');
    expect(entry.msg).toContain('POST /pay');
    // Fastify's default handler did not log it a second time at any level.
    expect(lines.filter((l) => JSON.stringify(l).includes('hunter2'))).toHaveLength(1);
  });

  it('logs the cause of a deliberate INTERNAL, and nothing for expected errors', async () => {
    const { lines, logger } = captureLogs();
    const { url } = await start(
      (app) => {
        app.get('/wrapped', async () => {
          throw new FaultlineError('INTERNAL', { message: 'Payment failed', cause: new Error(SECRET) });
        });
        app.get('/expected', async () => {
          throw new FaultlineError('NOT_FOUND');
        });
      },
      { fastify: { logger } },
    );
    const res = await fetch(`${url}/wrapped`);
    expect(res.status).toBe(500);
    expect(await res.text()).not.toContain('hunter2');
    await fetch(`${url}/expected`);
    const errors = lines.filter((l) => l.level >= 50);
    expect(errors).toHaveLength(1);
    expect((errors[0] as Loose).err.message).toBe(SECRET);
  });

  it('redacts the named keys and paths from the log entry', async () => {
    const { lines, logger } = captureLogs();
    const { url } = await start(
      (app) => {
        app.get('/call', async () => {
          throw Object.assign(new Error('upstream failed'), {
            password: 'pw-123',
            config: { headers: { Authorization: 'Bearer tok-456', cookie: 'sid=789', accept: 'json' } },
          });
        });
      },
      { fastify: { logger }, plugin: { redact: ['password', 'authorization', 'config.headers.cookie'] } },
    );
    const res = await fetch(`${url}/call`);
    expect(res.status).toBe(500);
    const entry = lines.filter((l) => l.level >= 50)[0] as Loose;
    const logged = JSON.stringify(entry);
    for (const secret of ['pw-123', 'tok-456', 'sid=789']) expect(logged).not.toContain(secret);
    expect(entry.err.config.headers).toEqual({ Authorization: '[Redacted]', cookie: '[Redacted]', accept: 'json' });
    expect(entry.err.message).toBe('upstream failed');
    expect(entry.err.stack).toContain('http.test.ts');
  });

  it('answers and logs throws that are not errors (a string, undefined)', async () => {
    const { lines, logger } = captureLogs();
    const app = await build(
      (a) => {
        a.get('/string', async () => {
          throw `token ${SECRET}`;
        });
        a.get('/undefined', async () => {
          throw undefined;
        });
      },
      { fastify: { logger } },
    );
    for (const url of ['/string', '/undefined']) {
      const res = await app.inject({ url });
      expect(res.statusCode).toBe(500);
      expect(res.body).not.toContain('hunter2');
      expect(res.json().data.name).toBe('INTERNAL');
    }
    expect(lines.filter((l) => l.level >= 50)).toHaveLength(2);
  });

  it('maps a non-Faultline 5xx to INTERNAL without its message', async () => {
    const { url } = await start((app) => {
      app.get('/x', async () => {
        throw Object.assign(new Error(SECRET), { statusCode: 503 });
      });
    });
    const res = await fetch(`${url}/x`);
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(text).not.toContain('hunter2');
    expect(JSON.parse(text).data.name).toBe('INTERNAL');
  });
});

describe("Fastify's own errors", () => {
  it('body too large → PAYLOAD_TOO_LARGE 413', async () => {
    const { url } = await start(
      (app) => {
        app.post('/echo', async (req) => req.body);
      },
      { fastify: { bodyLimit: 64 } },
    );
    const res = await fetch(`${url}/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'x'.repeat(200) }),
    });
    expect(res.status).toBe(413);
    expect((await json(res)).data).toMatchObject({
      code: 4006,
      name: 'PAYLOAD_TOO_LARGE',
      message: 'Payload too large',
      executed: 'no',
      details: { reason: 'body_too_large' },
    });
  });

  it("a handler past Fastify's handlerTimeout → TIMEOUT 504, executed maybe", async () => {
    const { url } = await start(
      (app) => {
        app.get('/slow', async () => {
          await sleep(400);
          return 'late';
        });
      },
      { fastify: { handlerTimeout: 50 } },
    );
    const res = await fetch(`${url}/slow`);
    expect(res.status).toBe(504);
    expect((await json(res)).data).toMatchObject({
      code: 5003,
      name: 'TIMEOUT',
      recovery: 'retry',
      executed: 'maybe',
      details: { reason: 'handler_timeout' },
    });
  });

  it('unsupported media type → UNSUPPORTED_MEDIA_TYPE 415', async () => {
    const { url } = await start((app) => {
      app.post('/echo', async (req) => req.body);
    });
    const res = await fetch(`${url}/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-secret-type' },
      body: '<xml/>',
    });
    expect(res.status).toBe(415);
    const text = await res.text();
    expect(text).not.toContain('x-secret-type');
    expect(JSON.parse(text).data).toMatchObject({
      name: 'UNSUPPORTED_MEDIA_TYPE',
      details: { reason: 'unsupported_media_type' },
    });
  });

  it('malformed JSON and empty JSON bodies → BAD_REQUEST 400 without echoing the body', async () => {
    const { url } = await start((app) => {
      app.post('/echo', async (req) => req.body);
    });
    const bad = await fetch(`${url}/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"password": "hunter2"',
    });
    expect(bad.status).toBe(400);
    const text = await bad.text();
    expect(text).not.toContain('hunter2');
    expect(JSON.parse(text).data).toMatchObject({
      name: 'BAD_REQUEST',
      executed: 'no',
      details: { reason: 'malformed_json' },
    });
    const poisoned = await fetch(`${url}/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"__proto__": {"admin": true}}',
    });
    expect(poisoned.status).toBe(400);
    const empty = await fetch(`${url}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' } });
    expect(empty.status).toBe(400);
    expect((await json(empty)).data.details).toEqual({ reason: 'empty_json_body' });
  });

  it('request bodies get the frame rules (PROTOCOL.md §7.2): the same answer as the socket engine', async () => {
    const { url } = await start((app) => {
      app.post('/echo', async (req) => req.body);
    });
    const post = (body: string) =>
      fetch(`${url}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    // What the decoder answers for the same data inside a request frame.
    const inFrame = (body: string): Loose => {
      const r = decodeFrame(`{"type":"request","event":"echo","data":${body},"meta":{"request_id":"r"}}`);
      if (r.ok) throw new Error('the frame was accepted');
      return r.error;
    };
    const nest = (n: number): string => `${'{"d":'.repeat(n)}1${'}'.repeat(n)}`;
    for (const body of ['{"__proto__":{"admin":true}}', '{"a":[{"constructor":{"prototype":1}}]}', nest(40)]) {
      const res = await post(body);
      expect(res.status).toBe(400);
      const frame = await json(res);
      expect(frame.data).toEqual(inFrame(body));
      expect(frame.meta.request_id).toEqual(expect.any(String));
    }
    expect((await json(await post('{"x":{"__proto__":1}}'))).data).toMatchObject({
      name: 'BAD_REQUEST',
      message: 'Key "__proto__" is not allowed',
      executed: 'no',
      details: { reason: 'forbidden_key', field: '__proto__' },
    });
    expect((await json(await post(nest(40)))).data.details).toEqual({ reason: 'too_deep' });
    // The deepest data a frame may carry passes here too.
    const deepest = await post(nest(31));
    expect(deepest.status).toBe(200);
    expect(await deepest.text()).toBe(nest(31));
    expect((await post(nest(32))).status).toBe(400);
    // `application/json` with parameters goes through the same parser.
    const charset = await fetch(`${url}/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: '{"__proto__":1}',
    });
    expect((await json(charset)).data.details).toEqual({ reason: 'forbidden_key', field: '__proto__' });
  });

  it("jsonParser: { maxDepth } sets the depth cap; false keeps Fastify's parser", async () => {
    const shallow = await build(
      (app) => {
        app.post('/echo', async (req) => req.body);
      },
      { plugin: { jsonParser: { maxDepth: 4 } } },
    );
    const post = (app: typeof shallow, payload: string) =>
      app.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/json' }, payload });
    expect((await post(shallow, '{"a":{"b":{"c":1}}}')).statusCode).toBe(200);
    const deep = await post(shallow, '{"a":{"b":{"c":{"d":1}}}}');
    expect(deep.statusCode).toBe(400);
    expect(deep.json().data).toMatchObject({
      message: 'Frame is nested deeper than 4 levels',
      details: { reason: 'too_deep' },
    });

    const fastifys = await build(
      (app) => {
        app.post('/echo', async (req) => req.body);
      },
      { plugin: { jsonParser: false } },
    );
    const poisoned = await post(fastifys, '{"__proto__":{"admin":true}}');
    expect(poisoned.statusCode).toBe(400);
    expect(poisoned.json().data.details).toEqual({ reason: 'malformed_json' });
  });

  it('maps other 4xx errors to the nearest code with its generic message', async () => {
    const app = await build((a) => {
      a.get('/status/:code', async (req) => {
        const code = Number((req.params as { code: string }).code);
        throw Object.assign(new Error(`internal detail ${SECRET}`), { statusCode: code });
      });
      a.get('/limited', async (_req, reply) => {
        reply.header('retry-after', '5');
        throw Object.assign(new Error('Rate limit exceeded, retry in 5 seconds'), { statusCode: 429 });
      });
    });
    const cases: [number, string, number][] = [
      [401, 'UNAUTHORIZED', 401],
      [403, 'FORBIDDEN', 403],
      [404, 'NOT_FOUND', 404],
      [409, 'INVALID_ACTION', 409],
      [418, 'BAD_REQUEST', 400],
      [400, 'BAD_REQUEST', 400],
    ];
    for (const [code, name, status] of cases) {
      const res = await app.inject({ url: `/status/${code}` });
      expect(res.statusCode).toBe(status);
      expect(res.body).not.toContain('hunter2');
      expect(res.json().data.name).toBe(name);
    }
    const limited = await app.inject({ url: '/limited' });
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['retry-after']).toBe('5');
    expect(limited.json().data).toMatchObject({ name: 'RATE_LIMITED', retry_after_ms: 5000 });
  });

  it('answers malformed URLs in the envelope through the frameworkErrors option', async () => {
    const app = Fastify({ frameworkErrors });
    try {
      await app.register(faultline);
      app.get('/:id', async () => 'ok');
      const res = await app.inject({ url: '/%zz' });
      expect(res.statusCode).toBe(400);
      expect(res.json().data).toMatchObject({ name: 'BAD_REQUEST', details: { reason: 'bad_url' } });
      expect(res.body).not.toContain('%zz');
    } finally {
      await app.close();
    }
  });
});

describe('decorators', () => {
  it('reply.fail answers by value, with a name or an error; fastify.faultline.resolve maps', async () => {
    const { lines, logger } = captureLogs();
    const app = await build(
      (a) => {
        a.get('/by-name', (_req, reply) =>
          reply.fail('NOT_FOUND', { message: 'No such room', details: { room: 'r9' } }),
        );
        a.get('/by-error', (_req, reply) => reply.fail(new FaultlineError('UNAUTHORIZED')));
        a.get('/unknown', (_req, reply) => reply.fail(new Error(SECRET)));
      },
      { fastify: { logger } },
    );
    const byName = await app.inject({ url: '/by-name' });
    expect(byName.statusCode).toBe(404);
    expect(byName.json().data).toMatchObject({ name: 'NOT_FOUND', message: 'No such room', details: { room: 'r9' } });
    const byError = await app.inject({ url: '/by-error' });
    expect(byError.statusCode).toBe(401);
    expect(byError.json().data.recovery).toBe('reauthenticate');
    const unknown = await app.inject({ url: '/unknown' });
    expect(unknown.statusCode).toBe(500);
    expect(unknown.body).not.toContain('hunter2');
    expect(lines.filter((l) => l.level >= 50)).toHaveLength(1);

    expect(app.faultline.resolve(new FaultlineError('RATE_LIMITED', { retryAfterMs: 10 }))).toMatchObject({
      status: 429,
      body: { name: 'RATE_LIMITED', retry_after_ms: 10 },
    });
    expect(app.faultline.resolve(new Error('x')).status).toBe(500);
  });
});

describe('options', () => {
  it.each([
    [{ notFund: true }, /unknown option "notFund"/],
    [{ registry: {} }, /registry must be a Faultline registry/],
    [{ redact: 'password' }, /redact must be an array/],
    [{ problemDetails: { typeBase: '' } }, /problemDetails.typeBase/],
    [{ notFound: 'yes' }, /notFound must be a boolean/],
    [{ detailLimits: { maxDepth: 0 } }, /detailLimits.maxDepth/],
    [{ jsonParser: 'strict' }, /jsonParser must be a boolean/],
    [{ jsonParser: { maxDepth: 1 } }, /jsonParser.maxDepth/],
  ])('rejects %j at registration', async (options, message) => {
    const app = Fastify();
    try {
      await expect(app.register(faultline, options as never).ready()).rejects.toThrow(message);
    } finally {
      await app.close();
    }
  });

  it('accepts the options Fastify adds itself (prefix)', async () => {
    const app = Fastify();
    try {
      await app.register(faultline, { prefix: '/api' } as never);
      await expect(app.ready()).resolves.toBeDefined();
    } finally {
      await app.close();
    }
  });
});
