/**
 * Redaction of what an unknown throw carries before it reaches the log. A thrown error's own
 * properties (`err.config.headers`, `err.sql`, `err.password`) are logged by pino's error
 * serializer; the plugin's `redact` option masks the ones named here. Pino's own `redact` option
 * (on the Fastify logger) works as well and covers every log line, not only these.
 */

/** What a redacted value is replaced with. */
export const REDACTED = '[Redacted]';

const MAX_DEPTH = 8;
const MAX_KEYS = 64;

/** Turns a thrown value into a plain, loggable copy with the named keys masked. */
export type Redactor = (value: unknown) => unknown;

/**
 * Builds a redactor. A rule without a dot names a key at any depth (case-insensitive:
 * `authorization`); a dotted rule names a path from the thrown value (`config.headers.cookie`,
 * `*` matching any one key; a leading `err.` is ignored, as in pino paths).
 */
export function createRedactor(rules: readonly string[]): Redactor {
  const keys = new Set<string>();
  const paths: string[][] = [];
  for (const rule of rules) {
    const segments = rule.split('.');
    if (segments[0] === 'err' && segments.length > 1) segments.shift();
    if (segments.length === 1) keys.add(rule.toLowerCase());
    else paths.push(segments);
  }
  const matches = (path: readonly string[]): boolean => {
    const last = path[path.length - 1];
    if (last !== undefined && keys.has(last.toLowerCase())) return true;
    outer: for (const rule of paths) {
      if (rule.length !== path.length) continue;
      for (let i = 0; i < rule.length; i++) if (rule[i] !== '*' && rule[i] !== path[i]) continue outer;
      return true;
    }
    return false;
  };
  const seen = new Set<object>();
  const copy = (value: unknown, path: string[]): unknown => {
    if (typeof value !== 'object' || value === null) return value;
    if (seen.has(value)) return '[Circular]';
    if (path.length >= MAX_DEPTH) return '[Truncated]';
    seen.add(value);
    try {
      if (Array.isArray(value)) {
        return value.slice(0, MAX_KEYS).map((item, i) => {
          const at = [...path, String(i)];
          return matches(at) ? REDACTED : copy(item, at);
        });
      }
      const out: Record<string, unknown> = {};
      if (value instanceof Error) {
        out.type = value.constructor?.name ?? value.name;
        out.message = value.message;
        out.stack = value.stack;
        if (value.cause !== undefined) out.cause = copy(value.cause, [...path, 'cause']);
      }
      let n = 0;
      for (const key of Object.keys(value)) {
        if (++n > MAX_KEYS) break;
        const at = [...path, key];
        out[key] = matches(at) ? REDACTED : copy((value as Record<string, unknown>)[key], at);
      }
      return out;
    } catch {
      return '[Unreadable]';
    } finally {
      seen.delete(value);
    }
  };
  return (value) => {
    seen.clear();
    return copy(value, []);
  };
}
