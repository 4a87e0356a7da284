/**
 * The PII classifier of `pgveil scan`: looks at one column's name, type and
 * sampled values and says which kinds of personal or secret data it holds.
 *
 * Evidence and how it is weighed:
 *  - value detectors (detectors.ts) run over the non-null sampled values; the
 *    share that matched decides. Checksummed or structured shapes (Luhn + issuer
 *    range, IBAN mod 97, JWT, vendor key prefixes, password-hash formats) are
 *    believed at lower shares than plain shapes (phone, bare digits, entropy);
 *  - column-level checks tell look-alikes apart: SSN-shaped order numbers are
 *    sequential, share a prefix or break the SSA validity rules; dotted quads
 *    whose parts are all small are versions, not IPs; dates with times of day,
 *    or within the last ten years, are events, not birthdays; NANP-shaped part
 *    numbers break the area/exchange rules; bare numbers (bigint phones) must
 *    pass country codes and national lengths, be spread and carry no check
 *    digit; ranges (`10.0.0.0/8`, cidr columns) are networks, not addresses;
 *  - values that carry their class with them: forms of address (`Dr.`, `Mrs`)
 *    before names, RFC 4648 base32 key material (TOTP seeds), postal codes in
 *    formats few other values share (under an address-like name);
 *  - the column name (name-hints.ts): a positive hint lowers the share values
 *    need and is a finding on its own when there are no values to look at; a
 *    qualifying word (`email_verified`) or values that contradict the name make
 *    it weak; a contrary name (`order_no`, `version`, `created_at`, `checksum`)
 *    lowers what weak value shapes can claim. A strong value signal under a
 *    neutral name (`c7` full of valid, well-spread SSNs) still wins. A digest
 *    of a generated token (`token_sha256`) is not a secret; of a password it is;
 *  - JSON documents cut short by the scanner's bound are read up to the cut
 *    (parseTruncatedJson), so keys near the start keep their paths.
 *
 * Confidence ≥ SENSITIVE_CONFIDENCE means "sensitive". Lower-confidence
 * findings (down to 0.1) are still returned so a report can show near misses.
 *
 * A finding never carries a sampled value: detectors are fixed strings, JSON
 * paths are built from keys that look like schema keys (other keys, which may
 * themselves be data, become `*`).
 */
import { analyzeName, type NameHints } from './name-hints.js';
import {
  MAX_VALUE_CHARS,
  e164DigitsValid,
  findPiiInText,
  ipKind,
  ipVersion,
  ipv4Octets,
  isApiKey,
  isBase32Secret,
  isCardNumber,
  isDistinctivePostalCode,
  isEmailAddress,
  isHexDigest,
  isHighEntropyToken,
  isIban,
  isJwt,
  isPasswordHash,
  isPostalCode,
  isPrivateKey,
  knownNameWord,
  luhnValid,
  nanpDigits,
  nanpValid,
  parseDate,
  parseSsn,
  personNameShape,
  phoneKind,
  ssnValid,
  type NameShape,
  type SsnParts,
  type TextPiiKind,
} from './detectors.js';
import type { ColumnSample, Finding, PiiClass } from './types.js';

/** Findings at or above this confidence count as sensitive. */
export const SENSITIVE_CONFIDENCE = 0.5;

/** Findings below this are noise (one random id in 200 passing Luhn) and are dropped. */
const REPORT_FLOOR = 0.1;

// ---------------------------------------------------------------- column types

type Family = 'text' | 'json' | 'inet' | 'date' | 'timestamp' | 'number' | 'bool' | 'other';

interface TypeInfo {
  readonly family: Family;
  /** A PostgreSQL array of the family (`text[]`): values are array literals. */
  readonly array: boolean;
}

/** `cidr` (or `cidr[]`): the type holds networks; a host only as a /32 or /128 network. */
function networkType(dataType: string): boolean {
  return /^_?cidr(?:\[\])?$/.test(dataType.trim().toLowerCase());
}

/** What the classifier needs to know about a `format_type()` string. */
export function typeFamily(dataType: string): TypeInfo {
  const t = dataType.trim().toLowerCase();
  const array = t.endsWith('[]') || t.startsWith('_');
  const base = t.replace(/\[\]$/, '').replace(/^_/, '').replace(/\(.*\)$/, '').trim();
  let family: Family;
  if (base === 'json' || base === 'jsonb') family = 'json';
  else if (base === 'inet' || base === 'cidr') family = 'inet';
  else if (base === 'date') family = 'date';
  else if (base.startsWith('timestamp')) family = 'timestamp';
  else if (/^(?:smallint|integer|bigint|int[248]?|numeric|decimal|real|double precision|float[48]?|smallserial|serial|bigserial|money|oid)$/.test(base)) family = 'number';
  else if (base === 'boolean' || base === 'bool') family = 'bool';
  else if (/^(?:time|interval|point|line|lseg|box|path|polygon|circle|tsvector|tsquery|macaddr8?|bit|bit varying|varbit|pg_lsn|regclass|regtype|regproc|xid|cid|tid|\w*range|\w*multirange)\b/.test(base)) family = 'other';
  else family = 'text'; // text, varchar, char, citext, uuid, bytea, xml, enums, domains …
  return { family, array };
}

// ---------------------------------------------------------------- column under analysis

interface Column {
  readonly hints: NameHints;
  readonly family: Family;
  /** Declared `cidr` (networks), see networkType. */
  readonly network?: boolean;
  /** Non-null, non-placeholder values, trimmed and cut to MAX_VALUE_CHARS. */
  readonly values: readonly string[];
}

/** Values that mean "nothing here" and must not count for or against a detector. */
const PLACEHOLDERS = new Set(['', 'null', 'none', 'n/a', 'na', '-', '--', '?', 'unknown', 'nil', 'undefined', '{}', '[]', '""']);

