/**
 * Finds raw sensitive values in anything a client received: rows, errors,
 * notices, notification payloads, COPY output.
 *
 * Masks legitimately keep parts of a value (the last 4 of an SSN or card
 * number, an email's domain, the year of a birth date), so the detector only
 * looks for whole values and whole transformed forms of them:
 *   raw (case-insensitive), separators stripped, reversed, hex of the UTF-8
 *   bytes (either case), base64 (at every byte alignment, so a value inside a
 *   larger encoded blob is still found), md5 and sha256 hex, plus a few
 *   alternative renderings (dates in other DateStyles, numbers without
 *   trailing zeros).
 */
import { createHash } from 'node:crypto';

/** One row's worth of sensitive values, as they sit in the database. */
export interface SecretRecord {
  ssn: string;
  email: string;
  card: string;
  salary: number;
  /** YYYY-MM-DD */
  birth: string;
  notes: string;
}

export interface Needle {
  /** What is searched for (lower-cased when caseInsensitive). */
  text: string;
  caseInsensitive: boolean;
  /** e.g. "ssn of record 1 as md5" */
  label: string;
}

export interface Finding {
  label: string;
  needle: string;
  /** A short excerpt of the haystack around the hit. */
  excerpt: string;
}

const SEPARATORS = /[\s\-.@:/_+(),]/g;
const MIN_LEN = 6;

const reverse = (s: string) => [...s].reverse().join('');
const md5 = (s: string) => createHash('md5').update(s, 'utf8').digest('hex');
const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
const hex = (s: string) => Buffer.from(s, 'utf8').toString('hex');

/**
 * Base64 characters of `value` that do not depend on the bytes around it, for
 * each of the three alignments it can have inside a longer encoded string.
 */
export function base64Cores(value: string): string[] {
  const bytes = Buffer.from(value, 'utf8');
  const out: string[] = [];
  for (let k = 0; k < 3; k++) {
    const enc = Buffer.concat([Buffer.alloc(k), bytes]).toString('base64');
    const startBit = 8 * k;
    const endBit = 8 * (k + bytes.length);
    const first = Math.ceil(startBit / 6);
    const last = Math.floor(endBit / 6); // exclusive: chars whose 6 bits lie within [startBit, endBit)
    const core = enc.slice(first, last);
    if (core.length >= 8) out.push(core);
  }
  return out;
}

function dateForms(iso: string): string[] {
  const [y, m, d] = iso.split('-');
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const mon = months[Number(m) - 1];
  return [
    iso,
    `${m}/${d}/${y}`, // DateStyle SQL, MDY
    `${d}/${m}/${y}`, // SQL, DMY
    `${d}.${m}.${y}`, // German
    `${mon} ${d} ${y}`, // Postgres, MDY
    `${d} ${mon} ${y}`, // Postgres, DMY
  ];
}

function numberForms(n: number): string[] {
  const fixed = n.toFixed(2); // numeric(12,2) text output
  const short = String(n); // JSON / JS number
  return [...new Set([fixed, short])];
}

