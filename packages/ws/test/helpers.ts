/**
 * Shared fixtures of the ws integration tests: real `ws` servers on 127.0.0.1 port 0, real
 * clients, every wait bounded, everything registered for cleanup in `afterEach`.
 */
import type { AddressInfo } from 'node:net';
import type { BuiltinName, ErrorRoute, Failure, Logger } from '@faultline/core';
import { type ServerOptions, WebSocket, WebSocketServer } from 'ws';
import {
  type ClientOptions,
  createClient,
  type FaultlineClient,
  type StateChange,
  type WebSocketConstructor,
} from '../src/client.js';
import { createServer, type FaultlineWsServer, type WsServerOptions } from '../src/server.js';

export const HOST = '127.0.0.1';

import { defer, sleep, waitFor, withTimeout } from '@faultline/test-utils';

export { defer, sleep, waitFor, withTimeout };

/** A logger that records every call, for assertions, and prints nothing. */
export function recordingLogger(): Logger & {
  errors: { obj: Record<string, unknown>; msg?: string | undefined }[];
  warns: unknown[];
} {
  const errors: { obj: Record<string, unknown>; msg?: string | undefined }[] = [];
  const warns: unknown[] = [];
  return {
    errors,
    warns,
    error: (obj, msg) => errors.push({ obj: obj as Record<string, unknown>, msg }),
    warn: (obj) => warns.push(obj),
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

export interface Started<Auth> {
  wss: WebSocketServer;
  server: FaultlineWsServer<Auth>;
  port: number;
  url: string;
  logger: ReturnType<typeof recordingLogger>;
  route: ReturnType<typeof recordingRoute>;
}

/** Listens on 127.0.0.1 (port 0 unless given) and attaches a Faultline server. */
export async function startServer<Auth = unknown>(
  options: WsServerOptions<Auth> = {},
  wssOptions: Omit<ServerOptions, 'host' | 'port'> & { port?: number } = {},
): Promise<Started<Auth>> {
  const logger = recordingLogger();
  const route = recordingRoute();
  const wss = new WebSocketServer({ host: HOST, port: 0, ...wssOptions });
  defer(
    () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  );
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      wss.once('listening', resolve);
      wss.once('error', reject);
    }),
    5000,
    'listen',
  );
  const server = createServer<Auth>({ logger, errorRoute: route, ...options });
  defer(() => server.close({ windowMs: 10, graceMs: 10, timeoutMs: 200 }));
  server.attach(wss);
  const port = (wss.address() as AddressInfo).port;
  return { wss, server, port, url: `ws://${HOST}:${port}`, logger, route };
}

/** A plain `ws` WebSocketServer (no Faultline), for servers that misbehave on purpose. */
export async function startRawServer(port = 0): Promise<{ wss: WebSocketServer; port: number; url: string }> {
  const wss = new WebSocketServer({ host: HOST, port });
  defer(
    () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  );
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      wss.once('listening', resolve);
      wss.once('error', reject);
    }),
    5000,
    'listen',
  );
  const p = (wss.address() as AddressInfo).port;
  return { wss, port: p, url: `ws://${HOST}:${p}` };
}

export interface Frame {
  type: string;
  event?: string;
  data?: any;
  meta?: { request_id?: string; timestamp?: string; idempotency_key?: string };
}

/** A raw `ws` client that records every frame as text and parsed, plus its close. */
export interface RawClient {
  ws: WebSocket;
  texts: string[];
  frames: Frame[];
  closed: Promise<{ code: number; reason: string }>;
  send(value: unknown): void;
  /** Waits for the first frame (from the start) matching `pred` not yet returned. */
  next(pred?: (f: Frame) => boolean, ms?: number): Promise<Frame>;
}

export async function rawClient(
  url: string,
  options: ConstructorParameters<typeof WebSocket>[2] = {},
): Promise<RawClient> {
  const ws = new WebSocket(url, options);
  ws.on('error', () => {});
  const texts: string[] = [];
  const frames: Frame[] = [];
  const taken = new Set<number>();
  ws.on('message', (data, isBinary) => {
    const text = isBinary ? `<binary ${String(data)}>` : String(data);
    texts.push(text);
    try {
      frames.push(JSON.parse(text));
    } catch {
      frames.push({ type: '<unparsable>', data: text });
    }
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => resolve({ code, reason: String(reason) }));
  });
  defer(() => ws.terminate());
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('close', (code) => reject(new Error(`closed before open: ${code}`)));
    }),
    5000,
    'raw client open',
  );
  return {
    ws,
    texts,
    frames,
    closed,
    send(value) {
      ws.send(typeof value === 'string' || Buffer.isBuffer(value) ? value : JSON.stringify(value));
    },
    async next(pred = () => true, ms = 3000) {
      let found: Frame | undefined;
      await waitFor(
        () => {
          const i = frames.findIndex((f, idx) => !taken.has(idx) && pred(f));
          if (i < 0) return false;
          taken.add(i);
          found = frames[i];
          return true;
        },
        ms,
        'frame',
      );
      return found as Frame;
    },
  };
}

/** A request frame as a client would send it. */
export function req(event: string, data: unknown, id: string, extra: Record<string, unknown> = {}): Frame {
  return { type: 'request', event, data, meta: { request_id: id, ...extra } };
}

export interface TestClient<N extends string = BuiltinName> {
  client: FaultlineClient<N>;
  states: StateChange[];
  successes: { location: string; durationMs?: number | undefined }[];
  errors: { location: string; name: string; code: number }[];
  /** Resolves at the first state change to `state` (past ones included). */
  reached(state: StateChange['current'], ms?: number): Promise<StateChange>;
}

/** A Faultline client over `ws`, recording its states and notifications; closed after the test. */
export function faultlineClient<N extends string = BuiltinName>(
  options: Omit<ClientOptions<N>, 'WebSocket'> & { WebSocket?: WebSocketConstructor },
): TestClient<N> {
  const states: StateChange[] = [];
  const successes: TestClient['successes'] = [];
  const errors: TestClient['errors'] = [];
  const client = createClient<N>({
    WebSocket,
    logger: recordingLogger(),
    lazy: true,
    ...options,
    observer: {
      success: (e) => successes.push(e),
      error: (e) => errors.push({ location: e.location, name: e.error.name, code: e.error.code }),
    },
  });
  client.onStateChange((c) => states.push(c));
  defer(() => client.close());
  if (!options.lazy) client.connect();
  return {
    client,
    states,
    successes,
    errors,
    async reached(state, ms = 5000) {
      let found: StateChange | undefined;
      await waitFor(
        () => {
          found = states.find((s) => s.current === state);
          return found !== undefined;
        },
        ms,
        `client state ${state}`,
      );
      return found as StateChange;
    },
  };
}

/** Waits until a promise settles and returns its outcome, bounded. */
export async function settle<T>(p: Promise<T>, ms = 5000): Promise<{ ok: true; value: T } | { ok: false; error: any }> {
  return withTimeout(
    p.then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    ),
    ms,
    'request',
  );
}
