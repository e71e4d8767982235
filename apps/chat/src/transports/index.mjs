// Which transports this server offers. Each one that cannot load (its package not built) is left
// out with a warning, so the page only lists what works.

/**
 * @typedef {object} RealtimeOptions
 * @property {Record<string, Function>} handlers the chat's request handlers
 * @property {{ error: Function, warn: Function }} logger
 * @property {{ points: number, durationMs: number }} rateLimit
 * @property {(token: unknown) => { user: string, role: string, exp: number }} verify throws UNAUTHORIZED
 * @property {import('fastify').FastifyInstance} app the Fastify app, for its websocket route
 */

/**
 * @typedef {object} Transport
 * @property {string} id
 * @property {(path: string) => boolean} [matches] paths of HTTP requests and upgrades it takes
 * @property {(req: any, res: any) => void} [request]
 * @property {(req: any, socket: any, head: Buffer) => void} [upgrade]
 * @property {(shutdown: { windowMs: number, graceMs: number }) => Promise<void>} stop
 * @property {() => void} start
 * @property {() => Promise<void>} close
 */

const REALTIME = [
  { id: 'ws', module: './ws.mjs', factory: 'wsTransport', page: 'ws.js' },
  { id: 'socket.io', module: './socketio.mjs', factory: 'socketioTransport', page: 'socketio.js' },
  { id: 'fastify-ws', module: './fastify-ws.mjs', factory: 'fastifyWsTransport', page: 'fastify-ws.js' },
];

/**
 * @param {RealtimeOptions} options
 * @param {(msg: string) => void} warn
 * @returns {Promise<{ transports: Transport[], pages: string[] }>}
 */
export async function loadRealtime(options, warn) {
  const transports = [];
  const pages = [];
  for (const t of REALTIME) {
    try {
      const mod = await import(t.module);
      transports.push(mod[t.factory](options));
      pages.push(t.page);
    } catch (error) {
      warn(`transport ${t.id} is unavailable: ${error.message}`);
    }
  }
  return { transports, pages };
}
