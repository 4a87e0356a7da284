/**
 * Definitions a session has sent that pgveil's catalog can't see yet: a view
 * or function created or replaced, a table given a rule or trigger, an object
 * renamed, inside the client's open transaction or earlier in its pipeline.
 * The catalog is read over another connection, so until the transaction ends
 * it still says what those names meant before (a function's old body, say).
 * Statements that may use them are marked untraceable (refused unless the
 * role sees every column raw) until the session is idle outside a
 * transaction and the catalog is read again.
 */
import type { CatalogSnapshot } from '../catalog/snapshot.js';
import type { AnalysisResult, StatementAnalysis } from '../sql/analyze.js';
import { mentionsAny, type Hazard } from '../sql/lineage.js';


const UNCOMMITTED: Hazard = Object.freeze({
  kind: 'copy',
  where: 'an object defined or replaced in this transaction (pgveil reads definitions once they are committed)',
  sources: new Set(['opaque:uncommitted']),
}) as Hazard;

const DML = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt']);

/** DDL that runs queries itself (the rest only defines things). */
const DDL_THAT_RUNS = new Set(['CreateTableAsStmt', 'RefreshMatViewStmt']);

export class PendingDefinitions {
  private readonly names = new Set<string>();
  /** A DO block or CALL was sent: it may have defined anything. */
  private everything = false;
  /**
   * The pending names and every catalog function and view that may reach
   * them; and the tables with rules or triggers, whose code runs when they
   * are written to.
   */
  private reach: { catalog: CatalogSnapshot | undefined; names: Set<string>; writeRunsCode: Set<string> } | undefined;

  get active(): boolean {
    return this.everything || this.names.size > 0;
  }

  /** Notes what statements on their way define; true when that changed anything. */
  note(statements: readonly StatementAnalysis[]): boolean {
    let changed = false;
    for (const st of statements) {
      if ((st.nodeType === 'DoStmt' || st.nodeType === 'CallStmt') && !this.everything) {
        this.everything = true;
        changed = true;
      }
      for (const n of st.defines ?? []) {
        if (this.names.has(n)) continue;
        this.names.add(n);
        changed = true;
      }
    }
    if (changed) this.reach = undefined;
    return changed;
  }

  clear(): void {
    this.names.clear();
    this.everything = false;
    this.reach = undefined;
  }

  /**
   * `result` for `sql`, with every statement that may use a pending definition
   * (DDL that only defines aside) marked untraceable, and with it what it
   * PREPAREs or DECLAREs (judged again when EXECUTE or FETCH runs it).
   */
  apply(sql: string, result: AnalysisResult, catalog: CatalogSnapshot | undefined): AnalysisResult {
    if (!this.active || !result.ok) return result;
    const { names, writeRunsCode } = this.reachable(catalog);
    const writes = result.statements.some((st) => DML.has(st.nodeType) || st.kind === 'copy_in');
    // U&"…" escapes can spell any name: then any statement may use them.
    const uses = sql.toLowerCase().includes('u&') || mentionsAny(sql, names) || (writes && mentionsAny(sql, writeRunsCode));
    if (!uses) return result;
    const taint = (st: StatementAnalysis): StatementAnalysis => ({
      ...st,
      hazards: [...st.hazards, UNCOMMITTED],
      ...(st.prepared ? { prepared: taint(st.prepared) } : {}),
      ...(st.cursorQuery ? { cursorQuery: taint(st.cursorQuery) } : {}),
    });
    return { ok: true, statements: result.statements.map((st) => (st.kind === 'ddl' && !DDL_THAT_RUNS.has(st.nodeType) ? st : taint(st))) };
  }

  private reachable(catalog: CatalogSnapshot | undefined): { names: Set<string>; writeRunsCode: Set<string> } {
    if (this.reach && this.reach.catalog === catalog) return this.reach;
    const names = new Set(this.names);
    const writeRunsCode = new Set<string>();
    if (catalog) {
      const functions = catalog.data.functions.filter((f) => f.language !== 'c' && f.language !== 'internal');
      const views = catalog.data.relations.filter((r) => r.viewDefinition !== undefined);
      if (this.everything) {
        for (const f of functions) names.add(f.name.toLowerCase());
        for (const v of views) names.add(v.name.toLowerCase());
      }
      // Code and views that name a pending name (transitively) run what it now means.
      for (let grew = true; grew; ) {
        grew = false;
        for (const f of functions) {
          const n = f.name.toLowerCase();
          if (!names.has(n) && mentionsAny(f.body, names)) {
            names.add(n);
            grew = true;
          }
        }
        for (const v of views) {
          const n = v.name.toLowerCase();
          if (!names.has(n) && mentionsAny(v.viewDefinition as string, names)) {
            names.add(n);
            grew = true;
          }
        }
      }
      // Writes to a table with rules or triggers run code that may be among them.
      for (const r of catalog.data.relations) if (r.runsCode) writeRunsCode.add(r.name.toLowerCase());
    }
    this.reach = { catalog, names, writeRunsCode };
    return this.reach;
  }
}
