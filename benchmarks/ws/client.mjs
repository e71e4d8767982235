// Bench client child of the ws and fastify-ws suites: runs each plan of cells the parent sends
// (one repetition, interleaved), each cell on a fresh connection, with the shared closed loop (../lib/loop.mjs). One
// result per cell. `faultline` cells use the @faultline/ws client, `raw*` cells the hand-written
// id-map client below.
import { createClient } from '@faultline/ws/client';
import { WebSocket } from 'ws';
import { closedLoop, runPlan } from '../lib/loop.mjs';
import { withoutStack } from './handlers.mjs';

const cfg = JSON.parse(process.argv[2]);
process.once('disconnect', () => process.exit(0));
process.once('SIGTERM', () => process.exit(0));
setTimeout(() => process.exit(3), 600_000).unref();
const DATA = Object.freeze({ room: 'r1', text: 'hello', n: 42 });

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
  const r = await closedLoop({
    window: cell.window,
    warmupMs: cfg.warmupMs,
    durationMs: cfg.durationMs,
    request: requester(cell, conn.client),
    expected: (error) => expected(cell, error),
    label: `${cell.impl} ${cell.kind}`,
    // The server's CPU over the measured window: the parent probes it when told.
    mark: (phase) => process.send({ mark: phase }),
  });
  const { serverCpu, foreign } = await new Promise((resolve) => {
    const on = (m) => {
      if (m?.serverCpu === undefined) return;
      process.off('message', on);
      resolve(m);
    };
    process.on('message', on);
    process.send({ mark: 'collect' });
  });
  conn.close();
  return { ...cell, ...r, foreign, serverCpuUs: serverCpu === null ? Number.NaN : serverCpu / r.completed };
}

// One repetition's plan per {plan} message from the parent, answered with {results}.
process.on('message', (m) => {
  if (m?.plan === undefined) return;
  runPlan(m.plan, runCell).then(
    (results) => process.send({ results }),
    (err) => process.send({ failed: String(err?.stack ?? err) }),
  );
});
process.send({ ready: true });
