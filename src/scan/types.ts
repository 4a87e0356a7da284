/**
 * The contract between the scanner (which reads samples from PostgreSQL) and the
 * classifier (pure functions that look at names and sampled values).
 */

/** Kinds of personal or secret data the scanner knows. Policy `class:` values use these names. */
export type PiiClass =
  | 'email'
  | 'phone'
  | 'ssn'
  | 'card'
  | 'iban'
  | 'ip_address'
  | 'dob'
  | 'postal_code'
  | 'person_name'
  | 'secret'
  | 'free_text';

/** One column with the values sampled from it, rendered as text (`value::text`). */
export interface ColumnSample {
  readonly schema: string;
  readonly table: string;
  readonly column: string;
  /** format_type() of the column, e.g. `text`, `character varying(64)`, `jsonb`, `date`, `inet`. */
  readonly dataType: string;
  /** Sampled values in text form; NULLs included (they do not count towards match rates). */
  readonly values: readonly (string | null)[];
}

/** Why a column looks sensitive. A finding never carries a sampled value. */
export interface Finding {
  readonly class: PiiClass;
  /** 0..1: how sure the classifier is that the column holds this class. */
  readonly confidence: number;
  /** Share (0..1) of sampled non-null values that matched the detector; 0 for name-only findings. */
  readonly matchRate: number;
  /** Which detector decided, e.g. `value:luhn`, `name:ssn`, `json:phone`, `text:email`. */
  readonly detector: string;
  /** For PII inside JSON/JSONB documents: the key path, e.g. `$.contact.phone` or `$.phones[*]`. */
  readonly jsonPath?: string;
}
