/**
 * Mask functions, compiled once per (mask, column type, format) and then run
 * per masked field on the raw DataRow / CopyData bytes.
 *
 * Contract of every compiled function:
 *  - input: the field's bytes exactly as the server sent them in `format`
 *    (0 = text output function, 1 = binary send function); never NULL (NULL
 *    fields are not masked, they carry nothing);
 *  - output: bytes valid for the column's type in the same format, or null
 *    (send SQL NULL). Anything a mask cannot express for the type, and any
 *    input it cannot parse, gives null: fail closed, never the raw bytes.
 *  - returned buffers may be shared between calls (constants): copy, don't mutate.
 *
 * Text is assumed to be UTF-8 (client_encoding UTF8 or an ASCII-only value).
 *
 * Per type family (see types.ts):
 *   redact  text → "[REDACTED]" (or '*' × n for varchar(n)/char(n) with n < 10, char(n) padded);
 *           json/jsonb → "[REDACTED]" as a JSON string; anything else → NULL.
 *   partial text only: keep_first/keep_last characters, the others → mask_char, separators
 *           (space - . @ / ( ) + : , _) kept when keep_separators; a value with no more
 *           characters than keep_first + keep_last is masked entirely. Numbers, dates,
 *           uuid, json … → NULL (a partly starred number is not a number).
 *   email   text only: "***@" + the domain after the last '@'; no '@' → "***".
 *   hash    HMAC-SHA256(key, canonical text of the value), so the same value hashes the
 *           same in text and binary format and in every column (joins work):
 *           text → first `length` hex digits; json/jsonb → that as a JSON string;
 *           int2/int4/int8 → the first 2/4/8 bytes as a signed integer; numeric → a 48-bit
 *           integer (fewer digits if numeric(p,s) needs); float4/float8 → a 24/48-bit integer;
 *           uuid → 16 bytes shaped as a version-4 uuid; bytea → length/2 bytes;
 *           bool, dates, times, other → NULL.
 *   null    NULL.
 *   year    date → YYYY-01-01; timestamp → YYYY-01-01 00:00:00; timestamptz → start of the
 *           year (text: same UTC offset as the value; binary: UTC); ±infinity kept. Text
 *           input must be DateStyle ISO (the default), else NULL. Other types → NULL.
 *   round   int2/int4/int8/numeric exactly (BigInt decimal, half away from zero; integer
 *           types need an integer step and a result in range), numeric binary decoded and
 *           re-encoded; float4/float8 in IEEE; NaN/±Infinity kept. Other types → NULL.
 *   fixed   the literal, validated once for the type (int range, numeric(p,s) digits,
 *           ISO date/timestamp, uuid, bool, json = JSON of the literal, bytea = '\x' hex
 *           or UTF-8, text within varchar(n)); not valid for the type → NULL.
 */
import { createHmac } from 'node:crypto';
import { copySpan } from '../util/bytes.js';
import type { FixedMask, HashMask, MaskSpec, PartialMask, RoundMask } from './spec.js';
import { numericPrecision, textLimit, typeFamily, OID, type TypeFamily } from './types.js';
import {
  DATE_NEG_INFINITY,
  DATE_POS_INFINITY,
  TS_NEG_INFINITY,
  TS_POS_INFINITY,
  USECS_PER_DAY,
  daysInMonth,
  formatDecimal,
  numericBinaryToText,
  numericTextToBinary,
  parseDecimal,
  pgCivilFromDays,
  pgDaysFromCivil,
  roundDecimal,
  startOfYearDays,
  startOfYearUsecs,
} from './pg-binary.js';

/** Wire format code of a result column: 0 text, 1 binary. */
export type FieldFormat = 0 | 1;
/** `nulls`: NULL fields get the mask too (called with an empty value); otherwise NULL stays NULL. */
export type MaskFn = ((raw: Buffer) => Buffer | null) & { readonly into?: MaskInto; readonly nulls?: boolean };

/**
 * The mask of a derived value, NULLs included: whether CASE WHEN ssn LIKE '5%'
 * THEN 'x' END is NULL tells about ssn, so NULL must look like any other value.
 * (Derived values get constant masks: the output doesn't depend on the input.)
 */
