/**
 * Policy files (schema, errors with file:line:col, patterns and precedence) and
 * the pure decision function (roles, membership, grants over an injected clock,
 * multi-source and derived result columns).
 */
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import {
  PolicyError,
  canApprove,
  canRequest,
  decide,
  decideAll,
  decideFilter,
  isGrantActive,
  loadPolicy,
  parsePolicy,
  resolveColumn,
  resolveHashKey,
  type ColumnRef,
  type Grant,
  type Identity,
  type Policy,
} from '../src/policy/index.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'pgveil-policy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let fileNo = 0;
function policyFile(text: string): string {
  const f = path.join(dir, `p${++fileNo}.yaml`);
  writeFileSync(f, text);
  return f;
}
/** Loads `text` from a temp file and returns the PolicyError's lines (file name stripped). */
function errorsOf(text: string): string[] {
  const f = policyFile(text);
  try {
    loadPolicy(f);
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyError);
    const e = err as PolicyError;
    expect(e.file).toBe(f);
    for (const i of e.issues) expect(i.where).toMatch(new RegExp(`^${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+$`));
    return e.issues.map((i) => `${i.where.slice(f.length + 1)} ${i.path}: ${i.message}`);
  }
  throw new Error('expected a PolicyError');
}

const ref = (schema: string, table: string, column: string): ColumnRef => ({ schema, table, column });
const SSN = ref('app', 'users', 'ssn');
const EMAIL = ref('app', 'users', 'email');
const ID = ref('app', 'users', 'id');

