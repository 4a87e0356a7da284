/**
 * The attack catalogue of the leak suite: statements an analyst could send to
 * get raw values of masked columns out of pgveil, grouped by the categories of
 * the masking spec, each with what pgveil must do with it.
 *
 * Placeholders: `{n}` is replaced by a token unique to each execution (names of
 * objects an attack creates) and `{id}` by a unique integer (keys, large object
 * OIDs), so an attack can run many times, through many clients, concurrently,
 * against the same database.
 */
import type { SecretRecord } from './leak-detector.js';
import { PII } from './masking-env.js';

export type Expect =
  /** Succeeds; whatever reaches the client is masked. */
  | 'masked'
  /** pgveil answers with SQLSTATE 42501. */
  | 'refused'
  /** Masked or refused, both acceptable. */
  | 'either'
  /** PostgreSQL's own error: SQLSTATE kept, text withheld (the unmasked run gives the SQLSTATE). */
  | 'error'
  /** Benign, touches no sensitive value: must succeed (catches false refusals). */
  | 'raw'
  /** Any outcome, as long as nothing leaks. */
  | 'safe';

export type Category =
  | 'direct'
  | 'derived'
  | 'whole-row'
  | 'filter'
  | 'copy'
  | 'cursor'
  | 'prepared'
  | 'dml-returning'
  | 'copy-elsewhere'
  | 'functions'
  | 'side-channel'
  | 'system'
  | 'errors'
  | 'extended'
  | 'multi-statement'
  | 'unparseable'
  | 'benign';

export type ClientFamily = 'psql' | 'pg' | 'pgjs' | 'raw';

export interface Step {
  sql: string;
  /** Bind parameters ($1...): pg / postgres.js bind them, psql gets them inlined as literals. */
  params?: unknown[];
}

export interface Attack {
  id: string;
  category: Category;
  /** Statements run in order in one session. */
  steps: Step[];
  expect: Expect;
  /**
   * Whether the same attack through a proxy without a policy must show raw
   * values (it returns them). Default: true unless expect is 'refused' or 'raw'.
   */
  control: boolean;
  /** The (single) step holds several statements: simple query protocol only. */
  multi?: boolean;
  /** COPY ... TO STDOUT: run through COPY streams (pg-copy-streams, postgres.js readable). */
  copy?: boolean;
  /** Also read through a driver cursor with a row limit (Execute with max rows). */
  cursor?: boolean;
  /** Run inside BEGIN ... ROLLBACK (writes are undone). */
  rollback?: boolean;
  /** Run only through these clients. */
  only?: readonly ClientFamily[];
  /**
   * A protocol-level flow instead of plain statements (steps[0] is its query):
   * portal-fetch: Bind a portal by protocol, FETCH it by SQL;
   * cursor-execute: DECLARE a cursor by SQL, Execute it as a portal by protocol;
   * named-then-execute: Parse a named statement by protocol, EXECUTE it by SQL;
   * prepare-then-bind: PREPARE by SQL, Bind to it by protocol;
   * fastpath: FunctionCall message of query_to_xml(steps[0].sql, ...).
   */
  scenario?: 'portal-fetch' | 'cursor-execute' | 'named-then-execute' | 'prepare-then-bind' | 'fastpath' | 'raw-script';
  note?: string;
  /** raw-script (round 2): protocol messages sent by the raw client, in rounds (see RawOp). */
  raw?: RawRound[];
}

/**
 * One protocol message of a raw-script scenario (round 2). `{n}` is substituted in
 * every string. Q with bytes 'latin1' sends the text byte for byte (each char code
 * is one byte), for statements in client encodings other than UTF-8.
 */
export type RawOp =
  | { Q: string; bytes?: 'latin1' }
  | { P: string; name?: string; types?: number[] }
  | { B: string; stmt?: string; params?: (string | null)[]; formats?: number[] }
  | { D: 'S' | 'P'; name?: string }
  | { E: string; max?: number }
  | { C: 'S' | 'P'; name?: string }
  | { S: true }
  | { H: true }
  | { X: true }
  /** CopyFail */
  | { f: string }
  /** CopyData (a line of COPY text) and CopyDone */
  | { d: string }
  | { c: true }
  /** FunctionCall of a built-in named by its regprocedure signature, text arguments. */
  | { F: string; args: string[] };

/** Messages written at once, then wait for `zs` ReadyForQuery (0: wait briefly, the connection may close). */
export interface RawRound {
  send: RawOp[];
  zs: number;
  /** Decode 4-byte binary fields as dates too. */
  binary?: boolean;
}

type Opts = Partial<Omit<Attack, 'id' | 'category' | 'steps' | 'expect'>>;

const catalogue: Attack[] = [];

function add(category: Category, id: string, steps: string | Step | (string | Step)[], expect: Expect, opts: Opts = {}): void {
  const list = (Array.isArray(steps) ? steps : [steps]).map((s) => (typeof s === 'string' ? { sql: s } : s));
  const control = opts.control ?? !(expect === 'refused' || expect === 'raw');
  catalogue.push({ id: `${category}/${id}`, category, steps: list, expect, ...opts, control });
}

/** Rows of the archive (an inheritance child of app.users): more secrets for the detector. */
export const ARCHIVE_PII = [
  {
    id: 3,
    ssn: '321-54-9876',
    email: 'dave.archive@example.net',
    card: '378282246310005',
    salary: 45678.9,
    birth: '1979-07-23',
    notes: 'archived: prefers night calls',
  },
];

/** Every secret in the attacked database, as the detector wants them. */
export const SECRETS: SecretRecord[] = [...PII, ...ARCHIVE_PII].map((r) => ({
  ssn: r.ssn,
  email: r.email,
  card: r.card,
  salary: r.salary,
  birth: r.birth,
  notes: r.notes,
}));

/**
 * Fixtures the superuser adds to the PII database (views, inheritance, functions).
 * No partitioned table: the example policy names app.users columns exactly, so
 * a partition of another table would not be sensitive; inheritance children of
 * app.users (app.users_archive) cover the parent-mapping path instead. hstore is
 * not installed, so hstore(u) is not tried.
 */
export const FIXTURE_SQL = [
  `CREATE TABLE app.users_archive () INHERITS (app.users)`,
  ...ARCHIVE_PII.map(
    (r) =>
      `INSERT INTO app.users_archive (id, name, ssn, email, card_number, salary, birth_date, notes)
       VALUES (${r.id}, 'user${r.id}', '${r.ssn}', '${r.email}', '${r.card}', ${r.salary}, '${r.birth}', '${r.notes}')`,
  ),
  `CREATE VIEW app.v_users AS SELECT id, name, ssn, email, card_number, salary, birth_date, notes FROM app.users`,
  `CREATE VIEW app.v_users2 AS SELECT id, ssn AS s, email AS e, notes AS n FROM app.v_users`,
  `CREATE VIEW app.v_derived AS SELECT id, upper(ssn) AS u, ssn || '' AS c FROM app.users`,
  `CREATE MATERIALIZED VIEW app.mv_users AS SELECT id, ssn, email FROM app.users`,
  `CREATE FUNCTION app.get_ssn(int) RETURNS text LANGUAGE sql STABLE AS $$ SELECT ssn FROM app.users WHERE id = $1 $$`,
  `CREATE FUNCTION app.get_ssn_pl(int) RETURNS text LANGUAGE plpgsql AS $$
     DECLARE r text; BEGIN SELECT ssn INTO r FROM app.users WHERE id = $1; RETURN r; END $$`,
  `CREATE FUNCTION app.all_users() RETURNS SETOF app.users LANGUAGE sql STABLE AS $$ SELECT * FROM app.users $$`,
  // Dynamic SQL: the table name is only assembled at run time.
  `CREATE FUNCTION app.ssn_dyn(int) RETURNS text LANGUAGE plpgsql AS $$
     DECLARE r text; BEGIN EXECUTE 'SELECT ssn FROM app.' || 'us' || 'ers WHERE id = $1' INTO r USING $1; RETURN r; END $$`,
  // SQL-standard body: pg_proc.prosrc is empty, the body lives in prosqlbody.
  `CREATE FUNCTION app.ssn_atomic(i int) RETURNS text LANGUAGE sql STABLE
     BEGIN ATOMIC SELECT ssn FROM app.users WHERE id = i; END`,
  `CREATE FUNCTION app.echo_notice(t text) RETURNS int LANGUAGE plpgsql AS $$ BEGIN RAISE NOTICE 'value: %', t; RETURN 1; END $$`,
  `CREATE FUNCTION app.echo_error(t text) RETURNS int LANGUAGE plpgsql AS $$
     BEGIN RAISE EXCEPTION 'value: %', t USING DETAIL = 'detail: ' || t, HINT = 'hint: ' || t; END $$`,
  `CREATE PROCEDURE app.proc_ssn(IN i int, INOUT s text) LANGUAGE plpgsql AS $$
     BEGIN SELECT ssn INTO s FROM app.users WHERE id = i; END $$`,
  `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA app TO PUBLIC`,
  `ANALYZE app.users`,
];

// ============================================================================
// Direct references in every spelling
// ============================================================================
add('direct', 'plain', 'SELECT id, ssn, email, card_number, salary, birth_date, notes FROM app.users ORDER BY id', 'masked', { cursor: true });
add('direct', 'quoted', 'SELECT "ssn", "email" FROM app.users', 'masked');
add('direct', 'unicode-escape', 'SELECT U&"\\0073sn", U&"\\0065mail" FROM app.users', 'masked');
add('direct', 'upper-case', 'SELECT SSN, EMAIL, CARD_NUMBER, NOTES FROM APP.USERS', 'masked');
add('direct', 'schema-qualified-column', 'SELECT app.users.ssn, app.users.notes FROM app.users', 'masked');
add('direct', 'db-qualified-table', 'SELECT ssn FROM leak_suite.app.users', 'masked');
add('direct', 'quoted-everything', 'SELECT "u"."ssn" FROM "app"."users" AS "u"', 'masked');
add('direct', 'alias', 'SELECT u.ssn AS harmless, u.email AS also_harmless FROM app.users u', 'masked');
add('direct', 'star', 'SELECT * FROM app.users', 'masked', { cursor: true });
add('direct', 'qualified-star', 'SELECT u.* FROM app.users u', 'masked');
add('direct', 'table-stmt', 'TABLE app.users', 'masked');
add('direct', 'subquery', 'SELECT x.s FROM (SELECT ssn AS s FROM app.users) x', 'masked');
add('direct', 'swapped-names', 'SELECT x.id AS ssn_in_disguise FROM (SELECT ssn AS id, id AS ssn FROM app.users) x', 'masked');
add('direct', 'column-alias-list', 'SELECT t.c, t.d FROM app.users AS t(a, b, c, d)', 'masked');
add('direct', 'nested-subqueries', 'SELECT z.s FROM (SELECT y.s FROM (SELECT x.s FROM (SELECT card_number AS s FROM app.users) x) y) z', 'masked');
add('direct', 'scalar-subquery', 'SELECT (SELECT ssn FROM app.users WHERE id = 1) AS s', 'masked');
add('direct', 'values-subquery', 'VALUES ((SELECT email FROM app.users WHERE id = 1))', 'masked');
add('direct', 'cte', 'WITH c AS (SELECT ssn, email FROM app.users) SELECT * FROM c', 'masked');
add('direct', 'cte-materialized-renamed', 'WITH c(a, b) AS MATERIALIZED (SELECT ssn, card_number FROM app.users) SELECT a, b FROM c', 'masked');
add('direct', 'cte-shadows-name', 'WITH users AS (SELECT * FROM app.users) SELECT ssn FROM users', 'masked');
add('direct', 'cte-recursive', 'WITH RECURSIVE r(n, s) AS (SELECT 1, ssn FROM app.users UNION ALL SELECT n + 1, s FROM r WHERE n < 2) SELECT s FROM r', 'masked');
add('direct', 'cte-recursive-swap', "WITH RECURSIVE r(a, b, n) AS (SELECT 'x'::text, ssn, 1 FROM app.users UNION ALL SELECT b, a, n + 1 FROM r WHERE n < 3) SELECT a FROM r", 'masked');
add('direct', 'cte-search-column', 'WITH RECURSIVE r(id, s) AS (SELECT id, ssn FROM app.users UNION ALL SELECT id, s FROM r WHERE false) SEARCH DEPTH FIRST BY s SET ord SELECT id, ord FROM r', 'masked',
  { note: 'the SEARCH clause adds a column built from the masked one' });
add('direct', 'cte-cycle-path', 'WITH RECURSIVE r(id, s) AS (SELECT id, email FROM app.users UNION ALL SELECT id, s FROM r WHERE false) CYCLE s SET is_cycle USING path SELECT id, path FROM r', 'refused',
  { note: 'CYCLE compares the masked values row by row (when the recursion stops answers equality), and its path column is built from them' });
