import { websocketTransport } from './websocket.js';

// The Fastify route speaks the same protocol as `ws`: the same client, another path.
export default websocketTransport({ id: 'fastify-ws', label: 'Fastify websocket', path: '/fastify/ws' });
