// The Fastify websocket route at /fastify/ws: `@faultline/fastify`'s `faultlineWebSocket` plugin
// (over @fastify/websocket) with the same handlers as every other transport.
import { FaultlineError } from '@faultline/core';
import { tokenOf } from '../tokens.mjs';

/** @param {import('./index.mjs').RealtimeOptions & { app: import('fastify').FastifyInstance }} options */
export function fastifyWsTransport({ app, handlers, rateLimit, verify }) {
  const server = app.faultlineWebSocket.route('/fastify/ws', {
    handlers,
    rateLimit,
    // Sees the Fastify request; a refusal is sent as a frame, then close 4003.
    authenticate: (request) => verify(tokenOf(request.raw)),
    expiresAt: (auth) => auth.exp,
  });

  return {
    id: 'fastify-ws',
    // No `matches`: its upgrades go through Fastify's router to @fastify/websocket.
    /**
     * A route's server cannot be reopened once closed, and a route cannot be added after the app
     * started, so a restart ends every connection the way a shutdown does (SHUTTING_DOWN with a
     * jittered retry_after_ms, close 1012) while an onRequest hook refuses new ones in the meantime.
     */
    async stop({ windowMs }) {
      for (const connection of [...server.connections]) {
        connection.fail(FaultlineError.fromBody(server.engine.shuttingDown(windowMs)));
      }
    },
    start() {},
    // `app.close()` drains the route's server itself.
    async close() {},
  };
}
