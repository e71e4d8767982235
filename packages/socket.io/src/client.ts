/**
 * `@faultline/socket.io/client`: Faultline requests over a `socket.io-client` socket, with
 * rehydrated errors, one outcome per request, and reconnection decided by the error's
 * classification. Imports no server code and no `node:*`: it runs in browsers.
 * Wire form: README "Wire form".
 * @packageDocumentation
 */
import {
  type BackoffOptions,
  bodyOf,
  type ConnectionState,
  type StateChange as CoreStateChange,
  classifyClose,
  classifyError,
  closeError,
  connectionLost,
  consoleLogger,
  createRetryBudget,
  createRetryPlanner,
  type ErrorBody,
  type ErrorRoute,
  FaultlineError,
  idempotencyKeyOf,
  type Json,
  type Location,
  type Logger,
  loggingErrorRoute,
  mayResend,
  Notifier,
  type Observer,
  type RegistryLike,
  type RequestOptions,
  RequestTracker,
  type RetryBudget,
  type RetryBudgetOptions,
  toErrorBody,
} from '@faultline/core';
import type { DisconnectDescription, Socket } from 'socket.io-client';
import { now, rehydrate } from './rehydrate.js';
import {
  CLOSE_HEADER,
  ERROR_EVENT,
  type EventName,
  type EventsMap,
  isObject,
  type RequestData,
  type RequestMetaArg,
  type RequestResult,
} from './wire.js';

export type { ConnectionState, RequestOptions } from '@faultline/core';
export type {
  AckMeta,
  EventName,
  EventsMap,
  FaultlineAck,
  Params,
  RequestData,
  RequestMetaArg,
  RequestResult,
} from './wire.js';
export { CLOSE_HEADER, ERROR_EVENT } from './wire.js';

/** A connection state change (the same as `@faultline/ws`'s client, plus Socket.IO's own word). */
export interface StateChange extends CoreStateChange {
  /** What Socket.IO said or did: a disconnect reason (`io server disconnect`), `connect`, `retry`, `close`... */
  detail: string;
}

/** Answers a request the server sends with `request(socket, event, data)`. */
export type ClientRequestHandler<F = unknown> = (data: RequestData<F>) => unknown;

/** Options of {@link createClient}. */
export interface ClientOptions {
  /**
   * Token provider: called before the first connection (`refresh: false`) and once after the
   * server refused the connection with UNAUTHORIZED (`refresh: true`); a second UNAUTHORIZED in
   * a row is fatal. The token goes into Socket.IO's handshake `auth` as `tokenParam`, next to
   * whatever object `socket.auth` already held.
   */
  token?: (context: { refresh: boolean }) => string | PromiseLike<string>;
  /** @default 'token' */
  tokenParam?: string;
  /** Default timeout of a request, in ms. @default 10000 */
  timeoutMs?: number;
  /**
   * Reconnection by classification, with core's backoff (full jitter, cap). The client turns
   * Socket.IO's own reconnection off on the socket's Manager; `false` leaves reconnection to
   * Socket.IO and never reconnects by itself.
   */
  reconnect?: BackoffOptions | false;
  /** The retry budget shared by reconnects and request retries. */
  budget?: RetryBudget | RetryBudgetOptions;
  /** The application's registry, to classify its own close codes when the error event was lost. */
  registry?: RegistryLike;
  /** `success` / `error` notifications with a location. */
  observer?: Observer;
  /** Failures nobody waits for. @default logs through `logger` */
  errorRoute?: ErrorRoute;
  /** Used by the default error route. @default console */
  logger?: Logger;
  /**
   * Answer server requests for events that have no listener with NOT_FOUND, instead of letting
   * the server wait for its timeout. @default true
   */
  answerUnknown?: boolean;
}

