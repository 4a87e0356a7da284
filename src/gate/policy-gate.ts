/**
 * The one place where a session's statements and result sets are judged:
 * lineage (SQL layer) + RowDescription table OIDs (wire layer) → policy
 * decide() with the session's identity, grants and the clock → masks or a
 * refusal. Every decision passes through `record`, where the audit log plugs in.
 */
import type { CatalogSnapshot } from '../catalog/snapshot.js';
import { compileMask, compileTextMask, maskingNulls, type MaskSpec } from '../masking/index.js';
import {
  decide,
  decideFilter,
  formatColumn,
  matchIdentity,
  resolveColumn,
  type ColumnRef,
  type Decision,
  type Grant,
  type Identity,
  type Policy,
} from '../policy/index.js';
import type { StatementAnalysis } from '../sql/analyze.js';
import { LineageContext, parseColumnKey, valueSources, type ColumnKey, type Hazard } from '../sql/lineage.js';
import { UNKNOWN_STATEMENT, type CopyPlan, type Gate, type Refusal, type ResultPlan } from '../proxy/gate.js';
import type { CopyByteRewrite, CopyFieldRewrite, FieldDescription, FieldRewrite } from '../wire/results.js';

/** What the gate needs from its session; read on every call so reloads and expiry apply at once. */
export interface GateContext {
  policy(): Policy;
  /** undefined while the catalog can't be read: statements touching relations are refused. */
  catalog(): CatalogSnapshot | undefined;
  identity(): Identity;
  grants(): readonly Grant[];
  now(): Date;
  hashKey(): Buffer | undefined;
  /** Receives every non-trivial decision (the audit log's hook). */
  record?(event: GateEvent): void;
}

export type GateEvent =
  | { kind: 'refuse'; statement: string; reason: string; columns: string[] }
  | { kind: 'result'; statement: string; columns: { name: string; action: Decision['action']; reason: string }[] };

const TEXT_OID = 25;
/** Cache owner for result sets without a known statement. */
const NO_ANALYSIS = {};

/**
 * Rows or errors whose statement pgveil can't name: none at all, the
 * UNKNOWN_STATEMENT stand-in, or an EXECUTE / FETCH whose prepared statement or
 * cursor it couldn't resolve (it has no outputs of its own).
 */
function unknownStatement(analysis: StatementAnalysis | undefined): boolean {
  return analysis === undefined || analysis === UNKNOWN_STATEMENT || ((analysis.kind === 'execute' || analysis.kind === 'fetch') && analysis.outputs === undefined);
}

function fieldsKey(fields: FieldDescription[]): string {
  let key = '';
  for (const f of fields) key += `${f.tableOid}.${f.attnum}.${f.typeOid}.${f.typeModifier}.${f.format}|`;
  return key;
}

/**
 * How to ask for access, in every refusal. Until the request workflow ships,
 * access is asked of the approvers the policy names (jit.approvers).
 */
export function requestHint(columns: readonly string[], policy: Policy): string {
  const approvers = policy.jit.approvers.map((a) => a.text).join(', ');
  const who = approvers ? `an approver (${approvers})` : 'your security team';
  const max = policy.jit.maxDurationMs > 0 ? ` for up to ${Math.round(policy.jit.maxDurationMs / 60_000)} minutes` : '';
  return `To see ${columns.join(', ')} unmasked, ask ${who} for just-in-time access${max}, or use a role with standing access.`;
}

export class PolicyGate implements Gate {
  constructor(private readonly ctx: GateContext) {}

  refusal(analysis: StatementAnalysis): Refusal | undefined {
    const catalog = this.ctx.catalog();
    if (!catalog) {
      // Without a catalog nothing says what a function runs or what DDL changes.
      if (
        analysis.relations.length || analysis.unresolved.length || analysis.kind === 'fetch' || analysis.kind === 'execute' ||
        analysis.callsFunctions || analysis.kind === 'ddl' || analysis.nodeType === 'DoStmt' || analysis.nodeType === 'CallStmt'
      ) {
        return this.refuse(analysis, {
          message: 'pgveil cannot read the database catalog right now, so statements that read tables are refused',
          hint: 'Try again shortly; an operator should check pgveil\'s catalog connection.',
        }, []);
      }
      return undefined;
    }
    for (const hazard of analysis.hazards) {
      const r = this.hazardRefusal(hazard, catalog, analysis);
      if (r) return r;
    }
    const copy = analysis.copy;
    const oddCopy =
      copy && analysis.kind === 'copy_out' &&
      (copy.format === 'binary' ||
        (copy.encoding !== undefined && !/^utf-?8$/i.test(copy.encoding)) ||
        copy.null !== (copy.format === 'csv' ? '' : '\\N'));
    if (oddCopy) {
      const masked = this.maskedColumns(analysis, catalog);
      if (masked.length) {
        return this.refuse(analysis, {
          message: `pgveil: this COPY can't be masked (binary format, another ENCODING or a custom NULL string); it would return ${masked.join(', ')}`,
          hint: `Use FORMAT text or csv with the default NULL and encoding to get masked values. ${requestHint(masked, this.ctx.policy())}`,
        }, masked);
      }
    }
    return undefined;
  }

