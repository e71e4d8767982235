import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'app-chat',
    include: ['test/**/*.test.ts'],
    // A browser, a server and real reconnects with backoff: slow by nature, bounded by every wait.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
