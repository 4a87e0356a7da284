/**
 * Per-value detectors for the PII classifier: pure predicates and parsers over
 * one sampled value (text form). Column-level decisions (shares, spreads,
 * name hints) live in classify.ts.
 *
 * Sampled values are attacker-controlled: every regex here is anchored or
 * bounded, has no nested quantifier that can backtrack exponentially, and the
 * callers cut values to MAX_VALUE_CHARS before looking at them.
 */
import { isIP } from 'node:net';

/** Longest prefix of a value the detectors look at. */
export const MAX_VALUE_CHARS = 4096;

// ---------------------------------------------------------------- email

const EMAIL_RE =
  /^[\p{L}\p{N}!#$%&'*+/=?^_`{|}~-]+(?:\.[\p{L}\p{N}!#$%&'*+/=?^_`{|}~-]+)*@(?:[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?\.)+(?:\p{L}{2,63}|xn--[a-z0-9-]{1,59})$/u;

/** An addr-spec (RFC 5322 dot-atom local part, DNS domain with a letter TLD). */
export function isEmail(v: string): boolean {
  if (v.length < 6 || v.length > 254) return false;
  const at = v.lastIndexOf('@');
  if (at < 1 || at > 64) return false;
  return EMAIL_RE.test(v);
}

const NAME_ADDR_RE = /^(?:"[^"]{0,64}"|[^<>"@]{0,64})\s*<([^<>\s]{6,254})>$/;

/** An address as mail headers write it, `Jane Doe <jane@example.com>`, or a bare addr-spec. */
export function isEmailAddress(v: string): boolean {
  if (isEmail(v)) return true;
  if (!v.endsWith('>') || v.length > 330) return false;
  const m = NAME_ADDR_RE.exec(v);
  return m !== null && isEmail(m[1]);
}

// ---------------------------------------------------------------- phone

/**
 * `strong`: unmistakably written as a phone number (E.164 `+…`, `(555) 123-4567`,
 * `555-123-4567`, `020 7946 0958`, `0044 20 …`, `91 123 45 67`).
 * `grouped`: digit groups that are a phone number written without trunk prefix
 * (`612 345 678`) or a number with thousands separators (`612 345 678` € …);
 * the column decides (phone numbers keep one length, amounts do not).
 * `weak`: bare digits that could be a phone (`0612345678`, `4155552671`,
 * `447911123456`) or any id; only believed when the column name says phone, or
 * when a whole column of them passes the numbering-plan checks (classify.ts).
 */
export type PhoneKind = 'strong' | 'grouped' | 'weak';

