/**
 * Adversarial leak suite: every attack of test/support/attacks.ts is run as
 * the analyst through pgveil with the example policy, via psql (simple
 * protocol), node-postgres (extended: unnamed, named, binary results, row-limited
 * cursors, COPY streams), postgres.js (extended, prepared and unnamed, cursors,
 * pipelining) and a raw protocol client (Execute without Describe, binary
 * results, protocol-level name tricks). Everything the client receives —
 * rows, COPY data, errors (message, detail, hint, where...), notices,
 * notifications — goes through the leak detector, which must find no raw
 * value. Each attack's expectation (masked / refused / error withheld) is
 * checked too.
 *
 * Then the same suite runs through a proxy without a policy (transparent):
 * there the detector must report leaks for (nearly) every attack that returns
 * values, which shows the suite can fail.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import Cursor from 'pg-cursor';
import { to as copyTo } from 'pg-copy-streams';
import postgres from 'postgres';
import { pgInfo, startProxy, superConfig, withClient, type RunningProxy } from './support/proxy.js';
import { clientAs, createPiiDatabase, startMaskingProxy } from './support/masking-env.js';
import { RawConnection, message, query as rawQuery, fields as rawFields, type RawMessage, cstr, i16, i32 } from './support/raw.js';
import { LeakDetector, serialize, type Finding } from './support/leak-detector.js';
import { ATTACKS, FIXTURE_SQL, SECRETS, isSingleStatement, type Attack, type ClientFamily, type Step } from './support/attacks.js';
import type { RawOp, RawRound } from './support/attacks.js';

const DB = 'leak_suite';
const USER = 'analyst';
// Trust authentication, so the raw client needs no SCRAM. A superuser, but the policy
// gives it no raw access: pgveil must mask for it exactly as for the analyst.
const RAW_USER = 'pv_trust';
const CHANNEL = 'leak_ch';
const CONCURRENCY = 6;
const STEP_TIMEOUT_MS = 30_000;

type Mode = 'masked' | 'control';
type Channel = 'rows' | 'copy' | 'error' | 'notice' | 'notification';

interface Outcome {
  attack: Attack;
  mode: Mode;
  family: ClientFamily;
  variant: string;
  /** First error of any step (later ones follow from it). */
  error?: { code: string; message: string };
  /** Rows (or COPY lines) received over all steps. */
  rows: number;
  findings: (Finding & { channel: Channel })[];
  /** Runner-level failure: hang, dropped connection, client exception. */
  crash?: string;
  ms: number;
}

const detector = new LeakDetector(SECRETS);
const results: Record<Mode, Outcome[]> = { masked: [], control: [] };
const listenerLog: Record<Mode, string[]> = { masked: [], control: [] };
let maskedProxy: RunningProxy | undefined;
let plainProxy: RunningProxy | undefined;
let psqlAvailable = true;
let rawAvailable = true;
let queryToXmlOid = 0;
let seq = 0;

// ---------------------------------------------------------------------------
// Recording what a client received
// ---------------------------------------------------------------------------

class Recorder {
  readonly received: Record<Channel, string[]> = { rows: [], copy: [], error: [], notice: [], notification: [] };
  error?: { code: string; message: string };
  rows = 0;
  crash?: string;
  readonly started = Date.now();

  constructor(readonly attack: Attack, readonly mode: Mode, readonly family: ClientFamily, readonly variant: string) {}

  add(channel: Channel, value: unknown): void {
    this.received[channel].push(typeof value === 'string' ? value : serialize(value));
  }

  fail(code: string | undefined, messageText: string, whole: unknown): void {
    this.add('error', whole);
    if (!this.error) this.error = { code: code ?? '?????', message: messageText };
  }

  finish(): Outcome {
    const findings: Outcome['findings'] = [];
    for (const [channel, texts] of Object.entries(this.received) as [Channel, string[]][]) {
      for (const f of detector.scan(texts.join('\n'))) findings.push({ ...f, channel });
    }
    const o: Outcome = { attack: this.attack, mode: this.mode, family: this.family, variant: this.variant, rows: this.rows, findings, error: this.error, crash: this.crash, ms: Date.now() - this.started };
    results[this.mode].push(o);
    return o;
  }
}

function isConnectionTrouble(err: unknown): boolean {
  const m = err instanceof Error ? err.message : String(err);
  return /terminated unexpectedly|ECONNRESET|EPIPE|Connection terminated|CONNECTION_CLOSED|CONNECTION_ENDED|socket hang up|timed out/i.test(m);
}

function withTimeout<T>(p: Promise<T>, what: string, ms = STEP_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
    }),
  ]);
}

// ---------------------------------------------------------------------------
// Statement text of one execution
// ---------------------------------------------------------------------------

interface Exec {
  steps: Step[];
  tok: string;
}

function prepareExec(attack: Attack, mode: Mode): Exec {
  const n = ++seq;
  const tok = `${mode === 'masked' ? 'm' : 'c'}${n}`;
  const id = 600_000 + n;
  const sub = (sql: string) => sql.replaceAll('{n}', tok).replaceAll('{id}', String(id));
  let steps = attack.steps.map((s) => ({ ...s, sql: sub(s.sql) }));
  if (attack.rollback) steps = [{ sql: 'BEGIN' }, ...steps, { sql: 'ROLLBACK' }];
  return { steps, tok };
}

function literal(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  if (Array.isArray(v)) return literal(`{${v.map((x) => String(x)).join(',')}}`);
  return `'${String(v).replaceAll("'", "''")}'`;
}

/** The step with its parameters written in as literals (for psql). */
function inlined(step: Step): string {
  const params = step.params ?? [];
  return step.sql.replace(/\$(\d+)/g, (m, i: string) => (Number(i) <= params.length ? literal(params[Number(i) - 1]) : m));
}

/** Parameters as text-format wire values. */
function textParam(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (Array.isArray(v)) return `{${v.map((x) => String(x)).join(',')}}`;
  return String(v);
}

// ---------------------------------------------------------------------------
// psql (simple query protocol)
// ---------------------------------------------------------------------------

