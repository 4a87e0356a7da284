/**
 * The PII classifier of `pgveil scan` (pure; no database): value detectors,
 * name hints, JSON paths, free text, name-only findings, and an in-memory
 * fixture of PII columns under misleading names plus look-alike decoys, scored
 * for precision and recall.
 */
import { describe, expect, it } from 'vitest';
import { SENSITIVE_CONFIDENCE, classifyColumn, parsePgArray, parseTruncatedJson, typeFamily } from '../src/scan/classify.js';
import {
  cardIssuer,
  e164DigitsValid,
  findPiiInText,
  ipKind,
  ipVersion,
  isBase32Secret,
  isDistinctivePostalCode,
  isApiKey,
  isCardNumber,
  isEmail,
  isHexDigest,
  isHighEntropyToken,
  isIban,
  isJwt,
  isPasswordHash,
  isPrivateKey,
  isUuid,
  luhnValid,
  nanpValid,
  parseDate,
  parseSsn,
  personNameShape,
  phoneKind,
  ssnValid,
} from '../src/scan/detectors.js';
import { analyzeName, nameTokens, splitIdentifier } from '../src/scan/name-hints.js';
import type { ColumnSample, Finding, PiiClass } from '../src/scan/types.js';
import { prng } from '../src/util/prng.js';

// ---------------------------------------------------------------- synthetic data


class Gen {
  private readonly r: () => number;
  constructor(seed: number) {
    this.r = prng(seed);
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.r() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.r() * xs.length)];
  }
  chance(p: number): boolean {
    return this.r() < p;
  }
  digits(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += String(this.int(0, 9));
    return s;
  }
  chars(n: number, alphabet: string): string {
    let s = '';
    for (let i = 0; i < n; i++) s += alphabet[this.int(0, alphabet.length - 1)];
    return s;
  }
  many<T>(n: number, f: (i: number) => T): T[] {
    return Array.from({ length: n }, (_, i) => f(i));
  }
}

const B62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const B64URL = `${B62}-_`;
const HEX = '0123456789abcdef';
const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';

const pad = (n: number, w: number): string => String(n).padStart(w, '0');

function ssn(g: Gen): string {
  let area = g.int(1, 899);
  if (area === 666) area = 667;
  return `${pad(area, 3)}-${pad(g.int(1, 99), 2)}-${pad(g.int(1, 9999), 4)}`;
}

function luhnComplete(partial: string): string {
  for (let d = 0; d <= 9; d++) if (luhnValid(partial + d)) return partial + d;
  throw new Error('unreachable');
}

function card(g: Gen, spaced = false): string {
  const [prefix, len] = g.pick<[string, number]>([
    ['4', 16],
    [String(g.int(51, 55)), 16],
    [String(g.int(2221, 2720)), 16],
    [g.pick(['34', '37']), 15],
    ['6011', 16],
    [String(g.int(3528, 3589)), 16],
    ['36', 14],
    ['62', 16],
  ]);
  const pan = luhnComplete(prefix + g.digits(len - prefix.length - 1));
  return spaced ? (pan.match(/.{1,4}/g) ?? []).join(' ') : pan;
}

/** ISO 7064 mod 97 with BigInt: independent of the implementation under test. */
function iban(g: Gen, country: 'DE' | 'GB' | 'FR' | 'NL' | 'ES' | 'IT', spaced = false): string {
  const alnum = (n: number): string => g.chars(n, `${UPPER}0123456789`);
  const bban = {
    DE: () => g.digits(18),
    GB: () => g.chars(4, UPPER) + g.digits(14),
    FR: () => g.digits(10) + alnum(11) + g.digits(2),
    NL: () => g.chars(4, UPPER) + g.digits(10),
    ES: () => g.digits(20),
    IT: () => g.chars(1, UPPER) + g.digits(10) + alnum(12),
  }[country]();
  const numeric = [...`${bban}${country}00`].map((ch) => (ch >= 'A' ? String(ch.charCodeAt(0) - 55) : ch)).join('');
  const check = pad(Number(98n - (BigInt(numeric) % 97n)), 2);
  const value = `${country}${check}${bban}`;
  return spaced ? (value.match(/.{1,4}/g) ?? []).join(' ') : value;
}

function phone(g: Gen): string {
  return g.pick([
    () => `+1${g.int(201, 989)}${g.int(200, 999)}${g.digits(4)}`,
    () => `+44 20 ${g.int(7000, 8999)} ${g.digits(4)}`,
    () => `(${g.int(201, 989)}) ${g.int(200, 999)}-${g.digits(4)}`,
    () => `${g.int(201, 989)}-${g.int(200, 999)}-${g.digits(4)}`,
    () => `0${g.int(6, 7)} ${g.digits(2)} ${g.digits(2)} ${g.digits(2)} ${g.digits(2)}`,
    () => `+49 30 ${g.digits(8)}`,
    () => `020 ${g.int(7000, 8999)} ${g.digits(4)}`,
  ])();
}

const FIRST = ['James', 'Mary', 'Luis', 'Fatima', 'Wei', 'Olga', 'Pierre', 'Priya', 'Hans', 'Sofia', 'Kwame', 'Emily', 'Mateo', 'Yuki', 'Aisha', 'Noah', 'Chloe', 'Giulia', 'Rahul', 'Ingrid'];
const LAST = ['Smith', 'García', 'Nguyen', 'Müller', "O'Brien", 'Kowalski', 'Rossi', 'Patel', 'Tanaka', 'Dubois', 'Johansson', 'Okafor', 'Haddad', 'Silva', 'Kim', 'Ivanova', 'Fernández', 'MacLeod', 'Al-Sayed', 'Novak'];
const DOMAINS = ['example.com', 'mail.example.org', 'corp.example.net', 'example.co.uk'];

function email(g: Gen): string {
  return `${g.pick(FIRST).toLowerCase()}.${g.pick(['smith', 'nguyen', 'patel', 'rossi', 'kim'])}${g.int(1, 999)}@${g.pick(DOMAINS)}`.normalize('NFD').replace(/\p{M}/gu, '');
}

function fullName(g: Gen): string {
  return `${g.pick(FIRST)} ${g.pick(LAST)}`;
}

function ipv4(g: Gen): string {
  return `${g.int(11, 223)}.${g.int(0, 255)}.${g.int(0, 255)}.${g.int(1, 254)}`;
}

function ipv6(g: Gen): string {
  return `2001:db8:${g.many(6, () => g.int(0, 0xffff).toString(16)).join(':')}`;
}

function isoDate(y: number, m: number, d: number): string {
  return `${y}-${pad(m, 2)}-${pad(d, 2)}`;
}

function dob(g: Gen): string {
  return isoDate(g.int(1940, 2004), g.int(1, 12), g.int(1, 28));
}

function b64url(s: string): string {
  return Buffer.from(s).toString('base64url');
}

function jwt(g: Gen): string {
  const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const payload = b64url(JSON.stringify({ sub: String(g.int(1, 1e6)), iat: 1700000000 + g.int(0, 1e6) }));
  return `${header}.${payload}.${g.chars(43, B64URL)}`;
}

function bcrypt(g: Gen): string {
  return `$2b$12$${g.chars(53, './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789')}`;
}