  /**
   * Plans by statement and row shape. Valid while policy and catalog are the
   * same objects; plans that depend on a grant are not kept (grants expire).
   */
  private readonly planCache = new WeakMap<object, Map<string, { policy: Policy; catalog: CatalogSnapshot | undefined; plan: ResultPlan; event?: GateEvent }>>();

  /** The last cached plan, found by identity: a session tends to run the same statement again and again. */
  private lastPlan: { owner: object; fields: FieldDescription[]; policy: Policy; catalog: CatalogSnapshot | undefined; plan: ResultPlan; event?: GateEvent } | undefined;

  resultPlan(analysis: StatementAnalysis | undefined, fields: FieldDescription[]): ResultPlan {
    const catalog = this.ctx.catalog();
    const policy = this.ctx.policy();
    const owner: object = analysis ?? NO_ANALYSIS;
    const last = this.lastPlan;
    if (last && last.owner === owner && last.fields === fields && last.policy === policy && last.catalog === catalog) {
      if (last.event) this.ctx.record?.(last.event);
      return last.plan;
    }
    let shapes = this.planCache.get(owner);
    if (!shapes) this.planCache.set(owner, (shapes = new Map()));
    const shape = fieldsKey(fields);
    const hit = shapes.get(shape);
    if (hit && hit.policy === policy && hit.catalog === catalog) {
      // Every decision is recorded, cached or not.
      if (hit.event) this.ctx.record?.(hit.event);
      this.lastPlan = { owner, fields, policy, catalog, plan: hit.plan, event: hit.event };
      return hit.plan;
    }
    const { plan, cacheable, event } = this.computePlan(analysis, fields, catalog);
    if (event) this.ctx.record?.(event);
    if (cacheable) {
      if (shapes.size > 64) shapes.clear();
      shapes.set(shape, { policy, catalog, plan, event });
      this.lastPlan = { owner, fields, policy, catalog, plan, event };
    }
    return plan;
  }

  private computePlan(
    analysis: StatementAnalysis | undefined,
    fields: FieldDescription[],
    catalog: CatalogSnapshot | undefined,
  ): { plan: ResultPlan; cacheable: boolean; event?: GateEvent } {
    let cacheable = true;
    const outputs = analysis?.outputs;
    const aligned = outputs !== undefined && outputs.length === fields.length && !analysis?.shapeUncertain;
    // When the shapes disagree (catalog behind a DDL, a form the analyzer can't
    // expand) every column may carry anything the statement read; when the
    // statement itself is unknown, anything at all.
    const everything = aligned ? undefined : unionOf(outputs?.map((o) => o.sources) ?? []);
    if (everything && unknownStatement(analysis) && this.ctx.policy().columns.length > 0 && !this.hasRawEverything()) everything.add('opaque:unknown-statement');
    const rewrites: FieldRewrite[] = [];
    const events: { name: string; action: Decision['action']; reason: string }[] = [];
    let masks = false;
    fields.forEach((field, i) => {
      const sources = new Set<ColumnKey>(aligned ? outputs[i].sources : everything);
      if (field.tableOid !== 0 && catalog) for (const k of wireSources(catalog, field)) sources.add(k);
      const single = valueSources(sources, catalog).length === 1;
      const direct = aligned ? outputs[i].direct && single : field.tableOid !== 0 && single;
      const decision = this.decideColumn(sources, direct, catalog);
      if (decision.sources.some((s) => s.source.kind === 'grant')) cacheable = false;
      if (decision.action === 'raw') {
        rewrites.push(null);
        if (decision.sources.length) events.push({ name: field.name, action: 'raw', reason: decision.reason });
        return;
      }
      masks = true;
      const spec: MaskSpec = decision.action === 'mask' ? decision.mask : { kind: 'null' };
      const fn = compileMask(spec, catalog ? catalog.baseType(field.typeOid) : field.typeOid, field.format, {
        hashKey: this.ctx.hashKey(),
        typeModifier: field.typeModifier,
      });
      rewrites.push(isDerived(decision) ? maskingNulls(fn) : fn);
      events.push({ name: field.name, action: decision.action, reason: decision.reason });
    });
    const event: GateEvent | undefined = events.length ? { kind: 'result', statement: analysis?.nodeType ?? 'unknown', columns: events } : undefined;
    return { plan: { rewrites, masks }, cacheable, event };
  }

