// The windowed request loop of every round-trip client (ws, Socket.IO, Fastify websocket): a
// closed loop of `window` workers, each awaiting one request at a time, so `window` requests are
// in flight; a warm-up, then a measured window in which completions are counted and latencies
// recorded. `mark(phase)` is called at the start and the end of the measured window ('start',
// 'end'), where this process's CPU time is read too (the parent probes the server's there).

/**
 * @param {{ window: number, warmupMs: number, durationMs: number, request: () => Promise<unknown>,
 *   expected: (error: unknown) => boolean, label: string, mark?: (phase: 'start' | 'end') => void }} o
 */
export async function closedLoop({ window, warmupMs, durationMs, request, expected, label, mark }) {
  const lat = new Float64Array(4_000_000);
  let n = 0;
  let completed = 0;
  let unexpected = 0;
  let first;
  const t0 = performance.now();
  const tStart = t0 + warmupMs;
  const tEnd = tStart + durationMs;
  const cpu = { start: null, end: null };
  const at = (phase) => {
    cpu[phase] = process.cpuUsage();
    mark?.(phase);
  };
  const t1 = setTimeout(at, warmupMs, 'start');
  const t2 = setTimeout(at, warmupMs + durationMs, 'end');
  async function worker() {
    for (;;) {
      const s = performance.now();
      if (s >= tEnd) return;
      let error;
      try {
        await request();
      } catch (e) {
        error = e ?? new Error('undefined rejection');
      }
      if (!expected(error)) {
        unexpected++;
        first ??= `${String(error?.name ?? 'resolved')}: ${String(error?.message ?? '')}`;
        if (unexpected > 100) throw new Error(`${label}: unexpected outcomes: ${first}`);
      }
      const f = performance.now();
      if (f >= tStart && f <= tEnd) {
        completed++;
        if (n < lat.length) lat[n++] = f - s;
      }
    }
  }
  await Promise.all(Array.from({ length: window }, worker));
  clearTimeout(t1);
  clearTimeout(t2);
  if (cpu.start === null) at('start');
  if (cpu.end === null) at('end');
  const sorted = lat.subarray(0, n).sort();
  const pct = (p) => (n === 0 ? Number.NaN : sorted[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))]);
  const used = cpu.end.user - cpu.start.user + cpu.end.system - cpu.start.system;
  return {
    rps: completed / (durationMs / 1000),
    completed,
    p50: pct(50),
    p99: pct(99),
    unexpected,
    first,
    clientCpuUs: completed > 0 ? used / completed : Number.NaN,
  };
}

/** Runs `cells` one after the other with `runCell`, a short pause between them. */
export async function runPlan(cells, runCell) {
  const results = [];
  for (const cell of cells) {
    results.push(await runCell(cell));
    await new Promise((r) => setTimeout(r, 50));
  }
  return results;
}
