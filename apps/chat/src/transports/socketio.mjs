// The Socket.IO transport at /socket.io/, served by @faultline/socket.io/server.
//
// A restart is modelled as a restarted process: each generation is a new Socket.IO server. Its
// engine is not attached to the app's HTTP server; the app routes /socket.io/ requests and
// upgrades to the current generation's engine.
import { createServer as createHttpServer } from 'node:http';
import { FaultlineError } from '@faultline/core';
import { attach } from '@faultline/socket.io/server';
import { Server } from 'socket.io';

/** @param {import('./index.mjs').RealtimeOptions} options */
export function socketioTransport({ handlers, logger, rateLimit, verify }) {
  const generation = () => {
    const io = new Server({ serveClient: false, maxHttpBufferSize: 1 << 20 });
    io.attach(createHttpServer()); // never listens: it only gives `io.engine` a home
    const fl = attach(io, {
      handlers,
      logger,
      rateLimit,
      // The token rides in the handshake's `auth.token`; a refusal reaches the client's connect_error.
      authenticate: (handshake) => verify(handshake.auth?.token),
    });
    // Socket.IO has no notion of credentials expiring: end the connection with UNAUTHORIZED then.
    io.on('connection', (socket) => {
      const auth = fl.connection(socket)?.auth;
      if (!auth) return;
      const expired = () => fl.fail(socket, new FaultlineError('UNAUTHORIZED', { message: 'Token expired' }));
      const timer = setTimeout(expired, Math.max(0, auth.exp - Date.now()));
      timer.unref();
      socket.on('disconnect', () => clearTimeout(timer));
    });
    return { io, fl };
  };
  let current = generation();

  return {
    id: 'socket.io',
    matches: (path) => path.startsWith('/socket.io/'),
    request: (request, response) => current.io.engine.handleRequest(request, response),
    upgrade: (request, socket, head) => current.io.engine.handleUpgrade(request, socket, head),
    /** Graceful shutdown: SHUTTING_DOWN to every client; the middleware refuses new ones the same way. */
    stop: (shutdown) => current.fl.close(shutdown),
    start() {
      const old = current;
      current = generation();
      old.io.close();
    },
    async close() {
      await current.fl.close({ windowMs: 1, graceMs: 100 });
      await current.io.close();
    },
  };
}