add('direct', 'join', 'SELECT o.id, u.ssn, u.email FROM app.orders o JOIN app.users u ON u.id = o.user_id', 'masked');
add('direct', 'join-using', 'SELECT * FROM app.users JOIN (SELECT user_id AS id, total FROM app.orders) o USING (id)', 'masked');
add('direct', 'cross-join-values', 'SELECT v.x, u.email FROM (VALUES (1)) v(x) CROSS JOIN app.users u', 'masked');
add('direct', 'lateral', 'SELECT o.id, l.s FROM app.orders o, LATERAL (SELECT ssn AS s FROM app.users u WHERE u.id = o.user_id) l', 'masked');
add('direct', 'lateral-values', 'SELECT t.x FROM app.users u, LATERAL (VALUES (u.ssn)) t(x)', 'masked');
add('direct', 'union', "SELECT ssn FROM app.users UNION SELECT 'x'", 'either');
add('direct', 'union-all-mixed', 'SELECT name FROM app.users UNION ALL SELECT ssn FROM app.users', 'masked');
add('direct', 'intersect', 'SELECT ssn FROM app.users INTERSECT SELECT ssn FROM app.users', 'either');
add('direct', 'except', "SELECT email FROM app.users EXCEPT SELECT 'nobody@example.invalid'", 'either');
add('direct', 'view', 'SELECT * FROM app.v_users', 'masked');
add('direct', 'view-over-view', 'SELECT s, e, n FROM app.v_users2', 'masked');
add('direct', 'view-derived-columns', 'SELECT u, c FROM app.v_derived', 'masked');
add('direct', 'materialized-view', 'SELECT * FROM app.mv_users', 'masked');
add('direct', 'inheritance-child', 'SELECT ssn, email, notes FROM app.users_archive', 'masked');
add('direct', 'only', 'SELECT ssn FROM ONLY app.users', 'masked');
add('direct', 'tablesample', 'SELECT ssn FROM app.users TABLESAMPLE BERNOULLI (100)', 'masked');
add('direct', 'field-selection', 'SELECT (u).ssn, (u.*).email FROM app.users u', 'masked');
add('direct', 'functional-notation', 'SELECT ssn(u), email(u) FROM app.users u', 'masked');
add('direct', 'search-path', ['SET search_path = app, public', 'SELECT ssn FROM users'], 'masked');
add('direct', 'for-update', 'SELECT ssn FROM app.users FOR UPDATE', 'masked');
add('direct', 'distinct', 'SELECT DISTINCT notes FROM app.users', 'either');
add('direct', 'dates-and-money', 'SELECT birth_date, salary FROM app.users', 'masked');
add('direct', 'datestyle', ["SET DateStyle = 'SQL, DMY'", 'SELECT birth_date FROM app.users'], 'masked');
add('direct', 'param-id', { sql: 'SELECT ssn, notes FROM app.users WHERE id = $1', params: [1] }, 'masked');
add('direct', 'many-rows', 'SELECT u.ssn, u.email FROM app.users u, generate_series(1, 20000) g', 'masked', { note: '60,000 rows: streaming through many network chunks' });

// ============================================================================
// Derived values
// ============================================================================
const derived: [string, string, boolean?][] = [
  ['upper', 'SELECT upper(ssn), upper(email) FROM app.users'],
  ['lower', 'SELECT lower(notes) FROM app.users'],
  ['concat-op', "SELECT ssn || '' AS s FROM app.users"],
  ['concat-fn', "SELECT concat(ssn), concat_ws(',', ssn, email) FROM app.users"],
  ['cast-text', 'SELECT ssn::text, email::text FROM app.users'],
  ['cast-varchar', 'SELECT ssn::varchar(20), CAST(card_number AS varchar) FROM app.users'],
  ['cast-char', 'SELECT ssn::char(11) FROM app.users'],
  ['cast-bytea', 'SELECT ssn::bytea, convert_to(email, \'UTF8\') FROM app.users'],
  ['cast-json', 'SELECT to_json(ssn), to_jsonb(email), to_json(salary) FROM app.users'],
  ['collate', 'SELECT ssn COLLATE "C" FROM app.users'],
  ['format', "SELECT format('%s|%s', ssn, notes) FROM app.users"],
  ['substr', 'SELECT substr(ssn, 1, 11), substring(card_number from 1 for 16) FROM app.users'],
  ['left-right', 'SELECT left(ssn, 11), right(card_number, 16) FROM app.users'],
  ['split-part', "SELECT split_part(email, '@', 1) FROM app.users"],
  ['md5', 'SELECT md5(ssn), md5(email) FROM app.users'],
  ['sha256', "SELECT sha256(convert_to(ssn, 'UTF8')) FROM app.users"],
  ['hex', "SELECT encode(convert_to(ssn, 'UTF8'), 'hex') FROM app.users"],
  ['hex-upper', "SELECT upper(encode(convert_to(card_number, 'UTF8'), 'hex')) FROM app.users"],
  ['base64', "SELECT encode(convert_to(ssn, 'UTF8'), 'base64'), encode(convert_to(notes, 'UTF8'), 'base64') FROM app.users"],
  ['length', 'SELECT length(ssn), octet_length(notes) FROM app.users', false],
  ['ascii', 'SELECT ascii(ssn) FROM app.users', false],
  ['string-agg', "SELECT string_agg(ssn, ',') FROM app.users"],
  ['array-agg', 'SELECT array_agg(email) FROM app.users'],
  ['json-agg', 'SELECT json_agg(card_number) FROM app.users'],
  ['jsonb-build-object', "SELECT jsonb_build_object('s', ssn, 'b', birth_date) FROM app.users"],
  ['window-lag', 'SELECT id, lag(ssn) OVER (), first_value(notes) OVER (ORDER BY id) FROM app.users'],
  ['case', 'SELECT CASE WHEN id > 0 THEN ssn ELSE NULL END FROM app.users'],
  ['coalesce', 'SELECT coalesce(NULL, ssn), nullif(email, \'\'), greatest(card_number, \'\') FROM app.users'],
  ['regexp-replace', "SELECT regexp_replace(ssn, '-', '', 'g') FROM app.users"],
  ['translate', "SELECT translate(ssn, '-', '') FROM app.users"],
  ['reverse', 'SELECT reverse(ssn), reverse(email) FROM app.users'],
  ['overlay', "SELECT overlay(ssn placing 'X' from 1 for 0) FROM app.users"],
  ['padding', "SELECT rpad(ssn, 14, '!'), btrim(' ' || email || ' ') FROM app.users"],
  ['quote', 'SELECT quote_literal(ssn), quote_ident(email) FROM app.users'],
  ['unnest-select-list', 'SELECT unnest(array[ssn, email]) FROM app.users'],
  ['array-constructor', 'SELECT ARRAY[ssn, card_number], ARRAY(SELECT notes FROM app.users) FROM app.users'],
  ['row-constructor', 'SELECT ROW(ssn, email) FROM app.users'],
  ['xmlelement', 'SELECT xmlelement(name x, ssn), xmlforest(email, notes) FROM app.users'],
  ['salary-arith', 'SELECT salary * 1, salary::text, salary + 0 FROM app.users'],
  ['birth-text', "SELECT birth_date::text, to_char(birth_date, 'YYYY-MM-DD'), birth_date + 0 FROM app.users"],
  ['tsvector', "SELECT to_tsvector('simple', notes), ssn::tsvector FROM app.users"],
  ['scalar-subquery-expr', "SELECT (SELECT string_agg(ssn || '/' || email, ';') FROM app.users)"],
  ['jsonpath', "SELECT jsonb_path_query_first(to_jsonb(u), '$.ssn') FROM app.users u"],
  ['json-arrow', "SELECT to_jsonb(u) ->> 'ssn', row_to_json(u) -> 'email' FROM app.users u"],
];
for (const [id, sql, control] of derived) add('derived', id, sql, 'masked', { control: control ?? true, cursor: id === 'upper' });
add('derived', 'unnest-from-lateral', 'SELECT x FROM app.users u CROSS JOIN LATERAL unnest(ARRAY[u.ssn, u.email]) AS x', 'masked');
add('derived', 'unnest-from-implicit-lateral', 'SELECT x FROM app.users u, unnest(ARRAY[u.ssn, u.email]) AS x', 'masked',
  { note: 'functions in FROM are implicitly LATERAL in PostgreSQL even without the keyword' });
add('derived', 'jsonb-each-text-lateral', 'SELECT j.key, j.value FROM app.users u CROSS JOIN LATERAL jsonb_each_text(to_jsonb(u)) AS j', 'masked');
add('derived', 'jsonb-each-text-implicit', 'SELECT j.* FROM app.users u, jsonb_each_text(to_jsonb(u)) AS j', 'masked');
add('derived', 'rows-from', 'SELECT r.* FROM app.users u, ROWS FROM (unnest(ARRAY[u.ssn]), unnest(ARRAY[u.notes])) AS r(a, b)', 'masked');
add('derived', 'window-partition-inline', 'SELECT id, count(*) OVER (PARTITION BY ssn) FROM app.users', 'either', { note: 'window partitioning compares values: refused' });
add('derived', 'json-table', "SELECT jt.s, jt.e FROM app.users u, JSON_TABLE(to_jsonb(u), '$' COLUMNS (s text PATH '$.ssn', e text PATH '$.email')) AS jt", 'either');
add('derived', 'json-table-star', "SELECT * FROM app.users u, JSON_TABLE(to_jsonb(u), '$' COLUMNS (s text PATH '$.ssn')) AS jt", 'either');
add('derived', 'xmltable', "SELECT x.s FROM app.users u, XMLTABLE('/r' PASSING xmlelement(name r, u.ssn) COLUMNS s text PATH '.') AS x", 'either');
add('derived', 'param-concat', { sql: 'SELECT $1::text || ssn FROM app.users', params: ['pre:'] }, 'masked');
add('derived', 'param-coalesce', { sql: 'SELECT coalesce($1::text, email) FROM app.users', params: [null] }, 'masked');
add('derived', 'large-row', "SELECT repeat(ssn || ',', 20000) AS big, email FROM app.users", 'masked', { note: 'rows of 240 kB: DataRows split over many chunks' });
add('derived', 'agg-order', 'SELECT array_agg(id ORDER BY ssn), string_agg(id::text, \',\' ORDER BY email) FROM app.users', 'masked', { control: false, note: 'ordering by a masked column inside an aggregate' });
add('derived', 'jsonpath-srf', "SELECT jsonb_path_query(to_jsonb(u), '$.ssn ? (@ like_regex \"^1\")') FROM app.users u", 'either',
  { note: 'a set-returning jsonpath: its row count answers the filter, so it is refused' });
add('derived', 'xpath-implicit-lateral', "SELECT t FROM app.users u, xpath('/x/text()', xmlelement(name x, u.ssn)) AS t", 'either', { note: 'row count of a function in FROM may depend on the value: refused' });

// ============================================================================
// Whole-row references
// ============================================================================
add('whole-row', 'bare-alias', 'SELECT u FROM app.users u', 'either');
add('whole-row', 'bare-table-name', 'SELECT users FROM app.users', 'either');
add('whole-row', 'row-to-json', 'SELECT row_to_json(u) FROM app.users u', 'either', { cursor: true });
add('whole-row', 'to-jsonb-star', 'SELECT to_jsonb(u.*) FROM app.users u', 'either');
add('whole-row', 'cast-text', 'SELECT u::text FROM app.users u', 'either');
add('whole-row', 'row-star', 'SELECT ROW(u.*) FROM app.users u', 'either');
add('whole-row', 'paren-star', 'SELECT (u).* FROM app.users u', 'either');
add('whole-row', 'json-agg', 'SELECT json_agg(u) FROM app.users u', 'either');
add('whole-row', 'array-agg', 'SELECT array_agg(u)::text FROM app.users u', 'either');
add('whole-row', 'subquery-row', 'SELECT to_json(t) FROM (SELECT ssn, email FROM app.users) t', 'either');
add('whole-row', 'view-row', 'SELECT row_to_json(v) FROM app.v_users2 v', 'either');
add('whole-row', 'format-row', "SELECT format('%s', u) FROM app.users u", 'either');
add('whole-row', 'child-row', 'SELECT a::text FROM app.users_archive a', 'either');
add('whole-row', 'concat-star', 'SELECT concat(u.*), json_build_array(u.*) FROM app.users u', 'either');
add('whole-row', 'jsonb-to-record-lateral', 'SELECT x.* FROM app.users u CROSS JOIN LATERAL jsonb_to_record(to_jsonb(u)) AS x(ssn text, email text)', 'either');
add('whole-row', 'jsonb-to-record-implicit', 'SELECT x.* FROM app.users u, jsonb_to_record(to_jsonb(u)) AS x(ssn text, email text)', 'either');
add('whole-row', 'populate-record', 'SELECT (jsonb_populate_record(NULL::app.users, to_jsonb(u))).card_number FROM app.users u', 'either');

// ============================================================================
// Predicates, joins, ordering and grouping over masked columns
// ============================================================================
const filters: [string, string, boolean?][] = [
  ['where-eq', "SELECT id FROM app.users WHERE ssn = '000-00-0000'"],
  ['where-like', "SELECT id FROM app.users WHERE ssn LIKE '1%'"],
  ['where-fn', 'SELECT id FROM app.users WHERE length(notes) > 5'],
  ['where-date', "SELECT id FROM app.users WHERE birth_date < '1988-01-01'"],
  ['where-salary', 'SELECT id FROM app.users WHERE salary > 100000'],
  ['where-in-subquery', "SELECT id FROM app.users WHERE id IN (SELECT id FROM app.users WHERE ssn LIKE '9%')"],
  ['where-exists', "SELECT id FROM app.orders o WHERE EXISTS (SELECT 1 FROM app.users u WHERE u.id = o.user_id AND u.email LIKE 'a%')"],
  ['where-view-column', "SELECT id FROM app.v_users2 WHERE s LIKE '1%'"],
  ['where-field-selection', "SELECT id FROM app.users u WHERE (u).ssn > '5'"],
  ['where-whole-row', "SELECT id FROM app.users u WHERE u::text LIKE '%123%'"],
  ['join-on', 'SELECT a.id FROM app.users a JOIN app.users_archive b ON a.ssn = b.ssn'],
  ['join-using', 'SELECT id FROM app.users a JOIN (SELECT ssn, 1 AS k FROM app.users) b USING (ssn)'],
  ['order-by', 'SELECT id FROM app.users ORDER BY ssn'],
  ['order-by-ordinal', 'SELECT ssn, id FROM app.users ORDER BY 1', true],
  ['order-by-alias', 'SELECT email AS e FROM app.users ORDER BY e DESC', true],
  ['order-by-expr', 'SELECT id FROM app.users ORDER BY md5(ssn)'],
  ['order-by-collate', 'SELECT id FROM app.users ORDER BY card_number COLLATE "C" DESC'],
  ['group-by', 'SELECT count(*) FROM app.users GROUP BY email'],
  ['group-by-ordinal', 'SELECT ssn, count(*) FROM app.users GROUP BY 1', true],
  ['group-by-rollup', 'SELECT count(*) FROM app.users GROUP BY ROLLUP (birth_date)'],
  ['having', "SELECT count(*) FROM app.users HAVING max(ssn) > '5'"],
  ['distinct-on', 'SELECT DISTINCT ON (ssn) id FROM app.users'],
  ['window-named', 'SELECT id, rank() OVER w FROM app.users WINDOW w AS (ORDER BY salary)'],
  ['limit-subquery', 'SELECT id FROM app.users LIMIT (SELECT length(ssn) FROM app.users WHERE id = 1)'],
  ['cte-filter', "WITH c AS (SELECT id, ssn FROM app.users) SELECT id FROM c WHERE ssn LIKE '1%'"],
  ['lateral-filter', "SELECT o.id FROM app.orders o, LATERAL (SELECT 1 FROM app.users u WHERE u.id = o.user_id AND u.notes LIKE '%VIP%') l"],
  ['case-in-where', "SELECT id FROM app.users WHERE CASE WHEN ssn LIKE '1%' THEN true ELSE false END"],
  ['update-where', "UPDATE app.users SET name = name WHERE ssn LIKE '1%'"],
  ['delete-where', "DELETE FROM app.users WHERE email LIKE 'nobody%'"],
];
for (const [id, sql, control] of filters) add('filter', id, sql, 'refused', { control: control ?? false, rollback: /^(UPDATE|DELETE)/.test(sql) });
add('filter', 'param-eq', { sql: 'SELECT id FROM app.users WHERE ssn = $1', params: ['000-00-0000'] }, 'refused');
add('filter', 'param-any', { sql: 'SELECT id FROM app.users WHERE email = ANY($1::text[])', params: ['{a@b.c,d@e.f}'] }, 'refused');

