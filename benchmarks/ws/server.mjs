// Bench server child: a Faultline server and a hand-written raw `ws` server in one process (pinned
// to one CPU by the parent), each on its own 127.0.0.1 port. Reports {ready, faultline, raw} over IPC.
import { FaultlineError, silentLogger } from '@faultline/core';
import { createServer } from '@faultline/ws/server';
import { WebSocketServer } from 'ws';

const HOST = '127.0.0.1';
process.once('disconnect', () => process.exit(0));
process.once('SIGTERM', () => process.exit(0));
setTimeout(() => process.exit(3), 300_000).unref();

const listen = (wss) =>
  new Promise((resolve, reject) => {
    wss.once('listening', () => resolve(wss.address().port));
    wss.once('error', reject);
  });

// ---------------------------------------------------------------- Faultline
// Heartbeat off and no rate limit: the bench measures the request path, not those features.
const faultline = createServer({
  heartbeatMs: 0,
  rateLimit: false,
  logger: silentLogger,
  handlers: {
    echo: (data) => data,
    // An expected, registered error: built without a stack, as FaultlineError always is.
    fail: (data) => {
      throw new FaultlineError('NOT_FOUND', { message: 'Room not found', details: { room: data.room } });
    },
  },
});
const fwss = new WebSocketServer({ host: HOST, port: 0, perMessageDeflate: false });
faultline.attach(fwss);

// ---------------------------------------------------------------- raw ws
// Wire: {id, data, error?}. `echo` answers {id, data}. Error path, three ways:
//   `fail`:  a handler throws an Error subclass built without a stack (what FaultlineError does),
//            the adapter catches it and sends its fields: the fair baseline;
//   `floor`: a literal error body, no Error object at all: the physical floor;
//   `throw`: as `fail`, but the Error captures its stack, as plain JS code does by default.
class RoomNotFoundError extends Error {
  constructor(details) {
    super('Room not found');
    this.name = 'NOT_FOUND';
    this.code = 4001;
    this.details = details;
  }
}
const literalError = (room) => ({
  code: 4001,
  name: 'NOT_FOUND',
  message: 'Room not found',
  recoverable: false,
  details: { room },
});
function withoutStack(make) {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  const e = make();
  Error.stackTraceLimit = limit;
  return e;
}
const bodyOf = (e) => ({ code: e.code, name: e.name, message: e.message, recoverable: false, details: e.details });
// Handlers by op, called by the adapter inside its try/catch (the anchors' shape, as
// hand-written code with a handler map does it).
const rawHandlers = new Map([
  ['echo', (data) => data],
  [
    'fail',
    (data) => {
      throw withoutStack(() => new RoomNotFoundError({ room: data.room }));
    },
  ],
  [
    'throw',
    (data) => {
      throw new RoomNotFoundError({ room: data.room });
    },
  ],
]);
const rwss = new WebSocketServer({ host: HOST, port: 0, perMessageDeflate: false });
rwss.on('connection', (ws) => {
  ws.on('message', (buf) => {
    const m = JSON.parse(buf);
    let reply;
    if (m.op === 'floor') reply = { id: m.id, error: literalError(m.data.room) };
    else {
      try {
        reply = { id: m.id, data: rawHandlers.get(m.op)(m.data) };
      } catch (e) {
        reply = { id: m.id, error: bodyOf(e) };
      }
    }
    ws.send(JSON.stringify(reply));
  });
});

const [fport, rport] = await Promise.all([listen(fwss), listen(rwss)]);
process.send({ ready: true, faultline: `ws://${HOST}:${fport}`, raw: `ws://${HOST}:${rport}` });
process.on('message', (m) => {
  if (m?.probe) process.send({ probe: m.probe, cpu: process.cpuUsage() });
});
