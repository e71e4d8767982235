/**
 * Encoding and decoding of frames (PROTOCOL.md §2). The decoder takes untrusted input and never
 * throws: it returns a frame, or a BAD_REQUEST / PAYLOAD_TOO_LARGE body saying what was wrong.
 */
import type { ErrorBody, ErrorFrame, EventFrame, Frame, Json, RequestFrame, ResponseFrame } from './envelope.js';
import { bodyOf } from './error.js';
import { FORBIDDEN_KEYS } from './sanitize.js';

/** Caps the decoder enforces. */
export interface DecodeLimits {
  /** Largest frame in UTF-8 bytes. @default 65536 */
  maxBytes: number;
  /** Deepest nesting of objects and arrays in the whole frame. @default 32 */
  maxDepth: number;
  /** Deepest chain of `cause` bodies in an error frame. @default 4 */
  maxCauseDepth: number;
}

/** The limits `decodeFrame` applies when none are given (PROTOCOL.md §3.2). */
export const DEFAULT_DECODE_LIMITS: DecodeLimits = { maxBytes: 65536, maxDepth: 32, maxCauseDepth: 4 };

/** What the decoder returns. On failure, `requestId` is set when the frame's id could be read. */
export type DecodeResult =
  | { ok: true; frame: Frame }
  | { ok: false; error: ErrorBody; requestId: string | undefined };

const MAX_ID = 128;
const MAX_EVENT = 128;
const CATEGORIES: ReadonlySet<unknown> = new Set(['connection', 'application', 'transport']);
const RECOVERIES: ReadonlySet<unknown> = new Set(['retry', 'reconnect', 'reauthenticate', 'none']);
const EXECUTED: ReadonlySet<unknown> = new Set(['no', 'maybe', 'yes']);

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const isId = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= MAX_ID;

let encoder: TextEncoder | undefined;

/** UTF-8 length of a string without allocating when the answer is obvious. */
function exceedsBytes(s: string, max: number): boolean {
  if (s.length > max) return true;
  if (s.length * 3 <= max) return false;
  encoder ??= new TextEncoder();
  return encoder.encode(s).length > max;
}

class Reject {
  constructor(
    readonly reason: string,
    readonly message: string,
    readonly field?: string,
  ) {}
}

/** Depth and hostile-key check of a parsed value, in one pass. */
function walk(value: unknown, depth: number, max: number): Reject | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  if (depth >= max) return new Reject('too_deep', `Frame is nested deeper than ${max} levels`);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const r = walk(value[i], depth + 1, max);
      if (r) return r;
    }
    return undefined;
  }
  for (const key in value) {
    if (FORBIDDEN_KEYS.has(key)) return new Reject('forbidden_key', `Key "${key}" is not allowed`, key);
    const r = walk((value as Obj)[key], depth + 1, max);
    if (r) return r;
  }
  return undefined;
}

function invalid(field: string, expected: string): Reject {
  return new Reject('invalid_field', `Field ${field} must be ${expected}`, field);
}

function checkBody(v: unknown, path: string, causeDepth: number, limits: DecodeLimits): Reject | undefined {
  if (!isObj(v)) return invalid(path, 'an object');
  if (!Number.isInteger(v.code)) return invalid(`${path}.code`, 'an integer');
  if (typeof v.name !== 'string') return invalid(`${path}.name`, 'a string');
  if (typeof v.message !== 'string') return invalid(`${path}.message`, 'a string');
  if (!CATEGORIES.has(v.category)) return invalid(`${path}.category`, 'connection, application or transport');
  if (typeof v.recoverable !== 'boolean') return invalid(`${path}.recoverable`, 'a boolean');
  if (!RECOVERIES.has(v.recovery)) return invalid(`${path}.recovery`, 'retry, reconnect, reauthenticate or none');
  const ra = v.retry_after_ms;
  if (ra !== undefined && !(typeof ra === 'number' && ra >= 0 && Number.isFinite(ra))) {
    return invalid(`${path}.retry_after_ms`, 'a non-negative number');
  }
  if (v.executed !== undefined && !EXECUTED.has(v.executed)) return invalid(`${path}.executed`, 'no, maybe or yes');
  if (v.details !== undefined && !isObj(v.details)) return invalid(`${path}.details`, 'an object');
  if (v.cause !== undefined) {
    if (causeDepth >= limits.maxCauseDepth) {
      return new Reject('too_deep', `Error cause is nested deeper than ${limits.maxCauseDepth} levels`, `${path}.cause`);
    }
    return checkBody(v.cause, `${path}.cause`, causeDepth + 1, limits);
  }
  return undefined;
}

function isEventName(event: unknown): event is string {
  return typeof event === 'string' && event.length > 0 && event.length <= MAX_EVENT;
}

const badEvent = (): Reject => invalid('event', `a string of 1-${MAX_EVENT} characters`);

/**
 * Checks an event name by the frame rules (PROTOCOL.md §2): a client refuses a request it could
 * not send with the same BAD_REQUEST body the server's decoder would answer. `undefined` when
 * the name is valid. Never throws.
 */
