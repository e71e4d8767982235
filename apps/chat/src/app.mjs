// The chat server: one Fastify HTTP server on one port carrying every transport.
//
//   GET  /                 the page (web/index.html, web/style.css, bundled web/main.js)
//   POST /api/token        a signed token; { ttl_ms } makes a short one
//   POST /api/admin/restart  every transport shuts down gracefully, then accepts again
//   /api/rooms/...         the HTTP API, through @faultline/fastify (envelope errors, Retry-After)
//   /ws                    ws, through @faultline/ws/server
//   /socket.io/            Socket.IO, through @faultline/socket.io/server
//   /fastify/ws            a Fastify websocket route, through @faultline/fastify
//
// Upgrades are routed by path, so each WebSocket library only sees its own.
import { readFile } from 'node:fs/promises';
import { FaultlineError } from '@faultline/core';
import { faultline, faultlineWebSocket } from '@faultline/fastify';
import Fastify from 'fastify';
import { bundleClient } from './bundle.mjs';
import { createChat } from './chat.mjs';
import { DEFAULT_TTL_MS, issueToken, verifyToken } from './tokens.mjs';
import { registerHttpApi } from './transports/http.mjs';
import { loadRealtime } from './transports/index.mjs';

/** Requests per connection: a burst of 10, refilled at 5 per second. */
export const RATE_LIMIT = { points: 10, durationMs: 2000 };
/** How long the transports stay down on restart, and the window clients are spread over. */
const RESTART = { downMs: 1500, windowMs: 1000, graceMs: 1000 };
/** What answers SHUTTING_DOWN while restarting: the HTTP API and the Fastify websocket route. */
const DOWN_WHILE_RESTARTING = /^\/(api\/rooms|api\/me|fastify\/ws)(\/|\?|$)/;

const web = new URL('../web/', import.meta.url);

/** A Faultline logger (pino's shape) that writes one readable line per failure, stack included. */
function consoleLog(quiet) {
  const write = (level) => (obj, msg) => {
    if (quiet) return;
    const { err, ...rest } = obj;
    console.error(`[${level}] ${msg ?? ''} ${JSON.stringify(rest)}`);
    if (err?.stack) console.error(err.stack);
    else if (err) console.error(err);
  };
  return { error: write('error'), warn: write('warn') };
}

let userSeq = 0;

/**
 * Starts the chat server.
 * @param {{ port?: number, host?: string, quiet?: boolean }} [options]
 */
export async function startChatServer({ port = 3000, host = '127.0.0.1', quiet = false } = {}) {
  const chat = createChat();
  const logger = consoleLog(quiet);
  // Fastify logs at warn and above: the stack of an unknown throw, never a request line.
  const app = Fastify({ logger: quiet ? false : { level: 'warn' } });
  // Before any route: every HTTP failure, 404s included, answers with the Faultline envelope.
  await app.register(faultline, { redact: ['authorization', 'password'] });
  await app.register(faultlineWebSocket, {
    ws: { maxPayload: 1 << 20 },
    shutdown: { windowMs: RESTART.windowMs, graceMs: RESTART.graceMs },
  });

  /** While restarting: when the transports accept again (epoch ms). */
  let upAt;
  app.addHook('onRequest', async (request) => {
    if (upAt === undefined || !DOWN_WHILE_RESTARTING.test(request.url)) return;
    // Over HTTP: 503 with Retry-After. On a websocket upgrade: the frame, then close 1012.
    const retryAfterMs = Math.max(0, upAt - Date.now()) + Math.floor(Math.random() * 250);
    throw new FaultlineError('SHUTTING_DOWN', { retryAfterMs, executed: 'no' });
  });

  const options = { app, handlers: chat.handlers, logger, rateLimit: RATE_LIMIT, verify: verifyToken };
  const { transports, pages: pageTransports } = await loadRealtime(options, (msg) => logger.warn({}, msg));
  registerHttpApi(app, options);

  const [html, css, js] = await Promise.all([
    readFile(new URL('index.html', web), 'utf8'),
    readFile(new URL('style.css', web), 'utf8'),
    bundleClient([...pageTransports, 'http.js']),
  ]);

  const page = (type, body) => (_request, reply) => reply.type(type).header('cache-control', 'no-store').send(body);
  app.get('/', page('text/html; charset=utf-8', html));
  app.get('/style.css', page('text/css; charset=utf-8', css));
  app.get('/app.js', page('text/javascript; charset=utf-8', js));

  app.post('/api/token', async (request) => {
    const ttl = Number(request.body?.ttl_ms);
    const ttlMs = Number.isFinite(ttl) ? Math.min(Math.max(ttl, 500), DEFAULT_TTL_MS) : DEFAULT_TTL_MS;
    return issueToken({ user: `guest-${(++userSeq).toString().padStart(3, '0')}`, ttlMs });
  });

  app.post('/api/admin/restart', async (_request, reply) => {
    if (upAt !== undefined)
      throw new FaultlineError('INVALID_ACTION', { message: 'Already restarting', executed: 'no' });
    upAt = Date.now() + RESTART.downMs;
    // Answer first: the page learns the rest from its connection.
    setTimeout(async () => {
      await Promise.all(transports.map((t) => t.stop({ windowMs: RESTART.windowMs, graceMs: RESTART.graceMs })));
      setTimeout(
        () => {
          for (const t of transports) t.start();
          upAt = undefined;
        },
        Math.max(0, upAt - Date.now()),
      );
    }, 50);
    reply.code(202);
    return { restarting: true, down_ms: RESTART.downMs };
  });

  await app.ready();

  // Requests and upgrades are routed by path: a transport takes its own (/ws, /socket.io/), the
  // rest goes to the listeners that were there (Fastify, @fastify/websocket).
  const server = app.server;
  const owner = (request) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    return transports.find((t) => t.matches?.(path));
  };
  for (const event of ['request', 'upgrade']) {
    const others = server.listeners(event);
    server.removeAllListeners(event);
    server.on(event, (request, ...rest) => {
      const transport = owner(request);
      const own = event === 'request' ? transport?.request : transport?.upgrade;
      if (own) return own(request, ...rest);
      if (event === 'upgrade' && others.length === 0) return rest[0].destroy();
      for (const listener of others) listener.call(server, request, ...rest);
    });
  }

  await app.listen({ port, host });
  const address = server.address();
  const url = `http://${host}:${address.port}/`;

  return {
    url,
    port: address.port,
    app,
    async close() {
      await Promise.all(transports.map((t) => t.close()));
      await app.close();
    },
  };
}