/** The Faultline client. `E` is the client-to-server event map, `L` the server-to-client one. */
export interface FaultlineClient<E extends EventsMap = EventsMap, L extends EventsMap = EventsMap> {
  /** The wrapped socket. */
  readonly socket: Socket<L, E>;
  readonly state: ConnectionState;
  /** Requests waiting for their outcome, sent or queued. */
  readonly pending: number;
  /**
   * Sends a request and resolves with the handler's result, or rejects with exactly one
   * {@link FaultlineError}: the server's error, TIMEOUT, CANCELLED, or BAD_CONNECTION when the
   * connection drops with the request in flight (idempotent requests are re-sent instead).
   * While disconnected, requests wait for the connection within their timeout.
   */
  request<Ev extends EventName<E>>(
    event: Ev,
    data?: RequestData<E[Ev]>,
    options?: RequestOptions,
  ): Promise<RequestResult<E[Ev]>>;
  /** Volatile: sent only when connected, never throws, never answered. */
  emit<Ev extends EventName<E>>(event: Ev, data?: RequestData<E[Ev]>): void;
  /** Listens to a server event; a listener that throws goes to the error route. Returns the unsubscribe function. */
  on<Ev extends EventName<L>>(event: Ev, listener: (data: RequestData<L[Ev]>) => void): () => void;
  /** Answers requests the server sends for `event`. Returns a function that removes the handler. */
  handle<Ev extends EventName<L>>(event: Ev, handler: ClientRequestHandler<L[Ev]>): () => void;
  /** Observes connection state changes. Returns the unsubscribe function. */
  onStateChange(listener: (change: StateChange) => void): () => void;
  /** Narrows an error to some code names (by brand and name, never `instanceof`). */
  isError(value: unknown, ...names: string[]): value is FaultlineError;
  /** Connects (again), resetting the attempt count after a fatal stop. */
  connect(): void;
  /** Closes for good: disconnects, stops reconnecting, pending requests reject with BAD_CONNECTION. */
  close(): void;
}

/** Socket.IO client internals this file touches (present since socket.io-client 4.7). */
interface SocketInternals {
  ids: number;
  acks: Record<number, unknown>;
  sendBuffer: { id?: number }[];
  auth: unknown;
}

/** A request as the client keeps it until its outcome. */
interface Entry {
  readonly id: string;
  readonly event: string;
  readonly data: unknown;
  readonly meta: RequestMetaArg | undefined;
  readonly started: number;
  /** Handed to Socket.IO on the current connection. */
  sent: boolean;
  /** Socket.IO's ack id while sent. */
  ackId: number;
}

type AckCallback = ((err: unknown, body?: unknown, result?: unknown, meta?: unknown) => void) & {
  withError?: boolean;
  /** Marks Faultline's callbacks in Socket.IO's `acks`. */
  faultline?: boolean;
};

const NO_OPTIONS = Object.freeze({});

const isBudget = (v: unknown): v is RetryBudget => typeof (v as RetryBudget | undefined)?.take === 'function';

/** The WebSocket close code and reason behind a Socket.IO disconnect, when there was one. */
function closeOf(description: DisconnectDescription | undefined): { code: number; reason: string } | undefined {
  const context = (description as { context?: { code?: unknown; reason?: unknown } } | undefined)?.context;
  if (typeof context?.code !== 'number') return undefined;
  return { code: context.code, reason: typeof context.reason === 'string' ? context.reason : '' };
}

/**
 * What the HTTP error answer that ended a long-polling connection says: the close code and
 * reason of its {@link CLOSE_HEADER} header, and the error frame of its body when the transport
 * still has it (XMLHttpRequest; `fetch` leaves the body unread).
 */
function pollEndOf(
  description: DisconnectDescription | undefined,
): { code: number; reason: string; body?: unknown; meta?: unknown } | undefined {
  const context = (description as { context?: unknown } | undefined)?.context as
    | {
        getResponseHeader?(name: string): string | null;
        headers?: { get?(name: string): string | null };
        responseText?: unknown;
      }
    | undefined;
  if (typeof context !== 'object' || context === null) return undefined;
  let header: string | null | undefined;
  try {
    header =
      typeof context.getResponseHeader === 'function'
        ? context.getResponseHeader(CLOSE_HEADER)
        : context.headers?.get?.(CLOSE_HEADER);
  } catch {
    return undefined;
  }
  const m = typeof header === 'string' ? /^(\d{4}) ([\x21-\x7e]{0,123})$/.exec(header) : null;
  if (m === null) return undefined;
  const out: { code: number; reason: string; body?: unknown; meta?: unknown } = {
    code: Number(m[1]),
    reason: m[2] as string,
  };
  try {
    if (typeof context.responseText === 'string' && context.responseText.length > 0) {
      const frame = JSON.parse(context.responseText) as unknown;
      if (isObject(frame) && frame.type === 'error' && frame.data !== undefined) {
        out.body = frame.data;
        out.meta = frame.meta;
      }
    }
  } catch {
    // Not the error frame: the header alone classifies the end.
  }
  return out;
}

