/**
 * The screen reads statements in place (src/gate/screen.ts). This checks it
 * against the plain way of doing the same (lower-case the text, cut out each
 * word, look it up): hand-picked edge cases and random statements mixing
 * case, Unicode letters whose lower case differs in length or script, quotes,
 * comments and the names the vocabulary holds.
 */
import { describe, expect, it } from 'vitest';
import { CatalogSnapshot } from '../src/catalog/snapshot.js';
import { parsePolicy } from '../src/policy/index.js';
import { differOnlyInNumbers, isHarmlessRead, screen, SessionScreen, vocabulary } from '../src/gate/screen.js';
import { Rng } from './support/rng.js';

const WORD = /[a-z_\u0080-\uffff][a-z0-9_$\u0080-\uffff]*/g;

/** The screen as first written: a lower-cased copy, a regex per word. */
function reference(sql: string, catalog: CatalogSnapshot, policy: ReturnType<typeof parsePolicy>): boolean {
  const lower = sql.toLowerCase();
  const first = /^\s*([a-z]+)/.exec(lower);
  if (!first || !['select', 'with', 'values', 'table'].includes(first[1])) return false;
  const semi = lower.indexOf(';');
  if (semi >= 0 && lower.slice(semi + 1).trim() !== '') return false;
  if (lower.includes('u&')) return false;
  const vocab = vocabulary(catalog, policy);
  const known = catalog.knownWords;
  for (const w of lower.match(WORD) ?? []) {
    if (vocab.words.has(w)) return false;
    if (known && !known.has(w)) return false;
    if (w.startsWith('lo_') || w.startsWith('dblink')) return false;
  }
  for (const name of vocab.others) if (lower.includes(name)) return false;
  return true;
}

const KNOWN = [
  'select', 'from', 'where', 'and', 'or', 'not', 'as', 'join', 'on', 'order', 'by', 'limit', 'with', 'values', 'table', 'count', 'lower', 'upper',
  'app', 'users', 'orders', 'id', 'ssn', 'email', 'user_id', 'total', 'v_users', 'uid', 'tag', 'peek', 'public', 'pgbench_accounts', 'aid', 'abalance',
  'café', 'straße', 'ǅx', 'ʼn', 'key', 'weird name',
];
const catalog = new CatalogSnapshot({
  relations: [
    { oid: 100, schema: 'app', name: 'users', kind: 'table', ancestors: [], columns: [
      { attnum: 1, name: 'id', typeOid: 23 }, { attnum: 2, name: 'ssn', typeOid: 25 }, { attnum: 3, name: 'email', typeOid: 25 }] },
    { oid: 200, schema: 'app', name: 'orders', kind: 'table', ancestors: [], columns: [
      { attnum: 1, name: 'id', typeOid: 23 }, { attnum: 2, name: 'user_id', typeOid: 23 }, { attnum: 3, name: 'total', typeOid: 1700 }] },
    { oid: 300, schema: 'app', name: 'weird name', kind: 'table', ancestors: [], columns: [{ attnum: 1, name: 'secret', typeOid: 25 }] },
    { oid: 400, schema: 'app', name: 'café', kind: 'table', ancestors: [], columns: [{ attnum: 1, name: 'secret', typeOid: 25 }] },
  ],
  memberships: {},
  functions: [{ schema: 'app', name: 'peek', language: 'sql', body: 'select ssn from app.users limit 1' }],
  domainBase: {},
  knownWords: KNOWN,
});
const withoutWords = new CatalogSnapshot({ ...catalog.data, knownWords: undefined });
const policy = parsePolicy(
  'version: 1\ncolumns:\n  app.users.ssn: { mask: redact }\n  \'app."weird name".secret\': { mask: redact }\n  \'app."café".secret\': { mask: redact }\n',
  'screen.yaml',
);

