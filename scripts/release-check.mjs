#!/usr/bin/env node
/**
 * Release check (issue 7, "Release path"): proves that the packages install and work by name,
 * the way a user gets them.
 *
 *   1. source     clones the repository at HEAD into a temp dir (--worktree: plus uncommitted
 *                 changes); the repository itself is never modified
 *   2. install    pnpm install in the clone (frozen lockfile, store first)
 *   3. build      turbo build of the publishable packages
 *   4. version    changesets snapshot: every public package becomes 0.0.0-check-<timestamp>
 *   5. registry   Verdaccio on 127.0.0.1 (free port, storage in the temp dir); @faultline/* is
 *                 local only, everything else is proxied to the registry npm is configured with
 *   6. publish    pnpm publish -r (rewrites workspace: ranges) under the dist-tag `snapshot`
 *   7. artifacts  every published tarball: exports/main/types targets exist, no workspace: left,
 *                 README links absolute (npmjs.com breaks relative ones), PROTOCOL.md in core
 *   8. consumer:* per adapter, in an empty directory outside the workspace: npm init, npm install
 *                 @faultline/core + the adapter + its host libraries by name from the registry,
 *                 then run scripts/release-check/<adapter>.mjs (a server and a client that
 *                 exchange a request and a typed error), killed after 30 s
 *
 * Everything it starts is stopped and the temp dir removed, on success, failure, timeout or
 * Ctrl-C. Exit code 0 only when every step passed. No stdin is read.
 *
 * Usage: node scripts/release-check.mjs [--worktree] [--only=ws,fastify] [--keep] [--verbose]
 *                                        [--timeout=<seconds>]
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const templatesDir = join(root, 'scripts', 'release-check');

/**
 * Adapters and what a user installs next to them: `extras` are other @faultline packages (at the
 * snapshot version; the Fastify websocket route is talked to with the ws client), `hosts` are
 * third-party libraries, at the range the installed @faultline packages declare as peers (what we
 * claim to support), else `latest`.
 */
const ADAPTERS = [
  { pkg: '@faultline/ws', template: 'ws.mjs', extras: [], hosts: ['ws'] },
  { pkg: '@faultline/socket.io', template: 'socket.io.mjs', extras: [], hosts: ['socket.io', 'socket.io-client'] },
  {
    pkg: '@faultline/fastify',
    template: 'fastify.mjs',
    extras: ['@faultline/ws'],
    hosts: ['fastify', '@fastify/websocket', 'ws'],
  },
];

