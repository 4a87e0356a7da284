/**
 * The hot path that masks result rows, checked against simple reference
 * implementations on seeded random inputs (pure unit tests, no database):
 *
 *  a. every mask with a fast form: `into.write` ≡ the Buffer form, within maxOut,
 *     nothing written outside [at, at + maxOut), also when src and dst share memory;
 *  b. rewriteDataRow ≡ decode / mask / re-encode, rows back to back, staged and
 *     not, arenas small enough to roll over mid-run; malformed rows throw;
 *  c. CopyTextRewriter ≡ rewriteCopyRow (the string path) and an independent
 *     COPY text decoder + per-column model;
 *  d. the comparisons can fail (a corrupting arena, a lying maxOut are caught).
 *
 * Every random case derives from a fixed seed: a failure message names the case.
 */
import { describe, expect, it } from 'vitest';
import { OutputArena } from '../src/wire/arena.js';
import {
  CopyTextRewriter,
  copySpan,
  rewriteCopyRow,
  rewriteDataRow,
  type CopyByteRewrite,
  type CopyFieldRewrite,
  type CopyTextFormat,
  type FieldRewrite,
} from '../src/wire/results.js';
import { compileMask, OID, type FieldFormat, type MaskSpec } from '../src/masking/index.js';
import { textLimit, typeFamily } from '../src/masking/types.js';
import { Rng } from './support/rng.js';
import { dataRowValues } from './support/raw.js';

// ---------------------------------------------------------------- PRNG & generators



const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
/** The separators partial() keeps, plus tab. */
const SEPS = [' ', '\t', '-', '.', '@', '/', '(', ')', '+', ':', ',', '_'];
/** 2-, 3- and 4-byte UTF-8, combining sequences, NBSP. */
const MULTI = ['é', 'ß', 'ü', 'Ω', '€', '日', '本', '•', '\u00a0', '😀', '𝄞', '👍🏽', 'e\u0301'];

/** Code-point count of a random value: mostly short, sometimes long. */
function randomLength(r: Rng): number {
  const k = r.int(100);
  if (k < 10) return 0;
  if (k < 30) return 1 + r.int(3);
  if (k < 85) return 4 + r.int(27);
  if (k < 97) return 31 + r.int(270);
  return 300 + r.int(2700);
}

function randomText(r: Rng, length = randomLength(r), extra: readonly string[] = []): string {
  let s = '';
  for (let i = 0; i < length; i++) {
    const k = r.int(100);
    if (extra.length > 0 && k >= 88) s += r.pick(extra);
    else if (k < 55) s += ALNUM[r.int(ALNUM.length)];
    else if (k < 72) s += r.pick(SEPS);
    else s += r.pick(MULTI);
  }
  return s;
}

function randomEmail(r: Rng): string {
  const local = randomText(r, r.int(12));
  const domain = randomText(r, r.int(12));
  switch (r.int(7)) {
    case 0:
      return `${local}${domain}`; // no '@'
    case 1:
      return `@${domain}`;
    case 2:
      return `${local}@`;
    case 3:
      return `${local}@${domain}@${randomText(r, r.int(5))}`;
    case 4:
      return `${local}@@${domain}`;
    default:
      return `${local}@${domain}`;
  }
}

/** A value for a column of type `oid` (typmod for varchar(n) / char(n)), as the server would send it (or junk for non-text types). */
function randomValue(r: Rng, oid: number, typmod: number): Buffer {
  if (typeFamily(oid) !== 'text') {
    return r.chance(0.5) ? r.bytes(r.int(20)) : Buffer.from(randomText(r, r.int(20)), 'utf8');
  }
  const k = r.int(11);
  if (k === 10) {
    // Not UTF-8: Latin-1 text (client_encoding LATIN1, SQL_ASCII databases) or any bytes.
    const b = r.chance(0.5) ? Buffer.from(randomText(r, r.int(30)).replace(/[^\x00-\xff]/g, 'é'), 'latin1') : r.bytes(r.int(30));
    const limit = textLimit(oid, typmod);
    return limit === undefined ? b : b.subarray(0, limit);
  }
  let s =
    k < 5 ? randomText(r)
    : k < 7 ? randomEmail(r)
    : k < 8 ? Array.from({ length: r.int(8) }, () => r.pick(SEPS)).join('')
    : k < 9 ? randomText(r, r.int(6)) + ' '.repeat(1 + r.int(4)) // trailing spaces
    : '';
  const limit = textLimit(oid, typmod);
  if (limit !== undefined) {
    const cps = Array.from(s);
    if (cps.length > limit) s = cps.slice(0, limit).join('');
    if (oid === OID.bpchar) s += ' '.repeat(limit - Array.from(s).length); // char(n) comes padded
  }
  return Buffer.from(s, 'utf8');
}

function fail(message: string): never {
  throw new Error(message);
}

