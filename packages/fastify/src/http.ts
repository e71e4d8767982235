/**
 * HTTP mapping shared by the plugin and the client: status codes, `Retry-After`, and RFC 9457
 * Problem Details (PROTOCOL.md §11). Pure functions; no Fastify, no `node:*`, so the client entry
 * point can use them in a browser.
 */
import { type BuiltinName, codes, type ErrorBody, type RegistryLike } from '@faultline/core';

/** The content type of an RFC 9457 Problem Details body. */
export const PROBLEM_JSON = 'application/problem+json';

/** Prefix of the `type` URI of a problem when none is configured: `urn:faultline:error:NOT_FOUND`. */
export const DEFAULT_PROBLEM_TYPE_BASE = 'urn:faultline:error:';

/**
 * The HTTP status of an error body: the registry entry's `http`, else 400 for 4xxx codes and 500
 * for anything else (a code this registry does not know).
 */
export function httpStatusOf(code: number, registry: Pick<RegistryLike, 'byCode'> = codes): number {
  const entry = registry.byCode(code);
  if (entry !== undefined) return entry.http;
  return code >= 4000 && code <= 4999 ? 400 : 500;
}

const BY_STATUS: Readonly<Record<number, BuiltinName>> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  409: 'INVALID_ACTION',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RATE_LIMITED',
  499: 'CANCELLED',
  500: 'INTERNAL',
  502: 'BAD_CONNECTION',
  503: 'UNAVAILABLE',
  504: 'TIMEOUT',
};

/**
 * The built-in code nearest to an HTTP error status, for errors that carry only a status (a
 * framework error on the server, a proxy's answer on the client): the exact match when there is
 * one, else BAD_REQUEST for 4xx and INTERNAL for 5xx.
 */
export function codeNameForStatus(status: number): BuiltinName {
  return BY_STATUS[status] ?? (status >= 400 && status <= 499 ? 'BAD_REQUEST' : 'INTERNAL');
}

/** `Retry-After` in whole seconds, rounded up so the client never comes back early. */
export function formatRetryAfter(ms: number): string {
  return String(Math.max(0, Math.ceil(ms / 1000)));
}

/**
 * Parses a `Retry-After` value (delay-seconds or an HTTP date) into milliseconds from `now`, or
 * `undefined` when it is absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  if (/^\d{1,10}$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/**
 * Whether an `Accept` header asks for Problem Details: `application/problem+json` is listed with a
 * non-zero weight at least as high as `application/json`'s.
 */
export function acceptsProblem(accept: string | undefined): boolean {
  if (accept === undefined || !accept.includes('problem+json')) return false;
  let problem = 0;
  let json = 0;
  for (const range of accept.split(',')) {
    const [type = '', ...params] = range.split(';');
    const media = type.trim().toLowerCase();
    if (media !== PROBLEM_JSON && media !== 'application/json') continue;
    let q = 1;
    for (const param of params) {
      const [k, v] = param.split('=');
      if (k?.trim().toLowerCase() === 'q' && v !== undefined) {
        const n = Number(v.trim());
        q = Number.isFinite(n) ? n : 0;
      }
    }
    if (media === PROBLEM_JSON) problem = Math.max(problem, q);
    else json = Math.max(json, q);
  }
  return problem > 0 && problem >= json;
}

/** An RFC 9457 Problem Details body with the Faultline classification as extension members. */
export interface ProblemDetails {
  /** `typeBase` + the code's name. */
  type: string;
  /** The code's name (PROTOCOL.md §11): the same for every occurrence of the problem type. */
  title: string;
  status: number;
  /** The error's message: this occurrence. */
  detail: string;
  /** The request path (never its query string, which may hold tokens). */
  instance?: string;
  code: number;
  name: string;
  category: ErrorBody['category'];
  recoverable: boolean;
  recovery: ErrorBody['recovery'];
  retry_after_ms?: number;
  executed?: ErrorBody['executed'];
  details?: ErrorBody['details'];
  cause?: ErrorBody;
  request_id?: string;
}

/** Options of {@link toProblem}. */
export interface ToProblemOptions {
  status: number;
  typeBase?: string;
  instance?: string;
  requestId?: string;
}

/** Builds the Problem Details form of an error body (RFC 9457 §3). */
export function toProblem(body: ErrorBody, options: ToProblemOptions): ProblemDetails {
  const problem: ProblemDetails = {
    type: (options.typeBase ?? DEFAULT_PROBLEM_TYPE_BASE) + body.name,
    title: body.name,
    status: options.status,
    detail: body.message,
    code: body.code,
    name: body.name,
    category: body.category,
    recoverable: body.recoverable,
    recovery: body.recovery,
  };
  if (options.instance !== undefined) problem.instance = options.instance;
  if (body.retry_after_ms !== undefined) problem.retry_after_ms = body.retry_after_ms;
  if (body.executed !== undefined) problem.executed = body.executed;
  if (body.details !== undefined) problem.details = body.details;
  if (body.cause !== undefined) problem.cause = body.cause;
  if (options.requestId !== undefined) problem.request_id = options.requestId;
  return problem;
}

/**
 * The error body a Problem Details document carries, when it carries the Faultline members
 * (`code`, `name`, `category`, `recovery`); `undefined` for a foreign problem. The result is
 * unchecked: run it through core's decoder before trusting it.
 */
export function problemToBody(problem: Record<string, unknown>): Record<string, unknown> | undefined {
  if (typeof problem.code !== 'number' || typeof problem.name !== 'string') return undefined;
  const body: Record<string, unknown> = {
    code: problem.code,
    name: problem.name,
    message: typeof problem.detail === 'string' ? problem.detail : problem.title,
    category: problem.category,
    recoverable: problem.recoverable,
    recovery: problem.recovery,
  };
  for (const key of ['retry_after_ms', 'executed', 'details', 'cause'] as const) {
    if (problem[key] !== undefined) body[key] = problem[key];
  }
  return body;
}