export function maskingNulls<F extends ((value: never) => unknown) & { readonly into?: MaskInto }>(fn: F): F & { readonly nulls: true } {
  const wrapped = ((value: never) => fn(value)) as unknown as F & { nulls: true; into?: MaskInto };
  if (fn.into) wrapped.into = fn.into;
  wrapped.nulls = true;
  return wrapped;
}

/**
 * The same mask writing straight into the output (the hot path of masked
 * rows: no buffer per value). Present on the masks that streams use most.
 */
export interface MaskInto {
  /** Upper bound of what write() produces for an input of `len` bytes. */
  maxOut(len: number): number;
  /**
   * Writes the masked form of src[start, end) at dst[at…] (at least maxOut
   * bytes free there); returns its length, or -1 for SQL NULL. src and dst may
   * be views of one memory, never overlapping ranges.
   */
  write(src: Buffer, start: number, end: number, dst: Buffer, at: number): number;
}

function withInto(fn: (raw: Buffer) => Buffer | null, into: MaskInto): MaskFn {
  return Object.assign(fn, { into });
}


/** The fast form of a mask that has only the Buffer form: call it and copy. */
function viaBuffer(fn: (raw: Buffer) => Buffer | null, src: Buffer, start: number, end: number, dst: Buffer, at: number): number {
  const out = fn(src.subarray(start, end));
  return out === null ? -1 : copySpan(out, 0, out.length, dst, at);
}
export type TextMaskFn = (value: string) => string | null;

export interface CompileOptions {
  /** HMAC key for `hash` masks (required for them). */
  hashKey?: Buffer | string;
  /** RowDescription type modifier (varchar(n) / char(n) lengths, numeric(p,s)); -1 or absent = none. */
  typeModifier?: number;
  /** pg_type.typcategory when known; 'S' makes unknown string types (citext) mask like text. */
  typeCategory?: string;
}

export class MaskError extends Error {}

const NULL_FN: MaskFn = withInto(() => null, { maxOut: () => 0, write: () => -1 });
const REDACTED = '[REDACTED]';

/** Compiles `spec` for one result column. Throws MaskError only for a hash mask without key. */
export function compileMask(spec: MaskSpec, typeOid: number, format: FieldFormat, options: CompileOptions = {}): MaskFn {
  const family = typeFamily(typeOid, options.typeCategory);
  const t: TypeInfo = {
    family,
    format,
    bpchar: typeOid === OID.bpchar,
    limit: textLimit(typeOid, options.typeModifier),
    typeModifier: options.typeModifier,
  };
  switch (spec.kind) {
    case 'null':
      return NULL_FN;
    case 'redact':
      return constant(stringValue(t, t.limit !== undefined && t.limit < REDACTED.length ? '*'.repeat(t.limit) : REDACTED));
    case 'partial':
      return family === 'text' ? partialFn(spec, t.bpchar) : NULL_FN;
    case 'email':
      return family === 'text' ? emailFn(t) : NULL_FN;
    case 'hash':
      return hashFn(spec, t, options.hashKey);
    case 'year':
      return yearFn(t);
    case 'round':
      return roundFn(spec, t);
    case 'fixed':
      return constant(fixedValue(spec, t));
  }
}

/** The same masks over text-format values as strings (COPY … TO STDOUT text/csv fields, after unescaping). */
export function compileTextMask(spec: MaskSpec, typeOid: number, options: CompileOptions = {}): TextMaskFn {
  const fn = compileMask(spec, typeOid, 0, options);
  return (value) => {
    const out = fn(Buffer.from(value, 'utf8'));
    return out === null ? null : out.toString('utf8');
  };
}

/** One-off convenience over compileTextMask; compile once per column on hot paths. */
export function maskTextValue(spec: MaskSpec, typeOid: number, value: string, options: CompileOptions = {}): string | null {
  return compileTextMask(spec, typeOid, options)(value);
}

// ---------------------------------------------------------------- helpers

interface TypeInfo {
  family: TypeFamily;
  format: FieldFormat;
  bpchar: boolean;
  /** Max characters for varchar(n) / char(n) / name. */
  limit: number | undefined;
  typeModifier: number | undefined;
}

