/**
 * The transport-agnostic server engine (PROTOCOL.md §7). An adapter hands it a port (`send`,
 * `close`) per connection and feeds it incoming frames; the engine decodes, dispatches to
 * handlers, answers, rate-limits, de-duplicates idempotent requests, counts abuse, runs
 * server-to-client requests and drains on shutdown. Socket.IO, which has its own framing, uses
 * {@link ProtocolServer.dispatch} directly.
 */
import { closeCodeFor, closeReason } from './classify.js';
import {
  DEFAULT_DECODE_LIMITS,
  type DecodeLimits,
  decodeFrame,
  encodeErrorFrame,
  encodeFrame,
  encodeRequestFrame,
  encodeResponseFrame,
  eventFrame,
} from './codec.js';
import type { ErrorBody, Json, RequestFrame } from './envelope.js';
import { bodyOf, FaultlineError, type RegistryLike, toErrorBody } from './error.js';
import {
  checkRateLimitOptions,
  createMemoryIdempotencyStore,
  createRateLimiter,
  type IdempotencyStore,
  type Outcome,
  type RateLimiter,
  type RateLimitOptions,
  createAbuseCounter,
} from './limits.js';
import {
  consoleLogger,
  type ErrorRoute,
  type Location,
  type Logger,
  loggingErrorRoute,
  Notifier,
  type Observer,
  logUnknownThrow,
} from './observe.js';
import { codes } from './registry.js';
import { RequestTracker } from './tracker.js';

/** Reserved event a client sends to check the server is alive; answered by the engine. */
export const PING_EVENT = '$ping';

/** What a handler learns about the request it serves. */
export interface RequestContext<Auth = unknown> {
  /** The request's event name. */
  readonly event: string;
  /** The request's `meta.request_id`. */
  readonly requestId: string;
  /** The request's `meta.idempotency_key`, when the client sent one. */
  readonly idempotencyKey: string | undefined;
  /** The connection the request came on. */
  readonly connection: Connection<Auth>;
  /** What `authenticate` returned for this connection. */
  readonly auth: Auth;
}

/** Answers a request: return a value or throw. Receives untrusted data: validate it. */
export type RequestHandler<Auth = unknown> = (data: unknown, ctx: RequestContext<Auth>) => unknown;

/** Handles a volatile event: nothing is answered; a throw goes to the error route. */
export type EventHandler<Auth = unknown> = (data: unknown, ctx: Omit<RequestContext<Auth>, 'requestId' | 'idempotencyKey'>) => unknown;

/** One side of a transport, as the engine sees it. */
export interface ServerPort {
  /** Sends one text frame. Must not throw; a closed port drops the frame. */
  send(text: string): void;
  /** Closes with a WebSocket close code and a reason of at most 123 bytes. */
  close(code: number, reason: string): void;
}

/** Options of {@link createProtocolServer}. */
export interface ProtocolServerOptions<Auth = unknown> {
  /** Request handlers by event name. */
  handlers?: Record<string, RequestHandler<Auth>>;
  /** Volatile event handlers by event name. */
  events?: Record<string, EventHandler<Auth>>;
  /** Registry of the application's codes. @default the built-in codes */
  registry?: RegistryLike;
  /** Where stacks of unknown throws go; pino satisfies it. @default console */
  logger?: Logger;
  /** `success` / `error` notifications. */
  observer?: Observer;
  /** Failures nobody waits for. @default logs through `logger` */
  errorRoute?: ErrorRoute;
  /** Requests allowed per connection, or `false`. @default { points: 100, durationMs: 1000 } */
  rateLimit?: RateLimitOptions | false;
  /** Bad frames tolerated per connection within `badFrameWindowMs` before it is closed. @default 20 */
  maxBadFrames?: number;
  /** @default 10000 */
  badFrameWindowMs?: number;
  /** Caps of the decoder. */
  limits?: Partial<DecodeLimits>;
  /** De-duplicates idempotent requests. @default an in-memory store */
  idempotency?: IdempotencyStore;
  /**
   * Who owns an idempotency key, from what authentication returned (a user or tenant id):
   * requests of different owners never share an outcome, so a key seen by one user cannot
   * replay another user's answer. Keys are always scoped by event as well.
   * @default every owner shares one key space (keys are random per request: PROTOCOL.md §7.4)
   */
  idempotencyScope?: (auth: Auth) => string | undefined;
  /** Default timeout of server-to-client requests, in ms. @default 10000 */
  requestTimeoutMs?: number;
}

