// Fastify HTTP error path: a route that throws a 404 FaultlineError under @faultline/fastify, against
// the same route throwing an Error with statusCode 404 under Fastify's default error handler (the
// peer to beat: it is what an app without the plugin does). Method of shared/anchors/perf
// (bench/http.mjs): autocannon, 10 connections, pipelining 1, a fresh server child process per
// measurement, the two cells interleaved within each repetition (their order alternating), server
// pinned to CPU 1 and load generator to CPU 0 when `taskset` exists; ratios computed per
// repetition, then the median. About 60 s with the defaults.
//
//   node benchmarks/fastify-http.mjs [--reps=5] [--duration=4] [--warmup=1] [--connections=10]
//   import { run } from './fastify-http.mjs'   (benchmarks/run.mjs; needs the packages built)
//
// Figures:
//   fastify.error.ratio          req/s of the Faultline route / req/s of the default handler's
//                                (median of per-repetition ratios; target ≥ 1.0)
//   fastify.error.faultline.rps  median req/s, Faultline envelope (plugin error handler)
//   fastify.error.default.rps    median req/s, Fastify's default error handler
//   fastify.error.cpu.ratio      server CPU time per request, Faultline / default (median of
//                                per-repetition ratios; lower is better). Steadier than req/s when
//                                the machine is shared, since it does not count time spent waiting
//   fastify.error.*.cpu_us       median server CPU microseconds per request of each cell
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SELF = fileURLToPath(import.meta.url);
const HOST = '127.0.0.1';
const PATH = '/rooms/r1';

const median = (values) => {
  const s = [...values].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? Number.NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};
const round = (x, digits) => Number(x.toFixed(digits));

// ------------------------------------------------------------------ child: server

async function serve(mode) {
  setTimeout(() => process.exit(3), 120_000).unref(); // hard lifetime
  process.once('disconnect', () => process.exit(0));
  const { default: Fastify } = await import('fastify');
  const app = Fastify({ logger: false });
  if (mode === 'faultline') {
    const { faultline } = await import('@faultline/fastify');
    const { FaultlineError } = await import('@faultline/core');
    await app.register(faultline);
    app.get('/rooms/:id', async (req) => {
      throw new FaultlineError('NOT_FOUND', { message: 'Room not found', details: { room: req.params.id } });
    });
  } else {
    app.get('/rooms/:id', async () => {
      const err = new Error('Room not found');
      err.statusCode = 404;
      throw err;
    });
  }
  process.on('message', (m) => {
    if (m?.probe) process.send({ cpu: process.cpuUsage() });
  });
  await app.listen({ host: HOST, port: 0 });
  process.send({ ready: true, port: app.server.address().port });
}

// ------------------------------------------------------------------ child: load generator

async function load(cfg) {
  setTimeout(() => process.exit(3), (cfg.warmupS + cfg.durationS) * 1000 + 30_000).unref();
  const { default: autocannon } = await import('autocannon');
  const probe = await fetch(cfg.url);
  const probeBody = await probe.text();
  const ac = (duration) =>
    autocannon({ url: cfg.url, connections: cfg.connections, duration, pipelining: 1, timeout: 10 });
  if (cfg.warmupS > 0) await ac(cfg.warmupS);
  // Tell the orchestrator the measured window starts, so it can read the server's CPU time.
  process.send({ start: true });
  await new Promise((resolve) => process.once('message', resolve));
  const r = await ac(cfg.durationS);
  const statuses = Object.keys(r.statusCodeStats ?? {});
  const ok = probe.status === 404 && statuses.every((c) => c === '404') && r.errors === 0 && r.timeouts === 0;
  const result = {
    rps: r.requests.average,
    total: r.requests.total,
    ok,
    probe: { status: probe.status, body: probeBody },
  };
  process.send({ result }, () => process.exit(0));
}

// ------------------------------------------------------------------ orchestrator

const pinned = spawnSync('taskset', ['-c', '0', 'true']).status === 0;

function startNode(args, cpu) {
  const stdio = ['ignore', 'inherit', 'inherit', 'ipc'];
  if (!pinned) return spawn(process.execPath, [SELF, ...args], { stdio });
  return spawn('taskset', ['-c', String(cpu), process.execPath, SELF, ...args], { stdio });
}