const { values: opts } = parseArgs({
  options: {
    worktree: { type: 'boolean', default: false },
    only: { type: 'string' },
    keep: { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false },
    timeout: { type: 'string', default: '900' },
    help: { type: 'boolean', default: false },
  },
  strict: true,
});
if (opts.help) {
  process.stdout.write(
    'Usage: node scripts/release-check.mjs [--worktree] [--only=ws,socket.io,fastify] [--keep] [--verbose] [--timeout=900]\n' +
      '  --worktree  test the working tree (uncommitted changes included) instead of HEAD\n' +
      '  --only      run the consumer check of these adapters only (short names)\n' +
      '  --keep      keep the temp dir (clone, registry storage, consumers) for inspection\n' +
      '  --verbose   stream the output of every command\n' +
      '  --timeout   overall limit in seconds (default 900)\n',
  );
  process.exit(0);
}
const totalTimeoutMs = Number(opts.timeout) * 1000;
if (!(totalTimeoutMs > 0)) fatal(`--timeout must be a positive number of seconds, got ${opts.timeout}`);
const shortName = (pkg) => pkg.replace(/^@faultline\//, '');
const only = opts.only
  ?.split(',')
  .map((s) => s.trim())
  .filter(Boolean);
for (const name of only ?? []) {
  if (!ADAPTERS.some((a) => shortName(a.pkg) === name)) {
    fatal(`--only: unknown adapter "${name}" (known: ${ADAPTERS.map((a) => shortName(a.pkg)).join(', ')})`);
  }
}

function fatal(message) {
  process.stderr.write(`release-check: ${message}\n`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// Temp dir, child processes, cleanup

const tmp = mkdtempSync(join(realpathSync(tmpdir()), 'faultline-release-check-'));
if (`${tmp}${sep}`.startsWith(`${root}${sep}`)) fatal(`temp dir ${tmp} is inside the workspace`);
const repo = join(tmp, 'repo');

/** Every process we started and that has not been reaped yet; each leads its own process group. */
const live = new Set();
let cleaned = false;

function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // ESRCH: the whole group is gone already.
  }
}

/** SIGTERM to the process group, SIGKILL 3 s later if it has not closed. */
function stop(child) {
  killGroup(child, 'SIGTERM');
  const t = setTimeout(() => killGroup(child, 'SIGKILL'), 3000);
  t.unref();
}

async function cleanup() {
  if (cleaned) return;
  cleaned = true;
  const waits = [...live].map(
    (child) =>
      new Promise((done) => {
        if (child.exitCode !== null || child.signalCode !== null) {
          killGroup(child, 'SIGKILL');
          done();
          return;
        }
        child.once('exit', done);
        stop(child);
        setTimeout(done, 5000).unref();
      }),
  );
  await Promise.all(waits);
  for (const child of live) killGroup(child, 'SIGKILL');
  live.clear();
  removeTmp();
}

function removeTmp() {
  if (opts.keep) {
    process.stdout.write(`kept temp dir: ${tmp}\n`);
    return;
  }
  try {
    rmSync(tmp, { recursive: true, force: true, maxRetries: 3 });
  } catch (error) {
    process.stderr.write(`could not remove ${tmp}: ${error.message}\n`);
  }
}

// Last resort when the process exits without going through cleanup(): synchronous only.
process.on('exit', () => {
  for (const child of live) killGroup(child, 'SIGKILL');
  if (cleaned) return;
  cleaned = true;
  removeTmp();
});
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
  ['SIGHUP', 129],
]) {
  process.on(signal, () => {
    process.stderr.write(`\nrelease-check: ${signal}, cleaning up\n`);
    cleanup().finally(() => process.exit(code));
  });
}
process.on('uncaughtException', (error) => {
  process.stderr.write(`release-check: unexpected error: ${error?.stack ?? error}\n`);
  cleanup().finally(() => process.exit(1));
});
process.on('unhandledRejection', (error) => {
  process.stderr.write(`release-check: unexpected rejection: ${error?.stack ?? error}\n`);
  cleanup().finally(() => process.exit(1));
});

/**
 * The environment of child processes: ours, minus what `pnpm run` / `npm run` export about the
 * workspace (npm_config_*, npm_package_*...), which would otherwise leak the workspace's
 * registry and settings into the clone and the consumers.
 */
const childEnv = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => !/^(npm_|pnpm_)/i.test(key) && key !== 'INIT_CWD'),
);
Object.assign(childEnv, {
  CI: process.env.CI ?? 'true',
  TURBO_TELEMETRY_DISABLED: '1',
  DO_NOT_TRACK: '1',
  NO_UPDATE_NOTIFIER: '1',
  npm_config_update_notifier: 'false',
  npm_config_fund: 'false',
  npm_config_audit: 'false',
});

/**
 * Runs a command in its own process group, output captured (and streamed with --verbose), killed
 * with its whole group after `timeoutMs`. Never rejects.
 */
