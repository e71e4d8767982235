import type { IncomingMessage } from 'node:http';
import { FaultlineError } from '@faultline/core';
import { describe, expect, it } from 'vitest';
import { faultlineClient, rawClient, settle, sleep, startServer } from './helpers.js';

interface User {
  name: string;
  exp?: number;
}

function tokenOf(request: IncomingMessage): string | null {
  return new URL(request.url ?? '/', 'http://x').searchParams.get('access_token');
}

/** `fresh` is valid, `banned` is forbidden, `short` expires after 300 ms; anything else is refused. */
async function authenticate(request: IncomingMessage): Promise<User> {
  await sleep(5);
  const token = tokenOf(request);
  if (token === 'fresh') return { name: 'ada' };
  if (token === 'short') return { name: 'ada', exp: Date.now() + 300 };
  if (token === 'banned') throw new FaultlineError('FORBIDDEN', { message: 'Account suspended' });
  throw new FaultlineError('UNAUTHORIZED', { message: token ? 'Token expired' : 'Token missing' });
}

const handlers = { whoami: (_: unknown, ctx: { auth: User }) => ctx.auth.name };

describe('authentication', () => {
  it('tells a refused client with an error frame, then close 4003; FORBIDDEN closes 4004', async () => {
    const { url } = await startServer<User>({ authenticate, handlers: handlers as never });
    const raw = await rawClient(url);
    const first = await raw.next();
    expect(first).toMatchObject({
      type: 'error',
      data: { code: 4003, name: 'UNAUTHORIZED', message: 'Token missing', recovery: 'reauthenticate' },
    });
    expect(first.meta?.request_id).toBeUndefined();
    expect(await raw.closed).toEqual({ code: 4003, reason: 'UNAUTHORIZED' });

    const banned = await rawClient(`${url}/?access_token=banned`);
    expect(await banned.next()).toMatchObject({
      type: 'error',
      data: { code: 4004, name: 'FORBIDDEN', message: 'Account suspended', recovery: 'none' },
    });
    expect(await banned.closed).toEqual({ code: 4004, reason: 'FORBIDDEN' });

    // A crashing authenticate is INTERNAL (1011), its message kept off the wire.
    const crashing = await startServer<User>({
      authenticate: () => {
        throw new Error('ldap://secret-host unreachable');
      },
    });
    const c = await rawClient(crashing.url);
    const f = await c.next();
    expect(f.data).toMatchObject({ name: 'INTERNAL', message: 'Internal server error' });
    expect((await c.closed).code).toBe(1011);
    expect(c.texts.join()).not.toContain('secret-host');
    expect(crashing.route.failures.find((x) => x.location === 'Connect#Authenticate')?.cause).toMatchObject({
      message: 'ldap://secret-host unreachable',
    });
  });

  it('client refreshes its token once on 4003, then reconnects', async () => {
    const { url } = await startServer<User>({ authenticate, handlers: handlers as never });
    const calls: boolean[] = [];
    const t = faultlineClient({
      url,
      token: ({ refresh }) => {
        calls.push(refresh);
        return refresh ? 'fresh' : 'stale';
      },
      reconnect: { minMs: 10, baseMs: 20, maxMs: 50 },
    });
    await expect(t.client.request('whoami', null, { timeoutMs: 4000, retries: 0, idempotent: true })).resolves.toBe(
      'ada',
    );
    expect(calls).toEqual([false, true]);
    const reconnecting = t.states.find((s) => s.current === 'reconnecting');
    expect(reconnecting?.reason?.name).toBe('UNAUTHORIZED');
    expect(reconnecting?.nextRetryInMs).toBeGreaterThanOrEqual(10);
    expect(t.client.state).toBe('open');
    expect(t.successes.some((s) => s.location === 'Auth#Refresh')).toBe(true);
    expect(t.successes.some((s) => s.location === 'Reconnect#Attempt')).toBe(true);
    expect(t.errors.some((e) => e.name === 'UNAUTHORIZED')).toBe(true);
  });

  it('stops after a second 4003 in a row', async () => {
    const { url } = await startServer<User>({ authenticate });
    const calls: boolean[] = [];
    const t = faultlineClient({
      url,
      token: ({ refresh }) => {
        calls.push(refresh);
        return 'revoked';
      },
      reconnect: { minMs: 10, baseMs: 20, maxMs: 50 },
    });
    const closed = await t.reached('closed');
    expect(closed.reason?.name).toBe('UNAUTHORIZED');
    expect(calls).toEqual([false, true]);
    await sleep(200);
    expect(calls).toEqual([false, true]);
    expect(t.client.state).toBe('closed');
    await expect(t.client.request('whoami')).rejects.toMatchObject({ name: 'BAD_CONNECTION' });
  });

  it('stops on FORBIDDEN without a single reconnect attempt', async () => {
    let upgrades = 0;
    const { url } = await startServer<User>({
      authenticate: (r) => {
        upgrades++;
        return authenticate(r);
      },
    });
    const t = faultlineClient({ url, token: () => 'banned', reconnect: { minMs: 10, baseMs: 20, maxMs: 50 } });
    // Sent on open, before authentication refused the connection: it fails with the close.
    const pending = settle(t.client.request('whoami', null, { timeoutMs: 4000 }));
    const closed = await t.reached('closed');
    expect(closed.reason).toMatchObject({ name: 'FORBIDDEN', code: 4004, message: 'Account suspended' });
    const r = await pending;
    expect(r.ok).toBe(false);
    expect(FaultlineError.is((r as { error: unknown }).error)).toBe(true);
    expect((r as { error: FaultlineError }).error.message).toContain('FORBIDDEN');
    await sleep(200);
    expect(upgrades).toBe(1);
    expect(t.states.some((s) => s.current === 'reconnecting')).toBe(false);
    expect(t.successes.some((s) => s.location === 'Reconnect#Attempt')).toBe(false);
  });

  it('closes with 4003 when the credentials expire mid-connection; the client refreshes', async () => {
    const { url } = await startServer<User>({ authenticate, expiresAt: (u) => u.exp, handlers: handlers as never });
    // What a raw client sees: the error frame, then 4003.
    const raw = await rawClient(`${url}/?access_token=short`);
    const f = await raw.next(undefined, 3000);
    expect(f).toMatchObject({ type: 'error', data: { name: 'UNAUTHORIZED', message: 'Token expired' } });
    expect(await raw.closed).toEqual({ code: 4003, reason: 'UNAUTHORIZED' });

    const calls: boolean[] = [];
    const t = faultlineClient({
      url,
      token: ({ refresh }) => {
        calls.push(refresh);
        return refresh ? 'fresh' : 'short';
      },
      reconnect: { minMs: 10, baseMs: 20, maxMs: 50 },
    });
    await t.reached('open');
    await expect(t.client.request('whoami')).resolves.toBe('ada');
    const reconnecting = await t.reached('reconnecting', 3000);
    expect(reconnecting.previous).toBe('open');
    expect(reconnecting.reason?.name).toBe('UNAUTHORIZED');
    await expect(t.client.request('whoami', null, { timeoutMs: 3000 })).resolves.toBe('ada');
    expect(calls).toEqual([false, true]);
    expect(t.client.state).toBe('open');
  });

  it('answers frames beyond the pre-authentication buffer at once, the rest after authentication', async () => {
    const { url } = await startServer<User>({
      authenticate: async () => {
        await sleep(600);
        return { name: 'ada' };
      },
      maxPendingMessages: 2,
      handlers: handlers as never,
    });
    const raw = await rawClient(url);
    const sent = Date.now();
    for (let i = 1; i <= 4; i++) raw.send({ type: 'request', event: 'whoami', meta: { request_id: `q${i}` } });
    const over = await raw.next((f) => f.meta?.request_id === 'q3');
    expect(Date.now() - sent).toBeLessThan(450);
    expect(over.data).toMatchObject({ name: 'RATE_LIMITED', executed: 'no', retry_after_ms: 100 });
    expect((await raw.next((f) => f.meta?.request_id === 'q4')).data.name).toBe('RATE_LIMITED');
    expect(await raw.next((f) => f.meta?.request_id === 'q1')).toMatchObject({ type: 'response', data: 'ada' });
    expect(await raw.next((f) => f.meta?.request_id === 'q2')).toMatchObject({ type: 'response', data: 'ada' });
  });

  it('an expiresAt that throws refuses the connection (INTERNAL, 1011) and never crashes the process', async () => {
    const { url, route } = await startServer<User>({
      authenticate,
      expiresAt: () => {
        throw new Error('clock exploded');
      },
    });
    const raw = await rawClient(`${url}/?access_token=fresh`);
    expect((await raw.next()).data).toMatchObject({ name: 'INTERNAL', message: 'Internal server error' });
    expect((await raw.closed).code).toBe(1011);
    expect(raw.texts.join()).not.toContain('clock exploded');
    expect(route.failures.some((f) => (f.cause as Error | undefined)?.message === 'clock exploded')).toBe(true);
  });
});