function usable(values: readonly (string | null)[]): string[] {
  const out: string[] = [];
  for (const v of values) {
    if (v === null) continue;
    const t = v.trim();
    if (PLACEHOLDERS.has(t.toLowerCase())) continue;
    out.push(t);
  }
  return out;
}

function cap(v: string): string {
  return v.length > MAX_VALUE_CHARS ? v.slice(0, MAX_VALUE_CHARS) : v;
}

// ---------------------------------------------------------------- scoring helpers

/**
 * Value-only confidence from a match share: `atMin` at `minShare` rising to
 * `atFull` at 1; below `minShare` it stays under the threshold (0..0.45).
 */
function byShare(share: number, minShare: number, atMin: number, atFull: number): number {
  if (share >= minShare) return minShare >= 1 ? atFull : atMin + ((atFull - atMin) * (share - minShare)) / (1 - minShare);
  return (0.45 * share) / minShare;
}

function count<T>(values: readonly T[], pred: (v: T) => boolean): number {
  let n = 0;
  for (const v of values) if (pred(v)) n++;
  return n;
}

function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(Math.max(0, Math.min(1, x)) * f) / f;
}

interface Outcome {
  readonly cls: PiiClass;
  /** Values consistent with the class (what matchRate reports). */
  readonly matched: number;
  /** Confidence from the values alone (the name neutral). */
  readonly valueConf: number;
  readonly detector: string;
  /** Share of values that must agree for a positive name hint to carry the finding. */
  readonly hintMinShare: number;
  /** Positive hint strength to use (defaults to the name's). */
  readonly hint?: number;
}

/**
 * Combines value evidence with the name. With no values, a positive hint is a
 * name-only finding (confidence = hint strength, matchRate 0). With values, a
 * hint the values agree with raises the confidence; one they contradict fades
 * to below the threshold.
 */
function finish(c: Column, o: Outcome): Finding | null {
  const n = c.values.length;
  const hint = o.hint ?? c.hints.positive.get(o.cls) ?? 0;
  if (n === 0) return hint > 0 ? { class: o.cls, confidence: round(hint), matchRate: 0, detector: `name:${o.cls}` } : null;
  if (o.matched === 0 && hint === 0) return null;
  const share = o.matched / n;
  let conf = o.valueConf;
  let detector = o.detector;
  if (hint > 0) {
    if (share >= o.hintMinShare) {
      conf = Math.max(conf, Math.min(0.97, 0.72 + 0.25 * share + 0.1 * hint));
    } else {
      const faded = hint * (0.4 + (0.5 * share) / o.hintMinShare);
      if (faded > conf) {
        conf = faded;
        detector = `name:${o.cls}`;
      }
    }
  }
  if (o.matched === 0) detector = `name:${o.cls}`;
  return { class: o.cls, confidence: round(conf), matchRate: round(share, 3), detector };
}

// ---------------------------------------------------------------- email, phone

/** A class told by one value test: confident from `minShare` of matching values on, `low`..`high` as the share grows. */
function scoreByTest(c: Column, cls: PiiClass, test: (v: string) => boolean, detector: string, minShare: number, low: number, high: number): Finding | null {
  const n = c.values.length;
  const m = count(c.values, test);
  return finish(c, { cls, matched: m, valueConf: byShare(n ? m / n : 0, minShare, low, high), detector, hintMinShare: 0.3 });
}

function scoreEmail(c: Column): Finding | null {
  return scoreByTest(c, 'email', isEmailAddress, 'value:email', 0.5, 0.7, 0.95);
}

/** Numbers that run in sequence or sit close together: ids, not phone numbers or SSNs. */
function clusteredNumbers(xs: readonly number[], gap: number): boolean {
  if (xs.length < 3) return false;
  const s = [...xs].sort((a, b) => a - b);
  let close = 0;
  for (let i = 1; i < s.length; i++) if (s[i] - s[i - 1] <= gap) close++;
  return close / (s.length - 1) >= 0.5;
}

/**
 * Phone numbers: written as phones (`strong`) they count under any name; bare
 * digits (`weak`) only under a phone name, or when a whole column of them passes
 * the numbering plans (country code + national length, NANP area/exchange rules)
 * and is spread like subscribers' numbers (bigint columns of E.164 digits).
 * Column-level checks: NANP-shaped values of which many break the area/exchange
 * rules are part numbers; digit groups without trunk prefix (`612 345 678`) are
 * phones only when the column keeps one length (amounts with thousands
 * separators do not).
 */
