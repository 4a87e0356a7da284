/**
 * Statement analysis: what kind of statement, which base columns reach each
 * result column, and which other uses of columns could leak (hazards).
 * Pure over (SQL text, catalog snapshot): cached per snapshot by text.
 */
import type { CatalogSnapshot } from '../catalog/snapshot.js';
import { LineageContext, type Hazard, type OutputColumn } from './lineage.js';
import { parseStatements, SqlSyntaxError, type ParsedStatement } from './parse.js';

export type StatementKind =
  | 'query' // SELECT, VALUES, TABLE, DML with or without RETURNING, EXPLAIN, SHOW, ...
  | 'copy_out'
  | 'copy_in'
  | 'declare'
  | 'fetch'
  | 'close_cursor'
  | 'prepare'
  | 'execute'
  | 'deallocate'
  | 'ddl'
  | 'other';

export interface CopyFormat {
  format: 'text' | 'csv' | 'binary';
  /** ENCODING option: rows in another encoding can't be rewritten as UTF-8. */
  encoding?: string;
  delimiter: string;
  null: string;
  quote: string;
  escape: string;
  header: boolean;
}

export interface StatementAnalysis {
  kind: StatementKind;
  /** Node type as PostgreSQL names it (SelectStmt, CopyStmt...): safe to log. */
  nodeType: string;
  /** Result columns in order, when the statement returns rows whose shape we know. */
  outputs: OutputColumn[] | undefined;
  hazards: Hazard[];
  /** OIDs of relations read or written. */
  relations: number[];
  /** Relation names the catalog doesn't know. */
  unresolved: string[];
  /** Cursor name (DECLARE/FETCH/MOVE/CLOSE) or prepared statement name (PREPARE/EXECUTE/DEALLOCATE). */
  name?: string;
  /** PREPARE ... AS: the analysis of the statement being prepared. */
  prepared?: StatementAnalysis;
  /** DECLARE ... CURSOR FOR: the analysis of the cursor's query. */
  cursorQuery?: StatementAnalysis;
  copy?: CopyFormat & { toFile: boolean };
  /** The outputs may not line up one to one with the result's columns. */
  shapeUncertain?: boolean;
  /**
   * It may change how the server reads statement text or writes results
   * (client_encoding, standard_conforming_strings): PostgreSQL reports such a
   * change only before the next ReadyForQuery, so what follows it in the same
   * query or pipeline can't be judged with the settings pgveil knows.
   */
  changesReading?: boolean;
  /** COMMIT, ROLLBACK (TO), PREPARE TRANSACTION…: they undo the SETs of the transaction. */
  endsTransaction?: boolean;
  /** Names whose meaning it defines or changes (see definedNames): the session taints them until they are committed. */
  defines?: string[];
  /** It calls a function or user-written operator (without a catalog, what that runs is unknown). */
  callsFunctions?: boolean;
}

export type AnalysisResult =
  | { ok: true; statements: StatementAnalysis[] }
  | { ok: false; error: string; position?: number };

const READ_OR_SESSION = new Set([
  'SelectStmt', 'InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt', 'CopyStmt', 'DeclareCursorStmt', 'FetchStmt',
  'ClosePortalStmt', 'PrepareStmt', 'ExecuteStmt', 'DeallocateStmt', 'ExplainStmt', 'TransactionStmt', 'VariableSetStmt',
  'VariableShowStmt', 'DoStmt', 'CallStmt', 'ListenStmt', 'NotifyStmt', 'UnlistenStmt', 'LockStmt', 'DiscardStmt',
  'CheckPointStmt', 'VacuumStmt', 'ConstraintsSetStmt', 'LoadStmt', 'ReindexStmt', 'ClusterStmt',
]);

type Node = Record<string, unknown>;

const cache = new WeakMap<CatalogSnapshot, Map<string, AnalysisResult>>();
const CACHE_LIMIT = 5000;

/** Analyzes every statement in `sql` (cached by text per catalog snapshot). */
export function analyzeSql(sql: string, catalog: CatalogSnapshot): AnalysisResult {
  let perCatalog = cache.get(catalog);
  if (!perCatalog) cache.set(catalog, (perCatalog = new Map()));
  const hit = perCatalog.get(sql);
  if (hit) return hit;
  const result = analyzeUncached(sql, catalog);
  if (perCatalog.size >= CACHE_LIMIT) perCatalog.delete(perCatalog.keys().next().value as string);
  perCatalog.set(sql, result);
  return result;
}

