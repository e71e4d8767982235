// Release-check consumer of @faultline/fastify. scripts/release-check.mjs copies it as index.mjs
// into an empty directory where `npm install @faultline/core @faultline/fastify @faultline/ws
// fastify @fastify/websocket ws` ran against the local registry, and runs it with
// `node index.mjs`: it must exit 0 within 30 s. It checks the HTTP API through the fetch client
// of `@faultline/fastify/client`, and the websocket route (when the package exports it) through
// `@faultline/ws/client`.
import assert from 'node:assert/strict';
import { FaultlineError } from '@faultline/core';
import * as adapter from '@faultline/fastify';
import { createHttpClient } from '@faultline/fastify/client';
import Fastify from 'fastify';

const watchdog = setTimeout(() => {
  console.error('consumer: no outcome after 20 s');
  process.exit(2);
}, 20_000);
watchdog.unref();

const rooms = new Set(['lobby']);
const join = (room) => {
  if (!rooms.has(room)) throw new FaultlineError('NOT_FOUND', { message: 'Room not found', details: { room } });
  return { joined: room };
};

/** The assertions every transport must pass for the NOT_FOUND of room r1. */
function assertNotFound(err, via) {
  assert.ok(FaultlineError.is(err), `${via}: the rejection is a FaultlineError (brand)`);
  assert.ok(err instanceof FaultlineError, `${via}: one copy of @faultline/core: instanceof holds`);
  assert.equal(err.name, 'NOT_FOUND');
  assert.equal(err.code, 4001);
  assert.equal(err.message, 'Room not found');
  assert.deepEqual(err.details, { room: 'r1' });
  assert.equal(err.recoverable, false);
  console.log(`${via}: join r1    ->`, `${err.name} ${err.code} "${err.message}"`, JSON.stringify(err.details));
}

const rejection = (promise) =>
  promise.then(
    (value) => assert.fail(`expected NOT_FOUND, got ${JSON.stringify(value)}`),
    (error) => error,
  );

const app = Fastify({ logger: false });
await app.register(adapter.faultline ?? adapter.default);
app.get('/rooms/:room', async (request) => join(request.params.room));

const websocket = typeof adapter.faultlineWebSocket === 'function';
if (websocket) {
  await app.register(adapter.faultlineWebSocket);
  app.faultlineWebSocket.route('/ws', { heartbeatMs: 0, handlers: { join: (data) => join(data?.room) } });
}

await app.listen({ host: '127.0.0.1', port: 0 });
const { port } = app.server.address();
const clients = [];

try {
  // HTTP: the plugin's envelope, read by the fetch client.
  const api = createHttpClient({ baseUrl: `http://127.0.0.1:${port}`, retry: false });
  assert.deepEqual(await api.get('/rooms/lobby'), { joined: 'lobby' });
  console.log('http: join lobby ->', JSON.stringify({ joined: 'lobby' }));
  const raw = await fetch(`http://127.0.0.1:${port}/rooms/r1`);
  assert.equal(raw.status, 404, 'NOT_FOUND is HTTP 404');
  await raw.arrayBuffer();
  assertNotFound(await rejection(api.get('/rooms/r1')), 'http');

  // Websocket route through @fastify/websocket, spoken to by the ws client.
  if (websocket) {
    const { createClient } = await import('@faultline/ws/client');
    const { default: WebSocket } = await import('ws');
    const client = createClient({ url: `ws://127.0.0.1:${port}/ws`, WebSocket, reconnect: false, heartbeat: false });
    clients.push(client);
    assert.deepEqual(await client.request('join', { room: 'lobby' }), { joined: 'lobby' });
    console.log('ws:   join lobby ->', JSON.stringify({ joined: 'lobby' }));
    assertNotFound(await rejection(client.request('join', { room: 'r1' })), 'ws  ');
  } else {
    console.log('ws:   skipped: @faultline/fastify does not export faultlineWebSocket');
  }
} finally {
  for (const client of clients) client.close();
  await app.close();
}
console.log(`ok: @faultline/fastify HTTP${websocket ? ' and websocket route' : ''}: request and typed error`);
