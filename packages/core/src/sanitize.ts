/**
 * Turns arbitrary values into bounded JSON without throwing: cycles, functions, symbols, huge
 * strings and hostile keys are handled, never passed on (PROTOCOL.md §3.2).
 */
import type { Json } from './envelope.js';

/** Keys that could reach an object's prototype when a receiver merges the data. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** Limits on the `details` an error carries. */
export interface DetailLimits {
  /** Greatest nesting depth. @default 6 */
  maxDepth: number;
  /** Greatest number of keys or items in one object or array. @default 64 */
  maxKeys: number;
  /** Longest string, in characters; longer ones are cut with an ellipsis. @default 1024 */
  maxString: number;
  /** Greatest number of values overall. @default 512 */
  maxNodes: number;
  /**
   * Upper bound on the UTF-8 size of the JSON output, keys included; what does not fit is left
   * out. Keeps an error frame under the decoder's frame cap even with a chain of causes.
   * @default 8192
   */
  maxBytes?: number;
}

/** The bounds applied to `details` when none are given (PROTOCOL.md §3.2). */
export const DEFAULT_DETAIL_LIMITS: DetailLimits = {
  maxDepth: 6,
  maxKeys: 64,
  maxString: 1024,
  maxNodes: 512,
  maxBytes: 8192,
};

// Printable ASCII: one byte per character in JSON (quote and backslash are escaped to two).
const PLAIN = /^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/;

/** An upper bound on the bytes `JSON.stringify` writes for a string, quotes included. */
function jsonBytes(s: string): number {
  if (PLAIN.test(s)) return s.length + 2;
  let n = 2;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // Control characters and lone surrogates are escaped as `\uXXXX`.
    n += c < 0x20 || (c >= 0xd800 && c <= 0xdfff) ? 6 : c < 0x80 ? 2 : c < 0x800 ? 2 : 3;
  }
  return n;
}

/** The state of one {@link toBoundedJson} pass (one object, no closures per call). */
interface Pass {
  readonly limits: DetailLimits;
  nodes: number;
  /** Size budget: every value is charged an upper bound of its JSON size (plus one separator). */
  budget: number;
  /** The objects being copied, outermost first: a value met again among them is a cycle. */
  readonly ancestors: object[];
}

function boundedString(s: string, pass: Pass): string | undefined {
  const max = pass.limits.maxString;
  const cut = s.length > max ? `${s.slice(0, max)}…` : s;
  pass.budget -= jsonBytes(cut) + 1;
  return pass.budget >= 0 ? cut : undefined;
}

function visit(v: unknown, depth: number, pass: Pass): Json | undefined {
  const limits = pass.limits;
  if (++pass.nodes > limits.maxNodes || pass.budget <= 0) return undefined;
  switch (typeof v) {
    case 'string':
      return boundedString(v, pass);
    case 'number':
      pass.budget -= 25;
      return Number.isFinite(v) ? v : null;
    case 'boolean':
      pass.budget -= 6;
      return v;
    case 'bigint':
      return boundedString(v.toString(), pass);
    case 'object': {
      pass.budget -= 5;
      if (v === null) return null;
      const ancestors = pass.ancestors;
      if (ancestors.includes(v)) return '[Circular]';
      if (depth >= limits.maxDepth) return '[Truncated]';
      if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : boundedString(v.toISOString(), pass);
      ancestors.push(v);
      try {
        if (Array.isArray(v)) {
          const out: Json[] = [];
          const n = Math.min(v.length, limits.maxKeys);
          for (let i = 0; i < n && pass.budget > 0; i++) out.push(visit(v[i], depth + 1, pass) ?? null);
          return out;
        }
        const out: { [key: string]: Json } = {};
        let count = 0;
        for (const key of Object.keys(v)) {
          if (FORBIDDEN_KEYS.has(key) || key.length > limits.maxString) continue;
          if (++count > limits.maxKeys || pass.budget <= 0) break;
          pass.budget -= jsonBytes(key) + 1;
          if (pass.budget <= 0) break;
          const item = visit((v as Record<string, unknown>)[key], depth + 1, pass);
          if (item !== undefined) out[key] = item;
        }
        return out;
      } catch {
        return '[Unreadable]';
      } finally {
        // Always the last one pushed: a nested visit pops what it pushed, throw or not.
        ancestors.pop();
      }
    }
    default:
      return undefined;
  }
}

/**
 * Copies `value` into plain JSON within `limits`. Returns `undefined` for values that have no JSON
 * form at the top level. Never throws, whatever getters or proxies the value holds.
 */
export function toBoundedJson(value: unknown, limits: DetailLimits = DEFAULT_DETAIL_LIMITS): Json | undefined {
  const pass: Pass = {
    limits,
    nodes: 0,
    budget: limits.maxBytes ?? DEFAULT_DETAIL_LIMITS.maxBytes ?? 8192,
    ancestors: [],
  };
  try {
    return visit(value, 0, pass);
  } catch {
    return undefined;
  }
}

/** Copies `value` into a bounded JSON object, or `undefined` when it is not an object. */
export function toBoundedObject(
  value: unknown,
  limits: DetailLimits = DEFAULT_DETAIL_LIMITS,
): { [key: string]: Json } | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const out = toBoundedJson(value, limits);
  return typeof out === 'object' && out !== null && !Array.isArray(out) ? out : undefined;
}