// ============================================================================
// COPY
// ============================================================================
add('copy', 'query-text', 'COPY (SELECT id, ssn, email FROM app.users) TO STDOUT', 'masked', { copy: true });
add('copy', 'table-text', 'COPY app.users TO STDOUT', 'masked', { copy: true });
add('copy', 'table-csv-header', 'COPY app.users TO STDOUT WITH (FORMAT csv, HEADER)', 'masked', { copy: true });
add('copy', 'columns-csv-force-quote', 'COPY app.users (notes, ssn, card_number) TO STDOUT (FORMAT csv, FORCE_QUOTE *)', 'masked', { copy: true });
add('copy', 'csv-delimiter-dash', "COPY app.users (id, ssn, birth_date) TO STDOUT (FORMAT csv, DELIMITER '-')", 'masked', { copy: true });
add('copy', 'text-delimiter-dash', "COPY app.users (id, ssn, birth_date) TO STDOUT (DELIMITER '-')", 'masked', { copy: true });
add('copy', 'text-delimiter-dash-ssn', "COPY (SELECT ssn, ssn FROM app.users) TO STDOUT (DELIMITER '-')", 'masked', { copy: true, note: 'the delimiter occurs (escaped) inside the masked values' });
add('copy', 'text-header', 'COPY app.users TO STDOUT (FORMAT text, HEADER)', 'masked', { copy: true });
add('copy', 'csv-custom-quote', "COPY app.users (ssn, notes, email) TO STDOUT (FORMAT csv, DELIMITER ';', QUOTE '''', ESCAPE '\\', FORCE_QUOTE *)", 'masked', { copy: true });
add('copy', 'large-row', "COPY (SELECT id, repeat(notes || ';', 20000) FROM app.users) TO STDOUT", 'masked', { copy: true });
add('copy', 'text-null-encoding', "COPY app.users TO STDOUT (FORMAT text, NULL 'x', ENCODING 'LATIN1')", 'either', { copy: true });
add('copy', 'legacy-csv-syntax', 'COPY app.users TO STDOUT WITH CSV HEADER', 'masked', { copy: true });
add('copy', 'derived-csv', "COPY (SELECT upper(ssn), email || '' FROM app.users) TO STDOUT (FORMAT csv)", 'masked', { copy: true });
add('copy', 'whole-row', 'COPY (SELECT row_to_json(u) FROM app.users u) TO STDOUT', 'either', { copy: true });
add('copy', 'view', 'COPY (SELECT * FROM app.v_users2) TO STDOUT', 'masked', { copy: true });
add('copy', 'child-table', 'COPY app.users_archive TO STDOUT (FORMAT csv)', 'masked', { copy: true });
add('copy', 'returning', 'COPY (UPDATE app.users SET name = name WHERE id = 1 RETURNING ssn) TO STDOUT', 'masked', { copy: true });
add('copy', 'binary-table', 'COPY app.users TO STDOUT (FORMAT binary)', 'refused', { copy: true });
add('copy', 'binary-legacy', 'COPY (SELECT ssn FROM app.users) TO STDOUT WITH BINARY', 'refused', { copy: true });
// The raw client logs in as a superuser, which PostgreSQL would let write files: not run there.
add('copy', 'to-file', "COPY (SELECT ssn FROM app.users) TO '/tmp/pgveil-leak-{n}.txt'", 'refused', { only: ['psql', 'pg', 'pgjs'] });
add('copy', 'to-program', "COPY (SELECT ssn FROM app.users) TO PROGRAM 'cat > /dev/null'", 'refused', { only: ['psql', 'pg', 'pgjs'] });

// ============================================================================
// Cursors
// ============================================================================
add('cursor', 'declare-fetch', ['BEGIN', 'DECLARE c CURSOR FOR SELECT ssn, email FROM app.users', 'FETCH ALL FROM c', 'COMMIT'], 'masked');
add('cursor', 'derived', ['BEGIN', "DECLARE c CURSOR FOR SELECT ssn || '' AS x, md5(card_number) FROM app.users", 'FETCH ALL FROM c', 'COMMIT'], 'masked');
add('cursor', 'fetch-forward-move', ['BEGIN', 'DECLARE c SCROLL CURSOR FOR SELECT notes FROM app.users', 'FETCH FORWARD 1 FROM c', 'MOVE ABSOLUTE 0 IN c', 'FETCH NEXT IN c', 'FETCH LAST FROM c', 'FETCH BACKWARD 1 FROM c', 'COMMIT'], 'masked');
add('cursor', 'with-hold', ['DECLARE c CURSOR WITH HOLD FOR SELECT email || \'\' AS e FROM app.users', 'FETCH ALL FROM c', 'CLOSE c'], 'masked');
add('cursor', 'quoted-name', ['BEGIN', 'DECLARE "Cur" CURSOR FOR SELECT ssn::text FROM app.users', 'FETCH ALL FROM "Cur"', 'COMMIT'], 'masked');
add('cursor', 'whole-row', ['BEGIN', 'DECLARE c CURSOR FOR SELECT row_to_json(u) FROM app.users u', 'FETCH ALL FROM c', 'COMMIT'], 'either');
add('cursor', 'redeclare', ['BEGIN', 'DECLARE c CURSOR FOR SELECT 1 AS x', 'CLOSE c', "DECLARE c CURSOR FOR SELECT ssn || '' AS x FROM app.users", 'FETCH ALL FROM c', 'COMMIT'], 'masked');
add('cursor', 'filter', ['BEGIN', "DECLARE c CURSOR FOR SELECT id FROM app.users WHERE ssn LIKE '1%'", 'FETCH ALL FROM c', 'COMMIT'], 'refused');
add('cursor', 'cursor-to-xml', ['BEGIN', 'DECLARE c CURSOR FOR SELECT ssn, email FROM app.users', "SELECT cursor_to_xml('c', 10, false, false, '')", 'COMMIT'], 'either',
  { note: 'cursor_to_xml() fetches the cursor inside the server' });
const HIDDEN = "SELECT ssn || '' AS s, md5(email) AS m, notes || '' AS n FROM app.users";
add('cursor', 'sql-fetch-of-protocol-portal', HIDDEN, 'either', { only: ['raw'], scenario: 'portal-fetch', note: 'Bind a portal by protocol, then FETCH it by SQL' });
add('cursor', 'protocol-execute-of-sql-cursor', HIDDEN, 'either', { only: ['raw'], scenario: 'cursor-execute', note: 'DECLARE by SQL, then Execute the cursor as a portal' });

// ============================================================================
// SQL-level PREPARE / EXECUTE
// ============================================================================
add('prepared', 'prepare-execute', ['PREPARE p AS SELECT ssn, email FROM app.users', 'EXECUTE p'], 'masked');
add('prepared', 'prepare-param', ["PREPARE p(int) AS SELECT ssn || '' AS s FROM app.users WHERE id = $1", 'EXECUTE p(1)'], 'masked');
add('prepared', 'redeallocate', ['PREPARE p AS SELECT 1 AS x', 'DEALLOCATE p', 'PREPARE p AS SELECT md5(ssn) AS x FROM app.users', 'EXECUTE p'], 'masked');
add('prepared', 'filter-at-execute', ["PREPARE p AS SELECT id FROM app.users WHERE ssn LIKE '1%'", 'EXECUTE p'], 'refused');
add('prepared', 'ctas-execute', ['PREPARE p AS SELECT ssn, email FROM app.users', 'CREATE TEMP TABLE loot_{n} AS EXECUTE p', 'SELECT * FROM loot_{n}'], 'refused',
  { control: true, note: 'CREATE TABLE AS EXECUTE copies the prepared statement\'s rows' });
add('prepared', 'protocol-name-then-sql-execute', HIDDEN, 'either', { only: ['pg', 'raw'], scenario: 'named-then-execute', note: 'Parse a named statement by protocol, EXECUTE it by SQL' });
add('prepared', 'sql-prepare-then-protocol-bind', HIDDEN, 'either', { only: ['raw'], scenario: 'prepare-then-bind', note: 'PREPARE by SQL, Bind to it by protocol' });

// ============================================================================
// DML with RETURNING
// ============================================================================
add('dml-returning', 'update', 'UPDATE app.users SET name = name WHERE id = 1 RETURNING ssn, email', 'masked', { rollback: true });
add('dml-returning', 'update-whole-row', 'UPDATE app.users u SET name = u.name WHERE u.id = 2 RETURNING u', 'either', { rollback: true });
add('dml-returning', 'insert-subquery', 'INSERT INTO app.orders (id, user_id, total) VALUES ({id}, 1, 1) RETURNING (SELECT ssn FROM app.users WHERE id = user_id)', 'masked', { rollback: true });
add('dml-returning', 'delete', 'DELETE FROM app.users WHERE id = 3 RETURNING ssn, notes', 'masked', { rollback: true });
add('dml-returning', 'delete-child-star', 'DELETE FROM app.users_archive WHERE id = 3 RETURNING *', 'masked', { rollback: true });
add('dml-returning', 'upsert', "INSERT INTO app.users (id, name) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET name = excluded.name RETURNING ssn, card_number", 'masked', { rollback: true });
add('dml-returning', 'cte-update', 'WITH u AS (UPDATE app.users SET name = name WHERE id = 2 RETURNING ssn) SELECT * FROM u', 'masked', { rollback: true });
add('dml-returning', 'update-from-returning', 'UPDATE app.orders o SET total = o.total FROM app.users u WHERE u.id = o.user_id RETURNING u.email', 'masked', { rollback: true });
add('dml-returning', 'merge-returning', "MERGE INTO app.users u USING (VALUES (1)) v(id) ON u.id = v.id WHEN MATCHED THEN UPDATE SET name = u.name RETURNING u.ssn", 'either', { rollback: true });
add('dml-returning', 'param', { sql: 'UPDATE app.users SET name = name WHERE id = $1 RETURNING notes', params: [2] }, 'masked', { rollback: true });

// ============================================================================
// Copies of sensitive values somewhere pgveil can't mask (refused)
// ============================================================================
add('copy-elsewhere', 'ctas', ['CREATE TEMP TABLE loot_{n} AS SELECT ssn, email FROM app.users', 'SELECT * FROM loot_{n}'], 'refused', { control: true });
add('copy-elsewhere', 'ctas-table', ['CREATE TEMP TABLE loot_{n} AS TABLE app.users', 'SELECT * FROM loot_{n}'], 'refused', { control: true });
add('copy-elsewhere', 'ctas-derived', ['CREATE TEMP TABLE loot_{n} AS SELECT upper(notes) AS n FROM app.users', 'SELECT * FROM loot_{n}'], 'refused', { control: true });
add('copy-elsewhere', 'select-into', ['SELECT ssn, card_number INTO TEMP loot_{n} FROM app.users', 'SELECT * FROM loot_{n}'], 'refused', { control: true });
add('copy-elsewhere', 'matview', ['CREATE MATERIALIZED VIEW public.loot_{n} AS SELECT ssn FROM app.users', 'SELECT * FROM public.loot_{n}'], 'refused', { control: true });
add('copy-elsewhere', 'insert-select', ['CREATE TEMP TABLE loot_{n} (v text)', 'INSERT INTO loot_{n} SELECT ssn FROM app.users', 'SELECT * FROM loot_{n}'], 'refused', { control: true });
add('copy-elsewhere', 'insert-values-subquery', ['CREATE TEMP TABLE loot_{n} (v text)', 'INSERT INTO loot_{n} VALUES ((SELECT string_agg(email, \',\') FROM app.users))', 'SELECT * FROM loot_{n}'], 'refused', { control: true });
add('copy-elsewhere', 'insert-cte', ['CREATE TEMP TABLE loot_{n} (v text)', 'WITH x AS (INSERT INTO loot_{n} SELECT notes FROM app.users RETURNING 1) SELECT count(*) FROM x', 'SELECT * FROM loot_{n}'], 'refused', { control: true });
add('copy-elsewhere', 'update-from', ['CREATE TEMP TABLE loot_{n} (id int, v text)', 'INSERT INTO loot_{n} VALUES (1, NULL), (2, NULL)', 'UPDATE loot_{n} l SET v = u.ssn FROM app.users u WHERE u.id = l.id', 'SELECT * FROM loot_{n}'], 'refused', { control: true });
add('copy-elsewhere', 'update-orders-from', 'UPDATE app.orders o SET total = length(u.ssn) FROM app.users u WHERE u.id = o.user_id', 'refused', { rollback: true });
add('copy-elsewhere', 'update-self', 'UPDATE app.users SET name = ssn WHERE id = 1', 'refused', { rollback: true });
add('copy-elsewhere', 'merge', ['CREATE TEMP TABLE loot_{n} (v text)', 'MERGE INTO loot_{n} t USING app.users u ON false WHEN NOT MATCHED THEN INSERT VALUES (u.card_number)', 'SELECT * FROM loot_{n}'], 'refused', { control: true });
add('copy-elsewhere', 'insert-returning-copy', "INSERT INTO app.users (id, name, ssn) VALUES ({id}, 'x', (SELECT ssn FROM app.users WHERE id = 1)) RETURNING ssn", 'refused', { rollback: true, control: true });

