/**
 * The pure decision: may this identity see these columns raw, now?
 * No I/O, no clock of its own: everything arrives in the input.
 *
 * Per sensitive source column (one that a policy entry matches):
 *   1. raw if a `roles:` entry matches the login user or any role it is a member of
 *      and lists the column's class, the column (key or pattern), or "*";
 *   2. raw if the login user holds an active grant covering the column or its class
 *      (active: approved, not revoked, startsAt <= now < expiresAt, and never longer
 *      than jit.max_duration from startsAt when startsAt is known);
 *   3. otherwise masked with the entry's mask. Columns no entry matches are not
 *      sensitive (raw).
 *
 * Combination for one result column (its value derived from `columns`):
 *   - raw only if every source is raw for this identity;
 *   - sink 'opaque' (the statement moves values where the proxy cannot mask them:
 *     CREATE TABLE AS, INSERT … SELECT, set_config …) and any source masked → refuse;
 *   - otherwise mask. A *direct* result column (exactly one source, the value is that
 *     column's value: plain reference through views, subqueries, no-op casts) gets that
 *     source's own mask. Any other result column (an expression over the sources, or
 *     several sources) takes the strictest mask of its masked sources (the order of
 *     maskDisclosure: null, redact, fixed, hash, year, round, email, partial), and if
 *     that one still reveals something of the value (hash, year, round, email,
 *     partial) it becomes `redact`: a value-revealing mask over an expression leaks
 *     (partial over substr(ssn, 2, 6) reveals digits the policy hides; hash over
 *     substr(ssn, k, 1) is a per-digit oracle). So derived results get only constants.
 *   - filter (predicates, joins, ORDER BY, GROUP BY over the column): 'deny' if any
 *     masked source's entry says deny (the default), 'allow' otherwise; raw → 'allow'.
 * Nothing is raw by default: a sensitive column is raw only through a role or grant.
 * The caller must fail closed on result columns whose sources it cannot resolve
 * (an empty `columns` list means "no sensitive source", i.e. raw).
 */
import { describeMask, isConstantMask, maskDisclosure, type MaskSpec } from '../masking/spec.js';
import {
  exactKey,
  formatColumn,
  IdentifierError,
  matchColumn,
  matchPart,
  parseColumnPattern,
  type ColumnPattern,
  type ColumnRef,
  type NamePattern,
} from './identifiers.js';
import type { ColumnRule, FilterMode, Policy } from './types.js';

export type { ColumnRef };

/** Who is asking: the authenticated login user and every role it is a member of (pg_auth_members, transitively). */
export interface Identity {
  readonly user: string;
  readonly roles: readonly string[];
}

/** A just-in-time grant as the grant store hands it over. */
export interface Grant {
  readonly id: string;
  /** The login user it was granted to (exact role name). */
  readonly user: string;
  /** Column keys or patterns in policy syntax (`app.users.ssn`, `app."Users".*`). */
  readonly columns?: readonly string[];
  /** Classes from the policy. */
  readonly classes?: readonly string[];
  /** Enough approvals were given. */
  readonly approved: boolean;
  readonly startsAt?: Date;
  readonly expiresAt: Date;
  readonly revokedAt?: Date;
}

/** What decided a source column (or a whole result column). */
export type DecisionSource =
  | { readonly kind: 'unprotected' }
  | { readonly kind: 'column'; readonly key: string; readonly where: string; readonly class: string | undefined }
  | { readonly kind: 'role'; readonly role: string; readonly matched: string; readonly via: string; readonly where: string }
  | { readonly kind: 'grant'; readonly grantId: string; readonly expiresAt: Date };

/** A source that is masked: it always has its policy entry. */
type MaskedSource = SourceDecision & { readonly raw: false; readonly rule: ColumnRule };
const isMasked = (s: SourceDecision): s is MaskedSource => !s.raw && s.rule !== undefined;

export interface SourceDecision {
  readonly column: ColumnRef;
  /** The policy entry that makes it sensitive. */
  readonly rule: ColumnRule | undefined;
  readonly raw: boolean;
  readonly source: DecisionSource;
  readonly reason: string;
}

interface DecisionBase {
  readonly reason: string;
  /** The source that decided (for mask/refuse: the strictest masked source's policy entry). */
  readonly source: DecisionSource;
  /** One per input column. */
  readonly sources: readonly SourceDecision[];
  readonly filter: FilterMode;
}
export type Decision =
  | (DecisionBase & { readonly action: 'raw' })
  /** derived: the value of an expression over masked columns (its mask is a constant, NULLs included: whether an expression is NULL tells about its inputs). */
  | (DecisionBase & { readonly action: 'mask'; readonly mask: MaskSpec; readonly derived?: boolean })
  | (DecisionBase & { readonly action: 'refuse' });

