import { describe, expect, it, vi } from 'vitest';
import {
  type ErrorRoute,
  type Failure,
  FaultlineError,
  type Logger,
  loggingErrorRoute,
  Notifier,
  silentLogger,
} from './index.js';

function recordingLogger() {
  const calls: { level: string; obj: Record<string, unknown>; msg: string | undefined }[] = [];
  const logger: Logger = {
    error: (obj, msg) => calls.push({ level: 'error', obj: obj as Record<string, unknown>, msg }),
    warn: (obj, msg) => calls.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }),
  };
  return { logger, calls };
}

describe('Notifier', () => {
  it('delivers success and error events with their location', () => {
    const success = vi.fn();
    const error = vi.fn();
    const notifier = new Notifier({ success, error }, () => {});
    const err = new FaultlineError('TIMEOUT');
    notifier.success('Connect#Open', 12.5);
    notifier.success('Reconnect#Attempt');
    notifier.error('Request#join', err);
    expect(success.mock.calls).toEqual([
      [{ location: 'Connect#Open', durationMs: 12.5 }],
      [{ location: 'Reconnect#Attempt' }],
    ]);
    expect(error).toHaveBeenCalledWith({ location: 'Request#join', error: err });
  });

  it('calls listeners with the observer as this', () => {
    const observer = {
      seen: [] as string[],
      success(this: { seen: string[] }, e: { location: string }) {
        this.seen.push(e.location);
      },
    };
    new Notifier(observer, () => {}).success('Connect#Open');
    expect(observer.seen).toEqual(['Connect#Open']);
  });

  it('swallows listener and route errors', () => {
    const notifier = new Notifier(
      {
        success() {
          throw new Error('listener bug');
        },
        error() {
          throw new Error('listener bug');
        },
      },
      () => {
        throw new Error('route bug');
      },
    );
    expect(() => notifier.success('Connect#Open')).not.toThrow();
    expect(() => notifier.error('Request#x', new FaultlineError('INTERNAL'))).not.toThrow();
    expect(() => notifier.unhandled('Event#x', new Error('boom'))).not.toThrow();
    expect(() => new Notifier(undefined, () => {}).error('Request#x', new FaultlineError('INTERNAL'))).not.toThrow();
    expect(() => new Notifier({}, () => {}).success('Request#x')).not.toThrow();
  });

  it('sends unhandled failures to the route with time and attempts', () => {
    const failures: Failure[] = [];
    const route: ErrorRoute = (f) => failures.push(f);
    const notifier = new Notifier(undefined, route);
    const cause = new Error('handler threw');
    const before = Date.now();
    notifier.unhandled('Event#typing', cause);
    notifier.unhandled('Request#push', cause, 4);
    expect(failures).toHaveLength(2);
    expect(failures[0]).toMatchObject({ location: 'Event#typing', cause, attempts: 1 });
    expect(failures[1]?.attempts).toBe(4);
    expect(failures[0]?.time.getTime()).toBeGreaterThanOrEqual(before);
  });
});

describe('loggingErrorRoute', () => {
  it('logs the stack and original message of an unknown throw', () => {
    const { logger, calls } = recordingLogger();
    const cause = new Error('db password wrong');
    loggingErrorRoute(logger)({ cause, time: new Date(0), attempts: 2, location: 'Event#save' });
    expect(calls).toHaveLength(1);
    const call = calls[0];
    expect(call?.level).toBe('error');
    expect(call?.msg).toBe('faultline: unhandled failure at Event#save');
    expect(call?.obj).toMatchObject({ location: 'Event#save', attempts: 2, time: '1970-01-01T00:00:00.000Z' });
    const err = call?.obj.err as { name: string; message: string; stack: string };
    expect(err.name).toBe('Error');
    expect(err.message).toBe('db password wrong');
    expect(err.stack).toMatch(/\n\s+at .*observe\.test\.ts/);
  });

  it('logs the original behind an INTERNAL wrapper, with its request id', () => {
    const { logger, calls } = recordingLogger();
    const original = new Error('null is not an object');
    const wrapped = FaultlineError.from(original);
    wrapped.requestId = 'req-42';
    loggingErrorRoute(logger)({ cause: wrapped, time: new Date(), attempts: 1, location: 'Request#join' });
    const obj = calls[0]?.obj as {
      request_id: string;
      err: { name: string; cause: { message: string; stack: string } };
    };
    expect(obj.request_id).toBe('req-42');
    expect(obj.err.name).toBe('INTERNAL');
    expect(obj.err.cause.message).toBe('null is not an object');
    expect(obj.err.cause.stack).toMatch(/observe\.test\.ts/);
  });

  it('logs values that are not errors as they are, and bounds cause chains', () => {
    const { logger, calls } = recordingLogger();
    const route = loggingErrorRoute(logger);
    route({ cause: 'a string', time: new Date(), attempts: 1, location: 'Event#x' });
    expect(calls[0]?.obj.err).toBe('a string');
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    expect(() => route({ cause: a, time: new Date(), attempts: 1, location: 'Event#x' })).not.toThrow();
    expect(JSON.stringify(calls[1]?.obj)).toContain('[Truncated]');
  });

  it('silentLogger discards', () => {
    expect(() =>
      loggingErrorRoute(silentLogger)({ cause: 1, time: new Date(), attempts: 1, location: 'A#b' }),
    ).not.toThrow();
  });
});
