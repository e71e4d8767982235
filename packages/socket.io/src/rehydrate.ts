/**
 * Turning what the other side put in an acknowledgement or an `err.data` back into a Faultline
 * error. Both sides are untrusted: the body is checked by core's frame decoder first, so a
 * malformed body becomes a BAD_REQUEST instead of a half-built error.
 */
import {
  bodyOf,
  DEFAULT_DECODE_LIMITS,
  type DecodeLimits,
  decodeFrame,
  type ErrorBody,
  FaultlineError,
  type Json,
} from '@faultline/core';
import { isObject } from './wire.js';

/** Checks an error body received from the other side; never throws. */
export function checkBody(body: unknown, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): ErrorBody {
  const checked = decodeFrame({ type: 'error', data: body, meta: {} }, limits);
  if (checked.ok) return (checked.frame as { data: ErrorBody }).data;
  const details: { [key: string]: Json } = { ...(checked.error.details ?? {}) };
  return bodyOf('BAD_REQUEST', {
    message: `Malformed error body: ${checked.error.message}`,
    details,
    executed: 'maybe',
  });
}

/** The rehydrated error of a body and the `meta` that came with it. */
export function rehydrate(body: unknown, meta: unknown, limits?: DecodeLimits): FaultlineError {
  const rid = isObject(meta) && typeof meta.request_id === 'string' ? meta.request_id : undefined;
  return FaultlineError.fromBody(checkBody(body, limits), rid === undefined ? {} : { requestId: rid });
}

/** Monotonic milliseconds. */
export const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());
