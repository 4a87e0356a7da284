/**
 * Codecs for the PostgreSQL binary (and canonical text) forms the masks need:
 * dates, timestamps and numeric. Days and microseconds count from 2000-01-01.
 */

/** Days between 1970-01-01 and 2000-01-01 (PostgreSQL's epoch). */
const PG_EPOCH_DAYS = 10957;
export const USECS_PER_DAY = 86_400_000_000n;
export const DATE_POS_INFINITY = 0x7fffffff;
export const DATE_NEG_INFINITY = -0x80000000;
export const TS_POS_INFINITY = 0x7fffffffffffffffn;
export const TS_NEG_INFINITY = -0x8000000000000000n;

/** Days since 2000-01-01 of a proleptic Gregorian date (astronomical year: 1 BC = 0). */
export function pgDaysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468 - PG_EPOCH_DAYS;
}

/** Calendar date of a day count since 2000-01-01 (astronomical year). */
export function pgCivilFromDays(pgDays: number): { year: number; month: number; day: number } {
  const z = pgDays + PG_EPOCH_DAYS + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return { year: yoe + era * 400 + (month <= 2 ? 1 : 0), month, day };
}

/** First day of the year containing `pgDays`. */
export function startOfYearDays(pgDays: number): number {
  return pgDaysFromCivil(pgCivilFromDays(pgDays).year, 1, 1);
}

/** First microsecond of the (UTC) year containing `usecs`. */
export function startOfYearUsecs(usecs: bigint): bigint {
  let days = usecs / USECS_PER_DAY;
  if (usecs < 0n && days * USECS_PER_DAY !== usecs) days -= 1n;
  return BigInt(startOfYearDays(Number(days))) * USECS_PER_DAY;
}

export function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
}

// ---------------------------------------------------------------- numeric

const NUMERIC_POS = 0x0000;
const NUMERIC_NEG = 0x4000;
const NUMERIC_NAN = 0xc000;
const NUMERIC_PINF = 0xd000;
const NUMERIC_NINF = 0xf000;

/** Binary numeric (numeric_send) to its canonical text form (numeric_out): "-12.50", "NaN", "Infinity". */
export function numericBinaryToText(buf: Buffer): string | undefined {
  if (buf.length < 8) return undefined;
  const ndigits = buf.readInt16BE(0);
  const weight = buf.readInt16BE(2);
  const sign = buf.readUInt16BE(4);
  const dscale = buf.readInt16BE(6);
  if (sign === NUMERIC_NAN) return 'NaN';
  if (sign === NUMERIC_PINF) return 'Infinity';
  if (sign === NUMERIC_NINF) return '-Infinity';
  if ((sign !== NUMERIC_POS && sign !== NUMERIC_NEG) || ndigits < 0 || dscale < 0 || buf.length < 8 + 2 * ndigits) return undefined;
  const digit = (i: number): number => (i >= 0 && i < ndigits ? buf.readInt16BE(8 + 2 * i) : 0);
  let int = '';
  for (let e = weight, i = 0; e >= 0; e--, i++) {
    const d = digit(i);
    if (d < 0 || d > 9999) return undefined;
    int += int === '' ? (d === 0 ? '' : String(d)) : String(d).padStart(4, '0');
  }
  if (int === '') int = '0';
  let frac = '';
  for (let e = -1; frac.length < dscale; e--) frac += String(digit(weight - e)).padStart(4, '0');
  frac = frac.slice(0, dscale);
  const neg = sign === NUMERIC_NEG && (/[1-9]/.test(int) || /[1-9]/.test(frac));
  return `${neg ? '-' : ''}${int}${dscale > 0 ? `.${frac}` : ''}`;
}

/** Canonical numeric text ("-12.50", "NaN", "Infinity") to binary numeric (numeric_recv input). */
export function numericTextToBinary(text: string): Buffer | undefined {
  if (text === 'NaN' || text === 'Infinity' || text === '-Infinity') {
    const out = Buffer.alloc(8);
    out.writeUInt16BE(text === 'NaN' ? NUMERIC_NAN : text === 'Infinity' ? NUMERIC_PINF : NUMERIC_NINF, 4);
    return out;
  }
  const m = /^([+-]?)(\d+)(?:\.(\d*))?$/.exec(text);
  if (!m) return undefined;
  const intDigits = m[2].replace(/^0+/, '');
  const fracDigits = m[3] ?? '';
  const dscale = fracDigits.length;
  if (dscale > 0x3fff) return undefined;
  const intPadded = intDigits.padStart(Math.ceil(intDigits.length / 4) * 4, '0');
  const fracPadded = fracDigits.padEnd(Math.ceil(fracDigits.length / 4) * 4, '0');
  const all = intPadded + fracPadded;
  const groups: number[] = [];
  for (let i = 0; i < all.length; i += 4) groups.push(Number(all.slice(i, i + 4)));
  let weight = intPadded.length / 4 - 1;
  let start = 0;
  while (start < groups.length && groups[start] === 0) {
    start++;
    weight--;
  }
  let end = groups.length;
  while (end > start && groups[end - 1] === 0) end--;
  const digits = groups.slice(start, end);
  const zero = digits.length === 0;
  const out = Buffer.alloc(8 + 2 * digits.length);
  out.writeInt16BE(digits.length, 0);
  out.writeInt16BE(zero ? 0 : weight, 2);
  out.writeUInt16BE(m[1] === '-' && !zero ? NUMERIC_NEG : NUMERIC_POS, 4);
  out.writeInt16BE(dscale, 6);
  for (let i = 0; i < digits.length; i++) out.writeInt16BE(digits[i], 8 + 2 * i);
  return out;
}

// ---------------------------------------------------------------- exact decimals

/** A decimal as integer digits and a scale: value = units / 10^scale. */
export interface Decimal {
  units: bigint;
  scale: number;
}

/** "12.50", "-3", "1e-7", "2.5E+3" → Decimal; undefined if not a finite decimal. */
export function parseDecimal(text: string): Decimal | undefined {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d{1,4}))?$/.exec(text.trim());
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) return undefined;
  const frac = m[3] ?? '';
  let units = BigInt((m[2] || '0') + frac);
  let scale = frac.length - Number(m[4] ?? 0);
  if (scale < 0) {
    units *= 10n ** BigInt(-scale);
    scale = 0;
  }
  return { units: m[1] === '-' ? -units : units, scale };
}

export function formatDecimal(d: Decimal): string {
  const neg = d.units < 0n;
  const abs = (neg ? -d.units : d.units).toString();
  if (d.scale === 0) return `${neg ? '-' : ''}${abs}`;
  const padded = abs.padStart(d.scale + 1, '0');
  const text = `${padded.slice(0, padded.length - d.scale)}.${padded.slice(padded.length - d.scale)}`;
  return neg && /[1-9]/.test(abs) ? `-${text}` : text;
}

/** Rounds `value` half away from zero to a multiple of `step` (step > 0); the result has scale max(value, step). */
export function roundDecimal(value: Decimal, step: Decimal): Decimal {
  const scale = Math.max(value.scale, step.scale);
  const v = value.units * 10n ** BigInt(scale - value.scale);
  const s = step.units * 10n ** BigInt(scale - step.scale);
  const neg = v < 0n;
  const abs = neg ? -v : v;
  const q = (2n * abs + s) / (2n * s);
  const r = q * s;
  return { units: neg ? -r : r, scale };
}