/** Index of the first difference, for readable failures. */
function firstDiff(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

function expectSameBytes(got: Buffer, want: Buffer, where: string): void {
  if (got.equals(want)) return;
  const d = firstDiff(got, want);
  fail(
    `${where}: output differs from reference at byte ${d} (got ${got.length} bytes, want ${want.length})\n` +
      `  got : ${got.subarray(Math.max(0, d - 16), d + 16).toString('hex')}\n` +
      `  want: ${want.subarray(Math.max(0, d - 16), d + 16).toString('hex')}`,
  );
}

type Mask = NonNullable<FieldRewrite>;
const plain = (f: (raw: Buffer) => Buffer | null): Mask => f;

// ---------------------------------------------------------------- a. fast forms

const PARTIALS: MaskSpec[] = [
  { kind: 'partial', keepFirst: 0, keepLast: 0, keepSeparators: true, maskChar: '*' },
  { kind: 'partial', keepFirst: 0, keepLast: 4, keepSeparators: true, maskChar: '*' },
  { kind: 'partial', keepFirst: 2, keepLast: 2, keepSeparators: true, maskChar: '*' },
  { kind: 'partial', keepFirst: 1, keepLast: 0, keepSeparators: false, maskChar: '*' },
  { kind: 'partial', keepFirst: 3, keepLast: 3, keepSeparators: false, maskChar: '#' },
  { kind: 'partial', keepFirst: 10, keepLast: 10, keepSeparators: true, maskChar: 'x' },
  { kind: 'partial', keepFirst: 0, keepLast: 4, keepSeparators: true, maskChar: '•' },
  { kind: 'partial', keepFirst: 2, keepLast: 1, keepSeparators: false, maskChar: '•' },
  { kind: 'partial', keepFirst: 1, keepLast: 1, keepSeparators: true, maskChar: '😀' },
];
const FIXED_VALUES: (string | number | boolean)[] = ['X', '', 'a|b;c,d\te\\f\ng\rh', 42, -7, 'héllo•😀', true, 'abcdefghijklmnop', '12345678901', '\\N'];
const FAST_SPECS: MaskSpec[] = [
  { kind: 'redact' },
  { kind: 'null' },
  { kind: 'email' },
  ...PARTIALS,
  ...FIXED_VALUES.map((value): MaskSpec => ({ kind: 'fixed', value })),
];
/** [type oid, typmod] — typmod = n + 4 for varchar(n) / char(n), -1 for none. */
const TYPES: [number, number][] = [
  [OID.text, -1],
  [OID.varchar, -1],
  [OID.varchar, 4 + 3],
  [OID.varchar, 4 + 8],
  [OID.varchar, 4 + 20],
  [OID.bpchar, -1],
  [OID.bpchar, 4 + 1],
  [OID.bpchar, 4 + 5],
  [OID.bpchar, 4 + 12],
  [OID.name, -1],
  [OID.json, -1],
  [OID.jsonb, -1],
  [OID.int4, -1],
];

/** What the brief of the fast path promises: constant masks and partial always, email for unlimited text. */
function fastFormPromised(spec: MaskSpec, oid: number, typmod: number): boolean {
  if (spec.kind !== 'email') return true;
  return typeFamily(oid) !== 'text' || (textLimit(oid, typmod) === undefined && oid !== OID.bpchar);
}

function untouched(buf: Buffer, from: number, to: number, sentinel: number): boolean {
  for (let i = from; i < to; i++) if (buf[i] !== sentinel) return false;
  return true;
}

/**
 * into.write(raw) ≡ fn(raw) with separate memory, with src and dst in one
 * memory (both orders), and with src staged in an OutputArena as the row
 * rewriters do it. Returns the number of comparisons.
 */
function checkFastForm(fn: Mask, raw: Buffer, r: Rng, where: string): number {
  const into = fn.into ?? fail(`${where}: no fast form`);
  const want = fn(Buffer.from(raw));
  const expected = want === null ? null : Buffer.from(want);
  const len = raw.length;
  const max = into.maxOut(len);
  const ctx = `${where} input=${raw.toString('hex')}`;
  if (!Number.isInteger(max) || max < 0) fail(`${ctx}: maxOut(${len}) = ${max}`);
  // Input inside other bytes: write must honour start/end.
  const lead = r.int(6);
  const src = Buffer.concat([r.bytes(lead), raw, r.bytes(r.int(6))]);
  const srcCopy = Buffer.from(src);

  /** dst[guardStart, at) and dst[at + maxOut, guardEnd) must still hold the sentinel. */
  const verify = (n: number, dst: Buffer, guardStart: number, at: number, guardEnd: number, sentinel: number | undefined, mode: string): void => {
    const c = `${ctx} [${mode}]`;
    if (expected === null) {
      if (n !== -1) fail(`${c}: fn gives NULL, write returned ${n}`);
    } else {
      if (n !== expected.length) fail(`${c}: write returned ${n}, fn gives ${expected.length} bytes`);
      expectSameBytes(dst.subarray(at, at + n), expected, c);
    }
    if (n > max) fail(`${c}: write returned ${n} > maxOut(${len}) = ${max}`);
    if (sentinel !== undefined) {
      if (!untouched(dst, guardStart, at, sentinel)) fail(`${c}: wrote before dst[at]`);
      if (!untouched(dst, at + max, guardEnd, sentinel)) fail(`${c}: wrote past at + maxOut`);
    }
  };

  let checks = 0;
  for (const sentinel of [0xa5, 0x5a]) {
    // Separate memory.
    {
      const at = r.int(8);
      const dst = Buffer.alloc(at + max + 16, sentinel);
      verify(into.write(src, lead, lead + len, dst, at), dst, 0, at, dst.length, sentinel, 'separate');
      checks++;
    }
    // One memory, dst before src (the arena: output space, then the staging area).
    {
      const at = r.int(8);
      const gap = at + max + 16;
      const mem = Buffer.alloc(gap + src.length, sentinel);
      src.copy(mem, gap);
      const view = mem.subarray(gap);
      verify(into.write(view, lead, lead + len, mem, at), mem, 0, at, gap, sentinel, 'shared dst<src');
      if (!view.equals(srcCopy)) fail(`${ctx} [shared dst<src]: src was modified`);
      checks++;
    }
    // One memory, src before dst.
    {
      const at = src.length + 4 + r.int(4);
      const mem = Buffer.alloc(at + max + 16, sentinel);
      src.copy(mem, 0);
      const view = mem.subarray(0, src.length);
      verify(into.write(view, lead, lead + len, mem, at), mem, src.length, at, mem.length, sentinel, 'shared src<dst');
      if (!view.equals(srcCopy)) fail(`${ctx} [shared src<dst]: src was modified`);
      checks++;
    }
  }
  // Staged in an arena, written at arena.pos of the same memory.
  {
    const arena = new OutputArena(() => undefined, 64 + r.int(64), Math.max(64, src.length));
    const staged = arena.stage(src, 0, src.length) ?? fail(`${ctx}: stage() refused ${src.length} bytes`);
    const dst = arena.reserve(max);
    const at = arena.pos;
    const n = into.write(staged, lead, lead + len, dst, at);
    verify(n, dst, 0, at, 0, undefined, 'arena');
    if (!staged.equals(srcCopy)) fail(`${ctx} [arena]: staged input was modified`);
    checks++;
  }
  return checks;
}

describe('a. fast forms (into.write) ≡ the Buffer form', () => {
  it('every mask with a fast form × text/varchar/bpchar/name/json/jsonb/int4 × text/binary, random inputs', () => {
    let combos = 0;
    let checks = 0;
    let seed = 1;
    for (const spec of FAST_SPECS) {
      for (const [oid, typmod] of TYPES) {
        for (const format of [0, 1] as FieldFormat[]) {
          const where = `${JSON.stringify(spec)} oid=${oid} typmod=${typmod} format=${format}`;
          const fn = compileMask(spec, oid, format, { typeModifier: typmod });
          if (!fn.into) {
            if (fastFormPromised(spec, oid, typmod)) fail(`${where}: expected a fast form`);
            continue;
          }
          combos++;
          const r = new Rng(seed++);
          for (let i = 0; i < 40; i++) checks += checkFastForm(fn, randomValue(r, oid, typmod), r, `${where} seed=${r.seed}#${i}`);
        }
      }
    }
    expect(combos).toBeGreaterThan(400);
    expect(checks).toBeGreaterThan(100_000);
  });

  it('targeted inputs: empty, separators only, @ at every position, char(n) padding, 4-byte emoji at the edges', () => {
    const inputs = [
      '',
      ' ',
      '@',
      '@@',
      'a@',
      '@a',
      '😀',
      '😀@😀',
      'x😀',
      '😀x',
      '--..//',
      '1234-5678-9012-3456',
      'ab   ',
      '   ',
      'é',
      'ée',
      '\u00a0\u00a0',
      'a'.repeat(40),
      'é'.repeat(40),
      '😀'.repeat(40),
    ];
    const r = new Rng(7);
    let checks = 0;
    for (const spec of FAST_SPECS) {
      for (const [oid, typmod] of TYPES) {
        for (const format of [0, 1] as FieldFormat[]) {
          const fn = compileMask(spec, oid, format, { typeModifier: typmod });
          if (!fn.into) continue;
          for (const s of inputs) checks += checkFastForm(fn, Buffer.from(s, 'utf8'), r, `${JSON.stringify(spec)} oid=${oid} typmod=${typmod} format=${format}`);
        }
      }
    }
    expect(checks).toBeGreaterThan(10_000);
  });

  it('spot checks of what the Buffer forms produce (the reference above is only as good as they are)', () => {
    const text = (spec: MaskSpec, s: string, oid: number = OID.text, typmod = -1): string | null => {
      const out = compileMask(spec, oid, 0, { typeModifier: typmod })(Buffer.from(s, 'utf8'));
      return out === null ? null : out.toString('utf8');
    };
    const p = (keepFirst: number, keepLast: number, keepSeparators = true, maskChar = '*'): MaskSpec => ({ kind: 'partial', keepFirst, keepLast, keepSeparators, maskChar });
    expect(text(p(0, 4), '1234-5678-9012-3456')).toBe('****-****-****-3456');
    expect(text(p(0, 4, true, '•'), '1234-5678')).toBe('••••-5678');
    expect(text(p(1, 1), 'ab')).toBe('**'); // no more characters than keep_first + keep_last
    expect(text(p(1, 1), 'héllo😀')).toBe('h****😀');
    expect(text(p(0, 1), 'ab   ', OID.bpchar, 4 + 5)).toBe('*b   ');
    expect(text({ kind: 'email' }, 'a@b@example.com')).toBe('***@example.com');
    expect(text({ kind: 'email' }, 'nobody')).toBe('***');
    expect(text({ kind: 'email' }, '@example.com')).toBe('***@example.com');
    expect(text({ kind: 'email' }, 'a@')).toBe('***@');
    expect(text({ kind: 'redact' }, 'x', OID.varchar, 4 + 3)).toBe('***');
    expect(text({ kind: 'redact' }, 'x', OID.bpchar, 4 + 12)).toBe('[REDACTED]  ');
    expect(text({ kind: 'redact' }, 'x', OID.json)).toBe('"[REDACTED]"');
    expect(text({ kind: 'redact' }, '1', OID.int4)).toBeNull();
    expect(text({ kind: 'fixed', value: 'toolong' }, 'x', OID.varchar, 4 + 3)).toBeNull();
  });

  it('partial: write() stays within maxOut for input that is not valid UTF-8 (e.g. client_encoding LATIN1)', () => {
    // Regression: with an ASCII mask character maxOut(len) was len, but a
    // non-ASCII input takes the `unicode` path, where toString('utf8') turns
    // every invalid byte into U+FFFD (3 bytes); the kept ones came out 3×
    // longer. Latin-1 'é' (0xE9): a client with client_encoding = LATIN1, or a
    // SQL_ASCII database. (The random inputs above include such bytes too.)
    const fn = compileMask({ kind: 'partial', keepFirst: 4, keepLast: 0, keepSeparators: true, maskChar: '*' }, OID.text, 0);
    const raw = Buffer.from('a\xe9bcd', 'latin1'); // 5 bytes
    const dst = Buffer.alloc(32, 0xa5);
    const n = fn.into!.write(raw, 0, raw.length, dst, 0);
    expect(n).toBeLessThanOrEqual(fn.into!.maxOut(raw.length)); // was 7 (61 ef bf bd 62 63 2a) > 5
    expect(untouched(dst, fn.into!.maxOut(raw.length), dst.length, 0xa5)).toBe(true);
  });
});

// ---------------------------------------------------------------- DataRow helpers

function encodeDataRow(fields: readonly (Buffer | null)[]): Buffer {
  let size = 7;
  for (const f of fields) size += 4 + (f === null ? 0 : f.length);
  const msg = Buffer.allocUnsafe(size);
  msg[0] = 0x44;
  msg.writeUInt32BE(size - 1, 1);
  msg.writeUInt16BE(fields.length, 5);
  let o = 7;
  for (const f of fields) {
    msg.writeInt32BE(f === null ? -1 : f.length, o);
    o += 4;
    if (f !== null) o += f.copy(msg, o);
  }
  return msg;
}

function decodeDataRow(msg: Buffer): (Buffer | null)[] {
  if (msg[0] !== 0x44) fail(`not a DataRow: type 0x${msg[0].toString(16)}`);
  if (msg.readUInt32BE(1) + 1 !== msg.length) fail('DataRow length field disagrees with its size');
  const fields = dataRowValues(msg.subarray(5));
  if (fields.reduce((size, f) => size + 4 + (f?.length ?? 0), 7) !== msg.length) fail('DataRow has trailing bytes');
  return fields;
}

/** The obvious way: decode, apply each column's rewrite to non-NULL values, re-encode. */
function referenceDataRow(msg: Buffer, rewrites: readonly FieldRewrite[]): Buffer {
  const fields = decodeDataRow(Buffer.from(msg)).map((v, i) => {
    const fn = rewrites[i];
    return fn && v !== null ? fn(Buffer.from(v)) : v;
  });
  return encodeDataRow(fields);
}

/** Collects what an arena hands out, and checks later that none of it was written again. */
class Collected {
  readonly parts: Buffer[] = [];
  private readonly copies: Buffer[] = [];
  readonly add = (b: Buffer | undefined): void => {
    if (!b) return;
    this.parts.push(b);
    this.copies.push(Buffer.from(b));
  };
  all(where: string): Buffer {
    this.parts.forEach((p, i) => {
      if (!p.equals(this.copies[i])) fail(`${where}: bytes handed out by the arena (part ${i}) were written again later`);
    });
    return Buffer.concat(this.parts);
  }
}

type ArenaFactory = (onFull: (b: Buffer) => void) => OutputArena;
const ARENAS: [string, ArenaFactory][] = [
  ['default', (f) => new OutputArena(f)],
  ['tiny 64/64', (f) => new OutputArena(f, 64, 64)],
  ['64/64K', (f) => new OutputArena(f, 64, 64 * 1024)],
  ['1K/256', (f) => new OutputArena(f, 1024, 256)],
  ['300/4K', (f) => new OutputArena(f, 300, 4096)],
];

/**
 * Runs of messages back to back in one input buffer, separated by junk the
 * rewriter must never look at, processed like Guard.rows(): each run staged
 * (when asked and it fits) then rewritten message by message, then take().
 */
function runInRuns(
  messages: readonly Buffer[],
  r: Rng,
  arena: OutputArena,
  collected: Collected,
  stage: boolean,
  rewriteOne: (src: Buffer, at: number, out: OutputArena) => number,
  where: string,
): void {
  const pieces: Buffer[] = [];
  const runs: [number, number][] = [];
  let size = 0;
  let i = 0;
  while (i < messages.length) {
    const junk = r.bytes(r.int(4));
    pieces.push(junk);
    size += junk.length;
    const n = 1 + r.int(Math.min(8, messages.length - i));
    const start = size;
    for (let k = 0; k < n; k++, i++) {
      pieces.push(messages[i]);
      size += messages[i].length;
    }
    runs.push([start, size]);
  }
  pieces.push(r.bytes(r.int(4)));
  const input = Buffer.concat(pieces);
  for (const [start, end] of runs) {
    const staged = stage ? arena.stage(input, start, end) : undefined;
    const src = staged ?? input;
    let o = staged ? 0 : start;
    const stop = staged ? end - start : end;
    while (o < stop) {
      const next = rewriteOne(src, o, arena);
      if (next <= o || next > stop) fail(`${where}: returned offset ${next} after ${o} (run ends at ${stop})`);
      o = next;
    }
    collected.add(arena.take());
  }
}

// ---------------------------------------------------------------- b. rewriteDataRow

interface Rewrite {
  fn: FieldRewrite;
  name: string;
}

const BIG_OUTPUT = Buffer.alloc(70_000, 0x79);
function rewritePool(): Rewrite[] {
  const m = (spec: MaskSpec, oid: number, format: FieldFormat, typmod = -1): Rewrite => ({
    fn: compileMask(spec, oid, format, { typeModifier: typmod, hashKey: 'k' }),
    name: `${JSON.stringify(spec)}/${oid}/${format}/${typmod}`,
  });
  const p = (name: string, fn: (raw: Buffer) => Buffer | null): Rewrite => ({ fn: plain(fn), name });
  return [
    m({ kind: 'redact' }, OID.text, 0),
    m({ kind: 'redact' }, OID.varchar, 0, 4 + 8),
    m({ kind: 'redact' }, OID.bpchar, 1, 4 + 12),
    m({ kind: 'redact' }, OID.jsonb, 1),
    m({ kind: 'null' }, OID.text, 0),
    m({ kind: 'fixed', value: 42 }, OID.int4, 1),
    m({ kind: 'fixed', value: 'a|b\\c\nd' }, OID.text, 0),
    m({ kind: 'email' }, OID.text, 0),
    m({ kind: 'email' }, OID.text, 1),
    ...PARTIALS.map((s) => m(s, OID.text, 0)),
    m(PARTIALS[1], OID.bpchar, 0, 4 + 5),
    // No fast form: the rewriter calls them during its first pass.
    m({ kind: 'email' }, OID.varchar, 0, 4 + 30),
    m({ kind: 'hash', length: 16 }, OID.text, 0),
    p('const x', () => Buffer.from('x')),
    p('null', () => null),
    p('empty', () => Buffer.alloc(0)),
    p('hex (longer than its input)', (raw) => Buffer.from(raw.toString('hex'))),
    p('identity (a view of the input)', (raw) => raw),
    p('first half (a view)', (raw) => raw.subarray(0, raw.length >> 1)),
    p('big constant', () => BIG_OUTPUT),
  ];
}

interface DataRowCase {
  rows: (Buffer | null)[][];
  rewrites: FieldRewrite[];
  description: string;
}

function randomDataRowCase(r: Rng, pool: readonly Rewrite[], huge: boolean): DataRowCase {
  const columns = r.chance(0.1) ? 0 : 1 + r.int(r.chance(0.3) ? 40 : 8);
  const chosen: (Rewrite | null)[] = Array.from({ length: columns }, () => (r.chance(0.5) ? r.pick(pool) : null));
  // Usually one rewrite per column; sometimes fewer or more (extra entries are ignored, missing ones keep).
  const k = r.int(10);
  const rewriteCount = k === 0 ? Math.max(0, columns - 1 - r.int(3)) : k === 1 ? columns + 1 + r.int(3) : columns;
  const rewrites: FieldRewrite[] = Array.from({ length: rewriteCount }, (_, i) => (i < columns ? (chosen[i]?.fn ?? null) : r.pick(pool).fn));
  const rowCount = 1 + r.int(huge ? 3 : 25);
  const hugeAt = huge ? r.int(rowCount) : -1;
  const rows: (Buffer | null)[][] = [];
  for (let n = 0; n < rowCount; n++) {
    const row: (Buffer | null)[] = [];
    for (let c = 0; c < columns; c++) {
      const kind = r.int(100);
      if (kind < 10) row.push(null);
      else if (kind < 18) row.push(Buffer.alloc(0));
      else if (kind < 25) row.push(r.bytes(randomLength(r))); // not UTF-8
      else if (kind < 30) row.push(Buffer.from(randomText(r).replace(/[^\x00-\xff]/g, 'é'), 'latin1')); // LATIN1 client
      else row.push(Buffer.from(randomText(r), 'utf8'));
    }
    if (n === hugeAt && columns > 0) {
      const c = r.int(columns);
      row[c] = r.chance(0.5) ? Buffer.from(randomText(r, 100_000 + r.int(20_000)), 'utf8') : r.bytes(300 * 1024);
    }
    rows.push(row);
  }
  return { rows, rewrites, description: `columns=${columns} rewrites=[${chosen.map((c) => c?.name ?? '-').join(', ')}]` };
}

/** Rewrites the case's rows with `arena`, staged or not, and compares with the reference. */
function checkDataRowCase(c: DataRowCase, r: Rng, makeArena: ArenaFactory, stage: boolean, where: string): void {
  const messages = c.rows.map(encodeDataRow);
  const expected = Buffer.concat(messages.map((m) => referenceDataRow(m, c.rewrites)));
  const collected = new Collected();
  const arena = makeArena(collected.add);
  runInRuns(messages, r, arena, collected, stage, (src, at, out) => rewriteDataRow(src, at, c.rewrites, out), where);
  expectSameBytes(collected.all(where), expected, `${where} ${c.description}`);
}

describe('b. rewriteDataRow ≡ decode, mask, re-encode', () => {
  const pool = rewritePool();

  it('random rows and rewrites, every arena shape, staged and not', () => {
    let cases = 0;
    for (let seed = 1000; seed < 1200; seed++) {
      const r = new Rng(seed);
      const c = randomDataRowCase(r, pool, false);
      for (const [name, make] of ARENAS) {
        for (const stage of [false, true]) {
          checkDataRowCase(c, r, make, stage, `seed=${seed} arena=${name} staged=${stage}`);
          cases++;
        }
      }
    }
    expect(cases).toBe(200 * ARENAS.length * 2);
  });

  it('rows with a huge (100–300 KB) field next to small ones', () => {
    for (let seed = 5000; seed < 5012; seed++) {
      const r = new Rng(seed);
      const c = randomDataRowCase(r, pool, true);
      const [name, make] = ARENAS[seed % ARENAS.length];
      for (const stage of [false, true]) checkDataRowCase(c, r, make, stage, `huge seed=${seed} arena=${name} staged=${stage}`);
    }
  });

  it('edge rows: no fields, all NULL, all empty, every column masked, masks only on NULLs', () => {
    const redact = pool[0].fn;
    const x = plain(() => Buffer.from('x'));
    const cases: DataRowCase[] = [
      { rows: [[]], rewrites: [], description: 'zero fields' },
      { rows: [[]], rewrites: [redact, x], description: 'zero fields, rewrites given' },
      { rows: [[null, null, null]], rewrites: [redact, x, redact], description: 'all NULL, all masked' },
      { rows: [[Buffer.alloc(0), Buffer.alloc(0)]], rewrites: [redact, x], description: 'all empty, all masked' },
      { rows: [[Buffer.from('a'), Buffer.from('b'), Buffer.from('c')]], rewrites: [x, x, x], description: 'every column masked' },
      { rows: [[Buffer.from('a'), null, Buffer.from('c')]], rewrites: [null, redact, null], description: 'mask only on a NULL' },
      { rows: Array.from({ length: 50 }, (_, i) => [Buffer.from(String(i))]), rewrites: [null], description: 'nothing masked, many rows' },
    ];
    const r = new Rng(99);
    for (const c of cases) {
      for (const [name, make] of ARENAS) {
        for (const stage of [false, true]) checkDataRowCase(c, r, make, stage, `edge arena=${name} staged=${stage}`);
      }
    }
  });

  it('malformed rows throw RangeError before writing anything, and the masked value never comes out', () => {
    const SECRET = Buffer.from('SECRET-4242');
    const masked: FieldRewrite[] = [null, plain(() => Buffer.from('x')), null];
    const good = encodeDataRow([Buffer.from('pub'), SECRET, Buffer.from('tail')]);
    const malformed: [string, Buffer][] = [];
    // Field length past the end of the message (the masked field).
    {
      const m = Buffer.from(good);
      m.writeInt32BE(SECRET.length + 20, 7 + 4 + 3);
      malformed.push(['masked field runs past the end', m]);
    }
    // Last field's length past the end.
    {
      const m = Buffer.from(good);
      m.writeInt32BE(100, m.length - 8);
      malformed.push(['last field runs past the end', m]);
    }
    // Announces more fields than it has.
    {
      const m = Buffer.from(good);
      m.writeUInt16BE(5, 5);
      malformed.push(['fewer fields than announced', m]);
    }
    // The message's length says more than the buffer holds.
    malformed.push(['truncated message', good.subarray(0, good.length - 3)]);
    malformed.push(['truncated inside the masked field', good.subarray(0, 7 + 4 + 3 + 4 + 5)]);
    malformed.push(['truncated header', good.subarray(0, 4)]);
    malformed.push(['length too small for a field count', Buffer.from([0x44, 0, 0, 0, 5, 0])]);
    {
      const m = Buffer.from(good);
      m.writeUInt32BE(0xfffffff0, 1);
      malformed.push(['length with the high bit set', m]);
    }
    for (const [name, msg] of malformed) {
      for (const [aname, make] of ARENAS) {
        const collected = new Collected();
        const arena = make(collected.add);
        expect(() => rewriteDataRow(msg, 0, masked, arena), `${name} / ${aname}`).toThrow(RangeError);
        collected.add(arena.take());
        expect(collected.all(name).length, `${name} / ${aname}: nothing written`).toBe(0);
      }
    }
  });

  it('a malformed row after good ones in a run: the good rows are intact, nothing of the bad one comes out', () => {
    const SECRET = Buffer.from('SECRET-4242');
    const x = plain(() => Buffer.from('x'));
    const rewrites: FieldRewrite[] = [null, x];
    const goodRow = encodeDataRow([Buffer.from('pub'), Buffer.from('hidden')]);
    const bad = encodeDataRow([Buffer.from('pub'), SECRET]);
    bad.writeUInt16BE(3, 5); // announces a third field
    for (const [aname, make] of ARENAS) {
      for (const stage of [false, true]) {
        const collected = new Collected();
        const arena = make(collected.add);
        const input = Buffer.concat([goodRow, goodRow, bad]);
        const staged = stage ? arena.stage(input, 0, input.length) : undefined;
        const src = staged ?? input;
        let o = 0;
        o = rewriteDataRow(src, o, rewrites, arena);
        o = rewriteDataRow(src, o, rewrites, arena);
        expect(() => rewriteDataRow(src, o, rewrites, arena), aname).toThrow(RangeError);
        collected.add(arena.take());
        const out = collected.all(aname);
        const one = referenceDataRow(goodRow, rewrites);
        expectSameBytes(out, Buffer.concat([one, one]), `${aname} staged=${stage}`);
        expect(out.includes(SECRET)).toBe(false);
      }
    }
  });

  it('more fields than PostgreSQL allows (1664): an error, never raw bytes', () => {
    // PostgreSQL never sends more than 1664 columns; the scratch arrays have
    // that size. Today this throws a TypeError (not a RangeError): acceptable
    // as long as nothing of the row comes out.
    const fields = Array.from({ length: 2000 }, (_, i) => Buffer.from(`v${i}`));
    fields[1800] = Buffer.from('SECRET-1800');
    const rewrites: FieldRewrite[] = new Array(2000).fill(null);
    rewrites[1800] = plain(() => Buffer.from('x'));
    const msg = encodeDataRow(fields);
    const collected = new Collected();
    const arena = new OutputArena(collected.add);
    let threw = false;
    try {
      rewriteDataRow(msg, 0, rewrites, arena);
    } catch {
      threw = true;
    }
    collected.add(arena.take());
    const out = collected.all('2000 fields');
    if (!threw) expectSameBytes(out, referenceDataRow(msg, rewrites), '2000 fields');
    else expect(out.length).toBe(0);
    expect(out.includes('SECRET-1800')).toBe(false);
  });

  it('partial over non-UTF-8 bytes in a staged run: the next row must not reach the client raw', () => {
    // Regression, the consequence of the maxOut bug above: rewriteDataRow
    // reserved `bound` (from maxOut) and the write ran past it, past the
    // arena's output space into its staging area, over the input rows not yet
    // rewritten. Here it overwrote the next row's type byte, and a Guard.rows()
    // loop (mirrored below) passes a non-'D' message on as it is: the raw
    // secret went out. Arena 64/256 keeps the numbers small; with the default
    // 512K/128K it takes the row that ends an arena buffer, which the client
    // can arrange (it picks the query, the row sizes and client_encoding).
    // Now: either the row is rewritten correctly or rewriteDataRow throws.
    const partial = compileMask({ kind: 'partial', keepFirst: 0, keepLast: 40, keepSeparators: true, maskChar: '*' }, OID.text, 0);
    const rewrites: FieldRewrite[] = [partial, plain(() => Buffer.from('x'))];
    // Column 0: 9 ASCII + 40 × Latin-1 'é' = 49 bytes, written as 9 + 40 × 3 = 129.
    const value = Buffer.concat([Buffer.from('x'.repeat(9)), Buffer.alloc(40, 0xe9)]);
    const row1 = encodeDataRow([value, null]); // 64 bytes, and so is its bound: it fits the 64-byte output space exactly
    const SECRET = Buffer.from('SECRET-CARD-4111111111111111');
    const row2 = encodeDataRow([Buffer.from('hello world'), SECRET]);
    const collected = new Collected();
    const arena = new OutputArena(collected.add, 64, 256);
    const input = Buffer.concat([row1, row2]);
    // Guard.rows(): stage the run; 'D' is rewritten, anything else passes as it is.
    const src = arena.stage(input, 0, input.length) ?? fail('not staged');
    let threw = false;
    try {
      let o = 0;
      while (o < src.length) {
        if (src[o] === 0x44) {
          o = rewriteDataRow(src, o, rewrites, arena);
          continue;
        }
        const next = o + 1 + src.readUInt32BE(o + 1);
        collected.add(arena.take());
        collected.add(src.subarray(o, next));
        o = next;
      }
    } catch (err) {
      // Failing closed is fine (the session ends; what the arena holds is never sent).
      expect(err).toBeInstanceOf(RangeError);
      threw = true;
    }
    if (!threw) collected.add(arena.take());
    const out = collected.all('overflow');
    expect(out.includes(SECRET)).toBe(false);
    if (!threw) expectSameBytes(out, Buffer.concat([referenceDataRow(row1, rewrites), referenceDataRow(row2, rewrites)]), 'overflow');
  });
});

// ---------------------------------------------------------------- c. COPY text

const TEXT_FMT = (delimiter: string): CopyTextFormat => ({ format: 'text', delimiter, null: '\\N', quote: '"', escape: '"' });

/** PostgreSQL's CopyAttributeOutText: what COPY TO (text format) sends for a value. */
function copyEscape(value: string, delimiter: string): string {
  let out = '';
  for (const ch of value) {
    if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    else if (ch === '\v') out += '\\v';
    else if (ch === delimiter) out += `\\${ch}`;
    else out += ch;
  }
  return out;
}

function copyMessage(line: Buffer): Buffer {
  const msg = Buffer.allocUnsafe(5 + line.length + 1);
  msg[0] = 0x64;
  msg.writeUInt32BE(4 + line.length + 1, 1);
  line.copy(msg, 5);
  msg[msg.length - 1] = 0x0a;
  return msg;
}

function encodeCopyRow(values: readonly (string | null)[], delimiter: string): Buffer {
  return copyMessage(Buffer.from(values.map((v) => (v === null ? '\\N' : copyEscape(v, delimiter))).join(delimiter), 'utf8'));
}

const UNESCAPE: Record<number, number> = { 0x62: 0x08, 0x66: 0x0c, 0x6e: 0x0a, 0x72: 0x0d, 0x74: 0x09, 0x76: 0x0b };

/**
 * COPY FROM's reading of a text-format line (CopyReadAttributesText), on
 * bytes: fields at unescaped delimiters, a field that is exactly \N is NULL,
 * \b \f \n \r \t \v, octal and \xHH escapes, any other escaped byte is itself.
 */
function parseCopyLine(line: Buffer, delimiter: number): { values: (Buffer | null)[]; raws: Buffer[] } {
  const values: (Buffer | null)[] = [];
  const raws: Buffer[] = [];
  let start = 0;
  let cur: number[] = [];
  const isOct = (c: number | undefined) => c !== undefined && c >= 0x30 && c <= 0x37;
  const hex = (c: number | undefined) => (c === undefined ? -1 : c >= 0x30 && c <= 0x39 ? c - 0x30 : (c | 0x20) >= 0x61 && (c | 0x20) <= 0x66 ? (c | 0x20) - 0x57 : -1);
  for (let i = 0; ; i++) {
    if (i === line.length || line[i] === delimiter) {
      const raw = line.subarray(start, i);
      raws.push(raw);
      values.push(raw.length === 2 && raw[0] === 0x5c && raw[1] === 0x4e ? null : Buffer.from(cur));
      if (i === line.length) break;
      start = i + 1;
      cur = [];
      continue;
    }
    const c = line[i];
    if (c !== 0x5c || i + 1 === line.length) {
      cur.push(c);
      continue;
    }
    const e = line[++i];
    if (isOct(e)) {
      let v = e - 0x30;
      if (isOct(line[i + 1])) v = v * 8 + line[++i] - 0x30;
      if (isOct(line[i + 1])) v = v * 8 + line[++i] - 0x30;
      cur.push(v & 0xff);
    } else if (e === 0x78 && hex(line[i + 1]) >= 0) {
      let v = hex(line[++i]);
      if (hex(line[i + 1]) >= 0) v = v * 16 + hex(line[++i]);
      cur.push(v);
    } else {
      cur.push(UNESCAPE[e] ?? e);
    }
  }
  return { values, raws };
}

/** A whole 'd' message → its line's fields (newline stripped). */
function parseCopyMessage(msg: Buffer, delimiter: number, where: string): { values: (Buffer | null)[]; raws: Buffer[] } {
  if (msg[0] !== 0x64) fail(`${where}: not a CopyData message`);
  if (msg.readUInt32BE(1) + 1 !== msg.length) fail(`${where}: CopyData length field disagrees with its size`);
  if (msg[msg.length - 1] !== 0x0a) fail(`${where}: row does not end with a newline`);
  return parseCopyLine(msg.subarray(5, msg.length - 1), delimiter);
}

/** Splits concatenated 'd' messages. */
function splitMessages(bytes: Buffer, where: string): Buffer[] {
  const out: Buffer[] = [];
  let o = 0;
  while (o < bytes.length) {
    if (o + 5 > bytes.length) fail(`${where}: trailing partial header`);
    const end = o + 1 + bytes.readUInt32BE(o + 1);
    if (end > bytes.length) fail(`${where}: message runs past the output`);
    out.push(bytes.subarray(o, end));
    o = end;
  }
  return out;
}

interface CopyMask {
  fn: Mask;
  name: string;
}

function copyMaskPool(): CopyMask[] {
  const m = (spec: MaskSpec, oid: number = OID.text, typmod = -1): CopyMask => ({
    fn: compileMask(spec, oid, 0, { typeModifier: typmod, hashKey: 'k' }),
    name: `${JSON.stringify(spec)}/${oid}/${typmod}`,
  });
  const p = (name: string, fn: (raw: Buffer) => Buffer | null): CopyMask => ({ fn: plain(fn), name });
  const partial = (keepFirst: number, keepLast: number, keepSeparators: boolean, maskChar: string) =>
    m({ kind: 'partial', keepFirst, keepLast, keepSeparators, maskChar });
  return [
    m({ kind: 'redact' }),
    m({ kind: 'redact' }, OID.varchar, 4 + 3),
    m({ kind: 'null' }),
    m({ kind: 'email' }),
    m({ kind: 'fixed', value: 'plain' }),
    m({ kind: 'fixed', value: '' }),
    m({ kind: 'fixed', value: '\\N' }), // the two characters, not NULL
    m({ kind: 'fixed', value: 'a|b;c,d\te\\f\ng\rh' }), // every delimiter, a backslash, a newline: must come out escaped
    m({ kind: 'fixed', value: '|' }),
    m({ kind: 'fixed', value: '\\' }),
    partial(0, 4, true, '*'),
    partial(2, 2, false, '#'),
    partial(1, 1, true, '•'),
    partial(0, 2, true, '|'), // mask character = a delimiter
    partial(0, 2, false, ','),
    partial(0, 0, false, '\\'),
    partial(1, 0, true, '\t'),
    // No fast form.
    m({ kind: 'email' }, OID.varchar, 4 + 30),
    m({ kind: 'hash', length: 16 }),
    p('const x', () => Buffer.from('x')),
    p('null', () => null),
    p('identity', (raw) => raw),
    p('upper', (raw) => Buffer.from(raw.toString('utf8').toUpperCase(), 'utf8')),
    p('backslash-heavy', (raw) => Buffer.from(`\\${raw.toString('utf8')}\\N\t|,;\n`, 'utf8')),
    p('empty', () => Buffer.alloc(0)),
  ];
}

const DELIMITERS = ['\t', '|', ',', ';'];
/** Things COPY text must escape or that look like escapes. */
const COPY_EXTRA = ['\\', '\\N', '\\\\', '\n', '\r', '\t', '|', ',', ';', '\b', '\f', '\v', '\x01', 'N', '\\|', '\\n', '@'];

function randomCopyValue(r: Rng): string | null {
  const k = r.int(100);
  if (k < 10) return null;
  if (k < 15) return '';
  if (k < 20) return '\\N';
  if (k < 25) return r.pick(COPY_EXTRA) + r.pick(COPY_EXTRA);
  if (k < 30) return randomEmail(r);
  return randomText(r, r.chance(0.9) ? r.int(30) : randomLength(r), COPY_EXTRA);
}

/** The per-column model: mask non-NULL values by position, NULL stays NULL, extra fields untouched. */
function copyModel(values: readonly (Buffer | null)[], masks: readonly CopyByteRewrite[]): (Buffer | null)[] {
  return values.map((v, i) => {
    const fn = i < masks.length ? masks[i] : null;
    return fn && v !== null ? fn(Buffer.from(v)) : v;
  });
}

function textRewrites(masks: readonly CopyByteRewrite[]): CopyFieldRewrite[] {
  return masks.map((fn) =>
    fn
      ? (s: string) => {
          const out = fn(Buffer.from(s, 'utf8'));
          return out === null ? null : out.toString('utf8');
        }
      : null,
  );
}

function sameValues(got: readonly (Buffer | null)[], want: readonly (Buffer | null)[], where: string): void {
  if (got.length !== want.length) fail(`${where}: ${got.length} fields, want ${want.length}`);
  got.forEach((g, i) => {
    const w = want[i];
    if (g === null || w === null) {
      if (g !== w) fail(`${where}: field ${i} is ${g === null ? 'NULL' : JSON.stringify(g.toString())}, want ${w === null ? 'NULL' : JSON.stringify(w.toString())}`);
    } else if (!g.equals(w)) {
      fail(`${where}: field ${i} is ${JSON.stringify(g.toString())}, want ${JSON.stringify(w.toString())}`);
    }
  });
}

interface CopyCase {
  delimiter: string;
  masks: CopyByteRewrite[];
  rows: (string | null)[][];
  description: string;
}

function randomCopyCase(r: Rng, pool: readonly CopyMask[]): CopyCase {
  const delimiter = r.pick(DELIMITERS);
  const columns = r.chance(0.05) ? 0 : 1 + r.int(r.chance(0.2) ? 30 : 8);
  const chosen = Array.from({ length: columns }, () => (r.chance(0.45) ? r.pick(pool) : null));
  const rows: (string | null)[][] = [];
  const rowCount = 1 + r.int(30);
  for (let n = 0; n < rowCount; n++) {
    // Every row has the announced columns (rows that don't: see 'rows with other field counts').
    rows.push(Array.from({ length: columns }, () => randomCopyValue(r)));
  }
  return {
    delimiter,
    masks: chosen.map((c) => c?.fn ?? null),
    rows,
    description: `delimiter=${JSON.stringify(delimiter)} columns=${columns} masks=[${chosen.map((c) => c?.name ?? '-').join(', ')}]`,
  };
}

/**
 * Rewrites the case's rows through CopyTextRewriter and checks each row:
 * decoded values = model; fields that are not masked (or NULL) are byte-identical;
 * when the row matches the column count, decoded values = rewriteCopyRow's, and
 * the bytes too unless a masked output holds a tab (the string path always
 * writes \t, the byte path only escapes what it must).
 */
function checkCopyCase(c: CopyCase, r: Rng, makeArena: ArenaFactory, stage: boolean, where: string): number {
  const d = c.delimiter.charCodeAt(0);
  const messages = c.rows.map((row) => encodeCopyRow(row, c.delimiter));
  const collected = new Collected();
  const arena = makeArena(collected.add);
  const rewriter = new CopyTextRewriter(d, c.masks);
  runInRuns(messages, r, arena, collected, stage, (src, at, out) => rewriter.row(src, at, out), where);
  const outs = splitMessages(collected.all(where), where);
  if (outs.length !== messages.length) fail(`${where}: ${outs.length} rows out, ${messages.length} in`);
  const reference = textRewrites(c.masks);
  let byteCompared = 0;
  messages.forEach((msg, i) => {
    const w = `${where} row ${i} ${c.description} in=${JSON.stringify(msg.subarray(5).toString())} out=${JSON.stringify(outs[i].subarray(5).toString())}`;
    const input = parseCopyMessage(msg, d, w);
    const output = parseCopyMessage(outs[i], d, w);
    const model = copyModel(input.values, c.masks);
    sameValues(output.values, model, w);
    input.raws.forEach((raw, k) => {
      const masked = k < c.masks.length && c.masks[k] !== null && input.values[k] !== null;
      if (!masked && !output.raws[k].equals(raw)) fail(`${w}: field ${k} is not masked but its bytes changed`);
    });
    if (input.values.length === c.masks.length) {
      const ref = rewriteCopyRow(msg, TEXT_FMT(c.delimiter), reference);
      const refParsed = parseCopyMessage(ref, d, `${w} (reference)`);
      sameValues(output.values, refParsed.values, `${w} vs rewriteCopyRow`);
      const tabInMaskedOutput = c.delimiter !== '\t' && model.some((v, k) => v !== null && c.masks[k] !== null && v.includes(0x09));
      if (!tabInMaskedOutput) {
        expectSameBytes(outs[i], ref, `${w} vs rewriteCopyRow bytes`);
        byteCompared++;
      }
    }
  });
  return byteCompared;
}

describe('c. CopyTextRewriter ≡ rewriteCopyRow / a COPY text decoder', () => {
  const pool = copyMaskPool();

  it('the test encoder and decoder agree (round trip), and with rewriteCopyRow without masks', () => {
    const r = new Rng(31);
    for (let i = 0; i < 2000; i++) {
      const delimiter = r.pick(DELIMITERS);
      const values = Array.from({ length: 1 + r.int(6) }, () => randomCopyValue(r));
      const msg = encodeCopyRow(values, delimiter);
      const parsed = parseCopyMessage(msg, delimiter.charCodeAt(0), 'round trip');
      sameValues(parsed.values, values.map((v) => (v === null ? null : Buffer.from(v, 'utf8'))), `round trip ${JSON.stringify(values)}`);
      expectSameBytes(rewriteCopyRow(msg, TEXT_FMT(delimiter), values.map(() => null)), msg, 'rewriteCopyRow without masks');
    }
  });

  it('random rows, delimiters tab | , ;, every arena shape, staged and not', () => {
    let byteCompared = 0;
    for (let seed = 2000; seed < 2120; seed++) {
      const r = new Rng(seed);
      const c = randomCopyCase(r, pool);
      for (const [name, make] of ARENAS) {
        for (const stage of [false, true]) byteCompared += checkCopyCase(c, r, make, stage, `seed=${seed} arena=${name} staged=${stage}`);
      }
    }
    expect(byteCompared).toBeGreaterThan(4_000);
  });

  it('rows with other field counts than announced (bytes read wrongly): a RangeError, and no raw masked value out', () => {
    const secret = 'SECRET-123-45-6789';
    const mask = compileMask({ kind: 'partial', keepFirst: 0, keepLast: 4, keepSeparators: true, maskChar: '*' }, OID.text, 0);
    for (const delimiter of DELIMITERS) {
      const masks = [null, mask, null];
      for (const row of [['a', secret], ['a', secret, 'b', 'c'], [secret], ['a', 'b', secret, 'd']]) {
        const msg = encodeCopyRow(row, delimiter);
        const written: Buffer[] = [];
        const arena = new OutputArena((b) => written.push(Buffer.from(b)));
        expect(() => new CopyTextRewriter(delimiter.charCodeAt(0), masks).row(msg, 0, arena), `${JSON.stringify(row)} ${delimiter}`).toThrow(RangeError);
        const took = arena.take();
        if (took) written.push(Buffer.from(took));
        expect(Buffer.concat(written).includes(secret)).toBe(false);
      }
    }
  });

  it('targeted rows: escaped delimiters at field edges, \\N vs the text \\N, NULL in masked columns, values needing escapes after masking', () => {
    const fixedSpecial = compileMask({ kind: 'fixed', value: 'a|b;c,d\te\\f\ng\rh' }, OID.text, 0);
    const fixedN = compileMask({ kind: 'fixed', value: '\\N' }, OID.text, 0);
    const email = compileMask({ kind: 'email' }, OID.text, 0);
    const partial = compileMask({ kind: 'partial', keepFirst: 1, keepLast: 1, keepSeparators: true, maskChar: '*' }, OID.text, 0);
    const identity = plain((raw) => raw);
    const values: (string | null)[] = [
      '|start',
      'end|',
      '|',
      '||',
      '\\',
      '\\|',
      '\\\\|',
      '|\\',
      '\\N',
      'N',
      '\\\\N',
      '',
      '\n',
      'a\tb',
      'x@y|z',
      '@|@',
      'é|😀',
      null,
    ];
    const maskSets: CopyByteRewrite[][] = [
      [fixedSpecial, null, fixedN],
      [null, email, null],
      [partial, identity, partial],
      [identity, identity, identity],
      [null, null, fixedSpecial],
      [fixedN, null, null],
    ];
    const rows: (string | null)[][] = [];
    for (const a of values) for (const b of values) rows.push([a, b, values[(rows.length * 7) % values.length]]);
    let n = 0;
    const r = new Rng(77);
    for (const delimiter of DELIMITERS) {
      for (const masks of maskSets) {
        const c: CopyCase = { delimiter, masks, rows, description: `targeted delimiter=${JSON.stringify(delimiter)}` };
        for (const [name, make] of [ARENAS[0], ARENAS[1]]) {
          for (const stage of [false, true]) {
            checkCopyCase(c, r, make, stage, `targeted arena=${name} staged=${stage}`);
            n++;
          }
        }
      }
    }
    expect(n).toBe(DELIMITERS.length * maskSets.length * 2 * 2);
  });

  it('values that are not UTF-8 (LATIN1 client): unmasked fields byte-identical, masked ones never show the value', () => {
    // Byte-level COPY escaping (copyEscape above works on strings).
    const escapeBytes = (v: Buffer, delimiter: number): Buffer => {
      const out: number[] = [];
      for (const c of v) {
        const e = c === 0x5c ? 0x5c : c === 0x0a ? 0x6e : c === 0x0d ? 0x72 : c === 0x09 ? 0x74 : c === 0x08 ? 0x62 : c === 0x0c ? 0x66 : c === 0x0b ? 0x76 : c === delimiter ? c : -1;
        if (e >= 0) out.push(0x5c, e);
        else out.push(c);
      }
      return Buffer.from(out);
    };
    const SECRET = Buffer.from('S\xc9CR\xc8T', 'latin1');
    const masks: CopyByteRewrite[] = [
      null,
      compileMask({ kind: 'redact' }, OID.text, 0),
      compileMask({ kind: 'partial', keepFirst: 0, keepLast: 0, keepSeparators: true, maskChar: '*' }, OID.text, 0),
      compileMask({ kind: 'fixed', value: 'f|x' }, OID.text, 0),
      compileMask({ kind: 'null' }, OID.text, 0),
      compileMask({ kind: 'hash', length: 16 }, OID.text, 0, { hashKey: 'k' }),
      null,
    ];
    const r = new Rng(88);
    for (const delimiter of DELIMITERS) {
      const d = delimiter.charCodeAt(0);
      const rows: Buffer[][] = Array.from({ length: 100 }, () =>
        masks.map(() => {
          const filler = Buffer.from(randomText(r, r.int(12), COPY_EXTRA).replace(/[^\x00-\xff]/g, '\xe9'), 'latin1');
          return r.chance(0.5) ? Buffer.concat([filler, SECRET, filler]) : filler;
        }),
      );
      const messages = rows.map((row) => copyMessage(Buffer.concat(row.flatMap((v, i) => (i === 0 ? [escapeBytes(v, d)] : [Buffer.from([d]), escapeBytes(v, d)])))));
      for (const [name, make] of ARENAS) {
        for (const stage of [false, true]) {
          const where = `latin1 delimiter=${JSON.stringify(delimiter)} arena=${name} staged=${stage}`;
          if (name !== 'default' && name !== 'tiny 64/64' && name !== '300/4K') continue;
          const collected = new Collected();
          const arena = make(collected.add);
          const rewriter = new CopyTextRewriter(d, masks);
          runInRuns(messages, r, arena, collected, stage, (src, at, out) => rewriter.row(src, at, out), where);
          const outs = splitMessages(collected.all(where), where);
          expect(outs.length).toBe(messages.length);
          outs.forEach((out, i) => {
            const input = parseCopyMessage(messages[i], d, where);
            const output = parseCopyMessage(out, d, where);
            expect(output.values.length).toBe(masks.length);
            sameValues(input.values, rows[i], `${where}: the test's own encoding`);
            masks.forEach((m, k) => {
              if (m === null) expectSameBytes(output.raws[k], input.raws[k], `${where} row ${i} field ${k}`);
              else if (output.values[k]?.includes(SECRET) || output.values[k]?.includes(Buffer.from(SECRET.toString('latin1'), 'utf8'))) fail(`${where} row ${i}: masked field ${k} shows the value`);
            });
            // Constant masks: exact.
            expect(output.values[1]?.toString()).toBe('[REDACTED]');
            expect(output.values[3]?.toString()).toBe('f|x');
            expect(output.values[4]).toBeNull();
          });
        }
      }
    }
  });

  it('exact bytes: NULL stays \\N, a fixed literal comes out escaped, the text \\N stays \\\\N', () => {
    const fixedSpecial = compileMask({ kind: 'fixed', value: 'a|b\\c\nd\re' }, OID.text, 0);
    const fixedN = compileMask({ kind: 'fixed', value: '\\N' }, OID.text, 0);
    const nul = compileMask({ kind: 'null' }, OID.text, 0);
    const rewrite = (line: string, masks: CopyByteRewrite[], delimiter = '|'): string => {
      const arena = new OutputArena(() => undefined);
      new CopyTextRewriter(delimiter.charCodeAt(0), masks).row(copyMessage(Buffer.from(line, 'utf8')), 0, arena);
      const out = arena.take() ?? fail('nothing written');
      return out.subarray(5).toString('utf8');
    };
    expect(rewrite('x|\\N|z', [null, fixedSpecial, null])).toBe('x|\\N|z\n');
    expect(rewrite('x|secret|z', [null, fixedSpecial, null])).toBe('x|a\\|b\\\\c\\nd\\re|z\n');
    expect(rewrite('x|sec\\|ret|z', [null, fixedSpecial, null])).toBe('x|a\\|b\\\\c\\nd\\re|z\n');
    expect(rewrite('secret\tz', [fixedSpecial, null], '\t')).toBe('a|b\\\\c\\nd\\re\tz\n');
    expect(rewrite('secret|z', [fixedN, null])).toBe('\\\\N|z\n');
    expect(rewrite('\\\\N|z', [plain((raw) => raw), null])).toBe('\\\\N|z\n');
    expect(rewrite('secret|z', [nul, null])).toBe('\\N|z\n');
    expect(rewrite('se\\\\cret|z', [nul, null])).toBe('\\N|z\n');
    expect(rewrite('a|b|c|d', [null, plain(() => Buffer.from('X')), null, null])).toBe('a|X|c|d\n');
    expect(rewrite('a\\|b|c', [plain(() => Buffer.from('X')), null])).toBe('X|c\n');
    expect(rewrite('', [plain(() => Buffer.from('X'))])).toBe('X\n');
  });
});

// ---------------------------------------------------------------- d. the checks can fail

describe('c2. CopyTextRewriter out of order', () => {
  it('rows of one buffer rewritten backwards still see their escaped delimiters', () => {
    const d = (text: string) => {
      const b = Buffer.from(text);
      const h = Buffer.alloc(5);
      h[0] = 0x64;
      h.writeUInt32BE(4 + b.length, 1);
      return Buffer.concat([h, b]);
    };
    const r1 = d('sec\\|ret|pub\n');
    const src = Buffer.concat([r1, d('x\\\\y|z\n')]);
    const rw = new CopyTextRewriter(0x7c, [() => Buffer.from('M'), null]);
    const arena = new OutputArena(() => undefined);
    rw.row(src, r1.length, arena);
    arena.take();
    rw.row(src, 0, arena);
    expect(arena.take()?.subarray(5).toString()).toBe('M|pub\n');
  });
});

describe('d. the comparisons detect a broken rewrite', () => {
  it('an arena that corrupts one byte of what it hands out is caught (DataRow and COPY)', () => {
    class CorruptingArena extends OutputArena {
      override take(): Buffer | undefined {
        const b = super.take();
        if (b && b.length > 8) b[b.length - 2] ^= 0x01;
        return b;
      }
    }
    const corrupting: ArenaFactory = (f) => new CorruptingArena(f);
    const r = new Rng(3);
    const dataRow: DataRowCase = {
      rows: [[Buffer.from('public'), Buffer.from('secret'), Buffer.from('more')]],
      rewrites: [null, plain(() => Buffer.from('x')), null],
      description: 'corrupted',
    };
    checkDataRowCase(dataRow, r, ARENAS[0][1], false, 'control'); // the same case passes with a sound arena
    expect(() => checkDataRowCase(dataRow, r, corrupting, false, 'corrupting arena')).toThrow(/differs from reference/);
    const copy: CopyCase = { delimiter: '|', masks: [null, plain(() => Buffer.from('x')), null], rows: [['public', 'secret', 'more']], description: 'corrupted' };
    checkCopyCase(copy, r, ARENAS[0][1], false, 'control');
    expect(() => checkCopyCase(copy, r, corrupting, false, 'corrupting arena')).toThrow();
  });

  it('a fast form that writes more than its maxOut, or differs from its Buffer form, is caught', () => {
    const r = new Rng(4);
    const value = Buffer.from('xyz');
    const lying = Object.assign(() => value, {
      into: { maxOut: () => 2, write: (_s: Buffer, _a: number, _b: number, dst: Buffer, at: number) => value.copy(dst, at) },
    });
    expect(() => checkFastForm(lying, Buffer.from('abc'), r, 'lying maxOut')).toThrow(/maxOut|past at \+ maxOut/);
    const different = Object.assign(() => value, {
      into: { maxOut: () => 3, write: (_s: Buffer, _a: number, _b: number, dst: Buffer, at: number) => Buffer.from('xyZ').copy(dst, at) },
    });
    expect(() => checkFastForm(different, Buffer.from('abc'), r, 'different')).toThrow(/differs/);
    const leaky = Object.assign(() => value, {
      into: { maxOut: () => 3, write: (s: Buffer, a: number, b: number, dst: Buffer, at: number) => s.copy(dst, at, a, b) },
    });
    expect(() => checkFastForm(leaky, Buffer.from('abc'), r, 'copies its input')).toThrow(/differs/);
  });

  it('copySpan (used by both rewriters) copies exactly, short and long, through a view and with a shift', () => {
    const r = new Rng(5);
    for (let i = 0; i < 500; i++) {
      const n = r.int(100);
      const src = r.bytes(n + 10);
      const from = r.int(5);
      const to = from + n;
      const dst = Buffer.alloc(n + 20, 0xee);
      const at = r.int(10);
      expect(copySpan(src, from, to, dst, at)).toBe(n);
      expectSameBytes(dst.subarray(at, at + n), src.subarray(from, to), 'copySpan');
      expect(untouched(dst, 0, at, 0xee) && untouched(dst, at + n, dst.length, 0xee)).toBe(true);
      // shift: src is a view of dst's memory starting at dst[shift].
      const mem = Buffer.alloc(200 + src.length, 0xee);
      src.copy(mem, 200);
      const view = mem.subarray(200);
      expect(copySpan(view, from, to, mem, at, 200)).toBe(n);
      expectSameBytes(mem.subarray(at, at + n), src.subarray(from, to), 'copySpan shifted');
    }
  });
});
