import type { MaskSpec } from '../masking/spec.js';
import type { ColumnPattern, NamePattern } from './identifiers.js';

export type FilterMode = 'allow' | 'deny';

/** One entry of `columns:`, with its class defaults applied. */
export interface ColumnRule {
  /** The key as written in the file. */
  readonly key: string;
  readonly pattern: ColumnPattern;
  readonly class: string | undefined;
  readonly mask: MaskSpec;
  /** Whether predicates, joins, ORDER BY, GROUP BY may use the column while it is masked. */
  readonly filter: FilterMode;
  /** file:line:col of the entry. */
  readonly where: string;
  /** Position in the file (0-based), the last tie-breaker. */
  readonly order: number;
}

/** One entry of `classes:`: defaults inherited by columns of that class. */
export interface ClassRule {
  readonly name: string;
  readonly mask: MaskSpec | undefined;
  readonly filter: FilterMode | undefined;
  readonly where: string;
}

/** One entry of `roles:`. */
export interface RoleRule {
  /** The role name or glob as written. */
  readonly name: string;
  readonly pattern: NamePattern;
  /** Classes readable raw. */
  readonly rawClasses: readonly string[];
  /** Column keys / patterns readable raw. */
  readonly rawColumns: readonly ColumnPattern[];
  /** `raw: ["*"]`: every sensitive column. */
  readonly rawAll: boolean;
  readonly where: string;
}

export interface JitPolicy {
  /** Who may request access (login user or member role, globs). Empty: nobody. */
  readonly requesters: readonly NamePattern[];
  /** Who may approve. */
  readonly approvers: readonly NamePattern[];
  readonly maxDurationMs: number;
  readonly approvalsRequired: number;
}

export interface Policy {
  readonly version: 1;
  readonly file: string;
  /** Every column entry in file order. */
  readonly columns: readonly ColumnRule[];
  readonly classes: ReadonlyMap<string, ClassRule>;
  readonly roles: readonly RoleRule[];
  readonly jit: JitPolicy;
  /** Environment variable holding the HMAC key of `hash` masks. */
  readonly hashKeyEnv: string;
  /** Lookup: exact entries by folded name. */
  readonly exact: ReadonlyMap<string, ColumnRule>;
  /** Pattern entries, most specific first (then stricter mask, then file order). */
  readonly patterns: readonly ColumnRule[];
}

/** One problem in a policy file. */
export interface PolicyIssue {
  /** file:line:col */
  readonly where: string;
  /** Path inside the document, e.g. columns["app.users.ssn"].mask */
  readonly path: string;
  readonly message: string;
}

export class PolicyError extends Error {
  constructor(
    readonly file: string,
    readonly issues: readonly PolicyIssue[],
  ) {
    super(
      `${file}: ${issues.length} error${issues.length === 1 ? '' : 's'} in policy\n` +
        issues.map((i) => `${i.where}: ${i.path ? `${i.path}: ` : ''}${i.message}`).join('\n'),
    );
    this.name = 'PolicyError';
  }
}
