// Every transport the suite runs against. A driver joins this list once its adapter's API is
// committed; scenarios that need a persistent connection skip transports without one (caps).
import { fastifyHttpTransport } from './drivers/fastify-http.mjs';
import { fastifyWsTransport } from './drivers/fastify-ws.mjs';
import { socketioPollingTransport, socketioTransport } from './drivers/socketio.mjs';
import { wsTransport } from './drivers/ws.mjs';

/** @type {import('./driver.mjs').Transport[]} */
export const transports = [
  wsTransport,
  socketioTransport,
  socketioPollingTransport,
  fastifyWsTransport,
  fastifyHttpTransport,
];
