/**
 * The `pgveil` command as an operator meets it, run as a child process from the
 * compiled dist/ (build first: `npx tsc -p tsconfig.build.json`): help, bad
 * settings (exit 2, one clear line, no stack trace), precedence of flags / env /
 * config file, log lines, SIGTERM draining, and memory under a slow reader.
 */
import { backendsRunning, pollUntil } from './support/wait.js';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { BIN, runCli, startCli, startServe, upstreamUrl, type CliProcess, type StartedCli } from './support/cli.js';
import { freePort } from './support/net.js';
import { pgInfo, superConfig } from './support/proxy.js';
import { AUTH_USERS } from './support/pg-info.js';

const TRUST = AUTH_USERS.trust.user;
const MiB = 1024 * 1024;

let dir: string;
let admin: pg.Client;
const started: CliProcess[] = [];
const clients: pg.Client[] = [];

async function serve(port: number, extra: string[] = [], env: Record<string, string> = {}): Promise<StartedCli> {
  const s = await startServe(port, extra, { env });
  started.push(s.cli);
  return s;
}

async function pgClient(port: number, config: Partial<pg.ClientConfig> = {}): Promise<pg.Client> {
  const c = new pg.Client({ host: '127.0.0.1', port, user: TRUST, database: 'postgres', ...config });
  c.on('error', () => undefined);
  clients.push(c);
  await c.connect();
  return c;
}

/** Tries a TCP connect; true if something accepted it. */
function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}



