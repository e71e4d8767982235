// Bench server child: a Faultline-attached Socket.IO server and a native Socket.IO server in one
// process (pinned to one CPU by the parent), each on its own 127.0.0.1 port. Reports
// {ready, faultline, native} over IPC.
import http from 'node:http';
import { silentLogger } from '@faultline/core';
import { attach } from '@faultline/socket.io/server';
import { Server } from 'socket.io';
import { faultlineHandlers, RoomNotFoundError } from '../ws/handlers.mjs';

const HOST = '127.0.0.1';
process.once('disconnect', () => process.exit(0));
process.once('SIGTERM', () => process.exit(0));
setTimeout(() => process.exit(3), 300_000).unref();

const options = { transports: ['websocket'], perMessageDeflate: false, serveClient: false };
const listen = (server) =>
  new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => resolve(server.address().port));
  });

// ---------------------------------------------------------------- Faultline
// No rate limit: the bench measures the request path, not that feature.
const fhttp = http.createServer();
const fio = new Server(fhttp, options);
attach(fio, {
  rateLimit: false,
  logger: silentLogger,
  handlers: faultlineHandlers,
});

// ---------------------------------------------------------------- native Socket.IO
// Plain acks have no error argument: the error travels as a value, {error}. `fail` runs a handler
// that throws an Error subclass (with its stack, as plain JS code does) and acks its fields.
const nhttp = http.createServer();
const nio = new Server(nhttp, options);
nio.on('connection', (socket) => {
  socket.on('echo', (data, ack) => ack(data));
  socket.on('fail', (data, ack) => {
    try {
      throw new RoomNotFoundError({ room: data.room });
    } catch (e) {
      ack({ error: { code: e.code, name: e.name, message: e.message, recoverable: false, details: e.details } });
    }
  });
});

const [fport, nport] = await Promise.all([listen(fhttp), listen(nhttp)]);
process.send({ ready: true, faultline: `http://${HOST}:${fport}`, native: `http://${HOST}:${nport}` });
process.on('message', (m) => {
  if (m?.cpu) process.send({ cpu: m.cpu, usage: process.cpuUsage() });
});
