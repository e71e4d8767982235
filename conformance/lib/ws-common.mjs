// What the two WebSocket transports (`@faultline/ws` and `@faultline/fastify` websocket routes)
// share on the client side: the Faultline ws client over a recording `ws` socket, and the raw
// text-frame fuzzer.
import { createClient } from '@faultline/ws/client';
import WebSocket from 'ws';
import { expectation, frameGenerator } from './fuzz.mjs';
import { now, sleep } from './util.mjs';
import { Wire } from './wire.mjs';

/**
 * A WHATWG-shaped WebSocket over `ws` that records every frame, close and attempt on a Wire, and
 * can drop incoming frames before the Faultline client sees them.
 * @param {Wire} wire
 * @param {(text: string) => boolean} [drop]
 */
export function recordingWebSocket(wire, drop) {
  return class RecordingWebSocket {
    /** @param {string} url @param {string | string[]} [protocols] */
    constructor(url, protocols) {
      wire.attempt();
      this.onopen = null;
      this.onmessage = null;
      this.onclose = null;
      this.onerror = null;
      const ws = new WebSocket(url, protocols);
      this.ws = ws;
      ws.on('open', () => {
        wire.open();
        this.onopen?.({});
      });
      ws.on('message', (data, isBinary) => {
        const text = isBinary ? data : data.toString('utf8');
        wire.frame('in', text);
        if (drop && typeof text === 'string' && drop(text)) return;
        this.onmessage?.({ data: text });
      });
      ws.on('close', (code, reason) => {
        const r = reason.toString('utf8');
        wire.close(code, r);
        this.onclose?.({ code, reason: r });
      });
      ws.on('error', (e) => this.onerror?.(e));
    }
    get readyState() {
      return this.ws.readyState;
    }
    /** @param {string} data */
    send(data) {
      wire.frame('out', data);
      this.ws.send(data);
    }
    /** @param {number} [code] @param {string} [reason] */
    close(code, reason) {
      this.ws.close(code, reason);
    }
    terminate() {
      this.ws.terminate();
    }
  };
}

/** @type {import('@faultline/core').Logger} */
export const silent = { error() {}, warn() {} };

/**
 * A Faultline ws client, as the scenarios drive it.
 * @param {string} url
 * @param {import('./driver.mjs').ClientOptions} [opts]
 * @returns {import('./driver.mjs').Client}
 */
export function wsClient(url, opts = {}) {
  const wire = new Wire();
  const drop = opts.dropConnectionErrors ? isConnectionError : opts.dropIncoming;
  const client = createClient({
    url,
    WebSocket: /** @type {any} */ (recordingWebSocket(wire, drop)),
    heartbeat: false,
    logger: silent,
    ...(opts.token ? { token: opts.token } : {}),
    ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
    ...(opts.reconnect !== undefined ? { reconnect: opts.reconnect } : {}),
    ...(opts.budget ? { budget: opts.budget } : {}),
    ...(opts.errorRoute ? { errorRoute: opts.errorRoute } : { errorRoute: () => {} }),
  });
  return {
    request: (event, data, o = {}) => client.request(event, /** @type {any} */ (data), o),
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
    errors: () => wire.errors(),
  };
}

/** An error frame without a request id: a connection-level error. @param {string} text */
function isConnectionError(text) {
  try {
    const v = JSON.parse(text);
    return v?.type === 'error' && v.meta?.request_id === undefined;
  } catch {
    return false;
  }
}

/**
 * Opens a raw `ws` socket and waits for it (bounded).
 * @param {string} url
 */
function openRaw(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { maxPayload: 8 << 20 });
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error('raw socket did not open in 5 s'));
    }, 5000);
    ws.once('open', () => {
      clearTimeout(timer);
      resolve(ws);
    });
    ws.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

const BAD_CLASS = new Set(['BAD_REQUEST', 'PAYLOAD_TOO_LARGE']);

/**
 * Fuzzes a Faultline WebSocket endpoint with raw text and binary frames, in batches closed by a
 * `$ping` barrier, and checks each answer against the protocol's requirement.
 * @param {string} url
 * @param {{ frames: number, seed: number, wire?: Wire, batch?: number, maxFrameBytes?: number }} opts
 * @returns {Promise<import('./driver.mjs').FuzzStats>}
 */
