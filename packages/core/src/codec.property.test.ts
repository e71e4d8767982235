/**
 * Property-based tests of the codec: valid frames round-trip, hostile input never throws and is
 * always answered with BAD_REQUEST or PAYLOAD_TOO_LARGE, and everything the codec lets through
 * or produces matches schema.json.
 */
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Category,
  type DecodeResult,
  decodeFrame,
  defineCodes,
  type ErrorBody,
  type Executed,
  encodeFrame,
  errorFrame,
  FaultlineError,
  type Frame,
  type Json,
  type Recovery,
  toErrorBody,
} from './index.js';

const schema = JSON.parse(readFileSync(new URL('../schema.json', import.meta.url), 'utf8')) as object;
// strictNumbers off: JSON text such as 1e400 is a valid number that JSON.parse makes Infinity.
const ajv = new Ajv2020({ strict: true, strictNumbers: false, allowUnionTypes: true });
const validate = ajv.compile(schema);

function expectSchemaValid(value: unknown): void {
  if (!validate(value)) {
    throw new Error(`schema.json refuses ${JSON.stringify(value).slice(0, 500)}: ${ajv.errorsText(validate.errors)}`);
  }
}

const FORBIDDEN = ['__proto__', 'constructor', 'prototype'];

// ------------------------------------------------------------------ valid frames

const anyString = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 20 }));
const safeKey = anyString.filter((k) => !FORBIDDEN.includes(k));
const id = fc
  .oneof(fc.string({ minLength: 1, maxLength: 128 }), fc.string({ unit: 'binary', minLength: 1, maxLength: 64 }))
  .filter((s) => s.length <= 128);
const finite = fc.double({ noNaN: true, noDefaultInfinity: true });

const { json } = fc.letrec<{ json: Json }>((tie) => ({
  json: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    finite,
    fc.integer(),
    anyString,
    fc.array(tie('json'), { maxLength: 4 }),
    fc.dictionary(safeKey, tie('json'), { maxKeys: 4 }),
  ),
}));
const jsonObject = fc.dictionary(safeKey, json, { maxKeys: 4 });

const category = fc.constantFrom<Category>('connection', 'application', 'transport');
const recovery = fc.constantFrom<Recovery>('retry', 'reconnect', 'reauthenticate', 'none');
const executed = fc.constantFrom<Executed>('no', 'maybe', 'yes');

function errorBody(causes: number): fc.Arbitrary<ErrorBody> {
  return fc.record(
    {
      code: fc.integer(),
      name: anyString,
      message: anyString,
      category,
      recoverable: fc.boolean(),
      recovery,
      retry_after_ms: fc.oneof(fc.nat(), fc.double({ min: 0, noNaN: true, noDefaultInfinity: true })),
      executed,
      details: jsonObject,
      ...(causes > 0 ? { cause: errorBody(causes - 1) } : {}),
    },
    { requiredKeys: ['code', 'name', 'message', 'category', 'recoverable', 'recovery'] },
  ) as fc.Arbitrary<ErrorBody>;
}

const v = fc.option(fc.constant(1 as const), { nil: undefined });
const withV = <T extends object>(frame: T, version: 1 | undefined): T =>
  version === undefined ? frame : { ...frame, v: version };
const optional = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
const strip = <T extends object>(o: T): T =>
  Object.fromEntries(Object.entries(o).filter(([, value]) => value !== undefined)) as T;

const requestFrame = fc
  .record({
    event: id,
    data: optional(json),
    meta: fc.record(
      {
        request_id: id,
        idempotency_key: id,
        timeout_ms: fc.double({ min: Number.MIN_VALUE, noNaN: true, noDefaultInfinity: true }),
      },
      { requiredKeys: ['request_id'] },
    ),
    v,
  })
  .map(({ v: version, ...f }) => withV(strip({ type: 'request' as const, ...f }), version));

const responseFrame = fc
  .record({ data: optional(json), request_id: id, v })
  .map(({ data, request_id, v: version }) =>
    withV(strip({ type: 'response' as const, data, meta: { request_id } }), version),
  );

const errorFrameArb = fc
  .record({ data: errorBody(4), request_id: optional(id), timestamp: optional(fc.date({ noInvalidDate: true })), v })
  .map(({ data, request_id, timestamp, v: version }) =>
    withV({ type: 'error' as const, data, meta: strip({ request_id, timestamp: timestamp?.toISOString() }) }, version),
  );

const eventFrame = fc
  .record({ event: id, data: optional(json), v })
  .map(({ v: version, ...f }) => withV(strip({ type: 'event' as const, ...f }), version));

const validFrame: fc.Arbitrary<Frame> = fc.oneof(
  requestFrame,
  responseFrame,
  errorFrameArb,
  eventFrame,
) as fc.Arbitrary<Frame>;

// ------------------------------------------------------------------ hostile input

