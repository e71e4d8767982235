import { describe, expect, it } from 'vitest';
import {
  bodyOf,
  classifyClose,
  classifyError,
  closeCodeFor,
  closeError,
  closeReason,
  defineCodes,
  FaultlineError,
  MAX_CLOSE_REASON_BYTES,
} from './index.js';

describe('classifyError', () => {
  it('follows the body the sender wrote', () => {
    expect(classifyError(bodyOf('RATE_LIMITED', { retry_after_ms: 1500 }))).toEqual({
      code: 4005,
      name: 'RATE_LIMITED',
      recoverable: true,
      recovery: 'retry',
      retryAfterMs: 1500,
    });
    expect(classifyError(bodyOf('UNAUTHORIZED'))).toMatchObject({ recoverable: true, recovery: 'reauthenticate' });
    expect(classifyError(bodyOf('FORBIDDEN'))).toMatchObject({ recoverable: false, recovery: 'none' });
  });

  it('derives recoverable from recovery, so a contradictory body cannot loop', () => {
    const body = { ...bodyOf('FORBIDDEN'), recoverable: true };
    expect(classifyError(body).recoverable).toBe(false);
  });

  it('classifies an error object and an unknown code alike', () => {
    expect(classifyError(new FaultlineError('TIMEOUT'))).toMatchObject({
      code: 5003,
      recovery: 'retry',
      recoverable: true,
    });
    const unknown = {
      code: 4888,
      name: 'SEAT_TAKEN',
      message: 'x',
      category: 'application' as const,
      recoverable: false,
      recovery: 'none' as const,
    };
    expect(classifyError(unknown)).toMatchObject({ code: 4888, name: 'SEAT_TAKEN', recoverable: false });
    expect(classifyError(FaultlineError.fromBody(unknown))).toMatchObject({ code: 4888, recoverable: false });
  });
});

describe('classifyClose', () => {
  it.each([1000, 1001, 1005, 1006, 1011, 1012, 1013, 1014])('close %i is retryable (reconnect)', (code) => {
    const c = classifyClose(code);
    expect(c.recoverable).toBe(true);
    expect(c.recovery).toBe('reconnect');
  });

  it('names the retryable closes', () => {
    expect(classifyClose(1006).name).toBe('BAD_CONNECTION');
    expect(classifyClose(1011).name).toBe('INTERNAL');
    expect(classifyClose(1012).name).toBe('SHUTTING_DOWN');
    expect(classifyClose(1013).name).toBe('UNAVAILABLE');
  });

  it.each([1002, 1003, 1007, 1008, 1010, 1015, 1999, 2500])('close %i is fatal', (code) => {
    const c = classifyClose(code);
    expect(c).toMatchObject({ recoverable: false, recovery: 'none' });
  });

  it('maps 1009 to PAYLOAD_TOO_LARGE, fatal', () => {
    expect(classifyClose(1009)).toMatchObject({ name: 'PAYLOAD_TOO_LARGE', code: 4006, recoverable: false });
  });

  it('maps 4003 to reauthenticate and 4004 to fatal', () => {
    expect(classifyClose(4003)).toEqual({
      code: 4003,
      name: 'UNAUTHORIZED',
      recoverable: true,
      recovery: 'reauthenticate',
      retryAfterMs: undefined,
    });
    expect(classifyClose(4004)).toMatchObject({ name: 'FORBIDDEN', recoverable: false, recovery: 'none' });
    expect(classifyClose(4000)).toMatchObject({ name: 'BAD_REQUEST', recoverable: false });
  });

  it('turns a retryable code that ends the connection into reconnect', () => {
    expect(classifyClose(4005, 'RATE_LIMITED:2000')).toEqual({
      code: 4005,
      name: 'RATE_LIMITED',
      recoverable: true,
      recovery: 'reconnect',
      retryAfterMs: 2000,
    });
  });

  it('keeps the raw code of an unknown 4xxx and 3xxx close, reconnecting', () => {
    expect(classifyClose(4321)).toEqual({
      code: 4321,
      name: 'UNKNOWN',
      recoverable: true,
      recovery: 'reconnect',
      retryAfterMs: undefined,
    });
    expect(classifyClose(3000)).toMatchObject({ code: 3000, name: 'UNKNOWN', recoverable: true });
  });

  it('uses a custom registry for application close codes', () => {
    const registry = defineCodes({ ROOM_CLOSED: { code: 4100, message: 'Room closed' } });
    expect(classifyClose(4100, undefined, registry)).toMatchObject({ name: 'ROOM_CLOSED', recoverable: false });
    expect(classifyClose(4100)).toMatchObject({ name: 'UNKNOWN', recoverable: true });
  });

  it('reads the name and pacing from the reason', () => {
    expect(classifyClose(1012, 'SHUTTING_DOWN:1500')).toEqual({
      code: 5002,
      name: 'SHUTTING_DOWN',
      recoverable: true,
      recovery: 'reconnect',
      retryAfterMs: 1500,
    });
    // A lost UNAUTHORIZED frame followed by a generic close still re-authenticates.
    expect(classifyClose(1000, 'UNAUTHORIZED')).toMatchObject({ name: 'UNAUTHORIZED', recovery: 'reauthenticate' });
  });

  it('ignores reasons it cannot parse, and names it does not know', () => {
    for (const reason of [
      '',
      'shutting down',
      'SHUTTING_DOWN:',
      'SHUTTING_DOWN:-5',
      'SHUTTING_DOWN:1e3',
      'X:1234567890',
    ]) {
      expect(classifyClose(1012, reason), reason).toMatchObject({ name: 'SHUTTING_DOWN', retryAfterMs: undefined });
    }
    expect(classifyClose(1012, 'NOPE:10')).toMatchObject({ name: 'SHUTTING_DOWN', retryAfterMs: 10 });
  });
});