export async function fuzzWebSocket(url, opts) {
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
    known: {},
  };
  const sample = (s) => {
    if (stats.samples.length < 12) stats.samples.push(s.slice(0, 400));
  };
  /** @type {WebSocket | undefined} */
  let ws;
  /** Answers of the current batch. */
  /** @type {any[]} */
  let answers = [];
  let closedWith = /** @type {number | undefined} */ (undefined);
  let barrier = 0;

  const connect = async () => {
    ws = await openRaw(url);
    closedWith = undefined;
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? `<binary ${data.length}>` : data.toString('utf8');
      opts.wire?.frame('in', text);
      try {
        answers.push(JSON.parse(text));
      } catch {
        answers.push({ unparsable: text });
      }
    });
    ws.on('close', (code, reason) => {
      closedWith = code;
      opts.wire?.close(code, reason.toString('utf8'));
    });
    ws.on('error', () => {});
  };
  await connect();

  /** A frame held back for the next batch (its id collided with one in the current batch). */
  let carried;
  while (stats.frames < opts.frames) {
    const n = Math.min(batchSize, opts.frames - stats.frames);
    answers = [];
    const socket = /** @type {WebSocket} */ (ws);
    /** @type {Map<string, { exp: any, frame: any }>} */
    const byId = new Map();
    let idless = 0;
    const idlessLabels = [];
    for (let i = 0; i < n; i++) {
      const f = carried ?? gen.next();
      carried = undefined;
      const exp = expectation(f, { maxFrameBytes: opts.maxFrameBytes });
      // A mutation can turn one id into another already in flight: answers are matched by id,
      // so that frame waits for the next batch.
      if (exp.answer !== 'none' && exp.id !== undefined && byId.has(exp.id)) {
        carried = f;
        break;
      }
      if (exp.answer !== 'none') {
        stats.expected++;
        if (exp.id !== undefined) byId.set(exp.id, { exp, frame: f });
        else {
          idless++;
          idlessLabels.push(f.label);
        }
      }
      if (f.binary) socket.send(f.binary, { binary: true });
      else socket.send(/** @type {string} */ (f.text));
      stats.frames++;
    }
    const barrierId = `barrier-${++barrier}`;
    socket.send(JSON.stringify({ type: 'request', event: '$ping', meta: { request_id: barrierId } }));
    // Wait for the barrier and every answer that carries an id (bounded).
    const deadline = now() + 5000;
    const seen = () => answers.filter((a) => a?.meta?.request_id !== undefined && byId.has(a.meta.request_id)).length;
    while (now() < deadline && closedWith === undefined) {
      if (answers.some((a) => a?.meta?.request_id === barrierId) && seen() >= byId.size) break;
      await sleep(1);
    }
    // Check the batch.
    const got = new Map();
    let idlessGot = 0;
    for (const a of answers) {
      if (a?.meta?.request_id === barrierId) continue;
      if (a.unparsable !== undefined || (a.type !== 'error' && a.type !== 'response')) {
        stats.wrongAnswers++;
        sample(`unexpected answer ${JSON.stringify(a)}`);
        continue;
      }
      const rid = a.meta?.request_id;
      if (rid === undefined) {
        idlessGot++;
        if (a.type !== 'error' || !BAD_CLASS.has(a.data?.name)) {
          stats.wrongAnswers++;
          sample(`id-less answer not BAD_REQUEST-class: ${JSON.stringify(a)}`);
        }
        continue;
      }
      const want = byId.get(rid);
      if (want === undefined) {
        stats.wrongAnswers++;
        sample(`answer to an id that needs none: ${JSON.stringify(a).slice(0, 200)}`);
        continue;
      }
      if (got.has(rid)) {
        stats.wrongAnswers++;
        sample(`second answer to ${rid}`);
        continue;
      }
      got.set(rid, a);
      const exp = want.exp;
      if (exp.answer === 'bad' && !(a.type === 'error' && exp.names.includes(a.data?.name))) {
        stats.wrongAnswers++;
        sample(
          `bad frame (${want.frame.label}) answered ${JSON.stringify(a).slice(0, 200)} to ${String(want.frame.text).slice(0, 120)}`,
        );
      } else if (exp.answer === 'reply' && exp.event === '$ping' && a.type !== 'response') {
        stats.wrongAnswers++;
        sample(`$ping answered ${JSON.stringify(a)}`);
      } else {
        stats.answered++;
      }
    }
    const missingIds = [...byId.keys()].filter((id) => !got.has(id));
    const idlessAnswered = Math.min(idless, idlessGot);
    stats.answered += idlessAnswered;
    // A close for abuse sends one more id-less error first (PROTOCOL.md §6).
    if (idlessGot > idless && closedWith === undefined) {
      stats.wrongAnswers += idlessGot - idless;
      sample(`${idlessGot - idless} extra id-less errors`);
    }
    const missing = missingIds.length + (idless - idlessAnswered);
    if (closedWith !== undefined) {
      stats.closes++;
      if (closedWith !== 4000 && closedWith !== 1009) {
        stats.badCloses++;
        sample(`closed with ${closedWith}`);
      }
      // Frames after the close were never read by the server: not the server's fault.
      await connect();
    } else if (missing > 0) {
      stats.unanswered += missing;
      sample(
        `unanswered: ${missingIds
          .slice(0, 3)
          .map((id) => `${id} ${String(byId.get(id)?.frame.text).slice(0, 100)}`)
          .join(' | ')}; id-less missing ${idless - idlessAnswered} ${idlessLabels.join(',')}`,
      );
    }
  }
  ws?.close();
  return stats;
}