function psql(port: number, commands: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  // NULL printed visibly, so a row of masked NULLs still counts as a row.
  const args = ['-X', '-A', '-t', '-q', '-P', 'null=<NULL>', '-v', 'VERBOSITY=verbose', '-h', '127.0.0.1', '-p', String(port), '-U', USER, '-d', DB];
  for (const c of commands) args.push('-c', c);
  return new Promise((resolve) => {
    execFile(
      'psql',
      args,
      {
        env: { ...process.env, PGPASSWORD: `pw-${USER}`, PGSSLMODE: 'disable', PGCONNECT_TIMEOUT: '10', PGAPPNAME: 'leak-suite' },
        timeout: STEP_TIMEOUT_MS,
        maxBuffer: 16 * 1024 * 1024,
        encoding: 'buffer',
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0;
        resolve({ stdout: Buffer.from(stdout).toString('utf8'), stderr: Buffer.from(stderr).toString('utf8') + (err?.killed ? '\n[killed: timeout]' : ''), code });
      },
    );
  });
}

async function runPsql(attack: Attack, mode: Mode, port: number): Promise<void> {
  const exec = prepareExec(attack, mode);
  const rec = new Recorder(attack, mode, 'psql', 'psql');
  const commands = [`LISTEN ${CHANNEL}`, ...exec.steps.map(inlined)];
  const { stdout, stderr, code } = await psql(port, commands);
  const lines = stdout.split('\n').filter((l) => l.length > 0);
  for (const l of lines) {
    if (l.startsWith('Asynchronous notification')) rec.add('notification', l);
    else {
      rec.add(attack.copy ? 'copy' : 'rows', l);
      rec.rows++;
    }
  }
  for (const l of stderr.split('\n')) {
    const m = /^(?:psql:[^\n]*?: )?(ERROR|FATAL|PANIC):\s+([0-9A-Z]{5}):\s*(.*)$/.exec(l);
    if (m) {
      rec.fail(m[2], m[3], l);
      continue;
    }
    if (/^(?:psql:[^\n]*?: )?(NOTICE|WARNING|INFO|LOG|DEBUG)/.test(l)) rec.add('notice', l);
    else if (l.trim()) rec.add('error', l);
  }
  if (/server closed the connection unexpectedly|connection to server .* failed|\[killed: timeout\]|no connection to the server/.test(stderr) || code === 2) {
    rec.crash = `psql exit ${code}: ${stderr.split('\n').filter(Boolean).slice(-3).join(' | ')}`;
  }
  rec.finish();
}

// ---------------------------------------------------------------------------
// node-postgres (extended protocol; simple for multi-statement strings)
// ---------------------------------------------------------------------------

const textTypes = { getTypeParser: () => (v: string) => v };

function decodeBinaryField(oid: number, v: Buffer | string): unknown {
  const buf = Buffer.isBuffer(v) ? v : Buffer.from(v, 'latin1');
  const out: Record<string, unknown> = { raw: buf };
  try {
    out.parsed = pg.types.getTypeParser(oid, 'binary')(buf as never);
  } catch {
    /* no binary parser for this type */
  }
  if (oid === 1082 && buf.length === 4) {
    const d = new Date(Date.UTC(2000, 0, 1) + buf.readInt32BE(0) * 86_400_000);
    if (!Number.isNaN(d.getTime())) out.date = d.toISOString().slice(0, 10);
  }
  return out;
}
const binaryTypes = {
  getTypeParser: (oid: number, format?: string) => (format === 'binary' ? (v: Buffer | string) => decodeBinaryField(oid, v) : (v: string) => v),
};

/**
 * One connection, reused by consecutive attacks that leave no session state
 * (single statements); notices and notifications go to the attack running now.
 */
class PgSession {
  private client: pg.Client | undefined;
  current: Recorder | undefined;

  constructor(private readonly port: number) {}

  async get(): Promise<pg.Client> {
    if (this.client) return this.client;
    const client = new pg.Client({ ...clientAs(this.port, USER, DB), statement_timeout: STEP_TIMEOUT_MS } as pg.ClientConfig);
    client.on('error', () => undefined);
    client.on('notice', (n) => this.current?.add('notice', n));
    client.on('notification', (n) => this.current?.add('notification', n));
    await withTimeout(client.connect(), 'connect');
    await client.query(`LISTEN ${CHANNEL}`);
    this.client = client;
    return client;
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => undefined);
  }
}

function recordResult(rec: Recorder, res: pg.QueryResult | pg.QueryResult[]): void {
  for (const r of Array.isArray(res) ? res : [res]) {
    rec.rows += r.rows?.length ?? 0;
    rec.add('rows', r.rows ?? []);
  }
}

function recordError(rec: Recorder, err: unknown): void {
  const e = err as { code?: string; message?: string };
  rec.fail(e.code, e.message ?? String(err), err);
  if (isConnectionTrouble(err)) rec.crash = `${(err as Error).message}`;
}

type PgVariant = 'pg-ext' | 'pg-named' | 'pg-binary' | 'pg-cursor' | 'pg-simple' | 'pg-steps' | 'pg-copy' | 'pg-named-then-execute';

