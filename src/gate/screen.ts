/**
 * A cheap, conservative pre-check that lets the bulk of ordinary traffic skip
 * parsing: a single SELECT/WITH/VALUES/TABLE statement whose words name no
 * sensitive relation, no view or function that reads one, no system view that
 * exposes values and no side-channel function cannot return or leak a
 * sensitive value. Anything else (or anything unusual) takes the full path.
 *
 * The vocabulary is derived from (catalog snapshot, policy) and rebuilt when
 * either changes. Results are still checked by the wire layer (RowDescription
 * table OIDs), so a catalog that is behind is caught there.
 */
import type { CatalogSnapshot } from '../catalog/snapshot.js';
import { resolveColumn, type Policy } from '../policy/index.js';
import { readingFunctions, type AnalysisResult } from '../sql/analyze.js';
import { LineageContext, QUERY_STRING_FUNCTIONS, SIDE_CHANNEL_FUNCTIONS, SYSTEM_LEAK_RELATIONS, isStatisticsName, mentionsAny } from '../sql/lineage.js';
import { copySpan } from '../util/bytes.js';

const FAST_STARTS = new Set(['select', 'with', 'values', 'table']);
/** Words that always need the full analysis, even in a SELECT. */
const ALWAYS_ANALYZE = new Set(['into', 'copy', ...SIDE_CHANNEL_FUNCTIONS, ...SYSTEM_LEAK_RELATIONS, ...QUERY_STRING_FUNCTIONS]);
const WORD = /[a-z_\u0080-\uffff][a-z0-9_$\u0080-\uffff]*/g;

export interface Vocabulary {
  /** Plain identifiers (matched as words), and ALWAYS_ANALYZE: one lookup per word. */
  words: Set<string>;
  /**
   * Every plain word the screen can meet, for matching in place (see
   * WordIndex): BAD for the words above (and lo_*, dblink*, pg_stat*), KNOWN for the
   * catalog's other known words. A word missing from it is unknown.
   */
  index: WordIndex<WordStatus>;
  /** Names that aren't plain identifiers (matched as substrings, quotes doubled too). */
  others: string[];
}

const cache = new WeakMap<CatalogSnapshot, { policy: Policy; vocab: Vocabulary }>();

/** The analysis of a statement the screen passed: a plain read of nothing sensitive. */
export const HARMLESS_READ: AnalysisResult = Object.freeze({
  ok: true,
  statements: [Object.freeze({ kind: 'query', nodeType: 'SelectStmt', outputs: undefined, hazards: [], relations: [], unresolved: [] })],
}) as AnalysisResult;

/**
 * Verdicts per statement text, in two generations: when the young one is
 * full it becomes the old one and a fresh one starts; a text found in the old
 * generation moves back to the young. Texts that repeat stay; texts that never
 * do (a new literal each time) pass through without pushing the others out.
 */
interface Verdicts {
  policy: Policy;
  young: Map<string, boolean>;
  old: Map<string, boolean>;
  /** Lookups and hits in the current window (see screen()). */
  lookups: number;
  hits: number;
  /** Statements still to screen without the cache. */
  bypass: number;
}

/** Small enough to stay in the CPU's caches: a lookup in a large map costs more than the screen. */
const GENERATION = 512;
const screened = new WeakMap<CatalogSnapshot, Verdicts>();

/** Per window of this many lookups, fewer than WINDOW_HITS hits turn the cache off for BYPASS statements. */
const WINDOW = 1024;
const WINDOW_HITS = 64;
const BYPASS = 4 * WINDOW;

/**
 * isHarmlessRead, remembered per statement text (prepared and ORM statements
 * repeat). When texts don't repeat (a new literal in every query), looking
 * them up and storing them costs about as much as screening them: after a
 * window with almost no hits the cache is left alone for a while, then tried
 * again.
 */
export function screen(sql: string, catalog: CatalogSnapshot, policy: Policy): boolean {
  let v = screened.get(catalog);
  if (!v || v.policy !== policy) screened.set(catalog, (v = { policy, young: new Map(), old: new Map(), lookups: 0, hits: 0, bypass: 0 }));
  if (v.bypass > 0) {
    v.bypass--;
    return isHarmlessRead(sql, catalog, policy);
  }
  if (++v.lookups >= WINDOW) {
    if (v.hits < WINDOW_HITS) v.bypass = BYPASS;
    v.lookups = 0;
    v.hits = 0;
  }
  let verdict = v.young.get(sql);
  if (verdict !== undefined) {
    v.hits++;
    return verdict;
  }
  verdict = v.old.get(sql);
  if (verdict !== undefined) v.hits++;
  else verdict = isHarmlessRead(sql, catalog, policy);
  if (v.young.size >= GENERATION) {
    v.old = v.young;
    v.young = new Map();
  }
  v.young.set(sql, verdict);
  return verdict;
}

