/**
 * What `pgveil scan` makes of a scan: the YAML catalog of sensitive columns,
 * a suggested policy that `pgveil policy check` accepts, and the coverage
 * check of an existing policy. Nothing here sees a sampled value: only the
 * classifier's findings (class, confidence, match rate, detector, JSON path).
 *
 * Coverage is decided by the proxy's own gate (lineage + policy + decide), for
 * a user with no raw access, on `SELECT <columns> FROM <relation>`: a view
 * column counts as covered exactly when pgveil would mask it, e.g. because it
 * derives from a covered table column.
 */
import { Document, isMap, isSeq } from 'yaml';
import type { CatalogSnapshot } from '../catalog/snapshot.js';
import { PolicyGate, type GateEvent } from '../gate/policy-gate.js';
import { parsePolicy, type Policy } from '../policy/index.js';
import { formatColumn, quoteIdent, type ColumnRef } from '../policy/identifiers.js';
import { typeFamily } from '../masking/types.js';
import { analyzeSql } from '../sql/analyze.js';
import { LineageContext, parseColumnKey, valueSources } from '../sql/lineage.js';
import type { FieldDescription } from '../wire/results.js';
import { sqlIdent, type ScanRelationKind, type ScanResult } from './scanner.js';
import type { Finding } from './types.js';

/** One column of the catalog with what the classifier found, best finding first. */
export interface CatalogColumn {
  readonly ref: ColumnRef;
  /** `schema.table.column` in policy syntax (quoted where needed). */
  readonly key: string;
  readonly relationKind: ScanRelationKind;
  readonly dataType: string;
  readonly baseTypeOid: number;
  readonly findings: readonly Finding[];
}

export interface CatalogMeta {
  readonly scannedAt: Date;
  readonly sampleSize: number;
  readonly threshold: number;
}

const round2 = (n: number): number => Math.round(n * 100) / 100;

/** `schema.relation` in policy syntax: `app.users`, `"Sales Team"."Leads"`. */
export function formatRelation(r: { schema: string; name: string }): string {
  return `${quoteIdent(r.schema)}.${quoteIdent(r.name)}`;
}
const best = (c: CatalogColumn): Finding => c.findings[0];

/** Columns whose best finding reaches `threshold` (sensitive) and the others that had a finding. */
export function splitColumns(result: ScanResult, threshold: number): { sensitive: CatalogColumn[]; below: CatalogColumn[] } {
  const sensitive: CatalogColumn[] = [];
  const below: CatalogColumn[] = [];
  for (const rel of result.relations) {
    for (const col of rel.columns) {
      if (col.findings.length === 0) continue;
      const findings = [...col.findings].sort((a, b) => b.confidence - a.confidence);
      const ref = { schema: rel.schema, table: rel.name, column: col.name };
      const entry: CatalogColumn = {
        ref,
        key: formatColumn(ref),
        relationKind: rel.kind,
        dataType: col.dataType,
        baseTypeOid: col.baseTypeOid,
        findings,
      };
      (findings[0].confidence >= threshold ? sensitive : below).push(entry);
    }
  }
  return { sensitive, below };
}

function findingObject(f: Finding): Record<string, unknown> {
  return {
    class: f.class,
    confidence: round2(f.confidence),
    match_rate: round2(f.matchRate),
    detector: f.detector,
    ...(f.jsonPath !== undefined ? { json_path: f.jsonPath } : {}),
  };
}

