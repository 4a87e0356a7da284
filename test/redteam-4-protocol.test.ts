/**
 * Red team 4, protocol level: leaks through the proxy's bookkeeping of
 * prepared statements, portals and the request/response queue, rather than
 * through SQL. Each attack makes pgveil and the server disagree about which
 * statement a Bind/Execute names, or about which response answers which
 * request, so that rows of a sensitive statement would be judged by the rule
 * table of another (harmless) one.
 *
 * - L1: a Close of a statement the server skips (it is discarding messages
 *   until Sync after an error): the statement stays alive on the server.
 * - L2: statement and portal names are converted by the server from the
 *   client_encoding; compared as raw bytes (or decoded as UTF-8) the names differ
 *   (or collide).
 * - L3: a Sync pipelined behind a simple-protocol COPY FROM STDIN that fails
 *   before copy-in mode is answered by the server (the queue must not drop it).
 * - L4 / L4b: SQL-level EXECUTE / FETCH pipelined with a protocol-level Close /
 *   Bind of the same name.
 * - A FunctionCall too short for its own fields: 08P01, not an internal error.
 *
 * Every attack runs as the ordinary analyst login (SCRAM) through pgveil on a
 * raw protocol session that keeps every byte received; the leak detector scans
 * all of it (raw values and their hex/base64/md5/sha256/reversed forms).
 * The last section runs L1 and L4 (and the others) through a proxy without a
 * policy: there the detector must find the raw values, so the tests can fail.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { superConfig, withClient, type RunningProxy } from './support/proxy.js';
import { PII, createPiiDatabase, startPolicyProxies, type MaskingProxy } from './support/masking-env.js';
import { LeakDetector, type Finding } from './support/leak-detector.js';
import { cstr, i16, i32, message, type RawMessage } from './support/raw.js';
import { B, C as Close, D as Describe, E as Exec, P as Parse, Q, S as Sync, dataRow, errorFields, login, type Session } from './support/redteam-3-raw.js';

const DB = 'redteam4p';
const USER = 'analyst';
const PASSWORD = 'pw-analyst';

const detector = new LeakDetector(PII);

function leaks(text: string): Finding[] {
  return detector.scan(text);
}

function expectNoLeak(text: string, where = 'received'): void {
  expect(leaks(text).map((f) => `${where}: ${f.label}: …${f.excerpt}…`)).toEqual([]);
}

const POLICY = `version: 1
columns:
  app.users.ssn:         { class: ssn,   mask: partial, keep_last: 4 }
  app.users.email:       { class: email, mask: email }
  app.users.card_number: { class: card,  mask: partial, keep_last: 4 }
  app.users.salary:      { class: money, mask: "null" }
  app.users.birth_date:  { class: dob,   mask: year }
  app.users.notes:       { class: free_text, mask: redact }
`;

const SENSITIVE = 'select id, ssn, email from app.users order by id';

let proxies: Awaited<ReturnType<typeof startPolicyProxies>> | undefined;
let px: MaskingProxy;
let plain: RunningProxy;

beforeAll(async () => {
  await createPiiDatabase(DB);
  await withClient({ ...superConfig(), database: DB }, async (c) => {
    await c.query(`
      CREATE TABLE public.rt4p_t (id int, v text);
      GRANT SELECT, INSERT ON public.rt4p_t TO analyst;
    `);
  });
  proxies = await startPolicyProxies(POLICY);
  px = proxies.masked;
  plain = proxies.plain;
}, 60_000);

afterAll(async () => {
  await proxies?.stop();
  await withClient(superConfig(), (c) => c.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`)).catch(() => undefined);
});

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/** A name given as raw bytes (not UTF-8 text), NUL-terminated. */
const bz = (b: Buffer): Buffer => Buffer.concat([b, Buffer.from([0])]);
const ParseN = (name: Buffer, sql: string): Buffer => message('P', Buffer.concat([bz(name), cstr(sql), i16(0)]));
const BindN = (portal: Buffer, stmt: Buffer): Buffer => message('B', Buffer.concat([bz(portal), bz(stmt), i16(0), i16(0), i16(0)]));
const ExecN = (portal: Buffer): Buffer => message('E', Buffer.concat([bz(portal), i32(0)]));

interface Outcome {
  /** Every byte received after login (latin1 + utf8 text). */
  text: string;
  msgs: RawMessage[];
  rows: (string | null)[][];
  errors: Record<string, string>[];
}

