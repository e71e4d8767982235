import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { pointerOf, safeMessage, standardSchema, toViolations } from '../src/validation.js';
import { build, start } from './helpers.js';

const SECRET = 'hunter2-secret';

function post(url: string, body: unknown, path = '/users'): Promise<Response> {
  return fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

describe("Fastify's ajv validation", () => {
  it('becomes BAD_REQUEST with violations as JSON Pointers and messages', async () => {
    const { url } = await start((app) => {
      app.post(
        '/users',
        {
          schema: {
            body: {
              type: 'object',
              required: ['name', 'age'],
              properties: { name: { type: 'string' }, age: { type: 'integer', minimum: 18 } },
            },
            querystring: { type: 'object', properties: { page: { type: 'integer' } } },
          },
        },
        async (req) => req.body,
      );
    });
    const missing = await post(url, { age: 30 });
    expect(missing.status).toBe(400);
    const body = (await missing.json()) as { data: Record<string, unknown> };
    expect(body.data).toMatchObject({
      code: 4000,
      name: 'BAD_REQUEST',
      executed: 'no',
      message: "Invalid body/name: must have required property 'name'",
      details: { violations: [{ in: 'body', path: '/name', message: "must have required property 'name'" }] },
    });

    const wrong = await post(url, { name: SECRET, age: 3 });
    const text = await wrong.text();
    expect(wrong.status).toBe(400);
    expect(text).not.toContain(SECRET);
    expect(JSON.parse(text).data.details.violations).toEqual([{ in: 'body', path: '/age', message: 'must be >= 18' }]);

    const query = await fetch(`${url}/users?page=${SECRET}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'a', age: 20 }),
    });
    expect(query.status).toBe(400);
    const qtext = await query.text();
    expect(qtext).not.toContain(SECRET);
    expect(JSON.parse(qtext).data.details.violations).toEqual([
      { in: 'querystring', path: '/page', message: 'must be integer' },
    ]);
  });
});

describe('Standard Schema in route schemas', () => {
  const zodUser = z.object({
    name: z.string().min(2),
    age: z.number().int().min(18),
    email: z.email(),
    tags: z.array(z.string()).default([]),
  });
  const valibotUser = v.object({
    name: v.pipe(v.string(), v.minLength(2)),
    age: v.pipe(v.number(), v.minValue(18)),
    email: v.pipe(v.string(), v.email()),
    role: v.picklist(['admin', 'user']),
    tags: v.array(v.string()),
  });

  it('validates with zod: violations by path, no submitted value echoed, parsed output handed to the handler', async () => {
    const { url } = await start((app) => {
      app.post('/users', { schema: { body: zodUser } }, async (req) => ({ got: req.body }));
    });
    const bad = await post(url, { name: 7, age: 3, email: SECRET, tags: ['ok', 42] });
    expect(bad.status).toBe(400);
    const text = await bad.text();
    expect(text).not.toContain(SECRET);
    const { data } = JSON.parse(text);
    expect(data.name).toBe('BAD_REQUEST');
    expect(data.message).toMatch(/^Invalid body\/name: .* \(and 3 more\)$/);
    expect(data.details.violations.map((x: { path: string }) => x.path)).toEqual([
      '/name',
      '/age',
      '/email',
      '/tags/1',
    ]);
    for (const violation of data.details.violations) {
      expect(violation.in).toBe('body');
      expect(typeof violation.message).toBe('string');
      expect(violation.message).not.toMatch(/received/i);
    }

    const ok = await post(url, { name: 'Ada', age: 36, email: 'ada@example.com', extra: 1 });
    expect(ok.status).toBe(200);
    // zod's output (defaults applied, unknown keys stripped) replaced the body.
    expect(await ok.json()).toEqual({ got: { name: 'Ada', age: 36, email: 'ada@example.com', tags: [] } });
  });

  it('validates with valibot: issue paths reduced to keys, "but received <value>" cut from messages', async () => {
    const { url } = await start((app) => {
      app.post('/users', { schema: { body: valibotUser } }, async (req) => ({ got: req.body }));
    });
    const bad = await post(url, { name: SECRET.slice(0, 1), age: 3, email: SECRET, role: SECRET, tags: ['ok', 99] });
    expect(bad.status).toBe(400);
    const text = await bad.text();
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('99');
    const { data } = JSON.parse(text);
    expect(data.details.violations).toEqual([
      { in: 'body', path: '/name', message: 'Invalid length: Expected >=2' },
      { in: 'body', path: '/age', message: 'Invalid value: Expected >=18' },
      { in: 'body', path: '/email', message: 'Invalid email' },
      { in: 'body', path: '/role', message: 'Invalid type: Expected ("admin" | "user")' },
      { in: 'body', path: '/tags/1', message: 'Invalid type: Expected string' },
    ]);
    const ok = await post(url, { name: 'Ada', age: 36, email: 'ada@example.com', role: 'admin', tags: [] });
    expect(ok.status).toBe(200);
  });

  it('mixes a Standard Schema body with JSON Schema parts, async refinements included', async () => {
    const taken = new Set(['ada']);
    const body = z.object({ login: z.string().refine(async (s) => !taken.has(s), 'Login is taken') });
    const { url } = await start((app) => {
      app.post(
        '/users/:org',
        {
          schema: {
            body,
            params: { type: 'object', properties: { org: { type: 'string', minLength: 3 } } },
            querystring: z.object({ dry: z.enum(['yes', 'no']).optional() }),
          },
        },
        async (req) => ({ params: req.params, query: req.query, body: req.body }),
      );
    });
    const takenRes = await post(url, { login: 'ada' }, '/users/acme');
    expect(takenRes.status).toBe(400);
    expect(((await takenRes.json()) as { data: { details: unknown } }).data.details).toEqual({
      violations: [{ in: 'body', path: '/login', message: 'Login is taken' }],
    });
    const badParam = await post(url, { login: 'bob' }, '/users/ab');
    expect(badParam.status).toBe(400);
    expect(((await badParam.json()) as { data: { details: { violations: unknown } } }).data.details.violations).toEqual(
      [{ in: 'params', path: '/org', message: 'must NOT have fewer than 3 characters' }],
    );
    const badQuery = await post(url, { login: 'bob' }, `/users/acme?dry=${SECRET}`);
    expect(badQuery.status).toBe(400);
    const qtext = await badQuery.text();
    expect(qtext).not.toContain(SECRET);
    expect(JSON.parse(qtext).data.details.violations[0]).toMatchObject({ in: 'querystring', path: '/dry' });
    const ok = await post(url, { login: 'bob' }, '/users/acme?dry=yes');
    expect(await ok.json()).toEqual({ params: { org: 'acme' }, query: { dry: 'yes' }, body: { login: 'bob' } });
  });

  it('standardSchema() works as an explicit preValidation hook, also without the automatic pickup', async () => {
    const app = await build(
      (a) => {
        a.get(
          '/search',
          { preValidation: standardSchema({ query: v.object({ q: v.pipe(v.string(), v.minLength(3)) }) }) },
          async (req) => req.query,
        );
      },
      { plugin: { standardSchema: false } },
    );
    const bad = await app.inject({ url: `/search?q=${'hu'}` });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().data.details.violations).toEqual([
      { in: 'querystring', path: '/q', message: 'Invalid length: Expected >=3' },
    ]);
    expect((await app.inject({ url: '/search?q=hello' })).json()).toEqual({ q: 'hello' });
  });

  it('refuses a standardSchema() call without a schema', () => {
    expect(() => standardSchema({})).toThrow(/at least one/);
    expect(() => standardSchema({ body: {} as never })).toThrow(/Standard Schema v1/);
    expect(() => standardSchema({ query: z.object({}), querystring: z.object({}) })).toThrow(/not both/);
  });
});

describe('normalisation', () => {
  it('makes JSON Pointers from mixed path segments, escaping ~ and /', () => {
    expect(pointerOf(['a', 0, { key: 'b/c', value: SECRET }, { key: 'd~e' }, Symbol('s')])).toBe('/a/0/b~1c/d~0e/s');
    expect(pointerOf(undefined)).toBe('');
  });

  it('cuts received values from messages, and falls back when the input still shows', () => {
    expect(safeMessage('Invalid type: Expected string but received "x"')).toBe('Invalid type: Expected string');
    expect(safeMessage('Invalid email: Received "a@b"')).toBe('Invalid email');
    expect(safeMessage('Invalid input: expected string, received number')).toBe('Invalid input: expected string');
    expect(safeMessage(`Value ${SECRET} is not allowed`, SECRET)).toBe('Invalid value');
    expect(safeMessage(undefined)).toBe('Invalid value');
    expect(safeMessage('x'.repeat(1000)).length).toBeLessThanOrEqual(257);
  });

  it('names the missing or extra property of ajv errors, and caps the count', () => {
    expect(
      toViolations(
        [
          { instancePath: '/user', keyword: 'required', params: { missingProperty: 'name' }, message: 'required' },
          { instancePath: '', keyword: 'additionalProperties', params: { additionalProperty: 'x' }, message: 'extra' },
        ],
        'body',
      ),
    ).toEqual([
      { in: 'body', path: '/user/name', message: 'required' },
      { in: 'body', path: '/x', message: 'extra' },
    ]);
    expect(
      toViolations(
        Array.from({ length: 100 }, () => ({ message: 'm', path: [] })),
        'body',
      ),
    ).toHaveLength(32);
  });
});
