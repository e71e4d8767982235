import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  APPLICATION_CODE_RANGES,
  type BuiltinName,
  builtinCodes,
  type CodeEntry,
  codes,
  defineCodes,
  FaultlineError,
  type NameOf,
  RegistryDefinitionError,
} from './index.js';

describe('built-in codes', () => {
  it('keeps the numbers, names and classification of the design table', () => {
    const table: [BuiltinName, number, string, number][] = [
      ['BAD_REQUEST', 4000, 'none', 400],
      ['NOT_FOUND', 4001, 'none', 404],
      ['INVALID_ACTION', 4002, 'none', 409],
      ['UNAUTHORIZED', 4003, 'reauthenticate', 401],
      ['FORBIDDEN', 4004, 'none', 403],
      ['RATE_LIMITED', 4005, 'retry', 429],
      ['INTERNAL', 5000, 'retry', 500],
      ['SHUTTING_DOWN', 5002, 'reconnect', 503],
      ['UNAVAILABLE', 5001, 'reconnect', 503],
      ['TIMEOUT', 5003, 'retry', 504],
      ['BAD_CONNECTION', 5004, 'reconnect', 502],
    ];
    for (const [name, code, recovery, http] of table) {
      const entry = codes.byName(name);
      expect(entry, name).toMatchObject({ name, code, recovery, http, recoverable: recovery !== 'none' });
      expect(codes.byCode(code)).toBe(entry);
    }
  });

  it('maps the close codes a connection ends with', () => {
    expect(codes.byName('UNAUTHORIZED').close).toBe(4003);
    expect(codes.byName('INTERNAL').close).toBe(1011);
    expect(codes.byName('NOT_FOUND').close).toBeNull();
  });

  it('lists every built-in once, in declaration order, frozen', () => {
    const entries = codes.entries();
    expect(entries.map((e) => e.name)).toEqual(Object.keys(builtinCodes));
    expect(new Set(entries.map((e) => e.code)).size).toBe(entries.length);
    expect(Object.isFrozen(entries)).toBe(true);
    expect(Object.isFrozen(entries[0])).toBe(true);
  });

  it('looks untrusted names up without reaching the prototype', () => {
    expect(codes.lookupName('NOT_FOUND')?.code).toBe(4001);
    expect(codes.lookupName('nope')).toBeUndefined();
    expect(codes.lookupName('__proto__')).toBeUndefined();
    expect(codes.lookupName('toString')).toBeUndefined();
    expect(codes.byCode(1234)).toBeUndefined();
    expect(() => codes.byName('NOPE' as BuiltinName)).toThrow(/Unknown Faultline code name "NOPE"/);
  });
});

