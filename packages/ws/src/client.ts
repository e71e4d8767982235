/**
 * `@faultline/ws/client`: a Faultline client over the standard `WebSocket` (browsers, Node 22's
 * global, or `ws` passed in). It imports no `ws` and no `node:*` module.
 *
 * It acts on the classification (PROTOCOL.md §8): reconnects with jittered backoff drawn from a
 * shared retry budget, refreshes its token once on UNAUTHORIZED, stops on fatal errors, fails
 * in-flight requests with BAD_CONNECTION and re-sends only idempotent ones.
 */
import {
  type BackoffOptions,
  type BuiltinName,
  type Classification,
  checkEventName,
  classifyClose,
  closeError,
  connectionLost,
  classifyError,
  closeCodeFor,
  consoleLogger,
  createRetryPlanner,
  DEFAULT_DECODE_LIMITS,
  type DecodeLimits,
  decodeFrame,
  type ErrorBody,
  type ErrorRoute,
  errorFrame,
  encodeFrame,
  encodeRequestFrame,
  encodeResponseFrame,
  eventFrame,
  FaultlineError,
  type Json,
  type Logger,
  loggingErrorRoute,
  mayResend,
  Notifier,
  type Observer,
  PING_EVENT,
  type Registry,
  type RegistryLike,
  RequestTracker,
  type RetryBudget,
  type RetryBudgetOptions,
  toErrorBody,
  type ConnectionState,
  idempotencyKeyOf,
  type RequestOptions,
  type StateChange,
} from '@faultline/core';
import { peekRequestId } from './peek.js';

/** The part of the WHATWG `WebSocket` the client uses. */
export interface WebSocketLike {
  /** `1` (OPEN) when frames can be sent, as in the WHATWG `WebSocket`. */
  readonly readyState: number;
  /** Sends one text frame. */
  send(data: string): void;
  /** Starts the closing handshake with a close code and reason. */
  close(code?: number, reason?: string): void;
  /** Set by the client: the socket is open. */
  onopen: EventHandler<unknown> | null;
  /** Set by the client: a frame arrived (`data` is a string for text frames). */
  onmessage: EventHandler<{ data: unknown }> | null;
  /** Set by the client: the socket closed; `code` and `reason` classify it (PROTOCOL.md §6.1). */
  onclose: EventHandler<{ code: number; reason: string }> | null;
  /** Set by the client: a socket error; a close follows. */
  onerror: EventHandler<unknown> | null;
}

/**
 * A socket's event handler, compared bivariantly (as methods are): the client only assigns
 * handlers that read `data`, `code` and `reason`, so a socket whose handlers take a richer event
 * (`ws`'s `MessageEvent`, the DOM's) fits without a cast.
 */
type EventHandler<E> = { handle(event: E): void }['handle'];

/** A `WebSocket` constructor: the browser's, or `ws`'s in Node. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

export type { ConnectionState, RequestOptions, StateChange } from '@faultline/core';

/** Options of {@link createClient}. */
export interface ClientOptions<Name extends string = BuiltinName> {
  /** Server URL, or a function giving it (called on every connect). */
  url: string | (() => string | Promise<string>);
  /** The WebSocket constructor. @default globalThis.WebSocket */
  WebSocket?: WebSocketConstructor;
  /** WebSocket subprotocols passed to the constructor. */
  protocols?: string | string[];
  /**
   * Token provider: called on connect (`refresh: false`) and once after UNAUTHORIZED
   * (`refresh: true`). The token is sent as the `tokenParam` query parameter.
   */
  token?: (context: { refresh: boolean }) => string | Promise<string>;
  /** @default 'access_token' */
  tokenParam?: string;
  /** Default request timeout, ms. @default 10000 */
  timeoutMs?: number;
  /** Reconnect backoff, or `false` never to reconnect. */
  reconnect?: BackoffOptions | false;
  /** The retry budget shared by reconnects and request retries. */
  budget?: RetryBudget | RetryBudgetOptions;
  /** Client-side liveness check: a `$ping` request when the line has been quiet. @default { intervalMs: 15000, timeoutMs: 5000 } */
  heartbeat?: { intervalMs: number; timeoutMs: number } | false;
  /** A connection that stays open this long counts as healthy again. @default 1000 */
  stableAfterMs?: number;
  /** `success` / `error` notifications. */
  observer?: Observer;
  /** Failures nobody waits for (an event listener that throws). */
  errorRoute?: ErrorRoute;
  /** Where the default error route logs. @default consoleLogger */
  logger?: Logger;
  /**
   * The application's registry: errors narrow on its names, and a close with one of its codes is
   * classified by it when the error frame before the close was lost.
   */
  registry?: Registry<Name>;
  /** Do not connect until `connect()` is called. @default false */
  lazy?: boolean;
  /**
   * Largest frame accepted from the server, in UTF-8 bytes. A response beyond it rejects its
   * request (PAYLOAD_TOO_LARGE) instead of leaving it to time out. @default 4194304 (4 MiB)
   */
  maxFrameBytes?: number;
}

