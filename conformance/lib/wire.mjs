// Raw wire capture and the leak scan. A `Wire` records what crossed the wire between a server and
// its clients, as text, in both directions, plus closes and connection attempts. Drivers fill it
// from below the Faultline client (a recording WebSocket, socket.io-client's packet hooks, the
// raw HTTP body), so what is scanned is what a peer would really see.

/** Secrets planted in server-side errors; none may ever reach a client. */
export const SECRETS = Object.freeze([
  'hunter2',
  '10.0.0.5',
  's3cr3t-sql',
  'SELECT * FROM users',
  'tok-SECRET-123',
  'authorization',
  'Bearer ',
  'cause-secret-77',
  'string-thrown-secret',
  'async-secret-42',
  'getter-secret',
  'enumerable-secret',
]);

/** Stack frames and file paths: the shapes of internals. */
export const LEAK_PATTERNS = Object.freeze([
  { name: 'stack frame', re: /at .* \(/ },
  { name: 'file path', re: /\/[\w.-]+\.(ts|js|mjs)\b/ },
]);

/**
 * @typedef {{ dir: 'in' | 'out', text: string, at: number, client?: number }} WireFrame
 * @typedef {{ code: number, reason: string, at: number, client?: number }} WireClose
 */

/** A record of raw traffic. `in` is server → client. */
export class Wire {
  constructor() {
    /** @type {WireFrame[]} */
    this.frames = [];
    /** @type {WireClose[]} */
    this.closes = [];
    /** Connection attempts (socket constructions / engine opens), epoch-free monotonic ms. */
    /** @type {number[]} */
    this.attempts = [];
    /** Successful opens. @type {number[]} */
    this.opens = [];
  }

  /** @param {'in' | 'out'} dir @param {unknown} data */
  frame(dir, data) {
    const text = typeof data === 'string' ? data : safeText(data);
    this.frames.push({ dir, text, at: performance.now() });
  }

  /** @param {number} code @param {string} reason */
  close(code, reason) {
    this.closes.push({ code, reason, at: performance.now() });
  }

  attempt() {
    this.attempts.push(performance.now());
  }

  open() {
    this.opens.push(performance.now());
  }

  /** Server → client texts. */
  incoming() {
    return this.frames.filter((f) => f.dir === 'in').map((f) => f.text);
  }

  /**
   * Parsed error bodies that came in, with their meta, whatever the framing: a ws error frame, a
   * socket.io ack or `$faultline:error` argument list, an HTTP body. Drivers that frame
   * differently register a parser with `errorsOf`.
   * @param {(text: string) => { data: any, meta: any }[]} [parse]
   */
  errors(parse = parseErrorFrames) {
    return this.incoming().flatMap((t) => parse(t));
  }
}

/** @param {unknown} data */
function safeText(data) {
  if (typeof data === 'string') return data;
  if (data instanceof Uint8Array || Buffer.isBuffer(data)) return Buffer.from(data).toString('utf8');
  try {
    return JSON.stringify(data) ?? String(data);
  } catch {
    return String(data);
  }
}

/** Error frames in a text that is one Faultline JSON frame. @param {string} text */
export function parseErrorFrames(text) {
  try {
    const v = JSON.parse(text);
    if (v && typeof v === 'object' && v.type === 'error') return [{ data: v.data, meta: v.meta }];
  } catch {
    // Not JSON: not an error frame.
  }
  return [];
}

/**
 * Scans texts for stack frames, file paths and planted secrets.
 * @param {Iterable<string>} texts
 * @param {readonly string[]} [secrets]
 * @returns {{ hits: number, samples: { what: string, text: string }[], scanned: number }}
 */
export function scanForLeaks(texts, secrets = SECRETS) {
  let hits = 0;
  let scanned = 0;
  /** @type {{ what: string, text: string }[]} */
  const samples = [];
  for (const text of texts) {
    scanned++;
    for (const { name, re } of LEAK_PATTERNS) {
      if (re.test(text)) {
        hits++;
        if (samples.length < 10) samples.push({ what: name, text: text.slice(0, 300) });
      }
    }
    for (const s of secrets) {
      if (text.includes(s)) {
        hits++;
        if (samples.length < 10) samples.push({ what: `secret ${s}`, text: text.slice(0, 300) });
      }
    }
  }
  return { hits, samples, scanned };
}
