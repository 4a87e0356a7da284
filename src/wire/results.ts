import type { MaskFn, MaskInto } from '../masking/compile.js';
import { copySpan, sameBytes } from '../util/bytes.js';
import type { OutputArena } from './arena.js';

export { copySpan };

/**
 * Reading RowDescription and rewriting DataRow / COPY rows: the only places
 * where pgveil decodes result bytes, and only for rows that carry a masked column.
 */

export interface FieldDescription {
  name: string;
  tableOid: number;
  attnum: number;
  typeOid: number;
  typeModifier: number;
  format: 0 | 1;
}

/** Parses a whole 'T' message (header included). */
export function decodeRowDescription(message: Buffer): FieldDescription[] {
  const count = message.readUInt16BE(5);
  const fields: FieldDescription[] = [];
  let o = 7;
  for (let i = 0; i < count; i++) {
    const end = message.indexOf(0, o);
    if (end < 0) throw new Error('RowDescription field name is not terminated');
    const name = message.toString('utf8', o, end);
    o = end + 1;
    fields.push({
      name,
      tableOid: message.readUInt32BE(o),
      attnum: message.readInt16BE(o + 4),
      typeOid: message.readUInt32BE(o + 6),
      typeModifier: message.readInt32BE(o + 12),
      format: message.readInt16BE(o + 16) === 1 ? 1 : 0,
    });
    o += 18;
  }
  return fields;
}

/**
 * decodeRowDescription that remembers the last message: a session running the
 * same statement again and again gets the same description object back, so
 * what is keyed by it (the masking plan) is found by identity.
 */
export class RowDescriptionMemo {
  private bytes: Buffer | undefined;
  private fields: FieldDescription[] = [];

  decode(message: Buffer): FieldDescription[] {
    if (this.bytes && sameBytes(this.bytes, message)) return this.fields;
    const fields = decodeRowDescription(message);
    this.bytes = Buffer.from(message);
    this.fields = fields;
    return fields;
  }
}

/** PostgreSQL's limit on the columns of a result row (and of a table). */
export const MAX_COLUMNS = 1664;

const rowStarts = new Int32Array(MAX_COLUMNS);
const rowLengths = new Int32Array(MAX_COLUMNS);
/** Per field of the row being rewritten: KEEP, INTO (the mask writes itself) or OUT (rowReplaced holds the result). */
const rowModes = new Uint8Array(MAX_COLUMNS);
const rowReplaced: (Buffer | null | undefined)[] = [];
const KEEP = 0;
const INTO = 1;
const OUT = 2;


/** A per-column rewrite: null leaves the field untouched. Returning null from the function sends SQL NULL. */
export type FieldRewrite = MaskFn | null;


/**
 * Appends src[start, end) to `out` unchanged: messages met among rewritten rows
 * must be copied too, because `src` may be the arena's staging area, which the
 * next run overwrites while what was queued may still be waiting to be written.
 */
export function appendMessage(src: Buffer, start: number, end: number, out: OutputArena): void {
  const dst = out.reserve(end - start);
  out.pos += copySpan(src, start, end, dst, out.pos, out.offsetIn(src, dst));
}

function writeInt32(dst: Buffer, at: number, v: number): void {
  dst[at] = v >>> 24;
  dst[at + 1] = v >>> 16;
  dst[at + 2] = v >>> 8;
  dst[at + 3] = v;
}

function readInt32(src: Buffer, at: number): number {
  return (src[at] << 24) | (src[at + 1] << 16) | (src[at + 2] << 8) | src[at + 3];
}

/**
 * Rebuilds the 'D' message at src[start…] in `out` with the given columns
 * rewritten. Untouched fields are copied as contiguous spans; raw values of
 * rewritten fields are never copied. Returns the offset after the message.
 */