/**
 * One session's screen: it remembers the last text it passed, and a text that
 * differs from that one only in numeric constants passes without being read
 * word by word (clients that put a new literal into every query, like
 * pgbench -M simple, send little else). Such texts have the very same words
 * (see differOnlyInNumbers), and the words decide the verdict; the names the
 * screen matches as substrings are looked for again. Texts are compared as
 * the UTF-8 bytes the client sent: comparing strings costs several times more.
 */
export class SessionScreen {
  private passed = Buffer.alloc(0);
  /** Bytes of the last text passed in `passed`; -1: none to compare with. */
  private passedLength = -1;
  private catalog: CatalogSnapshot | undefined;
  private policy: Policy | undefined;
  /** The vocabulary's names matched as substrings, for (catalog, policy). */
  private others: readonly string[] = [];

  /** `text[start, end)`: the UTF-8 bytes `sql` was decoded from, when the caller has them. */
  passes(sql: string, catalog: CatalogSnapshot, policy: Policy, text?: Buffer, start = 0, end = 0): boolean {
    if (
      text !== undefined && this.passedLength >= 0 && catalog === this.catalog && policy === this.policy &&
      differOnlyInNumbers(this.passed, 0, this.passedLength, text, start, end) && !mentionsOther(sql, this.others)
    ) {
      this.remember(text, start, end);
      return true;
    }
    if (!screen(sql, catalog, policy)) return false;
    if (catalog !== this.catalog || policy !== this.policy) {
      this.catalog = catalog;
      this.policy = policy;
      this.others = vocabulary(catalog, policy).others;
    }
    if (text !== undefined) this.remember(text, start, end);
    else this.passedLength = -1;
    return true;
  }

  private remember(text: Buffer, start: number, end: number): void {
    const n = end - start;
    // Long texts are screened each time rather than kept twice.
    if (n > 4096) {
      this.passedLength = -1;
      return;
    }
    if (this.passed.length < n) this.passed = Buffer.allocUnsafe(Math.max(256, n));
    copySpan(text, start, end, this.passed, 0);
    this.passedLength = n;
  }
}

/**
 * Whether b[bStart, bEnd) is a[aStart, aEnd) with only numeric constants
 * changed (UTF-8 bytes): every difference lies in a run of ASCII digits that
 * is part of no word in either text (the bytes around it are neither
 * letters, digits, `_`, `$` nor non-ASCII). Then both texts hold the same
 * words, as isHarmlessRead reads them, in the same places between the same
 * other characters (the parts between runs begin and end with ASCII, so they
 * decode alike). Anything else (a digit in a name like t1, a parameter $1,
 * 1e5, a sign) is a difference.
 */
export function differOnlyInNumbers(a: Buffer, aStart: number, aEnd: number, b: Buffer, bStart: number, bEnd: number): boolean {
  let i = aStart;
  let j = bStart;
  for (;;) {
    // The equal stretch up to the next difference, in a loop of its own (the bulk of the work).
    const limit = Math.min(aEnd - i, bEnd - j);
    let m = 0;
    while (m < limit && a[i + m] === b[j + m]) m++;
    i += m;
    j += m;
    if (i === aEnd && j === bEnd) return true;
    // A difference: the digits just before it (the same in both) start the run.
    let k = 0;
    while (i - k > aStart && isAsciiDigit(a[i - 1 - k])) k++;
    if (i - k > aStart && continuesWord(a[i - k - 1])) return false;
    let endA = i;
    while (endA < aEnd && isAsciiDigit(a[endA])) endA++;
    let endB = j;
    while (endB < bEnd && isAsciiDigit(b[endB])) endB++;
    // The difference itself must be a digit on one side at least (else it lies
    // after the run, not in it), and both runs must have digits.
    if ((endA === i && endB === j) || endA === i - k || endB === j - k) return false;
    if ((endA < aEnd && continuesWord(a[endA])) || (endB < bEnd && continuesWord(b[endB]))) return false;
    i = endA;
    j = endB;
  }
}

function isAsciiDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** Whether c (a character, or a byte of UTF-8) can be part of a WORD (letters of either case, digits, _, $, anything non-ASCII). */
function continuesWord(c: number): boolean {
  return c >= 0x80 || (ASCII_CLASS[c] & WORD_PART) !== 0;
}

/** The vocabulary's names that aren't plain identifiers, matched as substrings of the lower-cased text. */
function mentionsOther(sql: string, others: readonly string[]): boolean {
  if (others.length === 0) return false;
  const lower = sql.toLowerCase();
  for (const name of others) if (lower.includes(name)) return true;
  return false;
}

