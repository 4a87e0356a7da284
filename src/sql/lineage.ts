/**
 * Column lineage over libpg-query's AST (PostgreSQL's own grammar).
 *
 * For each statement: which base columns (relation OID + attnum) every result
 * column is computed from, and which base columns the statement otherwise
 * uses — in predicates, joins and sort keys (inference channels) or to write
 * somewhere the proxy can't see (copy channels). The walk is deliberately
 * conservative: any expression node it doesn't model is searched for column
 * references generically, so a new expression form can only make a result
 * "derived" (masked), never raw.
 */
import { sameSchema, type CatalogSnapshot, type RelationInfo } from '../catalog/snapshot.js';

/**
 * "relOid:attnum" of a table column. Columns of views ride along too: a value
 * read through a view carries the view column's key beside the keys of the
 * table columns it comes from, so a policy entry on the view column applies.
 * Such keys name the same value again; see valueSources.
 */
export type ColumnKey = string;
export const columnKey = (rel: number, attnum: number): ColumnKey => `${rel}:${attnum}`;
export function parseColumnKey(key: ColumnKey): { rel: number; attnum: number } {
  const i = key.indexOf(':');
  return { rel: Number(key.slice(0, i)), attnum: Number(key.slice(i + 1)) };
}

/** The keys that are not view columns: how many distinct values an output is computed from. */
export function valueSources(sources: Iterable<ColumnKey>, catalog: CatalogSnapshot | undefined): ColumnKey[] {
  const out: ColumnKey[] = [];
  for (const key of sources) {
    const i = key.indexOf(':');
    const rel = i > 0 ? Number(key.slice(0, i)) : NaN;
    if (!Number.isNaN(rel) && catalog?.relation(rel)?.viewDefinition !== undefined) continue;
    out.push(key);
  }
  return out;
}

export interface OutputColumn {
  name: string;
  sources: Set<ColumnKey>;
  /** The value is exactly one source column's value (plain reference). */
  direct: boolean;
}

export type HazardKind = 'filter' | 'copy' | 'function' | 'system';

export interface Hazard {
  kind: HazardKind;
  /** Short, literal-free description: "WHERE", "INSERT INTO app.audit", "set_config()". */
  where: string;
  sources: Set<ColumnKey>;
}

type Node = Record<string, unknown>;

interface RangeColumn {
  name: string;
  sources: Set<ColumnKey>;
  direct: boolean;
}

interface RangeItem {
  /** Name that qualifies its columns (alias, or relation name). */
  name: string;
  columns: RangeColumn[];
  /** True when the item's columns are unknown (relation not in the catalog). */
  opaque: boolean;
  /** `*` over it may not expand to exactly these columns (USING/NATURAL merge, functions' columns). */
  uncertain?: boolean;
}

interface Scope {
  items: RangeItem[];
  ctes: Map<string, RangeColumn[]>;
  parent?: Scope;
}

/** Functions whose arguments leave the result set through a side channel. */
export const SIDE_CHANNEL_FUNCTIONS = new Set([
  'set_config', 'pg_notify', 'lo_from_bytea', 'lo_put', 'lo_import', 'lo_export', 'lowrite', 'lo_create',
  'dblink', 'dblink_exec', 'dblink_send_query', 'pg_file_write', 'pg_logical_emit_message',
  // Advisory locks keep a key in pg_locks (and unlock answers whether one is held): every variant.
  'pg_advisory_lock', 'pg_advisory_lock_shared', 'pg_try_advisory_lock', 'pg_try_advisory_lock_shared',
  'pg_advisory_xact_lock', 'pg_advisory_xact_lock_shared', 'pg_try_advisory_xact_lock', 'pg_try_advisory_xact_lock_shared',
  'pg_advisory_unlock', 'pg_advisory_unlock_shared',
  // Timing, and session or database state a later statement reads back (random() after setseed, a sequence's last_value).
  'pg_sleep', 'pg_sleep_for', 'pg_sleep_until', 'setseed', 'setval', 'nextval', 'txid_current',
  'pg_current_xact_id', 'pg_export_snapshot',
  // Signals to a backend a value picked (the analyst's own other sessions can be signalled).
  'pg_terminate_backend', 'pg_cancel_backend',
  // Look up an object named by a value (the object a masked value names gets opened and locked).
  'to_regclass', 'to_regproc', 'to_regprocedure', 'to_regoper', 'to_regoperator', 'to_regtype', 'to_regnamespace',
  'to_regrole', 'to_regcollation', 'to_regtypemod',
  // Extension functions (trusted extensions a database owner may install) that keep
  // session state: pg_trgm's threshold (read back by show_limit), tablefunc's draws.
  'set_limit', 'normal_rand',
  // Draws from the session's generator: how many were drawn shows in the next value (after setseed).
  'random', 'random_normal',
  'raise_notice',
]);

/** System relations that expose other sessions' statements or column statistics (values). */
/** Built-in set-returning functions: in a target list their row count can reveal their arguments. */
const SET_RETURNING_FUNCTIONS = new Set([
  'unnest', 'generate_series', 'generate_subscripts', 'regexp_matches', 'regexp_split_to_table', 'string_to_table',
  'json_array_elements', 'json_array_elements_text', 'jsonb_array_elements', 'jsonb_array_elements_text', 'json_each',
  'json_each_text', 'jsonb_each', 'jsonb_each_text', 'json_object_keys', 'jsonb_object_keys', 'jsonb_path_query',
  'json_to_recordset', 'jsonb_to_recordset', 'json_populate_recordset', 'jsonb_populate_recordset', 'pg_options_to_table',
  'ts_debug', 'ts_parse', 'ts_token_type', 'xpath_table',
]);

/** Volatile built-ins that change nothing a statement could read back. */
const HARMLESS_VOLATILE = new Set([
  'clock_timestamp', 'timeofday', 'gen_random_uuid', 'uuid_generate_v4', 'currval', 'lastval', 'txid_current_if_assigned',
  'pg_current_xact_id_if_assigned', 'pg_backend_pid',
]);

/** Types whose values name database objects (casting to them looks the object up). */
const OBJECT_REFERENCE_TYPES = new Set([
  'regclass', 'regproc', 'regprocedure', 'regoper', 'regoperator', 'regtype', 'regconfig', 'regdictionary',
  'regnamespace', 'regrole', 'regcollation',
]);

/** Known set-returning functions (the catalog's list, plus name shapes of built-ins). */
function isSetReturning(fname: string, catalog: CatalogSnapshot): boolean {
  return SET_RETURNING_FUNCTIONS.has(fname) || catalog.setReturning().has(fname);
}

/** Built-in types that are never arrays (an ARRAY[...] of them is one-dimensional). */
const SCALAR_TYPES = new Set([
  16, 17, 18, 19, 20, 21, 23, 25, 26, 114, 142, 650, 700, 701, 790, 829, 869, 1042, 1043, 1082, 1083, 1114, 1184,
  1186, 1266, 1560, 1562, 1700, 2950, 3802,
]);

/** Built-ins that run SQL passed to them as text (or read a cursor by name). */
export const QUERY_STRING_FUNCTIONS = new Set([
  'query_to_xml', 'query_to_xmlschema', 'query_to_xml_and_xmlschema', 'table_to_xml', 'table_to_xmlschema',
  'table_to_xml_and_xmlschema', 'schema_to_xml', 'schema_to_xmlschema', 'schema_to_xml_and_xmlschema',
  'database_to_xml', 'database_to_xmlschema', 'database_to_xml_and_xmlschema', 'cursor_to_xml', 'cursor_to_xmlschema',
  'ts_stat', 'ts_rewrite', 'dblink', 'dblink_exec',
  // Extensions a database owner may install (tablefunc and xml2 are trusted ones): they run SQL given as text.
  'crosstab', 'crosstab2', 'crosstab3', 'crosstab4', 'connectby', 'xpath_table',
]);

