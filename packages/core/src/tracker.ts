/**
 * The request tracker: correlation ids and exactly one outcome per request (PROTOCOL.md §7).
 * Deadlines are swept by one shared timer, grouped by timeout so each group stays in deadline
 * order: no `setTimeout` per request (~200 B and up to 13 % throughput each).
 */
import type { Json } from './envelope.js';
import type { FaultlineError } from './error.js';
import { connectionLost, requestAborted, requestTimedOut } from './session.js';

interface Pending {
  readonly id: string;
  readonly event: string;
  readonly deadline: number;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: FaultlineError) => void;
  readonly bucket: Map<string, Pending>;
  abort: (() => void) | undefined;
  signal: AbortSignal | undefined;
}

/** Options of {@link RequestTracker.track}. */
export interface TrackOptions {
  /** Milliseconds until the request fails with TIMEOUT. @default the tracker's `timeoutMs` */
  timeoutMs?: number;
  /** Aborting rejects the request at once: TIMEOUT for a `TimeoutError` reason, else CANCELLED. */
  signal?: AbortSignal;
  /** Use this id instead of a generated one (re-sends keep their id). */
  id?: string;
}

/** Options of {@link RequestTracker}. */
export interface TrackerOptions {
  /** Default timeout per request, in milliseconds. @default 10000 */
  timeoutMs?: number;
  /** Called when a reply arrives for a request that has already settled or never existed. */
  onLateReply?: (id: string) => void;
  /** Prefix of generated ids, to tell trackers apart in logs. @default '' */
  idPrefix?: string;
}

/** A tracked request. */
export interface Tracked<T> {
  /** The request id to put in `meta.request_id`. */
  readonly id: string;
  /** Settles exactly once: the response, or the error (timeout, abort, `failAll` included). */
  readonly promise: Promise<T>;
}

const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());

/** The function that reports a timer to Node's event loop as not keeping the process alive. */
function unref(timer: unknown): void {
  (timer as { unref?: () => void }).unref?.();
}

/**
 * Tracks in-flight requests: settle each by id exactly once, time them out, fail them all when
 * the connection drops.
 */
export class RequestTracker {
  private readonly buckets = new Map<number, Map<string, Pending>>();
  private readonly byId = new Map<string, Pending>();
  private readonly defaultTimeout: number;
  private readonly onLateReply: ((id: string) => void) | undefined;
  private readonly prefix: string;
  private seq = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerAt = Number.POSITIVE_INFINITY;

  constructor(options: TrackerOptions = {}) {
    const timeout = options.timeoutMs ?? 10_000;
    if (!(timeout > 0 && timeout <= 2_147_483_647)) {
      throw new RangeError('RequestTracker: timeoutMs must be a positive number of milliseconds below 2^31');
    }
    this.defaultTimeout = timeout;
    this.onLateReply = options.onLateReply;
    this.prefix = options.idPrefix ?? '';
  }

  /** How many requests are waiting. */
  get size(): number {
    return this.byId.size;
  }

  /** A fresh correlation id. */
  nextId(): string {
    return this.prefix + (++this.seq).toString(36);
  }

  /** Starts tracking a request; its promise settles exactly once. */
  track<T = Json>(event: string, options: TrackOptions = {}): Tracked<T> {
    const timeout = options.timeoutMs ?? this.defaultTimeout;
    if (!(timeout > 0 && timeout <= 2_147_483_647)) {
      throw new RangeError(`Request ${event}: timeoutMs must be a positive number of milliseconds below 2^31`);
    }
    const id = options.id ?? this.nextId();
    if (this.byId.has(id)) throw new RangeError(`Request id ${id} is already in flight`);
    let bucket = this.buckets.get(timeout);
    if (bucket === undefined) {
      bucket = new Map();
      this.buckets.set(timeout, bucket);
    }
    const deadline = now() + timeout;
    let entry!: Pending;
    const promise = new Promise<T>((resolve, reject) => {
      entry = {
        id,
        event,
        deadline,
        resolve: resolve as (v: unknown) => void,
        reject,
        bucket: bucket,
        abort: undefined,
        signal: undefined,
      };
    });
    bucket.set(id, entry);
    this.byId.set(id, entry);
    const signal = options.signal;
    if (signal) {
      if (signal.aborted) {
        // Settled already: no deadline to arm.
        this.settle(entry, abortError(signal, event, id));
        return { id, promise };
      }
      entry.signal = signal;
      entry.abort = () => this.fail(id, abortError(signal, event, id));
      signal.addEventListener('abort', entry.abort, { once: true });
    }
    if (deadline < this.timerAt) this.arm(deadline);
    return { id, promise };
  }

