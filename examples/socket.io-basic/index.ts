// Faultline over Socket.IO: a server and a client in one file, one request that works and one typed error.
import { createServer } from 'node:http';
import { FaultlineError } from '@faultline/core';
import { createClient } from '@faultline/socket.io/client';
import { attach } from '@faultline/socket.io/server';
import { Server } from 'socket.io';
import { io } from 'socket.io-client';

const rooms = new Set(['lobby']);

// Server: handlers answer `socket.emit(event, data, ack)`; they return a value or throw a
// FaultlineError, and any other throw reaches the client as INTERNAL with a generic message.
const http = createServer();
const ioServer = new Server(http);
const server = attach(ioServer, {
  handlers: {
    join(data) {
      const { room } = data as { room: string };
      if (!rooms.has(room)) throw new FaultlineError('NOT_FOUND', { message: 'Room not found', details: { room } });
      return { joined: room };
    },
  },
});
await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
const { port } = http.address() as { port: number };

// Client: requests resolve with the result or reject with a classified FaultlineError.
const client = createClient(io(`http://127.0.0.1:${port}`));
console.log('join lobby ->', await client.request('join', { room: 'lobby' }));

try {
  await client.request('join', { room: 'kitchen' });
} catch (err) {
  if (!client.isError(err, 'NOT_FOUND')) throw err;
  // A FaultlineError rebuilt from the ack: code, classification and details survive Socket.IO.
  console.log('join kitchen ->', err.code, err.name, err.message, err.details, `recovery: ${err.recovery}`);
}

client.close();
await server.close();
await ioServer.close();
