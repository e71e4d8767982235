// Signed, short-lived access tokens: enough to show expiry and refresh without an external service.
// A token is `base64url(json).base64url(hmac)`; the secret is new on every start.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { FaultlineError } from '@faultline/core';

const secret = randomBytes(32);

/** Default lifetime of a token, in ms. */
export const DEFAULT_TTL_MS = 10 * 60_000;

const sign = (body) => createHmac('sha256', secret).update(body).digest('base64url');

/** Issues a token for `user` valid for `ttlMs`. */
export function issueToken({ user, role = 'member', ttlMs = DEFAULT_TTL_MS }) {
  const exp = Date.now() + ttlMs;
  const body = Buffer.from(JSON.stringify({ sub: user, role, exp })).toString('base64url');
  return { token: `${body}.${sign(body)}`, user, role, expires_at: exp };
}

const unauthorized = (reason, message) =>
  new FaultlineError('UNAUTHORIZED', { message, details: { reason }, executed: 'no' });

/** Returns `{ user, role, exp }` or throws UNAUTHORIZED (missing, invalid or expired). */
export function verifyToken(token) {
  if (typeof token !== 'string' || token.length === 0) throw unauthorized('missing', 'Token missing');
  const [body, mac] = token.split('.');
  const expected = Buffer.from(sign(body ?? ''));
  const given = Buffer.from(mac ?? '');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw unauthorized('invalid', 'Token invalid');
  }
  const claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  if (!(claims.exp > Date.now())) throw unauthorized('expired', 'Token expired');
  return { user: claims.sub, role: claims.role, exp: claims.exp };
}

/** The token of an upgrade or HTTP request: `?access_token=` or `Authorization: Bearer`. */
export function tokenOf(request) {
  const header = request.headers?.authorization;
  if (typeof header === 'string' && header.startsWith('Bearer ')) return header.slice(7);
  return new URL(request.url ?? '/', 'http://localhost').searchParams.get('access_token') ?? undefined;
}
