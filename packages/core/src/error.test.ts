import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  bodyOf,
  classifyError,
  DEFAULT_DECODE_LIMITS,
  decodeFrame,
  defineCodes,
  type ErrorBody,
  encodeFrame,
  errorFrame,
  FaultlineError,
  isFaultlineError,
  toBoundedJson,
  toErrorBody,
} from './index.js';

const STACK_FRAME = /\n\s+at /;

describe('FaultlineError', () => {
  it('takes its classification from the registry', () => {
    const err = new FaultlineError('RATE_LIMITED', { retryAfterMs: 1500, details: { limit: 10 } });
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({
      name: 'RATE_LIMITED',
      code: 4005,
      message: 'Too many requests',
      category: 'application',
      recovery: 'retry',
      recoverable: true,
      retryAfterMs: 1500,
      details: { limit: 10 },
      requestId: undefined,
    });
    expect(new FaultlineError('NOT_FOUND', { message: 'Room not found' }).message).toBe('Room not found');
  });

  it('captures no stack by default and restores Error.stackTraceLimit', () => {
    const before = Error.stackTraceLimit;
    const err = new FaultlineError('NOT_FOUND');
    expect(err.stack ?? '').not.toMatch(STACK_FRAME);
    expect(Error.stackTraceLimit).toBe(before);
  });

  it('captures a stack when asked', () => {
    const err = new FaultlineError('NOT_FOUND', { captureStack: true });
    expect(err.stack).toMatch(STACK_FRAME);
    expect(err.stack).toContain('error.test.ts');
  });

  it('refuses an unknown name with a hint, and restores the stack limit', () => {
    const before = Error.stackTraceLimit;
    expect(() => new FaultlineError('ROOM_FULL')).toThrow(
      /Unknown Faultline code "ROOM_FULL": register it with defineCodes\(\)/,
    );
    expect(Error.stackTraceLimit).toBe(before);
    const registry = defineCodes({ ROOM_FULL: { code: 4100, message: 'Room is full', recovery: 'retry' } });
    expect(new FaultlineError('ROOM_FULL', { registry }).code).toBe(4100);
  });

  it('has a non-enumerable, read-only name', () => {
    const err = new FaultlineError('NOT_FOUND');
    expect(Object.keys(err)).not.toContain('name');
    expect(() => {
      (err as { name: string }).name = 'OTHER';
    }).toThrow(TypeError);
  });

  it('shows its name in the stack header, toString and inspect; the prototype reads Error', async () => {
    const { inspect } = await import('node:util');
    const err = new FaultlineError('NOT_FOUND', { message: 'Room not found', captureStack: true });
    expect(err.stack?.split('\n')[0]).toBe('NOT_FOUND: Room not found');
    expect(String(new FaultlineError('NOT_FOUND'))).toMatch(/^NOT_FOUND: /);
    expect(inspect(new FaultlineError('NOT_FOUND', { message: 'Room not found' }))).toMatch(
      /^\[NOT_FOUND: Room not found\]/,
    );
    expect((FaultlineError.prototype as { name: string }).name).toBe('Error');
    expect(Object.keys(JSON.parse(JSON.stringify(new FaultlineError('NOT_FOUND'))))).toContain('name');
  });

  it('rehydrates with the same own keys as the constructor builds', () => {
    const built = new FaultlineError('NOT_FOUND', { message: 'Room not found' });
    expect(Object.keys(FaultlineError.fromBody(toErrorBody(built)))).toEqual(Object.keys(built));
  });

  describe('is', () => {
    it('recognises its own errors, by name when asked', () => {
      const err = new FaultlineError('FORBIDDEN');
      expect(FaultlineError.is(err)).toBe(true);
      expect(FaultlineError.is(err, 'FORBIDDEN')).toBe(true);
      expect(FaultlineError.is(err, 'NOT_FOUND')).toBe(false);
      for (const other of [new Error('x'), { code: 4004, name: 'FORBIDDEN' }, null, undefined, 'FORBIDDEN', 4004]) {
        expect(FaultlineError.is(other)).toBe(false);
      }
    });

    it('recognises an error from a duplicate install by its brand, where instanceof fails', () => {
      // What a second copy of the package builds: another class, the same Symbol.for brand.
      class OtherCopyError extends Error {
        readonly code = 4001;
        readonly category = 'application';
        readonly recovery = 'none';
        readonly recoverable = false;
        readonly retryAfterMs = undefined;
        readonly executed = 'no';
        readonly details = { room: 'r1' };
        requestId = 'req-1';
        override readonly name = 'NOT_FOUND';
      }
      Object.defineProperty(OtherCopyError.prototype, Symbol.for('faultline.error'), { value: true });
      const foreign = new OtherCopyError('Room not found');
      expect(foreign instanceof FaultlineError).toBe(false);
      expect(FaultlineError.is(foreign)).toBe(true);
      expect(FaultlineError.is(foreign, 'NOT_FOUND')).toBe(true);
      expect(isFaultlineError(foreign, 'NOT_FOUND', 'FORBIDDEN')).toBe(true);
      expect(FaultlineError.from(foreign)).toBe(foreign);
      expect(toErrorBody(foreign)).toEqual({
        code: 4001,
        name: 'NOT_FOUND',
        message: 'Room not found',
        category: 'application',
        recoverable: false,
        recovery: 'none',
        executed: 'no',
        details: { room: 'r1' },
      });
      expect(classifyError(foreign as unknown as FaultlineError).recovery).toBe('none');
    });

    it('is false, not a throw, for a proxy whose traps throw', () => {
      const hostile = new Proxy(
        {},
        {
          get() {
            throw new Error('trap');
          },
        },
      );
      expect(FaultlineError.is(hostile)).toBe(false);
      expect(toErrorBody(hostile).name).toBe('INTERNAL');
    });

    it('narrows types', () => {
      const value: unknown = new FaultlineError('TIMEOUT');
      if (isFaultlineError(value, 'TIMEOUT', 'BAD_CONNECTION')) {
        expectTypeOf(value.name).toEqualTypeOf<'TIMEOUT' | 'BAD_CONNECTION'>();
      } else {
        expect.unreachable();
      }
      expect(isFaultlineError(value)).toBe(true);
      expect(isFaultlineError(value, 'NOT_FOUND')).toBe(false);
    });
  });

  describe('from', () => {
    it('turns an unknown throw into INTERNAL with a generic message, keeping it as cause', () => {
      const original = new Error('connect ECONNREFUSED 10.0.0.5:5432 password=hunter2');
      const err = FaultlineError.from(original);
      expect(err.name).toBe('INTERNAL');
      expect(err.code).toBe(5000);
      expect(err.message).toBe('Internal server error');
      expect(err.cause).toBe(original);
      expect(err.executed).toBe('maybe');
      expect(err.recoverable).toBe(true);
    });

    it('handles values that are not errors', () => {
      for (const thrown of ['oops', 42, null, undefined, { message: 'secret' }, Symbol('s')]) {
        const err = FaultlineError.from(thrown);
        expect(err.name).toBe('INTERNAL');
        expect(err.message).toBe('Internal server error');
      }
      expect(FaultlineError.from(undefined).cause).toBeUndefined();
    });

    it('returns a Faultline error unchanged', () => {
      const err = new FaultlineError('FORBIDDEN');
      expect(FaultlineError.from(err)).toBe(err);
    });
  });

  describe('fromBody', () => {
    it('rehydrates an unknown code with the sender classification', () => {
      const body: ErrorBody = {
        code: 4777,
        name: 'ROOM_GONE',
        message: 'Room was archived',
        category: 'application',
        recoverable: true,
        recovery: 'reconnect',
        retry_after_ms: 250,
        executed: 'no',
        details: { room: 'r9' },
        cause: {
          code: 5000,
          name: 'INTERNAL',
          message: 'Internal server error',
          category: 'application',
          recoverable: true,
          recovery: 'retry',
        },
      };
      const err = FaultlineError.fromBody(body, { requestId: 'r-1' });
      expect(FaultlineError.is(err, 'ROOM_GONE')).toBe(true);
      expect(err).toMatchObject({
        code: 4777,
        message: 'Room was archived',
        category: 'application',
        recovery: 'reconnect',
        recoverable: true,
        retryAfterMs: 250,
        executed: 'no',
        details: { room: 'r9' },
        requestId: 'r-1',
      });
      expect(err.stack ?? '').not.toMatch(STACK_FRAME);
      expect(FaultlineError.is(err.cause, 'INTERNAL')).toBe(true);
      expect(classifyError(err)).toEqual({
        code: 4777,
        name: 'ROOM_GONE',
        recoverable: true,
        recovery: 'reconnect',
        retryAfterMs: 250,
      });
      // And back to the same body.
      expect(toErrorBody(err)).toEqual(body);
    });

    it('treats recovery none as fatal', () => {
      const err = FaultlineError.fromBody(bodyOf('FORBIDDEN'));
      expect(err.recoverable).toBe(false);
      expect(err.requestId).toBeUndefined();
    });
  });
});

