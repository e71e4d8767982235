/**
 * `@faultline/ws/server`: binds the core server engine to `ws` sockets. Thin on purpose: all
 * protocol logic lives in `@faultline/core`; this file adds what only a WebSocket has
 * (upgrade authentication, ping/pong heartbeat, close codes, frame size). Any `ws` socket works,
 * so `@faultline/fastify` reuses {@link FaultlineWsServer.handle} for `@fastify/websocket` routes.
 */
import type { IncomingMessage } from 'node:http';
import {
  bodyOf,
  type Connection,
  createProtocolServer,
  type EngineConnection,
  encodeErrorFrame,
  FaultlineError,
  type ProtocolServer,
  type ProtocolServerOptions,
  type ShutdownOptions,
  toErrorBody,
} from '@faultline/core';
import type { RawData, WebSocket, WebSocketServer } from 'ws';
import { peekRequestId } from './peek.js';

export type { Connection, RequestContext, RequestHandler, EventHandler } from '@faultline/core';

/** Options of {@link createServer}. */
export interface WsServerOptions<Auth = unknown> extends ProtocolServerOptions<Auth> {
  /**
   * Sees the upgrade request and returns what handlers get as `ctx.auth`. Throw a FaultlineError
   * (UNAUTHORIZED, FORBIDDEN) to refuse: the client gets the error frame, then close 4003/4004,
   * which browsers can read (an HTTP 401 on the upgrade reaches them as a bare 1006).
   */
  authenticate?: (request: IncomingMessage) => Auth | Promise<Auth>;
  /**
   * When the credentials of a connection expire, in epoch ms. At that moment the connection is
   * closed with UNAUTHORIZED (4003) so the client refreshes its token.
   */
  expiresAt?: (auth: Auth) => number | undefined;
  /** Ping interval; a peer that misses one pong is terminated. 0 disables. @default 30000 */
  heartbeatMs?: number;
  /**
   * Largest frame answered with PAYLOAD_TOO_LARGE while keeping the connection, in bytes. Set the
   * `ws` server's `maxPayload` above it: frames beyond `maxPayload` are closed by `ws` with 1009.
   * @default 65536
   */
  maxFrameBytes?: number;
  /** Messages buffered per connection while `authenticate` runs. @default 32 */
  maxPendingMessages?: number;
}

/** A Faultline server over `ws`. */
export interface FaultlineWsServer<Auth = unknown> {
  /** The transport-agnostic engine, for broadcasts and dispatch. */
  readonly engine: ProtocolServer<Auth>;
  /** Serves one `ws` socket: use it from a `connection` listener or a `@fastify/websocket` route. */
  handle(socket: WebSocket, request: IncomingMessage): void;
  /** Listens to a `WebSocketServer`'s connections. Returns a function that stops listening. */
  attach(wss: WebSocketServer): () => void;
  /** Open connections. */
  readonly connections: ReadonlySet<Connection<Auth>>;
  /** Sends an event to every open connection (or those `filter` keeps). */
  broadcast(event: string, data?: Parameters<ProtocolServer<Auth>['broadcast']>[1], filter?: (c: Connection<Auth>) => boolean): number;
  /**
   * Graceful shutdown: refuses new connections, lets running handlers finish, sends every client
   * SHUTTING_DOWN with a jittered `retry_after_ms`, closes with 1012, and waits for the sockets.
   */
  close(options?: ShutdownOptions & { timeoutMs?: number }): Promise<void>;
}

function byteLength(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.length, 0);
  return data.byteLength;
}

function text(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  return Buffer.from(data).toString('utf8');
}

/**
 * Creates a Faultline server for `ws` sockets.
 *
 * @example
 * const wss = new WebSocketServer({ port: 0, maxPayload: 1 << 20 });
 * const server = createServer({ handlers: { join: (data, ctx) => ({ joined: true }) } });
 * server.attach(wss);
 */