async function pgStep(client: pg.Client, rec: Recorder, variant: PgVariant, step: Step, tok: string): Promise<boolean> {
  try {
    switch (variant) {
      case 'pg-simple':
        recordResult(rec, (await withTimeout(client.query({ text: step.sql, rowMode: 'array', types: textTypes } as pg.QueryConfig), 'query')) as unknown as pg.QueryResult[]);
        break;
      case 'pg-named':
        recordResult(rec, await withTimeout(client.query({ name: `atk_${tok}`, text: step.sql, values: step.params ?? [], rowMode: 'array', types: textTypes } as pg.QueryConfig), 'query'));
        break;
      case 'pg-binary':
        recordResult(rec, await withTimeout(client.query({ text: step.sql, values: step.params ?? [], rowMode: 'array', types: binaryTypes, binary: true, queryMode: 'extended' } as pg.QueryConfig), 'query'));
        break;
      case 'pg-cursor': {
        const cursor = client.query(new Cursor(step.sql, step.params ?? [], { rowMode: 'array', types: textTypes } as never));
        try {
          for (;;) {
            const rows = await withTimeout(cursor.read(1), 'cursor read');
            if (!rows.length) break;
            rec.rows += rows.length;
            rec.add('rows', rows);
          }
        } finally {
          await cursor.close().catch(() => undefined);
        }
        break;
      }
      case 'pg-copy': {
        const stream = client.query(copyTo(step.sql));
        await withTimeout(
          new Promise<void>((resolve, reject) => {
            stream.on('data', (chunk: Buffer) => {
              rec.add('copy', chunk.toString('utf8'));
              rec.rows += chunk.toString('utf8').split('\n').filter(Boolean).length;
            });
            stream.on('error', reject);
            stream.on('end', () => resolve());
          }),
          'copy',
        );
        break;
      }
      default:
        recordResult(rec, await withTimeout(client.query({ text: step.sql, values: step.params ?? [], rowMode: 'array', types: textTypes, queryMode: 'extended' } as pg.QueryConfig), 'query'));
    }
    return true;
  } catch (err) {
    recordError(rec, err);
    return !rec.crash;
  }
}

/** The control run needs one variant per kind of flow, not every format. */
const CONTROL_VARIANTS = new Set(['psql', 'pg-ext', 'pg-steps', 'pg-simple', 'pg-copy', 'pg-named-then-execute', 'pgjs', 'pgjs-steps', 'pgjs-simple', 'pgjs-copy', 'raw-text', 'raw-scenario']);

function pgVariants(attack: Attack, mode: Mode): PgVariant[] {
  let v: PgVariant[];
  if (attack.scenario === 'named-then-execute') v = ['pg-named-then-execute'];
  else if (attack.scenario) v = [];
  else if (attack.copy) v = ['pg-copy'];
  else if (attack.multi) v = ['pg-simple'];
  else if (isSingleStatement(attack)) v = ['pg-ext', 'pg-named', 'pg-binary', ...(attack.cursor ? (['pg-cursor'] as const) : [])];
  else v = ['pg-steps'];
  return mode === 'control' ? v.filter((x) => CONTROL_VARIANTS.has(x)) : v;
}

/** Runs an attack's node-postgres variants; `shared` is reused (single statements) or a fresh session is used. */
async function runPg(attack: Attack, mode: Mode, port: number, shared?: PgSession): Promise<void> {
  for (const variant of pgVariants(attack, mode)) {
    const exec = prepareExec(attack, mode);
    const rec = new Recorder(attack, mode, 'pg', variant);
    const session = shared ?? new PgSession(port);
    session.current = rec;
    try {
      const client = await session.get();
      if (variant === 'pg-named-then-execute') {
        const name = `atk_${exec.tok}`;
        if (await pgStep(client, rec, 'pg-named', exec.steps[0], exec.tok)) await pgStep(client, rec, 'pg-simple', { sql: `EXECUTE ${name}` }, exec.tok);
      } else {
        for (const step of exec.steps) if (!(await pgStep(client, rec, variant, step, exec.tok))) break;
      }
    } catch (err) {
      rec.crash = `pg: ${(err as Error).message}`;
    } finally {
      session.current = undefined;
      if (!shared || rec.crash) await session.close();
      rec.finish();
    }
  }
}

// ---------------------------------------------------------------------------
// postgres.js (extended protocol, text results, pipelining)
// ---------------------------------------------------------------------------

type PgjsVariant = 'pgjs' | 'pgjs-unnamed' | 'pgjs-cursor' | 'pgjs-simple' | 'pgjs-steps' | 'pgjs-copy';

function pgjs(port: number, onnotice: (n: unknown) => void, prepare: boolean): postgres.Sql {
  return postgres({
    host: '127.0.0.1',
    port,
    user: USER,
    pass: `pw-${USER}`,
    database: DB,
    max: 1,
    prepare,
    fetch_types: false,
    onnotice,
    connect_timeout: 10,
    connection: { statement_timeout: STEP_TIMEOUT_MS } as never,
  });
}

/** postgres.js instances (prepared and unnamed), reused like PgSession. */
class PgjsSession {
  private readonly sqls = new Map<boolean, postgres.Sql>();
  current: Recorder | undefined;

  constructor(private readonly port: number) {}

  get(prepare: boolean): postgres.Sql {
    let sql = this.sqls.get(prepare);
    if (!sql) this.sqls.set(prepare, (sql = pgjs(this.port, (n) => this.current?.add('notice', n), prepare)));
    return sql;
  }

  async close(): Promise<void> {
    const all = [...this.sqls.values()];
    this.sqls.clear();
    await Promise.all(all.map((s) => s.end({ timeout: 2 }).catch(() => undefined)));
  }
}

function pgjsVariants(attack: Attack, mode: Mode): PgjsVariant[] {
  let v: PgjsVariant[];
  if (attack.scenario) v = [];
  // postgres.js never ends a COPY stream that fails after CopyOutResponse (nor reports the error): not usable there.
  else if (attack.copy && attack.expect === 'error') v = [];
  else if (attack.copy) v = ['pgjs-copy'];
  else if (attack.multi) v = ['pgjs-simple'];
  else if (isSingleStatement(attack)) v = ['pgjs', 'pgjs-unnamed', ...(attack.cursor ? (['pgjs-cursor'] as const) : [])];
  else v = ['pgjs-steps'];
  return mode === 'control' ? v.filter((x) => CONTROL_VARIANTS.has(x)) : v;
}

function recordPgjsError(rec: Recorder, err: unknown): void {
  const e = err as { code?: string; message?: string };
  rec.fail(e.code, e.message ?? String(err), err);
  if (isConnectionTrouble(err)) rec.crash = `postgres.js: ${e.message}`;
}

