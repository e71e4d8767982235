// Faultline over ws: a server and a client in one file, one request that works and one typed error.
import { FaultlineError } from '@faultline/core';
import { createClient } from '@faultline/ws/client';
import { createServer } from '@faultline/ws/server';
import { WebSocket, WebSocketServer } from 'ws';

const rooms = new Set(['lobby']);

// Server: handlers return a value or throw a FaultlineError; any other throw reaches the client
// as INTERNAL with a generic message.
const server = createServer({
  handlers: {
    join(data) {
      const { room } = data as { room: string };
      if (!rooms.has(room)) throw new FaultlineError('NOT_FOUND', { message: 'Room not found', details: { room } });
      return { joined: room };
    },
  },
});
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
server.attach(wss);
await new Promise((resolve) => wss.once('listening', resolve));
const { port } = wss.address() as { port: number };

// Client: requests resolve with the response or reject with a classified FaultlineError.
const client = createClient({ url: `ws://127.0.0.1:${port}`, WebSocket });
console.log('join lobby ->', await client.request('join', { room: 'lobby' }));

try {
  await client.request('join', { room: 'kitchen' });
} catch (err) {
  if (!client.isError(err, 'NOT_FOUND')) throw err;
  // `err` is a FaultlineError<'NOT_FOUND'>: code, classification and details are typed.
  console.log('join kitchen ->', err.code, err.name, err.message, err.details, `recovery: ${err.recovery}`);
}

client.close();
await server.close();
wss.close();
