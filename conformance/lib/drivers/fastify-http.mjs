// Driver: the `@faultline/fastify` HTTP plugin with its RPC binding (`faultlineRpc`: the same
// handler map as the socket servers, `POST /rpc/<event>` through core's engine) and the
// `@faultline/fastify/client` RPC client over fetch. Raw traffic is each response body as it arrived, read
// below the client through a wrapped `fetch`. HTTP has no connection: scenarios about drops,
// reconnects, authentication and shutdown do not apply (caps.connection is false).
import { Agent, request as httpRequest } from 'node:http';
import { DEFAULT_DECODE_LIMITS, decodeFrame } from '@faultline/core';
import { faultline, faultlineRpc, frameworkErrors, httpStatusOf } from '@faultline/fastify';
import { createRpcClient } from '@faultline/fastify/client';
import Fastify from 'fastify';
import { frameGenerator } from '../fuzz.mjs';
import { rng, sleep } from '../util.mjs';
import { Wire } from '../wire.mjs';
import { silent } from '../ws-common.mjs';

/**
 * A Fastify `loggerInstance` over a `{ error, warn }` logger: errors and warnings go through,
 * Fastify's request/response info lines are dropped.
 * @param {import('@faultline/core').Logger} logger
 */
export function fastifyLogger(logger) {
  const noop = () => {};
  const adapter = {
    level: 'warn',
    fatal: (o, m) => logger.error(o, m),
    error: (o, m) => logger.error(o, m),
    warn: (o, m) => logger.warn(o, m),
    info: noop,
    debug: noop,
    trace: noop,
    silent: noop,
    child: () => adapter,
  };
  return adapter;
}

/**
 * A `fetch` that records each exchange on a Wire.
 * @param {Wire} wire
 * @returns {typeof fetch}
 */
export function recordingFetch(wire) {
  return async (url, init) => {
    wire.attempt();
    if (typeof init?.body === 'string') wire.frame('out', init.body);
    const res = await fetch(url, init);
    const text = await res.clone().text();
    wire.frame('in', text);
    return res;
  };
}