async function runPgjs(attack: Attack, mode: Mode, port: number, shared?: PgjsSession): Promise<void> {
  for (const variant of pgjsVariants(attack, mode)) {
    const exec = prepareExec(attack, mode);
    const rec = new Recorder(attack, mode, 'pgjs', variant);
    const session = shared ?? new PgjsSession(port);
    session.current = rec;
    const sql = session.get(variant !== 'pgjs-unnamed');
    try {
      for (const step of exec.steps) {
        try {
          const params = (step.params ?? []) as never[];
          if (variant === 'pgjs-copy') {
            const stream = await withTimeout(sql.unsafe(step.sql).readable(), 'copy');
            await withTimeout(
              new Promise<void>((resolve, reject) => {
                stream.on('data', (chunk: Buffer) => {
                  rec.add('copy', chunk.toString('utf8'));
                  rec.rows += chunk.toString('utf8').split('\n').filter(Boolean).length;
                });
                stream.on('error', reject);
                stream.on('end', () => resolve());
                stream.on('close', () => resolve());
              }),
              'copy',
            );
          } else if (variant === 'pgjs-cursor') {
            const q = sql.unsafe(step.sql, params).cursor(1);
            await withTimeout(
              (async () => {
                for await (const rows of q) {
                  rec.rows += rows.length;
                  rec.add('rows', [...rows]);
                }
              })(),
              'cursor',
            );
          } else {
            const q = variant === 'pgjs-simple' ? sql.unsafe(step.sql).simple() : sql.unsafe(step.sql, params);
            const res = await withTimeout(q.values(), 'query');
            const sets = variant === 'pgjs-simple' && Array.isArray(res[0]) && Array.isArray((res as unknown[][])[0][0]) ? (res as unknown as unknown[][][]) : [res as unknown[][]];
            for (const r of sets) {
              rec.rows += r.length;
              rec.add('rows', [...r]);
            }
          }
        } catch (err) {
          recordPgjsError(rec, err);
          if (rec.crash) break;
        }
      }
    } finally {
      session.current = undefined;
      if (!shared || rec.crash) await session.close();
      rec.finish();
    }
  }
}

/**
 * All single statements at once on one postgres.js connection: pipelined.
 * Notices can't be told apart per statement there; they are judged as a whole.
 */
const pipelineNotices: Record<Mode, string[]> = { masked: [], control: [] };

async function runPgjsPipeline(attacks: Attack[], mode: Mode, port: number): Promise<void> {
  const recs = attacks.map((a) => new Recorder(a, mode, 'pgjs', 'pgjs-pipeline'));
  const sql = pgjs(port, (n) => pipelineNotices[mode].push(serialize(n)), true);
  try {
    await withTimeout(
      Promise.all(
        attacks.map(async (a, i) => {
          const exec = prepareExec(a, mode);
          const step = exec.steps[0];
          try {
            const rows = await sql.unsafe(step.sql, (step.params ?? []) as never[]).values();
            recs[i].rows += rows.length;
            recs[i].add('rows', [...rows]);
          } catch (err) {
            recordPgjsError(recs[i], err);
          }
        }),
      ),
      'pipeline',
      120_000,
    );
  } catch (err) {
    for (const r of recs) r.crash ??= `pipeline: ${(err as Error).message}`;
  } finally {
    await sql.end({ timeout: 2 }).catch(() => undefined);
    for (const r of recs) r.finish();
  }
}

// ---------------------------------------------------------------------------
// Raw protocol client: what drivers don't do
// ---------------------------------------------------------------------------

const parseMsg = (name: string, sql: string) => message('P', Buffer.concat([cstr(name), cstr(sql), i16(0)]));
function bindMsg(portal: string, stmt: string, params: (string | null)[], formats: number[]): Buffer {
  const parts = [cstr(portal), cstr(stmt), i16(0), i16(params.length)];
  for (const p of params) {
    if (p === null) parts.push(i32(-1));
    else {
      const b = Buffer.from(p, 'utf8');
      parts.push(i32(b.length), b);
    }
  }
  parts.push(i16(formats.length), ...formats.map(i16));
  return message('B', Buffer.concat(parts));
}
const describeMsg = (kind: 'S' | 'P', name: string) => message('D', Buffer.concat([Buffer.from(kind), cstr(name)]));
const executeMsg = (portal: string, max = 0) => message('E', Buffer.concat([cstr(portal), i32(max)]));
const syncMsg = () => message('S');
function functionCallMsg(oid: number, args: string[]): Buffer {
  const parts = [i32(oid), i16(0), i16(args.length)];
  for (const a of args) {
    const b = Buffer.from(a, 'utf8');
    parts.push(i32(b.length), b);
  }
  parts.push(i16(0));
  return message('F', Buffer.concat(parts));
}

async function rawConnect(port: number): Promise<RawConnection> {
  const conn = await RawConnection.connect(port);
  conn.startup({ user: RAW_USER, database: DB });
  await waitFor(conn, 'Z', 1);
  const e = conn.messages.find((m) => m.type === 'E');
  conn.messages.length = 0;
  if (e) throw new Error(`raw login failed: ${rawFields(e.body).M}`);
  return conn;
}

