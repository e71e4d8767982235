// ws suite: Faultline over `ws` (client + server) against a hand-written raw `ws` request/response
// with an id map, measured in the same run.
//
// Method (after shared/anchors/perf/bench/rtt.mjs, shared with the fastify-ws suite in
// lib/roundtrip.mjs): the server process (ws/server.mjs) hosts both servers (the Faultline one
// with heartbeat off and `rateLimit: false`, so neither feature is measured) and is pinned to
// CPU 1; the client process (ws/client.mjs) is pinned to CPU 0 (taskset, when present). Each cell
// is a fresh connection with a closed loop of `window` requests in flight (lib/loop.mjs): warm-up,
// then a measured window. Cells are interleaved within every repetition; a ratio is computed per
// repetition (Faultline / raw, same window) and the median is reported.
//
// Baselines: requests: raw `{id, data}` echo, promise per request, id map, no timeout (Faultline
// keeps a deadline per request, swept by one shared timer).
// Error path: Faultline's handler throws a FaultlineError (no stack, by design), the server
// dehydrates it into the envelope and the client rejects with a rehydrated, typed FaultlineError.
// `ws.error.w16.ratio` compares with the same work done by hand: the raw handler throws an Error
// subclass built without a stack, the raw adapter catches it and sends its fields, the raw client
// rejects with an Error subclass built without a stack (the anchors' "err-real-nostack"). Two
// more baselines, reported as ratios too: `ratio_vs_floor` (the server sends a literal body and
// the client rejects with the plain object: no Error anywhere, the physical floor, which a typed
// error cannot reach) and `ratio_vs_throw` (Error subclasses with stacks, as plain JS code
// builds them by default).
//
// Environment: FAULTLINE_BENCH_REPS (5), FAULTLINE_BENCH_MS (1100), FAULTLINE_BENCH_WARMUP_MS (300).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { roundTripSuite } from './lib/roundtrip.mjs';

const here = dirname(fileURLToPath(import.meta.url));

const REQUEST = ['faultline', 'raw'];
const CELLS = [
  { kind: 'request', window: 1, impls: REQUEST },
  { kind: 'request', window: 16, impls: REQUEST },
  { kind: 'request', window: 256, impls: REQUEST },
  { kind: 'error', window: 16, impls: ['faultline', 'raw', 'raw-floor', 'raw-throw'] },
];

export const run = await roundTripSuite(import.meta.url, {
  prefix: 'ws',
  server: join(here, 'ws', 'server.mjs'),
  cells: CELLS,
  reps: 5,
});
