/**
 * `@faultline/fastify/client`: a `fetch` client for Faultline HTTP routes (PROTOCOL.md §8, §11).
 * Rejects with the rehydrated Faultline error (from the envelope or Problem Details), classifies
 * foreign error answers by status, and retries what the classification allows: backoff with full
 * jitter, a retry budget shared by every request of the client, `Retry-After` honoured, and only
 * idempotent requests re-sent after a failure that may have run (core's `mayResend`).
 *
 * Runs in browsers and Node: no `node:*` import, only `fetch`, `AbortController` and timers.
 */
import {
  type Backoff,
  type BackoffOptions,
  type BuiltinName,
  bodyOf,
  createRetryPlanner,
  decodeFrame,
  type ErrorBody,
  FaultlineError,
  idempotencyKeyOf,
  mayResend,
  Notifier,
  type Observer,
  type Registry,
  type RetryBudget,
  type RetryBudgetOptions,
  type RetryPlanner,
  requestAborted,
  requestTimedOut,
  type RequestOptions as SessionRequestOptions,
} from '@faultline/core';
import { codeNameForStatus, PROBLEM_JSON, parseRetryAfter, problemToBody } from './http.js';

export { parseRetryAfter } from './http.js';

/** Options of {@link createHttpClient}. */
export interface HttpClientOptions<Name extends string = BuiltinName> {
  /** Prefix of every request path, e.g. `https://api.example.com/v1`. */
  baseUrl: string | URL;
  /** The `fetch` to use. @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Backoff between retries, or `false` for no retries. @default core's backoff (500 ms base, 30 s cap) */
  retry?: Backoff | BackoffOptions | false;
  /** The retry budget; pass one `RetryBudget` to several clients to share it. @default 10 tokens, 1/s */
  budget?: RetryBudget | RetryBudgetOptions;
  /** Most retries of one request. @default 2 */
  retries?: number;
  /** Milliseconds each attempt may take before it fails with TIMEOUT. @default 10000 */
  timeoutMs?: number;
  /** Headers sent with every request. */
  headers?: Record<string, string>;
  /**
   * Longest wait before a retry, in ms: when the server's `Retry-After` or the exhausted budget
   * asks for more, the error is returned at once instead. @default 60000
   */
  maxRetryAfterMs?: number;
  /** `success` / `error` notifications, at `Request#GET /path` (and `Retry#GET /path` per retry). */
  observer?: Observer;
  /** Only for typing: the registry whose names rejected errors may carry. */
  registry?: Registry<Name>;
}

/** Options of one request. */
export interface RequestOptions {
  /** Sent as JSON. */
  body?: unknown;
  /** Appended to the URL; `undefined` and `null` values are skipped. */
  query?: Record<string, string | number | boolean | null | undefined>;
  headers?: Record<string, string>;
  /** Aborting fails the request with CANCELLED (TIMEOUT when the reason is a `TimeoutError`). */
  signal?: AbortSignal;
  /** Overrides the client's `timeoutMs` for each attempt of this request. */
  timeoutMs?: number;
  /** Sent as `Idempotency-Key`; makes the request idempotent, so it may be re-sent. */
  idempotencyKey?: string;
  /**
   * Whether re-sending cannot repeat an effect. @default true for GET, HEAD, OPTIONS, PUT, DELETE
   * and requests with an `idempotencyKey` (RFC 9110 §9.2.2), false otherwise
   */
  idempotent?: boolean;
  /** Overrides the client's `retries` for this request; 0 disables retries. */
  retries?: number;
}

/**
 * A client for Faultline HTTP routes. Every method resolves with the parsed success body (JSON,
 * text, or `undefined` for an empty one) and rejects with a `FaultlineError`: narrow it with
 * `isFaultlineError(err, 'NOT_FOUND')` from `@faultline/core`.
 */
export interface HttpClient<Name extends string = BuiltinName> {
  /** Sends `method` to `baseUrl` + `path`, retrying what the classification and `idempotent` allow. */
  request<T = unknown>(method: string, path: string, options?: RequestOptions): Promise<T>;
  /** `request('GET', path, options)`: idempotent, so retried. */
  get<T = unknown>(path: string, options?: Omit<RequestOptions, 'body'>): Promise<T>;
  /** `request('POST', path, { body })`: re-sent only with an `idempotencyKey` or `idempotent: true`. */
  post<T = unknown>(path: string, body?: unknown, options?: Omit<RequestOptions, 'body'>): Promise<T>;
  /** `request('PUT', path, { body })`: idempotent, so retried. */
  put<T = unknown>(path: string, body?: unknown, options?: Omit<RequestOptions, 'body'>): Promise<T>;
  /** `request('PATCH', path, { body })`: re-sent only with an `idempotencyKey` or `idempotent: true`. */
  patch<T = unknown>(path: string, body?: unknown, options?: Omit<RequestOptions, 'body'>): Promise<T>;
  /** `request('DELETE', path, options)`: idempotent, so retried. */
  delete<T = unknown>(path: string, options?: RequestOptions): Promise<T>;
  /** The planner shared by every request of this client (its budget is the shared one). */
  readonly planner: RetryPlanner | undefined;
  /** Phantom: the error names this client's rejections may carry. */
  readonly __names?: Name;
}