export function rewriteDataRow(src: Buffer, start: number, rewrites: readonly FieldRewrite[], out: OutputArena): number {
  const end = start + 1 + (readInt32(src, start + 1) >>> 0);
  if (start + 7 > end || end > src.length) throw new RangeError('DataRow is truncated');
  const count = (src[start + 5] << 8) | src[start + 6];
  if (count > rowStarts.length) throw new RangeError(`DataRow has ${count} fields, more than a table can have`);
  // Pass 1: locate fields; bound the size (masks with a fast form) or mask now (the others).
  const starts = rowStarts;
  const lengths = rowLengths;
  const modes = rowModes;
  const replaced = rowReplaced;
  let o = start + 7;
  let bound = 7;
  for (let i = 0; i < count; i++) {
    if (o + 4 > end) throw new RangeError('DataRow has fewer fields than it announces');
    const len = readInt32(src, o);
    const body = len < 0 ? 0 : len;
    if (o + 4 + body > end) throw new RangeError('DataRow field runs past the end of the message');
    starts[i] = o;
    lengths[i] = body;
    const fn = rewrites[i];
    if (fn && len >= 0) {
      const into = fn.into;
      if (into) {
        modes[i] = INTO;
        bound += 4 + into.maxOut(len);
      } else {
        const masked = fn(src.subarray(o + 4, o + 4 + len));
        modes[i] = OUT;
        replaced[i] = masked;
        bound += 4 + (masked === null ? 0 : masked.length);
      }
    } else if (fn && fn.nulls) {
      // A derived value's NULL looks like any other of its values.
      const masked = fn(EMPTY);
      modes[i] = OUT;
      replaced[i] = masked;
      bound += 4 + (masked === null ? 0 : masked.length);
    } else {
      // A column's own NULL stays NULL.
      modes[i] = KEEP;
      bound += 4 + body;
    }
    o += 4 + body;
  }
  // Pass 2: assemble in the arena.
  const dst = out.reserve(bound);
  const shift = out.offsetIn(src, dst);
  const head = out.pos;
  let w = head + 7;
  let spanStart = -1;
  let spanEnd = -1;
  for (let i = 0; i < count; i++) {
    const mode = modes[i];
    if (mode === KEEP) {
      if (spanStart < 0) spanStart = starts[i];
      spanEnd = starts[i] + 4 + lengths[i];
      continue;
    }
    if (spanStart >= 0) {
      w += copySpan(src, spanStart, spanEnd, dst, w, shift);
      spanStart = -1;
    }
    let n: number;
    if (mode === INTO) {
      const from = starts[i] + 4;
      const into = (rewrites[i] as NonNullable<FieldRewrite>).into as MaskInto;
      n = into.write(src, from, from + lengths[i], dst, w + 4);
      // Past its bound a mask would have written over rows not yet rewritten: end the session.
      if (n > into.maxOut(lengths[i])) throw new RangeError('a mask wrote more than its bound');
    } else {
      const r = replaced[i] as Buffer | null;
      replaced[i] = undefined;
      n = r === null ? -1 : copySpan(r, 0, r.length, dst, w + 4);
    }
    writeInt32(dst, w, n);
    w += 4 + (n < 0 ? 0 : n);
  }
  if (spanStart >= 0) w += copySpan(src, spanStart, spanEnd, dst, w, shift);
  dst[head] = src[start];
  writeInt32(dst, head + 1, w - head - 1);
  dst[head + 5] = src[start + 5];
  dst[head + 6] = src[start + 6];
  out.pos = w;
  return end;
}

export interface CopyTextFormat {
  format: 'text' | 'csv';
  delimiter: string;
  null: string;
  quote: string;
  escape: string;
}

/** Per-column rewrite of a COPY text/csv field value; returns null for SQL NULL. */
/** `nulls`: NULL fields get the mask too (see maskingNulls). */
export type CopyFieldRewrite = (((value: string) => string | null) & { readonly nulls?: boolean }) | null;