function constant(value: Buffer | null): MaskFn {
  if (value === null) return NULL_FN;
  return withInto(() => value, {
    maxOut: () => value.length,
    write: (_src, _start, _end, dst, at) => copySpan(value, 0, value.length, dst, at),
  });
}

/** Truncates to the column's length limit; pads char(n). */
function fitText(s: string, t: TypeInfo): string {
  if (t.limit === undefined) return s;
  const n = codePointLength(s);
  if (n > t.limit) return Array.from(s).slice(0, t.limit).join('');
  if (t.bpchar && n < t.limit) return s + ' '.repeat(t.limit - n);
  return s;
}

function codePointLength(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdbff) n++;
  }
  return n;
}

/** A string value in a text-like or JSON column; null for other types. */
function stringValue(t: TypeInfo, s: string): Buffer | null {
  switch (t.family) {
    case 'text':
      return Buffer.from(fitText(s, t), 'utf8');
    case 'json':
      return Buffer.from(JSON.stringify(s), 'utf8');
    case 'jsonb':
      return jsonbOut(t.format, JSON.stringify(s));
    default:
      return null;
  }
}

function jsonbOut(format: FieldFormat, json: string): Buffer {
  if (format === 0) return Buffer.from(json, 'utf8');
  const body = Buffer.from(json, 'utf8');
  const out = Buffer.allocUnsafe(body.length + 1);
  out[0] = 1; // jsonb binary format version
  body.copy(out, 1);
  return out;
}

/** Length without trailing spaces (char(n) padding). */
function trimmedLength(raw: Buffer): number {
  let end = raw.length;
  while (end > 0 && raw[end - 1] === 0x20) end--;
  return end;
}

// ---------------------------------------------------------------- partial

const SEPARATORS = new Set([' ', '\t', '-', '.', '@', '/', '(', ')', '+', ':', ',', '_'].map((c) => c.codePointAt(0) as number));
/** SEPARATORS as a lookup table for the ASCII fast path. */
const ASCII_SEPARATOR = new Uint8Array(128);
for (const c of SEPARATORS) ASCII_SEPARATOR[c] = 1;
const NO_SEPARATOR = new Uint8Array(128);

function partialFn(spec: PartialMask, bpchar: boolean): MaskFn {
  const maskCode = spec.maskChar.codePointAt(0) as number;
  const maskAscii = maskCode < 0x80;
  const { keepFirst, keepLast, keepSeparators } = spec;
  const sep = keepSeparators ? ASCII_SEPARATOR : NO_SEPARATOR;

  /** ASCII value and mask character: one output byte per input byte; -2 when the value is not ASCII. */
  const asciiInto = (src: Buffer, start: number, full: number, dst: Buffer, at: number): number => {
    // char(n) padding stays padding.
    let end = full;
    if (bpchar) while (end > start && src[end - 1] === 0x20) end--;
    let n = 0;
    let high = 0;
    for (let i = start; i < end; i++) {
      const c = src[i];
      high |= c;
      n += 1 - sep[c & 0x7f];
    }
    if (high >= 0x80) return -2;
    const reveal = keepFirst + keepLast < n;
    let idx = 0;
    for (let i = start; i < end; i++) {
      const c = src[i];
      if (sep[c] === 1) {
        dst[at + i - start] = c;
        continue;
      }
      dst[at + i - start] = reveal && (idx < keepFirst || idx >= n - keepLast) ? c : maskCode;
      idx++;
    }
    for (let i = end; i < full; i++) dst[at + i - start] = 0x20;
    return full - start;
  };

  const unicode = (raw: Buffer): Buffer => {
    const end = bpchar ? trimmedLength(raw) : raw.length;
    const text = raw.toString('utf8', 0, end);
    const cps = Array.from(text, (ch) => ch.codePointAt(0) as number);
    let n = 0;
    for (const c of cps) if (!keepSeparators || !SEPARATORS.has(c)) n++;
    const reveal = keepFirst + keepLast < n;
    let idx = 0;
    for (let i = 0; i < cps.length; i++) {
      if (keepSeparators && SEPARATORS.has(cps[i])) continue;
      if (!(reveal && (idx < keepFirst || idx >= n - keepLast))) cps[i] = maskCode;
      idx++;
    }
    return Buffer.from(String.fromCodePoint(...cps) + ' '.repeat(raw.length - end), 'utf8');
  };

  const fn = (raw: Buffer): Buffer => {
    if (!maskAscii) return unicode(raw);
    const out = Buffer.allocUnsafe(raw.length);
    return asciiInto(raw, 0, raw.length, out, 0) < 0 ? unicode(raw) : out;
  };
  return withInto(fn, {
    // Each input byte yields at most one code point: itself, the mask character
    // (up to 4 bytes) or, for bytes that aren't UTF-8 (a LATIN1 client, a
    // SQL_ASCII database), U+FFFD (3 bytes). Only all-ASCII values are sized exactly.
    maxOut: (len) => 4 * len,
    write: (src, start, end, dst, at) => {
      const n = maskAscii ? asciiInto(src, start, end, dst, at) : -2;
      return n === -2 ? viaBuffer(unicode, src, start, end, dst, at) : n;
    },
  });
}