export function checkEventName(event: unknown): ErrorBody | undefined {
  return isEventName(event) ? undefined : rejectBody(badEvent());
}

function checkFrame(v: Obj, limits: DecodeLimits): Reject | undefined {
  if (v.v !== undefined && v.v !== 1) {
    return new Reject('unsupported_version', `Protocol version ${JSON.stringify(v.v)} is not supported (1 is)`, 'v');
  }
  const meta = v.meta;
  switch (v.type) {
    case 'request':
      if (!isEventName(v.event)) return badEvent();
      if (!isObj(meta)) return invalid('meta', 'an object');
      if (!isId(meta.request_id)) return invalid('meta.request_id', `a string of 1-${MAX_ID} characters`);
      if (meta.idempotency_key !== undefined && !isId(meta.idempotency_key)) {
        return invalid('meta.idempotency_key', `a string of 1-${MAX_ID} characters`);
      }
      if (
        meta.timeout_ms !== undefined &&
        !(typeof meta.timeout_ms === 'number' && meta.timeout_ms > 0 && Number.isFinite(meta.timeout_ms))
      ) {
        return invalid('meta.timeout_ms', 'a positive number');
      }
      return undefined;
    case 'response':
      if (!isObj(meta)) return invalid('meta', 'an object');
      if (!isId(meta.request_id)) return invalid('meta.request_id', `a string of 1-${MAX_ID} characters`);
      return undefined;
    case 'error':
      // `meta` is required: receivers read `frame.meta.request_id` to route the error.
      if (!isObj(meta)) return invalid('meta', 'an object');
      if (meta.request_id !== undefined && !isId(meta.request_id)) {
        return invalid('meta.request_id', `a string of 1-${MAX_ID} characters`);
      }
      if (meta.timestamp !== undefined && typeof meta.timestamp !== 'string') {
        return invalid('meta.timestamp', 'a string');
      }
      return checkBody(v.data, 'data', 0, limits);
    case 'event':
      if (!isEventName(v.event)) return badEvent();
      return undefined;
    default:
      return typeof v.type === 'string'
        ? new Reject('unknown_type', `Unknown frame type ${JSON.stringify(v.type.slice(0, 32))}`, 'type')
        : invalid('type', 'one of request, response, error, event');
  }
}

function rejectBody(reject: Reject): ErrorBody {
  const details: { [key: string]: Json } = { reason: reject.reason };
  if (reject.field !== undefined) details.field = reject.field;
  return bodyOf(reject.reason === 'too_large' ? 'PAYLOAD_TOO_LARGE' : 'BAD_REQUEST', {
    message: reject.message,
    details,
    executed: 'no',
  });
}

function fail(reject: Reject, requestId: string | undefined): DecodeResult {
  return { ok: false, error: rejectBody(reject), requestId };
}

/**
 * Checks a request's `data` that reached the server outside a frame (an HTTP body) by the frame
 * rules of PROTOCOL.md §7.2: the depth cap, counted as if it were a request frame's `data` (one
 * level below the frame), and the forbidden keys. Returns the BAD_REQUEST body the decoder gives
 * the same data inside a frame, or `undefined` when it passes. Never throws.
 */
export function checkRequestData(
  data: unknown,
  limits: Pick<DecodeLimits, 'maxDepth'> = DEFAULT_DECODE_LIMITS,
): ErrorBody | undefined {
  let shape: Reject | undefined;
  try {
    shape = walk(data, 1, limits.maxDepth);
  } catch {
    // Only an already-parsed value can throw here (a getter or a proxy): it is not JSON.
    shape = invalid('data', 'plain JSON data');
  }
  return shape === undefined ? undefined : rejectBody(shape);
}

/**
 * Decodes a frame from a JSON string or an already-parsed value. Never throws.
 *
 * @param input - a text frame, or a value a transport already parsed (Socket.IO)
 */
export function decodeFrame(input: unknown, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): DecodeResult {
  let value: unknown = input;
  if (typeof input === 'string') {
    if (exceedsBytes(input, limits.maxBytes)) {
      return fail(new Reject('too_large', `Frame is larger than ${limits.maxBytes} bytes`), undefined);
    }
    try {
      value = JSON.parse(input);
    } catch {
      return fail(new Reject('malformed_json', 'Frame is not valid JSON'), undefined);
    }
  }
  if (!isObj(value)) return fail(invalid('frame', 'a JSON object'), undefined);
  let requestId: string | undefined;
  let shape: Reject | undefined;
  try {
    const meta = value.meta;
    requestId = isObj(meta) && isId(meta.request_id) ? meta.request_id : undefined;
    shape = checkFrame(value, limits) ?? walk(value, 0, limits.maxDepth);
  } catch {
    // Only an already-parsed value can throw here (a getter or a proxy): it is not JSON.
    shape = invalid('frame', 'plain JSON data');
  }
  if (shape) return fail(shape, requestId);
  return { ok: true, frame: value as unknown as Frame };
}