/** Logs in as the analyst, runs `fn`, and collects every message and byte. */
async function attack(port: number, fn: (s: Session, msgs: RawMessage[]) => Promise<void>): Promise<Outcome> {
  const s = await login(port, USER, PASSWORD, DB);
  const msgs: RawMessage[] = [];
  try {
    await fn(s, msgs);
    msgs.push(...s.raw.messages.splice(0));
    return {
      text: s.text(),
      msgs,
      rows: msgs.filter((m) => m.type === 'D').map((m) => dataRow(m.body)),
      errors: msgs.filter((m) => m.type === 'E').map((m) => errorFields(m.body)),
    };
  } finally {
    s.close();
  }
}

const WAIT = 8_000;

async function ready(s: Session, msgs: RawMessage[], n = 1): Promise<void> {
  msgs.push(...(await s.untilReady(n, WAIT)));
}

const l1 = (port: number, sql = SENSITIVE): Promise<Outcome> =>
  attack(port, async (s, msgs) => {
    s.send(Parse('s1', sql), Sync());
    await ready(s, msgs);
    // The error makes the server discard everything up to Sync, the Close included.
    s.send(Parse('', 'select 1/0'), B('', ''), Exec(''), Close('S', 's1'), Sync());
    await ready(s, msgs);
    s.send(B('', 's1'), Exec(''), Sync());
    await ready(s, msgs);
  });

const l2a = (port: number): Promise<Outcome> =>
  attack(port, async (s, msgs) => {
    s.send(ParseN(Buffer.from([0xc3, 0xa9]), SENSITIVE), Sync());
    await ready(s, msgs);
    s.send(Q("set client_encoding to 'LATIN1'"));
    await ready(s, msgs);
    // 0xE9 in LATIN1 is 'é': the server finds the statement above.
    s.send(BindN(Buffer.alloc(0), Buffer.from([0xe9])), Exec(''), Sync());
    await ready(s, msgs);
  });

const l2b = (port: number): Promise<Outcome> =>
  attack(port, async (s, msgs) => {
    s.send(Parse('sens', SENSITIVE), Parse('h', "select 1 as id, 'a'::text as b, 'c'::varchar as c"), Sync());
    await ready(s, msgs);
    s.send(Q("set client_encoding to 'LATIN1'"));
    await ready(s, msgs);
    // 'þ' and 'ÿ' in LATIN1; both invalid as UTF-8 (the same U+FFFD if decoded as such).
    const fe = Buffer.from([0xfe]);
    const ff = Buffer.from([0xff]);
    s.send(BindN(fe, Buffer.from('sens')), BindN(ff, Buffer.from('h')), ExecN(fe), ExecN(ff), Sync());
    await ready(s, msgs);
  });

const l3 = (port: number): Promise<Outcome> =>
  attack(port, async (s, msgs) => {
    s.send(Parse('sens', SENSITIVE), Describe('S', 'sens'), Parse('h', "select 1 as id, 'a'::text as b, 'c'::text as c"), Describe('S', 'h'), Sync());
    await ready(s, msgs);
    s.send(Q('copy rt4p_nonexistent from stdin'), Sync(), B('', 'sens'), Exec(''), Sync(), B('', 'h'), Exec(''), Sync());
    await ready(s, msgs, 4);
  });

const l4 = (port: number): Promise<Outcome> =>
  attack(port, async (s, msgs) => {
    s.send(Q("prepare rt4p_s as select id, ssn||'' as s, email||'' as e from app.users order by id"));
    await ready(s, msgs);
    s.send(Q('execute rt4p_s'), Close('S', 'rt4p_s'), Sync());
    await ready(s, msgs, 2);
  });

const l4b = (port: number): Promise<Outcome> =>
  attack(port, async (s, msgs) => {
    s.send(Parse('h', "select 1 as a, 'x'::text as b, 'y'::text as c"), Sync());
    await ready(s, msgs);
    s.send(Q('begin'));
    await ready(s, msgs);
    s.send(Q("declare rt4p_c cursor for select id, ssn||'' as s, email||'' as e from app.users order by id"));
    await ready(s, msgs);
    s.send(Q('fetch all from rt4p_c'), B('rt4p_c', 'h'), Sync());
    await ready(s, msgs, 2);
  });

const types = (o: Outcome): string => o.msgs.map((m) => m.type).join('');

// ============================================================================
// Through pgveil with the policy: nothing raw in any byte
// ============================================================================

