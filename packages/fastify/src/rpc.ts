/**
 * The RPC binding: the handler map of an `@faultline/ws` or Socket.IO server, served over HTTP as
 * `POST <prefix>/<event>`. No protocol code here: each request becomes a request frame checked by
 * core's decoder and runs through core's engine `dispatch` (rate limit, idempotency
 * de-duplication, unknown events, `executed`), so its answer carries the `data` a socket client
 * gets for the same request.
 */
import {
  type Connection,
  createProtocolServer,
  decodeFrame,
  type ErrorRoute,
  FaultlineError,
  type IdempotencyStore,
  type Observer,
  PING_EVENT,
  type ProtocolServer,
  type RateLimiter,
  type RateLimitOptions,
  type RequestHandler,
  type ShutdownOptions,
} from '@faultline/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { unknownOption } from './options.js';
import type { FaultlineFastify } from './plugin.js';

/** Options of the {@link faultlineRpc} plugin. Register it with Fastify's `prefix` (e.g. `/rpc`). */
export interface FaultlineRpcOptions<Auth = unknown> {
  /** Request handlers by event name: the same map a Faultline socket server takes. */
  handlers: Record<string, RequestHandler<Auth>>;
  /**
   * Runs before the handler (a `preHandler` hook), seeing the Fastify request; what it returns
   * is `ctx.auth`. Throw UNAUTHORIZED / FORBIDDEN to refuse (answered with `executed: "no"`).
   */
  authenticate?: (request: FastifyRequest) => Auth | Promise<Auth>;
  /**
   * Requests allowed per client (see `rateLimitKey`), as the socket engine allows per
   * connection, or `false`. @default { points: 100, durationMs: 1000 }
   */
  rateLimit?: RateLimitOptions | false;
  /** Which client a request counts against. @default the client's IP (`request.ip`) */
  rateLimitKey?: (request: FastifyRequest) => string;
  /** Most clients whose rate limiter is remembered; the least recent are forgotten. @default 10000 */
  maxRateLimitKeys?: number;
  /** De-duplicates requests by their `Idempotency-Key` header. @default an in-memory store */
  idempotency?: IdempotencyStore;
  /**
   * Who owns an `Idempotency-Key`, from what `authenticate` returned: the same key from two
   * owners is two requests (core's `idempotencyScope`). Keys are always scoped by event.
   * @default every owner shares one key space
   */
  idempotencyScope?: (auth: Auth) => string | undefined;
  /** `success` / `error` notifications at `Request#<event>`. */
  observer?: Observer;
  /** Failures nobody waits for. @default logs through Fastify's logger */
  errorRoute?: ErrorRoute;
  /**
   * `fastify.close()` stops taking requests (SHUTTING_DOWN with a jittered `retry_after_ms`,
   * `executed: "no"`) and lets running handlers finish within `graceMs`.
   * @default { windowMs: 5000, graceMs: 2000 }
   */
  shutdown?: ShutdownOptions;
}

/** The `fastify.faultlineRpc` decorator (in the plugin's scope): the engine behind the routes. */
export interface FaultlineRpcDecorator {
  /** Core's engine running the handlers (`draining`, `notifier`, ...). */
  readonly engine: ProtocolServer<unknown>;
}

declare module 'fastify' {
  interface FastifyInstance {
    faultlineRpc: FaultlineRpcDecorator;
  }
}

const JSON_TYPE = 'application/json; charset=utf-8';
/** The request id of the frame handed to the decoder; the answer carries Fastify's own id. */
const FRAME_ID = 'http';

const OPTION_KEYS: ReadonlySet<string> = new Set([
  'handlers',
  'authenticate',
  'rateLimit',
  'rateLimitKey',
  'maxRateLimitKeys',
  'idempotency',
  'idempotencyScope',
  'observer',
  'errorRoute',
  'shutdown',
]);

function fail(message: string): never {
  throw new TypeError(`@faultline/fastify rpc: ${message}`);
}

function checkRpcOptions(options: unknown): FaultlineRpcOptions {
  if (typeof options !== 'object' || options === null) fail('options must be an object with handlers');
  const o = options as Record<string, unknown>;
  const unknown = unknownOption(o, OPTION_KEYS);
  if (unknown !== undefined) fail(unknown);
  if (typeof o.handlers !== 'object' || o.handlers === null) fail('handlers must be an object of functions');
  for (const key of ['authenticate', 'rateLimitKey', 'idempotencyScope'] as const) {
    if (o[key] !== undefined && typeof o[key] !== 'function') fail(`${key} must be a function`);
  }
  const max = o.maxRateLimitKeys;
  if (max !== undefined && !(Number.isInteger(max) && (max as number) > 0)) {
    fail('maxRateLimitKeys must be a positive integer');
  }
  return o as unknown as FaultlineRpcOptions;
}

/**
 * Serves a handler map over HTTP: `POST <prefix>/<event>` with the request's `data` as the body
 * (any content type the app parses; JSON gets the frame rules), the `Idempotency-Key` header as
 * its idempotency key. The answer is the handler's result as JSON (204 when it returned nothing),
 * or the error envelope with the registry's status. Needs the `faultline` plugin registered first.
 *
 * @example
 * const handlers = { join: ({ room }) => rooms.join(room) }; // also given to @faultline/ws
 * await app.register(faultline);
 * await app.register(faultlineRpc, { prefix: '/rpc', handlers });
 */
