import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { server: 'src/server.ts', client: 'src/client.ts' },
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'es2022',
  platform: 'neutral',
  external: ['socket.io', 'socket.io-client', '@faultline/core'],
});