describe('closeError', () => {
  it('names a mapped close and carries its pacing', () => {
    const err = closeError(classifyClose(1012, 'SHUTTING_DOWN:2500'));
    expect(FaultlineError.is(err, 'SHUTTING_DOWN')).toBe(true);
    expect(err.toBody()).toMatchObject({
      code: 5002,
      message: 'Connection closed: SHUTTING_DOWN',
      recovery: 'reconnect',
      retry_after_ms: 2500,
    });
  });

  it('keeps a fatal registry code fatal', () => {
    const err = closeError(classifyClose(4004, 'FORBIDDEN'));
    expect(err.name).toBe('FORBIDDEN');
    expect(err.recoverable).toBe(false);
  });

  it('reports a code nothing maps as BAD_CONNECTION with the raw code', () => {
    const err = closeError(classifyClose(3999, ''));
    expect(err.toBody()).toMatchObject({
      name: 'BAD_CONNECTION',
      message: 'Connection closed with code 3999',
      recovery: 'reconnect',
      details: { close_code: 3999 },
    });
  });
});

describe('closeReason', () => {
  it('is NAME or NAME:retry_after_ms, and classifyClose reads it back', () => {
    expect(closeReason({ name: 'UNAUTHORIZED' })).toBe('UNAUTHORIZED');
    const reason = closeReason(bodyOf('SHUTTING_DOWN', { retry_after_ms: 1500 }));
    expect(reason).toBe('SHUTTING_DOWN:1500');
    expect(classifyClose(1012, reason).retryAfterMs).toBe(1500);
  });

  it('writes an integer the parser accepts', () => {
    expect(closeReason({ name: 'RATE_LIMITED', retry_after_ms: 99.2 })).toBe('RATE_LIMITED:100');
    expect(closeReason({ name: 'RATE_LIMITED', retry_after_ms: 1e12 })).toBe('RATE_LIMITED:999999999');
    expect(classifyClose(4005, closeReason({ name: 'RATE_LIMITED', retry_after_ms: 1e12 })).retryAfterMs).toBe(
      999_999_999,
    );
  });

  it('stays within 123 UTF-8 bytes, without splitting a character', () => {
    const ascii = closeReason({ name: 'A'.repeat(300) });
    expect(ascii).toHaveLength(MAX_CLOSE_REASON_BYTES);
    for (const name of ['É'.repeat(100), '😀'.repeat(50), `${'A'.repeat(122)}€`]) {
      const reason = closeReason({ name, retry_after_ms: 5 });
      expect(Buffer.byteLength(reason)).toBeLessThanOrEqual(MAX_CLOSE_REASON_BYTES);
      expect(reason).not.toContain('\uFFFD');
      expect(Buffer.from(reason).toString()).toBe(reason);
    }
  });
});

describe('closeCodeFor', () => {
  it('uses the registry close code', () => {
    expect(closeCodeFor(bodyOf('UNAUTHORIZED'))).toBe(4003);
    expect(closeCodeFor(bodyOf('INTERNAL'))).toBe(1011);
    expect(closeCodeFor(bodyOf('SHUTTING_DOWN'))).toBe(1012);
    expect(closeCodeFor(bodyOf('PAYLOAD_TOO_LARGE'))).toBe(1009);
  });

  it('falls back by code range and recovery', () => {
    expect(closeCodeFor({ code: 4444, recovery: 'none' })).toBe(4444);
    expect(closeCodeFor(bodyOf('NOT_FOUND'))).toBe(4001);
    expect(closeCodeFor({ code: 5555, recovery: 'none' })).toBe(1008);
    expect(closeCodeFor({ code: 5555, recovery: 'retry' })).toBe(1011);
  });

  it('never returns a code that may not be sent', () => {
    for (const entry of defineCodes({}).entries()) {
      const code = closeCodeFor(entry);
      expect([1004, 1005, 1006, 1015], entry.name).not.toContain(code);
      expect(code === 1000 || (code >= 1001 && code <= 1014) || (code >= 3000 && code <= 4999), entry.name).toBe(true);
    }
  });
});