const EDGE = [
  'SELECT total FROM app.orders WHERE id = 5;',
  'select 1',
  '  \n\tSELECT id FROM app.orders',
  '\u00a0SELECT 1', // a Unicode space before the first word: full path in the new screen, passed before
  'SELECT\u00a0total FROM app.orders', // and right after it
  'selectİorder BY id',
  'SeLeCt ToTaL fRoM ApP.OrDeRs',
  'SELECT ssn FROM app.users',
  'SELECT SSN FROM APP.USERS',
  'SELECT \u212Aey FROM app.orders', // KELVIN SIGN lower-cases to an ASCII k
  'SELECT \u0130d FROM app.orders', // İ lower-cases to two code units
  'SELECT café.secret FROM app.café',
  'SELECT CAFÉ.SECRET FROM APP.CAFÉ',
  'SELECT * FROM "weird name"',
  'SELECT * FROM "WEIRD NAME"',
  'SELECT lo_get(1)',
  'SELECT LO_GET(1)',
  'SELECT dblink_exec(1)',
  'SELECT Dblinkx FROM app.orders',
  'SELECT * FROM U&"\\0075sers"',
  'SELECT * FROM u&"x"',
  'SELECT 1; SELECT 2',
  'SELECT 1;  ',
  'SELECT peek()',
  'SELECT straße, STRASSE FROM app.orders',
  'SELECT ǅx FROM app.orders',
  'SELECT total FROM app.orders WHERE id = 5 -- ssn',
  "SELECT 'ssn' FROM app.orders",
  'SELECT $1::int FROM app.orders',
  'SELECT unknownword FROM app.orders',
  'VALUES (1)',
  'TABLE app.orders',
  'WITH x AS (SELECT 1) SELECT * FROM x',
  'select1',
  '',
  '   ',
  'SELECT \ud83d\ude00 FROM app.orders',
  'SELECT \ud801\udc00 FROM app.orders', // DESERET CAPITAL LONG I (lower case is another astral letter)
];

describe('screen: reading in place', () => {
  it('agrees with the plain implementation on edge cases', () => {
    for (const cat of [catalog, withoutWords]) {
      for (const sql of EDGE) {
        const expected = reference(sql, cat, policy);
        const got = isHarmlessRead(sql, cat, policy);
        // Never more permissive; the same answer for ASCII text, and for any
        // text without non-ASCII next to the first word.
        if (got && !expected) expect.fail(`${JSON.stringify(sql)} passed, the plain screen refuses it`);
        if (!/^[\s\u00a0]*[a-z]*[^\x00-\x7f]/i.test(sql)) expect(got, JSON.stringify(sql)).toBe(expected);
      }
    }
  });

  it('agrees with the plain implementation on random statements', () => {
    const rng = new Rng(20261125);
    const pieces = [
      'SELECT', 'select', 'SeLeCt', 'FROM', 'from', 'WHERE', ' ', '  ', '\n', '\t', ',', '.', '(', ')', '=', '1', '42', "'", '"', ';', '--', '/*', '*/',
      '$1', '::', '_', '$', 'u&', 'U&', 'lo_', 'LO_', 'dblink', 'DBLINK', '\u212A', '\u0130', 'É', 'é', 'ß', 'ǅ', '\u00a0', '\ud83d\ude00', '\ud801\udc00', 'Σ', 'xΣ', 'ΣΣ',
      ...KNOWN, ...KNOWN.map((w) => w.toUpperCase()), 'weird', 'name', 'zzz', 'orders1',
    ];
    let passed = 0;
    for (let n = 0; n < 20_000; n++) {
      const start = rng.pick(['SELECT ', 'select ', 'WITH ', 'VALUES ', 'TABLE ', 'UPDATE ', '  Select ', '']);
      let sql = start;
      const len = 1 + rng.int(12);
      for (let k = 0; k < len; k++) sql += rng.pick(pieces) + (rng.chance(0.6) ? ' ' : '');
      for (const cat of [catalog, withoutWords]) {
        const expected = reference(sql, cat, policy);
        const got = isHarmlessRead(sql, cat, policy);
        // Never more permissive; the same answer for ASCII text (non-ASCII next
        // to the first word sends a statement to the full analysis).
        if ((got && !expected) || (got !== expected && /^[\x00-\x7f]*$/.test(sql))) {
          expect.fail(`seed 20261125 case ${n}: ${JSON.stringify(sql)} → ${got}, expected ${expected}`);
        }
        if (got) passed++;
      }
    }
    // The corpus must exercise both answers.
    expect(passed).toBeGreaterThan(500);
  });
});

describe('screen: the verdict cache', () => {
  it('gives the same verdicts as screening each text, while texts repeat, while they never do, and after', () => {
    // Its own catalog object: the cache is per catalog snapshot.
    const cat = new CatalogSnapshot(catalog.data);
    const texts = (n: number, unique: boolean) =>
      Array.from({ length: n }, (_, i) => (i % 3 === 0 ? `SELECT ssn FROM app.users WHERE id = ${unique ? i : i % 7}` : `SELECT total FROM app.orders WHERE id = ${unique ? i : i % 7}`));
    // Repeating texts, then 10,000 that never repeat (the cache turns itself off), then repeating ones again.
    for (const sql of [...texts(3000, false), ...texts(10_000, true), ...texts(6000, false)]) {
      expect(screen(sql, cat, policy), sql).toBe(isHarmlessRead(sql, cat, policy));
    }
  });
});

