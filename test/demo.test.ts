/**
 * `pgveil demo` from a newcomer's point of view: one command, then the psql
 * lines it prints work (masked as analyst, raw emails as app_backend).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, expect, it } from 'vitest';
import pg from 'pg';
import { BIN, cliEnv } from './support/cli.js';
import { freePort } from './support/net.js';

let child: ChildProcess | undefined;
afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child?.once('exit', r));
    child.kill('SIGINT');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

it('pgveil demo starts an embedded PostgreSQL behind pgveil and its printed examples work', async () => {
  const port = await freePort();
  child = spawn(process.execPath, [BIN, 'demo', '--port', String(port)], { env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (out += d));
  const deadline = Date.now() + 90_000;
  while (!out.includes('Press Ctrl-C') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
  expect(out).toContain(`port=${port} user=analyst`);

  const as = async (user: string, sql: string) => {
    const c = new pg.Client({ host: '127.0.0.1', port, user, password: user, database: 'postgres' });
    await c.connect();
    try {
      return await c.query(sql);
    } finally {
      await c.end();
    }
  };
  const masked = await as('analyst', 'SELECT email, ssn, card_number FROM app.users ORDER BY id LIMIT 3');
  expect(masked.rows).toHaveLength(3);
  for (const r of masked.rows) {
    expect(r.email).toMatch(/^\*\*\*@/);
    expect(r.ssn).toMatch(/^\*\*\*-\*\*-\d{4}$/);
  }
  await expect(as('analyst', "SELECT id FROM app.users WHERE ssn LIKE '1%'")).rejects.toMatchObject({ code: '42501' });
  const raw = await as('app_backend', 'SELECT email FROM app.users ORDER BY id LIMIT 1');
  expect(raw.rows[0].email).toMatch(/^[a-z]+\.[a-z]+1@example\.com$/);
}, 120_000);
