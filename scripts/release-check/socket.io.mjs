// Release-check consumer of @faultline/socket.io. scripts/release-check.mjs copies it as index.mjs
// into an empty directory where `npm install @faultline/core @faultline/socket.io socket.io
// socket.io-client` ran against the local registry, and runs it with `node index.mjs`: it must
// exit 0 within 30 s.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { FaultlineError } from '@faultline/core';
import { createClient } from '@faultline/socket.io/client';
import { attach } from '@faultline/socket.io/server';
import { Server } from 'socket.io';
import { io as connect } from 'socket.io-client';

const watchdog = setTimeout(() => {
  console.error('consumer: no outcome after 20 s');
  process.exit(2);
}, 20_000);
watchdog.unref();

const rooms = new Set(['lobby']);
const httpServer = createHttpServer();
const io = new Server(httpServer);
const server = attach(io, {
  handlers: {
    join: (data) => {
      const room = data?.room;
      if (!rooms.has(room)) throw new FaultlineError('NOT_FOUND', { message: 'Room not found', details: { room } });
      return { joined: room };
    },
  },
});
httpServer.listen(0, '127.0.0.1');
await once(httpServer, 'listening');
const url = `http://127.0.0.1:${httpServer.address().port}`;
const client = createClient(connect(url), { reconnect: false });

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
  await server.close({ graceMs: 500, windowMs: 100 });
  await new Promise((done) => io.close(() => done()));
}
console.log('ok: @faultline/socket.io request and typed error over a real socket');