  copyPlan(analysis: StatementAnalysis): CopyPlan {
    const catalog = this.ctx.catalog();
    const rewrites: CopyFieldRewrite[] = [];
    const byteRewrites: CopyByteRewrite[] = [];
    let masks = false;
    // If the row may not line up with the outputs, every field may carry anything.
    const all = unionOf((analysis.outputs ?? []).map((o) => o.sources));
    const fallbackDecision = this.decideColumn(all, false, catalog);
    const fallback: CopyFieldRewrite = fallbackDecision.action === 'raw' ? null : () => null;
    const outputs = analysis.shapeUncertain ? (analysis.outputs ?? []).map((o) => ({ ...o, sources: all, direct: false })) : analysis.outputs ?? [];
    for (const out of outputs) {
      const values = valueSources(out.sources, catalog);
      const decision = this.decideColumn(out.sources, out.direct && values.length === 1, catalog);
      if (decision.action === 'raw') {
        rewrites.push(null);
        byteRewrites.push(null);
        continue;
      }
      masks = true;
      const spec: MaskSpec = decision.action === 'mask' ? decision.mask : { kind: 'null' };
      let typeOid = TEXT_OID;
      if (out.direct && catalog && values.length === 1) {
        const { rel, attnum } = parseColumnKey(values[0]);
        typeOid = catalog.baseType(catalog.relation(rel)?.columns.find((c) => c.attnum === attnum)?.typeOid ?? TEXT_OID);
      } else if (spec.kind !== 'redact' && spec.kind !== 'null') {
        typeOid = TEXT_OID;
      }
      const text = compileTextMask(spec, typeOid, { hashKey: this.ctx.hashKey() });
      const bytes = compileMask(spec, typeOid, 0, { hashKey: this.ctx.hashKey() });
      rewrites.push(isDerived(decision) ? maskingNulls(text) : text);
      byteRewrites.push(isDerived(decision) ? maskingNulls(bytes) : bytes);
    }
    return { rewrites, byteRewrites, masks: masks || fallback !== null, fallback, byteFallback: fallback ? () => null : null };
  }

  /** scrubErrors answers, per statement, while policy and catalog stay the same. */
  private readonly scrubCache = new WeakMap<StatementAnalysis, { policy: Policy; catalog: CatalogSnapshot; scrub: boolean; grants: boolean }>();

  /** The last answer found in scrubCache: the guard asks about the same statement several times per request. */
  private lastScrub: { analysis: StatementAnalysis; policy: Policy; catalog: CatalogSnapshot; scrub: boolean } | undefined;

  scrubErrors(analysis: StatementAnalysis | undefined): boolean {
    if (!analysis) return false;
    if (unknownStatement(analysis)) return this.ctx.policy().columns.length > 0 && !this.hasRawEverything();
    const catalog = this.ctx.catalog();
    if (!catalog) return analysis.relations.length > 0;
    const policy = this.ctx.policy();
    const last = this.lastScrub;
    if (last && last.analysis === analysis && last.policy === policy && last.catalog === catalog) return last.scrub;
    const hit = this.scrubCache.get(analysis);
    // Answers that depend on a grant are not kept (grants expire).
    if (hit && hit.policy === policy && hit.catalog === catalog && !hit.grants) {
      if (last) {
        last.analysis = analysis;
        last.policy = policy;
        last.catalog = catalog;
        last.scrub = hit.scrub;
      } else this.lastScrub = { analysis, policy, catalog, scrub: hit.scrub };
      return hit.scrub;
    }
    const decision = this.scrubDecision(analysis, catalog);
    this.scrubCache.set(analysis, { policy, catalog, scrub: decision.action !== 'raw', grants: decision.sources.some((s) => s.source.kind === 'grant') });
    return decision.action !== 'raw';
  }

