import { Writable } from 'node:stream';
import { readFileSync } from 'node:fs';
import { inject } from 'vitest';
import { pino } from 'pino';
import pg from 'pg';
import { Proxy, type ProxyOptions } from '../../src/proxy/server.js';
import { parseUpstreamUrl } from '../../src/proxy/upstream.js';
import type { PgInfo } from './pg-info.js';

export interface RunningProxy {
  proxy: Proxy;
  port: number;
  /** Structured log lines the proxy wrote. */
  logs: Record<string, unknown>[];
  stop(): Promise<void>;
}

export function pgInfo(): PgInfo {
  return inject('pg');
}

/** Starts a proxy in this process on a free port in front of the test server. */
export async function startProxy(
  overrides: Partial<Omit<ProxyOptions, 'upstream'>> & { upstreamQuery?: string; upstreamUrl?: string } = {},
): Promise<RunningProxy> {
  const info = pgInfo();
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const upstreamUrl = overrides.upstreamUrl ?? `postgres://${info.host}:${info.port}${overrides.upstreamQuery ?? '?sslmode=disable'}`;
  const proxy = new Proxy({
    listenHost: '127.0.0.1',
    listenPort: 0,
    upstream: parseUpstreamUrl(upstreamUrl),
    maxConnections: 100,
    maxMessageSize: 64 * 1024 * 1024,
    idleTimeoutMs: 0,
    drainTimeoutMs: 2_000,
    connectTimeoutMs: 5_000,
    logger: pino({ level: 'debug' }, sink),
    ...overrides,
  });
  const { port } = await proxy.listen();
  return { proxy, port, logs, stop: () => proxy.shutdown() };
}

export function proxyTls(): { cert: Buffer; key: Buffer } {
  const info = pgInfo();
  return { cert: readFileSync(info.certFile), key: readFileSync(info.keyFile) };
}

/** Connection settings for the superuser, direct or through a proxy port. */
export function superConfig(port?: number): pg.ClientConfig {
  const info = pgInfo();
  return { host: info.host, port: port ?? info.port, user: info.superuser, password: info.superpass, database: 'postgres' };
}

export async function withClient<T>(config: pg.ClientConfig, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client(config);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}
