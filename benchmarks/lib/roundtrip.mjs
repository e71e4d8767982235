// Orchestrator of the round-trip suites over a WebSocket (ws, fastify-ws), after
// shared/anchors/perf/bench/rtt.mjs: one server child hosting the Faultline server and its raw
// peer (pinned to CPU 1), one client child (ws/client.mjs, pinned to CPU 0) running the plan:
// cells interleaved within every repetition, the order of implementations alternating between
// repetitions, each cell a fresh connection with a closed loop of `window` requests in flight
// (lib/loop.mjs). A ratio is computed per repetition (Faultline / raw, same window) and the
// median is reported; further baselines (`raw-floor`, ...) give `ratio_vs_floor`, ...; `cpu.ratio`
// is the same for CPU time per request (server + client, lower is better).
//
// The server child reports {ready, faultline, raw} (two ws:// URLs) and answers {probe} with
// {probe, cpu: process.cpuUsage()}, so both sides get CPU µs per request.
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { foreignLoad, hasTaskset, median, message, r3, startNode, stop } from './proc.mjs';

const CLIENT = join(dirname(fileURLToPath(import.meta.url)), '..', 'ws', 'client.mjs');

/**
 * @param {{ prefix: string, server: string, cells: { kind: string, window: number, impls: string[] }[],
 *   reps: number, durationMs: number, warmupMs: number, only?: RegExp }} o
 *   `impls[0]` is 'faultline', `impls[1]` the baseline of `.ratio`.
 */
export async function runRoundTrips({
  prefix,
  server: serverScript,
  cells,
  reps,
  durationMs,
  warmupMs,
  only,
  maxForeign = 0.25,
}) {
  const pin = hasTaskset();
  const planOf = (rep) => {
    const plan = [];
    for (const cell of cells) {
      const order = [...cell.impls];
      if (rep % 2 === 1) order.reverse();
      for (const impl of order)
        if (!only || only.test(`${impl}.${cell.kind}.w${cell.window}`))
          plan.push({ rep, impl, kind: cell.kind, window: cell.window });
    }
    return plan;
  };
  const server = startNode(serverScript, [], pin ? 1 : undefined);
  let client;
  try {
    const ready = await message(server, (m) => m?.ready, 15_000, `${prefix} bench server`);
    const cfg = { faultline: ready.faultline, raw: ready.raw, warmupMs, durationMs };
    client = startNode(CLIENT, [JSON.stringify(cfg)], pin ? 0 : undefined);
    await message(client, (m) => m?.ready, 15_000, `${prefix} bench client`);
    // Server CPU over each measured window: probed when the client marks its start and end; the
    // foreign load (other processes' CPU, lib/proc.mjs) over the same window.
    const marks = {};
    let sampler;
    let foreign = 0;
    server.on('message', (m) => {
      if (m?.probe) marks[m.probe] = m.cpu;
    });
    client.on('message', (m) => {
      if (m?.mark === 'start' || m?.mark === 'end') {
        server.send({ probe: m.mark });
        if (m.mark === 'start') sampler = foreignLoad([server.pid, client.pid]);
        else if (sampler) foreign = sampler.end();
      } else if (m?.mark === 'collect') {
        // The probes are answered in order: wait for the end probe, then hand the figure over.
        const done = () => {
          const s = marks.start;
          const e = marks.end;
          client.send({ serverCpu: s && e ? e.user - s.user + e.system - s.system : null, foreign });
          marks.start = marks.end = undefined;
        };
        if (marks.start && marks.end) done();
        else setTimeout(done, 50);
      }
    });
    // Repetitions one at a time; one in which a measured window saw more than `maxForeign` CPUs
    // of other processes' load is run again (at most `reps` extra attempts) and, when at least 3
    // quiet ones were had, left out of the figures.
    // The filter reads the other processes' CPU only, never the figures, so it favours no side.
    const results = [];
    const foreignPerRep = [];
    let attempts = 0;
    let kept = 0;
    const quietReps = [];
    while (kept < reps && attempts < reps * 2) {
      const plan = planOf(kept);
      attempts++;
      const budget = plan.length * (warmupMs + durationMs + 2000) + 20_000;
      const answer = message(client, (m) => m?.results || m?.failed, budget, `${prefix} bench client`);
      client.send({ plan });
      const got = await answer;
      if (got.failed) throw new Error(`${prefix} bench client: ${got.failed}`);
      const worst = Math.max(0, ...got.results.map((r) => r.foreign ?? 0));
      foreignPerRep.push(worst);
      const quiet = worst <= maxForeign;
      // Out of spare attempts: keep the repetition anyway (meta.quiet_reps tells).
      if (quiet || reps * 2 - attempts < reps - kept) {
        results.push(...got.results);
        if (quiet) quietReps.push(kept);
        kept++;
      }
    }
    const bad = results.filter((r) => r.unexpected > 0);
    if (bad.length > 0)
      throw new Error(`${prefix} bench: unexpected outcomes, e.g. ${bad[0].impl} ${bad[0].kind}: ${bad[0].first}`);

    if (only) {
      const row = (r) =>
        `${Math.round(r.rps)} rps, cpu/req server ${r3(r.serverCpuUs)} µs, client ${r3(r.clientCpuUs)} µs`;
      return Object.fromEntries(results.map((r) => [`${r.impl}.${r.kind}.w${r.window}.rep${r.rep}`, row(r)]));
    }
    // The figures come from the quiet repetitions when there are at least 3, else from all.
    const used = quietReps.length >= 3 ? quietReps : Array.from({ length: kept }, (_, i) => i);
    const out = {};
    const find = (rep, impl, kind, window) =>
      results.find((r) => r.rep === rep && r.impl === impl && r.kind === kind && r.window === window);
    const cpu = (r) => r.serverCpuUs + r.clientCpuUs;
    for (const { kind, window, impls } of cells) {
      const key = `${prefix}.${kind}.w${window}`;
      const [, base, ...others] = impls;
      const perRep = (peer, field) =>
        used.map((rep) => field(find(rep, 'faultline', kind, window)) / field(find(rep, peer, kind, window)));
      const rps = perRep(base, (r) => r.rps);
      out[`${key}.ratio`] = r3(median(rps));
      out[`${key}.ratio.reps`] = rps.map((x) => x.toFixed(2)).join(' ');
      // CPU per request, server + client, Faultline / baseline (lower is better): steadier than
      // req/s on a shared machine, since time spent waiting for a CPU does not count.
      out[`${key}.cpu.ratio`] = r3(median(perRep(base, cpu)));
      for (const peer of others)
        out[`${key}.ratio_vs_${peer.replace(/^raw-/, '')}`] = r3(median(perRep(peer, (r) => r.rps)));
      const of = (impl, field) =>
        median(
          results
            .filter((r) => used.includes(r.rep) && r.impl === impl && r.kind === kind && r.window === window)
            .map((r) => r[field]),
        );
      for (const impl of impls) {
        const name = impl.replace('-', '_');
        out[`${key}.${name}.rps`] = Math.round(of(impl, 'rps'));
        out[`${key}.${name}.p50_ms`] = r3(of(impl, 'p50'));
        out[`${key}.${name}.p99_ms`] = r3(of(impl, 'p99'));
        out[`${key}.${name}.server_cpu_us`] = r3(of(impl, 'serverCpuUs'));
        out[`${key}.${name}.client_cpu_us`] = r3(of(impl, 'clientCpuUs'));
      }
    }
    out[`${prefix}.meta.pinned`] = pin ? 1 : 0;
    out[`${prefix}.meta.reps`] = used.length;
    out[`${prefix}.meta.run_reps`] = attempts;
    out[`${prefix}.meta.quiet_reps`] = quietReps.length;
    out[`${prefix}.meta.foreign_cpus`] = r3(median(foreignPerRep));
    return out;
  } finally {
    if (client) await stop(client);
    await stop(server);
  }
}

