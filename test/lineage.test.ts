import { beforeAll, describe, expect, it } from 'vitest';
import { CatalogSnapshot } from '../src/catalog/snapshot.js';
import { analyzeSql, type StatementAnalysis } from '../src/sql/analyze.js';
import { loadParser } from '../src/sql/parse.js';
import { valueSources } from '../src/sql/lineage.js';

// app.users(id 1, ssn 2, email 3, name 4); app.orders(id 1, user_id 2, total 3);
// app.users_2024 inherits app.users; app.v_users = view over users.
const catalog = new CatalogSnapshot({
  relations: [
    { oid: 100, schema: 'app', name: 'users', kind: 'table', ancestors: [], columns: [
      { attnum: 1, name: 'id', typeOid: 23 }, { attnum: 2, name: 'ssn', typeOid: 25 },
      { attnum: 3, name: 'email', typeOid: 25 }, { attnum: 4, name: 'name', typeOid: 25 }] },
    { oid: 200, schema: 'app', name: 'orders', kind: 'table', ancestors: [], columns: [
      { attnum: 1, name: 'id', typeOid: 23 }, { attnum: 2, name: 'user_id', typeOid: 23 }, { attnum: 3, name: 'total', typeOid: 1700 }] },
    { oid: 300, schema: 'app', name: 'v_users', kind: 'view', ancestors: [], columns: [
      { attnum: 1, name: 'uid', typeOid: 23 }, { attnum: 2, name: 'tag', typeOid: 25 }],
      viewDefinition: ' SELECT users.id AS uid, lower(users.ssn) AS tag FROM app.users' },
  ],
  memberships: {},
  functions: [{ schema: 'app', name: 'peek', language: 'sql', body: 'select ssn from app.users limit 1' }],
  domainBase: {},
});

beforeAll(async () => { await loadParser(); });

function one(sql: string): StatementAnalysis {
  const r = analyzeSql(sql, catalog);
  if (!r.ok) throw new Error(r.error);
  return r.statements[0];
}
const outs = (sql: string) => one(sql).outputs?.map((o) => [o.name, [...o.sources].sort().join(','), o.direct]);
const hazards = (sql: string) => one(sql).hazards.map((h) => [h.kind, h.where, [...h.sources].sort().join(',')]);

