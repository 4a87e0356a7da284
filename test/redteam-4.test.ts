/**
 * Red team 4: functional notation, side effects two functions deep and under
 * control dependence, domain CHECKs calling code, plan-time evaluation in plain
 * EXPLAIN, CTE and scope bookkeeping (lost CTEs, forward references, opaque FROM
 * items, `(name).field` decoys), cursors drained by name, ORDER BY / GROUP BY
 * output-name resolution, row-count channels, and EXPLAIN ANALYZE / statistics
 * counters.
 *
 * Every attack runs as an ordinary login (analyst, SCRAM) through pgveil with
 * node-postgres (a raw protocol session where every byte counts, e.g. the
 * ParameterStatus of application_name). Everything the client receives (rows,
 * errors, notices, notifications) goes through the leak detector (raw values
 * and their hex/base64/md5/sha256/reversed forms). The safe outcome is either
 * "masked" (nothing raw) or "refused" (SQLSTATE 42501). For side-effect channels
 * the place the value was written is read back too, over a direct superuser
 * connection (the stash table, the sequence, pg_locks, random() after setseed,
 * application_name, notification payloads), and must hold nothing raw.
 *
 * The helper objects (stash table, functions, sequence, composite type) are
 * created by the analyst through pgveil; should pgveil refuse one, it is created
 * over a direct analyst connection instead, so the statement using it is judged
 * all the same.
 *
 * The last section runs a sample of the attacks through a proxy without a
 * policy: there the detector (or the read-back) must find the raw values, so
 * the tests above can fail.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { pgInfo, superConfig, withClient, type RunningProxy } from './support/proxy.js';
import { PII, clientAs, createPiiDatabase, startPolicyProxies, type MaskingProxy } from './support/masking-env.js';
import { LeakDetector, serialize, type Finding } from './support/leak-detector.js';
import { Q, dataRow, errorFields, login } from './support/redteam-3-raw.js';

const DB = 'redteam4';
const USER = 'analyst';
const PASSWORD = 'pw-analyst';

const detector = new LeakDetector(PII);

function leaks(received: unknown): Finding[] {
  return detector.scan(typeof received === 'string' ? received : serialize(received));
}

function expectNoLeak(received: unknown, where = 'received'): void {
  const found = leaks(received);
  expect(found.map((f) => `${where}: ${f.label}: …${f.excerpt}…`)).toEqual([]);
}

/**
 * email is filterable (filter: allow), so a WHERE on it is legitimate: the
 * side effects of functions called from that WHERE are what is tested. The other
 * columns keep the default filter: deny.
 */
const POLICY = `version: 1
columns:
  app.users.ssn:         { class: ssn,   mask: partial, keep_last: 4 }
  app.users.email:       { class: email, mask: email, filter: allow }
  app.users.card_number: { class: card,  mask: partial, keep_last: 4 }
  app.users.salary:      { class: money, mask: "null" }
  app.users.birth_date:  { class: dob,   mask: year }
  app.users.notes:       { class: free_text, mask: redact }
`;

/** Analyst-owned helper objects (public schema). */
const SETUP: [name: string, sql: string][] = [
  ['rt4_stash', 'CREATE TABLE public.rt4_stash (v text)'],
  ['rt4_in', 'CREATE FUNCTION public.rt4_in(text) RETURNS bool LANGUAGE sql AS $$ insert into rt4_stash values ($1) returning true $$'],
  ['rt4_out', 'CREATE FUNCTION public.rt4_out(text) RETURNS bool LANGUAGE sql AS $$ select rt4_in($1) $$'],
  ['rt4_nin', "CREATE FUNCTION public.rt4_nin(text) RETURNS bool LANGUAGE sql AS $$ select pg_notify('rt4ch', $1); select true $$"],
  ['rt4_nout', 'CREATE FUNCTION public.rt4_nout(text) RETURNS bool LANGUAGE sql AS $$ select rt4_nin($1) $$'],
  ['rt4_sin', "CREATE FUNCTION public.rt4_sin(text) RETURNS bool LANGUAGE sql AS $$ select set_config('application_name', $1, false) is not null $$"],
  ['rt4_sout', 'CREATE FUNCTION public.rt4_sout(text) RETURNS bool LANGUAGE sql AS $$ select rt4_sin($1) $$'],
  ['rt4_attr', "CREATE FUNCTION public.rt4_attr(r app.users) RETURNS text LANGUAGE sql AS 'select $1.ssn'"],
  ['rt4_seq', 'CREATE SEQUENCE public.rt4_seq'],
  ['rt4_comp', 'CREATE TYPE public.rt4_comp AS (v text)'],
  ['rt4_fcomp', 'CREATE FUNCTION public.rt4_fcomp(rt4_comp) RETURNS bool LANGUAGE sql AS $$ insert into rt4_stash values ($1.v) returning true $$'],
  ['rt4_drain', 'CREATE FUNCTION public.rt4_drain(c refcursor) RETURNS SETOF text LANGUAGE plpgsql AS $$DECLARE r text; BEGIN LOOP FETCH c INTO r; EXIT WHEN NOT FOUND; RETURN NEXT r; END LOOP; END$$'],
];

const CLEANUP = [
  'DROP DOMAIN IF EXISTS public.rt4_dt',
  'DROP DOMAIN IF EXISTS public.rt4_dt2',
  'DROP DOMAIN IF EXISTS public.rt4c_dt',
  'DROP FUNCTION IF EXISTS public.rt4_drain(refcursor)',
  'DROP FUNCTION IF EXISTS public.rt4_fcomp(public.rt4_comp)',
  'DROP TYPE IF EXISTS public.rt4_comp',
  'DROP SEQUENCE IF EXISTS public.rt4_seq',
  'DROP FUNCTION IF EXISTS public.rt4_attr(app.users)',
  'DROP FUNCTION IF EXISTS public.rt4_sout(text)',
  'DROP FUNCTION IF EXISTS public.rt4_sin(text)',
  'DROP FUNCTION IF EXISTS public.rt4_nout(text)',
  'DROP FUNCTION IF EXISTS public.rt4_nin(text)',
  'DROP FUNCTION IF EXISTS public.rt4_out(text)',
  'DROP FUNCTION IF EXISTS public.rt4_in(text)',
  'DROP TABLE IF EXISTS public.rt4_stash',
];

let proxies: Awaited<ReturnType<typeof startPolicyProxies>> | undefined;
let px: MaskingProxy;
let plain: RunningProxy;
/** Helper objects pgveil refused to create (created over a direct connection instead). */
const refusedSetup: string[] = [];

const analyst = (port = px.port): pg.ClientConfig => clientAs(port, USER, DB);
const analystDirect = (): pg.ClientConfig => clientAs(pgInfo().port, USER, DB);
const admin = (): pg.ClientConfig => ({ ...superConfig(), database: DB });

