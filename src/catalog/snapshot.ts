/**
 * An immutable picture of one database's schema: what the analyzer and the
 * wire layer need to turn "table OID 16384, attribute 3" or "u.ssn" into a
 * policy's `schema.table.column`.
 */

export interface ColumnInfo {
  attnum: number;
  name: string;
  typeOid: number;
}

export type RelationKind = 'table' | 'view' | 'matview' | 'partitioned' | 'foreign' | 'other';

export interface RelationInfo {
  oid: number;
  schema: string;
  name: string;
  kind: RelationKind;
  /** Live columns in attnum order (dropped columns left out). */
  columns: ColumnInfo[];
  /** Inheritance and partition ancestors, nearest first (transitive). */
  ancestors: number[];
  /** SELECT text of a view or materialized view (pg_get_viewdef). */
  viewDefinition?: string;
  /** Writes to it run triggers or rules (server-side code). */
  runsCode?: boolean;
}

export interface FunctionInfo {
  schema: string;
  name: string;
  language: string;
  body: string;
}

export interface CatalogData {
  relations: RelationInfo[];
  /** login/role name → every role it is a member of, directly or not (itself excluded). */
  memberships: Record<string, string[]>;
  functions: FunctionInfo[];
  /** Domain type OID → its base type OID. */
  domainBase: Record<number, number>;
  /** Names of operators defined outside the system schemas and backed by user-written functions (SQL, PL/pgSQL...). */
  operators?: string[];
  /** Operator name → names of the functions behind it (for `operators`). */
  operatorFunctions?: Record<string, string[]>;
  /** Lower-cased names of every function, built-in or not, when the snapshot was read. */
  functionNames?: string[];
  /** Lower-cased names of volatile functions written in C or internal (built-ins, extensions): they may change state. */
  volatileCode?: string[];
  /** OIDs of built-in functions that run SQL given as text (refused on the fast path). */
  queryStringFunctionOids?: number[];
  /** Names of every set-returning function, built-in or not. */
  setReturning?: string[];
  /** Lower-cased names of every relation, column, function, type, schema and keyword when the snapshot was read. */
  knownWords?: string[];
}

/** Whether a schema as written is `actual`: pg_temp is the session's own temporary schema, pg_temp_N (any of them may be it). */
export function sameSchema(written: string, actual: string): boolean {
  return written === actual || (written === 'pg_temp' && actual.startsWith('pg_temp_'));
}

export class CatalogSnapshot {
  readonly loadedAt: Date;
  private readonly byOid = new Map<number, RelationInfo>();
  private readonly byName = new Map<string, RelationInfo[]>();
  private readonly functionsByName = new Map<string, FunctionInfo[]>();

  /** data.knownWords as a set; undefined when the snapshot doesn't carry them. */
  readonly knownWords: ReadonlySet<string> | undefined;

  constructor(readonly data: CatalogData, loadedAt = new Date()) {
    this.loadedAt = loadedAt;
    this.knownWords = data.knownWords ? new Set(data.knownWords) : undefined;
    for (const rel of data.relations) {
      this.byOid.set(rel.oid, rel);
      const list = this.byName.get(rel.name);
      if (list) list.push(rel);
      else this.byName.set(rel.name, [rel]);
    }
    for (const fn of data.functions) {
      const list = this.functionsByName.get(fn.name);
      if (list) list.push(fn);
      else this.functionsByName.set(fn.name, [fn]);
    }
  }

  relation(oid: number): RelationInfo | undefined {
    return this.byOid.get(oid);
  }

  /**
   * Relations a name in SQL may mean. Without a schema, every schema's relation
   * of that name is a candidate: the session's search_path can change at any
   * time, so the analysis takes the union (fail closed).
   */
  resolve(schema: string | undefined, name: string): RelationInfo[] {
    const all = this.byName.get(name) ?? [];
    return schema === undefined ? all : all.filter((r) => sameSchema(schema, r.schema));
  }

  functions(name: string): FunctionInfo[] {
    return this.functionsByName.get(name) ?? [];
  }

  private operatorSet: Set<string> | undefined;
  private srfSet: Set<string> | undefined;
  private functionNameSet: Set<string> | undefined;
  private volatileCodeSet: Set<string> | undefined;

  /** See CatalogData.volatileCode (empty when the snapshot doesn't carry them). */
  volatileCode(): ReadonlySet<string> {
    this.volatileCodeSet ??= new Set(this.data.volatileCode ?? []);
    return this.volatileCodeSet;
  }

  /** Every function name (lower case) when read; undefined when the snapshot doesn't carry them. */
  functionNames(): ReadonlySet<string> | undefined {
    if (!this.data.functionNames) return undefined;
    this.functionNameSet ??= new Set(this.data.functionNames);
    return this.functionNameSet;
  }

  /** The functions behind a user-written operator. */
  operatorFunctions(op: string): string[] {
    return this.data.operatorFunctions?.[op] ?? [];
  }

  setReturning(): Set<string> {
    this.srfSet ??= new Set(this.data.setReturning ?? []);
    return this.srfSet;
  }

  operatorNames(): Set<string> {
    this.operatorSet ??= new Set(this.data.operators ?? []);
    return this.operatorSet;
  }

  rolesOf(user: string): string[] {
    return this.data.memberships[user] ?? [];
  }

  baseType(typeOid: number): number {
    let t = typeOid;
    for (let i = 0; i < 10 && this.data.domainBase[t] !== undefined; i++) t = this.data.domainBase[t];
    return t;
  }
}
