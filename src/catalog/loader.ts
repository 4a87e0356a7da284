import pg from 'pg';
import { CatalogSnapshot, type CatalogData, type RelationInfo, type RelationKind } from './snapshot.js';

const KIND: Record<string, RelationKind> = { r: 'table', v: 'view', m: 'matview', p: 'partitioned', f: 'foreign' };

/** Schemas whose objects are never user data. */
const SYSTEM_SCHEMAS = `('pg_catalog', 'information_schema', 'pg_toast')`;

/**
 * Reads one database's catalog over an ordinary connection. Everything is read
 * in one REPEATABLE READ transaction so the picture is consistent.
 */
export async function loadCatalog(config: pg.ClientConfig): Promise<CatalogSnapshot> {
  const client = new pg.Client({ ...config, application_name: 'pgveil-catalog' });
  client.on('error', () => undefined);
  await client.connect();
  try {
    // A transaction holding a lock pgveil's catalog query needs (DDL in progress)
    // must not freeze every session: give up quickly instead (fail closed).
    await client.query("SET lock_timeout = '2s'; SET statement_timeout = '15s'");
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const rels = await client.query<{ oid: number; schema: string; name: string; relkind: string; viewdef: string | null; code: boolean }>(
      `SELECT c.oid::int4 AS oid, n.nspname AS schema, c.relname AS name, c.relkind::text AS relkind,
              c.relhastriggers OR c.relhasrules AS code,
              -- A view someone holds (or waits for) an exclusive lock on would make
              -- pg_get_viewdef wait and the whole read fail: anyone could make the
              -- catalog unavailable. Its definition is left empty instead, which
              -- the analysis reads as a view it can't follow (fail closed).
              CASE WHEN c.relkind IN ('v','m') THEN
                CASE WHEN EXISTS (SELECT 1 FROM pg_locks l
                                   WHERE l.locktype = 'relation' AND l.relation = c.oid AND l.mode = 'AccessExclusiveLock'
                                     AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))
                     THEN '' ELSE pg_get_viewdef(c.oid) END
              END AS viewdef
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r','v','m','p','f') AND n.nspname NOT IN ${SYSTEM_SCHEMAS}`,
    );
    const cols = await client.query<{ rel: number; attnum: number; name: string; type: number }>(
      `SELECT a.attrelid::int4 AS rel, a.attnum::int4 AS attnum, a.attname AS name, a.atttypid::int4 AS type
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r','v','m','p','f')
          AND n.nspname NOT IN ${SYSTEM_SCHEMAS}
        ORDER BY a.attrelid, a.attnum`,
    );
    const inh = await client.query<{ child: number; parent: number }>(
      `SELECT inhrelid::int4 AS child, inhparent::int4 AS parent FROM pg_inherits ORDER BY inhseqno`,
    );
    const roles = await client.query<{ name: string; member_of: string[] }>(
      `WITH RECURSIVE m(member, roleid) AS (
         SELECT member, roleid FROM pg_auth_members
         UNION
         SELECT m.member, am.roleid FROM m JOIN pg_auth_members am ON am.member = m.roleid)
       SELECT r.rolname AS name, array_agg(g.rolname::text ORDER BY g.rolname) AS member_of
         FROM m JOIN pg_roles r ON r.oid = m.member JOIN pg_roles g ON g.oid = m.roleid
        GROUP BY r.rolname`,
    );
    // pg_get_functiondef also shows BEGIN ATOMIC bodies, whose prosrc is empty.
    const fns = await client.query<{ schema: string; name: string; language: string; body: string }>(
      `SELECT n.nspname AS schema, p.proname AS name, l.lanname AS language,
              CASE WHEN coalesce(p.prosrc, '') <> '' THEN p.prosrc
                   WHEN p.prokind IN ('f', 'p') THEN pg_get_functiondef(p.oid) ELSE '' END AS body
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang
        WHERE n.nspname NOT IN ${SYSTEM_SCHEMAS}`,
    );
    // Operators backed by server code a user wrote (not C or internal, like built-ins and extensions).
    const ops = await client.query<{ name: string; fn: string }>(
      `SELECT DISTINCT o.oprname AS name, p.proname AS fn
         FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace
         JOIN pg_proc p ON p.oid = o.oprcode JOIN pg_language l ON l.oid = p.prolang
        WHERE n.nspname NOT IN ${SYSTEM_SCHEMAS} AND l.lanname NOT IN ('c', 'internal')`,
    );
    const allFunctions = await client.query<{ name: string }>(`SELECT DISTINCT lower(proname) AS name FROM pg_proc`);
    // Built-in and extension (C) functions that may change state: volatile ones.
    const volatileCode = await client.query<{ name: string }>(
      `SELECT DISTINCT lower(p.proname) AS name FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
        WHERE p.provolatile = 'v' AND l.lanname IN ('c', 'internal')`,
    );
    const qfns = await client.query<{ oid: number }>(
      `SELECT p.oid::int4 AS oid FROM pg_proc p WHERE p.proname = ANY($1)`,
      [['query_to_xml', 'query_to_xmlschema', 'query_to_xml_and_xmlschema', 'table_to_xml', 'table_to_xmlschema', 'table_to_xml_and_xmlschema',
        'schema_to_xml', 'schema_to_xmlschema', 'schema_to_xml_and_xmlschema', 'database_to_xml', 'database_to_xmlschema',
        'database_to_xml_and_xmlschema', 'cursor_to_xml', 'cursor_to_xmlschema', 'ts_stat', 'ts_rewrite']],
    );
    const srfs = await client.query<{ name: string }>(`SELECT DISTINCT proname AS name FROM pg_proc WHERE proretset`);
    const domains = await client.query<{ oid: number; base: number }>(
      `SELECT oid::int4 AS oid, typbasetype::int4 AS base FROM pg_type WHERE typtype = 'd'`,
    );
    // Every name the database knows, and the grammar's keywords: the screen
    // passes only statements made of such words, so a relation the snapshot
    // doesn't know yet (created since it was read) always gets the full analysis.
    const words = await client.query<{ w: string }>(
      `SELECT lower(word) AS w FROM pg_get_keywords()
       UNION SELECT lower(proname) FROM pg_proc
       UNION SELECT lower(typname) FROM pg_type
       UNION SELECT lower(relname) FROM pg_class
       UNION SELECT lower(attname) FROM pg_attribute WHERE attnum > 0 AND NOT attisdropped
       UNION SELECT lower(nspname) FROM pg_namespace
       UNION SELECT lower(oprname) FROM pg_operator WHERE oprname ~ '^[a-z_]'`,
    );
    await client.query('COMMIT');

    const byOid = new Map<number, RelationInfo>();
    for (const r of rels.rows) {
      byOid.set(r.oid, {
        oid: r.oid,
        schema: r.schema,
        name: r.name,
        kind: KIND[r.relkind] ?? 'other',
        columns: [],
        ancestors: [],
        viewDefinition: r.viewdef ?? undefined,
        runsCode: r.code || undefined,
      });
    }
    for (const c of cols.rows) byOid.get(c.rel)?.columns.push({ attnum: c.attnum, name: c.name, typeOid: c.type });
    const parents = new Map<number, number[]>();
    for (const { child, parent } of inh.rows) {
      const list = parents.get(child);
      if (list) list.push(parent);
      else parents.set(child, [parent]);
    }
    for (const rel of byOid.values()) {
      // Breadth-first: nearest ancestors first, each once (multiple inheritance allowed).
      const seen = new Set<number>();
      const queue = [...(parents.get(rel.oid) ?? [])];
      while (queue.length) {
        const p = queue.shift() as number;
        if (seen.has(p)) continue;
        seen.add(p);
        rel.ancestors.push(p);
        queue.push(...(parents.get(p) ?? []));
      }
    }
    const data: CatalogData = {
      relations: [...byOid.values()],
      memberships: Object.fromEntries(roles.rows.map((r) => [r.name, r.member_of])),
      functions: fns.rows,
      domainBase: Object.fromEntries(domains.rows.map((d) => [d.oid, d.base])),
      operators: [...new Set(ops.rows.map((o) => o.name))],
      operatorFunctions: ops.rows.reduce<Record<string, string[]>>((m, o) => ((m[o.name] ??= []).push(o.fn), m), {}),
      functionNames: allFunctions.rows.map((f) => f.name),
      volatileCode: volatileCode.rows.map((f) => f.name),
      queryStringFunctionOids: qfns.rows.map((f) => f.oid),
      setReturning: srfs.rows.map((f) => f.name),
      knownWords: words.rows.map((r) => r.w),
    };
    return new CatalogSnapshot(data);
  } finally {
    await client.end().catch(() => undefined);
  }
}
