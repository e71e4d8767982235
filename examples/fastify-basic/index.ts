// Faultline for Fastify: an HTTP route and the fetch client in one file, one request that works and one typed error.
import { FaultlineError, isFaultlineError } from '@faultline/core';
import { faultline } from '@faultline/fastify';
import { createHttpClient } from '@faultline/fastify/client';
import Fastify from 'fastify';

const rooms = new Set(['lobby']);

// Server: register the plugin before the routes; a thrown FaultlineError is answered with the
// envelope and its registry status (NOT_FOUND: 404), any other throw with 500 INTERNAL.
const app = Fastify();
await app.register(faultline);
app.get<{ Params: { room: string } }>('/rooms/:room', async (request) => {
  const { room } = request.params;
  if (!rooms.has(room)) throw new FaultlineError('NOT_FOUND', { message: 'Room not found', details: { room } });
  return { room };
});
const address = await app.listen({ port: 0, host: '127.0.0.1' });

// Client: resolves with the JSON body or rejects with the FaultlineError rebuilt from the envelope.
const api = createHttpClient({ baseUrl: address });
console.log('GET /rooms/lobby ->', await api.get('/rooms/lobby'));

try {
  await api.get('/rooms/kitchen');
} catch (err) {
  if (!isFaultlineError(err, 'NOT_FOUND')) throw err;
  console.log('GET /rooms/kitchen ->', err.code, err.name, err.message, err.details, `recovery: ${err.recovery}`);
}

await app.close();