export interface DecideInput {
  readonly identity: Identity;
  /** The sensitive sources of one result column (its lineage). */
  readonly columns: readonly ColumnRef[];
  readonly grants: readonly Grant[];
  readonly policy: Policy;
  readonly now: Date;
  /** The result column is exactly the value of its single source. Default false (derived). */
  readonly direct?: boolean;
  /**
   * How many of `columns` name the same value again: the view columns it was
   * read through, when the policy has entries for them. They don't make a
   * direct result derived.
   */
  readonly aliases?: number;
  /** 'client' (default): the values reach the client through the proxy. 'opaque': they go somewhere the proxy can't mask. */
  readonly sink?: 'client' | 'opaque';
}

// ---------------------------------------------------------------- lookups

/**
 * The policy entry for a column as the catalog names it (exact case): an exact
 * entry beats any pattern; among patterns the most specific (column part first,
 * then table, then schema; literal > glob with more literal characters > `*`),
 * then the stricter mask, then the earlier entry.
 */
export function resolveColumn(policy: Policy, schema: string, table: string, column: string): ColumnRule | undefined {
  const hit = policy.exact.get(exactKey(schema, table, column));
  if (hit) return hit;
  const ref = { schema, table, column };
  for (const r of policy.patterns) if (matchColumn(r.pattern, ref)) return r;
  return undefined;
}

/** The user or member role that `pattern` matches, if any. */
export function matchIdentity(pattern: NamePattern, identity: Identity): string | undefined {
  if (matchPart(pattern.part, identity.user)) return identity.user;
  for (const r of identity.roles) if (matchPart(pattern.part, r)) return r;
  return undefined;
}

export function canRequest(policy: Policy, identity: Identity): boolean {
  return policy.jit.requesters.some((p) => matchIdentity(p, identity) !== undefined);
}

export function canApprove(policy: Policy, identity: Identity): boolean {
  return policy.jit.approvers.some((p) => matchIdentity(p, identity) !== undefined);
}

/** Why a grant is not active at `now`, or undefined when it is. */
export function grantInactiveReason(grant: Grant, now: Date, policy?: Policy): string | undefined {
  const t = now.getTime();
  if (!grant.approved) return 'is not approved';
  if (grant.revokedAt !== undefined && grant.revokedAt.getTime() <= t) return `was revoked at ${grant.revokedAt.toISOString()}`;
  if (grant.startsAt !== undefined && t < grant.startsAt.getTime()) return `starts at ${grant.startsAt.toISOString()}`;
  let end = grant.expiresAt.getTime();
  if (Number.isNaN(end)) return 'has no valid expiry';
  if (policy !== undefined && grant.startsAt !== undefined) end = Math.min(end, grant.startsAt.getTime() + policy.jit.maxDurationMs);
  if (t >= end) return `expired at ${new Date(end).toISOString()}`;
  return undefined;
}

export function isGrantActive(grant: Grant, now: Date, policy?: Policy): boolean {
  return grantInactiveReason(grant, now, policy) === undefined;
}

const grantPatternCache = new Map<string, ColumnPattern | null>();
function grantPattern(text: string): ColumnPattern | null {
  let p = grantPatternCache.get(text);
  if (p === undefined) {
    try {
      p = parseColumnPattern(text);
    } catch (err) {
      if (!(err instanceof IdentifierError)) throw err;
      p = null; // a malformed grant entry covers nothing
    }
    if (grantPatternCache.size > 10_000) grantPatternCache.clear();
    grantPatternCache.set(text, p);
  }
  return p;
}

/** Whether `grant` names this column (by key/pattern) or its class. Ignores activity. */
export function grantCovers(grant: Grant, column: ColumnRef, rule: ColumnRule | undefined): boolean {
  if (rule?.class !== undefined && grant.classes?.includes(rule.class)) return true;
  for (const text of grant.columns ?? []) {
    const p = grantPattern(text);
    if (p !== null && matchColumn(p, column)) return true;
  }
  return false;
}

// ---------------------------------------------------------------- decide