function scorePhone(c: Column): Finding | null {
  const n = c.values.length;
  let strong = 0;
  let weak = 0;
  let strongNanp = 0;
  let nanpShaped = 0;
  let nanpInvalid = 0;
  const groupedLengths = new Map<number, number>();
  let grouped = 0;
  let groupedLuhn = 0;
  const bare: number[] = [];
  let bareLuhn = 0;
  for (const v of c.values) {
    const k = phoneKind(v);
    if (k === null) continue;
    const nanp = k === 'grouped' ? null : nanpDigits(v);
    if (nanp !== null) {
      nanpShaped++;
      if (!nanpValid(nanp)) nanpInvalid++;
    }
    if (k === 'strong') {
      strong++;
      if (nanp !== null) strongNanp++;
    } else if (k === 'grouped') {
      grouped++;
      const d = v.replace(/\D/g, '');
      groupedLengths.set(d.length, (groupedLengths.get(d.length) ?? 0) + 1);
      if (luhnValid(d)) groupedLuhn++;
    } else {
      weak++;
      if (/^\d{10,15}$/.test(v) && (v.length === 10 ? nanpValid(v) : e164DigitsValid(v))) {
        bare.push(Number(v));
        if (luhnValid(v)) bareLuhn++;
      }
    }
  }
  // Real NANP numbers never have an area code or exchange starting with 0/1; random digits do 36% of the time.
  if (nanpShaped >= 5 && nanpInvalid / nanpShaped > 0.1) {
    strong -= strongNanp;
    weak += strongNanp;
  }
  // Grouped digits of one length and many distinct values are national phone numbers.
  let mostLen = 0;
  for (const k of groupedLengths.values()) mostLen = Math.max(mostLen, k);
  // Numbers carrying a check digit (SIREN `732 829 320`, IMEI) are identifiers: phone numbers pass Luhn one time in ten.
  const groupedAsPhones = grouped >= 3 && mostLen >= 0.9 * grouped && new Set(c.values).size >= 0.8 * n && groupedLuhn < 0.5 * grouped;
  if (groupedAsPhones) strong += grouped;
  else weak += grouped;

  const hint = c.hints.positive.get('phone') ?? 0;
  // Bare digits are phones only when the name says so (or see below).
  let matched = hint > 0 ? strong + weak : strong;
  let valueConf = byShare(n ? strong / n : 0, 0.7, 0.6, 0.88);
  let detector = 'value:phone';
  // A column of bare numbers that all pass the numbering plans, all distinct, not in sequence:
  // random ids of 10–15 digits fail the country-code/length/NANP checks far more often.
  const bareShare = n ? bare.length / n : 0;
  // (Uniform 10-digit ids pass 72–80% of the time, 11-digit ones about half: 95% of 30+ values do not happen by chance.)
  if (hint === 0 && n >= 30 && bareShare >= 0.95 && new Set(bare).size >= 0.95 * bare.length && bareLuhn < 0.5 * bare.length && !clusteredNumbers(bare, 10_000)) {
    const bareConf = byShare(bareShare, 0.95, 0.55, 0.65);
    if (bareConf > valueConf) {
      valueConf = bareConf;
      matched = Math.max(matched, bare.length);
      detector = 'value:phone_digits';
    }
  }
  // `part_number` values written 555-123-4567 are more likely codes than phones.
  valueConf -= 0.4 * c.hints.contrary;
  return finish(c, { cls: 'phone', matched, valueConf, detector, hintMinShare: 0.3 });
}

// ---------------------------------------------------------------- SSN

/**
 * SSN-shaped identifiers are told apart from SSNs by their distribution:
 * issued SSNs spread over hundreds of area numbers and are never near each
 * other, while order/invoice numbers share a prefix or run in sequence.
 */
function ssnClustered(parts: readonly SsnParts[]): boolean {
  const n = parts.length;
  if (n < 3) return false;
  const areas = new Set(parts.map((p) => p.area)).size;
  // Distinct areas expected from n uniform draws over the ~899 valid areas; regional
  // (pre-2011) SSNs cluster too, so only a tenth of that counts as clustered.
  const expected = 899 * (1 - Math.pow(1 - 1 / 899, n));
  if (areas < Math.max(2, 0.1 * expected)) return true;
  const numbers = parts.map((p) => p.area * 1_000_000 + p.group * 10_000 + p.serial).sort((a, b) => a - b);
  let close = 0;
  for (let i = 1; i < n; i++) if (numbers[i] - numbers[i - 1] <= 10_000) close++;
  return close / (n - 1) >= 0.5;
}

function scoreSsn(c: Column): Finding | null {
  const n = c.values.length;
  const nameHint = c.hints.positive.get('ssn') ?? 0;
  // Integer columns drop leading zeros (SSN 012-34-5678 is stored 12345678). Read 7–8 digit
  // numbers as such when the name says SSN, or when most values have 9 digits anyway.
  const numeric = c.family === 'number';
  const short = numeric ? count(c.values, (v) => /^\d{7,8}$/.test(v)) : 0;
  const shortShare = n ? short / n : 0;
  const allowShort = numeric && (nameHint >= 0.5 || shortShare <= 0.3);
  let shaped = 0;
  const valid: SsnParts[] = [];
  for (const v of c.values) {
    const p = parseSsn(v, allowShort);
    if (p === null) continue;
    shaped++;
    if (ssnValid(p)) valid.push(p);
  }
  let valueConf = 0;
  let wellFormed = false;
  if (n > 0 && valid.length > 0) {
    const invalidShare = (shaped - valid.length) / shaped;
    const formatted = count(valid, (p) => p.formatted) / valid.length >= 0.8;
    // Random 9-digit numbers break the validity rules ~11% of the time; issued SSNs never do.
    wellFormed = shaped / n >= 0.6 && invalidShare <= 0.03 && !ssnClustered(valid);
    if (wellFormed) {
      // Integers: 9-digit numbers below 900,000,000 are common ids. What sets SSNs apart is the
      // leading-zero signature: some 7–8 digit values (areas 001–099) among 9-digit ones that
      // all obey the SSA rules. Without it, integers stay a near miss.
      const leadingZeros = numeric && short >= 2 && shortShare >= 0.02 && shortShare <= 0.3;
      const top = formatted ? 0.92 : c.family === 'text' ? 0.62 : leadingZeros ? 0.58 : 0.45;
      valueConf = byShare(valid.length / n, 0.8, top - 0.12, top);
    } else {
      valueConf = Math.min(0.4, 0.4 * (valid.length / n));
    }
    // `order_no`/`invoice_ref` outweigh SSN-shaped values; a generic `ref`/`code` only a weak signal.
    valueConf -= 0.45 * c.hints.contrary;
  }
  // `ssn` is believed on its own; `id_number`/`national_id` only with well-formed values.
  const hint = nameHint >= 0.5 || wellFormed || n === 0 ? nameHint : 0;
  return finish(c, { cls: 'ssn', matched: valid.length, valueConf, detector: 'value:ssn', hintMinShare: 0.3, hint });
}

