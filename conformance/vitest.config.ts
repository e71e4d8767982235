import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'conformance',
    include: ['test/**/*.test.ts'],
    // Real servers on 127.0.0.1: one file at a time keeps timing assertions honest on two vCPUs.
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 20_000,
  },
});
