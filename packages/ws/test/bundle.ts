/** Bundles the built client entry for browsers, with `@faultline/core` resolved, at test time. */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export const distClient = fileURLToPath(new URL('../dist/client.js', import.meta.url));

export function assertBuilt(): void {
  if (!existsSync(distClient)) {
    throw new Error(
      `${distClient} is missing: run \`pnpm --filter @faultline/core build && pnpm --filter @faultline/ws build\` first`,
    );
  }
}

/** The client entry and everything it imports, as one browser ES module. */
export async function bundleClient(minify = false): Promise<string> {
  assertBuilt();
  const result = await build({
    entryPoints: [distClient],
    bundle: true,
    format: 'esm',
    // `browser`: an import of `ws` or a `node:*` module would fail to resolve here.
    platform: 'browser',
    target: 'es2022',
    write: false,
    minify,
    logLevel: 'silent',
  });
  return (result.outputFiles[0] as { text: string }).text;
}