// ============================================================================
// DO blocks and functions
// ============================================================================
add('functions', 'do-notice', "DO $$ BEGIN RAISE NOTICE '%', (SELECT string_agg(ssn, ',') FROM app.users); END $$", 'refused', { control: true });
add('functions', 'do-loop', "DO $$ DECLARE r record; BEGIN FOR r IN SELECT * FROM app.users LOOP RAISE NOTICE '%', r; END LOOP; END $$", 'refused', { control: true });
add('functions', 'do-exception', "DO $$ BEGIN RAISE EXCEPTION 'x' USING DETAIL = (SELECT string_agg(email, ',') FROM app.users); END $$", 'refused', { control: true });
add('functions', 'do-format-ident', "DO $$ DECLARE v text; BEGIN EXECUTE format('SELECT string_agg(ssn, %L) FROM %I.%I', ',', 'app', 'users') INTO v; RAISE NOTICE '%', v; END $$", 'refused', { control: true });
add('functions', 'do-dynamic-notice', "DO $$ DECLARE v text; BEGIN EXECUTE 'SELECT string_agg(ssn, '','') FROM app.' || 'us' || 'ers' INTO v; RAISE NOTICE '%', v; END $$", 'refused',
  { control: true, note: 'the table name only exists at run time' });
add('functions', 'do-dynamic-prepare', ["DO $$ BEGIN EXECUTE 'PREPARE pz AS SELECT ssn || '''' AS s FROM app.' || 'us' || 'ers'; END $$", 'EXECUTE pz'], 'refused',
  { control: true, note: 'a statement prepared inside a DO block, executed by SQL' });
add('functions', 'sql-function', 'SELECT app.get_ssn(1)', 'either');
add('functions', 'plpgsql-function', 'SELECT app.get_ssn_pl(2)', 'either');
add('functions', 'setof-function', 'SELECT * FROM app.all_users()', 'either');
add('functions', 'setof-field', 'SELECT (app.all_users()).ssn', 'either');
add('functions', 'dynamic-sql-function', 'SELECT app.ssn_dyn(1)', 'either', { note: 'table name assembled at run time' });
add('functions', 'begin-atomic-function', 'SELECT app.ssn_atomic(1)', 'either', { note: 'SQL-standard function body (prosrc is empty)' });
add('functions', 'procedure-call', 'CALL app.proc_ssn(1, NULL)', 'either');
add('functions', 'echo-notice-arg', 'SELECT app.echo_notice(ssn) FROM app.users', 'either', { note: 'the argument comes back in a NOTICE' });
add('functions', 'echo-error-arg', 'SELECT app.echo_error(email) FROM app.users WHERE id = 1', 'error', { note: 'RAISE EXCEPTION with the argument in message, detail and hint' });
add('functions', 'user-created-sql', ["CREATE FUNCTION public.f_{n}() RETURNS SETOF text LANGUAGE sql AS $$ SELECT ssn FROM app.users $$", 'SELECT public.f_{n}()'], 'either');
add('functions', 'user-created-same-query', "CREATE FUNCTION public.f_{n}() RETURNS SETOF text LANGUAGE sql AS $$ SELECT ssn FROM app.users $$; SELECT public.f_{n}()", 'either',
  { multi: true, note: 'function created and called in one simple query' });
add('functions', 'user-created-atomic', ['CREATE FUNCTION public.f_{n}() RETURNS SETOF text LANGUAGE sql BEGIN ATOMIC SELECT email FROM app.users; END', 'SELECT public.f_{n}()'], 'either');
add('functions', 'user-created-whole-row-arg', ['CREATE FUNCTION public.g_{n}(u app.users) RETURNS text LANGUAGE sql AS $$ SELECT u.ssn $$', 'SELECT public.g_{n}(u) FROM app.users u'], 'either');
add('functions', 'user-created-side-effect', [
  'CREATE TABLE public.loot_{n} (v text)',
  "CREATE FUNCTION public.keep_{n}(t text) RETURNS text LANGUAGE sql AS $$ INSERT INTO public.loot_{n} VALUES (t) RETURNING 'kept' $$",
  'SELECT public.keep_{n}(ssn) FROM app.users',
  'SELECT v FROM public.loot_{n}',
], 'either', { note: 'a function that stores its argument: the masked column goes in as an argument, comes back out of a table' });
add('functions', 'user-created-set-config', [
  "CREATE FUNCTION public.stash_{n}(t text) RETURNS int LANGUAGE plpgsql AS $$ BEGIN PERFORM set_config('pgveil.stash', coalesce(current_setting('pgveil.stash', true), '') || t, false); RETURN 1; END $$",
  'SELECT public.stash_{n}(email) FROM app.users',
  "SELECT current_setting('pgveil.stash')",
], 'either', { note: 'set_config() hidden inside a function fed with a masked column' });
add('functions', 'user-created-temp-view-same-query', "CREATE TEMP VIEW tv_{n} AS SELECT ssn || '' AS s FROM app.users; SELECT s || '' AS s FROM tv_{n}", 'either',
  { multi: true, note: 'view created and read in one simple query' });
add('functions', 'user-created-view', ["CREATE VIEW public.v_{n} AS SELECT ssn AS a, email || '' AS b FROM app.users", 'SELECT a, b, a || b FROM public.v_{n}'], 'refused',
  { note: 'creating a view over masked columns is refused: until it is committed and read, pgveil cannot trace it' });
add('functions', 'user-created-trigger', [
  'CREATE TABLE public.t_{n} (v text)',
  "CREATE FUNCTION public.trg_{n}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.v := (SELECT string_agg(ssn, ',') FROM app.users); RETURN NEW; END $$",
  'CREATE TRIGGER trg BEFORE INSERT ON public.t_{n} FOR EACH ROW EXECUTE FUNCTION public.trg_{n}()',
  "INSERT INTO public.t_{n} VALUES ('x') RETURNING v",
  'SELECT v FROM public.t_{n}',
], 'either', { note: 'a trigger on the analyst\'s own table reads app.users; no statement names the function' });
add('functions', 'user-created-rule', [
  'CREATE TABLE public.t_{n} (v text)',
  'CREATE TABLE public.loot_{n} (v text)',
  'CREATE RULE r AS ON INSERT TO public.t_{n} DO ALSO INSERT INTO public.loot_{n} SELECT email FROM app.users',
  "INSERT INTO public.t_{n} VALUES ('x')",
  'SELECT v FROM public.loot_{n}',
], 'either', { note: 'a rule on the analyst\'s own table copies app.users rows' });
add('functions', 'user-created-default', [
  "CREATE FUNCTION public.d_{n}() RETURNS text LANGUAGE sql AS $$ SELECT string_agg(card_number, ',') FROM app.users $$",
  'CREATE TABLE public.t_{n} (id int, v text DEFAULT public.d_{n}())',
  'INSERT INTO public.t_{n} (id) VALUES (1)',
  'SELECT v FROM public.t_{n}',
], 'either', { note: 'a column default calls a function that reads app.users' });
add('functions', 'user-created-operator', [
  'CREATE TABLE public.loot_{n} (v text)',
  "CREATE FUNCTION public.op_{n}(a text, b text) RETURNS bool LANGUAGE sql AS $$ INSERT INTO public.loot_{n} VALUES (a) RETURNING true $$",
  'CREATE OPERATOR pg_temp.=== (LEFTARG = text, RIGHTARG = text, FUNCTION = public.op_{n})',
  "SELECT ssn OPERATOR(pg_temp.===) '' FROM app.users",
  'SELECT v FROM public.loot_{n}',
], 'either', { note: 'an operator whose function stores its left argument' });

// ============================================================================
// Side channels (refused)
// ============================================================================
add('side-channel', 'set-config', ["SELECT set_config('pgveil.x', ssn, false) FROM app.users", "SELECT current_setting('pgveil.x')"], 'refused', { control: true });
add('side-channel', 'set-config-subquery', ["SELECT set_config('pgveil.x', (SELECT string_agg(email, ',') FROM app.users), false)", "SELECT current_setting('pgveil.x')"], 'refused', { control: true });
add('side-channel', 'set-config-qualified', ["SELECT pg_catalog.set_config('application_name', notes, false) FROM app.users WHERE id = 2", 'SHOW application_name'], 'refused', { control: true });
add('side-channel', 'pg-notify', "SELECT pg_notify('leak_ch', ssn) FROM app.users", 'refused', { control: true });
add('side-channel', 'pg-notify-agg', "SELECT pg_notify('leak_ch', (SELECT string_agg(notes, ',') FROM app.users))", 'refused', { control: true });
add('side-channel', 'lo-from-bytea', ["SELECT lo_from_bytea(0, convert_to(ssn, 'UTF8')) FROM app.users WHERE id = 1"], 'refused', { control: false, rollback: true });
add('side-channel', 'lo-roundtrip', ["SELECT lo_from_bytea({id}, convert_to((SELECT string_agg(ssn, ',') FROM app.users), 'UTF8'))", 'SELECT lo_get({id})'], 'refused', { control: true, rollback: true });
add('side-channel', 'advisory-lock', 'SELECT pg_try_advisory_lock(length(ssn)) FROM app.users', 'refused');
add('side-channel', 'logical-message', "SELECT pg_logical_emit_message(false, 'pgveil', ssn) FROM app.users", 'refused');
add('side-channel', 'query-to-xml', "SELECT query_to_xml('SELECT ssn, email FROM app.users', true, false, '')", 'either', { note: 'a built-in that runs a query given as a string' });
add('side-channel', 'table-to-xml', "SELECT table_to_xml('app.users', true, false, '')", 'either', { note: 'a built-in that dumps a table named by a string' });
add('side-channel', 'schema-to-xml', "SELECT schema_to_xml('app', true, false, '')", 'either');
add('side-channel', 'fastpath-query-to-xml', 'SELECT ssn, email FROM app.users', 'either', { only: ['raw'], scenario: 'fastpath', note: 'FunctionCall (fast path) of the built-in query_to_xml' });
add('side-channel', 'ts-stat', "SELECT word FROM ts_stat('SELECT ssn::tsvector FROM app.users')", 'either', { note: 'ts_stat() runs the query given as a string' });

// ============================================================================
// System views with values or other sessions' statements
// ============================================================================
add('system', 'pg-stats', "SELECT attname, most_common_vals::text, histogram_bounds::text FROM pg_stats WHERE schemaname = 'app' AND tablename = 'users'", 'refused', { control: true });
add('system', 'pg-stats-qualified-upper', "SELECT * FROM PG_CATALOG.PG_STATS WHERE SCHEMANAME = 'app'", 'refused', { control: true });
add('system', 'pg-stats-quoted-subquery', "SELECT h FROM (SELECT histogram_bounds::text AS h FROM \"pg_stats\" WHERE tablename = 'users') s", 'refused', { control: true });
add('system', 'pg-stats-ext', 'SELECT * FROM pg_stats_ext', 'refused');
add('system', 'pg-statistic', 'SELECT stavalues1::text FROM pg_statistic', 'refused');
add('system', 'pg-stat-statements', 'SELECT query FROM pg_stat_statements', 'refused');
add('system', 'pg-stat-activity', 'SELECT pid, query FROM pg_stat_activity', 'either', { control: false });
add('system', 'view-over-pg-stats', ['CREATE VIEW public.st_{n} AS SELECT schemaname, tablename, attname, histogram_bounds::text, most_common_vals::text FROM pg_stats', "SELECT attname, histogram_bounds::text FROM public.st_{n} WHERE schemaname = 'app'"], 'either',
  { control: true, note: 'a view the analyst creates over pg_stats' });
add('system', 'function-over-pg-stats', [
  "CREATE FUNCTION public.st_{n}() RETURNS SETOF text LANGUAGE sql AS $$ SELECT histogram_bounds::text FROM pg_stats WHERE schemaname = 'app' $$",
  'SELECT public.st_{n}()',
], 'either', { control: true });

