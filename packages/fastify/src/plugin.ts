/**
 * The Fastify plugin's HTTP half (PROTOCOL.md §11): one error handler and one not-found handler
 * that answer every failure with the Faultline error envelope, or with RFC 9457 Problem Details
 * when the client asks for `application/problem+json`.
 */
import {
  bodyOf,
  checkRequestData,
  codes,
  DEFAULT_DECODE_LIMITS,
  type DetailLimits,
  type ErrorBody,
  errorFrame,
  FaultlineError,
  type FaultlineErrorOptions,
  type Json,
  type RegistryLike,
  toErrorBody,
} from '@faultline/core';
import {
  errorCodes,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifySchema,
} from 'fastify';
import fp from 'fastify-plugin';
import {
  acceptsProblem,
  codeNameForStatus,
  DEFAULT_PROBLEM_TYPE_BASE,
  formatRetryAfter,
  httpStatusOf,
  PROBLEM_JSON,
  parseRetryAfter,
  toProblem,
} from './http.js';
import { unknownOption } from './options.js';
import { createRedactor, type Redactor } from './redact.js';
import { splitStandardSchemas, toViolations, validationError } from './validation.js';
import { answerUpgradeError } from './websocket.js';

/** Options of the plugin. Checked at registration: a wrong one fails `app.ready()` with its name. */
export interface FaultlineFastifyOptions {
  /** The application's codes (from `defineCodes`). @default the built-in codes */
  registry?: RegistryLike;
  /** Install a not-found handler that answers NOT_FOUND. Turn off if you set your own. @default true */
  notFound?: boolean;
  /**
   * Answer `Accept: application/problem+json` with RFC 9457 Problem Details. `typeBase` prefixes
   * the code name to make the problem `type` URI. @default true, typeBase `urn:faultline:error:`
   */
  problemDetails?: boolean | { typeBase?: string };
  /**
   * Keys (any depth, case-insensitive) or dotted paths (from the thrown value, `*` for any key)
   * masked in the log entry of an unknown throw. Pino's own `redact` option also works.
   * @example ['password', 'authorization', 'config.headers.cookie']
   */
  redact?: readonly string[];
  /**
   * Validate Standard Schema parts of route `schema`s (zod, valibot...) for routes added after the
   * plugin, through {@link standardSchema}. @default true
   */
  standardSchema?: boolean;
  /** Bounds on `details` sent on the wire. @default core's DEFAULT_DETAIL_LIMITS */
  detailLimits?: DetailLimits;
  /**
   * Replace Fastify's `application/json` parser with one that applies the frame rules of
   * PROTOCOL.md §7.2 to request bodies, answering as the socket engine does for the same data:
   * BAD_REQUEST `forbidden_key` (with `field`) for a `__proto__`, `constructor` or `prototype`
   * key anywhere, BAD_REQUEST `too_deep` beyond `maxDepth` levels (counted as in a frame, whose
   * `data` is one level down). `false` keeps Fastify's parser (and its `onProtoPoisoning`).
   * @default true, maxDepth 32 (core's DEFAULT_DECODE_LIMITS)
   */
  jsonParser?: boolean | { maxDepth?: number };
}

/** What an error becomes on the wire. */
export interface ResolvedError {
  body: ErrorBody;
  status: number;
}

/** The `fastify.faultline` decorator. */
export interface FaultlineFastify {
  /** The registry the plugin maps codes with. */
  readonly registry: RegistryLike;
  /** The body and HTTP status anything thrown maps to, as the error handler computes them. */
  resolve(error: unknown): ResolvedError;
  /** Answers `reply` with `error`, exactly as the error handler would (logging unknown throws). */
  send(reply: FastifyReply, error: unknown): FastifyReply;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Faultline's error mapping, for handlers and hooks that answer errors themselves. */
    faultline: FaultlineFastify;
  }
  interface FastifyReply {
    /**
     * Answers with a Faultline error without throwing (the cheapest error path): a Faultline
     * error, a registered name and options, or anything else (answered as INTERNAL and logged).
     *
     * @example
     * return reply.fail('NOT_FOUND', { message: 'Room not found', details: { room } });
     */
    fail(error: unknown): FastifyReply;
    fail(name: string, options: Omit<FaultlineErrorOptions, 'registry'>): FastifyReply;
  }
}