function uuid(g: Gen): string {
  const h = g.chars(32, HEX);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20)}`;
}

function col(column: string, values: readonly (string | null)[], dataType = 'text', table = 't1'): ColumnSample {
  return { schema: 'public', table, column, dataType, values };
}

function sensitive(findings: readonly Finding[]): Finding[] {
  return findings.filter((f) => f.confidence >= SENSITIVE_CONFIDENCE);
}

function classesOf(sample: ColumnSample): PiiClass[] {
  return sensitive(classifyColumn(sample)).map((f) => f.class);
}

function top(sample: ColumnSample): Finding | undefined {
  return classifyColumn(sample)[0];
}

// ---------------------------------------------------------------- value detectors

describe('email', () => {
  it('accepts addr-specs and rejects look-alikes', () => {
    for (const v of ['john.doe@example.com', 'a+tag@sub.example.co.uk', "o'brien@example.ie", 'jürgen@beispiel.de', 'x_y@xn--bcher-kva.example']) expect(isEmail(v), v).toBe(true);
    for (const v of ['john@', '@example.com', 'john@example', 'john doe@example.com', 'https://user@example.com/x', 'john@@example.com', 'john@example.c', 'git@github.com:org/repo.git', 'a'.repeat(300) + '@x.com']) expect(isEmail(v), v).toBe(false);
  });
});

describe('email columns', () => {
  it('count `Name <addr>` as email, not free text', () => {
    const g = new Gen(22);
    const values = g.many(200, () => `${fullName(g)} <${email(g)}>`);
    expect(classesOf(col('c1', values))).toEqual(['email']);
  });
});

describe('phone', () => {
  it('recognises E.164 and common national formats', () => {
    for (const v of ['+14155552671', '+1 (415) 555-2671', '+44 20 7946 0958', '(555) 123-4567', '555-123-4567', '555.123.4567', '020 7946 0958', '07700 900123', '06 12 34 56 78', '(02) 9876 5432', '+49 (0)30 12345678', '030 12345678', '555-123-4567 ext. 12']) {
      expect(phoneKind(v), v).toBe('strong');
    }
    for (const v of ['0612345678', '4155552671', '14155552671']) expect(phoneKind(v), v).toBe('weak');
  });
  it('does not take integers, dates, SSNs, IPs or decimals for phones', () => {
    for (const v of ['12345678', '123456789', '2023-01-15', '01.02.2023', '15/01/2023', '123-45-6789', '10.4.2.100', '1.2.10.4', '12.50', '1 234 567', '+0123456789', '(555 123-4567']) {
      expect(phoneKind(v), v).toBeNull();
    }
  });
});

describe('US SSN', () => {
  it('parses the formats and applies the SSA validity rules', () => {
    expect(parseSsn('078-05-1120')).toEqual({ area: 78, group: 5, serial: 1120, formatted: true });
    expect(parseSsn('078 05 1120')?.formatted).toBe(true);
    expect(parseSsn('078051120')?.formatted).toBe(false);
    expect(parseSsn('078-051120')).toBeNull();
    expect(parseSsn('7805112')).toBeNull();
    expect(parseSsn('7805112', true)).toEqual({ area: 7, group: 80, serial: 5112, formatted: false }); // 007-80-5112
    const valid = (v: string): boolean => ssnValid(parseSsn(v) ?? { area: 0, group: 0, serial: 0, formatted: true });
    expect(valid('123-45-6789')).toBe(true);
    expect(valid('899-99-9999')).toBe(true);
    for (const v of ['000-12-3456', '666-12-3456', '900-12-3456', '999-12-3456', '123-00-4567', '123-45-0000']) expect(valid(v), v).toBe(false);
  });

  it('finds SSNs under a neutral name and rejects sequential or random-digit look-alikes', () => {
    const g = new Gen(1);
    const real = g.many(200, () => ssn(g));
    expect(top(col('c7', real))).toMatchObject({ class: 'ssn', detector: 'value:ssn', matchRate: 1 });
    expect(top(col('c7', real))?.confidence).toBeGreaterThanOrEqual(0.85);
    // Order numbers that run in sequence share their leading digits.
    const sequential = g.many(200, (i) => {
      const n = String(481_200_000 + i * 7);
      return `${n.slice(0, 3)}-${n.slice(3, 5)}-${n.slice(5)}`;
    });
    expect(classesOf(col('c8', sequential))).toEqual([]);
    // Uniformly random digits break the validity rules about one time in nine.
    const random = g.many(200, () => `${g.digits(3)}-${g.digits(2)}-${g.digits(4)}`);
    expect(classesOf(col('c9', random))).toEqual([]);
  });

  it('lets a contrary name outweigh SSN-shaped values, but not a neutral one', () => {
    const g = new Gen(2);
    const values = g.many(200, () => ssn(g));
    expect(classesOf(col('order_number', values))).toEqual([]);
    expect(classifyColumn(col('order_number', values))[0]?.class).toBe('ssn'); // reported as a near miss
    expect(classesOf(col('x', values))).toEqual(['ssn']);
  });

  it('treats 9 bare digits as weaker evidence, and integer columns as weaker still', () => {
    const g = new Gen(3);
    const bare = g.many(200, () => ssn(g).replace(/-/g, ''));
    const text = top(col('c1', bare));
    expect(text?.class).toBe('ssn');
    expect(text?.confidence).toBeGreaterThanOrEqual(SENSITIVE_CONFIDENCE);
    expect(text?.confidence).toBeLessThan(0.8);
    const ints = bare.map((v) => String(Number(v)));
    expect(classesOf(col('ssn', ints, 'integer'))).toEqual(['ssn']);
    // Under a neutral name, integers need the leading-zero signature of SSNs: some 7–8 digit
    // values (areas 001–099) among 9-digit ones, all obeying the SSA rules. Then weaker than text.
    const int = top(col('c1', ints, 'integer'));
    expect(int?.class).toBe('ssn');
    expect(int?.confidence).toBeGreaterThanOrEqual(SENSITIVE_CONFIDENCE);
    expect(int?.confidence).toBeLessThan(text?.confidence ?? 0);
    // 9-digit ids below 900,000,000 with no short values obey the rules too, but stay a near miss.
    const ids = g.many(200, () => String(g.int(100_000_000, 899_999_999)));
    expect(classesOf(col('c1', ids, 'integer'))).toEqual([]);
    // So do 8-digit ids (all "short") and ids over the whole 9-digit range (areas 900+).
    expect(classesOf(col('c1', g.many(200, () => String(g.int(10_000_000, 99_999_999))), 'integer'))).toEqual([]);
    expect(classesOf(col('c1', g.many(200, () => String(g.int(1, 999_999_999))), 'integer'))).toEqual([]);
  });
});

describe('payment cards', () => {
  it('checks Luhn', () => {
    expect(luhnValid('4111111111111111')).toBe(true);
    expect(luhnValid('4111111111111112')).toBe(false);
    expect(luhnValid('79927398713')).toBe(true);
  });
  it('knows issuer ranges and lengths', () => {
    expect(cardIssuer('4111111111111111')).toBe('visa');
    expect(cardIssuer('5500000000000004')).toBe('mastercard');
    expect(cardIssuer('2223000048400011')).toBe('mastercard');
    expect(cardIssuer('378282246310005')).toBe('amex');
    expect(cardIssuer('6011111111111117')).toBe('discover');
    expect(cardIssuer('3530111333300000')).toBe('jcb');
    expect(cardIssuer('36227206271667')).toBe('diners');
    expect(cardIssuer('6200000000000005')).toBe('unionpay');
    expect(cardIssuer('37828224631000')).toBeNull(); // amex is 15 digits
    expect(cardIssuer('1234567812345670')).toBeNull(); // no network starts with 1
    expect(cardIssuer('9111111111111111')).toBeNull();
  });
  it('accepts grouped numbers and rejects Luhn failures and unknown ranges', () => {
    expect(isCardNumber('4111 1111 1111 1111')).toBe(true);
    expect(isCardNumber('4111-1111-1111-1111')).toBe(true);
    expect(isCardNumber('3782 822463 10005')).toBe(true);
    expect(isCardNumber('4111111111111112')).toBe(false);
    expect(isCardNumber('1234567812345670')).toBe(false); // Luhn-valid, no issuer
    expect(isCardNumber('4111 1111 1111 111')).toBe(false); // 15 digits: not a Visa length
  });
  it('knows the older JCB and broad Maestro ranges', () => {
    expect(cardIssuer(luhnComplete(`2131${'0'.repeat(10)}`))).toBe('jcb');
    expect(cardIssuer(luhnComplete(`5612${'3'.repeat(11)}`))).toBe('maestro');
  });
  it('flags a column of cards and not one of 16-digit ids that fail Luhn', () => {
    const g = new Gen(4);
    expect(top(col('misc', g.many(200, () => card(g, g.chance(0.5)))))).toMatchObject({ class: 'card', detector: 'value:luhn', matchRate: 1 });
    const ids = g.many(200, () => {
      const partial = `4${g.digits(14)}`;
      const good = luhnComplete(partial);
      return partial + ((Number(good.at(-1)) + g.int(1, 9)) % 10); // any other check digit fails Luhn
    });
    expect(classifyColumn(col('c2', ids))).toEqual([]);
    // Random 16-digit ids: about one in ten passes Luhn by chance.
    const random = g.many(200, () => `${g.int(1, 9)}${g.digits(15)}`);
    expect(classesOf(col('c3', random))).toEqual([]);
    expect(classesOf(col('c3', random, 'bigint'))).toEqual([]);
  });
});

describe('IBAN', () => {
  it('validates country, length and mod 97', () => {
    expect(isIban('DE89 3704 0044 0532 0130 00')).toBe(true);
    expect(isIban('GB82WEST12345698765432')).toBe(true);
    expect(isIban('gb82 west 1234 5698 7654 32')).toBe(true);
    expect(isIban('GB82WEST12345698765433')).toBe(false); // check digits
    expect(isIban('DE89370400440532013')).toBe(false); // length for DE
    expect(isIban('ZZ89370400440532013000')).toBe(false); // not a country
    const g = new Gen(5);
    for (const c of ['DE', 'GB', 'FR', 'NL', 'ES', 'IT'] as const) {
      for (let i = 0; i < 20; i++) expect(isIban(iban(g, c, g.chance(0.5))), c).toBe(true);
    }
  });
  it('flags an IBAN column under any name (and nothing else: not free text)', () => {
    const g = new Gen(6);
    const values = g.many(200, () => iban(g, g.pick(['DE', 'GB', 'FR', 'NL', 'ES', 'IT'] as const), g.chance(0.5)));
    expect(top(col('acct', values))).toMatchObject({ class: 'iban', matchRate: 1 });
    expect(classesOf(col('acct', values))).toEqual(['iban']);
  });
});

describe('IP addresses', () => {
  it('detects v4/v6 (with cidr prefixes) via node:net', () => {
    expect(ipVersion('192.168.1.10')).toBe(4);
    expect(ipVersion('10.0.0.0/8')).toBe(4);
    expect(ipVersion('2001:db8::1')).toBe(6);
    expect(ipVersion('::ffff:192.0.2.1')).toBe(6);
    expect(ipVersion('256.1.1.1')).toBe(0);
    expect(ipVersion('1.2.3')).toBe(0);
    expect(ipVersion('00:1a:2b:3c:4d:5e')).toBe(0);
  });
  it('flags addresses under neutral names and inet columns, not IP-shaped versions', () => {
    const g = new Gen(7);
    expect(top(col('c3', g.many(200, () => ipv4(g))))).toMatchObject({ class: 'ip_address', detector: 'value:ip' });
    expect(top(col('c4', g.many(200, () => ipv6(g))))).toMatchObject({ class: 'ip_address' });
    expect(top(col('peer', [null, null], 'inet'))).toMatchObject({ class: 'ip_address', detector: 'type:inet', matchRate: 0 });
    const versions = g.many(200, () => `${g.int(0, 12)}.${g.int(0, 20)}.${g.int(0, 30)}.${g.int(0, 31)}`);
    expect(classesOf(col('c5', versions))).toEqual([]);
    expect(classesOf(col('firmware_version', g.many(200, () => `${g.int(1, 250)}.${g.int(0, 255)}.${g.int(0, 99)}.${g.int(0, 255)}`)))).toEqual([]);
    expect(classesOf(col('client_ip', versions))).toEqual(['ip_address']);
  });
});

describe('dates of birth', () => {
  it('parses the usual date shapes', () => {
    expect(parseDate('1985-03-12')).toEqual({ year: 1985, month: 3, day: 12, hasTime: false });
    expect(parseDate('1985-03-12 00:00:00+00')?.hasTime).toBe(false);
    expect(parseDate('2024-03-12 14:22:05.123+01')?.hasTime).toBe(true);
    expect(parseDate('2024-03-12T14:22:05Z')?.hasTime).toBe(true);
    expect(parseDate('12/03/1985')?.year).toBe(1985);
    expect(parseDate('31.12.1985')?.year).toBe(1985);
    expect(parseDate('19850312')).toBeNull();
    expect(parseDate('19850312', true)?.year).toBe(1985);
    expect(parseDate('1985-13-12')).toBeNull();
  });
  it('flags birth-like dates, not event timestamps', () => {
    const g = new Gen(8);
    const births = g.many(200, () => dob(g));
    expect(top(col('date_of_birth', births, 'date'))).toMatchObject({ class: 'dob', matchRate: 1 });
    expect(top(col('date_of_birth', births, 'date'))?.confidence).toBeGreaterThanOrEqual(0.9);
    expect(classesOf(col('c5', births, 'date'))).toEqual(['dob']);
    const now = new Date().getUTCFullYear();
    const events = g.many(200, () => `${isoDate(g.int(now - 4, now), g.int(1, 12), g.int(1, 28))} ${pad(g.int(0, 23), 2)}:${pad(g.int(0, 59), 2)}:${pad(g.int(0, 59), 2)}+00`);
    expect(classifyColumn(col('created_at', events, 'timestamp with time zone'))).toEqual([]);
    expect(classesOf(col('c6', events, 'timestamp with time zone'))).toEqual([]);
    // Hire dates spread over decades look like birthdays by distribution; the name says event.
    const hires = g.many(200, () => isoDate(g.int(1960, 2010), g.int(1, 12), g.int(1, 28)));
    expect(classesOf(col('hired_on', hires, 'date'))).toEqual([]);
    // Recent dates without times (orders) are not birthdays.
    expect(classesOf(col('c7', g.many(200, () => isoDate(g.int(now - 6, now), g.int(1, 12), g.int(1, 28))), 'date'))).toEqual([]);
  });
});

describe('postal codes', () => {
  it('need an address name', () => {
    const g = new Gen(9);
    const zips = g.many(200, () => (g.chance(0.8) ? pad(g.int(501, 99950), 5) : `${pad(g.int(501, 99950), 5)}-${g.digits(4)}`));
    expect(classesOf(col('zip', zips))).toEqual(['postal_code']);
    expect(classesOf(col('billing_zip_code', zips))).toEqual(['postal_code']);
    expect(classesOf(col('c1', zips))).toEqual([]);
    const uk = g.many(100, () => `${g.pick(['SW1A', 'EC1A', 'M1', 'B33', 'CR2', 'DN55'])} ${g.int(1, 9)}${g.chars(2, 'ABDEFGHJLNPQRSTUWXYZ')}`);
    expect(classesOf(col('postcode', uk))).toEqual(['postal_code']);
    expect(classesOf(col('code', zips, 'text', 'addresses'))).toEqual(['postal_code']);
    expect(classesOf(col('zip', g.many(50, () => `file_${g.int(1, 99)}.zip`)))).toEqual([]);
  });
});

describe('person names', () => {
  it('shapes', () => {
    expect(personNameShape('John Smith')?.words).toEqual(['john', 'smith']);
    expect(personNameShape("Seán O'Brien-MacLeod")).not.toBeNull();
    expect(personNameShape('Smith, John')?.words).toEqual(['smith', 'john']);
    expect(personNameShape('Dr. Maria de la Cruz')?.words).toEqual(['maria', 'cruz']);
    expect(personNameShape('JOHN SMITH')?.allCaps).toBe(true);
    expect(personNameShape('J. R. Tolkien')).not.toBeNull();
    for (const v of ['john smith', 'Widget 3000', 'A', 'Order #12', 'hello@x.com', 'One Two Three Four Five']) expect(personNameShape(v), v).toBeNull();
  });
  it('use name hints, with the table as context for a bare `name`', () => {
    const g = new Gen(10);
    const rare = g.many(200, () => `${g.pick(['Zephyrine', 'Quillon', 'Thandiwe', 'Oisín', 'Bartholomew', 'Ximena'])} ${g.pick(['Vantongeren', 'Abernathy', 'Okonkwo', 'Szczepański'])}`);
    expect(classesOf(col('full_name', rare))).toEqual(['person_name']);
    expect(classesOf(col('customer_name', rare))).toEqual(['person_name']);
    expect(classesOf(col('name', rare, 'text', 'patients'))).toEqual(['person_name']);
    const common = g.many(200, () => fullName(g));
    expect(classesOf(col('c9', common))).toEqual(['person_name']);
    expect(classesOf(col('name', common, 'text', 'stuff'))).toEqual(['person_name']);
    const products = g.many(200, () => `${g.pick(['Ergonomic', 'Rustic', 'Sleek', 'Handmade', 'Refined'])} ${g.pick(['Steel', 'Granite', 'Cotton', 'Wooden'])} ${g.pick(['Chair', 'Table', 'Lamp', 'Shoes'])}`);
    expect(classesOf(col('name', products, 'text', 'products'))).toEqual([]);
    expect(classesOf(col('name', products, 'text', 'stuff'))).toEqual([]);
    expect(classesOf(col('product_name', common))).toEqual([]);
    const cities = ['Paris', 'Berlin', 'Austin', 'Madrid', 'Tokyo', 'Lagos', 'Lima', 'Oslo', 'Denver', 'Chicago', 'Boston', 'Seattle', 'Dublin', 'Vienna', 'Prague', 'Warsaw', 'Cairo', 'Nairobi', 'Quito', 'Hanoi', 'Jackson', 'Madison', 'Charlotte'];
    expect(classesOf(col('c10', g.many(200, () => g.pick(cities))))).toEqual([]);
    // Role nouns are weak hints: full names of people count, company names do not.
    const uncommon = g.many(200, () => `${g.pick(['Brittany', 'Tyrone', 'Xavier', 'Ashlyn', 'Deshawn', 'Kaylee', 'Brayden', 'Marisol', 'Dustin', 'Tamika'])} ${g.pick(['Hendricks', 'Wolfe', 'Barrera', 'Knapp', 'Whitaker', 'Dalton', 'Strickland', 'Pruitt', 'Huff', 'Rowe'])}`);
    expect(classesOf(col('contact', uncommon))).toEqual(['person_name']);
    expect(classesOf(col('primary_person', uncommon))).toEqual(['person_name']);
    expect(classesOf(col('c11', uncommon))).toEqual([]); // shape alone is not enough
    expect(classesOf(col('owner', g.many(200, () => `${g.pick(['Knapp', 'Wolfe', 'Dalton', 'Rowe'])} ${g.pick(['LLC', 'Inc', 'Group', 'Holdings'])}`)))).toEqual([]);
    expect(analyzeName('membership').positive.size).toBe(0);
    expect(classesOf(col('status', g.many(200, () => g.pick(['Active', 'Pending', 'Closed', 'Suspended']))))).toEqual([]);
  });
});

describe('secrets', () => {
  it('recognise JWTs, vendor keys, password hashes and PEM keys', () => {
    const g = new Gen(11);
    expect(isJwt(jwt(g))).toBe(true);
    expect(isJwt('aaaaaaaaaaaa.bbbbbbbbbb.cccccccc')).toBe(false); // header is not JSON with alg
    expect(isJwt(`${b64url('{"typ":"JWT"}')}.${b64url('{}')}.x`)).toBe(false);
    for (const v of [`sk_live_${g.chars(24, B62)}`, `ghp_${g.chars(36, B62)}`, `github_pat_${g.chars(40, `${B62}_`)}`, `xoxb-${g.digits(12)}-${g.chars(24, B62)}`, `AKIA${g.chars(16, `${UPPER}234567`)}`, `AIza${g.chars(35, B64URL)}`]) {
      expect(isApiKey(v), v).toBe(true);
    }
    expect(isApiKey('sk_live_short')).toBe(false);
    expect(isPasswordHash(bcrypt(g))).toBe(true);
    expect(isPasswordHash('$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI')).toBe(true);
    expect(isPasswordHash('pbkdf2_sha256$600000$abcdefgh$MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkw')).toBe(true);
    expect(isPasswordHash('$2b$12$tooshort')).toBe(false);
    expect(isPrivateKey('-----BEGIN RSA PRIVATE KEY-----\nMIIE...')).toBe(true);
    expect(isPrivateKey('-----BEGIN PUBLIC KEY-----\nMIIB...')).toBe(false);
  });
  it('high entropy: random tokens yes; UUIDs, hex, words, codes, encoded text no', () => {
    const g = new Gen(12);
    let hits = 0;
    for (let i = 0; i < 200; i++) if (isHighEntropyToken(g.chars(32, B62))) hits++;
    expect(hits).toBeGreaterThan(180);
    expect(isUuid(uuid(g))).toBe(true);
    for (const v of [uuid(g), g.chars(64, HEX), 'customerAccountNumberField2', 'ThisIsAVeryLongIdentifierName', 'WIDGET-2024-BLUE-XL-000123', b64url('{"id":123,"name":"john smith"}'), 'aaaaaaaaaaaaaaaaaaaaaaaa1A', 'user_profile_picture_large_v2']) {
      expect(isHighEntropyToken(v), v).toBe(false);
    }
    expect(isHexDigest(g.chars(40, HEX))).toBe(true);
    expect(isHexDigest(`\\x${g.chars(64, HEX)}`)).toBe(true);
    expect(isHexDigest(g.chars(33, HEX))).toBe(false);
  });
  it('columns: structure wins under any name; hex digests and UUIDs need a secret name', () => {
    const g = new Gen(13);
    expect(top(col('c6', g.many(200, () => jwt(g))))).toMatchObject({ class: 'secret', detector: 'value:jwt' });
    expect(top(col('c8', g.many(200, () => `AKIA${g.chars(16, `${UPPER}234567`)}`)))).toMatchObject({ class: 'secret', detector: 'value:api_key' });
    expect(top(col('blob', g.many(200, () => bcrypt(g))))).toMatchObject({ class: 'secret', detector: 'value:password_hash' });
    expect(classesOf(col('c12', g.many(200, () => g.chars(40, B62))))).toEqual(['secret']);
    expect(classesOf(col('public_id', g.many(200, () => g.chars(21, B64URL))))).toEqual([]);
    const sha = g.many(200, () => g.chars(64, HEX));
    expect(classifyColumn(col('checksum', sha))).toEqual([]);
    expect(classifyColumn(col('sha256', sha))).toEqual([]);
    expect(classesOf(col('c13', sha))).toEqual([]); // near miss only (judgement call, see classify.ts)
    expect(top(col('c13', sha))).toMatchObject({ class: 'secret', detector: 'value:hex_digest' });
    expect(classesOf(col('password_hash', sha))).toEqual(['secret']);
    expect(classesOf(col('reset_token', sha))).toEqual(['secret']);
    const ids = g.many(200, () => uuid(g));
    expect(classifyColumn(col('c14', ids, 'uuid'))).toEqual([]);
    expect(classifyColumn(col('request_id', ids))).toEqual([]);
    expect(classesOf(col('api_key', ids, 'uuid'))).toEqual(['secret']);
  });
  it('session ids are secrets when random, not when they are plain keys; key ids and questions are not', () => {
    const g = new Gen(21);
    expect(classesOf(col('session_id', g.many(200, () => g.chars(32, B62))))).toEqual(['secret']);
    expect(classesOf(col('session_id', g.many(200, () => uuid(g))))).toEqual([]);
    expect(classesOf(col('session_id', g.many(200, () => String(g.int(1, 1e6)))))).toEqual([]);
    expect(classesOf(col('api_key_id', g.many(200, () => `key_${g.int(1, 9999)}`)))).toEqual([]);
    expect(classesOf(col('api_key_name', g.many(200, () => g.pick(['Production', 'Staging key', 'CI']))))).toEqual([]);
    expect(classesOf(col('secret_question', g.many(200, () => g.pick(["Your first pet's name?", 'City you were born in?']))))).toEqual([]);
    // Typed object ids (Stripe style) are random but public handles.
    expect(classesOf(col('c1', g.many(200, () => `ch_${g.chars(24, B62)}`)))).toEqual([]);
  });
  it('plain-text passwords are found by name, unless the values contradict it', () => {
    const g = new Gen(14);
    const pw = g.many(200, () => g.pick(['hunter2', 'P@ssw0rd!', 'letmein', 'correct horse battery staple', 'qwerty123', 'Summer2024!']));
    expect(classesOf(col('password', pw))).toEqual(['secret']);
    expect(classesOf(col('pwd', pw))).toEqual(['secret']);
    expect(classesOf(col('password_reset_required', g.many(200, () => g.pick(['t', 'f'])), 'text'))).toEqual([]);
    expect(classesOf(col('password_changed_at', g.many(50, () => '2024-01-01 10:00:00+00'), 'timestamptz'))).toEqual([]);
    expect(classesOf(col('token_count', g.many(200, () => String(g.int(1, 5000))), 'integer'))).toEqual([]);
    expect(classesOf(col('boarding_pass', g.many(200, () => `BP${g.digits(6)}`)))).toEqual([]);
  });
});

// ---------------------------------------------------------------- name hints

describe('name hints', () => {
  it('tokenise snake_case, camelCase, digits and glued words', () => {
    expect(splitIdentifier('customerEmail2')).toEqual(['customer', 'email', '2']);
    expect(splitIdentifier('IPAddress')).toEqual(['ip', 'address']);
    expect(splitIdentifier('SSN')).toEqual(['ssn']);
    expect(nameTokens('dateofbirth')).toEqual(['date', 'of', 'birth']);
    expect(nameTokens('customeremail')).toEqual(['customer', 'email']);
    expect(nameTokens('phone_numbers')).toEqual(['phone', 'number']);
    expect(nameTokens('EmailAddresses')).toEqual(['email', 'address']);
    expect(nameTokens('card_last4')).toEqual(['card', 'last4']);
  });
  it('match whole tokens, never substrings', () => {
    for (const n of ['description', 'shipping_method', 'zipper_color', 'recipe', 'headphone_model', 'passport_country', 'membership', 'tipping_point', 'company', 'scorecard_url']) {
      const h = analyzeName(n);
      expect([...h.positive.keys()].filter((c) => c !== 'card'), n).toEqual([]);
    }
    expect(analyzeName('scorecard_url').positive.has('card')).toBe(false);
  });
  it('know the abbreviations', () => {
    const positive = (n: string, t = ''): PiiClass[] => [...analyzeName(n, t).positive.keys()];
    expect(positive('dob')).toEqual(['dob']);
    expect(positive('ssn')).toEqual(['ssn']);
    expect(positive('tel')).toEqual(['phone']);
    expect(positive('msisdn')).toEqual(['phone']);
    expect(positive('cc_num')).toEqual(['card']);
    expect(positive('ip')).toEqual(['ip_address']);
    expect(positive('last_login_ip')).toEqual(['ip_address']);
    expect(positive('ipv6_addr')).toEqual(['ip_address']);
    expect(positive('zip')).toEqual(['postal_code']);
    expect(positive('pwd')).toEqual(['secret']);
    expect(positive('apiKey')).toEqual(['secret']);
    expect(positive('EMail')).toEqual(['email']);
    expect(positive('BirthDate')).toEqual(['dob']);
    expect(positive('first_name')).toEqual(['person_name']);
    expect(positive('lname')).toEqual(['person_name']);
  });
  it('qualified and contrary names', () => {
    for (const n of ['email_verified', 'phone_count', 'card_last4', 'is_ssn_valid', 'password_changed_at', 'email_id', 'ip_country', 'birthplace']) {
      expect(analyzeName(n).positive.size, n).toBe(0);
    }
    expect(analyzeName('email_verified').qualified.has('email')).toBe(true);
    expect(analyzeName('order_no').identifierLike).toBe(true);
    expect(analyzeName('app_version').versionLike).toBe(true);
    expect(analyzeName('created_at').eventTime).toBe(true);
    expect(analyzeName('sha256').digestLike).toBe(true);
    expect(analyzeName('password_hash').digestLike).toBe(false);
    expect(analyzeName('username').positive.has('person_name')).toBe(false);
    expect(analyzeName('hostname').positive.has('person_name')).toBe(false);
    expect(analyzeName('table_name').positive.has('person_name')).toBe(false);
    expect(analyzeName('name', 'products').positive.has('person_name')).toBe(false);
    expect(analyzeName('name', 'customers').positive.get('person_name')).toBeGreaterThanOrEqual(0.5);
  });
});

// ---------------------------------------------------------------- name-only findings

describe('name-only findings', () => {
  it('a clear name is sensitive with no values to look at', () => {
    for (const [name, cls] of [
      ['ssn', 'ssn'],
      ['email', 'email'],
      ['password', 'secret'],
      ['date_of_birth', 'dob'],
      ['credit_card_number', 'card'],
      ['iban', 'iban'],
      ['phone', 'phone'],
    ] as const) {
      const f = classifyColumn(col(name, [null, null, null]));
      expect(f[0], name).toMatchObject({ class: cls, matchRate: 0, detector: `name:${cls}` });
      expect(f[0].confidence, name).toBeGreaterThanOrEqual(SENSITIVE_CONFIDENCE);
      expect(classifyColumn(col(name, []))[0]?.class, name).toBe(cls);
    }
  });
  it('an ambiguous name stays below the threshold', () => {
    for (const name of ['name', 'zip', 'card', 'mobile', 'cc']) {
      const f = classifyColumn(col(name, []));
      expect(f.length, name).toBe(1);
      expect(f[0].confidence, name).toBeLessThan(SENSITIVE_CONFIDENCE);
    }
  });
  it('values that contradict the name lower it', () => {
    const g = new Gen(15);
    const f = classifyColumn(col('email', g.many(100, () => g.pick(['yes', 'no', 'maybe', 'later']))));
    expect(f[0]).toMatchObject({ class: 'email', matchRate: 0 });
    expect(f[0].confidence).toBeLessThan(SENSITIVE_CONFIDENCE);
    expect(classesOf(col('ssn', g.many(100, () => `ORD-${g.digits(6)}`)))).toEqual([]);
  });
  it('placeholders count as missing, booleans and other types never', () => {
    expect(classifyColumn(col('email', ['', 'N/A', null, 'null']))[0]).toMatchObject({ class: 'email', matchRate: 0, detector: 'name:email' });
    expect(classifyColumn(col('has_email', ['t', 'f'], 'boolean'))).toEqual([]);
    expect(classifyColumn(col('phone', ['10:00:00'], 'time without time zone'))).toEqual([]);
  });
});

// ---------------------------------------------------------------- JSON

describe('JSON documents', () => {
  it('walks key paths and reports them', () => {
    const g = new Gen(16);
    const docs = g.many(200, () =>
      JSON.stringify({
        id: g.int(1, 1e6),
        prefs: { theme: g.pick(['dark', 'light']), lang: g.pick(['en', 'de']) },
        contact: { mobile: phone(g), email: email(g) },
        phones: [phone(g), phone(g)],
        tags: ['a', 'b'],
        ...(g.chance(0.5) ? { ssn: null } : {}),
      }),
    );
    const f = sensitive(classifyColumn(col('profile', docs, 'jsonb')));
    const byPath = new Map(f.map((x) => [`${x.jsonPath} ${x.class}`, x]));
    expect(byPath.get('$.contact.mobile phone')?.detector).toBe('json:phone');
    expect(byPath.has('$.contact.email email')).toBe(true);
    expect(byPath.has('$.phones[*] phone')).toBe(true);
    expect(byPath.get('$.ssn ssn')?.detector).toBe('json:name:ssn');
    expect(f.some((x) => x.jsonPath?.startsWith('$.prefs') || x.jsonPath === '$.id' || x.jsonPath?.startsWith('$.tags'))).toBe(false);
    // Text columns holding JSON are walked too, and top-level arrays use [*].
    const text = classifyColumn(col('data', g.many(50, () => JSON.stringify([{ email: email(g) }]))));
    expect(text[0]).toMatchObject({ class: 'email', jsonPath: '$[*].email' });
  });
  it('never writes data-like keys into a path', () => {
    const g = new Gen(17);
    const docs = g.many(50, () => JSON.stringify({ [email(g)]: { phone: phone(g) }, [`user_${g.digits(8)}`]: 1 }));
    const f = classifyColumn(col('by_user', docs, 'json'));
    expect(f[0]).toMatchObject({ class: 'phone', jsonPath: '$.*.phone' });
    for (const doc of docs) for (const key of Object.keys(JSON.parse(doc) as object)) expect(JSON.stringify(f)).not.toContain(key);
  });
  it('bounds the work on deep or wide documents', () => {
    let deep: unknown = 'x@example.com';
    for (let i = 0; i < 500; i++) deep = { a: deep };
    const wide = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, `v${i}@example.com`]));
    const start = Date.now();
    const f = classifyColumn(col('doc', [JSON.stringify(deep), JSON.stringify(wide)], 'jsonb'));
    expect(Date.now() - start).toBeLessThan(2000);
    expect(f.length).toBeLessThan(10);
  });
});

// ---------------------------------------------------------------- free text

describe('free text', () => {
  it('finds emails, phones, SSNs, cards and keys inside text', () => {
    const kinds = (t: string): string[] => findPiiInText(t).map((h) => h.kind);
    expect(kinds('Customer john.doe@example.com called.')).toEqual(['email']);
    expect(kinds('Call back on +44 20 7946 0958 after 5pm')).toEqual(['phone']);
    expect(kinds('Call (555) 123-4567.')).toEqual(['phone']);
    expect(kinds('SSN on file: 123-45-6789')).toEqual(['ssn']);
    expect(kinds('SSN on file: 987-65-4321')).toEqual([]); // area 987 is invalid
    expect(kinds('paid with 4111 1111 1111 1111 yesterday')).toEqual(['card']);
    expect(kinds(`key sk_live_${'a1B2'.repeat(6)} leaked`)).toEqual(['secret']);
    expect(kinds('mailto:jane@example.org')).toEqual(['email']);
    // An IBAN in a note is one hit, and its digit groups are not a phone (0417 1643 00) or a card.
    expect(kinds('wire to NL91 ABNA 0417 1643 00 today')).toEqual(['iban']);
    expect(kinds('wire to NL91ABNA0417164300')).toEqual(['iban']);
    for (const t of ['Released v1.2.10.4 on 2024-01-15 at 10:30', 'Order #123456789 total $1,299.99', 'see https://example.com/products/123?ref=abc', 'ids 4111111111111112 and 1234567812345670', 'connect to https://user:pass@db.example.com/x']) {
      expect(kinds(t), t).toEqual([]);
    }
  });
  it('classifies notes with PII as free_text and plain email columns as email', () => {
    const g = new Gen(18);
    const notes = g.many(200, () =>
      g.pick([
        () => `Customer asked to be contacted at ${email(g)} about the refund.`,
        () => `Left a voicemail, call back on ${phone(g)} tomorrow.`,
        () => 'Shipped the replacement part, tracking pending.',
        () => 'Discussed pricing for the 2025 plan; will follow up next week.',
        () => 'No answer.',
      ])(),
    );
    expect(top(col('notes', notes))).toMatchObject({ class: 'free_text' });
    expect(classesOf(col('c15', notes))).toEqual(['free_text']);
    const fewEmails = g.many(200, (i) => (i % 10 === 0 ? `Escalated by ${email(g)}` : 'Routine check, nothing to report.'));
    expect(top(col('comment', fewEmails))).toMatchObject({ class: 'free_text', detector: 'text:email', matchRate: 0.1 });
    expect(classesOf(col('contact', g.many(200, () => email(g))))).toEqual(['email']);
    const clean = g.many(200, () => `Version ${g.int(1, 9)}.${g.int(0, 20)}.${g.int(0, 9)} released on 2024-0${g.int(1, 9)}-1${g.int(0, 9)}; ${g.int(1, 500)} units at $${g.int(1, 99)}.99`);
    expect(classifyColumn(col('description', clean))).toEqual([]);
    // A few distinct emails among many notes still matter; one support address repeated does not.
    const rare = g.many(200, (i) => (i % 50 === 0 ? `Forwarded from ${email(g)}` : 'Routine check, nothing to report.'));
    expect(classesOf(col('c17', rare))).toEqual(['free_text']);
    const sameAddress = g.many(200, (i) => (i % 25 === 0 ? 'Questions? support@example.com' : 'Routine check.'));
    expect(classesOf(col('c18', sameAddress))).toEqual([]);
    const boilerplate = g.many(200, () => `Great ${g.pick(['chair', 'lamp', 'desk'])}! Questions? Write to support@example.com.`);
    expect(classesOf(col('description', boilerplate))).toEqual([]);
  });
});

describe('mixed columns and arrays', () => {
  it('a contact column with emails and phones half and half is both', () => {
    const g = new Gen(19);
    const values = g.many(200, (i) => (i % 2 ? email(g) : phone(g)));
    expect(classesOf(col('contact', values)).sort()).toEqual(['email', 'phone']);
  });
  it('parses PostgreSQL array literals', () => {
    expect(parsePgArray('{a,"b c",NULL,"NULL","x\\"y"}')).toEqual(['a', 'b c', 'NULL', 'x"y']);
    expect(parsePgArray('{{1,2},{3,4}}')).toEqual(['1', '2', '3', '4']);
    expect(parsePgArray('[0:1]={a,b}')).toEqual(['a', 'b']);
    expect(typeFamily('character varying(64)[]')).toEqual({ family: 'text', array: true });
    const g = new Gen(20);
    const values = g.many(100, () => `{${email(g)},"${email(g)}"}`);
    expect(top(col('c16', values, 'text[]'))).toMatchObject({ class: 'email', matchRate: 1 });
  });
});

// ---------------------------------------------------------------- robustness

describe('robustness', () => {
  it('stays fast on hostile values', () => {
    const hostile = [
      'a'.repeat(100_000) + '@',
      '@'.repeat(5000),
      `${'a.'.repeat(3000)}@${'b.'.repeat(3000)}`,
      '1-'.repeat(5000),
      '1 '.repeat(5000),
      'eyJ'.repeat(5000),
      `eyJ${'a'.repeat(3000)}.eyJ${'a'.repeat(3000)}`,
      '+('.repeat(5000),
      `${'Aa'.repeat(5000)}!`,
      '{'.repeat(20000),
      `sk_live_${'a'.repeat(5000)}`,
      '-----BEGIN '.repeat(1000),
      `${'x@y.'.repeat(2000)}`,
    ];
    const values = Array.from({ length: 1000 }, (_, i) => hostile[i % hostile.length]);
    const start = Date.now();
    for (const name of ['c1', 'notes', 'email', 'password', 'phone']) classifyColumn(col(name, values));
    expect(Date.now() - start).toBeLessThan(5000);
  });
});

// ---------------------------------------------------------------- fixture: precision and recall

interface FixtureColumn {
  readonly sample: ColumnSample;
  /** The classes a correct classifier reports as sensitive; [] for a decoy. */
  readonly expected: readonly PiiClass[];
}

function fixture(): FixtureColumn[] {
  const g = new Gen(2024);
  const n = 200;
  const now = new Date().getUTCFullYear();
  const many = (f: () => string, nulls = 0.05): (string | null)[] => g.many(n, () => (g.chance(nulls) ? null : f()));
  const pii = (column: string, expected: PiiClass[], values: (string | null)[], dataType = 'text', table = 'accounts'): FixtureColumn => ({ sample: col(column, values, dataType, table), expected });
  const decoy = (column: string, values: (string | null)[], dataType = 'text', table = 'orders'): FixtureColumn => ({ sample: col(column, values, dataType, table), expected: [] });
  let seq = 120_450_000;
  return [
    // PII, often under names that say nothing or mislead.
    pii('c7', ['ssn'], many(() => ssn(g))),
    pii('c2', ['ssn'], many(() => ssn(g).replace(/-/g, ''))),
    pii('contact', ['email'], many(() => email(g))),
    pii('login', ['email'], many(() => email(g).toUpperCase())),
    pii('reach', ['phone'], many(() => phone(g))),
    pii('mobile', ['phone'], many(() => `0${g.int(6, 7)}${g.digits(8)}`)),
    pii('misc', ['card'], many(() => card(g, g.chance(0.5)))),
    pii('pan_token', ['card'], many(() => card(g)), 'numeric'),
    pii('acct', ['iban'], many(() => iban(g, g.pick(['DE', 'GB', 'FR', 'NL', 'ES', 'IT'] as const), g.chance(0.5)))),
    pii('origin', ['ip_address'], many(() => (g.chance(0.8) ? ipv4(g) : ipv6(g)))),
    pii('peer', ['ip_address'], many(() => ipv4(g)), 'inet'),
    pii('c5', ['dob'], many(() => dob(g)), 'date'),
    pii('birthday', ['dob'], many(() => `${pad(g.int(1, 28), 2)}/${pad(g.int(1, 12), 2)}/${g.int(1950, now - 1)}`)),
    pii('zip', ['postal_code'], many(() => pad(g.int(501, 99950), 5))),
    pii('first_name', ['person_name'], many(() => g.pick(FIRST))),
    pii('holder', ['person_name'], many(() => fullName(g))),
    pii('name', ['person_name'], many(() => fullName(g)), 'text', 'customers'),
    pii('c6', ['secret'], many(() => jwt(g))),
    pii('c8', ['secret'], many(() => `AKIA${g.chars(16, `${UPPER}234567`)}`)),
    pii('blob', ['secret'], many(() => bcrypt(g))),
    pii('password', ['secret'], many(() => g.chars(g.int(8, 14), `${B62}!@#$%`))),
    pii('c12', ['secret'], many(() => g.chars(40, B62))),
    pii('profile', ['phone', 'email'], many(() => JSON.stringify({ theme: 'dark', contact: { phone: phone(g) }, emails: [email(g)] })), 'jsonb'),
    pii('attrs', ['ssn'], many(() => JSON.stringify({ kind: 'person', gov: { id_number: ssn(g) } }))),
    pii('notes', ['free_text'], many(() => (g.chance(0.3) ? `Reach me at ${email(g)} or ${phone(g)}` : 'Called, no answer.'))),
    pii('ssn', ['ssn'], g.many(n, () => null)),
    pii('emails', ['email'], many(() => `{${email(g)},${email(g)}}`), 'text[]'),
    // Decoys shaped like PII.
    decoy('order_no', many(() => {
      seq += g.int(1, 40);
      const s = String(seq);
      return `${s.slice(0, 3)}-${s.slice(3, 5)}-${s.slice(5)}`;
    })),
    decoy('c11', many(() => `${g.digits(3)}-${g.digits(2)}-${g.digits(4)}`)),
    decoy('invoice_ref', many(() => ssn(g))),
    decoy('account_id', many(() => {
      const partial = `4${g.digits(14)}`;
      return partial + ((Number(luhnComplete(partial).at(-1)) + 1) % 10);
    })),
    decoy('c13', many(() => `${g.int(1, 9)}${g.digits(15)}`), 'bigint'),
    decoy('app_version', many(() => `${g.int(1, 12)}.${g.int(0, 20)}.${g.int(0, 30)}.${g.int(0, 31)}`)),
    decoy('c14', many(() => `${g.int(0, 10)}.${g.int(0, 20)}.${g.int(0, 30)}.${g.int(0, 31)}`)),
    decoy('id', many(() => uuid(g)), 'uuid'),
    decoy('c15', many(() => uuid(g))),
    decoy('checksum', many(() => g.chars(64, HEX))),
    decoy('etag', many(() => g.chars(32, HEX))),
    decoy('c16', many(() => g.chars(40, HEX))),
    decoy('created_at', many(() => `${isoDate(g.int(now - 3, now), g.int(1, 12), g.int(1, 28))} ${pad(g.int(0, 23), 2)}:${pad(g.int(0, 59), 2)}:00+00`), 'timestamp with time zone'),
    decoy('c17', many(() => `${isoDate(g.int(now - 3, now), g.int(1, 12), g.int(1, 28))} ${pad(g.int(0, 23), 2)}:${pad(g.int(0, 59), 2)}:00`), 'timestamp without time zone'),
    decoy('shipped_on', many(() => isoDate(g.int(now - 2, now), g.int(1, 12), g.int(1, 28))), 'date'),
    decoy('qty', many(() => String(g.int(1, 5000))), 'integer'),
    decoy('c18', many(() => String(g.int(10000, 99999))), 'integer'),
    decoy('amount', many(() => `${g.int(1, 99999)}.${g.digits(2)}`), 'numeric(12,2)'),
    decoy('sku', many(() => `PRD-${g.digits(5)}-${g.pick(['XS', 'S', 'M', 'L', 'XL'])}`)),
    decoy('part_number', many(() => `${g.digits(3)}-${g.digits(3)}-${g.digits(4)}`)),
    decoy('country', many(() => g.pick(['US', 'DE', 'FR', 'GB', 'JP', 'BR', 'IN', 'LI']))),
    decoy('status', many(() => g.pick(['active', 'pending', 'closed', 'Active', 'Suspended']))),
    decoy('url', many(() => `https://shop.example.com/products/${g.int(1, 9999)}?ref=${g.chars(8, B62)}`)),
    decoy('name', many(() => `${g.pick(['Ergonomic', 'Rustic', 'Sleek'])} ${g.pick(['Steel', 'Cotton'])} ${g.pick(['Chair', 'Lamp', 'Desk'])}`), 'text', 'products'),
    decoy('city', many(() => g.pick(['Paris', 'Austin', 'Berlin', 'Jackson', 'Madison', 'Lagos', 'Osaka', 'Lima']))),
    decoy('username', many(() => `${g.pick(FIRST).toLowerCase()}${g.int(1, 999)}`)),
    decoy('description', many(() => `Model ${g.chars(3, UPPER)}-${g.digits(3)}, v${g.int(1, 5)}.${g.int(0, 9)}, ships in ${g.int(1, 9)} days. Price $${g.int(5, 500)}.99`)),
    decoy('public_id', many(() => g.chars(21, B64URL))),
    decoy('cursor', many(() => b64url(JSON.stringify({ after: g.int(1, 1e6), dir: 'fwd' })))),
    decoy('email_verified', many(() => g.pick(['true', 'false']))),
    decoy('phone_count', many(() => String(g.int(0, 3))), 'integer'),
    decoy('color', many(() => g.pick(['Black', 'White', 'Green', 'Gray', 'Rose', 'Brown', 'Navy', 'Red']))),
    decoy('lat_lng', many(() => `${g.int(-89, 89)}.${g.digits(6)},${g.int(-179, 179)}.${g.digits(6)}`)),
    decoy('event_payload', many(() => JSON.stringify({ event: 'click', version: '1.2.3.4', ts: '2024-05-01T10:00:00Z', count: g.int(1, 9) })), 'jsonb'),
  ];
}

