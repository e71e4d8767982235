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
}

export const DEFAULT_DETAIL_LIMITS: DetailLimits = { maxDepth: 6, maxKeys: 64, maxString: 1024, maxNodes: 512 };

/**
 * Copies `value` into plain JSON within `limits`. Returns `undefined` for values that have no JSON
 * form at the top level. Never throws, whatever getters or proxies the value holds.
 */
export function toBoundedJson(value: unknown, limits: DetailLimits = DEFAULT_DETAIL_LIMITS): Json | undefined {
  let nodes = 0;
  const seen = new Set<object>();
  const visit = (v: unknown, depth: number): Json | undefined => {
    if (++nodes > limits.maxNodes) return undefined;
    switch (typeof v) {
      case 'string':
        return v.length > limits.maxString ? `${v.slice(0, limits.maxString)}…` : v;
      case 'number':
        return Number.isFinite(v) ? v : null;
      case 'boolean':
        return v;
      case 'bigint':
        return v.toString();
      case 'object': {
        if (v === null) return null;
        if (seen.has(v)) return '[Circular]';
        if (depth >= limits.maxDepth) return '[Truncated]';
        if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString();
        seen.add(v);
        try {
          if (Array.isArray(v)) {
            const out: Json[] = [];
            const n = Math.min(v.length, limits.maxKeys);
            for (let i = 0; i < n; i++) out.push(visit(v[i], depth + 1) ?? null);
            return out;
          }
          const out: { [key: string]: Json } = {};
          let count = 0;
          for (const key of Object.keys(v)) {
            if (FORBIDDEN_KEYS.has(key)) continue;
            if (++count > limits.maxKeys) break;
            const item = visit((v as Record<string, unknown>)[key], depth + 1);
            if (item !== undefined) out[key] = item;
          }
          return out;
        } catch {
          return '[Unreadable]';
        } finally {
          seen.delete(v);
        }
      }
      default:
        return undefined;
    }
  };
  try {
    return visit(value, 0);
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
