// Browser tests drive Debian's Chromium with playwright-core (a browser download does not work
// on this project's machines). Installs it when it is missing and we may; else says what to do.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

if (!existsSync(CHROMIUM)) {
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  const run = (cmd, args) =>
    execFileSync(root ? cmd : 'sudo', root ? args : ['--non-interactive', cmd, ...args], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  try {
    console.log(`Chromium is missing at ${CHROMIUM}: installing Debian's chromium package`);
    run('apt-get', ['update']);
    run('apt-get', ['install', '-y', 'chromium']);
  } catch {
    console.error(
      `Browser tests need Chromium at ${CHROMIUM}. Install it with "apt-get install -y chromium" ` +
        '(or set CHROMIUM_PATH to a Chromium binary) and run the tests again.',
    );
    process.exit(1);
  }
}
