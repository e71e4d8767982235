// ws suite: Faultline over `ws` (client + server) against a hand-written raw `ws` request/response
// with an id map, measured in the same run.
//
// Method (after shared/anchors/perf/bench/rtt.mjs): the server process hosts both servers (the
// Faultline one with heartbeat off and `rateLimit: false`, so neither feature is measured) and
// is pinned to CPU 1; the client process is pinned to CPU 0 (taskset, when present). Each cell is
// a fresh connection with a closed loop of `window` requests in flight: warm-up, then a measured
// window. Cells are interleaved within every repetition; a ratio is computed per repetition
// (Faultline / raw, same window) and the median is reported.
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
import { spawn, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const REPS = Number(process.env.FAULTLINE_BENCH_REPS ?? 5);
const DURATION = Number(process.env.FAULTLINE_BENCH_MS ?? 1100);
const WARMUP = Number(process.env.FAULTLINE_BENCH_WARMUP_MS ?? 300);
// FAULTLINE_BENCH_ONLY=<regex> on `impl.kind.wN`: a subset of cells, for profiling (no ratios then).
const ONLY = process.env.FAULTLINE_BENCH_ONLY ? new RegExp(process.env.FAULTLINE_BENCH_ONLY) : undefined;

const CELLS = [
  { kind: 'request', window: 1 },
  { kind: 'request', window: 16 },
  { kind: 'request', window: 256 },
  { kind: 'error', window: 16 },
];

const hasTaskset = () => {
  try {
    return spawnSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' }).status === 0;
  } catch {
    return false;
  }
};

function startNode(script, args, cpu) {
  const stdio = ['ignore', 'inherit', 'inherit', 'ipc'];
  // FAULTLINE_BENCH_PROF=<dir>: CPU profiles of both children (node --cpu-prof), for hot-path work.
  const prof = process.env.FAULTLINE_BENCH_PROF
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.FAULTLINE_BENCH_PROF}`]
    : [];
  const argv = [...prof, join(here, script), ...args];
  return cpu === undefined
    ? spawn(process.execPath, argv, { stdio })
    : spawn('taskset', ['-c', String(cpu), process.execPath, ...argv], { stdio });
}

/** Ends a child we started, by its pid: SIGTERM, then SIGKILL. */
function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 2000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

function message(child, pred, ms, what) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    const on = (m) => {
      if (!pred(m)) return;
      clearTimeout(t);
      child.off('message', on);
      resolve(m);
    };
    child.on('message', on);
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`${what}: child exited with ${code}`));
    });
  });
}

const median = (xs) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const r3 = (x) => Math.round(x * 1000) / 1000;

export async function run() {
  const pin = hasTaskset();
  const plan = [];
  for (let rep = 0; rep < REPS; rep++) {
    // Interleaved; the order of implementations alternates between repetitions.
    const impls = (cell) =>
      cell.kind === 'error' ? ['faultline', 'raw', 'raw-floor', 'raw-throw'] : ['faultline', 'raw'];
    for (const cell of CELLS) {
      const order = impls(cell);
      if (rep % 2 === 1) order.reverse();
      for (const impl of order)
        if (!ONLY || ONLY.test(`${impl}.${cell.kind}.w${cell.window}`)) plan.push({ rep, impl, ...cell });
    }
  }
  const server = startNode('ws/server.mjs', [], pin ? 1 : undefined);
  let client;
  try {
    const ready = await message(server, (m) => m?.ready, 10_000, 'ws bench server');
    const cfg = { faultline: ready.faultline, raw: ready.raw, plan, warmupMs: WARMUP, durationMs: DURATION };
    client = startNode('ws/client.mjs', [JSON.stringify(cfg)], pin ? 0 : undefined);
    // Server CPU over each measured window: probed when the client marks its start and end.
    const marks = {};
    server.on('message', (m) => {
      if (m?.probe) marks[m.probe] = m.cpu;
    });
    client.on('message', (m) => {
      if (m?.mark === 'start' || m?.mark === 'end') server.send({ probe: m.mark });
      else if (m?.mark === 'collect') {
        // The probes are answered in order: wait for the end probe, then hand the figure over.
        const { start, end } = marks;
        const done = () => {
          const s = marks.start;
          const e = marks.end;
          client.send({ serverCpu: s && e ? e.user - s.user + e.system - s.system : null });
          marks.start = marks.end = undefined;
        };
        if (start && end) done();
        else setTimeout(done, 50);
      }
    });
    const budget = plan.length * (WARMUP + DURATION + 2000) + 20_000;
    const { results } = await message(client, (m) => m?.results, budget, 'ws bench client');
    const bad = results.filter((r) => r.unexpected > 0);
    if (bad.length > 0)
      throw new Error(`ws bench: unexpected outcomes, e.g. ${bad[0].impl} ${bad[0].kind}: ${bad[0].first}`);

    if (ONLY) {
      const row = (r) =>
        `${Math.round(r.rps)} rps, cpu/req server ${r3(r.serverCpuUs)} µs, client ${r3(r.clientCpuUs)} µs`;
      return Object.fromEntries(results.map((r) => [`${r.impl}.${r.kind}.w${r.window}.rep${r.rep}`, row(r)]));
    }
    const out = {};
    const find = (rep, impl, kind, window) =>
      results.find((r) => r.rep === rep && r.impl === impl && r.kind === kind && r.window === window);
    for (const { kind, window } of CELLS) {
      const key = `ws.${kind}.w${window}`;
      const ratios = [];
      const floorRatios = [];
      const throwRatios = [];
      for (let rep = 0; rep < REPS; rep++) {
        const f = find(rep, 'faultline', kind, window);
        ratios.push(f.rps / find(rep, 'raw', kind, window).rps);
        if (kind === 'error') {
          floorRatios.push(f.rps / find(rep, 'raw-floor', kind, window).rps);
          throwRatios.push(f.rps / find(rep, 'raw-throw', kind, window).rps);
        }
      }
      const of = (impl, field) =>
        median(results.filter((r) => r.impl === impl && r.kind === kind && r.window === window).map((r) => r[field]));
      out[`${key}.ratio`] = r3(median(ratios));
      if (kind === 'error') {
        out[`${key}.ratio_vs_floor`] = r3(median(floorRatios));
        out[`${key}.ratio_vs_throw`] = r3(median(throwRatios));
      }
      for (const impl of kind === 'error' ? ['faultline', 'raw', 'raw-floor', 'raw-throw'] : ['faultline', 'raw']) {
        const name = impl.replace('-', '_');
        out[`${key}.${name}.rps`] = Math.round(of(impl, 'rps'));
        out[`${key}.${name}.p50_ms`] = r3(of(impl, 'p50'));
        out[`${key}.${name}.p99_ms`] = r3(of(impl, 'p99'));
        out[`${key}.${name}.server_cpu_us`] = r3(of(impl, 'serverCpuUs'));
        out[`${key}.${name}.client_cpu_us`] = r3(of(impl, 'clientCpuUs'));
      }
    }
    out['ws.meta.pinned'] = pin ? 1 : 0;
    out['ws.meta.reps'] = REPS;
    return out;
  } finally {
    if (client) await stop(client);
    await stop(server);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const started = Date.now();
  const figures = await run();
  for (const [k, v] of Object.entries(figures)) console.log(`${k.padEnd(36)} ${v}`);
  console.log(`(${Math.round((Date.now() - started) / 1000)} s)`);
}
