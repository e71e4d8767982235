// `pnpm bench`: runs every benchmark suite one after the other (the machine has two cores: never
// in parallel), merges their figures into benchmarks/results.json (a flat object of named figures)
// and writes a readable benchmarks/RESULTS.md. Each suite measures its peer baseline in the same
// run and reports ratios against it. Usage: node benchmarks/run.mjs [suite...]
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const SUITES = [
  ['core', 'core.mjs', 'Codec, tracker memory, failing 10k pending requests'],
  ['ws', 'ws.mjs', 'Requests over ws vs a hand-written raw ws request/response'],
  ['sio', 'sio.mjs', 'Requests over Socket.IO vs native emitWithAck'],
  ['fastify-http', 'fastify-http.mjs', "HTTP error path vs Fastify's default error handler"],
  ['fastify-ws', 'fastify-ws.mjs', 'Requests over a @fastify/websocket route vs raw @fastify/websocket'],
];

const only = process.argv.slice(2);
const resultsPath = join(here, 'results.json');
const results = existsSync(resultsPath) ? JSON.parse(readFileSync(resultsPath, 'utf8')) : {};
const ran = [];

for (const [name, file, what] of SUITES) {
  if (only.length > 0 && !only.includes(name)) continue;
  const path = join(here, file);
  if (!existsSync(path)) {
    console.log(`- ${name}: no ${file}, skipped`);
    continue;
  }
  console.log(`\n## ${name}: ${what}`);
  const started = Date.now();
  const mod = await import(path);
  const figures = await mod.run();
  for (const [key, value] of Object.entries(figures)) {
    results[key] = value;
    console.log(`  ${key.padEnd(40)} ${value}`);
  }
  ran.push({ name, what, seconds: Math.round((Date.now() - started) / 1000), figures });
}

results['meta.node'] = process.version;
results['meta.date'] = new Date().toISOString();
// What was measured: the commit, and any uncommitted change under packages/ at the time (the
// tree is shared; the suites measure the packages' dist as built by `pnpm bench`).
const git = (...args) => {
  try {
    return execFileSync('git', args, { cwd: here, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trimEnd();
  } catch {
    return '';
  }
};
results['meta.commit'] = git('rev-parse', '--short', 'HEAD');
results['meta.uncommitted_packages'] =
  git('status', '--porcelain', '--', '../packages')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.slice(3).replace(/^packages\//, ''))
    .join(', ') || 'none';
writeFileSync(resultsPath, `${JSON.stringify(results, null, 2)}\n`);

const targets = {
  'core.codec.ratio': '≤ 1.15',
  'ws.request.w16.ratio': '≥ 0.9',
  'ws.request.w256.ratio': '≥ 0.9',
  'ws.error.w16.ratio': '≥ 0.9',
  'sio.request.w16.ratio': '≥ 0.95',
  'sio.request.w256.ratio': '≥ 0.95',
  'fastify.error.ratio': '≥ 1.0',
  'fastify.ws.request.w16.ratio': '≥ 0.9',
  'fastify.ws.request.w256.ratio': '≥ 0.9',
  'reliability.fuzz.crashes': '= 0',
  'reliability.chaos.lost': '= 0',
  'reliability.chaos.duplicates': '= 0',
  'reliability.leaks': '= 0',
};
const lines = [
  '# Benchmark results',
  '',
  `Written by \`pnpm bench\` on ${results['meta.date']} with Node ${results['meta.node']} at commit`,
  `${results['meta.commit']} (uncommitted under packages/: ${results['meta.uncommitted_packages']}). Every`,
  'ratio is Faultline divided by its peer measured in the same run (per-repetition ratios, median),',
  'on a noisy two-vCPU machine: differences under ~10 % are not resolved. `*.cpu.ratio` is CPU time',
  'per request, Faultline / peer (lower is better; steadier than req/s when the machine is shared).',
  '`*.meta.foreign_cpus` is the median CPU load of other processes during the measured windows;',
  'repetitions above the threshold were re-run (`run_reps` run, `quiet_reps` of the reported ones',
  'quiet). `reliability.*` come from `pnpm reliability`. See each suite for its method.',
  '',
  '| figure | value | target |',
  '| --- | --- | --- |',
  ...Object.entries(results)
    .filter(([k]) => !k.startsWith('meta.'))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `| \`${k}\` | ${v} | ${targets[k] ?? ''} |`),
  '',
];
writeFileSync(join(here, 'RESULTS.md'), `${lines.join('\n')}`);
console.log(`\nwrote ${resultsPath} and RESULTS.md (${ran.map((r) => `${r.name} ${r.seconds}s`).join(', ')})`);