// ---------------------------------------------------------------- cards, IBAN

function scoreCard(c: Column): Finding | null {
  const n = c.values.length;
  const m = count(c.values, isCardNumber);
  let valueConf = byShare(n ? m / n : 0, 0.5, 0.7, 0.95);
  // A name saying "id" makes a column of Luhn-valid numbers a bit less likely to be cards,
  // but one random id in ten passes Luhn: a column where nearly all do is not chance.
  if (c.hints.identifierLike) valueConf -= 0.2;
  return finish(c, { cls: 'card', matched: m, valueConf, detector: 'value:luhn', hintMinShare: 0.3 });
}

function scoreIban(c: Column): Finding | null {
  return scoreByTest(c, 'iban', isIban, 'value:iban', 0.5, 0.75, 0.95);
}

// ---------------------------------------------------------------- IP addresses

/**
 * IP addresses. An `inet` column holds addresses whatever it is called; a `cidr`
 * column, an inet column of ranges (`10.0.0.0/8`) or one named like a network
 * (`allowed_cidr`, `subnet`) holds networks, which name no one: the type alone
 * does not make those sensitive, only host addresses in them do.
 */
function scoreIp(c: Column): Finding | null {
  const n = c.values.length;
  if (c.family === 'inet') {
    const hosts = count(c.values, (v) => ipKind(v) === 'host');
    const networkish = c.network === true || c.hints.networkLike;
    if (n === 0) return { class: 'ip_address', confidence: networkish ? 0.3 : 0.9, matchRate: 0, detector: 'type:inet' };
    const share = hosts / n;
    let conf = share >= 0.5 ? 0.95 : 0.45 * share;
    // Single hosts in an allow-list are an organisation's addresses more often than a person's.
    if (c.hints.networkLike) conf = Math.min(conf, 0.4);
    if (c.network === true && share < 0.9) conf = Math.min(conf, 0.45 * share);
    return finish(c, { cls: 'ip_address', matched: hosts, valueConf: conf, detector: 'type:inet', hintMinShare: 0.3 });
  }
  let v4 = 0;
  let v6 = 0;
  let spread = 0;
  for (const v of c.values) {
    // A range (`10.0.0.0/8`) is a network, not someone's address.
    if (ipKind(v) === 'network') continue;
    const octets = ipv4Octets(v);
    if (octets !== null) {
      v4++;
      // Version strings (1.2.10.4, 10.4.2.1) keep every part small; addresses rarely do.
      if (Math.max(...octets) >= 32) spread++;
    } else if (ipVersion(v) === 6) {
      v6++;
    }
  }
  let valueConf = byShare(n ? (v4 + v6) / n : 0, 0.7, 0.65, 0.9);
  const versionShaped = v4 > v6 && spread / Math.max(1, v4) < 0.5;
  if (versionShaped) valueConf = Math.min(valueConf, 0.35);
  if (c.hints.versionLike) valueConf -= 0.5;
  if (c.hints.networkLike) valueConf -= 0.5;
  return finish(c, { cls: 'ip_address', matched: v4 + v6, valueConf, detector: 'value:ip', hintMinShare: 0.3 });
}

// ---------------------------------------------------------------- dates of birth

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function stddev(xs: readonly number[]): number {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  return Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
}

function scoreDob(c: Column): Finding | null {
  const n = c.values.length;
  const hint = c.hints.positive.get('dob') ?? 0;
  const nowYear = new Date().getUTCFullYear();
  const years: number[] = [];
  let withTime = 0;
  let past = 0;
  for (const v of c.values) {
    const d = parseDate(v, hint > 0);
    if (d === null) continue;
    years.push(d.year);
    if (d.hasTime) withTime++;
    if (d.year >= 1900 && d.year <= nowYear) past++;
  }
  let valueConf = 0;
  let matched = past;
  if (hint === 0) {
    // Without a name saying "birth", only a distribution that looks like people's ages:
    // dates without times of day, none in the future or before 1900, mostly adults,
    // ages spread over decades around a middle-aged median. Event dates cluster in
    // recent years (median age of a few years) or carry times of day.
    const adult = count(years, (y) => y >= 1900 && y <= nowYear - 10);
    matched = adult;
    const age = nowYear - median(years);
    const birthLike =
      n >= 5 &&
      years.length / n >= 0.8 &&
      past / years.length >= 0.98 &&
      adult / years.length >= 0.85 &&
      withTime / years.length <= 0.05 &&
      stddev(years) >= 8 &&
      age >= 20 &&
      age <= 85;
    if (birthLike && !c.hints.eventTime && !c.hints.identifierLike) valueConf = 0.62;
  }
  return finish(c, { cls: 'dob', matched, valueConf, detector: 'value:dob', hintMinShare: 0.5 });
}

// ---------------------------------------------------------------- postal codes

/**
 * Five digits alone are anything: a postal code needs address context. A postal
 * name (`zip`, `postcode`) believes any postal shape. Formats few other values
 * share (UK `SW1A 1AA`, Canada `K1A 0B1`, Netherlands `1234 AB`, Eircode, ZIP+4)
 * are believed under a name that places the column in an address
 * (`shipping_code`, `address_pc`), and are a near miss under a neutral name.
 */
