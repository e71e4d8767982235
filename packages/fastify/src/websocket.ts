/**
 * `@fastify/websocket` routes that speak the Faultline protocol. No protocol code here: each
 * route is an `@faultline/ws` server whose `handle` is given the socket `@fastify/websocket` hands
 * out. This plugin registers `@fastify/websocket` itself, so that it owns the two moments the
 * default gets wrong: a socket error (the default is a bare `terminate()`) and `fastify.close()`
 * (the default closes every client with no code; here they get SHUTTING_DOWN first).
 */
import type { IncomingMessage } from 'node:http';
import {
  closeCodeFor,
  closeReason,
  codes,
  encodeErrorFrame,
  FaultlineError,
  type RegistryLike,
  type ShutdownOptions,
  toErrorBody,
} from '@faultline/core';
import { createServer, type FaultlineWsServer, type WsServerOptions } from '@faultline/ws/server';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { ServerOptions, WebSocket } from 'ws';
import { unknownOption } from './options.js';

/** Options of one Faultline websocket route: those of `@faultline/ws/server`, with `authenticate` seeing the Fastify request. */
export interface WebSocketRouteOptions<Auth = unknown> extends Omit<WsServerOptions<Auth>, 'authenticate'> {
  /** Sees the Fastify request of the upgrade; throw UNAUTHORIZED / FORBIDDEN to refuse. */
  authenticate?: (request: FastifyRequest) => Auth | Promise<Auth>;
}

/** Options of the {@link faultlineWebSocket} plugin. */
export interface FaultlineWebSocketOptions {
  /** Options of the `ws` server `@fastify/websocket` creates (for example `maxPayload`). */
  ws?: Omit<ServerOptions, 'noServer' | 'server' | 'port' | 'host'>;
  /** How `fastify.close()` drains websocket clients. @default { windowMs: 5000, graceMs: 2000 } */
  shutdown?: ShutdownOptions;
}

/** The `fastify.faultlineWebSocket` decorator. */
export interface FaultlineWebSocketDecorator {
  /** Adds a GET route at `path` that speaks the Faultline protocol. Returns its server (for broadcasts). */
  route<Auth = unknown>(path: string, options: WebSocketRouteOptions<Auth>): FaultlineWsServer<Auth>;
  /** Every route's server. */
  readonly servers: ReadonlySet<FaultlineWsServer<unknown>>;
}

declare module 'fastify' {
  interface FastifyInstance {
    faultlineWebSocket: FaultlineWebSocketDecorator;
  }
}

/** The Fastify requests of upgrades, for `authenticate`. */
const upgrades = new WeakMap<IncomingMessage, FastifyRequest>();

/**
 * Ends a socket whose route handler threw (a websocket route of the application's own, or ours
 * failing unexpectedly): the error frame, then the mapped close (PROTOCOL.md §6), both built by
 * core, instead of `@fastify/websocket`'s bare `terminate()`. Unknown throws are logged once,
 * with the stack, and go out as INTERNAL (1011).
 */
function failSocket(socket: WebSocket, error: unknown, request: FastifyRequest, registry: RegistryLike): void {
  const err = FaultlineError.from(error, { registry });
  const foreign = FaultlineError.is(error) ? error.cause : error;
  if (err.code === 5000 && foreign !== undefined && !FaultlineError.is(foreign)) {
    request.log.error({ err: foreign, request_id: String(request.id) }, 'faultline: websocket route failed');
  }
  if (socket.readyState !== socket.OPEN) return;
  const body = toErrorBody(err);
  socket.send(encodeErrorFrame(body));
  socket.close(closeCodeFor(body, registry), closeReason(body));
}

/**
 * Answers an error raised before the upgrade (an `onRequest` or `preValidation` hook) the way a
 * browser can read: accept the upgrade, send the error frame, close with the mapped code. An HTTP
 * 401 on the upgrade reaches a browser as a bare 1006. Returns false when `request` is no upgrade.
 */
export function answerUpgradeError(
  fastify: FastifyInstance,
  request: FastifyRequest,
  reply: FastifyReply,
  error: unknown,
): boolean {
  const wss = (fastify as { websocketServer?: { handleUpgrade: unknown } }).websocketServer;
  if (!(request as { ws?: boolean }).ws || wss === undefined || request.raw.socket === null) return false;
  reply.hijack();
  (
    wss as { handleUpgrade(req: IncomingMessage, socket: unknown, head: Buffer, cb: (ws: WebSocket) => void): void }
  ).handleUpgrade(request.raw, request.raw.socket, Buffer.alloc(0), (socket) => {
    // `authenticate` refuses with exactly the frame and close a Faultline route would send.
    createServer({
      heartbeatMs: 0,
      logger: request.log,
      authenticate: () => {
        throw error;
      },
    }).handle(socket, request.raw);
  });
  return true;
}

