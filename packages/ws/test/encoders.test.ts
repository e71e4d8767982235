/**
 * The direct encoders the ws hot paths use write the same frames as `encodeFrame` of the built
 * frame objects (same JSON value; key order may differ), and the decoder accepts them.
 */
import {
  bodyOf,
  decodeFrame,
  type ErrorBody,
  encodeErrorFrame,
  encodeFrame,
  encodeRequestFrame,
  encodeResponseFrame,
  errorFrame,
  FaultlineError,
  requestFrame,
  responseFrame,
  toErrorBody,
} from '@faultline/core';
import { describe, expect, it } from 'vitest';

const canon = (v: unknown): unknown =>
  v && typeof v === 'object' && !Array.isArray(v)
    ? Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, k === 'timestamp' ? 'T' : canon((v as Record<string, unknown>)[k])]),
      )
    : Array.isArray(v)
      ? v.map(canon)
      : v;
const same = (a: string, b: string) => expect(canon(JSON.parse(a))).toEqual(canon(JSON.parse(b)));

describe('direct encoders', () => {
  const nested = toErrorBody(
    new FaultlineError('NOT_FOUND', {
      message: 'Room "r1"\n\u2028 not found',
      details: { room: 'r1', list: [1, 'two', null], deep: { a: { b: 'c' } } },
      retryAfterMs: 1500,
      executed: 'yes',
      cause: new FaultlineError('INTERNAL', { cause: new FaultlineError('TIMEOUT') }),
    }),
  );
  const bodies: ErrorBody[] = [
    nested,
    bodyOf('BAD_REQUEST'),
    bodyOf('RATE_LIMITED', { retry_after_ms: 12, executed: 'no' }),
    { ...bodyOf('INTERNAL'), retry_after_ms: Number.POSITIVE_INFINITY },
    { ...bodyOf('INTERNAL'), code: 1.5 },
    { ...bodyOf('INTERNAL'), name: 'Ünïcödé 🚀' },
  ];

  it('error frames', () => {
    for (const body of bodies) {
      for (const id of [undefined, '1', 'a"b\\c', 'ü🚀']) {
        const fast = encodeErrorFrame(body, id);
        same(fast, encodeFrame(errorFrame(body, id)));
        if (Number.isInteger(body.code) && body.retry_after_ms !== Number.POSITIVE_INFINITY)
          expect(decodeFrame(fast).ok).toBe(true);
      }
    }
  });

  it('response and request frames', () => {
    const values = [undefined, null, 0, -0, 1e21, 'x"y', [1, [2]], { a: { b: [true, false] } }, { toJSON: () => 'j' }];
    for (const v of values) {
      same(encodeResponseFrame('r"1', v as never), encodeFrame(responseFrame('r"1', v as never)));
      for (const meta of [
        { request_id: '1' },
        { request_id: '2', idempotency_key: 'k"1' },
        { request_id: '3', idempotency_key: 'k', timeout_ms: 250 },
      ]) {
        const fast = encodeRequestFrame('ev"ent', v as never, meta);
        same(fast, encodeFrame(requestFrame('ev"ent', v as never, meta)));
        expect(decodeFrame(fast).ok).toBe(true);
      }
    }
    // What JSON cannot carry throws exactly as before.
    expect(() => encodeResponseFrame('1', { n: 1n } as never)).toThrow(TypeError);
  });
});