function analyzeUncached(sql: string, catalog: CatalogSnapshot): AnalysisResult {
  let parsed: ParsedStatement[];
  try {
    parsed = parseStatements(sql);
  } catch (err) {
    if (err instanceof SqlSyntaxError) return { ok: false, error: err.message, position: err.cursorPosition };
    return { ok: false, error: 'statement could not be parsed' };
  }
  const statements = parsed.map((p) => {
    const st = analyzeStatement(p.stmt, catalog);
    const defines = definedNames(p.stmt);
    return defines.length ? { ...st, defines } : st;
  });
  if (parsed.length > 1) markSameQueryUses(sql, parsed, statements);
  markReadingChanges(sql, parsed, statements, catalog);
  return { ok: true, statements };
}

/** Words that name the settings, or ways to change settings from inside a statement. */
const READING_WORDS = ['client_encoding', 'standard_conforming_strings', 'set_config', 'names', 'pg_settings'];

/** Transaction ends undo the SETs made in the transaction. */
const ENDS_TRANSACTION = new Set(['TRANS_STMT_COMMIT', 'TRANS_STMT_ROLLBACK', 'TRANS_STMT_ROLLBACK_TO', 'TRANS_STMT_PREPARE', 'TRANS_STMT_COMMIT_PREPARED', 'TRANS_STMT_ROLLBACK_PREPARED']);
const DML = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt']);

/**
 * Which statements may change client_encoding or standard_conforming_strings:
 * SET/RESET of them (RESET ALL, DISCARD ALL too), set_config(), DO and CALL,
 * calls of server-side code that mentions them or runs dynamic SQL, and
 * writes to tables with triggers or rules. Judged on words, so it says yes too
 * often; code it can't see (column defaults, domain checks, casts and
 * operators calling user functions, functions created in a request still on
 * its way) is not followed. Transaction ends: see endsTransaction.
 */
function markReadingChanges(sql: string, parsed: ParsedStatement[], statements: StatementAnalysis[], catalog: CatalogSnapshot): void {
  const bytes = parsed.length > 1 ? Buffer.from(sql, 'utf8') : undefined;
  const risky = readingFunctions(catalog);
  parsed.forEach((p, i) => {
    const st = statements[i];
    const text = (bytes ? bytes.toString('utf8', p.location, p.length === undefined ? bytes.length : p.location + p.length) : sql).toLowerCase();
    const words = new Set(text.match(/[a-z_][a-z0-9_$]*/g) ?? []);
    const txKind = (p.stmt.TransactionStmt as Node | undefined)?.kind as string | undefined;
    const changes =
      st.nodeType === 'DoStmt' || st.nodeType === 'CallStmt' || st.nodeType === 'DiscardStmt' ||
      ((DML.has(st.nodeType) || st.kind === 'copy_in') && st.relations.some((oid) => catalog.relation(oid)?.runsCode === true)) ||
      (st.nodeType === 'VariableSetStmt' && (words.has('all') || READING_WORDS.some((w) => words.has(w)))) ||
      words.has('set_config') || words.has('pg_settings') || [...words].some((w) => risky.has(w));
    if (changes) statements[i] = { ...st, changesReading: true };
    else if (txKind !== undefined && ENDS_TRANSACTION.has(txKind)) statements[i] = { ...st, endsTransaction: true };
  });
}

const readingFunctionCache = new WeakMap<CatalogSnapshot, Set<string>>();

/** Names of user functions whose bodies mention the settings or set_config, or run dynamic SQL. */
export function readingFunctions(catalog: CatalogSnapshot): Set<string> {
  let names = readingFunctionCache.get(catalog);
  if (names) return names;
  names = new Set();
  for (const fn of catalog.data.functions) {
    if (fn.language === 'internal' || fn.language === 'c') continue;
    const body = fn.body.toLowerCase();
    if (READING_WORDS.some((w) => body.includes(w)) || /\bexecute\b/.test(body) || (fn.language !== 'sql' && fn.language !== 'plpgsql')) names.add(fn.name.toLowerCase());
  }
  // Views and rules run code too: a view whose definition calls set_config changes settings when read.
  for (const rel of catalog.data.relations) {
    const def = rel.viewDefinition?.toLowerCase();
    if (def && (READING_WORDS.some((w) => def.includes(w)) || [...names].some((n) => def.includes(n)))) names.add(rel.name.toLowerCase());
  }
  readingFunctionCache.set(catalog, names);
  return names;
}

/**
 * In one multi-statement query, a view, function, rule or trigger created by
 * an earlier statement is unknown to the catalog when later statements are
 * judged. A later statement that names it can't be traced: mark it opaque.
 */
