import type { FaultlineError } from '@faultline/core';
import { describe, expect, it } from 'vitest';
import { faultlineClient, rawClient, req, settle, startServer, waitFor } from './helpers.js';

const handlers = {
  echo: (data: unknown) => data,
};

/** The connection still serves requests. */
async function stillServes(raw: Awaited<ReturnType<typeof rawClient>>, id: string): Promise<void> {
  raw.send(req('echo', { alive: true }, id));
  const f = await raw.next((x) => x.meta?.request_id === id);
  expect(f).toMatchObject({ type: 'response', data: { alive: true } });
  expect(raw.ws.readyState).toBe(raw.ws.OPEN);
}

describe('bad input', () => {
  it('answers malformed JSON, unknown types and wrong field types with BAD_REQUEST and keeps the connection', async () => {
    const { url } = await startServer({ handlers });
    const raw = await rawClient(url);

    raw.send('{"type":"request", "event": "echo", ');
    let f = await raw.next();
    expect(f).toMatchObject({
      type: 'error',
      data: { code: 4000, name: 'BAD_REQUEST', executed: 'no', details: { reason: 'malformed_json' } },
    });
    expect(f.meta?.request_id).toBeUndefined();

    raw.send({ type: 'teleport', meta: { request_id: 'u-1' } });
    f = await raw.next((x) => x.meta?.request_id === 'u-1');
    expect(f.data).toMatchObject({ name: 'BAD_REQUEST', details: { reason: 'unknown_type', field: 'type' } });

    // Wrong field types: the request id is echoed whenever it could be read.
    const wrong: [unknown, string, string | undefined][] = [
      [{ type: 'request', event: 42, meta: { request_id: 'w-1' } }, 'event', 'w-1'],
      [{ type: 'request', event: '', meta: { request_id: 'w-2' } }, 'event', 'w-2'],
      [{ type: 'request', event: 'echo', meta: { request_id: 7 } }, 'meta.request_id', undefined],
      [{ type: 'request', event: 'echo', meta: 'nope' }, 'meta', undefined],
      [
        { type: 'request', event: 'echo', meta: { request_id: 'w-5', idempotency_key: 5 } },
        'meta.idempotency_key',
        'w-5',
      ],
      [{ type: 'request', event: 'echo', meta: { request_id: 'w-6', timeout_ms: -1 } }, 'meta.timeout_ms', 'w-6'],
      [{ type: 7 }, 'type', undefined],
      [[1, 2, 3], 'frame', undefined],
      ['"just a string"', 'frame', undefined],
    ];
    for (const [frame, field, id] of wrong) {
      const before = raw.frames.length;
      raw.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
      await waitFor(() => raw.frames.length > before, 2000, `answer to ${JSON.stringify(frame)}`);
      const answer = raw.frames[before];
      expect(answer?.type).toBe('error');
      expect(answer?.data).toMatchObject({ code: 4000, name: 'BAD_REQUEST', details: { field } });
      expect(answer?.meta?.request_id).toBe(id);
    }
    await stillServes(raw, 'alive-1');
  });

  it('the client refuses an event name it cannot send with the body the server would answer', async () => {
    const { url } = await startServer({ handlers });
    const long = 'e'.repeat(129);
    const raw = await rawClient(url);
    raw.send(req(long, null, 'long-1'));
    const server = (await raw.next((f) => f.meta?.request_id === 'long-1')).data;
    const { client } = faultlineClient({ url });
    for (const event of [long, '', 42 as unknown as string]) {
      const r = await settle(client.request(event, null));
      expect(r.ok).toBe(false);
      expect((r as { error: FaultlineError }).error.toBody()).toEqual(server);
    }
    expect(server).toMatchObject({
      name: 'BAD_REQUEST',
      executed: 'no',
      details: { reason: 'invalid_field', field: 'event' },
    });
  });

  it('answers an unknown event with NOT_FOUND and the request id', async () => {
    const { url } = await startServer({ handlers });
    const raw = await rawClient(url);
    raw.send(req('does-not-exist', {}, 'n-1'));
    const f = await raw.next((x) => x.meta?.request_id === 'n-1');
    expect(f).toMatchObject({
      type: 'error',
      data: { code: 4001, name: 'NOT_FOUND', executed: 'no', details: { event: 'does-not-exist' } },
    });
    await stillServes(raw, 'alive-2');
  });

  it('refuses __proto__ and other hostile keys without polluting anything', async () => {
    let called = 0;
    const { url } = await startServer({
      handlers: {
        ...handlers,
        merge: (data) => {
          called++;
          return Object.assign({}, data as object);
        },
      },
    });
    const raw = await rawClient(url);
    raw.send('{"type":"request","event":"merge","data":{"__proto__":{"polluted":true}},"meta":{"request_id":"h-1"}}');
    raw.send(
      '{"type":"request","event":"merge","data":{"a":{"b":{"constructor":{"prototype":{"polluted":true}}}}},"meta":{"request_id":"h-2"}}',
    );
    raw.send('{"__proto__":{"polluted":true},"type":"request","event":"merge","meta":{"request_id":"h-3"}}');
    for (const id of ['h-1', 'h-2', 'h-3']) {
      const f = await raw.next((x) => x.meta?.request_id === id);
      expect(f).toMatchObject({ type: 'error', data: { name: 'BAD_REQUEST', details: { reason: 'forbidden_key' } } });
    }
    expect(called).toBe(0);
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
    await stillServes(raw, 'alive-3');
  });

  it('refuses binary frames with BAD_REQUEST, reading the request id when it can', async () => {
    const { url } = await startServer({ handlers });
    const raw = await rawClient(url);
    raw.ws.send(Buffer.from(JSON.stringify(req('echo', 1, 'b-1'))), { binary: true });
    let f = await raw.next((x) => x.meta?.request_id === 'b-1');
    expect(f).toMatchObject({ type: 'error', data: { name: 'BAD_REQUEST', details: { reason: 'binary' } } });
    raw.ws.send(Buffer.from([0xff, 0x00, 0x13, 0x37]), { binary: true });
    f = await raw.next((x) => x.type === 'error' && x.meta?.request_id === undefined);
    expect(f.data.details.reason).toBe('binary');
    await stillServes(raw, 'alive-4');
  });

  it('answers a frame above maxFrameBytes with PAYLOAD_TOO_LARGE and keeps the connection', async () => {
    const { url } = await startServer({ handlers, maxFrameBytes: 1024 }, { maxPayload: 64 * 1024 });
    const raw = await rawClient(url);
    raw.send(req('echo', 'x'.repeat(4000), 'big-1'));
    const f = await raw.next((x) => x.meta?.request_id === 'big-1');
    expect(f).toMatchObject({
      type: 'error',
      data: {
        code: 4006,
        name: 'PAYLOAD_TOO_LARGE',
        executed: 'no',
        details: { reason: 'too_large', max_bytes: 1024 },
      },
    });
    await stillServes(raw, 'alive-5');

    // The Faultline client gets its request rejected at once, not at its timeout.
    const { client } = faultlineClient({ url, timeoutMs: 4000 });
    const started = Date.now();
    const r = await settle(client.request('echo', 'y'.repeat(4000)));
    expect((r as { error: FaultlineError }).error.name).toBe('PAYLOAD_TOO_LARGE');
    expect(Date.now() - started).toBeLessThan(2000);
    await expect(client.request('echo', 'small')).resolves.toBe('small');
    expect(client.state).toBe('open');
  });

  it('lets ws close a frame above maxPayload with 1009, which the client classifies', async () => {
    const { url } = await startServer({ handlers, maxFrameBytes: 1024 }, { maxPayload: 8 * 1024 });
    const raw = await rawClient(url);
    raw.send(req('echo', 'x'.repeat(16 * 1024), 'huge-1'));
    const closed = await raw.closed;
    expect(closed.code).toBe(1009);

    const t = faultlineClient({ url, timeoutMs: 4000 });
    await t.reached('open');
    const r = await settle(t.client.request('echo', 'z'.repeat(16 * 1024)));
    expect((r as { error: FaultlineError }).error.name).toBe('BAD_CONNECTION');
    const change = await t.reached('closed');
    expect(change.reason?.name).toBe('PAYLOAD_TOO_LARGE');
    expect(change.reason?.code).toBe(4006);
    expect(change.previous).toBe('open');
  });

  it('closes with 4000 after repeated abuse', async () => {
    const { url, server } = await startServer({ handlers, maxBadFrames: 5 });
    const raw = await rawClient(url);
    for (let i = 0; i < 10; i++) raw.send(`garbage ${i}`);
    const closed = await raw.closed;
    expect(closed).toEqual({ code: 4000, reason: 'BAD_REQUEST' });
    // Five answered, then the error frame that announces the close.
    const errors = raw.frames.filter((f) => f.type === 'error');
    expect(errors.length).toBe(6);
    expect(errors.at(-1)?.data).toMatchObject({ name: 'BAD_REQUEST', message: 'Too many bad frames' });
    await waitFor(() => server.connections.size === 0, 2000, 'connection dropped');
  });

  it('never crashes, whatever a client sends', async () => {
    const { url } = await startServer(
      { handlers, maxBadFrames: 1_000_000, rateLimit: false },
      { maxPayload: 128 * 1024 },
    );
    const raw = await rawClient(url);
    const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    const nasty: string[] = [
      '',
      'null',
      'true',
      '1e400',
      '{}',
      '{"type":null}',
      '{"type":"request"}',
      '{"type":"request","event":"echo","meta":{}}',
      '{"type":"response","meta":{"request_id":"nobody"}}',
      '{"type":"error","data":{"code":"x"},"meta":{}}',
      '{"type":"error","data":{"code":1,"name":"X","message":"m","category":"application","recoverable":true,"recovery":"retry"},"meta":{"request_id":"zz"}}',
      '{"type":"event","event":"echo","data":{"__proto__":1}}',
      `{"type":"request","event":"echo","data":${deep},"meta":{"request_id":"deep"}}`,
      `{"type":"request","event":"${'e'.repeat(10000)}","meta":{"request_id":"long"}}`,
      `{"type":"request","event":"echo","meta":{"request_id":"${'i'.repeat(1000)}"}}`,
      '{"type":"request","event":"echo","data":"\\ud800","meta":{"request_id":"lone"}}',
      '\u0000\u0001\u0002',
      '{"type":"request","event":"constructor","meta":{"request_id":"ctor"}}',
      '{"type":"request","event":"__proto__","meta":{"request_id":"proto"}}',
      '{"type":"request","event":"toString","meta":{"request_id":"tostring"}}',
      '{"type":"request","event":"$ping","meta":{"request_id":"ping"}}',
    ];
    let seed = 42;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const alphabet = '{}[]":,\\ntrufalse0123456789.-eE_proto';
    for (let i = 0; i < 200; i++) {
      let s = '';
      const n = Math.floor(rand() * 60);
      for (let j = 0; j < n; j++) s += alphabet[Math.floor(rand() * alphabet.length)];
      nasty.push(s);
    }
    for (const n of nasty) raw.send(n);
    await stillServes(raw, 'alive-6');
    for (const id of ['constructor', '__proto__', 'toString']) {
      const f = raw.frames.find(
        (x) => x.meta?.request_id === (id === 'constructor' ? 'ctor' : id === '__proto__' ? 'proto' : 'tostring'),
      );
      expect(f?.data?.name).toBe('NOT_FOUND');
    }
    expect(raw.frames.find((x) => x.meta?.request_id === 'deep')?.data).toMatchObject({
      name: 'BAD_REQUEST',
      details: { reason: 'too_deep' },
    });
    expect(raw.frames.find((x) => x.meta?.request_id === 'ping')?.type).toBe('response');
  });
});
