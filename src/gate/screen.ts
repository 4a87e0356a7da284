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
import { LineageContext, QUERY_STRING_FUNCTIONS, SIDE_CHANNEL_FUNCTIONS, SYSTEM_LEAK_RELATIONS } from '../sql/lineage.js';

const FAST_STARTS = new Set(['select', 'with', 'values', 'table']);
/** Words that always need the full analysis, even in a SELECT. */
const ALWAYS_ANALYZE = new Set(['into', 'copy', ...SIDE_CHANNEL_FUNCTIONS, ...SYSTEM_LEAK_RELATIONS, ...QUERY_STRING_FUNCTIONS]);
const WORD = /[a-z_\u0080-\uffff][a-z0-9_$\u0080-\uffff]*/g;

interface Vocabulary {
  /** Plain identifiers (matched as words), and ALWAYS_ANALYZE: one lookup per word. */
  words: Set<string>;
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
}

/** Small enough to stay in the CPU's caches: a lookup in a large map costs more than the screen. */
const GENERATION = 512;
const screened = new WeakMap<CatalogSnapshot, Verdicts>();

/** isHarmlessRead, remembered per statement text (prepared and ORM statements repeat). */
export function screen(sql: string, catalog: CatalogSnapshot, policy: Policy): boolean {
  let v = screened.get(catalog);
  if (!v || v.policy !== policy) screened.set(catalog, (v = { policy, young: new Map(), old: new Map() }));
  let verdict = v.young.get(sql);
  if (verdict !== undefined) return verdict;
  verdict = v.old.get(sql) ?? isHarmlessRead(sql, catalog, policy);
  if (v.young.size >= GENERATION) {
    v.old = v.young;
    v.young = new Map();
  }
  v.young.set(sql, verdict);
  return verdict;
}

export function isHarmlessRead(sql: string, catalog: CatalogSnapshot, policy: Policy): boolean {
  const lower = sql.toLowerCase();
  const first = /^\s*([a-z]+)/.exec(lower);
  if (!first || !FAST_STARTS.has(first[1])) return false;
  const semi = lower.indexOf(';');
  if (semi >= 0 && lower.slice(semi + 1).trim() !== '') return false;
  if (lower.includes('u&')) return false;
  const vocab = vocabulary(catalog, policy);
  const known = catalog.knownWords;
  // Every word, as WORD would find them (a hand-written scan: no match array,
  // no regex; this runs for every statement whose text changes, like literals).
  const n = lower.length;
  for (let i = 0; i < n; ) {
    if (!isWordStart(lower.charCodeAt(i))) {
      i++;
      continue;
    }
    let j = i + 1;
    while (j < n && isWordPart(lower.charCodeAt(j))) j++;
    const w = lower.slice(i, j);
    if (vocab.words.has(w)) return false;
    // A word the database didn't know when the catalog was read may name a
    // relation created since (or in the client's own transaction): analyze.
    if (known && !known.has(w)) return false;
    const c = w.charCodeAt(0);
    if ((c === 0x6c /* l */ && w.startsWith('lo_')) || (c === 0x64 /* d */ && w.startsWith('dblink'))) return false;
    i = j;
  }
  for (const name of vocab.others) if (lower.includes(name)) return false;
  return true;
}

/** [a-z_\u0080-\uffff]: where a WORD starts. */
function isWordStart(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || c === 0x5f || c >= 0x80;
}

/** [a-z0-9_$\u0080-\uffff]: what a WORD continues with. */
function isWordPart(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x24 || c >= 0x80;
}

function vocabulary(catalog: CatalogSnapshot, policy: Policy): Vocabulary {
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
      if (viaLineage || mentions(rel.viewDefinition, names)) {
        names.add(name);
        grew = true;
      }
    }
    for (const fn of catalog.data.functions) {
      const name = fn.name.toLowerCase();
      if (names.has(name) || fn.language === 'c' || fn.language === 'internal') continue;
      // What the analyzer would find in the body (dynamic SQL = anything), or a sensitive name.
      if (lineage.codeReads(fn.body, fn.language).size > 0 || mentions(fn.body, names)) {
        names.add(name);
        grew = true;
      }
    }
  }
  // Functions that may change client_encoding or standard_conforming_strings need the full analysis too.
  for (const n of readingFunctions(catalog)) names.add(n);
  const vocab: Vocabulary = { words: new Set(ALWAYS_ANALYZE), others: [] };
  for (const n of names) {
    if (/^[a-z_][a-z0-9_$]*$/.test(n)) vocab.words.add(n);
    else {
      vocab.others.push(n);
      if (n.includes('"')) vocab.others.push(n.replace(/"/g, '""'));
    }
  }
  cache.set(catalog, { policy, vocab });
  return vocab;
}

function mentions(text: string, names: Set<string>): boolean {
  const lower = text.toLowerCase();
  for (const w of lower.match(WORD) ?? []) if (names.has(w)) return true;
  for (const n of names) if (!/^[a-z_][a-z0-9_$]*$/.test(n) && lower.includes(n)) return true;
  return false;
}