describe('protocol bookkeeping: statements and portals', () => {
  it('L1: a Close the server skipped after an error leaves the statement known to pgveil', async () => {
    const o = await l1(px.port);
    expectNoLeak(o.text);
    expect(types(o).split('Z').length - 1).toBe(3);
    expect(o.errors[0]?.C).toBe('22012');
    // The server did run the statement the Close should have dropped (its two rows, not raw).
    expect(o.rows.length).toBe(2);
  });

  it('L1 variant: the error of a cast of a masked column (after the skipped Close) holds no value', async () => {
    const o = await l1(px.port, 'select ssn::int from app.users order by id');
    expectNoLeak(o.text);
    for (const e of o.errors) expect(e.M ?? '').not.toMatch(/\d{3}-\d{2}-\d{4}/);
  });

  it("L2: a statement named 'é' in UTF-8, bound by its LATIN1 name (0xE9)", async () => {
    const o = await l2a(px.port);
    expectNoLeak(o.text);
    expect(types(o).split('Z').length - 1).toBe(3);
    expect(o.errors).toEqual([]);
    expect(o.rows.length).toBe(2);
  });

  it('L2: two portals named 0xFE / 0xFF under LATIN1 (a sensitive and a harmless one)', async () => {
    const o = await l2b(px.port);
    expectNoLeak(o.text);
    expect(types(o).split('Z').length - 1).toBe(3);
    expect(o.errors).toEqual([]);
    expect(o.rows.length).toBe(3);
    expect(o.rows[2]).toEqual(['1', 'a', 'c']);
  });
});

describe('protocol bookkeeping: the response queue', () => {
  it('L3: a Sync pipelined behind a simple COPY FROM STDIN that fails is answered, and the queue stays in step', async () => {
    const o = await l3(px.port);
    expectNoLeak(o.text);
    // 1 (Parse/Describe) + 4 in the pipeline.
    expect(types(o).split('Z').length - 1).toBe(5);
    expect(o.errors[0]?.C).toBe('42P01');
    // The harmless statement still answers with its own row, last.
    expect(o.rows.at(-1)).toEqual(['1', 'a', 'c']);
  });

  it('a working COPY FROM STDIN through the extended protocol with a pipelined Sync: no desync', async () => {
    const s = await login(px.port, USER, PASSWORD, DB);
    try {
      // The server ignores this Sync (it arrives in copy-in mode): no ReadyForQuery answers it.
      s.send(Parse('', 'copy rt4p_t from stdin'), B('', ''), Exec(''), Sync());
      const g = await s.raw.until('G', WAIT);
      expect(g?.type, s.raw.messages.map((m) => m.type).join('')).toBe('G');
      s.send(message('d', Buffer.from('1\tone\n2\ttwo\n')), message('c'), Sync());
      const msgs = await s.untilReady(1, WAIT);
      const t = msgs.map((m) => m.type).join('');
      expect(t).not.toContain('E');
      const cc = msgs.find((m) => m.type === 'C');
      expect(cc?.body.toString('utf8')).toBe('COPY 2\0');
      await new Promise((r) => setTimeout(r, 200));
      expect(s.raw.messages.filter((m) => m.type === 'Z')).toEqual([]);
      s.send(Q('select count(*) from rt4p_t'));
      const after = await s.untilReady(1, WAIT);
      const rows = after.filter((m) => m.type === 'D').map((m) => dataRow(m.body));
      expect(rows).toEqual([['2']]);
      expectNoLeak(s.text());
    } finally {
      s.close();
    }
  });

  it('L4: SQL EXECUTE with a pipelined protocol Close of the same statement name', async () => {
    const o = await l4(px.port);
    expectNoLeak(o.text);
    expect(types(o).split('Z').length - 1).toBe(3);
    expect(o.rows.length).toBe(2);
  });

  it('L4b: SQL FETCH with a pipelined Bind of a portal of the same name', async () => {
    const o = await l4b(px.port);
    expectNoLeak(o.text);
    expect(types(o).split('Z').length - 1).toBe(5);
    expect(o.rows.length).toBe(2);
    // The Bind of a portal named like the open cursor fails on the server.
    expect(o.errors.map((e) => e.C)).toEqual(['42P03']);
  });
});

