// Driver: `@faultline/ws/server` over a `ws` WebSocketServer on a node:http server, and the
// `@faultline/ws/client` over a recording `ws` socket.
import { createServer as createHttpServer } from 'node:http';
import { FaultlineError } from '@faultline/core';
import { createServer } from '@faultline/ws/server';
import { WebSocketServer } from 'ws';
import { sleep } from '../util.mjs';
import { Wire } from '../wire.mjs';
import { fuzzWebSocket, silent, wsClient } from '../ws-common.mjs';

/** @param {import('node:http').Server} http @param {number} port */
function listen(http, port) {
  return new Promise((resolve, reject) => {
    http.once('error', reject);
    http.listen(port, '127.0.0.1', () => {
      http.off('error', reject);
      resolve(/** @type {import('node:net').AddressInfo} */ (http.address()).port);
    });
  });
}

/** @param {import('node:http').Server} http */
function closeHttp(http) {
  return new Promise((resolve) => {
    http.close(() => resolve(undefined));
    http.closeAllConnections?.();
  });
}

/** @param {string | undefined} url */
export function tokenOf(url) {
  return new URL(url ?? '/', 'http://x').searchParams.get('access_token') ?? undefined;
}

/** @type {import('../driver.mjs').Transport} */
export const wsTransport = {
  name: 'ws',
  caps: { connection: true, closeCodes: true },
  bodyOf: (err) => err.toBody(),
  async start(opts) {
    let port = 0;
    /** @type {import('node:http').Server} */
    let http;
    /** @type {WebSocketServer} */
    let wss;
    /** @type {ReturnType<typeof createServer>} */
    let server;
    const clients = [];
    const raw = new Wire();

    const boot = async () => {
      http = createHttpServer();
      wss = new WebSocketServer({ server: http, maxPayload: 1 << 20 });
      server = createServer({
        handlers: /** @type {any} */ (opts.handlers),
        logger: opts.logger ?? silent,
        rateLimit: opts.rateLimit ?? false,
        heartbeatMs: 0,
        ...(opts.errorRoute ? { errorRoute: opts.errorRoute } : {}),
        ...(opts.maxBadFrames !== undefined ? { maxBadFrames: opts.maxBadFrames } : {}),
        ...(opts.authenticate ? { authenticate: (req) => opts.authenticate?.(tokenOf(req.url)) } : {}),
      });
      server.attach(wss);
      port = await listen(http, port);
    };
    const stop = async () => {
      for (const s of wss.clients) s.terminate();
      await new Promise((r) => wss.close(() => r(undefined)));
      await closeHttp(http);
    };
    await boot();
    const url = () => `ws://127.0.0.1:${port}`;

    return {
      get url() {
        return url();
      },
      client(o) {
        const c = wsClient(url(), o);
        clients.push(c);
        return c;
      },
      killConnections() {
        let n = 0;
        for (const s of wss.clients) {
          s.terminate();
          n++;
        }
        return n;
      },
      killOne() {
        const all = [...wss.clients];
        const s = all[Math.floor(Math.random() * all.length)];
        s?.terminate();
        return s !== undefined;
      },
      failAll(error) {
        let n = 0;
        for (const c of [...server.connections]) {
          c.fail(error);
          n++;
        }
        return n;
      },
      async shutdown({ windowMs, graceMs = 500 }) {
        await server.close({ windowMs, graceMs, timeoutMs: 2000 });
      },
      async restart({ downMs = 0 } = {}) {
        await stop();
        if (downMs > 0) await sleep(downMs);
        await boot();
      },
      connectionCount: () => server.connections.size,
      fuzz: ({ frames, seed }) => fuzzWebSocket(url(), { frames, seed, wire: raw }),
      incoming: () => [
        ...raw.incoming(),
        ...clients.flatMap((c) => c.wire.incoming()),
        ...clients.flatMap((c) => c.wire.closes.map((x) => x.reason)),
      ],
      async close() {
        for (const c of clients) c.close();
        await stop();
      },
    };
  },
};

export { FaultlineError };