  private scrubDecision(analysis: StatementAnalysis, catalog: CatalogSnapshot): Decision {
    const all = new Set<ColumnKey>();
    for (const o of analysis.outputs ?? []) for (const k of o.sources) all.add(k);
    for (const h of analysis.hazards) for (const k of h.sources) all.add(k);
    // Errors can quote any value the statement touched, also in WHERE.
    for (const rel of analysis.relations) {
      const info = catalog.relation(rel);
      if (info && !info.viewDefinition) for (const c of info.columns) all.add(`${rel}:${c.attnum}`);
    }
    return this.decideColumn(all, false, catalog);
  }

  functionCallRefusal(functionOid: number): Refusal | undefined {
    // Built-in functions (OID < 16384) can't read tables by themselves, except
    // those that run SQL given as text; a FunctionCall's arguments are the client's own values.
    if (this.ctx.policy().columns.length === 0 || this.hasRawEverything()) return undefined;
    const runsSql = this.ctx.catalog()?.data.queryStringFunctionOids?.includes(functionOid) ?? true;
    if (functionOid < 16384 && !runsSql) return undefined;
    return {
      message: `pgveil: fast-path calls of user-defined functions (OID ${functionOid}) are refused while a masking policy is active`,
      hint: 'Call the function from SQL (SELECT fn(...)) so pgveil can check what it reads.',
    };
  }

  unparseable(error: string): Refusal {
    this.ctx.record?.({ kind: 'refuse', statement: 'unparseable', reason: 'parse error', columns: [] });
    return {
      message: 'pgveil refuses statements it cannot parse with PostgreSQL\'s grammar',
      detail: error,
    };
  }

  // ---- internals ------------------------------------------------------------

  private hazardRefusal(hazard: Hazard, catalog: CatalogSnapshot, analysis: StatementAnalysis): Refusal | undefined {
    const refs = this.refsOf(hazard.sources, catalog);
    const base = { identity: this.ctx.identity(), grants: this.ctx.grants(), policy: this.ctx.policy(), now: this.ctx.now() };
    if (hazard.kind === 'system' || refs.system) {
      const policy = this.ctx.policy();
      if (policy.columns.length === 0 || this.hasRawEverything()) return undefined;
      return this.refuse(analysis, {
        message: `pgveil: reading ${hazard.where} is refused: it can expose values of masked columns`,
        hint: 'Only roles with standing raw access to every sensitive column may read it.',
      }, [hazard.where]);
    }
    if (refs.unknown) {
      if (this.ctx.policy().columns.length === 0 || this.hasRawEverything()) return undefined;
      return this.refuse(analysis, {
        message: `pgveil: ${hazard.where} uses values pgveil can't trace, so it is refused`,
        hint: 'Only roles with standing raw access to every sensitive column may run it.',
      }, []);
    }
    if (hazard.kind === 'filter') {
      const d = decideFilter({ ...base, columns: refs.columns });
      if (d.action === 'allow') return undefined;
      const name = formatColumn(d.column);
      return this.refuse(analysis, {
        message: `pgveil: permission denied to filter, join, sort or group on masked column ${name} (${hazard.where})`,
        detail: 'Comparing a masked column reveals its values by inference.',
        hint: requestHint([name], this.ctx.policy()),
      }, [name]);
    }
    const d = decide({ ...base, columns: refs.columns, sink: 'opaque' });
    if (d.action !== 'refuse') return undefined;
    const names = d.sources.filter((s) => !s.raw).map((s) => formatColumn(s.column));
    const what = hazard.kind === 'function' ? `${hazard.where} reads` : `${hazard.where} would copy`;
    return this.refuse(analysis, {
      message: `pgveil: permission denied: ${what} masked column${names.length > 1 ? 's' : ''} ${names.join(', ')} where pgveil can't mask them`,
      hint: requestHint(names, this.ctx.policy()),
    }, names);
  }

  private refuse(analysis: StatementAnalysis, refusal: Refusal, columns: string[]): Refusal {
    this.ctx.record?.({ kind: 'refuse', statement: analysis.nodeType, reason: refusal.message, columns });
    return refusal;
  }

