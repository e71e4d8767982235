// The `ws` transport: a noServer WebSocketServer at /ws, served by @faultline/ws/server.
import { createServer } from '@faultline/ws/server';
import { WebSocketServer } from 'ws';

/**
 * @param {import('@faultline/ws/server').WsServerOptions<any>} options Faultline server options.
 */
export function wsTransport(options) {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1 << 20 });
  let server = createServer(options);
  let detach = server.attach(wss);

  return {
    id: 'ws',
    path: '/ws',
    /** Takes an HTTP upgrade for /ws. */
    upgrade(request, socket, head) {
      wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
    },
    /** Graceful shutdown: SHUTTING_DOWN to every client; new connections are refused the same way. */
    stop: (shutdown) => server.close(shutdown),
    /** Accepts connections again with a fresh server. */
    start() {
      detach();
      server = createServer(options);
      detach = server.attach(wss);
    },
    async close() {
      await server.close({ windowMs: 1, graceMs: 100, timeoutMs: 500 });
      wss.close();
    },
  };
}
