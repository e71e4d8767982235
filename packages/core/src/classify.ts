/**
 * Classification: from an error body, or from a WebSocket close code and reason alone, say
 * whether to retry, reconnect, re-authenticate or stop, and after how long (PROTOCOL.md §5).
 */
import type { ErrorBody } from './envelope.js';
import { FaultlineError, type RegistryLike } from './error.js';
import { codes, type Recovery } from './registry.js';

/** What the receiver should do. */
export interface Classification {
  /** The code: a registry code, or the raw close code when nothing maps it. */
  code: number;
  /** The symbolic name, or `UNKNOWN`. */
  name: string;
  /** `recovery !== 'none'`. */
  recoverable: boolean;
  /** What to do: `retry`, `reconnect`, `reauthenticate`, or `none` (stop). */
  recovery: Recovery;
  /** The sender's minimum wait, when it said one. */
  retryAfterMs: number | undefined;
}

/** Largest close reason: 123 bytes of UTF-8 (RFC 6455 §5.5). */
export const MAX_CLOSE_REASON_BYTES = 123;

const RETRYABLE_CLOSE: Record<number, string> = {
  1000: 'BAD_CONNECTION',
  1001: 'BAD_CONNECTION',
  1005: 'BAD_CONNECTION',
  1006: 'BAD_CONNECTION',
  1011: 'INTERNAL',
  1012: 'SHUTTING_DOWN',
  1013: 'UNAVAILABLE',
  1014: 'BAD_CONNECTION',
};

/** Classifies an error body or error. The sender's classification is authoritative. */
export function classifyError(error: ErrorBody | FaultlineError): Classification {
  if (FaultlineError.is(error)) {
    return {
      code: error.code,
      name: error.name,
      recoverable: error.recoverable,
      recovery: error.recovery,
      retryAfterMs: error.retryAfterMs,
    };
  }
  return {
    code: error.code,
    name: error.name,
    recoverable: error.recovery !== 'none',
    recovery: error.recovery,
    retryAfterMs: error.retry_after_ms,
  };
}

/**
 * Encodes the close reason that goes with an error: `NAME` or `NAME:retry_after_ms`, cut to 123
 * bytes. A client that loses the error frame still learns the name and pacing from it.
 */
export function closeReason(body: Pick<ErrorBody, 'name' | 'retry_after_ms'>): string {
  const ra = body.retry_after_ms;
  // An integer of at most 9 digits, the form `classifyClose` parses back.
  const reason =
    ra === undefined || !(ra >= 0) ? body.name : `${body.name}:${Math.min(999_999_999, Math.ceil(ra))}`;
  return cutUtf8(reason, MAX_CLOSE_REASON_BYTES);
}

/** Cuts a string to at most `max` UTF-8 bytes without splitting a character. */
function cutUtf8(s: string, max: number): string {
  // Registry names are ASCII; a rehydrated remote name need not be.
  if (s.length <= max && /^[\x00-\x7f]*$/.test(s)) return s;
  let bytes = 0;
  let i = 0;
  while (i < s.length) {
    const c = s.codePointAt(i) as number;
    const n = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    if (bytes + n > max) break;
    bytes += n;
    i += c >= 0x10000 ? 2 : 1;
  }
  return s.slice(0, i);
}

/** Close codes an endpoint must never send (RFC 6455 §7.4.1): `ws` throws on them. */
const UNSENDABLE_CLOSE: ReadonlySet<number> = new Set([1004, 1005, 1006, 1015]);

/** The close code with which an error ends a connection (PROTOCOL.md §6). Always sendable. */
export function closeCodeFor(body: Pick<ErrorBody, 'code' | 'recovery'>, registry: RegistryLike = codes): number {
  const entry = registry.byCode(body.code);
  if (entry && entry.close !== null && !UNSENDABLE_CLOSE.has(entry.close)) return entry.close;
  if (body.code >= 4000 && body.code <= 4999) return body.code;
  return body.recovery === 'none' ? 1008 : 1011;
}

function parseReason(reason: string | undefined): { name?: string; retryAfterMs?: number } {
  if (!reason) return {};
  const m = /^([A-Z][A-Z0-9_]{0,63})(?::(\d{1,9}))?$/.exec(reason);
  if (!m) return {};
  const out: { name?: string; retryAfterMs?: number } = {};
  if (m[1] !== undefined) out.name = m[1];
  if (m[2] !== undefined) out.retryAfterMs = Number(m[2]);
  return out;
}

/**
 * Classifies a WebSocket close from its code and reason alone. 1000/1001/1005/1006/1011-1014 are
 * retryable; other 1xxx codes are fatal; 4000-4999 come from the registry; anything else keeps
 * its raw code and is reconnected with backoff (the retry budget bounds it).
 */
export function classifyClose(code: number, reason?: string, registry: RegistryLike = codes): Classification {
  const parsed = parseReason(reason);
  const retryAfterMs = parsed.retryAfterMs;
  const mapped = RETRYABLE_CLOSE[code];
  if (mapped !== undefined) {
    const entry = (parsed.name !== undefined ? registry.lookupName(parsed.name) : undefined) ?? codes.byName(mapped as 'INTERNAL');
    const recovery: Recovery = entry.recovery === 'reauthenticate' ? 'reauthenticate' : 'reconnect';
    return { code: entry.code, name: entry.name, recoverable: true, recovery, retryAfterMs };
  }
  const entry = registry.byCode(code) ?? (code === 1009 ? codes.byName('PAYLOAD_TOO_LARGE') : undefined);
  if (entry !== undefined && (code >= 4000 || code === 1009)) {
    // A connection that ends cannot "retry" a request: a recoverable code means reconnect.
    const recovery: Recovery = entry.recovery === 'retry' ? 'reconnect' : entry.recovery;
    return { code: entry.code, name: entry.name, recoverable: recovery !== 'none', recovery, retryAfterMs };
  }
  if (code >= 1000 && code <= 2999) {
    return { code, name: 'UNKNOWN', recoverable: false, recovery: 'none', retryAfterMs };
  }
  return { code, name: 'UNKNOWN', recoverable: true, recovery: 'reconnect', retryAfterMs };
}

/**
 * The error a client reports for a connection that ended with a close it has classified, when no
 * error frame said why (PROTOCOL.md §6.1): the close's own name and recovery, or BAD_CONNECTION
 * with `details.close_code` for a code nothing maps.
 *
 * @example
 * const reason = closeError(classifyClose(event.code, event.reason, registry));
 */
export function closeError(c: Classification): FaultlineError {
  const known = c.name !== 'UNKNOWN';
  return FaultlineError.fromBody({
    code: c.code,
    name: known ? c.name : 'BAD_CONNECTION',
    message: known ? `Connection closed: ${c.name}` : `Connection closed with code ${c.code}`,
    category: 'connection',
    recoverable: c.recoverable,
    recovery: c.recovery,
    ...(c.retryAfterMs === undefined ? {} : { retry_after_ms: c.retryAfterMs }),
    ...(known ? {} : { details: { close_code: c.code } }),
  });
}