/** Waits until `count` messages of `type` are in the buffer. */
async function waitFor(conn: RawConnection, type: string, count: number): Promise<void> {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  while (conn.messages.filter((m) => m.type === type).length < count) {
    if (conn.closed) throw new Error(`connection closed waiting for ${type}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${type}: got ${conn.messages.map((m) => m.type).join('')}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Sends, waits for `zs` ReadyForQuery, records everything received. */
async function rawExchange(conn: RawConnection, rec: Recorder, bytes: Buffer[], zs: number, binary = false): Promise<RawMessage[]> {
  conn.write(Buffer.concat(bytes));
  await waitFor(conn, 'Z', zs);
  const msgs = conn.messages.splice(0, conn.messages.length);
  for (const m of msgs) {
    switch (m.type) {
      case 'D': {
        rec.rows++;
        const n = m.body.readUInt16BE(0);
        let o = 2;
        const values: unknown[] = [];
        for (let i = 0; i < n; i++) {
          const len = m.body.readInt32BE(o);
          o += 4;
          if (len < 0) continue;
          const v = m.body.subarray(o, o + len);
          o += len;
          values.push(v);
          if (binary && len === 4) values.push(decodeBinaryField(1082, v));
        }
        rec.add('rows', values);
        break;
      }
      case 'd':
        rec.rows++;
        rec.add('copy', m.body);
        break;
      case 'V':
        rec.rows++;
        rec.add('rows', m.body);
        break;
      case 'E': {
        const f = rawFields(m.body);
        rec.fail(f.C, f.M ?? '', f);
        break;
      }
      case 'N':
        rec.add('notice', rawFields(m.body));
        break;
      case 'A':
        rec.add('notification', m.body);
        break;
      case 'T':
        rec.add('rows', m.body.toString('latin1'));
        break;
      default:
    }
  }
  return msgs;
}

type RawVariant = 'raw-text' | 'raw-binary' | 'raw-mixed' | 'raw-scenario';

function rawVariants(attack: Attack, mode: Mode): RawVariant[] {
  let v: RawVariant[] = [];
  if (attack.scenario) v = ['raw-scenario'];
  else if (isSingleStatement(attack)) v = ['raw-text', 'raw-binary', 'raw-mixed'];
  return mode === 'control' ? v.filter((x) => CONTROL_VARIANTS.has(x)) : v;
}

class RawSession {
  conn: RawConnection | undefined;

  constructor(private readonly port: number) {}

  async get(rec: Recorder): Promise<RawConnection> {
    if (this.conn && !this.conn.closed) return this.conn;
    const conn = await rawConnect(this.port);
    await rawExchange(conn, rec, [rawQuery(`LISTEN ${CHANNEL}`)], 1);
    this.conn = conn;
    return conn;
  }

  close(): void {
    this.conn?.close();
    this.conn = undefined;
  }
}

async function runRaw(attack: Attack, mode: Mode, port: number, shared?: RawSession): Promise<void> {
  for (const variant of rawVariants(attack, mode)) {
    const exec = prepareExec(attack, mode);
    const rec = new Recorder(attack, mode, 'raw', variant === 'raw-scenario' ? `raw-${attack.scenario}` : variant);
    const session = shared && variant !== 'raw-scenario' ? shared : new RawSession(port);
    try {
      const conn = await session.get(rec);
      const step = exec.steps[0];
      const params = (step.params ?? []).map(textParam);
      const name = `atk_${exec.tok}`;
      switch (variant === 'raw-scenario' ? attack.scenario : variant) {
        case 'raw-text':
        case 'raw-binary':
          // No Describe: pgveil has to learn the row shape on its own.
          await rawExchange(conn, rec, [parseMsg('', step.sql), bindMsg('', '', params, variant === 'raw-binary' ? [1] : []), executeMsg(''), syncMsg()], 1, variant === 'raw-binary');
          break;
        case 'raw-mixed': {
          // Describe first, then ask for text and binary in alternating columns.
          const described = await rawExchange(conn, rec, [parseMsg(name, step.sql), describeMsg('S', name), syncMsg()], 1);
          const t = described.find((m) => m.type === 'T');
          // Statements without rows (NoData) still run, with no result formats.
          const formats = t ? Array.from({ length: t.body.readUInt16BE(0) }, (_, i) => i % 2) : [];
          await rawExchange(conn, rec, [bindMsg('', name, params, formats), executeMsg(''), syncMsg()], 1, true);
          break;
        }
        case 'portal-fetch':
          await rawExchange(conn, rec, [rawQuery('BEGIN')], 1);
          await rawExchange(conn, rec, [parseMsg('', step.sql), bindMsg(name, '', [], []), syncMsg()], 1);
          await rawExchange(conn, rec, [rawQuery(`FETCH ALL FROM ${name}`)], 1);
          await rawExchange(conn, rec, [rawQuery('COMMIT')], 1);
          break;
        case 'cursor-execute':
          await rawExchange(conn, rec, [rawQuery('BEGIN')], 1);
          await rawExchange(conn, rec, [rawQuery(`DECLARE ${name} CURSOR FOR ${step.sql}`)], 1);
          await rawExchange(conn, rec, [executeMsg(name), syncMsg()], 1);
          await rawExchange(conn, rec, [rawQuery('COMMIT')], 1);
          break;
        case 'named-then-execute':
          await rawExchange(conn, rec, [parseMsg(name, step.sql), syncMsg()], 1);
          await rawExchange(conn, rec, [rawQuery(`EXECUTE ${name}`)], 1);
          break;
        case 'prepare-then-bind':
          await rawExchange(conn, rec, [rawQuery(`PREPARE ${name} AS ${step.sql}`)], 1);
          await rawExchange(conn, rec, [bindMsg('', name, [], []), executeMsg(''), syncMsg()], 1);
          break;
        case 'fastpath':
          await rawExchange(conn, rec, [functionCallMsg(queryToXmlOid, [step.sql, 't', 'f', ''])], 1);
          break;
        case 'raw-script':
          // Round 2: protocol messages spelled out by the attack.
          await runRawScript(conn, rec, attack.raw ?? [], exec.tok);
          break;
        default:
      }
    } catch (err) {
      rec.crash = `raw: ${(err as Error).message}`;
    } finally {
      if (session !== shared || rec.crash) session.close();
      rec.finish();
    }
  }
}

// ---------------------------------------------------------------------------
// Round 2: raw protocol scripts (see RawOp in support/attacks.ts)
// ---------------------------------------------------------------------------

function parseMsgTyped(name: string, sql: string, types: number[]): Buffer {
  return message('P', Buffer.concat([cstr(name), cstr(sql), i16(types.length), ...types.map(i32)]));
}
const closeMsg = (kind: 'S' | 'P', name: string) => message('C', Buffer.concat([Buffer.from(kind), cstr(name)]));

/** OID of a built-in by its regprocedure signature, asked on the same connection (not recorded). */
async function rawOidOf(conn: RawConnection, signature: string, attack: Attack, mode: Mode): Promise<number> {
  const scratch = new Recorder(attack, mode, 'raw', 'oid-lookup');
  const msgs = await rawExchange(conn, scratch, [rawQuery(`SELECT '${signature.replaceAll("'", "''")}'::regprocedure::oid::int4 AS oid`)], 1);
  const d = msgs.find((m) => m.type === 'D');
  if (!d) throw new Error(`no OID for ${signature}`);
  return Number(d.body.toString('utf8', 6, 6 + d.body.readInt32BE(2)));
}

function rawOpBytes(op: RawOp, tok: string, oids: Map<string, number>): Buffer {
  const t = (x: string | undefined) => (x ?? '').replaceAll('{n}', tok);
  if ('Q' in op) return op.bytes === 'latin1' ? message('Q', Buffer.from(`${t(op.Q)}\0`, 'latin1')) : rawQuery(t(op.Q));
  if ('P' in op) return parseMsgTyped(t(op.name), t(op.P), op.types ?? []);
  if ('B' in op) return bindMsg(t(op.B), t(op.stmt), (op.params ?? []).map((x) => (x === null ? null : t(x))), op.formats ?? []);
  if ('D' in op) return describeMsg(op.D, t(op.name));
  if ('E' in op) return executeMsg(t(op.E), op.max ?? 0);
  if ('C' in op) return closeMsg(op.C, t(op.name));
  if ('S' in op) return syncMsg();
  if ('H' in op) return message('H');
  if ('X' in op) return message('X');
  if ('f' in op) return message('f', cstr(op.f));
  if ('d' in op) return message('d', Buffer.from(`${t(op.d)}\n`, 'utf8'));
  if ('c' in op) return message('c');
  return functionCallMsg(oids.get(op.F) as number, op.args.map(t));
}

async function runRawScript(conn: RawConnection, rec: Recorder, rounds: RawRound[], tok: string): Promise<void> {
  const oids = new Map<string, number>();
  for (const r of rounds) for (const op of r.send) if ('F' in op && !oids.has(op.F)) oids.set(op.F, await rawOidOf(conn, op.F, rec.attack, rec.mode));
  for (const round of rounds) {
    const bytes = round.send.map((op) => rawOpBytes(op, tok, oids));
    if (round.zs > 0) {
      await rawExchange(conn, rec, bytes, round.zs, round.binary);
    } else {
      conn.write(Buffer.concat(bytes));
      await new Promise((r) => setTimeout(r, 300));
      // Record whatever came back before the connection went away.
      conn.messages.push({ type: 'Z', body: Buffer.from('I') });
      await rawExchange(conn, rec, [], 1).catch(() => undefined);
    }
  }
  // The proxy must still serve new sessions after the script.
  const probe = await rawConnect((maskedProxy && rec.mode === 'masked' ? maskedProxy : plainProxy)?.port ?? 0);
  try {
    const scratch = new Recorder(rec.attack, rec.mode, 'raw', 'health');
    const msgs = await rawExchange(probe, scratch, [rawQuery('SELECT 1 AS alive')], 1);
    if (!msgs.some((m) => m.type === 'D')) rec.crash = 'proxy did not answer a new session after the script';
  } finally {
    probe.close();
  }
}

// ---------------------------------------------------------------------------
// Driving the suite
// ---------------------------------------------------------------------------

async function pool(tasks: (() => Promise<void>)[], limit: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < tasks.length) {
        const t = tasks[next++];
        await t();
      }
    }),
  );
}

