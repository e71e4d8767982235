// A transport over @faultline/fastify/client: plain HTTP requests, no connection to keep. The
// client retries what the classification allows (RATE_LIMITED, SHUTTING_DOWN...) with backoff,
// honouring Retry-After; each retry is reported at `Retry#METHOD /path`. On UNAUTHORIZED the
// session fetches a new token once and sends the request again.
import { createHttpClient } from '@faultline/fastify/client';

const RETRY = { minMs: 100, baseMs: 300, maxMs: 5000 };
const enc = encodeURIComponent;

/** Each chat request as an HTTP route. */
const ROUTES = {
  rooms: () => ['GET', '/api/rooms'],
  whoami: () => ['GET', '/api/me'],
  join: (d) => ['POST', `/api/rooms/${enc(d.room)}/join`],
  send: (d) => ['POST', `/api/rooms/${enc(d.room)}/messages`, { text: d.text }],
  deleteRoom: (d) => ['DELETE', `/api/rooms/${enc(d.room)}`],
  crash: (d) => ['POST', `/api/rooms/${enc(d.room)}/crash`],
};

export default {
  id: 'fastify-http',
  label: 'Fastify HTTP',
  stateless: true,
  connect({ token, observer, onState, onAuthFailure }) {
    const api = createHttpClient({ baseUrl: location.origin, observer, retry: RETRY, retries: 2, timeoutMs: 5000 });
    let current;
    let closed = false;
    const change = (previous, next) =>
      onState({ previous, current: next, detail: 'stateless', attempt: 0, at: Date.now() });
    change('idle', 'connecting');
    const ready = token({ refresh: false }).then((t) => {
      current = t;
      if (!closed) change('connecting', 'open');
    });

    const send = (event, data) => {
      const route = ROUTES[event];
      if (!route) throw new Error(`no HTTP route for ${event}`);
      const [method, path, body] = route(data);
      return api.request(method, path, { body, headers: { authorization: `Bearer ${current}` } });
    };

    return {
      async request(event, data) {
        await ready;
        try {
          return await send(event, data);
        } catch (error) {
          if (error?.name !== 'UNAUTHORIZED') throw error;
          // Re-authenticate once, then send again; a second UNAUTHORIZED is the caller's.
          onAuthFailure(event, error);
          current = await token({ refresh: true });
          return send(event, data);
        }
      },
      close() {
        closed = true;
      },
    };
  },
};