/** Decision for one source column. */
export function decideSource(
  input: Pick<DecideInput, 'identity' | 'grants' | 'policy' | 'now'>,
  column: ColumnRef,
): SourceDecision {
  const { identity, policy, now } = input;
  const name = formatColumn(column);
  const rule = resolveColumn(policy, column.schema, column.table, column.column);
  if (rule === undefined) {
    return { column, rule, raw: true, source: { kind: 'unprotected' }, reason: `${name}: no policy entry, not sensitive` };
  }
  const entry = `policy entry "${rule.key}" at ${rule.where}`;
  for (const role of policy.roles) {
    const via = role.rawAll
      ? '*'
      : rule.class !== undefined && role.rawClasses.includes(rule.class)
        ? `class ${rule.class}`
        : role.rawColumns.find((p) => matchColumn(p, column))?.text;
    if (via === undefined) continue;
    const matched = matchIdentity(role.pattern, identity);
    if (matched === undefined) continue;
    const who = matched === identity.user ? `user ${matched}` : `${identity.user}'s role ${matched}`;
    return {
      column,
      rule,
      raw: true,
      source: { kind: 'role', role: role.name, matched, via, where: role.where },
      reason: `${name}: raw, ${who} matches roles."${role.name}" (${role.where}) with standing raw access to ${via === '*' ? 'every column' : via}`,
    };
  }
  const notes: string[] = [];
  for (const grant of input.grants) {
    if (grant.user !== identity.user || !grantCovers(grant, column, rule)) continue;
    const why = grantInactiveReason(grant, now, policy);
    if (why === undefined) {
      return {
        column,
        rule,
        raw: true,
        source: { kind: 'grant', grantId: grant.id, expiresAt: grant.expiresAt },
        reason: `${name}: raw, grant ${grant.id} for ${identity.user} is active until ${grant.expiresAt.toISOString()}`,
      };
    }
    notes.push(`grant ${grant.id} ${why}`);
  }
  return {
    column,
    rule,
    raw: false,
    source: { kind: 'column', key: rule.key, where: rule.where, class: rule.class },
    reason:
      `${name}: masked with ${describeMask(rule.mask)} by ${entry}${rule.class !== undefined ? ` (class ${rule.class})` : ''}; ` +
      `no standing access or active grant for ${identity.user}${notes.length ? ` (${notes.join('; ')})` : ''}`,
  };
}

/** Decision for one result column. See the combination rule at the top of this file. */
export function decide(input: DecideInput): Decision {
  const sources = input.columns.map((c) => decideSource(input, c));
  const masked = sources.filter(isMasked);
  if (masked.length === 0) {
    const decisive = sources.find((s) => s.source.kind !== 'unprotected');
    return {
      action: 'raw',
      filter: 'allow',
      source: decisive?.source ?? { kind: 'unprotected' },
      sources,
      reason: sources.length === 0 ? 'no sensitive source' : sources.map((s) => s.reason).join('; '),
    };
  }
  let strictest = masked[0];
  for (const s of masked) if (maskDisclosure(s.rule.mask) < maskDisclosure(strictest.rule.mask)) strictest = s;
  const filter: FilterMode = masked.some((s) => s.rule.filter === 'deny') ? 'deny' : 'allow';
  const maskedReasons = masked.map((s) => s.reason).join('; ');
  if (input.sink === 'opaque') {
    return {
      action: 'refuse',
      filter,
      source: strictest.source,
      sources,
      reason: `the statement would copy ${masked.map((s) => formatColumn(s.column)).join(', ')} where values can't be masked; ${maskedReasons}`,
    };
  }
  const rule = strictest.rule;
  if (input.direct === true && sources.length - (input.aliases ?? 0) === 1) {
    return { action: 'mask', mask: rule.mask, filter, source: strictest.source, sources, reason: maskedReasons };
  }
  const mask: MaskSpec = isConstantMask(rule.mask) ? rule.mask : { kind: 'redact' };
  const names = masked.map((s) => formatColumn(s.column)).join(', ');
  return {
    action: 'mask',
    mask,
    derived: true,
    filter,
    source: strictest.source,
    sources,
    reason:
      `derived from masked ${names}: ${describeMask(mask)}` +
      (mask !== rule.mask ? ` (${describeMask(rule.mask)} would reveal part of an expression's value)` : '') +
      `; ${maskedReasons}`,
  };
}

/** Decisions for several result columns of one statement. */
export function decideAll(
  input: Omit<DecideInput, 'columns' | 'direct'> & { readonly results: readonly { readonly columns: readonly ColumnRef[]; readonly direct?: boolean }[] },
): Decision[] {
  return input.results.map((r) => decide({ ...input, columns: r.columns, direct: r.direct }));
}

export type FilterDecision =
  | { readonly action: 'allow' }
  | { readonly action: 'refuse'; readonly column: ColumnRef; readonly reason: string; readonly source: DecisionSource };

/**
 * May the statement use these columns in predicates, joins, ORDER BY, GROUP BY?
 * Refused when one of them is masked for this identity and its entry says
 * `filter: deny` (the default): probing a masked column by comparison is a leak.
 */
export function decideFilter(input: Omit<DecideInput, 'direct' | 'sink'>): FilterDecision {
  for (const c of input.columns) {
    const s = decideSource(input, c);
    if (isMasked(s) && s.rule.filter === 'deny') {
      return { action: 'refuse', column: c, source: s.source, reason: `${s.reason}; filtering on it is denied (filter: deny)` };
    }
  }
  return { action: 'allow' };
}