const JSON_TYPE = 'application/json; charset=utf-8';
const PROBLEM_TYPE = `${PROBLEM_JSON}; charset=utf-8`;
const MAX_PATH = 256;

/**
 * Fastify's own errors whose meaning is known: mapped to a code and a stable `details.reason`.
 * All but the handler timeout are raised before the handler ran (`executed: "no"`).
 */
const FASTIFY_CODES: Readonly<Record<string, readonly [name: string, reason: string, executed?: 'maybe']>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: ['PAYLOAD_TOO_LARGE', 'body_too_large'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: ['UNSUPPORTED_MEDIA_TYPE', 'unsupported_media_type'],
  FST_ERR_CTP_INVALID_JSON_BODY: ['BAD_REQUEST', 'malformed_json'],
  FST_ERR_CTP_EMPTY_JSON_BODY: ['BAD_REQUEST', 'empty_json_body'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: ['BAD_REQUEST', 'invalid_content_length'],
  FST_ERR_BAD_URL: ['BAD_REQUEST', 'bad_url'],
  FST_ERR_MAX_PARAM_LENGTH: ['BAD_REQUEST', 'param_too_long'],
  // Fastify's `handlerTimeout` gave up on a handler that was still running: it may yet finish.
  FST_ERR_HANDLER_TIMEOUT: ['TIMEOUT', 'handler_timeout', 'maybe'],
};

const OPTION_KEYS: ReadonlySet<string> = new Set([
  'registry',
  'notFound',
  'problemDetails',
  'redact',
  'standardSchema',
  'detailLimits',
  'jsonParser',
]);

function fail(message: string): never {
  throw new TypeError(`@faultline/fastify: ${message}`);
}

/** Checks the plugin options; throws a TypeError naming the option at fault. */
export function checkOptions(options: unknown): FaultlineFastifyOptions {
  if (options === undefined || options === null) return {};
  if (typeof options !== 'object') fail('options must be an object');
  const o = options as Record<string, unknown>;
  const unknown = unknownOption(o, OPTION_KEYS);
  if (unknown !== undefined) fail(unknown);
  const r = o.registry as Partial<RegistryLike> | undefined;
  if (r !== undefined && (typeof r?.byCode !== 'function' || typeof r?.lookupName !== 'function')) {
    fail('registry must be a Faultline registry (from defineCodes)');
  }
  for (const key of ['notFound', 'standardSchema'] as const) {
    if (o[key] !== undefined && typeof o[key] !== 'boolean') fail(`${key} must be a boolean`);
  }
  const pd = o.problemDetails;
  if (pd !== undefined && typeof pd !== 'boolean') {
    if (typeof pd !== 'object' || pd === null) fail('problemDetails must be a boolean or { typeBase }');
    const base = (pd as { typeBase?: unknown }).typeBase;
    if (base !== undefined && (typeof base !== 'string' || base.length === 0)) {
      fail('problemDetails.typeBase must be a non-empty string');
    }
  }
  if (o.redact !== undefined) {
    if (!Array.isArray(o.redact) || o.redact.some((k) => typeof k !== 'string' || k.length === 0)) {
      fail('redact must be an array of non-empty strings');
    }
  }
  const jp = o.jsonParser;
  if (jp !== undefined && typeof jp !== 'boolean') {
    if (typeof jp !== 'object' || jp === null) fail('jsonParser must be a boolean or { maxDepth }');
    const depth = (jp as { maxDepth?: unknown }).maxDepth;
    if (depth !== undefined && !(Number.isInteger(depth) && (depth as number) > 1)) {
      fail('jsonParser.maxDepth must be an integer above 1');
    }
  }
  const limits = o.detailLimits as Record<string, unknown> | undefined;
  if (limits !== undefined) {
    if (typeof limits !== 'object' || limits === null) fail('detailLimits must be an object');
    for (const key of ['maxDepth', 'maxKeys', 'maxString', 'maxNodes']) {
      const v = limits[key];
      if (!(Number.isInteger(v) && (v as number) > 0)) fail(`detailLimits.${key} must be a positive integer`);
    }
  }
  return o as FaultlineFastifyOptions;
}

/** The request path without its query string (which may carry tokens), bounded. */
function pathOf(url: string): string {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  return path.length > MAX_PATH ? path.slice(0, MAX_PATH) : path;
}

interface ErrorLike {
  code?: unknown;
  statusCode?: unknown;
  status?: unknown;
  validation?: unknown;
  validationContext?: unknown;
}

/**
 * Where a request was when it failed, for `executed` (PROTOCOL.md §3): `before` its route handler
 * ran (parsing, validation, hooks, not-found), in or `after` it, or `unknown` for a route the
 * plugin did not see being added (registered before it), whose errors keep what they carry.
 */
type Phase = 'before' | 'after' | 'unknown';

/** Marks route configs whose handler the plugin wrapped, so "not entered" means "before". */
const TRACKED = Symbol('faultline.tracked');

function errorStatus(e: ErrorLike): number | undefined {
  const s = typeof e.statusCode === 'number' ? e.statusCode : e.status;
  return typeof s === 'number' && Number.isInteger(s) && s >= 400 && s <= 599 ? s : undefined;
}

async function faultlinePlugin(fastify: FastifyInstance, rawOptions: FaultlineFastifyOptions): Promise<void> {
  const options = checkOptions(rawOptions);
  const registry = options.registry ?? codes;
  const problemDetails = options.problemDetails ?? true;
  const typeBase =
    typeof problemDetails === 'object'
      ? (problemDetails.typeBase ?? DEFAULT_PROBLEM_TYPE_BASE)
      : DEFAULT_PROBLEM_TYPE_BASE;
  const redactor: Redactor | undefined =
    options.redact !== undefined && options.redact.length > 0 ? createRedactor(options.redact) : undefined;
  const bodyOptions = options.detailLimits === undefined ? {} : { limits: options.detailLimits };

  /** Requests that entered their route handler (see the `onRoute` hook below). */
  const entered = new WeakSet<FastifyRequest>();

  const phaseOf = (request: FastifyRequest): Phase => {
    if (entered.has(request)) return 'after';
    // Our own not-found handler never fails: an error on a 404 came from a hook before it.
    if (request.is404) return options.notFound === false ? 'unknown' : 'before';
    const config = request.routeOptions.config as { [TRACKED]?: boolean } | undefined;
    return config?.[TRACKED] === true ? 'before' : 'unknown';
  };

  /**
   * `executed` by where the request failed, the socket engine's rule (core server.ts
   * handlerFailed): a failure before the handler ran is `no` (safe to re-send) unless the thrower
   * said otherwise; one from the handler is `yes` unless it said otherwise (an unknown throw is
   * already INTERNAL `maybe`).
   */
  const withExecuted = (resolved: ResolvedError, error: unknown, phase: Phase): ResolvedError => {
    const body = resolved.body;
    if (phase === 'after') {
      if (body.executed === undefined) body.executed = 'yes';
    } else if (phase === 'before') {
      // Only the thrower's own word stands: an unknown throw's `maybe` is the mapping's guess.
      if (!(FaultlineError.is(error) && error.executed !== undefined)) body.executed = 'no';
    }
    return resolved;
  };

  /** Maps anything thrown; `log` holds what to log (the original throw), when anything. */
  const classify = (
    error: unknown,
    reply: FastifyReply | undefined,
  ): [ResolvedError, { cause: unknown } | undefined] => {
    const [resolved, log] = classifyThrown(error, reply);
    return [reply === undefined ? resolved : withExecuted(resolved, error, phaseOf(reply.request)), log];
  };

  const classifyThrown = (
    error: unknown,
    reply: FastifyReply | undefined,
  ): [ResolvedError, { cause: unknown } | undefined] => {
    if (FaultlineError.is(error)) {
      const body = toErrorBody(error, bodyOptions);
      const status = httpStatusOf(body.code, registry);
      // A deliberate INTERNAL (or other 5xx) wrapping a foreign error: its cause is for the log.
      const cause = error.cause;
      return [
        { body, status },
        status >= 500 && cause !== undefined && !FaultlineError.is(cause) ? { cause } : undefined,
      ];
    }
    const e = (typeof error === 'object' && error !== null ? error : {}) as ErrorLike;
    const part = typeof e.validationContext === 'string' ? e.validationContext : 'body';
    if (Array.isArray(e.validation)) {
      const err = validationError(toViolations(e.validation, part), e.validation.length);
      return [{ body: toErrorBody(err), status: httpStatusOf(err.code, registry) }, undefined];
    }
    if (e.code === 'FST_ERR_VALIDATION') {
      // A custom validator compiler returned an Error: its message is not ours to echo.
      const body = bodyOf(
        'BAD_REQUEST',
        { message: `Invalid ${part}`, details: { in: part }, executed: 'no' },
        registry,
      );
      return [{ body, status: 400 }, undefined];
    }
    const known = typeof e.code === 'string' ? FASTIFY_CODES[e.code] : undefined;
    if (known !== undefined) {
      const body = bodyOf(known[0], { details: { reason: known[1] }, executed: known[2] ?? 'no' }, registry);
      return [{ body, status: httpStatusOf(body.code, registry) }, undefined];
    }
    const status = errorStatus(e);
    if (status !== undefined && status < 500) {
      // A 4xx from Fastify or another plugin: its message may quote the request (a URL, a content
      // type), so the registry's message goes out instead. Throw a FaultlineError to say more.
      const name = codeNameForStatus(status);
      const extra: { retry_after_ms?: number } = {};
      if (name === 'RATE_LIMITED' && reply !== undefined) {
        // @fastify/rate-limit sets Retry-After on the reply before throwing its 429.
        const header = reply.getHeader('retry-after');
        const ms = parseRetryAfter(typeof header === 'number' ? String(header) : (header as string | undefined));
        if (ms !== undefined) extra.retry_after_ms = ms;
      }
      const body = bodyOf(name, extra, registry);
      return [{ body, status: httpStatusOf(body.code, registry) }, undefined];
    }
    const err = FaultlineError.from(error, { registry });
    return [{ body: toErrorBody(err, bodyOptions), status: httpStatusOf(err.code, registry) }, { cause: error }];
  };

  const write = (reply: FastifyReply, body: ErrorBody, status: number): FastifyReply => {
    const request = reply.request;
    reply.code(status);
    if (body.retry_after_ms !== undefined) reply.header('retry-after', formatRetryAfter(body.retry_after_ms));
    const id = String(request.id);
    if (problemDetails !== false && acceptsProblem(request.headers.accept)) {
      const problem = toProblem(body, { status, typeBase, instance: pathOf(request.url), requestId: id });
      return reply.type(PROBLEM_TYPE).send(JSON.stringify(problem));
    }
    return reply.type(JSON_TYPE).send(JSON.stringify(errorFrame(body, id)));
  };

  const logUnknown = (request: FastifyRequest, cause: unknown, body: ErrorBody): void => {
    request.log.error(
      { err: redactor === undefined ? cause : redactor(cause), request_id: String(request.id), code: body.name },
      `faultline: unhandled error in ${request.method} ${request.routeOptions?.url ?? pathOf(request.url)}`,
    );
  };

  const send = (reply: FastifyReply, error: unknown): FastifyReply => {
    if (reply.sent) return reply;
    let resolved: ResolvedError;
    let log: { cause: unknown } | undefined;
    try {
      [resolved, log] = classify(error, reply);
    } catch (thrown) {
      // Mapping must never fail the answer; this path means a bug here, so log it too.
      resolved = { body: bodyOf('INTERNAL', { executed: 'maybe' }, registry), status: 500 };
      log = { cause: thrown };
    }
    if (log !== undefined) logUnknown(reply.request, log.cause, resolved.body);
    return write(reply, resolved.body, resolved.status);
  };

  const api: FaultlineFastify = {
    registry,
    resolve: (error) => classify(error, undefined)[0],
    send,
  };
  fastify.decorate('faultline', api);
  fastify.decorateReply(
    'fail',
    function faultlineFail(this: FastifyReply, error: unknown, opts?: FaultlineErrorOptions) {
      if (typeof error === 'string') {
        return send(this, new FaultlineError(error, { ...opts, registry }));
      }
      return send(this, error);
    },
  );

  fastify.setErrorHandler(function faultlineErrorHandler(error: unknown, request, reply) {
    // A hook refused a websocket upgrade: answer in frames a browser can read, not HTTP.
    if (answerUpgradeError(this, request, reply, error)) return;
    // Our status wins: `reply.code()` is set from the registry, whatever `statusCode` the error has.
    send(reply, error);
  });

  if (options.notFound !== false) {
    fastify.setNotFoundHandler(function faultlineNotFound(request, reply) {
      const details: { [key: string]: Json } = { method: request.method, path: pathOf(request.url) };
      write(reply, bodyOf('NOT_FOUND', { message: 'Route not found', details, executed: 'no' }, registry), 404);
    });
  }

  if (options.jsonParser !== false) {
    const maxDepth =
      (typeof options.jsonParser === 'object' ? options.jsonParser.maxDepth : undefined) ??
      DEFAULT_DECODE_LIMITS.maxDepth;
    const depthLimit = { maxDepth };
    // Fastify's secure-json-parse refuses `__proto__` as "malformed"; the protocol names the key.
    fastify.removeContentTypeParser('application/json');
    fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, text, done) => {
      // Empty and unparseable bodies keep Fastify's errors, so they map as before (FASTIFY_CODES).
      if (text.length === 0) {
        done(new errorCodes.FST_ERR_CTP_EMPTY_JSON_BODY(), undefined);
        return;
      }
      let value: unknown;
      try {
        value = JSON.parse(text as string);
      } catch {
        done(new errorCodes.FST_ERR_CTP_INVALID_JSON_BODY(), undefined);
        return;
      }
      const refused = checkRequestData(value, depthLimit);
      if (refused !== undefined) {
        done(FaultlineError.fromBody(refused) as unknown as FastifyError, undefined);
        return;
      }
      done(null, value);
    });
  }

  // Wraps each route handler to note that the request reached it: the error handler cannot
  // otherwise tell a handler's throw from a hook's (Fastify runs both through it).
  fastify.addHook('onRoute', (route) => {
    const config = route.config as { [TRACKED]?: boolean } | undefined;
    // Websocket routes answer in frames (websocket.ts); a HEAD route copies a wrapped GET.
    if ((route as { websocket?: boolean }).websocket === true || config?.[TRACKED] === true) return;
    const handler = route.handler;
    route.config = { ...route.config, [TRACKED]: true } as NonNullable<typeof route.config>;
    route.handler = function faultlineTracked(this: FastifyInstance, request, reply) {
      entered.add(request);
      return handler.call(this, request, reply);
    } as typeof route.handler;
  });

  if (options.standardSchema !== false) {
    fastify.addHook('onRoute', (route) => {
      const schema = route.schema as Record<string, unknown> | undefined;
      if (typeof schema !== 'object' || schema === null) return;
      const split = splitStandardSchemas(schema);
      if (split === undefined) return;
      route.schema = split.schema as FastifySchema;
      const existing = route.preValidation as unknown;
      const hooks = existing === undefined ? [] : Array.isArray(existing) ? existing : [existing];
      route.preValidation = [split.hook, ...hooks] as NonNullable<typeof route.preValidation>;
    });
  }
}

