/**
 * Red team 3: the batched row rewriting (output arena, staging area, COPY byte
 * rewriter, fast masks), policy entries on view columns, and partitioned tables.
 *
 * Every attack runs as an ordinary login (analyst, SCRAM) through pgveil.
 * Everything the client receives (rows, COPY data, errors, notices; for raw
 * protocol sessions every byte on the socket) goes through the leak detector of
 * the leak suite (raw values and their hex/base64/md5/sha256/reversed forms).
 * Attacks pgveil resists stay as regression tests; attacks that leak are kept
 * as it.fails(...) with a `LEAK:` comment naming the root cause (none are left: the
 * ones found are fixed, and their comments say what the leak was).
 *
 * The last section runs a sample of the attacks through a proxy without a
 * policy: there the detector must find the raw values (the attacks can fail).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { startProxy, superConfig, withClient, type RunningProxy } from './support/proxy.js';
import { PII, clientAs, createPiiDatabase, startMaskingProxy } from './support/masking-env.js';
import { LeakDetector, serialize, type Finding } from './support/leak-detector.js';
import { B, D as Describe, E as Exec, P as Parse, Q, S as Sync, dataRow, errorFields, login, needlesFor, type Session } from './support/redteam-3-raw.js';

const DB = 'redteam3';
const USER = 'analyst';
const PASSWORD = 'pw-analyst';

// Values that are not in the PII fixture of masking-env.
const CONTACTS = ['carol.white@example.net', 'dave.brown@example.org'];
const EVENT_SSNS = ['111-22-3333', '222-33-4444', '333-44-5555', '444-55-6666', '555-66-7777', '666-77-8888'];
/** Inside every value of app.big's masked columns (a mask may show the last 4 characters, never this). */
const MARKER = 'QZXBIGSECRETVALUEQZX';
const CODE = 'CDX93QZ1';
const TAG = 'TG7Q2X';
const PIN = 'PQ7Z3K9W2M';
const DIAGNOSES = ['HIV-POSITIVE-A1', 'DIABETES-TYPE-2', 'MELANOMA-STAGE-3'];

const detector = new LeakDetector(PII, [
  ...CONTACTS.flatMap((c, i) => needlesFor(c, `contact ${i + 1}`)),
  ...CONTACTS.flatMap((c, i) => needlesFor(c.slice(0, c.indexOf('@')), `contact ${i + 1} local part`)),
  ...EVENT_SSNS.flatMap((s, i) => needlesFor(s, `event ssn ${i + 1}`)),
  ...needlesFor(MARKER, 'app.big marker'),
  ...needlesFor(CODE, 'app.big code'),
  ...needlesFor(TAG, 'app.big tag'),
  ...needlesFor(PIN, 'app.big pin'),
  ...DIAGNOSES.flatMap((d, i) => needlesFor(d, `diagnosis ${i + 1}`)),
]);

function leaks(received: unknown): Finding[] {
  return detector.scan(typeof received === 'string' ? received : serialize(received));
}

function expectNoLeak(received: unknown): void {
  const found = leaks(received);
  expect(found.map((f) => `${f.label}: …${f.excerpt}…`)).toEqual([]);
}

let px: Awaited<ReturnType<typeof startMaskingProxy>>;
let plain: RunningProxy;
let dir: string;

const POLICY = `version: 1
columns:
  app.users.ssn:         { class: ssn,   mask: partial, keep_last: 4 }
  app.users.email:       { class: email, mask: email }
  app.users.card_number: { class: card,  mask: partial, keep_last: 4 }
  app.users.salary:      { class: money, mask: "null" }
  app.users.birth_date:  { class: dob,   mask: year }
  app.users.notes:       { class: free_text, mask: redact }
  app.v_contacts.contact:    { class: email, mask: email }
  app.v_contacts_sb.contact: { class: email, mask: email }
  app.mv_contacts.contact:   { class: email, mask: email }
  app.events.ssn:        { class: ssn, mask: partial, keep_last: 4 }
  app.big.ssn:           { class: ssn, mask: partial, keep_last: 4 }
  app.big.mail:          { class: email, mask: email }
  app.big.note:          { class: free_text, mask: redact }
  app.big.code:          { class: secret, mask: redact }
  app.big.tag:           { class: secret, mask: redact }
  app.big.pin:           { class: secret, mask: partial, keep_last: 2 }
  app.tickets.diagnosis: { class: free_text, mask: redact }
roles:
  app_backend: { raw: [email] }
`;

const BIG_ROWS = 6000;

beforeAll(async () => {
  await createPiiDatabase(DB);
  await withClient({ ...superConfig(), database: DB }, async (c) => {
    await c.query(`
      CREATE TABLE app.contacts_priv (id int PRIMARY KEY, email text, phone text);
      INSERT INTO app.contacts_priv VALUES (1, '${CONTACTS[0]}', '+1-202-555-0143'), (2, '${CONTACTS[1]}', '+1-202-555-0199');
      CREATE VIEW app.v_contacts AS SELECT id, email AS contact, phone FROM app.contacts_priv;
      CREATE VIEW app.v_contacts_sb WITH (security_barrier) AS SELECT id, email AS contact FROM app.contacts_priv WHERE id > 0;
      CREATE VIEW app.v_contacts_nested AS SELECT id, contact FROM app.v_contacts;
      CREATE VIEW app.v_contacts_union AS SELECT id, contact FROM app.v_contacts UNION ALL SELECT id, contact FROM app.v_contacts_sb;
      CREATE MATERIALIZED VIEW app.mv_contacts AS SELECT id, email AS contact FROM app.contacts_priv;

      CREATE TABLE app.events (id int, region text, ssn text, note text) PARTITION BY LIST (region);
      CREATE TABLE app.events_eu PARTITION OF app.events FOR VALUES IN ('eu');
      CREATE TABLE app.events_us PARTITION OF app.events FOR VALUES IN ('us') PARTITION BY RANGE (id);
      CREATE TABLE app.events_us_low PARTITION OF app.events_us FOR VALUES FROM (0) TO (100);
      CREATE TABLE app.events_other PARTITION OF app.events DEFAULT;
      -- attached with another physical column order (a dropped column): other attnums than the parent
      CREATE TABLE app.events_apac (junk int, id int, region text, ssn text, note text);
      ALTER TABLE app.events_apac DROP COLUMN junk;
      ALTER TABLE app.events ATTACH PARTITION app.events_apac FOR VALUES IN ('apac');
      INSERT INTO app.events VALUES (1, 'eu', '${EVENT_SSNS[0]}', 'n1'), (2, 'us', '${EVENT_SSNS[1]}', 'n2'),
                                    (3, 'xx', '${EVENT_SSNS[2]}', 'n3'), (4, 'apac', '${EVENT_SSNS[3]}', 'n4');

      CREATE TABLE app.big (id int, ssn text, mail text, note text, code char(8), tag varchar(6), plain text, pin char(12));
      -- > arena (512 KiB), > staging (128 KiB), NULLs, empty strings, multi-byte, then many small rows.
      INSERT INTO app.big VALUES
        (1, repeat('${MARKER}', 40000), repeat('${MARKER}', 30000) || '@big.example', repeat('${MARKER}', 30000), '${CODE}', '${TAG}', repeat('p', 700000), '${PIN}'),
        (2, repeat('${MARKER}', 10000), repeat('${MARKER}', 10000) || '@mid.example', repeat('${MARKER}', 10000), '${CODE}', '${TAG}', repeat('q', 200000), '${PIN}'),
        (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
        (4, '', '', '', '', '', '', ''),
        (6, NULL, 'ァ${MARKER}', NULL, NULL, NULL, NULL, NULL),
        (5, 'ÄÖÜ-äöü-€𝄞-${MARKER}-ß', 'ü€𝄞${MARKER}@exämple.de', '𝄞${MARKER}', 'ÄÖÜ€𝄞ßab', 'ÄÖÜ€𝄞ß', 'ümlaut', 'ÄÖ€𝄞${PIN.slice(0, 6)}');
      INSERT INTO app.big SELECT g, '${MARKER}-' || lpad(g::text, 6, '0'), '${MARKER}' || g || '@small.example', '${MARKER} ' || g, '${CODE}', '${TAG}', 'row ' || g, '${PIN}'
        FROM generate_series(10, ${BIG_ROWS + 9}) g;

      -- a masked column with few distinct values: the planner's statistics (MCV list) hold them
      CREATE TABLE app.tickets (id int, diagnosis text);
      INSERT INTO app.tickets SELECT g, (ARRAY['${DIAGNOSES[0]}', '${DIAGNOSES[1]}', '${DIAGNOSES[2]}'])[1 + g % 3] FROM generate_series(1, 3000) g;
      ANALYZE app.tickets;

      GRANT SELECT ON ALL TABLES IN SCHEMA app TO PUBLIC;
      GRANT UPDATE, DELETE ON app.events, app.events_apac, app.events_us_low TO PUBLIC;
      REVOKE ALL ON app.contacts_priv FROM PUBLIC;
      GRANT SELECT, UPDATE, DELETE ON app.v_contacts TO PUBLIC;
    `);
  });
  dir = mkdtempSync(path.join(tmpdir(), 'pgveil-redteam3-'));
  const file = path.join(dir, 'policy.yaml');
  writeFileSync(file, POLICY);
  px = await startMaskingProxy(file);
  plain = await startProxy();
}, 120_000);