// ---------------------------------------------------------------- email

function emailFn(t: TypeInfo): MaskFn {
  if (t.limit !== undefined || t.bpchar) {
    return (raw) => {
      const text = raw.toString('utf8', 0, t.bpchar ? trimmedLength(raw) : raw.length);
      const at = text.lastIndexOf('@');
      return Buffer.from(fitText(at < 0 ? '***' : `***${text.slice(at)}`, t), 'utf8');
    };
  }
  // Bytes are enough: '@' (0x40) never occurs inside a multi-byte UTF-8 sequence.
  const write = (src: Buffer, start: number, end: number, dst: Buffer, at: number): number => {
    let sign = end - 1;
    while (sign >= start && src[sign] !== 0x40) sign--;
    dst[at] = dst[at + 1] = dst[at + 2] = 0x2a;
    if (sign < start) return 3;
    return 3 + copySpan(src, sign, end, dst, at + 3);
  };
  return withInto(
    (raw) => {
      const out = Buffer.allocUnsafe(3 + raw.length);
      return out.subarray(0, write(raw, 0, raw.length, out, 0));
    },
    { maxOut: (len) => 3 + len, write },
  );
}

// ---------------------------------------------------------------- hash

type Canon = (raw: Buffer) => Buffer | string | undefined;

function hashFn(spec: HashMask, t: TypeInfo, hashKey: Buffer | string | undefined): MaskFn {
  const canon = canonical(t);
  const out = hashOutput(spec, t);
  if (canon === undefined || out === undefined) return NULL_FN;
  if (hashKey === undefined || hashKey.length === 0) {
    throw new MaskError('hash mask needs a key: set the environment variable named by hash_key_env in the policy (default PGVEIL_HASH_KEY)');
  }
  const key = typeof hashKey === 'string' ? Buffer.from(hashKey, 'utf8') : Buffer.from(hashKey);
  return (raw) => {
    const c = canon(raw);
    if (c === undefined) return null;
    return out(createHmac('sha256', key).update(c).digest());
  };
}

/** The value as its canonical text (what PostgreSQL prints), whatever the format it arrived in. */
function canonical(t: TypeInfo): Canon | undefined {
  const bin = t.format === 1;
  switch (t.family) {
    case 'text':
      return t.bpchar ? (raw) => raw.subarray(0, trimmedLength(raw)) : (raw) => raw;
    case 'json':
      return (raw) => raw;
    case 'jsonb':
      return bin ? (raw) => (raw.length > 0 && raw[0] === 1 ? raw.subarray(1) : undefined) : (raw) => raw;
    case 'int2':
      return bin ? (raw) => (raw.length === 2 ? String(raw.readInt16BE(0)) : undefined) : (raw) => raw;
    case 'int4':
      return bin ? (raw) => (raw.length === 4 ? String(raw.readInt32BE(0)) : undefined) : (raw) => raw;
    case 'int8':
      return bin ? (raw) => (raw.length === 8 ? String(raw.readBigInt64BE(0)) : undefined) : (raw) => raw;
    case 'numeric':
      return bin ? (raw) => numericBinaryToText(raw) : (raw) => raw;
    case 'float4':
      return bin
        ? (raw) => (raw.length === 4 ? String(raw.readFloatBE(0)) : undefined)
        : (raw) => floatCanon(Math.fround(Number(raw.toString('latin1'))), raw);
    case 'float8':
      return bin
        ? (raw) => (raw.length === 8 ? String(raw.readDoubleBE(0)) : undefined)
        : (raw) => floatCanon(Number(raw.toString('latin1')), raw);
    case 'uuid':
      return bin ? (raw) => (raw.length === 16 ? formatUuid(raw) : undefined) : (raw) => raw.toString('latin1').toLowerCase();
    case 'bytea':
      return bin ? (raw) => raw : (raw) => decodeByteaText(raw);
    default:
      return undefined;
  }
}

