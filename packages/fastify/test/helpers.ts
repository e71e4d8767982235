import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { afterEach } from 'vitest';
import { type FaultlineFastifyOptions, faultline } from '../src/index.js';

const open: FastifyInstance[] = [];

afterEach(async () => {
  const apps = open.splice(0);
  await Promise.all(apps.map((app) => app.close()));
});

/** One captured pino line. */
export type LogLine = Record<string, unknown> & { level: number; msg?: string };

/** A Fastify logger writing parsed lines into `lines`. */
export function captureLogs(level = 'info'): {
  lines: LogLine[];
  logger: { level: string; stream: { write(line: string): void } };
} {
  const lines: LogLine[] = [];
  return {
    lines,
    logger: { level, stream: { write: (line: string) => lines.push(JSON.parse(line) as LogLine) } },
  };
}

export interface Started {
  app: FastifyInstance;
  url: string;
}

/**
 * A Fastify app with the plugin (unless `plugin: false`), routes added by `setup`, listening on
 * 127.0.0.1:0, closed after the test.
 */
export async function start(
  setup: (app: FastifyInstance) => void | Promise<void>,
  options: { fastify?: FastifyServerOptions; plugin?: FaultlineFastifyOptions | false } = {},
): Promise<Started> {
  const app = Fastify({ logger: false, forceCloseConnections: true, ...options.fastify });
  open.push(app);
  if (options.plugin !== false) await app.register(faultline, options.plugin ?? {});
  await setup(app);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { app, url: `http://127.0.0.1:${address.port}` };
}

/** An app for `inject`, closed after the test. */
export async function build(
  setup: (app: FastifyInstance) => void | Promise<void>,
  options: { fastify?: FastifyServerOptions; plugin?: FaultlineFastifyOptions | false } = {},
): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, forceCloseConnections: true, ...options.fastify });
  open.push(app);
  if (options.plugin !== false) await app.register(faultline, options.plugin ?? {});
  await setup(app);
  await app.ready();
  return app;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
