/**
 * Requests through Faultline handlers over Socket.IO acks: results, thrown errors, unknown
 * throws, bad input. Each scenario runs over the websocket and the polling transport.
 */
import { bodyOf, FaultlineError, toErrorBody } from '@faultline/core';
import type { Server } from 'socket.io';
import type { Socket } from 'socket.io-client';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { createClient } from '../src/client.js';
import { attach, CLOSE_HEADER, ERROR_EVENT, type FaultlineAck } from '../src/server.js';
import {
  connected,
  connectSocket,
  makeClient,
  settle,
  sleep,
  startServer,
  TRANSPORTS,
  waitFor,
  withTimeout,
} from './helpers.js';

/** Emits with an ack and resolves with every argument of the ack, as they crossed the wire. */
function rawRequest(socket: Socket, event: string, ...args: unknown[]): Promise<unknown[]> {
  return withTimeout(
    new Promise<unknown[]>((resolve, reject) => {
      socket.timeout(3000).emit(event, ...args, (err: Error | null, ...ack: unknown[]) => {
        if (err) reject(err);
        else resolve(ack);
      });
    }),
    4000,
    `raw ${event}`,
  );
}

class DbError extends Error {
  sql = 'SELECT * FROM users WHERE password = "hunter2"';
}

const handlers = {
  echo: (data: unknown) => data,
  nothing: () => undefined,
  later: async (data: unknown) => {
    await sleep(5);
    return { later: data };
  },
  notFound: (data: unknown) => {
    throw new FaultlineError('NOT_FOUND', {
      message: 'Room not found',
      details: { room: (data as { room: string }).room },
    });
  },
  secret: () => {
    throw new DbError('connect ECONNREFUSED secret-db.internal:5432 password=hunter2');
  },
  rejects: async () => {
    await sleep(1);
    throw new DbError('async secret hunter2');
  },
  throwsString: () => {
    throw 'a string with hunter2';
  },
  bigint: () => ({ n: 10n }),
  whoami: (_data: unknown, ctx: { requestId: string; connection: { socket: { id: string } } }) => ({
    requestId: ctx.requestId,
    socketId: ctx.connection.socket.id,
  }),
};