describe('lineage', () => {
  it('direct references in any spelling', () => {
    expect(outs('select ssn from app.users')).toEqual([['ssn', '100:2', true]]);
    expect(outs('select U&"\\0073sn" from users u')).toEqual([['ssn', '100:2', true]]);
    expect(outs('select "SSN" from users')).toEqual([['SSN', '', false]]);
    expect(outs('select u.ssn as x from app.users u')).toEqual([['x', '100:2', true]]);
    expect(outs('select (u).ssn from users u')).toEqual([['ssn', '100:2', true]]);
    expect(outs('table users')?.map((o) => o[1])).toEqual(['100:1', '100:2', '100:3', '100:4']);
  });
  it('star, subqueries, CTEs, joins', () => {
    expect(outs('select * from users')?.map((o) => o[1])).toEqual(['100:1', '100:2', '100:3', '100:4']);
    expect(outs('select s from (select ssn s from users) q')).toEqual([['s', '100:2', true]]);
    expect(outs('with c as (select ssn from users) select * from c')).toEqual([['ssn', '100:2', true]]);
    expect(outs('with recursive r(a, b) as (select 1, ssn from users union all select a + 1, b from r) select a from r')?.[0][1]).toBe('');
    expect(outs('select o.total, u.* from orders o join users u on u.id = o.user_id')?.map((o) => o[1])).toEqual(['200:3', '100:1', '100:2', '100:3', '100:4']);
    expect(outs('select x from users, lateral (select ssn as x) l')).toEqual([['x', '100:2', true]]);
  });
  it('derived values are not direct', () => {
    expect(outs("select upper(ssn), ssn || '', ssn::text, length(ssn) from users")?.map((o) => [o[1], o[2]])).toEqual([
      ['100:2', false], ['100:2', false], ['100:2', false], ['100:2', false]]);
    expect(outs('select string_agg(ssn, \',\') from users')).toEqual([['string_agg', '100:2', false]]);
    expect(outs('select case when ssn like \'1%\' then 1 else 0 end from users')?.[0][1]).toBe('100:2');
    expect(outs('select (select max(ssn) from users) from orders')?.[0][1]).toBe('100:2');
    expect(outs('select id from users union select length(ssn) from users')?.[0][1]).toBe('100:1,100:2');
  });
  it('whole-row references', () => {
    expect(outs('select u from users u')?.[0][1]).toBe('100:1,100:2,100:3,100:4');
    expect(outs('select row_to_json(u) from users u')?.[0][1]).toBe('100:1,100:2,100:3,100:4');
    expect(outs('select to_jsonb(u.*) from users u')?.[0][1]).toBe('100:1,100:2,100:3,100:4');
  });
  it('views resolve to base columns, and carry their own column keys for policy entries on them', () => {
    expect(outs('select * from app.v_users')).toEqual([['uid', '100:1,300:1', true], ['tag', '100:2,300:2', false]]);
    const [uid, tag] = one('select * from app.v_users').outputs ?? [];
    expect(valueSources(uid.sources, catalog)).toEqual(['100:1']);
    expect(valueSources(tag.sources, catalog)).toEqual(['100:2']);
  });
  it('hazards: filters, copies, functions', () => {
    expect(hazards("select id from users where ssn = '1'")).toEqual([['filter', 'WHERE', '100:2']]);
    expect(hazards('select id from users order by ssn')).toEqual([['filter', 'ORDER BY', '100:2']]);
    expect(hazards('select ssn from users order by 1')).toEqual([['filter', 'ORDER BY', '100:2']]);
    expect(hazards('create table x as select ssn from users')[0][0]).toBe('copy');
    expect(hazards('select ssn into y from users')[0][0]).toBe('copy');
    expect(hazards('insert into orders(id) select length(ssn) from users')[0][0]).toBe('copy');
    expect(hazards("select set_config('a.b', ssn, false) from users")[0]).toEqual(['copy', 'set_config()', '100:2']);
    expect(hazards('select app.peek()')[0][0]).toBe('function');
    expect(hazards('do $$ begin perform ssn from app.users; end $$')[0][0]).toBe('function');
    expect(hazards('select query from pg_stat_activity')[0][0]).toBe('system');
  });
  it('statement kinds', () => {
    expect(one('declare c cursor for select ssn from users').cursorQuery?.outputs?.[0].sources.has('100:2')).toBe(true);
    expect(one('fetch 10 from c').kind).toBe('fetch');
    expect(one('prepare p as select ssn from users').prepared?.outputs?.[0].direct).toBe(true);
    expect(one('copy users to stdout with (format csv)').copy?.format).toBe('csv');
    expect(one('copy users to stdout csv header').copy).toMatchObject({ format: 'csv', header: true, delimiter: ',' });
    expect(one('copy (select ssn from users) to stdout').outputs?.[0].sources.has('100:2')).toBe(true);
    expect(one('create table z (a int)').kind).toBe('ddl');
    expect(analyzeSql('selec 1', catalog).ok).toBe(false);
  });
});

import { parsePolicy } from '../src/policy/index.js';
import { isHarmlessRead } from '../src/gate/screen.js';

describe('screen (parse-free fast path)', () => {
  const policy = parsePolicy('version: 1\ncolumns:\n  app.users.ssn: { mask: redact }\n', 'screen.yaml');
  it('passes plain reads that name nothing sensitive', () => {
    expect(isHarmlessRead('SELECT total FROM app.orders WHERE id = 5;', catalog, policy)).toBe(true);
    expect(isHarmlessRead('select 1', catalog, policy)).toBe(true);
  });
  it('sends anything that names a sensitive relation, view or function, or is unusual, to the full analysis', () => {
    for (const sql of [
      'SELECT total FROM app.orders o JOIN app.users u ON u.id = o.user_id',
      'SELECT * FROM "USERS"',
      'SELECT * FROM app.v_users', // a view over users
      'SELECT app.peek()', // a function whose body reads users
      'SELECT * FROM U&"\\0075sers"',
      'SELECT 1; SELECT 2',
      'UPDATE app.orders SET total = 0',
      'SELECT * INTO x FROM app.orders',
      "SELECT query_to_xml('select 1', true, false, '')",
      'SELECT * FROM pg_stats',
      '/* comment */ SELECT 1',
    ]) expect(isHarmlessRead(sql, catalog, policy), sql).toBe(false);
  });
});