function escapeRe(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function file(name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

beforeAll(async () => {
  if (!existsSync(new URL('../dist/cli/main.js', import.meta.url))) {
    throw new Error(`dist/ is missing: run \`npx tsc -p tsconfig.build.json\` before these tests (${BIN} imports it)`);
  }
  dir = mkdtempSync(path.join(tmpdir(), 'pgveil-cli-'));
  admin = new pg.Client(superConfig());
  admin.on('error', () => undefined);
  await admin.connect();
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  await Promise.all(started.map((c) => c.stop(3_000)));
  await admin
    .query("select pg_terminate_backend(pid) from pg_stat_activity where pid <> pg_backend_pid() and strpos(query, 'cli_') > 0")
    .catch(() => undefined);
  await admin.end().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------

describe('help', () => {
  it('pgveil --help exits 0 and lists serve', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\s*serve\b/m);
  });

  it('pgveil serve --help exits 0 and names the environment variable of every setting', async () => {
    const r = await runCli(['serve', '--help']);
    expect(r.code).toBe(0);
    for (const name of [
      'PGVEIL_CONFIG',
      'PGVEIL_LISTEN',
      'PGVEIL_UPSTREAM',
      'PGVEIL_TLS_CERT',
      'PGVEIL_TLS_KEY',
      'PGVEIL_MAX_CONNECTIONS',
      'PGVEIL_MAX_MESSAGE_SIZE',
      'PGVEIL_IDLE_TIMEOUT',
      'PGVEIL_DRAIN_TIMEOUT',
      'PGVEIL_CONNECT_TIMEOUT',
      'PGVEIL_LOG_LEVEL',
    ]) {
      expect(r.stdout, name).toContain(name);
    }
  });
});

describe('bad settings exit 2 with one clear message and no stack trace', () => {
  const up = () => upstreamUrl();

  async function expectUsageError(args: string[], mustContain: string[], env: Record<string, string> = {}): Promise<string> {
    const r = await runCli(args, { env });
    const stderr = r.stderr.trim();
    expect(r.code, `exit code for ${args.join(' ')}; stderr: ${stderr}`).toBe(2);
    expect(stderr).not.toBe('');
    expect(stderr, 'stack trace frames on stderr').not.toMatch(/^\s+at\s/m);
    expect(stderr.split('\n').length, stderr).toBeLessThanOrEqual(3);
    for (const s of mustContain) expect(stderr).toContain(s);
    // It never started.
    expect(r.stdout).not.toContain('"listening"');
    return stderr;
  }

  it('missing --upstream', async () => {
    await expectUsageError(['serve', '--listen', '127.0.0.1:0'], ['upstream']);
  });

  it.each(['not a url', 'http://127.0.0.1:5432', 'postgres://'])('upstream that is not a postgres URL: %s', async (url) => {
    await expectUsageError(['serve', '--listen', '127.0.0.1:0', '--upstream', url], [url]);
  });

  it('bad sslmode', async () => {
    const info = pgInfo();
    await expectUsageError(['serve', '--listen', '127.0.0.1:0', '--upstream', `postgres://${info.host}:${info.port}?sslmode=bogus`], ['sslmode', 'bogus']);
  });

  it("--idle-timeout '5 parsecs'", async () => {
    await expectUsageError(['serve', '--listen', '127.0.0.1:0', '--upstream', up(), '--idle-timeout', '5 parsecs'], ['idle', '5 parsecs']);
  });

  it.each(['lots', '0', '-3', '2.5'])('--max-connections %s', async (n) => {
    await expectUsageError(['serve', '--listen', '127.0.0.1:0', '--upstream', up(), `--max-connections=${n}`], ['max', `"${n}"`]);
  });

  it('bad value from the environment names the variable', async () => {
    await expectUsageError(['serve', '--listen', '127.0.0.1:0', '--upstream', up()], ['PGVEIL_MAX_CONNECTIONS', 'abc'], {
      PGVEIL_MAX_CONNECTIONS: 'abc',
    });
  });

  it('unknown key in the --config YAML: file:line:col of that key', async () => {
    const cfg = file(
      'unknown-key.yaml',
      ['# pgveil test config', 'listen: 127.0.0.1:0', `upstream: "${up()}"`, 'max_conections: 5', 'log_level: info', ''].join('\n'),
    );
    const err = await expectUsageError(['serve', '--config', cfg], ['max_conections']);
    expect(err).toMatch(new RegExp(`${escapeRe(cfg)}:\\d+:\\d+`));
    // The location must point at the offending key (line 4), not at the start of the mapping.
    expect(err).toMatch(new RegExp(`${escapeRe(cfg)}:4:\\d+`));
  });

  it('YAML syntax error: file:line:col', async () => {
    const cfg = file('syntax.yaml', ['listen: 127.0.0.1:0', `upstream: "${up()}"`, 'log_level: info', 'foo: bar: baz', ''].join('\n'));
    await expectUsageError(['serve', '--config', cfg], [`${cfg}:4:`]);
  });

  it('YAML duplicate key: file:line:col', async () => {
    const cfg = file('dup.yaml', ['listen: 127.0.0.1:0', `upstream: "${up()}"`, 'listen: 127.0.0.1:1', ''].join('\n'));
    await expectUsageError(['serve', '--config', cfg], [`${cfg}:3:`]);
  });

  it('missing --config file', async () => {
    const cfg = path.join(dir, 'does-not-exist.yaml');
    await expectUsageError(['serve', '--config', cfg], [cfg]);
  });

  it('unreadable TLS certificate (missing file)', async () => {
    const cert = path.join(dir, 'missing.crt');
    await expectUsageError(['serve', '--listen', '127.0.0.1:0', '--upstream', up(), '--tls-cert', cert, '--tls-key', pgInfo().keyFile], [cert]);
  });

  it('unreadable TLS certificate (a directory)', async () => {
    await expectUsageError(['serve', '--listen', '127.0.0.1:0', '--upstream', up(), '--tls-cert', dir, '--tls-key', pgInfo().keyFile], [dir]);
  });

  it('TLS certificate file that is not PEM', async () => {
    const cert = file('garbage.crt', 'this is not a certificate\n');
    await expectUsageError(['serve', '--listen', '127.0.0.1:0', '--upstream', up(), '--tls-cert', cert, '--tls-key', pgInfo().keyFile], [cert]);
  });
});

describe('precedence: flags beat env beat config file', () => {
  it('listens where the highest layer says, and the layers merge per setting', async () => {
    const [fromFile, fromEnv, fromFlag] = [await freePort(), await freePort(), await freePort()];
    const cfg = file(
      'precedence.yaml',
      [`listen: 127.0.0.1:${fromFile}`, `upstream: "${upstreamUrl()}"`, 'max_connections: 1', ''].join('\n'),
    );
    const check = async (s: StartedCli, expected: number, others: number[]) => {
      expect(s.port).toBe(expected);
      const c = await pgClient(expected);
      expect((await c.query('select 1 as v')).rows).toEqual([{ v: 1 }]);
      for (const p of others) expect(await canConnect(p), `port ${p} should not be listening`).toBe(false);
      return c;
    };

    // All three layers: the flag wins. max_connections comes from the file.
    const all = await startCli(['serve', '--config', cfg, '--listen', `127.0.0.1:${fromFlag}`], {
      env: { PGVEIL_LISTEN: `127.0.0.1:${fromEnv}` },
    });
    started.push(all.cli);
    const c1 = await check(all, fromFlag, [fromFile, fromEnv]);
    const second = new pg.Client({ host: '127.0.0.1', port: fromFlag, user: TRUST, database: 'postgres' });
    second.on('error', () => undefined);
    const err = await second.connect().then(
      () => undefined,
      (e: unknown) => e,
    );
    await second.end().catch(() => undefined);
    expect((err as { code?: string } | undefined)?.code, 'max_connections: 1 from the config file').toBe('53300');
    await c1.end();
    expect((await all.cli.stop()).code).toBe(0);

    // Env and file (the file named by PGVEIL_CONFIG): env wins.
    const envWins = await startCli(['serve'], { env: { PGVEIL_CONFIG: cfg, PGVEIL_LISTEN: `127.0.0.1:${fromEnv}` } });
    started.push(envWins.cli);
    await (await check(envWins, fromEnv, [fromFile, fromFlag])).end();
    expect((await envWins.cli.stop()).code).toBe(0);

    // File only.
    const fileOnly = await startCli(['serve', '--config', cfg]);
    started.push(fileOnly.cli);
    await (await check(fileOnly, fromFile, [fromEnv, fromFlag])).end();
    expect((await fileOnly.cli.stop()).code).toBe(0);
  });
});

describe('logs', () => {
  it("one 'session start' and one 'session end' per session, and no statement text at info", async () => {
    const { cli, port } = await serve(await freePort());
    const secret = `cli_secret_${Math.random().toString(36).slice(2)}_literal`;
    const sessions = [
      { user: TRUST, config: {} },
      { user: pgInfo().superuser, config: { user: pgInfo().superuser, password: pgInfo().superpass } },
    ];
    const localPorts: number[] = [];
    for (const s of sessions) {
      const c = await pgClient(port, s.config);
      localPorts.push((c as unknown as { connection: { stream: net.Socket } }).connection.stream.localPort as number);
      const r = await c.query(`select '${secret}' as v, $1::text as p`, [`${secret}_param`]);
      expect(r.rows).toEqual([{ v: secret, p: `${secret}_param` }]);
      await c.end();
    }
    await pollUntil('two session end lines', () => cli.logs('session end').length >= 2, 5_000);
    await new Promise((r) => setTimeout(r, 200));

    const starts = cli.logs('session start');
    const ends = cli.logs('session end');
    expect(starts).toHaveLength(2);
    expect(ends).toHaveLength(2);
    for (let i = 0; i < sessions.length; i++) {
      const start = starts[i];
      expect(start).toMatchObject({
        level: 30,
        user: sessions[i].user,
        database: 'postgres',
        client: `127.0.0.1:${localPorts[i]}`,
      });
      expect(String(start.session)).toMatch(/^\w{6,}$/);
      const matching = ends.filter((e) => e.session === start.session);
      expect(matching, `session end for ${String(start.session)}`).toHaveLength(1);
      const end = matching[0];
      expect(end).toMatchObject({ user: sessions[i].user, database: 'postgres' });
      expect(typeof end.durationMs).toBe('number');
      expect(end.durationMs as number).toBeGreaterThanOrEqual(0);
      // The statement went one way and the value came back the other.
      expect(end.bytesFromClient as number).toBeGreaterThan(secret.length);
      expect(end.bytesToClient as number).toBeGreaterThan(secret.length);
    }
    expect(starts[0].session).not.toBe(starts[1].session);
    const everything = cli.rawLines.join('\n') + cli.stderr;
    expect(everything).not.toContain(secret);
  });
});

describe('SIGTERM', () => {
  it('stops accepting, lets the running query finish, then exits 0', async () => {
    const port = await freePort();
    const { cli } = await serve(port);
    const c = await pgClient(port);
    const tag = `cli_sigterm_${process.pid}_${Date.now()}`;
    const running = c.query(`select pg_sleep(2) as s, 'finished' as r /* ${tag} */`);
    await pollUntil('query running', async () => (await backendsRunning(admin, tag)).some((b) => b.state === 'active'), 5_000);

    cli.child.kill('SIGTERM');
    await cli.waitForLine((l) => l.msg === 'shutting down', 5_000);
    // New connections are refused...
    const late = new pg.Client({ host: '127.0.0.1', port, user: TRUST, database: 'postgres', connectionTimeoutMillis: 3_000 });
    late.on('error', () => undefined);
    const lateResult = await late.connect().then(
      () => late.query('select 1').then(() => 'served', () => 'failed'),
      () => 'refused',
    );
    await late.end().catch(() => undefined);
    expect(lateResult).not.toBe('served');
    // ...the running query completes...
    const r = await running;
    expect(r.rows).toEqual([{ s: '', r: 'finished' }]);
    // ...and once the client is done, the process exits 0.
    await c.end();
    const exit = await cli.waitExit(10_000);
    expect(exit).toEqual({ code: 0, signal: null });
  });

  it('--drain-timeout 1s: a pg_sleep(30) session is ended and the process exits 0 within a few seconds', async () => {
    const port = await freePort();
    const { cli } = await serve(port, ['--drain-timeout', '1s']);
    const c = await pgClient(port);
    const tag = `cli_drain_${process.pid}_${Date.now()}`;
    const running = c.query(`select pg_sleep(30) /* ${tag} */`).then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string },
    );
    await pollUntil('query running', async () => (await backendsRunning(admin, tag)).some((b) => b.state === 'active'), 5_000);
    const t0 = Date.now();
    cli.child.kill('SIGTERM');
    const exit = await cli.waitExit(8_000);
    const took = Date.now() - t0;
    console.log(`exited ${took} ms after SIGTERM with drain timeout 1s`);
    expect(exit).toEqual({ code: 0, signal: null });
    const err = await running;
    expect(err, 'the query should have failed').toBeInstanceOf(Error);
    const e = err as Error & { code?: string };
    expect(e.code === '57P01' || /terminat|ended|closed/i.test(e.message), `${e.code} ${e.message}`).toBe(true);
    await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where pid <> pg_backend_pid() and strpos(query, $1) > 0', [tag]);
  });
});