/** A Faultline client. */
export interface FaultlineClient<Name extends string = BuiltinName> {
  /** The connection state now; `onStateChange` tells each change. */
  readonly state: ConnectionState;
  /** Resolves with the response or rejects with a typed {@link FaultlineError}. */
  request<T = Json>(event: string, data?: Json, options?: RequestOptions): Promise<T>;
  /** Volatile: sent only when open, never throws, never answered. */
  emit(event: string, data?: Json): void;
  /** Listens to a server event. Returns the unsubscribe function. */
  on(event: string, listener: (data: unknown) => void): () => void;
  /** Answers server-to-client requests for `event`. */
  handle(event: string, handler: (data: unknown) => unknown): () => void;
  /** Observes connection state changes. */
  onStateChange(listener: (change: StateChange) => void): () => void;
  /** Narrows an error to this client's code names. */
  isError(value: unknown, ...names: Name[]): value is FaultlineError<Name>;
  /**
   * Connects now: needed after `lazy: true` or `close()`, and cuts a reconnect wait short. Does
   * nothing while open or connecting.
   */
  connect(): void;
  /** Closes for good: pending requests reject with BAD_CONNECTION. */
  close(): void;
}

const OPEN = 1;

const ignore = (): void => {};
const NO_OPTIONS: Readonly<RequestOptions> = Object.freeze({});

/** Whether a close is the one an error frame announced (its mapped code, or its name as reason). */
function explains(body: ErrorBody, ev: { code: number; reason: string }, registry: RegistryLike | undefined): boolean {
  if (ev.code === closeCodeFor(body, registry)) return true;
  const reason = typeof ev.reason === 'string' ? ev.reason : '';
  return reason === body.name || reason.startsWith(`${body.name}:`);
}

interface Outgoing {
  /** Encoded request frame. */
  text: string;
  idempotent: boolean;
  sent: boolean;
}

/**
 * Creates a client and (unless `lazy`) connects.
 *
 * @example
 * const client = createClient({ url: 'ws://127.0.0.1:3000' });
 * try { await client.request('join', { room: 'r1' }); }
 * catch (err) { if (client.isError(err, 'NOT_FOUND')) showMissingRoom(); }
 */