describe('fixture: PII under misleading names and look-alike decoys', () => {
  const columns = fixture();
  const results = columns.map((c) => ({ ...c, findings: classifyColumn(c.sample) }));

  it('recall 1.0 on PII columns (each expected class found)', () => {
    const missed: string[] = [];
    for (const r of results) {
      const found = new Set(sensitive(r.findings).map((f) => f.class));
      for (const cls of r.expected) if (!found.has(cls)) missed.push(`${r.sample.column}: ${cls} (got ${JSON.stringify(r.findings)})`);
    }
    expect(missed).toEqual([]);
  });

  it('precision ≥ 0.9 over all sensitive findings', () => {
    let truePositives = 0;
    const wrong: string[] = [];
    for (const r of results) {
      for (const f of sensitive(r.findings)) {
        if (r.expected.includes(f.class)) truePositives++;
        else wrong.push(`${r.sample.column}: ${f.class} ${f.confidence} ${f.detector}`);
      }
    }
    const precision = truePositives / (truePositives + wrong.length);
    expect(precision, wrong.join('\n')).toBeGreaterThanOrEqual(0.9);
    // Every decoy here is one of the look-alikes the classifier is meant to reject.
    expect(wrong).toEqual([]);
  });

  it('findings carry no sampled value', () => {
    for (const r of results) {
      const text = JSON.stringify(r.findings);
      for (const v of r.sample.values) {
        if (v !== null && v.length >= 4) expect(text.includes(v), r.sample.column).toBe(false);
      }
    }
  });

  it('at most one finding per (class, jsonPath), sorted by confidence', () => {
    for (const r of results) {
      const keys = r.findings.map((f) => `${f.class} ${f.jsonPath ?? ''}`);
      expect(new Set(keys).size).toBe(keys.length);
      const conf = r.findings.map((f) => f.confidence);
      expect(conf).toEqual([...conf].sort((a, b) => b - a));
      for (const f of r.findings) {
        expect(f.matchRate).toBeGreaterThanOrEqual(0);
        expect(f.matchRate).toBeLessThanOrEqual(1);
      }
    }
  });

  it('classifies a large sample quickly', () => {
    const start = Date.now();
    for (let i = 0; i < 5; i++) for (const c of columns) classifyColumn(c.sample);
    // ~60 columns × 200 values × 5 rounds.
    expect(Date.now() - start).toBeLessThan(5000);
  });
});