/** JSON text of objects that may hold hostile or protocol keys (as own keys, as JSON.parse makes them). */
const hostileKey = fc.oneof(
  fc.constantFrom(...FORBIDDEN, 'type', 'meta', 'request_id', 'data', 'event', 'code', 'v', 'cause', 'details'),
  anyString,
);
const { text: hostileText } = fc.letrec<{ text: string }>((tie) => ({
  text: fc.oneof(
    { depthSize: 'small' },
    json.map((j) => JSON.stringify(j)),
    fc.constantFrom('"request"', '"response"', '"error"', '"event"', '1', '-0', '1e400', '"__proto__"', 'null'),
    fc.array(tie('text'), { maxLength: 4 }).map((items) => `[${items.join(',')}]`),
    fc
      .array(fc.tuple(hostileKey, tie('text')), { maxLength: 5 })
      .map((entries) => `{${entries.map(([k, val]) => `${JSON.stringify(k)}:${val}`).join(',')}}`),
  ),
}));

type Path = (string | number)[];
function paths(value: unknown, prefix: Path = [], out: Path[] = []): Path[] {
  out.push(prefix);
  if (typeof value === 'object' && value !== null) {
    for (const key of Object.keys(value)) paths((value as Record<string, unknown>)[key], [...prefix, key], out);
  }
  return out;
}

/** A valid frame with one part replaced, removed or renamed: the inputs a decoder must judge field by field. */
const mutatedFrame = fc
  .tuple(
    validFrame,
    fc.nat(),
    fc.constantFrom('set', 'delete', 'rename', 'wrap', 'hostile'),
    fc.jsonValue(),
    hostileKey,
  )
  .map(([frame, pick, action, replacement, key]) => {
    const copy = JSON.parse(JSON.stringify(frame)) as Record<string, unknown>;
    const all = paths(copy).filter((p) => p.length > 0);
    const path = all[pick % all.length] as Path;
    let parent: Record<string | number, unknown> = copy;
    for (const step of path.slice(0, -1)) parent = parent[step] as Record<string | number, unknown>;
    const last = path[path.length - 1] as string | number;
    switch (action) {
      case 'set':
        parent[last] = replacement;
        break;
      case 'delete':
        delete parent[last];
        break;
      case 'rename':
        parent[key] = parent[last];
        delete parent[last];
        break;
      case 'wrap':
        parent[last] = [parent[last]];
        break;
      case 'hostile': {
        // Written as text so the key stays an own property, as JSON.parse would make it.
        const text = JSON.stringify(copy);
        return `${text.slice(0, -1)},${JSON.stringify(key)}:{"polluted":true}}`;
      }
    }
    return JSON.stringify(copy);
  });

const nestingText = fc
  .tuple(fc.integer({ min: 1, max: 3000 }), fc.constantFrom('[', '{"a":'), fc.boolean(), fc.boolean())
  .map(([depth, open, balanced, inFrame]) => {
    const close = open === '[' ? ']' : '}';
    const body = `${open.repeat(depth)}1${balanced ? close.repeat(depth) : ''}`;
    return inFrame ? `{"type":"event","event":"x","data":${body}}` : body;
  });

const jsonish = fc.string({
  unit: fc.constantFrom(
    '{',
    '}',
    '[',
    ']',
    '"',
    ':',
    ',',
    '1',
    'a',
    '\\',
    'null',
    'true',
    ' ',
    '"type"',
    '"event"',
    '"__proto__"',
  ),
  maxLength: 60,
});

const oversized = fc
  .tuple(fc.integer({ min: 60_000, max: 70_000 }), fc.constantFrom('a', '€', '\u0000'))
  .map(([n, ch]) => `{"type":"event","event":"x","data":"${ch === '\u0000' ? '\\u0000' : ch}${ch.repeat(n)}"}`);

const hostileInput: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: validFrame.map((f) => encodeFrame(f)), weight: 2 },
  { arbitrary: mutatedFrame, weight: 6 },
  { arbitrary: hostileText, weight: 4 },
  { arbitrary: fc.jsonValue().map((j) => JSON.stringify(j)), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 80 }), weight: 1 },
  { arbitrary: jsonish, weight: 2 },
  { arbitrary: nestingText, weight: 1 },
  { arbitrary: oversized, weight: 1 },
  // Values a transport already parsed, including non-JSON ones.
  {
    arbitrary: fc.anything({ withNullPrototype: true, withBoxedValues: true, withMap: true, withSet: true }),
    weight: 2,
  },
  { arbitrary: mutatedFrame.map((t) => JSON.parse(t) as unknown), weight: 2 },
);