export function isHarmlessRead(sql: string, catalog: CatalogSnapshot, policy: Policy): boolean {
  // The statement is read in place, each ASCII letter lowered as it is read:
  // no lower-cased copy, no substrings, for the words that are plain ASCII
  // (nearly all); this runs for every statement whose text changes.
  const n = sql.length;
  let i = 0;
  while (i < n && isAsciiSpace(sql.charCodeAt(i))) i++;
  const firstStart = i;
  while (i < n && isAsciiLetter(sql.charCodeAt(i))) i++;
  if (i === firstStart || !isFastStart(sql, firstStart, i)) return false;
  // Anything else before the first word or right after it (a Unicode space,
  // a letter whose lower case starts with ASCII) takes the full path.
  if (i < n && sql.charCodeAt(i) >= 0x80) return false;
  const semi = sql.indexOf(';');
  if (semi >= 0 && sql.slice(semi + 1).trim() !== '') return false;
  if (sql.includes('u&') || sql.includes('U&')) return false;
  const vocab = vocabulary(catalog, policy);
  const known = catalog.knownWords;
  // Every word, as WORD would find them in the lower-cased text.
  for (i = 0; i < n; ) {
    const c0 = sql.charCodeAt(i);
    if (c0 < 0x80 && (ASCII_CLASS[c0] & WORD_START) === 0) {
      i++;
      continue;
    }
    let hash = mixHash(HASH_SEED, c0 < 0x80 ? ASCII_LOWER[c0] : c0);
    let plain = c0 < 0x80;
    let j = i + 1;
    for (; j < n; j++) {
      const c = sql.charCodeAt(j);
      if (c < 0x80) {
        if ((ASCII_CLASS[c] & WORD_PART) === 0) break;
        hash = mixHash(hash, ASCII_LOWER[c]);
      } else {
        plain = false;
      }
    }
    if (plain) {
      const status = vocab.index.get(sql, i, j, hash);
      if (status === BAD) return false;
      if (status === undefined) {
        // A word the database didn't know when the catalog was read may name a
        // relation created since (or in the client's own transaction): analyze.
        if (known) return false;
        const first = ASCII_LOWER[c0];
        if ((first === 0x6c /* l */ && startsWithLower(sql, i, j, 'lo_')) || (first === 0x64 /* d */ && startsWithLower(sql, i, j, 'dblink'))) return false;
        if (first === 0x70 /* p */ && startsWithLower(sql, i, j, 'pg_stat')) return false;
      }
    } else if (!harmlessWord(sql.slice(i, j).toLowerCase(), vocab, known)) return false;
    i = j;
  }
  return !mentionsOther(sql, vocab.others);
}

/** The word checks of isHarmlessRead, for a word with non-ASCII letters (lower-cased the way the whole text would be). */
function harmlessWord(w: string, vocab: Vocabulary, known: ReadonlySet<string> | undefined): boolean {
  // Lower-casing can change a word's length or letters: split it again as WORD would.
  for (const part of w.match(WORD) ?? []) {
    if (vocab.words.has(part) || (known && !known.has(part)) || part.startsWith('lo_') || part.startsWith('dblink') || part.startsWith('pg_stat')) return false;
  }
  return true;
}

function isAsciiSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

function isAsciiLetter(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a);
}

function lowerAscii(c: number): number {
  return c >= 0x41 && c <= 0x5a ? c + 0x20 : c;
}

function startsWithLower(text: string, start: number, end: number, prefix: string): boolean {
  if (end - start < prefix.length) return false;
  for (let k = 0; k < prefix.length; k++) if (lowerAscii(text.charCodeAt(start + k)) !== prefix.charCodeAt(k)) return false;
  return true;
}

function isFastStart(text: string, start: number, end: number): boolean {
  for (const word of FAST_STARTS) if (end - start === word.length && startsWithLower(text, start, end, word)) return true;
  return false;
}

const HASH_SEED = 0x811c9dc5 | 0;

/** FNV-1a step, kept within small-integer range (fast Map keys). */
function mixHash(hash: number, c: number): number {
  return Math.imul(hash ^ c, 16777619) & 0x3fffffff;
}

/**
 * Plain lower-case ASCII words, each with a value, found by a hash computed
 * while scanning: a statement's words are matched in place, without cutting
 * them out.
 */
export class WordIndex<V> {
  private readonly buckets = new Map<number, { word: string; value: V }[]>();

  constructor(words: Iterable<[string, V]>) {
    for (const [word, value] of words) {
      let hash = HASH_SEED;
      for (let k = 0; k < word.length; k++) hash = mixHash(hash, word.charCodeAt(k));
      const list = this.buckets.get(hash);
      if (list) list.push({ word, value });
      else this.buckets.set(hash, [{ word, value }]);
    }
  }