function scorePostal(c: Column): Finding | null {
  const n = c.values.length;
  if ((c.hints.positive.get('postal_code') ?? 0) === 0) {
    if (n < 3 || c.family !== 'text') return null;
    const distinctive = count(c.values, isDistinctivePostalCode);
    const share = distinctive / n;
    if (share < 0.8) return null;
    const conf = c.hints.addressLike ? byShare(share, 0.8, 0.6, 0.8) : 0.4;
    return { class: 'postal_code', confidence: round(conf), matchRate: round(share, 3), detector: 'value:postal_format' };
  }
  const m = count(c.values, (v) => isPostalCode(v, c.family === 'number'));
  return finish(c, { cls: 'postal_code', matched: m, valueConf: 0, detector: 'value:postal', hintMinShare: 0.6 });
}

// ---------------------------------------------------------------- person names

/**
 * Full names of people rather than of things: mostly 2–3 words, many distinct
 * values, and no word shared by a large part of them (product and company names
 * reuse a small vocabulary: "Steel", "Chair", "LLC").
 */
function looksLikeFullNames(shapes: readonly NameShape[], n: number): boolean {
  if (shapes.length < Math.max(3, 0.8 * n)) return false;
  const multi = count(shapes, (s) => s.words.length >= 2 && s.words.length <= 3);
  if (multi < 0.7 * shapes.length) return false;
  const distinct = new Set(shapes.map((s) => s.words.join(' '))).size;
  if (distinct < Math.min(20, 0.5 * shapes.length)) return false;
  const wordCounts = new Map<string, number>();
  for (const s of shapes) for (const w of new Set(s.words)) wordCounts.set(w, (wordCounts.get(w) ?? 0) + 1);
  let most = 0;
  for (const c of wordCounts.values()) most = Math.max(most, c);
  return most <= 0.2 * shapes.length;
}

function scorePersonName(c: Column): Finding | null {
  const n = c.values.length;
  const nameHint = c.hints.positive.get('person_name') ?? 0;
  const shapes: NameShape[] = [];
  let capsShaped = 0;
  let known = 0;
  let titled = 0;
  for (const v of c.values) {
    const s = personNameShape(v);
    if (s === null) continue;
    if (s.allCaps) capsShaped++;
    else shapes.push(s);
    if (s.titled) titled++;
    if (knownNameWord(s.words)) known++;
  }
  if (n === 0) return finish(c, { cls: 'person_name', matched: 0, valueConf: 0, detector: 'value:name_shape', hintMinShare: 0.6 });
  const shaped = shapes.length;
  // Names written in capitals (`SMITH, JOHN` exports) count for the dictionary test, not for the shape alone.
  const anyCaseShaped = shaped + capsShaped;
  const knownShare = known / n;
  const titledShare = titled / n;
  let valueConf = 0;
  let detector = 'value:name_shape';
  const distinct = new Set(c.values).size;
  const manyDistinct = distinct >= Math.min(20, 0.5 * n) && n >= 3;
  let dictionary = false;
  // Capitalised words are also cities, products, colours and statuses: without a
  // name hint, require common given names/surnames and many distinct values.
  if (anyCaseShaped / n >= 0.8 && knownShare >= 0.4 && manyDistinct) {
    valueConf = 0.55 + 0.3 * Math.min(1, (knownShare - 0.4) / 0.4);
    if (c.hints.nonPersonName || c.hints.identifierLike) valueConf -= 0.4;
    dictionary = valueConf >= SENSITIVE_CONFIDENCE;
    if (dictionary) detector = 'value:name_dictionary';
  } else {
    valueConf = Math.min(0.35, 0.35 * knownShare);
  }
  // A form of address (`Dr.`, `Mrs`, `Herr`) before a name is given to people, not to
  // products or places: most values titled, whatever the words, is a column of names.
  if (titledShare >= 0.5 && anyCaseShaped / n >= 0.8 && manyDistinct) {
    let titledConf = 0.7 + 0.2 * Math.min(1, (titledShare - 0.5) / 0.4);
    if (c.hints.nonPersonName || c.hints.identifierLike) titledConf -= 0.25;
    if (titledConf > valueConf) {
      valueConf = titledConf;
      detector = 'value:honorific';
    }
  }
  // A weak hint (bare `name` in an unknown table, `author`, `holder`, `provider_name`) only
  // counts when the values are known names or look like full names of people.
  const hint = nameHint >= 0.5 || knownShare >= 0.2 || titledShare >= 0.5 || looksLikeFullNames(shapes, n) ? nameHint : 0;
  const matched = shaped + (hint > 0 || dictionary ? capsShaped : 0);
  return finish(c, { cls: 'person_name', matched, valueConf, detector, hintMinShare: 0.6, hint });
}

// ---------------------------------------------------------------- secrets

const BOOLEAN_LIKE = new Set(['t', 'f', 'true', 'false', 'yes', 'no', 'y', 'n', '0', '1', 'on', 'off']);

/** Could be a secret if the name says so: not a boolean, number, date or tiny value. */
function opaque(v: string, family: Family): boolean {
  if (family === 'number' || v.length < 3 || BOOLEAN_LIKE.has(v.toLowerCase())) return false;
  return parseDate(v) === null;
}

