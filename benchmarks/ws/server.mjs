// Bench server child: a Faultline server and a hand-written raw `ws` server in one process (pinned
// to one CPU by the parent), each on its own 127.0.0.1 port. Reports {ready, faultline, raw} over IPC.
import { silentLogger } from '@faultline/core';
import { createServer } from '@faultline/ws/server';
import { WebSocketServer } from 'ws';
import { faultlineHandlers, rawConnection } from './handlers.mjs';

const HOST = '127.0.0.1';
process.once('disconnect', () => process.exit(0));
process.once('SIGTERM', () => process.exit(0));
setTimeout(() => process.exit(3), 300_000).unref();

const listen = (wss) =>
  new Promise((resolve, reject) => {
    wss.once('listening', () => resolve(wss.address().port));
    wss.once('error', reject);
  });

// ---------------------------------------------------------------- Faultline
// Heartbeat off and no rate limit: the bench measures the request path, not those features.
const faultline = createServer({ heartbeatMs: 0, rateLimit: false, logger: silentLogger, handlers: faultlineHandlers });
const fwss = new WebSocketServer({ host: HOST, port: 0, perMessageDeflate: false });
faultline.attach(fwss);

// ---------------------------------------------------------------- raw ws (./handlers.mjs)
const rwss = new WebSocketServer({ host: HOST, port: 0, perMessageDeflate: false });
rwss.on('connection', rawConnection);

const [fport, rport] = await Promise.all([listen(fwss), listen(rwss)]);
process.send({ ready: true, faultline: `ws://${HOST}:${fport}`, raw: `ws://${HOST}:${rport}` });
process.on('message', (m) => {
  if (m?.probe) process.send({ probe: m.probe, cpu: process.cpuUsage() });
});
