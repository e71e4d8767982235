import { bodyOf, defineCodes } from '@faultline/core';
import { describe, expect, it } from 'vitest';
import {
  acceptsProblem,
  codeNameForStatus,
  createRedactor,
  formatRetryAfter,
  httpStatusOf,
  parseRetryAfter,
  problemToBody,
  toProblem,
} from '../src/index.js';

type Loose = Record<string, any>;

describe('HTTP mapping helpers', () => {
  it('negotiates problem+json by weight', () => {
    expect(acceptsProblem(undefined)).toBe(false);
    expect(acceptsProblem('application/json')).toBe(false);
    expect(acceptsProblem('application/problem+json')).toBe(true);
    expect(acceptsProblem('application/problem+json;q=0')).toBe(false);
    expect(acceptsProblem('application/json;q=0.9, application/problem+json')).toBe(true);
    expect(acceptsProblem('application/json, application/problem+json;q=0.8')).toBe(false);
    expect(acceptsProblem('text/html, application/problem+json; charset=utf-8')).toBe(true);
  });

  it('reads and writes Retry-After', () => {
    expect(formatRetryAfter(1)).toBe('1');
    expect(formatRetryAfter(1000)).toBe('1');
    expect(formatRetryAfter(1001)).toBe('2');
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter(' 0 ')).toBe(0);
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0);
  });

  it('maps statuses and codes both ways', () => {
    const registry = defineCodes({ TEAPOT: { code: 4180, message: 'Teapot', http: 418 } });
    expect(httpStatusOf(4180, registry)).toBe(418);
    expect(httpStatusOf(4999)).toBe(400);
    expect(httpStatusOf(5999)).toBe(500);
    expect(codeNameForStatus(429)).toBe('RATE_LIMITED');
    expect(codeNameForStatus(422)).toBe('BAD_REQUEST');
    expect(codeNameForStatus(507)).toBe('INTERNAL');
  });

  it('round-trips a body through Problem Details', () => {
    const body = bodyOf('RATE_LIMITED', { message: 'Slow', retry_after_ms: 10, executed: 'no', details: { a: 1 } });
    const problem = toProblem(body, { status: 429, instance: '/x', requestId: 'r1' });
    expect(problemToBody(problem as unknown as Record<string, unknown>)).toEqual(body);
    expect(problemToBody({ type: 'about:blank', title: 'Foreign', status: 400 })).toBeUndefined();
  });
});

describe('createRedactor', () => {
  it('masks keys at any depth and dotted paths, keeps message and stack, survives cycles', () => {
    const err = Object.assign(new Error('boom'), {
      token: 't',
      nested: { Token: 'u', list: [{ token: 'v' }], keep: 1 },
      config: { headers: { cookie: 'c', other: 'o' } },
    }) as Error & { self?: unknown };
    err.self = err;
    const out = createRedactor(['token', 'err.config.headers.cookie', 'nested.*.0'])(err) as Loose;
    expect(out.message).toBe('boom');
    expect(out.stack).toContain('boom');
    expect(out.type).toBe('Error');
    expect(out.token).toBe('[Redacted]');
    expect(out.nested).toEqual({ Token: '[Redacted]', list: ['[Redacted]'], keep: 1 });
    expect(out.config.headers).toEqual({ cookie: '[Redacted]', other: 'o' });
    expect(out.self).toBe('[Circular]');
    expect(createRedactor(['x'])('plain')).toBe('plain');
  });
});
