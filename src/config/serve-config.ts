import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { z } from 'zod';
import { readYamlFile, YamlFileError } from './yaml-file.js';
import { parseByteSize, parseDuration } from '../util/units.js';
import { parseUpstreamUrl, ConfigError, type UpstreamTarget } from '../proxy/upstream.js';

export { ConfigError };

/** Every setting of `pgveil serve`, as written in the config file (snake_case). */
const fileSchema = z
  .object({
    listen: z.string(),
    upstream: z.string(),
    tls_cert: z.string(),
    tls_key: z.string(),
    max_connections: z.union([z.number(), z.string()]),
    max_message_size: z.union([z.number(), z.string()]),
    idle_timeout: z.union([z.number(), z.string()]),
    drain_timeout: z.union([z.number(), z.string()]),
    connect_timeout: z.union([z.number(), z.string()]),
    log_level: z.string(),
    policy: z.string(),
    catalog_dsn: z.string(),
    catalog_refresh: z.union([z.number(), z.string()]),
  })
  .partial()
  .strict();

export type RawServeSettings = z.infer<typeof fileSchema>;
type Key = keyof RawServeSettings;

const KEYS: Key[] = [
  'listen', 'upstream', 'tls_cert', 'tls_key', 'max_connections', 'max_message_size',
  'idle_timeout', 'drain_timeout', 'connect_timeout', 'log_level', 'policy', 'catalog_dsn', 'catalog_refresh',
];

/** PGVEIL_LISTEN, PGVEIL_UPSTREAM, ... one per setting. */
export const envName = (key: Key): string => `PGVEIL_${key.toUpperCase()}`;

const DEFAULTS: Required<Pick<RawServeSettings, 'listen' | 'max_connections' | 'max_message_size' | 'idle_timeout' | 'drain_timeout' | 'connect_timeout' | 'log_level' | 'catalog_refresh'>> = {
  catalog_refresh: '60s',
  listen: '127.0.0.1:6432',
  max_connections: 1000,
  max_message_size: '64MiB',
  idle_timeout: 0,
  drain_timeout: '30s',
  connect_timeout: '10s',
  log_level: 'info',
};

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface ServeSettings {
  listenHost: string;
  listenPort: number;
  upstream: UpstreamTarget;
  tls?: { cert: Buffer; key: Buffer };
  maxConnections: number;
  maxMessageSize: number;
  idleTimeoutMs: number;
  drainTimeoutMs: number;
  connectTimeoutMs: number;
  logLevel: LogLevel;
  /** Masking policy file; absent = transparent proxy. */
  policyFile?: string;
  /** Side connection for the catalog (its database part is replaced per session database). */
  catalogDsn?: string;
  catalogRefreshMs: number;
}

export function readConfigFile(file: string): RawServeSettings {
  let source;
  try {
    source = readYamlFile(file);
  } catch (err) {
    throw new ConfigError((err as YamlFileError).message);
  }
  if (source.value === null || source.value === undefined) return {};
  const parsed = fileSchema.safeParse(source.value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    if (issue.code === 'unrecognized_keys') {
      // Point at the unknown key itself, not at the start of the mapping.
      throw new ConfigError(`${source.where([...path, issue.keys[0]])}: unknown setting "${issue.keys.join('", "')}" (known: ${KEYS.join(', ')})`);
    }
    throw new ConfigError(`${source.where(path)}: ${path.join('.') || 'file'}: ${issue.message}`);
  }
  return parsed.data;
}

export function settingsFromEnv(env: NodeJS.ProcessEnv): RawServeSettings {
  const out: RawServeSettings = {};
  for (const key of KEYS) {
    const v = env[envName(key)];
    if (v !== undefined && v !== '') (out as Record<string, string>)[key] = v;
  }
  return out;
}

/** Merges layers (later wins: file, env, flags) and validates into typed settings. */
export function resolveServeSettings(...layers: RawServeSettings[]): ServeSettings {
  const merged: RawServeSettings = { ...DEFAULTS };
  for (const layer of layers) {
    for (const key of KEYS) if (layer[key] !== undefined) (merged as Record<string, unknown>)[key] = layer[key];
  }
  const field = <T>(key: Key, parse: (v: never) => T): T => {
    try {
      return parse(merged[key] as never);
    } catch (err) {
      throw new ConfigError(`${key} (--${key.replace(/_/g, '-')} / ${envName(key)}): ${(err as Error).message}`);
    }
  };
  const [listenHost, listenPort] = field('listen', parseListen);
  if (!merged.upstream) throw new ConfigError(`upstream is required: --upstream postgres://HOST:PORT (or ${envName('upstream')})`);
  const upstream = field('upstream', (v: string) => parseUpstreamUrl(v));
  if (Boolean(merged.tls_cert) !== Boolean(merged.tls_key)) throw new ConfigError('tls_cert and tls_key must be given together');
  const tls = merged.tls_cert
    ? { cert: field('tls_cert', readPem), key: field('tls_key', readPem) }
    : undefined;
  if (tls) {
    try {
      createSecureContext(tls);
    } catch (err) {
      throw new ConfigError(`tls_cert / tls_key (${merged.tls_cert}, ${merged.tls_key}) are not a usable PEM certificate and key: ${(err as Error).message}`);
    }
  }
  const maxConnections = field('max_connections', (v: string | number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`"${v}" is not a positive whole number`);
    return n;
  });
  const logLevel = field('log_level', (v: string) => {
    if (!(LOG_LEVELS as readonly string[]).includes(v)) throw new Error(`"${v}" is not one of ${LOG_LEVELS.join(', ')}`);
    return v as LogLevel;
  });
  return {
    listenHost,
    listenPort,
    upstream,
    tls,
    maxConnections,
    maxMessageSize: field('max_message_size', parseByteSize),
    idleTimeoutMs: field('idle_timeout', parseDuration),
    drainTimeoutMs: field('drain_timeout', parseDuration),
    connectTimeoutMs: field('connect_timeout', parseDuration),
    logLevel,
    policyFile: merged.policy || undefined,
    catalogDsn: merged.catalog_dsn ? field('catalog_dsn', (v: string) => {
      try {
        new URL(v);
      } catch {
        throw new Error('is not a postgres:// URL');
      }
      return v;
    }) : undefined,
    catalogRefreshMs: field('catalog_refresh', parseDuration),
  };
}

function parseListen(v: string): [string, number] {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(v.trim());
  if (!m) throw new Error(`"${v}" is not HOST:PORT`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`port ${port} is out of range`);
  return [m[1] ?? (m[2] || '0.0.0.0'), port];
}

function readPem(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`cannot read "${file}": ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}
