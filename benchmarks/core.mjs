// Core benchmarks: codec cost against bare JSON, heap per pending request, failing 10k pending.
// Every figure is measured against a baseline in the same run, with interleaved repetitions, and
// reported as the median of per-repetition values (method of shared/anchors/perf).
//
//   node benchmarks/core.mjs            prints the figures (needs `pnpm --filter @faultline/core build`)
//   import { run } from './core.mjs'    returns them (benchmarks/run.mjs)
//
// Figures:
//   core.codec.error_path.ratio        error path, end to end: new FaultlineError → toErrorBody →
//                                      errorFrame → encodeFrame → decodeFrame → fromBody, divided by
//                                      JSON.stringify + JSON.parse of the same frame (target ≤ 1.15)
//   core.codec.ratio                   (the figure) encodeFrame + decodeFrame (validated) of a built frame / bare
//   core.codec.client.ratio            encodeFrame + decodeFrame + fromBody of a built frame / bare
//   core.codec.*_ns                    the cells and their parts, ns per operation
//   core.tracker.bytes_per_pending     heap per pending request (100k, --expose-gc child process)
//   core.tracker.bytes_per_pending.baseline_ratio   / a bare Map + {resolve, reject, deadline} + promise
//   core.tracker.fail_10k_ms           failAll of 10,000 pending (one shared error), until every
//                                      rejection handler ran
//   core.tracker.fail_10k_per_error_ms the same with one error per request (own request_id)
import { spawn } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { decodeFrame, encodeFrame, errorFrame, FaultlineError, RequestTracker, toErrorBody } from '@faultline/core';

const SELF = fileURLToPath(import.meta.url);

// ------------------------------------------------------------------ statistics

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? Number.NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

const round = (x, digits) => Number(x.toFixed(digits));

// ------------------------------------------------------------------ codec

let sink = 0;

const MESSAGE = 'Room not found';
const DETAILS = { room: 'r1' };
const REQUEST_ID = 'abc-123';

function buildFrame() {
  const err = new FaultlineError('NOT_FOUND', { message: MESSAGE, details: DETAILS });
  return errorFrame(toErrorBody(err), REQUEST_ID);
}

const FRAME = buildFrame();
const TEXT = encodeFrame(FRAME);
const BODY = FRAME.data;

/** Cells: each runs `n` operations. Kept as separate functions so each gets its own feedback. */
const cells = {
  bare(n) {
    for (let i = 0; i < n; i++) sink += JSON.parse(JSON.stringify(FRAME)).data.code;
  },
  full(n) {
    for (let i = 0; i < n; i++) {
      const err = new FaultlineError('NOT_FOUND', { message: MESSAGE, details: DETAILS });
      const text = encodeFrame(errorFrame(toErrorBody(err), REQUEST_ID));
      const r = decodeFrame(text);
      const back = FaultlineError.fromBody(r.frame.data, { requestId: r.frame.meta.request_id });
      sink += back.code;
    }
  },
  encodeDecode(n) {
    for (let i = 0; i < n; i++) {
      const r = decodeFrame(encodeFrame(FRAME));
      sink += r.ok ? r.frame.data.code : 0;
    }
  },
  client(n) {
    for (let i = 0; i < n; i++) {
      const r = decodeFrame(encodeFrame(FRAME));
      sink += FaultlineError.fromBody(r.frame.data, { requestId: r.frame.meta.request_id }).code;
    }
  },
  // Parts, to tell the lead which one costs.
  partNewError(n) {
    for (let i = 0; i < n; i++) sink += new FaultlineError('NOT_FOUND', { message: MESSAGE, details: DETAILS }).code;
  },
  partToErrorBody(n) {
    const err = new FaultlineError('NOT_FOUND', { message: MESSAGE, details: DETAILS });
    for (let i = 0; i < n; i++) sink += toErrorBody(err).code;
  },
  partErrorFrame(n) {
    for (let i = 0; i < n; i++) sink += errorFrame(BODY, REQUEST_ID).meta.timestamp.length;
  },
  partStringify(n) {
    for (let i = 0; i < n; i++) sink += encodeFrame(FRAME).length;
  },
  partParse(n) {
    for (let i = 0; i < n; i++) sink += JSON.parse(TEXT).data.code;
  },
  partDecode(n) {
    for (let i = 0; i < n; i++) {
      const r = decodeFrame(TEXT);
      sink += r.ok ? 1 : 0;
    }
  },
  partFromBody(n) {
    for (let i = 0; i < n; i++) sink += FaultlineError.fromBody(BODY, { requestId: REQUEST_ID }).code;
  },
};

function timeCell(fn, n) {
  const t0 = process.hrtime.bigint();
  fn(n);
  return Number(process.hrtime.bigint() - t0) / n;
}

/** Interleaved repetitions; the order of cells rotates each repetition. Returns ns/op per rep. */
function measureCodec({ reps = 12, opsPerCell = 40_000 } = {}) {
  const names = Object.keys(cells);
  for (const name of names) for (let w = 0; w < 5; w++) cells[name](opsPerCell / 4); // warm up, let V8 optimise
  const samples = Object.fromEntries(names.map((name) => [name, []]));
  for (let rep = 0; rep < reps; rep++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(k + rep) % names.length];
      samples[name].push(timeCell(cells[name], opsPerCell));
    }
  }
  return samples;
}