describe('toErrorBody', () => {
  it('builds the wire body of a registered error', () => {
    const err = new FaultlineError('NOT_FOUND', { message: 'Room not found', details: { room: 'r1' } });
    const body = toErrorBody(err);
    expect(body).toEqual({
      code: 4001,
      name: 'NOT_FOUND',
      message: 'Room not found',
      category: 'application',
      recoverable: false,
      recovery: 'none',
      details: { room: 'r1' },
    });
    expect(err.toBody()).toEqual(body);
    expect(JSON.parse(JSON.stringify(err))).toEqual(body);
  });

  it('never carries a stack, the original message or non-allow-listed properties', () => {
    const original = Object.assign(new Error('SELECT * FROM users WHERE pw = $1'), {
      sql: 'SELECT secret',
      config: { headers: { authorization: 'Bearer xyz' } },
    });
    const stacked = new FaultlineError('INVALID_ACTION', { captureStack: true, cause: original });
    for (const thrown of [original, stacked, FaultlineError.from(original)]) {
      const text = JSON.stringify(toErrorBody(thrown));
      for (const secret of ['SELECT', 'Bearer', 'stack', 'sql', 'authorization', 'error.test.ts', '    at ']) {
        expect(text, secret).not.toContain(secret);
      }
    }
    expect(toErrorBody(original)).toEqual({
      code: 5000,
      name: 'INTERNAL',
      message: 'Internal server error',
      category: 'application',
      recoverable: true,
      recovery: 'retry',
      executed: 'maybe',
    });
  });

  it('nests Faultline causes, depth-capped, even when they form a cycle', () => {
    const a = new FaultlineError('UNAVAILABLE');
    const b = new FaultlineError('TIMEOUT', { cause: a });
    (a as { cause?: unknown }).cause = b;
    const body = toErrorBody(b);
    let depth = 0;
    for (let c: ErrorBody | undefined = body; c; c = c.cause) depth++;
    expect(depth).toBe(4);
    let shallow = 0;
    for (let c: ErrorBody | undefined = toErrorBody(b, { maxCauseDepth: 1 }); c; c = c.cause) shallow++;
    expect(shallow).toBe(2);
  });

  it('paces with a non-negative integer retry_after_ms', () => {
    expect(toErrorBody(new FaultlineError('RATE_LIMITED', { retryAfterMs: 1200.2 })).retry_after_ms).toBe(1201);
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(toErrorBody(new FaultlineError('RATE_LIMITED', { retryAfterMs: bad }))).not.toHaveProperty(
        'retry_after_ms',
      );
    }
  });

  describe('details', () => {
    const detailsOf = (details: Record<string, unknown>) =>
      toErrorBody(new FaultlineError('BAD_REQUEST', { details })).details;

    it('cuts cycles', () => {
      const d: Record<string, unknown> = { a: 1 };
      d.self = d;
      d.list = [d, { back: d }];
      expect(detailsOf(d)).toEqual({ a: 1, self: '[Circular]', list: ['[Circular]', { back: '[Circular]' }] });
    });

    it('copies a shared, non-circular value each time it appears, also after an unreadable one', () => {
      const shared = { v: 1 };
      const boom = {
        get bad() {
          throw new Error('getter');
        },
      };
      const d: Record<string, unknown> = { x: shared, y: [shared, shared], boom, z: shared };
      d.again = { back: d, shared };
      expect(detailsOf(d)).toEqual({
        x: { v: 1 },
        y: [{ v: 1 }, { v: 1 }],
        boom: '[Unreadable]',
        z: { v: 1 },
        again: { back: '[Circular]', shared: { v: 1 } },
      });
    });

    it('bounds strings, keys, depth and node count', () => {
      const deep: Record<string, unknown> = {};
      let cur = deep;
      for (let i = 0; i < 50; i++) {
        cur.next = {};
        cur = cur.next as Record<string, unknown>;
      }
      const wide = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, i]));
      const d = detailsOf({ long: 'x'.repeat(100_000), deep, wide, big: Array.from({ length: 100_000 }, (_, i) => i) });
      expect(d?.long).toBe(`${'x'.repeat(1024)}…`);
      expect(Object.keys(d?.wide as object)).toHaveLength(64);
      expect(d?.big as unknown[]).toHaveLength(64);
      expect(JSON.stringify(d?.deep)).toContain('[Truncated]');
      expect(JSON.stringify(d?.deep).match(/next/g)).toHaveLength(5);
    });

    it('keeps a frame with maximal details and causes under the decoder cap', () => {
      // Non-ASCII and control characters are the worst case for UTF-8 and JSON escapes.
      const hostile = () =>
        Object.fromEntries(
          Array.from({ length: 64 }, (_, i) => [`k${i}${'\u0001'.repeat(900)}`, '€\u0000'.repeat(600)]),
        );
      let err: FaultlineError = new FaultlineError('INTERNAL', { details: hostile() });
      for (let i = 0; i < 5; i++) err = new FaultlineError('UNAVAILABLE', { details: hostile(), cause: err });
      const text = encodeFrame(errorFrame(toErrorBody(err), 'req-1'));
      expect(Buffer.byteLength(text)).toBeLessThan(DEFAULT_DECODE_LIMITS.maxBytes);
      expect(decodeFrame(text).ok).toBe(true);
    });

    it('cuts huge keys', () => {
      const d = detailsOf({ ['k'.repeat(1_000_000)]: 1, ok: true });
      expect(d).toEqual({ ok: true });
    });

    it('survives getters that throw', () => {
      const boom = {
        get value() {
          throw new Error('getter');
        },
      };
      expect(detailsOf({ nested: boom, ok: 1 })).toEqual({ nested: '[Unreadable]', ok: 1 });
      expect(() => detailsOf(boom)).not.toThrow();
      const { proxy, revoke } = Proxy.revocable({}, {});
      revoke();
      expect(() => detailsOf({ proxy })).not.toThrow();
    });

    it('drops __proto__, constructor and prototype keys without touching Object.prototype', () => {
      const parsed = JSON.parse(
        '{"__proto__": {"polluted": true}, "constructor": {"prototype": 1}, "ok": {"__proto__": 1, "v": 2}}',
      );
      const d = detailsOf(parsed);
      expect(d).toEqual({ ok: { v: 2 } });
      expect(Object.keys(d ?? {})).toEqual(['ok']);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });

    it('maps values with no JSON form', () => {
      expect(
        detailsOf({
          n: Number.NaN,
          inf: Number.POSITIVE_INFINITY,
          big: 10n,
          date: new Date(0),
          bad: new Date(Number.NaN),
          fn: () => 1,
          sym: Symbol('s'),
          undef: undefined,
          arr: [undefined, () => 1],
        }),
      ).toEqual({ n: null, inf: null, big: '10', date: '1970-01-01T00:00:00.000Z', bad: null, arr: [null, null] });
      expect(toBoundedJson(() => 1)).toBeUndefined();
    });
  });
});

describe('bodyOf', () => {
  it('builds a body without an error object', () => {
    expect(bodyOf('RATE_LIMITED', { retry_after_ms: 99.5, executed: 'no', details: { n: 1 } })).toEqual({
      code: 4005,
      name: 'RATE_LIMITED',
      message: 'Too many requests',
      category: 'application',
      recoverable: true,
      recovery: 'retry',
      retry_after_ms: 100,
      executed: 'no',
      details: { n: 1 },
    });
    expect(bodyOf('NOT_FOUND', { retry_after_ms: -5 }).retry_after_ms).toBe(0);
    expect(() => bodyOf('NOPE' as 'NOT_FOUND')).toThrow(RangeError);
  });
});