function floatCanon(n: number, raw: Buffer): string | undefined {
  if (Number.isNaN(n) && raw.toString('latin1') !== 'NaN') return undefined;
  return String(n);
}

function hashOutput(spec: HashMask, t: TypeInfo): ((mac: Buffer) => Buffer) | undefined {
  const bin = t.format === 1;
  const hexLen = spec.length;
  switch (t.family) {
    case 'text':
      return (mac) => Buffer.from(fitText(mac.toString('hex', 0, Math.ceil(hexLen / 2)).slice(0, hexLen), t), 'latin1');
    case 'json':
    case 'jsonb':
      return (mac) => {
        const json = `"${mac.toString('hex', 0, Math.ceil(hexLen / 2)).slice(0, hexLen)}"`;
        return t.family === 'json' ? Buffer.from(json, 'latin1') : jsonbOut(t.format, json);
      };
    case 'int2':
      return bin ? (mac) => mac.subarray(0, 2) : (mac) => Buffer.from(String(mac.readInt16BE(0)), 'latin1');
    case 'int4':
      return bin ? (mac) => mac.subarray(0, 4) : (mac) => Buffer.from(String(mac.readInt32BE(0)), 'latin1');
    case 'int8':
      return bin ? (mac) => mac.subarray(0, 8) : (mac) => Buffer.from(String(mac.readBigInt64BE(0)), 'latin1');
    case 'numeric': {
      const p = numericPrecision(t.typeModifier);
      const digits = p === undefined ? 15 : Math.min(15, p.precision - p.scale);
      const mod = digits > 0 ? 10 ** digits : 1;
      return (mac) => {
        const text = String(mac.readUIntBE(0, 6) % mod);
        return bin ? (numericTextToBinary(text) as Buffer) : Buffer.from(text, 'latin1');
      };
    }
    case 'float4':
      return bin
        ? (mac) => {
            const out = Buffer.allocUnsafe(4);
            out.writeFloatBE(mac.readUIntBE(0, 3), 0);
            return out;
          }
        : (mac) => Buffer.from(String(mac.readUIntBE(0, 3)), 'latin1');
    case 'float8':
      return bin
        ? (mac) => {
            const out = Buffer.allocUnsafe(8);
            out.writeDoubleBE(mac.readUIntBE(0, 6), 0);
            return out;
          }
        : (mac) => Buffer.from(String(mac.readUIntBE(0, 6)), 'latin1');
    case 'uuid':
      return (mac) => {
        const u = mac.subarray(0, 16);
        u[6] = (u[6] & 0x0f) | 0x40;
        u[8] = (u[8] & 0x3f) | 0x80;
        return bin ? u : Buffer.from(formatUuid(u), 'latin1');
      };
    case 'bytea': {
      const bytes = Math.ceil(hexLen / 2);
      return bin ? (mac) => mac.subarray(0, bytes) : (mac) => Buffer.from(`\\x${mac.toString('hex', 0, bytes)}`, 'latin1');
    }
    default:
      return undefined;
  }
}

function formatUuid(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** bytea text output (hex "\x…" or the old escape format) to bytes. */
function decodeByteaText(raw: Buffer): Buffer | undefined {
  if (raw.length >= 2 && raw[0] === 0x5c && raw[1] === 0x78) {
    const hex = raw.toString('latin1', 2);
    if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) return undefined;
    return Buffer.from(hex, 'hex');
  }
  const out: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c !== 0x5c) {
      out.push(c);
    } else if (raw[i + 1] === 0x5c) {
      out.push(0x5c);
      i++;
    } else {
      const oct = raw.toString('latin1', i + 1, i + 4);
      if (!/^[0-3][0-7]{2}$/.test(oct)) return undefined;
      out.push(parseInt(oct, 8));
      i += 3;
    }
  }
  return Buffer.from(out);
}