/** Close codes that say nothing of the server's intent (1009 is Socket.IO's maxHttpBufferSize, handled apart). */
const PLAIN_CLOSES: ReadonlySet<number> = new Set([1000, 1001, 1005, 1006, 1009, 1014]);

/**
 * Why the connection ended, when the error event that said it was lost: the server ends it with
 * the error's mapped close code and `NAME:retry_after_ms` (a WebSocket close, or over polling the
 * {@link CLOSE_HEADER} of its HTTP error answer), classified as PROTOCOL.md §6.1 says.
 */
function endError(close: { code: number; reason: string }, registry?: RegistryLike): FaultlineError | undefined {
  if (PLAIN_CLOSES.has(close.code)) return undefined;
  return closeError(classifyClose(close.code, close.reason, registry));
}

/** The error the end of a connection gives, with PAYLOAD_TOO_LARGE as cause when that was why. */
function lostError(reason: string, description: DisconnectDescription | undefined): FaultlineError {
  const d = description as { description?: unknown; context?: { status?: unknown } } | undefined;
  // When a packet exceeds the server's maxHttpBufferSize, ws closes with 1009 and polling answers 413.
  const tooLarge = closeOf(description)?.code === 1009 || d?.description === 413 || d?.context?.status === 413;
  return new FaultlineError('BAD_CONNECTION', {
    message: `Connection lost (${reason})`,
    executed: 'maybe',
    ...(tooLarge
      ? {
          cause: new FaultlineError('PAYLOAD_TOO_LARGE', {
            message: 'A message was larger than the server accepts (maxHttpBufferSize)',
            executed: 'no',
          }),
        }
      : {}),
  });
}

/**
 * Wraps a `socket.io-client` socket. Create the client right after `io()`, in the same tick, so
 * it sees the first connection (or pass `autoConnect: false` and call `connect()`).
 *
 * @example
 * const client = createClient(io(url), { token: ({ refresh }) => auth.token(refresh) });
 * const room = await client.request('join', { room: 'r1' });
 */
