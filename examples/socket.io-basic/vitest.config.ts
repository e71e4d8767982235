import { defineProject } from 'vitest/config';

export default defineProject({
  test: { name: 'example-socket.io-basic', include: ['test/**/*.test.ts'], testTimeout: 30_000 },
});
