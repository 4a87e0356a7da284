import { loadModule, parseSync } from 'libpg-query';

export interface ParsedStatement {
  /** The statement's AST node, e.g. { SelectStmt: {...} }. */
  stmt: Record<string, unknown>;
  /** Byte offsets into the original text (libpg-query reports UTF-8 offsets). */
  location: number;
  length: number | undefined;
}

export class SqlSyntaxError extends Error {
  constructor(message: string, readonly cursorPosition: number | undefined) {
    super(message);
  }
}

let loaded: Promise<void> | undefined;

/** libpg-query is WebAssembly: it must be loaded once before parsing synchronously. */
export function loadParser(): Promise<void> {
  loaded ??= loadModule();
  return loaded;
}

/** Parses with PostgreSQL's own grammar. Throws SqlSyntaxError. */
export function parseStatements(sql: string): ParsedStatement[] {
  let tree: { stmts?: { stmt: Record<string, unknown>; stmt_location?: number; stmt_len?: number }[] };
  try {
    tree = parseSync(sql) as typeof tree;
  } catch (err) {
    const e = err as Error & { sqlDetails?: { cursorPosition?: number } };
    throw new SqlSyntaxError(e.message, e.sqlDetails?.cursorPosition);
  }
  return (tree.stmts ?? []).map((s) => ({ stmt: s.stmt, location: s.stmt_location ?? 0, length: s.stmt_len || undefined }));
}