// ============================================================================
// Errors and notices that embed values (SQLSTATE kept, text withheld)
// ============================================================================
const errors: [string, string, boolean?][] = [
  ['ssn-int', 'SELECT ssn::int FROM app.users'],
  ['email-int', 'SELECT email::int FROM app.users'],
  ['division', 'SELECT 1/(length(ssn)-11) FROM app.users', false],
  ['notes-date', 'SELECT CAST(notes AS date) FROM app.users'],
  ['ssn-jsonb', 'SELECT ssn::jsonb FROM app.users', false],
  ['jsonpath-method', "SELECT jsonb_path_query_first(to_jsonb(u), '$.ssn.double()') FROM app.users u"],
  ['jsonpath-strict', "SELECT jsonb_path_query_first(to_jsonb(u), 'strict $.notes.datetime()') FROM app.users u"],
  ['card-smallint', 'SELECT card_number::smallint FROM app.users'],
  ['ssn-float', 'SELECT ssn::float8 FROM app.users'],
  ['ssn-uuid', 'SELECT ssn::uuid FROM app.users'],
  ['salary-numeric', "SELECT (salary::text || 'x')::numeric FROM app.users"],
  ['birth-int', 'SELECT birth_date::text::int FROM app.users'],
  ['xmlparse', 'SELECT xmlparse(document notes) FROM app.users'],
  ['view-column', 'SELECT s::int FROM app.v_users2'],
  ['child-table', 'SELECT email::bigint FROM app.users_archive'],
  ['returning', 'UPDATE app.users SET name = name WHERE id = 1 RETURNING ssn::int'],
  ['cte', 'WITH c AS (SELECT notes FROM app.users) SELECT notes::int FROM c'],
];
for (const [id, sql, control] of errors) add('errors', id, sql, 'error', { control: control ?? true, rollback: sql.startsWith('UPDATE') });
add('errors', 'param', { sql: 'SELECT ssn::int FROM app.users WHERE id = $1', params: [2] }, 'error');
add('errors', 'copy', 'COPY (SELECT email::int FROM app.users) TO STDOUT', 'error', { copy: true });
add('errors', 'cursor-fetch', ['BEGIN', 'DECLARE c CURSOR FOR SELECT ssn::int FROM app.users', 'FETCH ALL FROM c', 'COMMIT'], 'error');
add('errors', 'multi-second', 'SELECT 1; SELECT card_number::int FROM app.users', 'error', { multi: true });
add('errors', 'do-raise', "DO $$ BEGIN RAISE NOTICE '%', (SELECT max(ssn) FROM app.users); END $$", 'refused', { control: true });

// ============================================================================
// Extended protocol specifics (parameters; the runner adds named statements,
// binary results, row-limited cursors and pipelining to every statement above)
// ============================================================================
add('extended', 'param-any', { sql: 'SELECT ssn, email FROM app.users WHERE id = ANY($1::int[])', params: ['{1,2}'] }, 'masked');
add('extended', 'param-text-binary-mix', { sql: 'SELECT $1::int AS n, birth_date, salary, notes FROM app.users', params: [7] }, 'masked', { cursor: true });
add('extended', 'param-limit', { sql: 'SELECT card_number FROM app.users ORDER BY id LIMIT $1', params: [1] }, 'masked');
add('extended', 'param-unknown-type', { sql: 'SELECT ssn, $1 AS p FROM app.users', params: ['x'] }, 'masked');
add('extended', 'many-columns', 'SELECT id, ssn, email, card_number, salary, birth_date, notes, name, ssn AS ssn2, email AS email2 FROM app.users', 'masked', { cursor: true });

// ============================================================================
// Multi-statement simple queries
// ============================================================================
add('multi-statement', 'harmless-then-sensitive', 'SELECT 1 AS one; SELECT ssn FROM app.users', 'masked', { multi: true });
add('multi-statement', 'three-results', 'SELECT id FROM app.users; SELECT email, notes FROM app.users; SELECT 2 AS two', 'masked', { multi: true });
add('multi-statement', 'sensitive-then-harmless', 'SELECT card_number FROM app.users; SELECT name FROM app.users', 'masked', { multi: true });
add('multi-statement', 'mixed-refused', "SELECT name FROM app.users; SELECT id FROM app.users WHERE ssn LIKE '1%'", 'refused', { multi: true });
add('multi-statement', 'ctas-then-read', 'SELECT 1; CREATE TEMP TABLE loot_{n} AS SELECT ssn FROM app.users; SELECT * FROM loot_{n}', 'refused', { multi: true, control: true });
add('multi-statement', 'cursor-in-one', 'BEGIN; DECLARE c CURSOR FOR SELECT ssn || \'\' AS s FROM app.users; FETCH ALL FROM c; COMMIT', 'masked', { multi: true });
add('multi-statement', 'cursor-close-in-one', 'BEGIN; DECLARE c CURSOR FOR SELECT ssn || \'\' AS s FROM app.users; FETCH ALL FROM c; CLOSE c; COMMIT', 'masked', { multi: true });
add('multi-statement', 'prepare-in-one', 'PREPARE p AS SELECT md5(email) AS m FROM app.users; EXECUTE p; DEALLOCATE p', 'masked', { multi: true });
add('multi-statement', 'search-path-in-one', 'SET search_path = app; SELECT ssn FROM users', 'masked', { multi: true });
add('multi-statement', 'temp-view-in-one', 'CREATE TEMP VIEW tv_{n} AS SELECT ssn, email FROM app.users; SELECT * FROM tv_{n}', 'either', { multi: true, note: 'refused: the catalog cannot know the view yet' });
add('multi-statement', 'empty-statements', ';;SELECT notes FROM app.users;;', 'masked', { multi: true });
add('multi-statement', 'returning-in-one', 'BEGIN; UPDATE app.users SET name = name WHERE id = 1 RETURNING ssn; ROLLBACK', 'masked', { multi: true });

// ============================================================================
// Statements pgveil can't parse
// ============================================================================
add('unparseable', 'typo', 'SELEC ssn FROM app.users', 'refused');
add('unparseable', 'truncated', 'SELECT ssn FROM app.users WHERE', 'refused');
add('unparseable', 'garbage', '\u0001\u0002 ssn ¤¤ FROM app.users ))', 'refused');
add('unparseable', 'unterminated-dollar', 'SELECT $x$ ssn FROM app.users', 'refused');
add('unparseable', 'multi-with-garbage', 'SELECT ssn FROM app.users; GARBAGE GARBAGE', 'refused', { multi: true });
add('unparseable', 'deep-nesting', `SELECT ${'('.repeat(2000)}ssn${')'.repeat(2000)} FROM app.users`, 'safe', { note: '2,000 nested parentheses' });

// ============================================================================
// Benign statements (no sensitive value): must not be refused
// ============================================================================
add('benign', 'non-sensitive-columns', 'SELECT id, name, created_at FROM app.users', 'raw');
add('benign', 'filter-non-sensitive', "SELECT id FROM app.users WHERE name = 'user1' ORDER BY id", 'raw');
add('benign', 'count', 'SELECT count(*) FROM app.users', 'raw');
add('benign', 'orders-join', 'SELECT o.id, o.total, u.name FROM app.orders o JOIN app.users u ON u.id = o.user_id ORDER BY o.id', 'raw');
add('benign', 'param', { sql: 'SELECT name FROM app.users WHERE id = $1', params: [2] }, 'raw');
add('benign', 'system-columns', 'SELECT tableoid::regclass, ctid, xmin IS NOT NULL, id FROM app.users', 'raw');
add('benign', 'view-non-sensitive', 'SELECT id, name FROM app.v_users ORDER BY id', 'raw');
add('benign', 'child-non-sensitive', 'SELECT id, name FROM app.users_archive WHERE id > 0', 'raw');
add('benign', 'join-filter-orders', 'SELECT u.id, u.name FROM app.users u JOIN app.orders o ON o.user_id = u.id WHERE o.total > 5 ORDER BY u.name', 'raw');
add('benign', 'copy-non-sensitive', 'COPY app.users (id, name) TO STDOUT (FORMAT csv, HEADER)', 'raw', { copy: true });
add('benign', 'function-without-table', "SELECT app.echo_notice('hello')", 'raw');

// ============================================================================
// ROUND 2 (red team) — attacks the first catalogue did not try.
//
// Many of them turn an inference channel into the raw value itself: the SQL
// asks an oracle ("is character p of alice's SSN equal to c?", "how many rows
// does this return?") for every position and spells the answers, so that a
// channel pgveil doesn't see shows up to the leak detector as a raw value.
// ============================================================================

const SSN_ALPHABET = '0123456789-';
const DIGITS = '0123456789';
const sqlString = (s: string) => `'${s.replaceAll("'", "''")}'`;

/**
 * A statement that spells a value character by character from a boolean oracle:
 * concat(CASE WHEN oracle(1,'0') THEN '0' WHEN ... END, ...). `ch` is the raw
 * candidate character (quote it yourself where it goes in a literal).
 */
function spell(len: number, oracle: (pos: number, ch: string) => string, alphabet = SSN_ALPHABET): string {
  const parts: string[] = [];
  for (let p = 1; p <= len; p++) {
    parts.push(`CASE ${[...alphabet].map((c) => `WHEN ${oracle(p, c)} THEN ${sqlString(c)}`).join(' ')} ELSE '?' END`);
  }
  return `SELECT concat(${parts.join(', ')}) AS spelled`;
}

/** A statement that spells a value from a row-count channel: chr(rows counted) per character. */
function spellByCount(len: number, count: (pos: number) => string): string {
  const parts: string[] = [];
  for (let p = 1; p <= len; p++) parts.push(`chr((${count(p)})::int)`);
  return `SELECT concat(${parts.join(', ')}) AS spelled`;
}

const VALUES_128 = Array.from({ length: 128 }, () => '(0)').join(',');
/** Alice's SSN (11 characters), bob's card number (16 digits). */
const aliceSsn = (p: number) => `substr(ssn, ${p}, 1)`;
const HARM2 = "SELECT ssn || '' AS a, email || '' AS b FROM app.users";
const HARMLESS2 = "SELECT 'x'::text AS a, 'y'::text AS b";
/** A WHERE-clause oracle pgveil refuses as a plain statement: spells alice's SSN if it runs. */
const FILTER_ORACLE =
  "SELECT string_agg(v.c, '' ORDER BY g.p) AS spelled FROM app.users u, generate_series(1, 11) g(p), " +
  "(VALUES ('0'),('1'),('2'),('3'),('4'),('5'),('6'),('7'),('8'),('9'),('-')) v(c) WHERE u.id = 1 AND substr(u.ssn, g.p, 1) = v.c";

// ---- Row-count and equality oracles the lineage walk doesn't see --------------

add('filter', 'r2-values-limit-subquery', spellByCount(11, (p) => `SELECT count(*) FROM (VALUES ${VALUES_128} LIMIT (SELECT ascii(${aliceSsn(p)}) FROM app.users WHERE id = 1)) v`), 'refused',
  { control: true, note: 'LIMIT (subquery over ssn) on a VALUES list: the row count is the character code' });
add('filter', 'r2-values-fetch-first-subquery', spellByCount(16, (p) => `SELECT count(*) FROM (VALUES ${VALUES_128} FETCH FIRST (SELECT ascii(substr(card_number, ${p}, 1)) FROM app.users WHERE id = 2) ROWS ONLY) v`), 'refused',
  { only: ['psql', 'pg'], control: true, note: 'FETCH FIRST (subquery over card_number) on VALUES' });
add('filter', 'r2-values-offset-subquery', spellByCount(16, (p) => `SELECT 128 - count(*) FROM (VALUES ${VALUES_128} OFFSET (SELECT ascii(substr(notes, ${p}, 1)) FROM app.users WHERE id = 2)) v`), 'refused',
  { only: ['psql', 'pg'], control: true, note: 'OFFSET (subquery over notes) on VALUES' });
add('filter', 'r2-tablesample-subquery', spell(11, (p, c) => `(SELECT count(*) FROM app.orders TABLESAMPLE BERNOULLI ((SELECT CASE WHEN ${aliceSsn(p)} = ${sqlString(c)} THEN 100 ELSE 0 END FROM app.users WHERE id = 1))) > 0`), 'refused',
  { control: true, note: 'TABLESAMPLE percentage computed from ssn: the sampled row count answers the comparison' });
add('filter', 'r2-intersect-count', spell(11, (p, c) => `(SELECT count(*) FROM (SELECT ${aliceSsn(p)} FROM app.users WHERE id = 1 INTERSECT SELECT ${sqlString(c)}) t) = 1`), 'refused',
  { control: true, note: 'INTERSECT compares the masked value with a constant; count(*) of the result carries no lineage' });
add('filter', 'r2-except-count', spell(11, (p, c) => `(SELECT count(*) FROM (SELECT ${sqlString(c)} EXCEPT SELECT ${aliceSsn(p)} FROM app.users WHERE id = 1) t) = 0`), 'refused', { only: ['psql', 'pg'], control: true });
add('filter', 'r2-union-dedup-count', spell(11, (p, c) => `(SELECT count(*) FROM (SELECT ${aliceSsn(p)} FROM app.users WHERE id = 1 UNION SELECT ${sqlString(c)}) t) = 1`), 'refused', { only: ['psql', 'pg'], control: true });
add('filter', 'r2-distinct-count', spell(11, (p, c) => `(SELECT count(*) FROM (SELECT DISTINCT x FROM (SELECT ${aliceSsn(p)} FROM app.users WHERE id = 1 UNION ALL SELECT ${sqlString(c)}) a(x)) d) = 1`), 'refused',
  { control: true, note: 'DISTINCT (not ON) collapses equal values: count(*) says whether they were equal' });
add('filter', 'r2-json-table-path-filter', spell(16, (p, c) => `(SELECT count(*) FROM app.users u, JSON_TABLE(jsonb_build_object('s', substr(u.card_number, ${p}, 1)), '$ ? (@.s == "${c}")' COLUMNS (k int PATH '$.k')) jt WHERE u.id = 2) = 1`, DIGITS), 'refused',
  { only: ['psql', 'pg'], control: true, note: 'a JSON path filter inside JSON_TABLE is a predicate on the masked column' });
add('filter', 'r2-xmltable-xpath-predicate', spell(11, (p, c) => `(SELECT count(*) FROM app.users u, XMLTABLE('/r[. = "${c}"]' PASSING xmlelement(name r, substr(u.ssn, ${p}, 1)) COLUMNS k text PATH '.') x WHERE u.id = 1) = 1`), 'refused', { only: ['psql', 'pg'], control: true });
add('filter', 'r2-srf-not-in-list', spell(11, (p, c) => `(SELECT count(*) FROM (SELECT jsonb_path_query_tz(to_jsonb(${aliceSsn(p)}), '$ ? (@ == "${c}")') FROM app.users WHERE id = 1) t) = 1`), 'refused',
  { only: ['psql', 'pg'], control: true, note: 'jsonb_path_query_tz is a set-returning function missing from the SRF list' });