function run(cmd, args, { cwd = repo, timeoutMs = 300_000, env = {}, stream = opts.verbose } = {}) {
  return new Promise((done) => {
    let out = '';
    let timedOut = false;
    let settled = false;
    if (cleaned) {
      done({ ok: false, code: null, signal: null, timedOut: false, out: 'not started: cleaning up', command: cmd });
      return;
    }
    const child = spawn(cmd, args, {
      cwd,
      env: { ...childEnv, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    live.add(child);
    const onData = (chunk) => {
      out += chunk;
      if (out.length > 4_000_000) out = out.slice(-2_000_000);
      if (stream) process.stdout.write(chunk);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const timer = setTimeout(() => {
      timedOut = true;
      out += `\n[killed after ${timeoutMs / 1000} s]\n`;
      stop(child);
    }, timeoutMs);
    const finish = (code, signal) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      killGroup(child, 'SIGKILL'); // whatever it left behind in its group
      live.delete(child);
      done({ ok: code === 0 && !timedOut, code, signal, timedOut, out, command: [cmd, ...args].join(' ') });
    };
    child.on('error', (error) => {
      out += `\n${error.message}\n`;
      finish(null, null);
    });
    child.on('close', finish);
  });
}

function tail(text, lines = 60) {
  const all = text.trimEnd().split('\n');
  return (all.length > lines ? [`... (${all.length - lines} earlier lines)`, ...all.slice(-lines)] : all)
    .map((l) => `    | ${l}`)
    .join('\n');
}

class StepError extends Error {}

/** Runs a command and throws a StepError with the tail of its output when it fails. */
async function must(cmd, args, options) {
  const result = await run(cmd, args, options);
  if (!result.ok) {
    const why = result.timedOut ? 'timed out' : `exit ${result.code ?? result.signal}`;
    throw new StepError(`\`${result.command}\` ${why}\n${tail(result.out)}`);
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Steps and summary

/** @type {{ name: string, status: 'ok' | 'FAILED' | 'skipped' | 'not run', ms: number, note: string }[]} */
const results = [];
const started = Date.now();

async function step(name, fn) {
  process.stdout.write(`\n==> ${name}\n`);
  const t0 = Date.now();
  try {
    const note = (await fn()) ?? '';
    results.push({ name, status: 'ok', ms: Date.now() - t0, note });
    process.stdout.write(`<== ${name}: ok (${seconds(Date.now() - t0)})${note ? ` - ${note}` : ''}\n`);
    return true;
  } catch (error) {
    const message = error instanceof StepError ? error.message : (error?.stack ?? String(error));
    results.push({ name, status: 'FAILED', ms: Date.now() - t0, note: message.split('\n')[0] });
    process.stdout.write(`<== ${name}: FAILED (${seconds(Date.now() - t0)})\n${message}\n`);
    return false;
  }
}

function skip(name, note) {
  results.push({ name, status: 'skipped', ms: 0, note });
  process.stdout.write(`\n--- ${name}: skipped - ${note}\n`);
}

const seconds = (ms) => `${(ms / 1000).toFixed(1)}s`;

function summary() {
  const width = Math.max(...results.map((r) => r.name.length), 10);
  const lines = results.map(
    (r) => `  ${r.name.padEnd(width)}  ${r.status.padEnd(7)}  ${seconds(r.ms).padStart(7)}  ${r.note.slice(0, 110)}`,
  );
  const failed = results.filter((r) => r.status === 'FAILED' || r.status === 'not run').length;
  process.stdout.write(
    `\n==== release check summary ====\n${lines.join('\n')}\n  ${'total'.padEnd(width)}  ${(failed ? 'FAILED' : 'ok').padEnd(7)}  ${seconds(Date.now() - started).padStart(7)}\n`,
  );
  return failed === 0;
}

// ---------------------------------------------------------------------------------------------
// Helpers

const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'));
const writeJson = (file, value) => writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);

function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.unref();
    server.on('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

/** Public packages of the clone: packages/<dir>/package.json without `private`. */
function publicPackages() {
  const dir = join(repo, 'packages');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((d) => join(dir, d))
    .filter((d) => existsSync(join(d, 'package.json')))
    .map((d) => ({ dir: d, manifest: readJson(join(d, 'package.json')) }))
    .filter((p) => p.manifest.private !== true && typeof p.manifest.name === 'string')
    .sort((a, b) => a.manifest.name.localeCompare(b.manifest.name));
}

/** Every file an `exports` map (any nesting of conditions and subpaths) points at. */
function exportTargets(value, out = new Set()) {
  if (typeof value === 'string') out.add(value);
  else if (Array.isArray(value)) for (const v of value) exportTargets(v, out);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) exportTargets(v, out);
  return out;
}

/** Problems of an unpacked package: missing entry points, leftover workspace: ranges. */
function packageProblems(dir, expectedVersion) {
  const manifest = readJson(join(dir, 'package.json'));
  const problems = [];
  if (manifest.version !== expectedVersion) problems.push(`version ${manifest.version}, expected ${expectedVersion}`);
  const targets = exportTargets(manifest.exports);
  for (const field of ['main', 'module', 'types', 'typings'])
    if (typeof manifest[field] === 'string') targets.add(manifest[field]);
  for (const target of targets) {
    if (target.includes('*')) continue;
    if (!existsSync(join(dir, target))) problems.push(`${target} is referenced but not in the package`);
  }
  for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies']) {
    for (const [name, range] of Object.entries(manifest[field] ?? {})) {
      if (String(range).startsWith('workspace:')) problems.push(`${field}.${name} is still "${range}"`);
      if (field === 'dependencies' && name.startsWith('@faultline/') && !String(range).includes(expectedVersion)) {
        problems.push(`${field}.${name} is "${range}", not the snapshot ${expectedVersion}`);
      }
    }
  }
  // Every bare import of the shipped code must be declared: hoisting in a consumer's node_modules
  // would hide a missing one, a user with another layout (pnpm, another adapter) would not.
  const declared = new Set([
    manifest.name,
    ...['dependencies', 'peerDependencies', 'optionalDependencies'].flatMap((f) => Object.keys(manifest[f] ?? {})),
  ]);
  for (const [file, specifiers] of bareImports(dir)) {
    for (const name of specifiers) {
      if (declared.has(name)) continue;
      const types = file.endsWith('.d.ts') || file.endsWith('.d.mts');
      problems.push(
        `${file} imports "${name}", which is not in dependencies or peerDependencies${types ? ' (types only) (note)' : ''}`,
      );
    }
  }
  if (!existsSync(join(dir, 'README.md'))) problems.push('no README.md in the package (note)');
  else {
    // npmjs.com renders the README away from the repository: a relative link there is a dead link.
    const readme = readFileSync(join(dir, 'README.md'), 'utf8').replace(/```[\s\S]*?```/g, '');
    for (const [, target] of readme.matchAll(/\]\(\s*<?([^)\s>]+)/g)) {
      if (!/^(?:[a-z][a-z0-9+.-]*:|#)/i.test(target)) problems.push(`README.md links to relative "${target}"`);
    }
  }
  if (manifest.name === '@faultline/core' && !existsSync(join(dir, 'PROTOCOL.md'))) {
    problems.push('PROTOCOL.md is not in the package (prepack copies it from the repository root)');
  }
  if (!readdirSync(dir).some((f) => /^licen[cs]e/i.test(f))) problems.push('no LICENSE file in the package');
  return problems;
}

const builtins = new Set(builtinModules);

/** Package names imported by the .js/.mjs/.d.ts files of an unpacked package, per file. */
function bareImports(dir) {
  const found = new Map();
  const walk = (sub) => {
    for (const entry of readdirSync(join(dir, sub), { withFileTypes: true })) {
      const rel = sub ? `${sub}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules') walk(rel);
        continue;
      }
      if (!/\.(m?js|cjs|d\.m?ts)$/.test(entry.name)) continue;
      const code = readFileSync(join(dir, rel), 'utf8')
        .replace(/\/\*[\s\S]*?\*\//g, '') // block comments and TSDoc (their @example imports)
        .replace(/^\s*\/\/.*$/gm, '');
      const names = new Set();
      // Statement-level `import ... from` / `export ... from` / `import 'x'`, and `import('x')` /
      // `require('x')` calls; not a parser, but strings such as "from \"ws\"" in messages do not match.
      const specifiers = [
        ...code.matchAll(/^\s*(?:import|export)\b[^;'"]*?\bfrom\s*(['"])([^'"\s]+)\1/gm),
        ...code.matchAll(/^\s*import\s*(['"])([^'"\s]+)\1/gm),
        ...code.matchAll(/\b(?:import|require)\s*\(\s*(['"])([^'"\s]+)\1\s*\)/g),
      ];
      for (const m of specifiers) {
        const spec = m[2];
        if (
          spec.startsWith('.') ||
          spec.startsWith('/') ||
          spec.startsWith('node:') ||
          builtins.has(spec.split('/')[0])
        )
          continue;
        names.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]);
      }
      if (names.size) found.set(rel, names);
    }
  };
  walk('');
  return found;
}

/** Every directory of `name` under a node_modules tree (to spot duplicate copies). */
function findInstalls(nodeModules, name, out = []) {
  if (!existsSync(nodeModules)) return out;
  const direct = join(nodeModules, ...name.split('/'));
  if (existsSync(join(direct, 'package.json'))) out.push(direct);
  for (const entry of readdirSync(nodeModules)) {
    if (entry.startsWith('.')) continue;
    const scoped = entry.startsWith('@') ? readdirSync(join(nodeModules, entry)).map((e) => join(entry, e)) : [entry];
    for (const pkg of scoped) {
      const nested = join(nodeModules, pkg, 'node_modules');
      if (existsSync(nested) && statSync(nested).isDirectory()) findInstalls(nested, name, out);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Registry

const registry = { port: 0, url: '', child: undefined, log: join(tmp, 'verdaccio.log'), ready: undefined };

async function upstreamRegistry() {
  const result = await run('npm', ['config', 'get', 'registry'], { cwd: tmp, timeoutMs: 30_000 });
  const value = result.ok ? result.out.trim().split('\n').pop().trim() : '';
  const url = /^https?:\/\//.test(value) ? value : 'https://registry.npmjs.org/';
  return url.endsWith('/') ? url : `${url}/`;
}

/** Starts Verdaccio (from the workspace's devDependencies) and resolves when it answers. */
async function startRegistry() {
  let bin;
  try {
    const pkgPath = createRequire(join(root, 'package.json')).resolve('verdaccio/package.json');
    const manifest = readJson(pkgPath);
    bin = join(dirname(pkgPath), typeof manifest.bin === 'string' ? manifest.bin : manifest.bin.verdaccio);
  } catch {
    throw new StepError('verdaccio is not installed: run `pnpm install` at the workspace root first');
  }
  const upstream = await upstreamRegistry();
  const dir = join(tmp, 'registry');
  mkdirSync(dir, { recursive: true });
  const config = join(dir, 'config.yaml');
  const q = JSON.stringify; // a JSON string is a valid YAML scalar
  writeFileSync(
    config,
    [
      `storage: ${q(join(dir, 'storage'))}`,
      'auth:',
      '  htpasswd:',
      `    file: ${q(join(dir, 'htpasswd'))}`,
      'uplinks:',
      '  upstream:',
      `    url: ${q(upstream)}`,
      '    timeout: 60s',
      '    max_fails: 5',
      'packages:',
      "  '@faultline/*':",
      '    access: $all',
      '    publish: $authenticated',
      "  '**':",
      '    access: $all',
      '    publish: $authenticated',
      '    proxy: upstream',
      'web:',
      '  enable: false',
      'publish:',
      '  allow_offline: true',
      'max_body_size: 50mb',
      'log: { type: stdout, format: pretty, level: http }',
      '',
    ].join('\n'),
  );
  for (let attempt = 1; ; attempt++) {
    registry.port = await freePort();
    registry.url = `http://127.0.0.1:${registry.port}`;
    if (cleaned) throw new StepError('not started: cleaning up');
    const fd = openSync(registry.log, 'a');
    const child = spawn(process.execPath, [bin, '--config', config, '--listen', `127.0.0.1:${registry.port}`], {
      cwd: dir,
      env: childEnv,
      stdio: ['ignore', fd, fd],
      detached: true,
    });
    closeSync(fd);
    live.add(child);
    registry.child = child;
    child.on('exit', () => live.delete(child));
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
      try {
        const res = await fetch(`${registry.url}/-/ping`, { signal: AbortSignal.timeout(2000) });
        if (res.ok)
          return `verdaccio ${readJson(join(dirname(bin), '..', 'package.json')).version} at ${registry.url}, upstream ${upstream}`;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    stop(child);
    const log = readFileSync(registry.log, 'utf8');
    if (attempt < 3 && /EADDRINUSE/.test(log)) continue; // lost the port race: try another
    throw new StepError(`verdaccio did not answer on ${registry.url}\n${tail(log)}`);
  }
}

/** Creates a user (htpasswd registration) and returns its token. */
async function registryToken() {
  const name = 'release-check';
  const res = await fetch(`${registry.url}/-/user/org.couchdb.user:${name}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      _id: `org.couchdb.user:${name}`,
      name,
      password: randomBytes(18).toString('base64url'),
      email: 'release-check@localhost',
      type: 'user',
      roles: [],
      date: new Date().toISOString(),
    }),
    signal: AbortSignal.timeout(15_000),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok || typeof body.token !== 'string') {
    throw new StepError(`could not create a registry user: HTTP ${res.status} ${JSON.stringify(body)}`);
  }
  return body.token;
}

// ---------------------------------------------------------------------------------------------
// The check

async function main() {
  const deadline = setTimeout(() => {
    process.stdout.write(`\nrelease-check: exceeded the overall limit of ${opts.timeout} s\n`);
    results.push({ name: 'timeout', status: 'FAILED', ms: totalTimeoutMs, note: `overall limit ${opts.timeout} s` });
    summary();
    cleanup().finally(() => process.exit(1));
  }, totalTimeoutMs);
  deadline.unref();

  process.stdout.write(`release check: temp dir ${tmp}\n`);
  let version = '';
  let packages = [];
  // Verdaccio boots while the clone installs and builds; the `registry` step awaits it.
  let registryStart;
  const proceed =
    (await step('source', async () => {
      const head = (await must('git', ['rev-parse', 'HEAD'], { cwd: root, timeoutMs: 30_000 })).out.trim();
      await must('git', ['clone', '--quiet', '--no-checkout', root, repo], { cwd: tmp, timeoutMs: 120_000 });
      await must('git', ['checkout', '--quiet', '--detach', head], { timeoutMs: 120_000 });
      const dirty = (await must('git', ['status', '--porcelain'], { cwd: root, timeoutMs: 30_000 })).out
        .split('\n')
        .filter(Boolean).length;
      registryStart = startRegistry();
      registryStart.catch(() => {}); // reported by the registry step
      if (!opts.worktree) {
        return `HEAD ${head.slice(0, 7)}${dirty ? ` (${dirty} uncommitted changes not included; --worktree tests them)` : ''}`;
      }
      // Overlay the working tree: modified and untracked (not ignored) files, and deletions.
      const list = (
        await must('git', ['ls-files', '-z', '--modified', '--others', '--exclude-standard'], {
          cwd: root,
          timeoutMs: 30_000,
        })
      ).out
        .split('\0')
        .filter(Boolean);
      let copied = 0;
      let removed = 0;
      for (const file of new Set(list)) {
        const from = join(root, file);
        const to = join(repo, file);
        if (existsSync(from)) {
          mkdirSync(dirname(to), { recursive: true });
          copyFileSync(from, to);
          copied++;
        } else {
          rmSync(to, { force: true });
          removed++;
        }
      }
      return `working tree on HEAD ${head.slice(0, 7)}: ${copied} files copied, ${removed} removed`;
    })) &&
    (await step('install', async () => {
      const frozen = await run('pnpm', ['install', '--frozen-lockfile', '--prefer-offline'], { timeoutMs: 600_000 });
      if (frozen.ok) return 'pnpm install --frozen-lockfile';
      if (!/OUTDATED_LOCKFILE|lockfile/i.test(frozen.out)) {
        throw new StepError(`\`${frozen.command}\` failed\n${tail(frozen.out)}`);
      }
      await must('pnpm', ['install', '--no-frozen-lockfile', '--prefer-offline'], { timeoutMs: 600_000 });
      return 'WARNING: pnpm-lock.yaml is out of date; installed with --no-frozen-lockfile';
    })) &&
    (await step('build', async () => {
      packages = publicPackages();
      if (packages.length === 0) throw new StepError('no public packages under packages/');
      const filters = packages.map((p) => `--filter=${p.manifest.name}`);
      await must('pnpm', ['exec', 'turbo', 'run', 'build', ...filters, '--output-logs=errors-only'], {
        timeoutMs: 600_000,
      });
      return packages.map((p) => p.manifest.name).join(', ');
    })) &&
    (await step('version', async () => {
      // Published packages version together (changesets `fixed`). To prove it, the pending
      // changesets of the clone are replaced by one that bumps only a package no other public
      // package depends on: every public package must still get the snapshot version.
      const names = packages.map((p) => p.manifest.name);
      const dependedOn = new Set(
        packages.flatMap((p) => Object.keys({ ...p.manifest.dependencies, ...p.manifest.peerDependencies })),
      );
      const leaf = names.find((n) => !dependedOn.has(n)) ?? names[0];
      const changesetDir = join(repo, '.changeset');
      for (const file of readdirSync(changesetDir)) {
        if (file.endsWith('.md') && file.toLowerCase() !== 'readme.md') rmSync(join(changesetDir, file));
      }
      writeFileSync(
        join(changesetDir, 'release-check.md'),
        `---\n${JSON.stringify(leaf)}: patch\n---\n\nRelease check.\n`,
      );
      await must('pnpm', ['exec', 'changeset', 'version', '--snapshot', 'check'], { timeoutMs: 120_000 });
      packages = publicPackages();
      const versions = new Set(packages.map((p) => p.manifest.version));
      if (versions.size !== 1) {
        throw new StepError(
          `a changeset for ${leaf} alone did not version every public package: ` +
            `${packages.map((p) => `${p.manifest.name}@${p.manifest.version}`).join(', ')}\n` +
            'published packages version together: list them all in "fixed" of .changeset/config.json',
        );
      }
      version = [...versions][0];
      if (!/^0\.0\.0-check-\d+$/.test(version)) throw new StepError(`unexpected snapshot version ${version}`);
      return `${version} (changeset for ${leaf} alone; fixed group versioned all ${names.length})`;
    })) &&
    (await step('registry', async () => {
      const note = await registryStart;
      const token = await registryToken();
      const host = registry.url.replace(/^https?:/, '');
      const npmrc = join(repo, '.npmrc');
      const existing = existsSync(npmrc) ? `${readFileSync(npmrc, 'utf8').trimEnd()}\n` : '';
      writeFileSync(npmrc, `${existing}registry=${registry.url}/\n${host}/:_authToken=${token}\n`);
      return note;
    })) &&
    (await step('publish', async () => {
      await must(
        'pnpm',
        [
          'publish',
          '-r',
          '--no-git-checks',
          '--tag',
          'snapshot',
          '--access',
          'public',
          '--registry',
          `${registry.url}/`,
          '--report-summary',
        ],
        { timeoutMs: 300_000 },
      );
      const published = readJson(join(repo, 'pnpm-publish-summary.json')).publishedPackages ?? [];
      const names = new Set(published.map((p) => `${p.name}@${p.version}`));
      const missing = packages.filter((p) => !names.has(`${p.manifest.name}@${version}`)).map((p) => p.manifest.name);
      if (missing.length) throw new StepError(`not published: ${missing.join(', ')}`);
      const unexpected = published.filter((p) => !packages.some((q) => q.manifest.name === p.name));
      if (unexpected.length)
        throw new StepError(
          `published packages that are not public packages/*: ${unexpected.map((p) => p.name).join(', ')}`,
        );
      return `${published.length} packages under dist-tag snapshot`;
    })) &&
    (await step('artifacts', async () => {
      const notes = [];
      const errors = [];
      for (const { manifest } of packages) {
        const res = await fetch(`${registry.url}/${manifest.name.replace('/', '%2f')}`, {
          signal: AbortSignal.timeout(30_000),
        });
        if (!res.ok) {
          errors.push(`${manifest.name}: packument HTTP ${res.status}`);
          continue;
        }
        const doc = await res.json();
        if (doc['dist-tags']?.snapshot !== version)
          errors.push(`${manifest.name}: dist-tag snapshot is ${doc['dist-tags']?.snapshot}`);
        const tarball = doc.versions?.[version]?.dist?.tarball;
        if (!tarball) {
          errors.push(`${manifest.name}: no tarball for ${version}`);
          continue;
        }
        const file = join(tmp, 'tarballs', `${shortName(manifest.name)}.tgz`);
        const into = join(tmp, 'tarballs', shortName(manifest.name));
        mkdirSync(into, { recursive: true });
        const bytes = Buffer.from(await (await fetch(tarball, { signal: AbortSignal.timeout(30_000) })).arrayBuffer());
        writeFileSync(file, bytes);
        await must('tar', ['-xzf', file, '-C', into], { cwd: tmp, timeoutMs: 60_000 });
        const files = await must('tar', ['-tzf', file], { cwd: tmp, timeoutMs: 60_000 });
        for (const problem of packageProblems(join(into, 'package'), version)) {
          (problem.endsWith('(note)') ? notes : errors).push(`${manifest.name}: ${problem}`);
        }
        process.stdout.write(
          `    ${manifest.name}@${version}: ${files.out.trim().split('\n').length} files, ${(bytes.length / 1024).toFixed(1)} kB packed\n`,
        );
      }
      for (const n of notes) process.stdout.write(`    note: ${n}\n`);
      if (errors.length) throw new StepError(errors.join('\n'));
      return `entry points present, imports declared, ranges rewritten${notes.length ? `; ${notes.length} notes` : ''}`;
    }));

  // Consumers: each adapter independently, so one failure does not hide the others.
  const present = new Set(packages.map((p) => p.manifest.name));
  for (const adapter of ADAPTERS) {
    const name = `consumer:${shortName(adapter.pkg)}`;
    if (only && !only.includes(shortName(adapter.pkg))) {
      skip(name, 'not selected by --only');
      continue;
    }
    if (!proceed) {
      results.push({ name, status: 'not run', ms: 0, note: 'an earlier step failed' });
      continue;
    }
    if (!present.has(adapter.pkg)) {
      skip(name, `${adapter.pkg} is not in this ${opts.worktree ? 'working tree' : 'commit'} yet`);
      continue;
    }
    await step(name, () => consumer(adapter, version));
  }
  clearTimeout(deadline);
}

/** An empty project outside the workspace that installs by name and runs the consumer program. */
async function consumer(adapter, version) {
  const template = join(templatesDir, adapter.template);
  if (!existsSync(template)) throw new StepError(`no consumer program: ${relative(root, template)} is missing`);
  const dir = join(tmp, `consumer-${shortName(adapter.pkg)}`);
  mkdirSync(dir);
  writeFileSync(join(dir, '.npmrc'), `registry=${registry.url}/\n`);
  await must('npm', ['init', '-y'], { cwd: dir, timeoutMs: 60_000 });
  const manifest = readJson(join(dir, 'package.json'));
  writeJson(join(dir, 'package.json'), { ...manifest, type: 'module', private: true });

  const published = publicPackages();
  const ours = [adapter.pkg, ...adapter.extras];
  const missing = ours.filter((name) => !published.some((p) => p.manifest.name === name));
  if (missing.length) throw new StepError(`not published: ${missing.join(', ')}`);
  const peers = Object.assign(
    {},
    ...ours.map((name) => published.find((p) => p.manifest.name === name).manifest.peerDependencies ?? {}).reverse(),
  );
  const specs = [
    `@faultline/core@${version}`,
    ...ours.map((name) => `${name}@${version}`),
    ...adapter.hosts.map((h) => `${h}@${peers[h] ?? 'latest'}`),
  ];
  process.stdout.write(`    npm install ${specs.join(' ')}\n`);
  await must(
    'npm',
    ['install', '--no-audit', '--no-fund', '--loglevel=error', `--registry=${registry.url}/`, ...specs],
    {
      cwd: dir,
      timeoutMs: 300_000,
    },
  );

  const nodeModules = join(dir, 'node_modules');
  const problems = [];
  for (const name of ['@faultline/core', ...ours]) {
    const copies = findInstalls(nodeModules, name);
    const versions = copies.map((c) => readJson(join(c, 'package.json')).version);
    if (copies.length !== 1) problems.push(`${name}: ${copies.length} copies installed (${versions.join(', ')})`);
    if (versions.some((v) => v !== version))
      problems.push(`${name}: installed ${versions.join(', ')}, expected ${version}`);
  }
  if (problems.length) throw new StepError(problems.join('\n'));
  const hostVersions = adapter.hosts.map(
    (h) => `${h}@${readJson(join(nodeModules, ...h.split('/'), 'package.json')).version}`,
  );

  copyFileSync(template, join(dir, 'index.mjs'));
  const result = await run(process.execPath, ['index.mjs'], { cwd: dir, timeoutMs: 30_000, stream: false });
  process.stdout.write(`${tail(result.out, 40)}\n`);
  if (!result.ok) {
    throw new StepError(
      `consumer program ${result.timedOut ? 'killed after 30 s' : `exited ${result.code ?? result.signal}`}`,
    );
  }
  return `installed by name with ${hostVersions.join(', ')}; request + NOT_FOUND ok`;
}

try {
  await main();
} catch (error) {
  process.stdout.write(`release-check: unexpected error: ${error?.stack ?? error}\n`);
  results.push({ name: 'internal', status: 'FAILED', ms: 0, note: String(error?.message ?? error) });
}
const ok = summary();
if (!ok && existsSync(registry.log)) {
  process.stdout.write(
    `\nverdaccio log (last lines):\n${tail(readFileSync(registry.log, 'utf8'), opts.verbose ? 200 : 30)}\n`,
  );
}
await cleanup();
process.exit(ok ? 0 : 1);