function codecFigures(samples) {
  const ratio = (cell) => median(samples[cell].map((ns, i) => ns / samples.bare[i]));
  const ns = (cell) => round(median(samples[cell]), 0);
  return {
    'core.codec.ratio': round(ratio('encodeDecode'), 3),
    'core.codec.error_path.ratio': round(ratio('full'), 3),
    'core.codec.client.ratio': round(ratio('client'), 3),
    'core.codec.bare_ns': ns('bare'),
    'core.codec.full_ns': ns('full'),
    'core.codec.encode_decode_ns': ns('encodeDecode'),
    'core.codec.client_ns': ns('client'),
    'core.codec.part.new_error_ns': ns('partNewError'),
    'core.codec.part.to_error_body_ns': ns('partToErrorBody'),
    'core.codec.part.error_frame_ns': ns('partErrorFrame'),
    'core.codec.part.stringify_ns': ns('partStringify'),
    'core.codec.part.parse_ns': ns('partParse'),
    'core.codec.part.decode_ns': ns('partDecode'),
    'core.codec.part.from_body_ns': ns('partFromBody'),
    'core.codec.frame_bytes': Buffer.byteLength(TEXT),
  };
}

// ------------------------------------------------------------------ tracker memory (child process)

const MEM_N = 100_000;

/** Runs in a child started with --expose-gc. Prints { bytesPerPending } as JSON. */
async function memWorker(kind, n) {
  const settle = async () => {
    for (let i = 0; i < 4; i++) {
      globalThis.gc();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return process.memoryUsage().heapUsed;
  };
  let request;
  if (kind === 'tracker') {
    const tracker = new RequestTracker({ timeoutMs: 600_000 });
    globalThis.__tracker = tracker;
    // The caller keeps the promise, as an awaiting caller does; the { id, promise } pair is transient.
    request = () => tracker.track('join').promise;
  } else {
    // Baseline: the anchors' "map + deadline swept by one shared timer" (317 B there).
    const pending = new Map();
    let next = 1;
    globalThis.__pending = pending;
    request = () =>
      new Promise((resolve, reject) => {
        pending.set(next++, { resolve, reject, deadline: performance.now() + 600_000 });
      });
  }
  // Allocated before the baseline so the holder's own size is excluded; reachable from the global
  // object so V8 cannot collect what an `await` leaves dead.
  const held = new Array(n).fill(null);
  const warm = new Array(2000).fill(null);
  globalThis.__keepAlive = { held, warm, request };
  for (let i = 0; i < warm.length; i++) warm[i] = request();
  const before = await settle();
  for (let i = 0; i < n; i++) held[i] = request();
  const after = await settle();
  process.stdout.write(`${JSON.stringify({ kind, n, bytesPerPending: (after - before) / n })}\n`);
}

function spawnMem(kind) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', SELF, '--mem-worker', kind, String(MEM_N)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.on('data', (chunk) => {
      out += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`mem worker ${kind} exited with ${code}`));
      resolve(JSON.parse(out.trim().split('\n').at(-1)).bytesPerPending);
    });
  });
}

async function measureMemory(reps = 3) {
  const tracker = [];
  const baseline = [];
  for (let i = 0; i < reps; i++) {
    tracker.push(await spawnMem('tracker'));
    baseline.push(await spawnMem('baseline'));
  }
  return {
    'core.tracker.bytes_per_pending': round(median(tracker), 0),
    'core.tracker.bytes_per_pending.baseline': round(median(baseline), 0),
    'core.tracker.bytes_per_pending.baseline_ratio': round(median(tracker.map((t, i) => t / baseline[i])), 3),
  };
}

// ------------------------------------------------------------------ failing 10k pending

async function failOnce(n, perRequest) {
  const tracker = new RequestTracker({ timeoutMs: 600_000 });
  let settled = 0;
  let done;
  const all = new Promise((resolve) => {
    done = resolve;
  });
  const onReject = () => {
    if (++settled === n) done();
  };
  for (let i = 0; i < n; i++) tracker.track('join').promise.then(undefined, onReject);
  const shared = new FaultlineError('BAD_CONNECTION', { message: 'Connection closed', executed: 'maybe' });
  const t0 = performance.now();
  tracker.failAll(
    perRequest
      ? (id, event) => {
          const err = new FaultlineError('BAD_CONNECTION', {
            message: `Connection lost during ${event}`,
            executed: 'maybe',
          });
          err.requestId = id;
          return err;
        }
      : shared,
  );
  await all;
  return performance.now() - t0;
}

async function measureFail(reps = 15) {
  const shared = [];
  const perRequest = [];
  for (let i = 0; i < 3; i++) {
    await failOnce(10_000, false);
    await failOnce(10_000, true);
  }
  for (let i = 0; i < reps; i++) {
    shared.push(await failOnce(10_000, false));
    perRequest.push(await failOnce(10_000, true));
  }
  return {
    'core.tracker.fail_10k_ms': round(median(shared), 2),
    'core.tracker.fail_10k_per_error_ms': round(median(perRequest), 2),
  };
}

// ------------------------------------------------------------------ entry points

/** Runs every core benchmark and returns a flat object of named figures. */
export async function run() {
  const codec = codecFigures(measureCodec());
  const memory = await measureMemory();
  const fail = await measureFail();
  if (sink === 42) console.log(''); // keeps `sink` observable
  return { ...codec, ...memory, ...fail };
}

async function main() {
  if (process.argv[2] === '--mem-worker') {
    await memWorker(process.argv[3], Number(process.argv[4]));
    return;
  }
  const started = Date.now();
  const figures = await run();
  for (const [key, value] of Object.entries(figures)) console.log(`${key.padEnd(48)} ${value}`);
  console.log(`(${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