describe('policy files', () => {
  it('loads the example from the issue unchanged', () => {
    const p = loadPolicy('policies/example.yaml');
    expect(p.version).toBe(1);
    expect(p.columns.map((c) => [c.key, c.class, c.mask.kind, c.filter])).toEqual([
      ['app.users.ssn', 'ssn', 'partial', 'deny'],
      ['app.users.email', 'email', 'email', 'deny'],
      ['app.users.card_number', 'card', 'partial', 'deny'],
      ['app.users.salary', 'money', 'null', 'deny'],
      ['app.users.birth_date', 'dob', 'year', 'deny'],
      ['app.users.notes', 'free_text', 'redact', 'deny'],
    ]);
    expect(p.columns[0].mask).toEqual({ kind: 'partial', keepFirst: 0, keepLast: 4, keepSeparators: true, maskChar: '*' });
    expect(p.columns[0].where).toBe('policies/example.yaml:3:26');
    expect(p.roles).toHaveLength(1);
    expect(p.roles[0].rawClasses).toEqual(['email']);
    expect(p.jit.maxDurationMs).toBe(4 * 3600_000);
    expect(p.jit.approvalsRequired).toBe(1);
    expect(p.jit.requesters.map((r) => r.text)).toEqual(['analyst', 'dev_*']);
    expect(p.hashKeyEnv).toBe('PGVEIL_HASH_KEY');
    expect(Object.isFrozen(p)).toBe(true);
    expect(Object.isFrozen(p.columns[0].mask)).toBe(true);
    expect(() => (p.columns as unknown as ColumnRefLike[]).push({})).toThrow();
  });

  it('loads the demo policy', () => {
    const p = loadPolicy('policies/demo.yaml');
    expect(resolveColumn(p, 'billing', 'customers', 'ssn')?.key).toBe('*.*.ssn');
    expect(resolveColumn(p, 'app', 'users', 'salary')?.mask).toEqual({ kind: 'round', step: 10000 });
    expect(resolveColumn(p, 'app', 'orders', 'customer_email')?.mask).toEqual({ kind: 'hash', length: 16 });
    expect(resolveColumn(p, 'app', 'orders', 'customer_email')?.filter).toBe('allow');
    expect(resolveColumn(p, 'app', 'orders', 'ship_address')?.mask).toEqual({ kind: 'fixed', value: '(address withheld)' });
  });

  it('accepts YAML null as the null mask, and a policy with only a version', () => {
    const p = parsePolicy('version: 1\ncolumns:\n  a.b.c: { mask: null }\n');
    expect(p.columns[0].mask).toEqual({ kind: 'null' });
    expect(parsePolicy('version: 1\n').columns).toEqual([]);
  });

  it('reports every schema error with file:line:col', () => {
    const errors = errorsOf(
      [
        'version: 1', //                                                       1
        'colums: {}', //                                                       2
        'columns:', //                                                         3
        '  app.users.ssn: { mask: partal, keep_last: 4 }', //                  4
        '  app.users.email: { mask: email, keep_last: 4 }', //                 5
        '  app.users.card: { mask: partial, keep_lst: 4 }', //                 6
        '  app.users.salary: { mask: round }', //                              7
        '  app.users.x: { mask: partial, keep_last: -1 }', //                  8
        '  users.ssn: { mask: redact }', //                                    9
        '  app.users.y: { class: nomask }', //                                 10
        '  app.users.z: { mask: fixed }', //                                   11
        '  app.users.w: { mask: hash, length: 3 }', //                         12
        'roles:', //                                                           13
        '  app_backend: { raw: [emial] }', //                                  14
        'jit:', //                                                             15
        '  requesters: [analyst]', //                                          16
        '  approvers: [security_lead]', //                                     17
        '  max_duration: 4 hours', //                                          18
        '',
      ].join('\n'),
    );
    expect(errors).toEqual([
      '2:9 colums: unknown key "colums" (allowed here: version, hash_key_env, classes, columns, roles, jit)',
      '4:26 columns["app.users.ssn"].mask: unknown mask "partal": use one of redact, partial, email, hash, null, year, round, fixed',
      '5:46 columns["app.users.email"].keep_last: keep_last does not apply to mask email (email takes no options)',
      '6:46 columns["app.users.card"].keep_lst: unknown key "keep_lst" (allowed here: class, mask, filter, keep_first, keep_last, keep_separators, mask_char, length, step, value)',
      '7:21 columns["app.users.salary"]: mask round needs step (e.g. step: 1000)',
      '8:44 columns["app.users.x"].keep_last: keep_last must be a whole number from 0 to 1000',
      '9:14 columns["users.ssn"]: "users.ssn" has 2 parts; write schema.table.column (e.g. public.users.ssn or *.users.ssn)',
      '10:16 columns["app.users.y"]: no mask: set mask here or in classes.nomask',
      '11:16 columns["app.users.z"]: mask fixed needs value (e.g. value: "n/a")',
      '12:38 columns["app.users.w"].length: length must be a whole number from 8 to 64',
      '14:24 roles.app_backend.raw[0]: unknown class "emial" (classes in this policy: nomask); columns are written schema.table.column',
      '18:17 jit.max_duration: invalid duration "4 hours": use a number with ms, s, m, h or d (e.g. 30s, 4h, 1h30m)',
    ]);
  });

  it('reports YAML syntax errors and a missing version with file:line:col', () => {
    expect(errorsOf('version: 1\ncolumns:\n  a.b.c: { mask: redact\n')[0]).toMatch(/^4:1 : /);
    expect(errorsOf('columns: {}\n')).toEqual(['1:1 version: missing: a policy starts with `version: 1`']);
    expect(errorsOf('version: 2\n')).toEqual(['1:10 version: version must be 1']);
    expect(errorsOf('')).toEqual(['1:1 : empty policy: expected `version: 1` and `columns:`']);
    expect(errorsOf('- a\n- b\n')[0]).toMatch(/^1:1 : expected a mapping/);
    expect(errorsOf('version: 1\ncolumns:\n  a.b.c: { mask: redact }\n  a.b.c: { mask: redact }\n')[0]).toMatch(/^4:3 : Map keys must be unique/);
  });

  it('rejects bad identifiers, duplicates after folding, bad roles and jit', () => {
    expect(
      errorsOf(
        [
          'version: 1',
          'columns:',
          '  app.users.ssn: { mask: redact }',
          '  App.Users.SSN: { mask: redact }',
          "  'app.\"users.ssn': { mask: redact }",
          '  app.my-table.ssn: { mask: redact }',
          'classes:',
          '  a.b: { mask: redact }',
          '  c: { keep_last: 2 }',
          'roles:',
          '  "dev.x": { raw: [app.users.ssn] }',
          '  ok: { raw: email }',
          'jit:',
          '  requesters: [analyst]',
          '  approvals_required: 0',
          '  max_duration: 0s',
          '',
        ].join('\n'),
      ),
    ).toEqual([
      '8:8 classes["a.b"]: class name "a.b" must have no dots, quotes, spaces or *',
      '9:19 classes.c.keep_last: keep_last needs a mask in this class',
      expect.stringMatching(/^4:18 columns\["App.Users.SSN"\]: same column as "app.users.ssn" at .*:3:18$/),
      expect.stringMatching(/^5:21 columns.*: unterminated quoted identifier/),
      expect.stringMatching(/^6:21 columns\["app\.my-table\.ssn"\]: "my-table" in .* needs double quotes/),
      '11:12 roles["dev.x"]: "dev.x" is not a single name (quote it if it contains ".")',
      '12:14 roles.ok.raw: raw must be a list, e.g. raw: [email]',
      '15:23 jit.approvals_required: approvals_required must be a whole number from 1 to 100',
      '16:17 jit.max_duration: max_duration must be longer than 0',
      '14:3 jit: approvers: at least one approver is needed when requesters are set',
    ]);
  });

  it('a missing file is a PolicyError', () => {
    expect(() => loadPolicy(path.join(dir, 'nope.yaml'))).toThrow(/cannot read: ENOENT/);
  });
});

