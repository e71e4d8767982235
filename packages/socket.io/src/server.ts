/**
 * `@faultline/socket.io/server`: Faultline handlers, middleware, rate limits, server-to-client
 * requests and graceful shutdown on a Socket.IO 4 server or namespace. The protocol itself lives
 * in core's engine ({@link createProtocolServer}); this file only maps Socket.IO's acks, `onAny`
 * and middleware onto it. Wire form: README "Wire form".
 * @packageDocumentation
 */
import {
  bodyOf,
  type Connection,
  closeCodeFor,
  closeReason,
  createAbuseCounter,
  createProtocolServer,
  DEFAULT_DECODE_LIMITS,
  type DecodeLimits,
  decodeFrame,
  type ErrorBody,
  errorFrame,
  FaultlineError,
  type Json,
  type Location,
  logUnknownThrow,
  type Outcome,
  PING_EVENT,
  type ProtocolServer,
  type ProtocolServerOptions,
  type RateLimiter,
  type RequestContext,
  type RequestHandler,
  RequestTracker,
  type ShutdownOptions,
  toErrorBody,
} from '@faultline/core';
import type { DefaultEventsMap, Namespace, Server, Socket } from 'socket.io';
import { now, rehydrate } from './rehydrate.js';
import {
  type AckMeta,
  CLOSE_HEADER,
  ERROR_EVENT,
  type EventName,
  type EventsMap,
  isBinary,
  isObject,
  type RequestData,
  type RequestResult,
} from './wire.js';

export type { AckMeta, EventsMap, FaultlineAck, RequestData, RequestMetaArg, RequestResult } from './wire.js';
export { CLOSE_HEADER, ERROR_EVENT } from './wire.js';

/** A Faultline connection backed by a Socket.IO socket. */
export interface SocketConnection<Auth = unknown, S = Socket> extends Connection<Auth> {
  /** The Socket.IO socket: rooms, broadcasts, `data`. */
  readonly socket: S;
}

/** What a handler learns about the request it serves. */
export interface SocketRequestContext<Auth = unknown, S = Socket> extends RequestContext<Auth> {
  readonly connection: SocketConnection<Auth, S>;
}

/** What a volatile event handler learns. */
export interface SocketEventContext<Auth = unknown, S = Socket> {
  readonly event: string;
  readonly connection: SocketConnection<Auth, S>;
  readonly auth: Auth;
}

/**
 * Answers a request: return the result (or a promise of it) or throw. A {@link FaultlineError}
 * reaches the client as its body; anything else becomes INTERNAL with a generic message.
 * `data` is whatever the client sent: validate it.
 */
export type SocketRequestHandler<Auth = unknown, S = Socket, F = unknown> = (
  data: RequestData<F>,
  ctx: SocketRequestContext<Auth, S>,
) => RequestResult<F> | PromiseLike<RequestResult<F>>;

/** Handles a volatile event (emitted without an ack): never answered; a throw goes to the error route. */
export type SocketEventHandler<Auth = unknown, S = Socket, F = unknown> = (
  data: RequestData<F>,
  ctx: SocketEventContext<Auth, S>,
) => unknown;

/** Request handlers by event name, typed from the client-to-server event map. */
export type SocketHandlers<L, Auth = unknown, S = Socket> = {
  [E in EventName<L>]?: SocketRequestHandler<Auth, S, L[E]>;
};

/** Volatile event handlers by event name. */
export type SocketEventHandlers<L, Auth = unknown, S = Socket> = {
  [E in EventName<L>]?: SocketEventHandler<Auth, S, L[E]>;
};

/** Options of {@link attach}. Everything but `handlers`, `events` and `authenticate` goes to core's engine. */
export interface AttachOptions<Auth = unknown, L = DefaultEventsMap, S = Socket>
  extends Omit<ProtocolServerOptions<Auth>, 'handlers' | 'events'> {
  /** Request handlers: the client sends `socket.emit(event, data, ack)`. */
  handlers?: SocketHandlers<L, Auth, S>;
  /** Volatile event handlers: the client sends `socket.emit(event, data)`. */
  events?: SocketEventHandlers<L, Auth, S>;
  /**
   * Authenticates a connection, as `io.use()` middleware. Return what handlers see as `ctx.auth`;
   * throw (ideally a {@link FaultlineError} UNAUTHORIZED or FORBIDDEN) to refuse: the client's
   * `connect_error` then carries the error body in `err.data`.
   */
  authenticate?: (handshake: SocketOf<S>['handshake'], socket: S) => Auth | PromiseLike<Auth>;
}

