/**
 * Protocol coverage through the proxy: simple and extended query, pipelining,
 * portals, FunctionCall, async messages, COPY in every format, errors and
 * notices, Terminate, and real tools (psql, pgbench). Wherever possible the
 * same thing is done directly against the server and the results compared.
 */
import { onPath } from './support/wait.js';
import net from 'node:net';
import path from 'node:path';
import os from 'node:os';
import { createHash } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import Cursor from 'pg-cursor';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import postgres from 'postgres';
import { pgInfo, startProxy, superConfig, withClient, type RunningProxy } from './support/proxy.js';
import { AUTH_USERS } from './support/pg-info.js';
import { RawConnection, dataRowValues, fields, message, query, type RawMessage, cstr, i16, i32 } from './support/raw.js';

// ---- message builders ------------------------------------------------------

const parse = (name: string, sql: string, types: number[] = []) =>
  message('P', Buffer.concat([cstr(name), cstr(sql), i16(types.length), ...types.map(i32)]));
const bind = (portal: string, stmt: string, params: (Buffer | string | null)[] = [], paramFormats: number[] = [], resultFormats: number[] = []) =>
  message(
    'B',
    Buffer.concat([
      cstr(portal),
      cstr(stmt),
      i16(paramFormats.length),
      ...paramFormats.map(i16),
      i16(params.length),
      ...params.flatMap((p) => (p === null ? [i32(-1)] : [i32(Buffer.byteLength(p)), Buffer.from(p)])),
      i16(resultFormats.length),
      ...resultFormats.map(i16),
    ]),
  );
const describeMsg = (kind: 'S' | 'P', name: string) => message('D', Buffer.concat([Buffer.from(kind), cstr(name)]));
const execute = (portal: string, maxRows = 0) => message('E', Buffer.concat([cstr(portal), i32(maxRows)]));
const closeMsg = (kind: 'S' | 'P', name: string) => message('C', Buffer.concat([Buffer.from(kind), cstr(name)]));
const sync = () => message('S');
const flush = () => message('H');
const functionCall = (oid: number, args: (Buffer | null)[], argFormats: number[], resultFormat: number) =>
  message(
    'F',
    Buffer.concat([
      i32(oid),
      i16(argFormats.length),
      ...argFormats.map(i16),
      i16(args.length),
      ...args.flatMap((a) => (a === null ? [i32(-1)] : [i32(a.length), a])),
      i16(resultFormat),
    ]),
  );

// ---- raw helpers -----------------------------------------------------------

const proxies: RunningProxy[] = [];
let px: RunningProxy;
const direct = () => pgInfo().port;
const info = () => pgInfo();

async function login(port: number, extra: Record<string, string> = {}): Promise<{ raw: RawConnection; startup: RawMessage[] }> {
  const raw = await RawConnection.connect(port);
  raw.socket.setNoDelay(true);
  raw.startup({ user: AUTH_USERS.trust.user, database: 'postgres', ...extra });
  const startup = await collect(raw, 1);
  return { raw, startup };
}

