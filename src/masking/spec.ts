/**
 * What a mask is, independent of where it was written (policy YAML) and of the
 * column type it is applied to (see compile.ts).
 */

export const MASK_KINDS = ['redact', 'partial', 'email', 'hash', 'null', 'year', 'round', 'fixed'] as const;
export type MaskKind = (typeof MASK_KINDS)[number];

export interface RedactMask {
  readonly kind: 'redact';
}
export interface PartialMask {
  readonly kind: 'partial';
  /** Characters revealed at the start / end (separators not counted when keepSeparators). */
  readonly keepFirst: number;
  readonly keepLast: number;
  /** Leave separators (space, - . @ / ( ) + : , _) in place; default true. */
  readonly keepSeparators: boolean;
  /** The replacement character, default '*'. */
  readonly maskChar: string;
}
export interface EmailMask {
  readonly kind: 'email';
}
export interface HashMask {
  readonly kind: 'hash';
  /** Hex characters of HMAC-SHA256 kept for text results (8..64, default 16). */
  readonly length: number;
}
export interface NullMask {
  readonly kind: 'null';
}
export interface YearMask {
  readonly kind: 'year';
}
export interface RoundMask {
  readonly kind: 'round';
  /** Positive step; values are rounded half away from zero to a multiple of it. */
  readonly step: number;
}
export interface FixedMask {
  readonly kind: 'fixed';
  /** The literal sent instead of the value; NULL where it is not valid for the column type. */
  readonly value: string | number | boolean;
}

export type MaskSpec = RedactMask | PartialMask | EmailMask | HashMask | NullMask | YearMask | RoundMask | FixedMask;

export const PARTIAL_DEFAULTS = { keepFirst: 0, keepLast: 0, keepSeparators: true, maskChar: '*' } as const;
export const HASH_DEFAULT_LENGTH = 16;

/**
 * How much of the original a mask can reveal, 0 = nothing. Used to pick the
 * strictest mask and to break ties between equally specific policy patterns.
 *   null, redact, fixed : constants, reveal nothing
 *   hash                : equality (joins, GROUP BY)
 *   year, round         : a generalization of the value
 *   email               : the domain
 *   partial             : some characters
 */
export function maskDisclosure(spec: MaskSpec): number {
  switch (spec.kind) {
    case 'null':
      return 0;
    case 'redact':
      return 1;
    case 'fixed':
      return 2;
    case 'hash':
      return 3;
    case 'year':
      return 4;
    case 'round':
      return 5;
    case 'email':
      return 6;
    case 'partial':
      return 7;
  }
}

/** True for masks whose output is a constant (safe to apply to any derived value). */
export function isConstantMask(spec: MaskSpec): boolean {
  return spec.kind === 'null' || spec.kind === 'redact' || spec.kind === 'fixed';
}

/** Short human form for explain output and reasons: `partial(keep_last=4)`. */
export function describeMask(spec: MaskSpec): string {
  switch (spec.kind) {
    case 'partial': {
      const opts = [`keep_first=${spec.keepFirst}`, `keep_last=${spec.keepLast}`];
      if (!spec.keepSeparators) opts.push('keep_separators=false');
      if (spec.maskChar !== '*') opts.push(`mask_char=${JSON.stringify(spec.maskChar)}`);
      return `partial(${opts.join(', ')})`;
    }
    case 'hash':
      return `hash(length=${spec.length})`;
    case 'round':
      return `round(step=${spec.step})`;
    case 'fixed':
      return `fixed(${JSON.stringify(spec.value)})`;
    default:
      return spec.kind;
  }
}
