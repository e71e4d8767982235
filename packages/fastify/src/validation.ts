/**
 * Validation failures as field violations (PROTOCOL.md §11): Fastify's ajv output and Standard
 * Schema issues (zod, valibot, arktype...) become one BAD_REQUEST shape,
 * `details.violations: [{ in, path, message }]`, where `path` is a JSON Pointer into the request
 * part `in`. The submitted values are never echoed: valibot's issue paths carry the input, and its
 * messages say `but received "<value>"`; both are cut.
 */
import { FaultlineError, type Json } from '@faultline/core';
import type { FastifyRequest, preValidationAsyncHookHandler } from 'fastify';

/** The Standard Schema v1 interface (https://standardschema.dev), copied as its spec asks. */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    /** Validates `value`: its output, or the issues that refuse it. */
    readonly validate: (value: unknown) => StandardSchemaV1.Result<Output> | Promise<StandardSchemaV1.Result<Output>>;
    readonly types?: { readonly input: Input; readonly output: Output } | undefined;
  };
}

/** The types of the Standard Schema v1 interface. */
export declare namespace StandardSchemaV1 {
  /** What `validate` returns: the parsed value, or the issues. */
  type Result<Output> = { readonly value: Output; readonly issues?: undefined } | { readonly issues: readonly Issue[] };
  /** One reason the value was refused; `path` locates it in the validated part. */
  interface Issue {
    readonly message: string;
    readonly path?: readonly (PropertyKey | { readonly key: PropertyKey })[] | undefined;
  }
  /** The output type of a schema. */
  type InferOutput<S extends StandardSchemaV1> = NonNullable<S['~standard']['types']>['output'];
}

/** A part of the request a schema validates. */
export type RequestPart = 'body' | 'querystring' | 'params' | 'headers';

/** One failed constraint. */
export interface Violation {
  /** The request part: `body`, `querystring`, `params` or `headers`. */
  in: RequestPart | string;
  /** JSON Pointer (RFC 6901) into that part; `''` is the part itself. */
  path: string;
  /** What is wrong, without the submitted value. */
  message: string;
}

/** At most this many violations are sent; the rest are counted in `details.omitted`. */
export const MAX_VIOLATIONS = 32;
const MAX_MESSAGE = 256;
const MAX_SEGMENT = 64;
const MAX_SEGMENTS = 32;

/** Whether a value implements Standard Schema v1. */
export function isStandardSchema(value: unknown): value is StandardSchemaV1 {
  const std = (value as { '~standard'?: { validate?: unknown } } | null | undefined)?.['~standard'];
  return typeof std === 'object' && std !== null && typeof std.validate === 'function';
}

