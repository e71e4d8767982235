// End to end: starts `node server.mjs` on a free port, drives the page in headless Chromium for
// each transport, presses every scenario and checks what the page shows a person. Screenshots go
// to apps/chat/test-results/.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { launchChromium } from '@faultline/test-utils';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const APP_DIR = fileURLToPath(new URL('..', import.meta.url));
const RESULTS = fileURLToPath(new URL('../test-results/', import.meta.url));

/** Every transport the page must offer, with how it carries a session. */
const TRANSPORTS: { id: string; kind: 'socket' | 'http' }[] = [
  { id: 'ws', kind: 'socket' },
  { id: 'socket.io', kind: 'socket' },
  { id: 'fastify-ws', kind: 'socket' },
  { id: 'fastify-http', kind: 'http' },
];

const WAIT = 15_000;

let server: ChildProcess | undefined;
let serverLog = '';
let baseUrl = '';
let browser: Browser | undefined;

function startServer(): Promise<string> {
  const proc = spawn(process.execPath, ['server.mjs'], {
    cwd: APP_DIR,
    env: { ...process.env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server = proc;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server printed no URL within 20 s:\n${serverLog}`)), 20_000);
    const onData = (chunk: Buffer) => {
      serverLog += chunk.toString();
      const m = /listening on (http:\/\/\S+)/.exec(serverLog);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${serverLog}`));
    });
  });
}