  /** Whether a request is waiting. */
  has(id: string): boolean {
    return this.byId.has(id);
  }

  /** Resolves a request. Returns false (and reports a late reply) when it is not waiting. */
  resolve(id: string, value: unknown): boolean {
    const entry = this.byId.get(id);
    if (entry === undefined) {
      this.onLateReply?.(id);
      return false;
    }
    this.remove(entry);
    entry.resolve(value);
    return true;
  }

  /** Rejects a request with an error. Returns false (and reports a late reply) when not waiting. */
  reject(id: string, error: FaultlineError): boolean {
    const entry = this.byId.get(id);
    if (entry === undefined) {
      this.onLateReply?.(id);
      return false;
    }
    this.settle(entry, error);
    return true;
  }

  /** Rejects a request locally (abort, send failure) without reporting a late reply. */
  fail(id: string, error: FaultlineError): boolean {
    const entry = this.byId.get(id);
    if (entry === undefined) return false;
    this.settle(entry, error);
    return true;
  }

  /**
   * Fails every waiting request, typically with BAD_CONNECTION when the connection drops. Pass
   * a function to build one error per request (so each carries its own `requestId`).
   */
  failAll(error: FaultlineError | ((id: string, event: string) => FaultlineError)): number {
    const entries = [...this.byId.values()];
    this.byId.clear();
    this.buckets.clear();
    this.disarm();
    for (const entry of entries) {
      this.detach(entry);
      let err: FaultlineError;
      try {
        err = typeof error === 'function' ? error(entry.id, entry.event) : error;
      } catch {
        // A faulty factory must not leave the remaining requests waiting forever.
        err = connectionLost();
        err.requestId = entry.id;
      }
      entry.reject(err);
    }
    return entries.length;
  }

  /** Ids and events of waiting requests, oldest first per timeout. */
  pending(): { id: string; event: string }[] {
    return [...this.byId.values()].map((e) => ({ id: e.id, event: e.event }));
  }

  private settle(entry: Pending, error: FaultlineError): void {
    this.remove(entry);
    if (error.requestId === undefined) error.requestId = entry.id;
    entry.reject(error);
  }

  private remove(entry: Pending): void {
    this.byId.delete(entry.id);
    entry.bucket.delete(entry.id);
    this.detach(entry);
    if (this.byId.size === 0) {
      // Also drops emptied buckets, which would pile up (one per distinct timeout) when the
      // timer never gets to sweep them.
      this.buckets.clear();
      this.disarm();
    }
  }

  private detach(entry: Pending): void {
    if (entry.signal && entry.abort) entry.signal.removeEventListener('abort', entry.abort);
  }

  private arm(at: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => this.sweep(), Math.max(0, Math.ceil(at - now())));
    unref(this.timer);
  }

  private disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
  }

  private sweep(): void {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    const t = now();
    let next = Number.POSITIVE_INFINITY;
    for (const [timeout, bucket] of this.buckets) {
      for (const entry of bucket.values()) {
        if (entry.deadline > t) {
          if (entry.deadline < next) next = entry.deadline;
          break;
        }
        this.settle(
          entry,
          requestTimedOut(entry.event, timeout),
        );
      }
      if (bucket.size === 0) this.buckets.delete(timeout);
    }
    if (next !== Number.POSITIVE_INFINITY && next < this.timerAt) this.arm(next);
  }
}

function abortError(signal: AbortSignal, event: string, id: string): FaultlineError {
  const err = requestAborted(signal, event);
  err.requestId = id;
  return err;
}