export function createClient<E extends EventsMap = EventsMap, L extends EventsMap = EventsMap>(
  socket: Socket<L, E>,
  options: ClientOptions = {},
): FaultlineClient<E, L> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const notifier = new Notifier(
    options.observer,
    options.errorRoute ?? loggingErrorRoute(options.logger ?? consoleLogger),
  );
  const observer = options.observer;
  // Timing a request costs two clock reads: only when someone listens.
  const timed = observer?.success !== undefined;
  const notifyErrors = observer?.error !== undefined;
  const budget = isBudget(options.budget) ? options.budget : createRetryBudget(options.budget);
  const reconnects = options.reconnect !== false;
  const planner = createRetryPlanner({ backoff: options.reconnect || {}, budget });
  const tokenParam = options.tokenParam ?? 'token';
  const raw = socket as unknown as SocketInternals;
  const untyped = socket as unknown as {
    emit(event: string, ...args: unknown[]): unknown;
    on(event: string, listener: (...args: never[]) => void): unknown;
    off(event: string, listener: (...args: never[]) => void): unknown;
    listeners(event: string): unknown[];
  };

  const tracker = new RequestTracker({
    timeoutMs,
    idPrefix: 'c',
    onLateReply: (id) =>
      notifier.unhandled(
        'Request#late',
        new FaultlineError('TIMEOUT', { message: `Late reply to request ${id} dropped` }),
      ),
  });
  const entries = new Map<string, Entry>();
  const stateListeners = new Set<(change: StateChange) => void>();

  let state: ConnectionState = socket.connected ? 'open' : socket.active ? 'connecting' : 'idle';
  let attempt = 0;
  let refreshedInARow = false;
  let refreshNext = false;
  /** The error the server sent just before it disconnects us ({@link ERROR_EVENT} with `closing`). */
  let closingError: FaultlineError | undefined;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let token: string | undefined;

  const setState = (
    current: ConnectionState,
    detail: string,
    reason?: FaultlineError,
    nextRetryInMs?: number,
  ): void => {
    const previous = state;
    state = current;
    if (stateListeners.size === 0) return;
    const change: StateChange = { previous, current, reason, detail, nextRetryInMs, attempt, at: Date.now() };
    for (const listener of [...stateListeners]) {
      try {
        listener(change);
      } catch (error) {
        notifier.unhandled('State#listener', error);
      }
    }
  };

  // ---------------------------------------------------------------- requests

  /** Frees Socket.IO's slots for a request that will not be answered through them. */
  const forget = (entry: Entry, keepAck = false): void => {
    entry.sent = false;
    // A timed-out request keeps its ack callback so a late reply is reported (PROTOCOL.md §7),
    // until it comes or the connection ends.
    if (!keepAck) delete raw.acks[entry.ackId];
    // Socket.IO keeps packets it could not write (ping expired) and would send them again.
    const buffer = raw.sendBuffer;
    if (buffer.length > 0) raw.sendBuffer = buffer.filter((packet) => packet.id !== entry.ackId);
  };

  const onFailed = (id: string, error: FaultlineError): void => {
    const entry = entries.get(id);
    if (entry === undefined) return;
    entries.delete(id);
    if (entry.sent) forget(entry, error.name === 'TIMEOUT');
    if (observer?.error !== undefined) notifier.error(`Request#${entry.event}`, error);
  };

  /** Emits a request; returns Socket.IO's ack id, or -1 when the emit failed (the request is failed). */
  const transmit = (
    id: string,
    event: string,
    data: unknown,
    meta: RequestMetaArg | undefined,
    started: number,
  ): number => {
    const cb: AckCallback = (err, body, result, ackMeta) => {
      if (err) {
        // Socket.IO's own failures: its `ackTimeout` option (whose value the socket keeps to
        // itself), or a disconnect (handled in onDisconnect).
        if (err instanceof Error && /timed out/.test(err.message)) {
          tracker.fail(id, new FaultlineError('TIMEOUT', { message: `Request ${event} timed out`, executed: 'maybe' }));
        }
        return;
      }
      if (body === null || body === undefined) {
        if (tracker.resolve(id, result)) {
          if (entries.size > 0) entries.delete(id);
          if (timed) notifier.success(`Request#${event}`, now() - started);
        }
        return;
      }
      tracker.reject(id, rehydrate(body, ackMeta));
    };
    // With the flag, Socket.IO passes (err, ...ackArgs) whether or not one of its timeouts applies.
    cb.withError = true;
    cb.faultline = true;
    const ackId = raw.ids;
    try {
      if (meta !== undefined) untyped.emit(event, data ?? null, meta, cb);
      else if (data === undefined) untyped.emit(event, cb);
      else untyped.emit(event, data, cb);
    } catch (error) {
      tracker.fail(
        id,
        new FaultlineError('BAD_REQUEST', { message: `Cannot send ${event}`, cause: error, executed: 'no' }),
      );
      return -1;
    }
    return ackId;
  };

  const send = (entry: Entry): void => {
    const ackId = transmit(entry.id, entry.event, entry.data, entry.meta, entry.started);
    if (ackId < 0) return;
    entry.ackId = ackId;
    entry.sent = true;
  };

  const once = (event: string, data: unknown, opts: RequestOptions, key: string | undefined): Promise<unknown> => {
    const tracked = tracker.track(
      event,
      opts.signal === undefined
        ? opts.timeoutMs === undefined
          ? NO_OPTIONS
          : { timeoutMs: opts.timeoutMs }
        : opts.timeoutMs === undefined
          ? { signal: opts.signal }
          : { timeoutMs: opts.timeoutMs, signal: opts.signal },
    );
    const id = tracked.id;
    const started = timed ? now() : 0;
    if (key === undefined && !notifyErrors && socket.connected) {
      // The fast path keeps nothing but core's tracker entry and Socket.IO's ack callback: a drop
      // fails it from the tracker's list (onDisconnect), a late reply is reported by the tracker.
      if (opts.signal === undefined || tracker.has(id)) transmit(id, event, data, undefined, started);
      return tracked.promise;
    }
    const entry: Entry = {
      id,
      event,
      data,
      meta: key === undefined ? undefined : { idempotency_key: key },
      started,
      sent: false,
      ackId: -1,
    };
    entries.set(id, entry);
    tracked.promise.then(undefined, (error: FaultlineError) => onFailed(id, error));
    if (socket.connected && tracker.has(id)) send(entry);
    return tracked.promise;
  };

  /** Fails the requests `filter` keeps, each with its own error (it carries its request id). */
  const failPending = (make: (entry: Entry) => FaultlineError, filter?: (entry: Entry) => boolean): void => {
    // Socket.IO would send packets it buffered (ping expired) again after the reconnect.
    if (raw.sendBuffer.length > 0) {
      raw.sendBuffer = raw.sendBuffer.filter((packet) => {
        const ack = packet.id === undefined ? undefined : (raw.acks[packet.id] as AckCallback | undefined);
        if (ack?.faultline !== true) return true;
        delete raw.acks[packet.id as number];
        return false;
      });
    }
    for (const entry of [...entries.values()]) {
      if (filter !== undefined && !filter(entry)) continue;
      if (entry.sent) forget(entry);
      tracker.fail(entry.id, make(entry));
    }
    // Requests sent on the fast path live in the tracker only: they were all sent.
    if (tracker.size > entries.size) {
      for (const { id, event } of tracker.pending()) {
        if (entries.has(id)) continue;
        const entry: Entry = { id, event, data: undefined, meta: undefined, started: 0, sent: true, ackId: -1 };
        if (filter !== undefined && !filter(entry)) continue;
        tracker.fail(id, make(entry));
      }
    }
  };

  // ---------------------------------------------------------------- connection

  const connectNow = (): void => {
    retryTimer = undefined;
    if (state === 'closed') return;
    notifier.success('Reconnect#Attempt');
    socket.connect();
  };

  const stop = (detail: string, reason?: FaultlineError): void => {
    if (retryTimer !== undefined) clearTimeout(retryTimer);
    retryTimer = undefined;
    const previous = state;
    state = 'closed';
    failPending((entry) =>
      connectionLost({ closedBy: reason?.name ?? 'client', cause: reason, executed: entry.sent ? 'maybe' : 'no' }),
    );
    if (socket.active) socket.disconnect();
    state = previous;
    if (previous !== 'closed') setState('closed', detail, reason);
  };

  /** Reconnects after the planner's delay (at least `retry_after_ms`), or stops when it gives up. */
  const schedule = (reason: FaultlineError, detail: string, retryAfterMs: number | undefined, delay?: number): void => {
    if (!reconnects) {
      // Socket.IO reconnects by itself while the socket is active; otherwise nobody will.
      if (socket.active) setState('reconnecting', detail, reason);
      else stop(detail, reason);
      return;
    }
    const wait = delay ?? planner.next(attempt, retryAfterMs);
    if (wait === undefined) {
      notifier.unhandled('Reconnect#Attempt', reason, attempt);
      stop(detail, reason);
      return;
    }
    attempt++;
    setState('reconnecting', detail, reason, wait);
    notifier.error('Reconnect#Schedule', reason);
    if (retryTimer !== undefined) clearTimeout(retryTimer);
    retryTimer = setTimeout(connectNow, wait);
  };

  /** Acts on an error's classification: re-authenticate once, reconnect after a delay, or stop. */
  const react = (reason: FaultlineError, detail: string): void => {
    const c = classifyError(reason);
    if (c.recovery === 'reauthenticate') {
      if (refreshedInARow) {
        stop(detail, reason);
        return;
      }
      refreshedInARow = true;
      refreshNext = true;
      // At once, but paid from the shared budget: a server that keeps refusing cannot loop us.
      schedule(reason, detail, undefined, reconnects ? budget.take() : undefined);
      return;
    }
    if (c.recovery === 'none') stop(detail, reason);
    else schedule(reason, detail, c.retryAfterMs);
  };

  const onConnect = (): void => {
    if (retryTimer !== undefined) clearTimeout(retryTimer);
    retryTimer = undefined;
    attempt = 0;
    refreshedInARow = false;
    closingError = undefined;
    setState('open', 'connect');
    notifier.success('Connect#Open');
    for (const entry of [...entries.values()]) if (!entry.sent && tracker.has(entry.id)) send(entry);
  };

  const onConnectError = (err: Error & { data?: unknown }): void => {
    // A middleware refusal carries the Faultline body in err.data; anything else is the transport.
    const reason =
      err.data !== undefined && err.data !== null
        ? rehydrate(err.data, undefined)
        : new FaultlineError('BAD_CONNECTION', {
            message: `Could not connect: ${err.message}`,
            cause: err,
            executed: 'no',
          });
    notifier.error(attempt === 0 ? 'Connect#Open' : 'Reconnect#Attempt', reason);
    if (state === 'closed') return;
    react(reason, 'connect_error');
  };

  const onDisconnect = (detail: string, description?: DisconnectDescription): void => {
    const lost = lostError(detail, description);
    const cause = lost.cause as FaultlineError | undefined;
    // In flight: exactly one BAD_CONNECTION each, except idempotent requests, re-sent on connect
    // (unless the connection died of an oversized message, which a re-send would repeat).
    failPending(
      (_entry) => connectionLost({ cause }),
      (entry) => {
        if (!entry.sent) return false;
        if (entry.meta !== undefined && cause === undefined) {
          forget(entry);
          return false;
        }
        return true;
      },
    );
    if (state === 'closed') return;
    if (detail === 'io client disconnect') {
      stop(detail);
      return;
    }
    // The error the server sent just before the end is authoritative. Without it (lost), the end
    // says what it was: the WebSocket close code and reason, or over polling the HTTP error
    // answer's body or CLOSE_HEADER. `io server disconnect` alone (a fatal error on a connection
    // shared by namespaces) means stop, as for Socket.IO.
    const sent = closingError;
    closingError = undefined;
    const close = closeOf(description);
    const poll = close === undefined ? pollEndOf(description) : undefined;
    const ended = close ?? poll;
    const reason =
      sent ??
      (poll?.body === undefined ? undefined : rehydrate(poll.body, poll.meta)) ??
      (ended === undefined ? undefined : endError(ended, options.registry)) ??
      (detail === 'io server disconnect'
        ? new FaultlineError('BAD_CONNECTION', { message: 'Disconnected by the server', executed: 'maybe' })
        : lost);
    notifier.error('Connect#Close', reason);
    if (detail === 'io server disconnect' && sent === undefined) stop(detail, reason);
    else react(reason, detail);
  };

  const onServerError = (body: unknown, meta: unknown): void => {
    const error = rehydrate(body, meta);
    if (isObject(meta) && meta.closing === true) closingError = error;
    notifier.error('Connect#Error', error);
  };

  // ---------------------------------------------------------------- wiring

  if (reconnects) socket.io.reconnection(false);
  if (options.token !== undefined) {
    const provider = options.token;
    const base = isObject(raw.auth) ? raw.auth : {};
    raw.auth = (cb: (data: object) => void): void => {
      if (token !== undefined && !refreshNext) {
        cb({ ...base, [tokenParam]: token });
        return;
      }
      const refresh = refreshNext;
      refreshNext = false;
      const started = now();
      Promise.resolve()
        .then(() => provider({ refresh }))
        .then(
          (value) => {
            token = value;
            if (refresh) notifier.success('Auth#Refresh', now() - started);
            cb({ ...base, [tokenParam]: value });
          },
          (error: unknown) => {
            const err = FaultlineError.is(error)
              ? error
              : new FaultlineError('UNAUTHORIZED', { message: 'Token provider failed', cause: error, executed: 'no' });
            notifier.error('Auth#Refresh', err);
            stop('Auth#Refresh', err);
          },
        );
    };
  }
  untyped.on('connect', onConnect);
  untyped.on('connect_error', onConnectError);
  untyped.on('disconnect', onDisconnect);
  untyped.on(ERROR_EVENT, onServerError);
  if (options.answerUnknown !== false) {
    socket.onAny((event: string, ...args: unknown[]) => {
      const ack = args[args.length - 1];
      if (typeof ack !== 'function' || untyped.listeners(event).length > 0) return;
      try {
        ack(
          bodyOf('NOT_FOUND', {
            message: `Unknown event ${JSON.stringify(String(event).slice(0, 64))}`,
            details: { event: String(event).slice(0, 128) },
            executed: 'no',
          }),
          null,
        );
      } catch (error) {
        notifier.unhandled(`Handle#${String(event)}`, error);
      }
    });
  }

  const client: FaultlineClient<E, L> = {
    socket,
    get state() {
      return state;
    },
    get pending() {
      return tracker.size;
    },
    request(event, data, opts = {}) {
      const name = event as string;
      if (state === 'closed') {
        return Promise.reject(new FaultlineError('BAD_CONNECTION', { message: 'Client is closed', executed: 'no' }));
      }
      const key = idempotencyKeyOf(opts);
      const retries = opts.retries ?? 0;
      // biome-ignore lint/suspicious/noExplicitAny: the result type comes from the event map
      if (retries <= 0) return once(name, data, opts, key) as Promise<any>;
      return (async () => {
        for (let tries = 0; ; tries++) {
          try {
            return await once(name, data, opts, key);
          } catch (error) {
            const err = error as FaultlineError;
            if (tries >= retries || !mayResend(err, key !== undefined) || client.state === 'closed') throw err;
            const delay = planner.next(tries, err.retryAfterMs);
            if (delay === undefined) throw err;
            await new Promise((resolve) => setTimeout(resolve, delay));
          }
        }
        // biome-ignore lint/suspicious/noExplicitAny: the result type comes from the event map
      })() as Promise<any>;
    },
    emit(event, data) {
      if (!socket.connected) return;
      try {
        if (data === undefined) untyped.emit(event);
        else untyped.emit(event, data);
      } catch (error) {
        notifier.unhandled(`Emit#${event}`, error);
      }
    },
    on(event, listener) {
      const wrapped = (data: unknown): void => {
        try {
          (listener as (data: unknown) => void)(data);
        } catch (error) {
          notifier.unhandled(`Event#${event}`, error);
        }
      };
      untyped.on(event, wrapped);
      return () => {
        untyped.off(event, wrapped);
      };
    },
    handle(event, handler) {
      const name = event as string;
      const location: Location = `Handle#${name}`;
      const listener = (...args: unknown[]): void => {
        const last = args[args.length - 1];
        const ack = typeof last === 'function' ? (last as (...a: unknown[]) => void) : undefined;
        const fail = (error: unknown): void => {
          const err = FaultlineError.from(error);
          // An unknown throw keeps its stack here, on the client; the server gets INTERNAL only.
          if (err.code === 5000 || ack === undefined) notifier.unhandled(location, error);
          notifier.error(location, err);
          if (ack === undefined) return;
          const body: ErrorBody = toErrorBody(err);
          if (body.executed === undefined) body.executed = 'yes';
          ack(body, null);
        };
        const done = (value: unknown): void => {
          if (ack === undefined) return;
          try {
            if (value === undefined) ack(null);
            else ack(null, value as Json);
          } catch (error) {
            fail(error);
            return;
          }
          notifier.success(location);
        };
        try {
          const value = handler((ack === undefined ? args[0] : args.length > 1 ? args[0] : undefined) as never);
          if (typeof (value as PromiseLike<unknown> | null)?.then === 'function') {
            (value as PromiseLike<unknown>).then(done, fail);
          } else {
            done(value);
          }
        } catch (error) {
          fail(error);
        }
      };
      untyped.on(name, listener);
      return () => {
        untyped.off(name, listener);
      };
    },
    onStateChange(listener) {
      stateListeners.add(listener);
      return () => {
        stateListeners.delete(listener);
      };
    },
    isError: (value, ...names): value is FaultlineError =>
      FaultlineError.is(value) && (names.length === 0 || names.includes(value.name)),
    connect() {
      if (socket.connected) return;
      if (retryTimer !== undefined) clearTimeout(retryTimer);
      retryTimer = undefined;
      attempt = 0;
      refreshedInARow = false;
      setState('connecting', 'connect');
      socket.connect();
    },
    close() {
      stop('close');
    },
  };
  if (state === 'idle' && socket.active) state = 'connecting';
  return client;
}
