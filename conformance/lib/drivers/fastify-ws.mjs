// Driver: a `@faultline/fastify` websocket route (`faultlineWebSocket`, over `@fastify/websocket`)
// next to the HTTP plugin, and the `@faultline/ws/client` over a recording `ws` socket. Graceful
// shutdown is `fastify.close()`, which the plugin drains with SHUTTING_DOWN.
import { faultline, faultlineWebSocket, frameworkErrors } from '@faultline/fastify';
import Fastify from 'fastify';
import { sleep } from '../util.mjs';
import { Wire } from '../wire.mjs';
import { fuzzWebSocket, silent, wsClient } from '../ws-common.mjs';
import { fastifyLogger } from './fastify-http.mjs';

/** @type {import('../driver.mjs').Transport} */
export const fastifyWsTransport = {
  name: 'fastify-ws',
  caps: { connection: true, closeCodes: true },
  bodyOf: (err) => err.toBody(),
  async start(opts) {
    let port = 0;
    /** @type {import('fastify').FastifyInstance | undefined} */
    let app;
    /** @type {any} */
    let server;
    /** The plugin reads `shutdown` when `fastify.close()` drains: set per call. */
    /** @type {{ ws: object, shutdown: { windowMs?: number, graceMs?: number } }} */
    const pluginOptions = { ws: { maxPayload: 1 << 20 }, shutdown: { windowMs: 1000, graceMs: 500 } };
    const clients = [];
    const raw = new Wire();

    const boot = async () => {
      const a = Fastify({ loggerInstance: /** @type {any} */ (fastifyLogger(opts.logger ?? silent)), frameworkErrors });
      await a.register(faultline);
      await a.register(faultlineWebSocket, pluginOptions);
      server = a.faultlineWebSocket.route('/ws', {
        handlers: /** @type {any} */ (opts.handlers),
        rateLimit: opts.rateLimit ?? false,
        heartbeatMs: 0,
        ...(opts.errorRoute ? { errorRoute: opts.errorRoute } : {}),
        ...(opts.maxBadFrames !== undefined ? { maxBadFrames: opts.maxBadFrames } : {}),
        ...(opts.authenticate
          ? { authenticate: (request) => opts.authenticate?.(/** @type {any} */ (request.query)?.access_token) }
          : {}),
      });
      await a.listen({ port, host: '127.0.0.1' });
      port = /** @type {import('node:net').AddressInfo} */ (a.server.address()).port;
      app = a;
    };
    const sockets = () => /** @type {any} */ (app)?.websocketServer?.clients ?? new Set();
    const stop = async () => {
      for (const s of sockets()) s.terminate();
      const a = app;
      app = undefined;
      await a?.close();
    };
    await boot();
    const url = () => `ws://127.0.0.1:${port}/ws`;

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
        for (const s of sockets()) {
          s.terminate();
          n++;
        }
        return n;
      },
      killOne() {
        const all = [...sockets()];
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
        // `fastify.close()`: the plugin drains every route with SHUTTING_DOWN, then closes.
        pluginOptions.shutdown = { windowMs, graceMs };
        const a = app;
        app = undefined;
        await a?.close();
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
