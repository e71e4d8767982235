// The HTTP API, through @faultline/fastify: the same handlers as the realtime transports, as
// routes. Every failure (a thrown FaultlineError, an unknown throw, a 404, bad JSON) leaves as
// the Faultline envelope with the registry's status; RATE_LIMITED and SHUTTING_DOWN carry
// Retry-After.
import { createRateLimiter, FaultlineError } from '@faultline/core';
import { tokenOf } from '../tokens.mjs';

/**
 * @param {import('fastify').FastifyInstance} app with the @faultline/fastify plugin registered
 * @param {import('./index.mjs').RealtimeOptions} options
 */
export function registerHttpApi(app, { handlers, rateLimit, verify }) {
  const limiters = new Map();

  /** Runs a chat handler for an authenticated, rate-limited HTTP request. */
  const route = (event, dataOf) => async (request) => {
    const auth = verify(tokenOf(request));
    let limiter = limiters.get(auth.user);
    if (!limiter) {
      limiter = createRateLimiter(rateLimit);
      limiters.set(auth.user, limiter);
    }
    const wait = limiter.consume();
    if (wait > 0) {
      throw new FaultlineError('RATE_LIMITED', {
        message: `Too many requests: retry after ${wait} ms`,
        retryAfterMs: wait,
        executed: 'no',
      });
    }
    return handlers[event](dataOf(request), { event, auth, connection: undefined });
  };

  app.get(
    '/api/rooms',
    route('rooms', () => ({})),
  );
  app.get(
    '/api/me',
    route('whoami', () => ({})),
  );
  app.post(
    '/api/rooms/:room/join',
    route('join', (r) => ({ room: r.params.room })),
  );
  app.post(
    '/api/rooms/:room/messages',
    route('send', (r) => ({ room: r.params.room, text: r.body?.text })),
  );
  app.delete(
    '/api/rooms/:room',
    route('deleteRoom', (r) => ({ room: r.params.room })),
  );
  app.post(
    '/api/rooms/:room/crash',
    route('crash', (r) => ({ room: r.params.room })),
  );
}