// ---------------------------------------------------------------- held-out findings

/** E.164 digits without `+`, as a bigint column stores them. */
function e164Digits(g: Gen): string {
  return g.pick([
    () => `1${g.int(201, 989)}${g.int(200, 999)}${g.digits(4)}`,
    () => `447${g.int(400, 999)}${g.digits(6)}`,
    () => `49${g.pick(['151', '160', '170', '176'])}${g.digits(8)}`,
    () => `33${g.int(6, 7)}${g.digits(8)}`,
    () => `34${g.int(6, 7)}${g.digits(8)}`,
    () => `316${g.digits(8)}`,
  ])();
}

const RARE_FIRST = ['Zephyrine', 'Quillon', 'Thandiwe', 'Oisín', 'Bartholomew', 'Ximena', 'Leocadia', 'Ignatius', 'Perpetua', 'Evander'];
const RARE_LAST = ['Vantongeren', 'Abernathy', 'Okonkwo', 'Szczepański', 'Featherstonehaugh', 'Quennell', 'Ravensworth', 'Umberfield'];

describe('phones as numbers and in national formats', () => {
  it('check E.164 digits without `+` against country codes and national lengths', () => {
    for (const v of ['14155552671', '447911123456', '4915123456789', '33612345678', '34612345678', '31612345678', '8613812345678']) expect(e164DigitsValid(v), v).toBe(true);
    // Unassigned code, wrong national length, NANP area/exchange starting with 0/1, too long.
    for (const v of ['999123456789', '4479111234567', '10155552671', '14151552671', '3361234567', '1234567890123456']) expect(e164DigitsValid(v), v).toBe(false);
    expect(nanpValid('4158672291')).toBe(true);
    expect(nanpValid('5551234567')).toBe(false); // exchange 123
  });
  it('know national formats without trunk prefix, and leave thousands-grouped digits to the column', () => {
    for (const v of ['91 123 45 67', '22 34 56 78', '612 34 56 78']) expect(phoneKind(v), v).toBe('strong');
    expect(phoneKind('612 345 678')).toBe('grouped');
    for (const v of ['447911123456', '612345678']) expect(phoneKind(v), v).toBe('weak');
    for (const v of ['123-4567-89', '12-3456-78', '1 234 567', '12 34 56 78']) expect(phoneKind(v), v).toBeNull();
  });
  it('bigint phone numbers: found under a phone name (sms_number, 60% NULL) and, spread and valid, under a neutral one', () => {
    const g = new Gen(101);
    const sms = g.many(200, () => (g.chance(0.6) ? null : e164Digits(g)));
    expect(top(col('sms_number', sms, 'bigint'))).toMatchObject({ class: 'phone', matchRate: 1 });
    expect(classesOf(col('sms_number', sms, 'bigint'))).toEqual(['phone']);
    expect(classesOf(col('msisdn', sms, 'numeric(15,0)'))).toEqual(['phone']);
    const values = g.many(200, () => e164Digits(g));
    expect(classesOf(col('c1', values, 'bigint'))).toEqual(['phone']);
    expect(top(col('c1', values, 'bigint'))?.detector).toBe('value:phone_digits');
    expect(classesOf(col('c1', g.many(200, () => `${g.int(201, 989)}${g.int(200, 999)}${g.digits(4)}`), 'bigint'))).toEqual(['phone']);
  });
  it('bigint ids, timestamps and counters are not phones', () => {
    const g = new Gen(102);
    for (const len of [10, 11, 12, 13]) {
      const ids = g.many(200, () => `${g.int(1, 9)}${g.digits(len - 1)}`);
      expect(classesOf(col('c1', ids, 'bigint')), `${len} digits`).toEqual([]);
    }
    // Even uniform ids whose first digit is 2–9 (72–80% pass the NANP rules by chance).
    expect(classesOf(col('c1', g.many(200, () => `${g.int(2, 9)}${g.digits(9)}`), 'bigint'))).toEqual([]);
    // Ids in sequence, and millisecond/second timestamps.
    expect(classesOf(col('c1', g.many(200, (i) => String(14_155_552_671 + i * 3)), 'bigint'))).toEqual([]);
    expect(classesOf(col('c1', g.many(200, () => String(1_700_000_000_000 + g.int(0, 1e9))), 'bigint'))).toEqual([]);
    expect(classesOf(col('c1', g.many(200, () => String(1_700_000_000 + g.int(0, 1e8))), 'bigint'))).toEqual([]);
    // Too few values to tell.
    expect(classesOf(col('c1', g.many(12, () => e164Digits(g)), 'bigint'))).toEqual([]);
    // Check-digit ids that happen to fit a numbering plan.
    expect(classesOf(col('c1', g.many(200, () => luhnComplete(`${g.int(201, 989)}${g.int(200, 999)}${g.digits(3)}`)), 'bigint'))).toEqual([]);
  });
  it('Spanish and other national numbers under a neutral name; amounts with thousands separators are not phones', () => {
    const g = new Gen(103);
    expect(classesOf(col('c1', g.many(200, () => `${g.int(6, 7)}${g.digits(2)} ${g.digits(3)} ${g.digits(3)}`)))).toEqual(['phone']);
    expect(classesOf(col('c2', g.many(200, () => `${g.pick(['91', '93', '96', '95'])} ${g.digits(3)} ${g.digits(2)} ${g.digits(2)}`)))).toEqual(['phone']);
    // Amounts spread over orders of magnitude, printed with spaces as thousands separators.
    const amounts = g.many(200, () => g.int(1, 10 ** g.int(3, 10)).toLocaleString('fr-FR').replace(/\s/g, ' '));
    expect(classesOf(col('c3', amounts))).toEqual([]);
    // Company numbers printed 3-3-3 (French SIREN) carry a Luhn check digit: identifiers.
    const siren = g.many(200, () => luhnComplete(`${g.int(3, 9)}${g.digits(7)}`).replace(/^(\d{3})(\d{3})(\d{3})$/, '$1 $2 $3'));
    expect(classesOf(col('c4', siren))).toEqual([]);
    expect(classesOf(col('c5', siren.map((v) => v.replace(/ /g, ''))))).toEqual([]);
  });
  it('part numbers shaped like NANP numbers break the numbering plan and are not phones; real ones are', () => {
    const g = new Gen(104);
    const parts = g.many(200, () => `${g.digits(3)}-${g.digits(3)}-${g.digits(4)}`);
    expect(classesOf(col('c1', parts))).toEqual([]);
    expect(classesOf(col('part_no', parts))).toEqual([]);
    const real = g.many(200, () => `${g.int(201, 989)}-${g.int(200, 999)}-${g.digits(4)}`);
    expect(classesOf(col('c1', real))).toEqual(['phone']);
    // Under a phone name sloppy test numbers (555-123-4567) still count.
    expect(classesOf(col('phone', parts))).toEqual(['phone']);
  });
  it('name hints for text-message and mobile numbers', () => {
    for (const name of ['sms_number', 'sms', 'msisdn', 'fax', 'whatsapp', 'celular', 'telefoon', 'rufnummer']) expect(analyzeName(name).positive.get('phone') ?? 0, name).toBeGreaterThanOrEqual(0.5);
    for (const name of ['mobile', 'cell', 'handy']) expect(analyzeName(name).positive.has('phone'), name).toBe(true);
    for (const name of ['sms_enabled', 'sms_sent_at', 'sms_count', 'sms_template']) expect(analyzeName(name).positive.has('phone'), name).toBe(false);
  });
});