export const SYSTEM_LEAK_RELATIONS = new Set([
  'pg_stats', 'pg_stats_ext', 'pg_stats_ext_exprs', 'pg_stat_statements', 'pg_stat_activity', 'pg_statistic', 'pg_statistic_ext_data',
  // Which relations, advisory keys and transactions are locked: a value can choose what gets locked
  // (a regclass built from a masked value), and the lock stays until the transaction ends.
  'pg_locks',
  // The session's cursors and prepared statements by name (a refcursor named from a value).
  'pg_cursors', 'pg_prepared_statements',
]);

/**
 * System views and functions of the statistics collector (pg_stat_*, pg_statio_*,
 * pg_stat_get_*): besides statements and column statistics they count scans,
 * rows and calls, which a statement can drive from a masked value
 * (CASE WHEN ssn LIKE '5%' THEN (SELECT ... FROM t) END) and read back.
 */
export function isStatisticsName(name: string): boolean {
  return SYSTEM_LEAK_RELATIONS.has(name) || /^pg_stat(io)?_/.test(name);
}

export class LineageContext {
  readonly hazards: Hazard[] = [];
  /** OIDs of every relation the statement reads or writes. */
  readonly relations = new Set<number>();
  /** Names that resolved to nothing in the catalog (maybe created since the last refresh). */
  readonly unresolved = new Set<string>();
  /** A `*` expanded over something whose exact columns can't be known: outputs may not line up with the result. */
  shapeUncertain = false;
  private readonly viewStack: number[] = [];
  /**
   * Calls that act outside the result (side-channel functions, user functions
   * with side effects): whether and how often they run can depend on any
   * value the statement reads (CASE WHEN ssn LIKE '1%' THEN nextval(...)),
   * not only on their arguments. See settleSideEffects.
   */
  private readonly sideEffects: string[] = [];
  /** Every column source a column reference of the statement resolved to. */
  private readonly read = new Set<ColumnKey>();
  /** It calls a function (any notation): without a catalog, nothing can say what that runs. */
  callsFunctions = false;

  constructor(readonly catalog: CatalogSnapshot) {}

  hazard(kind: HazardKind, where: string, sources: Set<ColumnKey>): void {
    if (sources.size > 0) this.hazards.push({ kind, where, sources });
  }

  /** Every column source the statement reads: its column references, its outputs, every hazard's sources. */
  readSources(outputs: OutputColumn[] | undefined): Set<ColumnKey> {
    const sources = new Set(this.read);
    for (const o of outputs ?? []) addAll(sources, o.sources);
    for (const h of this.hazards) addAll(sources, h.sources);
    return sources;
  }

  /**
   * A statement with a side effect (see sideEffects) may carry out anything it
   * reads, through control flow alone: it is judged as copying every column
   * it reads, its outputs and every hazard's sources. Call once the whole
   * statement has been walked.
   */
  settleSideEffects(outputs: OutputColumn[] | undefined): void {
    if (this.sideEffects.length === 0) return;
    const sources = this.readSources(outputs);
    const names = [...new Set(this.sideEffects)];
    this.sideEffects.length = 0;
    this.hazard('copy', `${names.join(', ')} (called in a statement that reads it)`, sources);
  }

  // ---- statements --------------------------------------------------------

  /** Output columns of a SELECT (any shape), recording hazards on the way. */
  select(stmt: Node, outer: Scope | undefined, ctes?: Map<string, RangeColumn[]>): RangeColumn[] {
    const scope: Scope = { items: [], ctes: new Map(ctes ?? outer?.ctes ?? []), parent: outer };
    if (stmt.withClause) this.withClause(stmt.withClause as Node, scope);

    const op = stmt.op as string | undefined;
    if (op && op !== 'SETOP_NONE') {
      const left = this.select(stmt.larg as Node, outer, scope.ctes);
      const right = this.select(stmt.rarg as Node, outer, scope.ctes);
      const cols = left.map((c, i) => ({ name: c.name, sources: union(c.sources, right[i]?.sources), direct: false }));
      // UNION without ALL de-duplicates and INTERSECT / EXCEPT (with ALL too)
      // match rows: each compares values, an equality oracle.
      if (!stmt.all || op !== 'SETOP_UNION') this.hazard('filter', `${op.replace('SETOP_', '')}${stmt.all ? ' ALL' : ''}`, unionAll(cols.map((c) => c.sources)));
      this.sortAndLimit(stmt, scope, cols);
      return cols;
    }

    if (stmt.valuesLists) {
      const rows = stmt.valuesLists as Node[];
      const cols: RangeColumn[] = [];
      for (const row of rows) {
        const items = (row.List as Node | undefined)?.items as Node[] | undefined ?? [];
        items.forEach((e, i) => {
          const l = this.expr(e, scope);
          if (!cols[i]) cols[i] = { name: `column${i + 1}`, sources: new Set(), direct: false };
          for (const k of l.sources) cols[i].sources.add(k);
        });
      }
      this.sortAndLimit(stmt, scope, cols);
      return cols;
    }

    for (const from of (stmt.fromClause as Node[] | undefined) ?? []) scope.items.push(...this.fromItem(from, scope));

    const out: RangeColumn[] = [];
    for (const t of (stmt.targetList as Node[] | undefined) ?? []) {
      const rt = t.ResTarget as Node;
      out.push(...this.target(rt, scope));
    }
    this.filter('WHERE', stmt.whereClause, scope);
    this.filter('HAVING', stmt.havingClause, scope);
    for (const g of (stmt.groupClause as Node[] | undefined) ?? []) this.filter('GROUP BY', g, scope, out);
    const distinct = (stmt.distinctClause as Node[] | undefined) ?? [];
    for (const d of distinct) if (d && Object.keys(d).length) this.filter('DISTINCT ON', d, scope, out);
    // Plain DISTINCT de-duplicates by comparing the output values.
    if (distinct.length > 0 && distinct.every((d) => !d || Object.keys(d).length === 0)) {
      this.hazard('filter', 'DISTINCT', unionAll(out.map((c) => c.sources)));
    }
    for (const w of (stmt.windowClause as Node[] | undefined) ?? []) this.filter('WINDOW', w, scope);
    this.sortAndLimit(stmt, scope, out);
    if (stmt.intoClause) {
      const into = ((stmt.intoClause as Node).rel as Node | undefined) ?? {};
      this.hazard('copy', `SELECT INTO ${qualified(into)}`, unionAll(out.map((c) => c.sources)));
    }
    if (stmt.lockingClause && outer !== undefined) {
      // FOR UPDATE / SHARE in a subquery: which rows get locked can follow a
      // value (a CASE over ssn choosing the subquery), and another session
      // sees them (SKIP LOCKED). At the top, the rows locked are the rows
      // returned, chosen by filters that are checked as such.
      this.sideEffects.push('FOR UPDATE / SHARE');
    }
    return out;
  }

  private sortAndLimit(stmt: Node, scope: Scope, out: RangeColumn[]): void {
    for (const s of (stmt.sortClause as Node[] | undefined) ?? []) this.filter('ORDER BY', (s.SortBy as Node | undefined)?.node ?? s, scope, out);
    this.filter('LIMIT', stmt.limitCount, scope);
    this.filter('OFFSET', stmt.limitOffset, scope);
  }

