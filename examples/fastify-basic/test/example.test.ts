// Runs the example as a user would (`pnpm start`) and checks it exits 0 with the expected output.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const run = promisify(execFile);

it('runs: one response, one NOT_FOUND, exit 0', async () => {
  const cwd = fileURLToPath(new URL('..', import.meta.url));
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'index.ts'], { cwd, timeout: 20_000 });
  expect(stdout).toContain("GET /rooms/lobby -> { room: 'lobby' }");
  expect(stdout).toContain("GET /rooms/kitchen -> 4001 NOT_FOUND Room not found { room: 'kitchen' } recovery: none");
});