/** differOnlyInNumbers on the UTF-8 of two texts, each inside other bytes (as in a message). */
function differsOnlyInNumbers(a: string, b: string): boolean {
  const x = Buffer.from(`Q1${a}\0`);
  const y = Buffer.from(`P\0${b}\0\0`);
  return differOnlyInNumbers(x, 2, x.length - 1, y, 2, y.length - 2);
}

/** SessionScreen.passes as the session calls it: with the text's bytes inside its message. */
function passes(s: SessionScreen, sql: string, cat: CatalogSnapshot, pol: ReturnType<typeof parsePolicy>): boolean {
  const message = Buffer.from(`Q7${sql}\0`);
  return s.passes(sql, cat, pol, message, 2, message.length - 1);
}

describe('screen: a session passes texts that differ from the last one only in numbers', () => {
  // t1 is harmless, t2 and "secret 7" hold masked columns: digits that are part
  // of a name must never be taken for a constant.
  const numbered = new CatalogSnapshot({
    relations: [
      ...catalog.data.relations,
      { oid: 500, schema: 'app', name: 't1', kind: 'table', ancestors: [], columns: [{ attnum: 1, name: 'v', typeOid: 25 }] },
      { oid: 501, schema: 'app', name: 't2', kind: 'table', ancestors: [], columns: [{ attnum: 1, name: 'v', typeOid: 25 }] },
      { oid: 502, schema: 'app', name: 'secret 7', kind: 'table', ancestors: [], columns: [{ attnum: 1, name: 'v', typeOid: 25 }] },
    ],
    memberships: {},
    functions: catalog.data.functions,
    domainBase: {},
    knownWords: [...KNOWN, 't1', 't2', 'v', 'e5', 'secret'],
  });
  const numberedPolicy = parsePolicy(
    'version: 1\ncolumns:\n  app.users.ssn: { mask: redact }\n  app.t2.v: { mask: redact }\n  \'app."secret 7".v\': { mask: redact }\n',
    'screen-numbers.yaml',
  );

  it('tells constants from digits in names, parameters and other number forms', () => {
    const same: [string, string][] = [
      ['SELECT total FROM app.orders WHERE id = 1', 'SELECT total FROM app.orders WHERE id = 123456'],
      ['SELECT total FROM app.orders WHERE id = 17;', 'SELECT total FROM app.orders WHERE id = 9;'],
      ['SELECT total FROM app.orders WHERE total > 1.50 AND id IN (1,2,3)', 'SELECT total FROM app.orders WHERE total > 12.5 AND id IN (40,5,600)'],
      ["SELECT 'a 12' FROM app.orders LIMIT 10", "SELECT 'a 3' FROM app.orders LIMIT 200"],
      ['SELECT 1', 'SELECT 1'],
      ['SELECT 007', 'SELECT 7'],
    ];
    const different: [string, string][] = [
      ['SELECT v FROM app.t1', 'SELECT v FROM app.t2'],
      ['SELECT $1::int FROM app.orders', 'SELECT $2::int FROM app.orders'],
      ['SELECT 1e5 FROM app.orders', 'SELECT 2e5 FROM app.orders'],
      ['SELECT 1 FROM app.orders', 'SELECT -1 FROM app.orders'],
      ['SELECT 1 FROM app.orders', 'SELECT 1  FROM app.orders'],
      ['SELECT 1 FROM app.orders', 'SELECT 1 FROM app.users'],
      ['SELECT x1 FROM app.orders', 'SELECT x2 FROM app.orders'],
      ['SELECT 1x FROM app.orders', 'SELECT 2x FROM app.orders'],
      ['SELECT _1 FROM app.orders', 'SELECT _2 FROM app.orders'],
      ['SELECT é1 FROM app.orders', 'SELECT é2 FROM app.orders'],
      ['SELECT 1é FROM app.orders', 'SELECT 2é FROM app.orders'],
      ['SELECT 1', 'SELECT'],
      ['SELECT 1', 'SELECT 1;'],
      ['SELECT 1', 'SELECT x'],
      ['SELECT 12', 'SELECT 12 '],
      ['SELECT 12 FROM app.orders', 'SELECT 12, FROM app.orders'],
    ];
    for (const [a, b] of same) {
      expect(differsOnlyInNumbers(a, b), `${a} / ${b}`).toBe(true);
      expect(differsOnlyInNumbers(b, a), `${b} / ${a}`).toBe(true);
    }
    for (const [a, b] of different) {
      expect(differsOnlyInNumbers(a, b), `${a} / ${b}`).toBe(false);
      expect(differsOnlyInNumbers(b, a), `${b} / ${a}`).toBe(false);
    }
  });

  it('agrees with comparing the texts with every standalone number replaced by one mark', () => {
    const wordPart = (c: string | undefined) => c !== undefined && /[a-z0-9_$\u0080-\uffff]/i.test(c);
    const marked = (t: string) => t.replace(/[0-9]+/g, (run, at: number) => (wordPart(t[at - 1]) || wordPart(t[at + run.length]) ? run : '#'));
    const rng = new Rng(20261127);
    const alphabet = ['1', '2', '3', '0', ' ', 'a', '_', '$', 'é', '.', '-', "'"];
    const text = () => Array.from({ length: rng.int(9) }, () => rng.pick(alphabet)).join('');
    let same = 0;
    for (let n = 0; n < 200_000; n++) {
      const a = text();
      const b = rng.chance(0.5) ? a.replace(/[0-9]/g, () => (rng.chance(0.3) ? rng.pick(['', '7', '88']) : rng.pick(['1', '2']))) : text();
      const expected = marked(a) === marked(b);
      if (differsOnlyInNumbers(a, b) !== expected) expect.fail(`${JSON.stringify(a)} / ${JSON.stringify(b)}: expected ${expected}`);
      if (expected) same++;
    }
    expect(same).toBeGreaterThan(20_000);
  });

  it('never passes a sensitive text that follows a harmless one', () => {
    const s = new SessionScreen();
    expect(passes(s, 'SELECT v FROM app.t1 WHERE v = 1', numbered, numberedPolicy)).toBe(true);
    expect(passes(s, 'SELECT v FROM app.t2 WHERE v = 1', numbered, numberedPolicy)).toBe(false);
    expect(passes(s, 'SELECT v FROM app.t1 WHERE v = 2', numbered, numberedPolicy)).toBe(true);
    // The same words, but a quoted name the screen matches as a substring.
    expect(passes(s, 'SELECT \'secret 6\' FROM app.t1', numbered, numberedPolicy)).toBe(true);
    expect(passes(s, 'SELECT \'secret 7\' FROM app.t1', numbered, numberedPolicy)).toBe(false);
    // Another policy object (a reload): the remembered text no longer counts.
    const reloaded = parsePolicy('version: 1\ncolumns:\n  app.t1.v: { mask: redact }\n', 'reloaded.yaml');
    expect(passes(s, 'SELECT v FROM app.t1 WHERE v = 3', numbered, reloaded)).toBe(false);
  });

  it('gives the verdicts of screening each text, on random statements with their numbers changed', () => {
    const rng = new Rng(20261126);
    const pieces = [
      'SELECT', 'select', 'FROM', 'WHERE', ' ', '  ', ',', '.', '(', ')', '=', '-', '+', ';', "'", '"', '$', '_', 'e',
      '1', '42', '3.5', '0', '1e5', '$1', 't1', 't2', 'x9', '9x', 'é', 'é1', 'v', 'app', 'orders', 'users', 'total', 'ssn', 'secret', "'secret 7'", "'secret 8'",
    ];
    const digits = '0123456789';
    let passed = 0;
    let alike = 0;
    for (let n = 0; n < 3000; n++) {
      const s = new SessionScreen();
      let sql = rng.pick(['SELECT ', 'select ', 'VALUES ', 'WITH ']);
      const len = 1 + rng.int(10);
      for (let k = 0; k < len; k++) sql += rng.pick(pieces) + (rng.chance(0.6) ? ' ' : '');
      for (let step = 0; step < 8; step++) {
        const expected = isHarmlessRead(sql, numbered, numberedPolicy);
        const got = passes(s, sql, numbered, numberedPolicy);
        if (got !== expected) expect.fail(`seed 20261126 case ${n}.${step}: ${JSON.stringify(sql)} → ${got}, expected ${expected}`);
        if (got) passed++;
        // Change, insert or delete one digit (where there is none: insert one).
        const at = [...sql].flatMap((c, i) => (digits.includes(c) ? [i] : []));
        const next = at.length && rng.chance(0.8)
          ? ((i: number) => (rng.chance(0.7) ? sql.slice(0, i) + rng.pick([...digits]) + sql.slice(i + 1) : rng.chance(0.5) ? sql.slice(0, i) + sql.slice(i + 1) : sql.slice(0, i) + rng.pick([...digits]) + sql.slice(i)))(rng.pick(at))
          : ((i: number) => sql.slice(0, i) + rng.pick([...digits]) + sql.slice(i))(rng.int(sql.length + 1));
        if (differsOnlyInNumbers(sql, next)) alike++;
        sql = next;
      }
    }
    // Both answers, and many texts that count as the same but for numbers.
    expect(passed).toBeGreaterThan(1000);
    expect(alike).toBeGreaterThan(3000);
  });
});
