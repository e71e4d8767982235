// `pnpm reliability`: the reliability checks of issue 6 at full size, on every transport, with the
// same drivers and scenario code as the conformance suite (conformance/lib, plain ESM):
//
//   wire fuzzing   100,000 random and mutated frames per transport
//   chaos          50 clients x 1,000 requests, a random connection dropped every ~300 ms
//   retry storm    1,000 clients, server restart
//   leak scan      every error path of every transport captured on the wire and scanned
//
// Merges its figures into benchmarks/results.json (`reliability.*`). Also importable: `run()`
// returns the figures (benchmarks/run.mjs style). Usage: node benchmarks/reliability.mjs
// [--quick] (--quick: a tenth of the sizes, for a smoke run).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runChaos, runFuzz, runLeakScan, runStorm } from '../conformance/lib/reliability.mjs';
import { transports } from '../conformance/lib/transports.mjs';

const here = dirname(fileURLToPath(import.meta.url));

/**
 * Runs every reliability scenario at full size and returns the figures.
 * @param {{ scale?: number, log?: (line: string) => void }} [options] `scale` < 1 shrinks every size.
 */
export async function run(options = {}) {
  const scale = options.scale ?? 1;
  const log = options.log ?? ((line) => console.log(line));
  const sizes = {
    fuzzFrames: Math.round(100_000 * scale),
    chaosClients: 50,
    chaosRequests: Math.round(1000 * scale),
    chaosDropEveryMs: 300,
    stormClients: Math.round(1000 * scale),
  };
  const started = Date.now();
  /** @type {Record<string, number | string>} */
  const figures = {};
  let fuzzFrames = 0;
  let crashes = 0;
  let leaks = 0;
  let wrong = 0;
  let unanswered = 0;
  let lost = 0;
  let duplicates = 0;
  let multiple = 0;
  let late = 0;
  let chaosRequests = 0;
  let maxShare = 0;
  let maxPerSecond = 0;

  for (const t of transports) {
    const f = await runFuzz(t, { frames: sizes.fuzzFrames, seed: 0x5eed });
    fuzzFrames += f.frames;
    crashes += f.crashes;
    leaks += f.leaks;
    wrong += f.wrongAnswers;
    unanswered += f.unanswered;
    figures[`reliability.fuzz.${t.name}.frames`] = f.frames;
    figures[`reliability.fuzz.${t.name}.frames_per_s`] = Math.round(f.frames / f.seconds);
    log(
      `fuzz    ${t.name.padEnd(13)} ${f.frames} frames in ${f.seconds.toFixed(1)} s: ${f.answered}/${f.expected} answered as required, ` +
        `${f.wrongAnswers} wrong, ${f.unanswered} unanswered, ${f.closes} closes, ${f.crashes} crashes, ${f.leaks} leaks` +
        (Object.keys(f.known ?? {}).length ? `, known deviations ${JSON.stringify(f.known)}` : '') +
        (f.samples.length ? `\n        samples: ${f.samples.slice(0, 3).join(' | ')}` : ''),
    );
  }

  for (const t of transports.filter((x) => x.caps.connection)) {
    const c = await runChaos(t, {
      clients: sizes.chaosClients,
      requests: sizes.chaosRequests,
      dropEveryMs: sizes.chaosDropEveryMs,
      timeoutMs: 8000,
      seed: 0xc4a05,
    });
    chaosRequests += c.requests;
    lost += c.lost;
    duplicates += c.duplicates;
    multiple += c.multipleOutcomes;
    late += c.late;
    crashes += c.unhandled;
    figures[`reliability.chaos.${t.name}.drops`] = c.drops;
    log(
      `chaos   ${t.name.padEnd(13)} ${c.requests}/${c.expected} requests in ${c.seconds.toFixed(1)} s, ${c.drops} drops: ` +
        `${c.lost} lost, ${c.duplicates} duplicated, ${c.multipleOutcomes} with more than one outcome, ${c.late} past their timeout; ` +
        `non-idempotent failures ${c.failedNonIdempotent} ${JSON.stringify(c.failures)}`,
    );
  }

  for (const t of transports.filter((x) => x.caps.connection)) {
    const s = await runStorm(t, { clients: sizes.stormClients, downMs: 1000 });
    maxShare = Math.max(maxShare, s.max_share_100ms);
    maxPerSecond = Math.max(maxPerSecond, s.max_attempts_per_client_per_s);
    figures[`reliability.storm.${t.name}.max_share_100ms`] = s.max_share_100ms;
    figures[`reliability.storm.${t.name}.recovered_ms`] = s.recovered_ms;
    log(
      `storm   ${t.name.padEnd(13)} ${s.clients} clients, ${s.attempts} reconnect attempts: largest share in 100 ms ${(s.max_share_100ms * 100).toFixed(1)} %, ` +
        `most attempts by one client in 1 s ${s.max_attempts_per_client_per_s}, all back after ${s.recovered_ms} ms`,
    );
  }

  for (const t of transports) {
    const l = await runLeakScan(t, { fuzzFrames: 2000 });
    leaks += l.hits;
    log(
      `leaks   ${t.name.padEnd(13)} ${l.scanned} server→client texts over ${l.paths.length} error paths: ${l.hits} hits` +
        (l.samples.length ? `\n        ${JSON.stringify(l.samples.slice(0, 3))}` : ''),
    );
  }

  Object.assign(figures, {
    'reliability.transports': transports.map((t) => t.name).join(', '),
    'reliability.fuzz.frames': fuzzFrames,
    'reliability.fuzz.crashes': crashes,
    'reliability.fuzz.wrong_answers': wrong,
    'reliability.fuzz.unanswered': unanswered,
    'reliability.chaos.requests': chaosRequests,
    'reliability.chaos.lost': lost,
    'reliability.chaos.duplicates': duplicates,
    'reliability.chaos.multiple_outcomes': multiple,
    'reliability.chaos.past_timeout': late,
    'reliability.storm.clients': sizes.stormClients,
    'reliability.storm.max_share_100ms': maxShare,
    'reliability.storm.max_attempts_per_client_per_s': maxPerSecond,
    'reliability.leaks': leaks,
    'reliability.seconds': Math.round((Date.now() - started) / 1000),
  });
  return figures;
}

/** Merges figures into benchmarks/results.json, keeping every other suite's. */
export function merge(figures) {
  const path = join(here, 'results.json');
  const results = existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : {};
  Object.assign(results, figures);
  writeFileSync(path, `${JSON.stringify(results, null, 2)}\n`);
  return path;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const figures = await run({ scale: process.argv.includes('--quick') ? 0.1 : 1 });
  const path = merge(figures);
  console.log('');
  for (const [k, v] of Object.entries(figures)) console.log(`  ${k.padEnd(52)} ${v}`);
  console.log(`\nmerged into ${path}`);
  const bad =
    figures['reliability.fuzz.crashes'] !== 0 ||
    figures['reliability.chaos.lost'] !== 0 ||
    figures['reliability.chaos.duplicates'] !== 0 ||
    figures['reliability.leaks'] !== 0;
  // Open handles (a client's reconnect timer) must not keep the run alive.
  process.exit(bad ? 1 : 0);
}