  private decideColumn(sources: Set<ColumnKey>, direct: boolean, catalog: CatalogSnapshot | undefined): Decision {
    const base = { identity: this.ctx.identity(), grants: this.ctx.grants(), policy: this.ctx.policy(), now: this.ctx.now() };
    if (!catalog) {
      // Without a catalog nothing can be traced: mask whatever came from a table.
      if (sources.size === 0) return decide({ ...base, columns: [] });
      return { action: 'mask', mask: { kind: 'null' }, filter: 'deny', source: { kind: 'unprotected' }, sources: [], reason: 'catalog unavailable: masked (fail closed)' };
    }
    const refs = this.refsOf(sources, catalog);
    if (refs.unknown) {
      return { action: 'mask', mask: { kind: 'null' }, filter: 'deny', source: { kind: 'unprotected' }, sources: [], reason: 'derived from a view pgveil could not parse: masked (fail closed)' };
    }
    return decide({ ...base, columns: refs.columns, aliases: refs.viewColumns, direct: direct && refs.columns.length - refs.viewColumns <= 1 });
  }

  /**
   * Policy names for base columns. A column of an inheritance child or
   * partition is named by its own relation and by every ancestor, so a
   * policy on the parent covers its children.
   */
  private refsOf(sources: Set<ColumnKey>, catalog: CatalogSnapshot): { columns: ColumnRef[]; viewColumns: number; unknown: boolean; system: boolean } {
    const policy = this.ctx.policy();
    const columns: ColumnRef[] = [];
    let viewColumns = 0;
    let unknown = false;
    let system = false;
    for (const key of sources) {
      if (key.startsWith('view:') || key.startsWith('opaque:')) {
        unknown = true;
        continue;
      }
      if (key.startsWith('system:')) {
        system = true;
        continue;
      }
      const { rel, attnum } = parseColumnKey(key);
      const info = catalog.relation(rel);
      const col = info?.columns.find((c) => c.attnum === attnum);
      if (!info || !col) continue;
      if (info.viewDefinition !== undefined) {
        // A view column only matters when the policy names it; its value is
        // that of the table columns beside it in `sources`.
        if (resolveColumn(policy, info.schema, info.name, col.name) === undefined) continue;
        columns.push({ schema: info.schema, table: info.name, column: col.name });
        viewColumns++;
        continue;
      }
      const candidates: ColumnRef[] = [{ schema: info.schema, table: info.name, column: col.name }];
      for (const a of info.ancestors) {
        const parent = catalog.relation(a);
        if (parent) candidates.push({ schema: parent.schema, table: parent.name, column: col.name });
      }
      const ruled = candidates.find((c) => resolveColumn(policy, c.schema, c.table, c.column) !== undefined);
      columns.push(ruled ?? candidates[0]);
    }
    return { columns, viewColumns, unknown, system };
  }

  private maskedColumns(analysis: StatementAnalysis, catalog: CatalogSnapshot): string[] {
    const names: string[] = [];
    for (const o of analysis.outputs ?? []) {
      const d = this.decideColumn(o.sources, o.direct, catalog);
      if (d.action !== 'raw') names.push(...d.sources.filter((s) => !s.raw).map((s) => formatColumn(s.column)));
    }
    return [...new Set(names)];
  }

  private hasRawEverything(): boolean {
    const identity = this.ctx.identity();
    return this.ctx.policy().roles.some((r) => r.rawAll && matchIdentity(r.pattern, identity) !== undefined);
  }
}

/** Base columns behind a RowDescription field (views resolved through their definitions). */
function wireSources(catalog: CatalogSnapshot, field: FieldDescription): Set<ColumnKey> {
  const rel = catalog.relation(field.tableOid);
  if (!rel) return new Set();
  if (rel.viewDefinition === undefined) return new Set([`${field.tableOid}:${field.attnum}`]);
  const cols = new LineageContext(catalog).relationColumns(rel);
  const idx = rel.columns.findIndex((c) => c.attnum === field.attnum);
  return new Set(idx >= 0 ? cols[idx]?.sources ?? [] : []);
}

/** A derived value's mask covers its NULLs too (see maskingNulls). */
function isDerived(decision: Decision): boolean {
  return decision.action === 'mask' && decision.derived === true;
}

function unionOf(sets: Set<ColumnKey>[]): Set<ColumnKey> {
  const out = new Set<ColumnKey>();
  for (const s of sets) for (const k of s) out.add(k);
  return out;
}