  private withClause(w: Node, scope: Scope): void {
    const ctes = (w.ctes as Node[] | undefined) ?? [];
    if (!w.recursive) {
      for (const c of ctes) this.commonTableExpr(c.CommonTableExpr as Node, scope, false);
      return;
    }
    // WITH RECURSIVE: a CTE may name any other, also one defined after it.
    // Start with every name known (no columns yet) and go over them again
    // until what their columns carry stops growing.
    for (const c of ctes) scope.ctes.set((c.CommonTableExpr as Node).ctename as string, []);
    for (let pass = 0; pass < 8; pass++) {
      const before = shapeOfCtes(scope.ctes);
      for (const c of ctes) this.commonTableExpr(c.CommonTableExpr as Node, scope, true);
      if (shapeOfCtes(scope.ctes) === before) break;
    }
  }

  private commonTableExpr(cte: Node, scope: Scope, recursive: boolean): void {
    const name = cte.ctename as string;
    const aliases = ((cte.aliascolnames as Node[] | undefined) ?? []).map(strOf);
    const query = cte.ctequery as Node;
    const rename = (cols: RangeColumn[]) => cols.map((col, i) => ({ ...col, name: aliases[i] ?? col.name }));
    if (query.SelectStmt) {
      const sel = query.SelectStmt as Node;
      if (recursive && sel.op && sel.op !== 'SETOP_NONE') {
        // Fixpoint: the recursive term may feed any column back into any other.
        let cols = rename(this.select(sel.larg as Node, scope, scope.ctes));
        for (let i = 0; i < 8; i++) {
          scope.ctes.set(name, cols);
          const right = this.select(sel.rarg as Node, scope, scope.ctes);
          const next = cols.map((col, j) => ({ name: col.name, sources: union(col.sources, right[j]?.sources), direct: false }));
          const grew = next.some((n, j) => n.sources.size !== cols[j].sources.size);
          cols = next;
          if (!grew) break;
        }
        // A recursive UNION without ALL drops rows equal to earlier ones: it compares them.
        if (!sel.all) this.hazard('filter', 'recursive UNION', unionAll(cols.map((c) => c.sources)));
        this.cycleHazard(cte, cols);
        scope.ctes.set(name, withSearchCycle(cte, cols));
      } else {
        const cols = rename(this.select(sel, scope, scope.ctes));
        this.cycleHazard(cte, cols);
        scope.ctes.set(name, withSearchCycle(cte, cols));
      }
    } else {
      // Data-modifying CTE: INSERT/UPDATE/DELETE ... RETURNING.
      scope.ctes.set(name, rename(this.statement(query, scope) ?? []));
    }
  }

  /**
   * CYCLE compares the values of its columns row by row: when the recursion
   * stops tells whether they were equal, an inference channel. (SEARCH only
   * builds an ordering column from them, which is masked like any derived
   * value, and sorting by it is an ORDER BY like any other.)
   */
  private cycleHazard(cte: Node, cols: RangeColumn[]): void {
    const cycle = cte.cycle_clause as Node | undefined;
    const cc = (cycle?.CTECycleClause as Node | undefined) ?? cycle;
    if (!cc) return;
    const names = ((cc.cycle_col_list as Node[] | undefined) ?? []).map(strOf);
    this.hazard('filter', 'CYCLE', unionAll(cols.filter((c) => names.includes(c.name)).map((c) => c.sources)));
  }

  /** Any statement node; returns its result columns, or undefined when it returns none. */
  statement(node: Node, outer?: Scope): RangeColumn[] | undefined {
    const [type, body] = Object.entries(node)[0] as [string, Node];
    switch (type) {
      case 'SelectStmt':
        return this.select(body, outer);
      case 'InsertStmt': {
        const scope = this.dmlScope(body, outer);
        const target = body.relation as Node;
        let inserted = new Set<ColumnKey>();
        if (body.selectStmt) {
          const cols = this.statement(body.selectStmt as Node, scope);
          inserted = unionAll((cols ?? []).map((c) => c.sources));
          this.hazard('copy', `INSERT INTO ${qualified(target)}`, inserted);
        }
        this.onConflict(body, scope, inserted);
        return this.returning(body, scope);
      }
      case 'UpdateStmt': {
        const scope = this.dmlScope(body, outer);
        for (const from of (body.fromClause as Node[] | undefined) ?? []) scope.items.push(...this.fromItem(from, scope));
        for (const t of (body.targetList as Node[] | undefined) ?? []) {
          const val = (t.ResTarget as Node).val;
          this.hazard('copy', `UPDATE ${qualified(body.relation as Node)} SET`, this.expr(val, scope).sources);
        }
        this.filter('WHERE', body.whereClause, scope);
        return this.returning(body, scope);
      }
      case 'DeleteStmt': {
        const scope = this.dmlScope(body, outer);
        for (const from of (body.usingClause as Node[] | undefined) ?? []) scope.items.push(...this.fromItem(from, scope));
        this.filter('WHERE', body.whereClause, scope);
        return this.returning(body, scope);
      }
      case 'MergeStmt': {
        // Every value MERGE touches can end up in the target: treat it all as a copy.
        const scope: Scope = { items: [], ctes: new Map(outer?.ctes ?? []), parent: outer };
        if (body.withClause) this.withClause(body.withClause as Node, scope);
        scope.items.push(...this.fromItem({ RangeVar: body.relation } as Node, scope));
        scope.items.push(...this.fromItem(body.sourceRelation as Node, scope));
        this.hazard('copy', `MERGE INTO ${qualified(body.relation as Node)}`, this.expr(body, scope).sources);
        return this.returning(body, scope);
      }
      case 'CreateTableAsStmt': {
        const cols = this.statement(body.query as Node, outer) ?? [];
        const into = ((body.into as Node | undefined)?.rel as Node | undefined) ?? {};
        this.hazard('copy', `CREATE ${body.objtype === 'OBJECT_MATVIEW' ? 'MATERIALIZED VIEW' : 'TABLE'} ${qualified(into)} AS`, unionAll(cols.map((c) => c.sources)));
        return undefined;
      }
      case 'ExplainStmt': {
        const analyze = ((body.options as Node[] | undefined) ?? []).some((o) => (o.DefElem as Node | undefined)?.defname === 'analyze');
        // Plain EXPLAIN runs nothing, but its row estimates come from the column
        // statistics: a predicate's estimate answers questions about the values.
        // EXPLAIN ANALYZE runs the statement, hazards included.
        // Planning alone runs code too: it evaluates stable and immutable calls
        // with constant arguments (table_to_xml(...) in a WHERE, a user function
        // declared IMMUTABLE), whose results or errors reach the client. So
        // every hazard of the statement counts, with or without ANALYZE.
        const inner = new LineageContext(this.catalog);
        const outputs = inner.statement(body.query as Node, outer);
        inner.settleSideEffects(outputs);
        for (const r of inner.relations) this.relations.add(r);
        this.hazards.push(...inner.hazards);
        // ANALYZE reports how many rows and loops each step had: which CASE arm
        // ran, how many rows a condition kept. Everything it reads is compared.
        if (analyze) this.hazard('filter', 'EXPLAIN ANALYZE', inner.readSources(outputs));
        return undefined;
      }
      default:
        return undefined;
    }
  }

  private dmlScope(body: Node, outer: Scope | undefined): Scope {
    const scope: Scope = { items: [], ctes: new Map(outer?.ctes ?? []), parent: outer };
    if (body.withClause) this.withClause(body.withClause as Node, scope);
    scope.items.push(...this.fromItem({ RangeVar: body.relation } as Node, scope));
    return scope;
  }

