import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FaultlineError, RequestTracker } from './index.js';

/** Records how a promise settled, without leaving a rejection unhandled. */
function outcome<T>(promise: Promise<T>) {
  const state: { value?: T; error?: FaultlineError; settled: number } = { settled: 0 };
  promise.then(
    (value) => {
      state.value = value;
      state.settled++;
    },
    (error: FaultlineError) => {
      state.error = error;
      state.settled++;
    },
  );
  return state;
}

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('RequestTracker', () => {
  describe('with fake timers', () => {
    beforeEach(() => {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance', 'Date'] });
    });
    afterEach(() => {
      vi.useRealTimers();
    });

    it('gives exactly one outcome per request and reports late replies', async () => {
      const late: string[] = [];
      const tracker = new RequestTracker({ timeoutMs: 1000, onLateReply: (id) => late.push(id) });
      const a = tracker.track<string>('join');
      const sa = outcome(a.promise);
      expect(tracker.size).toBe(1);
      expect(tracker.has(a.id)).toBe(true);
      expect(tracker.resolve(a.id, 'first')).toBe(true);
      expect(tracker.resolve(a.id, 'second')).toBe(false);
      expect(tracker.reject(a.id, new FaultlineError('NOT_FOUND'))).toBe(false);
      expect(tracker.fail(a.id, new FaultlineError('CANCELLED'))).toBe(false);
      await vi.advanceTimersByTimeAsync(2000);
      expect(sa).toEqual({ value: 'first', settled: 1 });
      expect(late).toEqual([a.id, a.id]);
      expect(tracker.resolve('never-sent', 1)).toBe(false);
      expect(late).toEqual([a.id, a.id, 'never-sent']);
      expect(vi.getTimerCount()).toBe(0);
    });

    it('times out, then drops and reports the late reply', async () => {
      const late: string[] = [];
      const tracker = new RequestTracker({ timeoutMs: 100, onLateReply: (id) => late.push(id) });
      const r = tracker.track('slow');
      const s = outcome(r.promise);
      await vi.advanceTimersByTimeAsync(99);
      expect(s.settled).toBe(0);
      await vi.advanceTimersByTimeAsync(2);
      expect(s.settled).toBe(1);
      expect(s.error?.name).toBe('TIMEOUT');
      expect(s.error?.requestId).toBe(r.id);
      expect(s.error?.executed).toBe('maybe');
      expect(s.error?.message).toBe('Request slow timed out after 100 ms');
      expect(tracker.resolve(r.id, 'too late')).toBe(false);
      await flush();
      expect(s.settled).toBe(1);
      expect(late).toEqual([r.id]);
      expect(tracker.size).toBe(0);
      expect(vi.getTimerCount()).toBe(0);
    });

    it('fires mixed timeouts in deadline order, each on time', async () => {
      const tracker = new RequestTracker({ timeoutMs: 10_000 });
      const start = performance.now();
      const fired: [string, number][] = [];
      const track = (event: string, timeoutMs: number) =>
        tracker.track(event, { timeoutMs }).promise.catch(() => fired.push([event, performance.now() - start]));
      track('a300', 300);
      track('b100', 100);
      track('c200', 200);
      track('e1000', 1000);
      await vi.advanceTimersByTimeAsync(50);
      track('d100', 100); // deadline 150: after b100, before c200
      track('f50', 50); // deadline 100: together with b100
      await vi.advanceTimersByTimeAsync(2000);
      const deadline: Record<string, number> = { b100: 100, f50: 100, d100: 150, c200: 200, a300: 300, e1000: 1000 };
      expect(fired.map(([e]) => e).sort()).toEqual(Object.keys(deadline).sort());
      expect(fired.map(([e]) => deadline[e])).toEqual([100, 100, 150, 200, 300, 1000]);
      for (const [event, at] of fired) {
        expect(at, event).toBeGreaterThanOrEqual(deadline[event] as number);
        expect(at, event).toBeLessThanOrEqual((deadline[event] as number) + 2);
      }
      expect(vi.getTimerCount()).toBe(0);
    });

    it('keeps timing out the rest after the earliest request is answered', async () => {
      const tracker = new RequestTracker();
      const first = tracker.track('first', { timeoutMs: 100 });
      const second = outcome(tracker.track('second', { timeoutMs: 500 }).promise);
      tracker.resolve(first.id, null);
      await vi.advanceTimersByTimeAsync(499);
      expect(second.settled).toBe(0);
      await vi.advanceTimersByTimeAsync(2);
      expect(second.error?.name).toBe('TIMEOUT');
    });

    it('holds no timer and no state once nothing is pending, whatever the timeouts', async () => {
      const tracker = new RequestTracker();
      for (let i = 1; i <= 1000; i++) {
        const r = tracker.track('seq', { timeoutMs: 1000 + i / 7 });
        tracker.resolve(r.id, i);
      }
      expect(vi.getTimerCount()).toBe(0);
      // White box: one bucket per distinct timeout used to pile up when nothing swept them.
      expect((tracker as unknown as { buckets: Map<number, unknown> }).buckets.size).toBe(0);
    });

    it('fails all of 10 pending requests, each with its own request id', async () => {
      const late: string[] = [];
      const tracker = new RequestTracker({ onLateReply: (id) => late.push(id) });
      const all = Array.from({ length: 10 }, (_, i) => tracker.track(`e${i}`));
      const states = all.map((r) => outcome(r.promise));
      const count = tracker.failAll((id, event) => {
        const err = new FaultlineError('BAD_CONNECTION', {
          message: `Connection lost during ${event}`,
          executed: 'maybe',
        });
        err.requestId = id;
        return err;
      });
      expect(count).toBe(10);
      expect(tracker.size).toBe(0);
      expect(tracker.pending()).toEqual([]);
      await flush();
      states.forEach((s, i) => {
        expect(s.settled).toBe(1);
        expect(s.error?.name).toBe('BAD_CONNECTION');
        expect(s.error?.requestId).toBe(all[i]?.id);
        expect(s.error?.message).toBe(`Connection lost during e${i}`);
      });
      expect(tracker.resolve(all[3]?.id as string, 'late')).toBe(false);
      expect(late).toEqual([all[3]?.id]);
      expect(vi.getTimerCount()).toBe(0);
      await vi.advanceTimersByTimeAsync(20_000);
      expect(states.every((s) => s.settled === 1)).toBe(true);
    });

    it('fails all with one shared error, and settles every request even if the factory throws', async () => {
      const tracker = new RequestTracker();
      const shared = new FaultlineError('BAD_CONNECTION');
      const a = outcome(tracker.track('a').promise);
      const b = outcome(tracker.track('b').promise);
      expect(tracker.failAll(shared)).toBe(2);
      const c = tracker.track('c');
      const d = tracker.track('d');
      const sc = outcome(c.promise);
      const sd = outcome(d.promise);
      tracker.failAll((id) => {
        if (id === c.id) throw new Error('faulty factory');
        return new FaultlineError('BAD_CONNECTION', { message: 'custom' });
      });
      await flush();
      expect(a.error).toBe(shared);
      expect(b.error).toBe(shared);
      expect(sc.error).toMatchObject({ name: 'BAD_CONNECTION', requestId: c.id });
      expect(sd.error).toMatchObject({ name: 'BAD_CONNECTION', message: 'custom' });
    });

    it('rejects with the given error, setting its request id', async () => {
      const tracker = new RequestTracker();
      const r = tracker.track('join');
      const s = outcome(r.promise);
      const err = FaultlineError.fromBody(new FaultlineError('NOT_FOUND').toBody());
      expect(tracker.reject(r.id, err)).toBe(true);
      await flush();
      expect(s.error).toBe(err);
      expect(err.requestId).toBe(r.id);
    });

    it('generates ids with a prefix, accepts given ids, refuses duplicates and bad timeouts', () => {
      const tracker = new RequestTracker({ idPrefix: 'c1-' });
      const a = tracker.track('a');
      const b = tracker.track('b');
      expect(a.id).toMatch(/^c1-/);
      expect(a.id).not.toBe(b.id);
      const mine = tracker.track('c', { id: 'resend-7' });
      expect(mine.id).toBe('resend-7');
      expect(() => tracker.track('d', { id: 'resend-7' })).toThrow(/already in flight/);
      expect(tracker.pending()).toEqual([
        { id: a.id, event: 'a' },
        { id: b.id, event: 'b' },
        { id: 'resend-7', event: 'c' },
      ]);
      for (const timeoutMs of [0, -1, Number.NaN, 2 ** 31]) {
        expect(() => tracker.track('x', { timeoutMs })).toThrow(RangeError);
        expect(() => new RequestTracker({ timeoutMs })).toThrow(RangeError);
      }
      tracker.failAll(new FaultlineError('CANCELLED'));
      void a.promise.catch(() => {});
      void b.promise.catch(() => {});
      void mine.promise.catch(() => {});
    });
  });

  describe('abort signals (real timers)', () => {
    it('rejects at once with CANCELLED when the signal is already aborted', async () => {
      const tracker = new RequestTracker();
      const reason = new Error('user left');
      const r = tracker.track('join', { signal: AbortSignal.abort(reason) });
      expect(tracker.size).toBe(0);
      expect(tracker.has(r.id)).toBe(false);
      await expect(r.promise).rejects.toMatchObject({ name: 'CANCELLED', requestId: r.id, cause: reason });
    });

    it('rejects when the signal aborts later, and ignores an abort after the reply', async () => {
      const late: string[] = [];
      const tracker = new RequestTracker({ onLateReply: (id) => late.push(id) });
      const controller = new AbortController();
      const r = tracker.track('join', { signal: controller.signal });
      const s = outcome(r.promise);
      await flush();
      expect(s.settled).toBe(0);
      controller.abort();
      await flush();
      expect(s.error).toMatchObject({ name: 'CANCELLED', requestId: r.id, executed: 'maybe' });
      expect(tracker.resolve(r.id, 'late')).toBe(false);
      expect(late).toEqual([r.id]);

      const other = new AbortController();
      const done = tracker.track('ok', { signal: other.signal });
      tracker.resolve(done.id, 42);
      other.abort();
      await expect(done.promise).resolves.toBe(42);
    });

    it('maps AbortSignal.timeout to TIMEOUT', async () => {
      const tracker = new RequestTracker({ timeoutMs: 60_000 });
      const r = tracker.track('slow', { signal: AbortSignal.timeout(20) });
      const started = performance.now();
      await expect(r.promise).rejects.toMatchObject({ name: 'TIMEOUT', code: 5003, requestId: r.id });
      expect(performance.now() - started).toBeGreaterThanOrEqual(15);
      expect(tracker.size).toBe(0);
    });

    it('times out for real with a small timeout', async () => {
      const tracker = new RequestTracker({ timeoutMs: 30 });
      const started = performance.now();
      const order: string[] = [];
      const a = tracker.track('a', { timeoutMs: 60 }).promise.catch((e: FaultlineError) => order.push(`a:${e.name}`));
      const b = tracker.track('b').promise.catch((e: FaultlineError) => order.push(`b:${e.name}`));
      await Promise.all([a, b]);
      expect(order).toEqual(['b:TIMEOUT', 'a:TIMEOUT']);
      expect(performance.now() - started).toBeGreaterThanOrEqual(55);
    });
  });
});