/** Options of {@link FaultlineSocketServer.request}. */
export interface ServerRequestOptions {
  /** @default the `requestTimeoutMs` of {@link attach} (10000) */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** What {@link attach} returns. */
export interface FaultlineSocketServer<Auth = unknown, S = Socket> {
  /** Core's engine: registry, notifier, logger, `draining`. */
  readonly engine: ProtocolServer<Auth>;
  /** Open connections. */
  readonly connections: ReadonlySet<SocketConnection<Auth, S>>;
  /** The Faultline connection of a socket, once it is connected. */
  connection(socket: S): SocketConnection<Auth, S> | undefined;
  /**
   * Sends a request to a client (`emit(event, data, ack)`), answered by the Faultline client's
   * `handle()`. Rejects with the client's error, TIMEOUT, or BAD_CONNECTION when the socket
   * disconnects first.
   */
  request<T = Json>(socket: S, event: string, data?: unknown, options?: ServerRequestOptions): Promise<T>;
  /**
   * Ends a connection because of an error: emits {@link ERROR_EVENT} with its body, then ends the
   * connection with an end that carries the same error (a WebSocket close code and reason, or
   * over polling the HTTP error answer with {@link CLOSE_HEADER}), so that a client that lost the
   * event still acts on the body's classification. A fatal error on a socket sharing its
   * connection with other namespaces disconnects its namespace only.
   */
  fail(socket: S, error: unknown): void;
  /**
   * Graceful shutdown: refuses new requests and connections with SHUTTING_DOWN, waits up to
   * `graceMs` for running handlers, then tells every socket SHUTTING_DOWN with a jittered
   * `retry_after_ms` in [0, `windowMs`) and ends its connection as {@link fail} does. Does not
   * close the Socket.IO server.
   */
  close(options?: ShutdownOptions): Promise<void>;
}

type SocketOf<S> = S extends Socket ? S : Socket;

/** The part of a Socket.IO socket this adapter uses; any `Socket<...>` satisfies it. */
interface AnySocket {
  readonly id: string;
  readonly connected: boolean;
  readonly handshake: Socket['handshake'];
  emit(event: string, ...args: unknown[]): boolean;
  timeout(ms: number): { emit(event: string, ...args: unknown[]): boolean };
  onAny(listener: (event: string, ...args: unknown[]) => void): unknown;
  on(event: string, listener: (...args: never[]) => void): unknown;
  listeners(event: string): unknown[];
  disconnect(close?: boolean): unknown;
  /** Engine.IO's connection (internals, guarded: only used to end it with the error's close). */
  readonly conn?: EngineConn;
  /** Socket.IO's client: the namespaces multiplexed on the same Engine.IO connection. */
  readonly client?: { nsps?: { size: number } };
}

/** The parts of an Engine.IO transport used to end a connection with an error (internals, guarded). */
interface EngineTransport {
  name?: string;
  /** websocket: the `ws` socket. */
  socket?: { close?(code: number, reason: string): void };
  /** polling: whether a long-poll is waiting for data, and its request and response. */
  writable?: boolean;
  req?: { cleanup?(): void } | null;
  res?: {
    getHeader?(name: string): unknown;
    writeHead(status: number, headers: Record<string, string>): unknown;
    end(body: string): unknown;
  } | null;
  headers?(req: unknown, headers: Record<string, string>): Record<string, string>;
  on?(event: 'ready', listener: () => void): unknown;
  off?(event: 'ready', listener: () => void): unknown;
}

/** The parts of an Engine.IO socket used to end a connection with an error (internals, guarded). */
interface EngineConn {
  transport?: EngineTransport;
  writeBuffer?: unknown[];
  once(event: 'drain' | 'close' | 'upgrade', listener: () => void): unknown;
  off?(event: 'upgrade', listener: () => void): unknown;
  close(discard?: boolean): unknown;
}

type AckFn = (...args: unknown[]) => void;

/** A `socket.use()` middleware: the packet is `[event, ...args]`, the ack last when there is one. */
type Middleware = (packet: unknown[], next: (err?: unknown) => void) => void;

/** Middlewares Faultline made (its own last one, and its wrappers of the application's). */
const ours = new WeakSet<Middleware>();

/** Socket.IO refuses a connection with `next(err)`; `err.data` reaches the client's `connect_error`. */
export interface ConnectError extends Error {
  data: ErrorBody;
}

/**
 * Builds the error a Socket.IO middleware passes to `next(err)` so that the client's
 * `connect_error` carries the Faultline body in `err.data`.
 */
export function toConnectError(error: unknown): ConnectError {
  const body = toErrorBody(error);
  const err = new Error(body.message) as ConnectError;
  err.data = body;
  return err;
}

const PLACEHOLDER_BODY = bodyOf('INTERNAL');

// Request ids are unique per process and distinct across processes, for the server log.
const ID_PREFIX = `q${Math.random().toString(36).slice(2, 8)}.`;
let requestSeq = 0;
const nextRequestId = (): string => ID_PREFIX + (++requestSeq).toString(36);

/** How long a polling client has to poll again for the HTTP error answer that ends its connection. */
const POLL_END_WAIT_MS = 5000;

/** Extra time Socket.IO keeps a server request's ack callback after core's tracker timed it out. */
const ACK_CLEANUP_GRACE_MS = 1000;

/**
 * Serves Faultline requests on a Socket.IO server (its main namespace) or on a namespace.
 *
 * @example
 * const fl = attach(io, {
 *   handlers: { join: ({ room }, ctx) => { ctx.connection.socket.join(room); return { joined: room }; } },
 *   authenticate: (handshake) => verify(handshake.auth.token),
 * });
 */
export function attach<
  L extends EventsMap = DefaultEventsMap,
  E extends EventsMap = DefaultEventsMap,
  SS extends EventsMap = DefaultEventsMap,
  // biome-ignore lint/suspicious/noExplicitAny: Socket.IO's own default for SocketData
  D = any,
  Auth = undefined,
>(
  target: Server<L, E, SS, D> | Namespace<L, E, SS, D>,
  options: AttachOptions<Auth, L, Socket<L, E, SS, D>> = {},
): FaultlineSocketServer<Auth, Socket<L, E, SS, D>> {
  type S = Socket<L, E, SS, D>;
  const { handlers: handlerOption, events: eventOption, authenticate, ...engineOptions } = options;
  const handlers = new Map(Object.entries((handlerOption ?? {}) as Record<string, RequestHandler<Auth>>));
  const events = new Map(Object.entries((eventOption ?? {}) as Record<string, SocketEventHandler<Auth, S>>));
  if (authenticate !== undefined && typeof authenticate !== 'function') {
    throw new TypeError('Faultline attach: authenticate must be a function');
  }
  // Core validates handler names and options, and owns rate limits, de-duplication and logging.
  const engine = createProtocolServer<Auth>({
    ...engineOptions,
    handlers: Object.fromEntries(handlers),
    events: Object.fromEntries(events) as NonNullable<ProtocolServerOptions<Auth>['events']>,
  });
  const { notifier, logger, registry } = engine;
  const observer = options.observer;
  // Timing a request costs two clock reads: only when someone listens.
  const timed = observer?.success !== undefined;
  const limits: DecodeLimits = { ...DEFAULT_DECODE_LIMITS, ...options.limits };
  const maxBadFrames = options.maxBadFrames ?? 20;
  const badFrameWindowMs = options.badFrameWindowMs ?? 10_000;
  const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
  let shutdownWindowMs: number | undefined;

  const nsp = (target.sockets instanceof Map ? target : (target as Server<L, E, SS, D>).sockets) as Namespace<
    L,
    E,
    SS,
    D
  >;
  const connections = new Set<SocketConnection<Auth, S>>();
  const bySocket = new WeakMap<object, SocketConnection<Auth, S>>();
  const authOf = new WeakMap<object, Auth>();

  const notifyError = (location: Location, body: ErrorBody, requestId?: string): void => {
    if (observer?.error === undefined) return;
    notifier.error(location, FaultlineError.fromBody(body, requestId === undefined ? {} : { requestId }));
  };

  const logUnknown = (err: FaultlineError, fields: Record<string, unknown>, msg: string): void =>
    logUnknownThrow(logger, err, fields, msg);

  const errorMeta = (requestId: string | undefined, closing = false): AckMeta & { closing?: true } => {
    // errorFrame's meta: the request id and a timestamp formatted at most once per millisecond.
    const meta: AckMeta & { closing?: true } = errorFrame(PLACEHOLDER_BODY, requestId).meta;
    if (closing) meta.closing = true;
    return meta;
  };

  // ---------------------------------------------------------------- connection-level errors

  /**
   * Ends a connection because of an error: the error event first, then an end that says the same
   * by itself, so a client that lost the event still classifies it (PROTOCOL.md §6, §6.1):
   * - websocket transport: the WebSocket closes with the mapped close code and `NAME` or
   *   `NAME:retry_after_ms` reason, as `@faultline/ws` does;
   * - polling transport (no close code): the next long-poll is answered with the HTTP binding's
   *   error answer (§11: the status of §4.1, the error frame as body, `Retry-After`) and the
   *   close code and reason in the {@link CLOSE_HEADER} header.
   * Either ends the whole Engine.IO connection. A fatal error (recovery `none`) on a socket that
   * shares its connection with other namespaces disconnects only its namespace (`io server
   * disconnect`, on which clients stop): the other namespaces must not be stopped by it.
   */
  const endWith = (socket: AnySocket, body: ErrorBody): void => {
    if (socket.connected) {
      try {
        socket.emit(ERROR_EVENT, body, errorMeta(undefined, true));
      } catch (thrown) {
        notifier.unhandled('Connect#Close', thrown);
      }
    }
    const conn = socket.conn;
    const shared = (socket.client?.nsps?.size ?? 1) > 1;
    if (conn === undefined || (body.recovery === 'none' && shared)) {
      socket.disconnect();
      return;
    }
    const code = closeCodeFor(body, registry);
    const reason = closeReason(body);
    const end = (): void => {
      const transport = conn.transport;
      if (transport?.name === 'websocket' && typeof transport.socket?.close === 'function') {
        try {
          transport.socket.close(code, reason);
        } catch {
          conn.close();
        }
      } else if (transport?.name === 'polling') {
        // An upgrade to websocket while we wait for the poll: end the websocket instead.
        answerPoll(conn, transport, body, code, reason, end);
      } else {
        conn.close();
      }
    };
    // Engine.IO hands buffered packets to the transport on 'drain': the event goes out first.
    if ((conn.writeBuffer?.length ?? 0) > 0) conn.once('drain', end);
    else end();
  };

  /**
   * Polling: waits for the client's next long-poll (the event went out on the previous one) and
   * answers it with the HTTP error answer, then drops the Engine.IO session. Bounded: a client
   * that polls no more within {@link POLL_END_WAIT_MS} is closed plainly; a client that upgrades
   * to websocket meanwhile polls no more either: `upgraded` ends the new transport.
   */
  const answerPoll = (
    conn: EngineConn,
    transport: EngineTransport,
    body: ErrorBody,
    code: number,
    reason: string,
    upgraded: () => void,
  ): void => {
    let done = false;
    const finish = (): void => {
      done = true;
      clearTimeout(timer);
      transport.off?.('ready', attempt);
      conn.off?.('upgrade', onUpgrade);
    };
    const onUpgrade = (): void => {
      if (done) return;
      finish();
      upgraded();
    };
    const attempt = (): void => {
      if (done) return;
      // Engine.IO flushes its buffer on the same 'ready' first; answer only an idle poll.
      const res = transport.res;
      if (!transport.writable || res == null || (conn.writeBuffer?.length ?? 0) > 0) return;
      finish();
      try {
        const entry = registry.byCode(body.code);
        const ra = body.retry_after_ms;
        const exposed = res.getHeader?.('access-control-expose-headers');
        const headers: Record<string, string> = {
          'Content-Type': 'application/json; charset=utf-8',
          [CLOSE_HEADER]: `${code} ${reason}`,
          'Access-Control-Expose-Headers': exposed ? `${String(exposed)}, ${CLOSE_HEADER}` : CLOSE_HEADER,
          ...(ra === undefined ? {} : { 'Retry-After': String(Math.ceil(ra / 1000)) }),
        };
        transport.writable = false;
        res.writeHead(entry?.http ?? 500, transport.headers?.(transport.req, headers) ?? headers);
        res.end(JSON.stringify(errorFrame(body)));
        transport.req?.cleanup?.();
      } catch (thrown) {
        notifier.unhandled('Connect#Close', thrown);
      }
      // Discard: the poll is answered; nothing else may be written to it.
      conn.close(true);
    };
    const timer = setTimeout(() => {
      if (done) return;
      finish();
      conn.close();
    }, POLL_END_WAIT_MS);
    (timer as { unref?: () => void }).unref?.();
    transport.on?.('ready', attempt);
    conn.once('upgrade', onUpgrade);
    conn.once('close', finish);
    attempt();
  };

  const failSocket = (socket: AnySocket, error: unknown): void => {
    const err = FaultlineError.from(error, { registry });
    logUnknown(err, { connection_id: socket.id }, 'faultline: connection failed');
    const body = toErrorBody(err);
    notifyError('Connect#Close', body);
    endWith(socket, body);
  };

  const makeBadInput = () => {
    const abused = createAbuseCounter({ maxBadFrames, windowMs: badFrameWindowMs });
    return (socket: AnySocket, body: ErrorBody, requestId: string | undefined, ack: AckFn | undefined): void => {
      const abusive = abused();
      notifyError('Frame#decode', body, requestId);
      if (abusive) {
        failSocket(
          socket,
          FaultlineError.fromBody(bodyOf('BAD_REQUEST', { message: 'Too many bad frames', executed: 'no' }, registry)),
        );
        return;
      }
      if (ack) ack(body, null, errorMeta(requestId));
      else socket.emit(ERROR_EVENT, body, errorMeta(requestId));
    };
  };

  // ---------------------------------------------------------------- server-to-client requests

  const makeConnection = (socket: AnySocket, auth: Auth): SocketConnection<Auth, S> => {
    let tracker: RequestTracker | undefined;
    const conn: SocketConnection<Auth, S> & { closed(): void } = {
      id: socket.id,
      auth,
      socket: socket as unknown as S,
      get open() {
        return socket.connected;
      },
      emit(event, data) {
        try {
          socket.emit(event, data);
        } catch (thrown) {
          notifier.unhandled(`Emit#${event}`, thrown);
        }
      },
      request<T>(event: string, data?: unknown, opts: ServerRequestOptions = {}): Promise<T> {
        if (!socket.connected) {
          return Promise.reject(
            new FaultlineError('BAD_CONNECTION', { message: 'Connection is closed', executed: 'no' }),
          );
        }
        tracker ??= new RequestTracker({
          timeoutMs: requestTimeoutMs,
          idPrefix: 's',
          onLateReply: (rid) =>
            notifier.unhandled(
              'Request#late',
              new FaultlineError('TIMEOUT', { message: `Late reply to ${rid} dropped` }),
            ),
        });
        const t = tracker;
        const tracked = t.track<T>(event, opts);
        const id = tracked.id;
        const location: Location = `ServerRequest#${event}`;
        const started = now();
        const timeout = opts.timeoutMs ?? requestTimeoutMs;
        try {
          // Socket.IO's own timer only frees its ack slot; core's tracker decides the outcome.
          socket
            .timeout(timeout + ACK_CLEANUP_GRACE_MS)
            .emit(event, data, (err: unknown, body: unknown, result: unknown, meta: unknown) => {
              if (err) return; // Socket.IO's cleanup timer: the tracker has settled the request already.
              if (body === null || body === undefined) {
                if (t.resolve(id, result)) notifier.success(location, now() - started);
                return;
              }
              t.reject(id, rehydrate(body, meta, limits));
            });
        } catch (thrown) {
          t.fail(
            id,
            new FaultlineError('BAD_REQUEST', { message: `Cannot send ${event}`, cause: thrown, executed: 'no' }),
          );
        }
        tracked.promise.then(undefined, (e: FaultlineError) => notifier.error(location, e));
        return tracked.promise;
      },
      fail(error) {
        failSocket(socket, error);
      },
      closed() {
        tracker?.failAll((rid) => {
          const err = new FaultlineError('BAD_CONNECTION', { message: 'Connection closed', executed: 'maybe' });
          err.requestId = rid;
          return err;
        });
      },
    };
    return conn;
  };

  // ---------------------------------------------------------------- incoming events

  const wire = (s: S): void => {
    const socket = s as unknown as AnySocket;
    if (bySocket.has(socket)) return;
    const auth = authOf.get(socket) as Auth;
    const conn = makeConnection(socket, auth);
    const limiter: RateLimiter | undefined = engine.limiter();
    const badInput = makeBadInput();
    bySocket.set(socket, conn);
    connections.add(conn);

    /** Sends a dispatch outcome as the ack: exactly one answer, whatever the result holds. */
    const answer = (outcome: Outcome, event: string, requestId: string, ack: AckFn, started: number): void => {
      try {
        if (outcome.ok) {
          try {
            if (outcome.data === undefined) ack(null);
            else ack(null, outcome.data);
          } catch (thrown) {
            // A result Socket.IO cannot encode (BigInt, cycle): still exactly one answer.
            const err = FaultlineError.from(thrown, { registry });
            logUnknown(
              err,
              { request_id: requestId, event, connection_id: socket.id },
              `faultline: handler ${event} failed`,
            );
            const body: ErrorBody = { ...toErrorBody(err), executed: 'yes' };
            ack(body, null, errorMeta(requestId));
            notifyError(`Request#${event}`, body, requestId);
            return;
          }
          if (timed) notifier.success(`Request#${event}`, now() - started);
        } else {
          ack(outcome.error, null, errorMeta(requestId));
          notifyError(`Request#${event}`, outcome.error, requestId);
        }
      } catch (thrown) {
        notifier.unhandled(`Request#${event}`, thrown);
      }
    };

    const onRequest = (event: string, data: unknown, meta: unknown, ack: AckFn): void => {
      let requestId: string;
      let frameMeta: unknown;
      let key: string | undefined;
      if (meta === undefined || meta === null) {
        requestId = nextRequestId();
        frameMeta = { request_id: requestId };
      } else if (isObject(meta)) {
        const rid = meta.request_id;
        requestId = typeof rid === 'string' ? rid : nextRequestId();
        frameMeta = rid === undefined ? { ...meta, request_id: requestId } : meta;
        key = meta.idempotency_key as string | undefined;
      } else {
        requestId = nextRequestId();
        frameMeta = meta;
      }
      // Core's decoder checks event name, meta fields, depth and hostile keys, as for a ws frame.
      const checked = decodeFrame(
        { type: 'request', event, data: isBinary(data) ? undefined : data, meta: frameMeta },
        limits,
      );
      if (!checked.ok) {
        badInput(socket, checked.error, checked.requestId, ack);
        return;
      }
      if (event === PING_EVENT) {
        ack(null);
        return;
      }
      const started = timed ? now() : 0;
      /** Only a custom rate limiter or idempotency store can throw or reject: still one outcome. */
      const failed = (thrown: unknown): void => {
        const err = FaultlineError.from(thrown, { registry });
        logUnknown(
          err,
          { request_id: requestId, event, connection_id: socket.id },
          `faultline: handler ${event} failed`,
        );
        answer({ ok: false, error: toErrorBody(err) }, event, requestId, ack, started);
      };
      let outcome: Outcome | Promise<Outcome>;
      try {
        outcome = engine.dispatchNow(conn, limiter, { event, data, requestId, idempotencyKey: key });
      } catch (thrown) {
        failed(thrown);
        return;
      }
      // A synchronous handler is answered at once (no promise, no microtask); an async one when
      // it settles.
      if (!isThenable(outcome)) answer(outcome, event, requestId, ack, started);
      else outcome.then((o) => answer(o as Outcome, event, requestId, ack, started), failed);
    };

    const onEvent = (event: string, args: unknown[]): void => {
      const handler = events.get(event);
      const location: Location = `Event#${event}`;
      if (handler === undefined) {
        if (handlers.has(event)) {
          badInput(
            socket,
            bodyOf(
              'BAD_REQUEST',
              {
                message: `Request ${event.slice(0, 64)} needs an acknowledgement callback`,
                details: { reason: 'missing_ack', event: event.slice(0, 128) },
                executed: 'no',
              },
              registry,
            ),
            undefined,
            undefined,
          );
        } else if (socket.listeners(event).length === 0) {
          notifier.unhandled(location, new FaultlineError('NOT_FOUND', { message: `Unknown event ${event}` }));
        }
        return;
      }
      const data = args[0];
      const checked =
        args.length > 1
          ? tooManyArguments(event)
          : decodeFrame({ type: 'event', event, data: isBinary(data) ? undefined : data }, limits);
      if (!checked.ok) {
        badInput(socket, checked.error, undefined, undefined);
        return;
      }
      try {
        const value = handler(data as never, { event, connection: conn, auth });
        if (isThenable(value)) value.then(undefined, (thrown) => notifier.unhandled(location, thrown));
      } catch (thrown) {
        notifier.unhandled(location, thrown);
      }
    };

    /**
     * Serves one incoming event, its arguments being `args` from index `from` on (a packet is
     * served in place, without copying it). Runs inside Socket.IO's packet handling: it must
     * never throw.
     */
    const serve = (event: string, args: unknown[], from: number): void => {
      try {
        const last = args[args.length - 1];
        if (typeof last !== 'function' || args.length === from) {
          onEvent(event, from === 0 ? args : args.slice(from));
          return;
        }
        const ack = last as AckFn;
        if (!handlers.has(event)) {
          if (events.has(event)) {
            onEvent(event, args.slice(from, -1));
            ack(null);
            return;
          }
          // A plain Socket.IO listener answers this event; not ours.
          if (socket.listeners(event).length > 0) return;
        }
        const argc = args.length - 1 - from;
        if (argc > 2) {
          badInput(socket, tooManyArguments(event).error, undefined, ack);
          return;
        }
        onRequest(event, args[from], argc === 2 ? args[from + 1] : undefined, ack);
      } catch (thrown) {
        notifier.unhandled(`Request#${String(event)}`, thrown);
      }
    };

    /**
     * A `socket.use()` middleware refused a packet: a Faultline request gets the refusal as its
     * answer (Socket.IO itself would drop the ack, leaving the client to time out). The handler
     * did not run: `executed: "no"`. A FaultlineError is sent as it is; anything else as INTERNAL.
     */
    const refused = (packet: unknown[], thrown: unknown): void => {
      try {
        const event = packet[0] as string;
        const ack = packet[packet.length - 1];
        if (typeof ack !== 'function' || event === PING_EVENT) return;
        if (!handlers.has(event) && !events.has(event) && socket.listeners(event).length > 0) return;
        const meta = packet.length > 3 ? packet[2] : undefined;
        const rid = isObject(meta) && typeof meta.request_id === 'string' ? meta.request_id : nextRequestId();
        const err = FaultlineError.from(thrown, { registry });
        logUnknown(
          err,
          { request_id: rid, event: String(event), connection_id: socket.id },
          'faultline: socket.use() refused',
        );
        const body: ErrorBody = { ...toErrorBody(err), executed: 'no' };
        (ack as AckFn)(body, null, errorMeta(rid));
        notifyError(`Request#${String(event)}`, body, rid);
      } catch (caught) {
        notifier.unhandled('Request#refused', caught);
      }
    };

    // Socket.IO runs `socket.use()` middlewares between onAny listeners and plain listeners. So
    // that they gate Faultline's handlers too (as they gate every listener), Faultline serves
    // from a middleware it keeps last in the socket's list, and wraps the others to answer a
    // request they refuse. The list is Socket.IO internals (guarded): without it, Faultline
    // serves from onAny, before any middleware.
    const fns = (socket as { fns?: unknown }).fns;
    const served = new WeakSet<object>();
    if (Array.isArray(fns)) {
      const middlewares = fns as Middleware[];
      const last: Middleware = (packet, next) => {
        if (packet[0] === PING_EVENT && typeof packet[packet.length - 1] === 'function') {
          next(); // answered from onAny
          return;
        }
        // Alone in the list, it runs once per packet; behind the application's middlewares, one
        // of them may call next() twice or have refused already.
        if (middlewares.length > 1) {
          if (served.has(packet)) {
            next();
            return;
          }
          served.add(packet);
        }
        serve(packet[0] as string, packet, 1);
        next();
      };
      const wrap = (fn: Middleware): Middleware => {
        const wrapped: Middleware = (packet, next) =>
          fn(packet, (err) => {
            if (err !== undefined && err !== null && !served.has(packet)) {
              served.add(packet);
              refused(packet, err);
            }
            next(err);
          });
        ours.add(wrapped);
        return wrapped;
      };
      ours.add(last);
      let arranged = -1;
      // onAny runs right before Socket.IO copies the list for this packet: arrange it then.
      socket.onAny((event: string, ...args: unknown[]) => {
        if (event === PING_EVENT && typeof args[args.length - 1] === 'function') {
          // Liveness, not an application event: answered before any middleware (its arguments
          // checked as for any request).
          serve(event, args, 0);
          return;
        }
        if (middlewares.length === arranged && middlewares[arranged - 1] === last) return;
        const at = middlewares.indexOf(last);
        if (at >= 0) middlewares.splice(at, 1);
        for (let i = 0; i < middlewares.length; i++) {
          const fn = middlewares[i] as Middleware;
          if (!ours.has(fn)) middlewares[i] = wrap(fn);
        }
        middlewares.push(last);
        arranged = middlewares.length;
      });
    } else {
      socket.onAny((event: string, ...args: unknown[]) => serve(event, args, 0));
    }

    socket.on('disconnect', () => {
      connections.delete(conn);
      (conn as SocketConnection<Auth, S> & { closed(): void }).closed();
    });
  };

  // ---------------------------------------------------------------- middleware

  nsp.use((s, next) => {
    if (engine.draining) {
      next(toConnectError(FaultlineError.fromBody(engine.shuttingDown(shutdownWindowMs))));
      return;
    }
    if (authenticate === undefined) {
      next();
      return;
    }
    const socket = s as unknown as S;
    const refuse = (thrown: unknown): void => {
      const err = FaultlineError.from(thrown, { registry });
      logUnknown(err, { connection_id: s.id }, 'faultline: authenticate failed');
      const body = toErrorBody(err);
      notifyError('Connect#Auth', body);
      next(toConnectError(FaultlineError.fromBody(body)));
    };
    try {
      const result = authenticate((socket as unknown as AnySocket).handshake, socket);
      if (isThenable(result)) {
        result.then((auth) => {
          authOf.set(s, auth as Auth);
          next();
        }, refuse);
      } else {
        authOf.set(s, result);
        next();
      }
    } catch (thrown) {
      refuse(thrown);
    }
  });
  nsp.on('connection', wire);
  for (const s of nsp.sockets.values()) wire(s);

  const server: FaultlineSocketServer<Auth, S> = {
    engine,
    connections,
    connection: (socket) => bySocket.get(socket as object),
    request<T = Json>(socket: S, event: string, data?: unknown, opts?: ServerRequestOptions): Promise<T> {
      const conn = bySocket.get(socket as object);
      if (conn === undefined) {
        return Promise.reject(
          new FaultlineError('BAD_CONNECTION', { message: 'Socket is not served by Faultline', executed: 'no' }),
        );
      }
      return conn.request<T>(event, data as Json, opts);
    },
    fail: (socket, error) => failSocket(socket as unknown as AnySocket, error),
    async close(opts = {}) {
      shutdownWindowMs = opts.windowMs;
      await engine.shutdown(opts);
      for (const conn of [...connections]) {
        endWith(conn.socket as unknown as AnySocket, engine.shuttingDown(opts.windowMs));
      }
    },
  };
  return server;
}

function tooManyArguments(name: string): { ok: false; error: ErrorBody } {
  // Socket.IO also delivers numeric event names.
  const event = String(name);
  return {
    ok: false,
    error: bodyOf('BAD_REQUEST', {
      message: 'A request is emit(event, data?, meta?, ack): too many arguments',
      details: { reason: 'invalid_field', field: 'arguments', event: event.slice(0, 128) },
      executed: 'no',
    }),
  };
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof (v as PromiseLike<unknown> | null)?.then === 'function';
}