/** Builds every needle for a set of records. */
export function buildNeedles(records: readonly SecretRecord[]): Needle[] {
  const needles = new Map<string, Needle>();
  const add = (text: string, caseInsensitive: boolean, label: string) => {
    if (text.length < MIN_LEN) return;
    const key = `${caseInsensitive ? 'i' : 's'}:${caseInsensitive ? text.toLowerCase() : text}`;
    if (!needles.has(key)) needles.set(key, { text: caseInsensitive ? text.toLowerCase() : text, caseInsensitive, label });
  };
  const forms = (value: string, label: string, opts: { transforms: boolean } = { transforms: true }) => {
    add(value, true, `${label}`);
    const stripped = value.replace(SEPARATORS, '');
    if (stripped !== value) add(stripped, true, `${label} without separators`);
    if (!opts.transforms) return;
    for (const [v, what] of [[value, ''], [stripped, ' without separators']] as const) {
      if (what && v === value) continue;
      add(reverse(v), true, `${label}${what} reversed`);
      add(hex(v), true, `${label}${what} as hex`);
      for (const core of base64Cores(v)) add(core, false, `${label}${what} as base64`);
      add(md5(v), true, `${label}${what} as md5`);
      add(sha256(v), true, `${label}${what} as sha256`);
    }
  };
  records.forEach((r, i) => {
    const who = `record ${i + 1}`;
    forms(r.ssn, `ssn of ${who}`);
    forms(r.email, `email of ${who}`);
    forms(r.email.slice(0, r.email.lastIndexOf('@')), `email local part of ${who}`);
    forms(r.card, `card number of ${who}`);
    for (const s of numberForms(r.salary)) forms(s, `salary of ${who}`);
    const [first, ...other] = dateForms(r.birth);
    forms(first, `birth date of ${who}`);
    for (const d of other) forms(d, `birth date of ${who} (other DateStyle)`, { transforms: false });
    forms(r.notes, `notes of ${who}`);
  });
  return [...needles.values()];
}

export class LeakDetector {
  readonly needles: Needle[];

  constructor(records: readonly SecretRecord[], extra: readonly Needle[] = []) {
    this.needles = [...buildNeedles(records), ...extra];
  }

  /** Every needle found in `text` (one finding per needle). */
  scan(text: string): Finding[] {
    if (!text) return [];
    // Also look through backslash escapes (COPY text format, JSON strings): 123\-45\-6789.
    const unescaped = text.includes('\\') ? text.replace(/\\(.)/g, '$1') : undefined;
    const out: Finding[] = [];
    for (const hay of unescaped === undefined ? [text] : [text, unescaped]) {
      const lower = hay.toLowerCase();
      for (const n of this.needles) {
        if (out.some((f) => f.needle === n.text)) continue;
        const at = n.caseInsensitive ? lower.indexOf(n.text) : hay.indexOf(n.text);
        if (at < 0) continue;
        out.push({ label: n.label, needle: n.text, excerpt: hay.slice(Math.max(0, at - 30), at + n.text.length + 30) });
      }
    }
    return out;
  }
}

/**
 * Text of anything a driver handed back, in every rendering a leak could hide
 * in: Buffers as UTF-8 and hex, Dates as local and UTC calendar dates and ISO,
 * objects as JSON and by their values.
 */
export function serialize(value: unknown): string {
  const parts: string[] = [];
  const seen = new Set<unknown>();
  const walk = (v: unknown): void => {
    if (v === null || v === undefined) return;
    if (typeof v === 'string') return void parts.push(v);
    if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return void parts.push(String(v));
    if (Buffer.isBuffer(v) || v instanceof Uint8Array) {
      const b = Buffer.from(v);
      parts.push(b.toString('utf8'), b.toString('hex'), b.toString('latin1'));
      return;
    }
    if (v instanceof Date) {
      if (Number.isNaN(v.getTime())) return void parts.push('Invalid Date');
      const p = (n: number) => String(n).padStart(2, '0');
      parts.push(
        `${v.getFullYear()}-${p(v.getMonth() + 1)}-${p(v.getDate())}`,
        `${v.getUTCFullYear()}-${p(v.getUTCMonth() + 1)}-${p(v.getUTCDate())}`,
        v.toISOString(),
      );
      return;
    }
    if (typeof v === 'object') {
      if (seen.has(v)) return;
      seen.add(v);
      if (v instanceof Error) {
        parts.push(v.message);
        for (const [k, x] of Object.entries(v)) if (k !== 'stack') walk(x);
        return;
      }
      if (Array.isArray(v)) return void v.forEach(walk);
      if (v instanceof Map) return void v.forEach((x, k) => { walk(k); walk(x); });
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        parts.push(k);
        walk(x);
      }
    }
  };
  walk(value);
  return parts.join('\n');
}
