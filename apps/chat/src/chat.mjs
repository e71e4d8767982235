// The chat itself, written once and served by every transport. Handlers have the Faultline
// signature `(data, ctx)`: they return a value or throw a FaultlineError; anything else they
// throw reaches the client as INTERNAL with a generic message.
import { FaultlineError } from '@faultline/core';

const ROOM_NAME = /^[a-z0-9][a-z0-9-]{0,31}$/;
const MAX_TEXT = 500;
const HISTORY = 50;

const badRequest = (field, message) =>
  new FaultlineError('BAD_REQUEST', { message, details: { field }, executed: 'no' });

function roomName(data) {
  const room = data?.room;
  if (typeof room !== 'string' || !ROOM_NAME.test(room)) {
    throw badRequest('room', 'room must be 1-32 lowercase letters, digits or dashes');
  }
  return room;
}

/**
 * Creates the rooms and their handlers. A member is anything with `emit(event, data)` and `open`
 * (a Faultline connection of any transport), so a message sent over HTTP reaches ws and
 * Socket.IO clients in the same room.
 */
export function createChat() {
  /** @type {Map<string, { name: string, members: Set<any>, history: any[] }>} */
  const rooms = new Map();
  for (const name of ['lobby', 'random']) rooms.set(name, { name, members: new Set(), history: [] });
  let seq = 0;

  const find = (name) => {
    const room = rooms.get(name);
    if (!room) throw new FaultlineError('NOT_FOUND', { message: 'Room not found', details: { room: name } });
    return room;
  };

  const handlers = {
    rooms: () => ({ rooms: [...rooms.keys()] }),

    whoami: (_data, ctx) => ({ user: ctx.auth.user, role: ctx.auth.role, expires_at: ctx.auth.exp }),

    join(data, ctx) {
      const room = find(roomName(data));
      for (const member of room.members) if (member.open === false) room.members.delete(member);
      if (ctx.connection) room.members.add(ctx.connection);
      return { room: room.name, members: room.members.size, history: room.history.slice(-10) };
    },

    leave(data, ctx) {
      const room = find(roomName(data));
      room.members.delete(ctx.connection);
      return { room: room.name };
    },

    send(data, ctx) {
      const room = find(roomName(data));
      const text = data.text;
      if (typeof text !== 'string' || text.length === 0 || text.length > MAX_TEXT) {
        throw badRequest('text', `text must be 1-${MAX_TEXT} characters`);
      }
      const message = { id: ++seq, room: room.name, user: ctx.auth.user, text, at: Date.now() };
      room.history.push(message);
      if (room.history.length > HISTORY) room.history.shift();
      for (const member of room.members) {
        if (member.open === false) room.members.delete(member);
        else member.emit('message', message);
      }
      return { id: message.id };
    },

    /** Only admins may delete a room; the demo's tokens are all `member`. */
    deleteRoom(data, ctx) {
      const room = find(roomName(data));
      if (ctx.auth.role !== 'admin') {
        throw new FaultlineError('FORBIDDEN', {
          message: 'Only admins can delete a room',
          details: { action: 'deleteRoom', room: room.name, role: ctx.auth.role },
          executed: 'no',
        });
      }
      rooms.delete(room.name);
      return { deleted: room.name };
    },

    /** A bug: the original message (with a secret in it) stays in the server log. */
    crash(data) {
      const db = { query: () => null };
      const row = db.query(`SELECT * FROM rooms WHERE name = '${String(data?.room)}'`);
      if (row === null) throw new Error('connect ECONNREFUSED 10.0.0.7:5432 user=chat password=hunter2');
      return row;
    },
  };

  return { rooms, handlers };
}