  /** `inserted`: what the rows being inserted carry, which EXCLUDED.* hands on. */
  private onConflict(body: Node, scope: Scope, inserted: Set<ColumnKey>): void {
    const oc = body.onConflictClause as Node | undefined;
    if (!oc) return;
    const target = scope.items[scope.items.length - 1];
    scope = {
      ...scope,
      items: [...scope.items, { name: 'excluded', columns: (target?.columns ?? []).map((c) => ({ name: c.name, sources: new Set(inserted), direct: false })), opaque: false }],
    };
    for (const t of (oc.targetList as Node[] | undefined) ?? []) {
      this.hazard('copy', 'ON CONFLICT DO UPDATE SET', this.expr((t.ResTarget as Node).val, scope).sources);
    }
    this.filter('ON CONFLICT WHERE', oc.whereClause, scope);
  }

  private returning(body: Node, scope: Scope): RangeColumn[] | undefined {
    const list = body.returningList as Node[] | undefined;
    if (!list) return undefined;
    const out: RangeColumn[] = [];
    for (const t of list) out.push(...this.target(t.ResTarget as Node, scope));
    return out;
  }

  // ---- FROM ----------------------------------------------------------------

  private fromItem(node: Node, scope: Scope): RangeItem[] {
    const [type, body] = Object.entries(node)[0] as [string, Node];
    switch (type) {
      case 'RangeVar':
        return [this.rangeVar(body, scope)];
      case 'RangeSubselect': {
        // LATERAL subqueries see the items before them: they are in scope.items already.
        // Others see the enclosing query levels and the CTEs, not the items beside them.
        const cols = this.statement(body.subquery as Node, body.lateral ? scope : { items: [], ctes: scope.ctes, parent: scope.parent }) ?? [];
        return [aliased(body.alias as Node | undefined, '?subquery?', cols)];
      }
      case 'JoinExpr': {
        const left = this.fromItem(body.larg as Node, scope);
        const right = this.fromItem(body.rarg as Node, { ...scope, items: [...scope.items, ...left] });
        const joined: Scope = { ...scope, items: [...scope.items, ...left, ...right] };
        this.filter('JOIN ON', body.quals, joined);
        for (const u of (body.usingClause as Node[] | undefined) ?? []) {
          const name = strOf(u);
          const sources = new Set<ColumnKey>();
          for (const item of [...left, ...right]) for (const c of item.columns) if (c.name === name) addAll(sources, c.sources);
          this.hazard('filter', 'JOIN USING', sources);
        }
        if (body.isNatural) {
          const names = new Set(left.flatMap((i) => i.columns.map((c) => c.name)));
          const sources = new Set<ColumnKey>();
          for (const item of [...left, ...right]) for (const c of item.columns) if (names.has(c.name) && right.some((r) => r.columns.some((rc) => rc.name === c.name))) addAll(sources, c.sources);
          this.hazard('filter', 'NATURAL JOIN', sources);
        }
        const merged = Boolean(body.isNatural) || ((body.usingClause as Node[] | undefined) ?? []).length > 0;
        const items = [...left, ...right].map((i) => (merged ? { ...i, uncertain: true } : i));
        const alias = body.alias as Node | undefined;
        if (alias) return [{ ...aliased(alias, '?join?', items.flatMap((i) => i.columns)), uncertain: items.some((i) => i.uncertain) }];
        return items;
      }
      case 'RangeFunction': {
        // Functions in FROM (unnest(array[ssn]), jsonb_to_record(...)): every
        // output column may carry any argument's values.
        // PostgreSQL treats functions in FROM as LATERAL whether or not it is written.
        const sources = new Set<ColumnKey>();
        for (const f of (body.functions as Node[] | undefined) ?? []) addAll(sources, this.expr(f, scope).sources);
        // How many rows a function in FROM returns can depend on its arguments
        // (generate_series(1, ascii(ssn))): that is inference, like a filter.
        const fixed = ((body.functions as Node[] | undefined) ?? []).every((f) =>
          (((f.List as Node | undefined)?.items as Node[] | undefined) ?? [f]).every((c) => !c || !c.FuncCall || this.fixedCardinality(c.FuncCall as Node, scope)),
        );
        if (!fixed) this.hazard('filter', 'function in FROM (row count)', sources);
        const alias = body.alias as Node | undefined;
        const colnames = ((alias?.colnames as Node[] | undefined) ?? []).map(strOf);
        const colDefs = ((body.coldeflist as Node[] | undefined) ?? []).map((d) => ((d.ColumnDef as Node).colname as string));
        const names = colnames.length ? colnames : colDefs.length ? colDefs : [(alias?.aliasname as string | undefined) ?? 'f'];
        const item: RangeItem = {
          name: (alias?.aliasname as string | undefined) ?? '?function?',
          columns: names.map((n) => ({ name: n, sources: new Set(sources), direct: false })),
          opaque: sources.size > 0,
          // Without a column list we can't tell how many columns the function returns.
          uncertain: !colnames.length && !colDefs.length,
        };
        if (sources.size > 0) item.columns.push({ name: '*', sources, direct: false });
        return [item];
      }
      case 'RangeTableSample':
        this.filter('TABLESAMPLE', [body.args, body.repeatable], scope);
        return this.fromItem(body.relation as Node, scope);
      default: {
        // XMLTABLE, JSON_TABLE and whatever else PostgreSQL adds: every column
        // may carry anything its expressions read (they see earlier items).
        const sources = this.expr(body, scope).sources;
        this.hazard('filter', `${type} (row count)`, sources);
        const alias = (body.alias as Node | undefined) ?? ((body.alias as Node | undefined)?.Alias as Node | undefined);
        return [{ name: (alias?.aliasname as string | undefined) ?? '?unknown?', columns: [{ name: '*', sources, direct: false }], opaque: true }];
      }
    }
  }

  private rangeVar(rv: Node, scope: Scope): RangeItem {
    const name = rv.relname as string;
    const schema = rv.schemaname as string | undefined;
    const alias = rv.alias as Node | undefined;
    // A CTE of that name shadows relations (only when unqualified).
    if (!schema) {
      for (let s: Scope | undefined = scope; s; s = s.parent) {
        const cte = s.ctes.get(name);
        if (cte) return aliased(alias, name, cte);
      }
    }
    if (isStatisticsName(name) && (!schema || schema === 'pg_catalog' || schema === 'public')) {
      this.hazard('system', name, new Set([`system:${name}`]));
    }
    const candidates = this.catalog.resolve(schema, name);
    if (candidates.length === 0) {
      this.unresolved.add(schema ? `${schema}.${name}` : name);
      // A relation the catalog doesn't know yet (a session reads it again
      // first, unless it just did): its columns may carry anything.
      return { ...aliased(alias, name, []), columns: [{ name: '*', sources: new Set(['opaque:unresolved']), direct: false }], opaque: true, uncertain: true };
    }
    // Unqualified names may mean any schema's relation (search_path can change):
    // merge the candidates' columns by name.
    const byName = new Map<string, RangeColumn>();
    for (const rel of candidates) {
      this.relations.add(rel.oid);
      for (const col of this.relationColumns(rel)) {
        const prev = byName.get(col.name);
        if (prev) {
          addAll(prev.sources, col.sources);
          prev.direct = prev.direct && col.direct;
        } else byName.set(col.name, { name: col.name, sources: new Set(col.sources), direct: col.direct });
      }
    }
    return aliased(alias, name, [...byName.values()]);
  }

  /** Columns of a relation with their base lineage (views resolved through their definitions). */
  relationColumns(rel: RelationInfo): RangeColumn[] {
    if (rel.viewDefinition === undefined) {
      return rel.columns.map((c) => ({ name: c.name, sources: new Set([columnKey(rel.oid, c.attnum)]), direct: true }));
    }
    return this.viewColumns(rel);
  }

