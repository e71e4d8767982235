import { describe, expect, it } from 'vitest';
import {
  bodyOf,
  checkEventName,
  checkRequestData,
  type DecodeResult,
  decodeFrame,
  encodeFrame,
  errorFrame,
  eventFrame,
  FaultlineError,
  type Frame,
  requestFrame,
  responseFrame,
  toErrorBody,
} from './index.js';

function rejected(result: DecodeResult) {
  if (result.ok) throw new Error(`expected a rejection, got ${JSON.stringify(result.frame)}`);
  return result;
}

function expectBadRequest(input: unknown, reason: string, field?: string) {
  const r = rejected(decodeFrame(input));
  expect(r.error.name).toBe('BAD_REQUEST');
  expect(r.error.code).toBe(4000);
  expect(r.error.executed).toBe('no');
  expect(r.error.details?.reason).toBe(reason);
  if (field !== undefined) expect(r.error.details?.field).toBe(field);
  return r;
}

describe('round trips', () => {
  const frames: Frame[] = [
    requestFrame('join', { room: 'r1', n: [1, 2.5, null, true] }, { request_id: 'abc-123' }),
    requestFrame('ping', undefined, { request_id: '1', idempotency_key: 'k-1', timeout_ms: 5000 }),
    responseFrame('abc-123', { ok: true }),
    responseFrame('abc-123', undefined),
    responseFrame('abc-123', null),
    eventFrame('typing', { user: 'ü', emoji: '😀' }),
    eventFrame('tick', undefined),
    errorFrame(
      toErrorBody(new FaultlineError('NOT_FOUND', { message: 'Room not found', details: { room: 'r1' } })),
      'abc-123',
    ),
    errorFrame(bodyOf('SHUTTING_DOWN', { retry_after_ms: 1500, executed: 'no' })),
    { type: 'event', v: 1, event: 'versioned' },
  ];

  it.each(frames.map((f) => [f.type, f]))('%s frame', (_type, frame) => {
    const text = encodeFrame(frame);
    const r = decodeFrame(text);
    expect(r).toEqual({ ok: true, frame });
    // A value a transport already parsed (Socket.IO) decodes the same way.
    expect(decodeFrame(JSON.parse(text))).toEqual({ ok: true, frame });
  });

  it('rehydrates an error frame into an equal body', () => {
    const err = new FaultlineError('RATE_LIMITED', { retryAfterMs: 250, details: { bucket: 'chat' } });
    const r = decodeFrame(encodeFrame(errorFrame(toErrorBody(err), 'q1')));
    if (!r.ok || r.frame.type !== 'error') throw new Error('expected an error frame');
    expect(r.frame.meta.request_id).toBe('q1');
    expect(r.frame.meta.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const back = FaultlineError.fromBody(r.frame.data, { requestId: r.frame.meta.request_id ?? 'none' });
    expect(back.toBody()).toEqual(err.toBody());
    expect(back.requestId).toBe('q1');
  });

  it('ignores unknown fields', () => {
    const r = decodeFrame('{"type":"event","event":"x","extra":{"a":[1]},"meta":7}');
    expect(r.ok).toBe(true);
  });
});

describe('bad input', () => {
  it('malformed JSON', () => {
    for (const text of ['', '{', '{"type":"event",}', 'undefined', "{'a':1}", '\u0000']) {
      const r = expectBadRequest(text, 'malformed_json');
      expect(r.error.message).toBe('Frame is not valid JSON');
      expect(r.requestId).toBeUndefined();
    }
  });

  it('not an object', () => {
    for (const value of ['1', '"x"', 'null', '[]', '[{"type":"event","event":"x"}]', 'true']) {
      expectBadRequest(value, 'invalid_field', 'frame');
    }
    expectBadRequest(undefined, 'invalid_field', 'frame');
    expectBadRequest(42, 'invalid_field', 'frame');
  });

  it('unknown or missing type', () => {
    const r = expectBadRequest('{"type":"subscribe","meta":{"request_id":"r7"}}', 'unknown_type', 'type');
    expect(r.error.message).toBe('Unknown frame type "subscribe"');
    expect(r.requestId).toBe('r7');
    expectBadRequest('{"event":"x"}', 'invalid_field', 'type');
    expectBadRequest('{"type":5}', 'invalid_field', 'type');
    const long = rejected(decodeFrame(JSON.stringify({ type: 'x'.repeat(10_000) })));
    expect(long.error.message.length).toBeLessThan(100);
  });

  it('wrong field types, recovering request_id when readable', () => {
    const cases: [object, string][] = [
      [{ type: 'request', event: 5, meta: { request_id: 'r1' } }, 'event'],
      [{ type: 'request', event: '', meta: { request_id: 'r1' } }, 'event'],
      [{ type: 'request', event: 'x'.repeat(129), meta: { request_id: 'r1' } }, 'event'],
      [{ type: 'request', event: 'join', meta: { request_id: 'r1', idempotency_key: '' } }, 'meta.idempotency_key'],
      [{ type: 'request', event: 'join', meta: { request_id: 'r1', timeout_ms: 0 } }, 'meta.timeout_ms'],
      [{ type: 'request', event: 'join', meta: { request_id: 'r1', timeout_ms: '5' } }, 'meta.timeout_ms'],
      [{ type: 'error', data: { ...bodyOf('NOT_FOUND'), code: '4001' }, meta: { request_id: 'r1' } }, 'data.code'],
      [{ type: 'error', data: { ...bodyOf('NOT_FOUND'), code: 4001.5 }, meta: { request_id: 'r1' } }, 'data.code'],
      [
        { type: 'error', data: { ...bodyOf('NOT_FOUND'), category: 'db' }, meta: { request_id: 'r1' } },
        'data.category',
      ],
      [
        { type: 'error', data: { ...bodyOf('NOT_FOUND'), recovery: 'later' }, meta: { request_id: 'r1' } },
        'data.recovery',
      ],
      [
        { type: 'error', data: { ...bodyOf('NOT_FOUND'), recoverable: 'no' }, meta: { request_id: 'r1' } },
        'data.recoverable',
      ],
      [
        { type: 'error', data: { ...bodyOf('NOT_FOUND'), retry_after_ms: -1 }, meta: { request_id: 'r1' } },
        'data.retry_after_ms',
      ],
      [
        { type: 'error', data: { ...bodyOf('NOT_FOUND'), executed: 'perhaps' }, meta: { request_id: 'r1' } },
        'data.executed',
      ],
      [{ type: 'error', data: { ...bodyOf('NOT_FOUND'), details: [1] }, meta: { request_id: 'r1' } }, 'data.details'],
      [{ type: 'error', data: { ...bodyOf('NOT_FOUND'), cause: 'x' }, meta: { request_id: 'r1' } }, 'data.cause'],
      [{ type: 'error', data: { ...bodyOf('NOT_FOUND'), name: undefined }, meta: { request_id: 'r1' } }, 'data.name'],
      [{ type: 'error', data: bodyOf('NOT_FOUND'), meta: { request_id: 'r1', timestamp: 5 } }, 'meta.timestamp'],
    ];
    for (const [frame, field] of cases) {
      const r = expectBadRequest(JSON.stringify(frame), 'invalid_field', field);
      expect(r.requestId, field).toBe('r1');
      expect(r.error.message, field).toMatch(new RegExp(`^Field ${field.replace('.', '\\.')} must be `));
    }
  });

  it('missing or unreadable request ids', () => {
    for (const meta of [undefined, 'r1', { request_id: '' }, { request_id: 7 }, { request_id: 'x'.repeat(129) }]) {
      const r = rejected(decodeFrame(JSON.stringify({ type: 'response', data: 1, meta })));
      expect(r.error.details?.field).toMatch(/^meta/);
      expect(r.requestId).toBeUndefined();
    }
    expect(decodeFrame(JSON.stringify({ type: 'response', meta: { request_id: 'x'.repeat(128) } })).ok).toBe(true);
  });

  it('an error frame needs meta, so receivers can read meta.request_id', () => {
    expectBadRequest(JSON.stringify({ type: 'error', data: bodyOf('NOT_FOUND') }), 'invalid_field', 'meta');
    expect(decodeFrame(JSON.stringify({ type: 'error', data: bodyOf('NOT_FOUND'), meta: {} })).ok).toBe(true);
  });

  it('oversized frames', () => {
    const text = JSON.stringify({ type: 'event', event: 'x', data: 'a'.repeat(70_000) });
    const r = rejected(decodeFrame(text));
    expect(r.error).toMatchObject({ name: 'PAYLOAD_TOO_LARGE', code: 4006, details: { reason: 'too_large' } });
    // Bytes, not characters: 30,000 three-byte characters are 90 kB.
    expect(
      rejected(decodeFrame(JSON.stringify({ type: 'event', event: 'x', data: '€'.repeat(30_000) }))).error.name,
    ).toBe('PAYLOAD_TOO_LARGE');
    expect(decodeFrame(JSON.stringify({ type: 'event', event: 'x', data: 'a'.repeat(60_000) })).ok).toBe(true);
    const small = { maxBytes: 100, maxDepth: 32, maxCauseDepth: 4 };
    expect(
      rejected(decodeFrame(JSON.stringify({ type: 'event', event: 'x', data: 'a'.repeat(100) }), small)).error.name,
    ).toBe('PAYLOAD_TOO_LARGE');
  });

  it('frames nested too deep', () => {
    const nest = (n: number): unknown => (n === 0 ? 1 : [nest(n - 1)]);
    expectBadRequest(JSON.stringify({ type: 'event', event: 'x', data: nest(40) }), 'too_deep');
    expect(decodeFrame(JSON.stringify({ type: 'event', event: 'x', data: nest(20) })).ok).toBe(true);
    // Very deep input is refused without a stack overflow.
    const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    expectBadRequest(`{"type":"event","event":"x","data":${deep}}`, 'too_deep');
  });

  it('causes nested too deep', () => {
    let body = bodyOf('INTERNAL');
    for (let i = 0; i < 4; i++) body = { ...bodyOf('UNAVAILABLE'), cause: body };
    expect(decodeFrame(JSON.stringify(errorFrame(body))).ok).toBe(true);
    const r = expectBadRequest(JSON.stringify(errorFrame({ ...bodyOf('UNAVAILABLE'), cause: body })), 'too_deep');
    expect(r.error.details?.field).toBe('data.cause.cause.cause.cause.cause');
  });

  it('cyclic pre-parsed values are refused, not followed forever', () => {
    const data: Record<string, unknown> = {};
    data.self = data;
    expectBadRequest({ type: 'event', event: 'x', data }, 'too_deep');
  });

  it('pre-parsed values with throwing getters are refused, not thrown', () => {
    const frame = {
      type: 'event',
      event: 'x',
      get data() {
        throw new Error('getter');
      },
    };
    expectBadRequest(frame, 'invalid_field', 'frame');
  });

  it('hostile keys are refused and Object.prototype is not polluted', () => {
    const texts = [
      '{"type":"event","event":"x","data":{"__proto__":{"polluted":true}}}',
      '{"type":"event","event":"x","__proto__":{"polluted":true}}',
      '{"type":"request","event":"x","data":[{"a":{"constructor":{"prototype":{"polluted":true}}}}],"meta":{"request_id":"r9"}}',
      '{"type":"error","data":{"code":1,"name":"X","message":"m","category":"transport","recoverable":false,"recovery":"none","details":{"prototype":1}},"meta":{"request_id":"r9"}}',
      '{"type":"response","data":1,"meta":{"request_id":"r9","__proto__":{"polluted":true}}}',
    ];
    for (const text of texts) {
      const r = expectBadRequest(text, 'forbidden_key');
      expect(['__proto__', 'constructor', 'prototype']).toContain(r.error.details?.field);
      expect(r.error.message).toMatch(/^Key "(__proto__|constructor|prototype)" is not allowed$/);
      if (text.includes('r9')) expect(r.requestId).toBe('r9');
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
  });

  it('unsupported versions', () => {
    for (const v of [2, 0, '1', null]) {
      const r = expectBadRequest(JSON.stringify({ type: 'event', event: 'x', v }), 'unsupported_version', 'v');
      expect(r.error.message).toContain('is not supported (1 is)');
    }
    const r = rejected(decodeFrame(JSON.stringify({ type: 'request', v: 2, event: 'x', meta: { request_id: 'r2' } })));
    expect(r.requestId).toBe('r2');
  });
});

describe('checkRequestData: an HTTP body by the frame rules', () => {
  const nest = (n: number): unknown => {
    let v: unknown = 1;
    for (let i = 0; i < n; i++) v = { d: v };
    return v;
  };
  const inFrame = (data: unknown) =>
    decodeFrame(JSON.stringify({ type: 'request', event: 'e', data, meta: { request_id: 'r1' } }));

  it('gives the body the decoder gives the same data inside a request frame', () => {
    for (const data of [JSON.parse('{"a":[{"__proto__":1}]}'), { constructor: 1 }, nest(32), nest(40)]) {
      const framed = inFrame(data);
      expect(framed.ok).toBe(false);
      expect(checkRequestData(data)).toEqual((framed as Extract<DecodeResult, { ok: false }>).error);
    }
    expect(checkRequestData(nest(40))?.details).toEqual({ reason: 'too_deep' });
    expect(checkRequestData({ prototype: 1 })?.details).toEqual({ reason: 'forbidden_key', field: 'prototype' });
  });

  it('passes what a frame would carry, at the same depth boundary', () => {
    for (const data of [nest(31), null, 'x', [1, { a: [] }], undefined]) {
      expect(inFrame(data).ok).toBe(true);
      expect(checkRequestData(data)).toBeUndefined();
    }
    expect(checkRequestData(nest(30), { maxDepth: 8 })?.details).toEqual({ reason: 'too_deep' });
  });

  it('never throws on a hostile parsed value', () => {
    const hostile = new Proxy(
      {},
      {
        ownKeys() {
          throw new Error('trap');
        },
      },
    );
    expect(checkRequestData(hostile)?.details).toEqual({ reason: 'invalid_field', field: 'data' });
  });
});

describe('checkEventName', () => {
  it('passes what a request frame may carry and refuses the rest as the decoder does', () => {
    expect(checkEventName('join')).toBeUndefined();
    expect(checkEventName('e'.repeat(128))).toBeUndefined();
    const decoded = decodeFrame(JSON.stringify({ type: 'request', event: '', meta: { request_id: 'r1' } }));
    for (const bad of ['', 'e'.repeat(129), 7, null, undefined]) {
      expect(checkEventName(bad)).toEqual(rejected(decoded).error);
    }
  });
});
