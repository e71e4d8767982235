/**
 * Fixtures of the Socket.IO integration tests: real Socket.IO servers on 127.0.0.1 port 0, real
 * `socket.io-client` sockets, every wait bounded, everything registered for cleanup first.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ErrorEvent, ErrorRoute, Failure, Logger, Observer, SuccessEvent } from '@faultline/core';
import { Server, type ServerOptions, type Socket as ServerSocket } from 'socket.io';
import { io, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';
import { type ClientOptions, createClient, type FaultlineClient, type StateChange } from '../src/client.js';
import { type AttachOptions, attach, type FaultlineSocketServer } from '../src/server.js';

export const HOST = '127.0.0.1';
export type Transport = 'websocket' | 'polling';
export const TRANSPORTS: Transport[][] = [['websocket'], ['polling']];

import { defer, sleep, waitFor, withTimeout } from '@faultline/test-utils';

export { defer, sleep, waitFor, withTimeout };

/** The settled outcome of a promise, for assertions on rejections. */
export async function settle<T>(
  promise: Promise<T>,
  ms = 5000,
): Promise<{ ok: true; value: T } | { ok: false; error: any }> {
  try {
    return { ok: true, value: await withTimeout(promise, ms, 'request') };
  } catch (error) {
    return { ok: false, error };
  }
}

/** A logger that records every call and prints nothing. */
export function recordingLogger(): Logger & { errors: { obj: Record<string, unknown>; msg?: string | undefined }[] } {
  const errors: { obj: Record<string, unknown>; msg?: string | undefined }[] = [];
  return {
    errors,
    error: (obj, msg) => errors.push({ obj: obj as Record<string, unknown>, msg }),
    warn: () => {},
  };
}

/** An error route that records failures. */
export function recordingRoute(): ErrorRoute & { failures: Failure[] } {
  const failures: Failure[] = [];
  const route = ((f: Failure) => {
    failures.push(f);
  }) as ErrorRoute & { failures: Failure[] };
  route.failures = failures;
  return route;
}

/** An observer that records notifications. */
export function recordingObserver(): Observer & { successes: SuccessEvent[]; errors: ErrorEvent[] } {
  const successes: SuccessEvent[] = [];
  const errors: ErrorEvent[] = [];
  return { successes, errors, success: (e) => successes.push(e), error: (e) => errors.push(e) };
}

export interface Started<Auth> {
  io: Server;
  http: http.Server;
  fl: FaultlineSocketServer<Auth, ServerSocket>;
  port: number;
  url: string;
  logger: ReturnType<typeof recordingLogger>;
  route: ReturnType<typeof recordingRoute>;
  observer: ReturnType<typeof recordingObserver>;
  /** Server sockets as they connect. */
  sockets: ServerSocket[];
}

/** Starts a Socket.IO server with Faultline attached, on 127.0.0.1 and a port the OS picks (or `port`). */
export async function startServer<Auth = undefined>(
  transports: Transport[],
  options: AttachOptions<Auth> = {},
  serverOptions: Partial<ServerOptions> = {},
  port = 0,
): Promise<Started<Auth>> {
  const httpServer = http.createServer();
  const ioServer = new Server(httpServer, { transports, serveClient: false, ...serverOptions });
  const logger = recordingLogger();
  const route = recordingRoute();
  const observer = recordingObserver();
  const sockets: ServerSocket[] = [];
  ioServer.on('connection', (s) => sockets.push(s));
  const fl = attach<any, any, any, any, Auth>(ioServer, { logger, errorRoute: route, observer, ...options });
  defer(() => closeServer(ioServer));
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(port, HOST, () => resolve());
  });
  const actual = (httpServer.address() as AddressInfo).port;
  return {
    io: ioServer,
    http: httpServer,
    fl,
    port: actual,
    url: `http://${HOST}:${actual}`,
    logger,
    route,
    observer,
    sockets,
  };
}

/** Closes a Socket.IO server and its HTTP server, bounded. */
export function closeServer(ioServer: Server): Promise<void> {
  return withTimeout(
    new Promise<void>((resolve) => {
      ioServer.close(() => resolve());
    }),
    3000,
    'io.close',
  ).catch(() => {});
}

/** A raw `socket.io-client` socket, closed after the test. */
export function connectSocket(
  url: string,
  transports: Transport[],
  opts: Partial<ManagerOptions & SocketOptions> = {},
): Socket {
  const socket = io(url, { transports, forceNew: true, reconnectionDelay: 50, reconnectionDelayMax: 200, ...opts });
  defer(() => {
    socket.disconnect();
  });
  return socket;
}

/** Resolves when the socket connects; rejects on connect_error. */
export function connected(socket: Socket, ms = 5000): Promise<void> {
  if (socket.connected) return Promise.resolve();
  return withTimeout(
    new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', (err) => reject(err));
    }),
    ms,
    'connect',
  );
}

export interface ClientFixture {
  socket: Socket;
  client: FaultlineClient<any, any>;
  states: StateChange[];
  observer: ReturnType<typeof recordingObserver>;
  route: ReturnType<typeof recordingRoute>;
}

/** A Faultline client over a fresh socket; fast reconnection backoff unless overridden. */
export function makeClient(
  url: string,
  transports: Transport[],
  options: ClientOptions = {},
  socketOptions: Partial<ManagerOptions & SocketOptions> = {},
): ClientFixture {
  const socket = connectSocket(url, transports, socketOptions);
  const observer = recordingObserver();
  const route = recordingRoute();
  const client = createClient(socket, {
    reconnect: { minMs: 10, baseMs: 20, maxMs: 200 },
    observer,
    errorRoute: route,
    ...options,
  });
  defer(() => client.close());
  const states: StateChange[] = [];
  client.onStateChange((c) => states.push(c));
  return { socket, client, states, observer, route };
}

/** Waits until the client's state is `state`. */
export function untilState(client: FaultlineClient<any, any>, state: string, ms = 5000): Promise<void> {
  return waitFor(() => client.state === state, ms, `client state ${state}`);
}
