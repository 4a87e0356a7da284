/**
 * `pgveil scan`, the part that talks to PostgreSQL: list the relations of the
 * chosen schemas, read a bounded sample of each (one query per relation, every
 * column as text), hand each column's values to the classifier and keep only
 * its findings. Sampled values never leave this module.
 *
 * Safety: one connection, one REPEATABLE READ READ ONLY transaction (checked),
 * a statement and lock timeout, and a SAVEPOINT around each relation so that a
 * relation that can't be read (permission denied, timeout, a view that errors)
 * is reported as skipped with its SQLSTATE and the scan goes on. Server error
 * messages are not passed on: they can quote values (`invalid input syntax for
 * type integer: "123-45-6789"`).
 *
 * What is read: tables (r), partitioned tables (p, sampled through the parent,
 * so partitions are not listed on their own), views (v) and materialized views
 * (m). Foreign tables (f) are listed as skipped: reading them queries a remote
 * system.
 */
import pg from 'pg';
import { matchPart, quoteIdent, type NamePattern } from '../policy/identifiers.js';
import type { ColumnSample, Finding } from './types.js';

export type ScanRelationKind = 'table' | 'partitioned' | 'view' | 'matview' | 'foreign';

export interface ScanColumn {
  readonly attnum: number;
  readonly name: string;
  /** format_type() of the column, e.g. `character varying(64)`. */
  readonly dataType: string;
  /** OID of the column's type with domains resolved to their base type (what the masks see). */
  readonly baseTypeOid: number;
  /** Classifier output, best first. */
  readonly findings: readonly Finding[];
}

export interface ScannedRelation {
  readonly schema: string;
  readonly name: string;
  readonly kind: ScanRelationKind;
  /** pg_class.reltuples (summed over partitions); undefined when never analyzed. */
  readonly estimatedRows: number | undefined;
  readonly method: 'tablesample' | 'limit';
  /** TABLESAMPLE SYSTEM percentage, when method is tablesample. */
  readonly percent?: number;
  readonly sampledRows: number;
  /** The SELECT that produced the sample (no values in it): lets tests EXPLAIN it. */
  readonly query: string;
  readonly columns: readonly ScanColumn[];
}

export interface SkippedRelation {
  readonly schema: string;
  readonly name: string;
  readonly kind: ScanRelationKind;
  readonly sqlstate?: string;
  /** A fixed text per SQLSTATE, never the server's message. */
  readonly reason: string;
}

export interface ScanOptions {
  readonly connection: pg.ClientConfig;
  /** Schema names or globs (policy identifier syntax); undefined: every non-system schema. */
  readonly schemas?: readonly NamePattern[];
  /** Rows to sample per relation. */
  readonly sampleSize: number;
  readonly statementTimeoutMs: number;
  readonly classify: (sample: ColumnSample) => Finding[];
  /** Called before each relation is sampled. */
  readonly onProgress?: (p: { done: number; total: number; relation: string }) => void;
}

export interface ScanResult {
  readonly database: string;
  readonly user: string;
  /** The schemas scanned (exact names). */
  readonly schemas: readonly string[];
  readonly relations: readonly ScannedRelation[];
  readonly skipped: readonly SkippedRelation[];
}

/** A problem that stops the scan before it reads anything (exit 2): unknown schema, not read-only. */
export class ScanError extends Error {}

/** Longest text kept per sampled value; JSON documents get more so that they still parse. */
export const VALUE_CHARS = 4096;
export const JSON_VALUE_CHARS = 32768;
/** Above this many estimated rows per wanted row, sample pages instead of reading the first rows. */
const TABLESAMPLE_FACTOR = 10;
/** SYSTEM sampling picks whole pages: ask for twice the rows wanted, LIMIT trims. */
const OVERSAMPLE = 2;
/** Same pages on every run, so a CI gate gives the same answer for the same data. */
const SAMPLE_SEED = 7;

const KINDS: Record<string, ScanRelationKind> = { r: 'table', p: 'partitioned', v: 'view', m: 'matview', f: 'foreign' };
const JSON_TYPES = new Set([114, 3802]);

/** Always-quoted SQL identifier: safe for reserved words, upper case, spaces and quotes. */
export function sqlIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

interface InventoryRow {
  oid: string;
  schema: string;
  name: string;
  relkind: string;
  est_rows: number | null;
}

interface ColumnRow {
  rel: string;
  attnum: number;
  name: string;
  data_type: string;
  type_oid: string;
}

