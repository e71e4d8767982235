// Bench client child: runs the parent's plan of cells (interleaved), each on a fresh connection:
// a closed loop of `window` requests in flight, warm-up, then a measured window. One result per cell.
import { createClient } from '@faultline/ws/client';
import { WebSocket } from 'ws';

const cfg = JSON.parse(process.argv[2]);
process.once('disconnect', () => process.exit(0));
process.once('SIGTERM', () => process.exit(0));
setTimeout(() => process.exit(3), 300_000).unref();
const DATA = Object.freeze({ room: 'r1', text: 'hello', n: 42 });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The hand-written baseline: an id map over a raw `ws` socket, no timeouts. */
class RawClient {
  constructor(ws) {
    this.ws = ws;
    this.next = 1;
    this.pending = new Map();
    ws.on('message', (buf) => {
      const m = JSON.parse(buf);
      const p = this.pending.get(m.id);
      if (p === undefined) return;
      this.pending.delete(m.id);
      if (m.error === undefined) p.resolve(m.data);
      else if (p.as === 'plain') p.reject(m.error);
      else if (p.as === 'nostack') p.reject(withoutStack(() => new RemoteError(m.error)));
      else p.reject(new RemoteError(m.error));
    });
  }
  request(op, data, as = 'plain') {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, as });
      this.ws.send(JSON.stringify({ id, op, data }));
    });
  }
}
function withoutStack(make) {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  const e = make();
  Error.stackTraceLimit = limit;
  return e;
}
class RemoteError extends Error {
  constructor(body) {
    super(body.message);
    this.name = body.name;
    this.code = body.code;
    this.details = body.details;
  }
}

async function connect(impl) {
  if (impl === 'faultline') {
    const client = createClient({ url: cfg.faultline, WebSocket, heartbeat: false, lazy: true });
    await new Promise((resolve, reject) => {
      const off = client.onStateChange((c) => {
        if (c.current === 'open') resolve(off());
        else if (c.current === 'closed' || c.current === 'reconnecting')
          reject(new Error(`faultline client ${c.current}`));
      });
      client.connect();
    });
    return { close: () => client.close(), client };
  }
  const ws = new WebSocket(cfg.raw, { perMessageDeflate: false });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return { close: () => ws.terminate(), client: new RawClient(ws) };
}

function requester(cell, client) {
  const { impl, kind } = cell;
  if (impl === 'faultline') {
    return kind === 'request' ? () => client.request('echo', DATA) : () => client.request('fail', DATA);
  }
  if (kind === 'request') return () => client.request('echo', DATA);
  // `raw`: Error subclasses without stacks on both sides; `raw-floor`: a literal body rejected as
  // a plain object; `raw-throw`: Error subclasses with stacks on both sides.
  if (impl === 'raw') return () => client.request('fail', DATA, 'nostack');
  if (impl === 'raw-floor') return () => client.request('floor', DATA, 'plain');
  return () => client.request('throw', DATA, 'error');
}

function expected(cell, error) {
  if (cell.kind === 'request') return error === undefined;
  if (error === undefined) return false;
  return error.code === 4001 && error.name === 'NOT_FOUND';
}

async function runCell(cell) {
  const conn = await connect(cell.impl);
  const request = requester(cell, conn.client);
  const lat = new Float64Array(4_000_000);
  let n = 0;
  let completed = 0;
  let unexpected = 0;
  let first;
  const t0 = performance.now();
  const tStart = t0 + cfg.warmupMs;
  const tEnd = tStart + cfg.durationMs;
  // CPU accounting over the measured window: this process directly, the server through the
  // parent (it probes the server's process.cpuUsage() when told), so both sides get µs/request.
  const cpu = { start: null, end: null };
  const mark = (phase) => {
    cpu[phase] = process.cpuUsage();
    process.send({ mark: phase });
  };
  const t1 = setTimeout(mark, cfg.warmupMs, 'start');
  const t2 = setTimeout(mark, cfg.warmupMs + cfg.durationMs, 'end');
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
      if (!expected(cell, error)) {
        unexpected++;
        first ??= `${String(error?.name ?? 'resolved')}: ${String(error?.message ?? '')}`;
        if (unexpected > 100) throw new Error(`${cell.impl} ${cell.kind}: unexpected outcomes: ${first}`);
      }
      const f = performance.now();
      if (f >= tStart && f <= tEnd) {
        completed++;
        if (n < lat.length) lat[n++] = f - s;
      }
    }
  }
  await Promise.all(Array.from({ length: cell.window }, worker));
  clearTimeout(t1);
  clearTimeout(t2);
  if (cpu.end === null) mark('end');
  const serverCpu = await new Promise((resolve) => {
    const on = (m) => {
      if (m?.serverCpu === undefined) return;
      process.off('message', on);
      resolve(m.serverCpu);
    };
    process.on('message', on);
    process.send({ mark: 'collect' });
  });
  conn.close();
  const sorted = lat.subarray(0, n).sort();
  const pct = (p) => (n === 0 ? NaN : sorted[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))]);
  return {
    ...cell,
    rps: completed / (cfg.durationMs / 1000),
    p50: pct(50),
    p99: pct(99),
    unexpected,
    first,
    clientCpuUs:
      cpu.start && cpu.end
        ? (cpu.end.user - cpu.start.user + cpu.end.system - cpu.start.system) / completed
        : Number.NaN,
    serverCpuUs: serverCpu === null ? Number.NaN : serverCpu / completed,
  };
}

const results = [];
for (const cell of cfg.plan) {
  results.push(await runCell(cell));
  await sleep(50);
}
process.send({ results }, () => process.exit(0));
