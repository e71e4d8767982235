// Driver: `@faultline/socket.io/server` attached to a Socket.IO 4 server on node:http, and the
// `@faultline/socket.io/client` over `socket.io-client` (websocket transport). Raw traffic is
// captured at the engine.io level (every `message` packet in and out), below both Faultline and
// Socket.IO's own event dispatch, so acks are captured too.
import { createServer as createHttpServer } from 'node:http';
import { DEFAULT_DECODE_LIMITS, decodeFrame } from '@faultline/core';
import { createClient } from '@faultline/socket.io/client';
import { attach, CLOSE_HEADER, ERROR_EVENT } from '@faultline/socket.io/server';
import { Server } from 'socket.io';
import { io } from 'socket.io-client';
import { frameGenerator } from '../fuzz.mjs';
import { now, rng, sleep } from '../util.mjs';
import { Wire } from '../wire.mjs';
import { silent } from '../ws-common.mjs';

/** @param {import('node:http').Server} http @param {number} port */
function listen(http, port) {
  return new Promise((resolve, reject) => {
    http.once('error', reject);
    http.listen(port, '127.0.0.1', () => {
      http.off('error', reject);
      resolve(/** @type {import('node:net').AddressInfo} */ (http.address()).port);
    });
  });
}

/**
 * Records a socket.io-client socket's traffic: engine.io message packets in both directions,
 * disconnects, and every connection attempt (`socket.connect()` calls).
 * @param {import('socket.io-client').Socket} sock
 * @param {Wire} wire
 * @param {(text: string) => boolean} [drop] sees `JSON.stringify(packet.data)` of decoded packets
 */
function record(sock, wire, drop) {
  const manager = sock.io;
  manager.on('open', () => {
    wire.open();
    const engine = manager.engine;
    engine.on('packet', (p) => {
      if (p.type === 'message')
        wire.frame('in', typeof p.data === 'string' ? p.data : `<binary ${p.data?.byteLength}>`);
    });
    engine.on('packetCreate', (p) => {
      if (p.type === 'message') wire.frame('out', typeof p.data === 'string' ? p.data : '<binary>');
    });
    // The server ends a connection with the error's close code and reason (README "Wire form"):
    // over websocket socket.io-client hands the CloseEvent over as the close's context; over
    // long-polling the context is the XMLHttpRequest whose error answer carries CLOSE_HEADER.
    engine.on('close', (reason, description) => {
      const ctx = /** @type {any} */ (description)?.context;
      let header = null;
      try {
        // xmlhttprequest-ssl throws here when the request got no answer at all.
        if (typeof ctx?.getResponseHeader === 'function') header = ctx.getResponseHeader(CLOSE_HEADER);
      } catch {}
      const polled = typeof header === 'string' ? /^(\d{4}) (.*)$/.exec(header) : null;
      if (polled) wire.close(Number(polled[1]), /** @type {string} */ (polled[2]));
      else
        wire.close(
          typeof ctx?.code === 'number' ? ctx.code : 0,
          typeof ctx?.reason === 'string' ? ctx.reason : String(reason),
        );
    });
  });
  const connect = sock.connect.bind(sock);
  sock.connect = () => {
    wire.attempt();
    return connect();
  };
  sock.open = sock.connect;
  if (drop) {
    const onpacket = sock.onpacket.bind(sock);
    /** @param {any} packet */
    sock.onpacket = (packet) => {
      if (drop(JSON.stringify(packet.data ?? null))) return;
      onpacket(packet);
    };
  }
}

/**
 * The Socket.IO driver over one engine.io transport. Over long-polling the end of a connection is
 * the HTTP error answer to the next poll, whose CLOSE_HEADER carries the close code and reason.
 * @param {'websocket' | 'polling'} engine
 * @returns {import('../driver.mjs').Transport}
 */
