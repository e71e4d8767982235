/**
 * The client in headless Chromium (Debian's package, driven by playwright-core) on the browser's
 * native WebSocket, against a real server. Never skipped: without Chromium it fails and says why.
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FaultlineError } from '@faultline/core';
import { launchChromium } from '@faultline/test-utils';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleClient } from './bundle.js';
import { HOST, startServer } from './helpers.js';

let browser: Browser | undefined;
let http: Server | undefined;
let pageUrl = '';

beforeAll(async () => {
  const bundle = await bundleClient();
  const html = `<!doctype html><meta charset="utf-8"><title>faultline ws</title>
<script type="module">
  import { createClient } from '/client.js';
  window.faultline = { createClient };
  window.ready = true;
</script>`;
  http = createHttpServer((req, res) => {
    if (req.url === '/client.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
      res.end(bundle);
    } else if (req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(html);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => http?.listen(0, HOST, resolve));
  pageUrl = `http://${HOST}:${(http.address() as AddressInfo).port}/`;
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close().catch(() => {});
  await new Promise<void>((resolve) => (http ? http.close(() => resolve()) : resolve()));
});

async function openPage(): Promise<{ page: Page; logs: string[] }> {
  const page = await (browser as Browser).newPage();
  const logs: string[] = [];
  page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  await page.goto(pageUrl);
  await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true, undefined, {
    timeout: 10_000,
  });
  return { page, logs };
}

describe('browser client (headless Chromium)', () => {
  it('does a request and gets typed errors over the native WebSocket', async () => {
    const { url, logger } = await startServer({
      handlers: {
        echo: (data) => ({ echoed: data }),
        join: (data) => {
          throw new FaultlineError('NOT_FOUND', {
            message: 'Room not found',
            details: { room: (data as { room: string }).room },
          });
        },
        crash: () => {
          throw new Error('secret internals');
        },
        slow: () => new Promise((r) => setTimeout(() => r('late'), 1000)),
      },
    });
    const { page, logs } = await openPage();
    try {
      const result = await page.evaluate(async (wsUrl) => {
        const { createClient } = (window as unknown as { faultline: { createClient: (o: object) => any } }).faultline;
        const states: string[] = [];
        const client = createClient({ url: wsUrl, lazy: true, logger: { error() {}, warn() {} } });
        client.onStateChange((c: { previous: string; current: string }) => states.push(`${c.previous}>${c.current}`));
        client.connect();
        const describe = (e: any) => ({
          name: e.name,
          code: e.code,
          message: e.message,
          recovery: e.recovery,
          details: e.details ?? null,
          isError: client.isError(e),
          narrowed: client.isError(e, 'NOT_FOUND'),
          requestId: typeof e.requestId,
        });
        const value = await client.request('echo', { hello: 'browser' });
        const errors = [];
        for (const [event, opts] of [
          ['join', {}],
          ['crash', {}],
          ['slow', { timeoutMs: 100 }],
        ] as const) {
          try {
            await client.request(event, { room: 'r9' }, opts);
            errors.push({ name: 'resolved?' });
          } catch (e) {
            errors.push(describe(e));
          }
        }
        const transport = client.state;
        client.close();
        return { value, errors, states, transport, hasWebSocket: typeof WebSocket };
      }, url);
      expect(result.hasWebSocket).toBe('function');
      expect(result.value).toEqual({ echoed: { hello: 'browser' } });
      expect(result.errors[0]).toEqual({
        name: 'NOT_FOUND',
        code: 4001,
        message: 'Room not found',
        recovery: 'none',
        details: { room: 'r9' },
        isError: true,
        narrowed: true,
        requestId: 'string',
      });
      expect(result.errors[1]).toMatchObject({
        name: 'INTERNAL',
        code: 5000,
        message: 'Internal server error',
        isError: true,
        narrowed: false,
      });
      expect(result.errors[2]).toMatchObject({ name: 'TIMEOUT', code: 5003, recovery: 'retry' });
      expect(result.transport).toBe('open');
      expect(result.states).toEqual(['idle>connecting', 'connecting>open', 'open>closed']);
      expect(logger.errors.some((l) => (l.obj.err as { message?: string })?.message === 'secret internals')).toBe(true);
      expect(logs.filter((l) => l.startsWith('pageerror'))).toEqual([]);
    } finally {
      await page.close();
    }
  }, 60_000);

  it('reads an auth refusal (error frame + close 4003) that an HTTP 401 could not tell a browser', async () => {
    const { url } = await startServer({
      authenticate: (req) => {
        if (!req.url?.includes('access_token=good'))
          throw new FaultlineError('UNAUTHORIZED', { message: 'Token expired' });
        return { user: 'ada' };
      },
      handlers: { whoami: (_, ctx) => (ctx.auth as { user: string }).user },
    });
    const { page } = await openPage();
    try {
      const result = await page.evaluate(async (wsUrl) => {
        const { createClient } = (window as unknown as { faultline: { createClient: (o: object) => any } }).faultline;
        const tokens: boolean[] = [];
        const client = createClient({
          url: wsUrl,
          logger: { error() {}, warn() {} },
          reconnect: { minMs: 10, baseMs: 20, maxMs: 50 },
          token: ({ refresh }: { refresh: boolean }) => {
            tokens.push(refresh);
            return refresh ? 'good' : 'stale';
          },
        });
        const reasons: (string | undefined)[] = [];
        client.onStateChange((c: { current: string; reason?: { name: string } }) => {
          if (c.current === 'reconnecting') reasons.push(c.reason?.name);
        });
        const who = await client.request('whoami', null, { idempotent: true, timeoutMs: 5000 });
        client.close();
        return { who, tokens, reasons };
      }, url);
      expect(result).toEqual({ who: 'ada', tokens: [false, true], reasons: ['UNAUTHORIZED'] });
    } finally {
      await page.close();
    }
  }, 60_000);
});
