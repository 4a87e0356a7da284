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
import { isHarmlessRead, screen, vocabulary } from '../src/gate/screen.js';
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
