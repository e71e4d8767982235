// Bench client child: runs the parent's plan of cells (interleaved), each on a fresh connection:
// a closed loop of `window` requests in flight, warm-up, then a measured window. One result per cell.
import { createClient } from '@faultline/socket.io/client';
import { io } from 'socket.io-client';

const cfg = JSON.parse(process.argv[2]);
process.once('disconnect', () => process.exit(0));
setTimeout(() => process.exit(3), 300_000).unref();
const DATA = Object.freeze({ room: 'r1', text: 'hello', n: 42 });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class RemoteError extends Error {
  constructor(body) {
    super(body.message);
    this.name = body.name;
    this.code = body.code;
    this.details = body.details;
  }
}

async function connect(url) {
  const socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true });
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  return socket;
}

function requester(cell, socket) {
  if (cell.impl === 'faultline') {
    const client = createClient(socket, { reconnect: false, timeoutMs: 10_000 });
    const event = cell.kind === 'request' ? 'echo' : 'fail';
    return () => client.request(event, DATA);
  }
  // Native: emitWithAck, optionally with Socket.IO's own timeout; errors come back as values.
  const send =
    cell.impl === 'native+timeout'
      ? (event) => socket.timeout(10_000).emitWithAck(event, DATA)
      : (event) => socket.emitWithAck(event, DATA);
  if (cell.kind === 'request') return () => send('echo');
  return () =>
    send('fail').then((res) => {
      if (res !== null && typeof res === 'object' && res.error !== undefined) throw new RemoteError(res.error);
      return res;
    });
}

function expected(cell, error) {
  if (cell.kind === 'request') return error === undefined;
  return error !== undefined && error.code === 4001 && error.name === 'NOT_FOUND';
}

async function runCell(cell) {
  const socket = await connect(cell.impl === 'faultline' ? cfg.faultline : cfg.native);
  const request = requester(cell, socket);
  const lat = new Float64Array(2_000_000);
  let n = 0;
  let completed = 0;
  let unexpected = 0;
  let first;
  const t0 = performance.now();
  const tStart = t0 + cfg.warmupMs;
  const tEnd = tStart + cfg.durationMs;
  let cpu0 = null;
  const index = cfg.plan.indexOf(cell);
  // At the start and end of the measured window: our CPU, and a probe of the server's (by the parent).
  const timer = setTimeout(() => {
    cpu0 = process.cpuUsage();
    process.send({ mark: 'start', index });
  }, cfg.warmupMs);
  const endTimer = setTimeout(() => process.send({ mark: 'end', index }), cfg.warmupMs + cfg.durationMs);
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
  clearTimeout(timer);
  clearTimeout(endTimer);
  const cpu = cpu0 ? process.cpuUsage(cpu0) : null;
  socket.disconnect();
  const sorted = lat.subarray(0, n).sort();
  const pct = (p) => (n === 0 ? Number.NaN : sorted[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))]);
  return {
    ...cell,
    rps: completed / (cfg.durationMs / 1000),
    p50: pct(50),
    p99: pct(99),
    unexpected,
    first,
    clientCpuUsPerReq: cpu ? (cpu.user + cpu.system) / completed : null,
  };
}

const results = [];
for (const cell of cfg.plan) {
  results.push(await runCell(cell));
  await sleep(50);
}
process.send({ results }, () => process.exit(0));