function scoreSecret(c: Column): Finding | null {
  const n = c.values.length;
  const hint = c.hints.positive.get('secret') ?? 0;
  const kinds: Record<'jwt' | 'api_key' | 'password_hash' | 'private_key', number> = { jwt: 0, api_key: 0, password_hash: 0, private_key: 0 };
  let entropy = 0;
  let base32 = 0;
  let hex = 0;
  let opaqueCount = 0;
  for (const v of c.values) {
    if (opaque(v, c.family)) opaqueCount++;
    if (isPrivateKey(v)) kinds.private_key++;
    else if (isJwt(v)) kinds.jwt++;
    else if (isApiKey(v)) kinds.api_key++;
    else if (isPasswordHash(v)) kinds.password_hash++;
    else if (isHexDigest(v)) hex++;
    else if (isHighEntropyToken(v)) entropy++;
    else if (isBase32Secret(v)) {
      // TOTP seeds: random key material in the RFC 4648 base32 alphabet, judged like random tokens.
      entropy++;
      base32++;
    }
  }
  const strong = kinds.jwt + kinds.api_key + kinds.password_hash + kinds.private_key;
  const topKind = (Object.keys(kinds) as (keyof typeof kinds)[]).reduce((a, b) => (kinds[b] > kinds[a] ? b : a));
  let valueConf = byShare(n ? strong / n : 0, 0.3, 0.8, 0.97);
  let detector = `value:${topKind}`;
  let matched = strong;
  if (valueConf < SENSITIVE_CONFIDENCE && n > 0) {
    const distinctShare = new Set(c.values).size / n;
    let entConf = entropy / n >= 0.8 && distinctShare >= 0.9 ? byShare(entropy / n, 0.8, 0.6, 0.8) : Math.min(0.4, (0.45 * entropy) / n / 0.8);
    // Random ids (`public_id`, `slug`, `cursor`) and digests are high-entropy too.
    if (c.hints.identifierLike || c.hints.digestLike) entConf -= 0.35;
    // Judgement: hex of digest length is most often a content hash (checksum, etag,
    // dedup key). Without a secret name it is reported as a near miss only; under a
    // digest name (`sha256`, `checksum`) not at all.
    const hexConf = hex / n >= 0.8 && !c.hints.digestLike ? 0.3 : 0;
    if (entConf >= valueConf && entConf >= hexConf && entropy > 0) {
      valueConf = entConf;
      detector = base32 * 2 > entropy ? 'value:base32_key' : 'value:entropy';
      matched = entropy;
    } else if (hexConf > valueConf) {
      valueConf = hexConf;
      detector = 'value:hex_digest';
      matched = hex;
    }
  }
  // Plain-text passwords and opaque tokens look like anything: a clear secret name
  // carries the finding unless the values contradict it (booleans, numbers, dates,
  // a two-value enum). A weak name (`pass`, `pin`) needs value support.
  if (hint > 0 && n > 0) {
    const enumLike = n >= 10 && new Set(c.values).size <= 2;
    const supported = hint >= 0.5 ? opaqueCount : strong + entropy + hex;
    matched = enumLike ? 0 : Math.max(matched, supported);
    if (valueConf < SENSITIVE_CONFIDENCE && matched > 0 && detector !== 'value:hex_digest' && detector !== 'value:entropy' && detector !== 'value:base32_key') detector = 'name:secret';
  }
  return finish(c, { cls: 'secret', matched, valueConf, detector, hintMinShare: 0.5 });
}

// ---------------------------------------------------------------- free text

/** The whole value is one PII item: the class detectors report it, not free_text. */
function wholeValuePii(v: string): boolean {
  if (isEmailAddress(v) || phoneKind(v) === 'strong' || isCardNumber(v) || isIban(v) || isJwt(v) || isApiKey(v)) return true;
  const ssn = parseSsn(v);
  return ssn !== null && ssn.formatted && ssnValid(ssn);
}

function scoreFreeText(c: Column): Finding | null {
  const n = c.values.length;
  if (n === 0) return null;
  const perKind = new Map<TextPiiKind, number>();
  const distinct = new Set<string>();
  let withPii = 0;
  for (const v of c.values) {
    if (wholeValuePii(v)) continue;
    const hits = findPiiInText(v);
    if (hits.length === 0) continue;
    withPii++;
    for (const h of hits) {
      distinct.add(h.text);
      perKind.set(h.kind, (perKind.get(h.kind) ?? 0) + 1);
    }
  }
  if (withPii === 0) return null;
  const share = withPii / n;
  const phoneOnly = perKind.size === 1 && perKind.has('phone');
  // Emails, valid SSNs, cards and keys are unmistakable even in a few notes (two distinct
  // ones at least, see below); phone-like digit groups in prose need a larger share.
  let minShare = phoneOnly ? 0.1 : 0.02;
  if (c.hints.freeText) minShare /= 2;
  let conf = byShare(share, minShare, 0.6, 0.9);
  if (withPii < (n >= 10 ? 2 : 1) || (n >= 10 && distinct.size < 2)) conf = Math.min(conf, 0.4);
  if (c.hints.freeText) conf = Math.min(0.95, conf + 0.05);
  // The same address in every description is boilerplate (a support mailbox), not a person.
  if (distinct.size <= 2 && withPii >= 5) conf = Math.min(conf, 0.35);
  let top: TextPiiKind = 'email';
  for (const [k, cnt] of perKind) if (cnt > (perKind.get(top) ?? 0)) top = k;
  return { class: 'free_text', confidence: round(conf), matchRate: round(share, 3), detector: `text:${top}` };
}

// ---------------------------------------------------------------- mixed contact columns

const CONTACT_CLASSES: ReadonlySet<PiiClass> = new Set<PiiClass>(['email', 'phone', 'card', 'iban']);

/**
 * A `contact` column holding emails and phone numbers half and half: each class alone
 * is below its share, together they cover the column. When two or more of these
 * unmistakable kinds share most of the values between them, each is sensitive.
 * (SSNs are left out: their evidence is judged on the column's distribution.)
 */
function boostMixed(c: Column, findings: Finding[]): Finding[] {
  const n = c.values.length;
  const parts = findings.filter((f) => CONTACT_CLASSES.has(f.class) && f.matchRate >= 0.15 && !f.detector.startsWith('name:'));
  if (n === 0 || parts.length < 2) return findings;
  const covered = count(c.values, (v) => isEmailAddress(v) || phoneKind(v) === 'strong' || isCardNumber(v) || isIban(v));
  const coverage = covered / n;
  if (coverage < 0.7) return findings;
  const boosted = round(0.6 + (0.25 * (coverage - 0.7)) / 0.3);
  return findings.map((f) => (parts.includes(f) && f.confidence < boosted ? { ...f, confidence: boosted } : f));
}