/** Ends a child we started, by its PID: SIGTERM, then SIGKILL. */
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

function message(child, key, timeoutMs) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`child ${child.pid}: no ${key} within ${timeoutMs} ms`)), timeoutMs);
    child.on('message', (m) => {
      if (m && key in m) {
        clearTimeout(t);
        resolve(m);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`child ${child.pid} exited (${code}) before ${key}`));
    });
  });
}

async function measure(mode, params) {
  const server = startNode(['--serve', mode], 1);
  try {
    const { port } = await message(server, 'ready', 10_000);
    const cfg = { ...params, url: `http://${HOST}:${port}${PATH}` };
    const client = startNode(['--load', JSON.stringify(cfg)], 0);
    try {
      const limit = (params.warmupS + params.durationS) * 1000 + 30_000;
      const done = message(client, 'result', limit);
      await message(client, 'start', limit);
      const cpuAt = async () => {
        const reply = message(server, 'cpu', 5000);
        server.send({ probe: true });
        const { cpu } = await reply;
        return cpu.user + cpu.system;
      };
      const before = await cpuAt();
      client.send({ go: true });
      const { result } = await done;
      const after = await cpuAt();
      if (!result.ok) throw new Error(`${mode}: unexpected answers, probe ${JSON.stringify(result.probe)}`);
      return { ...result, cpuUsPerRequest: (after - before) / result.total };
    } finally {
      await stop(client);
    }
  } finally {
    await stop(server);
  }
}

/** Runs the suite; returns the figures. */
export async function run(options = {}) {
  const params = {
    reps: options.reps ?? 5,
    durationS: options.durationS ?? 4,
    warmupS: options.warmupS ?? 1,
    connections: options.connections ?? 10,
  };
  const ratios = [];
  const cpuRatios = [];
  const rps = { faultline: [], default: [] };
  const cpu = { faultline: [], default: [] };
  for (let rep = 1; rep <= params.reps; rep++) {
    const order = rep % 2 ? ['faultline', 'default'] : ['default', 'faultline'];
    const cells = {};
    for (const mode of order) {
      cells[mode] = await measure(mode, params);
      rps[mode].push(cells[mode].rps);
      cpu[mode].push(cells[mode].cpuUsPerRequest);
    }
    ratios.push(cells.faultline.rps / cells.default.rps);
    cpuRatios.push(cells.faultline.cpuUsPerRequest / cells.default.cpuUsPerRequest);
    if (options.verbose) {
      console.log(
        `  [rep ${rep}/${params.reps}] faultline ${Math.round(cells.faultline.rps)} req/s, default ${Math.round(
          cells.default.rps,
        )} req/s, ratio ${ratios.at(-1).toFixed(3)}; server CPU per request ${cells.faultline.cpuUsPerRequest.toFixed(
          1,
        )} vs ${cells.default.cpuUsPerRequest.toFixed(1)} us`,
      );
    }
  }
  return {
    'fastify.error.ratio': round(median(ratios), 3),
    'fastify.error.faultline.rps': Math.round(median(rps.faultline)),
    'fastify.error.default.rps': Math.round(median(rps.default)),
    'fastify.error.cpu.ratio': round(median(cpuRatios), 3),
    'fastify.error.faultline.cpu_us': round(median(cpu.faultline), 1),
    'fastify.error.default.cpu_us': round(median(cpu.default), 1),
  };
}

// ------------------------------------------------------------------ entry

const [role, arg] = process.argv.slice(2);
if (process.argv[1] === SELF) {
  if (role === '--serve') await serve(arg);
  else if (role === '--load') await load(JSON.parse(arg));
  else {
    const args = Object.fromEntries(
      process.argv.slice(2).map((a) => {
        const m = /^--([^=]+)(?:=(.*))?$/.exec(a) ?? [];
        return [m[1], m[2] === undefined ? undefined : Number(m[2])];
      }),
    );
    const figures = await run({
      reps: args.reps,
      durationS: args.duration,
      warmupS: args.warmup,
      connections: args.connections,
      verbose: true,
    });
    for (const [k, v] of Object.entries(figures)) console.log(`${k.padEnd(32)} ${v}`);
  }
}
