// Release-check consumer of @faultline/ws. scripts/release-check.mjs copies it as index.mjs into an
// empty directory where `npm install @faultline/core @faultline/ws ws` ran against the local
// registry, and runs it with `node index.mjs`: it must exit 0 within 30 s.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { FaultlineError } from '@faultline/core';
import { createClient } from '@faultline/ws/client';
import { createServer } from '@faultline/ws/server';
import WebSocket, { WebSocketServer } from 'ws';

const watchdog = setTimeout(() => {
  console.error('consumer: no outcome after 20 s');
  process.exit(2);
}, 20_000);
watchdog.unref();

const rooms = new Set(['lobby']);
const server = createServer({
  heartbeatMs: 0,
  handlers: {
    join: (data) => {
      const room = data?.room;
      if (!rooms.has(room)) throw new FaultlineError('NOT_FOUND', { message: 'Room not found', details: { room } });
      return { joined: room };
    },
  },
});
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
await once(wss, 'listening');
server.attach(wss);
const url = `ws://127.0.0.1:${wss.address().port}`;
const client = createClient({ url, WebSocket, reconnect: false, heartbeat: false });

try {
  const ok = await client.request('join', { room: 'lobby' });
  assert.deepEqual(ok, { joined: 'lobby' });
  console.log('request join lobby ->', JSON.stringify(ok));

  const err = await client.request('join', { room: 'r1' }).then(
    (value) => assert.fail(`expected NOT_FOUND, got ${JSON.stringify(value)}`),
    (error) => error,
  );
  assert.ok(FaultlineError.is(err), 'the rejection is a FaultlineError (brand)');
  assert.ok(err instanceof FaultlineError, 'one copy of @faultline/core: instanceof holds');
  assert.equal(err.name, 'NOT_FOUND');
  assert.equal(err.code, 4001);
  assert.equal(err.message, 'Room not found');
  assert.deepEqual(err.details, { room: 'r1' });
  assert.equal(err.recoverable, false);
  console.log('request join r1    ->', `${err.name} ${err.code} "${err.message}"`, JSON.stringify(err.details));
} finally {
  client.close();
  await server.close({ timeoutMs: 2000 });
  wss.close();
}
console.log('ok: @faultline/ws request and typed error over a real socket');