describe('person names with forms of address, under weak or role names, and in capitals', () => {
  it('shapes know honorifics before a name', () => {
    expect(personNameShape('Dr. Jane Roe')).toMatchObject({ words: ['jane', 'roe'], titled: true });
    expect(personNameShape('Mrs Smith')?.titled).toBe(true);
    expect(personNameShape('Herr Müller')?.titled).toBe(true);
    expect(personNameShape('John Smith Jr.')?.titled).toBe(false);
    expect(personNameShape('Dr.')).toBeNull();
  });
  it('"Dr. First Last" under provider_name and under a neutral name', () => {
    const g = new Gen(111);
    const doctors = g.many(200, () => `${g.pick(['Dr.', 'Dr', 'Prof.'])} ${g.pick(RARE_FIRST)} ${g.pick(RARE_LAST)}`);
    expect(classesOf(col('provider_name', doctors, 'text', 'appointments'))).toEqual(['person_name']);
    expect(top(col('c1', doctors))).toMatchObject({ class: 'person_name', detector: 'value:honorific' });
    expect(classesOf(col('c1', doctors))).toEqual(['person_name']);
    expect(classesOf(col('payer_name', g.many(200, () => `${g.pick(RARE_FIRST)} ${g.pick(RARE_LAST)}`)))).toEqual(['person_name']);
    // A small clinic: a handful of doctors over many appointments.
    const few = g.many(6, () => `Dr. ${g.pick(RARE_FIRST)} ${g.pick(RARE_LAST)}`);
    const appointments = g.many(200, () => g.pick(few));
    expect(classesOf(col('provider_name', appointments))).toEqual(['person_name']);
    expect(classesOf(col('doctor', appointments))).toEqual(['person_name']);
    expect(classesOf(col('provider', g.many(200, () => g.pick(['Google', 'GitHub', 'Microsoft', 'Apple']))))).toEqual([]);
    expect(classesOf(col('doctor', g.many(200, () => String(g.int(1, 40))), 'integer'))).toEqual([]);
  });
  it('a provider or carrier that is an organisation is not a person', () => {
    const g = new Gen(112);
    const orgs = g.many(200, () => `${g.pick(['Blue', 'United', 'Summit', 'Harbor', 'Atlas'])} ${g.pick(['Health', 'Care', 'Medical', 'Mutual'])} ${g.pick(['Group', 'Partners', 'Network', 'Plan'])}`);
    expect(classesOf(col('provider_name', orgs))).toEqual([]);
    expect(classesOf(col('insurance_provider', orgs))).toEqual([]);
    expect(classesOf(col('c1', orgs))).toEqual([]);
    // Titles of things are not forms of address.
    expect(classesOf(col('c2', g.many(200, () => `${g.pick(['Dr', 'Mr'])} ${g.pick(['Pepper', 'Clean', 'Muscle', 'Noodle'])}`)))).toEqual([]);
  });
  it('names in capitals: common names count under a neutral name, capitalised statuses and cities do not', () => {
    const g = new Gen(113);
    expect(classesOf(col('c1', g.many(200, () => fullName(g).toUpperCase())))).toEqual(['person_name']);
    expect(classesOf(col('c2', g.many(200, () => `${g.pick(LAST).toUpperCase()}, ${g.pick(FIRST)}`)))).toEqual(['person_name']);
    expect(classesOf(col('c3', g.many(200, () => g.pick(['ACTIVE', 'PENDING', 'CLOSED', 'ON HOLD']))))).toEqual([]);
    expect(classesOf(col('c4', g.many(200, () => g.pick(['PARIS', 'BERLIN', 'AUSTIN', 'MADRID', 'TOKYO', 'LAGOS', 'LIMA', 'OSLO', 'DENVER', 'CHICAGO', 'JACKSON', 'MADISON', 'CHARLOTTE']))))).toEqual([]);
  });
});