/** Options of {@link ProtocolServer.shutdown}. */
export interface ShutdownOptions {
  /** Clients are told to come back at a random moment within this window, in ms. @default 5000 */
  windowMs?: number;
  /** Longest wait for running handlers to finish, in ms. @default 2000 */
  graceMs?: number;
}

/** A connection as handlers and the server see it. */
export interface Connection<Auth = unknown> {
  /** Unique among this server's connections. */
  readonly id: string;
  /** What `authenticate` returned for this connection. */
  readonly auth: Auth;
  /** Whether the connection still accepts frames. */
  readonly open: boolean;
  /** Sends a volatile event; never throws. */
  emit(event: string, data?: Json): void;
  /** Sends a request to the client; rejects with the client's error, TIMEOUT or BAD_CONNECTION. */
  request<T = Json>(event: string, data?: Json, options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<T>;
  /** Sends the error frame, then closes with the error's mapped close code. */
  fail(error: unknown): void;
}

/** A connection as the adapter drives it. */
export interface EngineConnection<Auth = unknown> extends Connection<Auth> {
  /** Feeds one incoming text frame (or an already-parsed value). */
  receive(input: unknown): void;
  /** Tells the engine the transport closed. */
  closed(): void;
  /**
   * Answers a frame the adapter refused before decoding (too large for the transport, binary),
   * with the frame's `request_id` when the adapter could read it.
   */
  reject(body: ErrorBody, requestId?: string): void;
}

/** The engine. */
export interface ProtocolServer<Auth = unknown> {
  /** Starts serving a port; `auth` is what authentication returned. */
  connect(port: ServerPort, auth: Auth): EngineConnection<Auth>;
  /** Open connections. */
  readonly connections: ReadonlySet<Connection<Auth>>;
  /** Runs a request through rate limit, de-duplication and its handler, returning the outcome. */
  dispatch(
    connection: Connection<Auth>,
    limiter: RateLimiter | undefined,
    request: { event: string; data: unknown; requestId: string; idempotencyKey?: string | undefined },
  ): Promise<Outcome>;
  /**
   * {@link ProtocolServer.dispatch} without the promise when it is not needed: the outcome itself
   * when the handler (and the idempotency store, if any) answered synchronously, else a promise
   * of it. Saves a promise and a microtask per request in a transport binding. May throw
   * synchronously, or reject, only when a custom rate limiter or idempotency store does.
   */
  dispatchNow(
    connection: Connection<Auth>,
    limiter: RateLimiter | undefined,
    request: { event: string; data: unknown; requestId: string; idempotencyKey?: string | undefined },
  ): Outcome | Promise<Outcome>;
  /** Sends an event to every open connection (or those `filter` keeps). */
  broadcast(event: string, data?: Json, filter?: (connection: Connection<Auth>) => boolean): number;
  /** Whether the server is draining. */
  readonly draining: boolean;
  /** Stops taking requests, lets running ones finish, tells every client SHUTTING_DOWN, closes. */
  shutdown(options?: ShutdownOptions): Promise<void>;
  /** Fails a connection with `error`: error frame, then the mapped close. */
  readonly registry: RegistryLike;
  /** The server's observer and error route, for adapters to report through. */
  readonly notifier: Notifier;
  /** The server's logger, for adapters to log through. */
  readonly logger: Logger;
  /** Makes a rate limiter per this server's options, or undefined when disabled. */
  limiter(): RateLimiter | undefined;
  /**
   * A SHUTTING_DOWN body with a jittered `retry_after_ms` in [0, windowMs).
   * @param windowMs @default the window of the shutdown under way, else 5000
   */
  shuttingDown(windowMs?: number): ErrorBody;
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof (v as PromiseLike<unknown> | null)?.then === 'function';
}

let connectionSeq = 0;

/**
 * Creates the server engine.
 *
 * @example
 * const server = createProtocolServer({ handlers: { join: ({ room }) => rooms.join(room) } });
 * wss.on('connection', (ws) => { const c = server.connect(port(ws), undefined); ws.on('message', (m) => c.receive(String(m))); });
 */
export function createProtocolServer<Auth = unknown>(options: ProtocolServerOptions<Auth> = {}): ProtocolServer<Auth> {
  const handlers = new Map(Object.entries(options.handlers ?? {}));
  const events = new Map(Object.entries(options.events ?? {}));
  for (const [name, fn] of [...handlers, ...events]) {
    if (typeof fn !== 'function') throw new TypeError(`Faultline handler for ${JSON.stringify(name)} must be a function`);
    if (name.startsWith('$')) throw new TypeError(`Faultline event names starting with $ are reserved: ${name}`);
  }
  const rateLimit = options.rateLimit === undefined ? { points: 100, durationMs: 1000 } : options.rateLimit;
  if (rateLimit) checkRateLimitOptions(rateLimit);
  const registry = options.registry ?? codes;
  const logger = options.logger ?? consoleLogger;
  const notifier = new Notifier(options.observer, options.errorRoute ?? loggingErrorRoute(logger));
  // Hot path: no timing, location string or rehydrated error is built for nobody to observe.
  const observeSuccess = typeof options.observer?.success === 'function';
  const observeError = typeof options.observer?.error === 'function';
  const limits: DecodeLimits = { ...DEFAULT_DECODE_LIMITS, ...options.limits };
  const abuse = {
    ...(options.maxBadFrames === undefined ? {} : { maxBadFrames: options.maxBadFrames }),
    ...(options.badFrameWindowMs === undefined ? {} : { windowMs: options.badFrameWindowMs }),
  };
  const idempotency = options.idempotency ?? createMemoryIdempotencyStore();
  const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
  const connections = new Set<EngineConnection<Auth>>();
  let draining = false;
  // The window of the shutdown under way: requests refused while draining, and clients refused
  // on connect, spread their retries over the same window as the connections it closes.
  let drainWindowMs = 5000;
  let running = 0;
  let idle: (() => void) | undefined;

  const logFailure = (err: FaultlineError, event: string, requestId: string, connection: Connection<Auth>): void =>
    logUnknownThrow(logger, err, { request_id: requestId, event, connection_id: connection.id }, `faultline: handler ${event} failed`);

  const handlerFailed = (thrown: unknown, ctx: RequestContext<Auth>): Outcome => {
    const err = FaultlineError.from(thrown, { registry });
    logFailure(err, ctx.event, ctx.requestId, ctx.connection);
    const body = toErrorBody(err);
    if (body.executed === undefined) body.executed = 'yes';
    return { ok: false, error: body };
  };

  const handlerDone = (): void => {
    running--;
    if (running === 0) idle?.();
  };

  /** Runs a handler. A synchronous handler's outcome comes back at once, without a promise. */
  const runHandler = (handler: RequestHandler<Auth>, data: unknown, ctx: RequestContext<Auth>): Outcome | Promise<Outcome> => {
    running++;
    let value: unknown;
    try {
      value = handler(data, ctx);
    } catch (thrown) {
      handlerDone();
      return handlerFailed(thrown, ctx);
    }
    if (!isThenable(value)) {
      handlerDone();
      return { ok: true, data: value as Json | undefined };
    }
    return Promise.resolve(value).then(
      (result): Outcome => {
        handlerDone();
        return { ok: true, data: result as Json | undefined };
      },
      (thrown: unknown) => {
        handlerDone();
        return handlerFailed(thrown, ctx);
      },
    );
  };

  /** {@link ProtocolServer.dispatch}, with the outcome of a synchronous handler given at once. */
  const dispatchNow = (
    connection: Connection<Auth>,
    limiter: RateLimiter | undefined,
    req: { event: string; data: unknown; requestId: string; idempotencyKey?: string | undefined },
  ): Outcome | Promise<Outcome> => {
    if (draining) return { ok: false, error: server.shuttingDown() };
    const wait = limiter?.consume() ?? 0;
    if (wait > 0) return refused('RATE_LIMITED', `Too many requests: retry after ${wait} ms`, { retry_after_ms: wait });
    const handler = handlers.get(req.event);
    if (handler === undefined) {
      return refused('NOT_FOUND', `Unknown event ${JSON.stringify(req.event.slice(0, 64))}`, {
        details: { event: req.event.slice(0, 128) },
      });
    }
    const ctx: RequestContext<Auth> = {
      event: req.event,
      requestId: req.requestId,
      idempotencyKey: req.idempotencyKey,
      connection,
      auth: connection.auth,
    };
    if (req.idempotencyKey === undefined) return runHandler(handler, req.data, ctx);
    // One unambiguous string per (owner, event, key), whatever characters the client put in them.
    const key = JSON.stringify([options.idempotencyScope?.(connection.auth) ?? null, req.event, req.idempotencyKey]);
    return idempotency.run(key, () => {
      const outcome = runHandler(handler, req.data, ctx);
      return isThenable(outcome) ? outcome : Promise.resolve(outcome);
    });
  };

  const refused = (name: string, message: string | undefined, extra: Partial<ErrorBody> = {}): Outcome => ({
    ok: false,
    error: { ...bodyOf(name, message === undefined ? { executed: 'no' } : { message, executed: 'no' }, registry), ...extra },
  });

  const server: ProtocolServer<Auth> = {
    registry,
    notifier,
    logger,
    connections,
    get draining() {
      return draining;
    },
    limiter: () => (rateLimit ? createRateLimiter(rateLimit) : undefined),
    shuttingDown: (windowMs = drainWindowMs) =>
      bodyOf('SHUTTING_DOWN', { retry_after_ms: Math.floor(Math.random() * windowMs), executed: 'no' }, registry),

    dispatch(connection, limiter, req) {
      const outcome = dispatchNow(connection, limiter, req);
      return isThenable(outcome) ? outcome : Promise.resolve(outcome);
    },

    dispatchNow,

    broadcast(event, data, filter) {
      let n = 0;
      const text = encodeFrame(eventFrame(event, data));
      for (const c of connections) {
        if (filter && !filter(c)) continue;
        (c as unknown as { sendText(t: string): void }).sendText(text);
        n++;
      }
      return n;
    },

    async shutdown(opts = {}) {
      draining = true;
      if (opts.windowMs !== undefined) drainWindowMs = opts.windowMs;
      const grace = opts.graceMs ?? 2000;
      if (running > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, grace);
          idle = () => {
            clearTimeout(timer);
            // The last handler has returned, but its outcome is still on its way to the port
            // (promise callbacks): let those run before the connections close.
            setTimeout(resolve, 0);
          };
        });
        idle = undefined;
      }
      for (const c of [...connections]) {
        c.fail(FaultlineError.fromBody(server.shuttingDown(opts.windowMs)));
      }
    },

    connect(port, auth) {
      const id = `c${(++connectionSeq).toString(36)}`;
      const limiter = server.limiter();
      let open = true;
      const abused = createAbuseCounter(abuse);
      const tracker = new RequestTracker({
        timeoutMs: requestTimeoutMs,
        idPrefix: 's',
        onLateReply: (rid) => notifier.unhandled('Request#late', new FaultlineError('TIMEOUT', { message: `Late reply to ${rid} dropped` })),
      });

      const sendText = (text: string): void => {
        if (open) port.send(text);
      };
      const sendError = (body: ErrorBody, requestId?: string): void => sendText(encodeErrorFrame(body, requestId));

      const badFrame = (body: ErrorBody, requestId: string | undefined): void => {
        const abusive = abused();
        notifier.error('Frame#decode', FaultlineError.fromBody(body, requestId === undefined ? {} : { requestId }));
        if (abusive) {
          conn.fail(
            FaultlineError.fromBody(
              bodyOf('BAD_REQUEST', { message: 'Too many bad frames', executed: 'no' }, registry),
            ),
          );
          return;
        }
        sendError(body, requestId);
      };

      /** Answers a request whose outcome could not be delivered. Never throws. */
      const undeliverable = (thrown: unknown, event: string, requestId: string): void => {
        const err = FaultlineError.from(thrown, { registry });
        logFailure(err, event, requestId, conn);
        sendError({ ...toErrorBody(err), executed: 'maybe' }, requestId);
        notifier.error(`Request#${event}`, err);
      };

      /** Sends a request's outcome. Never throws: the client gets exactly one answer. */
      const deliver = (outcome: Outcome, event: string, requestId: string, started: number): void => {
        try {
          if (outcome.ok) {
            let text: string;
            try {
              text = encodeResponseFrame(requestId, outcome.data);
            } catch (thrown) {
              // A result JSON cannot carry (BigInt, cycle): the client still gets one outcome.
              const err = FaultlineError.from(thrown, { registry });
              logFailure(err, event, requestId, conn);
              sendError({ ...toErrorBody(err), executed: 'yes' }, requestId);
              notifier.error(`Request#${event}`, err);
              return;
            }
            sendText(text);
            if (observeSuccess) notifier.success(`Request#${event}`, performanceNow() - started);
          } else {
            sendError(outcome.error, requestId);
            if (observeError) notifier.error(`Request#${event}`, FaultlineError.fromBody(outcome.error, { requestId }));
          }
        } catch (thrown) {
          undeliverable(thrown, event, requestId);
        }
      };

      const onRequest = (frame: RequestFrame): void => {
        const requestId = frame.meta.request_id;
        const event = frame.event;
        if (event === PING_EVENT) {
          sendText(encodeResponseFrame(requestId, undefined));
          return;
        }
        const started = observeSuccess ? performanceNow() : 0;
        let outcome: Outcome | Promise<Outcome>;
        try {
          outcome = dispatchNow(conn, limiter, {
            event,
            data: frame.data,
            requestId,
            idempotencyKey: frame.meta.idempotency_key,
          });
        } catch (thrown) {
          // Only a custom idempotency store or rate limiter can throw.
          undeliverable(thrown, event, requestId);
          return;
        }
        // A synchronous handler is answered at once; an async one when it settles.
        if (!isThenable(outcome)) deliver(outcome, event, requestId, started);
        else
          outcome.then(
            (o) => deliver(o, event, requestId, started),
            // Only a custom idempotency store can reject: still one outcome, no unhandled rejection.
            (thrown: unknown) => undeliverable(thrown, event, requestId),
          );
      };

      const conn: EngineConnection<Auth> & { sendText(t: string): void } = {
        id,
        auth,
        sendText,
        get open() {
          return open;
        },
        emit(event, data) {
          try {
            sendText(encodeFrame(eventFrame(event, data)));
          } catch (thrown) {
            notifier.unhandled(`Emit#${event}`, thrown);
          }
        },
        request<T>(event: string, data?: Json, opts: { timeoutMs?: number; signal?: AbortSignal } = {}) {
          if (!open) {
            return Promise.reject(new FaultlineError('BAD_CONNECTION', { message: 'Connection is closed', executed: 'no' }));
          }
          const tracked = tracker.track<T>(event, opts);
          sendText(encodeRequestFrame(event, data, { request_id: tracked.id }));
          return tracked.promise;
        },
        fail(error) {
          if (!open) return;
          const body = toErrorBody(error);
          sendError(body);
          open = false;
          connections.delete(conn);
          port.close(closeCodeFor(body, registry), closeReason(body));
          tracker.failAll(new FaultlineError('BAD_CONNECTION', { message: 'Connection closed', executed: 'maybe' }));
        },
        reject(body, requestId) {
          badFrame(body, requestId);
        },
        closed() {
          if (!open && !connections.has(conn)) {
            return;
          }
          open = false;
          connections.delete(conn);
          tracker.failAll(new FaultlineError('BAD_CONNECTION', { message: 'Connection closed', executed: 'maybe' }));
        },
        receive(input) {
          if (!open) return;
          const result = decodeFrame(input, limits);
          if (!result.ok) {
            badFrame(result.error, result.requestId);
            return;
          }
          const frame = result.frame;
          switch (frame.type) {
            case 'request':
              onRequest(frame);
              return;
            case 'response':
              tracker.resolve(frame.meta.request_id, frame.data);
              return;
            case 'error': {
              const rid = frame.meta.request_id;
              if (rid !== undefined) tracker.reject(rid, FaultlineError.fromBody(frame.data, { requestId: rid }));
              else notifier.error('Client#error', FaultlineError.fromBody(frame.data));
              return;
            }
            case 'event': {
              const handler = events.get(frame.event);
              const location: Location = `Event#${frame.event}`;
              if (handler === undefined) {
                notifier.unhandled(location, new FaultlineError('NOT_FOUND', { message: `Unknown event ${frame.event}` }));
                return;
              }
              try {
                const value = handler(frame.data, { event: frame.event, connection: conn, auth });
                if (isThenable(value)) value.then(undefined, (thrown) => notifier.unhandled(location, thrown));
              } catch (thrown) {
                notifier.unhandled(location, thrown);
              }
            }
          }
        },
      };
      connections.add(conn);
      return conn;
    },
  };
  return server;
}

const performanceNow = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());
