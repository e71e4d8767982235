import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', client: 'src/client.ts' },
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'es2022',
  platform: 'neutral',
  external: [
    '@faultline/core',
    '@faultline/ws',
    '@faultline/ws/server',
    'fastify',
    'fastify-plugin',
    '@fastify/websocket',
    'ws',
  ],
});