/** The catalog as YAML text (see README "Find sensitive columns"). */
export function catalogYaml(result: ScanResult, meta: CatalogMeta): string {
  const { sensitive, below } = splitColumns(result, meta.threshold);
  const data = {
    version: 1,
    scanned_at: meta.scannedAt.toISOString(),
    database: result.database,
    scanned_as: result.user,
    schemas: [...result.schemas],
    sample_rows: meta.sampleSize,
    threshold: meta.threshold,
    relations: {
      scanned: result.relations.map((r) => ({
        relation: formatRelation(r),
        kind: r.kind,
        rows_sampled: r.sampledRows,
        method: r.method,
        ...(r.percent !== undefined ? { percent: r.percent } : {}),
      })),
      skipped: result.skipped.map((r) => ({
        relation: formatRelation(r),
        kind: r.kind,
        ...(r.sqlstate ? { sqlstate: r.sqlstate } : {}),
        reason: r.reason,
      })),
    },
    columns: Object.fromEntries(
      sensitive.map((c) => [
        c.key,
        {
          relation_kind: c.relationKind,
          type: c.dataType,
          class: best(c).class,
          confidence: round2(best(c).confidence),
          findings: c.findings.map(findingObject),
        },
      ]),
    ),
    below_threshold: Object.fromEntries(below.map((c) => [c.key, findingObject(best(c))])),
  };
  const doc = new Document(data);
  // Short records on one line each: the catalog stays readable for hundreds of relations.
  const flowItems = (node: unknown) => {
    if (isSeq(node)) for (const item of node.items) if (isMap(item)) item.flow = true;
  };
  flowItems(doc.getIn(['relations', 'scanned'], true));
  flowItems(doc.getIn(['relations', 'skipped'], true));
  const columns = doc.get('columns', true);
  if (isMap(columns)) for (const pair of columns.items) if (isMap(pair.value)) flowItems(pair.value.get('findings', true));
  const belowNode = doc.get('below_threshold', true);
  if (isMap(belowNode)) for (const pair of belowNode.items) if (isMap(pair.value)) pair.value.flow = true;
  doc.commentBefore =
    ' pgveil scan catalog: columns that look sensitive, and why. It never contains sampled values.\n' +
    ' findings: class, confidence (0..1), match_rate (share of sampled non-null values that matched), detector, json_path.';
  return doc.toString({ lineWidth: 0 });
}

// ---------------------------------------------------------------- suggested policy

/** A mask entry as written in a policy file. */
export type MaskEntry = { mask: string } & Record<string, string | number>;

/**
 * A mask for `cls` that is valid for the column's type (masks that can't
 * express a type give NULL, see masking/compile.ts; say so explicitly).
 */
export function suggestMask(cls: string, baseTypeOid: number): MaskEntry {
  const family = typeFamily(baseTypeOid);
  if (family === 'json' || family === 'jsonb') return { mask: 'redact' }; // a JSON string "[REDACTED]"
  if (family === 'date' || family === 'timestamp' || family === 'timestamptz') return cls === 'dob' ? { mask: 'year' } : { mask: 'null' };
  if (family !== 'text') return { mask: 'null' };
  switch (cls) {
    case 'email':
      return { mask: 'email' };
    case 'ssn':
    case 'card':
    case 'iban':
    case 'phone':
      return { mask: 'partial', keep_last: 4 };
    case 'postal_code':
      return { mask: 'partial', keep_first: 2 };
    case 'dob':
      return { mask: 'partial', keep_first: 4 }; // 1985-**-** for ISO dates kept as text
    default:
      return { mask: 'redact' };
  }
}

interface SuggestedEntry {
  ref: ColumnRef;
  key: string;
  cls: string;
  mask: MaskEntry;
  comments: string[];
}

/** A YAML plain scalar when it is one unambiguously, else single-quoted (policy keys are full of double quotes). */
function yamlScalar(s: string): string {
  return /^[a-z_][a-z0-9_$]*(\.[a-z_][a-z0-9_$]*)*$/.test(s) ? s : `'${s.replace(/'/g, "''")}'`;
}

function entryLine(e: SuggestedEntry): string {
  // Unquoted, null is YAML's null (the loader takes that as the null mask too); quoted reads clearer.
  const opts = Object.entries(e.mask).map(([k, v]) => `${k}: ${v === 'null' ? '"null"' : v}`);
  return `  ${yamlScalar(e.key)}: { class: ${e.cls}, ${opts.join(', ')} }`;
}

