import type { StatementAnalysis } from '../sql/analyze.js';
import type { CopyByteRewrite, CopyFieldRewrite, FieldDescription, FieldRewrite } from '../wire/results.js';

/** Why a statement is not forwarded. Becomes ErrorResponse 42501. */
export interface Refusal {
  message: string;
  detail?: string;
  hint?: string;
}

/** What to do with one result set. */
export interface ResultPlan {
  /** One entry per column: null = forward the field untouched. */
  rewrites: FieldRewrite[];
  /** True when at least one rewrite is set (rows must be decoded). */
  masks: boolean;
}

export interface CopyPlan {
  rewrites: CopyFieldRewrite[];
  /** The same masks over raw field bytes (text format fast path). */
  byteRewrites: CopyByteRewrite[];
  byteFallback: CopyByteRewrite;
  masks: boolean;
  /** For rows whose field count differs from `rewrites` (fail closed). */
  fallback: CopyFieldRewrite;
}

/**
 * What pgveil judges rows and errors by when it can't tell which statement
 * produced them (a name it lost track of, a portal of a statement it never
 * saw): every column may carry anything (fail closed).
 */
export const UNKNOWN_STATEMENT: StatementAnalysis = Object.freeze({
  kind: 'query',
  nodeType: 'unknown',
  outputs: undefined,
  hazards: [],
  relations: [],
  unresolved: [],
}) as StatementAnalysis;

/**
 * The single place where a session's statements are judged. An implementation
 * binds policy, catalog, identity, grants and the clock; the session's
 * protocol tracker only asks.
 */
export interface Gate {
  /** Refuse the statement (hazards, unknown names while the catalog is down...) or let it run. */
  refusal(analysis: StatementAnalysis): Refusal | undefined;
  /** Masks for a result set, from the statement's lineage and the RowDescription. */
  resultPlan(analysis: StatementAnalysis | undefined, fields: FieldDescription[]): ResultPlan;
  /** Masks for COPY ... TO STDOUT rows (text/csv). */
  copyPlan(analysis: StatementAnalysis): CopyPlan;
  /** Whether errors and notices caused by this statement must lose their text. */
  scrubErrors(analysis: StatementAnalysis | undefined): boolean;
  /** Refuse a fast-path FunctionCall of this function OID? */
  functionCallRefusal(functionOid: number): Refusal | undefined;
  /** A statement the parser rejected. */
  unparseable(error: string): Refusal;
}