function escapeSegment(segment: string): string {
  const s = segment.length > MAX_SEGMENT ? `${segment.slice(0, MAX_SEGMENT)}…` : segment;
  return s.replace(/~/g, '~0').replace(/\//g, '~1');
}

/**
 * A JSON Pointer from Standard Schema path segments. Valibot's segments are objects holding the
 * key and the input value: only the key is kept.
 */
export function pointerOf(path: readonly unknown[] | undefined): string {
  if (path === undefined) return '';
  let out = '';
  const n = Math.min(path.length, MAX_SEGMENTS);
  for (let i = 0; i < n; i++) {
    const raw = path[i];
    const key = typeof raw === 'object' && raw !== null && 'key' in raw ? (raw as { key: unknown }).key : raw;
    let segment: string;
    if (typeof key === 'string') segment = key;
    else if (typeof key === 'number' && Number.isFinite(key)) segment = String(key);
    else if (typeof key === 'symbol') segment = key.description ?? '';
    else segment = '?';
    out += `/${escapeSegment(segment)}`;
  }
  return out;
}

const RECEIVED = /[\s,;:]*\b(?:but\s+)?received\b[\s\S]*$/i;

/**
 * A validation message without the submitted value: the `received ...` clause (valibot:
 * `Expected string but received "hunter2"`) is cut; when the input still shows, a generic
 * message is used instead.
 */
export function safeMessage(message: unknown, input?: unknown): string {
  if (typeof message !== 'string' || message.length === 0) return 'Invalid value';
  let text = message.replace(RECEIVED, '').trim();
  if (text.length === 0) return 'Invalid value';
  if (typeof input === 'string' && input.length >= 3 && text.includes(input)) return 'Invalid value';
  if (text.length > MAX_MESSAGE) text = `${text.slice(0, MAX_MESSAGE)}…`;
  return text;
}

interface AjvLike {
  instancePath?: unknown;
  params?: Record<string, unknown>;
  message?: unknown;
  path?: unknown;
}

function ajvPointer(error: AjvLike): string {
  const base = typeof error.instancePath === 'string' ? error.instancePath : '';
  const params = error.params ?? {};
  // Ajv reports a missing or extra property at its parent; name the property itself. These are
  // keys (schema-defined or submitted), never values.
  const child = params.missingProperty ?? params.additionalProperty ?? params.propertyName;
  const pointer = typeof child === 'string' ? `${base}/${escapeSegment(child)}` : base;
  return pointer.length > MAX_SEGMENT * 4 ? `${pointer.slice(0, MAX_SEGMENT * 4)}…` : pointer;
}

/**
 * Violations from whatever a validator reported: ajv errors (`instancePath`), Standard Schema
 * issues (`path` array), or anything with a `message`.
 */
export function toViolations(errors: readonly unknown[], part: string): Violation[] {
  const out: Violation[] = [];
  const n = Math.min(errors.length, MAX_VIOLATIONS);
  for (let i = 0; i < n; i++) {
    const e = (errors[i] ?? {}) as AjvLike & { input?: unknown };
    const path = Array.isArray(e.path) ? pointerOf(e.path) : ajvPointer(e);
    out.push({ in: part, path, message: safeMessage(e.message, e.input) });
  }
  return out;
}

/**
 * The BAD_REQUEST a set of violations becomes. The message names the first violation, so a
 * person reading only the message still learns what to fix.
 */
export function validationError(violations: Violation[], total: number = violations.length): FaultlineError {
  const first = violations[0];
  const where = first === undefined ? '' : `${first.in}${first.path}`;
  const more = total > 1 ? ` (and ${total - 1} more)` : '';
  const details: { [key: string]: Json } = { violations: violations as unknown as Json };
  if (total > violations.length) details.omitted = total - violations.length;
  return new FaultlineError('BAD_REQUEST', {
    message: first === undefined ? 'Request validation failed' : `Invalid ${where}: ${first.message}${more}`,
    details,
    executed: 'no',
  });
}

/** Standard Schemas for the parts of a request. */
export interface StandardSchemaParts {
  body?: StandardSchemaV1;
  querystring?: StandardSchemaV1;
  /** Alias of `querystring`, as in Fastify's route `schema`. */
  query?: StandardSchemaV1;
  params?: StandardSchemaV1;
  /** Header names are lower case in Fastify. Only validated; parsed values are merged in. */
  headers?: StandardSchemaV1;
}

const PARTS: readonly RequestPart[] = ['body', 'querystring', 'params', 'headers'];

function partOf(request: FastifyRequest, part: RequestPart): unknown {
  return part === 'querystring' ? request.query : request[part];
}

function assign(request: FastifyRequest, part: RequestPart, value: unknown): void {
  if (part === 'querystring') request.query = value;
  else if (part === 'headers') {
    if (typeof value === 'object' && value !== null) Object.assign(request.headers, value);
  } else request[part] = value;
}

/**
 * A `preValidation` hook that validates request parts with Standard Schemas (zod 3.24+, zod 4,
 * valibot 1, arktype...), replaces them with the parsed output, and throws BAD_REQUEST with
 * `details.violations` on failure. Sync and async schemas both work; JSON Schema parts of the same
 * route stay with Fastify's ajv.
 *
 * The plugin applies this automatically to Standard Schemas found in a route's `schema` (for
 * routes added after it is registered); use it directly elsewhere.
 *
 * @example
 * app.post('/rooms', { preValidation: standardSchema({ body: z.object({ name: z.string() }) }) }, handler);
 */
export function standardSchema(parts: StandardSchemaParts): preValidationAsyncHookHandler {
  const checks: [RequestPart, StandardSchemaV1][] = [];
  if (parts.query !== undefined && parts.querystring !== undefined) {
    throw new TypeError('standardSchema: give either query or querystring, not both');
  }
  for (const part of [...PARTS, 'query'] as const) {
    const schema = parts[part];
    if (schema === undefined) continue;
    if (!isStandardSchema(schema)) {
      throw new TypeError(`standardSchema: ${part} must implement Standard Schema v1 (a "~standard" property)`);
    }
    checks.push([part === 'query' ? 'querystring' : part, schema]);
  }
  if (checks.length === 0)
    throw new TypeError('standardSchema: give at least one of body, querystring, params, headers');
  return async function faultlineStandardSchema(request: FastifyRequest): Promise<void> {
    let violations: Violation[] | undefined;
    let total = 0;
    for (const [part, schema] of checks) {
      let result = schema['~standard'].validate(partOf(request, part));
      if (typeof (result as Promise<unknown>).then === 'function') result = await result;
      const { issues } = result as StandardSchemaV1.Result<unknown>;
      if (issues === undefined) {
        assign(request, part, (result as { value: unknown }).value);
        continue;
      }
      total += issues.length;
      violations ??= [];
      if (violations.length < MAX_VIOLATIONS) {
        violations.push(...toViolations(issues.slice(0, MAX_VIOLATIONS - violations.length), part));
      }
    }
    if (violations !== undefined) throw validationError(violations, total);
  };
}

/**
 * Moves the Standard Schema parts of a route `schema` into a {@link standardSchema} hook, leaving
 * JSON Schema parts to ajv. Returns the new schema and hook, or `undefined` when there are none.
 */
export function splitStandardSchemas(
  schema: Record<string, unknown>,
): { schema: Record<string, unknown>; hook: preValidationAsyncHookHandler } | undefined {
  let parts: StandardSchemaParts | undefined;
  let rest: Record<string, unknown> | undefined;
  for (const key of ['body', 'querystring', 'query', 'params', 'headers'] as const) {
    const value = schema[key];
    if (!isStandardSchema(value)) continue;
    parts ??= {};
    rest ??= { ...schema };
    parts[key] = value;
    delete rest[key];
  }
  if (parts === undefined || rest === undefined) return undefined;
  return { schema: rest, hook: standardSchema(parts) };
}