/** Per-column rewrite of a COPY text field's bytes (unescaped); null result = SQL NULL. */
export type CopyByteRewrite = FieldRewrite;

const NULL_MARKER = Buffer.from('\\N');
const EMPTY = Buffer.alloc(0);

/**
 * Rewrites CopyData rows (PostgreSQL sends one row per message in COPY TO) of
 * the default text format: a one-byte delimiter, NULL as \N. Works on the
 * bytes: finds the boundaries of the fields up to the last masked one with
 * indexOf (memchr), copies untouched fields and the rest of the row as they
 * are, and decodes only masked fields that contain escapes.
 */
export class CopyTextRewriter {
  /** Index of the last column with a mask: the rest of a row goes as one span. */
  private readonly lastMasked: number;
  /** Position of the next backslash at or after `searchedFrom` in `scanned` (Infinity: none). */
  private scanned: Buffer | undefined;
  private nextBackslash = -1;
  private searchedFrom = 0;

  constructor(
    private readonly delimiter: number,
    /** One entry per column of the COPY (CopyOutResponse's column count). */
    private readonly masks: readonly CopyByteRewrite[],
  ) {
    let last = -1;
    masks.forEach((m, i) => {
      if (m) last = i;
    });
    this.lastMasked = last;
  }

  /** Rewrites the CopyData message at src[start…] into `out`; returns the offset after it. */
  row(src: Buffer, start: number, out: OutputArena): number {
    const msgEnd = start + 1 + (readInt32(src, start + 1) >>> 0);
    if (start + 5 > msgEnd || msgEnd > src.length) throw new RangeError('CopyData is truncated');
    const end = src[msgEnd - 1] === 0x0a ? msgEnd - 1 : msgEnd;
    const delimiter = this.delimiter;
    const masks = this.masks;
    if (src !== this.scanned) {
      this.scanned = src;
      this.nextBackslash = -1;
    }
    // Pass 1: boundaries of the fields up to the last masked one; bound the size.
    const bounds = fieldBounds;
    const modes = rowModes;
    const replaced = rowReplaced;
    let fields = 0;
    let fieldStart = start + 5;
    let bound = msgEnd - start;
    while (fields <= this.lastMasked) {
      const fieldEnd = this.fieldEnd(src, fieldStart, end, delimiter);
      const k = fields++;
      bounds[2 * k] = fieldStart;
      bounds[2 * k + 1] = fieldEnd;
      const fn = masks[k];
      const isNull = fieldEnd - fieldStart === 2 && src[fieldStart] === 0x5c && src[fieldStart + 1] === 0x4e; /* \N */
      if (!fn || (isNull && !fn.nulls)) {
        // A column's own NULL stays NULL.
        modes[k] = KEEP;
      } else if (isNull) {
        // A derived value's NULL looks like any other of its values.
        const masked = fn(EMPTY);
        const field = masked === null ? NULL_MARKER : escapeCopyText(masked, 0, masked.length, delimiter) ?? masked;
        modes[k] = OUT;
        replaced[k] = field;
        bound += field.length;
      } else if (fn.into && this.backslashFrom(src, fieldStart) >= fieldEnd) {
        modes[k] = INTO;
        // Room to escape what the mask wrote, should it need that (at most doubles it).
        bound += 2 * fn.into.maxOut(fieldEnd - fieldStart) + 2;
      } else {
        const raw = src.subarray(fieldStart, fieldEnd);
        const value = this.backslashFrom(src, fieldStart) < fieldEnd ? Buffer.from(textUnescape(raw.toString('utf8')), 'utf8') : raw;
        const masked = fn(value);
        const field = masked === null ? NULL_MARKER : escapeCopyText(masked, 0, masked.length, delimiter) ?? masked;
        modes[k] = OUT;
        replaced[k] = field;
        bound += field.length;
      }
      if (fieldEnd >= end) break;
      fieldStart = fieldEnd + 1;
    }
    // Pass 2: assemble in the arena.
    const dst = out.reserve(bound);
    const shift = out.offsetIn(src, dst);
    const head = out.pos;
    let w = head + 5;
    for (let k = 0; k < fields; k++) {
      if (k > 0) dst[w++] = delimiter;
      const from = bounds[2 * k];
      const to = bounds[2 * k + 1];
      const mode = modes[k];
      if (mode === KEEP) {
        w += copySpan(src, from, to, dst, w, shift);
      } else if (mode === INTO) {
        const into = (masks[k] as NonNullable<CopyByteRewrite>).into as MaskInto;
        const written = into.write(src, from, to, dst, w);
        if (written > into.maxOut(to - from)) throw new RangeError('a mask wrote more than its bound');
        if (written < 0) {
          dst[w] = 0x5c;
          dst[w + 1] = 0x4e;
          w += 2;
        } else {
          const esc = escapeCopyText(dst, w, w + written, delimiter);
          w += esc ? esc.copy(dst, w) : written;
        }
      } else {
        const r = replaced[k] as Buffer;
        replaced[k] = undefined;
        w += copySpan(r, 0, r.length, dst, w);
      }
    }
    // The fields after the last masked one (from its delimiter on) and the newline.
    const rest = fields > 0 ? bounds[2 * fields - 1] : start + 5;
    // Every row has exactly the announced columns. A row read otherwise (bytes
    // of another encoding taken for a delimiter or an escape) would put values
    // under the wrong masks: stop rather than guess.
    if (this.lastMasked >= 0) {
      let total = fields;
      for (let at = rest; at < end; total++) at = this.fieldEnd(src, at + 1, end, delimiter);
      if (total !== masks.length) throw new RangeError(`COPY row has ${total} fields where ${masks.length} were announced`);
    }
    w += copySpan(src, rest, msgEnd, dst, w, shift);
    dst[head] = 0x64; // 'd'
    writeInt32(dst, head + 1, w - head - 1);
    out.pos = w;
    return msgEnd;
  }

