// The `ws` transport: a noServer WebSocketServer at /ws, served by @faultline/ws/server.
import { createServer } from '@faultline/ws/server';
import { WebSocketServer } from 'ws';
import { tokenOf } from '../tokens.mjs';

/** @param {import('./index.mjs').RealtimeOptions} options */
export function wsTransport({ handlers, logger, rateLimit, verify }) {
  const options = {
    handlers,
    logger,
    rateLimit,
    // The token rides in `?access_token=`; a bad one is answered after the upgrade, then close 4003.
    authenticate: (request) => verify(tokenOf(request)),
    // At expiry the server sends UNAUTHORIZED and closes 4003; the client refreshes its token.
    expiresAt: (auth) => auth.exp,
  };
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1 << 20 });
  let server = createServer(options);
  let detach = server.attach(wss);

  return {
    id: 'ws',
    matches: (path) => path === '/ws',
    upgrade(request, socket, head) {
      wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
    },
    /** Graceful shutdown: SHUTTING_DOWN to every client; new connections are refused the same way. */
    stop: (shutdown) => server.close(shutdown),
    /** Accepts connections again with a fresh server, as a restarted process would. */
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