const runs = (a: Attack, family: ClientFamily) => !a.only || a.only.includes(family);

const BATCH = 12;

async function runSuite(mode: Mode, port: number): Promise<void> {
  // A session that only listens: catches notifications from every client (postgres.js included).
  const listener = new pg.Client(clientAs(port, USER, DB));
  listener.on('error', () => undefined);
  listener.on('notification', (n) => listenerLog[mode].push(serialize(n)));
  await listener.connect();
  await listener.query(`LISTEN ${CHANNEL}`);

  // Phase 1: single statements (no session state, no DDL). Batches of them share connections.
  const phase1: (() => Promise<void>)[] = [];
  const singles = ATTACKS.filter(isSingleStatement);
  for (let i = 0; i < singles.length; i += BATCH) {
    const batch = singles.slice(i, i + BATCH);
    phase1.push(async () => {
      const s = new PgSession(port);
      for (const a of batch) if (runs(a, 'pg')) await runPg(a, mode, port, s);
      await s.close();
    });
    phase1.push(async () => {
      const s = new PgjsSession(port);
      for (const a of batch) if (runs(a, 'pgjs')) await runPgjs(a, mode, port, s);
      await s.close();
    });
    if (rawAvailable) {
      phase1.push(async () => {
        const s = new RawSession(port);
        for (const a of batch) if (runs(a, 'raw')) await runRaw(a, mode, port, s);
        s.close();
      });
    }
  }
  const perAttack = (a: Attack): (() => Promise<void>)[] => {
    const t: (() => Promise<void>)[] = [];
    if (psqlAvailable && runs(a, 'psql') && !a.scenario) t.push(() => runPsql(a, mode, port));
    if (isSingleStatement(a)) return t;
    if (runs(a, 'pg')) t.push(() => runPg(a, mode, port));
    if (runs(a, 'pgjs')) t.push(() => runPgjs(a, mode, port));
    if (rawAvailable && runs(a, 'raw')) t.push(() => runRaw(a, mode, port));
    return t;
  };
  // Attacks that create objects invalidate the shared catalog; while one session's DDL
  // makes another wait for a reload, pgveil can reorder that other session's
  // extended-protocol messages (see the last test below). They run one at a time, after
  // the rest, so that bug shows in its own test and not at random among the attacks.
  const ddl = (a: Attack) => a.steps.some((st) => /\b(CREATE|DO)\b/i.test(st.sql));
  for (const a of ATTACKS.filter((x) => !ddl(x))) phase1.push(...perAttack(a));
  await pool(phase1, CONCURRENCY);
  await pool(ATTACKS.filter(ddl).flatMap(perAttack), 1);
  if (mode === 'masked') await runPgjsPipeline(singles.filter((a) => runs(a, 'pgjs')), mode, port);
  await new Promise((r) => setTimeout(r, 100));
  await listener.end().catch(() => undefined);
}