const PHONE_CHARS_RE = /^\+?[\d\s().-]{6,24}$/;
const EXTENSION_RE = /\s*(?:x|ext\.?|extension|#)\s*\d{1,6}$/i;
const DOTTED_QUAD_RE = /^\d{1,3}(?:\.\d{1,3}){2,3}$/;
const DATE_SHAPE_RE = /^(?:\d{4}[-./ ]\d{1,2}[-./ ]\d{1,2}|\d{1,2}[-./ ]\d{1,2}[-./ ]\d{2,4})$/;
const SSN_SHAPE_RE = /^\d{3}[- ]\d{2}[- ]\d{4}$/;
const NANP_RE = /^(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}$/;

/**
 * ITU-T E.164 country calling codes (a prefix-free set) with the lengths of
 * their national significant numbers, for the countries most databases hold.
 * Used to tell digits stored without `+` (`447911123456` in a bigint) from ids.
 */
const E164_NSN: ReadonlyMap<string, readonly [number, number]> = new Map<string, readonly [number, number]>([
  ['1', [10, 10]], ['7', [10, 10]], ['20', [8, 10]], ['27', [9, 9]], ['30', [10, 10]], ['31', [9, 9]], ['32', [8, 9]],
  ['33', [9, 9]], ['34', [9, 9]], ['36', [8, 9]], ['39', [6, 11]], ['40', [9, 9]], ['41', [9, 9]], ['43', [7, 13]],
  ['44', [9, 10]], ['45', [8, 8]], ['46', [7, 10]], ['47', [8, 8]], ['48', [9, 9]], ['49', [7, 13]], ['51', [8, 9]],
  ['52', [10, 10]], ['53', [8, 8]], ['54', [10, 11]], ['55', [10, 11]], ['56', [9, 9]], ['57', [10, 10]], ['58', [10, 10]],
  ['60', [7, 10]], ['61', [9, 9]], ['62', [8, 12]], ['63', [8, 10]], ['64', [8, 10]], ['65', [8, 8]], ['66', [8, 9]],
  ['81', [9, 10]], ['82', [8, 10]], ['84', [9, 10]], ['86', [10, 11]], ['90', [10, 10]], ['91', [10, 10]], ['92', [10, 10]],
  ['93', [9, 9]], ['94', [9, 9]], ['95', [8, 10]], ['98', [10, 10]], ['212', [9, 9]], ['213', [9, 9]], ['216', [8, 8]],
  ['233', [9, 9]], ['234', [8, 10]], ['254', [9, 9]], ['255', [9, 9]], ['256', [9, 9]], ['351', [9, 9]], ['352', [6, 11]],
  ['353', [7, 9]], ['354', [7, 7]], ['356', [8, 8]], ['357', [8, 8]], ['358', [6, 11]], ['359', [8, 9]], ['370', [8, 8]],
  ['371', [8, 8]], ['372', [7, 8]], ['380', [9, 9]], ['381', [8, 9]], ['385', [8, 9]], ['386', [8, 8]], ['420', [9, 9]],
  ['421', [9, 9]], ['852', [8, 8]], ['853', [8, 8]], ['880', [10, 10]], ['886', [9, 9]], ['962', [8, 9]], ['965', [8, 8]],
  ['966', [9, 9]], ['971', [8, 9]], ['972', [8, 9]], ['974', [8, 8]],
]);

/** Area code and exchange of a 10-digit NANP number never start with 0 or 1. */
export function nanpValid(tenDigits: string): boolean {
  return /^[2-9]\d{2}[2-9]\d{6}$/.test(tenDigits);
}

/**
 * Digits of an international number written without `+` or `00` (as bigint
 * columns store them): a known country code followed by a national number of
 * that country's length; NANP numbers also pass the area/exchange rules.
 */
export function e164DigitsValid(digits: string): boolean {
  if (digits.length < 8 || digits.length > 15 || digits[0] === '0') return false;
  for (let k = 1; k <= 3; k++) {
    const range = E164_NSN.get(digits.slice(0, k));
    if (range === undefined) continue;
    const nsn = digits.length - k;
    if (nsn < range[0] || nsn > range[1]) return false;
    return k === 1 && digits[0] === '1' ? nanpValid(digits.slice(1)) : true;
  }
  return false;
}

/**
 * The 10 NANP digits of a value written as a North American number (`415-867-2291`,
 * `(415) 867-2291`, `+1 415…`, bare `4158672291`), else null. The column checks
 * them against the numbering plan: part numbers in the same shape fail it often.
 */
export function nanpDigits(raw: string): string | null {
  if (raw.length > 32) return null;
  const v = raw.replace(EXTENSION_RE, '');
  const digits = v.replace(/\D/g, '');
  if (NANP_RE.test(v)) return digits.length === 11 ? digits.slice(1) : digits;
  if (/^\+1\d{10}$/.test(v)) return digits.slice(1);
  if (/^1?\d{10}$/.test(v)) return digits.length === 11 ? digits.slice(1) : digits;
  return null;
}

export function phoneKind(raw: string): PhoneKind | null {
  if (raw.length > 32) return null;
  const v = raw.replace(EXTENSION_RE, '');
  if (!PHONE_CHARS_RE.test(v)) return null;
  // Shapes that share the phone alphabet but are something else.
  if (DOTTED_QUAD_RE.test(v) || DATE_SHAPE_RE.test(v) || SSN_SHAPE_RE.test(v) || /^\d+\.\d+$/.test(v)) return null;
  if (!balancedParens(v) || /[.-]{2}|\s{2}/.test(v)) return null;
  const digits = v.replace(/\D/g, '');
  const separated = /[\s().-]/.test(v);
  if (v.startsWith('+')) {
    // E.164: country code (never 0) and at most 15 digits in all.
    return digits.length >= 8 && digits.length <= 15 && digits[0] !== '0' ? 'strong' : null;
  }
  if (digits.startsWith('00') && digits.length >= 10 && digits.length <= 17 && digits[2] !== '0') {
    return separated ? 'strong' : 'weak';
  }
  if (NANP_RE.test(v)) return 'strong';
  if (digits[0] === '0' && digits[1] !== '0' && digits.length >= 9 && digits.length <= 12) {
    // National format with a trunk prefix: 020 7946 0958, 06 12 34 56 78, (02) 9876 5432, 030 12345678.
    if (!separated) return 'weak';
    const groups = v.split(/[\s().-]+/).filter((g) => g.length > 0);
    return groups.length >= 2 && groups.every((g) => g.length >= 2 && g.length <= 8) ? 'strong' : null;
  }
  if (!separated) {
    if (/^[2-9]\d{9}$/.test(digits) || /^1[2-9]\d{9}$/.test(digits)) return 'weak';
    // International digits without `+` (447911123456), or a national number of a
    // country without trunk prefix (612345678 in Spain, 12345678 in Denmark).
    if (e164DigitsValid(digits) || /^[2-9]\d{7,8}$/.test(digits)) return 'weak';
    return null;
  }
  // National numbers of countries without a trunk prefix (ES 91 123 45 67, DK 12 34 56 78,
  // PT 912 345 678): 8–10 digits in three or more space-separated groups of 2–4 digits.
  // (Dashed groups of the same sizes are as often part numbers and codes.)
  if (digits.length >= 8 && digits.length <= 10 && digits[0] !== '0' && digits[0] !== '1' && /^[\d ]+$/.test(v)) {
    const groups = v.split(' ');
    if (groups.length >= 3 && groups.every((g) => g.length >= 2 && g.length <= 4)) {
      // `612 345 678` is also how 612,345,678 prints with thousands separators.
      const thousands = groups.slice(1).every((g) => g.length === 3);
      return thousands ? 'grouped' : 'strong';
    }
  }
  return null;
}

function balancedParens(v: string): boolean {
  const open = v.indexOf('(');
  const close = v.indexOf(')');
  if (open < 0 && close < 0) return true;
  return open >= 0 && close > open + 1 && v.indexOf('(', open + 1) < 0 && v.indexOf(')', close + 1) < 0;
}

// ---------------------------------------------------------------- US SSN

export interface SsnParts {
  readonly area: number;
  readonly group: number;
  readonly serial: number;
  /** Written NNN-NN-NNNN or NNN NN NNNN (a much stronger shape than 9 bare digits). */
  readonly formatted: boolean;
}

const SSN_RE = /^(\d{3})([- ]?)(\d{2})\2(\d{4})$/;

/**
 * NNN-NN-NNNN, NNN NN NNNN or 9 bare digits. `allowShort`: integer columns lose
 * leading zeros, so 7–8 digit numbers are SSNs with a 00x area.
 */
export function parseSsn(v: string, allowShort = false): SsnParts | null {
  let m = SSN_RE.exec(v);
  if (m === null && allowShort && /^\d{7,8}$/.test(v)) m = SSN_RE.exec(v.padStart(9, '0'));
  if (m === null) return null;
  return { area: Number(m[1]), group: Number(m[3]), serial: Number(m[4]), formatted: m[2] !== '' };
}

/** SSA rules: area not 000, 666 or 900–999; group not 00; serial not 0000. */
export function ssnValid(p: SsnParts): boolean {
  return p.area !== 0 && p.area !== 666 && p.area < 900 && p.group !== 0 && p.serial !== 0;
}

// ---------------------------------------------------------------- payment cards

/** 13–19 digits, optionally in groups separated by single spaces or dashes; the digits, else null. */
export function cardDigits(v: string): string | null {
  if (v.length < 13 || v.length > 23) return null;
  if (!/^\d(?:[ -]?\d){12,18}$/.test(v)) return null;
  const digits = v.replace(/[ -]/g, '');
  return digits.length >= 13 && digits.length <= 19 ? digits : null;
}

export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

interface IssuerRange {
  readonly issuer: string;
  readonly lo: number;
  readonly hi: number;
  /** How many leading digits lo/hi cover. */
  readonly width: number;
  readonly lengths: readonly number[];
}

const LEN_16_19 = [16, 17, 18, 19];

/** IIN ranges of the major networks with their PAN lengths. */
const ISSUERS: readonly IssuerRange[] = [
  { issuer: 'amex', lo: 34, hi: 34, width: 2, lengths: [15] },
  { issuer: 'amex', lo: 37, hi: 37, width: 2, lengths: [15] },
  { issuer: 'visa', lo: 4, hi: 4, width: 1, lengths: [13, 16, 19] },
  { issuer: 'mastercard', lo: 51, hi: 55, width: 2, lengths: [16] },
  { issuer: 'mastercard', lo: 2221, hi: 2720, width: 4, lengths: [16] },
  { issuer: 'discover', lo: 6011, hi: 6011, width: 4, lengths: LEN_16_19 },
  { issuer: 'discover', lo: 644, hi: 649, width: 3, lengths: LEN_16_19 },
  { issuer: 'discover', lo: 65, hi: 65, width: 2, lengths: LEN_16_19 },
  { issuer: 'jcb', lo: 3528, hi: 3589, width: 4, lengths: LEN_16_19 },
  { issuer: 'jcb', lo: 2131, hi: 2131, width: 4, lengths: [15] },
  { issuer: 'jcb', lo: 1800, hi: 1800, width: 4, lengths: [15] },
  { issuer: 'diners', lo: 300, hi: 305, width: 3, lengths: [14, 16, 17, 18, 19] },
  { issuer: 'diners', lo: 3095, hi: 3095, width: 4, lengths: [14, 16, 17, 18, 19] },
  { issuer: 'diners', lo: 36, hi: 36, width: 2, lengths: [14, 16, 17, 18, 19] },
  { issuer: 'diners', lo: 38, hi: 39, width: 2, lengths: [14, 16, 17, 18, 19] },
  { issuer: 'unionpay', lo: 62, hi: 62, width: 2, lengths: LEN_16_19 },
  { issuer: 'maestro', lo: 5018, hi: 5018, width: 4, lengths: [13, 14, 15, 16, 17, 18, 19] },
  { issuer: 'maestro', lo: 5020, hi: 5020, width: 4, lengths: [13, 14, 15, 16, 17, 18, 19] },
  { issuer: 'maestro', lo: 5038, hi: 5038, width: 4, lengths: [13, 14, 15, 16, 17, 18, 19] },
  { issuer: 'maestro', lo: 5893, hi: 5893, width: 4, lengths: [13, 14, 15, 16, 17, 18, 19] },
  { issuer: 'maestro', lo: 56, hi: 58, width: 2, lengths: [13, 14, 15, 16, 17, 18, 19] },
  { issuer: 'maestro', lo: 6304, hi: 6304, width: 4, lengths: [13, 14, 15, 16, 17, 18, 19] },
  { issuer: 'maestro', lo: 6759, hi: 6759, width: 4, lengths: [13, 14, 15, 16, 17, 18, 19] },
  { issuer: 'maestro', lo: 6761, hi: 6763, width: 4, lengths: [13, 14, 15, 16, 17, 18, 19] },
  { issuer: 'mir', lo: 2200, hi: 2204, width: 4, lengths: LEN_16_19 },
  { issuer: 'rupay', lo: 60, hi: 60, width: 2, lengths: [16] },
  { issuer: 'rupay', lo: 508, hi: 508, width: 3, lengths: [16] },
];

/** The card network whose IIN range and PAN length fit, else null. */
export function cardIssuer(digits: string): string | null {
  for (const r of ISSUERS) {
    const prefix = Number(digits.slice(0, r.width));
    if (prefix >= r.lo && prefix <= r.hi && r.lengths.includes(digits.length)) return r.issuer;
  }
  return null;
}

/** A payment card number: right shape, Luhn check digit, known issuer range and length. */
export function isCardNumber(v: string): boolean {
  const digits = cardDigits(v);
  return digits !== null && luhnValid(digits) && cardIssuer(digits) !== null;
}

// ---------------------------------------------------------------- IBAN

/** ISO 13616 registry: country → IBAN length. */
const IBAN_LENGTHS: Readonly<Record<string, number>> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BI: 27, BR: 29, BY: 28, CH: 21,
  CR: 22, CY: 28, CZ: 24, DE: 22, DJ: 27, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18, FK: 18, FO: 18,
  FR: 27, GB: 22, GE: 22, GI: 23, GL: 18, GR: 27, GT: 28, HR: 21, HU: 28, IE: 22, IL: 23, IQ: 23, IS: 26,
  IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20, LU: 20, LV: 21, LY: 25, MC: 27, MD: 24,
  ME: 22, MK: 19, MN: 20, MR: 27, MT: 31, MU: 30, NI: 28, NL: 18, NO: 15, OM: 23, PK: 24, PL: 28, PS: 29,
  PT: 25, QA: 29, RO: 24, RS: 22, RU: 33, SA: 24, SC: 31, SD: 18, SE: 24, SI: 19, SK: 24, SM: 27, SO: 23,
  ST: 25, SV: 28, TL: 23, TN: 24, TR: 26, UA: 29, VA: 22, VG: 24, XK: 20, YE: 30,
};