// ---------------------------------------------------------------- year

const ISO_DATETIME = /^(\d{4,})-\d\d-\d\d(?:[ T]\d\d:\d\d(?::\d\d(?:\.\d+)?)?([+-]\d\d(?::\d\d(?::\d\d)?)?)?)?( BC)?$/;

function yearFn(t: TypeInfo): MaskFn {
  const { family } = t;
  if (family !== 'date' && family !== 'timestamp' && family !== 'timestamptz') return NULL_FN;
  if (t.format === 1) {
    if (family === 'date') {
      return (raw) => {
        if (raw.length !== 4) return null;
        const days = raw.readInt32BE(0);
        if (days === DATE_POS_INFINITY || days === DATE_NEG_INFINITY) return raw;
        const out = Buffer.allocUnsafe(4);
        out.writeInt32BE(startOfYearDays(days), 0);
        return out;
      };
    }
    return (raw) => {
      if (raw.length !== 8) return null;
      const us = raw.readBigInt64BE(0);
      if (us === TS_POS_INFINITY || us === TS_NEG_INFINITY) return raw;
      const out = Buffer.allocUnsafe(8);
      out.writeBigInt64BE(startOfYearUsecs(us), 0);
      return out;
    };
  }
  return (raw) => {
    const text = raw.toString('latin1');
    if (text === 'infinity' || text === '-infinity') return raw;
    const m = ISO_DATETIME.exec(text);
    if (!m) return null;
    const bc = m[3] ?? '';
    if (family === 'date') return Buffer.from(`${m[1]}-01-01${bc}`, 'latin1');
    if (family === 'timestamp') return Buffer.from(`${m[1]}-01-01 00:00:00${bc}`, 'latin1');
    return Buffer.from(`${m[1]}-01-01 00:00:00${m[2] ?? '+00'}${bc}`, 'latin1');
  };
}

// ---------------------------------------------------------------- round

const INT_RANGE: Record<'int2' | 'int4' | 'int8', [bigint, bigint]> = {
  int2: [-32768n, 32767n],
  int4: [-2147483648n, 2147483647n],
  int8: [-9223372036854775808n, 9223372036854775807n],
};
const FLOAT4_MAX = 3.4028234663852886e38;

function roundFn(spec: RoundMask, t: TypeInfo): MaskFn {
  const step = parseDecimal(String(spec.step));
  if (step === undefined || step.units <= 0n) return NULL_FN;
  const bin = t.format === 1;
  switch (t.family) {
    case 'int2':
    case 'int4':
    case 'int8': {
      if (step.scale > 0 && step.units % 10n ** BigInt(step.scale) !== 0n) return NULL_FN; // fractional step
      const [lo, hi] = INT_RANGE[t.family];
      const size = t.family === 'int2' ? 2 : t.family === 'int4' ? 4 : 8;
      return (raw) => {
        let v: bigint;
        if (bin) {
          if (raw.length !== size) return null;
          v = size === 2 ? BigInt(raw.readInt16BE(0)) : size === 4 ? BigInt(raw.readInt32BE(0)) : raw.readBigInt64BE(0);
        } else {
          const s = raw.toString('latin1');
          if (!/^-?\d+$/.test(s)) return null;
          v = BigInt(s);
        }
        const r = roundDecimal({ units: v, scale: 0 }, step);
        const n = r.units / 10n ** BigInt(r.scale);
        if (n < lo || n > hi) return null;
        if (!bin) return Buffer.from(n.toString(), 'latin1');
        const out = Buffer.allocUnsafe(size);
        if (size === 2) out.writeInt16BE(Number(n), 0);
        else if (size === 4) out.writeInt32BE(Number(n), 0);
        else out.writeBigInt64BE(n, 0);
        return out;
      };
    }
    case 'numeric':
      return (raw) => {
        const text = bin ? numericBinaryToText(raw) : raw.toString('latin1');
        if (text === undefined) return null;
        if (text === 'NaN' || text === 'Infinity' || text === '-Infinity') return raw;
        const d = parseDecimal(text);
        if (d === undefined) return null;
        const rounded = formatDecimal(roundDecimal(d, step));
        return bin ? (numericTextToBinary(rounded) ?? null) : Buffer.from(rounded, 'latin1');
      };
    case 'float4':
    case 'float8': {
      const f4 = t.family === 'float4';
      const stepNum = spec.step;
      const decimals = Math.min(step.scale, 100);
      return (raw) => {
        let v: number;
        if (bin) {
          if (raw.length !== (f4 ? 4 : 8)) return null;
          v = f4 ? raw.readFloatBE(0) : raw.readDoubleBE(0);
        } else {
          const s = raw.toString('latin1');
          v = Number(s);
          if (Number.isNaN(v) && s !== 'NaN') return null;
        }
        if (!Number.isFinite(v)) return raw;
        let r = Math.sign(v) * Math.round(Math.abs(v) / stepNum) * stepNum;
        if (decimals > 0 && Math.abs(r) < 1e21) r = Number(r.toFixed(decimals));
        if (!Number.isFinite(r) || (f4 && Math.abs(r) > FLOAT4_MAX)) return null;
        if (!bin) return Buffer.from(String(r), 'latin1');
        const out = Buffer.allocUnsafe(f4 ? 4 : 8);
        if (f4) out.writeFloatBE(r, 0);
        else out.writeDoubleBE(r, 0);
        return out;
      };
    }
    default:
      return NULL_FN;
  }
}

