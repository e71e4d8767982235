import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { rawClient, req, startServer } from './helpers.js';

/** The user is the `user` query parameter: enough to tell two owners apart. */
const authenticate = (request: IncomingMessage) => ({
  user: new URL(request.url ?? '/', 'http://x').searchParams.get('user') ?? 'anonymous',
});

describe('idempotency keys', () => {
  it('run a handler once per owner, event and key', async () => {
    const runs: string[] = [];
    const { url } = await startServer<{ user: string }>({
      authenticate,
      idempotencyScope: (auth) => auth.user,
      handlers: {
        pay: (data, ctx) => {
          runs.push(`pay:${ctx.auth.user}`);
          return { paid: (data as { amount: number }).amount, by: ctx.auth.user };
        },
        refund: (_data, ctx) => {
          runs.push(`refund:${ctx.auth.user}`);
          return { refunded: true };
        },
      },
    });
    const ask = async (user: string, event: string, id: string) => {
      const raw = await rawClient(`${url}?user=${user}`);
      raw.send(req(event, { amount: 5 }, id, { idempotency_key: 'k-1' }));
      return (await raw.next((f) => f.meta?.request_id === id)).data;
    };

    // Alice, twice on two connections (a re-send after reconnect): one run, one outcome.
    expect(await ask('alice', 'pay', 'a1')).toEqual({ paid: 5, by: 'alice' });
    expect(await ask('alice', 'pay', 'a2')).toEqual({ paid: 5, by: 'alice' });
    // Bob with the same key is another owner: his own run, never Alice's answer.
    expect(await ask('bob', 'pay', 'b1')).toEqual({ paid: 5, by: 'bob' });
    // The same key for another event is another request.
    expect(await ask('alice', 'refund', 'a3')).toEqual({ refunded: true });
    expect(runs).toEqual(['pay:alice', 'pay:bob', 'refund:alice']);
  });

  it('without a scope still keep events apart', async () => {
    let runs = 0;
    const { url } = await startServer({
      handlers: { a: () => ++runs, b: () => ++runs },
    });
    const raw = await rawClient(url);
    for (const [event, id] of [
      ['a', '1'],
      ['a', '2'],
      ['b', '3'],
    ] as const) {
      raw.send(req(event, null, id, { idempotency_key: 'same' }));
    }
    const answers = await Promise.all(['1', '2', '3'].map((id) => raw.next((f) => f.meta?.request_id === id)));
    expect(answers.map((f) => f.data)).toEqual([1, 1, 2]);
  });
});