describe('defineCodes', () => {
  const registry = defineCodes({
    ROOM_FULL: { code: 4100, message: 'Room is full', recovery: 'retry' },
    QUOTA_EXCEEDED: { code: 5100, message: 'Quota exceeded', category: 'application', http: 402 },
  });

  it('adds codes after the built-ins with defaults filled in', () => {
    expect(registry.byName('ROOM_FULL')).toEqual({
      name: 'ROOM_FULL',
      code: 4100,
      message: 'Room is full',
      category: 'application',
      recovery: 'retry',
      recoverable: true,
      http: 400,
      close: 4100,
    });
    expect(registry.byName('QUOTA_EXCEEDED')).toMatchObject({ http: 402, close: null, recoverable: false });
    expect(registry.byName('NOT_FOUND').code).toBe(4001);
    expect(registry.byCode(5100)?.name).toBe('QUOTA_EXCEEDED');
    expect(registry.entries()).toHaveLength(codes.entries().length + 2);
    // The built-in registry is not changed.
    expect(codes.lookupName('ROOM_FULL')).toBeUndefined();
  });

  it('infers the union of names', () => {
    type Names = NameOf<typeof registry>;
    expectTypeOf<Names>().toEqualTypeOf<BuiltinName | 'ROOM_FULL' | 'QUOTA_EXCEEDED'>();
    expectTypeOf(registry.byName('ROOM_FULL')).toEqualTypeOf<CodeEntry<'ROOM_FULL'>>();
    // @ts-expect-error: not a name of this registry
    expect(() => registry.byName('ROOM_EMPTY')).toThrow(RangeError);
    const err = new FaultlineError<Names>('ROOM_FULL', { registry });
    expectTypeOf(err.name).toEqualTypeOf<Names>();
    expect(err.code).toBe(4100);
  });

  it('extends an extended registry and keeps the union growing', () => {
    const more = registry.extend({ SEAT_TAKEN: { code: 4101, message: 'Seat taken' } });
    expectTypeOf<NameOf<typeof more>>().toEqualTypeOf<BuiltinName | 'ROOM_FULL' | 'QUOTA_EXCEEDED' | 'SEAT_TAKEN'>();
    expect(more.byName('SEAT_TAKEN').code).toBe(4101);
    expect(more.byName('ROOM_FULL').code).toBe(4100);
  });

  it('refuses a duplicate code, naming the holder', () => {
    expect(() => defineCodes({ MINE: { code: 4100, message: 'x' }, OTHER: { code: 4100, message: 'y' } })).toThrow(
      /code 4100 \(OTHER\) is already used by MINE/,
    );
    expect(() => registry.extend({ CLASH: { code: 4100, message: 'x' } })).toThrow(
      /code 4100 \(CLASH\) is already used by ROOM_FULL/,
    );
  });

  it('refuses a duplicate name, built-in or custom', () => {
    expect(() => defineCodes({ NOT_FOUND: { code: 4100, message: 'x' } })).toThrow(/NOT_FOUND is already defined/);
    expect(() => registry.extend({ ROOM_FULL: { code: 4102, message: 'x' } })).toThrow(RegistryDefinitionError);
  });

  it('refuses codes in reserved ranges', () => {
    for (const code of [0, 1000, 3999, 4000, 4006, 4099, 5000, 5099, 6000, -4100]) {
      expect(() => defineCodes({ MINE: { code, message: 'x' } }), String(code)).toThrow(
        new RegExp(`code ${code} is reserved; application codes must be within 4100-4999 or 5100-5999`),
      );
    }
    expect(APPLICATION_CODE_RANGES).toEqual([
      [4100, 4999],
      [5100, 5999],
    ]);
    expect(() =>
      defineCodes({ EDGE_LOW: { code: 4100, message: 'x' }, EDGE_HIGH: { code: 5999, message: 'y' } }),
    ).not.toThrow();
  });

  it('refuses bad names and bad specs with clear errors', () => {
    const bad = (name: string, spec: object, message: RegExp) =>
      expect(() => defineCodes({ [name]: { code: 4100, message: 'x', ...spec } }), name).toThrow(message);
    const names = /names are UPPER_SNAKE_CASE, at most 64 characters/;
    bad('room_full', {}, names);
    bad('1ROOM', {}, names);
    bad('ROOM-FULL', {}, names);
    bad('', {}, names);
    bad('__proto__', {}, names);
    bad(`A${'B'.repeat(64)}`, {}, names);
    bad('ROOM', { code: 4100.5 }, /code must be an integer/);
    bad('ROOM', { code: Number.NaN }, /code must be an integer/);
    bad('ROOM', { message: '' }, /a default message is required/);
    bad('ROOM', { category: 'network' }, /unknown category network/);
    bad('ROOM', { recovery: 'later' }, /unknown recovery later/);
    bad('ROOM', { http: 200 }, /http must be an error status/);
    bad('ROOM', { close: 999 }, /close must be a WebSocket close code or null/);
    bad('ROOM', { close: 2000 }, /close must be a WebSocket close code or null/);
    bad('ROOM', { close: 1006 }, /close code 1006 may not be sent/);
    bad('ROOM', { close: 1005 }, /close code 1005 may not be sent/);
    expect(() => defineCodes({ ROOM: { code: 4100, message: 'x', close: 3000 } })).not.toThrow();
    expect(() => defineCodes({ ROOM: { code: 4100, message: 'x', close: null } })).not.toThrow();
  });

  it('throws RegistryDefinitionError, an Error with its own name', () => {
    try {
      defineCodes({ bad: { code: 4100, message: 'x' } });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(RegistryDefinitionError);
      expect(e).toBeInstanceOf(Error);
      expect((e as Error).name).toBe('RegistryDefinitionError');
      expect((e as Error).message).toContain('Faultline code "bad"');
    }
  });
});