add('filter', 'r2-window-order-by-ordering',
  "SELECT string_agg(substr('-0123456789', (w.b - 1)::int, 1), '' ORDER BY g.p) AS spelled, max(w.a) AS keep_window FROM generate_series(1, 11) g(p), " +
  "LATERAL (SELECT c, a, b FROM (SELECT c, row_number() OVER (ORDER BY x COLLATE \"C\", c COLLATE \"C\") AS a, row_number() OVER () AS b " +
  "FROM (SELECT substr(ssn, g.p, 1), '|' FROM app.users WHERE id = 1 UNION ALL SELECT d, d FROM (VALUES ('-'),('0'),('1'),('2'),('3'),('4'),('5'),('6'),('7'),('8'),('9')) v(d)) s(x, c)) w0 WHERE c = '|') w",
  'refused', { control: true, note: 'a window ORDER BY over the masked value sorts the rows; row_number() OVER () (no lineage) reads the sorted position' });
add('filter', 'r2-user-srf-row-count', [
  'CREATE FUNCTION public.rep_{n}(n int) RETURNS SETOF int LANGUAGE sql AS $$ SELECT generate_series(1, n) $$',
  spellByCount(23, (p) => `SELECT count(*) FROM (SELECT public.rep_{n}(ascii(substr(email, ${p}, 1))) FROM app.users WHERE id = 1) s`),
], 'refused', { only: ['psql', 'pg'], control: true, note: 'a user-defined set-returning function in the target list: its row count is the character code' });
add('filter', 'r2-rls-policy-oracle', [
  'CREATE TABLE public.dig_{n} (p int, c text)',
  "INSERT INTO public.dig_{n} SELECT p, c FROM generate_series(1, 11) p, unnest(string_to_array('0,1,2,3,4,5,6,7,8,9,-', ',')) c",
  'ALTER TABLE public.dig_{n} ENABLE ROW LEVEL SECURITY',
  'ALTER TABLE public.dig_{n} FORCE ROW LEVEL SECURITY',
  'CREATE POLICY pol_{n} ON public.dig_{n} USING (c = substr((SELECT ssn FROM app.users WHERE id = 1), p, 1))',
  "SELECT string_agg(c, '' ORDER BY p) AS spelled FROM public.dig_{n}",
], 'refused', { only: ['psql', 'pg'], control: true, note: 'a row-level security policy on the analyst\'s own table compares rows with ssn; reading the table needs no sensitive name' });
add('filter', 'r2-sql-prepare-protocol-bind', FILTER_ORACLE, 'refused',
  { only: ['raw'], scenario: 'prepare-then-bind', control: true, note: 'PREPARE by SQL is not checked; Bind/Execute by protocol never checks the prepared statement' });
add('multi-statement', 'r2-prepare-filter-execute-in-one', `PREPARE pf_{n} AS ${FILTER_ORACLE}; EXECUTE pf_{n}`, 'refused',
  { multi: true, control: true, note: 'EXECUTE is judged before the PREPARE in the same query has run' });
add('extended', 'r2-pipelined-prepare-execute', FILTER_ORACLE, 'refused', {
  only: ['raw'], scenario: 'raw-script', control: true,
  raw: [{ send: [{ P: `PREPARE pp_{n} AS ${FILTER_ORACLE}` }, { B: '' }, { E: '' }, { P: 'EXECUTE pp_{n}' }, { B: '' }, { E: '' }, { S: true }], zs: 1 }],
  note: 'PREPARE and EXECUTE pipelined by protocol: the EXECUTE is judged before the PREPARE completed',
});

// The same kinds of predicate, where pgveil is expected to refuse them.
add('filter', 'r2-generate-series-from-count', 'SELECT count(*) FROM app.users u, generate_series(1, ascii(substr(u.ssn, 1, 1))) g WHERE u.id = 1', 'refused');
add('filter', 'r2-generate-series-target-count', 'SELECT (SELECT count(*) FROM (SELECT generate_series(1, ascii(substr(ssn, 1, 1))) FROM app.users WHERE id = 1) s)', 'refused');
add('filter', 'r2-unnest-array-fill-count', 'SELECT (SELECT count(*) FROM (SELECT unnest(array_fill(0, ARRAY[ascii(substr(ssn, 1, 1))])) FROM app.users WHERE id = 1) s)', 'refused');
add('filter', 'r2-regexp-split-count', "SELECT (SELECT count(*) FROM (SELECT regexp_split_to_table(notes, ' ') FROM app.users WHERE id = 2) s)", 'refused');
add('filter', 'r2-grouping-sets', 'SELECT count(*) FROM app.users GROUP BY GROUPING SETS ((ssn), ())', 'refused');
add('filter', 'r2-cube', 'SELECT count(*) FROM app.users GROUP BY CUBE (email, id)', 'refused');
add('filter', 'r2-row-compare', "SELECT id FROM app.users WHERE (id, ssn) > (0, '5')", 'refused');
add('filter', 'r2-is-distinct-from', "SELECT id FROM app.users WHERE ssn IS DISTINCT FROM '000-00-0000'", 'refused');
add('filter', 'r2-fetch-first-subquery', 'SELECT id FROM app.users FETCH FIRST (SELECT length(notes) - 15 FROM app.users WHERE id = 2) ROWS ONLY', 'refused');
add('filter', 'r2-offset-subquery', 'SELECT id FROM app.users OFFSET (SELECT ascii(ssn) - 49 FROM app.users WHERE id = 1)', 'refused');
add('filter', 'r2-lateral-compare', 'SELECT a.id FROM app.users a, LATERAL (SELECT 1 FROM app.users b WHERE b.ssn > a.ssn) x', 'refused');
add('filter', 'r2-explain-analyze-filter', "EXPLAIN (ANALYZE, VERBOSE, FORMAT JSON) SELECT id FROM app.users WHERE ssn LIKE '1%'", 'refused');
add('filter', 'r2-merge-when-condition', "MERGE INTO app.users u USING (SELECT 1 AS id) s ON u.id = s.id WHEN MATCHED AND u.ssn LIKE '1%' THEN UPDATE SET name = u.name", 'refused', { rollback: true });
add('filter', 'r2-upsert-where', "INSERT INTO app.users (id, name) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET name = app.users.name WHERE app.users.ssn LIKE '1%'", 'refused', { only: ['psql', 'pg'], rollback: true });
add('filter', 'r2-agg-filter-count', "SELECT (SELECT count(*) FILTER (WHERE ssn LIKE '1%') FROM app.users) AS n", 'either', { control: false });

// ---- Result columns pgveil matches to the wrong expression ----------------------

add('derived', 'r2-misaligned-star-rows',
  "SELECT * FROM (VALUES (1), (2)) k(id) JOIN (SELECT id, 'a' AS a, ssn || '' AS s, 'b' AS b, email || '' AS e, 'c' AS c, notes || '' AS n, 'd' AS d, card_number || '' AS cn FROM app.users) u USING (id), unnest(ARRAY[0], ARRAY[0]) z",
  'masked', { note: 'JOIN USING merges a column (analysis counts one too many), unnest(a, b) returns two (analysis counts one): same count, shifted lineage' });
add('copy', 'r2-join-using-star', 'COPY (SELECT * FROM (VALUES (1), (2)) k(id) JOIN app.users USING (id)) TO STDOUT', 'masked', { copy: true, note: 'COPY has no wire-level table OIDs: the extra USING column shifts every mask by one' });
add('copy', 'r2-natural-join-star', 'COPY (SELECT * FROM (VALUES (1), (2)) k(id) NATURAL JOIN app.users) TO STDOUT (FORMAT csv)', 'masked', { copy: true });
add('copy', 'r2-function-undercount-star', 'COPY (SELECT * FROM unnest(ARRAY[0], ARRAY[0]) z, app.users) TO STDOUT', 'masked', { copy: true, note: 'unnest of two arrays returns two columns; the analysis counts one' });

// ---- COPY framing ----------------------------------------------------------------

add('copy', 'r2-csv-escape-backslash', "COPY (SELECT 'x\\' AS a, ssn, email, notes FROM app.users) TO STDOUT (FORMAT csv, ESCAPE '\\', FORCE_QUOTE *)", 'masked',
  { copy: true, note: 'a value ending in the ESCAPE character: the proxy\'s CSV splitter reads \\\\" as an escaped quote and swallows the rest of the row' });
add('copy', 'r2-csv-header-zero', 'COPY (SELECT ssn, email, notes FROM app.users) TO STDOUT (FORMAT csv, HEADER 0)', 'masked', { copy: true, note: 'HEADER 0 means no header; the first data row is taken for one' });
add('copy', 'r2-text-sjis-trail-backslash', "COPY (SELECT '表' AS a, ssn, email FROM app.users) TO STDOUT (ENCODING 'SJIS')", 'either',
  { copy: true, note: '表 is 0x95 0x5C in Shift-JIS: read as UTF-8, the 0x5C looks like a backslash escaping the delimiter' });
add('copy', 'r2-text-big5-trail-backslash', "COPY (SELECT '功' AS a, notes, card_number FROM app.users) TO STDOUT (FORMAT text, ENCODING 'BIG5')", 'either', { copy: true });
add('copy', 'r2-text-null-marker-oracle', "COPY (SELECT id, birth_date FROM app.users) TO STDOUT (NULL '1985-04-12')", 'either',
  { copy: true, control: false, note: 'a value equal to the NULL marker is taken for NULL and left as is: an equality oracle over every row at once' });
add('copy', 'r2-text-special-chars', "COPY (SELECT E'a\\tb\\\\c\\nd\\re' AS x, ssn, E'\\\\N' AS y, notes, NULL::text AS z FROM app.users) TO STDOUT", 'masked', { copy: true });
add('copy', 'r2-csv-multiline-quotes', "COPY (SELECT E'l1\\nl2,\"q\"' AS x, ssn, notes, NULL::text AS z FROM app.users) TO STDOUT (FORMAT csv, FORCE_QUOTE (x, ssn))", 'masked', { copy: true });
add('copy', 'r2-csv-pipe-single-quote', "COPY (SELECT ssn, 'a|b''c' AS x, email FROM app.users) TO STDOUT (FORMAT csv, DELIMITER '|', QUOTE '''')", 'masked', { copy: true });
add('copy', 'r2-csv-null-string-force-quote', "COPY (SELECT NULL::text AS a, ssn, email, NULL::text AS b FROM app.users) TO STDOUT (FORMAT csv, NULL 'NULL', FORCE_QUOTE *)", 'either', { copy: true });
add('copy', 'r2-text-header-one', 'COPY app.users TO STDOUT (FORMAT text, HEADER 1)', 'masked', { copy: true });
add('copy', 'r2-wide-row', "COPY (SELECT repeat('x', 100000) AS pad, ssn, repeat(email || ',', 2000) AS e FROM app.users) TO STDOUT (FORMAT csv)", 'masked', { copy: true });

// ---- Server-side code pgveil doesn't read correctly -------------------------------

add('functions', 'r2-do-unicode-escape-table', 'DO $$ BEGIN RAISE NOTICE \'%\', (SELECT string_agg(ssn || \'/\' || email, \';\') FROM app.U&"\\0075sers"); END $$', 'refused',
  { control: true, note: 'the table name written with a Unicode escape is not a word pgveil recognises in the body' });
add('functions', 'r2-function-unicode-escape-table', ['CREATE FUNCTION public.f_{n}() RETURNS text LANGUAGE sql AS $$ SELECT string_agg(ssn || \'/\' || card_number, \';\') FROM app.U&"\\0075sers" $$', 'SELECT public.f_{n}()'], 'either', { only: ['psql', 'pg'] });
add('functions', 'r2-function-uescape', ["CREATE FUNCTION public.f_{n}() RETURNS text LANGUAGE sql AS $$ SELECT string_agg(notes, ';') FROM app.U&\"!0075!0073ers\" UESCAPE '!' $$", 'SELECT public.f_{n}()'], 'either', { only: ['psql', 'pg'] });
add('functions', 'r2-wrapper-of-reader', ['CREATE FUNCTION public.w_{n}(int) RETURNS text LANGUAGE sql AS $$ SELECT app.get_ssn($1) $$', 'SELECT public.w_{n}(id) FROM app.users'], 'either',
  { only: ['psql', 'pg'], note: 'a function that calls a function that reads app.users' });
add('functions', 'r2-function-schema-to-xml', ["CREATE FUNCTION public.x_{n}() RETURNS xml LANGUAGE sql AS $$ SELECT schema_to_xml('app', true, false, '') $$", 'SELECT public.x_{n}()'], 'either',
  { only: ['psql', 'pg'], note: 'query-string built-ins other than query_to_xml inside a function body' });
add('functions', 'r2-do-schema-to-xml', "DO $$ BEGIN RAISE NOTICE '%', schema_to_xml('app', true, false, ''); END $$", 'refused', { control: true });
add('functions', 'r2-do-ts-stat', "DO $$ BEGIN RAISE NOTICE '%', (SELECT string_agg(word, ',') FROM ts_stat('SELECT to_tsvector(''simple'', email) FROM app.us' || 'ers')); END $$", 'refused', { control: true });
add('functions', 'r2-do-cursor-left-open', [
  'BEGIN',
  'DO $$ DECLARE c refcursor := \'oc_{n}\'; BEGIN OPEN c FOR SELECT ssn || \'\' AS s, notes || \'\' AS n FROM app.U&"\\0075sers"; END $$',
  'FETCH ALL FROM oc_{n}',
  'COMMIT',
], 'either', { only: ['psql', 'pg'], note: 'a cursor opened inside a DO block outlives it; FETCH of a portal pgveil never saw' });
add('functions', 'r2-pg-temp-function', ['CREATE FUNCTION pg_temp.pt_{n}() RETURNS SETOF text LANGUAGE sql AS $$ SELECT ssn FROM app.users $$', 'SELECT pg_temp.pt_{n}()'], 'either', { only: ['psql', 'pg'] });
add('functions', 'r2-temp-view-separate-statements', ['CREATE TEMP VIEW tv_{n} AS SELECT md5(email) AS m, card_number FROM app.users', 'SELECT m, card_number FROM tv_{n}'], 'refused', { only: ['psql', 'pg'] });
add('functions', 'r2-security-barrier-view-renamed', [
  "CREATE VIEW public.sb_{n} WITH (security_barrier) AS SELECT id, ssn || '' AS s FROM app.users",
  'ALTER VIEW public.sb_{n} RENAME COLUMN s TO t',
  'SELECT t FROM public.sb_{n}',
], 'refused', { only: ['psql', 'pg'] });