function why(f: Finding): string {
  const where = f.jsonPath !== undefined ? ` at ${f.jsonPath}` : '';
  const basis = f.matchRate > 0 ? `${Math.round(f.matchRate * 100)}% of sampled values` : 'by name';
  return `${f.class}${where}: confidence ${round2(f.confidence)}, ${basis}, ${f.detector}`;
}

/**
 * Base table columns behind a view column, as the proxy's lineage sees them;
 * undefined when pgveil masks it whatever the policy says (unparseable view).
 */
function viewSources(catalog: CatalogSnapshot, ref: ColumnRef): { refs: (ColumnRef & { typeOid: number })[] } | undefined {
  const rel = catalog.resolve(ref.schema, ref.table)[0];
  if (!rel) return { refs: [] };
  const col = new LineageContext(catalog).relationColumns(rel).find((c) => c.name === ref.column);
  if (!col) return { refs: [] };
  const refs: (ColumnRef & { typeOid: number })[] = [];
  for (const key of valueSources(col.sources, catalog)) {
    if (key.startsWith('view:') || key.startsWith('opaque:')) return undefined;
    if (key.startsWith('system:')) continue;
    const { rel: oid, attnum } = parseColumnKey(key);
    const base = catalog.relation(oid);
    const c = base?.columns.find((x) => x.attnum === attnum);
    if (base && c) refs.push({ schema: base.schema, table: base.name, column: c.name, typeOid: catalog.baseType(c.typeOid) });
  }
  return { refs };
}

/**
 * A policy (YAML text) with one entry per sensitive table column. pgveil masks
 * views through the columns they read, so an entry on the table column covers
 * it and every view over it; a view column gets no entry of its own: when its
 * base columns are not already in the list they are added with the view
 * column's class.
 * `catalog` (with the parser loaded) is needed when views are among `columns`.
 */
export function suggestPolicy(columns: readonly CatalogColumn[], meta: { database: string; scannedAt: Date }, catalog?: CatalogSnapshot): string {
  const entries = new Map<string, SuggestedEntry>();
  const notes: string[] = [];
  const isView = (c: CatalogColumn) => c.relationKind === 'view' || c.relationKind === 'matview';
  for (const c of columns) {
    if (isView(c)) continue;
    const f = best(c);
    // The best finding, and where in a JSON document any other finding was.
    const comments = c.findings.filter((x) => x === f || x.jsonPath !== undefined).map(why);
    entries.set(c.key, { ref: c.ref, key: c.key, cls: f.class, mask: suggestMask(f.class, c.baseTypeOid), comments: [...new Set(comments)] });
  }
  for (const c of columns) {
    if (!isView(c)) continue;
    const f = best(c);
    const sources = catalog ? viewSources(catalog, c.ref) : { refs: [] };
    if (sources === undefined) {
      notes.push(`${c.key} (${f.class}): always masked, pgveil can't trace its view definition`);
      continue;
    }
    const keys = sources.refs.map((r) => formatColumn(r));
    if (keys.some((k) => entries.has(k))) {
      notes.push(`${c.key} (${f.class}): masked through ${keys.filter((k) => entries.has(k)).join(', ')}`);
      continue;
    }
    if (sources.refs.length === 0) {
      notes.push(`${c.key} (${f.class}): not traced to a table column; mask the columns its ${c.relationKind} computes it from`);
      continue;
    }
    for (const r of sources.refs) {
      const key = formatColumn(r);
      entries.set(key, { ref: r, key, cls: f.class, mask: suggestMask(f.class, r.typeOid), comments: [`found through ${c.key}: ${why(f)}`] });
    }
    notes.push(`${c.key} (${f.class}): masked through ${keys.join(', ')}`);
  }
  const lines = [
    `# Suggested by pgveil scan for database ${meta.database} at ${meta.scannedAt.toISOString()}. Review before use:`,
    '# the classes and masks are guesses from column names and sampled values.',
    '# Check it against the database with: pgveil policy check FILE --dsn URL',
    'version: 1',
  ];
  if (entries.size === 0) {
    lines.push('columns: {}');
  } else {
    lines.push('columns:');
    for (const e of entries.values()) {
      for (const c of e.comments) lines.push(`  # ${c.replace(/\n/g, ' ')}`);
      lines.push(entryLine(e));
    }
  }
  if (notes.length) {
    lines.push('', '# View columns (pgveil masks a view column through the table columns it reads):');
    for (const n of notes) lines.push(`#   ${n.replace(/\n/g, ' ')}`);
  }
  const text = `${lines.join('\n')}\n`;
  // The suggestion must load as a policy; anything else is a bug here.
  parsePolicy(text, 'suggested policy');
  return text;
}