describe('second-factor secrets', () => {
  it('name hints: recovery/backup codes, OTP/TOTP seeds, 2FA', () => {
    for (const name of ['recovery_codes', 'backup_codes', 'mfa_secret', 'totp_secret', 'totp_seed', 'totp', 'otp_secret', '2fa_code', 'mfaRecoveryCodes', 'seed_phrase']) {
      expect(analyzeName(name).positive.get('secret') ?? 0, name).toBeGreaterThanOrEqual(0.5);
    }
    expect(nameTokens('2fa_secret')).toEqual(['2fa', 'secret']);
    for (const name of ['mfa', '2fa']) expect(analyzeName(name).positive.get('secret'), name).toBeLessThan(0.5);
    for (const name of ['mfa_enabled', 'totp_enabled', 'recovery_codes_generated_at', 'otp_sent_at', 'mfa_method', 'recovery_email']) {
      expect(analyzeName(name).positive.has('secret'), name).toBe(false);
    }
  });
  it('recovery codes in a text[] column, mostly NULL', () => {
    const g = new Gen(121);
    const lower = 'abcdefghijklmnopqrstuvwxyz0123456789';
    const arrays = g.many(200, () => (g.chance(0.7) ? null : `{${g.many(8, () => `${g.chars(5, lower)}-${g.chars(5, lower)}`).join(',')}}`));
    expect(classesOf(col('recovery_codes', arrays, 'text[]'))).toEqual(['secret']);
    expect(classesOf(col('backup_codes', arrays, 'text[]'))).toEqual(['secret']);
    // Codes of that shape under a neutral name may as well be coupons or licence keys.
    expect(classesOf(col('c1', arrays, 'text[]'))).toEqual([]);
    expect(classesOf(col('recovery_codes_used', g.many(200, () => String(g.int(0, 8))), 'integer'))).toEqual([]);
  });
  it('TOTP base32 seeds under a neutral name; Crockford ids and words are not', () => {
    const g = new Gen(122);
    const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
    expect(isBase32Secret('JBSWY3DPEHPK3PXP')).toBe(true);
    expect(isBase32Secret('jbsw y3dp ehpk 3pxp')).toBe(true);
    for (const v of ['ABCDEFGHIJKLMNOPQRSTUVWXYZ', '2345672345672345', 'CUSTOMERACCOUNT2NUMBER', '01ARZ3NDEKTSV4RRFFQ69G5FAV', 'short2AB']) expect(isBase32Secret(v), v).toBe(false);
    expect(classesOf(col('c1', g.many(200, () => g.chars(32, B32))))).toEqual(['secret']);
    expect(top(col('c1', g.many(200, () => g.chars(32, B32))))?.detector).toBe('value:base32_key');
    expect(classesOf(col('c2', g.many(200, () => g.chars(16, B32))))).toEqual(['secret']);
    const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
    expect(classesOf(col('c3', g.many(200, () => `01${g.chars(24, CROCKFORD)}`)))).toEqual([]);
    expect(classesOf(col('public_id', g.many(200, () => g.chars(32, B32))))).toEqual([]);
  });
});

