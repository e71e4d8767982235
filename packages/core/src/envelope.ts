/**
 * The frames of wire protocol v1 (PROTOCOL.md §2). Plain data: these are what crosses the wire.
 */
import type { Category, Recovery } from './registry.js';

/** The protocol version this package speaks. */
export const PROTOCOL_VERSION = 1;

/** Any JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Whether the handler ran before the error, so a retry knows if it may repeat an effect. */
export type Executed = 'no' | 'maybe' | 'yes';

/** The `data` of an error frame (PROTOCOL.md §3). */
export interface ErrorBody {
  /** The integer code from the registry. */
  code: number;
  /** The code's symbolic name, e.g. `NOT_FOUND`. */
  name: string;
  /** Safe for a person to read; never a stack or a secret. */
  message: string;
  /** `connection`, `transport` or `application`. */
  category: Category;
  /** `recovery !== 'none'`. */
  recoverable: boolean;
  /** What the receiver should do (PROTOCOL.md §5). */
  recovery: Recovery;
  /** The sender's pacing: do not retry before this many milliseconds. */
  retry_after_ms?: number;
  /** Whether the handler ran: `no` (refused before running), `maybe`, or `yes`. */
  executed?: Executed;
  /** Allow-listed, size-capped JSON. */
  details?: { [key: string]: Json };
  /** A nested body, depth-capped. */
  cause?: ErrorBody;
}

/** `meta` of frames that belong to a request. */
export interface RequestMeta {
  /** 1-128 chars, unique among the sender's pending requests; the answer carries it back. */
  request_id: string;
  /** Present when the request may be re-sent; the server runs it once per key. */
  idempotency_key?: string;
  /** How long the sender waits; a server may drop work it cannot finish in time. */
  timeout_ms?: number;
}

/** Asks the other side to run `event`; answered by exactly one response or error (PROTOCOL.md §2). */
export interface RequestFrame {
  /** The frame kind. */
  type: 'request';
  /** The protocol version; absent means 1. */
  v?: 1;
  /** What to run: 1-128 chars; names starting with `$` are reserved. */
  event: string;
  /** The handler's input. */
  data?: Json;
  /** The correlation id and the request's options. */
  meta: RequestMeta;
}

/** The successful answer to the request with the same `meta.request_id`. */
export interface ResponseFrame {
  /** The frame kind. */
  type: 'response';
  /** The protocol version; absent means 1. */
  v?: 1;
  /** What the handler returned. */
  data?: Json;
  /** The id of the request this answers. */
  meta: { request_id: string };
}

/**
 * A failure: answers the request with the same `meta.request_id`, or, without one, concerns the
 * whole connection (PROTOCOL.md §6).
 */
export interface ErrorFrame {
  /** The frame kind. */
  type: 'error';
  /** The protocol version; absent means 1. */
  v?: 1;
  /** The classified error. */
  data: ErrorBody;
  /** `timestamp` is always written by `errorFrame()`; the decoder accepts frames without one. */
  meta: { request_id?: string; timestamp?: string };
}

/** Volatile: never answered, never fails. */
export interface EventFrame {
  /** The frame kind. */
  type: 'event';
  /** The protocol version; absent means 1. */
  v?: 1;
  /** The event's name. */
  event: string;
  /** The event's payload. */
  data?: Json;
}

/** Any frame of protocol v1. */
export type Frame = RequestFrame | ResponseFrame | ErrorFrame | EventFrame;
/** The `type` discriminant of a frame. */
export type FrameType = Frame['type'];