/** ISO 7064 mod 97-10 over the rearranged IBAN, computed in chunks (no BigInt needed). */
export function ibanMod97(iban: string): number {
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  let rest = 0;
  for (const ch of rearranged) {
    const code = ch.charCodeAt(0);
    const n = code >= 65 ? code - 55 : code - 48;
    rest = n >= 10 ? (rest * 100 + n) % 97 : (rest * 10 + n) % 97;
  }
  return rest;
}

/** An IBAN: known country, its length, check digits (mod 97 = 1); spaces allowed, any case. */
export function isIban(v: string): boolean {
  if (v.length < 15 || v.length > 42) return false;
  const compact = v.replace(/ /g, '').toUpperCase();
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$/.test(compact)) return false;
  if (IBAN_LENGTHS[compact.slice(0, 2)] !== compact.length) return false;
  return ibanMod97(compact) === 1;
}

// ---------------------------------------------------------------- IP addresses

/** 4 or 6 for an IP address (a `/prefix` as cidr prints it is allowed), else 0. */
export function ipVersion(v: string): 0 | 4 | 6 {
  if (v.length < 2 || v.length > 50) return 0;
  const slash = v.indexOf('/');
  const addr = slash >= 0 && /^\/\d{1,3}$/.test(v.slice(slash)) ? v.slice(0, slash) : v;
  const r = isIP(addr);
  return r === 4 || r === 6 ? r : 0;
}

