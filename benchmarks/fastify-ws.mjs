// fastify-ws suite: requests over a Faultline websocket route of Fastify (`faultlineWebSocket`
// from @faultline/fastify, i.e. the @faultline/ws server binding on the socket @fastify/websocket
// hands out) against a raw @fastify/websocket route with the ws suite's hand-written JSON
// request/response ({id, op, data} -> {id, data | error}, handlers in a map inside a try/catch),
// measured in the same run.
//
// Clients: the @faultline/ws client for the Faultline route, the ws suite's raw id-map client
// (promise per request, no timeout) for the raw route. Both sides are measured end to end on
// purpose: a raw app needs its own correlation on the client as much as on the server, and it is
// the comparison ws.request.* makes, so the two suites differ only in the hosting layer (ws
// alone vs Fastify + @fastify/websocket). Server CPU µs per request is reported per cell, for the
// server-only reading.
//
// Method: lib/roundtrip.mjs, as the ws suite (server child pinned to CPU 1, client child to CPU 0,
// interleaved cells alternating order, fresh connection per cell, warm-up then a measured window,
// median of per-repetition ratios). Window 1 is left out (it measures cross-CPU wake-ups).
//
// Figures: fastify.ws.request.w16.ratio, fastify.ws.request.w256.ratio, fastify.ws.error.w16.ratio
// (both handlers throw a stackless error: FaultlineError vs the raw Error subclass built with
// stackTraceLimit = 0; the clients reject with a typed, stackless error), and per cell rps,
// p50/p99 ms, server/client CPU µs per request.
//
// Environment: FAULTLINE_BENCH_REPS (7), FAULTLINE_BENCH_MS (1100), FAULTLINE_BENCH_WARMUP_MS (300),
// FAULTLINE_BENCH_ONLY (regex on `impl.kind.wN`, for profiling), FAULTLINE_BENCH_PROF (dir).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { roundTripSuite } from './lib/roundtrip.mjs';

const here = dirname(fileURLToPath(import.meta.url));

const PAIR = ['faultline', 'raw'];
const CELLS = [
  { kind: 'request', window: 16, impls: PAIR },
  { kind: 'request', window: 256, impls: PAIR },
  { kind: 'error', window: 16, impls: PAIR },
];

export const run = await roundTripSuite(import.meta.url, {
  prefix: 'fastify.ws',
  server: join(here, 'fastify-ws', 'server.mjs'),
  cells: CELLS,
  reps: 7,
});