export function createClient<Name extends string = BuiltinName>(options: ClientOptions<Name>): FaultlineClient<Name> {
  const WS = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (typeof WS !== 'function') {
    throw new TypeError('Faultline client: no WebSocket available; pass { WebSocket } (for example from "ws")');
  }
  if (typeof options.url !== 'string' && typeof options.url !== 'function') {
    throw new TypeError('Faultline client: url must be a string or a function');
  }
  const logger = options.logger ?? consoleLogger;
  const notifier = new Notifier(options.observer, options.errorRoute ?? loggingErrorRoute(logger));
  const observeSuccess = typeof options.observer?.success === 'function';
  const observeError = typeof options.observer?.error === 'function';
  const planner = createRetryPlanner({
    ...(options.reconnect ? { backoff: options.reconnect } : {}),
    ...(options.budget ? { budget: options.budget } : {}),
  });
  const heartbeat = options.heartbeat === undefined ? { intervalMs: 15_000, timeoutMs: 5_000 } : options.heartbeat;
  const stableAfterMs = options.stableAfterMs ?? 1000;
  const limits: DecodeLimits = { ...DEFAULT_DECODE_LIMITS, maxBytes: options.maxFrameBytes ?? 4 * 1024 * 1024 };
  const tokenParam = options.tokenParam ?? 'access_token';

  const tracker = new RequestTracker({
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    onLateReply: (id) =>
      notifier.unhandled('Request#late', new FaultlineError('TIMEOUT', { message: `Late reply to request ${id} dropped` })),
  });
  const outgoing = new Map<string, Outgoing>();
  const listeners = new Map<string, Set<(data: unknown) => void>>();
  const serverHandlers = new Map<string, (data: unknown) => unknown>();
  const stateListeners = new Set<(change: StateChange) => void>();

  let state: ConnectionState = 'idle';
  let socket: WebSocketLike | undefined;
  let attempt = 0;
  let refreshedInARow = false;
  let refreshNext = false;
  let connectionError: ErrorBody | undefined;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let stableTimer: ReturnType<typeof setTimeout> | undefined;
  let beatTimer: ReturnType<typeof setInterval> | undefined;
  let heard = false;

  const setState = (current: ConnectionState, reason?: FaultlineError, nextRetryInMs?: number): void => {
    if (current === state && nextRetryInMs === undefined) return;
    const change: StateChange = { previous: state, current, reason, nextRetryInMs, attempt, at: Date.now() };
    state = current;
    for (const l of stateListeners) {
      try {
        l(change);
      } catch (error) {
        notifier.unhandled('State#listener', error);
      }
    }
  };

  const healthy = (): void => {
    if (attempt === 0 && !refreshedInARow && stableTimer === undefined) return;
    attempt = 0;
    refreshedInARow = false;
    if (stableTimer !== undefined) clearTimeout(stableTimer);
    stableTimer = undefined;
  };

  const sendNow = (text: string): boolean => {
    if (socket === undefined || socket.readyState !== OPEN) return false;
    try {
      socket.send(text);
      return true;
    } catch {
      return false;
    }
  };

  const flush = (): void => {
    for (const [id, out] of outgoing) {
      // Settled while waiting (timeout, abort): nothing to send.
      if (!tracker.has(id)) outgoing.delete(id);
      else if (!out.sent) out.sent = sendNow(out.text);
    }
  };

  const stopTimers = (): void => {
    if (stableTimer !== undefined) clearTimeout(stableTimer);
    if (beatTimer !== undefined) clearInterval(beatTimer);
    stableTimer = undefined;
    beatTimer = undefined;
  };

  const badConnection = (closedBy: string | undefined) => (id: string) => {
    const err = connectionLost(closedBy === undefined ? {} : { closedBy });
    err.requestId = id;
    return err;
  };

  /**
   * The connection is gone: rejects what was sent and cannot be re-sent (it may have run), keeps
   * idempotent and unsent requests for the next connection unless `fatal`. `outgoing` holds only
   * requests that were not sent or are idempotent; every other pending request was sent.
   */
  const dropInFlight = (fatal: FaultlineError | undefined): void => {
    const lost = badConnection(fatal?.name);
    for (const [id, out] of outgoing) {
      if (!tracker.has(id)) {
        outgoing.delete(id);
        continue;
      }
      if (fatal === undefined && (out.idempotent || !out.sent)) {
        out.sent = false;
        continue;
      }
      outgoing.delete(id);
      // Never sent: the fatal error itself, one instance per request (each carries its id).
      tracker.fail(id, fatal && !out.sent ? FaultlineError.fromBody(toErrorBody(fatal), { requestId: id }) : lost(id));
    }
    for (const { id } of tracker.pending()) {
      if (!outgoing.has(id)) tracker.fail(id, lost(id));
    }
  };

  const onServerRequest = (event: string, id: string, data: unknown): void => {
    const handler = serverHandlers.get(event);
    const answer = (text: string) => sendNow(text);
    if (handler === undefined) {
      answer(encodeFrame(errorFrame(toErrorBody(new FaultlineError('NOT_FOUND', { message: `No handler for ${event}`, executed: 'no' })), id)));
      return;
    }
    Promise.resolve()
      .then(() => handler(data))
      .then(
        (value) => answer(encodeResponseFrame(id, value as Json | undefined)),
        (error: unknown) => {
          const err = FaultlineError.from(error);
          if (err.code === 5000) notifier.unhandled(`Handle#${event}`, error);
          // Not a hot path: the plain encoder keeps the browser bundle small.
          answer(encodeFrame(errorFrame(toErrorBody(err), id)));
        },
      );
  };

  const onMessage = (raw: unknown): void => {
    heard = true;
    const text = typeof raw === 'string' ? raw : String(raw);
    const result = decodeFrame(text, limits);
    if (!result.ok) {
      const id = result.requestId ?? peekRequestId(text);
      const err = FaultlineError.fromBody({ ...result.error, executed: 'maybe' }, id === undefined ? {} : { requestId: id });
      notifier.error('Frame#decode', err);
      // A reply the client cannot read still settles its request, now rather than at its timeout.
      if (id !== undefined && tracker.has(id)) {
        outgoing.delete(id);
        tracker.fail(id, err);
      }
      return;
    }
    const frame = result.frame;
    switch (frame.type) {
      case 'response': {
        const id = frame.meta.request_id;
        outgoing.delete(id);
        tracker.resolve(id, frame.data);
        healthy();
        return;
      }
      case 'error': {
        const id = frame.meta.request_id;
        if (id === undefined) {
          // A connection-level error: the close that follows is classified by it.
          connectionError = frame.data;
          notifier.error('Connect#Error', FaultlineError.fromBody(frame.data));
          return;
        }
        outgoing.delete(id);
        tracker.reject(id, FaultlineError.fromBody(frame.data, { requestId: id }));
        return;
      }
      case 'event': {
        const set = listeners.get(frame.event);
        if (set === undefined) return;
        for (const l of set) {
          try {
            l(frame.data);
          } catch (error) {
            notifier.unhandled(`Event#${frame.event}`, error);
          }
        }
        return;
      }
      case 'request':
        onServerRequest(frame.event, frame.meta.request_id, frame.data);
    }
  };

  const onClosed = (classification: Classification, body: ErrorBody | undefined, opened: boolean): void => {
    stopTimers();
    socket = undefined;
    const reason = body ? FaultlineError.fromBody(body) : closeError(classification);
    // A socket that never opened is a failed attempt: reported where the attempt was made.
    notifier.error(opened ? 'Connect#Close' : attempt === 0 ? 'Connect#Open' : 'Reconnect#Attempt', reason);
    if (state === 'closed') return;

    let recovery = classification.recovery;
    if (recovery === 'reauthenticate' && (refreshedInARow || options.token === undefined)) recovery = 'none';
    if (recovery === 'none' || options.reconnect === false) {
      dropInFlight(reason);
      failQueued(reason);
      setState('closed', reason);
      return;
    }
    dropInFlight(undefined);
    if (recovery === 'reauthenticate') {
      refreshedInARow = true;
      refreshNext = true;
    }
    const delay = planner.next(attempt, classification.retryAfterMs);
    if (delay === undefined) {
      dropInFlight(reason);
      failQueued(reason);
      setState('closed', reason);
      return;
    }
    attempt++;
    setState('reconnecting', reason, delay);
    notifier.error('Reconnect#Schedule', reason);
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      notifier.success('Reconnect#Attempt');
      open();
    }, delay);
  };

  const failQueued = (reason: FaultlineError): void => {
    for (const id of [...outgoing.keys()]) {
      outgoing.delete(id);
      tracker.fail(id, badConnection(reason.name)(id));
    }
    for (const { id } of tracker.pending()) tracker.fail(id, badConnection(reason.name)(id));
  };

  const resolveUrl = async (): Promise<string> => {
    const base = typeof options.url === 'function' ? await options.url() : options.url;
    if (!options.token) return base;
    const refresh = refreshNext;
    refreshNext = false;
    const started = Date.now();
    const token = await options.token({ refresh });
    if (refresh) notifier.success('Auth#Refresh', Date.now() - started);
    const sep = base.includes('?') ? '&' : '?';
    return `${base}${sep}${encodeURIComponent(tokenParam)}=${encodeURIComponent(token)}`;
  };

  const startHeartbeat = (): void => {
    if (!heartbeat) return;
    const watched = socket;
    heard = true;
    beatTimer = setInterval(() => {
      if (!heard) {
        const probe = tracker.track(PING_EVENT, { timeoutMs: heartbeat.timeoutMs });
        probe.promise.then(undefined, (error: FaultlineError) => {
          if (error.name === 'TIMEOUT' && socket === watched && state === 'open') dead();
        });
        sendNow(encodeRequestFrame(PING_EVENT, undefined, { request_id: probe.id }));
      }
      heard = false;
    }, heartbeat.intervalMs);
    (beatTimer as { unref?: () => void }).unref?.();
  };

  /** The server stopped answering: give up on this socket without waiting for a close handshake. */
  const dead = (): void => {
    const s = socket;
    if (s === undefined) return;
    detach(s);
    try {
      // `ws` in Node can drop the socket at once; a browser has only `close`.
      const terminate = (s as { terminate?: () => void }).terminate;
      if (typeof terminate === 'function') terminate.call(s);
      else s.close(4000, 'heartbeat timeout');
    } catch {
      // Already closing.
    }
    onClosed(classifyClose(1006), undefined, true);
  };

  const detach = (s: WebSocketLike): void => {
    s.onopen = null;
    s.onmessage = null;
    s.onclose = null;
    // Not null: `ws` in Node throws an 'error' event nobody listens to (closing while connecting).
    s.onerror = ignore;
  };

  const open = (): void => {
    if (state === 'closed') return;
    setState(attempt === 0 && state !== 'reconnecting' ? 'connecting' : state === 'reconnecting' ? 'reconnecting' : 'connecting');
    connectionError = undefined;
    resolveUrl().then(
      (url) => {
        if (state === 'closed') return;
        let s: WebSocketLike;
        try {
          s = new WS(url, options.protocols);
        } catch (error) {
          // A malformed URL will not heal by retrying.
          const err = new FaultlineError('BAD_REQUEST', { message: 'Invalid WebSocket URL', cause: error });
          failQueued(err);
          dropInFlight(err);
          setState('closed', err);
          return;
        }
        socket = s;
        let opened = false;
        s.onopen = () => {
          opened = true;
          setState('open');
          notifier.success('Connect#Open');
          stableTimer = setTimeout(healthy, stableAfterMs);
          startHeartbeat();
          flush();
        };
        s.onmessage = (ev) => onMessage(ev.data);
        s.onerror = () => {
          // A close event always follows; the classification happens there.
        };
        s.onclose = (ev) => {
          detach(s);
          // An error frame without a request id explains the close only when the close matches
          // it; otherwise it was a notice (a refused frame) and the close code speaks for itself.
          const body = connectionError !== undefined && explains(connectionError, ev, options.registry) ? connectionError : undefined;
          connectionError = undefined;
          onClosed(body ? classifyError(body) : classifyClose(ev.code, ev.reason, options.registry), body, opened);
        };
      },
      (error: unknown) => {
        const err = FaultlineError.is(error)
          ? error
          : new FaultlineError('UNAUTHORIZED', { message: 'Token provider failed', cause: error, executed: 'no' });
        notifier.error('Auth#Refresh', err);
        failQueued(err);
        dropInFlight(err);
        setState('closed', err);
      },
    );
  };

  const once = <T>(event: string, data: Json | undefined, opts: RequestOptions, key: string | undefined): Promise<T> => {
    const trackOptions =
      opts.timeoutMs === undefined && opts.signal === undefined
        ? NO_OPTIONS
        : {
            ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }),
            ...(opts.signal === undefined ? {} : { signal: opts.signal }),
          };
    const tracked = tracker.track<T>(event, trackOptions);
    const meta = key === undefined ? { request_id: tracked.id } : { request_id: tracked.id, idempotency_key: key };
    let text: string;
    try {
      text = encodeRequestFrame(event, data, meta);
    } catch (error) {
      tracker.fail(tracked.id, new FaultlineError('BAD_REQUEST', { message: 'Request data is not JSON', cause: error, executed: 'no' }));
      return tracked.promise;
    }
    const id = tracked.id;
    const idempotent = key !== undefined;
    const sent = sendNow(text);
    if (idempotent || !sent) {
      // May have to be sent (again) on a later connection; forgotten once settled without a reply.
      outgoing.set(id, { text, idempotent, sent });
      tracked.promise.then(undefined, () => outgoing.delete(id));
    }
    // Hot path: without an observer the tracker's promise is the request's.
    if (!observeSuccess && !observeError) return tracked.promise;
    const started = observeSuccess ? Date.now() : 0;
    return tracked.promise.then(
      observeSuccess
        ? (value) => {
            notifier.success(`Request#${event}`, Date.now() - started);
            return value;
          }
        : undefined,
      (error: FaultlineError) => {
        notifier.error(`Request#${event}`, error);
        throw error;
      },
    );
  };

  const withRetries = async <T>(event: string, data: Json | undefined, opts: RequestOptions, key: string | undefined, retries: number): Promise<T> => {
    for (let tries = 0; ; tries++) {
      try {
        return await once<T>(event, data, opts, key);
      } catch (error) {
        const err = error as FaultlineError;
        if (tries >= retries || !mayResend(err, key !== undefined) || state === 'closed') throw err;
        const delay = planner.next(tries, err.retryAfterMs);
        if (delay === undefined) throw err;
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  };

  const client: FaultlineClient<Name> = {
    get state() {
      return state;
    },
    request<T = Json>(event: string, data?: Json, opts: RequestOptions = NO_OPTIONS): Promise<T> {
      const badEvent = checkEventName(event);
      if (badEvent !== undefined) return Promise.reject(FaultlineError.fromBody(badEvent));
      if (state === 'closed') {
        return Promise.reject(new FaultlineError('BAD_CONNECTION', { message: 'Client is closed', executed: 'no' }));
      }
      const key = idempotencyKeyOf(opts);
      const retries = opts.retries ?? 0;
      // Hot path: no retries, no extra promise layer.
      if (retries > 0) return withRetries<T>(event, data, opts, key, retries);
      try {
        return once<T>(event, data, opts, key);
      } catch (error) {
        // A bad option (a timeout out of range) rejects like everything else: never a sync throw.
        return Promise.reject(error);
      }
    },
    emit(event, data) {

      try {
        sendNow(encodeFrame(eventFrame(event, data)));
      } catch (error) {
        notifier.unhandled(`Emit#${event}`, error);
      }
    },
    on(event, listener) {
      let set = listeners.get(event);
      if (!set) {
        set = new Set();
        listeners.set(event, set);
      }
      set.add(listener);
      return () => set.delete(listener);
    },
    handle(event, handler) {
      serverHandlers.set(event, handler);
      return () => serverHandlers.delete(event);
    },
    onStateChange(listener) {
      stateListeners.add(listener);
      return () => stateListeners.delete(listener);
    },
    isError: (value, ...names): value is FaultlineError<Name> =>
      FaultlineError.is(value) && (names.length === 0 || (names as string[]).includes(value.name)),
    connect() {
      if (state === 'open' || state === 'connecting') return;
      if (retryTimer !== undefined) clearTimeout(retryTimer);
      retryTimer = undefined;
      if (state === 'closed') state = 'idle';
      attempt = 0;
      open();
    },
    close() {
      if (retryTimer !== undefined) clearTimeout(retryTimer);
      retryTimer = undefined;
      stopTimers();
      const s = socket;
      socket = undefined;
      const reason = new FaultlineError('BAD_CONNECTION', { message: 'Client closed', executed: 'maybe' });
      setState('closed', reason);
      tracker.failAll(badConnection('client'));
      outgoing.clear();
      if (s) {
        detach(s);
        try {
          s.close(1000, 'client closed');
        } catch {
          // Already closed.
        }
      }
    },
  };
  if (!options.lazy) open();
  return client;
}
