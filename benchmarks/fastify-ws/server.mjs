// Bench server child of the fastify-ws suite: two Fastify 5 apps in one process (pinned to one CPU
// by the parent), each on its own 127.0.0.1 port, each with one websocket route at /ws:
//   faultline: `faultlineWebSocket` (@faultline/fastify) with `route('/ws', ...)`, the handlers of
//              the ws suite (../ws/handlers.mjs), heartbeat off and no rate limit;
//   raw:       `@fastify/websocket` registered directly, a `{ websocket: true }` route whose
//              handler is the ws suite's hand-written JSON request/response (rawConnection).
// Both register @fastify/websocket (one version in the lockfile, so the only difference is the
// protocol layer) with perMessageDeflate off. Reports {ready, faultline, raw}.
import websocket from '@fastify/websocket';
import { silentLogger } from '@faultline/core';
import { faultlineWebSocket } from '@faultline/fastify';
import Fastify from 'fastify';
import { faultlineHandlers, rawConnection } from '../ws/handlers.mjs';

const HOST = '127.0.0.1';
process.once('disconnect', () => process.exit(0));
process.once('SIGTERM', () => process.exit(0));
setTimeout(() => process.exit(3), 300_000).unref();

// ---------------------------------------------------------------- Faultline
const fapp = Fastify({ logger: false });
await fapp.register(faultlineWebSocket, { ws: { perMessageDeflate: false } });
fapp.faultlineWebSocket.route('/ws', {
  heartbeatMs: 0,
  rateLimit: false,
  logger: silentLogger,
  handlers: faultlineHandlers,
});

// ---------------------------------------------------------------- raw @fastify/websocket
const rapp = Fastify({ logger: false });
await rapp.register(websocket, { options: { perMessageDeflate: false } });
rapp.register(async (scope) => {
  // @fastify/websocket >= 10: the handler receives the ws WebSocket directly.
  scope.get('/ws', { websocket: true }, (socket) => rawConnection(socket));
});

await Promise.all([fapp.listen({ host: HOST, port: 0 }), rapp.listen({ host: HOST, port: 0 })]);
const url = (app) => `ws://${HOST}:${app.server.address().port}/ws`;
process.send({ ready: true, faultline: url(fapp), raw: url(rapp) });
process.on('message', (m) => {
  if (m?.probe) process.send({ probe: m.probe, cpu: process.cpuUsage() });
});