function markSameQueryUses(sql: string, parsed: ParsedStatement[], statements: StatementAnalysis[]): void {
  const bytes = Buffer.from(sql, 'utf8');
  const created = new Set<string>();
  parsed.forEach((p, i) => {
    if (created.size > 0) {
      const text = bytes.toString('utf8', p.location, p.length === undefined ? bytes.length : p.location + p.length).toLowerCase();
      const words = new Set(text.match(/[a-z_][a-z0-9_$]*/g) ?? []);
      // U&"…" escapes can spell any name.
      if (text.includes('u&') || [...created].some((n) => words.has(n) || text.includes(n))) {
        statements[i] = {
          ...statements[i],
          hazards: [...statements[i].hazards, { kind: 'copy', where: 'an object created earlier in the same query', sources: new Set(['opaque:same-query']) }],
        };
      }
    }
    for (const n of statements[i].defines ?? []) created.add(n);
  });
}

/**
 * Names whose meaning a statement defines or changes: views and functions it
 * creates or replaces, tables it gives rules, triggers or policies, objects
 * it renames or moves (lower-cased). Until that is committed and read, pgveil's
 * catalog still says what they were before.
 */
function definedNames(stmt: Node): string[] {
  const created = new Set<string>();
  const [type, body] = Object.entries(stmt)[0] as [string, Node];
  const name = (n: unknown) => (((n as Node | undefined)?.String as Node | undefined)?.sval as string | undefined);
  if (type === 'ViewStmt') created.add(String(((body.view as Node).relname as string) ?? '').toLowerCase());
  if (type === 'CreateFunctionStmt') {
    const parts = (body.funcname as Node[] | undefined) ?? [];
    created.add(String(name(parts[parts.length - 1]) ?? '').toLowerCase());
  }
  // ALTER TABLE (a column dropped, added, renamed or retyped): names in queries on it may
  // now resolve elsewhere (a dropped column's name to an outer query's column).
  if (type === 'RuleStmt' || type === 'CreateTrigStmt' || type === 'CreatePolicyStmt' || type === 'AlterTableStmt') {
    created.add(String(((body.relation as Node | undefined)?.relname as string) ?? '').toLowerCase());
  }
  if (type === 'DropStmt') {
    // A dropped relation or function: its name may now mean another schema's.
    for (const object of (body.objects as Node[] | undefined) ?? []) {
      const parts = (object.List ? ((object.List as Node).items as Node[]) : ((object.ObjectWithArgs as Node | undefined)?.objname as Node[] | undefined)) ?? [];
      if (parts.length) created.add(String(name(parts[parts.length - 1]) ?? '').toLowerCase());
    }
  }
  if (type === 'RenameStmt' || type === 'AlterObjectSchemaStmt') {
    // After a rename a name means another object than the catalog says.
    created.add(String(((body.relation as Node | undefined)?.relname as string) ?? '').toLowerCase());
    if (typeof body.newname === 'string') created.add(body.newname.toLowerCase());
    const object = body.object as Node | undefined;
    for (const part of object?.List ? ((object.List as Node).items as Node[]) : []) created.add(String(name(part) ?? '').toLowerCase());
    // A function: its name is the last part (the others are its schema).
    const fn = ((object?.ObjectWithArgs as Node | undefined)?.objname as Node[] | undefined) ?? [];
    if (fn.length) created.add(String(name(fn[fn.length - 1]) ?? '').toLowerCase());
  }
  created.delete('');
  return [...created];
}

