// A seeded generator of random and mutated Faultline frames, and the oracle that says what the
// protocol requires in answer (PROTOCOL.md §7.2). Random strings never contain `/` or `(`, so an
// error message that quotes a client's own input cannot look like a stack frame or a file path to
// the leak scan.
import { DEFAULT_DECODE_LIMITS, decodeFrame } from '@faultline/core';
import { rng } from './util.mjs';

/** Events the fuzz server serves (see `fuzzHandlers`). */
export const FUZZ_EVENTS = Object.freeze(['echo', 'fail', 'boom']);

/** Handlers of the fuzz server: an echo, an application error, an unknown throw. */
export async function fuzzHandlers() {
  const { FaultlineError } = await import('@faultline/core');
  return {
    echo: (data) => data ?? null,
    fail: () => {
      throw new FaultlineError('INVALID_ACTION', { message: 'Room is closed', details: { room: 'r1' } });
    },
    boom: () => {
      throw new TypeError('db password=hunter2 at 10.0.0.5');
    },
  };
}

const ALPHABET =
  'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-:.,;!?"\'\\{}[]<>=+*&%$#@~éß漢字😀\u0000\u001f\u2028';

/**
 * @typedef {{ text?: string, binary?: Uint8Array, value?: unknown, label: string }} FuzzFrame
 * `text`: a WebSocket text frame; `binary`: a binary frame; `value`: the parsed form, for
 * transports that carry values (Socket.IO); `label`: what generated it.
 */

/**
 * A seeded frame generator.
 * @param {number} seed
 */