// ---------------------------------------------------------------- fixed

function fixedValue(spec: FixedMask, t: TypeInfo): Buffer | null {
  const v = spec.value;
  const bin = t.format === 1;
  const text = (s: string): Buffer => Buffer.from(s, 'utf8');
  switch (t.family) {
    case 'text': {
      const s = String(v);
      if (t.limit !== undefined && codePointLength(s) > t.limit) return null;
      return text(fitText(s, t));
    }
    case 'json':
      return text(JSON.stringify(v));
    case 'jsonb':
      return jsonbOut(t.format, JSON.stringify(v));
    case 'int2':
    case 'int4':
    case 'int8': {
      let n: bigint | undefined;
      if (typeof v === 'number' && Number.isSafeInteger(v)) n = BigInt(v);
      else if (typeof v === 'string' && /^[+-]?\d+$/.test(v.trim())) n = BigInt(v.trim());
      const [lo, hi] = INT_RANGE[t.family];
      if (n === undefined || n < lo || n > hi) return null;
      if (!bin) return text(n.toString());
      const size = t.family === 'int2' ? 2 : t.family === 'int4' ? 4 : 8;
      const out = Buffer.alloc(size);
      if (size === 2) out.writeInt16BE(Number(n), 0);
      else if (size === 4) out.writeInt32BE(Number(n), 0);
      else out.writeBigInt64BE(n, 0);
      return out;
    }
    case 'numeric': {
      if (typeof v === 'boolean') return null;
      const s = String(v).trim();
      let canon: string;
      if (s === 'NaN' || s === 'Infinity' || s === '-Infinity') {
        canon = s;
      } else {
        const d = parseDecimal(s);
        if (d === undefined) return null;
        canon = formatDecimal(d);
        const p = numericPrecision(t.typeModifier);
        if (p !== undefined) {
          const intDigits = canon.replace(/^-/, '').split('.')[0].replace(/^0+/, '').length;
          if (intDigits > p.precision - p.scale) return null;
        }
      }
      return bin ? (numericTextToBinary(canon) ?? null) : text(canon);
    }
    case 'float4':
    case 'float8': {
      if (typeof v === 'boolean') return null;
      const s = String(v).trim();
      const n = Number(s);
      if (s === '' || (Number.isNaN(n) && s !== 'NaN')) return null;
      if (t.family === 'float4' && Number.isFinite(n) && Math.abs(n) > FLOAT4_MAX) return null;
      if (!bin) return text(Number.isNaN(n) ? 'NaN' : String(n));
      const out = Buffer.alloc(t.family === 'float4' ? 4 : 8);
      if (t.family === 'float4') out.writeFloatBE(n, 0);
      else out.writeDoubleBE(n, 0);
      return out;
    }
    case 'bool': {
      const s = String(v).trim().toLowerCase();
      const b = ['t', 'true', 'yes', 'on', '1'].includes(s) ? true : ['f', 'false', 'no', 'off', '0'].includes(s) ? false : undefined;
      if (b === undefined) return null;
      return bin ? Buffer.from([b ? 1 : 0]) : text(b ? 't' : 'f');
    }
    case 'date':
    case 'timestamp':
    case 'timestamptz': {
      if (typeof v !== 'string') return null;
      const us = parseFixedTimestamp(v.trim(), t.family);
      if (us === undefined) return null;
      const days = us / USECS_PER_DAY;
      if (t.family === 'date') {
        if (!bin) return text(formatDate(Number(days)));
        const out = Buffer.alloc(4);
        out.writeInt32BE(Number(days), 0);
        return out;
      }
      if (!bin) return text(formatTimestamp(us) + (t.family === 'timestamptz' ? '+00' : ''));
      const out = Buffer.alloc(8);
      out.writeBigInt64BE(us, 0);
      return out;
    }
    case 'uuid': {
      if (typeof v !== 'string') return null;
      const s = v.trim().toLowerCase();
      if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(s)) return null;
      return bin ? Buffer.from(s.replace(/-/g, ''), 'hex') : text(s);
    }
    case 'bytea': {
      let bytes: Buffer;
      const s = String(v);
      if (s.startsWith('\\x')) {
        const hex = s.slice(2);
        if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) return null;
        bytes = Buffer.from(hex, 'hex');
      } else {
        bytes = Buffer.from(s, 'utf8');
      }
      return bin ? bytes : text(`\\x${bytes.toString('hex')}`);
    }
    default:
      return null;
  }
}