// ---- backpressure ------------------------------------------------------------------

/** Counts bytes and messages of a backend stream without keeping any of it. */
class StreamCounter {
  bytes = 0;
  dataRows = 0;
  done = false;
  error: string | undefined;
  private header = Buffer.alloc(5);
  private headerFill = 0;
  private remaining = 0;
  private type = 0;
  private errBody: Buffer[] | null = null;

  push(chunk: Buffer): void {
    this.bytes += chunk.length;
    let i = 0;
    while (i < chunk.length) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, chunk.length - i);
        if (this.errBody) this.errBody.push(chunk.subarray(i, i + take));
        this.remaining -= take;
        i += take;
        if (this.remaining === 0) this.endMessage();
        continue;
      }
      const take = Math.min(5 - this.headerFill, chunk.length - i);
      chunk.copy(this.header, this.headerFill, i, i + take);
      this.headerFill += take;
      i += take;
      if (this.headerFill < 5) break;
      this.headerFill = 0;
      this.type = this.header[0];
      this.remaining = this.header.readUInt32BE(1) - 4;
      this.errBody = this.type === 0x45 ? [] : null;
      if (this.remaining === 0) this.endMessage();
    }
  }

  private endMessage(): void {
    if (this.type === 0x44) this.dataRows++;
    else if (this.type === 0x5a) this.done = true;
    else if (this.type === 0x45) this.error = Buffer.concat(this.errBody ?? []).toString('utf8').replace(/\0/g, ' ');
  }
}