describe('a refusal fails on the server too (no partial commits)', () => {
  const count = async (marker: string): Promise<number> =>
    withClient({ ...superConfig(), database: DB }, async (c) => Number((await c.query('SELECT count(*) AS n FROM public.rt4p_t WHERE v = $1', [marker])).rows[0].n));

  it('a Parse refused mid-pipeline rolls back what ran before it in the same implicit transaction', async () => {
    const o = await attack(px.port, async (s, msgs) => {
      s.send(
        Parse('', "insert into rt4p_t values (1, 'before-refused-parse')"), B('', ''), Exec(''),
        Parse('', "select set_config('x.y', ssn, false) from app.users"), B('', ''), Exec(''),
        Sync(),
      );
      await ready(s, msgs);
    });
    expectNoLeak(o.text);
    expect(o.errors.map((e) => e.C)).toEqual(['42501']);
    expect(await count('before-refused-parse')).toBe(0);
  });

  it('the poison can\'t succeed: a refusal is an error even when the client named things like pgveil\'s poison', async () => {
    const o = await attack(px.port, async (s, msgs) => {
      // In a transaction, so the portal outlives the Sync.
      s.send(Q('begin'));
      await ready(s, msgs);
      s.send(Parse('\x7fpgveil refused', 'select 1'), Parse('\x7fpgveil refused this request', 'select 1'), B('\x7fpgveil refused this request', '\x7fpgveil refused this request'), Sync());
      await ready(s, msgs);
      s.send(Parse('', "select set_config('x.y', ssn, false) from app.users"), B('', ''), Exec(''), Sync());
      await ready(s, msgs);
      s.send(Q('rollback'));
      await ready(s, msgs);
    });
    expectNoLeak(o.text);
    expect(o.errors.map((e) => e.C)).toEqual(['42501']);
    const statuses = o.msgs.filter((m) => m.type === 'Z').map((m) => String.fromCharCode(m.body[m.body.length - 1]));
    expect(statuses).toEqual(['T', 'T', 'E', 'I']);
  });

  it('a simple query refused inside a transaction aborts it: COMMIT rolls back what ran before', async () => {
    const o = await attack(px.port, async (s, msgs) => {
      s.send(Q('begin'));
      await ready(s, msgs);
      s.send(Q("insert into rt4p_t values (2, 'before-refused-query')"));
      await ready(s, msgs);
      s.send(Q("select set_config('x.y', ssn, false) from app.users"));
      await ready(s, msgs);
      s.send(Q('commit'));
      await ready(s, msgs);
    });
    expectNoLeak(o.text);
    expect(o.errors.map((e) => e.C)).toEqual(['42501']);
    // The ReadyForQuery after the refusal says the transaction failed, as after any error.
    const statuses = o.msgs.filter((m) => m.type === 'Z').map((m) => String.fromCharCode(m.body[m.body.length - 1]));
    expect(statuses).toEqual(['T', 'T', 'E', 'I']);
    expect(await count('before-refused-query')).toBe(0);
  });
});

describe('malformed messages', () => {
  it('a FunctionCall with a length of 4 (no body) ends the session with 08P01', async () => {
    const s = await login(px.port, USER, PASSWORD, DB);
    try {
      s.send(Buffer.concat([Buffer.from('F'), i32(4)]));
      await s.raw.waitClosed(WAIT);
      const errs = s.raw.messages.filter((m) => m.type === 'E').map((m) => errorFields(m.body));
      expect(errs.map((e) => e.C)).toEqual(['08P01']);
      expectNoLeak(s.text());
    } finally {
      s.close();
    }
  });

  it('no session was ended by a pgveil internal error', () => {
    expect(px.logs.some((l) => l.msg === 'session start')).toBe(true);
    const internal = px.logs.filter((l) => l.msg === 'internal error while judging a message');
    expect(internal.map((l) => l.err)).toEqual([]);
  });
});

// ============================================================================
// Control: without a policy the same sessions return raw values
// ============================================================================

describe('control: without a policy the same attacks return raw values', () => {
  it('L1 and L4 (and L2, L3, L4b) leak through a proxy without a policy', async () => {
    const port = plain.port;
    expect(leaks((await l1(port)).text).length).toBeGreaterThan(0);
    expect(leaks((await l4(port)).text).length).toBeGreaterThan(0);
    expect(leaks((await l2a(port)).text).length).toBeGreaterThan(0);
    expect(leaks((await l2b(port)).text).length).toBeGreaterThan(0);
    expect(leaks((await l3(port)).text).length).toBeGreaterThan(0);
    expect(leaks((await l4b(port)).text).length).toBeGreaterThan(0);
  });

  it('the L1 cast variant puts the value into the error text without a policy', async () => {
    const o = await l1(plain.port, 'select ssn::int from app.users order by id');
    expect(leaks(o.text).length).toBeGreaterThan(0);
  });
});