const socketioOver = (engine) => ({
  name: engine === 'websocket' ? 'socket.io' : 'socket.io-polling',
  caps: { connection: true, closeCodes: true },
  bodyOf: (err) => err.toBody(),
  async start(opts) {
    const engines = [engine];
    let port = 0;
    /** @type {import('node:http').Server} */
    let http;
    /** @type {Server} */
    let ioServer;
    /** @type {ReturnType<typeof attach>} */
    let fl;
    /** @type {import('../driver.mjs').Client[]} */
    const clients = [];
    const raw = new Wire();

    const boot = async () => {
      http = createHttpServer();
      ioServer = new Server(http, { transports: engines, pingInterval: 25_000, pingTimeout: 20_000 });
      fl = attach(ioServer, {
        handlers: /** @type {any} */ (opts.handlers),
        logger: opts.logger ?? silent,
        rateLimit: opts.rateLimit ?? false,
        ...(opts.errorRoute ? { errorRoute: opts.errorRoute } : {}),
        ...(opts.maxBadFrames !== undefined ? { maxBadFrames: opts.maxBadFrames } : {}),
        ...(opts.authenticate ? { authenticate: (hs) => opts.authenticate?.(hs.auth?.token) } : {}),
      });
      port = await listen(http, port);
    };
    const terminate = (s) => {
      const t = s.conn?.transport;
      if (t?.socket?.terminate) t.socket.terminate();
      else s.conn?.close();
    };
    const stop = async () => {
      for (const s of ioServer.of('/').sockets.values()) terminate(s);
      await new Promise((r) => ioServer.close(() => r(undefined)));
      http.closeAllConnections?.();
    };
    await boot();
    const url = () => `http://127.0.0.1:${port}`;

    /** @param {import('../driver.mjs').ClientOptions} [o] */
    const makeClient = (o = {}) => {
      const wire = new Wire();
      const sock = io(url(), { transports: engines, forceNew: true, autoConnect: false, reconnection: false });
      record(sock, wire, o.dropConnectionErrors ? (t) => t.startsWith(`["${ERROR_EVENT}"`) : o.dropIncoming);
      const client = createClient(sock, {
        logger: silent,
        ...(o.token ? { token: o.token } : {}),
        ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}),
        ...(o.reconnect !== undefined ? { reconnect: o.reconnect } : {}),
        ...(o.budget ? { budget: o.budget } : {}),
        errorRoute: o.errorRoute ?? (() => {}),
      });
      client.connect();
      return {
        request: (event, data, ro = {}) => client.request(event, /** @type {any} */ (data), ro),
        state: () => client.state,
        onStateChange: (fn) => client.onStateChange(fn),
        async ready() {
          const deadline = now() + 5000;
          while (client.state !== 'open') {
            if (client.state === 'closed' || now() > deadline) throw new Error(`client not open: ${client.state}`);
            await sleep(5);
          }
        },
        close: () => client.close(),
        wire,
        errors: () => wire.errors(parseSocketIoErrors),
      };
    };

    return {
      get url() {
        return url();
      },
      client(o) {
        const c = makeClient(o);
        clients.push(c);
        return c;
      },
      killConnections() {
        let n = 0;
        for (const s of ioServer.of('/').sockets.values()) {
          terminate(s);
          n++;
        }
        return n;
      },
      killOne() {
        const all = [...ioServer.of('/').sockets.values()];
        const s = all[Math.floor(Math.random() * all.length)];
        if (s) terminate(s);
        return s !== undefined;
      },
      failAll(error) {
        let n = 0;
        for (const c of [...fl.connections]) {
          fl.fail(c.socket, error);
          n++;
        }
        return n;
      },
      async shutdown({ windowMs, graceMs = 500 }) {
        await fl.close({ windowMs, graceMs });
      },
      async restart({ downMs = 0 } = {}) {
        await stop();
        if (downMs > 0) await sleep(downMs);
        await boot();
      },
      connectionCount: () => fl.connections.size,
      fuzz: ({ frames, seed }) => fuzzSocketIo(url(), { frames, seed, wire: raw, transports: engines }),
      incoming: () => [...raw.incoming(), ...clients.flatMap((c) => c.wire.incoming())],
      async close() {
        for (const c of clients) c.close();
        await stop();
      },
    };
  },
});

/** Socket.IO over WebSocket only. */
export const socketioTransport = socketioOver('websocket');
/** Socket.IO over HTTP long-polling only. */
export const socketioPollingTransport = socketioOver('polling');

/**
 * Error bodies in one socket.io packet as engine.io carries it (`<type>[<id>]<json>`): an ack
 * `(body, null, meta)`, the `$faultline:error` event `(body, meta)`, or a CONNECT_ERROR's `data`.
 * @param {string} text
 */