const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
const NEVER_CONNECTED: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH']);
const MAX_TIMEOUT = 2_147_483_647;

function fail(message: string): never {
  throw new TypeError(`@faultline/fastify/client: ${message}`);
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The network error code under `fetch`'s TypeError (undici nests it in `cause`). */
function networkCode(thrown: unknown): string | undefined {
  let cause = (thrown as { cause?: unknown } | undefined)?.cause;
  for (let i = 0; i < 3 && isObj(cause); i++) {
    if (typeof cause.code === 'string') return cause.code;
    const errors = cause.errors;
    cause = Array.isArray(errors) ? errors[0] : cause.cause;
  }
  return undefined;
}

/** The Faultline error body of a failed response: envelope, Problem Details, or by status. */
function errorFromResponse(response: Response, text: string): FaultlineError {
  const type = response.headers.get('content-type') ?? '';
  let body: ErrorBody | undefined;
  let requestId: string | undefined;
  if (type.includes('json') && text.length > 0) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (isObj(parsed)) {
      // Both forms go through core's decoder: a foreign or hostile body never becomes an error
      // with a made-up classification or a polluted prototype.
      let candidate: unknown;
      if (parsed.type === 'error') candidate = parsed;
      else if (type.includes(PROBLEM_JSON)) {
        const data = problemToBody(parsed);
        const id = parsed.request_id;
        if (data !== undefined)
          candidate = { type: 'error', data, meta: typeof id === 'string' ? { request_id: id } : {} };
      }
      const decoded = candidate === undefined ? undefined : decodeFrame(candidate);
      if (decoded?.ok && decoded.frame.type === 'error') {
        body = decoded.frame.data;
        requestId = decoded.frame.meta?.request_id;
      }
    }
  }
  if (body === undefined) {
    // Not a Faultline answer (a proxy, another framework): classify by status, generic message.
    body = bodyOf(codeNameForStatus(response.status), { details: { status: response.status } });
  }
  if (body.retry_after_ms === undefined) {
    const ms = parseRetryAfter(response.headers.get('retry-after'));
    if (ms !== undefined) body = { ...body, retry_after_ms: ms };
  }
  return FaultlineError.fromBody(body, requestId === undefined ? {} : { requestId });
}

function parseSuccess(response: Response, text: string): unknown {
  if (text.length === 0) return undefined;
  const type = response.headers.get('content-type') ?? '';
  if (!type.includes('json')) return text;
  try {
    return JSON.parse(text);
  } catch (thrown) {
    throw new FaultlineError('INTERNAL', { message: 'Response is not valid JSON', cause: thrown, executed: 'yes' });
  }
}