/**
 * A round-trip suite: `run()` for run.mjs with the environment's settings (FAULTLINE_BENCH_REPS,
 * FAULTLINE_BENCH_MS, FAULTLINE_BENCH_WARMUP_MS, FAULTLINE_BENCH_ONLY), and, when `moduleUrl` is
 * the script node was started with, a run that prints the figures.
 * @param {string} moduleUrl the suite's `import.meta.url`
 * @param {{ prefix: string, server: string, cells: { kind: string, window: number, impls: string[] }[], reps: number }} o
 */
export async function roundTripSuite(moduleUrl, { prefix, server, cells, reps }) {
  const only = process.env.FAULTLINE_BENCH_ONLY;
  const run = () =>
    runRoundTrips({
      prefix,
      server,
      cells,
      reps: Number(process.env.FAULTLINE_BENCH_REPS ?? reps),
      durationMs: Number(process.env.FAULTLINE_BENCH_MS ?? 1100),
      warmupMs: Number(process.env.FAULTLINE_BENCH_WARMUP_MS ?? 300),
      only: only ? new RegExp(only) : undefined,
    });
  if (process.argv[1] && moduleUrl === pathToFileURL(process.argv[1]).href) {
    const started = Date.now();
    const figures = await run();
    const width = Math.max(...Object.keys(figures).map((k) => k.length)) + 2;
    for (const [k, v] of Object.entries(figures)) console.log(`${k.padEnd(width)} ${v}`);
    console.log(`(${Math.round((Date.now() - started) / 1000)} s)`);
  }
  return run;
}