/**
 * `host` for one address (`203.0.113.7`, `2001:db8::1`, or with a full-length
 * prefix `/32`, `/128` as cidr prints hosts); `network` for a range with a
 * shorter prefix (`10.0.0.0/8`, `2001:db8::/32`): a network names no one. Else null.
 */
export function ipKind(v: string): 'host' | 'network' | null {
  const version = ipVersion(v);
  if (version === 0) return null;
  const slash = v.indexOf('/');
  if (slash < 0) return 'host';
  const prefix = Number(v.slice(slash + 1));
  return prefix >= (version === 4 ? 32 : 128) ? 'host' : 'network';
}

/** The four octets of a dotted-quad IPv4 address, else null. */
export function ipv4Octets(v: string): number[] | null {
  if (ipVersion(v) !== 4) return null;
  return v.split('/')[0].split('.').map(Number);
}

// ---------------------------------------------------------------- dates

export interface ParsedDate {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  /** A time of day other than midnight is present (events, not birthdays). */
  readonly hasTime: boolean;
}

const ISO_DATE_RE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?)?(?:Z|[+-]\d{2}(?::?\d{2}){0,2})?$/;
const SLASH_DATE_RE = /^(\d{1,2})([/.-])(\d{1,2})\2(\d{4})$/;
const COMPACT_DATE_RE = /^(\d{4})(\d{2})(\d{2})$/;

/**
 * A calendar date (with optional time) as PostgreSQL prints date/timestamp in
 * ISO DateStyle, or as text columns commonly hold them: YYYY-MM-DD[ hh:mm[:ss]],
 * DD/MM/YYYY, MM/DD/YYYY, DD.MM.YYYY. `compact`: also YYYYMMDD (only when the
 * column name already says "birth"; 8 digits alone are too common).
 */
export function parseDate(v: string, compact = false): ParsedDate | null {
  if (v.length < 8 || v.length > 40) return null;
  let m = ISO_DATE_RE.exec(v);
  if (m !== null) {
    const time = (m[4] ?? '00') + (m[5] ?? '00') + (m[6] ?? '00');
    return checked(Number(m[1]), Number(m[2]), Number(m[3]), time !== '000000');
  }
  m = SLASH_DATE_RE.exec(v);
  if (m !== null) {
    const a = Number(m[1]);
    const b = Number(m[3]);
    // Day-first or month-first: either reading gives the same year, which is what matters here.
    return a > 12 ? checked(Number(m[4]), b, a, false) : checked(Number(m[4]), a, b, false);
  }
  if (compact) {
    m = COMPACT_DATE_RE.exec(v);
    if (m !== null) return checked(Number(m[1]), Number(m[2]), Number(m[3]), false);
  }
  return null;
}

function checked(year: number, month: number, day: number, hasTime: boolean): ParsedDate | null {
  if (month < 1 || month > 12 || day < 1 || day > 31 || year < 1000) return null;
  return { year, month, day, hasTime };
}

// ---------------------------------------------------------------- postal codes

const POSTAL_RES: readonly RegExp[] = [
  /^\d{5}(?:-\d{4})?$/, // US ZIP, ZIP+4; DE, FR, ES, IT … (5 digits)
  /^\d{4}$/, // AT, BE, CH, DK, NO, AU, NZ …
  /^\d{6}$/, // IN, CN, RU, SG …
  /^[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}$/i, // UK
  /^[A-Z]\d[A-Z] ?\d[A-Z]\d$/i, // Canada
  /^\d{4} ?[A-Z]{2}$/i, // Netherlands
  /^\d{2}-\d{3}$/, // Poland
  /^\d{3}-\d{4}$/, // Japan
  /^\d{5}-\d{3}$/, // Brazil
  /^\d{4}-\d{3}$/, // Portugal
  /^\d{3} ?\d{2}$/, // Sweden, Czechia, Slovakia, Greece
  /^[A-Z]\d{2} ?[A-Z\d]{4}$/i, // Ireland (Eircode)
];

/**
 * Postal code formats that few other values share: letters and digits in the
 * UK, Canadian, Dutch and Irish patterns, and ZIP+4. (Bare 4–6 digits are anything.)
 */
const DISTINCTIVE_POSTAL_RES: readonly RegExp[] = [
  /^[A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2}$/, // UK, with its space
  /^[A-Z]\d[A-Z] ?\d[A-Z]\d$/, // Canada
  /^[1-9]\d{3} ?[A-Z]{2}$/, // Netherlands
  /^[ACDEFHKNPRTVWXY]\d{2}(?: ?[ACDEFHKNPRTVWXY\d]{4})$/, // Ireland (Eircode)
  /^\d{5}-\d{4}$/, // US ZIP+4
];

/** A postal code in one of the distinctive formats (upper case, as written on mail). */
export function isDistinctivePostalCode(v: string): boolean {
  if (v.length < 6 || v.length > 10) return false;
  return DISTINCTIVE_POSTAL_RES.some((re) => re.test(v));
}

/** Shaped like a postal code of a common country. Only meaningful with address context. */
export function isPostalCode(v: string, numeric = false): boolean {
  if (v.length < 3 || v.length > 10) return false;
  // Integer columns drop leading zeros (ZIP 02134 → 2134).
  if (numeric && /^\d{3,5}$/.test(v)) return true;
  return POSTAL_RES.some((re) => re.test(v));
}

// ---------------------------------------------------------------- person names