  /** End of the field starting at `from`: the next delimiter not escaped by a backslash, or `end`. */
  private fieldEnd(src: Buffer, from: number, end: number, delimiter: number): number {
    let q = from;
    for (;;) {
      q = src.indexOf(delimiter, q);
      if (q < 0 || q >= end) return end;
      if (this.backslashFrom(src, from) > q) return q;
      // An odd run of backslashes before it escapes it (\| is a backslash, then a delimiter).
      let b = q - 1;
      while (b >= from && src[b] === 0x5c) b--;
      if (((q - 1 - b) & 1) === 0) return q;
      q++;
    }
  }

  /** Position of the first backslash at or after `from` (Infinity: none); one memchr per backslash in the chunk. */
  private backslashFrom(src: Buffer, from: number): number {
    // The answer holds for every position from where it was searched up to the backslash found.
    if (this.nextBackslash < from || from < this.searchedFrom) {
      const at = src.indexOf(0x5c, from);
      this.searchedFrom = from;
      this.nextBackslash = at < 0 ? Infinity : at;
    }
    return this.nextBackslash;
  }
}

/** Escaped form of b[from, to) for COPY text, or undefined when it needs none. */
function escapeCopyText(b: Buffer, from: number, to: number, delimiter: number): Buffer | undefined {
  for (let i = from; i < to; i++) {
    const c = b[i];
    if (c === 0x5c || c === delimiter || c === 0x0a || c === 0x0d) {
      return Buffer.from(textEscape(b.toString('utf8', from, to), String.fromCharCode(delimiter)), 'utf8');
    }
  }
  return undefined;
}

/** Scratch space for field boundaries (rows are rewritten one at a time; a table has at most 1664 columns). */
const fieldBounds = new Int32Array(4096);