  private viewColumns(rel: RelationInfo): RangeColumn[] {
    if (this.viewStack.includes(rel.oid)) return [];
    const cached = viewCache.get(this.catalog)?.get(rel.oid);
    if (cached) {
      this.hazards.push(...cached.hazards);
      return cached.cols.map((c) => ({ ...c, sources: new Set(c.sources) }));
    }
    const hazardsBefore = this.hazards.length;
    this.viewStack.push(rel.oid);
    let cols: RangeColumn[];
    try {
      const parsed = parseStatements(rel.viewDefinition as string);
      const sub = new LineageContext(this.catalog);
      sub.viewStack.push(...this.viewStack);
      cols = (sub.statement(parsed[0].stmt) ?? []).map((c, i) => {
        const own = rel.columns[i];
        // The view column's own key, for policy entries that name it (see ColumnKey).
        if (own) c.sources.add(columnKey(rel.oid, own.attnum));
        return { name: own?.name ?? c.name, sources: c.sources, direct: c.direct };
      });
      for (const r of sub.relations) this.relations.add(r);
      // A view's own predicates run for every reader; they are the view owner's
      // choice, not an inference by the reader. What it reads from system views
      // or server-side code is another matter: those hazards carry over.
      for (const h of sub.hazards) if (h.kind === 'system' || h.kind === 'function') this.hazards.push(h);
    } catch {
      // Unparseable definition: every column may carry anything the view's relations hold.
      cols = rel.columns.map((c) => ({ name: c.name, sources: new Set([`view:${rel.oid}`]), direct: false }));
    } finally {
      this.viewStack.pop();
    }
    let perCatalog = viewCache.get(this.catalog);
    if (!perCatalog) viewCache.set(this.catalog, (perCatalog = new Map()));
    perCatalog.set(rel.oid, { cols, hazards: this.hazards.slice(hazardsBefore) });
    return cols.map((c) => ({ ...c, sources: new Set(c.sources) }));
  }

  // ---- target list and expressions ------------------------------------------

  private target(rt: Node, scope: Scope): RangeColumn[] {
    const val = rt.val as Node;
    const ref = val.ColumnRef as Node | undefined;
    if (ref) {
      const fields = ref.fields as Node[];
      const last = fields[fields.length - 1];
      if (last.A_Star) {
        // * or t.* expands to one output column per column.
        const items = fields.length === 1 ? scope.items : this.findItems(fields.slice(0, -1).map(strOf), scope);
        if (items.some((i) => i.uncertain || i.opaque)) this.shapeUncertain = true;
        const cols = items.flatMap((i) => i.columns.filter((c) => c.name !== '*' || i.opaque));
        return cols.map((c) => ({ name: c.name, sources: new Set(c.sources), direct: c.direct }));
      }
    }
    const l = this.expr(val, scope);
    return [{ name: (rt.name as string | undefined) ?? defaultName(val), sources: l.sources, direct: l.direct }];
  }

  /** Lineage of an expression: every column reference anywhere inside it. */
  expr(node: unknown, scope: Scope): { sources: Set<ColumnKey>; direct: boolean } {
    if (node === null || typeof node !== 'object') return { sources: new Set(), direct: false };
    if (Array.isArray(node)) {
      const sources = new Set<ColumnKey>();
      for (const n of node) addAll(sources, this.expr(n, scope).sources);
      return { sources, direct: false };
    }
    const n = node as Node;
    if (n.ColumnRef) return this.columnRef(n.ColumnRef as Node, scope);
    if (n.A_Indirection) {
      const ind = n.A_Indirection as Node;
      const arg = this.expr(ind.arg, scope);
      const path = (ind.indirection as Node[]).filter((x) => x.String).map(strOf);
      // (u).ssn: pick the column out of a whole-row reference when we can.
      const argRef = (ind.arg as Node).ColumnRef as Node | undefined;
      const argFields = (argRef?.fields as Node[] | undefined) ?? [];
      if (argFields.length === 1 && argFields[0].String && path.length === 1 && (ind.indirection as Node[]).length === 1) {
        const item = this.wholeRowItem(strOf(argFields[0]), scope);
        const col = item?.columns.find((c) => c.name === path[0]);
        if (col) return { sources: new Set(col.sources), direct: col.direct };
      }
      const sources = new Set(arg.sources);
      addAll(sources, this.expr(ind.indirection, scope).sources);
      // (x).f is also f(x) when x has no field f: a function call in disguise.
      for (const name of path) this.call([name], sources, undefined, 'attribute');
      return { sources, direct: false };
    }
    if (n.SubLink) {
      const sl = n.SubLink as Node;
      const cols = this.statement(sl.subselect as Node, scope) ?? [];
      const sources = unionAll(cols.map((c) => c.sources));
      addAll(sources, this.expr(sl.testexpr, scope).sources);
      return { sources, direct: false };
    }
    if (n.FuncCall) {
      const fc = n.FuncCall as Node;
      const names = ((fc.funcname as Node[]) ?? []).map(strOf);
      const fname = names[names.length - 1] ?? '';
      const args = this.expr([fc.args, fc.agg_order, fc.agg_filter, fc.over], scope);
      if (isSetReturning(fname, this.catalog) && !this.fixedCardinality(fc, scope)) this.hazard('filter', `${fname}() (row count)`, args.sources);
      const over = fc.over as Node | undefined;
      if (over) {
        const wd = (over.WindowDef as Node | undefined) ?? over;
        this.filter('window PARTITION BY / ORDER BY', [wd.partitionClause, wd.orderClause], scope);
      }
      // f(u) with u a row and f one of its columns is the field u.f (functional notation).
      const fcArgs = (fc.args as Node[] | undefined) ?? [];
      this.call(names, args.sources, fc.args, names.length === 1 && fcArgs.length === 1 && this.isWholeRow(fcArgs[0], scope) ? 'attribute' : 'call');
      return { sources: args.sources, direct: false };
    }
    if (n.TypeCast) {
      const tc = n.TypeCast as Node;
      const arg = this.expr(tc.arg, scope);
      const typeNames = (((tc.typeName as Node | undefined)?.names as Node[] | undefined) ?? []).map(strOf);
      const type = typeNames[typeNames.length - 1] ?? '';
      if (OBJECT_REFERENCE_TYPES.has(type)) {
        // A value turned into an object reference (regclass, regproc…) picks which
        // object the statement opens and locks: another session sees that lock.
        this.hazard('copy', `cast to ${type}`, arg.sources);
        if (arg.sources.size > 0) this.sideEffects.push(`::${type}`);
      }
      return { sources: arg.sources, direct: false };
    }
    if (n.A_Expr) {
      const ax = n.A_Expr as Node;
      const res = this.expr([ax.lexpr, ax.rexpr], scope);
      const opName = ((ax.name as Node[] | undefined) ?? []).map(strOf);
      const op = opName[opName.length - 1];
      if (op && this.catalog.operatorNames().has(op)) {
        // A user-written operator runs its function: judged like a call of it.
        this.hazard('copy', `operator ${op}`, res.sources);
        this.callsFunctions = true;
        for (const fn of this.catalog.operatorFunctions(op)) this.userFunction([fn], res.sources, undefined);
      }
      return { sources: res.sources, direct: false };
    }
    if (n.RangeSubselect || n.SelectStmt) {
      const cols = this.statement(n, scope) ?? [];
      return { sources: unionAll(cols.map((c) => c.sources)), direct: false };
    }
    const sources = new Set<ColumnKey>();
    for (const v of Object.values(n)) if (v && typeof v === 'object') addAll(sources, this.expr(v, scope).sources);
    return { sources, direct: false };
  }

