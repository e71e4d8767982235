// Reads a V8 .cpuprofile (node --cpu-prof; FAULTLINE_BENCH_PROF=<dir> makes the suites write
// them) and prints the functions with the most self time and the most inclusive time, as shares
// of the non-idle samples. `--match=<regex>` keeps only functions whose file matches (for example
// `packages/` for Faultline's own code) in the inclusive list.
//
//   node benchmarks/lib/cpuprofile.mjs <file.cpuprofile> [--top=25] [--match=packages/]
import { readFileSync } from 'node:fs';

const [file, ...flags] = process.argv.slice(2);
const flag = (name, fallback) => flags.find((f) => f.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const top = Number(flag('top', 25));
const match = new RegExp(flag('match', '.'));
const prof = JSON.parse(readFileSync(file, 'utf8'));

const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const name = (n) => {
  const f = n.callFrame;
  const url = f.url.replace(/^file:\/\//, '').replace(/.*\/node_modules\/(\.pnpm\/[^/]+\/node_modules\/)?/, '');
  return `${f.functionName || '(anonymous)'} ${url.replace(/^\/work\/main\//, '')}:${f.lineNumber + 1}`;
};
const IDLE = new Set(['(idle)', '(program)', '(garbage collector)']);
const self = new Map();
const incl = new Map();
let total = 0;
let gc = 0;
for (const id of prof.samples) {
  const n = byId.get(id);
  const fn = n.callFrame.functionName;
  if (fn === '(idle)') continue;
  total++;
  if (fn === '(garbage collector)') gc++;
  if (IDLE.has(fn)) continue;
  const k = name(n);
  self.set(k, (self.get(k) ?? 0) + 1);
  const seen = new Set();
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const key = name(byId.get(cur));
    if (seen.has(key)) continue;
    seen.add(key);
    incl.set(key, (incl.get(key) ?? 0) + 1);
  }
}
const pct = (x) => `${((100 * x) / total).toFixed(1).padStart(5)} %`;
console.log(`${file}: ${total} non-idle samples, GC ${pct(gc)}`);
console.log('\nself time:');
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(v)}  ${k}`);
console.log(`\ninclusive time (files matching ${match}):`);
for (const [k, v] of [...incl]
  .filter(([k]) => match.test(k))
  .sort((a, b) => b[1] - a[1])
  .slice(0, top))
  console.log(`  ${pct(v)}  ${k}`);
