// Bench client child: runs the parent's plan of cells (interleaved), each on a fresh connection,
// with the shared closed loop (../lib/loop.mjs). One result per cell.
import { createClient } from '@faultline/socket.io/client';
import { io } from 'socket.io-client';
import { closedLoop, runPlan } from '../lib/loop.mjs';

const cfg = JSON.parse(process.argv[2]);
process.once('disconnect', () => process.exit(0));
process.once('SIGTERM', () => process.exit(0));
setTimeout(() => process.exit(3), 300_000).unref();
const DATA = Object.freeze({ room: 'r1', text: 'hello', n: 42 });

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
  const index = cfg.plan.indexOf(cell);
  const r = await closedLoop({
    window: cell.window,
    warmupMs: cfg.warmupMs,
    durationMs: cfg.durationMs,
    request: requester(cell, socket),
    expected: (error) => expected(cell, error),
    label: `${cell.impl} ${cell.kind}`,
    // At the start and end of the measured window the parent probes the server's CPU.
    mark: (phase) => process.send({ mark: phase, index }),
  });
  socket.disconnect();
  return { ...cell, ...r, clientCpuUsPerReq: r.clientCpuUs };
}

const results = await runPlan(cfg.plan, runCell);
process.send({ results }, () => process.exit(0));