type ColumnRefLike = Record<string, unknown>;

describe('column patterns and precedence', () => {
  const p = parsePolicy(
    [
      'version: 1',
      'classes:',
      '  ssn: { mask: partial, keep_last: 4, filter: allow }',
      '  email: { mask: email }',
      'columns:',
      '  "*.*.ssn": { class: ssn }',
      '  "app.*.ssn": { class: ssn, keep_last: 2 }',
      '  app.users.ssn: { class: ssn, mask: redact }',
      '  "app.*.email": { class: email }',
      '  "*.users.email": { class: email, mask: hash }',
      '  "app.users.*": { mask: "null" }',
      '  "app.u*.phone": { mask: redact }',
      '  "app.us*.phone": { mask: partial }',
      '  "app.?sers.fax": { mask: partial }',
      "  'app.\"Users\".ssn': { mask: year }",
      "  'app.\"Odd.Table\".\"Col\"\"Q\"': { mask: fixed, value: x }",
      '  "App.Crm.Phone": { mask: hash }',
      '  "*.*.card": { mask: partial }',
      '  "*.*.card*": { mask: redact }',
      '',
    ].join('\n'),
    'precedence.yaml',
  );
  const key = (s: string, t: string, c: string) => resolveColumn(p, s, t, c)?.key;

  it('exact beats any pattern', () => {
    expect(key('app', 'users', 'ssn')).toBe('app.users.ssn');
    expect(resolveColumn(p, 'app', 'users', 'ssn')?.mask.kind).toBe('redact');
  });
  it('the most specific pattern wins, column part first', () => {
    expect(key('app', 'orders', 'ssn')).toBe('app.*.ssn');
    expect(key('hr', 'people', 'ssn')).toBe('*.*.ssn');
    expect(key('app', 'users', 'email')).toBe('*.users.email'); // literal table beats literal schema
    expect(key('app', 'orders', 'email')).toBe('app.*.email');
    expect(key('app', 'users', 'name')).toBe('app.users.*');
    expect(key('app', 'users', 'phone')).toBe('app.us*.phone'); // more literal characters
    expect(key('app', 'users', 'fax')).toBe('app.?sers.fax');
    expect(key('app', 'xusers', 'fax')).toBeUndefined();
    expect(key('x', 'y', 'card')).toBe('*.*.card');
    expect(key('x', 'y', 'card_number')).toBe('*.*.card*');
  });
  it('class defaults merge under column options', () => {
    expect(resolveColumn(p, 'app', 'orders', 'ssn')?.mask).toEqual({ kind: 'partial', keepFirst: 0, keepLast: 2, keepSeparators: true, maskChar: '*' });
    expect(resolveColumn(p, 'app', 'orders', 'ssn')?.filter).toBe('allow');
    expect(resolveColumn(p, 'app', 'users', 'ssn')?.filter).toBe('allow');
    expect(resolveColumn(p, 'app', 'users', 'name')?.filter).toBe('deny');
  });
  it('identifiers fold unless quoted', () => {
    expect(key('app', 'Users', 'ssn')).toBe('app."Users".ssn');
    expect(key('app', 'Odd.Table', 'Col"Q')).toBe('app."Odd.Table"."Col""Q"');
    expect(key('app', 'crm', 'phone')).toBe('App.Crm.Phone');
    expect(key('app', 'Crm', 'phone')).toBeUndefined();
    expect(key('App', 'users', 'email')).toBe('*.users.email');
  });
  it('equally specific patterns: the stricter mask wins', () => {
    const q = parsePolicy('version: 1\ncolumns:\n  "app.u*.x": { mask: partial }\n  "app.*s.x": { mask: redact }\n');
    expect(resolveColumn(q, 'app', 'users', 'x')?.mask.kind).toBe('redact');
  });
});