/** Rewrites one CopyData row of any text or csv format, through strings; returns the new 'd' message. */
export function rewriteCopyRow(message: Buffer, fmt: CopyTextFormat, rewrites: readonly CopyFieldRewrite[], fallback: CopyFieldRewrite = null): Buffer {
  const text = message.toString('utf8', 5);
  const newline = text.endsWith('\r\n') ? '\r\n' : text.endsWith('\n') ? '\n' : '';
  const line = text.slice(0, text.length - newline.length);
  const fields = fmt.format === 'csv' ? splitCsv(line, fmt) : splitText(line, fmt);
  const out: string[] = [];
  const lined = fields.length === rewrites.length;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i];
    const fn = lined ? rewrites[i] : fallback;
    if (!fn) {
      out.push(f.raw);
      continue;
    }
    const value = f.isNull && !fn.nulls ? null : fn(f.isNull ? '' : f.value);
    out.push(value === null ? fmt.null : fmt.format === 'csv' ? csvQuote(value, fmt) : textEscape(value, fmt.delimiter));
  }
  const body = Buffer.from(out.join(fmt.delimiter) + newline, 'utf8');
  const msg = Buffer.allocUnsafe(5 + body.length);
  msg[0] = 0x64; // 'd'
  msg.writeUInt32BE(4 + body.length, 1);
  body.copy(msg, 5);
  return msg;
}

interface CopyField {
  raw: string;
  value: string;
  isNull: boolean;
}

/** Splits a text-format row at delimiters that are not backslash-escaped. */
function splitText(line: string, fmt: CopyTextFormat): CopyField[] {
  const fields: CopyField[] = [];
  let start = 0;
  for (let i = 0; i <= line.length; i++) {
    if (i < line.length && line[i] === '\\') {
      i++; // the escaped character, whatever it is, belongs to the field
      continue;
    }
    if (i === line.length || line[i] === fmt.delimiter) {
      const raw = line.slice(start, i);
      fields.push(raw === fmt.null ? { raw, value: '', isNull: true } : { raw, value: textUnescape(raw), isNull: false });
      start = i + 1;
    }
  }
  return fields;
}

const TEXT_ESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\' };

function textUnescape(raw: string): string {
  if (!raw.includes('\\')) return raw;
  return raw.replace(/\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)/g, (_m, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    if (/^[0-7]/.test(e)) return String.fromCharCode(parseInt(e, 8));
    return TEXT_ESCAPES[e] ?? e;
  });
}

function textEscape(value: string, delimiter: string): string {
  let out = '';
  for (const ch of value) {
    if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch === delimiter) out += `\\${ch}`;
    else out += ch;
  }
  return out;
}

function splitCsv(line: string, fmt: CopyTextFormat): CopyField[] {
  const fields: CopyField[] = [];
  let i = 0;
  for (;;) {
    const start = i;
    let value = '';
    let quoted = false;
    while (i < line.length && line[i] !== fmt.delimiter) {
      if (line[i] === fmt.quote) {
        quoted = true;
        i++;
        while (i < line.length) {
          // Inside quotes: ESCAPE before QUOTE or before ESCAPE is a literal
          // (PostgreSQL escapes both), QUOTE alone ends the quoted part.
          if (line[i] === fmt.escape && (line[i + 1] === fmt.quote || (fmt.escape !== fmt.quote && line[i + 1] === fmt.escape))) {
            value += line[i + 1];
            i += 2;
          } else if (line[i] === fmt.quote) {
            i++;
            break;
          } else {
            value += line[i++];
          }
        }
      } else {
        value += line[i++];
      }
    }
    const raw = line.slice(start, i);
    fields.push({ raw, value, isNull: !quoted && raw === fmt.null });
    if (i >= line.length) break;
    i++; // delimiter
  }
  return fields;
}

function csvQuote(value: string, fmt: CopyTextFormat): string {
  const escaped = value.split(fmt.quote).join(fmt.escape + fmt.quote);
  return fmt.quote + escaped + fmt.quote;
}
