/**
 * The Faultline wire form over Socket.IO (README "Wire form"): shared by the server and the
 * client entries. Plain data and types only: no Socket.IO runtime, no `node:*`.
 */
import type { ErrorBody, Json } from '@faultline/core';

/**
 * Reserved event the server emits when an error has no request to answer: a graceful shutdown
 * (SHUTTING_DOWN), a connection the server ends ({@link FaultlineSocketServer.fail}), a request
 * sent without an acknowledgement callback. Arguments: `(body: ErrorBody, meta: AckMeta)`.
 */
export const ERROR_EVENT = '$faultline:error';

/**
 * Response header of the HTTP error answer with which the server ends a long-polling connection
 * because of an error: `<close code> <close reason>`, the WebSocket close the websocket transport
 * would have used (`4004 FORBIDDEN`, `1013 UNAVAILABLE:300`). A client that lost the
 * {@link ERROR_EVENT} classifies the end from it (PROTOCOL.md §6.1).
 */
export const CLOSE_HEADER = 'faultline-close';

/** The third argument of an error acknowledgement, like the `meta` of a ws error frame. */
export interface AckMeta {
  /** The id under which the server logged the request. */
  request_id?: string;
  /** When the error was made, ISO 8601. */
  timestamp?: string;
}

/**
 * The optional second argument of a request, before the acknowledgement callback:
 * `socket.emit(event, data, meta, ack)`. Sent only when one of its fields is set.
 */
export interface RequestMetaArg {
  /** The server runs the handler once per key, and answers re-sends with the first outcome. */
  idempotency_key?: string;
  /** The client's own correlation id; the server generates one when absent. */
  request_id?: string;
  /** How long the client waits, in ms. */
  timeout_ms?: number;
}

/**
 * The acknowledgement of a Faultline request: `(null, data)` on success, `(body, null, meta)`
 * on failure. Use it as the last parameter in Socket.IO's typed event maps so `request()` and
 * handlers infer their data and result types:
 *
 * @example
 * interface ClientToServer { join: (data: { room: string }, ack: FaultlineAck<{ members: number }>) => void }
 */
export type FaultlineAck<T = Json> = (error: ErrorBody | null, data?: T, meta?: AckMeta) => void;

/** Socket.IO's event map shape (not exported by `socket.io`'s entry point). */
export interface EventsMap {
  // biome-ignore lint/suspicious/noExplicitAny: the shape of Socket.IO's own EventsMap
  [event: string]: any;
}

/** The parameters of an event's listener type `F` (for typed `emit` and acks). */
export type Params<F> = F extends (...args: infer A) => unknown ? A : unknown[];

/** The `data` a request event carries, from a typed event map; `unknown` for untyped maps. */
export type RequestData<F> =
  unknown[] extends Params<F>
    ? unknown
    : Params<F> extends [infer D, ...unknown[]]
      ? D extends (...args: never[]) => unknown
        ? undefined
        : D
      : undefined;

/** The result a request event's acknowledgement carries, from a typed event map. */
export type RequestResult<F> =
  unknown[] extends Params<F>
    ? unknown
    : Params<F> extends [...unknown[], infer A]
      ? A extends (error: ErrorBody | null, data?: infer T, ...rest: never[]) => unknown
        ? T
        : unknown
      : unknown;

/** Event names of a map, as strings. */
export type EventName<M> = keyof M & string;

const binaryTag = (value: unknown): boolean =>
  (typeof ArrayBuffer !== 'undefined' && (value instanceof ArrayBuffer || ArrayBuffer.isView(value))) ||
  (typeof Blob !== 'undefined' && value instanceof Blob);

/** Whether a value is binary at the top level (not walked by the frame checks). */
export function isBinary(value: unknown): boolean {
  return typeof value === 'object' && value !== null && binaryTag(value);
}

/** Whether a value is a plain (non-array) object. */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