/** @type {import('../driver.mjs').Transport} */
export const fastifyHttpTransport = {
  name: 'fastify-http',
  caps: { connection: false, closeCodes: false },
  bodyOf: (err) => err.toBody(),
  async start(opts) {
    const logger = opts.logger ?? silent;
    // As the plugin's README advises: Fastify's own early errors (a malformed URL) in the envelope.
    const app = Fastify({
      loggerInstance: /** @type {any} */ (fastifyLogger(logger)),
      bodyLimit: 1 << 20,
      frameworkErrors,
    });
    await app.register(faultline);
    // The socket servers' handler map as is; the rate limit counts per client IP (one here).
    await app.register(faultlineRpc, {
      prefix: '/rpc',
      handlers: /** @type {any} */ (opts.handlers),
      rateLimit: opts.rateLimit ?? false,
      ...(opts.errorRoute ? { errorRoute: opts.errorRoute } : {}),
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const port = /** @type {import('node:net').AddressInfo} */ (app.server.address()).port;
    const base = `http://127.0.0.1:${port}`;
    /** @type {import('../driver.mjs').Client[]} */
    const clients = [];
    const raw = new Wire();

    return {
      url: base,
      client(o = {}) {
        const wire = new Wire();
        const api = createRpcClient({
          baseUrl: base,
          path: '/rpc',
          fetch: recordingFetch(wire),
          timeoutMs: o.timeoutMs ?? 10_000,
          retries: 0,
          ...(o.reconnect ? { retry: o.reconnect } : {}),
          ...(o.budget ? { budget: o.budget } : {}),
        });
        const c = {
          request: (event, data, ro = {}) =>
            api.request(event, data, {
              retries: ro.retries ?? 0,
              ...(ro.timeoutMs ? { timeoutMs: ro.timeoutMs } : {}),
              ...(ro.idempotencyKey ? { idempotencyKey: ro.idempotencyKey } : {}),
              ...(ro.idempotent ? { idempotent: true } : {}),
            }),
          state: () => 'open',
          onStateChange: () => () => {},
          ready: async () => {},
          close: () => {},
          wire,
          errors: () => wire.errors(),
        };
        clients.push(c);
        return c;
      },
      killConnections: () => 0,
      killOne: () => false,
      failAll: () => 0,
      async shutdown() {},
      async restart() {},
      connectionCount: () => 0,
      fuzz: ({ frames, seed }) => fuzzHttp(base, { frames, seed, wire: raw }),
      incoming: () => [...raw.incoming(), ...clients.flatMap((c) => c.wire.incoming())],
      async close() {
        await app.close();
      },
    };
  },
};

const BAD_CLASS = new Set(['BAD_REQUEST', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE', 'NOT_FOUND']);

/**
 * Fuzzes the HTTP binding: generated frames as request bodies (JSON, wrong or missing content
 * types, binary), odd methods and paths. Every answer must be a 2xx or a Faultline error envelope
 * whose status matches its code; every malformed body must get a BAD_REQUEST-class error.
 * @param {string} base
 * @param {{ frames: number, seed: number, wire?: Wire, concurrency?: number }} opts
 * @returns {Promise<import('../driver.mjs').FuzzStats>}
 */
export async function fuzzHttp(base, opts) {
  const gen = frameGenerator(opts.seed);
  const r = rng(opts.seed ^ 0x1234);
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
  const one = async () => {
    const f = gen.next();
    stats.frames++;
    stats.expected++;
    const method = r.chance(0.9) ? 'POST' : r.pick(['GET', 'PUT', 'DELETE', 'PATCH']);
    const event = r.chance(0.85)
      ? r.pick(['echo', 'echo', 'echo', 'fail', 'boom'])
      : r.pick(['nope', '%zz', 'a/b', '..%2f', '']);
    const path = r.chance(0.97) ? `/rpc/${event}` : r.pick(['/', '/rpc', '/rpc/', '/x?y=%', '//rpc/echo']);
    /** @type {Record<string, string>} */
    const headers = {};
    /** @type {any} */
    let body;
    let badBody = false;
    // What Fastify's default parsers make of it: JSON (application/json), a string (text/plain,
    // which fetch also sets for a string body without a type), else 415.
    let ct = '';
    if (method === 'GET') {
      // No body.
    } else if (f.binary) {
      body = f.binary;
      ct = r.pick(['application/octet-stream', 'application/json', 'image/png', '']);
    } else {
      body = f.text;
      ct = r.chance(0.85)
        ? 'application/json'
        : r.pick(['text/plain', 'application/x-www-form-urlencoded', 'application/xml', '']);
    }
    if (ct) headers['content-type'] = ct;
    if (body !== undefined) {
      const text = f.binary ? new TextDecoder().decode(f.binary) : /** @type {string} */ (body);
      if (ct === 'application/json') {
        try {
          JSON.parse(text);
        } catch {
          badBody = true;
        }
      } else if (ct !== 'text/plain') badBody = true;
      // Content-Length 0 is no body at all: nothing to parse, nothing to refuse.
      if (text.length === 0) badBody = false;
    }
    let res;
    let text;
    try {
      ({ res, text } = await send(base + path, method, headers, body));
    } catch (e) {
      stats.unanswered++;
      sample(
        `no answer to ${method} ${path} (${ct || 'no type'}, ${f.label}, ${body?.length ?? 0} bytes): ${String(e)}`,
      );
      return;
    }
    opts.wire?.frame('in', text);
    if (res.ok) {
      if (badBody && path.startsWith('/rpc/') && event === 'echo' && method === 'POST') {
        stats.wrongAnswers++;
        sample(`malformed body answered ${res.status}: ${String(f.text ?? '<binary>').slice(0, 120)}`);
      } else stats.answered++;
      return;
    }
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      frame = undefined;
    }
    const d = frame === undefined ? undefined : decodeFrame(frame, DEFAULT_DECODE_LIMITS);
    if (!d?.ok || d.frame.type !== 'error') {
      stats.wrongAnswers++;
      sample(
        `${res.status} not an envelope: ${text.slice(0, 160)} for ${method} ${path} (${ct || 'no type'}, ${f.label}, ${body?.length ?? 0} bytes: ${String(f.text ?? '<binary>').slice(0, 80)})`,
      );
      return;
    }
    const data = d.frame.data;
    if (httpStatusOf(data.code) !== res.status) {
      stats.wrongAnswers++;
      sample(`${data.name} with status ${res.status}`);
      return;
    }
    if (badBody && !BAD_CLASS.has(data.name)) {
      stats.wrongAnswers++;
      sample(`malformed body answered ${data.name}: ${String(f.text ?? '<binary>').slice(0, 120)}`);
      return;
    }
    if (d.frame.meta?.request_id === undefined) {
      stats.wrongAnswers++;
      sample(`error without request_id: ${text.slice(0, 160)}`);
      return;
    }
    stats.answered++;
  };
  const concurrency = opts.concurrency ?? 32;
  // node:http with keep-alive: fetch's per-request overhead would dominate 100,000 requests.
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  /** @returns {Promise<{ res: { ok: boolean, status: number }, text: string }>} */
  const send = (url, method, headers, body) =>
    new Promise((resolve, reject) => {
      // An explicit length: node:http frames a DELETE body with neither length nor chunking.
      const payload = body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body) : Buffer.from(body);
      if (payload !== undefined) headers['content-length'] = String(payload.length);
      const req = httpRequest(url, { method, headers, agent, timeout: 5000 }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          resolve({ res: { ok: status >= 200 && status < 300, status }, text: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('no answer in 5 s')));
      req.on('error', reject);
      req.end(payload);
    });
  const workers = Array.from({ length: concurrency }, async () => {
    while (stats.frames < opts.frames) await one();
  });
  await Promise.all(workers);
  agent.destroy();
  await sleep(0);
  return stats;
}