// ---------------------------------------------------------------- plain columns

const SCORERS: readonly ((c: Column) => Finding | null)[] = [
  scoreEmail,
  scorePhone,
  scoreSsn,
  scoreCard,
  scoreIban,
  scoreIp,
  scoreDob,
  scorePostal,
  scorePersonName,
  scoreSecret,
  scoreFreeText,
];

function classifyValues(c: Column): Finding[] {
  const out: Finding[] = [];
  for (const score of SCORERS) {
    const f = score(c);
    if (f !== null) out.push(f);
  }
  return boostMixed(c, out);
}

// ---------------------------------------------------------------- JSON documents

const MAX_JSON_DOC_CHARS = 64 * 1024;
const MAX_JSON_TOTAL_CHARS = 4 * 1024 * 1024;
const MAX_JSON_DEPTH = 12;
const MAX_JSON_PATHS = 256;
const MAX_VALUES_PER_PATH = 2000;
const MAX_ARRAY_ITEMS = 100;
/** An object with more keys than this is a map keyed by data, not a record. */
const MAX_RECORD_KEYS = 64;

interface PathValues {
  /** Keys along the path (map keys left out), for name hints. */
  readonly keys: readonly string[];
  readonly values: string[];
  numbers: number;
}

/**
 * A key that looks like a field name (`phone`, `billingAddress`, `line_2`); anything
 * else (an email, a user id, a date used as a key) may be data and is never
 * written into a path.
 */
function schemaKey(k: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]{0,40}$/.test(k) && (k.match(/\d/g)?.length ?? 0) <= 2 && !isApiKey(k) && !isHighEntropyToken(k);
}

function walkJson(node: unknown, path: string, keys: readonly string[], depth: number, table: Map<string, PathValues>): void {
  if (depth > MAX_JSON_DEPTH) return;
  if (Array.isArray(node)) {
    for (const item of node.slice(0, MAX_ARRAY_ITEMS)) walkJson(item, `${path}[*]`, keys, depth + 1, table);
    return;
  }
  if (node !== null && typeof node === 'object') {
    const entries = Object.entries(node);
    const record = entries.length <= MAX_RECORD_KEYS;
    for (const [k, v] of entries.slice(0, 4 * MAX_RECORD_KEYS)) {
      const named = record && schemaKey(k);
      walkJson(v, named ? `${path}.${k}` : `${path}.*`, named ? [...keys, k] : keys, depth + 1, table);
    }
    return;
  }
  let slot = table.get(path);
  if (slot === undefined) {
    if (table.size >= MAX_JSON_PATHS) return;
    slot = { keys, values: [], numbers: 0 };
    table.set(path, slot);
  }
  if (node === null || slot.values.length >= MAX_VALUES_PER_PATH) return;
  if (typeof node === 'number') slot.numbers++;
  slot.values.push(String(node));
}

/**
 * A JSON document cut short (the scanner reads a bounded prefix of each value, so
 * a 1 MB jsonb arrives truncated; longer values are cut here), read as far as it
 * goes: a string value cut in the middle is closed where it stops, else the text
 * is cut back to the end of the last complete member or element; then the open
 * objects and arrays are closed, so the keys before the cut keep their paths.
 * Linear in the text; undefined when the text is not a truncated object/array
 * (a complete document, or one broken otherwise).
 */
export function parseTruncatedJson(text: string): unknown {
  const open: string[] = [];
  let inString = false;
  let escaped = false;
  let stringIsValue = false;
  let lastSignificant = '';
  let safe = -1;
  let safeDepth = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (escaped) escaped = false;
      else if (ch === '\\') escaped = true;
      else if (ch === '"') {
        inString = false;
        lastSignificant = '"';
      }
      continue;
    }
    if (ch === ' ' || ch === '\n' || ch === '\r' || ch === '\t') continue;
    if (open.length === 0 && i > 0 && lastSignificant !== '') return undefined; // something after a complete document
    if (ch === '"') {
      if (open.length === 0) return undefined; // a bare string, not a container
      inString = true;
      stringIsValue = open[open.length - 1] === ']' || lastSignificant === ':';
    } else if (ch === '{' || ch === '[') {
      open.push(ch === '{' ? '}' : ']');
      safe = i + 1;
      safeDepth = open.length;
    } else if (ch === '}' || ch === ']') {
      if (open.pop() !== ch) return undefined;
      safe = i + 1;
      safeDepth = open.length;
    } else if (ch === ',') {
      safe = i;
      safeDepth = open.length;
    } else if (open.length === 0) {
      return undefined;
    }
    lastSignificant = ch;
  }
  if (open.length === 0) return undefined;
  // Cut inside a string value: keep what there is of it (a long note with an e-mail near its start).
  if (inString && stringIsValue) {
    const head = escaped ? text.slice(0, -1) : text;
    try {
      return JSON.parse(`${head.replace(/\\u[0-9a-fA-F]{0,3}$/, '')}"${[...open].reverse().join('')}`);
    } catch {
      // Fall back to the last complete member.
    }
  }
  if (safe < 0) return undefined;
  // The containers open at the safe point: re-read the head (its depth is known, its brackets not).
  const head = text.slice(0, safe);
  const closers: string[] = [];
  inString = false;
  escaped = false;
  for (const ch of head) {
    if (inString) {
      if (escaped) escaped = false;
      else if (ch === '\\') escaped = true;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === '{') closers.push('}');
    else if (ch === '[') closers.push(']');
    else if (ch === '}' || ch === ']') closers.pop();
  }
  if (closers.length !== safeDepth) return undefined;
  try {
    return JSON.parse(head + closers.reverse().join(''));
  } catch {
    return undefined;
  }
}