  private columnRef(ref: Node, scope: Scope): { sources: Set<ColumnKey>; direct: boolean } {
    const result = this.resolveColumnRef(ref, scope);
    addAll(this.read, result.sources);
    return result;
  }

  private resolveColumnRef(ref: Node, scope: Scope): { sources: Set<ColumnKey>; direct: boolean } {
    const fields = ref.fields as Node[];
    const names = fields.map((f) => (f.A_Star ? '*' : strOf(f)));
    if (names[names.length - 1] === '*') {
      // t.* inside an expression (row constructor, function argument): whole rows.
      const items = names.length === 1 ? scope.items : this.findItems(names.slice(0, -1), scope);
      return { sources: unionAll(items.flatMap((i) => i.columns.map((c) => c.sources))), direct: false };
    }
    const colName = names[names.length - 1];
    // Items whose columns we can't list may hold the name: what they carry is
    // added to what the name resolves to further out (PostgreSQL may find it
    // in either), never instead of it.
    let opaqueSources: Set<ColumnKey> | undefined;
    const found = (sources: Set<ColumnKey>, direct: boolean) =>
      opaqueSources ? { sources: union(sources, opaqueSources), direct: false } : { sources, direct };
    for (let s: Scope | undefined = scope; s; s = s.parent) {
      const items = names.length === 1 ? s.items : this.findItemsIn(names.slice(0, -1), s);
      const hits = items.flatMap((i) => i.columns.filter((c) => c.name === colName));
      if (hits.length === 1) return found(new Set(hits[0].sources), hits[0].direct);
      if (hits.length > 1) return found(unionAll(hits.map((h) => h.sources)), false);
      const opaque = items.filter((i) => i.opaque);
      if (opaque.length) {
        opaqueSources ??= new Set();
        for (const i of opaque) for (const c of i.columns) addAll(opaqueSources, c.sources);
      }
      if (names.length === 1) {
        // A bare relation alias is a whole-row reference: SELECT u FROM users u.
        const whole = s.items.filter((i) => i.name === colName);
        if (whole.length) return found(unionAll(whole.flatMap((i) => i.columns.map((c) => c.sources))), false);
      } else if (items.length && !opaque.length) {
        // u.f where u has no column f: PostgreSQL reads it as the call f(u)
        // (u.row_to_json is row_to_json(u)): the whole row goes in.
        const sources = unionAll(items.flatMap((i) => i.columns.map((c) => c.sources)));
        this.call([colName], sources, undefined, 'attribute');
        return found(sources, false);
      }
    }
    if (opaqueSources) {
      if (names.length > 1) this.call([colName], opaqueSources, undefined, 'attribute');
      return { sources: opaqueSources, direct: false };
    }
    if (names.length > 1) {
      // t.c.f (a field of a composite column, or f(t.c)), or a qualifier we
      // can't place: it may carry anything in reach.
      const sources = new Set<ColumnKey>();
      for (let s: Scope | undefined = scope; s; s = s.parent) for (const i of s.items) for (const c of i.columns) addAll(sources, c.sources);
      this.call([colName], sources, undefined, 'attribute');
      return { sources, direct: false };
    }
    // Nothing by that name: it may belong to an item whose columns we can't list.
    const sources = new Set<ColumnKey>();
    for (let s: Scope | undefined = scope; s; s = s.parent) for (const i of s.items) if (i.opaque) for (const c of i.columns) addAll(sources, c.sources);
    return { sources, direct: false };
  }

  /**
   * The range item a bare name means as a whole-row reference, as PostgreSQL
   * resolves it: level by level from the innermost, a column of that name
   * wins over an item of that name (then it is no whole-row reference).
   */
  private wholeRowItem(name: string, scope: Scope): RangeItem | undefined {
    for (let s: Scope | undefined = scope; s; s = s.parent) {
      if (s.items.some((i) => i.opaque || i.columns.some((c) => c.name === name))) return undefined;
      const items = s.items.filter((i) => i.name === name);
      if (items.length === 1) return items[0];
      if (items.length > 1) return undefined;
    }
    return undefined;
  }

  /**
   * Set-returning calls whose row count can't depend on values: unnest of an
   * ARRAY[...] of constants and scalar columns (an element that is itself an
   * array makes it multi-dimensional, its size data-dependent), json(b)_each
   * over a whole row turned into JSON (a row has fixed keys; a json value
   * has not).
   */
  private fixedCardinality(fc: Node, scope: Scope): boolean {
    const names = ((fc.funcname as Node[] | undefined) ?? []).map(strOf);
    const fname = names[names.length - 1] ?? '';
    const args = (fc.args as Node[] | undefined) ?? [];
    // The built-ins only: a user function of the same name (in another schema) can return any rows.
    if (!this.builtin(names)) return false;
    if (fname === 'unnest') {
      return args.length > 0 && args.every((a) => {
        const elements = ((a.A_ArrayExpr as Node | undefined)?.elements as Node[] | undefined);
        return elements !== undefined && elements.every((e) => this.scalarElement(e, scope));
      });
    }
    if (/^jsonb?_each(_text)?$/.test(fname) && args.length === 1) {
      const inner = args[0].FuncCall as Node | undefined;
      const innerNames = ((inner?.funcname as Node[] | undefined) ?? []).map(strOf);
      const innerName = innerNames.length && this.builtin(innerNames) ? innerNames[innerNames.length - 1] : undefined;
      const innerArgs = (inner?.args as Node[] | undefined) ?? [];
      // Over a row of a FROM item only: a json value, or an expression that may
      // be NULL (row_to_json(CASE WHEN ssn LIKE '5%' THEN u END)), has no fixed keys.
      if ((innerName === 'row_to_json' || innerName === 'to_jsonb' || innerName === 'to_json') && innerArgs.length >= 1) return this.isWholeRow(innerArgs[0], scope);
    }
    return false;
  }

  /** A whole-row reference: t.* or a bare name that means a FROM item (not a column). */
  private isWholeRow(node: Node, scope: Scope): boolean {
    const fields = ((node.ColumnRef as Node | undefined)?.fields as Node[] | undefined) ?? [];
    if (fields.length > 0 && fields[fields.length - 1].A_Star) return true;
    return fields.length === 1 && Boolean(fields[0].String) && this.wholeRowItem(strOf(fields[0]), scope) !== undefined;
  }

  /** A call by this name can only mean the built-in: unqualified or pg_catalog, and no user function has the name. */
  private builtin(names: string[]): boolean {
    if (names.length > 2 || (names.length === 2 && names[0] !== 'pg_catalog')) return false;
    return this.catalog.functions(names[names.length - 1]).length === 0;
  }

  /** An element of ARRAY[...] that can't be an array: a constant, or a table column of a scalar built-in type. */
  private scalarElement(e: Node, scope: Scope): boolean {
    const cast = e.TypeCast as Node | undefined;
    if (e.A_Const || (cast && (cast.arg as Node).A_Const && !((cast.typeName as Node | undefined)?.arrayBounds))) return true;
    if (!e.ColumnRef) return false;
    const ref = this.resolveColumnRef(e.ColumnRef as Node, scope);
    if (!ref.direct || ref.sources.size !== 1) return false;
    const [key] = ref.sources;
    if (!/^\d+:\d+$/.test(key)) return false;
    const { rel, attnum } = parseColumnKey(key);
    const type = this.catalog.relation(rel)?.columns.find((c) => c.attnum === attnum)?.typeOid;
    if (type === undefined) return false;
    return SCALAR_TYPES.has(this.catalog.data.domainBase[type] ?? type);
  }