function checkResult(input: unknown, result: DecodeResult): void {
  if (result.ok) {
    expect(['request', 'response', 'error', 'event']).toContain(result.frame.type);
    // A frame that came from text is JSON by construction: it must match the schema.
    if (typeof input === 'string') expectSchemaValid(result.frame);
    return;
  }
  expect(['BAD_REQUEST', 'PAYLOAD_TOO_LARGE']).toContain(result.error.name);
  expect(result.error.executed).toBe('no');
  const rid = result.requestId;
  expect(rid === undefined || (typeof rid === 'string' && rid.length > 0 && rid.length <= 128)).toBe(true);
  // The answer the server would send is itself a valid, decodable frame.
  const answer = encodeFrame(errorFrame(result.error, rid));
  expectSchemaValid(JSON.parse(answer));
  expect(decodeFrame(answer).ok).toBe(true);
}

// ------------------------------------------------------------------ tests

// Generous timeouts: 10,000 runs take a few seconds, more on a loaded CI machine.
describe('codec properties', { timeout: 60_000 }, () => {
  it('valid frames round-trip and match schema.json', () => {
    fc.assert(
      fc.property(validFrame, (frame) => {
        const text = encodeFrame(frame);
        const asJson = JSON.parse(text) as unknown;
        expectSchemaValid(asJson);
        const result = decodeFrame(text);
        if (!result.ok) throw new Error(`refused: ${JSON.stringify(result.error)}`);
        expect(result.frame).toEqual(asJson);
        expect(encodeFrame(result.frame)).toBe(text);
        const again = decodeFrame(asJson);
        expect(again.ok).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('10,000 random and hostile inputs never throw and are answered with BAD_REQUEST or PAYLOAD_TOO_LARGE', () => {
    let ok = 0;
    let refused = 0;
    fc.assert(
      fc.property(hostileInput, (input) => {
        let result: DecodeResult;
        try {
          result = decodeFrame(input);
        } catch (thrown) {
          throw new Error(`decodeFrame threw ${String(thrown)} on ${String(JSON.stringify(input)).slice(0, 300)}`);
        }
        checkResult(input, result);
        if (result.ok) ok++;
        else refused++;
      }),
      { numRuns: 10_000 },
    );
    // Both outcomes are exercised, and nothing leaked into Object.prototype.
    expect(ok).toBeGreaterThan(500);
    expect(refused).toBeGreaterThan(3000);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('the decoder agrees with schema.json on mutated frames', () => {
    // Stricter than the schema would be a bug in either: a frame the schema accepts must decode.
    fc.assert(
      fc.property(mutatedFrame, (text) => {
        const value = JSON.parse(text) as unknown;
        const decoded = decodeFrame(text);
        // Nesting depth is the one decoder limit a schema cannot express.
        if (maxDepth(value) < 32) expect(decoded.ok, text.slice(0, 300)).toBe(validate(value));
      }),
      { numRuns: 3000 },
    );
  });

  it('error frames built from anything thrown decode and match schema.json', () => {
    const registry = defineCodes({ ROOM_FULL: { code: 4100, message: 'Room is full', recovery: 'retry' } });
    const names = fc.constantFrom(...registry.entries().map((e) => e.name));
    const faultline = fc
      .record({
        name: names,
        message: optional(fc.string({ maxLength: 200 })),
        details: optional(fc.anything({ withNullPrototype: true, withMap: true, withBoxedValues: true, maxDepth: 8 })),
        retryAfterMs: optional(fc.double()),
        executed: optional(executed),
        depth: fc.nat({ max: 6 }),
      })
      .map(({ name, message, details, retryAfterMs, executed: ran, depth }) => {
        let err: FaultlineError = new FaultlineError('INTERNAL', { cause: new Error('root secret') });
        for (let i = 0; i <= depth; i++) {
          err = new FaultlineError(name, {
            registry,
            cause: err,
            ...(message === undefined ? {} : { message }),
            ...(typeof details === 'object' && details !== null ? { details: details as Record<string, unknown> } : {}),
            ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
            ...(ran === undefined ? {} : { executed: ran }),
          });
        }
        return err as unknown;
      });
    const thrown = fc.oneof(
      faultline,
      fc.anything(),
      fc.string().map((m) => new Error(m)),
    );
    fc.assert(
      fc.property(thrown, optional(id), (value, rid) => {
        const text = encodeFrame(errorFrame(toErrorBody(value), rid));
        expect(text).not.toContain('root secret');
        expectSchemaValid(JSON.parse(text));
        const decoded = decodeFrame(text);
        if (!decoded.ok) throw new Error(`refused our own frame: ${JSON.stringify(decoded.error)}`);
        if (decoded.frame.type !== 'error') throw new Error('expected an error frame');
        const back = FaultlineError.fromBody(decoded.frame.data);
        expect(back.toBody()).toEqual(decoded.frame.data);
      }),
      { numRuns: 2000 },
    );
  });
});

function maxDepth(value: unknown, depth = 0): number {
  if (typeof value !== 'object' || value === null) return depth;
  let max = depth + 1;
  for (const v of Object.values(value)) max = Math.max(max, maxDepth(v, depth + 1));
  return max;
}