export async function scanDatabase(opts: ScanOptions): Promise<ScanResult> {
  const client = new pg.Client({ ...opts.connection, application_name: 'pgveil-scan' });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const timeout = Math.max(1, Math.round(opts.statementTimeoutMs));
    // A relation locked by running DDL should not hold the scan for the full statement timeout.
    await client.query(`SET statement_timeout = ${timeout}; SET lock_timeout = ${Math.min(timeout, 5000)}; SET idle_in_transaction_session_timeout = 0`);
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const ro = await client.query<{ transaction_read_only: string }>('SHOW transaction_read_only');
    if (ro.rows[0]?.transaction_read_only !== 'on') throw new ScanError('the scan transaction is not read-only; refusing to scan');
    const who = await client.query<{ db: string; usr: string }>('SELECT current_database() AS db, current_user AS usr');

    const schemas = await chooseSchemas(client, opts.schemas);
    const inventory = await client.query<InventoryRow>(
      `WITH RECURSIVE tree(root, rel) AS (
         SELECT c.oid, c.oid FROM pg_catalog.pg_class c WHERE c.relkind = 'p'
         UNION ALL
         SELECT t.root, i.inhrelid FROM tree t JOIN pg_catalog.pg_inherits i ON i.inhparent = t.rel),
       partitioned AS (
         SELECT t.root, sum(c.reltuples) FILTER (WHERE c.reltuples >= 0) AS n
           FROM tree t JOIN pg_catalog.pg_class c ON c.oid = t.rel
          WHERE c.relkind NOT IN ('p', 'f') GROUP BY t.root)
       SELECT c.oid::int8::text AS oid, n.nspname AS schema, c.relname AS name, c.relkind::text AS relkind,
              (CASE WHEN c.relkind = 'p' THEN p.n WHEN c.reltuples >= 0 THEN c.reltuples END)::float8 AS est_rows
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN partitioned p ON p.root = c.oid
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition AND n.nspname = ANY($1)
        ORDER BY n.nspname, c.relname`,
      [schemas],
    );
    const columns = await client.query<ColumnRow>(
      `SELECT a.attrelid::int8::text AS rel, a.attnum::int4 AS attnum, a.attname AS name,
              pg_catalog.format_type(a.atttypid, a.atttypmod) AS data_type, a.atttypid::int8::text AS type_oid
         FROM pg_catalog.pg_attribute a
        WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY a.attrelid, a.attnum`,
      [inventory.rows.map((r) => r.oid)],
    );
    const domains = await client.query<{ oid: string; base: string }>(
      `SELECT oid::int8::text AS oid, typbasetype::int8::text AS base FROM pg_catalog.pg_type WHERE typtype = 'd'`,
    );
    const domainBase = new Map(domains.rows.map((d) => [Number(d.oid), Number(d.base)]));
    const baseType = (oid: number): number => {
      let t = oid;
      for (let i = 0; i < 10 && domainBase.has(t); i++) t = domainBase.get(t) as number;
      return t;
    };
    const colsByRel = new Map<string, ColumnRow[]>();
    for (const c of columns.rows) {
      const list = colsByRel.get(c.rel);
      if (list) list.push(c);
      else colsByRel.set(c.rel, [c]);
    }

    const relations: ScannedRelation[] = [];
    const skipped: SkippedRelation[] = [];
    const total = inventory.rows.length;
    for (const [done, row] of inventory.rows.entries()) {
      const kind = KINDS[row.relkind];
      opts.onProgress?.({ done, total, relation: `${quoteIdent(row.schema)}.${quoteIdent(row.name)}` });
      if (kind === 'foreign') {
        skipped.push({ schema: row.schema, name: row.name, kind, reason: 'foreign table: not read (sampling it would query a remote system)' });
        continue;
      }
      const cols = (colsByRel.get(row.oid) ?? []).map((c) => ({
        attnum: c.attnum,
        name: c.name,
        dataType: c.data_type,
        baseTypeOid: baseType(Number(c.type_oid)),
      }));
      const target: SampleTarget = { schema: row.schema, name: row.name, kind, estimatedRows: row.est_rows ?? undefined, columns: cols };
      await client.query('SAVEPOINT pgveil_scan');
      let sample: Sample;
      try {
        sample = await sampleRelation(client, target, opts.sampleSize);
        await client.query('RELEASE SAVEPOINT pgveil_scan');
      } catch (err) {
        const sqlstate = (err as { code?: unknown }).code;
        // Not an error from the server (connection lost…): the scan can't go on.
        if (typeof sqlstate !== 'string' || !/^[0-9A-Z]{5}$/.test(sqlstate)) throw err;
        await client.query('ROLLBACK TO SAVEPOINT pgveil_scan');
        skipped.push({ schema: row.schema, name: row.name, kind, sqlstate, reason: reasonFor(sqlstate) });
        continue;
      }
      const scanned = cols.map((c, i): ScanColumn => {
        const values = sample.rows.map((r) => r[i]);
        const findings = opts.classify({ schema: row.schema, table: row.name, column: c.name, dataType: c.dataType, values });
        return { ...c, findings };
      });
      relations.push({
        schema: row.schema,
        name: row.name,
        kind,
        estimatedRows: target.estimatedRows,
        method: sample.method,
        percent: sample.percent,
        sampledRows: sample.rows.length,
        query: sample.query,
        columns: scanned,
      });
    }
    opts.onProgress?.({ done: total, total, relation: '' });
    await client.query('COMMIT');
    return { database: who.rows[0].db, user: who.rows[0].usr, schemas, relations, skipped };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Every non-system schema, or those matching `patterns`; a pattern matching nothing is an error. */
async function chooseSchemas(client: pg.Client, patterns: readonly NamePattern[] | undefined): Promise<string[]> {
  const res = await client.query<{ name: string }>(
    `SELECT nspname AS name FROM pg_catalog.pg_namespace
      WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
        AND nspname NOT LIKE 'pg\\_temp\\_%' AND nspname NOT LIKE 'pg\\_toast\\_temp\\_%'
      ORDER BY nspname`,
  );
  const all = res.rows.map((r) => r.name);
  if (!patterns) return all;
  const missing = patterns.filter((p) => !all.some((s) => matchPart(p.part, s)));
  if (missing.length) {
    throw new ScanError(
      `no schema ${missing.map((p) => JSON.stringify(p.text)).join(', ')} in this database (schemas: ${all.join(', ') || 'none'}; unquoted names fold to lower case)`,
    );
  }
  return all.filter((s) => patterns.some((p) => matchPart(p.part, s)));
}

interface SampleTarget {
  schema: string;
  name: string;
  kind: ScanRelationKind;
  estimatedRows: number | undefined;
  columns: readonly { name: string; baseTypeOid: number }[];
}

interface Sample {
  method: 'tablesample' | 'limit';
  percent?: number;
  query: string;
  rows: (string | null)[][];
}

/** The SELECT that samples `target`: every column as capped text, in one statement. */
export function sampleQuery(target: SampleTarget, sampleSize: number, percent?: number): string {
  const list = target.columns.map((c) => `substr(${sqlIdent(c.name)}::text, 1, ${JSON_TYPES.has(c.baseTypeOid) ? JSON_VALUE_CHARS : VALUE_CHARS})`);
  // ONLY: an inheritance parent is sampled for its own rows, each child is listed (and sampled) itself.
  // Partitioned tables are read through the parent (partitions are not listed).
  const from = `${target.kind === 'table' ? 'ONLY ' : ''}${sqlIdent(target.schema)}.${sqlIdent(target.name)}`;
  const sample = percent === undefined ? '' : ` TABLESAMPLE SYSTEM (${percent}) REPEATABLE (${SAMPLE_SEED})`;
  return `SELECT ${list.join(', ')} FROM ${from}${sample} LIMIT ${sampleSize}`;
}

async function sampleRelation(client: pg.Client, target: SampleTarget, sampleSize: number): Promise<Sample> {
  const est = target.estimatedRows;
  const canSample = target.kind === 'table' || target.kind === 'partitioned' || target.kind === 'matview';
  if (canSample && est !== undefined && est > TABLESAMPLE_FACTOR * sampleSize) {
    const percent = Number(Math.min(100, (100 * OVERSAMPLE * sampleSize) / est).toPrecision(3));
    const query = sampleQuery(target, sampleSize, percent);
    const res = await client.query<(string | null)[]>({ text: query, rowMode: 'array' });
    // Statistics can be stale (a table emptied since the last ANALYZE): too few rows, read the first ones instead.
    if (res.rows.length >= sampleSize / 2) return { method: 'tablesample', percent, query, rows: res.rows };
  }
  const query = sampleQuery(target, sampleSize);
  const res = await client.query<(string | null)[]>({ text: query, rowMode: 'array' });
  return { method: 'limit', query, rows: res.rows };
}

const REASONS: Record<string, string> = {
  '42501': 'permission denied',
  '57014': 'statement timeout (--timeout) or cancelled',
  '55P03': 'lock timeout: another session holds a conflicting lock',
  '55000': 'not readable in its current state (e.g. a materialized view never refreshed)',
  '25006': 'reading it would write (e.g. a view calling a function that writes): refused by the read-only transaction',
  '42P01': 'dropped during the scan',
  '0A000': 'feature not supported for this relation',
};
const CLASSES: Record<string, string> = {
  '22': 'data exception',
  '23': 'integrity constraint violation',
  '38': 'external routine exception',
  '39': 'external routine invocation exception',
  '40': 'transaction rollback',
  '42': 'syntax error or access rule violation',
  '53': 'insufficient resources',
  '54': 'program limit exceeded',
  '58': 'system error',
  HV: 'foreign data wrapper error',
  P0: 'PL/pgSQL error',
  XX: 'internal error',
};

/** A fixed explanation per SQLSTATE: the server's own message can quote values. */
export function reasonFor(sqlstate: string): string {
  return REASONS[sqlstate] ?? `${CLASSES[sqlstate.slice(0, 2)] ?? 'error'} (the server's message is withheld: it can quote values)`;
}