beforeAll(async () => {
  const t0 = Date.now();
  // Other files create the same roles concurrently: retry a lost race.
  for (let attempt = 1; ; attempt++) {
    try {
      await createPiiDatabase(DB);
      break;
    } catch (err) {
      if (attempt >= 3) throw err;
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
  await withClient({ ...superConfig(), database: DB }, async (c) => {
    for (const s of FIXTURE_SQL) await c.query(s);
    const r = await c.query<{ oid: number }>(`SELECT 'query_to_xml(text,boolean,boolean,text)'::regprocedure::oid::int4 AS oid`);
    queryToXmlOid = r.rows[0].oid;
  });
  psqlAvailable = await new Promise<boolean>((resolve) => execFile('psql', ['--version'], (err) => resolve(!err)));
  if (!psqlAvailable) console.log('[leak-suite] psql not found on PATH: the simple-protocol (psql) runs are skipped');
  rawAvailable = pgInfo().managed;
  if (!rawAvailable) console.log('[leak-suite] external server (no trust login for the raw client): raw-protocol runs are skipped');

  maskedProxy = await startMaskingProxy();
  plainProxy = await startProxy();
  await runSuite('masked', maskedProxy.port);
  const t1 = Date.now();
  await runSuite('control', plainProxy.port);
  console.log(`[leak-suite] masked run ${((t1 - t0) / 1000).toFixed(1)} s, control run ${((Date.now() - t1) / 1000).toFixed(1)} s`);
  printSummary();
}, 400_000);

afterAll(async () => {
  await maskedProxy?.stop();
  await plainProxy?.stop();
});

// ---------------------------------------------------------------------------
// Judging
// ---------------------------------------------------------------------------

function describeFindings(o: Outcome): string {
  return o.findings.map((f) => `${f.label} in ${f.channel}: …${f.excerpt.replace(/\s+/g, ' ')}…`).join('; ');
}

/** Problems with one masked-run outcome (empty = fine). */
function problems(o: Outcome): string[] {
  const out: string[] = [];
  const tag = `[${o.variant}]`;
  if (o.crash) out.push(`${tag} CRASH: ${o.crash}`);
  if (o.findings.length) out.push(`${tag} LEAK: ${describeFindings(o)}`);
  const refused = o.error?.code === '42501';
  const errText = o.error ? `${o.error.code} ${o.error.message.slice(0, 160)}` : 'no error';
  switch (o.attack.expect) {
    case 'masked':
      if (o.error) out.push(`${tag} expected masked rows, got error ${errText}`);
      else if (o.rows === 0) out.push(`${tag} expected masked rows, got no rows`);
      break;
    case 'refused':
      if (!refused) out.push(`${tag} expected refusal 42501, got ${o.error ? errText : `success with ${o.rows} rows`}`);
      break;
    case 'either':
      if (o.error && !refused) out.push(`${tag} expected masked or refused, got error ${errText}`);
      break;
    case 'error': {
      const control =
        results.control.find((c) => c.attack === o.attack && c.variant === o.variant && c.error) ??
        results.control.find((c) => c.attack === o.attack && c.family === o.family && c.error) ??
        results.control.find((c) => c.attack === o.attack && c.error);
      const want = control?.error?.code;
      if (!o.error) out.push(`${tag} expected PostgreSQL's error (${want ?? '?'}), got success`);
      else if (want && o.error.code !== want) out.push(`${tag} expected SQLSTATE ${want} kept, got ${errText}`);
      else if (!refused && !/withheld/i.test(o.error.message)) out.push(`${tag} error text not withheld: ${errText}`);
      break;
    }
    case 'raw':
      if (o.error) out.push(`${tag} benign statement failed (false refusal?): ${errText}`);
      break;
    default:
  }
  return out;
}

function printSummary(): void {
  const lines: string[] = [];
  const byCat = new Map<string, number>();
  for (const a of ATTACKS) byCat.set(a.category, (byCat.get(a.category) ?? 0) + 1);
  lines.push(`[leak-suite] ${ATTACKS.length} attacks: ${[...byCat].map(([c, n]) => `${c} ${n}`).join(', ')}`);
  for (const mode of ['masked', 'control'] as const) {
    const rs = results[mode];
    const fams = ['psql', 'pg', 'pgjs', 'raw'] as const;
    const parts = fams.map((f) => {
      const mine = rs.filter((o) => o.family === f);
      const attacks = new Set(mine.map((o) => o.attack.id)).size;
      const leaking = new Set(mine.filter((o) => o.findings.length).map((o) => o.attack.id)).size;
      return `${f}: ${mine.length} runs of ${attacks} attacks, ${leaking} attacks leaked in ${mine.filter((o) => o.findings.length).length} runs`;
    });
    lines.push(`[leak-suite] ${mode}: ${parts.join(' | ')}; listener notifications with leaks: ${listenerLog[mode].filter((t) => detector.scan(t).length).length}`);
  }
  const leaky = new Map<string, string[]>();
  for (const o of results.masked) if (o.findings.length) leaky.set(o.attack.id, [...(leaky.get(o.attack.id) ?? []), o.variant]);
  for (const [id, variants] of leaky) lines.push(`[leak-suite]   LEAK ${id}: ${variants.join(', ')}`);
  const falseRefusals = new Map<string, string[]>();
  for (const o of results.masked) {
    if (o.attack.expect === 'either' && o.error?.code === '42501') falseRefusals.set(o.attack.id, [...(falseRefusals.get(o.attack.id) ?? []), o.variant]);
  }
  for (const [id, variants] of falseRefusals) lines.push(`[leak-suite]   refused (masking would do): ${id} (${variants.length} runs)`);
  const crashes = results.masked.filter((o) => o.crash);
  for (const o of crashes) lines.push(`[leak-suite]   CRASH ${o.attack.id} [${o.variant}]: ${o.crash}`);
  const ctl = controlRates();
  lines.push(`[leak-suite] control (no policy): ${Object.entries(ctl).map(([f, r]) => `${f} ${r.leaked}/${r.total}`).join(', ')} value-returning attacks leaked`);
  const missed = ATTACKS.filter((a) => a.control && !results.control.some((o) => o.attack === a && o.findings.length));
  if (missed.length) lines.push(`[leak-suite]   control runs that showed no raw value: ${missed.map((a) => a.id).join(', ')}`);
  console.log(lines.join('\n'));
  if (process.env.LEAK_SUITE_DUMP) {
    const dump = (o: Outcome) => ({ id: o.attack.id, expect: o.attack.expect, variant: o.variant, error: o.error, rows: o.rows, crash: o.crash, ms: o.ms, findings: o.findings.map((f) => `${f.label} in ${f.channel}: ${f.excerpt}`) });
    writeFileSync(process.env.LEAK_SUITE_DUMP, JSON.stringify({ masked: results.masked.map(dump), control: results.control.map(dump), pipelineNotices }, null, 1));
  }
}

function controlRates(): Record<string, { leaked: number; total: number }> {
  const out: Record<string, { leaked: number; total: number }> = {};
  for (const fam of ['psql', 'pg', 'pgjs', 'raw'] as const) {
    const attacks = ATTACKS.filter((a) => a.control && results.control.some((o) => o.attack === a && o.family === fam));
    const leaked = attacks.filter((a) => results.control.some((o) => o.attack === a && o.family === fam && o.findings.length)).length;
    if (attacks.length) out[fam] = { leaked, total: attacks.length };
  }
  return out;
}

describe('leak detector', () => {
  const [alice] = SECRETS;
  const b64 = (t: string) => Buffer.from(t).toString('base64');
  it.each([
    ['raw', `x ${alice.ssn} y`],
    ['upper case', alice.email.toUpperCase()],
    ['separators stripped', 'id 123456789'],
    ['reversed', [...alice.notes].reverse().join('')],
    ['hex', `\\x${Buffer.from(alice.ssn).toString('hex')}`],
    ['HEX', Buffer.from(alice.card).toString('hex').toUpperCase()],
    ['base64', b64(alice.ssn)],
    ['base64 inside a blob', b64(`ab${alice.email},more`)],
    ['md5', createHash('md5').update(alice.ssn).digest('hex')],
    ['COPY-escaped', '1985\\-04\\-12'],
    ['other DateStyle', '12/04/1985'],
    ['salary as JSON number', '{"salary":98000.5}'],
    ['email local part', 'alice.smith'],
  ])('finds %s', (_what, text) => {
    expect(detector.scan(text).length).toBeGreaterThan(0);
  });
  it('ignores what the masks keep', () => {
    const masked = ['***-**-6789', '************1111', '***@example.com', '1985-01-01', '[REDACTED]', '6789', 'example.com', '1985'];
    expect(detector.scan(masked.join('\n'))).toEqual([]);
  });
});

describe('leak suite: analyst through pgveil with the example policy', () => {
  const byCategory = new Map<string, Attack[]>();
  for (const a of ATTACKS) byCategory.set(a.category, [...(byCategory.get(a.category) ?? []), a]);
  for (const [category, attacks] of byCategory) {
    describe(category, () => {
      for (const a of attacks) {
        it(`${a.id}: ${a.expect}`, () => {
          const mine = results.masked.filter((o) => o.attack === a);
          expect(mine.length, 'the attack ran through at least one client').toBeGreaterThan(0);
          expect(mine.flatMap(problems)).toEqual([]);
        });
      }
    });
  }

  it('has at least 100 attacks', () => {
    expect(ATTACKS.length).toBeGreaterThanOrEqual(100);
    expect(new Set(ATTACKS.map((a) => a.id)).size).toBe(ATTACKS.length);
  });

  it('no notification received by a listening session carries a raw value', () => {
    expect(listenerLog.masked.flatMap((t) => detector.scan(t).map((f) => f.label))).toEqual([]);
  });

  it('no notice received on the pipelined postgres.js connection carries a raw value', () => {
    expect(pipelineNotices.masked.flatMap((t) => detector.scan(t).map((f) => `${f.label}: …${f.excerpt}…`))).toEqual([]);
  });
});

describe('protocol integrity while other sessions change the schema', () => {
  it('extended-protocol statements are neither reordered nor re-executed', async () => {
    const port = (maskedProxy as RunningProxy).port;
    const tok = `r${++seq}`;
    let stop = false;
    const churn = withClient(clientAs(port, 'dev_joe', DB), async (c) => {
      for (let i = 0; !stop && i < 5000; i++) await c.query(`CREATE TEMP TABLE churn_${tok}_${i} (a int)`);
    });
    const errors: string[] = [];
    let count = -1;
    try {
      await withClient(clientAs(port, USER, DB), async (c) => {
        const ext = (text: string) => c.query({ text, values: [], queryMode: 'extended' } as pg.QueryConfig);
        await c.query(`CREATE TABLE public.race_${tok} (i int)`);
        for (let i = 0; i < 60; i++) {
          try {
            await ext(`CREATE TABLE public.race_${tok}_${i} (v int)`);
            await ext(`INSERT INTO public.race_${tok} VALUES (${i})`);
          } catch (err) {
            errors.push(`${i}: ${(err as pg.DatabaseError).code} ${(err as Error).message}`);
          }
        }
        count = Number((await c.query(`SELECT count(*) AS n FROM public.race_${tok}`)).rows[0].n);
      });
    } finally {
      stop = true;
      await churn.catch(() => undefined);
    }
    expect({ errors: errors.slice(0, 5), count }).toEqual({ errors: [], count: 60 });
  }, 120_000);
});

describe('control: the same suite without a policy', () => {
  it('reports leaks for at least 90% of the value-returning attacks, per client', () => {
    const rates = controlRates();
    for (const [fam, r] of Object.entries(rates)) {
      expect(r.leaked / r.total, `${fam}: ${r.leaked}/${r.total}`).toBeGreaterThanOrEqual(0.9);
    }
    expect(Object.keys(rates).length).toBeGreaterThanOrEqual(2);
  });

  it('the listening session saw raw values in notifications', () => {
    expect(listenerLog.control.some((t) => detector.scan(t).length > 0)).toBe(true);
  });
});
