// Handlers and error pieces shared by the ws suite (ws/server.mjs, `ws` servers), the fastify-ws
// suite (fastify-ws/server.mjs, @fastify/websocket routes) and the sio suite, so only the hosting
// layer differs.
import { FaultlineError } from '@faultline/core';

/** The Faultline handlers: `echo`, and `fail` throwing an expected, registered error. */
export const faultlineHandlers = {
  echo: (data) => data,
  // An expected, registered error: built without a stack, as FaultlineError always is.
  fail: (data) => {
    throw new FaultlineError('NOT_FOUND', { message: 'Room not found', details: { room: data.room } });
  },
};

// ---------------------------------------------------------------- raw
// Wire: {id, data, error?}. `echo` answers {id, data}. Error path, three ways:
//   `fail`:  a handler throws an Error subclass built without a stack (what FaultlineError does),
//            the adapter catches it and sends its fields: the fair baseline;
//   `floor`: a literal error body, no Error object at all: the physical floor;
//   `throw`: as `fail`, but the Error captures its stack, as plain JS code does by default.
/** The baselines' application error: an Error subclass with the fields the wire carries. */
export class RoomNotFoundError extends Error {
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
/** Runs `make` with stack capture off: an Error built as cheaply as FaultlineError builds one. */
export function withoutStack(make) {
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
/** The hand-written raw server side of one `ws` WebSocket. */
export function rawConnection(ws) {
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
}