const OPTION_KEYS: ReadonlySet<string> = new Set(['ws', 'shutdown']);

/** Checks the plugin's options at registration; throws a TypeError naming the option at fault. */
function checkWebSocketOptions(options: unknown): void {
  const bad = (message: string): never => {
    throw new TypeError(`@faultline/fastify websocket: ${message}`);
  };
  if (options === undefined || options === null) return;
  if (typeof options !== 'object') bad('options must be an object');
  const o = options as Record<string, unknown>;
  const unknown = unknownOption(o, OPTION_KEYS);
  if (unknown !== undefined) bad(unknown);
  if (o.ws !== undefined && (typeof o.ws !== 'object' || o.ws === null)) {
    bad('the ws option must be an object of ws ServerOptions');
  }
  const shutdown = o.shutdown as Record<string, unknown> | undefined;
  if (shutdown !== undefined) {
    if (typeof shutdown !== 'object' || shutdown === null) bad('shutdown must be { windowMs, graceMs }');
    for (const key of ['windowMs', 'graceMs']) {
      const v = shutdown[key];
      if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v >= 0)) {
        bad(`shutdown.${key} must be a non-negative number of milliseconds`);
      }
    }
  }
}

/**
 * The plugin: registers `@fastify/websocket` and decorates `fastify.faultlineWebSocket.route()`.
 *
 * @example
 * await app.register(faultlineWebSocket, { ws: { maxPayload: 1 << 20 } });
 * app.faultlineWebSocket.route('/ws', { handlers: { join: (data) => ({ ok: true }) } });
 */
export const faultlineWebSocket = fp<FaultlineWebSocketOptions>(
  async (fastify, options) => {
    checkWebSocketOptions(options);
    let websocket: { default: typeof import('@fastify/websocket').default };
    try {
      websocket = (await import('@fastify/websocket')) as unknown as typeof websocket;
    } catch {
      throw new Error('@faultline/fastify: websocket routes need @fastify/websocket: npm install @fastify/websocket');
    }
    const servers = new Set<FaultlineWsServer<unknown>>();
    const drain = async (): Promise<void> => {
      await Promise.all([...servers].map((s) => s.close(options.shutdown ?? {})));
    };
    const wsPluginOptions = {
      ...(options.ws ? { options: options.ws } : {}),
      errorHandler(error: Error, socket: WebSocket, request: FastifyRequest) {
        // The HTTP plugin's registry when it is registered, so application codes map too.
        const registry = (fastify as { faultline?: { registry: RegistryLike } }).faultline?.registry ?? codes;
        failSocket(socket, error, request, registry);
      },
      preClose(this: FastifyInstance, done: (err?: Error) => void) {
        drain().then(
          () => {
            const wss = (
              this as unknown as { websocketServer: { clients: Set<WebSocket>; close(cb: () => void): void } }
            ).websocketServer;
            for (const client of wss.clients) client.terminate();
            wss.close(() => done());
          },
          (err: unknown) => done(err as Error),
        );
      },
    };
    // The ws types of @fastify/websocket and ours are the same package seen through two module modes.
    await fastify.register(websocket.default, wsPluginOptions as never);
    fastify.decorate('faultlineWebSocket', {
      servers,
      route<Auth>(path: string, routeOptions: WebSocketRouteOptions<Auth>) {
        const { authenticate, ...rest } = routeOptions;
        const server = createServer<Auth>({
          logger: fastify.log,
          ...rest,
          ...(authenticate
            ? {
                authenticate: (raw: IncomingMessage) => {
                  const request = upgrades.get(raw);
                  if (request === undefined) throw new FaultlineError('INTERNAL', { message: 'Upgrade request lost' });
                  return authenticate(request);
                },
              }
            : {}),
        });
        servers.add(server as FaultlineWsServer<unknown>);
        fastify.get(path, { websocket: true }, (socket, request) => {
          upgrades.set(request.raw, request);
          server.handle(socket, request.raw);
        });
        return server;
      },
    } satisfies FaultlineWebSocketDecorator);
  },
  { name: '@faultline/fastify/websocket', fastify: '5.x' },
);