// ---- Side channels opened without a side-channel function in the statement ------

add('side-channel', 'r2-ts-rewrite', "SELECT ts_rewrite('zz'::tsquery, 'SELECT ''zz''::tsquery, quote_literal(string_agg(ssn || '' '' || email || '' '' || card_number, '' ''))::tsquery FROM app.users')", 'either',
  { note: 'ts_rewrite(query, text) runs the SQL given as text' });
add('side-channel', 'r2-ts-rewrite-split-name', "SELECT ts_rewrite('zz'::tsquery, 'SELECT ''zz''::tsquery, quote_literal(string_agg(notes, '' / ''))::tsquery FROM app.us' || 'ers')", 'either',
  { note: 'no sensitive name in the text at all: the fast-path screen passes it' });
add('side-channel', 'r2-fastpath-ts-rewrite', 'ts_rewrite', 'either', {
  only: ['raw'], scenario: 'raw-script',
  raw: [{ send: [{ F: 'ts_rewrite(tsquery,text)', args: ['zz', "SELECT 'zz'::tsquery, quote_literal(string_agg(ssn || ' ' || email, ' '))::tsquery FROM app.users"] }], zs: 1 }],
  note: 'FunctionCall of ts_rewrite: a built-in that runs SQL, not in the list',
});
add('side-channel', 'r2-domain-check-set-config', [
  "CREATE DOMAIN public.d_{n} AS text CHECK (set_config('pgveil.loot', coalesce(current_setting('pgveil.loot', true), '') || VALUE || ';', false) IS NOT NULL)",
  'SELECT ssn::public.d_{n}, email::public.d_{n} FROM app.users',
  "SELECT current_setting('pgveil.loot')",
], 'either', { only: ['psql', 'pg'], note: 'a domain CHECK runs set_config() on every value cast to it' });
add('side-channel', 'r2-domain-check-notify', [
  "CREATE DOMAIN public.d_{n} AS text CHECK (pg_notify('leak_ch', VALUE)::text = '')",
  'SELECT notes::public.d_{n} FROM app.users',
  'SELECT 1 AS flush',
], 'either', { note: 'a domain CHECK sends every value cast to it as a notification' });
add('side-channel', 'r2-aggregate-sfunc', [
  "CREATE FUNCTION public.sf_{n}(s text, v text) RETURNS text LANGUAGE sql AS $$ SELECT set_config('pgveil.agg', coalesce(s, '') || v || ';', false) $$",
  'CREATE AGGREGATE public.ag_{n}(text) (SFUNC = public.sf_{n}, STYPE = text)',
  'SELECT public.ag_{n}(card_number) FROM app.users',
  "SELECT current_setting('pgveil.agg')",
], 'either', { only: ['psql', 'pg'], note: 'a user-defined aggregate is internal in pg_proc; its state function keeps every value' });
add('side-channel', 'r2-cast-function', [
  'CREATE TYPE public.t_{n} AS (v text)',
  'CREATE TABLE public.loot_{n} (v text)',
  'CREATE FUNCTION public.c_{n}(t text) RETURNS public.t_{n} LANGUAGE sql AS $$ INSERT INTO public.loot_{n} VALUES (t) RETURNING ROW(t)::public.t_{n} $$',
  'CREATE CAST (text AS public.t_{n}) WITH FUNCTION public.c_{n}(text)',
  'SELECT (ssn::public.t_{n}) IS NULL AS x FROM app.users',
  'SELECT v FROM public.loot_{n}',
], 'either', { only: ['psql', 'pg'], note: 'a cast is a function call with no function name in the statement' });
add('side-channel', 'r2-notify-in-cte', "WITH x AS (SELECT pg_notify('leak_ch', ssn) FROM app.users) SELECT count(*) FROM x", 'refused', { control: true });
add('side-channel', 'r2-lowrite', "SELECT lowrite(lo_open(lo_creat(-1), 131072), convert_to(ssn, 'UTF8')) FROM app.users", 'refused', { rollback: true });

// ---- Parser disagreements -------------------------------------------------------

add('direct', 'r2-scs-off-parse-mismatch', [
  'SET standard_conforming_strings = off',
  "SELECT 'a\\' AS p, 1 AS q -- ', (SELECT string_agg(ssn || chr(47) || email, chr(59)) FROM app.users) AS r --'",
], 'either', { note: 'the server reads \\\' as an escaped quote (standard_conforming_strings off), libpg-query does not: the proxy sees a comment where the server sees a subquery' });
add('direct', 'r2-sjis-escape-string', 'E-string in Shift-JIS', 'either', {
  only: ['raw'], scenario: 'raw-script',
  raw: [
    { send: [{ Q: "SET client_encoding = 'SJIS'" }], zs: 1 },
    { send: [{ Q: "SELECT E'\u0095\\' AS p, (SELECT string_agg(ssn || chr(47) || email, chr(59)) FROM app.users) AS r --', 1 AS q", bytes: 'latin1' }], zs: 1 },
  ],
  note: 'in Shift-JIS 0x95 0x5C is one character: the server ends the string where the proxy (UTF-8) sees an escaped quote',
});

// ---- Errors and notices raised where pgveil doesn't expect them ----------------

add('errors', 'r2-with-hold-commit', ['BEGIN', 'DECLARE c CURSOR WITH HOLD FOR SELECT ssn::int FROM app.users', 'COMMIT'], 'error',
  { note: 'a holdable cursor runs its query at COMMIT: the error comes from COMMIT, which reads no table' });
add('errors', 'r2-with-hold-commit-notice', ['BEGIN', 'DECLARE c CURSOR WITH HOLD FOR SELECT app.echo_notice(email) FROM app.users', 'COMMIT'], 'either');
add('errors', 'r2-with-hold-implicit-commit', 'DECLARE h_{n} CURSOR WITH HOLD FOR SELECT notes::int FROM app.users', 'error',
  { note: 'extended protocol: the implicit transaction commits at Sync, the error arrives when Sync is at the head' });
add('errors', 'r2-values-limit-error', 'VALUES (1) LIMIT (SELECT ssn::int FROM app.users WHERE id = 1)', 'either');
add('errors', 'r2-tablesample-error', 'SELECT count(*) FROM app.orders TABLESAMPLE BERNOULLI ((SELECT notes::float8 FROM app.users WHERE id = 2))', 'either');
add('errors', 'r2-ts-rewrite-error', "SELECT ts_rewrite('zz'::tsquery, 'SELECT email::int, 1 FROM app.users')", 'safe');
add('errors', 'r2-do-unicode-raise-exception', 'DO $$ BEGIN RAISE EXCEPTION \'x %\', (SELECT string_agg(email, \',\') FROM app.U&"\\0075sers"); END $$', 'safe', { control: true });
add('errors', 'r2-case-division-oracle', "SELECT CASE WHEN substr(ssn, 1, 1) = '1' THEN 1/0 ELSE 1 END FROM app.users WHERE id = 1", 'error',
  { control: false, note: 'SQLSTATE 22012 answers the comparison: allowed by the spec, reported' });
add('errors', 'r2-not-null-failing-row', 'UPDATE app.users SET id = NULL WHERE id = 1', 'error', { rollback: true, note: 'DETAIL: Failing row contains (...) with every column' });
add('errors', 'r2-child-failing-row', 'UPDATE app.users_archive SET id = NULL WHERE id = 3', 'error', { rollback: true });
add('errors', 'r2-domain-check-cast-error', ['CREATE DOMAIN public.di_{n} AS text CHECK (VALUE::int > 0)', 'SELECT ssn::public.di_{n} FROM app.users'], 'error', { only: ['psql', 'pg'] });

// ---- Cursors ---------------------------------------------------------------------

add('cursor', 'r2-scroll-absolute-backward', [
  'BEGIN',
  "DECLARE c SCROLL CURSOR FOR SELECT ssn || '' AS s, salary, birth_date FROM app.users",
  'FETCH ABSOLUTE 2 FROM c',
  'FETCH BACKWARD 1 FROM c',
  'MOVE LAST IN c',
  'FETCH PRIOR FROM c',
  'FETCH RELATIVE -1 FROM c',
  'COMMIT',
], 'masked');
add('cursor', 'r2-with-hold-across-commit', ['BEGIN', 'DECLARE c CURSOR WITH HOLD FOR SELECT md5(ssn) AS m, notes FROM app.users', 'COMMIT', 'FETCH ALL FROM c', 'CLOSE c'], 'masked');
add('cursor', 'r2-rolled-back-name-reused', ['BEGIN', "DECLARE c CURSOR FOR SELECT 'x' AS s", 'ROLLBACK', 'BEGIN', "DECLARE c CURSOR FOR SELECT ssn || '' AS s FROM app.users", 'FETCH ALL FROM c', 'COMMIT'], 'masked');
add('cursor', 'r2-protocol-execute-row-limit', 'cursor', 'masked', {
  only: ['raw'], scenario: 'raw-script',
  raw: [
    { send: [{ Q: 'BEGIN' }], zs: 1 },
    { send: [{ Q: "DECLARE c_{n} CURSOR FOR SELECT ssn || '' AS s, notes, salary FROM app.users" }], zs: 1 },
    { send: [{ E: 'c_{n}', max: 1 }, { E: 'c_{n}', max: 1 }, { E: 'c_{n}' }, { S: true }], zs: 1 },
    { send: [{ Q: 'COMMIT' }], zs: 1 },
  ],
});

// ---- Extended protocol: pipelines, formats, names ------------------------------------