describe('digests of credentials', () => {
  it('a digest of a generated token or key is not a secret; a digest of a password or PIN is', () => {
    const g = new Gen(131);
    const sha = g.many(200, () => g.chars(64, HEX));
    for (const name of ['token_sha256', 'api_key_hash', 'hashed_token', 'refresh_token_digest', 'secret_hash', 'session_token_hmac', 'tokenHash']) {
      expect(classifyColumn(col(name, sha)), name).toEqual([]);
      expect(analyzeName(name).digestLike, name).toBe(true);
    }
    for (const name of ['password_hash', 'hashed_password', 'password_digest', 'pin_hash', 'passphrase_sha256', 'pwd_hash']) {
      expect(classesOf(col(name, sha)), name).toEqual(['secret']);
    }
    // The token itself stays a secret whatever its alphabet.
    expect(classesOf(col('reset_token', sha))).toEqual(['secret']);
    expect(classesOf(col('api_token', sha))).toEqual(['secret']);
    // A crypt-format hash is a password hash by its values, whatever the name says.
    expect(classesOf(col('token_hash', g.many(200, () => bcrypt(g))))).toEqual(['secret']);
    // The nearest secret word decides: the hash of a reset token, not of a password.
    expect(classifyColumn(col('password_reset_token_hash', sha))).toEqual([]);
  });
});