export function analyzeStatement(node: Node, catalog: CatalogSnapshot): StatementAnalysis {
  const [nodeType, body] = Object.entries(node)[0] as [string, Node];
  const ctx = new LineageContext(catalog);
  const base = (kind: StatementKind, outputs?: OutputColumn[]): StatementAnalysis => {
    ctx.settleSideEffects(outputs);
    return {
      kind,
      nodeType,
      outputs,
      hazards: ctx.hazards,
      relations: [...ctx.relations],
      unresolved: [...ctx.unresolved],
      shapeUncertain: ctx.shapeUncertain,
      ...(ctx.callsFunctions ? { callsFunctions: true } : {}),
    };
  };

  switch (nodeType) {
    case 'CopyStmt': {
      const copy = copyFormat(body);
      if (body.is_from) {
        if (body.relation) ctx.statement({ SelectStmt: { fromClause: [{ RangeVar: body.relation }] } });
        return { ...base('copy_in'), copy };
      }
      let outputs: OutputColumn[] | undefined;
      if (body.query) outputs = ctx.statement(body.query as Node);
      else {
        const attlist = ((body.attlist as Node[] | undefined) ?? []).map((a) => ((a.String as Node).sval as string));
        const star = ctx.statement({
          SelectStmt: {
            targetList: attlist.length
              ? attlist.map((name) => ({ ResTarget: { val: { ColumnRef: { fields: [{ String: { sval: name } }] } } } }))
              : [{ ResTarget: { val: { ColumnRef: { fields: [{ A_Star: {} }] } } } }],
            fromClause: [{ RangeVar: body.relation }],
          },
        });
        outputs = star;
      }
      if (copy.toFile) ctx.hazard('copy', body.is_program ? 'COPY TO PROGRAM' : 'COPY TO file', unionSources(outputs));
      return { ...base('copy_out', outputs), copy };
    }
    case 'DeclareCursorStmt': {
      const inner = analyzeStatement(body.query as Node, catalog);
      return { ...base('declare'), name: body.portalname as string, cursorQuery: inner, hazards: inner.hazards, relations: inner.relations, unresolved: inner.unresolved };
    }
    case 'FetchStmt':
      return { ...base('fetch'), name: body.portalname as string };
    case 'ClosePortalStmt':
      return { ...base('close_cursor'), name: (body.portalname as string | undefined) ?? '*' };
    case 'PrepareStmt': {
      const inner = analyzeStatement(body.query as Node, catalog);
      return { ...base('prepare'), name: body.name as string, prepared: inner };
    }
    case 'ExecuteStmt':
      return { ...base('execute'), name: body.name as string };
    case 'DeallocateStmt':
      return { ...base('deallocate'), name: (body.name as string | undefined) ?? '*' };
    case 'DoStmt': {
      const opts = defElems(body.args);
      ctx.hazard('function', 'DO block', ctx.codeReads(opts.as ?? '', opts.language ?? 'plpgsql'));
      return base('other');
    }
    case 'CallStmt': {
      // CALL's FuncCall comes unwrapped; OUT parameters come back as a row.
      const { sources } = ctx.expr({ FuncCall: body.funccall }, { items: [], ctes: new Map() });
      return base('query', [{ name: 'call', sources, direct: false }]);
    }
    case 'CreateFunctionStmt': {
      // Server-side code that reads masked columns would run later, out of sight:
      // refuse creating it unless the user could read them raw.
      const opts = defElems(body.options);
      const code = body.sql_body ? JSON.stringify(body.sql_body) : (opts.as ?? '');
      ctx.hazard('function', 'CREATE FUNCTION', ctx.codeReads(code, opts.language ?? 'sql'));
      return base('ddl');
    }
    case 'RuleStmt': {
      // A rule's actions run later for whoever touches the table, and a
      // DO INSTEAD SELECT returns rows the wire layer alone would judge.
      for (const action of (body.actions as Node[] | undefined) ?? []) {
        const outs = ctx.statement(action) ?? [];
        ctx.hazard('copy', 'CREATE RULE action', unionSources(outs));
      }
      ctx.hazard('copy', 'CREATE RULE condition', ctx.expr(body.whereClause, { items: [], ctes: new Map() }).sources);
      return base('ddl');
    }
    case 'ViewStmt': {
      // A view stores no values, and reading it is traced through its
      // definition once the catalog shows it; until then (an open transaction, a
      // temporary view) pgveil can't see it: creating one over masked columns is
      // refused like server-side code (CREATE FUNCTION), unless they are readable raw.
      const outs = ctx.statement(body.query as Node) ?? [];
      ctx.hazard('function', 'CREATE VIEW', unionSources(outs));
      return base('ddl');
    }
    case 'CreateTableAsStmt': {
      const query = body.query as Node;
      if (query.ExecuteStmt) {
        // CREATE TABLE ... AS EXECUTE: what the prepared statement returns is session state.
        ctx.hazard('copy', 'CREATE TABLE AS EXECUTE', new Set(['opaque:execute']));
        return base('ddl');
      }
      ctx.statement(node);
      return base('ddl');
    }
    case 'SelectStmt':
    case 'InsertStmt':
    case 'UpdateStmt':
    case 'DeleteStmt':
    case 'MergeStmt':
    case 'ExplainStmt': {
      const outputs = ctx.statement(node);
      return base('query', outputs);
    }
    default: {
      if (READ_OR_SESSION.has(nodeType)) return base('other');
      // DDL: column defaults, CHECK constraints, policies, triggers and the like
      // can call server-side code or embed values; walk every expression.
      const embedded = ctx.expr(body, { items: [], ctes: new Map() }).sources;
      ctx.hazard('copy', nodeType, embedded);
      if (CODE_DDL.has(nodeType) || (nodeType.includes('Domain') && (/"(FuncCall|A_Indirection)"/.test(JSON.stringify(body)) || usesUserOperator(body, catalog)))) {
        // Casts, aggregates, operators, event triggers, RLS policies, domain
        // checks that call code ((row(VALUE)::t).f calls f(...), a user
        // operator its function): code that runs implicitly, out of sight.
        ctx.hazard('copy', nodeType, new Set(['opaque:ddl']));
      }
      if (nodeType === 'CreateTrigStmt') {
        const names = ((body.funcname as Node[] | undefined) ?? []).map((n) => ((n.String as Node | undefined)?.sval as string) ?? '');
        ctx.expr({ FuncCall: { funcname: names.map((sval) => ({ String: { sval } })), args: [] } }, { items: [], ctes: new Map() });
      }
      return base('ddl');
    }
  }
}

