/**
 * Authentication as Socket.IO middleware: refusals reach `connect_error` with the Faultline body
 * in `err.data`, and the client acts on it (refresh the token once, or stop).
 */
import { FaultlineError } from '@faultline/core';
import { describe, expect, it } from 'vitest';
import {
  connectSocket,
  makeClient,
  settle,
  sleep,
  startServer,
  TRANSPORTS,
  untilState,
  waitFor,
  withTimeout,
} from './helpers.js';

describe.each(TRANSPORTS)('authentication over %s', (transport) => {
  const transports = [transport];

  it('gives handlers what authenticate returned', async () => {
    const s = await startServer(transports, {
      authenticate: (handshake) => ({ user: (handshake.auth as { token: string }).token }),
      handlers: { me: (_data: unknown, ctx: { auth: unknown }) => ctx.auth },
    });
    const { client } = makeClient(s.url, transports, { token: () => 'alice' });
    expect(await client.request('me')).toEqual({ user: 'alice' });
  });

  it('puts the error body in connect_error err.data', async () => {
    const s = await startServer(transports, {
      authenticate: () => {
        throw new FaultlineError('FORBIDDEN', { message: 'Banned', details: { until: '2030' } });
      },
    });
    const raw = connectSocket(s.url, transports, { reconnection: false });
    const err = await withTimeout(
      new Promise<Error & { data?: unknown }>((resolve) => raw.once('connect_error', resolve)),
      3000,
      'connect_error',
    );
    expect(err.message).toBe('Banned');
    expect(err.data).toEqual({
      code: 4004,
      name: 'FORBIDDEN',
      message: 'Banned',
      category: 'connection',
      recoverable: false,
      recovery: 'none',
      details: { until: '2030' },
    });
    expect(s.observer.errors.some((e) => e.location === 'Connect#Auth' && e.error.name === 'FORBIDDEN')).toBe(true);
  });

  it('stops on FORBIDDEN: no reconnection, queued requests fail', async () => {
    let attempts = 0;
    const s = await startServer(transports, {
      authenticate: () => {
        attempts++;
        throw new FaultlineError('FORBIDDEN');
      },
    });
    const { client, states } = makeClient(s.url, transports);
    const queued = settle(client.request('anything'));
    await untilState(client, 'closed');
    const out = await queued;
    expect(out.ok).toBe(false);
    expect((out as { error: FaultlineError }).error.name).toBe('BAD_CONNECTION');
    expect((out as { error: FaultlineError }).error.executed).toBe('no');
    expect(states.at(-1)?.reason?.name).toBe('FORBIDDEN');
    await sleep(300);
    expect(attempts).toBe(1);
    expect(client.socket.active).toBe(false);
  });

  it('refreshes the token once after UNAUTHORIZED, then connects', async () => {
    const tokens: { refresh: boolean }[] = [];
    const s = await startServer(transports, {
      authenticate: (handshake) => {
        const token = (handshake.auth as { token?: string }).token;
        if (token !== 'fresh') throw new FaultlineError('UNAUTHORIZED', { message: 'Token expired' });
        return { token };
      },
      handlers: { ping: () => 'pong' },
    });
    const { client, observer, states } = makeClient(s.url, transports, {
      token: ({ refresh }) => {
        tokens.push({ refresh });
        return refresh ? 'fresh' : 'stale';
      },
    });
    const queued = client.request('ping');
    await untilState(client, 'open');
    expect(await queued).toBe('pong');
    expect(tokens).toEqual([{ refresh: false }, { refresh: true }]);
    expect(observer.successes.some((e) => e.location === 'Auth#Refresh')).toBe(true);
    expect(states.some((c) => c.current === 'reconnecting' && c.reason?.name === 'UNAUTHORIZED')).toBe(true);
  });

  it('stops after a second UNAUTHORIZED in a row', async () => {
    let attempts = 0;
    const s = await startServer(transports, {
      authenticate: () => {
        attempts++;
        throw new FaultlineError('UNAUTHORIZED');
      },
    });
    let calls = 0;
    const { client, states } = makeClient(s.url, transports, {
      token: async () => {
        calls++;
        return `t${calls}`;
      },
    });
    await untilState(client, 'closed');
    await sleep(300);
    expect(attempts).toBe(2);
    expect(calls).toBe(2);
    expect(states.at(-1)).toMatchObject({ current: 'closed' });
    expect(states.at(-1)?.reason?.name).toBe('UNAUTHORIZED');
  });

  it('refreshes and reconnects when the server ends a session with UNAUTHORIZED', async () => {
    const s = await startServer(transports, {
      authenticate: (handshake) => ({ token: (handshake.auth as { token: string }).token }),
      handlers: { me: (_d: unknown, ctx: { auth: unknown }) => ctx.auth },
    });
    let n = 0;
    const { client } = makeClient(s.url, transports, { token: () => `t${++n}` });
    expect(await client.request('me')).toEqual({ token: 't1' });
    s.fl.fail(s.sockets[0] as never, new FaultlineError('UNAUTHORIZED', { message: 'Session expired' }));
    await waitFor(() => s.sockets.length === 2 && client.state === 'open', 5000, 'reconnected');
    expect(await client.request('me')).toEqual({ token: 't2' });
  });

  it('hides an unknown authenticate throw behind INTERNAL and logs it', async () => {
    const s = await startServer(transports, {
      authenticate: async () => {
        throw new Error('ldap password=hunter2');
      },
    });
    const raw = connectSocket(s.url, transports, { reconnection: false });
    const err = await withTimeout(
      new Promise<Error & { data?: unknown }>((resolve) => raw.once('connect_error', resolve)),
      3000,
      'connect_error',
    );
    expect(JSON.stringify({ message: err.message, data: err.data })).not.toContain('hunter2');
    expect(err.data).toMatchObject({ name: 'INTERNAL', recovery: 'retry' });
    expect(s.logger.errors.some((l) => JSON.stringify(l.obj).includes('hunter2'))).toBe(true);
  });
});