describe.each(TRANSPORTS)('handlers over %s', (transport) => {
  const transports = [transport];

  it('answers (null, data) and the client resolves with the result', async () => {
    const s = await startServer(transports, { handlers });
    const { client } = makeClient(s.url, transports);
    expect(await client.request('echo', { a: 1, b: [1, 2] })).toEqual({ a: 1, b: [1, 2] });
    expect(await client.request('later', 'x')).toEqual({ later: 'x' });
    expect(await client.request('nothing')).toBeUndefined();
    const raw = connectSocket(s.url, transports);
    await connected(raw);
    expect(await rawRequest(raw, 'echo', { a: 1 })).toEqual([null, { a: 1 }]);
    expect(await rawRequest(raw, 'nothing')).toEqual([null]);
    expect(s.observer.successes.map((e) => e.location)).toContain('Request#echo');
  });

  it('sends a thrown FaultlineError as exactly its toErrorBody, details included', async () => {
    const s = await startServer(transports, { handlers });
    const raw = connectSocket(s.url, transports);
    await connected(raw);
    const [body, data, meta] = await rawRequest(raw, 'notFound', { room: 'r1' });
    const expected = {
      ...toErrorBody(new FaultlineError('NOT_FOUND', { message: 'Room not found', details: { room: 'r1' } })),
      executed: 'yes',
    };
    expect(body).toEqual(expected);
    expect(data).toBeNull();
    expect(meta).toMatchObject({ request_id: expect.any(String), timestamp: expect.any(String) });

    const { client } = makeClient(s.url, transports);
    const out = await settle(client.request('notFound', { room: 'r2' }));
    expect(out.ok).toBe(false);
    const err = (out as { error: FaultlineError }).error;
    expect(FaultlineError.is(err, 'NOT_FOUND')).toBe(true);
    expect(err.message).toBe('Room not found');
    expect(err.details).toEqual({ room: 'r2' });
    expect(err.code).toBe(4001);
    expect(err.recoverable).toBe(false);
    expect(err.requestId).toEqual(expect.any(String));
  });

  it('turns unknown throws (sync, async, non-Error) into a generic INTERNAL; the log keeps stack and request_id', async () => {
    const s = await startServer(transports, { handlers });
    const raw = connectSocket(s.url, transports);
    await connected(raw);
    for (const event of ['secret', 'rejects', 'throwsString']) {
      const args = await rawRequest(raw, event);
      const wire = JSON.stringify(args);
      expect(wire).not.toContain('hunter2');
      expect(wire).not.toContain('secret-db');
      expect(wire).not.toContain('sql');
      expect(wire).not.toMatch(/\bat .*:\d+:\d+/);
      const [body, , meta] = args as [Record<string, unknown>, null, { request_id: string }];
      expect(body).toEqual({ ...bodyOf('INTERNAL'), executed: 'maybe' });
      const logged = s.logger.errors.find((l) => l.obj.request_id === meta.request_id);
      expect(logged, `log entry for ${event}`).toBeDefined();
      expect(logged?.obj.event).toBe(event);
      if (event !== 'throwsString') {
        const err = logged?.obj.err as { stack: string; message: string };
        expect(err.message).toContain('hunter2');
        expect(err.stack).toMatch(/handlers\.test\.ts/);
      }
    }
    // The process and the connection survive: the next request is answered.
    expect(await rawRequest(raw, 'echo', 1)).toEqual([null, 1]);
  });

  it('answers a result Socket.IO cannot encode with INTERNAL instead of leaving the request hanging', async () => {
    const s = await startServer(transports, { handlers });
    const { client } = makeClient(s.url, transports);
    const out = await settle(client.request('bigint'));
    expect(out.ok).toBe(false);
    expect((out as { error: FaultlineError }).error.name).toBe('INTERNAL');
    expect(s.logger.errors.some((l) => l.obj.event === 'bigint')).toBe(true);
    expect(await client.request('echo', 2)).toBe(2);
  });

  it('gives handlers the request id and the Socket.IO socket', async () => {
    const s = await startServer(transports, { handlers });
    const { client, socket } = makeClient(s.url, transports);
    const out = (await client.request('whoami')) as { requestId: string; socketId: string };
    expect(out.requestId).toMatch(/^q/);
    expect(out.socketId).toBe(s.sockets[0]?.id);
    expect(socket.connected).toBe(true);
  });

  it('answers an unknown event with NOT_FOUND (executed: no)', async () => {
    const s = await startServer(transports, { handlers });
    const { client } = makeClient(s.url, transports);
    const out = await settle(client.request('nope', { x: 1 }));
    expect(out.ok).toBe(false);
    const err = (out as { error: FaultlineError }).error;
    expect(err.name).toBe('NOT_FOUND');
    expect(err.executed).toBe('no');
    expect(err.details).toEqual({ event: 'nope' });
  });

  it('leaves events with a plain Socket.IO listener to that listener', async () => {
    const s = await startServer(transports, { handlers });
    s.io.on('connection', (socket) =>
      socket.on('plain', (data: unknown, ack: (v: unknown) => void) => ack({ plain: data })),
    );
    const raw = connectSocket(s.url, transports);
    await connected(raw);
    expect(await rawRequest(raw, 'plain', 1)).toEqual([{ plain: 1 }]);
  });

  it('refuses bad arguments with BAD_REQUEST and keeps serving', async () => {
    const s = await startServer(transports, { handlers });
    const raw = connectSocket(s.url, transports);
    await connected(raw);
    const cases: [unknown[], string | undefined][] = [
      [[1, {}, 3], 'arguments'],
      [[1, 'not-an-object'], 'meta'],
      [[1, { idempotency_key: 42 }], 'meta.idempotency_key'],
      [[1, { request_id: '' }], 'meta.request_id'],
      [[JSON.parse('{"__proto__": {"admin": true}}')], '__proto__'],
    ];
    for (const [args, field] of cases) {
      const [body] = (await rawRequest(raw, 'echo', ...args)) as [Record<string, unknown>];
      expect(body).toMatchObject({ name: 'BAD_REQUEST', code: 4000, executed: 'no' });
      expect((body.details as Record<string, unknown>).field).toBe(field);
    }
    const [deep] = (await rawRequest(raw, 'echo', JSON.parse(`${'['.repeat(40)}${']'.repeat(40)}`))) as [
      Record<string, unknown>,
    ];
    expect(deep).toMatchObject({ name: 'BAD_REQUEST', details: { reason: 'too_deep' } });
    const [long] = (await rawRequest(raw, 'x'.repeat(200), 1)) as [Record<string, unknown>];
    expect(long).toMatchObject({ name: 'BAD_REQUEST', details: { field: 'event' } });
    expect(await rawRequest(raw, 'echo', 'still here')).toEqual([null, 'still here']);
    expect(s.observer.errors.filter((e) => e.location === 'Frame#decode').length).toBeGreaterThanOrEqual(cases.length);
  });

  it('accepts a meta argument with request_id and idempotency_key', async () => {
    const s = await startServer(transports, { handlers });
    const raw = connectSocket(s.url, transports);
    await connected(raw);
    const [err, data] = await rawRequest(raw, 'whoami', null, { request_id: 'client-1', idempotency_key: 'k-1' });
    expect(err).toBeNull();
    expect((data as { requestId: string }).requestId).toBe('client-1');
  });

  it('answers INTERNAL, exactly once, when a custom idempotency store throws or rejects', async () => {
    let mode: 'throw' | 'reject' = 'throw';
    const s = await startServer(transports, {
      handlers,
      idempotency: {
        run: () => {
          if (mode === 'throw') throw new Error('store down hunter2');
          return Promise.reject(new Error('store down hunter2'));
        },
      },
    });
    const raw = connectSocket(s.url, transports);
    await connected(raw);
    for (const m of ['throw', 'reject'] as const) {
      mode = m;
      const answer = await rawRequest(raw, 'echo', 1, { request_id: `r-${m}`, idempotency_key: 'k' });
      expect(answer[0], m).toMatchObject({ name: 'INTERNAL', code: 5000 });
      expect(JSON.stringify(answer), m).not.toContain('hunter2');
    }
    // Synchronous handlers are answered inline; the connection still serves.
    expect(await rawRequest(raw, 'echo', 'still here')).toEqual([null, 'still here']);
  });

  it('refuses a request without an ack callback on the error event, without running the handler', async () => {
    let ran = 0;
    const s = await startServer(transports, {
      handlers: {
        ...handlers,
        count: () => {
          ran++;
          return ran;
        },
      },
    });
    const raw = connectSocket(s.url, transports);
    await connected(raw);
    const got = withTimeout(
      new Promise<unknown[]>((resolve) => raw.once(ERROR_EVENT, (...args: unknown[]) => resolve(args))),
      3000,
      'error event',
    );
    raw.emit('count', { x: 1 });
    const [body, meta] = (await got) as [Record<string, unknown>, Record<string, unknown>];
    expect(body).toMatchObject({
      name: 'BAD_REQUEST',
      executed: 'no',
      details: { reason: 'missing_ack', event: 'count' },
    });
    expect(meta.closing).toBeUndefined();
    expect(ran).toBe(0);
    expect(s.observer.errors.some((e) => e.location === 'Frame#decode' && e.error.name === 'BAD_REQUEST')).toBe(true);
    // The Faultline client reports it, and does not treat it as the reason of a later disconnect.
    const { client, observer } = makeClient(s.url, transports);
    await withTimeout(new Promise((r) => client.socket.once('connect', () => r(null))), 3000);
    client.emit('count', 1);
    await waitFor(() => observer.errors.some((e) => e.location === 'Connect#Error'), 3000, 'Connect#Error');
    expect(client.state).toBe('open');
  });

  it('runs volatile event handlers and routes their throws to the error route', async () => {
    const seen: unknown[] = [];
    const s = await startServer(transports, {
      handlers,
      events: {
        note: (data: unknown) => {
          seen.push(data);
        },
        bad: () => {
          throw new Error('volatile boom');
        },
      },
    });
    const { client } = makeClient(s.url, transports);
    await withTimeout(new Promise((r) => client.socket.once('connect', () => r(null))), 3000);
    client.emit('note', { n: 1 });
    client.emit('bad', 1);
    client.emit('unknownVolatile', 1);
    await waitFor(() => seen.length === 1 && s.route.failures.length >= 2, 3000, 'volatile events');
    expect(seen).toEqual([{ n: 1 }]);
    expect(s.route.failures.map((f) => f.location).sort()).toEqual(['Event#bad', 'Event#unknownVolatile']);
    expect(await client.request('echo', 1)).toBe(1);
  });

  it('answers $ping', async () => {
    const s = await startServer(transports, { handlers });
    const raw = connectSocket(s.url, transports);
    await connected(raw);
    expect(await rawRequest(raw, '$ping')).toEqual([null]);
    // Its arguments are checked as any request's: a bad meta or too many arguments is BAD_REQUEST.
    const [badMeta] = (await rawRequest(raw, '$ping', null, { request_id: 7 })) as [Record<string, unknown>];
    expect(badMeta).toMatchObject({ name: 'BAD_REQUEST', executed: 'no' });
    const [tooMany] = (await rawRequest(raw, '$ping', 1, {}, 3)) as [Record<string, unknown>];
    expect(tooMany).toMatchObject({ name: 'BAD_REQUEST', details: { field: 'arguments' } });
    expect(await rawRequest(raw, '$ping', null, { request_id: 'p1' })).toEqual([null]);
  });

  it('answers a numeric event name with too many arguments with BAD_REQUEST', async () => {
    const s = await startServer(transports, { handlers });
    const raw = connectSocket(s.url, transports);
    await connected(raw);
    const [body] = (await rawRequest(raw, 42 as never, 1, {}, 'extra')) as [Record<string, unknown>];
    expect(body).toMatchObject({ name: 'BAD_REQUEST', details: { field: 'arguments', event: '42' } });
    expect(s.route.failures.filter((f) => f.location.startsWith('Request#'))).toEqual([]);
  });

  it('disconnects a socket after too many bad frames, telling it why', async () => {
    const s = await startServer(transports, { handlers, maxBadFrames: 3 });
    const raw = connectSocket(s.url, transports, { reconnection: false });
    await connected(raw);
    const errors: unknown[][] = [];
    raw.on(ERROR_EVENT, (...args: unknown[]) => errors.push(args));
    const gone = withTimeout(
      new Promise<[string, any, { header?: string | null; text?: string }]>((r) =>
        raw.once('disconnect', (reason, description: any) => {
          // The poll's XMLHttpRequest is aborted right after this listener: read it now.
          const xhr = description?.context;
          const answer =
            typeof xhr?.getResponseHeader === 'function'
              ? { header: xhr.getResponseHeader(CLOSE_HEADER), text: xhr.responseText }
              : {};
          r([reason, description, answer]);
        }),
      ),
      3000,
      'disconnect',
    );
    for (let i = 0; i < 5; i++) raw.emit('echo', 1, 'bad-meta', () => {});
    // A fatal error ends the transport with its close code and name, so that a client that lost
    // the error event still knows why: a WebSocket close, or over polling the HTTP error answer.
    const [reason, description, answer] = await gone;
    if (transport === 'websocket') {
      expect(reason).toBe('transport close');
      expect(description.context).toMatchObject({ code: 4000, reason: 'BAD_REQUEST' });
    } else {
      expect(reason).toBe('transport error');
      expect(description.description).toBe(400);
      expect(answer.header).toBe('4000 BAD_REQUEST');
      expect(JSON.parse(answer.text as string)).toMatchObject({
        type: 'error',
        data: { name: 'BAD_REQUEST', message: 'Too many bad frames' },
      });
    }
    const last = errors.at(-1) as [Record<string, unknown>, Record<string, unknown>];
    expect(last[0]).toMatchObject({ name: 'BAD_REQUEST', message: 'Too many bad frames' });
    expect(last[1]).toMatchObject({ closing: true });
  });

  it('keeps Socket.IO typed event maps for requests and handlers', async () => {
    interface ClientToServer {
      join: (data: { room: string }, ack: FaultlineAck<{ members: number }>) => void;
    }
    const s = await startServer(transports, {});
    const socket = connectSocket(s.url, transports) as unknown as Socket<Record<string, never>, ClientToServer>;
    const client = createClient(socket, { reconnect: false });
    const pending = client.request('join', { room: 'r1' }).catch(() => undefined);
    expectTypeOf(client.request<'join'>)
      .parameter(1)
      .toEqualTypeOf<{ room: string } | undefined>();
    expectTypeOf(client.request<'join'>).returns.toEqualTypeOf<Promise<{ members: number }>>();
    client.close();
    await pending;
    // Only compiled, never run: a second attach on the same server would answer twice.
    const typedServer = () =>
      attach(s.io as unknown as Server<ClientToServer>, {
        handlers: {
          join: (data) => {
            expectTypeOf(data).toEqualTypeOf<{ room: string }>();
            return { members: 1 };
          },
        },
      });
    expectTypeOf(typedServer).toBeFunction();
  });
});

