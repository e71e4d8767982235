// Bundles the page's script in memory at startup with esbuild: no build step, no files written.
// `virtual:transports` is generated from the transports this server offers, so the page only
// lists what works.
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const web = fileURLToPath(new URL('../web/', import.meta.url));

/** @param {string[]} modules files under web/transports/ to include, in order */
export async function bundleClient(modules) {
  const transportsPlugin = {
    name: 'transports',
    setup(b) {
      b.onResolve({ filter: /^virtual:transports$/ }, () => ({ path: 'transports', namespace: 'virtual' }));
      b.onLoad({ filter: /.*/, namespace: 'virtual' }, () => ({
        contents:
          modules.map((m, i) => `import t${i} from './transports/${m}';`).join('\n') +
          `\nexport const transports = [${modules.map((_, i) => `t${i}`).join(', ')}];\n`,
        resolveDir: web,
        loader: 'js',
      }));
    },
  };
  const result = await build({
    entryPoints: [`${web}main.js`],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    sourcemap: 'inline',
    logLevel: 'silent',
    plugins: [transportsPlugin],
  });
  return result.outputFiles[0].text;
}
