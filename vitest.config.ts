import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: ['packages/*', 'apps/*', 'examples/*', 'conformance'],
    // Packages may not have tests yet; an empty run must not fail CI.
    passWithNoTests: true,
  },
});
