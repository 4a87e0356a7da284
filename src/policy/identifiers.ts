/**
 * Column keys (`schema.table.column`) and role names as written in policy
 * files, with PostgreSQL's identifier rules: unquoted parts fold to lower case
 * (ASCII only, as the server does for UTF-8 databases); double-quoted parts
 * are kept exactly ("" is a quote). In unquoted parts `*` matches any run of
 * characters and `?` one character; inside quotes they are literal.
 */

export type NamePart =
  | { readonly kind: 'exact'; readonly name: string }
  | { readonly kind: 'glob'; readonly source: string; readonly re: RegExp; readonly literalChars: number }
  | { readonly kind: 'any' };

export interface ColumnPattern {
  /** The key as written. */
  readonly text: string;
  readonly schema: NamePart;
  readonly table: NamePart;
  readonly column: NamePart;
  /** No wildcard in any part. */
  readonly exact: boolean;
}

export interface NamePattern {
  readonly text: string;
  readonly part: NamePart;
}

/** A column as the catalog names it (exact case, no quoting). */
export interface ColumnRef {
  readonly schema: string;
  readonly table: string;
  readonly column: string;
}

export class IdentifierError extends Error {}

const UNQUOTED = /^[\p{L}\p{N}_$*?]+$/u;

function splitParts(text: string): { name: string; quoted: boolean }[] {
  const parts: { name: string; quoted: boolean }[] = [];
  let i = 0;
  const s = text.trim();
  if (s === '') throw new IdentifierError('empty name');
  for (;;) {
    if (s[i] === '"') {
      let name = '';
      i++;
      for (;;) {
        if (i >= s.length) throw new IdentifierError(`unterminated quoted identifier in ${JSON.stringify(text)}`);
        if (s[i] === '"') {
          if (s[i + 1] === '"') {
            name += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        name += s[i++];
      }
      if (name === '') throw new IdentifierError(`empty quoted identifier in ${JSON.stringify(text)}`);
      parts.push({ name, quoted: true });
    } else {
      const start = i;
      while (i < s.length && s[i] !== '.' && s[i] !== '"') i++;
      const raw = s.slice(start, i);
      if (raw === '') throw new IdentifierError(`empty name part in ${JSON.stringify(text)}`);
      if (!UNQUOTED.test(raw)) {
        throw new IdentifierError(`${JSON.stringify(raw)} in ${JSON.stringify(text)} needs double quotes (unquoted names are letters, digits, _ and $; globs * and ?)`);
      }
      parts.push({ name: raw, quoted: false });
    }
    if (i >= s.length) return parts;
    if (s[i] !== '.') throw new IdentifierError(`expected "." after a quoted identifier in ${JSON.stringify(text)}`);
    i++;
    if (i >= s.length) throw new IdentifierError(`${JSON.stringify(text)} ends with "."`);
  }
}

/** ASCII-only lower-casing, as PostgreSQL folds unquoted identifiers. */
export function foldIdentifier(name: string): string {
  return name.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

function toPart(p: { name: string; quoted: boolean }): NamePart {
  if (p.quoted) return { kind: 'exact', name: p.name };
  const name = foldIdentifier(p.name);
  if (name === '*') return { kind: 'any' };
  if (!/[*?]/.test(name)) return { kind: 'exact', name };
  const re = new RegExp(`^${name.replace(/[$]/g, '\\$').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'su');
  return { kind: 'glob', source: name, re, literalChars: name.replace(/[*?]/g, '').length };
}

/** `schema.table.column` with optional quotes and globs. Throws IdentifierError. */
export function parseColumnPattern(text: string): ColumnPattern {
  const parts = splitParts(text);
  if (parts.length !== 3) {
    throw new IdentifierError(
      `${JSON.stringify(text)} has ${parts.length} part${parts.length === 1 ? '' : 's'}; write schema.table.column (e.g. public.users.ssn or *.users.ssn)`,
    );
  }
  const [schema, table, column] = parts.map(toPart);
  const exact = schema.kind === 'exact' && table.kind === 'exact' && column.kind === 'exact';
  return { text, schema, table, column, exact };
}

/** A role name or glob (`dev_*`, `"Analyst"`). Throws IdentifierError. */
export function parseNamePattern(text: string): NamePattern {
  const parts = splitParts(text);
  if (parts.length !== 1) throw new IdentifierError(`${JSON.stringify(text)} is not a single name (quote it if it contains ".")`);
  return { text, part: toPart(parts[0]) };
}

export function matchPart(part: NamePart, name: string): boolean {
  switch (part.kind) {
    case 'exact':
      return part.name === name;
    case 'any':
      return true;
    case 'glob':
      return part.re.test(name);
  }
}

export function matchColumn(p: ColumnPattern, ref: ColumnRef): boolean {
  return matchPart(p.column, ref.column) && matchPart(p.table, ref.table) && matchPart(p.schema, ref.schema);
}

/**
 * Sort key, larger = more specific: the column part weighs most, then table,
 * then schema; per part exact > glob (more literal characters first) > `*`.
 */
export function specificity(p: ColumnPattern): number {
  const score = (part: NamePart): number =>
    part.kind === 'exact' ? 1000 : part.kind === 'glob' ? 1 + Math.min(part.literalChars, 998) : 0;
  return score(p.column) * 1_000_000 + score(p.table) * 1_000 + score(p.schema);
}

/** Identity of a pattern after folding, to detect the same column written twice. */
export function patternKey(p: ColumnPattern): string {
  const k = (part: NamePart): string => (part.kind === 'exact' ? `=${part.name}` : part.kind === 'any' ? '*' : `~${part.source}`);
  return `${k(p.schema)}\u0000${k(p.table)}\u0000${k(p.column)}`;
}

export function exactKey(schema: string, table: string, column: string): string {
  return `=${schema}\u0000=${table}\u0000=${column}`;
}

/** Quotes an identifier when PostgreSQL would need it to keep its spelling. */
export function quoteIdent(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

/** `app."Users".ssn` */
export function formatColumn(ref: ColumnRef): string {
  return `${quoteIdent(ref.schema)}.${quoteIdent(ref.table)}.${quoteIdent(ref.column)}`;
}