describe('networks are not addresses', () => {
  it('ipKind tells hosts from ranges', () => {
    expect(ipKind('203.0.113.7')).toBe('host');
    expect(ipKind('203.0.113.7/32')).toBe('host');
    expect(ipKind('2001:db8::1/128')).toBe('host');
    expect(ipKind('10.0.0.0/8')).toBe('network');
    expect(ipKind('2001:db8::/32')).toBe('network');
    expect(ipKind('0.0.0.0/0')).toBe('network');
    expect(ipKind('not an ip')).toBeNull();
  });
  it('cidr and inet columns of ranges, or named like networks, are not ip_address by type alone', () => {
    const g = new Gen(141);
    const ranges = g.many(200, () => g.pick(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', `10.${g.int(0, 255)}.0.0/16`, `10.${g.int(0, 255)}.${g.int(0, 255)}.0/24`]));
    expect(classesOf(col('allowed_cidr', ranges, 'cidr'))).toEqual([]);
    expect(classesOf(col('f1', ranges, 'cidr'))).toEqual([]);
    expect(classesOf(col('f1', ranges, 'inet'))).toEqual([]);
    expect(classesOf(col('f1', ranges))).toEqual([]);
    const hosts = g.many(200, () => ipv4(g));
    expect(classesOf(col('subnet', hosts, 'inet'))).toEqual([]);
    expect(classesOf(col('allowed_ips', hosts.map((h) => `${h}/32`), 'cidr'))).toEqual(['ip_address']);
    expect(classesOf(col('f1', hosts, 'inet'))).toEqual(['ip_address']);
    expect(classesOf(col('client_ip', hosts, 'inet'))).toEqual(['ip_address']);
    expect(classesOf(col('f1', [null, null], 'cidr'))).toEqual([]);
    expect(classesOf(col('f1', [null, null], 'inet'))).toEqual(['ip_address']);
  });
});

describe('postal codes in distinctive formats', () => {
  it('the formats', () => {
    for (const v of ['SW1A 1AA', 'M1 1AE', 'EC1A 1BB', 'K1A 0B1', 'H2X1Y4', '1234 AB', '1011AB', 'D02 X285', '94105-1234']) expect(isDistinctivePostalCode(v), v).toBe(true);
    for (const v of ['94105', '12345', 'AB12 CDE', '0123 AB', 'sw1a 1aa', 'SW1A1AA2']) expect(isDistinctivePostalCode(v), v).toBe(false);
  });
  it('are postal codes under an address-like name and near misses under a neutral one', () => {
    const g = new Gen(151);
    const gb = g.many(200, () => `${g.pick(['SW', 'EC', 'W', 'N', 'M', 'B', 'LS'])}${g.int(1, 20)} ${g.int(0, 9)}${g.chars(2, 'ABDEFGHJLNPQRSTUWXYZ')}`);
    const ca = g.many(200, () => `${g.pick(['K', 'M', 'H', 'V'])}${g.int(0, 9)}${g.pick(['A', 'B', 'C'])} ${g.int(0, 9)}${g.pick(['A', 'B', 'G'])}${g.int(0, 9)}`);
    const nl = g.many(200, () => `${g.int(1011, 9999)} ${g.chars(2, 'ABCDEGHJKLMN')}`);
    for (const [label, values] of [['gb', gb], ['ca', ca], ['nl', nl]] as const) {
      expect(classesOf(col('shipping_code', values)), label).toEqual(['postal_code']);
      expect(classesOf(col('address_pc', values)), label).toEqual(['postal_code']);
      expect(classesOf(col('postcode', values)), label).toEqual(['postal_code']);
      expect(classesOf(col('c1', values)), label).toEqual([]);
      expect(top(col('c1', values)), label).toMatchObject({ class: 'postal_code', detector: 'value:postal_format' });
    }
    // Five digits under an address name are still anything.
    expect(classesOf(col('shipping_code', g.many(200, () => pad(g.int(1001, 99950), 5))))).toEqual([]);
  });
});

describe('truncated JSON documents', () => {
  it('are read up to the cut, with their paths', () => {
    expect(parseTruncatedJson('{"by":{"email":"a@b.co"},"items":[{"a":1},{"b":"xx')).toEqual({ by: { email: 'a@b.co' }, items: [{ a: 1 }, { b: 'xx' }] });
    expect(parseTruncatedJson('{"note":"Call Jane at jane@example.com about')).toEqual({ note: 'Call Jane at jane@example.com about' });
    expect(parseTruncatedJson('{"a":1,"b":[1,2,3')).toEqual({ a: 1, b: [1, 2] }); // 3 may be cut short
    expect(parseTruncatedJson('[{"k":"v"},{"k":"w')).toEqual([{ k: 'v' }, { k: 'w' }]);
    expect(parseTruncatedJson('{"a":"x\\u00')).toEqual({ a: 'x' });
    expect(parseTruncatedJson('{"ke')).toEqual({});
    // Complete documents, bare strings and broken ones are not truncations.
    for (const v of ['{"a":1}', '{"a":1}x', '"abc', '12', '{"a":1]', 'hello {']) expect(parseTruncatedJson(v), v).toBeUndefined();
  });
  it('a jsonb document cut by the scanner still reports the e-mail near its start', () => {
    const g = new Gen(161);
    const docs = g.many(4, () =>
      JSON.stringify({ by: { email: email(g) }, items: g.many(20_000, (i) => ({ id: i, sku: `SKU-${g.digits(6)}`, qty: g.int(1, 9) })) }).slice(0, 32_768),
    );
    expect(() => JSON.parse(docs[0])).toThrow();
    expect(top(col('doc', docs, 'jsonb'))).toMatchObject({ class: 'email', jsonPath: '$.by.email', detector: 'json:email' });
    // Uncut values longer than the per-document bound are read up to it too.
    const huge = JSON.stringify({ owner: { phone: '+44 20 7946 0958' }, blob: 'x'.repeat(2_000_000) });
    expect(top(col('doc', [huge], 'jsonb'))).toMatchObject({ class: 'phone', jsonPath: '$.owner.phone' });
    // A cut inside a long note keeps what there is of it.
    const note = `{"note":"Customer ${fullName(g)} asked to be called back on +1 415 867 2291 or mailed at ${email(g)}. ${'Lorem ipsum dolor sit amet. '.repeat(2000)}`.slice(0, 32_768);
    expect(classesOf(col('payload', [note, note.replace('415', '212')], 'jsonb'))).toContain('free_text');
  });
  it('keeps the work bounded on hostile truncated documents', () => {
    const deep = '['.repeat(60_000);
    const manyKeys = `{${Array.from({ length: 5000 }, (_, i) => `"k${i}":"v"`).join(',')}`;
    const start = Date.now();
    for (let i = 0; i < 20; i++) {
      classifyColumn(col('doc', [deep, manyKeys, `{"a":"${'\\'.repeat(40_000)}`], 'jsonb'));
    }
    expect(Date.now() - start).toBeLessThan(3000);
  });
});