export function parseSocketIoErrors(text) {
  const m = /^([0-6])(?:\d+-)?(?:\/[^,]*,)?(\d*)([[{].*)?$/s.exec(text);
  if (!m || m[3] === undefined) return [];
  let v;
  try {
    v = JSON.parse(m[3]);
  } catch {
    return [];
  }
  const type = m[1];
  if (type === '3' && Array.isArray(v) && v[0] !== null && v[0] !== undefined) return [{ data: v[0], meta: v[2] }];
  if (type === '2' && Array.isArray(v) && v[0] === ERROR_EVENT) return [{ data: v[1], meta: v[2] }];
  if (type === '4' && v && typeof v === 'object' && v.data) return [{ data: v.data, meta: undefined }];
  return [];
}

const BAD_CLASS = new Set(['BAD_REQUEST', 'PAYLOAD_TOO_LARGE']);

/** Engine.io message payloads that are no valid Socket.IO packet. */
const MALFORMED = ['2{"event":"echo"}', '9', '2[', '21x["echo"]', '2[null,1]', '2"echo"', '2[{"a":1}]'];
const FUZZ_HANDLERS = new Set(['echo', 'fail', 'boom']);

/**
 * What the Socket.IO binding requires for one emitted request (README "Wire form"): mirrors the
 * ws frame rules on `{ type: 'request', event, data, meta }`, with a generated `request_id` when
 * the client sent none.
 * @param {unknown} event @param {unknown} data @param {unknown} meta
 */
function sioExpectation(event, data, meta) {
  let m = meta;
  if (meta === undefined || meta === null) m = { request_id: 'generated' };
  else if (typeof meta === 'object' && !Array.isArray(meta) && /** @type {any} */ (meta).request_id === undefined) {
    m = { ...meta, request_id: 'generated' };
  }
  const d = decodeFrame({ type: 'request', event, data, meta: m }, DEFAULT_DECODE_LIMITS);
  return d.ok ? 'reply' : 'bad';
}

/**
 * Fuzzes a Socket.IO endpoint through a raw socket.io-client: each generated frame becomes
 * `emit(event, data, meta?, ack)` (requests) or `emit(event, data)` (everything else), so hostile
 * event names, data and meta reach the adapter exactly as Socket.IO delivers them. Some frames are
 * also written as raw engine.io messages (malformed Socket.IO packets), which Socket.IO's parser
 * answers by closing the connection.
 * @param {string} url
 * @param {{ frames: number, seed: number, wire?: Wire, batch?: number, transports?: ('websocket' | 'polling')[] }} opts
 * @returns {Promise<import('../driver.mjs').FuzzStats>}
 */
export async function fuzzSocketIo(url, opts) {
  const gen = frameGenerator(opts.seed);
  const batchSize = opts.batch ?? 64;
  const stats = {
    frames: 0,
    expected: 0,
    answered: 0,
    wrongAnswers: 0,
    unanswered: 0,
    closes: 0,
    badCloses: 0,
    samples: /** @type {string[]} */ ([]),
    /** Deviations already reported, counted apart. @type {Record<string, number>} */
    known: {},
  };
  const sample = (s) => {
    if (stats.samples.length < 12) stats.samples.push(s.slice(0, 400));
  };
  /** @type {import('socket.io-client').Socket} */
  let sock;
  /** @type {any[]} */
  let serverErrors = [];
  let disconnected = false;
  const connect = async () => {
    sock = io(url, { transports: opts.transports ?? ['websocket'], forceNew: true, reconnection: false });
    disconnected = false;
    sock.on(ERROR_EVENT, (body, meta) => {
      opts.wire?.frame('in', JSON.stringify([ERROR_EVENT, body, meta]));
      serverErrors.push({ body, meta });
    });
    sock.on('disconnect', () => {
      disconnected = true;
    });
    const deadline = now() + 5000;
    while (!sock.connected) {
      if (now() > deadline) throw new Error('fuzz: socket.io did not connect in 5 s');
      await sleep(2);
    }
  };
  await connect();
  const garbage = rng(opts.seed ^ 0x510);
  const shape = rng(opts.seed ^ 0x77);
  while (stats.frames < opts.frames) {
    const n = Math.min(batchSize, opts.frames - stats.frames);
    serverErrors = [];
    /** @type {Promise<void>[]} */
    const acks = [];
    let idless = 0;
    const s = sock;
    for (let i = 0; i < n; i++) {
      const f = gen.next();
      stats.frames++;
      const v = /** @type {any} */ (f.value);
      if (f.label === 'garbage' || f.label === 'binary' || typeof v !== 'object' || v === null || Array.isArray(v)) {
        // Not an object: sent as the data of a request, which must be answered.
        const data = f.label === 'garbage' ? f.text : v;
        stats.expected++;
        acks.push(expectAck(s, 'echo', [data], sioExpectation('echo', data, undefined), `${f.label} as data`));
        continue;
      }
      const { event, data, meta } = v;
      if (typeof event === 'number' || typeof event === 'string') {
        if (
          event === '' ||
          ['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener'].includes(
            /** @type {string} */ (event),
          )
        )
          continue;
        if (v.type === 'request' && shape.chance(0.02)) {
          // Too many arguments: `emit(event, data, meta, extra, ack)` must get BAD_REQUEST.
          stats.expected++;
          acks.push(expectAck(s, event, [data ?? null, meta ?? null, 'extra'], 'bad', `${f.label}+extra-arg`));
        } else if (v.type === 'request') {
          stats.expected++;
          const args = meta === undefined ? [data ?? null] : [data ?? null, meta];
          acks.push(expectAck(s, event, args, sioExpectation(event, data ?? null, meta), f.label));
        } else if (typeof event === 'string' && FUZZ_HANDLERS.has(event)) {
          // A request event without an ack: BAD_REQUEST (missing_ack) on the error event.
          stats.expected++;
          idless++;
          s.emit(event, data ?? null);
        } else {
          s.emit(/** @type {any} */ (event), data ?? null);
        }
      } else {
        // A non-string event name: what the adapter must answer when given an ack.
        stats.expected++;
        acks.push(
          expectAck(s, /** @type {any} */ (String(event)), [data ?? null, meta ?? null], 'bad-or-reply', f.label),
        );
      }
    }
    await Promise.all(acks);
    // Barrier: the server answers events in order; the $ping ack comes after earlier error events.
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, 5000);
      s.timeout(5000).emit('$ping', () => {
        clearTimeout(timer);
        resolve(undefined);
      });
    });
    const got = serverErrors.length;
    for (const e of serverErrors) {
      if (!BAD_CLASS.has(e.body?.name)) {
        stats.wrongAnswers++;
        sample(`error event not BAD_REQUEST-class: ${JSON.stringify(e)}`);
      }
    }
    if (disconnected) {
      stats.closes++;
      await connect();
    } else {
      stats.answered += Math.min(got, idless);
      if (got < idless) {
        stats.unanswered += idless - got;
        sample(`${idless - got} request events without ack got no error event`);
      }
    }
    // Collect ack outcomes.
    for (const a of acks) {
      const res = /** @type {any} */ (await a);
      if (res.ok) stats.answered++;
      else if (res.missing) {
        if (!disconnected) {
          stats.unanswered++;
          sample(res.why);
        }
      } else {
        stats.wrongAnswers++;
        sample(res.why);
      }
    }
    // Now and then a malformed Socket.IO packet, written below socket.io-client: Socket.IO's
    // parser refuses it and closes the connection (its mapped close); the server must live on.
    if (!disconnected && garbage.chance(0.1) && stats.frames < opts.frames) {
      const engine = /** @type {any} */ (sock.io).engine;
      engine.write(garbage.pick(MALFORMED));
      stats.frames++;
      stats.expected++;
      const deadline = now() + 2000;
      while (!disconnected && now() < deadline) await sleep(2);
      if (disconnected) {
        stats.answered++;
        stats.closes++;
      } else {
        stats.unanswered++;
        sample('malformed Socket.IO packet neither refused nor closed');
      }
      await connect();
    }
  }
  sock.disconnect();
  return stats;

  /**
   * Emits with an ack and checks its arguments: `(null, data?)` or `(body, null, meta)`.
   * @returns {Promise<{ ok: boolean, missing?: boolean, why: string }>}
   */
  function expectAck(s, event, args, want, label, timeoutMs = 5000) {
    return new Promise((resolve) => {
      s.timeout(timeoutMs).emit(event, ...args, (err, body, _data, meta) => {
        if (err) {
          resolve({
            ok: false,
            missing: true,
            why: `no ack for ${label} ${String(event).slice(0, 40)} ${JSON.stringify(args).slice(0, 120)}`,
          });
          return;
        }
        opts.wire?.frame('in', JSON.stringify([body, _data, meta]));
        if (body === null || body === undefined) {
          if (want === 'bad') {
            resolve({
              ok: false,
              why: `bad request ${label} ${JSON.stringify([event, ...args]).slice(0, 160)} answered with success`,
            });
          } else resolve({ ok: true, why: '' });
          return;
        }
        const checked = decodeFrame({ type: 'error', data: body, meta: meta ?? {} });
        if (!checked.ok) {
          resolve({ ok: false, why: `malformed error ack ${JSON.stringify(body).slice(0, 160)}` });
          return;
        }
        if (want === 'bad' && !BAD_CLASS.has(body.name)) {
          resolve({
            ok: false,
            why: `bad request ${label} answered ${body.name}: ${JSON.stringify([event, ...args]).slice(0, 160)}`,
          });
          return;
        }
        resolve({ ok: true, why: '' });
      });
    });
  }
}