export function createServer<Auth = unknown>(options: WsServerOptions<Auth> = {}): FaultlineWsServer<Auth> {
  const engine = createProtocolServer<Auth>(options);
  const heartbeatMs = options.heartbeatMs ?? 30_000;
  const maxFrameBytes = options.maxFrameBytes ?? options.limits?.maxBytes ?? 65_536;
  const maxPending = options.maxPendingMessages ?? 32;
  if (!(heartbeatMs >= 0)) throw new RangeError('Faultline ws: heartbeatMs must be >= 0');
  if (!(maxFrameBytes > 0)) throw new RangeError('Faultline ws: maxFrameBytes must be > 0');
  /** Every socket served, with its engine connection once `authenticate` has let it in. */
  const sockets = new Map<WebSocket, { alive: boolean; conn: EngineConnection<Auth> | undefined }>();
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  let closing = false;

  const startHeartbeat = (): void => {
    if (heartbeat !== undefined || heartbeatMs === 0) return;
    heartbeat = setInterval(() => {
      for (const [socket, state] of sockets) {
        if (!state.alive) {
          // The peer missed a whole interval: it is gone, and a close handshake would hang.
          socket.terminate();
          continue;
        }
        state.alive = false;
        try {
          socket.ping();
        } catch {
          socket.terminate();
        }
      }
    }, heartbeatMs);
    heartbeat.unref();
  };

  const refuse = (socket: WebSocket, error: unknown): void => {
    const err = FaultlineError.from(error, { registry: engine.registry });
    // The engine owns the error frame and close mapping; a throwaway connection gives us both.
    const conn = engine.connect(portOf(socket), undefined as Auth);
    conn.fail(err);
    if (err.code === 5000) engine.notifier.unhandled('Connect#Authenticate', err.cause ?? err);
  };

  const handle = (socket: WebSocket, request: IncomingMessage): void => {
    socket.on('error', (error) => engine.notifier.unhandled('Socket#error', error));
    if (closing || engine.draining) {
      refuse(socket, FaultlineError.fromBody(engine.shuttingDown()));
      return;
    }
    const state: { alive: boolean; conn: EngineConnection<Auth> | undefined } = { alive: true, conn: undefined };
    sockets.set(socket, state);
    socket.on('pong', () => {
      state.alive = true;
    });
    startHeartbeat();

    let conn: EngineConnection<Auth> | undefined;
    let buffered: RawData[] | undefined = [];
    let expiry: ReturnType<typeof setTimeout> | undefined;
    const onMessage = (data: RawData, isBinary: boolean): void => {
      state.alive = true;
      if (conn === undefined) {
        if (buffered === undefined) return;
        if (buffered.length < maxPending) {
          buffered.push(data);
          return;
        }
        // Over the buffer while `authenticate` runs: not kept, but a readable request is still
        // answered (once), so its sender need not wait for a timeout.
        const id = isBinary ? undefined : peekRequestId(text(data));
        if (id !== undefined) {
          const body = bodyOf('RATE_LIMITED', {
            message: 'Too many frames before authentication completed',
            retry_after_ms: 100,
            executed: 'no',
          });
          portOf(socket).send(encodeErrorFrame(body, id));
        }
        return;
      }
      if (isBinary) {
        conn.reject(
          bodyOf('BAD_REQUEST', { message: 'Binary frames are not supported', executed: 'no', details: { reason: 'binary' } }),
          peekRequestId(text(data)),
        );
        return;
      }
      const size = byteLength(data);
      if (size > maxFrameBytes) {
        // Not parsed (that is the point of the cap), but the waiting request is still answered.
        conn.reject(
          bodyOf('PAYLOAD_TOO_LARGE', {
            message: `Frame is larger than ${maxFrameBytes} bytes`,
            executed: 'no',
            details: { reason: 'too_large', max_bytes: maxFrameBytes },
          }),
          peekRequestId(text(data)),
        );
        return;
      }
      conn.receive(text(data));
    };
    socket.on('message', onMessage);
    socket.on('close', () => {
      sockets.delete(socket);
      if (expiry !== undefined) clearTimeout(expiry);
      buffered = undefined;
      conn?.closed();
    });

    const start = (auth: Auth): void => {
      if (socket.readyState !== socket.OPEN) return;
      if (closing || engine.draining) {
        // Authenticated while the server was shutting down: told like every other client.
        refuse(socket, FaultlineError.fromBody(engine.shuttingDown()));
        return;
      }
      conn = engine.connect(portOf(socket), auth);
      state.conn = conn;
      const at = options.expiresAt?.(auth);
      if (at !== undefined) {
        expiry = setTimeout(
          () => conn?.fail(new FaultlineError('UNAUTHORIZED', { message: 'Token expired', registry: engine.registry })),
          Math.max(0, Math.min(at - Date.now(), 2_147_483_647)),
        );
        expiry.unref();
      }
      const queued = buffered ?? [];
      buffered = undefined;
      for (const data of queued) onMessage(data, false);
    };

    /** `start`, where a throw (`expiresAt` is user code) refuses the connection instead. */
    const admit = (auth: Auth): void => {
      try {
        start(auth);
      } catch (error) {
        if (conn === undefined) refuse(socket, error);
        else {
          engine.notifier.unhandled('Connect#Start', error);
          conn.fail(error);
        }
      }
    };
    if (!options.authenticate) {
      admit(undefined as Auth);
      return;
    }
    let result: Auth | Promise<Auth>;
    try {
      result = options.authenticate(request);
    } catch (error) {
      sockets.delete(socket);
      refuse(socket, error);
      return;
    }
    Promise.resolve(result).then(admit, (error: unknown) => {
      sockets.delete(socket);
      refuse(socket, error);
    });
  };

  return {
    engine,
    handle,
    connections: engine.connections,
    broadcast: (event, data, filter) => engine.broadcast(event, data, filter),
    attach(wss) {
      const listener = (socket: WebSocket, request: IncomingMessage): void => handle(socket, request);
      wss.on('connection', listener);
      return () => {
        wss.off('connection', listener);
      };
    },
    async close(opts = {}) {
      closing = true;
      const shutdown = engine.shutdown(opts);
      // Sockets still in `authenticate` have no engine connection: tell them the same thing.
      for (const [socket, state] of sockets) {
        if (state.conn !== undefined) continue;
        refuse(socket, FaultlineError.fromBody(engine.shuttingDown(opts.windowMs)));
      }
      await shutdown;
      const deadline = Date.now() + (opts.timeoutMs ?? 3000);
      while (sockets.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      for (const socket of sockets.keys()) socket.terminate();
      sockets.clear();
      if (heartbeat !== undefined) clearInterval(heartbeat);
      heartbeat = undefined;
    },
  };
}

/** The engine's port over a `ws` socket: sends only while open, never throws. */
function portOf(socket: WebSocket) {
  return {
    send(data: string): void {
      if (socket.readyState === socket.OPEN) socket.send(data);
    },
    close(code: number, reason: string): void {
      if (socket.readyState === socket.OPEN || socket.readyState === socket.CONNECTING) socket.close(code, reason);
    },
  };
}

/** Dehydrates anything thrown into a wire body (re-exported for custom upgrade handlers). */
export { toErrorBody };