// ---------------------------------------------------------------- coverage

export interface CoverageEntry {
  readonly column: CatalogColumn;
  readonly covered: boolean;
  /** The gate's reason (policy entry, lineage), or why it could not be judged. */
  readonly reason: string;
}

/** A login name no `roles:` entry is meant to match: coverage is judged for a user with no raw access. */
const NO_ACCESS_USER = 'pgveil scan: user without raw access';

/**
 * For each column: would pgveil mask it (or refuse the read) for a user with
 * no raw access? Decided by the proxy's gate on `SELECT cols FROM relation`.
 * The parser must be loaded (loadParser()).
 */
export function checkCoverage(policy: Policy, catalog: CatalogSnapshot, columns: readonly CatalogColumn[]): CoverageEntry[] {
  const events: GateEvent[] = [];
  const gate = new PolicyGate({
    policy: () => policy,
    catalog: () => catalog,
    identity: () => ({ user: NO_ACCESS_USER, roles: [] }),
    grants: () => [],
    now: () => new Date(),
    hashKey: () => Buffer.from('pgveil-scan'),
    record: (e) => events.push(e),
  });
  const byRelation = new Map<string, CatalogColumn[]>();
  for (const c of columns) {
    const k = JSON.stringify([c.ref.schema, c.ref.table]);
    const list = byRelation.get(k);
    if (list) list.push(c);
    else byRelation.set(k, [c]);
  }
  const out: CoverageEntry[] = [];
  for (const cols of byRelation.values()) {
    const { schema, table } = cols[0].ref;
    const rel = catalog.resolve(schema, table)[0];
    const uncovered = (reason: string) => cols.forEach((column) => out.push({ column, covered: false, reason }));
    if (!rel) {
      uncovered('relation not found in the catalog read after the scan');
      continue;
    }
    const sql = `SELECT ${cols.map((c) => sqlIdent(c.ref.column)).join(', ')} FROM ${sqlIdent(schema)}.${sqlIdent(table)}`;
    const analysis = analyzeSql(sql, catalog);
    if (!analysis.ok) {
      uncovered(`could not analyze ${sql}`);
      continue;
    }
    const st = analysis.statements[0];
    events.length = 0;
    const refusal = gate.refusal(st);
    if (refusal) {
      cols.forEach((column) => out.push({ column, covered: true, reason: `reading it is refused: ${refusal.message}` }));
      continue;
    }
    // What the wire layer sees for a plain SELECT: the relation's OID and each column's attnum.
    const fields: FieldDescription[] = cols.map((c) => {
      const info = rel.columns.find((x) => x.name === c.ref.column);
      return { name: c.ref.column, tableOid: rel.oid, attnum: info?.attnum ?? 0, typeOid: info?.typeOid ?? 25, typeModifier: -1, format: 0 };
    });
    const plan = gate.resultPlan(st, fields);
    const reasons = new Map<string, string>();
    for (const e of events) if (e.kind === 'result') for (const c of e.columns) reasons.set(c.name, c.reason);
    cols.forEach((column, i) => {
      const covered = plan.rewrites[i] !== null;
      out.push({ column, covered, reason: reasons.get(column.ref.column) ?? (covered ? 'masked' : 'no policy entry applies') });
    });
  }
  return out;
}