add('extended', 'r2-pipeline-unnamed-reused', 'pipeline', 'masked', {
  only: ['raw'], scenario: 'raw-script', control: true,
  raw: [{ send: [{ P: HARM2 }, { B: '' }, { E: '' }, { P: HARMLESS2 }, { B: '' }, { E: '' }, { S: true }], zs: 1 }],
  note: 'two unnamed statements/portals in one pipeline: the first result set is judged by the second statement',
});
add('extended', 'r2-pipeline-named-statements-unnamed-portal', 'pipeline', 'masked', {
  only: ['raw'], scenario: 'raw-script', control: true,
  raw: [{
    send: [
      { P: HARM2, name: 's1_{n}' }, { B: '', stmt: 's1_{n}' }, { D: 'P', name: '' }, { E: '' }, { S: true },
      { P: HARMLESS2, name: 's2_{n}' }, { B: '', stmt: 's2_{n}' }, { D: 'P', name: '' }, { E: '' }, { S: true },
    ],
    zs: 2,
  }],
  note: 'libpq pipeline mode / pgx batch style: named statements, unnamed portal, one Sync each',
});
add('extended', 'r2-pipeline-named-portals', 'pipeline', 'masked', {
  only: ['raw'], scenario: 'raw-script',
  raw: [{ send: [{ P: HARM2 }, { B: 'p_{n}' }, { E: 'p_{n}' }, { P: HARMLESS2 }, { B: 'q_{n}' }, { E: 'q_{n}' }, { S: true }], zs: 1 }],
});
add('extended', 'r2-rebind-formats', 'rebind', 'masked', {
  only: ['raw'], scenario: 'raw-script',
  raw: [
    { send: [{ P: 'SELECT id, ssn, email, salary, birth_date, notes FROM app.users', name: 'rb_{n}' }, { D: 'S', name: 'rb_{n}' }, { S: true }], zs: 1 },
    { send: [{ B: '', stmt: 'rb_{n}' }, { E: '' }, { S: true }], zs: 1 },
    { send: [{ B: '', stmt: 'rb_{n}', formats: [1] }, { E: '' }, { S: true }], zs: 1, binary: true },
    { send: [{ B: '', stmt: 'rb_{n}', formats: [0, 1, 0, 1, 0, 1] }, { E: '' }, { S: true }], zs: 1, binary: true },
    { send: [{ B: '', stmt: 'rb_{n}', formats: [1, 0, 1, 0, 1, 0] }, { E: '' }, { B: '', stmt: 'rb_{n}' }, { E: '' }, { S: true }], zs: 1, binary: true },
  ],
});
add('extended', 'r2-suspended-portal-binary', 'suspended', 'masked', {
  only: ['raw'], scenario: 'raw-script',
  raw: [{
    send: [{ P: "SELECT ssn, email || '' AS e, salary, birth_date, notes, card_number FROM app.users" }, { B: 'sp_{n}', formats: [1] }, { E: 'sp_{n}', max: 1 }, { E: 'sp_{n}', max: 1 }, { E: 'sp_{n}' }, { S: true }],
    zs: 1, binary: true,
  }],
});
add('extended', 'r2-explicit-param-types', 'params', 'masked', {
  only: ['raw'], scenario: 'raw-script',
  raw: [{ send: [{ P: 'SELECT ssn || $1 AS s, notes || $1 AS n, salary + $2 AS m FROM app.users WHERE id = $3', types: [25, 1700, 23] }, { B: '', params: ['', '0', '1'] }, { E: '' }, { S: true }], zs: 1 }],
});
add('extended', 'r2-flush-and-extra-syncs', 'flush', 'masked', {
  only: ['raw'], scenario: 'raw-script',
  raw: [{ send: [{ P: HARM2 }, { B: '' }, { D: 'P' }, { E: '' }, { H: true }, { S: true }, { S: true }, { S: true }], zs: 3 }],
});
add('extended', 'r2-close-then-reparse', 'reparse', 'masked', {
  only: ['raw'], scenario: 'raw-script',
  raw: [
    { send: [{ P: 'SELECT id::text AS a, name AS b FROM app.users', name: 'cr_{n}' }, { D: 'S', name: 'cr_{n}' }, { S: true }], zs: 1 },
    { send: [{ C: 'S', name: 'cr_{n}' }, { P: HARM2, name: 'cr_{n}' }, { B: '', stmt: 'cr_{n}' }, { E: '' }, { S: true }], zs: 1 },
  ],
});
add('extended', 'r2-query-inside-extended', 'query', 'masked', {
  only: ['raw'], scenario: 'raw-script',
  raw: [{ send: [{ P: HARM2 }, { B: '' }, { E: '' }, { Q: "SELECT notes || '' AS n, card_number || '' AS c FROM app.users" }, { S: true }], zs: 2 }],
  note: 'a simple Query between Execute and Sync',
});
add('extended', 'r2-terminate-mid-pipeline', 'terminate', 'safe', {
  only: ['raw'], scenario: 'raw-script',
  raw: [{ send: [{ P: HARM2 }, { B: '' }, { E: '' }, { X: true }], zs: 0 }],
});
add('extended', 'r2-copyfail-during-copy-out', 'copyfail', 'masked', {
  only: ['raw'], scenario: 'raw-script',
  raw: [{ send: [{ Q: 'COPY (SELECT ssn, email FROM app.users) TO STDOUT' }, { f: 'abort' }], zs: 1 }, { send: [{ Q: "SELECT ssn || '' AS s FROM app.users" }], zs: 1 }],
});
add('extended', 'r2-bind-unknown-statement', 'unknown', 'safe', {
  only: ['raw'], scenario: 'raw-script',
  raw: [{ send: [{ B: '', stmt: 'nope_{n}' }, { E: '' }, { S: true }], zs: 1 }, { send: [{ P: HARM2 }, { B: '' }, { E: '' }, { S: true }], zs: 1 }],
});
// Requests the server drops or ignores: pgveil then pairs every later result with the request before it.
add('extended', 'r2-sync-during-copy-in', 'desync', 'masked', {
  only: ['raw'], scenario: 'raw-script', control: true,
  raw: [{ send: [{ Q: 'COPY app.orders (id) FROM STDIN' }, { S: true }, { c: true }], zs: 1 }, { send: [{ Q: HARM2 }], zs: 1 }],
  note: 'the server ignores a Sync during COPY FROM STDIN; pgveil waits for its ReadyForQuery and judges the next query by the Sync (no analysis)',
});
add('extended', 'r2-query-after-extended-error', 'desync', 'safe', {
  only: ['raw'], scenario: 'raw-script', control: true,
  raw: [{ send: [{ P: 'SELECT 1/0' }, { B: '' }, { E: '' }, { Q: HARMLESS2 }, { S: true }], zs: 1 }, { send: [{ Q: HARM2 }], zs: 1 }],
  note: 'after an error the server skips to Sync, including a Query in between; pgveil keeps waiting for its result',
});
add('extended', 'r2-function-call-after-extended-error', 'desync', 'safe', {
  only: ['raw'], scenario: 'raw-script', control: true,
  raw: [{ send: [{ P: 'SELECT 1/0' }, { B: '' }, { E: '' }, { F: 'pg_backend_pid()', args: [] }, { S: true }], zs: 1 }, { send: [{ Q: HARM2 }], zs: 1 }],
});
add('functions', 'r2-view-replaced-in-do', [
  "CREATE VIEW public.vs_{n} AS SELECT 'x'::text AS s",
  "DO $$ BEGIN CREATE OR REPLACE VIEW public.vs_{n} AS SELECT app.get_ssn(1) || '' AS s; END $$",
  'SELECT s FROM public.vs_{n}',
], 'either', { only: ['psql', 'pg'], note: 'DDL inside a DO block is not seen as DDL: the catalog keeps the old view definition, the wire layer trusts it' });
add('benign', 'r2-view-replaced-in-transaction', [
  "SET idle_in_transaction_session_timeout = '2s'",
  "CREATE VIEW public.vd_{n} AS SELECT 'x'::text AS s",
  'BEGIN',
  "CREATE OR REPLACE VIEW public.vd_{n} AS SELECT 'y'::text AS s",
  'COMMIT',
  'SELECT s FROM public.vd_{n}',
], 'raw', {
  only: ['psql'],
  note: 'DDL on a view inside a transaction: pgveil reloads its catalog before forwarding COMMIT, the reload waits for the lock the transaction holds (deadlock; bounded here by the server killing the idle transaction after 2 s)',
});
add('functions', 'r2-rule-instead-select', [
  'CREATE TABLE public.rt_{n} (v int)',
  "CREATE RULE r AS ON INSERT TO public.rt_{n} DO INSTEAD SELECT ssn || '' AS s, email || '' AS e FROM app.users",
  'INSERT INTO public.rt_{n} VALUES (1)',
], 'either', { note: 'an INSERT rewritten into a SELECT returns rows pgveil analysed as an INSERT without RETURNING' });
add('functions', 'r2-view-rule-update-select', [
  'CREATE VIEW public.rv_{n} AS SELECT 1 AS v',
  "CREATE RULE r AS ON UPDATE TO public.rv_{n} DO INSTEAD SELECT notes || '' AS n FROM app.users",
  'UPDATE public.rv_{n} SET v = 2',
], 'either');
add('direct', 'r2-set-role-superuser', 'set role', 'masked', {
  only: ['raw'], scenario: 'raw-script',
  raw: [
    { send: [{ Q: 'SET ROLE app_backend' }], zs: 1 },
    { send: [{ Q: 'SELECT email, ssn FROM app.users' }], zs: 1 },
    { send: [{ Q: 'RESET ROLE' }], zs: 1 },
    { send: [{ Q: 'SET SESSION AUTHORIZATION app_backend' }], zs: 1 },
    { send: [{ Q: "SELECT email, email || '' AS e FROM app.users" }], zs: 1 },
  ],
  note: 'the raw client is a superuser: SET ROLE to a role with standing raw access must not unmask',
});

// ---- Spellings, clauses and types (expected to be handled) ---------------------------

add('direct', 'r2-leading-comment-parens', "/* report */ ((SELECT ssn || '' AS s, email FROM app.users))", 'masked');
add('direct', 'r2-dollar-quote-semicolon', "SELECT $q$;$q$ AS x, ssn || '' AS s FROM app.users", 'masked');
add('direct', 'r2-uescape', "SELECT U&\"!0073sn\" UESCAPE '!', U&\"!0065mail\" UESCAPE '!' FROM app.users", 'masked');
add('direct', 'r2-comments-between-tokens', 'SELECT/**/ssn/**/,--x\n email FROM/**/app/**/./**/users', 'masked');
add('direct', 'r2-mixed-case', 'SeLeCt SsN, "email" FrOm ApP.UsErS', 'masked');
add('direct', 'r2-latin1-client-encoding', ["SET client_encoding = 'LATIN1'", 'SELECT ssn, email, notes, salary, birth_date FROM app.users'], 'either');
add('direct', 'r2-search-path-shadow', [
  'CREATE TEMP TABLE users (id int, ssn text)',
  "INSERT INTO users VALUES (1, 'harmless')",
  'SELECT ssn FROM users',
  'SET search_path = app, pg_temp',
  "SELECT ssn || '' AS s, ssn FROM users",
], 'masked', { only: ['psql', 'pg'], note: 'a temporary users table (no sensitive columns) shadows app.users, then search_path puts app first' });
add('derived', 'r2-array-subscript-slice', "SELECT (ARRAY[ssn, email, notes])[2], (ARRAY[ssn, email])[1:2], (string_to_array(ssn, '-'))[1:3] FROM app.users", 'masked');
add('derived', 'r2-agg-order-filter', "SELECT string_agg(email, ',' ORDER BY id) FILTER (WHERE id > 0), array_agg(DISTINCT ssn) FROM app.users", 'masked');
add('derived', 'r2-distinct-derived', "SELECT DISTINCT ssn || '' AS s FROM app.users", 'either');
add('derived', 'r2-pg-column-size', 'SELECT pg_column_size(ssn), octet_length(notes), pg_column_size(u.*) FROM app.users u', 'masked', { control: false });
add('derived', 'r2-cast-domain-composite-array', [
  'CREATE DOMAIN public.dom_{n} AS text',
  'CREATE TYPE public.ct_{n} AS (a text, b text)',
  'SELECT ssn::public.dom_{n}, ROW(ssn, email)::public.ct_{n}, ARRAY[card_number]::text[], (ROW(ssn, notes)::public.ct_{n}).b FROM app.users',
], 'masked', { only: ['psql', 'pg'] });
add('whole-row', 'r2-concat-ws-star', "SELECT concat_ws(',', u.*) FROM app.users u", 'either');
add('whole-row', 'r2-jsonb-path-whole', "SELECT jsonb_path_query_array(to_jsonb(u), '$.*') FROM app.users u", 'either');
add('whole-row', 'r2-populate-recordset-from', 'SELECT x.ssn FROM json_populate_recordset(NULL::app.users, (SELECT json_agg(u) FROM app.users u)) x', 'either');
add('dml-returning', 'r2-cte-update-derived', "WITH x AS (UPDATE app.users SET name = name WHERE id = 1 RETURNING ssn, email) SELECT upper(ssn), email || '' FROM x", 'masked', { rollback: true });
add('dml-returning', 'r2-cte-delete-whole-row', 'WITH x AS (DELETE FROM app.users_archive WHERE id = 3 RETURNING *) SELECT x FROM x', 'either', { rollback: true });
add('dml-returning', 'r2-upsert-returning', "INSERT INTO app.users (id, name, ssn) VALUES (1, 'x', '000-00-0000') ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name RETURNING ssn, email, notes", 'masked', { only: ['psql', 'pg'], rollback: true });
add('dml-returning', 'r2-merge-returning-derived', "MERGE INTO app.users u USING (VALUES (1)) v(id) ON u.id = v.id WHEN MATCHED THEN UPDATE SET name = u.name RETURNING merge_action(), upper(u.ssn), u.email", 'either', { rollback: true });
add('copy-elsewhere', 'r2-upsert-excluded-copy', 'INSERT INTO app.users (id, name) SELECT id, ssn FROM app.users WHERE id = 1 ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name', 'refused', { rollback: true });
add('copy-elsewhere', 'r2-merge-source-subquery', 'MERGE INTO app.orders o USING (SELECT id, length(ssn) AS l FROM app.users) s ON o.user_id = s.id WHEN MATCHED THEN UPDATE SET total = s.l', 'refused', { rollback: true });
add('system', 'r2-read-heap-file', "SELECT pg_read_binary_file(pg_relation_filepath('app.users'))", 'safe',
  { only: ['psql', 'pg', 'pgjs'], control: false, note: 'superuser only; the raw client is a superuser and is left out, like COPY TO file' });

// ---- Benign statements round 2 (false refusals) ------------------------------------

add('benign', 'r2-function-with-format', ["CREATE FUNCTION public.greet_{n}(t text) RETURNS text LANGUAGE sql AS $$ SELECT format('hello %s', t) $$", 'SELECT public.greet_{n}(name) FROM app.users'], 'raw', { only: ['psql', 'pg'] });
add('benign', 'r2-function-counting-users', ['CREATE FUNCTION public.cnt_{n}() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM app.users $$', 'SELECT public.cnt_{n}()'], 'either', { only: ['psql', 'pg'] });
add('benign', 'r2-plpgsql-harmless-execute', ["CREATE FUNCTION public.dyn_{n}() RETURNS int LANGUAGE plpgsql AS $$ DECLARE r int; BEGIN EXECUTE 'SELECT 42' INTO r; RETURN r; END $$", 'SELECT public.dyn_{n}()'], 'either', { only: ['psql', 'pg'] });
add('benign', 'r2-do-mentions-users', "DO $$ BEGIN RAISE NOTICE 'no users were touched'; END $$", 'either');
add('benign', 'r2-join-using-id', 'SELECT id, a.name FROM app.users u JOIN app.users_archive a USING (id)', 'raw');
add('benign', 'r2-left-join-count', 'SELECT u.name, count(o.*) FROM app.users u LEFT JOIN app.orders o ON o.user_id = u.id GROUP BY u.name ORDER BY 1', 'raw');
add('benign', 'r2-ctas-non-sensitive', ['CREATE TEMP TABLE t_{n} AS SELECT id, name FROM app.users', 'SELECT * FROM t_{n}'], 'raw', { only: ['psql', 'pg'] });
add('benign', 'r2-order-by-expression', 'SELECT id, lower(name) FROM app.users ORDER BY lower(name), created_at', 'raw');
add('benign', 'r2-window-non-sensitive', 'SELECT id, row_number() OVER (ORDER BY name) FROM app.users', 'raw');
add('benign', 'r2-values-limit', 'VALUES (1), (2), (3) LIMIT 2', 'raw');
add('benign', 'r2-copy-csv-header-zero', 'COPY (SELECT id, name, created_at FROM app.users) TO STDOUT (FORMAT csv, HEADER 0)', 'raw', { copy: true });
add('benign', 'r2-string-literal-names', "SELECT 'users ssn email' AS words", 'raw');
add('benign', 'r2-explain-plain', 'EXPLAIN SELECT id, ssn FROM app.users', 'raw');
add('benign', 'r2-ts-rewrite-constants', "SELECT ts_rewrite('a & b'::tsquery, 'a'::tsquery, 'c'::tsquery)", 'raw');
add('benign', 'r2-srf-non-sensitive', 'SELECT unnest(ARRAY[id, id * 2]) FROM app.users', 'raw');

export const ATTACKS: readonly Attack[] = catalogue;

/** Attacks that are one statement returning rows: run through every protocol variant. */
export function isSingleStatement(a: Attack): boolean {
  return a.steps.length === 1 && !a.multi && !a.rollback && !a.copy && !a.scenario;
}