/** Whether an expression tree applies an operator defined outside the system schemas. */
function usesUserOperator(node: unknown, catalog: CatalogSnapshot): boolean {
  if (node === null || typeof node !== 'object') return false;
  if (Array.isArray(node)) return node.some((n) => usesUserOperator(n, catalog));
  const ax = (node as Node).A_Expr as Node | undefined;
  if (ax) {
    const names = ((ax.name as Node[] | undefined) ?? []).map((n) => ((n.String as Node | undefined)?.sval as string | undefined) ?? '');
    if (names.some((n) => catalog.operatorNames().has(n))) return true;
  }
  return Object.values(node as Node).some((v) => usesUserOperator(v, catalog));
}

const CODE_DDL = new Set([
  'CreateCastStmt', 'DefineStmt', 'CreateEventTrigStmt', 'CreatePolicyStmt', 'AlterPolicyStmt', 'CreateTransformStmt',
  'CreateConversionStmt', 'CreateOpClassStmt', 'AlterOperatorStmt', 'CreateStatsStmt',
]);

/** DefElem lists (DO, CREATE FUNCTION options) as name → string value. */
function defElems(list: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of (list as Node[] | undefined) ?? []) {
    const d = item.DefElem as Node | undefined;
    if (!d) continue;
    const arg = d.arg as Node | undefined;
    const str = (arg?.String as Node | undefined)?.sval as string | undefined;
    const list2 = (arg?.List as Node | undefined)?.items as Node[] | undefined;
    out[d.defname as string] = str ?? (list2 ?? []).map((x) => ((x.String as Node | undefined)?.sval as string) ?? '').join('\n');
  }
  return out;
}

function unionSources(outputs: OutputColumn[] | undefined): Set<string> {
  const out = new Set<string>();
  for (const o of outputs ?? []) for (const k of o.sources) out.add(k);
  return out;
}

function copyFormat(body: Node): CopyFormat & { toFile: boolean } {
  const fmt: CopyFormat & { toFile: boolean } = {
    format: 'text',
    delimiter: '\t',
    null: '\\N',
    quote: '"',
    escape: '"',
    header: false,
    toFile: Boolean(body.filename) || Boolean(body.is_program),
  };
  let delimiterSet = false;
  let nullSet = false;
  let escapeSet = false;
  for (const o of (body.options as Node[] | undefined) ?? []) {
    const d = o.DefElem as Node;
    const arg = d.arg as Node | undefined;
    const int = (arg?.Integer as Node | undefined)?.ival;
    const value =
      ((arg?.String as Node | undefined)?.sval as string | undefined) ??
      (arg?.Integer !== undefined ? String(int ?? 0) : undefined) ??
      ((arg?.Boolean as Node | undefined) !== undefined ? ((arg?.Boolean as Node).boolval ? 'true' : 'false') : 'true');
    switch (d.defname) {
      case 'format':
        fmt.format = value === 'csv' ? 'csv' : value === 'binary' ? 'binary' : 'text';
        break;
      case 'delimiter':
        fmt.delimiter = value;
        delimiterSet = true;
        break;
      case 'null':
        fmt.null = value;
        nullSet = true;
        break;
      case 'quote':
        fmt.quote = value;
        break;
      case 'escape':
        fmt.escape = value;
        escapeSet = true;
        break;
      case 'header':
        fmt.header = !['false', 'off', '0', 'no'].includes(value.toLowerCase());
        break;
      case 'encoding':
        fmt.encoding = value;
        break;
    }
  }
  if (fmt.format === 'csv') {
    if (!delimiterSet) fmt.delimiter = ',';
    if (!nullSet) fmt.null = '';
    if (!escapeSet) fmt.escape = fmt.quote;
  }
  return fmt;
}