/** Waits until `zCount` ReadyForQuery messages have arrived; returns (and consumes) everything up to the last. */
async function collect(raw: RawConnection, zCount = 1, timeoutMs = 15_000): Promise<RawMessage[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let seen = 0;
    for (let i = 0; i < raw.messages.length; i++) {
      if (raw.messages[i].type === 'Z' && ++seen === zCount) return raw.messages.splice(0, i + 1);
    }
    if (raw.closed) throw new Error(`connection closed; got ${raw.messages.map((m) => m.type).join('')}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${zCount} Z; got ${raw.messages.map((m) => m.type).join('')}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Waits until the received messages (not consumed) have the given types in order at their start. */
async function waitForTypes(raw: RawConnection, types: string, timeoutMs = 10_000): Promise<RawMessage[]> {
  const deadline = Date.now() + timeoutMs;
  while (raw.messages.length < types.length) {
    if (raw.closed) throw new Error(`connection closed; got ${raw.messages.map((m) => m.type).join('')}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${types}; got ${raw.messages.map((m) => m.type).join('')}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return raw.messages.splice(0, types.length);
}

const types = (msgs: RawMessage[]) => msgs.map((m) => m.type).join('');
const dump = (msgs: RawMessage[]) => msgs.map((m) => `${m.type}:${m.body.toString('hex')}`);

/** Sends the same bytes on a direct and a proxied raw connection; returns both answers (up to zCount Z each). */
async function both(bytes: Buffer | Buffer[], zCount = 1): Promise<{ direct: RawMessage[]; proxied: RawMessage[] }> {
  const d = await login(direct());
  const p = await login(px.port);
  try {
    const payload = Array.isArray(bytes) ? Buffer.concat(bytes) : bytes;
    d.raw.write(payload);
    p.raw.write(payload);
    return { direct: await collect(d.raw, zCount), proxied: await collect(p.raw, zCount) };
  } finally {
    d.raw.close();
    p.raw.close();
  }
}

const text = (body: Buffer, col = 0) => dataRowValues(body)[col]?.toString('utf8') ?? null;
const cmdTag = (m: RawMessage) => m.body.toString('utf8', 0, m.body.length - 1);


/** Error/notice fields node-postgres exposes, for direct-vs-proxy comparison. */
const ERROR_KEYS = [
  'name', 'message', 'severity', 'code', 'detail', 'hint', 'position', 'internalPosition', 'internalQuery',
  'where', 'schema', 'table', 'column', 'dataType', 'constraint', 'file', 'line', 'routine',
] as const;
function errorFields(err: unknown): Record<string, unknown> {
  const e = err as Record<string, unknown>;
  return Object.fromEntries(ERROR_KEYS.map((k) => [k, e[k]]));
}
async function errorOf(config: pg.ClientConfig, sql: string, values?: unknown[]): Promise<Record<string, unknown>> {
  return withClient(config, async (c) => {
    try {
      await c.query(sql, values);
    } catch (err) {
      // The session must still be usable after the error.
      const r = await c.query('select 1 as ok');
      expect(r.rows).toEqual([{ ok: 1 }]);
      return errorFields(err);
    }
    throw new Error(`no error for ${sql}`);
  });
}

const tz = { options: '-c TimeZone=UTC' };

beforeAll(async () => {
  px = await startProxy();
  proxies.push(px);
  await withClient(superConfig(), async (c) => {
    await c.query(`drop table if exists proto_copy_src, proto_copy_text, proto_copy_csv, proto_copy_bin, proto_err_uniq, proto_pipe`);
    await c.query(`create table proto_err_uniq (id int primary key, v text not null)`);
    await c.query(`insert into proto_err_uniq values (1, 'one')`);
    await c.query(`create table proto_pipe (id int primary key, v text)`);
  });
});

afterAll(async () => {
  await Promise.all(proxies.map((p) => p.stop()));
  await withClient(superConfig(), (c) =>
    c.query(`drop table if exists proto_copy_src, proto_copy_text, proto_copy_csv, proto_copy_bin, proto_err_uniq, proto_pipe`),
  ).catch(() => undefined);
});

// ===========================================================================

describe('simple query protocol', () => {
  it('several statements in one Query message: T/D/C per statement, one Z, identical to direct', async () => {
    const sql = `select 1 as a; select 'x' as b, 2 as c; select g from generate_series(1,3) g; set local work_mem = '4MB'; select null::int as n`;
    const { direct: d, proxied: p } = await both(query(sql));
    // A multi-statement Query runs as one implicit transaction block, so SET LOCAL is accepted (no WARNING).
    expect(types(p)).toBe('TDCTDCTDDDCCTDCZ');
    expect(dump(p)).toEqual(dump(d));
    const tags = p.filter((m) => m.type === 'C').map(cmdTag);
    expect(tags).toEqual(['SELECT 1', 'SELECT 1', 'SELECT 3', 'SET', 'SELECT 1']);
    const rows = p.filter((m) => m.type === 'D').map((m) => text(m.body));
    expect(rows).toEqual(['1', 'x', '1', '2', '3', null]);
  });

  it('an error in the middle of a multi-statement Query stops the rest: ... E Z, identical to direct', async () => {
    const { direct: d, proxied: p } = await both(query('select 1; select 1/0; select 3'));
    // 1/0 is folded at plan time: no RowDescription for the failing statement, and select 3 never runs.
    expect(types(p)).toBe('TDCEZ');
    expect(dump(p)).toEqual(dump(d));
    const e = p.find((m) => m.type === 'E') as RawMessage;
    expect(fields(e.body).C).toBe('22012');
    expect(String.fromCharCode(p[p.length - 1].body[0])).toBe('I');
  });

  it('empty query string gives EmptyQueryResponse then Z', async () => {
    const { direct: d, proxied: p } = await both(query(''));
    expect(types(p)).toBe('IZ');
    expect(dump(p)).toEqual(dump(d));
  });

  it('transaction status in ReadyForQuery follows BEGIN / error / ROLLBACK', async () => {
    const { raw } = await login(px.port);
    const status = async (sql: string) => {
      raw.write(query(sql));
      const m = await collect(raw);
      return String.fromCharCode(m[m.length - 1].body[0]);
    };
    expect(await status('begin')).toBe('T');
    expect(await status('select 1/0')).toBe('E');
    expect(await status('select 1')).toBe('E');
    expect(await status('rollback')).toBe('I');
    raw.close();
  });
});

// ===========================================================================

describe('extended query protocol (raw messages)', () => {
  it('error recovery up to Sync: bad Parse/Bind/Execute/Sync then a good batch -> E, Z, then the result', async () => {
    const batch = [
      parse('', 'selec 1 bad sql'),
      bind('', ''),
      execute(''),
      sync(),
      parse('', 'select 42 as answer'),
      bind('', ''),
      execute(''),
      sync(),
    ];
    const { direct: d, proxied: p } = await both(batch, 2);
    expect(types(p)).toBe('EZ12DCZ');
    expect(fields(p[0].body).C).toBe('42601');
    expect(text(p[4].body)).toBe('42');
    expect(cmdTag(p[5])).toBe('SELECT 1');
    expect(dump(p)).toEqual(dump(d));
  });

  it('named and unnamed statements and portals, Describe, Execute with row limit (PortalSuspended), Close', async () => {
    const batch = [
      parse('s1', 'select g, g * 10 as t from generate_series(1, $1::int) g', [23]),
      describeMsg('S', 's1'),
      bind('p1', 's1', ['5']),
      describeMsg('P', 'p1'),
      execute('p1', 2),
      execute('p1', 2),
      // The unnamed statement/portal while p1 is suspended.
      parse('', `select 'unnamed' as u`),
      bind('', ''),
      execute(''),
      execute('p1', 0),
      closeMsg('P', 'p1'),
      closeMsg('S', 's1'),
      sync(),
      // s1 is gone: Bind must fail, and the error is recovered at Sync.
      bind('p2', 's1', ['1']),
      execute('p2'),
      sync(),
      // A named statement survives the transaction end; reuse it twice.
      parse('s2', 'select $1::text || $2::text as cat'),
      sync(),
      bind('', 's2', ['a', 'b']),
      execute(''),
      bind('', 's2', ['c', null]),
      execute(''),
      sync(),
    ];
    const { direct: d, proxied: p } = await both(batch, 4);
    expect(types(p)).toBe(
      ['1', 't', 'T', '2', 'T', 'DDs', 'DDs', '1', '2', 'DC', 'DC', '3', '3', 'Z', 'E', 'Z', '1', 'Z', '2DC', '2DC', 'Z'].join(''),
    );
    expect(dump(p)).toEqual(dump(d));
    const rows = p.filter((m) => m.type === 'D').map((m) => dataRowValues(m.body).map((v) => v?.toString() ?? null));
    expect(rows).toEqual([['1', '10'], ['2', '20'], ['3', '30'], ['4', '40'], ['unnamed'], ['5', '50'], ['ab'], [null]]);
    const err = p.find((m) => m.type === 'E') as RawMessage;
    expect(fields(err.body).C).toBe('26000');
    expect(fields(err.body).M).toBe('prepared statement "s1" does not exist');
  });

  it('binary parameters and binary results', async () => {
    const batch = [
      parse('', 'select $1::int4 + 1 as a, $2::int8 * 2 as b, $3::bytea as c, $4::text as d', [23, 20, 17, 25]),
      bind(
        '',
        '',
        [i32(41), Buffer.from('0000000000000015', 'hex'), Buffer.from([0, 1, 2, 255]), 'tëxt'],
        [1, 1, 1, 0],
        [1, 1, 1, 1],
      ),
      execute(''),
      sync(),
    ];
    const { direct: d, proxied: p } = await both(batch);
    expect(types(p)).toBe('12DCZ');
    const vals = dataRowValues(p[2].body);
    expect(vals[0]?.readInt32BE(0)).toBe(42);
    expect(vals[1]?.readBigInt64BE(0)).toBe(42n);
    expect(vals[2]).toEqual(Buffer.from([0, 1, 2, 255]));
    expect(vals[3]?.toString('utf8')).toBe('tëxt');
    expect(dump(p)).toEqual(dump(d));
  });

  it('Flush makes the server answer without a Sync; Close then Sync', async () => {
    const { raw } = await login(px.port);
    raw.write(Buffer.concat([parse('fs', 'select $1::int * 3 as x'), flush()]));
    expect(types(await waitForTypes(raw, '1'))).toBe('1');
    raw.write(Buffer.concat([bind('fp', 'fs', ['14']), describeMsg('P', 'fp'), execute('fp'), flush()]));
    const got = await waitForTypes(raw, '2TDC');
    expect(types(got)).toBe('2TDC');
    expect(text(got[2].body)).toBe('42');
    // No ReadyForQuery yet: nothing was synced.
    expect(raw.messages.length).toBe(0);
    raw.write(Buffer.concat([closeMsg('P', 'fp'), closeMsg('S', 'fs'), sync()]));
    const end = await collect(raw);
    expect(types(end)).toBe('33Z');
    raw.close();
  });

  it('messages split into tiny TCP segments (header and body across chunks) are framed correctly', async () => {
    const batch: Buffer[] = [];
    for (let i = 0; i < 20; i++) {
      batch.push(parse('', `select ${i} as i, repeat('y', ${i * 37}) as pad`), bind('', ''), execute(''), sync());
    }
    batch.push(query('select 1; select 2'));
    const payload = Buffer.concat(batch);
    const { raw } = await login(px.port);
    let seed = 7;
    for (let o = 0; o < payload.length; ) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      const n = 1 + (seed % 7);
      raw.write(payload.subarray(o, o + n));
      o += n;
      if (o % 5 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    const p = await collect(raw, 21);
    raw.close();
    const d0 = await login(direct());
    d0.raw.write(payload);
    const d = await collect(d0.raw, 21);
    d0.raw.close();
    expect(types(p)).toBe('12DCZ'.repeat(20) + 'TDCTDCZ');
    expect(dump(p)).toEqual(dump(d));
  });
});

// ===========================================================================

describe('FunctionCall', () => {
  let int4pl: number;
  let md5: number;
  beforeAll(async () => {
    const r = await withClient(superConfig(), (c) =>
      c.query<{ a: number; b: number }>(`select 'int4pl'::regproc::oid::int as a, 'md5(text)'::regprocedure::oid::int as b`),
    );
    int4pl = r.rows[0].a;
    md5 = r.rows[0].b;
  });

  it('int4pl with text args, binary args and a NULL arg: V then Z, identical to direct', async () => {
    const batch = [
      functionCall(int4pl, [Buffer.from('2'), Buffer.from('40')], [0], 0),
      functionCall(int4pl, [i32(-5), i32(47)], [1], 1),
      functionCall(int4pl, [i32(1), null], [1], 1),
      functionCall(md5, [Buffer.from('veil ü')], [0], 0),
    ];
    const { direct: d, proxied: p } = await both(batch, 4);
    expect(types(p)).toBe('VZVZVZVZ');
    // FunctionCallResponse: int32 length (-1 = NULL) then the value.
    expect(p[0].body.readInt32BE(0)).toBe(2);
    expect(p[0].body.toString('utf8', 4)).toBe('42');
    expect(p[2].body.readInt32BE(0)).toBe(4);
    expect(p[2].body.readInt32BE(4)).toBe(42);
    expect(p[4].body.readInt32BE(0)).toBe(-1);
    expect(p[6].body.toString('utf8', 4)).toBe(createHash('md5').update('veil ü').digest('hex'));
    expect(dump(p)).toEqual(dump(d));
  });

  it('a FunctionCall that fails returns E then Z and the session goes on', async () => {
    const batch = [functionCall(int4pl, [i32(0x7fffffff), i32(1)], [1], 1), query('select 5')];
    const { direct: d, proxied: p } = await both(batch, 2);
    expect(types(p)).toBe('EZTDCZ');
    expect(fields(p[0].body).C).toBe('22003');
    expect(dump(p)).toEqual(dump(d));
  });
});

// ===========================================================================

describe('asynchronous messages', () => {
  it('NoticeResponse from RAISE NOTICE in a DO block arrives with the same fields as direct', async () => {
    const sql = `do $$ begin
      raise notice 'proto notice %', 42 using detail = 'the detail', hint = 'the hint';
      raise warning 'proto warning';
    end $$`;
    const grab = (config: pg.ClientConfig) =>
      withClient(config, async (c) => {
        const notices: Record<string, unknown>[] = [];
        c.on('notice', (n) => notices.push(errorFields(n)));
        await c.query(sql);
        await c.query('drop table if exists proto_never_existed');
        return notices;
      });
    const viaProxy = await grab(superConfig(px.port));
    const viaDirect = await grab(superConfig());
    expect(viaProxy.map((n) => [n.severity, n.code, n.message])).toEqual([
      ['NOTICE', '00000', 'proto notice 42'],
      ['WARNING', '01000', 'proto warning'],
      ['NOTICE', '00000', 'table "proto_never_existed" does not exist, skipping'],
    ]);
    expect(viaProxy[0]).toMatchObject({ detail: 'the detail', hint: 'the hint' });
    expect(viaProxy).toEqual(viaDirect);
  });

  it('NotificationResponse: LISTEN on one proxied connection, NOTIFY from another', async () => {
    const listener = new pg.Client(superConfig(px.port));
    await listener.connect();
    try {
      await listener.query('listen proto_chan');
      const got: pg.Notification[] = [];
      listener.on('notification', (n) => got.push(n));
      const notifierPid = await withClient(superConfig(px.port), async (c) => {
        await c.query(`notify proto_chan, 'first'`);
        await c.query(`select pg_notify('proto_chan', $1)`, ['second ü']);
        await c.query(`begin`);
        await c.query(`notify proto_chan, 'in tx'`);
        await c.query(`commit`);
        return {
          backend: (await c.query<{ p: number }>('select pg_backend_pid() as p')).rows[0].p,
          key: (c as unknown as { processID: number }).processID,
        };
      });
      const deadline = Date.now() + 10_000;
      while (got.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(got.map((n) => [n.channel, n.payload])).toEqual([
        ['proto_chan', 'first'],
        ['proto_chan', 'second ü'],
        ['proto_chan', 'in tx'],
      ]);
      for (const n of got) expect([notifierPid.backend, notifierPid.key]).toContain(n.processId);
    } finally {
      await listener.end();
    }
  });

  // PostgreSQL's NOTIFY documentation: a session that wants to ignore its own
  // notifications compares the PID in the notification with its own PID from
  // libpq (PQbackendPID = the BackendKeyData pid). The proxy replaces that pid
  // with its own, so the comparison must still hold through the proxy.
  it("a session's own notification carries the pid the session got in BackendKeyData", async () => {
    await withClient(superConfig(px.port), async (c) => {
      const got: pg.Notification[] = [];
      c.on('notification', (n) => got.push(n));
      await c.query('listen proto_self');
      await c.query(`notify proto_self, 'me'`);
      const deadline = Date.now() + 10_000;
      while (got.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(got.length).toBe(1);
      expect(got[0].processId).toBe((c as unknown as { processID: number }).processID);
    });
  });

  it('ParameterStatus: SET application_name sends an S message through the proxy; startup S messages match direct', async () => {
    const d = await login(direct(), { application_name: 'proto_start' });
    const p = await login(px.port, { application_name: 'proto_start' });
    const params = (msgs: RawMessage[]) =>
      msgs
        .filter((m) => m.type === 'S')
        .map((m) => m.body.toString('utf8').split('\0').slice(0, 2).join('='))
        .sort();
    expect(params(p.startup)).toEqual(params(d.startup));
    expect(params(p.startup)).toContain('application_name=proto_start');
    expect(params(p.startup).some((s) => s.startsWith('server_version='))).toBe(true);

    p.raw.write(query(`set application_name = 'proto_changed'`));
    const got = await collect(p.raw);
    expect(types(got)).toBe('CSZ');
    expect(got[1].body.toString('utf8')).toBe('application_name\0proto_changed\0');
    d.raw.write(query(`set application_name = 'proto_changed'`));
    expect(dump(got)).toEqual(dump(await collect(d.raw)));
    d.raw.close();
    p.raw.close();
  });
});

// ===========================================================================

describe('drivers', () => {
  it('postgres.js: 200 pipelined queries on one connection with prepared statements, results equal to direct', async () => {
    const run = async (port: number, prepare: boolean) => {
      const sql = postgres({
        host: info().host,
        port,
        user: info().superuser,
        password: info().superpass,
        database: 'postgres',
        prepare,
        max: 1,
        onnotice: () => undefined,
        connection: { TimeZone: 'UTC' },
      });
      try {
        const jobs = Array.from({ length: 200 }, (_, i) => {
          switch (i % 5) {
            case 0:
              return sql`select ${i}::int as i, ${`t${i}`}::text as t, pg_backend_pid() as pid`;
            case 1:
              return sql`select ${Buffer.from([i & 255, 0, 255, 10])}::bytea as b, ${i % 2 === 0} as flag, ${null} as n`;
            case 2:
              return sql`select ${[i, i + 1, i + 2]}::int[] as arr, ${JSON.stringify({ k: i, s: 'ü' })}::jsonb as j, ${new Date(Date.UTC(2024, 0, 1, 0, 0, i % 60))}::timestamptz as ts`;
            case 3:
              return i === 103
                ? sql`select 1 / ${i - i}::int as boom`.catch((e: Error & { code?: string }) => [{ error: e.code }])
                : sql`select g, md5(g::text) from generate_series(1, ${i}) g`;
            default:
              return sql`select ${(i * 1.5).toFixed(2)}::numeric as num, ${(BigInt(i) * 10_000_000_000n).toString()}::int8 as big`;
          }
        });
        const results = await Promise.all(jobs);
        return results.map((r) => [...r].map((row) => ({ ...row }) as Record<string, unknown>));
      } finally {
        await sql.end();
      }
    };
    for (const prepare of [true, false]) {
      const viaProxy = await run(px.port, prepare);
      const viaDirect = await run(direct(), prepare);
      // One backend served all 200: they were pipelined on one connection.
      const pids = new Set(viaProxy.filter((_, i) => i % 5 === 0).map((r) => r[0].pid));
      expect(pids.size).toBe(1);
      const strip = (rs: Record<string, unknown>[][]) => rs.map((r) => r.map(({ pid: _pid, ...rest }) => rest));
      expect(strip(viaProxy)).toEqual(strip(viaDirect));
      expect(viaProxy[0][0]).toMatchObject({ i: 0, t: 't0' });
      expect(viaProxy[103]).toEqual([{ error: '22012' }]);
      expect(viaProxy[198].length).toBe(198);
      expect(viaProxy[1][0].b).toEqual(Buffer.from([1, 0, 255, 10]));
    }
  });

  it('pg with binary results (binary: true): values equal to direct', async () => {
    // pg's binary decoders are incomplete (timestamptz/numeric come out wrong even directly), so only
    // types it decodes deterministically are used; exact binary bytes are checked by the raw test above.
    const sql = `select $1::int4 as a, $2::int8 as b, $3::float8 as c, $4::bool as d, $5::text as e, $6::bytea as f,
                        $7::int4[] as i, null::int as n, $8::uuid as u, $9::jsonb as j, g from generate_series(1, 50) g`;
    const values = [7, '9007199254740993', 2.5, true, 'bïnary', Buffer.from([9, 8, 7]), [1, 2, 3], 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"k":[1,2]}'];
    const run = (port: number) => {
      const config: pg.ClientConfig & { binary: boolean } = { ...superConfig(port), binary: true };
      return withClient(config, (c) => c.query(sql, values));
    };
    const p = await run(px.port);
    const d = await run(direct());
    expect(p.fields.map((f) => f.format)).toEqual(Array(11).fill('binary'));
    expect(p.rows.length).toBe(50);
    expect(p.rows[49]).toMatchObject({ a: 7, b: '9007199254740993', c: 2.5, d: true, e: 'bïnary', i: [1, 2, 3], n: null, g: 50 });
    expect(p.rows).toEqual(d.rows);
  });

  it('pg named prepared statement reused 500 times', async () => {
    await withClient(superConfig(px.port), async (c) => {
      const text = 'select $1::int + 1 as n, md5($2::text) as h';
      for (let i = 0; i < 500; i++) {
        const r = await c.query<{ n: number; h: string }>({ name: 'q1', text, values: [i, `v${i}`] });
        expect(r.rows[0].n).toBe(i + 1);
        expect(r.rows[0].h).toBe(createHash('md5').update(`v${i}`).digest('hex'));
      }
      // Also 500 in flight at once (pg queues them; each is Bind/Execute/Sync on q1).
      const many = await Promise.all(
        Array.from({ length: 500 }, (_, i) => c.query<{ n: number }>({ name: 'q1', text, values: [i * 2, 'x'] })),
      );
      expect(many.map((r) => r.rows[0].n)).toEqual(Array.from({ length: 500 }, (_, i) => i * 2 + 1));
      const ps = await c.query(`select name, statement from pg_prepared_statements where name = 'q1'`);
      expect(ps.rows).toEqual([{ name: 'q1', statement: text }]);
    });
  });

  it('pg-cursor reads 10,000 rows in batches of 100 (Execute with row limit, PortalSuspended)', async () => {
    await withClient(superConfig(px.port), async (c) => {
      let suspended = 0;
      (c as unknown as { connection: NodeJS.EventEmitter }).connection.on('portalSuspended', () => suspended++);
      const cursor = c.query(new Cursor<{ g: number; h: string }>('select g, md5(g::text) as h from generate_series(1, 10000) g'));
      const sizes: number[] = [];
      let next = 1;
      for (;;) {
        const rows = await cursor.read(100);
        if (rows.length === 0) break;
        sizes.push(rows.length);
        for (const r of rows) {
          expect(r.g).toBe(next);
          if (next % 997 === 0) expect(r.h).toBe(createHash('md5').update(String(next)).digest('hex'));
          next++;
        }
      }
      await cursor.close();
      expect(next - 1).toBe(10_000);
      expect(sizes).toEqual(Array(100).fill(100));
      expect(suspended).toBeGreaterThanOrEqual(99);
      const r = await c.query('select 1 as ok');
      expect(r.rows).toEqual([{ ok: 1 }]);
    });
  });

  it('a 16 MB value in a parameter and in the result survives the round trip', async () => {
    const big = createHash('sha256').update('seed').digest('hex').repeat(16 * 1024 * 1024 / 64);
    const r = await withClient(superConfig(px.port), (c) =>
      c.query<{ len: number; h: string; back: string }>('select length($1::text) as len, md5($1::text) as h, $1::text as back', [big]),
    );
    expect(r.rows[0].len).toBe(big.length);
    expect(r.rows[0].h).toBe(createHash('md5').update(big).digest('hex'));
    expect(r.rows[0].back === big).toBe(true);
  });
});

// ===========================================================================

async function copyOut(c: pg.Client, sql: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const stream = c.query(copyTo(sql));
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function copyIn(c: pg.Client, sql: string, data: Buffer, chunkSize = 0): Promise<void> {
  const parts: Buffer[] = [];
  if (chunkSize > 0) for (let o = 0; o < data.length; o += chunkSize) parts.push(data.subarray(o, o + chunkSize));
  else parts.push(data);
  await pipeline(Readable.from(parts), c.query(copyFrom(sql)));
}

describe('COPY', () => {
  const COLS = '(id int primary key, name text, amount numeric(12,2), ts timestamptz, flag bool, data bytea, tags text[], note text)';
  const textData = Buffer.from(
    [
      '1\tAlice\t12.50\t2024-01-02 03:04:05+00\tt\t\\\\x00ff\t{a,b}\t\\N',
      '2\ttab\\there\t-0.01\t2024-06-30 23:59:59.123456+00\tf\t\\\\x\t{}\tback\\\\slash',
      '3\tüñí €𝄞\t9999999999.99\t1999-12-31 00:00:00+00\t\\N\t\\N\t{"x y","q\\\\"z"}\tline\\nbreak',
      '',
    ].join('\n'),
    'utf8',
  );

  beforeAll(async () => {
    await withClient(superConfig(), async (c) => {
      for (const t of ['proto_copy_src', 'proto_copy_text', 'proto_copy_csv', 'proto_copy_bin']) await c.query(`create table ${t} ${COLS}`);
    });
  });

  it('COPY FROM STDIN / TO STDOUT in text format', async () => {
    await withClient({ ...superConfig(px.port), ...tz }, async (c) => {
      await copyIn(c, 'copy proto_copy_text from stdin', textData, 13);
      const out = await copyOut(c, 'copy proto_copy_text to stdout');
      const viaDirect = await withClient({ ...superConfig(), ...tz }, (dc) => copyOut(dc, 'copy proto_copy_text to stdout'));
      expect(out.equals(viaDirect)).toBe(true);
      expect(out.toString('utf8').split('\n')[0]).toBe('1\tAlice\t12.50\t2024-01-02 03:04:05+00\tt\t\\\\x00ff\t{a,b}\t\\N');
      const r = await c.query(`select id, name, note, data from proto_copy_text order by id`);
      expect(r.rows).toEqual([
        { id: 1, name: 'Alice', note: null, data: Buffer.from([0, 255]) },
        { id: 2, name: 'tab\there', note: 'back\\slash', data: Buffer.alloc(0) },
        { id: 3, name: 'üñí €𝄞', note: 'line\nbreak', data: null },
      ]);
    });
  });

  it('COPY FROM STDIN / TO STDOUT in csv format with header', async () => {
    await withClient({ ...superConfig(px.port), ...tz }, async (c) => {
      const csv = await withClient({ ...superConfig(), ...tz }, (dc) => copyOut(dc, 'copy proto_copy_text to stdout (format csv, header)'));
      expect(csv.toString().split('\n')[0]).toBe('id,name,amount,ts,flag,data,tags,note');
      await copyIn(c, 'copy proto_copy_csv from stdin (format csv, header)', csv, 5);
      const out = await copyOut(c, 'copy proto_copy_csv to stdout (format csv, header)');
      expect(out.equals(csv)).toBe(true);
      const diff = await c.query(`(table proto_copy_text except table proto_copy_csv) union all (table proto_copy_csv except table proto_copy_text)`);
      expect(diff.rowCount).toBe(0);
    });
  });

  it('COPY FROM STDIN / TO STDOUT in binary format', async () => {
    await withClient(superConfig(px.port), async (c) => {
      // Source rows, also with a 2 MB value so CopyData messages span many TCP chunks.
      await c.query(`insert into proto_copy_src select * from proto_copy_text`);
      await c.query(`insert into proto_copy_src values (4, repeat('z', 2000000), 1, now(), true, decode(repeat('ab', 1000), 'hex'), '{big}', null)`);
      const bin = await withClient(superConfig(), (dc) => copyOut(dc, 'copy proto_copy_src to stdout (format binary)'));
      expect(bin.subarray(0, 11).toString('latin1')).toBe('PGCOPY\n\xff\r\n\0');
      await copyIn(c, 'copy proto_copy_bin from stdin (format binary)', bin, 65_537);
      const out = await copyOut(c, 'copy proto_copy_bin to stdout (format binary)');
      expect(out.equals(bin)).toBe(true);
      const r = await c.query(`select count(*)::int as n, sum(length(name))::int as len from proto_copy_bin`);
      expect(r.rows).toEqual([{ n: 4, len: 5 + 8 + 6 + 2_000_000 }]);
    });
  });

  it('COPY (100k rows, mixed types) TO STDOUT is byte-identical direct vs proxy, in text, csv and binary', async () => {
    const select = `select g, g::text || 'ä€', md5(g::text), (g * 1.25)::numeric(20,4), g::float8 / 3,
        timestamptz '2020-01-01 00:00:00+00' + g * interval '1 minute', g % 3 = 0,
        case when g % 7 = 0 then null else decode(md5(g::text), 'hex') end,
        array[g, g + 1], json_build_object('g', g, 's', repeat('q', g % 13)), repeat('x', g % 50),
        case when g = 50000 then repeat('L', 300000) end
      from generate_series(1, 100000) g`;
    for (const fmt of ['text', 'csv', 'binary']) {
      const sql = `copy (${select}) to stdout (format ${fmt})`;
      const viaProxy = await withClient({ ...superConfig(px.port), ...tz }, (c) => copyOut(c, sql));
      const viaDirect = await withClient({ ...superConfig(), ...tz }, (c) => copyOut(c, sql));
      expect(viaProxy.length, fmt).toBeGreaterThan(10_000_000);
      expect(viaProxy.length, fmt).toBe(viaDirect.length);
      expect(viaProxy.equals(viaDirect), fmt).toBe(true);
      if (fmt === 'text') expect(viaProxy.toString('utf8').split('\n').length).toBe(100_001);
    }
  });

  it('bad COPY data is refused with the server error and the session stays usable', async () => {
    const run = (port: number) =>
      withClient(superConfig(port), async (c) => {
        let err: unknown;
        await copyIn(c, 'copy proto_copy_text from stdin', Buffer.from('10\tok\t1\t2024-01-01\tt\t\\N\t{}\tx\nnot-a-number\tbad\n')).catch((e) => (err = e));
        const r = await c.query('select count(*)::int as n from proto_copy_text where id = 10');
        return { err: errorFields(err), n: r.rows[0].n as number };
      });
    const p = await run(px.port);
    const d = await run(direct());
    expect(p.err.code).toBe('22P02');
    expect(p.n).toBe(0);
    expect(p).toEqual(d);
  });

  it('CopyFail from the client ends the COPY with an error (raw messages)', async () => {
    const run = async (port: number) => {
      const { raw } = await login(port);
      raw.write(query('copy proto_copy_text from stdin'));
      const g = await waitForTypes(raw, 'G');
      raw.write(Buffer.concat([message('d', Buffer.from('20\tpartial\t1\t2024-01-01\tt\t\\N\t{}\tx\n')), message('f', cstr('client gave up'))]));
      const rest = await collect(raw);
      raw.write(query('select count(*) from proto_copy_text where id = 20'));
      const check = await collect(raw);
      raw.close();
      return [...g, ...rest, ...check];
    };
    const p = await run(px.port);
    const d = await run(direct());
    expect(types(p)).toBe('GEZTDCZ');
    expect(fields(p[1].body).C).toBe('57014');
    expect(fields(p[1].body).M).toBe('COPY from stdin failed: client gave up');
    expect(text(p[4].body)).toBe('0');
    expect(dump(p)).toEqual(dump(d));
  });
});

// ===========================================================================

describe('pg pipeline mode', () => {
  it('300 queries in flight on one connection (named statements, an error in the middle), equal to direct', async () => {
    const run = (port: number) =>
      withClient({ ...superConfig(port), pipeline: true }, async (c) => {
        const jobs = Array.from({ length: 300 }, (_, i) => {
          if (i === 150) return c.query('select * from proto_no_such_table').then(() => 'no error', (e: Error & { code?: string }) => e.code);
          if (i % 3 === 0) return c.query({ name: 'pipe_named', text: 'select $1::int * 2 as v', values: [i] }).then((r) => r.rows[0].v);
          if (i % 3 === 1) return c.query(`insert into proto_pipe values (${port === px.port ? i : i + 1000}, $1) returning id`, [`v${i}`]).then((r) => r.rows[0].id - (port === px.port ? 0 : 1000));
          return c.query('select $1::text as t', [`t${i}`]).then((r) => r.rows[0].t);
        });
        return Promise.all(jobs);
      });
    const p = await run(px.port);
    const d = await run(direct());
    expect(p[150]).toBe('42P01');
    expect(p[0]).toBe(0);
    expect(p[3]).toBe(6);
    expect(p[1]).toBe(1);
    expect(p[2]).toBe('t2');
    expect(p).toEqual(d);
  });
});

// ===========================================================================

describe('errors identical direct vs proxy', () => {
  const cases: [string, string, unknown[]?][] = [
    ['division by zero', 'select 1/0'],
    ['undefined table with position', 'select a, b from proto_nonexistent_table'],
    ['syntax error with position', 'select 1 frm x where'],
    ['unique violation with detail, schema, table, constraint', `insert into proto_err_uniq values (1, 'dup')`],
    ['not-null violation with column', 'insert into proto_err_uniq values (2, null)'],
    ['undefined function with hint', 'select proto_no_func(1, $1::text)', ['x']],
    ['invalid input in a parameter (extended protocol)', 'select $1::int', ['abc']],
    [
      'RAISE EXCEPTION with custom SQLSTATE, detail, hint (and context)',
      `do $$ begin raise exception 'proto boom %', 7 using errcode = 'PV001', detail = 'dd', hint = 'hh'; end $$`,
    ],
    ['error inside a function with internal query/position', `do $$ begin execute 'select no_such_col from proto_err_uniq'; end $$`],
  ];
  for (const [name, sql, values] of cases) {
    it(name, async () => {
      const viaProxy = await errorOf(superConfig(px.port), sql, values);
      const viaDirect = await errorOf(superConfig(), sql, values);
      expect(viaProxy.code).toMatch(/^[0-9A-Z]{5}$/);
      expect(viaProxy.severity).toBe('ERROR');
      expect(viaProxy).toEqual(viaDirect);
    });
  }

  it('the expected fields really are set (so the comparison means something)', async () => {
    const syntax = await errorOf(superConfig(px.port), 'select 1 frm x where');
    expect(syntax).toMatchObject({ code: '42601', position: '14', message: 'syntax error at or near "x"' });
    const missing = await errorOf(superConfig(px.port), 'select a, b from proto_nonexistent_table');
    expect(missing).toMatchObject({ code: '42P01', position: '18', message: 'relation "proto_nonexistent_table" does not exist' });
    const dup = await errorOf(superConfig(px.port), `insert into proto_err_uniq values (1, 'dup')`);
    expect(dup).toMatchObject({ code: '23505', detail: 'Key (id)=(1) already exists.', table: 'proto_err_uniq', constraint: 'proto_err_uniq_pkey' });
    const fn = await errorOf(superConfig(px.port), 'select proto_no_func(1, $1::text)', ['x']);
    expect(fn.code).toBe('42883');
    expect(String(fn.hint)).toMatch(/No function matches/);
    const custom = await errorOf(superConfig(px.port), `do $$ begin raise exception 'proto boom %', 7 using errcode = 'PV001', detail = 'dd', hint = 'hh'; end $$`);
    expect(custom).toMatchObject({ code: 'PV001', message: 'proto boom 7', detail: 'dd', hint: 'hh' });
    expect(String(custom.where)).toMatch(/PL\/pgSQL function inline_code_block/);
  });
});

// ===========================================================================

describe('Terminate and disconnects', () => {
  async function backendGone(pid: number): Promise<boolean> {
    return withClient(superConfig(), async (c) => {
      for (let i = 0; i < 500; i++) {
        const r = await c.query('select 1 from pg_stat_activity where pid = $1', [pid]);
        if (r.rowCount === 0) return true;
        await new Promise((res) => setTimeout(res, 20));
      }
      return false;
    });
  }

  it("Terminate ('X') closes the connection cleanly and ends the upstream backend", async () => {
    const own = await startProxy();
    proxies.push(own);
    const { raw } = await login(own.port);
    raw.write(query('select pg_backend_pid()'));
    const pid = Number(text((await collect(raw)).find((m) => m.type === 'D')?.body as Buffer));
    expect(pid).toBeGreaterThan(0);
    expect(own.proxy.sessionCount).toBe(1);
    raw.write(message('X'));
    await raw.waitClosed();
    // Nothing (no error) was sent back after Terminate.
    expect(raw.messages).toEqual([]);
    expect(await backendGone(pid)).toBe(true);
    for (let i = 0; i < 250 && own.proxy.sessionCount > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(own.proxy.sessionCount).toBe(0);
    expect(own.logs.filter((l) => Number(l.level) >= 40)).toEqual([]);
  });

  it('a client that vanishes without Terminate also ends its upstream backend', async () => {
    const { raw } = await login(px.port);
    raw.write(query('select pg_backend_pid()'));
    const pid = Number(text((await collect(raw)).find((m) => m.type === 'D')?.body as Buffer));
    raw.close();
    expect(await backendGone(pid)).toBe(true);
  });

  it('a backend terminated by the server sends FATAL 57P01 through the proxy, then the connection closes', async () => {
    const { raw } = await login(px.port);
    raw.write(query('select pg_backend_pid()'));
    const pid = Number(text((await collect(raw)).find((m) => m.type === 'D')?.body as Buffer));
    await withClient(superConfig(), (c) => c.query('select pg_terminate_backend($1)', [pid]));
    const e = await raw.until('E');
    expect(e).toBeDefined();
    expect(fields((e as RawMessage).body)).toMatchObject({ S: 'FATAL', C: '57P01', M: 'terminating connection due to administrator command' });
    await raw.waitClosed();
  });

  it('backpressure: a client that stops reading makes the server wait in ClientWrite; data is complete afterwards', async () => {
    const sql = `copy (select g, repeat(md5(g::text), 32) from generate_series(1, 60000) g) to stdout`;
    const { raw } = await login(px.port);
    raw.write(query('select pg_backend_pid()'));
    const pid = Number(text((await collect(raw)).find((m) => m.type === 'D')?.body as Buffer));
    raw.socket.pause();
    raw.write(query(sql));
    // Far more data (~60 MB) than socket buffers hold: the server must block writing.
    const waited = await withClient(superConfig(), async (c) => {
      for (let i = 0; i < 500; i++) {
        const r = await c.query<{ w: string | null; s: string }>('select wait_event as w, state as s from pg_stat_activity where pid = $1', [pid]);
        if (r.rows[0]?.w === 'ClientWrite') return true;
        await new Promise((res) => setTimeout(res, 20));
      }
      return false;
    });
    expect(waited).toBe(true);
    raw.socket.resume();
    const msgs = await collect(raw, 1, 60_000);
    raw.close();
    const data = msgs.filter((m) => m.type === 'd');
    const body = Buffer.concat(data.map((m) => m.body));
    const expected = await withClient(superConfig(), (c) => copyOut(c, sql));
    expect(types(msgs.filter((m) => m.type !== 'd'))).toBe('HcCZ');
    expect(body.length).toBe(expected.length);
    expect(body.equals(expected)).toBe(true);
  });

  it('pg client end() (Terminate) through the proxy leaves no backend behind', async () => {
    const c = new pg.Client(superConfig(px.port));
    await c.connect();
    const pid = (await c.query<{ p: number }>('select pg_backend_pid() as p')).rows[0].p;
    await c.end();
    expect(await backendGone(pid)).toBe(true);
  });
});

// ===========================================================================

function run(cmd: string, args: string[], env: Record<string, string>, cwd?: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

function pgEnv(port: number, database = 'postgres'): Record<string, string> {
  return {
    PGHOST: info().host,
    PGPORT: String(port),
    PGUSER: info().superuser,
    PGPASSWORD: info().superpass,
    PGDATABASE: database,
    PGSSLMODE: 'disable',
    PGGSSENCMODE: 'disable',
    PGAPPNAME: 'proto_tool',
    PGTZ: 'UTC',
    PGCONNECT_TIMEOUT: '10',
  };
}

const havePsql = onPath('psql', 'protocol.test');
const havePgbench = onPath('pgbench', 'protocol.test');

describe('psql', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'pgveil-proto-psql-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it.skipIf(!havePsql)('psql -c with several statements: output identical to direct', async () => {
    const args = ['-X', '-v', 'ON_ERROR_STOP=0', '-c', `select 1 as a, 'x' as b; select g, g * 2 as d from generate_series(1, 5) g; select 1/0`];
    const viaProxy = await run('psql', args, pgEnv(px.port));
    const viaDirect = await run('psql', args, pgEnv(direct()));
    expect(viaProxy.stdout).toContain('(5 rows)');
    expect(viaProxy.stderr).toContain('division by zero');
    expect(viaProxy).toEqual(viaDirect);
  });

  it.skipIf(!havePsql)('psql -f with multi statements, \\copy to and from a file, \\gset, errors: output identical to direct', async () => {
    const csvFile = path.join(dir, 'proto_psql.csv');
    const script = path.join(dir, 'script.sql');
    writeFileSync(
      script,
      [
        'drop table if exists proto_psql;',
        'create table proto_psql (id int primary key, name text, amount numeric, at timestamptz);',
        `insert into proto_psql select g, 'name ' || g || case when g % 3 = 0 then E'\\twith tab' else '' end, g * 1.5, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 hour' from generate_series(1, 500) g;`,
        'select count(*), sum(amount) from proto_psql;',
        `\\copy proto_psql to '${csvFile}' csv header`,
        'truncate proto_psql;',
        `\\copy proto_psql from '${csvFile}' csv header`,
        'select * from proto_psql order by id limit 5;',
        '\\copy (select id, name from proto_psql where id <= 3 order by id) to stdout',
        'select 1/0;',
        'begin;',
        'select 42 as answer \\gset',
        '\\echo answer is :answer',
        'commit;',
        'select name from proto_psql where id = 3 \\gx',
        `do $$ begin raise notice 'psql notice'; end $$;`,
        'select count(*) from proto_psql; select max(id) from proto_psql;',
        'drop table proto_psql;',
        '',
      ].join('\n'),
    );
    const args = ['-X', '-v', 'ON_ERROR_STOP=0', '-f', script];
    const viaDirect = await run('psql', args, pgEnv(direct()));
    const csvDirect = readFileSync(csvFile);
    rmSync(csvFile);
    const viaProxy = await run('psql', args, pgEnv(px.port));
    const csvProxy = readFileSync(csvFile);
    expect(viaProxy.status).toBe(0);
    expect(viaProxy.stdout).toContain('answer is 42');
    expect(viaProxy.stdout).toContain('COPY 500');
    expect(viaProxy.stderr).toContain('division by zero');
    expect(viaProxy.stderr).toContain('psql notice');
    expect(viaProxy).toEqual(viaDirect);
    expect(csvProxy.equals(csvDirect)).toBe(true);
    expect(csvProxy.toString().split('\n').length).toBe(502);
  });
});

describe('pgbench', () => {
  const db = 'proto_bench';
  beforeAll(async () => {
    if (!havePgbench) return;
    await withClient(superConfig(), async (c) => {
      await c.query(`drop database if exists ${db} with (force)`);
      await c.query(`create database ${db}`);
    });
  });
  afterAll(async () => {
    if (!havePgbench) return;
    await withClient(superConfig(), (c) => c.query(`drop database if exists ${db} with (force)`)).catch(() => undefined);
  });

  it.skipIf(!havePgbench)('pgbench -i -s 1 through the proxy (COPY of 100k accounts)', async () => {
    const r = await run('pgbench', ['-i', '-s', '1', '-q'], pgEnv(px.port, db));
    expect(r.stderr).toMatch(/done in/);
    expect(r.status).toBe(0);
    const n = await withClient({ ...superConfig(), database: db }, (c) =>
      c.query<{ a: number; b: number; t: number }>(
        'select (select count(*) from pgbench_accounts)::int as a, (select count(*) from pgbench_branches)::int as b, (select count(*) from pgbench_tellers)::int as t',
      ),
    );
    expect(n.rows).toEqual([{ a: 100_000, b: 1, t: 10 }]);
  });

  for (const mode of ['simple', 'extended', 'prepared']) {
    it.skipIf(!havePgbench)(`pgbench -M ${mode} -c 4 -t 100 through the proxy: exit 0, 400 transactions, 0 failed`, async () => {
      const count = () =>
        withClient({ ...superConfig(), database: db }, (c) => c.query<{ n: number }>('select count(*)::int as n from pgbench_history')).then(
          (r) => r.rows[0].n,
        );
      const before = await count();
      const r = await run('pgbench', ['-M', mode, '-c', '4', '-j', '2', '-t', '100', '-n'], pgEnv(px.port, db));
      expect(r.stderr).not.toMatch(/error|abort/i);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/number of transactions actually processed: 400\/400/);
      const failed = /number of failed transactions: (\d+)/.exec(r.stdout);
      if (failed) expect(Number(failed[1])).toBe(0);
      expect(await count()).toBe(before + 400);
    });
  }
});