describe.each(TRANSPORTS)('socket.use() middlewares over %s', (transport) => {
  const transports = [transport];

  /** A server whose sockets get `middleware` from a connection listener, as Socket.IO apps do. */
  const serverWith = async (
    middleware: (packet: unknown[], next: (err?: Error) => void) => void,
    extra: Record<string, (data: unknown) => unknown> = {},
  ) => {
    const ran: string[] = [];
    const errors: unknown[] = [];
    const s = await startServer(transports, {
      handlers: {
        echo: (d: unknown) => {
          ran.push('echo');
          return d;
        },
        admin: () => {
          ran.push('admin');
          return 'secret';
        },
        ...extra,
      },
    });
    s.io.on('connection', (sock) => {
      sock.on('error', (err) => errors.push(err));
      sock.use(middleware);
    });
    return { s, ran, errors };
  };

  it('gate Faultline handlers; a refused request is answered with the refusal, not dropped', async () => {
    const { s, ran, errors } = await serverWith(([event], next) => {
      if (event === 'admin') next(new FaultlineError('FORBIDDEN', { message: 'Admins only' }));
      else next();
    });
    const { client } = makeClient(s.url, transports);
    const out = await settle(client.request('admin', undefined, { timeoutMs: 3000 }));
    expect(out.ok).toBe(false);
    const err = (out as { error: FaultlineError }).error;
    expect(err.name).toBe('FORBIDDEN');
    expect(err.message).toBe('Admins only');
    expect(err.executed).toBe('no');
    expect(err.requestId).toEqual(expect.any(String));
    expect(ran).toEqual([]);
    // Socket.IO's own 'error' event still tells the application.
    expect((errors[0] as FaultlineError).name).toBe('FORBIDDEN');
    expect(await client.request('echo', 1)).toBe(1);
    expect(ran).toEqual(['echo']);
  });

  it('a non-Faultline refusal becomes INTERNAL with the generic message; the log keeps the original', async () => {
    const { s, ran } = await serverWith(([event], next) => {
      if (event === 'admin') next(new Error('policy engine password=hunter2'));
      else next();
    });
    const { client } = makeClient(s.url, transports);
    const err = ((await settle(client.request('admin'))) as { error: FaultlineError }).error;
    expect(err.name).toBe('INTERNAL');
    expect(err.message).not.toContain('hunter2');
    expect(err.executed).toBe('no');
    expect(ran).toEqual([]);
    expect(s.logger.errors.some((e) => JSON.stringify(e.obj).includes('hunter2'))).toBe(true);
  });

  it('run before the handler, asynchronous ones included, and may rewrite the data it gets', async () => {
    const { s, ran } = await serverWith(async (packet, next) => {
      await sleep(5);
      if (packet[0] === 'echo') packet[1] = { seen: packet[1] };
      next();
    });
    const { client } = makeClient(s.url, transports);
    expect(await client.request('echo', 'x')).toEqual({ seen: 'x' });
    expect(await client.request('admin')).toBe('secret');
    expect(ran).toEqual(['echo', 'admin']);
  });

  it('added later still run before Faultline', async () => {
    const { s, ran } = await serverWith((_packet, next) => next());
    const { client } = makeClient(s.url, transports);
    expect(await client.request('admin')).toBe('secret');
    const sock = s.sockets.at(-1) as NonNullable<(typeof s.sockets)[number]>;
    sock.use(([event], next) => (event === 'admin' ? next(new FaultlineError('FORBIDDEN')) : next()));
    expect(((await settle(client.request('admin'))) as { error: FaultlineError }).error.name).toBe('FORBIDDEN');
    expect(await client.request('echo', 2)).toBe(2);
    expect(ran).toEqual(['admin', 'echo']);
  });

  it('leave the refused event of a plain listener to Socket.IO; $ping passes whatever they say', async () => {
    const { s, errors } = await serverWith(([event], next) =>
      event === 'plain' || event === '$ping' ? next(new Error('no')) : next(),
    );
    const raw = connectSocket(s.url, transports);
    await connected(raw);
    const plain: unknown[] = [];
    (s.sockets.at(-1) as NonNullable<(typeof s.sockets)[number]>).on('plain', (...args: unknown[]) => plain.push(args));
    const acks: unknown[] = [];
    raw.emit('plain', 1, (...args: unknown[]) => acks.push(args));
    // Liveness is answered before any middleware; it comes after what 'plain' would have got.
    expect(await rawRequest(raw, '$ping')).toEqual([null]);
    expect(acks).toEqual([]);
    expect(plain).toEqual([]);
    expect(errors.map((e) => (e as Error).message)).toContain('no');
  });
});
