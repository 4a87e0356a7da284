/**
 * A schema with synthetic PII, roles, and a proxy running the example policy
 * in front of it: the common ground of the masking tests.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import pg from 'pg';
import { PolicyStore } from '../../src/policy/store.js';
import { CatalogManager } from '../../src/catalog/manager.js';
import { pgInfo, startProxy, superConfig, withClient, type RunningProxy } from './proxy.js';

export const EXAMPLE_POLICY = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../policies/example.yaml');

export const PII = [
  { id: 1, ssn: '123-45-6789', email: 'alice.smith@example.com', card: '4111111111111111', salary: 98000.5, birth: '1985-04-12', notes: 'called from 555-0100' },
  { id: 2, ssn: '987-65-4321', email: 'bob.jones@example.org', card: '5500005555555559', salary: 123456.78, birth: '1990-12-31', notes: 'VIP customer bob' },
];

/** Creates the app schema (in a database of its own) and login roles analyst / app_backend. */
export async function createPiiDatabase(database: string): Promise<void> {
  await withClient(superConfig(), async (c) => {
    await c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await c.query(`CREATE DATABASE ${database}`);
    for (const role of ['analyst', 'app_backend', 'dev_joe']) {
      // Test files run in parallel: another may create the role between the check and the CREATE.
      await c.query(`DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${role}') THEN CREATE ROLE ${role} LOGIN PASSWORD 'pw-${role}'; END IF;
        EXCEPTION WHEN unique_violation OR duplicate_object THEN NULL; END $$`);
    }
  });
  await withClient({ ...superConfig(), database }, async (c) => {
    await c.query(`
      CREATE SCHEMA app;
      CREATE TABLE app.users (id int PRIMARY KEY, name text, ssn text, email varchar(200), card_number text,
                              salary numeric(12,2), birth_date date, notes text, created_at timestamptz DEFAULT now());
      CREATE TABLE app.orders (id int PRIMARY KEY, user_id int REFERENCES app.users, total numeric(10,2));
      GRANT USAGE ON SCHEMA app TO PUBLIC;
      GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA app TO PUBLIC;
      GRANT CREATE ON SCHEMA app TO PUBLIC;
      GRANT CREATE ON SCHEMA public TO PUBLIC;
    `);
    for (const u of PII) {
      await c.query('INSERT INTO app.users (id, name, ssn, email, card_number, salary, birth_date, notes) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)', [
        u.id, `user${u.id}`, u.ssn, u.email, u.card, u.salary, u.birth, u.notes]);
      await c.query('INSERT INTO app.orders VALUES ($1, $2, $3)', [u.id * 10, u.id, 10.5 * u.id]);
    }
  });
}

export async function startMaskingProxy(policyFile = EXAMPLE_POLICY): Promise<RunningProxy & { catalogs: CatalogManager; policy: PolicyStore }> {
  const info = pgInfo();
  const logger = pino({ level: 'silent' });
  const policy = new PolicyStore(policyFile, logger);
  const catalogs = new CatalogManager({
    connection: (database) => ({ host: info.host, port: info.port, user: info.superuser, password: info.superpass, database }),
    refreshMs: 0,
    logger,
  });
  const px = await startProxy({ policy, catalogs, hashKey: Buffer.from('test-hash-key') });
  return { ...px, catalogs, policy };
}

export function clientAs(port: number, user: string, database: string): pg.ClientConfig {
  return { host: '127.0.0.1', port, user, password: `pw-${user}`, database };
}

export type MaskingProxy = Awaited<ReturnType<typeof startMaskingProxy>>;

/**
 * For red-team suites: a masking proxy with `policy` (YAML text, written to a
 * temporary file) and a proxy without a policy (the control runs). stop()
 * stops both and removes the file.
 */
export async function startPolicyProxies(policy: string): Promise<{ masked: MaskingProxy; plain: RunningProxy; stop(): Promise<void> }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'pgveil-redteam-'));
  const file = path.join(dir, 'policy.yaml');
  writeFileSync(file, policy);
  const masked = await startMaskingProxy(file);
  const plain = await startProxy();
  return {
    masked,
    plain,
    async stop() {
      await masked.stop();
      await plain.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