interface ParsedColumn {
  readonly docs: unknown[];
  /** Values (cut to a document's bound) that neither parsed nor could be repaired. */
  readonly unparsed: string[];
}

/** Parsed documents of a column, or null when its values are not JSON. */
function parseDocuments(values: readonly string[], declaredJson: boolean): ParsedColumn | null {
  const docs: unknown[] = [];
  const unparsed: string[] = [];
  let budget = MAX_JSON_TOTAL_CHARS;
  let attempted = 0;
  for (const v of values) {
    if (!declaredJson && !(v.startsWith('{') || v.startsWith('['))) continue;
    // A longer document is read up to the bound, as if the scanner had cut it there.
    const text = v.length > MAX_JSON_DOC_CHARS ? v.slice(0, MAX_JSON_DOC_CHARS) : v;
    if (text.length > budget) continue;
    attempted++;
    budget -= text.length;
    if (text.length === v.length) {
      try {
        docs.push(JSON.parse(text));
        continue;
      } catch {
        // Truncated or not JSON: see below.
      }
    }
    const repaired = parseTruncatedJson(text);
    if (repaired !== undefined) docs.push(repaired);
    else unparsed.push(cap(text));
  }
  if (declaredJson) return { docs, unparsed };
  // A text column counts as JSON when nearly all its values are objects/arrays.
  return values.length > 0 && docs.length / values.length >= 0.8 && attempted > 0 ? { docs, unparsed } : null;
}

function classifyJson(docs: readonly unknown[], column: string, table: string): Finding[] {
  const paths = new Map<string, PathValues>();
  for (const doc of docs) walkJson(doc, '$', [], 0, paths);
  const out: Finding[] = [];
  for (const [path, slot] of paths) {
    // Key names are the column names of a document; a root scalar takes the column's name.
    const hintName = slot.keys.length > 0 ? slot.keys.join('_') : column;
    const leaf: Column = {
      hints: analyzeName(hintName, table),
      family: slot.numbers > slot.values.length / 2 ? 'number' : 'text',
      values: slot.values.map(cap),
    };
    for (const f of classifyValues(leaf)) {
      out.push({ ...f, jsonPath: path, detector: `json:${f.detector.replace(/^value:/, '')}` });
    }
  }
  return out;
}

// ---------------------------------------------------------------- arrays

/** Elements of a PostgreSQL array literal (`{a,"b c",NULL,{d}}`), nested arrays flattened. */
export function parsePgArray(literal: string): string[] {
  let s = literal;
  if (s.startsWith('[')) s = s.slice(s.indexOf('=') + 1); // dimension decoration: [0:1]={…}
  const out: string[] = [];
  let i = 0;
  let cur = '';
  let quoted = false;
  let hadQuotes = false;
  const flush = (): void => {
    if (hadQuotes || (cur.length > 0 && cur.toUpperCase() !== 'NULL')) out.push(hadQuotes ? cur : cur.trim());
    cur = '';
    hadQuotes = false;
  };
  for (; i < s.length; i++) {
    const ch = s[i];
    if (quoted) {
      if (ch === '\\' && i + 1 < s.length) cur += s[++i];
      else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') {
      quoted = true;
      hadQuotes = true;
    } else if (ch === '{') {
      cur = '';
    } else if (ch === ',' || ch === '}') {
      if (cur.length > 0 || hadQuotes) flush();
    } else {
      cur += ch;
    }
  }
  return out;
}

// ---------------------------------------------------------------- entry point

function finalize(findings: readonly Finding[]): Finding[] {
  const best = new Map<string, Finding>();
  for (const f of findings) {
    if (f.confidence < REPORT_FLOOR) continue;
    const key = `${f.class}\u0000${f.jsonPath ?? ''}`;
    const cur = best.get(key);
    if (cur === undefined || f.confidence > cur.confidence) best.set(key, f);
  }
  return [...best.values()].sort(
    (a, b) => b.confidence - a.confidence || (a.jsonPath ?? '').localeCompare(b.jsonPath ?? '') || a.class.localeCompare(b.class),
  );
}

/**
 * Classifies one sampled column. Returns findings sorted by confidence
 * (highest first), at most one per (class, jsonPath); [] when nothing looks
 * sensitive. Findings with confidence ≥ SENSITIVE_CONFIDENCE are sensitive.
 */
export function classifyColumn(sample: ColumnSample): Finding[] {
  const { family, array } = typeFamily(sample.dataType);
  const network = networkType(sample.dataType);
  if (family === 'bool' || family === 'other') return [];
  const hints = analyzeName(sample.column, sample.table);
  let values = usable(sample.values);
  if (array) values = usable(values.flatMap((v) => parsePgArray(cap(v))));

  const jsonShaped = count(values, (v) => v.startsWith('{') || v.startsWith('['));
  if (family === 'json' || (family === 'text' && values.length > 0 && jsonShaped / values.length >= 0.8)) {
    const parsed = parseDocuments(values, family === 'json');
    if (parsed !== null) {
      const found = classifyJson(parsed.docs, sample.column, sample.table);
      // Documents that could not be read as JSON are still searched as text for PII.
      if (parsed.unparsed.length > 0) {
        const f = scoreFreeText({ hints, family: 'text', values: parsed.unparsed });
        if (f !== null) found.push(f);
      }
      // An all-NULL JSON column still has a name.
      if (parsed.docs.length === 0 && parsed.unparsed.length === 0) found.push(...classifyValues({ hints, family: 'text', values: [] }));
      return finalize(found);
    }
  }
  return finalize(classifyValues({ hints, family, network, values: values.map(cap) }));
}