beforeAll(async () => {
  await createPiiDatabase(DB);
  proxies = await startPolicyProxies(POLICY);
  px = proxies.masked;
  plain = proxies.plain;
  for (const [name, sql] of SETUP) {
    const r = await analystRun(sql);
    if (r.code === undefined) continue;
    refusedSetup.push(`${name} (${r.code}: ${r.message ?? ''})`);
    await withClient(analystDirect(), (c) => c.query(sql));
  }
  if (refusedSetup.length) console.info(`[redteam-4] pgveil refused to create: ${refusedSetup.join('; ')}`);
}, 120_000);

afterAll(async () => {
  await proxies?.stop();
  await withClient(admin(), async (c) => {
    for (const sql of CLEANUP) await c.query(sql).catch(() => undefined);
  }).catch(() => undefined);
  await withClient(superConfig(), (c) => c.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`)).catch(() => undefined);
});

// ---------------------------------------------------------------------------
// Runners and read-backs
// ---------------------------------------------------------------------------

/** A statement, or something to do between two statements (a read-back over another connection). */
type Step = string | (() => Promise<void>);

interface StepResult {
  sql: string;
  rows: Record<string, unknown>[];
  code?: string;
  message?: string;
}

interface Run {
  /** Everything received: rows, errors, notices, notifications. */
  received: unknown[];
  steps: StepResult[];
  notifications: pg.Notification[];
  /** SQLSTATE and message of the first error, if any. */
  code?: string;
  message?: string;
}

/** Runs each statement as the analyst with node-postgres; after an error, ROLLBACK (an open transaction is abandoned). */
async function analystRun(steps: Step | Step[], port = px.port): Promise<Run> {
  const run: Run = { received: [], steps: [], notifications: [] };
  const client = new pg.Client(analyst(port));
  client.on('notice', (n) => run.received.push(n));
  client.on('notification', (n) => {
    run.notifications.push(n);
    run.received.push(n);
  });
  client.on('error', (e) => run.received.push(e));
  await client.connect();
  try {
    for (const step of Array.isArray(steps) ? steps : [steps]) {
      if (typeof step === 'function') {
        await step();
        continue;
      }
      try {
        const r = await client.query(step);
        const rows = (Array.isArray(r) ? r : [r]).flatMap((x: pg.QueryResult) => x.rows as Record<string, unknown>[]);
        run.steps.push({ sql: step, rows });
        run.received.push(rows);
      } catch (err) {
        run.received.push(err);
        const e = err as { code?: string; message: string };
        run.steps.push({ sql: step, rows: [], code: e.code, message: e.message });
        if (run.code === undefined) {
          run.code = e.code;
          run.message = e.message;
        }
        await client.query('ROLLBACK').catch(() => undefined);
      }
    }
  } finally {
    await client.end().catch(() => undefined);
  }
  return run;
}

/** The same over a raw protocol session (simple Query messages): every byte received is kept, ParameterStatus included. */
async function rawRun(steps: Step[], port = px.port): Promise<{ text: string; codes: string[]; rows: (string | null)[][] }> {
  const s = await login(port, USER, PASSWORD, DB);
  const codes: string[] = [];
  const rows: (string | null)[][] = [];
  try {
    for (const step of steps) {
      if (typeof step === 'function') {
        await step();
        continue;
      }
      s.send(Q(step));
      for (const m of await s.untilReady(1, 15_000)) {
        if (m.type === 'E') codes.push(errorFields(m.body).C ?? '?');
        if (m.type === 'D') rows.push(dataRow(m.body));
      }
    }
    return { text: s.text(), codes, rows };
  } finally {
    s.close();
  }
}

async function adminQuery(sql: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
  return withClient(admin(), async (c) => (await c.query(sql, params)).rows as Record<string, unknown>[]);
}

async function truncateStash(): Promise<void> {
  await adminQuery('TRUNCATE public.rt4_stash');
}

/** What the stash table holds, read over a direct superuser connection. */
async function stash(): Promise<string> {
  return (await adminQuery('SELECT v FROM public.rt4_stash')).map((r) => String(r.v)).join('\n');
}

/** Advisory locks held in this database, read over a direct superuser connection. */
async function advisoryLocksSeenByAdmin(): Promise<string> {
  const rows = await adminQuery(
    "SELECT classid::text AS c, objid::text AS o, objsubid AS s FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = $1)",
    [DB],
  );
  return rows.map((r) => `${String(r.c)}:${String(r.o)}:${String(r.s)}`).join('\n');
}

/** Asserts pgveil answered with its own refusal (42501), nothing leaked. */
function expectRefused(r: Run): void {
  expectNoLeak(r.received);
  expect(r.code, `expected a refusal, got ${r.code ?? 'rows'}: ${r.message ?? JSON.stringify(r.steps.map((s) => s.rows)).slice(0, 300)}`).toBe('42501');
}

/** Nothing raw, and the statement either ran (masked) or was refused by pgveil: no other error hides what was tested. */
function expectSafe(r: Run): void {
  expectNoLeak(r.received);
  if (r.code !== undefined) expect(r.code, r.message).toBe('42501');
}

// ---------------------------------------------------------------------------
// The attacks (shared with the control section)
// ---------------------------------------------------------------------------

const FUNCTIONAL_NOTATION: [string, string][] = [
  ['u.row_to_json', 'SELECT u.row_to_json FROM app.users u'],
  ['users.to_jsonb', 'SELECT users.to_jsonb FROM app.users'],
  ['(u).row_to_json', 'SELECT (u).row_to_json FROM app.users u'],
  ['u.rt4_attr (a user function over the row type)', 'SELECT u.rt4_attr FROM app.users u'],
];

const CTE_LOST = "WITH b AS (SELECT id, ssn FROM app.users) SELECT * FROM (SELECT id, ssn||'' s FROM b) x";
const CTE_FORWARD = "WITH RECURSIVE a AS (SELECT * FROM b), b AS (SELECT id, ssn FROM app.users) SELECT id, ssn||'' FROM a";
const XMLTABLE_LATERAL = "SELECT u.id, x.* FROM app.users u, LATERAL (SELECT ssn||'' FROM XMLTABLE('/a' PASSING '<a/>' COLUMNS x int) xt) x";
const XMLTABLE_SCALAR = "SELECT (SELECT ssn||'' FROM XMLTABLE('/a' PASSING '<a/>' COLUMNS x int) xt) FROM app.users";
const DECOY_SCALAR = 'SELECT u.id, (SELECT (u).id FROM (SELECT t AS u FROM (SELECT u.ssn AS id) t) w) AS leak FROM app.users u';
const DECOY_FROM = 'SELECT (w.u).id FROM (SELECT t AS u FROM (SELECT ssn AS id FROM app.users) t) w, (SELECT 1 AS id) u';
const CURSOR_DRAIN = ['BEGIN', "DECLARE c CURSOR FOR SELECT ssn||' '||email FROM app.users", "SELECT * FROM rt4_drain('c')", 'COMMIT'];

const EXPLAIN_XML: [string, string][] = [
  ['table_to_xml', "EXPLAIN SELECT * FROM generate_series(1,2) v(x) WHERE x = table_to_xml('app.users', false, true, '')::text::int"],
  ['schema_to_xml', "EXPLAIN SELECT * FROM generate_series(1,2) v(x) WHERE x = schema_to_xml('app', false, true, '')::text::int"],
  ['database_to_xml', "EXPLAIN SELECT * FROM generate_series(1,2) v(x) WHERE x = database_to_xml(false, true, '')::text::int"],
];

/** salary of record 1 is 98000.50: salary/100 = 980.005, so 980 values of g pass. */
const SALARY_STEPS = Math.floor(PII[0].salary / 100);
const NEXTVAL_COUNT = "SELECT count(CASE WHEN g <= salary/100 THEN nextval('rt4_seq') END) AS n FROM app.users, generate_series(1,3000) g WHERE id=1";
const SETSEED = 'SELECT setseed(salary/1000000.0) FROM app.users WHERE id = 1';

/** The ssn's 9 digits as an int: 123456789 and 987654321 both fit. */
const SSN_INT = "replace(ssn, '-', '')::int";
const ADVISORY: [fn: string, xact: boolean, args: string][] = [
  ['pg_advisory_lock_shared', false, `id, ${SSN_INT}`],
  ['pg_try_advisory_lock_shared', false, `id, ${SSN_INT}`],
  ['pg_advisory_lock', false, `id, ${SSN_INT}`],
  ['pg_try_advisory_lock', false, `id, ${SSN_INT}`],
  ['pg_advisory_lock_shared', false, `${SSN_INT}::bigint`],
  ['pg_advisory_xact_lock_shared', true, `id, ${SSN_INT}`],
  ['pg_try_advisory_xact_lock', true, `id, ${SSN_INT}`],
  ['pg_try_advisory_xact_lock_shared', true, `id, ${SSN_INT}`],
  ['pg_advisory_xact_lock', true, `id, ${SSN_INT}`],
];
const advisorySteps = (fn: string, xact: boolean, args: string, onHeld: () => Promise<void>): Step[] => [
  ...(xact ? ['BEGIN'] : []),
  `SELECT ${fn}(${args}) FROM app.users`,
  "SELECT classid, objid, objsubid FROM pg_locks WHERE locktype = 'advisory'",
  onHeld,
  xact ? 'COMMIT' : 'SELECT pg_advisory_unlock_all()',
];

const DOMAIN_ROW_CHECK = 'CREATE DOMAIN rt4_dt AS text CHECK ((row(value)::rt4_comp).rt4_fcomp)';

const ROW_COUNT_UNNEST = "SELECT u.id, (SELECT count(*) FROM unnest(ARRAY[string_to_array(repeat('x', substr(u.ssn,1,3)::int), NULL)])) AS n FROM app.users u ORDER BY u.id";
const ROW_COUNT_JSONB = "SELECT u.id, (SELECT count(*) FROM jsonb_each(to_jsonb(jsonb_object(string_to_array(substr('abcdefghijklmnopqrst',1,2*substr(u.ssn,1,1)::int), NULL))))) AS n FROM app.users u ORDER BY u.id";
/** What the two row-count channels would answer: the first 3 digits, the first digit of each ssn. */
const FIRST3 = new Map(PII.map((p) => [p.id, p.ssn.replace(/\D/g, '').slice(0, 3)]));
const FIRST1 = new Map(PII.map((p) => [p.id, p.ssn.slice(0, 1)]));

const EXPLAIN_ANALYZE_LOOPS = "EXPLAIN (ANALYZE, TIMING OFF, COSTS OFF) SELECT CASE WHEN u.ssn LIKE '1%' THEN (SELECT 1 FROM app.users o WHERE o.id=u.id) END FROM app.users u";

const ORDER_ALIAS: [string, string][] = [
  ['ORDER BY an output alias shadowing an input column', 'SELECT u.id AS uid, ssn AS id FROM app.users u ORDER BY id'],
  ['DISTINCT ON an output alias shadowing an input column', 'SELECT DISTINCT ON (id) u.id AS uid, ssn AS id FROM app.users u'],
  ['GROUP BY ROLLUP of an output alias', 'SELECT substr(ssn,1,1) AS s, count(*) FROM app.users GROUP BY ROLLUP(s)'],
  ['GROUP BY CUBE of an output alias', 'SELECT substr(ssn,1,1) AS s, count(*) FROM app.users GROUP BY CUBE(s)'],
  ['GROUP BY GROUPING SETS of an output alias', 'SELECT substr(ssn,1,1) AS s, count(*) FROM app.users GROUP BY GROUPING SETS ((s))'],
];

// ============================================================================
// 1. Functional notation: f(x) written as x.f
// ============================================================================

describe('functional notation', () => {
  it.each(FUNCTIONAL_NOTATION)('%s is masked or refused', async (_what, sql) => {
    expectSafe(await analystRun(sql));
  });
});

// ============================================================================
// 2. Side effects two functions deep
// ============================================================================

describe('side effects two functions deep', () => {
  it('rt4_out(ssn) → rt4_in → INSERT: nothing raw reaches the client or the stash table', async () => {
    await truncateStash();
    const r = await analystRun('SELECT rt4_out(ssn) FROM app.users');
    expectNoLeak(r.received);
    expectNoLeak(await stash(), 'rt4_stash');
  });

  it('WHERE rt4_out(email) on a filter: allow column: nothing raw in the stash table', async () => {
    await truncateStash();
    const r = await analystRun('SELECT id FROM app.users WHERE rt4_out(email)');
    expectNoLeak(r.received);
    expectNoLeak(await stash(), 'rt4_stash');
  });

  it('rt4_nout → rt4_nin → pg_notify: no raw payload, for the session itself (LISTEN) or another listener', async () => {
    const listener = new pg.Client(admin());
    listener.on('error', () => undefined);
    const payloads: pg.Notification[] = [];
    listener.on('notification', (n) => payloads.push(n));
    await listener.connect();
    try {
      await listener.query('LISTEN rt4ch');
      const r = await analystRun(['LISTEN rt4ch', 'SELECT rt4_nout(ssn) FROM app.users', 'SELECT id FROM app.users WHERE rt4_nout(email)', 'SELECT 1 AS flush']);
      await new Promise((res) => setTimeout(res, 300));
      expectNoLeak(r.received);
      expectNoLeak(r.notifications, 'own notifications');
      expectNoLeak(payloads, 'listener notifications');
    } finally {
      await listener.end().catch(() => undefined);
    }
  });

  it('rt4_sout → rt4_sin → set_config(application_name): nothing raw in ParameterStatus, SHOW application_name or pg_stat_activity', async () => {
    let seen = '';
    const appNames = async () => {
      const rows = await adminQuery('SELECT application_name AS a FROM pg_stat_activity WHERE datname = $1', [DB]);
      seen += rows.map((x) => String(x.a)).join('\n');
    };
    const r = await rawRun([
      'SELECT rt4_sout(ssn) FROM app.users',
      'SHOW application_name',
      appNames,
      'SELECT id FROM app.users WHERE rt4_sout(email)',
      'SHOW application_name',
      appNames,
    ]);
    expectNoLeak(r.text);
    expectNoLeak(seen, 'pg_stat_activity.application_name');
    for (const c of r.codes) expect(c).toBe('42501');
  });
});

// ============================================================================
// 3. Control-dependent side effects
// ============================================================================

describe('functions pgveil\'s catalog cannot see yet', () => {
  it('a function created in the client\'s open transaction and called on a masked column is refused; nothing raw is stashed', async () => {
    await truncateStash();
    const r = await analystRun([
      'BEGIN',
      "CREATE FUNCTION public.rt4_fresh(text) RETURNS bool LANGUAGE sql AS $$ insert into rt4_stash values ($1) returning true $$",
      'SELECT rt4_fresh(ssn) FROM app.users',
      'COMMIT',
    ]);
    expectRefused(r);
    expectNoLeak(await stash(), 'rt4_stash');
    await adminQuery('DROP FUNCTION IF EXISTS public.rt4_fresh(text)');
  });
});

describe('functions replaced after pgveil judged their callers', () => {
  const harmless = (name: string) => `CREATE OR REPLACE FUNCTION public.${name}(text) RETURNS bool LANGUAGE sql AS $$ select true $$`;
  const writing = (name: string) => `CREATE OR REPLACE FUNCTION public.${name}(text) RETURNS bool LANGUAGE sql AS $$ insert into rt4_stash values ($1) returning true $$`;

  it('replaced inside the client\'s open transaction, then called on a masked column: refused, nothing raw stashed', async () => {
    await truncateStash();
    // Created through pgveil, which then reads its catalog again before the next statement.
    expect((await analystRun(harmless('rt4_repl'))).code).toBeUndefined();
    // A fresh session: its catalog is read with the harmless body.
    const r = await analystRun(['SELECT rt4_repl(name) FROM app.users', 'BEGIN', writing('rt4_repl'), 'SELECT rt4_repl(ssn) FROM app.users', 'COMMIT']);
    expectRefused(r);
    expect(r.steps[3].code, 'the call after the replacement').toBe('42501');
    expectNoLeak(await stash(), 'rt4_stash');
    await adminQuery('DROP FUNCTION IF EXISTS public.rt4_repl(text)');
  });

  it('spelled with U&"…" escapes after a replacement inside the transaction: refused, nothing raw stashed', async () => {
    await truncateStash();
    expect((await analystRun(harmless('rt4_uesc'))).code).toBeUndefined();
    const r = await analystRun(['BEGIN', writing('rt4_uesc'), 'SELECT U&"rt4\\005fuesc"(ssn) FROM app.U&"user\\0073"', 'COMMIT']);
    expectRefused(r);
    expect(r.steps[2].code, 'the call after the replacement').toBe('42501');
    expectNoLeak(await stash(), 'rt4_stash');
  });

  it('FETCH from a cursor declared before a replacement inside the transaction (plpgsql looks the body up per call): refused', async () => {
    await truncateStash();
    const plpgsql = (body: string) => `CREATE OR REPLACE FUNCTION public.rt4_curfn(t text) RETURNS int LANGUAGE plpgsql AS $$ BEGIN ${body} RETURN 1; END $$`;
    expect((await analystRun(plpgsql(''))).code).toBeUndefined();
    const r = await analystRun([
      'BEGIN',
      'DECLARE rt4_c CURSOR FOR SELECT rt4_curfn(ssn) FROM app.users',
      'FETCH 1 FROM rt4_c',
      plpgsql('INSERT INTO public.rt4_stash VALUES (t);'),
      'FETCH 2 FROM rt4_c',
      'COMMIT',
    ]);
    expectRefused(r);
    expect(r.steps[4].code, 'the FETCH after the replacement').toBe('42501');
    expectNoLeak(await stash(), 'rt4_stash');
  });

  it('SQL EXECUTE of a statement prepared before a replacement inside the transaction: refused', async () => {
    await truncateStash();
    expect((await analystRun(harmless('rt4_txprep'))).code).toBeUndefined();
    const r = await analystRun(['PREPARE rt4_tp AS SELECT rt4_txprep(ssn) FROM app.users', 'BEGIN', writing('rt4_txprep'), 'EXECUTE rt4_tp', 'COMMIT']);
    expectRefused(r);
    expect(r.steps[3].code, 'the EXECUTE after the replacement').toBe('42501');
    expectNoLeak(await stash(), 'rt4_stash');
  });

  it('a named prepared statement judged before its function was replaced (and committed) is judged again: refused, nothing raw stashed', async () => {
    await truncateStash();
    // Created through pgveil, which then reads its catalog again before the next statement.
    expect((await analystRun(harmless('rt4_prep'))).code).toBeUndefined();
    const client = new pg.Client(analyst(px.port));
    const received: unknown[] = [];
    client.on('error', (e) => received.push(e));
    await client.connect();
    let code: string | undefined;
    try {
      const statement = { name: 'rt4_prep_s', text: 'SELECT rt4_prep(ssn) AS v FROM app.users' };
      received.push((await client.query(statement)).rows);
      await client.query(writing('rt4_prep'));
      // Twice: the second attempt must be refused as well, not run on the new judgement.
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          received.push((await client.query(statement)).rows);
          code = undefined;
        } catch (err) {
          received.push(err);
          code = (err as { code?: string }).code;
        }
        expect(code, `attempt ${attempt + 1}`).toBe('42501');
      }
    } finally {
      await client.end();
    }
    expectNoLeak(received);
    expect(code).toBe('42501');
    expectNoLeak(await stash(), 'rt4_stash');
    await adminQuery('DROP FUNCTION IF EXISTS public.rt4_prep(text)');
  });

  it('SQL PREPARE before the function was replaced, EXECUTE after: refused, nothing raw stashed', async () => {
    await truncateStash();
    // Created through pgveil, which then reads its catalog again before the next statement.
    expect((await analystRun(harmless('rt4_sqlprep'))).code).toBeUndefined();
    const r = await analystRun(['PREPARE rt4_p AS SELECT rt4_sqlprep(ssn) FROM app.users', 'EXECUTE rt4_p', writing('rt4_sqlprep'), 'EXECUTE rt4_p']);
    expectRefused(r);
    expect(r.steps[3].code, 'the EXECUTE after the replacement').toBe('42501');
    expectNoLeak(await stash(), 'rt4_stash');
    await adminQuery('DROP FUNCTION IF EXISTS public.rt4_sqlprep(text)');
  });
});

describe('round 5: what masked values, notices and names still told', () => {
  /** A DDL through pgveil as the analyst: pgveil reads its catalog again before the next statement. */
  const refreshCatalog = async (n: string): Promise<void> => {
    expect((await analystRun(`CREATE TABLE public.rt4_bump_${n} (x int)`)).code).toBeUndefined();
  };

  it('a derived value is masked NULLs included: CASE WHEN ssn LIKE \'1%\' THEN \'x\' END looks the same on every row', async () => {
    const r = await analystRun("SELECT id, CASE WHEN ssn LIKE '1%' THEN 'x' END AS c FROM app.users ORDER BY id");
    expectSafe(r);
    if (r.code === undefined) {
      const values = new Set(r.steps[0].rows.map((row) => JSON.stringify(row.c)));
      expect([...values], 'one value for matching and non-matching rows').toHaveLength(1);
    }
  });

  it('json_each(row_to_json(CASE … THEN u END)) is no fixed row count: refused', async () => {
    const r = await analystRun("SELECT u.id, count(*) FROM app.users u, json_each(row_to_json(CASE WHEN u.ssn LIKE '1%' THEN u END)) j GROUP BY u.id");
    expectRefused(r);
  });

  it('a statement that reads masked columns gets no notices, not even withheld ones (their number follows the values)', async () => {
    const r = await analystRun("SELECT id, CASE WHEN ssn LIKE '1%' THEN to_tsquery('english', 'the') END FROM app.users ORDER BY id");
    expectSafe(r);
    expect(r.received.filter((x) => (x as { name?: string }).name === 'notice')).toEqual([]);
  });

  it('a SQLSTATE chosen by server code from a masked value is replaced (RAISE … USING ERRCODE = substr(ssn, …))', async () => {
    expect((await analystRun(
      "CREATE FUNCTION public.rt4_code(t text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = substr(replace(t, '-', ''), 1, 5); END $$",
    )).code).toBeUndefined();
    const r = await analystRun('SELECT rt4_code(ssn) FROM app.users WHERE id = 1');
    expectNoLeak(r.received);
    expect(r.code).toBe('P0001');
  });

  it('a user function named unnest is not the built-in: its row count is a filter (refused)', async () => {
    await adminQuery('CREATE SCHEMA IF NOT EXISTS rt4s');
    await adminQuery('GRANT USAGE ON SCHEMA rt4s TO analyst');
    await adminQuery("CREATE OR REPLACE FUNCTION rt4s.unnest(a text[]) RETURNS SETOF int LANGUAGE sql AS $$ select generate_series(1, substr(a[1], 1, 1)::int) $$");
    await refreshCatalog('unnest');
    const r = await analystRun('SELECT u.id, count(*) FROM app.users u, rt4s.unnest(ARRAY[u.ssn]) x GROUP BY u.id');
    expectRefused(r);
  });

  it('crosstab (tablefunc) runs SQL given as text: refused', async () => {
    await adminQuery('CREATE EXTENSION IF NOT EXISTS tablefunc SCHEMA rt4s');
    await refreshCatalog('tablefunc');
    const r = await analystRun("SELECT * FROM rt4s.crosstab('select id::text, ''a''::text, ssn from app.users order by 1') AS t(id text, a text)");
    expectRefused(r);
  });

  it('a user-written operator runs its function: an operator over a function that reads ssn is refused', async () => {
    await adminQuery("CREATE OR REPLACE FUNCTION public.rt4_opfn(i int) RETURNS text LANGUAGE sql AS $$ select ssn from app.users where id = i $$");
    await adminQuery('CREATE OPERATOR public.### (RIGHTARG = int, FUNCTION = public.rt4_opfn)');
    await refreshCatalog('operator');
    const r = await analystRun('SELECT OPERATOR(public.###) 1 AS v');
    expectRefused(r);
  });

  it('a function called by a name that is no plain identifier ("rt4-evil") is still followed', async () => {
    await adminQuery('CREATE OR REPLACE FUNCTION public."rt4-evil"(i int) RETURNS text LANGUAGE sql AS $$ select ssn from app.users where id = i $$');
    await adminQuery('CREATE OR REPLACE FUNCTION public.rt4_wrap(i int) RETURNS text LANGUAGE sql AS $$ select public."rt4-evil"(i) $$');
    await refreshCatalog('quoted');
    const r = await analystRun('SELECT rt4_wrap(1) AS v');
    expectRefused(r);
  });

  it('a new schema-qualified function named like a column (created behind pgveil\'s back) is not trusted', async () => {
    await adminQuery('CREATE SCHEMA IF NOT EXISTS rt4s');
    await adminQuery('GRANT USAGE ON SCHEMA rt4s TO analyst');
    await refreshCatalog('schema');
    await adminQuery("CREATE OR REPLACE FUNCTION rt4s.name(i int) RETURNS text LANGUAGE sql AS $$ select ssn from app.users where id = i $$");
    await adminQuery('GRANT EXECUTE ON FUNCTION rt4s.name(int) TO analyst');
    const r = await analystRun('SELECT rt4s.name(1) AS v');
    expectRefused(r);
  });

  it('a function in the session\'s temporary schema (pg_temp.f) is followed like any other: its side effect is refused', async () => {
    await truncateStash();
    const r = await analystRun([
      "CREATE FUNCTION pg_temp.rt4_tmp(text) RETURNS bool LANGUAGE sql AS $$ insert into public.rt4_stash values ($1) returning true $$",
      'SELECT pg_temp.rt4_tmp(ssn) FROM app.users',
    ]);
    expectRefused(r);
    expectNoLeak(await stash(), 'rt4_stash');
  });

  it('a view created behind pgveil\'s back right after it read its catalog (no re-read within a second) is not passed raw', async () => {
    await refreshCatalog('race');
    // The next statement reads the catalog again; the view comes right after.
    expect((await analystRun('SELECT 1')).code).toBeUndefined();
    await adminQuery('CREATE VIEW public.rt4_race AS SELECT id, ssn AS s FROM app.users');
    await adminQuery('GRANT SELECT ON public.rt4_race TO analyst');
    const r = await analystRun("SELECT s || '' AS v FROM public.rt4_race");
    expectSafe(r);
  });

  it('a view someone holds an exclusive lock on leaves the catalog readable: statements are not all refused', async () => {
    // (A view over app.users can't serve: LOCK on a view locks the tables it reads too.)
    await adminQuery("CREATE VIEW public.rt4_locked AS SELECT 1 AS x, 'a'::text AS s");
    const locker = new pg.Client(admin());
    locker.on('error', () => undefined);
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE public.rt4_locked IN ACCESS EXCLUSIVE MODE');
      await refreshCatalog('locked');
      // The catalog read must not have failed (it used to wait for the lock, then give up).
      const r = await analystRun('SELECT count(*) AS n FROM app.users');
      expect(r.code, r.message).toBeUndefined();
    } finally {
      await locker.query('ROLLBACK').catch(() => undefined);
      await locker.end().catch(() => undefined);
    }
  });

  it('round 7: pg_terminate_backend / pg_cancel_backend with a pid chosen by a masked value are refused', async () => {
    for (const fn of ['pg_terminate_backend', 'pg_cancel_backend']) {
      const r = await analystRun(`SELECT ${fn}((ARRAY[0, 0, 0, 0, 0, 0, 0, 0, 0, 0])[ascii(substr(ssn, 1, 1)) - 47]) FROM app.users WHERE id = 1`);
      expectRefused(r);
    }
  });

  it('round 7: random() drawn under a CASE over a masked column is refused (the draws show in the next value after setseed)', async () => {
    const r = await analystRun(['SELECT setseed(0.5)', "SELECT CASE WHEN ssn LIKE '1%' THEN random() END FROM app.users WHERE id = 1"]);
    expectRefused(r);
  });

  it('round 7: pg_locks is refused (a lock on a relation picked by a masked value would show there)', async () => {
    const r = await analystRun("SELECT relation::regclass::text, mode FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'relation'");
    expectRefused(r);
  });

  it('round 7: an object picked by a masked value (::regclass, to_regclass) is refused: the lock it takes shows to other sessions', async () => {
    for (const pick of ["('rt4_q' || substr(ssn, 1, 1))::regclass", "to_regclass('rt4_q' || substr(ssn, 1, 1))"]) {
      const r = await analystRun(['BEGIN', `SELECT pg_relation_size(${pick}) FROM app.users WHERE id = 1`, 'ROLLBACK']);
      expectRefused(r);
    }
  });

  it('round 8: a column dropped in the open transaction (or earlier in the same query) no longer shadows an outer masked column: refused', async () => {
    expect((await analystRun("CREATE TABLE public.rt4_dc (email text, notes text); INSERT INTO public.rt4_dc VALUES ('a', 'a')")).code).toBeUndefined();
    const inTransaction = await analystRun(['BEGIN', 'ALTER TABLE public.rt4_dc DROP COLUMN email', 'SELECT u.id, (SELECT email FROM public.rt4_dc) AS e FROM app.users u', 'ROLLBACK']);
    expectRefused(inTransaction);
    const sameQuery = await analystRun('ALTER TABLE public.rt4_dc DROP COLUMN notes; SELECT u.id, (SELECT notes FROM public.rt4_dc) AS n FROM app.users u');
    expectRefused(sameQuery);
  });

  it('round 8: session state a masked value can set or pick is refused (pg_trgm set_limit, FOR SHARE under a CASE, a cursor named from a value, pg_cursors)', async () => {
    await adminQuery('CREATE SCHEMA IF NOT EXISTS rt4s');
    await adminQuery('GRANT USAGE ON SCHEMA rt4s TO analyst');
    await adminQuery('CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA rt4s');
    await adminQuery('CREATE TABLE IF NOT EXISTS public.rt4_rows (k int PRIMARY KEY)');
    await adminQuery('GRANT SELECT, UPDATE ON public.rt4_rows TO analyst');
    await refreshCatalog('state');
    expectRefused(await analystRun("SELECT rt4s.set_limit(substr(replace(ssn, '-', ''), 1, 5)::int / 100000.0) FROM app.users WHERE id = 1"));
    expectRefused(await analystRun(['BEGIN', "SELECT CASE WHEN ssn LIKE '1%' THEN (SELECT 1 FROM public.rt4_rows r WHERE r.k = 1 FOR SHARE) END FROM app.users WHERE id = 1", 'ROLLBACK']));
    expect((await analystRun('CREATE FUNCTION public.rt4_cur(x text) RETURNS int LANGUAGE plpgsql AS $$ DECLARE c refcursor; BEGIN c := x; OPEN c FOR SELECT 1; RETURN 1; END $$')).code).toBeUndefined();
    expectRefused(await analystRun(['BEGIN', 'SELECT rt4_cur(ssn) FROM app.users WHERE id = 1', 'ROLLBACK']));
    expectRefused(await analystRun('SELECT name FROM pg_cursors'));
  });

  it('any volatile built-in outside a short harmless list is refused in a statement that reads masked columns (state it may change is no longer listed one by one)', async () => {
    expectRefused(await analystRun("SELECT CASE WHEN ssn LIKE '1%' THEN pg_notification_queue_usage() END FROM app.users WHERE id = 1"));
    // The clock and random identifiers are harmless.
    expectSafe(await analystRun('SELECT clock_timestamp() IS NOT NULL AS t, gen_random_uuid() IS NOT NULL AS u, ssn FROM app.users WHERE id = 1'));
    expect((await analystRun('SELECT clock_timestamp() IS NOT NULL AS t, ssn FROM app.users WHERE id = 1')).code).toBeUndefined();
  });

  it('round 9: a function that empties a table of its own under a condition on its argument is refused (TRUNCATE, DROP, COMMENT are side effects)', async () => {
    expect((await analystRun('CREATE TABLE public.rt4_bit (a int)')).code).toBeUndefined();
    expect((await analystRun(
      "CREATE FUNCTION public.rt4_trunc(x text) RETURNS int LANGUAGE plpgsql AS $$ BEGIN IF x LIKE '1%' THEN TRUNCATE public.rt4_bit; END IF; RETURN 1; END $$",
    )).code).toBeUndefined();
    expectRefused(await analystRun('SELECT rt4_trunc(ssn) FROM app.users WHERE id = 1'));
  });

  it('pg_export_snapshot() under a CASE over a masked column is refused', async () => {
    const r = await analystRun(['BEGIN', "SELECT count(CASE WHEN ssn LIKE '1%' THEN pg_export_snapshot() END) FROM app.users", 'ROLLBACK']);
    expectRefused(r);
  });
});

describe('control-dependent side effects', () => {
  it('count(CASE WHEN g <= salary/100 THEN nextval(…) END): refused, and the sequence does not count the salary', async () => {
    await adminQuery("SELECT setval('public.rt4_seq', 1, false)");
    const r = await analystRun(NEXTVAL_COUNT);
    expectNoLeak(r.received);
    const [seq] = await adminQuery('SELECT last_value::int AS v, is_called AS c FROM public.rt4_seq');
    expect(seq.c === true && Number(seq.v) === SALARY_STEPS, `rt4_seq.last_value = ${String(seq.v)} (salary / 100)`).toBe(false);
    expect(r.steps[0]?.rows.some((row) => Number(row.n) === SALARY_STEPS) ?? false).toBe(false);
    expect(r.code, r.message).toBe('42501');
  });

  it('setseed(salary / 1e6) is refused, and random() afterwards is not the one that seed gives', async () => {
    const r = await analystRun([SETSEED, 'SELECT random()::text AS x']);
    expectRefused(r);
    const seeded = await withClient(admin(), async (c) => {
      await c.query(`SELECT setseed(${PII[0].salary.toFixed(2)}/1000000.0)`);
      return String((await c.query('SELECT random()::text AS x')).rows[0].x);
    });
    expect(r.steps[1]?.rows[0]?.x).not.toBe(seeded);
  });

  it.each(ADVISORY)('%s (xact: %s) with key (%s): nothing raw in pg_locks', async (fn, xact, args) => {
    let held = '';
    const r = await analystRun(advisorySteps(fn, xact, args, async () => {
      held = await advisoryLocksSeenByAdmin();
    }));
    expectNoLeak(r.received);
    expectNoLeak(held, 'pg_locks');
  });

  it.each([
    ['beside a masked column', 'SELECT id, ssn, pg_sleep_until(clock_timestamp()) FROM app.users'],
    ['under a CASE over a masked column', "SELECT CASE WHEN ssn LIKE '1%' THEN pg_sleep_until(clock_timestamp() + interval '10 milliseconds') END FROM app.users"],
  ])('pg_sleep_until %s is refused', async (_what, sql) => {
    expectRefused(await analystRun(sql));
  });
});

// ============================================================================
// 4. Domain CHECK calling code
// ============================================================================

describe('domain CHECK calling code', () => {
  it('CREATE DOMAIN … CHECK ((row(value)::rt4_comp).rt4_fcomp) is refused; the cast afterwards stashes nothing raw', async () => {
    await truncateStash();
    try {
      const created = await analystRun(DOMAIN_ROW_CHECK);
      const used = await analystRun('SELECT ssn::rt4_dt FROM app.users');
      expectNoLeak(used.received);
      expectNoLeak(await stash(), 'rt4_stash');
      expectRefused(created);
    } finally {
      await adminQuery('DROP DOMAIN IF EXISTS public.rt4_dt');
    }
  });

  // Extra: the same with the side-effect function called plainly in the CHECK.
  it('CREATE DOMAIN … CHECK (rt4_out(VALUE)), then ssn::rt4_dt2: nothing raw in the stash table', async () => {
    await truncateStash();
    try {
      const created = await analystRun('CREATE DOMAIN rt4_dt2 AS text CHECK (rt4_out(VALUE))');
      const used = await analystRun('SELECT ssn::rt4_dt2 FROM app.users');
      expectNoLeak([created.received, used.received]);
      expectNoLeak(await stash(), 'rt4_stash');
    } finally {
      await adminQuery('DROP DOMAIN IF EXISTS public.rt4_dt2');
    }
  });
});

// ============================================================================
// 5. Plain EXPLAIN evaluates stable functions at plan time
// ============================================================================

describe('plain EXPLAIN running query-string functions at plan time', () => {
  it.each(EXPLAIN_XML)('%s in a filter: nothing raw in the error', async (_what, sql) => {
    const r = await analystRun(sql);
    expectNoLeak(r.received);
  });
});

// ============================================================================
// 6–9. CTE and scope bookkeeping
// ============================================================================

describe('CTEs and scopes', () => {
  it.each([
    ['a CTE lost in a FROM subquery', CTE_LOST],
    ['a forward CTE reference (WITH RECURSIVE)', CTE_FORWARD],
    ['an opaque XMLTABLE hiding the outer column (LATERAL)', XMLTABLE_LATERAL],
    ['an opaque XMLTABLE hiding the outer column (scalar subquery)', XMLTABLE_SCALAR],
    ['a (name).field decoy in a scalar subquery', DECOY_SCALAR],
    ['a (name).field decoy beside a FROM item of that name', DECOY_FROM],
  ])('%s is masked or refused', async (_what, sql) => {
    expectSafe(await analystRun(sql));
  });
});

// ============================================================================
// 10. Cursors drained by name
// ============================================================================

describe('cursors', () => {
  it('a plpgsql function draining a cursor by name (FETCH … INTO, RETURN NEXT)', async () => {
    expectSafe(await analystRun(CURSOR_DRAIN));
  });

  // Extra: the built-in that reads a cursor by name.
  it('cursor_to_xml over a cursor declared on masked columns', async () => {
    expectSafe(await analystRun([CURSOR_DRAIN[0], CURSOR_DRAIN[1], "SELECT cursor_to_xml('c', 10, false, true, '')", 'COMMIT']));
  });
});

// ============================================================================
// 11. ORDER BY / DISTINCT ON / GROUP BY resolving to output names
// ============================================================================

describe('output names shadowing input columns', () => {
  it.each(ORDER_ALIAS)('%s is refused', async (_what, sql) => {
    expectRefused(await analystRun(sql));
  });
});

// ============================================================================
// 12. Row-count channels
// ============================================================================

describe('row-count channels', () => {
  const expectNoCount = (r: Run, digits: Map<number, string>) => {
    expectNoLeak(r.received);
    if (r.code !== undefined) {
      expect(r.code, r.message).toBe('42501');
      return;
    }
    for (const row of r.steps[0].rows) {
      expect(row.n === null ? null : String(row.n), `row ${String(row.id)}`).not.toBe(digits.get(Number(row.id)));
    }
  };

  it('count(*) over unnest(ARRAY[string_to_array(repeat(…, digits))]) (an ARRAY[...] of arrays): refused or masked', async () => {
    expectNoCount(await analystRun(ROW_COUNT_UNNEST), FIRST3);
  });

  it('count(*) over jsonb_each(to_jsonb(jsonb_object(…digit…))): refused or masked', async () => {
    expectNoCount(await analystRun(ROW_COUNT_JSONB), FIRST1);
  });
});

// ============================================================================
// 13. EXPLAIN ANALYZE execution counts, statistics counters
// ============================================================================

describe('execution counts', () => {
  it('EXPLAIN ANALYZE of a CASE over a masked column choosing a subplan (loops=…) is refused', async () => {
    expectRefused(await analystRun(EXPLAIN_ANALYZE_LOOPS));
  });

  it('pg_stat_xact_user_tables is refused', async () => {
    const r = await analystRun([
      'BEGIN',
      "SELECT CASE WHEN ssn LIKE '1%' THEN (SELECT 1 FROM app.orders o WHERE o.user_id = u.id LIMIT 1) END AS x FROM app.users u",
      "SELECT relname, seq_scan, idx_scan FROM pg_stat_xact_user_tables WHERE relname = 'orders'",
      'ROLLBACK',
    ]);
    expectNoLeak(r.received);
    const read = r.steps.find((s) => s.sql.includes('pg_stat_xact_user_tables'));
    expect(read?.code, `pg_stat_xact_user_tables answered ${JSON.stringify(read?.rows)}`).toBe('42501');
  });

  // Extra: the same counters under other names.
  it.each([
    ['pg_stat_xact_all_tables', "SELECT seq_scan FROM pg_stat_xact_all_tables WHERE relname = 'orders'"],
    ['pg_stat_get_xact_numscans()', "SELECT pg_stat_get_xact_numscans('app.orders'::regclass)"],
  ])('extra: %s is refused', async (_what, sql) => {
    const r = await analystRun(sql);
    expect(r.code, `answered ${JSON.stringify(r.steps[0]?.rows)}`).toBe('42501');
  });
});

describe('robustness', () => {
  it('no session was ended with an internal error by any of the attacks above', () => {
    expect(px.logs.some((l) => l.msg === 'session start')).toBe(true);
    const internal = px.logs.filter((l) => l.msg === 'internal error while judging a message');
    expect(internal.map((l) => l.err)).toEqual([]);
  });
});

// ============================================================================
// The attacks can fail: a sample through a proxy without a policy
// ============================================================================

describe('control: without a policy the same attacks return raw values', () => {
  const port = () => plain.port;
  const found = (x: unknown) => leaks(x).length;

  it('functional notation', async () => {
    for (const [, sql] of FUNCTIONAL_NOTATION) {
      const r = await analystRun(sql, port());
      expect(r.code, `${sql}: ${r.message ?? ''}`).toBeUndefined();
      expect(found(r.received), sql).toBeGreaterThan(0);
    }
  });

  it('CTE and scope attacks, and the cursor drain', async () => {
    for (const sql of [CTE_LOST, CTE_FORWARD, XMLTABLE_LATERAL, XMLTABLE_SCALAR, DECOY_SCALAR, DECOY_FROM]) {
      const r = await analystRun(sql, port());
      expect(r.code, `${sql}: ${r.message ?? ''}`).toBeUndefined();
      expect(found(r.received), sql).toBeGreaterThan(0);
    }
    const r = await analystRun(CURSOR_DRAIN, port());
    expect(r.code, r.message).toBeUndefined();
    expect(found(r.steps[2].rows)).toBeGreaterThan(0);
    const x = await analystRun([CURSOR_DRAIN[0], CURSOR_DRAIN[1], "SELECT cursor_to_xml('c', 10, false, true, '')", 'COMMIT'], port());
    expect(x.code, x.message).toBeUndefined();
    expect(found(x.steps[2].rows)).toBeGreaterThan(0);
  });

  it('plan-time table_to_xml / schema_to_xml / database_to_xml: the error text carries the values', async () => {
    for (const [, sql] of EXPLAIN_XML) {
      const r = await analystRun(sql, port());
      expect(found(r.received), sql).toBeGreaterThan(0);
    }
  });

  it('side effects two deep: the stash table, the notification payloads and application_name get the raw values', async () => {
    await truncateStash();
    await analystRun(['SELECT rt4_out(ssn) FROM app.users', 'SELECT id FROM app.users WHERE rt4_out(email)'], port());
    expect(found(await stash())).toBeGreaterThan(0);
    await truncateStash();
    const n = await analystRun(['LISTEN rt4ch', 'SELECT rt4_nout(ssn) FROM app.users'], port());
    expect(found(n.notifications)).toBeGreaterThan(0);
    const s = await rawRun(['SELECT rt4_sout(ssn) FROM app.users WHERE id = 1', 'SHOW application_name'], port());
    expect(found(s.text)).toBeGreaterThan(0);
  });

  it('nextval under CASE counts the salary; advisory locks put the ssn digits in pg_locks', async () => {
    await adminQuery("SELECT setval('public.rt4_seq', 1, false)");
    const r = await analystRun(NEXTVAL_COUNT, port());
    expect(r.code, r.message).toBeUndefined();
    expect(Number(r.steps[0].rows[0].n)).toBe(SALARY_STEPS);
    const [seq] = await adminQuery('SELECT last_value::int AS v FROM public.rt4_seq');
    expect(Number(seq.v)).toBe(SALARY_STEPS);
    for (const [fn, xact, args] of [ADVISORY[0], ADVISORY[5]]) {
      let held = '';
      const l = await analystRun(advisorySteps(fn, xact, args, async () => {
        held = await advisoryLocksSeenByAdmin();
      }), port());
      expect(l.code, l.message).toBeUndefined();
      expect(found(l.received), fn).toBeGreaterThan(0);
      expect(found(held), fn).toBeGreaterThan(0);
    }
  });

  it('a domain CHECK calling code through functional notation stashes the raw values', async () => {
    await truncateStash();
    try {
      const r = await analystRun([DOMAIN_ROW_CHECK.replace('rt4_dt', 'rt4c_dt'), 'SELECT ssn::rt4c_dt FROM app.users'], port());
      expect(r.code, r.message).toBeUndefined();
      expect(found(await stash())).toBeGreaterThan(0);
    } finally {
      await adminQuery('DROP DOMAIN IF EXISTS public.rt4c_dt');
      await truncateStash();
    }
  });

  it('the row-count channels answer the digits', async () => {
    const a = await analystRun(ROW_COUNT_UNNEST, port());
    expect(a.steps[0].rows.map((row) => String(row.n))).toEqual(PII.map((p) => FIRST3.get(p.id)));
    const b = await analystRun(ROW_COUNT_JSONB, port());
    expect(b.steps[0].rows.map((row) => String(row.n))).toEqual(PII.map((p) => FIRST1.get(p.id)));
  });

  it('the statements that must be refused are valid SQL (they run without a policy)', async () => {
    const sqls = [
      ...ORDER_ALIAS.map(([, sql]) => sql),
      EXPLAIN_ANALYZE_LOOPS,
      SETSEED,
      'SELECT id, ssn, pg_sleep_until(clock_timestamp()) FROM app.users',
      "SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = 'orders'",
    ];
    for (const sql of sqls) {
      const r = await analystRun(sql, port());
      expect(r.code, `${sql}: ${r.message ?? ''}`).toBeUndefined();
    }
    // ORDER BY a name that is both an output alias and an input column means the output column.
    const o = await analystRun('SELECT u.id AS uid, -u.id AS id FROM app.users u ORDER BY id', port());
    expect(o.steps[0].rows.map((row) => row.uid)).toEqual([2, 1]);
  });
});
