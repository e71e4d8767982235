// Bounded versions of the reliability checks (issue 6). benchmarks/reliability.mjs runs the same
// scenario code (lib/reliability.mjs) at full size and writes the figures to results.json.
import { describe, expect, it } from 'vitest';
import { runChaos, runFuzz, runLeakScan, runStorm } from '../lib/reliability.mjs';
import { transports } from '../lib/transports.mjs';

describe.each(transports)('$name reliability', (transport) => {
  it('wire fuzzing (2,000 random and mutated frames): never crashes, answers every bad frame', async () => {
    const r = await runFuzz(transport, { frames: 2000, seed: 20261122 });
    if (Object.keys(r.known).length > 0)
      console.log(`${transport.name} fuzz: known deviations ${JSON.stringify(r.known)}`);
    expect(r.samples, 'wrong or missing answers').toEqual([]);
    expect(r.frames).toBe(2000);
    expect(r.crashes).toBe(0);
    expect(r.unhandled).toEqual([]);
    expect(r.wrongAnswers).toBe(0);
    expect(r.unanswered).toBe(0);
    expect(r.badCloses).toBe(0);
    expect(r.answered).toBe(r.expected);
    expect(r.leakSamples).toEqual([]);
  });

  it.runIf(transport.caps.connection)(
    'chaos (5 clients x 50 requests, random drops): one outcome each, in time, no loss, no duplicate',
    async () => {
      const r = await runChaos(transport, { clients: 5, requests: 50, dropEveryMs: 80, timeoutMs: 4000 });
      expect(r.requests).toBe(250);
      expect(r.drops).toBeGreaterThan(0);
      expect(r.multipleOutcomes).toBe(0);
      expect(r.late).toBe(0);
      expect(r.lost).toBe(0);
      expect(r.duplicates).toBe(0);
      expect(r.unhandled).toBe(0);
    },
  );

  it.runIf(transport.caps.connection)(
    'retry storm (50 clients, server restart): attempts spread, none hammering',
    async () => {
      const r = await runStorm(transport, { clients: 50, downMs: 1000 });
      expect(r.serving_after).toBe(true);
      // Full jitter over [min, base]: no 100 ms window holds a third of all attempts.
      expect(r.max_share_100ms).toBeLessThan(0.34);
      expect(r.max_attempts_per_client_per_s).toBeLessThanOrEqual(5);
    },
  );

  it('leak scan: every error path captured on the wire, zero stack frames, paths or secrets', async () => {
    const r = await runLeakScan(transport, { fuzzFrames: 300 });
    expect(r.samples).toEqual([]);
    expect(r.hits).toBe(0);
    expect(r.scanned).toBeGreaterThan(50);
    expect(r.fuzzWrong).toBe(0);
  });
});
