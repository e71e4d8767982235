/**
 * Fixtures the Faultline test suites share: cleanups run after each test, bounded waits, and
 * Debian's headless Chromium driven by playwright-core. Private to the workspace, never published.
 */
import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';
import { afterEach } from 'vitest';

type Cleanup = () => unknown;
const cleanups: Cleanup[] = [];

/** Registers a cleanup run after the current test, last registered first. */
export function defer(fn: Cleanup): void {
  cleanups.push(fn);
}

afterEach(async () => {
  while (cleanups.length > 0) {
    const fn = cleanups.pop() as Cleanup;
    try {
      await withTimeout(Promise.resolve(fn()), 5000, 'cleanup');
    } catch {
      // A cleanup that fails must not hide the test's own result.
    }
  }
});

/** Resolves after `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Rejects when `promise` takes longer than `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what = 'operation'): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Polls `cond` until true; throws after `ms`. */
export async function waitFor(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what} not met within ${ms} ms`);
    await sleep(5);
  }
}

/** Where Debian's Chromium is: `CHROMIUM_PATH`, else `/usr/bin/chromium`. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Starts headless Chromium with the flags this machine needs (no sandbox as root, no background
 * networking: its connections would be refused by the closed network). Never a skip: without
 * Chromium it throws and says how to install it.
 */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `This test needs Chromium at ${CHROMIUM}: install Debian's package ("apt-get install -y chromium") ` +
        'or set CHROMIUM_PATH, then run the tests again.',
    );
  }
  return withTimeout(
    chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--headless',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
      timeout: 30_000,
    }),
    35_000,
    'Chromium launch',
  );
}