describe('backpressure', () => {
  it('1,000,000 rows to a slow reader: proxy RSS grows < 64 MB while the result is > 100 MB', async () => {
    const port = await freePort();
    const { cli } = await serve(port);
    // Warm up the process (JIT, buffers), then take the baseline.
    for (let i = 0; i < 3; i++) {
      const w = await pgClient(port);
      await w.query("select g, repeat('x', 100) from generate_series(1, 20000) g");
      await w.end();
    }
    await new Promise((r) => setTimeout(r, 300));
    const baseline = cli.rss();
    let peak = baseline;
    const sample = () => {
      peak = Math.max(peak, cli.rss());
    };

    const counter = new StreamCounter();
    const sock = net.connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    sock.on('error', () => undefined);
    let ready: () => void = () => undefined;
    const readyP = new Promise<void>((r) => (ready = r));
    sock.on('data', (chunk: Buffer) => {
      counter.push(chunk);
      if (counter.done) ready();
    });
    const params = Buffer.from(`user\0${TRUST}\0database\0postgres\0\0`);
    const startup = Buffer.alloc(8);
    startup.writeUInt32BE(8 + params.length, 0);
    startup.writeUInt32BE(196608, 4);
    sock.write(Buffer.concat([startup, params]));
    await readyP;
    counter.done = false;
    const afterStartup = counter.bytes;

    const sql = Buffer.from("select g, repeat('x', 100) from generate_series(1, 1000000) g\0");
    const q = Buffer.alloc(5);
    q[0] = 0x51;
    q.writeUInt32BE(4 + sql.length, 1);
    sock.write(Buffer.concat([q, sql]));
    const t0 = Date.now();
    const finished = new Promise<void>((resolve) => {
      const check = () => (counter.done || sock.destroyed ? resolve() : setTimeout(check, 20));
      check();
    });
    const sampler = setInterval(sample, 100);
    try {
      // Phase 1: the reader is stalled for 4 s (PostgreSQL can produce the whole result in that time).
      sock.pause();
      await new Promise((r) => setTimeout(r, 4_000));
      const pausedBytes = counter.bytes - afterStartup;
      const pausedPeak = peak;
      // Phase 2: tiny bursts.
      for (let i = 0; i < 15; i++) {
        sock.resume();
        await new Promise((r) => setImmediate(r));
        sock.pause();
        await new Promise((r) => setTimeout(r, 100));
      }
      const slowBytes = counter.bytes - afterStartup;
      // Phase 3: read at full speed to the end.
      sock.resume();
      await Promise.race([finished, new Promise((r) => setTimeout(r, 40_000))]);
      sample();
      const total = counter.bytes - afterStartup;
      console.log(
        `backpressure: baseline RSS ${(baseline / MiB).toFixed(1)} MiB, peak ${(peak / MiB).toFixed(1)} MiB ` +
          `(+${((peak - baseline) / MiB).toFixed(1)} MiB; +${((pausedPeak - baseline) / MiB).toFixed(1)} MiB while stalled); ` +
          `reader had taken ${(pausedBytes / MiB).toFixed(1)} MiB while stalled, ${(slowBytes / MiB).toFixed(1)} MiB after the slow bursts, ` +
          `${(total / MiB).toFixed(1)} MiB total in ${Date.now() - t0} ms`,
      );
      expect(counter.error).toBeUndefined();
      expect(counter.done, 'stream did not finish').toBe(true);
      expect(counter.dataRows).toBe(1_000_000);
      // Control: the result is far bigger than the memory bound...
      expect(total).toBeGreaterThan(100 * 1_000_000);
      // ...and most of it was still to come when the reader stalled.
      expect(slowBytes).toBeLessThan(total / 2);
      // The bound itself.
      expect(peak - baseline).toBeLessThan(64 * MiB);
    } finally {
      clearInterval(sampler);
      sock.destroy();
    }
  });
});