function sleep(ms: number, signal: AbortSignal | undefined, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(requestAborted(signal, what, 'maybe'));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(requestAborted(signal as AbortSignal, what, 'maybe'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function checkCount(name: string, value: unknown): void {
  if (value !== undefined && !(Number.isInteger(value) && (value as number) >= 0)) {
    fail(`${name} must be a non-negative integer, got ${String(value)}`);
  }
}

function checkTimeout(name: string, value: unknown): void {
  if (value !== undefined && !(typeof value === 'number' && value > 0 && value <= MAX_TIMEOUT)) {
    fail(`${name} must be a positive number of milliseconds below 2^31, got ${String(value)}`);
  }
}

/**
 * Creates a client for Faultline HTTP routes.
 *
 * Failures map to one classified error each: an error answer to its rehydrated error; a timeout
 * to TIMEOUT; the caller's abort to CANCELLED (a deliberate stop is not retried, unlike a
 * timeout); a network failure to BAD_CONNECTION (`executed: 'no'` when the connection was refused,
 * so even a POST is re-sent). Retries follow core's `mayResend`: refused-before-running errors
 * (RATE_LIMITED, UNAVAILABLE, SHUTTING_DOWN, `executed: 'no'`) always; may-have-run errors
 * (INTERNAL, TIMEOUT, BAD_CONNECTION) only for idempotent requests.
 *
 * @example
 * const api = createHttpClient({ baseUrl: 'https://api.example.com', timeoutMs: 5000 });
 * const room = await api.get<Room>('/rooms/r1');
 * await api.post('/messages', { text }, { idempotencyKey: crypto.randomUUID() });
 */
export function createHttpClient<Name extends string = BuiltinName>(
  options: HttpClientOptions<Name>,
): HttpClient<Name> {
  return buildClient(options).client;
}

/** A client's internal request: `label` names it in errors and notifications. */
type Call = <T>(method: string, path: string, options: RequestOptions | undefined, label: string) => Promise<T>;

function buildClient<Name extends string>(options: HttpClientOptions<Name>): { client: HttpClient<Name>; call: Call } {
  if (!isObj(options)) fail('options must be an object');
  const { baseUrl } = options;
  if (typeof baseUrl !== 'string' && !(baseUrl instanceof URL)) fail('baseUrl must be a string or URL');
  let base: string;
  try {
    base = new URL(String(baseUrl)).href.replace(/\/+$/, '');
  } catch {
    fail(`baseUrl ${JSON.stringify(String(baseUrl))} is not an absolute URL`);
  }
  const fetchImpl = options.fetch ?? (typeof fetch === 'function' ? fetch : undefined);
  if (typeof fetchImpl !== 'function') fail('no fetch: pass options.fetch');
  checkCount('retries', options.retries);
  checkTimeout('timeoutMs', options.timeoutMs);
  checkTimeout('maxRetryAfterMs', options.maxRetryAfterMs);
  const defaultRetries = options.retry === false ? 0 : (options.retries ?? 2);
  const defaultTimeout = options.timeoutMs ?? 10_000;
  const maxRetryAfterMs = options.maxRetryAfterMs ?? 60_000;
  const defaultHeaders = { ...options.headers };
  const planner =
    options.retry === false
      ? undefined
      : createRetryPlanner({
          ...(options.retry === undefined ? {} : { backoff: options.retry }),
          ...(options.budget === undefined ? {} : { budget: options.budget }),
        });
  const notifier = new Notifier(options.observer, () => {});

  const urlOf = (path: string, query: RequestOptions['query']): string => {
    let url = base + (path.startsWith('/') ? path : `/${path}`);
    if (query !== undefined) {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null) params.append(k, String(v));
      const qs = params.toString();
      if (qs.length > 0) url += (url.includes('?') ? '&' : '?') + qs;
    }
    return url;
  };

  const attempt = async (
    method: string,
    url: string,
    init: RequestInit,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    what: string,
  ): Promise<unknown> => {
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    const onAbort = (): void => controller.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    // Once fetch is called the server may have started: failures after that are `maybe`.
    const transportError = (thrown: unknown): FaultlineError => {
      if (FaultlineError.is(thrown)) return thrown;
      if (signal?.aborted) return requestAborted(signal, what, 'maybe');
      // Core words it, so a timed-out RPC reads as it does over the socket clients.
      if (timedOut) return requestTimedOut(what, timeoutMs, thrown);
      const code = networkCode(thrown);
      return new FaultlineError('BAD_CONNECTION', {
        message: code === undefined ? `${what} failed: connection lost` : `${what} failed: ${code}`,
        cause: thrown,
        executed: code !== undefined && NEVER_CONNECTED.has(code) ? 'no' : 'maybe',
      });
    };
    try {
      if (signal?.aborted) throw requestAborted(signal, what, 'no');
      let response: Response;
      let text: string;
      try {
        response = await fetchImpl(url, { ...init, method, signal: controller.signal });
        text = await response.text();
      } catch (thrown) {
        throw transportError(thrown);
      }
      if (response.ok) return parseSuccess(response, text);
      throw errorFromResponse(response, text);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  };

  const request = async <T>(
    method: string,
    path: string,
    opts: RequestOptions = {},
    label: string | undefined = undefined,
  ): Promise<T> => {
    const verb = method.toUpperCase();
    checkCount('retries', opts.retries);
    checkTimeout('timeoutMs', opts.timeoutMs);
    const headers: Record<string, string> = { accept: 'application/json', ...defaultHeaders, ...opts.headers };
    const init: RequestInit = { headers };
    if (opts.body !== undefined) {
      headers['content-type'] ??= 'application/json';
      init.body = JSON.stringify(opts.body);
    }
    if (opts.idempotencyKey !== undefined) headers['idempotency-key'] = opts.idempotencyKey;
    const idempotent = opts.idempotent ?? (opts.idempotencyKey !== undefined || IDEMPOTENT_METHODS.has(verb));
    const retries = planner === undefined ? 0 : (opts.retries ?? defaultRetries);
    const timeoutMs = opts.timeoutMs ?? defaultTimeout;
    const url = urlOf(path, opts.query);
    // How errors and notifications name the request: the RPC event, else the method and path.
    const what = label ?? `${verb} ${path}`;
    const started = Date.now();
    for (let n = 0; ; n++) {
      try {
        const value = await attempt(verb, url, init, timeoutMs, opts.signal, what);
        notifier.success(`Request#${what}`, Date.now() - started);
        return value as T;
      } catch (thrown) {
        const err = FaultlineError.from(thrown);
        const delay =
          n < retries && planner !== undefined && !opts.signal?.aborted && mayResend(err, idempotent)
            ? planner.next(n, err.retryAfterMs)
            : undefined;
        // A wait beyond maxRetryAfterMs (the server's pacing, or an exhausted shared budget) is
        // answered at once: the caller decides, rather than a request hanging for minutes.
        if (delay === undefined || delay > maxRetryAfterMs) {
          notifier.error(`Request#${what}`, err);
          throw err;
        }
        notifier.error(`Retry#${what}`, err);
        await sleep(delay, opts.signal, what);
      }
    }
  };

  const client: HttpClient<Name> = {
    planner,
    request: (method, path, opts) => request(method, path, opts),
    get: (path, opts) => request('GET', path, opts),
    delete: (path, opts) => request('DELETE', path, opts),
    post: (path, body, opts) => request('POST', path, { ...opts, body }),
    put: (path, body, opts) => request('PUT', path, { ...opts, body }),
    patch: (path, body, opts) => request('PATCH', path, { ...opts, body }),
  };
  return { client, call: request };
}

/** Options of {@link createRpcClient}: those of {@link createHttpClient}, and where the RPC routes are. */
export interface RpcClientOptions<Name extends string = BuiltinName> extends HttpClientOptions<Name> {
  /** The path the server's `faultlineRpc` plugin is registered at (its `prefix`). @default '/rpc' */
  path?: string;
}

/**
 * Options of one RPC request: those of the socket clients' `request` (core's `RequestOptions`),
 * plus headers for this request.
 */
export interface RpcRequestOptions extends SessionRequestOptions {
  headers?: Record<string, string>;
}

/**
 * A client for handlers served by the `faultlineRpc` plugin: `request(event, data, options)` as
 * with the `@faultline/ws` and Socket.IO clients, over `POST <path>/<event>`.
 */
export interface RpcClient<Name extends string = BuiltinName> {
  /**
   * Runs `event`'s handler with `data` (sent as JSON). Resolves with its result; rejects with a
   * `FaultlineError`. `idempotencyKey` (or `idempotent: true` for a generated one) is sent as
   * `Idempotency-Key`: the server runs the handler once per key, and the request may then be
   * retried after a failure that may have run.
   */
  request<T = unknown>(event: string, data?: unknown, options?: RpcRequestOptions): Promise<T>;
  /** The HTTP client underneath, sharing retry budget and options, for plain routes. */
  readonly http: HttpClient<Name>;
}

/**
 * Creates a client for the `faultlineRpc` plugin of `@faultline/fastify`: the same handler map a
 * socket server runs, called over HTTP with the socket clients' `request(event, data, options)`.
 * Errors carry the same `data` as over the sockets; a TIMEOUT names the event.
 *
 * @example
 * const rpc = createRpcClient({ baseUrl: 'https://api.example.com', path: '/rpc' });
 * const room = await rpc.request('join', { room: 'r1' }, { idempotent: true, retries: 2 });
 */
export function createRpcClient<Name extends string = BuiltinName>(options: RpcClientOptions<Name>): RpcClient<Name> {
  if (!isObj(options)) fail('options must be an object');
  const { path = '/rpc', ...httpOptions } = options;
  if (typeof path !== 'string') fail('path must be a string');
  const prefix = `/${path.replace(/^\/+|\/+$/g, '')}`.replace(/^\/$/, '');
  const { client: http, call } = buildClient<Name>(httpOptions);
  return {
    http,
    request<T>(event: string, data?: unknown, opts: RpcRequestOptions = {}): Promise<T> {
      if (typeof event !== 'string' || event.length === 0) {
        return Promise.reject(new TypeError('@faultline/fastify/client: event must be a non-empty string'));
      }
      const key = idempotencyKeyOf(opts);
      const request: RequestOptions = {
        // Only a keyed request may be re-sent after a failure that may have run (PROTOCOL.md §8.3).
        idempotent: key !== undefined,
        ...(data === undefined ? {} : { body: data }),
        ...(key === undefined ? {} : { idempotencyKey: key }),
        ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }),
        ...(opts.signal === undefined ? {} : { signal: opts.signal }),
        ...(opts.retries === undefined ? {} : { retries: opts.retries }),
        ...(opts.headers === undefined ? {} : { headers: opts.headers }),
      };
      return call<T>('POST', `${prefix}/${encodeURIComponent(event)}`, request, event);
    },
  };
}
