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
import type { Hazard } from '../sql/lineage.js';

const WORDS = /[a-z_][a-z0-9_$]*/g;
const PLAIN = /^[a-z_][a-z0-9_$]*$/;

const UNCOMMITTED: Hazard = Object.freeze({
  kind: 'copy',
  where: 'an object defined or replaced in this transaction (pgveil reads definitions once they are committed)',
  sources: new Set(['opaque:uncommitted']),
}) as Hazard;

/** DDL that runs queries itself (the rest only defines things). */
const DDL_THAT_RUNS = new Set(['CreateTableAsStmt', 'RefreshMatViewStmt']);

export class PendingDefinitions {
  private readonly names = new Set<string>();
  /** A DO block or CALL was sent: it may have defined anything. */
  private everything = false;
  /** The pending names, and every catalog function, view and table with rules or triggers that may reach them. */
  private reach: { catalog: CatalogSnapshot | undefined; names: Set<string> } | undefined;

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

  /** `result` for `sql`, with every statement that may use a pending definition (DDL that only defines aside) marked untraceable. */
  apply(sql: string, result: AnalysisResult, catalog: CatalogSnapshot | undefined): AnalysisResult {
    if (!this.active || !result.ok) return result;
    const reach = this.reachable(catalog);
    const lower = sql.toLowerCase();
    // Plain names as words; others (quoted, with spaces or capitals) as substrings.
    const uses = (lower.match(WORDS) ?? []).some((w) => reach.has(w)) || [...this.names].some((n) => !PLAIN.test(n) && lower.includes(n));
    if (!uses) return result;
    return {
      ok: true,
      statements: result.statements.map((st) => (st.kind === 'ddl' && !DDL_THAT_RUNS.has(st.nodeType) ? st : { ...st, hazards: [...st.hazards, UNCOMMITTED] })),
    };
  }

  private reachable(catalog: CatalogSnapshot | undefined): Set<string> {
    if (this.reach && this.reach.catalog === catalog) return this.reach.names;
    const names = new Set(this.names);
    if (catalog) {
      const functions = catalog.data.functions.filter((f) => f.language !== 'c' && f.language !== 'internal');
      const views = catalog.data.relations.filter((r) => r.viewDefinition !== undefined);
      if (this.everything) {
        for (const f of functions) names.add(f.name.toLowerCase());
        for (const v of views) names.add(v.name.toLowerCase());
      }
      // Code and views that name a pending name (transitively) run what it now means.
      const mentions = (text: string) => (text.toLowerCase().match(WORDS) ?? []).some((w) => names.has(w));
      for (let grew = true; grew; ) {
        grew = false;
        for (const f of functions) {
          const n = f.name.toLowerCase();
          if (!names.has(n) && mentions(f.body)) {
            names.add(n);
            grew = true;
          }
        }
        for (const v of views) {
          const n = v.name.toLowerCase();
          if (!names.has(n) && mentions(v.viewDefinition as string)) {
            names.add(n);
            grew = true;
          }
        }
      }
      // Writes to a table with rules or triggers run code that may be among them.
      for (const r of catalog.data.relations) if (r.runsCode) names.add(r.name.toLowerCase());
    }
    this.reach = { catalog, names };
    return names;
  }
}
