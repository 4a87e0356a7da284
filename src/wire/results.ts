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

const rowStarts = new Int32Array(1664);
const rowLengths = new Int32Array(1664);
const rowReplaced: (Buffer | null | undefined)[] = [];

/** A per-column rewrite: null leaves the field untouched. Returning null from the function sends SQL NULL. */
export type FieldRewrite = ((raw: Buffer) => Buffer | null) | null;

/**
 * Rebuilds a 'D' message with the given columns rewritten. Untouched fields are
 * copied as contiguous spans; raw values of rewritten fields are never copied.
 */
export function rewriteDataRow(message: Buffer, rewrites: readonly FieldRewrite[]): Buffer {
  const count = message.readUInt16BE(5);
  // Pass 1: locate fields and compute replacements (scratch arrays: one row at a time).
  const starts = rowStarts;
  const lengths = rowLengths;
  const replaced = rowReplaced;
  replaced.length = count;
  let o = 7;
  let size = 7;
  for (let i = 0; i < count; i++) {
    const len = message.readInt32BE(o);
    starts[i] = o;
    lengths[i] = len;
    const body = len < 0 ? 0 : len;
    const fn = rewrites[i];
    if (fn) {
      const out = len < 0 ? null : fn(message.subarray(o + 4, o + 4 + len));
      replaced[i] = out;
      size += 4 + (out === null ? 0 : out.length);
    } else {
      replaced[i] = undefined;
      size += 4 + body;
    }
    o += 4 + body;
  }
  // Pass 2: assemble.
  const out = Buffer.allocUnsafe(size);
  message.copy(out, 0, 0, 7);
  out.writeUInt32BE(size - 1, 1);
  let w = 7;
  let spanStart = -1;
  let spanEnd = -1;
  const flush = () => {
    if (spanStart >= 0) {
      w += message.copy(out, w, spanStart, spanEnd);
      spanStart = -1;
    }
  };
  for (let i = 0; i < count; i++) {
    const r = replaced[i];
    const fieldEnd = starts[i] + 4 + (lengths[i] < 0 ? 0 : lengths[i]);
    if (r === undefined) {
      if (spanStart < 0) spanStart = starts[i];
      spanEnd = fieldEnd;
      continue;
    }
    flush();
    if (r === null) {
      out.writeInt32BE(-1, w);
      w += 4;
    } else {
      out.writeInt32BE(r.length, w);
      w += 4;
      w += r.copy(out, w);
    }
  }
  flush();
  return out;
}

export interface CopyTextFormat {
  format: 'text' | 'csv';
  delimiter: string;
  null: string;
  quote: string;
  escape: string;
}

/** Per-column rewrite of a COPY text/csv field value; returns null for SQL NULL. */
export type CopyFieldRewrite = ((value: string) => string | null) | null;

/**
 * Rewrites one CopyData row (PostgreSQL sends one row per message in COPY TO).
 * Returns the new 'd' message.
 */
/** Per-column rewrite of a COPY text field's bytes (unescaped); null result = SQL NULL. */
export type CopyByteRewrite = ((raw: Buffer) => Buffer | null) | null;

const NULL_MARKER = Buffer.from('\\N');

/**
 * Fast path for the default text format (one-byte delimiter, NULL as \N):
 * finds field boundaries on the bytes, copies untouched fields as they are and
 * decodes only the fields it masks.
 */
export function rewriteCopyTextRow(message: Buffer, delimiter: number, masks: readonly CopyByteRewrite[], fallback: CopyByteRewrite): Buffer {
  const end = message[message.length - 1] === 0x0a ? message.length - 1 : message.length;
  // Pass 1: field boundaries, and the replacement of each masked field.
  const bounds = fieldBounds;
  let n = 0;
  let start = 5;
  for (let i = 5; i <= end; i++) {
    const c = i < end ? message[i] : -1;
    if (c === 0x5c) {
      i++; // escaped byte: part of the field
      continue;
    }
    if (c === -1 || c === delimiter) {
      if (n + 2 > bounds.length) throw new Error('COPY row has more fields than a table can have');
      bounds[n++] = start;
      bounds[n++] = i;
      start = i + 1;
    }
  }
  const fields = n >> 1;
  const lined = fields === masks.length;
  const replaced: (Buffer | undefined)[] = [];
  let size = 5 + (fields > 0 ? fields - 1 : 0) + (end < message.length ? 1 : 0);
  for (let k = 0; k < fields; k++) {
    const s0 = bounds[2 * k];
    const e0 = bounds[2 * k + 1];
    const fn = lined ? masks[k] : fallback;
    if (!fn || (e0 - s0 === 2 && message[s0] === 0x5c && message[s0 + 1] === 0x4e /* \N: NULL stays NULL */)) {
      replaced.push(undefined);
      size += e0 - s0;
      continue;
    }
    const raw = message.subarray(s0, e0);
    const value = raw.includes(0x5c) ? Buffer.from(textUnescape(raw.toString('utf8')), 'utf8') : raw;
    const out = fn(value);
    const field = out === null ? NULL_MARKER : needsTextEscape(out, delimiter) ? Buffer.from(textEscape(out.toString('utf8'), String.fromCharCode(delimiter)), 'utf8') : out;
    replaced.push(field);
    size += field.length;
  }
  // Pass 2: assemble.
  const msg = Buffer.allocUnsafe(size);
  msg[0] = 0x64; // 'd'
  msg.writeUInt32BE(size - 1, 1);
  let w = 5;
  for (let k = 0; k < fields; k++) {
    if (k > 0) msg[w++] = delimiter;
    const r = replaced[k];
    if (r === undefined) w += message.copy(msg, w, bounds[2 * k], bounds[2 * k + 1]);
    else w += r.copy(msg, w);
  }
  if (end < message.length) msg[w++] = 0x0a;
  return msg;
}

/** Scratch space for field boundaries (rows are rewritten one at a time; a table has at most 1664 columns). */
const fieldBounds = new Int32Array(4096);

function needsTextEscape(b: Buffer, delimiter: number): boolean {
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    if (c === 0x5c || c === delimiter || c === 0x0a || c === 0x0d) return true;
  }
  return false;
}

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
    const value = f.isNull ? null : fn(f.value);
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