async function stopServer(): Promise<void> {
  const proc = server;
  if (!proc || proc.exitCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** An error row as a person reads it: the text of its cells. */
interface Row {
  where: string;
  code: string;
  name: string;
  category: string;
  recoverable: string;
  recovery: string;
  retryAfterMs: string;
  message: string;
  details: string;
}

/** The newest error row with this name (and place), once it appears. */
async function errorRow(page: Page, name: string, where?: string): Promise<Row> {
  const selector = `#errors tbody tr[data-name="${name}"]${where ? `[data-where="${where}"]` : ''}`;
  const row = page.locator(selector).first();
  await row.waitFor({ timeout: WAIT });
  await row.scrollIntoViewIfNeeded();
  expect(await row.isVisible()).toBe(true);
  return row.evaluate((tr: HTMLTableRowElement) => {
    const cell = (cls: string) => tr.querySelector(`.${cls}`)?.textContent ?? '';
    return {
      where: tr.cells[1]?.textContent ?? '',
      code: cell('code'),
      name: cell('name'),
      category: cell('category'),
      recoverable: cell('recoverable'),
      recovery: cell('recovery'),
      retryAfterMs: cell('retry-after'),
      message: cell('message'),
      details: cell('details'),
    };
  });
}

/** The text the page shows as the connection state. */
const stateText = async (page: Page) => (await page.textContent('#state'))?.trim() ?? '';

/** Waits until the state has been `open` for `stableMs` (a refused reconnect is open for a moment). */
async function stableOpen(page: Page, stableMs = 400, timeout = 20_000): Promise<void> {
  await page.waitForFunction(
    (ms) => {
      const w = window as unknown as { __openSince?: number | undefined };
      const open = document.getElementById('state')?.dataset.state === 'open';
      if (!open) w.__openSince = undefined;
      else w.__openSince ??= Date.now();
      return open && Date.now() - (w.__openSince ?? Date.now()) >= ms;
    },
    stableMs,
    { timeout, polling: 50 },
  );
}

async function press(page: Page, scenario: string): Promise<void> {
  await page.click('#clear');
  await page.click(`#scenario-${scenario}`);
}

const shot = (page: Page, transport: string, step: string) =>
  page.screenshot({ path: `${RESULTS}${transport}-${step}.png`, fullPage: true });

beforeAll(async () => {
  mkdirSync(RESULTS, { recursive: true });
  baseUrl = await startServer();
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await stopServer();
});

it('serves the page with every transport', async () => {
  const page = await browser!.newPage();
  try {
    await page.goto(baseUrl);
    const offered = await page.$$eval('#transport option', (os) => os.map((o) => (o as HTMLOptionElement).value));
    expect(offered).toEqual(TRANSPORTS.map((t) => t.id));
    expect(await page.locator('label[for="transport"]').textContent()).toBe('Transport');
  } finally {
    await page.close();
  }
});

describe.each(TRANSPORTS)('over $id', ({ id, kind }) => {
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    page = await browser!.newPage({ viewport: { width: 1280, height: 1100 } });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${baseUrl}?transport=${encodeURIComponent(id)}`);
    await page.waitForSelector('body[data-ready="true"]', { timeout: WAIT });
  });

  afterAll(async () => {
    await page?.close();
  });

  it('connects', async () => {
    expect(await page.inputValue('#transport')).toBe(id);
    await stableOpen(page);
    expect(await stateText(page)).toBe(kind === 'http' ? 'open (stateless HTTP)' : 'open');
    expect(await page.textContent('#user')).toMatch(/^guest-\d+$/);
  });

  it('joins a room', async () => {
    await press(page, 'join');
    await page.waitForSelector('#room:text("#lobby")', { timeout: WAIT });
    await shot(page, id, '1-join');
  });

  it('shows NOT_FOUND with the room for a room that does not exist', async () => {
    await press(page, 'missing-room');
    const row = await errorRow(page, 'NOT_FOUND', 'Request#join');
    expect(row).toMatchObject({
      code: '4001',
      category: 'application',
      recoverable: 'false',
      recovery: 'none',
      retryAfterMs: '-',
    });
    expect(row.message).toBe('Room not found');
    expect(JSON.parse(row.details)).toEqual({ room: 'no-such-room' });
    await shot(page, id, '2-not-found');
  });

  it('shows FORBIDDEN for an action the user may not take', async () => {
    await press(page, 'forbidden');
    const row = await errorRow(page, 'FORBIDDEN', 'Request#deleteRoom');
    expect(row).toMatchObject({ code: '4004', category: 'connection', recoverable: 'false', recovery: 'none' });
    expect(JSON.parse(row.details)).toMatchObject({ action: 'deleteRoom', role: 'member' });
    await shot(page, id, '3-forbidden');
  });

  it('shows INTERNAL with a generic message when a handler crashes; the secret stays in the server log', async () => {
    await press(page, 'crash');
    const row = await errorRow(page, 'INTERNAL', 'Request#crash');
    expect(row).toMatchObject({
      code: '5000',
      category: 'application',
      recoverable: 'true',
      recovery: 'retry',
      details: '',
    });
    expect(row.message).toBe('Internal server error');
    const text = await page.textContent('body');
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('ECONNREFUSED');
    await expect.poll(() => serverLog, { timeout: WAIT }).toContain('password=hunter2');
    await shot(page, id, '4-internal');
  });

  it('shows RATE_LIMITED with retry_after_ms past the limit', async () => {
    await press(page, 'rate-limit');
    const row = await errorRow(page, 'RATE_LIMITED', 'Request#send');
    expect(row).toMatchObject({ code: '4005', category: 'application', recoverable: 'true', recovery: 'retry' });
    expect(Number(row.retryAfterMs)).toBeGreaterThan(0);
    await page.waitForSelector('#messages li:text-matches("flood: \\\\d+ sent, [1-9]\\\\d* refused")', {
      timeout: WAIT,
    });
    await shot(page, id, '5-rate-limited');
  });

  it('refreshes an expired token once and carries on', async () => {
    const before = Number(await page.textContent('#token-refreshes'));
    await press(page, 'expired-token');
    const row = await errorRow(page, 'UNAUTHORIZED');
    expect(row).toMatchObject({
      code: '4003',
      category: 'connection',
      recoverable: 'true',
      recovery: 'reauthenticate',
    });
    expect(row.message).toBe('Token expired');
    await page.waitForSelector('#timeline li[data-kind="auth"]', { timeout: WAIT });
    expect(Number(await page.textContent('#token-refreshes'))).toBe(before + 1);
    if (kind === 'socket') {
      await page.waitForSelector('#timeline li[data-state="reconnecting"][data-reason="UNAUTHORIZED"]', {
        timeout: WAIT,
      });
      await stableOpen(page);
    }
    expect(await stateText(page)).toMatch(/^open/);
    await shot(page, id, '6-token-refreshed');
  });

  it('reconnects with backoff after the server restarts', async () => {
    await press(page, 'join');
    await page.waitForSelector('#room:text("#lobby")', { timeout: WAIT });
    await press(page, 'restart');
    const row = await errorRow(page, 'SHUTTING_DOWN');
    expect(row).toMatchObject({ code: '5002', category: 'connection', recoverable: 'true', recovery: 'reconnect' });
    expect(Number(row.retryAfterMs)).toBeGreaterThanOrEqual(0);
    if (kind === 'socket') {
      expect(row.where).toBe('connection');
      // The first reconnect waits at least as long as the server asked.
      const entry = page.locator('#timeline li[data-state="reconnecting"][data-reason="SHUTTING_DOWN"]').first();
      await entry.waitFor({ timeout: WAIT });
      const delay = Number(await entry.getAttribute('data-delay-ms'));
      expect(delay).toBeGreaterThan(0);
      expect(delay).toBeGreaterThanOrEqual(Number(await entry.getAttribute('data-retry-after-ms')));
      // ...and the timeline says so in words.
      expect(await entry.textContent()).toMatch(
        new RegExp(`reconnecting: attempt \\d+ in ${delay} ms because SHUTTING_DOWN \\(5002\\)`),
      );
      await page.waitForSelector('#timeline li[data-kind="attempt"]', { timeout: WAIT });
      await stableOpen(page);
      expect(await stateText(page), (await page.textContent('#timeline')) ?? '').toBe('open');
      // The page joins its room again on the new connection.
      await page.waitForSelector('#messages li:text("rejoined #lobby")', { timeout: WAIT });
    } else {
      // The request made during the restart was refused with 503 and retried after Retry-After.
      expect(row.where).toBe('Retry#POST /api/rooms/lobby/join');
      const retry = page.locator('#timeline li[data-kind="retry"][data-reason="SHUTTING_DOWN"]').first();
      await retry.waitFor({ timeout: WAIT });
      const asked = Number(await retry.getAttribute('data-retry-after-ms'));
      expect(await retry.textContent()).toContain(`retrying POST /api/rooms/lobby/join because SHUTTING_DOWN`);
      // The retry's outcome closes the story, and it came no sooner than the server asked.
      const done = page.locator('#timeline li[data-kind="retried"][data-state="retried"]').first();
      await done.waitFor({ timeout: WAIT });
      expect(Number(await done.getAttribute('data-waited-ms'))).toBeGreaterThanOrEqual(asked);
      expect(await done.textContent()).toMatch(/POST \/api\/rooms\/lobby\/join succeeded on retry, \d+ ms after/);
      await page.waitForSelector('#messages li:text("joined again #lobby")', { timeout: WAIT });
      expect(await stateText(page)).toBe('open (stateless HTTP)');
    }
    await shot(page, id, '7-restarted');
    expect(pageErrors).toEqual([]);
  });
});
