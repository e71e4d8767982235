/**
 * The client entry runs in browsers: its module graph imports no server code and no `node:*`,
 * and `socket.io-client` only for types.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const src = join(dirname(fileURLToPath(import.meta.url)), '..', 'src');

/** Every `import ... from '...'` of a source file, with whether it is type-only. */
function imports(file: string): { spec: string; typeOnly: boolean }[] {
  const text = readFileSync(join(src, file), 'utf8');
  const out: { spec: string; typeOnly: boolean }[] = [];
  for (const m of text.matchAll(/^(?:import|export)\s+(type\s+)?[^;]*?from\s+'([^']+)';/gms)) {
    out.push({ spec: m[2] as string, typeOnly: m[1] !== undefined });
  }
  return out;
}

describe('client entry', () => {
  it('imports only core, its own browser-safe modules, and socket.io-client types', () => {
    const seen = new Set<string>();
    const queue = ['client.ts'];
    const external: { spec: string; typeOnly: boolean; from: string }[] = [];
    while (queue.length > 0) {
      const file = queue.shift() as string;
      if (seen.has(file)) continue;
      seen.add(file);
      for (const imp of imports(file)) {
        if (imp.spec.startsWith('./')) queue.push(imp.spec.slice(2).replace(/\.js$/, '.ts'));
        else external.push({ ...imp, from: file });
      }
    }
    expect([...seen].sort()).toEqual(['client.ts', 'rehydrate.ts', 'wire.ts']);
    for (const imp of external) {
      expect(imp.spec, `${imp.from} imports ${imp.spec}`).not.toMatch(/^node:|^socket\.io$|^ws$/);
      if (imp.spec === 'socket.io-client')
        expect(imp.typeOnly, `${imp.from}: socket.io-client for types only`).toBe(true);
      expect(['@faultline/core', 'socket.io-client']).toContain(imp.spec);
    }
  });
});