/** Encodes a frame as a JSON text frame. Frames are plain data, so this is `JSON.stringify`. */
export function encodeFrame(frame: Frame): string {
  return JSON.stringify(frame);
}

let lastMs = 0;
let lastIso = '';

/** ISO timestamp, formatted at most once per millisecond. */
function timestamp(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastIso = new Date(now).toISOString();
  }
  return lastIso;
}

/** Builds an error frame. */
export function errorFrame(body: ErrorBody, requestId?: string): ErrorFrame {
  return {
    type: 'error',
    data: body,
    meta: requestId === undefined ? { timestamp: timestamp() } : { request_id: requestId, timestamp: timestamp() },
  };
}

/** Builds a request frame. */
export function requestFrame(
  event: string,
  data: Json | undefined,
  meta: RequestFrame['meta'],
): RequestFrame {
  return data === undefined ? { type: 'request', event, meta } : { type: 'request', event, data, meta };
}

/** Builds a response frame. */
export function responseFrame(requestId: string, data: Json | undefined): ResponseFrame {
  return data === undefined
    ? { type: 'response', meta: { request_id: requestId } }
    : { type: 'response', data, meta: { request_id: requestId } };
}

/** Builds a volatile event frame. */
export function eventFrame(event: string, data: Json | undefined): EventFrame {
  return data === undefined ? { type: 'event', event } : { type: 'event', event, data };
}

// ---------------------------------------------------------------- direct encoders (hot paths)
// The same JSON as `encodeFrame(errorFrame(...))` and friends, written without building the frame
// object first: on Node 20, `JSON.stringify` of a nested error frame costs about twice the
// concatenation of its known fields (~2 µs against ~1 µs). Keys keep the builders' order. A body
// that is not what the type says falls back to the object form; unknown body keys are left out
// (receivers ignore them anyway, and what crosses the wire is chosen, not leaked).

const quote = JSON.stringify as (s: string) => string;

function bodyJson(body: ErrorBody, depth: number): string | undefined {
  const { code, name, message, category, recoverable, recovery, retry_after_ms: ra, executed, details, cause } = body;
  if (
    !Number.isInteger(code) ||
    typeof name !== 'string' ||
    typeof message !== 'string' ||
    typeof recoverable !== 'boolean' ||
    !CATEGORIES.has(category) ||
    !RECOVERIES.has(recovery)
  ) {
    return undefined;
  }
  let s = `{"code":${code},"name":${quote(name)},"message":${quote(message)},"category":"${category}","recoverable":${recoverable},"recovery":"${recovery}"`;
  if (ra !== undefined) {
    if (!(typeof ra === 'number' && Number.isFinite(ra))) return undefined;
    s += `,"retry_after_ms":${ra}`;
  }
  if (executed !== undefined) {
    if (!EXECUTED.has(executed)) return undefined;
    s += `,"executed":"${executed}"`;
  }
  if (details !== undefined) {
    const d = JSON.stringify(details);
    if (d !== undefined) s += `,"details":${d}`;
  }
  if (cause !== undefined) {
    const c = depth < 16 ? bodyJson(cause, depth + 1) : undefined;
    if (c === undefined) return undefined;
    s += `,"cause":${c}`;
  }
  return `${s}}`;
}

/** `encodeFrame(errorFrame(body, requestId))`, faster. */
export function encodeErrorFrame(body: ErrorBody, requestId?: string): string {
  const data = bodyJson(body, 0);
  if (data === undefined) return encodeFrame(errorFrame(body, requestId));
  const meta =
    requestId === undefined
      ? `{"timestamp":"${timestamp()}"}`
      : `{"request_id":${quote(requestId)},"timestamp":"${timestamp()}"}`;
  return `{"type":"error","data":${data},"meta":${meta}}`;
}

/** `encodeFrame(responseFrame(requestId, data))`, faster. */
export function encodeResponseFrame(requestId: string, data: Json | undefined): string {
  const d = data === undefined ? undefined : JSON.stringify(data);
  const meta = `{"request_id":${quote(requestId)}}`;
  return d === undefined ? `{"type":"response","meta":${meta}}` : `{"type":"response","data":${d},"meta":${meta}}`;
}

/** `encodeFrame(requestFrame(event, data, meta))`, faster. */
export function encodeRequestFrame(event: string, data: Json | undefined, meta: RequestFrame['meta']): string {
  const d = data === undefined ? undefined : JSON.stringify(data);
  let m = `{"request_id":${quote(meta.request_id)}`;
  if (meta.idempotency_key !== undefined) m += `,"idempotency_key":${quote(meta.idempotency_key)}`;
  if (meta.timeout_ms !== undefined) m += `,"timeout_ms":${JSON.stringify(meta.timeout_ms)}`;
  return d === undefined
    ? `{"type":"request","event":${quote(event)},"meta":${m}}}`
    : `{"type":"request","event":${quote(event)},"data":${d},"meta":${m}}}`;
}
