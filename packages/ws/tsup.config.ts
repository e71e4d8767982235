import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { server: 'src/server.ts', client: 'src/client.ts' },
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  // Each entry self-contained: the client bundle must never reach into server code.
  splitting: false,
  target: 'es2022',
  external: ['ws', '@faultline/core'],
});