  private findItems(qualifier: string[], scope: Scope): RangeItem[] {
    for (let s: Scope | undefined = scope; s; s = s.parent) {
      const hits = this.findItemsIn(qualifier, s);
      if (hits.length) return hits;
    }
    return [];
  }

  private findItemsIn(qualifier: string[], scope: Scope): RangeItem[] {
    // t.col or schema.t.col (or db.schema.t.col): the item is matched by its last qualifier.
    const name = qualifier[qualifier.length - 1];
    return scope.items.filter((i) => i.name === name);
  }

  private filter(where: string, node: unknown, scope: Scope, outputs?: RangeColumn[]): void {
    if (node === undefined || node === null) return;
    const n = node as Node;
    // ORDER BY 1 / GROUP BY alias refer to output columns. Whether a name
    // means an output or an input column differs between clauses (ORDER BY
    // prefers outputs, GROUP BY inputs): count both.
    if (outputs) {
      const sources = this.expr(n, scope).sources;
      addAll(sources, outputReferences(n, outputs));
      return this.hazard('filter', where, sources);
    }
    this.hazard('filter', where, this.expr(n, scope).sources);
  }

  /** A function call (names: its possibly qualified name), in any notation. */
  /**
   * A function call (names: its possibly qualified name), in any notation.
   * `attribute`: written x.f, (x).f, or f(x) over a row x, where f may as well
   * be a field of x: then a name that is some column's is no unknown function.
   */
  private call(names: string[], argSources: Set<ColumnKey>, args: unknown, notation: 'call' | 'attribute' = 'call'): void {
    const fname = names[names.length - 1] ?? '';
    if (SIDE_CHANNEL_FUNCTIONS.has(fname) || fname.startsWith('lo_') || fname.startsWith('dblink')) {
      this.hazard('copy', `${fname}()`, argSources);
      this.sideEffects.push(`${fname}()`);
    }
    if (isStatisticsName(fname)) this.hazard('system', `${fname}()`, new Set([`system:${fname}`]));
    this.callsFunctions = true;
    // Any other volatile built-in or extension function may change state a later
    // statement or another session reads (set_limit, normal_rand… were found one by
    // one): in a statement that reads masked columns it is refused, but for a few
    // that only read the clock or make random identifiers.
    const lowered = fname.toLowerCase();
    if (this.catalog.volatileCode().has(lowered) && !HARMLESS_VOLATILE.has(lowered) && !SIDE_CHANNEL_FUNCTIONS.has(lowered)) {
      this.sideEffects.push(`${fname}()`);
    }
    const functions = this.catalog.functionNames();
    const words = this.catalog.knownWords;
    const knownName = functions ? functions.has(lowered) || (notation === 'attribute' && words?.has(lowered) === true) : words?.has(lowered) ?? true;
    if (!knownName && this.catalog.functions(fname).length === 0) {
      // Created since the catalog was read, possibly in the client's own open
      // transaction or earlier in its pipeline, where pgveil's catalog
      // connection can't see it: its body can't be checked (fail closed).
      // Named as unresolved, so a session reloads the catalog first.
      this.unresolved.add(fname);
      this.hazard('copy', `${fname} (a function pgveil's catalog doesn't know yet)`, new Set(['opaque:unknown-function']));
      this.sideEffects.push(`${fname}()`);
      return;
    }
    this.userFunction(names, argSources, args);
  }

  private userFunction(names: string[], argSources: Set<ColumnKey>, args: unknown): void {
    const fname = names[names.length - 1];
    const schema = names.length > 1 ? names[names.length - 2] : undefined;
    // ts_rewrite runs SQL only in its two-argument form.
    if (QUERY_STRING_FUNCTIONS.has(fname) && !(fname === 'ts_rewrite' && (args as unknown[] | undefined)?.length !== 2)) {
      // query_to_xml('SELECT ssn ...'), ts_stat(...), cursor_to_xml(...): they run
      // SQL given as text, which only the server sees: assume they read anything.
      this.hazard('function', `${fname}()`, this.everything());
      return;
    }
    for (const fn of this.catalog.functions(fname)) {
      if (schema && !sameSchema(schema, fn.schema)) continue;
      // C functions come from extensions a superuser installed; they are trusted like built-ins.
      if (fn.language === 'c' || fn.language === 'internal') continue;
      const read = this.codeReads(fn.body, fn.language);
      if (read.size > 0) this.hazard('function', `${fn.schema}.${fn.name}()`, read);
      // A function that writes, notifies or runs SQL (itself or through the
      // functions it calls) may keep its arguments, or anything, anywhere.
      if (this.codeHasSideEffects(fn.body, fn.language)) {
        this.hazard('copy', `${fn.schema}.${fn.name}() argument`, argSources);
        this.sideEffects.push(`${fn.schema}.${fn.name}()`);
      }
    }
  }

  /** Every column of every relation, plus the system views: for code pgveil can't follow. */
  everything(): Set<ColumnKey> {
    const sources = new Set<ColumnKey>(['system:dynamic']);
    for (const rel of this.catalog.data.relations) for (const c of this.relationColumns(rel)) addAll(sources, c.sources);
    return sources;
  }

  /**
   * What a body of server-side code may read: relations whose names appear in
   * it as words (conservative), system views that expose values, and, when it
   * builds SQL at run time (EXECUTE, format()) or isn't SQL/PL/pgSQL, anything.
   */
  codeReads(text: string, language = 'plpgsql', visiting: Set<string> = new Set()): Set<ColumnKey> {
    const lower = text.toLowerCase();
    const words = new Set(lower.match(/[a-z_][a-z0-9_$]*/g) ?? []);
    // Dynamic SQL, Unicode-escaped names, other languages, SQL given as text:
    // nothing can be followed, so assume anything is read.
    if (
      !['sql', 'plpgsql'].includes(language) ||
      words.has('execute') ||
      // FETCH / MOVE from a cursor handed in by name (refcursor) reads whatever that cursor reads.
      words.has('fetch') ||
      words.has('move') ||
      lower.includes('u&') ||
      [...QUERY_STRING_FUNCTIONS].some((f) => words.has(f))
    ) {
      return this.everything();
    }
    const sources = new Set<ColumnKey>();
    for (const name of words) if (isStatisticsName(name)) sources.add(`system:${name}`);
    for (const rel of this.catalog.data.relations) {
      if (!words.has(rel.name.toLowerCase())) continue;
      for (const c of this.relationColumns(rel)) addAll(sources, c.sources);
    }
    // Functions it calls read what their bodies read.
    for (const fn of this.catalog.data.functions) {
      const key = `${fn.schema}.${fn.name}`;
      if (!namesIn(fn.name, words, lower) || visiting.has(key) || fn.language === 'c' || fn.language === 'internal') continue;
      visiting.add(key);
      addAll(sources, this.codeReads(fn.body, fn.language, visiting));
    }
    return sources;
  }

  /**
   * Whether a body of server-side code may keep or send a value somewhere (a
   * table, a sequence, a setting, a lock, a notification), itself or through
   * the user functions it calls (matched by name as words, like codeReads).
   */
  codeHasSideEffects(body: string, language: string): boolean {
    if (language !== 'sql' && language !== 'plpgsql') return true;
    let memo = sideEffectCache.get(this.catalog);
    if (!memo) sideEffectCache.set(this.catalog, (memo = new Map()));
    const key = `${language}\0${body}`;
    let answer = memo.get(key);
    if (answer === undefined) {
      answer = this.sideEffectsOf(body, language, new Set());
      memo.set(key, answer);
    }
    return answer;
  }