  /** The value of text[start, end) (ASCII letters lowered), if it is one of the words; `hash` as isHarmlessRead computes it. */
  get(text: string, start: number, end: number, hash: number): V | undefined {
    const list = this.buckets.get(hash);
    if (!list) return undefined;
    const len = end - start;
    for (const { word, value } of list) {
      if (word.length !== len) continue;
      let k = 0;
      while (k < len && word.charCodeAt(k) === lowerAscii(text.charCodeAt(start + k))) k++;
      if (k === len) return value;
    }
    return undefined;
  }
}

type WordStatus = 0 | 1;
const KNOWN: WordStatus = 0;
const BAD: WordStatus = 1;

const WORD_START = 1;
const WORD_PART = 2;
/** For ASCII: which characters start and continue a WORD ([a-zA-Z_] / [a-zA-Z0-9_$]), and their lower case. */
const ASCII_CLASS = new Uint8Array(128);
const ASCII_LOWER = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const l = lowerAscii(c);
  ASCII_LOWER[c] = l;
  if (isWordStart(l)) ASCII_CLASS[c] |= WORD_START;
  if (isWordPart(l)) ASCII_CLASS[c] |= WORD_PART;
}

/** [a-z_\u0080-\uffff]: where a WORD starts. */
function isWordStart(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || c === 0x5f || c >= 0x80;
}

/** [a-z0-9_$\u0080-\uffff]: what a WORD continues with. */
function isWordPart(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x24 || c >= 0x80;
}

/** The names that send a statement to the full analysis (exported for tests). */
export function vocabulary(catalog: CatalogSnapshot, policy: Policy): Vocabulary {
  const hit = cache.get(catalog);
  if (hit && hit.policy === policy) return hit.vocab;
  const names = new Set<string>();
  const lineage = new LineageContext(catalog);
  const sensitiveKey = (rel: number, attnum: number): boolean => {
    const info = catalog.relation(rel);
    const col = info?.columns.find((c) => c.attnum === attnum);
    if (!info || !col) return false;
    if (resolveColumn(policy, info.schema, info.name, col.name)) return true;
    return info.ancestors.some((a) => {
      const p = catalog.relation(a);
      return p !== undefined && resolveColumn(policy, p.schema, p.name, col.name) !== undefined;
    });
  };
  for (const rel of catalog.data.relations) {
    if (rel.viewDefinition !== undefined) continue;
    if (rel.columns.some((c) => sensitiveKey(rel.oid, c.attnum))) names.add(rel.name.toLowerCase());
  }
  // Views and functions that mention a sensitive name, until nothing new is found.
  for (let grew = true; grew; ) {
    grew = false;
    for (const rel of catalog.data.relations) {
      const name = rel.name.toLowerCase();
      if (rel.viewDefinition === undefined || names.has(name)) continue;
      const viaLineage = lineage.relationColumns(rel).some((c) => [...c.sources].some((k) => {
        if (k.startsWith('view:')) return true;
        const [r, a] = k.split(':').map(Number);
        return sensitiveKey(r, a);
      }));
      if (viaLineage || mentionsAny(rel.viewDefinition, names)) {
        names.add(name);
        grew = true;
      }
    }
    for (const fn of catalog.data.functions) {
      const name = fn.name.toLowerCase();
      if (names.has(name) || fn.language === 'c' || fn.language === 'internal') continue;
      // What the analyzer would find in the body (dynamic SQL = anything), or a sensitive name.
      if (lineage.codeReads(fn.body, fn.language).size > 0 || mentionsAny(fn.body, names)) {
        names.add(name);
        grew = true;
      }
    }
  }
  // Functions that may change client_encoding or standard_conforming_strings need the full analysis too.
  for (const n of readingFunctions(catalog)) names.add(n);
  const words = new Set(ALWAYS_ANALYZE);
  // User-written operators run code the screen can't see: statements that may use one are analyzed.
  const others: string[] = [...catalog.operatorNames()];
  for (const n of names) {
    if (/^[a-z_][a-z0-9_$]*$/.test(n)) words.add(n);
    else {
      others.push(n);
      if (n.includes('"')) others.push(n.replace(/"/g, '""'));
    }
  }
  const statuses = new Map<string, WordStatus>();
  for (const w of catalog.knownWords ?? []) {
    if (/^[a-z_][a-z0-9_$]*$/.test(w)) statuses.set(w, w.startsWith('lo_') || w.startsWith('dblink') || isStatisticsName(w) ? BAD : KNOWN);
  }
  for (const w of words) statuses.set(w, BAD);
  const vocab: Vocabulary = { words, index: new WordIndex(statuses), others };
  cache.set(catalog, { policy, vocab });
  return vocab;
}