export const faultlineRpc = fp<FaultlineRpcOptions>(
  async (fastify: FastifyInstance, rawOptions) => {
    const options = checkRpcOptions(rawOptions);
    const api = (fastify as { faultline?: FaultlineFastify }).faultline;
    if (api === undefined) fail('register the faultline plugin first');
    // The engine checks the handlers (functions, no reserved `$` names) as a socket server would.
    const engine = createProtocolServer<unknown>({
      handlers: options.handlers as Record<string, RequestHandler<unknown>>,
      registry: api.registry,
      logger: fastify.log,
      rateLimit: options.rateLimit ?? { points: 100, durationMs: 1000 },
      ...(options.idempotency === undefined ? {} : { idempotency: options.idempotency }),
      ...(options.idempotencyScope === undefined
        ? {}
        : { idempotencyScope: options.idempotencyScope as (auth: unknown) => string | undefined }),
      ...(options.observer === undefined ? {} : { observer: options.observer }),
      ...(options.errorRoute === undefined ? {} : { errorRoute: options.errorRoute }),
    });
    const rateLimitKey = options.rateLimitKey ?? ((request: FastifyRequest) => request.ip);
    const maxKeys = options.maxRateLimitKeys ?? 10_000;
    // A Map keeps insertion order: touching a key re-inserts it, so the first is the least recent.
    const limiters = new Map<string, RateLimiter>();
    const limiterFor = (request: FastifyRequest): RateLimiter | undefined => {
      if (options.rateLimit === false) return undefined;
      const key = rateLimitKey(request);
      let limiter = limiters.get(key);
      if (limiter === undefined) {
        limiter = engine.limiter();
        if (limiter === undefined) return undefined;
        if (limiters.size >= maxKeys) {
          const oldest = limiters.keys().next().value;
          if (oldest !== undefined) limiters.delete(oldest);
        }
      } else limiters.delete(key);
      limiters.set(key, limiter);
      return limiter;
    };

    const auths = new WeakMap<FastifyRequest, unknown>();
    const authenticate = options.authenticate;

    /** What a handler's `ctx.connection` is over HTTP: one exchange, nothing to push or close. */
    const connectionOf = (request: FastifyRequest): Connection<unknown> => ({
      id: `http-${String(request.id)}`,
      auth: auths.get(request),
      open: true,
      emit: () => {},
      request: () =>
        Promise.reject(
          new FaultlineError('BAD_CONNECTION', {
            message: 'Server-to-client requests need a socket connection',
            executed: 'no',
          }),
        ),
      fail: () => {},
    });

    const answer = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
      // A wildcard, not `:event`: event names may hold `/` and run to 128 characters, beyond
      // Fastify's `maxParamLength` (100); the decoder checks them as in a frame.
      const event = (request.params as { '*': string })['*'];
      // The server answers `$ping` itself (PROTOCOL.md §2), over HTTP as over a socket.
      if (event === PING_EVENT) return reply.code(204).send();
      const key = request.headers['idempotency-key'];
      const meta: Record<string, unknown> = { request_id: FRAME_ID };
      if (key !== undefined) meta.idempotency_key = key;
      // The same checks as a request frame (event name, idempotency key, data): core's decoder.
      const decoded = decodeFrame({ type: 'request', event, data: request.body, meta });
      if (!decoded.ok) return api.send(reply, FaultlineError.fromBody(decoded.error));
      const frame = decoded.frame as { data?: unknown; meta: { idempotency_key?: string } };
      const outcome = await engine.dispatch(connectionOf(request), limiterFor(request), {
        event,
        data: frame.data,
        requestId: String(request.id),
        idempotencyKey: frame.meta.idempotency_key,
      });
      // The engine logged unknown throws already (with the request id) and set `executed`.
      if (!outcome.ok) return api.send(reply, FaultlineError.fromBody(outcome.error));
      if (outcome.data === undefined) return reply.code(204).send();
      let text: string;
      try {
        text = JSON.stringify(outcome.data);
      } catch (thrown) {
        // A result JSON cannot carry (BigInt, a cycle): the handler ran, as the engine says.
        return api.send(reply, new FaultlineError('INTERNAL', { cause: thrown, executed: 'yes' }));
      }
      return reply.type(JSON_TYPE).send(text);
    };

    fastify.decorate('faultlineRpc', { engine } satisfies FaultlineRpcDecorator);
    fastify.addHook('preClose', async () => {
      await engine.shutdown(options.shutdown ?? {});
    });
    fastify.post('/*', {
      ...(authenticate === undefined
        ? {}
        : {
            preHandler: async (request: FastifyRequest) => {
              auths.set(request, await authenticate(request));
            },
          }),
      handler: answer,
    });
  },
  { name: '@faultline/fastify/rpc', fastify: '5.x', dependencies: ['@faultline/fastify'], encapsulate: true },
);