/**
 * "YYYY-MM-DD", "YYYY-MM-DD HH:MM[:SS[.ffffff]]" (T allowed), with an offset
 * ("Z", "+02", "-05:30") for timestamptz only → µs since 2000-01-01 (UTC for
 * timestamptz). Years 1..9999; a date keeps only whole days.
 */
function parseFixedTimestamp(s: string, family: 'date' | 'timestamp' | 'timestamptz'): bigint | undefined {
  const m = /^(\d{4})-(\d\d)-(\d\d)(?:[ T](\d\d):(\d\d)(?::(\d\d)(?:\.(\d{1,6}))?)?)?(Z|[+-]\d\d(?::?\d\d)?)?$/.exec(s);
  if (!m) return undefined;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (family === 'date' && (m[4] !== undefined || m[8] !== undefined)) return undefined;
  if (family === 'timestamp' && m[8] !== undefined) return undefined;
  const [h, mi, sec] = [Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0)];
  if (h > 23 || mi > 59 || sec > 59) return undefined;
  const micros = Number((m[7] ?? '').padEnd(6, '0'));
  let offsetSec = 0;
  if (m[8] !== undefined && m[8] !== 'Z') {
    const om = /^([+-])(\d\d):?(\d\d)?$/.exec(m[8]);
    if (!om) return undefined;
    offsetSec = (om[1] === '-' ? -1 : 1) * (Number(om[2]) * 3600 + Number(om[3] ?? 0) * 60);
  }
  const days = BigInt(pgDaysFromCivil(year, month, day));
  return days * USECS_PER_DAY + BigInt((h * 3600 + mi * 60 + sec - offsetSec) * 1_000_000 + micros);
}

function formatDate(pgDays: number): string {
  const { year, month, day } = pgCivilFromDays(pgDays);
  return `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}

function formatTimestamp(us: bigint): string {
  let days = us / USECS_PER_DAY;
  if (us < 0n && days * USECS_PER_DAY !== us) days -= 1n;
  let rest = Number(us - days * USECS_PER_DAY);
  const micros = rest % 1_000_000;
  rest = (rest - micros) / 1_000_000;
  const hh = Math.floor(rest / 3600);
  const mm = Math.floor((rest % 3600) / 60);
  const ss = rest % 60;
  const p2 = (n: number): string => String(n).padStart(2, '0');
  const frac = micros === 0 ? '' : `.${String(micros).padStart(6, '0').replace(/0+$/, '')}`;
  return `${formatDate(Number(days))} ${p2(hh)}:${p2(mm)}:${p2(ss)}${frac}`;
}