export function frameGenerator(seed) {
  const r = rng(seed);
  let seq = 0;
  const str = (max = 16) => {
    const n = r.int(max + 1);
    let s = '';
    for (let i = 0; i < n; i++) s += ALPHABET[r.int(ALPHABET.length)] ?? 'x';
    return s;
  };
  /** @returns {unknown} */
  const json = (depth = 0) => {
    const k = r.int(depth > 3 ? 5 : 8);
    switch (k) {
      case 0:
        return null;
      case 1:
        return r.chance(0.5);
      case 2:
        return r.pick([0, -1, 1.5, 1e308, -0, 2 ** 53, r.int(1000)]);
      case 3:
      case 4:
        return str();
      case 5:
        return Array.from({ length: r.int(4) }, () => json(depth + 1));
      default: {
        /** @type {Record<string, unknown>} */
        const o = {};
        for (let i = r.int(4); i > 0; i--) o[str(8) || 'k'] = json(depth + 1);
        return o;
      }
    }
  };
  const id = () => `f${(++seq).toString(36)}`;
  const validRequest = () => {
    const event = r.pick([...FUZZ_EVENTS, '$ping', 'nope', str(10) || 'x']);
    /** @type {Record<string, unknown>} */
    const meta = { request_id: id() };
    if (r.chance(0.2)) meta.idempotency_key = `k${seq}-${seed}`;
    if (r.chance(0.1)) meta.timeout_ms = 1 + r.int(10_000);
    /** @type {Record<string, unknown>} */
    const frame = { type: 'request', event, meta };
    if (r.chance(0.8)) frame.data = json();
    if (r.chance(0.1)) frame.v = 1;
    return frame;
  };
  const validOther = () => {
    switch (r.int(3)) {
      case 0:
        return { type: 'event', event: r.pick(['echo', 'chat', str(8) || 'e']), data: json() };
      case 1:
        return { type: 'response', data: json(), meta: { request_id: id() } };
      default:
        return {
          type: 'error',
          data: {
            code: 4001,
            name: 'NOT_FOUND',
            message: str(),
            category: 'application',
            recoverable: false,
            recovery: 'none',
          },
          meta: { request_id: id() },
        };
    }
  };
  const deep = (n) => {
    let v = /** @type {unknown} */ (1);
    for (let i = 0; i < n; i++) v = r.chance(0.5) ? [v] : { a: v };
    return v;
  };

  /** Structural mutations of a valid request (on the parsed value). */
  const mutateValue = () => {
    const f = /** @type {any} */ (validRequest());
    switch (r.int(16)) {
      case 0:
        delete f.type;
        break;
      case 1:
        delete f.event;
        break;
      case 2:
        delete f.meta;
        break;
      case 3:
        delete f.meta.request_id;
        break;
      case 4:
        f.event = r.pick([42, '', null, ['echo'], { e: 1 }, 'e'.repeat(129)]);
        break;
      case 5:
        f.meta = r.pick(['m', 1, null, []]);
        break;
      case 6:
        f.meta.request_id = r.pick([7, '', null, 'i'.repeat(129), { id: 1 }]);
        break;
      case 7:
        f.meta.idempotency_key = r.pick([7, '', 'k'.repeat(129), false]);
        break;
      case 8:
        f.meta.timeout_ms = r.pick([0, -5, 'soon', null, Number.NaN]);
        break;
      case 9:
        f.type = r.pick(['requests', 'hello', 'REQUEST', 7, null, '', 'x'.repeat(100)]);
        break;
      case 10:
        f.v = r.pick([2, 0, '1', null, 1.5]);
        break;
      case 11:
        f.data = deep(33 + r.int(20));
        break;
      case 12:
        // A hostile key: written into the JSON text below (an object literal cannot hold it).
        f.data = { ok: 1, [r.pick(['constructor', 'prototype'])]: { polluted: true } };
        break;
      case 13:
        return { value: f, protoKey: true };
      case 14:
        f.meta.extra = json();
        f.unknown_field = json();
        break;
      default:
        f.data = { big: 'x'.repeat(70_000 + r.int(20_000)) };
    }
    return { value: f, protoKey: false };
  };

  /** Byte-level mutations of a valid frame's text. */
  const mutateText = (text) => {
    switch (r.int(6)) {
      case 0:
        return text.slice(0, r.int(text.length));
      case 1: {
        const i = r.int(text.length);
        return text.slice(0, i) + ALPHABET[r.int(ALPHABET.length)] + text.slice(i + 1);
      }
      case 2: {
        const i = r.int(text.length);
        return text.slice(0, i) + str(6) + text.slice(i);
      }
      case 3:
        return text.replace(/"/g, r.chance(0.5) ? "'" : '');
      case 4:
        return `${text}${text}`;
      default:
        return text.replace(':', '::');
    }
  };

  /** @returns {FuzzFrame} */
  const next = () => {
    const k = r.int(20);
    if (k < 5) {
      const v = validRequest();
      return { text: JSON.stringify(v), value: v, label: 'valid-request' };
    }
    if (k < 7) {
      const v = validOther();
      return { text: JSON.stringify(v), value: v, label: 'valid-other' };
    }
    if (k < 13) {
      const { value, protoKey } = mutateValue();
      let text = JSON.stringify(value);
      if (protoKey) {
        text = text.replace('"meta":{', '"meta":{"__proto__":{"admin":true},');
        return { text, value: JSON.parse(text), label: 'mutate-proto' };
      }
      return { text, value, label: 'mutate-value' };
    }
    if (k < 17) {
      const text = mutateText(JSON.stringify(validRequest()));
      let value;
      try {
        value = JSON.parse(text);
      } catch {
        value = text;
      }
      return { text, value, label: 'mutate-text' };
    }
    if (k === 17) {
      const v = r.pick([[], [1, 2], 42, '"str"', null, true, '']);
      const text = typeof v === 'string' ? v : JSON.stringify(v);
      return { text, value: v, label: 'not-object' };
    }
    if (k === 18) {
      const text = str(40);
      return { text, value: text, label: 'garbage' };
    }
    const inner = JSON.stringify(validRequest());
    return { binary: new TextEncoder().encode(inner), value: new TextEncoder().encode(inner), label: 'binary' };
  };
  return { next };
}

/** The `request_id` a server can read from a frame it will not parse (see @faultline/ws peek). */
export function peekId(text) {
  const at = text.lastIndexOf('"request_id"');
  if (at < 0) return undefined;
  const m = /^"request_id"\s*:\s*"([^"\\]{1,128})"/.exec(text.slice(at, at + 160));
  return m?.[1];
}

/**
 * What the protocol requires in answer to a WebSocket frame (PROTOCOL.md §7.2):
 * `{ answer: 'none' }`, `{ answer: 'bad', id }` (BAD_REQUEST-class error, with the id when it
 * could be read) or `{ answer: 'reply', id, event }` (exactly one response or error).
 * @param {FuzzFrame} f
 * @param {{ maxFrameBytes?: number }} [opts]
 */
export function expectation(f, opts = {}) {
  const max = opts.maxFrameBytes ?? DEFAULT_DECODE_LIMITS.maxBytes;
  if (f.binary) return { answer: 'bad', id: peekId(new TextDecoder().decode(f.binary)), names: ['BAD_REQUEST'] };
  // What the server reads: UTF-8 on the wire turns lone surrogates into U+FFFD.
  const text = Buffer.from(/** @type {string} */ (f.text), 'utf8').toString('utf8');
  if (Buffer.byteLength(text) > max) return { answer: 'bad', id: peekId(text), names: ['PAYLOAD_TOO_LARGE'] };
  const d = decodeFrame(text);
  if (!d.ok) return { answer: 'bad', id: d.requestId, names: ['BAD_REQUEST', 'PAYLOAD_TOO_LARGE'] };
  if (d.frame.type === 'request') return { answer: 'reply', id: d.frame.meta.request_id, event: d.frame.event };
  return { answer: 'none' };
}