afterAll(async () => {
  await px?.stop();
  await plain?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const analyst = (port = px.port): pg.ClientConfig => clientAs(port, USER, DB);
const admin = (): pg.ClientConfig => ({ ...superConfig(), database: DB });

// ---------------------------------------------------------------------------
// Runners
// ---------------------------------------------------------------------------

interface Run {
  /** Everything received, serialized (rows, errors, notices). */
  received: unknown[];
  rows: Record<string, unknown>[][];
  /** SQLSTATE of the first error, if any. */
  code?: string;
  message?: string;
}

/** Runs each statement as the analyst with node-postgres (extended protocol for parameterless queries too). */
async function asAnalyst(steps: string | string[], port = px.port): Promise<Run> {
  const run: Run = { received: [], rows: [] };
  const client = new pg.Client(analyst(port));
  client.on('notice', (n) => run.received.push(n));
  await client.connect();
  try {
    for (const sql of Array.isArray(steps) ? steps : [steps]) {
      try {
        const r = await client.query(sql);
        for (const res of Array.isArray(r) ? r : [r]) {
          run.rows.push(res.rows);
          run.received.push(res.rows);
        }
      } catch (err) {
        run.received.push(err);
        const e = err as { code?: string; message: string };
        if (run.code === undefined) {
          run.code = e.code;
          run.message = e.message;
        }
        if (client.listenerCount('error') === 0) client.on('error', () => undefined);
        await client.query('ROLLBACK').catch(() => undefined);
      }
    }
  } finally {
    await client.end().catch(() => undefined);
  }
  return run;
}

/** Runs the statements with the simple protocol on a raw analyst session; every byte is kept. */
async function rawSimple(sql: string | string[], opts: { port?: number; timeoutMs?: number; extra?: Record<string, string> } = {}): Promise<{ text: string; errors: Record<string, string>[]; rows: (string | null)[][]; closed: boolean; hung: boolean }> {
  const s = await login(opts.port ?? px.port, USER, PASSWORD, DB, opts.extra ?? {});
  const errors: Record<string, string>[] = [];
  const rows: (string | null)[][] = [];
  let hung = false;
  try {
    for (const q of Array.isArray(sql) ? sql : [sql]) {
      s.send(Q(q));
      let msgs;
      try {
        msgs = await s.untilReady(1, opts.timeoutMs ?? 15_000);
      } catch {
        hung = true;
        break;
      }
      for (const m of msgs) {
        if (m.type === 'E') errors.push(errorFields(m.body));
        if (m.type === 'D') rows.push(dataRow(m.body));
      }
    }
    return { text: s.text(), errors, rows, closed: s.raw.closed, hung };
  } finally {
    s.close();
  }
}

async function copyOut(sql: string, port = px.port): Promise<string> {
  return withClient(analyst(port), async (c) => {
    const stream = c.query(copyTo(sql));
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  });
}

/** Asserts pgveil answered with its own refusal (42501 with a pgveil message), nothing leaked. */
function expectRefused(r: Run): void {
  expectNoLeak(r.received);
  expect(r.code, `expected a refusal, got ${r.code ?? 'rows'}: ${r.message ?? JSON.stringify(r.rows).slice(0, 200)}`).toBe('42501');
}

function expectMasked(r: Run): void {
  expectNoLeak(r.received);
  expect(r.code, r.message).toBeUndefined();
}

// ============================================================================
// 1. Batched row rewriting: sizes, chunks, encodings, protocol paths
// ============================================================================

describe('row rewriting: sizes and shapes', () => {
  it('rows bigger than the arena and the staging area, NULLs, empty strings, multi-byte, char(n), varchar(n) and thousands of small rows (simple protocol)', async () => {
    const r = await asAnalyst(['SELECT * FROM app.big ORDER BY id', 'SELECT 42 AS still_alive']);
    expectMasked(r);
    const rows = r.rows[0] as Record<string, string | null>[];
    expect(rows.length).toBe(BIG_ROWS + 6);
    const byId = new Map(rows.map((row) => [Number(row.id), row]));
    // Huge values: masked to the same number of characters, last 4 shown.
    expect(byId.get(1)?.ssn?.length).toBe(MARKER.length * 40000);
    expect(byId.get(1)?.ssn?.endsWith(`*${MARKER.slice(-4)}`)).toBe(true);
    expect(byId.get(1)?.mail).toBe('***@big.example');
    expect(byId.get(1)?.note).toBe('[REDACTED]');
    expect(byId.get(1)?.plain?.length).toBe(700000);
    expect(byId.get(2)?.plain).toBe('q'.repeat(200000));
    expect(byId.get(3)).toEqual({ id: 3, ssn: null, mail: null, note: null, code: null, tag: null, plain: null, pin: null });
    expect(byId.get(4)?.ssn).toBe('');
    expect(byId.get(4)?.mail).toBe('***');
    expect(byId.get(6)?.mail).toBe('***');
    // char(8) and varchar(6) redact to stars of the column's length.
    expect(byId.get(10)?.code).toBe('********');
    expect(byId.get(10)?.tag).toBe('******');
    // char(12) partial: the padding stays padding.
    expect(byId.get(10)?.pin).toBe(`********${PIN.slice(-2)}  `);
    expect(byId.get(4)?.pin).toBe(' '.repeat(12));
    expect(byId.get(5)?.code).toBe('********');
    expect(byId.get(5)?.ssn?.startsWith('***-***-**-****')).toBe(true);
    expect(byId.get(5)?.mail).toBe('***@exämple.de');
    expect(byId.get(BIG_ROWS + 9)?.ssn).toBe(`${'*'.repeat(MARKER.length)}-**${String(BIG_ROWS + 9).slice(-4)}`);
    expect(r.rows[1]).toEqual([{ still_alive: 42 }]);
  });

  it('the same rows in binary format through a portal fetched 7 rows at a time (PortalSuspended), beside an unmasked portal', async () => {
    const s = await login(px.port, USER, PASSWORD, DB);
    try {
      s.send(
        Parse('big', 'SELECT id, ssn, mail, note, code, tag, pin FROM app.big ORDER BY id'),
        Parse('plain', 'SELECT id, plain FROM app.big WHERE id > 9 ORDER BY id'),
        Q('BEGIN'),
      );
      await s.untilReady(1);
      s.send(B('pb', 'big', [1]), B('pp', 'plain', [0]));
      const batch: Buffer[] = [];
      for (let i = 0; i < 8; i++) batch.push(Exec('pb', 7), Exec('pp', 3));
      batch.push(Exec('pb', 0), Sync());
      s.send(...batch);
      const msgs = await s.untilReady(1, 30_000);
      const types = msgs.map((m) => m.type).join('');
      expect(types).not.toContain('E');
      expect(types.split('s').length - 1).toBe(16);
      const rows = msgs.filter((m) => m.type === 'D').map((m) => dataRow(m.body));
      expect(rows.length).toBe(8 * 7 + 8 * 3 + (BIG_ROWS + 6 - 8 * 7));
      s.send(Q('COMMIT'));
      await s.untilReady(1);
      expectNoLeak(s.text());
    } finally {
      s.close();
    }
  });

  it('1600 masked columns in one row', async () => {
    const cols = Array.from({ length: 1600 }, (_, i) => (i % 3 === 0 ? 'ssn' : i % 3 === 1 ? 'email' : 'notes')).join(', ');
    const r = await rawSimple(`SELECT ${cols} FROM app.users`);
    expect(r.errors).toEqual([]);
    expect(r.rows.length).toBe(2);
    expect(r.rows[0].length).toBe(1600);
    expectNoLeak(r.text);
  });

  it('COPY of rows bigger than the arena, text and csv, and the rest of the stream still parses', async () => {
    for (const opts of ['', '(FORMAT csv)', "(FORMAT text, DELIMITER '|')", '(FORMAT csv, HEADER, FORCE_QUOTE *)']) {
      const out = await copyOut(`COPY (SELECT id, ssn, mail, note, code, tag, pin FROM app.big ORDER BY id) TO STDOUT ${opts}`);
      expectNoLeak(out);
      expect(out.split('\n').length).toBeGreaterThanOrEqual(BIG_ROWS + 6);
    }
  });

  it('masked rows interleaved with notices raised between them (one run per row) and an error in the middle', async () => {
    const r = await asAnalyst([
      "CREATE OR REPLACE FUNCTION public.rt3_note(i int) RETURNS int LANGUAGE plpgsql AS $$ BEGIN RAISE NOTICE 'row %', i; RETURN i; END $$",
      'SELECT public.rt3_note(id) AS n, ssn, email, notes FROM app.users',
      'SELECT ssn, email, 1 / (2 - id) AS boom FROM app.users ORDER BY id',
      'COPY (SELECT public.rt3_note(id), ssn, email FROM app.users) TO STDOUT',
    ]);
    expectNoLeak(r.received);
    expect(r.code).toBe('22012');
  });
});

describe('row rewriting: rule tables switching result set by result set', () => {
  it('200 masked and unmasked result sets alternating in one Query, with COPYs among them', async () => {
    const parts: string[] = [];
    for (let i = 0; i < 50; i++) {
      parts.push('SELECT ssn, email FROM app.users', 'SELECT id, name FROM app.users', "COPY (SELECT notes, id FROM app.users) TO STDOUT", 'SELECT contact, phone FROM app.v_contacts');
    }
    const r = await rawSimple(parts.join('; '));
    expect(r.errors).toEqual([]);
    expectNoLeak(r.text);
    // Unmasked result sets keep their values.
    expect(r.rows.filter((row) => row[1] === 'user1').length).toBe(50);
    expect(r.rows.filter((row) => row[1] === '+1-202-555-0143').length).toBe(50);
  });
});

describe('row rewriting: COPY framing', () => {
  // LEAK at 9a907ec, fixed in 7ba717d (the header is now copied into the arena
  // (results.ts appendMessage, called from guard.ts copyRow()/rows())); kept as a
  // regression test.
  // src/proxy/guard.ts rows() copies a run of rows into the arena's staging
  // area (OutputArena.stage, src/wire/arena.ts) and copyRow() passes the CSV header
  // line on as toClient(src.subarray(...)): a view of that staging area, which
  // BatchedWriter.queue keeps without copying until the end of the socket chunk.
  // The next rows() of the same chunk (here: the next statement's DataRows) is
  // staged at the same place, so the bytes that leave in the header's slot are
  // that run's raw DataRows (every masked column raw; the client's stream is
  // then desynchronized and it hangs).
  it('csv HEADER, then a masked SELECT in the same Query: the header slot carries the next raw rows', async () => {
    const h = (c: string) => c.repeat(60);
    const r = await rawSimple(`COPY (SELECT id AS ${h('h')}, ssn AS ${h('i')}, notes AS ${h('j')} FROM app.users) TO STDOUT (FORMAT csv, HEADER); SELECT ssn, email, notes, card_number FROM app.users`, { timeoutMs: 2_000 });
    expectNoLeak(r.text);
  });

  // LEAK at 9a907ec, fixed in 7ba717d (results.ts appendMessage, as above); kept as a
  // regression test.
  // same root cause as above (guard.ts copyRow() passes the header on as a
  // view of the staging area); here through the extended protocol: a COPY and a
  // SELECT executed in one pipeline arrive in one chunk (the server flushes at
  // Sync), so the SELECT's run is staged over the queued header.
  it('csv HEADER, then a masked SELECT in the same extended-protocol pipeline', async () => {
    const s = await login(px.port, USER, PASSWORD, DB);
    try {
      const h = (c: string) => c.repeat(60);
      s.send(
        Parse('', `COPY (SELECT id AS ${h('h')}, ssn AS ${h('i')}, email AS ${h('j')}, notes FROM app.users) TO STDOUT (FORMAT csv, HEADER)`), B('', ''), Exec(''),
        Parse('', 'SELECT ssn, email, notes, card_number FROM app.users'), B('', ''), Describe('P', ''), Exec(''),
        Sync(),
      );
      await s.untilReady(1, 2_000).catch(() => undefined);
      expectNoLeak(s.text());
    } finally {
      s.close();
    }
  });

  // Seen leaking at 9a907ec too (same root cause, fixed in 7ba717d) when the proxy read the whole
  // answer in one chunk; the server flushes at each notice, so that depends on timing.
  it('csv HEADER of a COPY whose rows are separated by notices', async () => {
    await asAnalyst("CREATE OR REPLACE FUNCTION public.rt3_note(i int) RETURNS int LANGUAGE plpgsql AS $$ BEGIN RAISE NOTICE 'row %', i; RETURN i; END $$");
    const h = (c: string) => c.repeat(60);
    const r = await rawSimple(`COPY (SELECT public.rt3_note(id) AS ${h('h')}, ssn AS ${h('i')}, email AS ${h('j')}, notes FROM app.users) TO STDOUT (FORMAT csv, HEADER)`, { timeoutMs: 2_000 });
    expectNoLeak(r.text);
  });

  it('csv HEADER alone, and two COPYs with HEADER back to back in separate Queries', async () => {
    const r = await rawSimple([
      'COPY (SELECT ssn, email, notes FROM app.users) TO STDOUT (FORMAT csv, HEADER)',
      'COPY (SELECT u.ssn, e.ssn, email, notes FROM app.events e, app.users u) TO STDOUT (FORMAT csv, HEADER, QUOTE \'\'\'\', ESCAPE \'\\\', FORCE_QUOTE *)',
    ]);
    expectNoLeak(r.text);
    expect(r.hung).toBe(false);
  });

  it('COPY and queries interleaved in one Query (text, no header)', async () => {
    const r = await rawSimple("COPY (SELECT ssn, email FROM app.users) TO STDOUT; SELECT notes, card_number FROM app.users; COPY (SELECT id, ssn FROM app.events) TO STDOUT (DELIMITER '|'); SELECT birth_date, salary FROM app.users");
    expect(r.errors).toEqual([]);
    expectNoLeak(r.text);
  });

  it.each([
    ['delimiter |', "COPY (SELECT 'a|b' AS x, ssn, email, 'c|d' AS y FROM app.users) TO STDOUT (DELIMITER '|')"],
    ['delimiter X (an upper-case letter)', "COPY (SELECT 'aXb' AS x, ssn, 'X' AS y, email FROM app.users) TO STDOUT (DELIMITER 'X')"],
    ['delimiter , with commas in the masked values', "COPY (SELECT ssn || ',' || email AS s, notes FROM app.users) TO STDOUT (DELIMITER ',')"],
    ['backslashes and escapes next to masked fields', "COPY (SELECT E'\\\\' AS a, ssn, E'\\\\\\\\' AS b, email, E'x\\\\' AS c, notes FROM app.users) TO STDOUT"],
    ['expressions', "COPY (SELECT ssn || '' AS s, upper(email), left(notes, 5), birth_date + 1, salary * 2 FROM app.users) TO STDOUT"],
    ['csv with QUOTE and ESCAPE', "COPY (SELECT ssn, email, notes FROM app.users) TO STDOUT (FORMAT csv, QUOTE '|', ESCAPE '@', FORCE_QUOTE (ssn))"],
    ['csv with ESCAPE equal to the last character of the previous field', "COPY (SELECT 'x@' AS a, ssn, email FROM app.users) TO STDOUT (FORMAT csv, ESCAPE '@', FORCE_QUOTE *)"],
    ['csv with delimiter ; and header', "COPY (SELECT ssn, email, notes FROM app.users) TO STDOUT (FORMAT csv, DELIMITER ';', HEADER true)"],
    ['ENCODING UTF8 spelled utf-8', "COPY (SELECT ssn, email FROM app.users) TO STDOUT (ENCODING 'utf-8')"],
    ['a table COPY with a column list', 'COPY app.users (email, ssn, notes) TO STDOUT'],
    ['delimiter * (the mask character)', "COPY (SELECT ssn, 'a*b' AS x, card_number, email FROM app.users) TO STDOUT (DELIMITER '*')"],
    ['delimiter @ (kept by the email mask)', "COPY (SELECT email, 'a@b' AS x, ssn FROM app.users) TO STDOUT (DELIMITER '@')"],
    ['delimiter - (a separator partial keeps)', "COPY (SELECT ssn, card_number, 'x-y' AS z FROM app.users) TO STDOUT (DELIMITER '-')"],
    ['DML with RETURNING (a no-op update)', "COPY (UPDATE app.v_contacts SET phone = phone RETURNING contact, id) TO STDOUT"],
  ])('COPY %s', async (_what, sql) => {
    const r = await rawSimple(sql);
    expectNoLeak(r.text);
  });

  it('COPY with another ENCODING or NULL string or binary is refused', async () => {
    for (const opts of ["(ENCODING 'LATIN1')", "(ENCODING 'SJIS')", "(NULL 'x')", '(FORMAT binary)', "(FORMAT csv, NULL '\\N')"]) {
      const r = await asAnalyst(`COPY (SELECT id, ssn FROM app.users) TO STDOUT ${opts}`);
      expectRefused(r);
    }
  });
});

describe('row rewriting: client_encoding', () => {
  it('SET client_encoding LATIN1 / SJIS in its own Query: later masked reads are refused', async () => {
    for (const enc of ['LATIN1', 'SJIS', 'SQL_ASCII']) {
      const r = await rawSimple([`SET client_encoding = '${enc}'`, 'SELECT ssn, email, notes FROM app.users', 'COPY (SELECT ssn, email FROM app.users) TO STDOUT']);
      expectNoLeak(r.text);
      expect(r.errors.map((e) => e.C)).toEqual(['42501', '42501']);
    }
  });

  it('client_encoding from the startup packet (client_encoding and options=-c)', async () => {
    for (const extra of [{ client_encoding: 'SJIS' }, { options: '-c client_encoding=LATIN1' }, { options: '-c client_encoding=BIG5' }] as Record<string, string>[]) {
      const r = await rawSimple(['SELECT ssn, email, notes FROM app.users', 'COPY (SELECT chr(12477), ssn FROM app.users) TO STDOUT'], { extra });
      expectNoLeak(r.text);
      expect(r.errors.map((e) => e.C)).toEqual(['42501', '42501']);
    }
  });

  // LEAK at 9a907ec, fixed in 7ba717d (analyze.ts markReadingChanges + guard.ts
  // READING_UNKNOWN refuse what follows such a statement; CopyTextRewriter.row() checks
  // the field count); kept as a regression test.
  // src/proxy/guard.ts onQuery() judges all statements of a simple Query
  // (encodingRefusal) with the client_encoding last reported by ParameterStatus,
  // but PostgreSQL reports a changed client_encoding only just before
  // ReadyForQuery. A SET in the same Query switches the COPY below to Shift-JIS
  // unnoticed. ソ is 0x83 0x5C in Shift-JIS, PostgreSQL writes it unescaped, and
  // CopyTextRewriter.fieldEnd (src/wire/results.ts) reads 0x5C + TAB as an escaped
  // delimiter: two fields merge, the later ones shift one place left, and ssn
  // lands in a position without a mask (the byte rewriter never checks the field
  // count against CopyOutResponse, unlike the csv path).
  it('SET client_encoding SJIS in the same Query as a text COPY (Shift-JIS trail byte 0x5C)', async () => {
    const r = await rawSimple("SET client_encoding = 'SJIS'; COPY (SELECT chr(12477) AS a, 'x' AS b, ssn, email FROM app.users) TO STDOUT");
    expectNoLeak(r.text);
  });

  // LEAK at 9a907ec, fixed in 7ba717d (as above); kept as a regression test.
  // same root cause (client_encoding changed by a statement of the same
  // Query, guard.ts encodingRefusal); here ポ = 0x83 0x7C carries the delimiter
  // byte '|', so the rewriter sees one field too many and the masked value moves
  // past the last masked column, where the rest of the row is copied as it is.
  it('set_config(client_encoding) in the same Query as a COPY with DELIMITER | (trail byte 0x7C)', async () => {
    const r = await rawSimple("SELECT set_config('client_encoding', 'SJIS', false); COPY (SELECT chr(12509) AS a, notes, ssn, 'y' AS b FROM app.users) TO STDOUT (DELIMITER '|')");
    expectNoLeak(r.text);
  });

  it('the same trick through the extended protocol, DataRows only (length-prefixed: masks hold)', async () => {
    const s = await login(px.port, USER, PASSWORD, DB);
    try {
      s.send(Parse('', "SET client_encoding = 'SJIS'"), B('', ''), Exec(''), Parse('', 'SELECT chr(12477) AS a, ssn, email, notes, chr(12509) AS b FROM app.users'), B('', ''), Describe('P', ''), Exec(''), Sync());
      await s.untilReady(1);
      expectNoLeak(s.text());
    } finally {
      s.close();
    }
  });

  // LEAK at 9a907ec, fixed in 7ba717d (guard.ts readingUnknown() until the ReadyForQuery
  // of the SET); kept as a regression test.
  // src/proxy/guard.ts unreadable() refuses non-ASCII statement text while
  // client_encoding is not UTF8, but it knows the encoding only from
  // ParameterStatus, which comes with the SET's ReadyForQuery. A statement
  // pipelined behind the SET is judged as UTF-8 while the server reads it as
  // Shift-JIS: 0x95 0x5C is one character (表) for the server, an invalid byte
  // and a backslash escaping the quote for libpg-query. pgveil sees a string
  // constant; the server sees a subquery over app.users.
  it('SET client_encoding SJIS pipelined with a statement whose text the server reads differently', async () => {
    const s = await login(px.port, USER, PASSWORD, DB);
    try {
      const evil = Buffer.concat([
        Buffer.from("SELECT E'", 'latin1'),
        Buffer.from([0x95]),
        Buffer.from("\\' AS p, (SELECT string_agg(ssn || chr(47) || email, chr(59)) FROM app.users) AS r --', 1 AS q", 'latin1'),
      ]);
      const q = Buffer.alloc(6 + evil.length);
      q[0] = 0x51;
      q.writeUInt32BE(5 + evil.length, 1);
      evil.copy(q, 5);
      s.send(Q('SELECT id FROM app.users LIMIT 0')); // the catalog is loaded: nothing will hold the pipeline
      await s.untilReady(1);
      s.send(Q("SET client_encoding = 'SJIS'"), q);
      await s.untilReady(2);
      expectNoLeak(s.text());
    } finally {
      s.close();
    }
  });

  // LEAK at 9a907ec, fixed in 7ba717d (guard.ts readingUnknown(), as above); kept as a
  // regression test.
  // same root cause with standard_conforming_strings (guard.ts unreadable()
  // reads it from ParameterStatus only): pipelined behind the SET, 'a\' is an
  // escaped quote for the server and a complete literal for libpg-query.
  it('SET standard_conforming_strings = off pipelined with a statement whose text the server reads differently', async () => {
    const s = await login(px.port, USER, PASSWORD, DB);
    try {
      s.send(Q('SELECT id FROM app.users LIMIT 0'));
      await s.untilReady(1);
      s.send(
        Q('SET standard_conforming_strings = off'),
        Q("SELECT 'a\\' AS p, 1 AS q -- ', (SELECT string_agg(ssn || chr(47) || email, chr(59)) FROM app.users) AS r --'"),
      );
      await s.untilReady(2);
      expectNoLeak(s.text());
    } finally {
      s.close();
    }
  });

  // Was a leak, fixed since: same root cause, and it survives a check that recognises statements
  // changing these settings by their words (SET …, set_config, DO, CALL, user
  // functions whose bodies mention them): pg_settings is an updatable view whose
  // rule calls set_config(), so an UPDATE of it changes standard_conforming_strings
  // without any of those words being the statement's own.
  it('UPDATE pg_settings (standard_conforming_strings) pipelined with a statement read differently', async () => {
    const s = await login(px.port, USER, PASSWORD, DB);
    try {
      s.send(Q('SELECT id FROM app.users LIMIT 0'));
      await s.untilReady(1);
      s.send(
        Q("UPDATE pg_settings SET setting = 'off' WHERE name = 'standard_conforming_strings'"),
        Q("SELECT 'a\\' AS p, 1 AS q -- ', (SELECT string_agg(ssn || chr(47) || email, chr(59)) FROM app.users) AS r --'"),
      );
      await s.untilReady(2);
      expectNoLeak(s.text());
    } finally {
      s.close();
    }
  });

  // Was a leak, fixed since: same root cause; the setting is changed by a view the analyst made
  // earlier (CREATE VIEW … AS SELECT set_config(…) is allowed: no masked argument),
  // so the statement that changes it is a plain SELECT of a view.
  it('a view that calls set_config, pipelined with a statement read differently', async () => {
    try {
      await asAnalyst("CREATE VIEW public.rt3_scs AS SELECT set_config('standard_conforming_strings', 'off', false) AS x");
      const s = await login(px.port, USER, PASSWORD, DB);
      try {
        s.send(Q('SELECT id FROM app.users LIMIT 0'));
        await s.untilReady(1);
        s.send(
          Q('SELECT x FROM public.rt3_scs'),
          Q("SELECT 'a\\' AS p, 1 AS q -- ', (SELECT string_agg(ssn || chr(47) || email, chr(59)) FROM app.users) AS r --'"),
        );
        await s.untilReady(2);
        expectNoLeak(s.text());
      } finally {
        s.close();
      }
    } finally {
      await asAnalyst('DROP VIEW IF EXISTS public.rt3_scs');
    }
  });

  // Was a leak, fixed since: the client_encoding change is not seen (a view that calls set_config,
  // as above), and the email mask's fast form (src/masking/compile.ts emailFn)
  // looks for the byte 0x40, which in Shift-JIS is also the second byte of
  // characters such as ァ (0x83 0x40): a value with no '@' at all keeps
  // everything after that byte instead of becoming '***'.
  it('a view that sets client_encoding SJIS, in the same Query as a SELECT: the email mask keeps what follows a 0x40 trail byte', async () => {
    try {
      await asAnalyst("CREATE VIEW public.rt3_enc AS SELECT set_config('client_encoding', 'SJIS', false) AS x");
      const r = await rawSimple(['SELECT x FROM public.rt3_enc; SELECT id, mail FROM app.big WHERE id = 6', "SET client_encoding = 'UTF8'"]);
      expectNoLeak(r.text);
    } finally {
      await asAnalyst('DROP VIEW IF EXISTS public.rt3_enc');
    }
  });

  it('a view that sets client_encoding SJIS, in the same Query as a text COPY: the field count check ends the session (fail closed)', async () => {
    try {
      await asAnalyst("CREATE VIEW public.rt3_enc2 AS SELECT set_config('client_encoding', 'SJIS', false) AS x");
      const r = await rawSimple("SELECT x FROM public.rt3_enc2; COPY (SELECT chr(12477) AS a, 'x' AS b, ssn, email FROM app.users) TO STDOUT");
      expectNoLeak(r.text);
    } finally {
      await asAnalyst('DROP VIEW IF EXISTS public.rt3_enc2');
    }
  });

  it('the same statements sent after the SET was answered are refused', async () => {
    const r = await rawSimple([
      'SET standard_conforming_strings = off',
      "SELECT 'a\\' AS p, 1 AS q -- ', (SELECT string_agg(ssn || chr(47) || email, chr(59)) FROM app.users) AS r --'",
      'SET standard_conforming_strings = on',
    ]);
    expectNoLeak(r.text);
    expect(r.errors.map((e) => e.C)).toEqual(['42501']);
  });

  it('LATIN1 set in the same Query: partial and email masks over non-UTF-8 bytes stay within their bounds', async () => {
    await withClient(admin(), (c) => c.query(`INSERT INTO app.events VALUES (10, 'eu', 'ÿÿÿÿ-ÄÖÜ-${EVENT_SSNS[5]}', 'latin')`));
    try {
      const r = await rawSimple(["SET client_encoding = 'LATIN1'; SELECT ssn, note, ssn, id FROM app.events; COPY (SELECT ssn, note, ssn FROM app.events) TO STDOUT", 'SELECT 1']);
      expectNoLeak(r.text);
      expect(r.closed).toBe(false);
    } finally {
      await withClient(admin(), (c) => c.query('DELETE FROM app.events WHERE id = 10'));
    }
  });
});

describe('row rewriting: cursors and pipelines', () => {
  it('binary cursor, FETCH forward/backward/absolute, MOVE', async () => {
    const r = await asAnalyst([
      'BEGIN',
      'DECLARE c1 BINARY SCROLL CURSOR FOR SELECT ssn, email, notes, birth_date, salary, card_number FROM app.users',
      'FETCH 1 FROM c1',
      'FETCH BACKWARD 1 FROM c1',
      'MOVE LAST IN c1',
      'FETCH ABSOLUTE 1 FROM c1',
      'DECLARE c2 CURSOR FOR SELECT contact, upper(contact) AS u FROM app.v_contacts',
      'FETCH ALL FROM c2',
      'COMMIT',
    ]);
    expectMasked(r);
  });

  it('protocol Execute (max rows) of a cursor DECLAREd in SQL, without Bind or Describe', async () => {
    const s = await login(px.port, USER, PASSWORD, DB);
    try {
      s.send(Q("BEGIN; DECLARE rt3_sqlc CURSOR FOR SELECT contact || '' AS c, ssn, email FROM app.v_contacts, app.users"));
      await s.untilReady(1);
      s.send(Exec('rt3_sqlc', 1), Exec('rt3_sqlc', 2), Exec('rt3_sqlc', 0), Sync());
      const msgs = await s.untilReady(1);
      expect(msgs.filter((m) => m.type === 'D').length).toBe(4);
      s.send(Q('COMMIT'));
      await s.untilReady(1);
      expectNoLeak(s.text());
    } finally {
      s.close();
    }
  });

  it('a pipeline mixing masked and unmasked statements, named and unnamed portals, max rows, Describe and no Describe', async () => {
    const s = await login(px.port, USER, PASSWORD, DB);
    try {
      s.send(
        Parse('m', 'SELECT ssn, email, notes FROM app.users'),
        Parse('u', 'SELECT id, name FROM app.users'),
        Parse('v', 'SELECT contact, id FROM app.v_contacts'),
        B('a', 'm'), B('b', 'u'), B('c', 'v', [1]),
        Exec('a', 1), Exec('b', 1), Exec('c', 1), Exec('a', 1), Exec('b', 1), Exec('c', 1),
        Parse('', 'SELECT ssn FROM app.events_eu'), B('', ''), Exec(''),
        Parse('', 'SELECT 1 AS one'), B('', ''), Describe('P', ''), Exec(''),
        Sync(),
      );
      const msgs = await s.untilReady(1);
      expect(msgs.filter((m) => m.type === 'E')).toEqual([]);
      expect(msgs.filter((m) => m.type === 'D').length).toBe(8);
      expectNoLeak(s.text());
    } finally {
      s.close();
    }
  });

  it('Execute of a portal whose name is re-bound later in the same pipeline (unnamed portal and statement reused)', async () => {
    const s = await login(px.port, USER, PASSWORD, DB);
    try {
      s.send(
        Parse('', 'SELECT id, name FROM app.users'), B('', ''), Describe('P', ''),
        Parse('', 'SELECT ssn, email FROM app.users'), B('', ''), Exec(''),
        Parse('', "SELECT upper(contact) AS c, 'x' AS y FROM app.v_contacts"), B('', ''), Exec('', 1), Exec(''),
        Sync(),
      );
      await s.untilReady(1);
      expectNoLeak(s.text());
    } finally {
      s.close();
    }
  });
});

// ============================================================================
// 2. Policy entries on view columns
// ============================================================================

describe('views named in the policy: reads through the view', () => {
  it('the analyst cannot read the table behind the view (the view is the only way in)', async () => {
    const r = await asAnalyst('SELECT email FROM app.contacts_priv');
    expectNoLeak(r.received);
    expect(r.code).toBe('42501');
    expect(r.message).toContain('permission denied for table contacts_priv');
  });

  it.each([
    ['plain', 'SELECT id, contact, phone FROM app.v_contacts'],
    ['TABLE', 'TABLE app.v_contacts'],
    ['star', 'SELECT * FROM app.v_contacts'],
    ['expression', "SELECT upper(contact), contact || '', lower(reverse(contact)), md5(contact), encode(contact::bytea, 'hex'), encode(contact::bytea, 'base64') FROM app.v_contacts"],
    ['whole-row reference', 'SELECT v, v::text, (v).contact, (v).* FROM app.v_contacts v'],
    ['JSON', "SELECT row_to_json(v), to_jsonb(v), jsonb_build_object('c', contact), json_build_array(contact, id) FROM app.v_contacts v"],
    ['JSON aggregates', 'SELECT json_agg(v), jsonb_agg(contact), json_object_agg(id, contact) FROM app.v_contacts v'],
    ['jsonb_each over the whole row', 'SELECT j.* FROM app.v_contacts v, jsonb_each_text(to_jsonb(v)) j'],
    ['CTE', 'WITH c AS (SELECT * FROM app.v_contacts) SELECT contact, upper(contact) FROM c'],
    ['materialized CTE', 'WITH c AS MATERIALIZED (SELECT contact AS x FROM app.v_contacts) SELECT x FROM c'],
    ['recursive CTE (UNION ALL)', 'WITH RECURSIVE r(x, n) AS (SELECT contact, 1 FROM app.v_contacts UNION ALL SELECT x, n + 1 FROM r WHERE n < 2) SELECT x FROM r'],
    ['LATERAL', 'SELECT l.* FROM app.users u, LATERAL (SELECT contact FROM app.v_contacts v WHERE v.id = u.id) l'],
    ['UNION ALL', 'SELECT contact FROM app.v_contacts UNION ALL SELECT email FROM app.users'],
    ['scalar subquery', 'SELECT (SELECT contact FROM app.v_contacts WHERE id = 1) AS c'],
    ['ARRAY subquery', 'SELECT ARRAY(SELECT contact FROM app.v_contacts) AS a'],
    ['aggregates', "SELECT string_agg(contact, ','), array_agg(contact), min(contact), max(contact), count(DISTINCT contact) FROM app.v_contacts"],
    ['aggregate with ORDER BY inside', 'SELECT array_agg(id ORDER BY contact) FROM app.v_contacts'],
    ['window function over an unmasked order', 'SELECT contact, lag(contact) OVER (ORDER BY id) FROM app.v_contacts'],
    ['format()', "SELECT format('%s|%I|%L', contact, contact, contact) FROM app.v_contacts"],
    ['a DBA view over the policy view', 'SELECT * FROM app.v_contacts_nested'],
    ['a DBA UNION ALL view over two policy views', 'SELECT contact, upper(contact) FROM app.v_contacts_union'],
    ['a security_barrier view in the policy', 'SELECT contact, v FROM app.v_contacts_sb v'],
    ['a materialized view in the policy', 'SELECT contact, upper(contact), m FROM app.mv_contacts m'],
    ['GROUP BY an unmasked column', 'SELECT id, max(contact) FROM app.v_contacts GROUP BY id'],
    ['ORDER BY an unmasked column', 'SELECT contact FROM app.v_contacts ORDER BY id DESC'],
    ['a filter on an unmasked column of the view', "SELECT contact FROM app.v_contacts WHERE phone LIKE '+1-%' AND id = 1"],
    ['xml', 'SELECT xmlelement(name c, contact), xmlforest(contact, id) FROM app.v_contacts'],
    ['casts', 'SELECT contact::varchar(5), contact::char(3), contact::name, contact::bytea FROM app.v_contacts'],
    ['aggregate FILTER and CASE', "SELECT count(*) FILTER (WHERE contact LIKE 'c%') AS n, count(CASE WHEN contact LIKE 'c%' THEN 1 END) AS m, bool_or(contact > 'c') AS b FROM app.v_contacts"],
    ['array_position / nullif', "SELECT array_position(ARRAY['${CONTACTS[0]}'], contact), nullif(contact, '${CONTACTS[0]}') IS NULL AS eq FROM app.v_contacts"],
  ])('masks %s', async (_what, sql) => {
    expectMasked(await asAnalyst(sql));
  });

  it('a plain read keeps the view entry\'s own mask (email)', async () => {
    const r = await asAnalyst('SELECT contact FROM app.v_contacts ORDER BY id');
    expect(r.rows[0]).toEqual([{ contact: '***@example.net' }, { contact: '***@example.org' }]);
  });

  it.each([
    ['WHERE', "SELECT id FROM app.v_contacts WHERE contact LIKE 'c%'"],
    ['WHERE through a DBA view', "SELECT id FROM app.v_contacts_nested WHERE contact > 'c'"],
    ['ORDER BY', 'SELECT id FROM app.v_contacts ORDER BY contact'],
    ['ORDER BY position', 'SELECT contact FROM app.v_contacts ORDER BY 1'],
    ['GROUP BY', 'SELECT count(*) FROM app.v_contacts GROUP BY contact'],
    ['DISTINCT', 'SELECT DISTINCT contact FROM app.v_contacts'],
    ['DISTINCT ON', 'SELECT DISTINCT ON (contact) id FROM app.v_contacts'],
    ['UNION', "SELECT contact FROM app.v_contacts UNION SELECT 'x'"],
    ['window PARTITION BY', 'SELECT count(*) OVER (PARTITION BY contact) FROM app.v_contacts'],
    ['JOIN ON', "SELECT 1 FROM app.v_contacts v JOIN app.users u ON u.email = v.contact"],
    ['HAVING', "SELECT 1 FROM app.v_contacts HAVING max(contact) > 'c'"],
    ['regexp_split_to_table', "SELECT regexp_split_to_table(contact, '') FROM app.v_contacts"],
    ['generate_series over the length', 'SELECT g FROM app.v_contacts, generate_series(1, length(contact)) g'],
    ['LATERAL subquery filter', "SELECT s.* FROM app.v_contacts v, LATERAL (SELECT 1 WHERE v.contact LIKE 'c%') s"],
    ['security_barrier view WHERE', "SELECT id FROM app.v_contacts_sb WHERE contact = 'x'"],
    ['NATURAL JOIN of two policy views', 'SELECT id FROM app.v_contacts_nested NATURAL JOIN app.v_contacts_sb'],
    ['materialized view WHERE', "SELECT id FROM app.mv_contacts WHERE contact = 'x'"],
    ['EXPLAIN ANALYZE of a filter', "EXPLAIN ANALYZE SELECT id FROM app.v_contacts WHERE contact LIKE 'c%'"],
    ['UPDATE … WHERE on the view column', "UPDATE app.v_contacts SET phone = phone WHERE contact LIKE 'c%'"],
    ['UPDATE … SET phone = contact', 'UPDATE app.v_contacts SET phone = contact WHERE id = 1'],
    ['set_config', "SELECT set_config('rt3.x', contact, false) FROM app.v_contacts"],
    ['CREATE TABLE AS', 'CREATE TABLE public.rt3_ctas AS SELECT contact FROM app.v_contacts'],
    ['INSERT … SELECT', 'INSERT INTO app.orders (id, user_id, total) SELECT id + 1000, 1, length(contact) FROM app.v_contacts'],
    ['a function reading the view', 'CREATE FUNCTION public.rt3_read() RETURNS SETOF text LANGUAGE sql AS $$ SELECT contact FROM app.v_contacts $$'],
    ['a view of the view filtering on it', "CREATE VIEW public.rt3_filtered AS SELECT id FROM app.v_contacts WHERE contact LIKE 'c%'"],
    ['a rule reading the view', 'CREATE TABLE public.rt3_rt (x text); CREATE RULE rt3_r AS ON INSERT TO public.rt3_rt DO ALSO SELECT contact FROM app.v_contacts'],
    ['DO block', 'DO $$ BEGIN PERFORM contact FROM app.v_contacts; END $$'],
    ['query_to_xml', "SELECT query_to_xml('SELECT contact FROM app.v_contacts', true, false, '')"],
    ['a subquery filter in the target list', "SELECT (SELECT count(*) FROM app.v_contacts WHERE contact LIKE 'c%') AS n"],
    ['EXISTS in the target list', "SELECT EXISTS (SELECT 1 FROM app.v_contacts WHERE contact = 'x') AS e"],
    ['WITH RECURSIVE … SEARCH BY the column, ordered', 'WITH RECURSIVE r(x) AS (SELECT contact FROM app.v_contacts UNION ALL SELECT x FROM r WHERE false) SEARCH DEPTH FIRST BY x SET ord SELECT 1 FROM r ORDER BY ord'],
  ])('refuses %s', async (_what, sql) => {
    expectRefused(await asAnalyst(sql));
  });

  // False refusals (safe, but stricter than needed): every function in FROM is
  // taken for one whose row count may depend on its arguments (lineage.ts
  // fromItem RangeFunction; fixedCardinality knows only unnest(ARRAY[…]) and
  // json(b)_each(to_json(b)(…))), although these always return one row.
  it.each([
    ['concat() in FROM', "SELECT x FROM app.v_contacts v, LATERAL concat(v.contact, '') x"],
    ['jsonb_to_record() of the whole row', 'SELECT x.contact FROM app.v_contacts v, jsonb_to_record(to_jsonb(v)) AS x(contact text)'],
    ['upper() in FROM', 'SELECT u FROM app.v_contacts v, upper(v.contact) u'],
  ])('false refusal: %s', async (_what, sql) => {
    expectRefused(await asAnalyst(sql));
  });

  it('RETURNING from the auto-updatable view (UPDATE and DELETE, rolled back)', async () => {
    const r = await asAnalyst([
      'BEGIN',
      'UPDATE app.v_contacts SET phone = phone WHERE id = 1 RETURNING contact, upper(contact), v_contacts',
      'DELETE FROM app.v_contacts WHERE id = 2 RETURNING *',
      'WITH d AS (UPDATE app.v_contacts SET phone = phone WHERE id = 1 RETURNING contact) SELECT contact, contact || \'\' FROM d',
      'ROLLBACK',
    ]);
    expectMasked(r);
  });

  it('MERGE into the view with RETURNING (PostgreSQL 17), rolled back', async () => {
    const r = await asAnalyst([
      'BEGIN',
      'MERGE INTO app.v_contacts t USING (SELECT 1 AS id) s ON t.id = s.id WHEN MATCHED THEN UPDATE SET phone = t.phone RETURNING t.contact, t.contact || \'\' AS c',
      'ROLLBACK',
    ]);
    expectNoLeak(r.received);
  });

  it('a view over the policy view: creating it is refused (pgveil could not see it before it is committed)', async () => {
    try {
      const r = await asAnalyst(['CREATE VIEW public.rt3_mine AS SELECT id, contact AS c2 FROM app.v_contacts']);
      expectRefused(r);
    } finally {
      await asAnalyst(['DROP VIEW IF EXISTS public.rt3_mine2', 'DROP VIEW IF EXISTS public.rt3_mine']);
    }
  });

  it('functions taking the view\'s row type, cursors and PREPARE over the view', async () => {
    try {
      const r = await asAnalyst([
        'CREATE FUNCTION public.rt3_f(r app.v_contacts) RETURNS text LANGUAGE sql AS $$ SELECT r.contact $$',
        'SELECT public.rt3_f(v) FROM app.v_contacts v',
        'PREPARE rt3_p AS SELECT contact, upper(contact) FROM app.v_contacts',
        'EXECUTE rt3_p',
        'BEGIN',
        'DECLARE rt3_c CURSOR FOR SELECT contact || \'!\' FROM app.v_contacts',
        'FETCH ALL rt3_c',
        'COMMIT',
      ]);
      expectMasked(r);
    } finally {
      await asAnalyst('DROP FUNCTION IF EXISTS public.rt3_f(app.v_contacts)');
    }
  });

  it('COPY through the view, the nested view and the materialized view', async () => {
    for (const sql of [
      'COPY (SELECT * FROM app.v_contacts) TO STDOUT',
      'COPY (SELECT contact, upper(contact) FROM app.v_contacts_nested) TO STDOUT (FORMAT csv, HEADER)',
      "COPY (SELECT m.*, m::text FROM app.mv_contacts m) TO STDOUT (DELIMITER '|')",
      'COPY (SELECT v FROM app.v_contacts_sb v) TO STDOUT (FORMAT csv)',
    ]) {
      const out = await copyOut(sql);
      expectNoLeak(out);
    }
  });
});

describe('views named in the policy: inference and side channels', () => {
  // LEAK at 9a907ec, fixed in 7ba717d (lineage.ts select() now records INTERSECT/EXCEPT
  // ALL); kept as a regression test.
  // src/sql/lineage.ts select() treats only set operations WITHOUT ALL as
  // comparisons (`if (!stmt.all) this.hazard('filter', ...)`), but INTERSECT ALL
  // and EXCEPT ALL compare rows just the same. The columns that are not masked
  // (k, b below) come back raw, so one statement reads every bit of the value.
  it('INTERSECT ALL as an equality oracle: every bit of the view column in one statement', async () => {
    const r = await asAnalyst(`
      SELECT k, b, bit FROM (SELECT k, b, (ascii(substr(contact, k, 1)) >> b) & 1 AS bit
                               FROM app.v_contacts, generate_series(1, 40) k, generate_series(0, 6) b WHERE id = 1) s
      INTERSECT ALL
      SELECT k, b, 1 FROM generate_series(1, 40) k, generate_series(0, 6) b`);
    const codes = new Map<number, number>();
    for (const row of (r.rows[0] ?? []) as { k: number; b: number }[]) codes.set(row.k, (codes.get(row.k) ?? 0) | (1 << row.b));
    const recovered = [...codes.entries()].sort((x, y) => x[0] - y[0]).map(([, c]) => String.fromCharCode(c)).join('');
    expectNoLeak([r.received, recovered]);
  });

  // LEAK at 9a907ec, fixed in 7ba717d (lineage.ts withClause() now records the recursive
  // UNION); kept as a regression test.
  // src/sql/lineage.ts withClause() analyses the two branches of a
  // recursive CTE separately (select(larg), select(rarg)) and never looks at the
  // set operation between them: a recursive UNION (without ALL) de-duplicates the
  // rows it produces, which no filter hazard records. count(*) per unmasked
  // (k, b) tells whether the recursive row was a duplicate, i.e. the bit.
  it('recursive CTE with UNION as an equality oracle: every bit in one statement', async () => {
    const r = await asAnalyst(`
      WITH RECURSIVE r(k, b, bit) AS (
        SELECT k, b, (ascii(substr(contact, k, 1)) >> b) & 1 FROM app.v_contacts, generate_series(1, 40) k, generate_series(0, 6) b WHERE id = 1
        UNION
        SELECT k, b, 1 FROM r)
      SELECT k, b, count(*) AS n FROM r GROUP BY k, b`);
    const codes = new Map<number, number>();
    for (const row of (r.rows[0] ?? []) as { k: number; b: number; n: string }[]) if (Number(row.n) === 1) codes.set(row.k, (codes.get(row.k) ?? 0) | (1 << row.b));
    const recovered = [...codes.entries()].sort((x, y) => x[0] - y[0]).map(([, c]) => String.fromCharCode(c)).join('');
    expectNoLeak([r.received, recovered]);
  });

  // LEAK at 9a907ec, fixed in 7ba717d (lineage.ts select(), as for INTERSECT ALL); kept
  // as a regression test.
  // same root cause as INTERSECT ALL (lineage.ts select(): set operations
  // with ALL are not recorded as comparisons). count(*) carries no lineage and
  // answers whether the guess equals the masked value.
  it('EXCEPT ALL count oracle', async () => {
    const right = await asAnalyst(`SELECT count(*) AS n FROM (SELECT contact FROM app.v_contacts WHERE id = 1 EXCEPT ALL SELECT '${CONTACTS[0]}') s`);
    const wrong = await asAnalyst(`SELECT count(*) AS n FROM (SELECT contact FROM app.v_contacts WHERE id = 1 EXCEPT ALL SELECT 'nobody@example.net') s`);
    expectNoLeak([right.received, wrong.received]);
    // The answer must not depend on the guess.
    expect(JSON.stringify(right.rows)).toBe(JSON.stringify(wrong.rows));
  });

  // LEAK at 9a907ec, fixed in 7ba717d (lineage.ts searchCycleHazards()); kept as a
  // regression test.
  // src/sql/lineage.ts withSearchCycle() adds the CYCLE mark and path
  // columns (with the CTE's sources) but does not record that cycle detection
  // compares the CYCLE columns' values row by row: a recursion that stops one
  // step earlier when the guess equals the masked value changes count(*), which
  // has no lineage.
  it('WITH RECURSIVE … CYCLE as an equality oracle', async () => {
    const q = (guess: string) => `WITH RECURSIVE r(x, n) AS (SELECT contact, 1 FROM app.v_contacts WHERE id = 1 UNION ALL SELECT '${guess}', n + 1 FROM r WHERE n < 3)
      CYCLE x SET is_cycle USING path SELECT count(*) AS n FROM r`;
    const right = await asAnalyst(q(CONTACTS[0]));
    const wrong = await asAnalyst(q('nobody@example.net'));
    expectNoLeak([right.received, wrong.received]);
    expect(JSON.stringify(right.rows)).toBe(JSON.stringify(wrong.rows));
  });

  // Was a leak, fixed since: src/sql/lineage.ts userFunction() lets a user function with masked
  // arguments run when its body has none of SIDE_EFFECT_WORDS (insert, update,
  // set_config, pg_notify…), but setval() is missing from that list (it is in
  // SIDE_CHANNEL_FUNCTIONS, checked only for direct calls). The function receives
  // the raw value, stores it in a sequence the analyst owns, and last_value is
  // read back with an ordinary SELECT. CREATE FUNCTION is allowed because the body
  // reads no sensitive relation.
  it('a user function stores its (raw) argument in a sequence with setval()', async () => {
    try {
      await asAnalyst([
        'CREATE SEQUENCE public.rt3_seq MINVALUE 0',
        "CREATE FUNCTION public.rt3_stash(v text, k int) RETURNS text LANGUAGE sql AS $$ SELECT setval('public.rt3_seq', coalesce(ascii(substr(v, k, 1)), 0))::text $$",
      ]);
      let recovered = '';
      const c = new pg.Client(analyst());
      await c.connect();
      try {
        for (let k = 1; k <= 40; k++) {
          const refused = await c.query(`SELECT public.rt3_stash(contact, ${k}) FROM app.v_contacts WHERE id = 1`).then(
            () => false,
            (err: { code?: string }) => {
              expect(err.code).toBe('42501');
              return true;
            },
          );
          if (refused) break;
          const n = Number((await c.query('SELECT last_value FROM public.rt3_seq')).rows[0].last_value);
          if (n === 0) break;
          recovered += String.fromCharCode(n);
        }
      } finally {
        await c.end();
      }
      expectNoLeak(recovered);
    } finally {
      await asAnalyst(['DROP FUNCTION IF EXISTS public.rt3_stash(text, int)', 'DROP SEQUENCE IF EXISTS public.rt3_seq']);
    }
  });

  it('the same with setval() called directly, or through a function that writes a table, is refused', async () => {
    expectRefused(await asAnalyst("SELECT setval('app.orders_id_seq', ascii(contact)) FROM app.v_contacts"));
    try {
      const r = await asAnalyst([
        'CREATE TABLE public.rt3_sink (v text)',
        'CREATE FUNCTION public.rt3_write(v text) RETURNS int LANGUAGE sql AS $$ INSERT INTO public.rt3_sink VALUES (v) RETURNING 1 $$',
        'SELECT public.rt3_write(contact) FROM app.v_contacts',
      ]);
      expectRefused(r);
    } finally {
      await asAnalyst(['DROP FUNCTION IF EXISTS public.rt3_write(text)', 'DROP TABLE IF EXISTS public.rt3_sink']);
    }
  });

  // Was a leak, fixed since: src/sql/lineage.ts statement() ExplainStmt keeps the hazards of the
  // explained statement only for EXPLAIN ANALYZE ("plain EXPLAIN runs nothing"),
  // but the planner's row estimates come from the column statistics that
  // pgveil refuses to show as pg_stats: with a most-common-values list, the
  // estimate for `diagnosis < 'guess'` is exact over the MCV values, so a binary
  // search per character recovers them without running anything.
  it('plain EXPLAIN of a filter: row estimates from the statistics recover the values', async () => {
    const c = new pg.Client(analyst());
    await c.connect();
    try {
      let refusals = 0;
      const estimate = async (op: string, v: string): Promise<number> => {
        try {
          const r = await c.query(`EXPLAIN SELECT 1 FROM app.tickets WHERE diagnosis ${op} '${v.replaceAll("'", "''")}'`);
          return Number(/rows=(\d+)/.exec(String(r.rows[0]['QUERY PLAN']))?.[1] ?? -1);
        } catch (err) {
          expect((err as { code?: string }).code).toBe('42501');
          refusals++;
          return -1;
        }
      };
      // The smallest value: extend the prefix by the largest character that still has no value below it.
      let prefix = '';
      for (let k = 0; k < 30; k++) {
        let lo = 32;
        let hi = 127;
        while (hi - lo > 1) {
          const mid = (lo + hi) >> 1;
          if ((await estimate('<', prefix + String.fromCharCode(mid))) > 100) hi = mid;
          else lo = mid;
        }
        if (lo === 32) break;
        prefix += String.fromCharCode(lo);
        if ((await estimate('=', prefix)) > 100) break;
      }
      expectNoLeak(prefix);
    } finally {
      await c.end();
    }
  });

  it('CASE + division by zero answers a comparison through the SQLSTATE (documented: errors keep their SQLSTATE)', async () => {
    const r = await asAnalyst("SELECT CASE WHEN contact LIKE 'c%' THEN 1/0 ELSE 1 END FROM app.v_contacts WHERE id = 1");
    expectNoLeak(r.received);
    expect(r.code).toBe('22012');
    expect(r.message).toContain('withheld');
  });
});

describe('views: the catalog behind the session', () => {
  // Was a leak, fixed since: the catalog is read over a side connection (src/catalog/loader.ts), so a
  // view created in the analyst's own open transaction is invisible to it. The
  // reload after the DDL (session.ts: ddlPending → invalidate at ReadyForQuery)
  // doesn't find it; the screen (src/gate/screen.ts isHarmlessRead) passes the
  // SELECT because it names no relation the catalog knows as sensitive, which
  // also skips the "unresolved name: reload" check in session.ts; and the
  // RowDescription's table OID is still unknown after the forced refresh
  // (session.ts missingOids), so wireSources() (src/gate/policy-gate.ts) finds
  // no source. Plain column references and expressions both come back raw.
  it('a view over the policy view created in the open transaction', async () => {
    const r = await rawSimple([
      'BEGIN',
      'CREATE VIEW public.rt3_tx_view AS SELECT id, contact FROM app.v_contacts',
      'SELECT id, contact FROM public.rt3_tx_view',
      'SELECT upper(contact) AS c FROM public.rt3_tx_view',
      'ROLLBACK',
    ]);
    expectNoLeak(r.text);
  });

  // Held, but only because the catalog reload (src/catalog/loader.ts) runs
  // pg_get_viewdef() on the view, which waits for the transaction's lock and gives
  // up after lock_timeout (2 s): the catalog is then "unavailable" and reads are
  // refused (fail closed). See the availability test below.
  it('CREATE OR REPLACE VIEW of the analyst\'s own view inside a transaction', async () => {
    try {
      await asAnalyst("CREATE VIEW public.rt3_swap AS SELECT 1 AS id, 'nothing here'::text AS contact");
      const r = await rawSimple([
        'BEGIN',
        'CREATE OR REPLACE VIEW public.rt3_swap AS SELECT id, contact FROM app.v_contacts',
        'SELECT id, contact FROM public.rt3_swap',
        'ROLLBACK',
      ]);
      expectNoLeak(r.text);
    } finally {
      await asAnalyst('DROP VIEW IF EXISTS public.rt3_swap');
    }
  });

  // Was a leak, fixed since: analyze.ts markSameQueryUses() marks later statements of one Query
  // that name an object created earlier in it (CREATE VIEW, FUNCTION, RULE…),
  // but not one renamed there: ALTER VIEW … RENAME swaps which definition a name
  // means after the analysis was made against the catalog. The SELECT below is
  // judged against the harmless view that bore the name (screen/lineage: no
  // sensitive source; RowDescription of an expression: no table OID).
  it('ALTER VIEW … RENAME in the same Query swaps a harmless name for a view over the policy view', async () => {
    try {
      await asAnalyst([
        "CREATE VIEW public.rt3_plain AS SELECT 1 AS id, 'nothing here'::text AS contact",
        'CREATE VIEW public.rt3_evil AS SELECT id, contact FROM app.v_contacts',
      ]);
      const r = await rawSimple("ALTER VIEW public.rt3_plain RENAME TO rt3_tmp; ALTER VIEW public.rt3_evil RENAME TO rt3_plain; SELECT contact || '' AS c, id FROM public.rt3_plain");
      expectNoLeak(r.text);
    } finally {
      await asAnalyst(['DROP VIEW IF EXISTS public.rt3_plain', 'DROP VIEW IF EXISTS public.rt3_tmp', 'DROP VIEW IF EXISTS public.rt3_evil']);
    }
  });

  it('availability: a lock held on a view in an open transaction makes the shared catalog unloadable; every session\'s table reads are refused meanwhile', async () => {
    const holder = new pg.Client(analyst());
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE app.v_contacts IN ACCESS EXCLUSIVE MODE');
      // Any DDL through the proxy (here a harmless one by another session) makes the next statement reload the catalog.
      const other = await asAnalyst(['CREATE TABLE public.rt3_ddl (x int)', 'SELECT id, name FROM app.users', 'DROP TABLE public.rt3_ddl']);
      expectNoLeak(other.received);
      expect(other.code).toBe('42501');
      expect(other.message).toMatch(/cannot read the database catalog/);
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      await holder.end();
      await new Promise((r) => setTimeout(r, 2_100)); // past the catalog retry delay
      await asAnalyst('DROP TABLE IF EXISTS public.rt3_ddl');
    }
  });

  // Was a leak, fixed since: session.ts sets ddlPending when a CREATE VIEW goes upstream but only
  // invalidates the catalog when its ReadyForQuery comes back; a second Query
  // sent in the same write is judged before that, against the old catalog. The
  // screen passes it (unknown name = nothing sensitive) and the expression's
  // RowDescription has no table OID.
  it('a view created and read in two pipelined Queries', async () => {
    const s = await login(px.port, USER, PASSWORD, DB);
    try {
      s.send(Q('SELECT id FROM app.users LIMIT 0'));
      await s.untilReady(1);
      s.send(Q('CREATE VIEW public.rt3_pipe AS SELECT id, contact FROM app.v_contacts'), Q("SELECT contact || '' AS c FROM public.rt3_pipe"));
      await s.untilReady(2);
      expectNoLeak(s.text());
    } finally {
      s.close();
      await asAnalyst('DROP VIEW IF EXISTS public.rt3_pipe');
    }
  });

  it('a view created and read in one multi-statement Query is refused', async () => {
    const r = await rawSimple("CREATE VIEW public.rt3_same AS SELECT id, contact FROM app.v_contacts; SELECT contact || '' FROM public.rt3_same");
    expectNoLeak(r.text);
    expect(r.errors.map((e) => e.C)).toEqual(['42501']);
    await asAnalyst('DROP VIEW IF EXISTS public.rt3_same');
  });
});

// ============================================================================
// 3. Partitioned tables
// ============================================================================

describe('partitioned tables: the policy names the parent', () => {
  it.each([
    ['the parent with expressions', "SELECT id, ssn, ssn || '' AS s, upper(ssn) FROM app.events"],
    ['ONLY the parent', 'SELECT id, ssn FROM ONLY app.events'],
    ['a leaf', "SELECT ssn, left(ssn, 6) FROM app.events_eu"],
    ['a sub-partitioned partition and its leaf', 'SELECT ssn FROM app.events_us UNION ALL SELECT ssn || \'\' FROM app.events_us_low'],
    ['the default partition, whole row', 'SELECT e, e::text, row_to_json(e) FROM app.events_other e'],
    ['a partition attached with other attnums (dropped column)', "SELECT ssn, ssn || '', a FROM app.events_apac a"],
    ['tableoid beside the value', 'SELECT tableoid::regclass::text AS part, ssn FROM app.events'],
    ['a partition through a subquery and a CTE', 'WITH x AS (SELECT * FROM app.events_apac) SELECT (SELECT ssn FROM app.events_eu LIMIT 1), x.ssn FROM x'],
    ['a GROUP BY on the partition key', 'SELECT region, string_agg(ssn, \',\') FROM app.events GROUP BY region'],
    ['RETURNING from a partition (rolled back)', ['BEGIN', 'UPDATE app.events_apac SET note = note RETURNING ssn, ssn || \'\'', 'UPDATE app.events SET note = note WHERE id = 1 RETURNING *', 'ROLLBACK']],
  ])('masks %s', async (_what, sql) => {
    expectMasked(await asAnalyst(sql as string | string[]));
  });

  it.each([
    ['a filter on a leaf', "SELECT id FROM app.events_eu WHERE ssn LIKE '1%'"],
    ['a filter on the attached partition', "SELECT id FROM app.events_apac WHERE ssn = 'x'"],
    ['ORDER BY on the default partition', 'SELECT id FROM app.events_other ORDER BY ssn'],
    ['DELETE … WHERE on the sub-partition', "DELETE FROM app.events_us_low WHERE ssn LIKE '2%'"],
  ])('refuses %s', async (_what, sql) => {
    expectRefused(await asAnalyst(sql));
  });

  it('COPY of leaves (one with other attnums), and COPY (SELECT) of the parent', async () => {
    for (const sql of ['COPY app.events_apac TO STDOUT', 'COPY app.events_us_low TO STDOUT (FORMAT csv, HEADER)', "COPY (SELECT * FROM app.events) TO STDOUT (DELIMITER '|')", 'COPY (SELECT e FROM app.events_other e) TO STDOUT']) {
      expectNoLeak(await copyOut(sql));
    }
  });

  it('the analyst cannot add a partition of its own, attach one, or inherit from the parent (server privileges)', async () => {
    const r = await asAnalyst([
      "CREATE TABLE public.rt3_part PARTITION OF app.events FOR VALUES IN ('mine')",
    ]);
    expect(r.code).toBe('42501');
    const r2 = await asAnalyst([
      'CREATE TABLE public.rt3_attach (id int, region text, ssn text, note text)',
      "ALTER TABLE app.events ATTACH PARTITION public.rt3_attach FOR VALUES IN ('mine')",
    ]);
    expect(r2.code).toBe('42501');
    const r3 = await asAnalyst('CREATE TABLE public.rt3_child () INHERITS (app.users)');
    expect(r3.code).toBe('42501');
    await asAnalyst('DROP TABLE IF EXISTS public.rt3_attach');
  });

  // Was a leak, fixed since: src/gate/screen.ts isHarmlessRead passes any SELECT that names no
  // relation the catalog snapshot knows as sensitive. A partition created after
  // the last catalog load (by the DBA or a partition manager, directly on the
  // server) is such a name: its comment's promise ("a catalog that is behind is
  // caught [by the wire layer]") holds only for plain column references, since
  // an expression's RowDescription field has table OID 0. The screen's verdict
  // also skips session.ts's "unresolved relation: reload the catalog" check, so
  // ssn || '' stays raw until the next periodic refresh (60 s by default).
  it('a partition created behind the proxy, read through an expression', async () => {
    await asAnalyst('SELECT ssn FROM app.events_eu'); // the catalog is loaded and fresh
    await withClient(admin(), async (c) => {
      await c.query(`CREATE TABLE app.events_late PARTITION OF app.events FOR VALUES IN ('late');
        INSERT INTO app.events VALUES (5, 'late', '${EVENT_SSNS[4]}', 'n5');
        GRANT SELECT ON app.events_late TO PUBLIC;`);
    });
    await new Promise((r) => setTimeout(r, 1_100)); // the snapshot is now older than the reload rate limit
    const r = await asAnalyst("SELECT ssn || '' AS s, upper(ssn) AS u FROM app.events_late");
    expectNoLeak(r.received);
  });

  it('the same partition read with plain column references is caught by the wire layer', async () => {
    const r = await asAnalyst('SELECT id, ssn FROM app.events_late');
    expectMasked(r);
  });
});

describe('robustness', () => {
  it('no session was ended with XX000 (pgveil internal error) by any of the attacks above', () => {
    expect(px.logs.some((l) => l.msg === 'session start')).toBe(true); // the log is the proxy's
    const internal = px.logs.filter((l) => l.msg === 'internal error while judging a message');
    // Expected (fail closed): the COPY field count check, hit by the Shift-JIS COPY above.
    const unexpected = internal.filter((l) => !/^COPY row has \d+ fields where \d+ were announced$/.test(String(l.err)));
    expect(unexpected.map((l) => l.err)).toEqual([]);
  });
});

// ============================================================================
// 4. The attacks can fail: a sample through a proxy without a policy
// ============================================================================

describe('control: without a policy the same attacks return raw values', () => {
  it('the detector finds the raw values', async () => {
    const port = plain.port;
    expect(leaks((await asAnalyst('SELECT * FROM app.v_contacts', port)).received).length).toBeGreaterThan(0);
    expect(leaks((await asAnalyst("SELECT ssn || '' FROM app.events", port)).received).length).toBeGreaterThan(0);
    expect(leaks(await copyOut('COPY (SELECT ssn, email FROM app.users) TO STDOUT (FORMAT csv, HEADER)', port)).length).toBeGreaterThan(0);
    expect(leaks((await rawSimple('SELECT ssn, mail, note, code, tag, pin FROM app.big WHERE id IN (5, 10)', { port })).text).length).toBeGreaterThan(0);
    expect(leaks((await rawSimple("SET client_encoding = 'SJIS'; COPY (SELECT chr(12477) AS a, 'x' AS b, ssn, email FROM app.users) TO STDOUT", { port })).text).length).toBeGreaterThan(0);
  });

  it('the INTERSECT ALL reconstruction recovers the value without a policy (the decoder works)', async () => {
    const r = await asAnalyst(`SELECT k, b, bit FROM (SELECT k, b, (ascii(substr(contact, k, 1)) >> b) & 1 AS bit
        FROM app.v_contacts, generate_series(1, 40) k, generate_series(0, 6) b WHERE id = 1) s
      INTERSECT ALL SELECT k, b, 1 FROM generate_series(1, 40) k, generate_series(0, 6) b`, plain.port);
    const codes = new Map<number, number>();
    for (const row of r.rows[0] as { k: number; b: number }[]) codes.set(row.k, (codes.get(row.k) ?? 0) | (1 << row.b));
    const recovered = [...codes.entries()].sort((x, y) => x[0] - y[0]).map(([, c]) => String.fromCharCode(c)).join('');
    expect(recovered).toBe(CONTACTS[0]);
  });
});