const NAME_WORD_RE = /^(?:\p{Lu}[\p{Ll}\p{M}]*(?:\p{Lu}[\p{Ll}\p{M}]+)?(?:['’-]\p{Lu}?[\p{Ll}\p{M}]+(?:\p{Lu}[\p{Ll}\p{M}]+)?){0,3}|\p{Lu}\.)$/u;
const CAPS_WORD_RE = /^\p{Lu}[\p{Lu}\p{M}]+(?:['’-]\p{Lu}+){0,3}$/u;
const PARTICLES = new Set(['de', 'da', 'del', 'della', 'di', 'du', 'van', 'von', 'der', 'den', 'la', 'le', 'bin', 'ibn', 'al', 'el', 'y', 'dos', 'das', 'ter', 'zu', 'st', 'e', 'ben', 'bint', 'mac']);
const TITLES = new Set(['mr', 'mrs', 'ms', 'miss', 'mx', 'dr', 'prof', 'sir', 'madam', 'rev', 'herr', 'frau', 'mme', 'mlle', 'sr', 'sra', 'jr', 'ii', 'iii', 'iv', 'phd', 'md', 'dds', 'dvm', 'esq', 'rn']);

/** Forms of address that stand before a person's name (not suffixes such as `Jr.`, `MD`). */
const HONORIFICS = new Set(['mr', 'mrs', 'ms', 'miss', 'mx', 'dr', 'prof', 'sir', 'dame', 'madam', 'rev', 'herr', 'frau', 'mme', 'mlle', 'sr', 'sra', 'srta', 'dott', 'dra']);

export interface NameShape {
  /** Words of the name (titles and particles dropped), lower-cased without accents. */
  readonly words: readonly string[];
  /** Written in capitals (`JOHN SMITH`): a name by its shape only if the column name says so. */
  readonly allCaps: boolean;
  /** Starts with a form of address (`Dr.`, `Mrs`, `Herr`): a person, whatever the words. */
  readonly titled: boolean;
}

/**
 * Shaped like a person's name: 1–4 capitalised words of letters (accents,
 * apostrophes, hyphens, McX, initials), optional titles/particles/suffixes,
 * `Last, First` allowed; no digits or other punctuation.
 */
export function personNameShape(v: string): NameShape | null {
  if (v.length < 2 || v.length > 60) return null;
  const parts = v.replace(/,/g, ' ').split(/\s+/).filter((p) => p.length > 0);
  if (parts.length === 0 || parts.length > 6 || (v.match(/,/g)?.length ?? 0) > 1) return null;
  const words: string[] = [];
  let caps = 0;
  const titled = parts.length >= 2 && HONORIFICS.has(parts[0].replace(/\.$/, '').toLowerCase()) && /^\p{Lu}/u.test(parts[0]);
  for (const p of parts) {
    const bare = p.replace(/\.$/, '').toLowerCase();
    if (TITLES.has(bare) || HONORIFICS.has(bare) || PARTICLES.has(p)) continue;
    if (NAME_WORD_RE.test(p)) {
      words.push(fold(p));
    } else if (CAPS_WORD_RE.test(p)) {
      words.push(fold(p));
      caps++;
    } else {
      return null;
    }
  }
  if (words.length === 0 || words.length > 4) return null;
  return { words, allCaps: caps === words.length, titled };
}

function fold(word: string): string {
  return word.normalize('NFD').replace(/\p{M}/gu, '').replace(/\.$/, '').toLowerCase();
}

/**
 * Common given names and surnames across languages. Only used to tell a column
 * of people's names from one of product/city/company names when the column name
 * says nothing; words that are also everyday English (Rose, Stone, Green, Long,
 * Brown) are left out so a column of colours or materials is not "names".
 */
const GIVEN_NAMES = new Set(
  `james john robert michael william david richard joseph thomas charles christopher daniel matthew anthony mark
donald steven paul andrew joshua kenneth kevin brian george timothy ronald edward jason jeffrey ryan jacob gary
nicholas eric jonathan stephen larry justin scott brandon benjamin samuel gregory alexander patrick raymond
dennis jerry tyler aaron jose adam nathan henry douglas zachary peter kyle ethan walter noah jeremy christian
keith roger terry gerald harold sean carl arthur lawrence dylan jesse bryan billy bruce gabriel logan albert
willie alan juan wayne elijah randy roy vincent ralph eugene russell bobby philip louis liam lucas oliver leo
luke isaac owen caleb connor evan ian mary patricia jennifer linda elizabeth barbara susan jessica sarah
karen lisa nancy betty margaret sandra ashley kimberly emily donna michelle carol amanda dorothy melissa
deborah stephanie rebecca sharon laura cynthia kathleen amy angela shirley anna brenda pamela emma nicole
helen samantha katherine christine debra rachel carolyn janet catherine maria heather diane ruth julie olivia
joyce virginia victoria kelly lauren christina joan evelyn judith megan andrea cheryl hannah jacqueline martha
gloria teresa ann sara madison frances kathryn janice jean abigail alice judy sophia denise doris marilyn
danielle beverly isabella theresa diana natalie brittany charlotte marie kayla alexis lori ava mia chloe zoe
lily ella harper aria sofia camila luis carlos miguel javier antonio manuel francisco pedro alejandro diego
pablo sergio jorge fernando ricardo eduardo raul andres mateo santiago sebastian carmen ana lucia isabel
elena paula marta valentina gabriela daniela fernanda alejandra pierre michel philippe alain nicolas francois
olivier christophe sebastien julien antoine guillaume nathalie isabelle sylvie sophie claire camille manon
lea aurelie hans klaus wolfgang jurgen dieter uwe stefan andreas markus matthias sabine ursula monika petra
claudia birgit katrin anja heike lukas felix jonas finn giuseppe giovanni marco luca francesco alessandro
matteo lorenzo giulia francesca chiara federica alessia rahul amit raj ravi sanjay vijay arjun rohan aditya
priya anjali pooja neha sunita anita kavya deepak suresh ramesh wei fang lei jing jun hui ling xin hao ming
mohammed muhammad ahmed omar hassan hussein khalid fatima aisha mariam layla youssef ibrahim olga ivan dmitri
sergei natasha anastasia yuki hiroshi kenji haruto sakura piotr eva lars sven erik nils ingrid astrid kwame
amara jack harry charlie jacob oscar alfie freddie archie theo arthur emilia isla poppy amelia ruby evie
jessica tom tim ben sam dan joe jim bob bill mike steve dave chris matt nick tony greg jeff ken alex kate
liz beth jen jenny sue meg ellie molly lucy jane joanna julia sylvia marcus tobias niklas johannes maximilian
elias noel leon laurent emmanuel yves sandrine valerie martine brigitte juan pablo rosa`.split(/\s+/),
);

const SURNAMES = new Set(
  `smith johnson williams jones garcia miller davis rodriguez martinez hernandez lopez gonzalez wilson anderson
taylor moore jackson martin lee perez thompson harris sanchez clark ramirez lewis robinson walker allen
wright torres nguyen flores adams nelson baker hall rivera campbell mitchell carter roberts gomez phillips
evans turner diaz parker cruz edwards collins reyes stewart morris morales murphy rogers gutierrez ortiz
morgan cooper peterson bailey reed kelly howard ramos kim cox ward richardson watson brooks chavez bennett
mendoza ruiz hughes alvarez castillo sanders patel myers ross foster jimenez powell jenkins perry russell
sullivan coleman butler henderson barnes gonzales fisher vasquez simmons romero patterson alexander hamilton
graham reynolds griffin wallace hayes bryant herrera gibson ellis tran medina aguilar stevens murray castro
marshall owens harrison fernandez mcdonald washington kennedy wells vargas chen freeman webb tucker guzman
crawford olson simpson gordon mendez silva shaw snyder dixon munoz hicks holmes palmer wagner robertson boyd
salazar warren meyer schmidt garza daniels ferguson nichols stephens soto weaver gardner payne dunn kelley
spencer hawkins arnold pierce vazquez hansen peters santos bradley elliott cunningham duncan armstrong hudson
carroll riley andrews alvarado delgado perkins hoffman johnston matthews pena richards willis carpenter
sandoval muller mueller schneider fischer weber becker schulz hoffmann koch richter klein schroder neumann
schwarz zimmermann braun kruger hartmann krause lehmann kohler bernard dubois durand leroy moreau laurent
lefebvre roux bertrand morel fournier girard bonnet dupont lambert fontaine rousseau rossi russo ferrari
esposito bianchi romano colombo ricci marino greco gallo conti giordano mancini rizzo lombardi moretti moreno
alonso navarro dominguez serrano blanco suarez molina ortega rubio marin nunez iglesias garrido oliveira
souza pereira carvalho almeida ferreira rodrigues lima gomes ribeiro jansen bakker visser meijer mulder
peeters janssens nowak kowalski wisniewski wojcik kowalczyk kaminski lewandowski zielinski ivanov smirnov
kuznetsov popov sokolov petrov volkov andersson johansson karlsson nilsson eriksson larsson olsen nielsen
jensen pedersen kristensen obrien walsh byrne wang zhang liu yang huang zhao zhou sato suzuki takahashi
tanaka watanabe yamamoto nakamura kobayashi choi jung kang cho yoon pham hoang phan nguyen singh kumar sharma
gupta shah mehta iyer reddy rao nair khan ahmed hussain goldberg cohen levy friedman katz kaplan schwartz
oconnor mccarthy gallagher doyle kaur das chowdhury mukherjee banerjee ali`.split(/\s+/),
);

/** A word of the name is a common given name or surname. */
export function knownNameWord(words: readonly string[]): boolean {
  return words.some((w) => GIVEN_NAMES.has(w) || SURNAMES.has(w.replace(/['’-]/g, '')));
}

// ---------------------------------------------------------------- secrets

const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/** Any UUID version (with or without dashes): an identifier, never a secret by its shape. */
export function isUuid(v: string): boolean {
  return (v.length === 36 || v.length === 32) && UUID_RE.test(v) && (v.length === 36 || /[a-f]/i.test(v));
}

const HEX_DIGEST_LENGTHS = new Set([32, 40, 56, 64, 96, 128]);

/** MD5/SHA-1/SHA-2 sized hex (optionally `\x`-prefixed as bytea prints). */
export function isHexDigest(v: string): boolean {
  const hex = v.startsWith('\\x') ? v.slice(2) : v;
  return HEX_DIGEST_LENGTHS.has(hex.length) && /^(?:[0-9a-f]+|[0-9A-F]+)$/.test(hex) && /[a-f]/i.test(hex) && /\d/.test(hex);
}

const JWT_RE = /^[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*$/;

/** A JSON Web Token: three base64url segments, the first a JSON object naming an `alg`. */
export function isJwt(v: string): boolean {
  if (v.length < 20 || v.length > MAX_VALUE_CHARS || !JWT_RE.test(v)) return false;
  const header = v.slice(0, v.indexOf('.'));
  try {
    const parsed: unknown = JSON.parse(Buffer.from(header, 'base64url').toString('utf8'));
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) && 'alg' in parsed;
  } catch {
    return false;
  }
}

/** Credential formats with a vendor prefix, as whole values. */
const API_KEY_RES: readonly RegExp[] = [
  /^(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{16,247}$/, // Stripe
  /^whsec_[A-Za-z0-9+/=]{24,}$/, // Stripe webhook secret
  /^gh[pousr]_[A-Za-z0-9]{36,251}$/, // GitHub
  /^github_pat_[A-Za-z0-9_]{22,255}$/, // GitHub fine-grained
  /^glpat-[A-Za-z0-9_-]{20,}$/, // GitLab
  /^xox[abposr]-[A-Za-z0-9-]{10,250}$/, // Slack
  /^(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}$/, // AWS access key id
  /^AIza[0-9A-Za-z_-]{35}$/, // Google API key
  /^ya29\.[0-9A-Za-z_-]{20,}$/, // Google OAuth token
  /^sk-(?:proj-|ant-[a-z0-9]+-)?[A-Za-z0-9_-]{20,250}$/, // OpenAI / Anthropic
  /^SG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{16,64}$/, // SendGrid
  /^npm_[A-Za-z0-9]{36}$/, // npm
  /^shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}$/, // Shopify
  /^(?:SK|AC)[0-9a-f]{32}$/, // Twilio
  /^key-[0-9a-f]{32}$/, // Mailgun
  /^dop_v1_[a-f0-9]{64}$/, // DigitalOcean
  /^hf_[A-Za-z0-9]{30,}$/, // Hugging Face
  /^pypi-[A-Za-z0-9_-]{50,}$/, // PyPI
];

export function isApiKey(v: string): boolean {
  return v.length >= 20 && v.length <= 300 && API_KEY_RES.some((re) => re.test(v));
}

/** Password hash formats (modular crypt, Django, Werkzeug, LDAP): the hashes are crackable, so secret. */
const PASSWORD_HASH_RES: readonly RegExp[] = [
  /^\$2[abxy]?\$\d{2}\$[./A-Za-z0-9]{53}$/, // bcrypt
  /^\$argon2(?:id|i|d)\$v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/, // argon2
  /^\$(?:1|5|6|md5|sha1)\$(?:rounds=\d+\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{22,86}$/, // md5/sha crypt
  /^\$(?:y|gy|7)\$[./A-Za-z0-9$]{20,}$/, // yescrypt, scrypt crypt
  /^\$(?:pbkdf2|scrypt)(?:-sha\d+)?\$[^\s]{20,}$/, // passlib
  /^(?:pbkdf2_sha\d+|bcrypt_sha256|argon2|scrypt)\$[^\s]{20,}$/, // Django
  /^(?:pbkdf2|scrypt):[a-z0-9:]+\$[^\s$]+\$[0-9a-f]{32,}$/, // Werkzeug
  /^\{(?:SSHA|SHA|SSHA256|SSHA512|SHA256|SHA512|CRYPT|MD5|SMD5|PBKDF2[-A-Z0-9]*)\}[^\s]{8,}$/, // LDAP
];

export function isPasswordHash(v: string): boolean {
  return v.length >= 20 && v.length <= 300 && PASSWORD_HASH_RES.some((re) => re.test(v));
}

/** A PEM private key (RSA, EC, OpenSSH, PKCS#8, encrypted or not). */
export function isPrivateKey(v: string): boolean {
  return /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----/.test(v.slice(0, 200));
}

/** Shannon entropy in bits per character. */
export function shannonEntropy(v: string): number {
  const counts = new Map<string, number>();
  for (const ch of v) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let h = 0;
  const n = v.length;
  for (const c of counts.values()) {
    const p = c / n;
    h -= p * Math.log2(p);
  }
  return h;
}

const TOKEN_CHARS_RE = /^[A-Za-z0-9+/=_-]{20,256}$/;

/**
 * A random-looking opaque token (20–256 chars of base64/base64url alphabet):
 * letters and digits mixed at random, near-maximal entropy for its length, a
 * separator-free run of at least 16 chars. Not: UUIDs, hex digests (content
 * hashes; see classify), words in camelCase, dash/underscore-separated codes,
 * or base64 that decodes to readable text (cursors, encoded JSON).
 */
export function isHighEntropyToken(v: string): boolean {
  if (!TOKEN_CHARS_RE.test(v) || isUuid(v) || /^[0-9a-fA-F]+$/.test(v) || isPrefixedObjectId(v)) return false;
  if (!/[A-Za-z]/.test(v) || !/\d/.test(v)) return false;
  let longestRun = 0;
  for (const run of v.split(/[_-]/)) longestRun = Math.max(longestRun, run.length);
  if (longestRun < 16) return false;
  const threshold = Math.min(Math.log2(v.length) - 0.8, 4.3);
  if (shannonEntropy(v) < threshold) return false;
  if (classTransitions(v) < 0.3) return false;
  return !decodesToText(v);
}

const BASE32_RE = /^(?:[A-Z2-7]{16,128}|[a-z2-7]{16,128})={0,6}$/;
const BASE32_GROUPED_RE = /^(?:[A-Z2-7]{4}(?: [A-Z2-7]{4}){3,15}|[a-z2-7]{4}(?: [a-z2-7]{4}){3,15})$/;

/**
 * An RFC 4648 base32 key (TOTP/HOTP seeds as authenticator apps take them:
 * `JBSWY3DPEHPK3PXP…`, optionally in groups of four): 16+ characters of A–Z and
 * 2–7 only, mixing letters and digits with near-maximal entropy. Ids in other
 * base32 alphabets (Crockford, ULIDs) almost always contain 0, 1, 8 or 9.
 */
export function isBase32Secret(v: string): boolean {
  if (v.length < 16 || v.length > 140) return false;
  if (!BASE32_RE.test(v) && !BASE32_GROUPED_RE.test(v)) return false;
  const key = v.replace(/[ =]/g, '');
  const digits = key.replace(/[^2-7]/g, '').length;
  if (digits === 0 || digits === key.length) return false;
  // Random letters are vowels about one time in five; words (`HELLOWORLD2`) about two in five.
  const letters = key.length - digits;
  if (letters >= 8 && key.replace(/[^AEIOUaeiou]/g, '').length > 0.35 * letters) return false;
  // 32 symbols: a random key of n chars shows a little under log2(min(n, 32)) bits per char.
  return shannonEntropy(key) >= Math.min(Math.log2(key.length), 5) - 1.2;
}

/** Prefixes of credential-like ids (`tok_`, `key_`, `sess_`): not plain object ids. */
const SECRET_ID_PREFIXES = new Set(['sk', 'rk', 'tok', 'token', 'key', 'secret', 'pat', 'pwd', 'pass', 'api', 'auth', 'sess', 'session', 'whsec', 'seed']);

/**
 * Typed object ids (`ch_3MmlLrLkdIwHu7ix0snN0B15`, `cus_…`, `req_…`): random, but
 * public handles of records, not credentials.
 */
function isPrefixedObjectId(v: string): boolean {
  const m = /^([a-z]{2,8})_[A-Za-z0-9]{10,}$/.exec(v);
  return m !== null && !SECRET_ID_PREFIXES.has(m[1]);
}

/** Share of adjacent character pairs that switch between lower case, upper case, digit and symbol. */
function classTransitions(v: string): number {
  const cls = (c: string): number => (c >= 'a' && c <= 'z' ? 0 : c >= 'A' && c <= 'Z' ? 1 : c >= '0' && c <= '9' ? 2 : 3);
  let switches = 0;
  for (let i = 1; i < v.length; i++) if (cls(v[i]) !== cls(v[i - 1])) switches++;
  return switches / (v.length - 1);
}

/** Base64 whose bytes are mostly printable ASCII: encoded text, not key material. */
function decodesToText(v: string): boolean {
  const bytes = Buffer.from(v.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (bytes.length < 12) return false;
  let printable = 0;
  for (const b of bytes) if ((b >= 0x20 && b < 0x7f) || b === 0x0a || b === 0x0d || b === 0x09) printable++;
  return printable / bytes.length >= 0.9;
}

// ---------------------------------------------------------------- PII inside free text

export type TextPiiKind = 'email' | 'phone' | 'ssn' | 'card' | 'iban' | 'secret';

export interface TextHit {
  readonly kind: TextPiiKind;
  /** The matched text; used only to count distinct hits, never reported. */
  readonly text: string;
}

// Candidates may not start or end inside a longer run of digit groups (`… 0417 1643 00`).
const TEXT_PHONE_RE = /(?<![\w+/.-]|\d[ -])(?:\+\d|\(\d|\d)[\d\s().-]{5,22}\d(?![\w/]|[.-]\d)/g;
const TEXT_SSN_RE = /(?<![\w-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\w-])/g;
const TEXT_CARD_RE = /(?<![\w-]|\d[ -])\d(?:[ -]?\d){12,18}(?![\w-]|[ -]\d)/g;
const TEXT_IBAN_RE = /(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])/g;
const TEXT_SECRET_RE =
  /(?<![A-Za-z0-9_-])(?:(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{16,128}|gh[pousr]_[A-Za-z0-9]{36,80}|github_pat_[A-Za-z0-9_]{22,128}|glpat-[A-Za-z0-9_-]{20,64}|xox[abposr]-[A-Za-z0-9-]{10,128}|(?:AKIA|ASIA)[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{35}|sk-(?:proj-|ant-[a-z0-9]+-)?[A-Za-z0-9_-]{20,128}|eyJ[A-Za-z0-9_-]{8,2000}\.eyJ[A-Za-z0-9_-]{8,2000}\.[A-Za-z0-9_-]{8,2000}|-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----)/g;
const TEXT_EMAIL_LOCAL_RE = /[A-Za-z0-9._%+-]{1,64}$/;
const TEXT_EMAIL_DOMAIN_RE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}(?![A-Za-z0-9-])/;
const MAX_HITS_PER_VALUE = 20;

/**
 * Emails, phone numbers, valid SSNs, payment cards, IBANs and credentials inside a
 * longer text. Linear in the text: emails are found from each `@` outwards,
 * every other pattern is bounded.
 */
export function findPiiInText(text: string): TextHit[] {
  const v = text.length > MAX_VALUE_CHARS ? text.slice(0, MAX_VALUE_CHARS) : text;
  const hits: TextHit[] = [];
  if (v.includes('@')) findEmails(v, hits);
  let digits = v;
  if (/[A-Z]{2}\d{2}/.test(v)) {
    for (const m of v.matchAll(TEXT_IBAN_RE)) {
      if (hits.length >= MAX_HITS_PER_VALUE || !isIban(m[0])) continue;
      hits.push({ kind: 'iban', text: m[0] });
      // Its digit groups are not phone or card numbers.
      digits = digits.slice(0, m.index) + ' '.repeat(m[0].length) + digits.slice(m.index + m[0].length);
    }
  }
  if (/\d{2}/.test(digits)) {
    for (const m of digits.matchAll(TEXT_SSN_RE)) {
      if (hits.length >= MAX_HITS_PER_VALUE) break;
      const p = parseSsn(`${m[1]}-${m[3]}-${m[4]}`);
      if (p !== null && ssnValid(p)) hits.push({ kind: 'ssn', text: m[0] });
    }
    for (const m of digits.matchAll(TEXT_CARD_RE)) {
      if (hits.length >= MAX_HITS_PER_VALUE) break;
      if (isCardNumber(m[0])) hits.push({ kind: 'card', text: m[0] });
    }
    for (const m of digits.matchAll(TEXT_PHONE_RE)) {
      if (hits.length >= MAX_HITS_PER_VALUE) break;
      const candidate = m[0].trim();
      if (phoneKind(candidate) === 'strong' && !hits.some((h) => h.text.includes(candidate) || candidate.includes(h.text))) {
        hits.push({ kind: 'phone', text: candidate });
      }
    }
  }
  if (/sk|pk|rk|gh|github|glpat|xox|AKIA|ASIA|AIza|eyJ|PRIVATE KEY/.test(v)) {
    for (const m of v.matchAll(TEXT_SECRET_RE)) {
      if (hits.length >= MAX_HITS_PER_VALUE) break;
      if (m[0].startsWith('eyJ') && !isJwt(m[0])) continue;
      hits.push({ kind: 'secret', text: m[0] });
    }
  }
  return hits;
}

function findEmails(v: string, hits: TextHit[]): void {
  let at = v.indexOf('@');
  let seen = 0;
  while (at >= 0 && seen < MAX_HITS_PER_VALUE) {
    seen++;
    const local = TEXT_EMAIL_LOCAL_RE.exec(v.slice(Math.max(0, at - 64), at));
    const domain = TEXT_EMAIL_DOMAIN_RE.exec(v.slice(at + 1, at + 256));
    if (local !== null && domain !== null) {
      const start = at - local[0].length;
      const before = start > 0 ? v[start - 1] : ' ';
      // `user:pass@host` in a URL is not an email; `mailto:x@y` is.
      const inUrlAuthority = (before === ':' || before === '/') && !v.slice(Math.max(0, start - 7), start).toLowerCase().endsWith('mailto:');
      const candidate = `${local[0].replace(/^[.]+/, '')}@${domain[0]}`;
      if (!inUrlAuthority && isEmail(candidate)) hits.push({ kind: 'email', text: candidate });
    }
    at = v.indexOf('@', at + 1);
  }
}