  private sideEffectsOf(body: string, language: string, visiting: Set<string>): boolean {
    if (language !== 'sql' && language !== 'plpgsql') return true;
    const words = new Set(body.toLowerCase().match(/[a-z_][a-z0-9_$]*/g) ?? []);
    if (SIDE_EFFECT_WORDS.some((w) => words.has(w)) || [...words].some((w) => w.startsWith('lo_') || w.startsWith('dblink'))) return true;
    // A volatile built-in or extension function called in the body, as in a statement (see call()).
    const volatile = this.catalog.volatileCode();
    for (const w of words) if (volatile.has(w) && !HARMLESS_VOLATILE.has(w)) return true;
    const lower = body.toLowerCase();
    for (const fn of this.catalog.data.functions) {
      const key = `${fn.schema}.${fn.name}`;
      if (!namesIn(fn.name, words, lower) || visiting.has(key) || fn.language === 'c' || fn.language === 'internal') continue;
      visiting.add(key);
      if (this.sideEffectsOf(fn.body, fn.language, visiting)) return true;
    }
    return false;
  }
}

const viewCache = new WeakMap<CatalogSnapshot, Map<number, { cols: RangeColumn[]; hazards: Hazard[] }>>();
const sideEffectCache = new WeakMap<CatalogSnapshot, Map<string, boolean>>();

// RAISE is not here: errors and notices of statements that read masked columns are scrubbed.
/** Words of code that can keep or send a value somewhere (a table, a sequence, a setting, a lock, a notification, a file). */
const SIDE_EFFECT_WORDS = [
  'insert', 'update', 'delete', 'merge', 'copy', 'notify', 'execute', 'into', 'call', 'create', 'alter', 'nextval',
  // Row locks (FOR SHARE), table locks, cursors opened under a name from a value
  // (refcursor), settings, LISTEN: state another statement or session can see.
  'share', 'lock', 'open', 'refcursor', 'set', 'listen', 'unlisten', 'prepare',
  // Utility statements whose effect a later statement can see (an emptied or dropped table, a comment).
  'truncate', 'drop', 'comment', 'grant', 'revoke', 'vacuum', 'analyze', 'reindex', 'cluster', 'refresh', 'security',
  'discard', 'reset',
  ...SIDE_CHANNEL_FUNCTIONS,
];


/** SEARCH ... SET col and CYCLE ... SET mark USING path add columns built from the CTE's rows. */
function withSearchCycle(cte: Node, cols: RangeColumn[]): RangeColumn[] {
  const all = unionAll(cols.map((c) => c.sources));
  const out = [...cols];
  const search = cte.search_clause as Node | undefined;
  const cycle = cte.cycle_clause as Node | undefined;
  const sc = (search?.CTESearchClause as Node | undefined) ?? search;
  const cc = (cycle?.CTECycleClause as Node | undefined) ?? cycle;
  if (sc?.search_seq_column) out.push({ name: sc.search_seq_column as string, sources: new Set(all), direct: false });
  if (cc?.cycle_mark_column) out.push({ name: cc.cycle_mark_column as string, sources: new Set(all), direct: false });
  if (cc?.cycle_path_column) out.push({ name: cc.cycle_path_column as string, sources: new Set(all), direct: false });
  return out;
}

// ---- small helpers ---------------------------------------------------------

import { parseStatements } from './parse.js';

function strOf(n: Node): string {
  const s = n.String as Node | undefined;
  return (s?.sval as string | undefined) ?? '';
}

function qualified(rv: Node): string {
  return [rv.schemaname, rv.relname].filter(Boolean).join('.');
}

function aliased(alias: Node | undefined, fallback: string, cols: RangeColumn[]): RangeItem {
  const colnames = ((alias?.colnames as Node[] | undefined) ?? []).map(strOf);
  return {
    name: (alias?.aliasname as string | undefined) ?? fallback,
    columns: cols.map((c, i) => ({ name: colnames[i] ?? c.name, sources: c.sources, direct: c.direct })),
    opaque: false,
  };
}

function defaultName(val: Node): string {
  const ref = val.ColumnRef as Node | undefined;
  if (ref) {
    const f = ref.fields as Node[];
    return strOf(f[f.length - 1]);
  }
  const ind = val.A_Indirection as Node | undefined;
  if (ind) {
    const path = (ind.indirection as Node[]).filter((x) => x.String);
    if (path.length) return strOf(path[path.length - 1]);
  }
  const fc = val.FuncCall as Node | undefined;
  if (fc) {
    const names = (fc.funcname as Node[]).map(strOf);
    return names[names.length - 1];
  }
  return '?column?';
}

/**
 * What output columns an ORDER BY / GROUP BY / DISTINCT ON item may refer to:
 * a position (ORDER BY 2), or a bare name equal to an output's name, at its
 * top or inside ROLLUP / CUBE / GROUPING SETS and row constructors.
 */
function outputReferences(node: unknown, outputs: RangeColumn[]): Set<ColumnKey> {
  const sources = new Set<ColumnKey>();
  const visit = (x: unknown, top: boolean): void => {
    if (x === null || typeof x !== 'object') return;
    if (Array.isArray(x)) {
      for (const e of x) visit(e, top);
      return;
    }
    const n = x as Node;
    const c = (n.A_Const as Node | undefined)?.ival as Node | undefined;
    if (top && c && typeof c.ival === 'number' && outputs[c.ival - 1]) addAll(sources, outputs[c.ival - 1].sources);
    const ref = n.ColumnRef as Node | undefined;
    if (ref) {
      const fields = ref.fields as Node[];
      if (fields.length === 1 && fields[0].String) for (const o of outputs) if (o.name === strOf(fields[0])) addAll(sources, o.sources);
      return;
    }
    const set = n.GroupingSet as Node | undefined;
    if (set) return visit(set.content, true);
    const row = n.RowExpr as Node | undefined;
    if (row) return visit(row.args, true);
    for (const v of Object.values(n)) visit(v, false);
  };
  visit(node, true);
  return sources;
}

/**
 * Whether code (its words, and its lower-cased text) may name `name`: as a
 * word, or, for a name that isn't a plain identifier ("a-b", "2x", non-ASCII),
 * anywhere in the text.
 */
function namesIn(name: string, words: Set<string>, lower: string): boolean {
  const n = name.toLowerCase();
  return /^[a-z_][a-z0-9_$]*$/.test(n) ? words.has(n) : lower.includes(n);
}

/** Whether `text` may name any of `names` (lower-cased), matched as namesIn does. */
export function mentionsAny(text: string, names: Iterable<string>): boolean {
  const lower = text.toLowerCase();
  const words = new Set(lower.match(/[a-z_][a-z0-9_$]*/g) ?? []);
  for (const n of names) if (namesIn(n, words, lower)) return true;
  return false;
}

/** How many columns each CTE has and how many sources each carries: equal shapes = nothing grew. */
function shapeOfCtes(ctes: Map<string, RangeColumn[]>): string {
  return [...ctes.values()].map((cols) => cols.map((c) => c.sources.size).join(',')).join('|');
}

function union(a: Set<ColumnKey>, b: Set<ColumnKey> | undefined): Set<ColumnKey> {
  const out = new Set(a);
  if (b) addAll(out, b);
  return out;
}

function unionAll(sets: Set<ColumnKey>[]): Set<ColumnKey> {
  const out = new Set<ColumnKey>();
  for (const s of sets) addAll(out, s);
  return out;
}

function addAll(into: Set<ColumnKey>, from: Set<ColumnKey>): void {
  for (const k of from) into.add(k);
}