describe('decide', () => {
  const p: Policy = parsePolicy(
    [
      'version: 1',
      'columns:',
      '  app.users.ssn:         { class: ssn,   mask: partial, keep_last: 4 }',
      '  app.users.email:       { class: email, mask: email, filter: allow }',
      '  app.users.salary:      { class: money, mask: "null" }',
      '  app.users.birth_date:  { class: dob,   mask: year }',
      '  app.users.token:       { class: secret, mask: hash }',
      '  app.users.note:        { class: secret, mask: fixed, value: "n/a" }',
      'roles:',
      '  app_backend: { raw: [email] }',
      '  "report_*": { raw: [app.users.birth_date] }',
      '  dba: { raw: ["*"] }',
      'jit:',
      '  requesters: [analyst, "dev_*"]',
      '  approvers: [security_lead]',
      '  max_duration: 4h',
      '',
    ].join('\n'),
    'decide.yaml',
  );
  const now = new Date('2025-06-01T12:00:00Z');
  const alice: Identity = { user: 'alice', roles: ['analyst'] };
  const base = { policy: p, now, grants: [] as Grant[] };
  const grant = (over: Partial<Grant> = {}): Grant => ({
    id: 'g1',
    user: 'alice',
    columns: ['app.users.ssn'],
    approved: true,
    expiresAt: new Date('2025-06-01T13:00:00Z'),
    ...over,
  });

  it('masks a sensitive column without role or grant, with its own mask when direct', () => {
    const d = decide({ ...base, identity: alice, columns: [SSN], direct: true });
    expect(d.action).toBe('mask');
    if (d.action !== 'mask') return;
    expect(d.mask).toEqual({ kind: 'partial', keepFirst: 0, keepLast: 4, keepSeparators: true, maskChar: '*' });
    expect(d.filter).toBe('deny');
    expect(d.source).toMatchObject({ kind: 'column', key: 'app.users.ssn', class: 'ssn', where: 'decide.yaml:3:26' });
    expect(d.reason).toContain('app.users.ssn: masked with partial(keep_first=0, keep_last=4)');
    expect(d.reason).toContain('no standing access or active grant for alice');
  });

  it('non-sensitive columns and no sources are raw', () => {
    expect(decide({ ...base, identity: alice, columns: [ID], direct: true })).toMatchObject({ action: 'raw', source: { kind: 'unprotected' } });
    expect(decide({ ...base, identity: alice, columns: [] })).toMatchObject({ action: 'raw', reason: 'no sensitive source' });
  });

  it('standing raw by class for the login user or a member role, with globs', () => {
    for (const identity of [
      { user: 'app_backend', roles: [] },
      { user: 'svc', roles: ['readers', 'app_backend'] },
    ]) {
      const d = decide({ ...base, identity, columns: [EMAIL], direct: true });
      expect(d.action).toBe('raw');
      expect(d.source).toMatchObject({ kind: 'role', role: 'app_backend', matched: 'app_backend', via: 'class email' });
      // ... but only the class it names
      expect(decide({ ...base, identity, columns: [SSN], direct: true }).action).toBe('mask');
    }
    const r = decide({ ...base, identity: { user: 'bob', roles: ['report_eu'] }, columns: [ref('app', 'users', 'birth_date')], direct: true });
    expect(r).toMatchObject({ action: 'raw', source: { kind: 'role', role: 'report_*', matched: 'report_eu', via: 'app.users.birth_date' } });
    expect(decide({ ...base, identity: { user: 'reporter', roles: [] }, columns: [ref('app', 'users', 'birth_date')] }).action).toBe('mask');
    expect(decide({ ...base, identity: { user: 'x', roles: ['dba'] }, columns: [SSN, EMAIL, ref('app', 'users', 'token')] }).action).toBe('raw');
  });

  it('role names fold like SQL identifiers', () => {
    const q = parsePolicy('version: 1\ncolumns:\n  a.b.c: { class: k, mask: redact }\nroles:\n  App_Backend: { raw: [k] }\n  \'"Ops"\': { raw: [k] }\n');
    const dec = (user: string) => decide({ policy: q, now, grants: [], identity: { user, roles: [] }, columns: [ref('a', 'b', 'c')] }).action;
    expect(dec('app_backend')).toBe('raw');
    expect(dec('App_Backend')).toBe('mask');
    expect(dec('Ops')).toBe('raw');
    expect(dec('ops')).toBe('mask');
  });

  it('an approved grant is raw until it expires (injected clock)', () => {
    const g = grant();
    const at = (iso: string) => decide({ ...base, now: new Date(iso), identity: alice, columns: [SSN], grants: [g], direct: true });
    expect(at('2025-06-01T12:59:59.999Z')).toMatchObject({ action: 'raw', source: { kind: 'grant', grantId: 'g1' } });
    const after = at('2025-06-01T13:00:00Z');
    expect(after.action).toBe('mask');
    expect(after.reason).toContain('grant g1 expired at 2025-06-01T13:00:00.000Z');
  });

  it('ignores unapproved, revoked, future, foreign and non-covering grants', () => {
    const cases: [Grant, string][] = [
      [grant({ approved: false }), 'is not approved'],
      [grant({ revokedAt: new Date('2025-06-01T11:00:00Z') }), 'was revoked'],
      [grant({ startsAt: new Date('2025-06-01T12:30:00Z') }), 'starts at'],
      [grant({ user: 'mallory' }), ''],
      [grant({ user: 'Alice' }), ''],
      [grant({ columns: ['app.users.email'] }), ''],
      [grant({ columns: ['not a key'] }), ''],
    ];
    for (const [g, why] of cases) {
      const d = decide({ ...base, identity: alice, columns: [SSN], grants: [g], direct: true });
      expect(d.action).toBe('mask');
      if (why) expect(d.reason).toContain(why);
    }
    expect(isGrantActive(grant(), now)).toBe(true);
  });

  it('grants by class and by column pattern; a grant never outlives jit.max_duration', () => {
    expect(decide({ ...base, identity: alice, columns: [SSN], grants: [grant({ columns: [], classes: ['ssn'] })] }).action).toBe('raw');
    expect(decide({ ...base, identity: alice, columns: [SSN, EMAIL], grants: [grant({ columns: ['app.users.*'] })] }).action).toBe('raw');
    const long = grant({ startsAt: new Date('2025-06-01T07:00:00Z'), expiresAt: new Date('2025-06-02T00:00:00Z') });
    const d = decide({ ...base, identity: alice, columns: [SSN], grants: [long] });
    expect(d.action).toBe('mask');
    expect(d.reason).toContain('expired at 2025-06-01T11:00:00.000Z');
  });

  it('a result column from several sources is raw only if every source is', () => {
    const g = grant();
    const both = decide({ ...base, identity: alice, columns: [SSN, EMAIL], grants: [g] });
    expect(both.action).toBe('mask');
    expect(both.sources.map((s) => s.raw)).toEqual([true, false]);
    const backend = { user: 'svc', roles: ['app_backend'] };
    expect(decide({ ...base, identity: backend, columns: [SSN, EMAIL], grants: [grant({ user: 'svc' })] }).action).toBe('raw');
    expect(decide({ ...base, identity: backend, columns: [ID, EMAIL] }).action).toBe('raw');
  });

  it('derived and multi-source results take the strictest mask, and only constant ones', () => {
    const mask = (columns: ColumnRef[], direct = false) => {
      const d = decide({ ...base, identity: alice, columns, direct });
      return d.action === 'mask' ? d.mask : d.action;
    };
    // upper(ssn): partial would reveal part of the expression → redact
    expect(mask([SSN])).toEqual({ kind: 'redact' });
    expect(mask([ref('app', 'users', 'token')])).toEqual({ kind: 'redact' });
    // ssn || salary: salary's null is stricter than redact
    expect(mask([SSN, ref('app', 'users', 'salary')])).toEqual({ kind: 'null' });
    expect(mask([EMAIL, ref('app', 'users', 'note')])).toEqual({ kind: 'fixed', value: 'n/a' });
    // direct with several sources is not direct
    expect(mask([SSN, EMAIL], true)).toEqual({ kind: 'redact' });
    // filter: deny if any masked source denies
    expect(decide({ ...base, identity: alice, columns: [EMAIL] }).filter).toBe('allow');
    expect(decide({ ...base, identity: alice, columns: [EMAIL, SSN] }).filter).toBe('deny');
    const d = decide({ ...base, identity: alice, columns: [SSN, EMAIL] });
    expect(d.reason).toMatch(/^derived from masked app\.users\.ssn, app\.users\.email: redact \(email would reveal part/);
  });

  it('refuses when values would go where they cannot be masked', () => {
    const d = decide({ ...base, identity: alice, columns: [ID, SSN], sink: 'opaque' });
    expect(d.action).toBe('refuse');
    expect(d.reason).toContain('would copy app.users.ssn');
    expect(decide({ ...base, identity: alice, columns: [SSN], sink: 'opaque', grants: [grant()] }).action).toBe('raw');
  });

  it('decideAll and decideFilter', () => {
    const ds = decideAll({ ...base, identity: alice, results: [{ columns: [ID], direct: true }, { columns: [SSN], direct: true }, { columns: [EMAIL] }] });
    expect(ds.map((d) => d.action)).toEqual(['raw', 'mask', 'mask']);
    expect(decideFilter({ ...base, identity: alice, columns: [ID, EMAIL] })).toEqual({ action: 'allow' });
    const f = decideFilter({ ...base, identity: alice, columns: [EMAIL, SSN] });
    expect(f).toMatchObject({ action: 'refuse', column: SSN });
    expect(decideFilter({ ...base, identity: alice, columns: [SSN], grants: [grant()] })).toEqual({ action: 'allow' });
  });

  it('jit requesters and approvers match users and member roles', () => {
    expect(canRequest(p, alice)).toBe(true);
    expect(canRequest(p, { user: 'dev_joe', roles: [] })).toBe(true);
    expect(canRequest(p, { user: 'eve', roles: ['devs'] })).toBe(false);
    expect(canApprove(p, { user: 'sam', roles: ['security_lead'] })).toBe(true);
    expect(canApprove(p, alice)).toBe(false);
  });

  it('does not depend on the wall clock or mutate its inputs', () => {
    const g = Object.freeze(grant());
    const input = Object.freeze({ ...base, identity: Object.freeze(alice), columns: Object.freeze([SSN]), grants: Object.freeze([g]) });
    expect(decide(input).action).toBe('raw');
    expect(decide({ ...input, now: new Date('2030-01-01T00:00:00Z') }).action).toBe('mask');
  });

  it('resolves the hash key from the environment variable the policy names', () => {
    const q = parsePolicy('version: 1\nhash_key_env: MY_KEY\n');
    expect(resolveHashKey(q, { MY_KEY: 'k' })?.toString()).toBe('k');
    expect(resolveHashKey(q, {})).toBeUndefined();
  });
});