/**
 * The Faultline plugin for Fastify 5. Register it before your routes (`await app.register(...)`):
 * the error handler and not-found handler cover the whole app (it is not encapsulated), and
 * Standard Schema route schemas are picked up for routes added after it.
 *
 * @example
 * const app = Fastify({ logger: true });
 * await app.register(faultline, { registry });
 * app.get('/rooms/:id', async (req) => { throw new FaultlineError('NOT_FOUND', { details: { room: req.params.id } }); });
 */
export const faultline = fp(faultlinePlugin, { name: '@faultline/fastify', fastify: '5.x' });

/**
 * Fastify's `frameworkErrors` option, for the few errors Fastify answers before any handler runs
 * (a malformed URL, an over-long path parameter): `Fastify({ frameworkErrors })` answers them in
 * the envelope too, using the plugin's settings once it is registered.
 */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const api = (request.server as FastifyInstance & { faultline?: FaultlineFastify }).faultline;
  if (api !== undefined) {
    api.send(reply, error);
    return;
  }
  const status = errorStatus(error as ErrorLike) ?? 500;
  const body = bodyOf(codeNameForStatus(status));
  reply
    .code(httpStatusOf(body.code))
    .type(JSON_TYPE)
    .send(JSON.stringify(errorFrame(body, String(request.id))));
}
