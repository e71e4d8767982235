// Socket.IO suite of `pnpm bench`: Faultline requests over Socket.IO (`@faultline/socket.io`)
// against native `emitWithAck`, measured in the same run. Method (shared/anchors/perf): server and
// client in separate processes pinned with taskset (server CPU 1, client CPU 0), closed loops of
// 16 and 256 requests in flight, cells interleaved within each repetition, ratios computed per
// repetition and summarised by their median. About 60 s.
//
//   node benchmarks/sio.mjs [--reps=3] [--duration=2000] [--warmup=500]
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { foreignLoad, hasTaskset, median, message, startNode, stop } from './lib/proc.mjs';

const here = join(dirname(fileURLToPath(import.meta.url)), 'sio');

const arg = (name, fallback) => {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  return hit === undefined ? fallback : Number(hit.slice(name.length + 3));
};

/** Starts a script of sio/ with an IPC channel, pinned to `cpu` when taskset works (lib/proc.mjs). */
const start = (script, args, cpu) => startNode(join(here, script), args, cpu);

const round = (x, d = 3) => (Number.isFinite(x) ? Number(x.toFixed(d)) : null);

const CELLS = [
  { impl: 'faultline', kind: 'request', window: 16 },
  { impl: 'native', kind: 'request', window: 16 },
  { impl: 'native+timeout', kind: 'request', window: 16 },
  { impl: 'faultline', kind: 'request', window: 256 },
  { impl: 'native', kind: 'request', window: 256 },
  { impl: 'faultline', kind: 'error', window: 16 },
  { impl: 'native', kind: 'error', window: 16 },
];
const key = (c) => `${c.impl}.${c.kind}.w${c.window}`;
// FAULTLINE_BENCH_ONLY=<regex> on `impl.kind.wN`: a subset of cells, for profiling (no ratios then;
// FAULTLINE_BENCH_PROF=<dir> writes CPU profiles of both children).
const ONLY = process.env.FAULTLINE_BENCH_ONLY ? new RegExp(process.env.FAULTLINE_BENCH_ONLY) : undefined;

/** Runs the suite; returns flat named figures. */
export async function run(options = {}) {
  const reps = options.reps ?? arg('reps', 3);
  const durationMs = options.durationMs ?? arg('duration', 2000);
  const warmupMs = options.warmupMs ?? arg('warmup', 500);
  const server = start('server.mjs', [], 1);
  let client;
  try {
    const urls = await message(server, (m) => m?.ready, 15_000, 'sio bench server');
    const plan = [];
    for (let rep = 0; rep < reps; rep++) {
      // Alternate the order between repetitions so drift does not favour one side.
      const order = rep % 2 === 0 ? CELLS : [...CELLS].reverse();
      for (const cell of order) if (!ONLY || ONLY.test(key(cell))) plan.push({ ...cell, rep });
    }
    const cfg = { faultline: urls.faultline, native: urls.native, warmupMs, durationMs, plan };
    client = start('client.mjs', [JSON.stringify(cfg)], 0);
    // Server CPU over each cell's measured window, probed when the client marks its start and end.
    const serverCpu = new Map();
    server.on('message', (m) => {
      if (m?.cpu) serverCpu.set(m.cpu, m.usage);
    });
    // Other processes' CPU over the same windows (lib/proc.mjs), reported as meta.foreign_cpus.
    const foreign = [];
    let sampler;
    client.on('message', (m) => {
      if (!m?.mark) return;
      server.send({ cpu: `${m.index}:${m.mark}` });
      if (m.mark === 'start') sampler = foreignLoad([server.pid, client.pid]);
      else if (sampler) foreign.push(sampler.end());
    });
    const budget = plan.length * (warmupMs + durationMs + 3000) + 10_000;
    const { results } = await message(client, (m) => m?.results, budget, 'sio bench client');
    await stop(client);

    results.forEach((r, i) => {
      const a = serverCpu.get(`${i}:start`);
      const b = serverCpu.get(`${i}:end`);
      const served = r.rps * (durationMs / 1000);
      r.serverCpuUsPerReq = a && b && served ? (b.user - a.user + b.system - a.system) / served : null;
    });
    const bad = results.filter((r) => r.unexpected > 0);
    if (bad.length > 0) throw new Error(`unexpected outcomes: ${bad.map((r) => `${key(r)} ${r.first}`).join('; ')}`);
    if (ONLY) {
      const row = (r) =>
        `${Math.round(r.rps)} rps, cpu/req server ${round(r.serverCpuUsPerReq)} µs, client ${round(r.clientCpuUsPerReq)} µs`;
      return Object.fromEntries(results.map((r) => [`${key(r)}.rep${r.rep}`, row(r)]));
    }
    const cell = (rep, impl, kind, window) =>
      results.find((r) => r.rep === rep && r.impl === impl && r.kind === kind && r.window === window);
    const ratio = (impl, base, kind, window) =>
      round(
        median(
          Array.from(
            { length: reps },
            (_, rep) => cell(rep, impl, kind, window).rps / cell(rep, base, kind, window).rps,
          ),
        ),
      );
    const figures = {
      'sio.request.w16.ratio': ratio('faultline', 'native', 'request', 16),
      'sio.request.w256.ratio': ratio('faultline', 'native', 'request', 256),
      'sio.error.w16.ratio': ratio('faultline', 'native', 'error', 16),
      'sio.request.w16.ratio_vs_timeout': ratio('faultline', 'native+timeout', 'request', 16),
    };
    for (const c of CELLS) {
      const rs = results.filter((r) => r.impl === c.impl && r.kind === c.kind && r.window === c.window);
      const name = `sio.${c.impl === 'faultline' ? 'faultline' : c.impl === 'native' ? 'native' : 'native_timeout'}.${c.kind}.w${c.window}`;
      figures[`${name}.rps`] = Math.round(median(rs.map((r) => r.rps)));
      figures[`${name}.p50_ms`] = round(median(rs.map((r) => r.p50)));
      figures[`${name}.p99_ms`] = round(median(rs.map((r) => r.p99)));
      figures[`${name}.server_cpu_us`] = round(median(rs.map((r) => r.serverCpuUsPerReq)), 1);
      figures[`${name}.client_cpu_us`] = round(median(rs.map((r) => r.clientCpuUsPerReq)), 1);
    }
    figures['sio.meta.pinned'] = hasTaskset() ? 1 : 0;
    figures['sio.meta.reps'] = reps;
    figures['sio.meta.foreign_cpus'] = round(median(foreign.filter((x) => x !== null)));
    return figures;
  } finally {
    if (client) await stop(client);
    await stop(server);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const figures = await run();
  for (const [k, v] of Object.entries(figures)) console.log(`${k.padEnd(44)} ${v}`);
}
