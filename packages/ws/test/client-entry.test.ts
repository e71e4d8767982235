import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { brotliCompressSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { assertBuilt, bundleClient, distClient } from './bundle.js';

/** Every module specifier a built ES module imports or re-exports, static or dynamic. */
function specifiers(code: string): string[] {
  const out: string[] = [];
  const patterns = [
    /\b(?:import|export)\s[^;]*?\bfrom\s*["']([^"']+)["']/g,
    /\bimport\s*["']([^"']+)["']/g,
    /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g,
    /\brequire\s*\(\s*["']([^"']+)["']\s*\)/g,
  ];
  for (const re of patterns) for (const m of code.matchAll(re)) out.push(m[1] as string);
  return out;
}

describe('client entry', () => {
  it('dist/client.js imports no ws and no node:* module', () => {
    assertBuilt();
    const code = readFileSync(distClient, 'utf8');
    const imported = specifiers(code);
    expect(imported).toContain('@faultline/core');
    const builtins = new Set(builtinModules);
    for (const s of imported) {
      expect(s, `client imports ${s}`).not.toMatch(/^(node:|ws$|ws\/)/);
      expect(builtins.has(s), `client imports the Node builtin ${s}`).toBe(false);
      // No shared chunk that could reach server code.
      expect(s.startsWith('.'), `client imports the chunk ${s}`).toBe(false);
    }
    expect(code).not.toMatch(/\bBuffer\b|\bprocess\./);
  });

  it('bundles for the browser (core included) within its size budget', async () => {
    const min = await bundleClient(true);
    // The same measure as size-limit (minified, brotli) against the budget in package.json.
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    const limit = /^([\d.]+) kB$/.exec(pkg['size-limit'][0].limit);
    expect(limit).not.toBeNull();
    expect(brotliCompressSync(min).length).toBeLessThanOrEqual(Number(limit?.[1]) * 1000);
  });
});
