/**
 * A held-out evaluation database for `pgveil scan`, written without looking at
 * the classifier (src/scan/classify.ts, detectors.ts, name-hints.ts) or at the
 * suite's own fixture (test/support/scan-fixture.ts).
 *
 * It imitates what real application databases look like: a SaaS CRM, an
 * e-commerce shop, an HR system, clinic appointments, auth/users/sessions,
 * event and application logs, payments, an ORM-style ("Prisma") camelCase
 * table, and German/French/Spanish tables. PII sits under ordinary names, under
 * misleading or generic names (CSV-import staging columns, payroll export
 * fields), in typed columns (date, timestamp(3), inet, bigint phone numbers,
 * numeric(19,0) card numbers, char(n), varchar(n), text[]) and inside jsonb
 * (nested objects and arrays). Next to it is a generous set of decoys.
 *
 * Every value is synthetic, produced by seeded generators written here (one
 * PRNG stream per table, so tables do not shift each other). Values follow the
 * validity rules of their class: SSN area/group/serial rules, Luhn card
 * numbers with real issuer prefixes and lengths, IBANs with mod-97 check
 * digits (and the national check digits for FR, ES and NL), E.164 and national
 * phone formats for US/GB/DE/FR/ES/NL, structurally real JWTs, and
 * AWS/GitHub/Stripe/Slack-shaped keys.
 *
 * Ground-truth decisions (documented, since the classes leave room):
 * - Cities, regions and countries on their own are NOT PII here (no class
 *   covers them; they identify nobody). Expected: null.
 * - Company names are not PII even when they contain a surname
 *   ("Schmidt & Partner GmbH"). Expected: null.
 * - Dates that are not birth dates (hire_date, close_date, release_date,
 *   shipped_at...) are not PII. Expected: null.
 * - Salaries, card "last4", card expiry, BIC codes and VAT ids are sensitive
 *   in places but have no class here. Expected: null.
 * - Hashes, HMAC signatures, UUIDs, etags, commit SHAs and public Stripe object
 *   ids (ch_..., cus_...) are not secrets. Password hashes, TOTP seeds,
 *   recovery codes, session/refresh/OAuth tokens and API keys ARE `secret`.
 * - Free text that contains contact details (names with phone numbers or
 *   e-mail addresses) is `free_text`; `email`, `phone` or `person_name` are
 *   accepted as the class too. Free text without any PII (lorem ipsum, log
 *   lines, product descriptions, reviews) is null.
 * - Columns that are personal data in the real world but fit no class
 *   (street address lines, usernames, medical record numbers, insurance member
 *   ids, LinkedIn URLs, appointment reasons, device push tokens) are 'ignore':
 *   counted neither for nor against the scanner, but printed for review.
 */
import type pg from 'pg';
import type { PiiClass } from '../../src/scan/types.js';
import { prng } from '../../src/util/prng.js';
import { withClient } from './proxy.js';

export const HELDOUT_DB = 'pgveil_heldout';
export const HELDOUT_ROLE = { user: 'pv_heldout_scanner', password: 'heldout-scan-Pw-91' } as const;

export type Expect = PiiClass | null | 'ignore';

export interface TruthEntry {
  schema: string;
  table: string;
  column: string;
  kind: 'table' | 'view' | 'matview';
  expect: Expect;
  /** Other classes that count as a correct class for this column. */
  accept?: PiiClass[];
  /** What the values look like (never a value). */
  shape: string;
  /** Part of the precision/recall numbers (false for the robustness schema). */
  scored: boolean;
}

export interface HeldoutFixture {
  truth: TruthEntry[];
  /** PII values written to the database; none may appear in any output. */
  needles: Set<string>;
  /** relation -> SQLSTATE the scan must report it skipped with. */
  expectedSkips: Record<string, string>;
  /** Relations in the robustness schema that must appear as scanned. */
  robustnessRelations: string[];
}

// ---------------------------------------------------------------------------
// Word lists
// ---------------------------------------------------------------------------

const FIRST = [
  'James', 'Mary', 'John', 'Patricia', 'Robert', 'Jennifer', 'Michael', 'Linda', 'David', 'Elizabeth', 'William', 'Barbara',
  'Richard', 'Susan', 'Joseph', 'Jessica', 'Thomas', 'Sarah', 'Christopher', 'Karen', 'Daniel', 'Nancy', 'Matthew', 'Lisa',
  'Anthony', 'Betty', 'Mark', 'Sandra', 'Lukas', 'Anna', 'Leon', 'Lena', 'Finn', 'Marie', 'Jonas', 'Sophie', 'Felix', 'Hannah',
  'Maximilian', 'Lea', 'Paul', 'Emma', 'Hugo', 'Louise', 'Gabriel', 'Chloé', 'Léa', 'Mathis', 'Camille', 'Manon', 'Lucas',
  'Inès', 'Jules', 'Alejandro', 'Lucía', 'Javier', 'Carmen', 'Diego', 'Sofía', 'Pablo', 'Valentina', 'Mateo', 'Daniela',
  'Sven', 'Ingrid', 'Pieter', 'Daan', 'Sanne', 'Fleur', 'Wei', 'Mei', 'Hiroshi', 'Yuki', 'Priya', 'Arjun', 'Aisha', 'Omar',
  'Fatima', 'Olumide', 'Chiara', 'Giulia', 'Marco', 'Siobhan', 'Niamh', 'Aoife', 'Kwame', 'Zanele', 'Björn', 'Jürgen',
  'Françoise', 'José', 'Ángel', 'Noah', 'Mia', 'Elias', 'Ava', 'Ethan', 'Olivia', 'Liam', 'Zoe', 'Tobias', 'Greta',
] as const;

const LAST = [
  'Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis', 'Rodriguez', 'Martinez', 'Hernandez',
  'Lopez', 'Gonzalez', 'Wilson', 'Anderson', 'Thomas', 'Taylor', 'Moore', 'Jackson', 'Martin', 'Lee', 'Thompson', 'White',
  'Harris', 'Clark', 'Müller', 'Schmidt', 'Schneider', 'Fischer', 'Weber', 'Meyer', 'Wagner', 'Becker', 'Schulz',
  'Hoffmann', 'Koch', 'Richter', 'Bauer', 'Klein', 'Wolf', 'Schröder', 'Neumann', 'Dubois', 'Durand', 'Lefebvre', 'Moreau',
  'Laurent', 'Simon', 'Michel', 'Leroy', 'Roux', 'Bertrand', 'Fournier', 'Girard', 'Fernández', 'Sánchez', 'Pérez',
  'Gómez', 'Jiménez', 'Ruiz', 'Díaz', 'Moreno', 'Álvarez', 'Romero', 'de Vries', 'van den Berg', 'Jansen', 'Bakker',
  'Visser', 'Smit', 'Nakamura', 'Tanaka', 'Wang', 'Zhang', 'Chen', 'Patel', 'Sharma', 'Okafor', 'Mensah', "O'Brien",
  'Murphy', 'Kowalski', 'Nowak', 'Rossi', 'Russo', 'Ferrari', 'Esposito', 'Bianchi', 'Nguyen', 'Kim', 'Park', 'Lindqvist',
  'Haddad', 'Kaya', 'Yılmaz', 'Costa', 'Silva', 'Oliveira',
] as const;

const CITIES = [
  'Berlin', 'München', 'Hamburg', 'Köln', 'Frankfurt am Main', 'Leipzig', 'Paris', 'Lyon', 'Marseille', 'Toulouse',
  'Bordeaux', 'Madrid', 'Barcelona', 'Valencia', 'Sevilla', 'Bilbao', 'London', 'Manchester', 'Bristol', 'Edinburgh',
  'Amsterdam', 'Rotterdam', 'Utrecht', 'New York', 'San Francisco', 'Chicago', 'Austin', 'Seattle', 'Boston', 'Denver',
  'Toronto', 'Vancouver', 'Dublin', 'Vienna', 'Zürich', 'Milan', 'Lisbon', 'Stockholm', 'Copenhagen', 'Warsaw',
] as const;
const COUNTRIES = ['DE', 'FR', 'ES', 'GB', 'NL', 'US', 'CA', 'IE', 'AT', 'CH', 'IT', 'PT', 'SE', 'DK', 'PL'] as const;
const COUNTRY_NAMES = ['Germany', 'France', 'Spain', 'United Kingdom', 'Netherlands', 'United States', 'Canada', 'Ireland', 'Austria', 'Switzerland'] as const;
const MAIL_DOMAINS = [
  'gmail.com', 'outlook.com', 'yahoo.com', 'icloud.com', 'proton.me', 'hotmail.com', 'gmx.de', 'web.de', 't-online.de',
  'orange.fr', 'free.fr', 'laposte.net', 'hotmail.es', 'telefonica.net', 'ziggo.nl', 'btinternet.com', 'aol.com',
] as const;
const COMPANY_DOMAINS = ['acme-corp.com', 'northwind.io', 'globex.net', 'initech.com', 'umbrella-health.org', 'stark-industries.co', 'blueharbor.de', 'vandelay.com'] as const;
const ADJ = ['Blue', 'Northern', 'Silver', 'Bright', 'Green', 'Rapid', 'Summit', 'Atlas', 'Pioneer', 'Quantum', 'Harbor', 'Crimson', 'Golden', 'Evergreen'] as const;
const NOUN = ['Logistics', 'Analytics', 'Systems', 'Foods', 'Robotics', 'Media', 'Labs', 'Partners', 'Energy', 'Software', 'Health', 'Capital', 'Textiles', 'Ventures'] as const;
const CORP = ['Inc.', 'GmbH', 'Ltd', 'LLC', 'SAS', 'S.L.', 'B.V.', 'AG', 'Corp.', 'plc'] as const;
const INDUSTRIES = ['software', 'retail', 'healthcare', 'manufacturing', 'finance', 'education', 'logistics', 'media', 'energy', 'nonprofit'] as const;
const JOB_TITLES = ['VP Sales', 'Head of Procurement', 'CTO', 'Office Manager', 'Software Engineer', 'Account Executive', 'Data Analyst', 'HR Business Partner', 'Operations Lead', 'CFO', 'Product Manager', 'Nurse Practitioner', 'Warehouse Supervisor'] as const;
const DEPARTMENTS = ['Engineering', 'Sales', 'Marketing', 'Finance', 'People', 'Support', 'Operations', 'Legal', 'Product', 'Design'] as const;
const PRODUCT_ADJ = ['Ergonomic', 'Rustic', 'Sleek', 'Compact', 'Heavy-Duty', 'Wireless', 'Organic', 'Vintage', 'Smart', 'Foldable', 'Insulated', 'Modular'] as const;
const PRODUCT_MAT = ['Oak', 'Steel', 'Cotton', 'Bamboo', 'Leather', 'Ceramic', 'Aluminium', 'Wool', 'Glass', 'Recycled Plastic', 'Linen', 'Walnut'] as const;
const PRODUCT_ITEM = ['Desk Lamp', 'Backpack', 'Water Bottle', 'Chair', 'Headphones', 'Coffee Mug', 'Keyboard', 'Throw Blanket', 'Cutting Board', 'Bike Light', 'Notebook', 'Plant Pot', 'Sneakers', 'Yoga Mat'] as const;
const LOREM = (
  'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua ' +
  'ut enim ad minim veniam quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat duis aute irure ' +
  'dolor in reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla pariatur excepteur sint occaecat cupidatat non ' +
  'proident sunt in culpa qui officia deserunt mollit anim id est laborum'
).split(' ');
const REVIEW_PHRASES = [
  'Arrived quickly and well packaged.', 'Does exactly what it says.', 'The colour is a bit darker than in the photos.',
  'Great value for the price.', 'Stopped working after two weeks, support replaced it.', 'Sturdy build, would buy again.',
  'Instructions were confusing but assembly took ten minutes.', 'Smaller than expected.', 'My kids love it.',
  'Battery lasts about three days with daily use.', 'Five stars, no complaints.', 'Returned it, the stitching came loose.',
  'Fits perfectly on my desk.', 'Bit noisy at the highest setting.', 'The strap feels cheap.',
] as const;
const DE_NOTES = [
  'Lieferung bitte nur werktags.', 'Kunde wünscht Rechnung per Post.', 'Rabatt von 10 % gewährt.', 'Ratenzahlung vereinbart.',
  'Stammkunde seit mehreren Jahren.', 'Keine Werbung zusenden.', 'Bestellung telefonisch bestätigt.', 'Zahlung ausstehend, Mahnstufe 1.',
] as const;
const LOG_TEMPLATES: ((g: Gen) => string)[] = [
  (g) => `Processed batch ${g.int(1000, 99999)} in ${g.int(3, 900)} ms`,
  (g) => `Cache miss for key product:${g.int(1, 50000)}`,
  (g) => `GET /api/v1/orders/${g.int(1000, 999999)} ${g.pick([200, 200, 200, 304, 404, 500])} ${g.int(2, 800)}ms`,
  (g) => `Worker ${g.int(1, 16)} started (pid ${g.int(1000, 65000)})`,
  (g) => `Retrying job ${g.uuid()} (attempt ${g.int(1, 5)}/5)`,
  (g) => `Connection pool size=${g.int(5, 50)} idle=${g.int(0, 10)} waiting=${g.int(0, 3)}`,
  () => 'Scheduled task reindex_products finished',
  () => "Deprecated config key 'cache.ttl' used; use 'cache.ttl_seconds'",
  (g) => `Flushed ${g.int(1, 500)} metrics to statsd`,
  (g) => `Slow query (${g.int(500, 9000)} ms): SELECT * FROM orders WHERE status = $1`,
  (g) => `Rate limit exceeded for client app-${g.int(1, 40)}; backing off ${g.int(1, 60)}s`,
  () => 'Health check OK',
];
const USER_AGENTS: ((g: Gen) => string)[] = [
  (g) => `Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${g.int(110, 126)}.0.${g.int(1000, 6500)}.${g.int(10, 200)} Safari/537.36`,
  (g) => `Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/${g.int(15, 17)}.${g.int(0, 6)} Safari/605.1.15`,
  (g) => `Mozilla/5.0 (iPhone; CPU iPhone OS ${g.int(15, 17)}_${g.int(0, 6)} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148`,
  (g) => `Mozilla/5.0 (X11; Linux x86_64; rv:${g.int(110, 127)}.0) Gecko/20100101 Firefox/${g.int(110, 127)}.0`,
  (g) => `okhttp/4.${g.int(9, 12)}.${g.int(0, 3)}`,
  (g) => `AcmeApp/${g.int(2, 5)}.${g.int(0, 20)}.${g.int(0, 9)} (Android ${g.int(10, 14)}; Pixel ${g.int(4, 8)})`,
  (g) => `curl/8.${g.int(0, 7)}.${g.int(0, 3)}`,
];

// ---------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const B64URL = ALNUM + '-_';
const BCRYPT = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const LOWER_ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';

export function luhnCheckDigit(body: string): number {
  let sum = 0;
  let double = true; // the rightmost body digit is doubled once the check digit is appended
  for (let i = body.length - 1; i >= 0; i--) {
    let d = body.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return (10 - (sum % 10)) % 10;
}

export function luhnValid(digits: string): boolean {
  return luhnCheckDigit(digits.slice(0, -1)) === Number(digits.at(-1));
}

function mod97(numeric: string): number {
  let rem = 0;
  for (const ch of numeric) rem = (rem * 10 + (ch.charCodeAt(0) - 48)) % 97;
  return rem;
}

function ibanNumeric(s: string): string {
  return s.replace(/[A-Z]/g, (c) => String(c.charCodeAt(0) - 55));
}

export function ibanValid(iban: string): boolean {
  const s = iban.replace(/\s+/g, '');
  return mod97(ibanNumeric(s.slice(4) + s.slice(0, 4))) === 1;
}

function ibanFromBban(cc: string, bban: string): string {
  const check = 98 - mod97(ibanNumeric(bban + cc + '00'));
  return cc + String(check).padStart(2, '0') + bban;
}

function ascii(s: string): string {
  return s
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/ß/g, 'ss')
    .replace(/ı/g, 'i')
    .toLowerCase()
    .replace(/[^a-z]/g, '');
}

function b64url(buf: Buffer | string): string {
  return Buffer.from(buf).toString('base64url');
}

export type PhoneCountry = 'US' | 'GB' | 'DE' | 'FR' | 'ES' | 'NL';

/** Phone number formats by country, with a name for the per-format probe. */
export const PHONE_FORMATS: { name: string; country: PhoneCountry; make: (g: Gen) => string }[] = [
  { name: 'us_e164 +14158672291', country: 'US', make: (g) => `+1${g.usPhoneDigits()}` },
  { name: 'us_intl +1 415-867-2291', country: 'US', make: (g) => g.usPhoneDigits().replace(/^(\d{3})(\d{3})(\d{4})$/, '+1 $1-$2-$3') },
  { name: 'us_paren (415) 867-2291', country: 'US', make: (g) => g.usPhoneDigits().replace(/^(\d{3})(\d{3})(\d{4})$/, '($1) $2-$3') },
  { name: 'us_dashes 415-867-2291', country: 'US', make: (g) => g.usPhoneDigits().replace(/^(\d{3})(\d{3})(\d{4})$/, '$1-$2-$3') },
  { name: 'us_dots 415.867.2291', country: 'US', make: (g) => g.usPhoneDigits().replace(/^(\d{3})(\d{3})(\d{4})$/, '$1.$2.$3') },
  { name: 'gb_mobile_intl +44 7911 123456', country: 'GB', make: (g) => `+44 7${g.pick(['4', '5', '7', '8', '9'])}${g.digits(2)} ${g.digits(6)}` },
  { name: 'gb_mobile_nat 07911 123456', country: 'GB', make: (g) => `07${g.pick(['4', '5', '7', '8', '9'])}${g.digits(2)} ${g.digits(6)}` },
  { name: 'gb_mobile_e164 +447911123456', country: 'GB', make: (g) => `+447${g.pick(['4', '5', '7', '8', '9'])}${g.digits(8)}` },
  { name: 'gb_land_intl +44 20 7946 0958', country: 'GB', make: (g) => `+44 20 ${g.int(3, 8)}${g.digits(3)} ${g.digits(4)}` },
  { name: 'gb_land_nat 020 7946 0958', country: 'GB', make: (g) => `020 ${g.int(3, 8)}${g.digits(3)} ${g.digits(4)}` },
  { name: 'de_mobile_intl +49 151 2345678', country: 'DE', make: (g) => `+49 ${g.pick(['151', '160', '170', '176'])} ${g.digits(g.pick([7, 8]))}` },
  { name: 'de_mobile_nat 0151 23456789', country: 'DE', make: (g) => `0${g.pick(['151', '160', '170', '176'])} ${g.digits(g.pick([7, 8]))}` },
  { name: 'de_mobile_e164 +4915123456789', country: 'DE', make: (g) => `+49${g.pick(['151', '160', '170', '176'])}${g.digits(8)}` },
  { name: 'de_land_intl +49 30 12345678', country: 'DE', make: (g) => `+49 ${g.pick(['30', '40', '89', '69'])} ${g.int(2, 9)}${g.digits(7)}` },
  { name: 'de_land_nat 030 12345678', country: 'DE', make: (g) => `0${g.pick(['30', '40', '89', '69'])} ${g.int(2, 9)}${g.digits(7)}` },
  { name: 'de_land_paren0 +49 (0)89 123-4567', country: 'DE', make: (g) => `+49 (0)${g.pick(['30', '40', '89', '69'])} ${g.int(2, 9)}${g.digits(2)}-${g.digits(4)}` },
  { name: 'fr_intl +33 6 12 34 56 78', country: 'FR', make: (g) => `+33 ${g.pick(['6', '7', '1', '4'])} ${g.digits(2)} ${g.digits(2)} ${g.digits(2)} ${g.digits(2)}` },
  { name: 'fr_nat 06 12 34 56 78', country: 'FR', make: (g) => `0${g.pick(['6', '7', '1', '4'])} ${g.digits(2)} ${g.digits(2)} ${g.digits(2)} ${g.digits(2)}` },
  { name: 'fr_dots 06.12.34.56.78', country: 'FR', make: (g) => `0${g.pick(['6', '7', '1', '4'])}.${g.digits(2)}.${g.digits(2)}.${g.digits(2)}.${g.digits(2)}` },
  { name: 'es_mobile_intl +34 612 345 678', country: 'ES', make: (g) => `+34 ${g.pick(['6', '7'])}${g.digits(2)} ${g.digits(3)} ${g.digits(3)}` },
  { name: 'es_mobile_nat 612 345 678', country: 'ES', make: (g) => `${g.pick(['6', '7'])}${g.digits(2)} ${g.digits(3)} ${g.digits(3)}` },
  { name: 'es_mobile_e164 +34612345678', country: 'ES', make: (g) => `+34${g.pick(['6', '7'])}${g.digits(8)}` },
  { name: 'es_land_nat 91 123 45 67', country: 'ES', make: (g) => `${g.pick(['91', '93', '96', '95'])} ${g.digits(3)} ${g.digits(2)} ${g.digits(2)}` },
  { name: 'nl_intl +31 6 12345678', country: 'NL', make: (g) => `+31 6 ${g.digits(8)}` },
  { name: 'nl_nat 06-12345678', country: 'NL', make: (g) => `06-${g.digits(8)}` },
  { name: 'nl_e164 +31612345678', country: 'NL', make: (g) => `+316${g.digits(8)}` },
];

export interface Person {
  first: string;
  last: string;
  full: string;
}

export class Gen {
  constructor(
    private readonly r: () => number,
    /** Every PII value generated is recorded here, to check no output ever prints it. */
    private readonly needles: Set<string>,
  ) {}

  /** Records a sensitive value (and returns it). */
  pii<T extends string>(v: T): T {
    if (v.length >= 8) this.needles.add(v);
    return v;
  }

  float(): number {
    return this.r();
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.r() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.r() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.r() * xs.length)];
  }
  /** A value, or null with probability p. */
  maybe<T>(p: number, f: () => T): T | null {
    return this.r() < p ? null : f();
  }
  digits(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += String(Math.floor(this.r() * 10));
    return s;
  }
  chars(n: number, alphabet: string): string {
    let s = '';
    for (let i = 0; i < n; i++) s += alphabet[Math.floor(this.r() * alphabet.length)];
    return s;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = Math.floor(this.r() * 256);
    return b;
  }
  hex(n: number): string {
    return this.chars(n, '0123456789abcdef');
  }
  uuid(): string {
    const h = this.hex(32).split('');
    h[12] = '4';
    h[16] = '89ab'[Math.floor(this.r() * 4)];
    const s = h.join('');
    return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
  }
  words(n: number): string {
    const w: string[] = [];
    for (let i = 0; i < n; i++) w.push(this.pick(LOREM));
    const s = w.join(' ');
    return s[0].toUpperCase() + s.slice(1) + '.';
  }
  lorem(sentences: number): string {
    const out: string[] = [];
    for (let i = 0; i < sentences; i++) out.push(this.words(this.int(5, 14)));
    return out.join(' ');
  }

  // --- time -----------------------------------------------------------------
  /** 'YYYY-MM-DD' between two years inclusive. */
  date(fromYear: number, toYear: number): string {
    const y = this.int(fromYear, toYear);
    const m = this.int(1, 12);
    const dim = new Date(Date.UTC(y, m, 0)).getUTCDate();
    const d = this.int(1, dim);
    return `${y}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
  }
  /** An ISO timestamp with zone between 2022 and 2025. */
  ts(fromYear = 2022, toYear = 2025): string {
    return `${this.date(fromYear, toYear)} ${String(this.int(0, 23)).padStart(2, '0')}:${String(this.int(0, 59)).padStart(2, '0')}:${String(this.int(0, 59)).padStart(2, '0')}+00`;
  }
  dob(): string {
    return this.pii(this.date(1940, 2006));
  }

  // --- people ---------------------------------------------------------------
  person(): Person {
    const first = this.pick(FIRST);
    const last = this.pick(LAST);
    const full = `${first} ${last}`;
    this.pii(full);
    return { first, last, full };
  }
  email(p: Person, domain?: string): string {
    const f = ascii(p.first);
    const l = ascii(p.last);
    const local = [
      `${f}.${l}`,
      `${f[0]}${l}`,
      `${f}_${l}${this.int(1, 99)}`,
      `${f}${this.int(70, 99)}`,
      `${l}.${f}`,
      `${f}.${l}+${this.pick(['news', 'shop', 'work', 'promo'])}`,
      `${f}${l[0]}`,
      `${f}-${l}`,
    ][this.int(0, 7)];
    return this.pii(`${local}@${domain ?? this.pick(MAIL_DOMAINS)}`);
  }

  // --- phones ---------------------------------------------------------------
  usPhoneDigits(): string {
    const area = this.pick(['201', '206', '212', '213', '305', '312', '404', '415', '469', '503', '512', '617', '619', '646', '702', '718', '720', '773', '808', '917']);
    let exch: number;
    do exch = this.int(200, 999);
    while (exch % 100 === 11 || exch === 555);
    return area + String(exch) + this.digits(4);
  }
  phone(country: PhoneCountry = this.pick(['US', 'US', 'GB', 'DE', 'FR', 'ES', 'NL'] as const)): string {
    return this.pii(this.pick(PHONE_FORMATS.filter((f) => f.country === country)).make(this));
  }

  /** A mobile or landline number in E.164 form. */
  e164(): string {
    const v = this.pick([
      () => `+1${this.usPhoneDigits()}`,
      () => `+447${this.pick(['4', '5', '7', '8', '9'])}${this.digits(8)}`,
      () => `+49${this.pick(['151', '160', '170', '176'])}${this.digits(8)}`,
      () => `+33${this.pick(['6', '7'])}${this.digits(8)}`,
      () => `+34${this.pick(['6', '7'])}${this.digits(8)}`,
      () => `+316${this.digits(8)}`,
    ])();
    return this.pii(v);
  }

  // --- identifiers ----------------------------------------------------------
  ssnParts(): [string, string, string] {
    let area: number;
    do area = this.int(1, 899);
    while (area === 666);
    return [String(area).padStart(3, '0'), String(this.int(1, 99)).padStart(2, '0'), String(this.int(1, 9999)).padStart(4, '0')];
  }
  ssn(dashes = true): string {
    const p = this.ssnParts();
    return this.pii(dashes ? p.join('-') : p.join(''));
  }

  /** A Luhn-valid card number with a real issuer prefix and length, unformatted. */
  pan(): { brand: string; pan: string } {
    const kind = this.int(0, 99);
    let brand: string;
    let prefix: string;
    let len: number;
    if (kind < 45) [brand, prefix, len] = ['visa', '4', 16];
    else if (kind < 70) [brand, prefix, len] = ['mastercard', this.chance(0.7) ? String(this.int(51, 55)) : String(this.int(2221, 2720)), 16];
    else if (kind < 82) [brand, prefix, len] = ['amex', this.pick(['34', '37']), 15];
    else if (kind < 90) [brand, prefix, len] = ['discover', this.pick(['6011', '65', String(this.int(644, 649))]), 16];
    else if (kind < 95) [brand, prefix, len] = ['jcb', String(this.int(3528, 3589)), 16];
    else if (kind < 98) [brand, prefix, len] = ['diners', this.chance(0.5) ? '36' : String(this.int(300, 305)), 14];
    else [brand, prefix, len] = ['unionpay', '62' + this.digits(4), 19];
    const body = prefix + this.digits(len - prefix.length - 1);
    return { brand, pan: body + String(luhnCheckDigit(body)) };
  }
  card(style: 'plain' | 'spaces' | 'dashes' | 'mixed' = 'mixed'): { brand: string; pan: string; text: string } {
    const { brand, pan } = this.pan();
    const s = style === 'mixed' ? this.pick(['plain', 'spaces', 'spaces', 'dashes'] as const) : style;
    let text = pan;
    if (s !== 'plain') {
      const sep = s === 'spaces' ? ' ' : '-';
      const groups = pan.length === 15 ? [4, 6, 5] : pan.length === 14 ? [4, 6, 4] : pan.length === 19 ? [4, 4, 4, 4, 3] : [4, 4, 4, 4];
      const parts: string[] = [];
      let at = 0;
      for (const n of groups) {
        parts.push(pan.slice(at, at + n));
        at += n;
      }
      text = parts.join(sep);
    }
    this.pii(pan);
    return { brand, pan, text: this.pii(text) };
  }

  iban(country: 'DE' | 'FR' | 'GB' | 'ES' | 'NL' = this.pick(['DE', 'FR', 'GB', 'ES', 'NL'] as const), printed = this.chance(0.5)): string {
    let bban: string;
    switch (country) {
      case 'DE':
        bban = String(this.int(1, 8)) + this.digits(7) + this.digits(10);
        break;
      case 'FR': {
        const bank = this.pick(['30004', '30003', '20041', '10278', '30066', '11315']);
        const branch = this.digits(5);
        const account = this.digits(11);
        const key = 97 - Number((89n * BigInt(bank) + 15n * BigInt(branch) + 3n * BigInt(account)) % 97n);
        bban = bank + branch + account + String(key).padStart(2, '0');
        break;
      }
      case 'GB':
        bban = this.pick(['NWBK', 'BARC', 'LOYD', 'HBUK', 'MIDL']) + this.digits(6) + this.digits(8);
        break;
      case 'ES': {
        const bank = this.pick(['2100', '0049', '0182', '0081', '2085']);
        const branch = this.digits(4);
        const account = this.digits(10);
        const w = [1, 2, 4, 8, 5, 10, 9, 7, 3, 6];
        const dc = (ten: string) => {
          let s = 0;
          for (let i = 0; i < 10; i++) s += Number(ten[i]) * w[i];
          const d = 11 - (s % 11);
          return d === 11 ? 0 : d === 10 ? 1 : d;
        };
        bban = bank + branch + String(dc('00' + bank + branch)) + String(dc(account)) + account;
        break;
      }
      case 'NL': {
        let acct: string;
        for (;;) {
          const nine = this.digits(9);
          let s = 0;
          for (let i = 0; i < 9; i++) s += Number(nine[i]) * (10 - i);
          const last = (11 - (s % 11)) % 11;
          if (last < 10) {
            acct = nine + String(last);
            break;
          }
        }
        bban = this.pick(['ABNA', 'INGB', 'RABO', 'TRIO', 'SNSB']) + acct;
        break;
      }
    }
    const iban = ibanFromBban(country, bban);
    this.pii(iban);
    return this.pii(printed ? iban.replace(/(.{4})/g, '$1 ').trim() : iban);
  }

  publicIpv4(): string {
    for (;;) {
      const a = this.int(1, 223);
      const b = this.int(0, 255);
      if (a === 10 || a === 127 || (a === 172 && b >= 16 && b < 32) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b < 128) || (a === 169 && b === 254)) continue;
      return this.pii(`${a}.${b}.${this.int(0, 255)}.${this.int(1, 254)}`);
    }
  }
  ipv6(): string {
    const pre = this.pick(['2a02:810d', '2600:1700', '2a01:cb00', '2001:16b8', '2a00:23c5', '2607:f8b0']);
    const rest = Array.from({ length: 6 }, () => this.int(0, 0xffff).toString(16));
    return this.pii(`${pre}:${rest.join(':')}`);
  }
  ip(v6share = 0.15): string {
    return this.chance(v6share) ? this.ipv6() : this.publicIpv4();
  }

  postal(country: 'US' | 'DE' | 'FR' | 'ES' | 'GB' | 'NL' | 'CA' = this.pick(['US', 'US', 'DE', 'FR', 'ES', 'GB', 'NL', 'CA'] as const)): string {
    switch (country) {
      case 'US':
        return this.chance(0.2) ? `${String(this.int(1001, 99950)).padStart(5, '0')}-${this.digits(4)}` : String(this.int(1001, 99950)).padStart(5, '0');
      case 'DE':
        return String(this.int(1067, 99998)).padStart(5, '0');
      case 'FR':
        return String(this.int(1000, 95999)).padStart(5, '0');
      case 'ES':
        return String(this.int(1, 52)).padStart(2, '0') + this.digits(3);
      case 'GB': {
        const area = this.pick(['SW', 'EC', 'W', 'N', 'E', 'M', 'B', 'LS', 'G', 'EH', 'CR', 'BS', 'SE', 'NW']);
        const district = String(this.int(1, 20)) + (this.chance(0.2) ? this.pick(['A', 'B', 'C']) : '');
        const inward = String(this.int(0, 9)) + this.chars(2, 'ABDEFGHJLNPQRSTUWXYZ');
        return `${area}${district} ${inward}`;
      }
      case 'NL':
        return `${this.int(1011, 9999)} ${this.chars(2, 'ABCDEGHJKLMNPRSTVWXZ')}`;
      case 'CA':
        return `${this.pick(['K', 'M', 'H', 'V', 'T'])}${this.int(0, 9)}${this.pick(['A', 'B', 'C', 'E'])} ${this.int(0, 9)}${this.pick(['A', 'B', 'G', 'H'])}${this.int(0, 9)}`;
    }
  }

  // --- secrets --------------------------------------------------------------
  jwt(): string {
    const rs = this.chance(0.4);
    const header = rs ? { alg: 'RS256', typ: 'JWT', kid: this.hex(16) } : { alg: 'HS256', typ: 'JWT' };
    const iat = 1_700_000_000 + this.int(0, 40_000_000);
    const payload = {
      iss: 'https://auth.acme-app.com/',
      sub: this.uuid(),
      aud: 'api.acme-app.com',
      iat,
      exp: iat + 3600,
      scope: this.pick(['openid profile email', 'read:orders write:orders', 'admin']),
      sid: this.hex(12),
    };
    const sig = this.bytes(rs ? 256 : 32);
    return this.pii(`${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}.${b64url(sig)}`);
  }
  awsAccessKeyId(): string {
    return this.pii(this.pick(['AKIA', 'ASIA']) + this.chars(16, UPPER + '234567'));
  }
  awsSecretKey(): string {
    return this.pii(this.chars(40, ALNUM + '/+'));
  }
  githubToken(): string {
    return this.pii(this.chance(0.7) ? `ghp_${this.chars(36, ALNUM)}` : `github_pat_11${this.chars(20, UPPER + '0123456789')}_${this.chars(59, ALNUM)}`);
  }
  stripeKey(): string {
    return this.pii(`${this.pick(['sk_live_', 'rk_live_', 'sk_test_'])}${this.chars(this.pick([24, 99]), ALNUM)}`);
  }
  slackToken(): string {
    return this.pii(`xoxb-${this.digits(12)}-${this.digits(13)}-${this.chars(24, ALNUM)}`);
  }
  bcrypt(): string {
    return this.pii(`$2b$${this.pick(['10', '12'])}$${this.chars(53, BCRYPT)}`);
  }
  argon2(): string {
    return this.pii(`$argon2id$v=19$m=65536,t=3,p=4$${b64url(this.bytes(16)).replace(/-|_/g, 'A')}$${b64url(this.bytes(32)).replace(/-|_/g, 'B')}`);
  }
  totpSeed(): string {
    return this.pii(this.chars(32, B32));
  }
  opaqueToken(n = 64): string {
    return this.pii(this.chars(n, B64URL));
  }

  // --- decoys ---------------------------------------------------------------
  /** ISO 11649 creditor reference ("RF18 5390 0754 7034"): mod-97 checked like an IBAN, but not an account. */
  rfReference(): string {
    const ref = this.digits(this.int(8, 15));
    const check = 98 - mod97(ibanNumeric(ref + 'RF00'));
    return ('RF' + String(check).padStart(2, '0') + ref).replace(/(.{4})/g, '$1 ').trim();
  }
  semver(): string {
    const v = `${this.int(0, 12)}.${this.int(0, 40)}.${this.int(0, 30)}`;
    return this.chance(0.15) ? `${v}-${this.pick(['beta', 'rc', 'alpha'])}.${this.int(1, 5)}` : v;
  }
  /** Four numbers, each 0..255: a valid IPv4 shape that is a build number. */
  ipShapedVersion(): string {
    return `${this.int(1, 24)}.${this.int(0, 12)}.${this.int(0, 60)}.${this.int(100, 255)}`;
  }
  isbn13(hyphens = this.chance(0.5)): string {
    const body = this.pick(['978', '979']) + this.digits(9);
    let s = 0;
    for (let i = 0; i < 12; i++) s += Number(body[i]) * (i % 2 === 0 ? 1 : 3);
    const isbn = body + String((10 - (s % 10)) % 10);
    return hyphens ? `${isbn.slice(0, 3)}-${isbn.slice(3, 4)}-${isbn.slice(4, 7)}-${isbn.slice(7, 12)}-${isbn.slice(12)}` : isbn;
  }
  /** 16 digits whose last digit makes Luhn fail; first digit 3-6, so the prefix looks like an issuer. */
  luhnFailing16(): string {
    const body = String(this.int(3, 6)) + this.digits(14);
    return body + String((luhnCheckDigit(body) + 1 + this.int(0, 8)) % 10);
  }
  tracking(): string {
    switch (this.int(0, 3)) {
      case 0:
        return `1Z${this.chars(6, UPPER + '0123456789')}${this.pick(['01', '02', '03', '12'])}${this.digits(8)}`;
      case 1:
        return this.pick(['9400', '9205', '9361']) + this.digits(18);
      case 2:
        return this.digits(12);
      default:
        return this.digits(15);
    }
  }
  sku(): string {
    return this.chance(0.5) ? `SKU-${this.chars(3, UPPER)}-${this.digits(5)}` : `${this.chars(2, UPPER)}-${this.digits(4)}-${this.pick(['XS', 'S', 'M', 'L', 'XL', 'OS'])}`;
  }
  company(): string {
    if (this.chance(0.2)) return `${this.pick(LAST)} & ${this.pick(['Partner', 'Söhne', 'Associates', 'Co.'])} ${this.pick(['GmbH', 'LLP', 'AG', 'KG'])}`;
    return `${this.pick(ADJ)} ${this.pick(NOUN)} ${this.pick(CORP)}`;
  }
  productName(): string {
    return `${this.pick(PRODUCT_ADJ)} ${this.pick(PRODUCT_MAT)} ${this.pick(PRODUCT_ITEM)}`;
  }
  userAgent(): string {
    return this.pick(USER_AGENTS)(this);
  }
  logLine(): string {
    return this.pick(LOG_TEMPLATES)(this);
  }
  money(lo: number, hi: number): string {
    return (lo + this.float() * (hi - lo)).toFixed(2);
  }
}

// ---------------------------------------------------------------------------
// The schema
// ---------------------------------------------------------------------------

type Row = Record<string, unknown>;

interface ColDef {
  name: string;
  type: string;
  expect: Expect;
  accept?: PiiClass[];
  shape: string;
}

interface TableDef {
  schema: string;
  name: string;
  rows: number;
  cols: ColDef[];
  row: (g: Gen, i: number) => Row;
  /** Part of the precision/recall numbers. */
  scored?: boolean;
}

interface ViewDef {
  schema: string;
  name: string;
  kind: 'view' | 'matview';
  sql: string;
  cols: Omit<ColDef, 'type'>[];
  scored?: boolean;
}

const c = (name: string, type: string, expect: Expect, shape: string, accept?: PiiClass[]): ColDef => ({ name, type, expect, shape, accept });
const FREE_TEXT_ACCEPT: PiiClass[] = ['email', 'phone', 'person_name'];

/** A note that mentions a person with a phone number or e-mail address, or none at all. */
function contactNote(g: Gen): string {
  const p = g.person();
  switch (g.int(0, 7)) {
    case 0:
      return `Called ${p.full} on ${g.phone()}, wants a demo next week.`;
    case 1:
      return `Customer asked us to send the contract to ${g.email(p)} instead of the shared inbox.`;
    case 2:
      return `Left voicemail for ${p.first}. Alternative number: ${g.phone()}.`;
    case 3:
      return `${p.full} prefers e-mail (${g.email(p)}); do not call before 10am.`;
    case 4:
      return `Spoke with ${p.full} from procurement. Budget approved for Q${g.int(1, 4)}.`;
    case 5:
      return `Renewal discussed, follow up in ${g.int(2, 6)} weeks.`;
    case 6:
      return `Sent pricing deck. ${g.lorem(1)}`;
    default:
      return `New contact: ${p.full}, ${g.pick(JOB_TITLES)}, mobile ${g.phone()}, mail ${g.email(p)}.`;
  }
}

function ticketBody(g: Gen): string {
  const p = g.person();
  switch (g.int(0, 5)) {
    case 0:
      return `Hi, my name is ${p.full} and my order still has not arrived. You can reach me at ${g.phone()}.`;
    case 1:
      return `Please update my e-mail address to ${g.email(p)}. Thanks, ${p.first}`;
    case 2:
      return `The app crashes when I open the settings page (version ${g.semver()}).`;
    case 3:
      return `I was charged twice for the same subscription. Regards, ${p.full}`;
    case 4:
      return `Cannot log in since yesterday, password reset mail never arrives at ${g.email(p)}.`;
    default:
      return `Where can I download my invoices? ${g.lorem(1)}`;
  }
}

function clinicNote(g: Gen): string {
  const p = g.person();
  switch (g.int(0, 5)) {
    case 0:
      return `Patient requested a call back on ${g.phone()} regarding lab results.`;
    case 1:
      return `Accompanied by ${p.full} (daughter), contact ${g.phone()}.`;
    case 2:
      return 'No-show, second time this quarter.';
    case 3:
      return `Referral letter sent to Dr. ${p.last}, ${g.email(p, g.pick(COMPANY_DOMAINS))}.`;
    case 4:
      return 'BP 128/82, follow-up in 3 months.';
    default:
      return `Rescheduled at patient's request. Reminder SMS to ${g.phone()}.`;
  }
}

function reviewComment(g: Gen): string {
  const p = g.person();
  switch (g.int(0, 4)) {
    case 0:
      return `${p.first} consistently exceeds expectations on delivery; peer feedback from ${g.person().full} was very positive.`;
    case 1:
      return `Needs to improve communication with stakeholders. Discussed with ${p.full}.`;
    case 2:
      return `Promotion recommended. Mentor: ${p.full} (${g.email(p, g.pick(COMPANY_DOMAINS))}).`;
    case 3:
      return `${p.full} took over the on-call rotation and reduced incident response times.`;
    default:
      return `Goals for next period agreed with ${p.first} ${p.last}.`;
  }
}

function tables(): TableDef[] {
  return [
    // ------------------------------------------------------------------ CRM
    {
      schema: 'crm',
      name: 'accounts',
      rows: 600,
      cols: [
        c('id', 'bigint PRIMARY KEY', null, 'integer key'),
        c('name', 'text NOT NULL', null, 'company name, some contain a surname ("X & Partner GmbH")'),
        c('domain', 'varchar(120)', null, 'company web domain'),
        c('website', 'text', null, 'https URL'),
        c('industry', 'text', null, 'enum-like word'),
        c('employees', 'integer', null, 'headcount'),
        c('annual_revenue', 'numeric(14,2)', null, 'currency amount'),
        c('country', 'char(2)', null, 'ISO country code'),
        c('city', 'text', null, 'city name'),
        c('owner_user_id', 'integer', null, 'integer fk'),
        c('founded_on', 'date', null, 'founding date 1900..2020 (birth-date range)'),
        c('created_at', 'timestamptz', null, 'event timestamp'),
      ],
      row: (g, i) => {
        const name = g.company();
        const dom = name.toLowerCase().replace(/[^a-z]+/g, '-').replace(/^-|-$/g, '').slice(0, 40) + g.pick(['.com', '.io', '.de', '.co.uk', '.fr']);
        return {
          id: i + 1,
          name,
          domain: dom,
          website: `https://www.${dom}/`,
          industry: g.pick(INDUSTRIES),
          employees: g.int(2, 20000),
          annual_revenue: g.money(50_000, 900_000_000),
          country: g.pick(COUNTRIES),
          city: g.pick(CITIES),
          owner_user_id: g.int(1, 40),
          founded_on: g.date(1900, 2020),
          created_at: g.ts(2018, 2025),
        };
      },
    },
    {
      schema: 'crm',
      name: 'contacts',
      rows: 1500,
      cols: [
        c('id', 'bigint PRIMARY KEY', null, 'integer key'),
        c('account_id', 'bigint', null, 'integer fk'),
        c('first_name', 'varchar(80)', 'person_name', 'given name'),
        c('last_name', 'varchar(80)', 'person_name', 'family name'),
        c('email', 'varchar(255)', 'email', 'e-mail address'),
        c('work_phone', 'varchar(32)', 'phone', 'US/UK/DE/FR/ES/NL phone, various formats'),
        c('mobile', 'text', 'phone', 'E.164 phone, 30% null'),
        c('title', 'text', null, 'job title'),
        c('birthday', 'text', 'dob', 'US text MM/DD/YYYY, 80% null'),
        c('linkedin_url', 'text', 'ignore', 'LinkedIn profile URL with a name slug'),
        c('lead_source', 'text', null, 'enum-like'),
        c('do_not_call', 'boolean', null, 'boolean'),
        c('last_contacted_at', 'timestamptz', null, 'event timestamp'),
      ],
      row: (g, i) => {
        const p = g.person();
        return {
          id: i + 1,
          account_id: g.int(1, 600),
          first_name: p.first,
          last_name: p.last,
          email: g.email(p, g.chance(0.7) ? g.pick(COMPANY_DOMAINS) : undefined),
          work_phone: g.phone(),
          mobile: g.maybe(0.3, () => g.e164()),
          title: g.pick(JOB_TITLES),
          birthday: g.maybe(0.8, () => {
            const d = g.dob();
            return g.pii(`${d.slice(5, 7)}/${d.slice(8, 10)}/${d.slice(0, 4)}`);
          }),
          linkedin_url: g.maybe(0.4, () => `https://www.linkedin.com/in/${ascii(p.first)}-${ascii(p.last)}-${g.hex(6)}`),
          lead_source: g.pick(['webinar', 'referral', 'inbound', 'trade_show', 'cold_outreach']),
          do_not_call: g.chance(0.1),
          last_contacted_at: g.maybe(0.2, () => g.ts()),
        };
      },
    },
    {
      schema: 'crm',
      name: 'deals',
      rows: 900,
      cols: [
        c('id', 'bigint PRIMARY KEY', null, 'integer key'),
        c('account_id', 'bigint', null, 'integer fk'),
        c('title', 'text', null, 'deal title like "Q3 renewal - Platform tier"'),
        c('amount', 'numeric(12,2)', null, 'currency amount'),
        c('currency', 'char(3)', null, 'ISO currency'),
        c('stage', 'text', null, 'enum-like'),
        c('probability', 'smallint', null, '0..100'),
        c('close_date', 'date', null, 'future/recent date, not a birth date'),
        c('notes', 'text', 'free_text', 'sales notes, ~60% with a name + phone/e-mail', FREE_TEXT_ACCEPT),
      ],
      row: (g, i) => ({
        id: i + 1,
        account_id: g.int(1, 600),
        title: `${g.pick(['Q1', 'Q2', 'Q3', 'Q4', 'FY25'])} ${g.pick(['renewal', 'expansion', 'new business', 'upsell'])} - ${g.pick(['Platform', 'Starter', 'Enterprise', 'Pro'])} tier`,
        amount: g.money(1_000, 250_000),
        currency: g.pick(['EUR', 'USD', 'GBP']),
        stage: g.pick(['prospecting', 'qualified', 'proposal', 'negotiation', 'closed_won', 'closed_lost']),
        probability: g.int(0, 100),
        close_date: g.date(2023, 2026),
        notes: g.maybe(0.15, () => contactNote(g)),
      }),
    },
    {
      schema: 'crm',
      name: 'activities',
      rows: 1200,
      cols: [
        c('id', 'bigint PRIMARY KEY', null, 'integer key'),
        c('contact_id', 'bigint', null, 'integer fk'),
        c('kind', 'text', null, "enum: call/email/meeting"),
        c('subject', 'text', null, 'short subject without PII'),
        c('body', 'text', null, 'lorem ipsum, no contact details'),
        c('duration_sec', 'integer', null, 'integer'),
        c('occurred_at', 'timestamptz', null, 'event timestamp'),
      ],
      row: (g, i) => ({
        id: i + 1,
        contact_id: g.int(1, 1500),
        kind: g.pick(['call', 'email', 'meeting', 'task']),
        subject: g.pick(['Follow-up on proposal', 'Intro call', 'Contract review', 'Pricing question', 'Quarterly business review', 'Onboarding kickoff']),
        body: g.lorem(g.int(1, 4)),
        duration_sec: g.int(0, 5400),
        occurred_at: g.ts(),
      }),
    },
    {
      schema: 'crm',
      name: 'tickets',
      rows: 700,
      cols: [
        c('id', 'bigint PRIMARY KEY', null, 'integer key'),
        c('ticket_no', 'varchar(11)', null, 'SSN-shaped ticket number ddd-dd-dddd'),
        c('priority', 'text', null, 'enum-like'),
        c('subject', 'text', null, 'short subject'),
        c('body', 'text', 'free_text', 'customer message, ~65% with name/phone/e-mail', FREE_TEXT_ACCEPT),
        c('opened_at', 'timestamptz', null, 'event timestamp'),
        c('resolved', 'boolean', null, 'boolean'),
      ],
      row: (g, i) => ({
        id: i + 1,
        ticket_no: `${g.digits(3)}-${g.digits(2)}-${g.digits(4)}`,
        priority: g.pick(['low', 'normal', 'high', 'urgent']),
        subject: g.pick(['Order not received', 'Login problem', 'Refund request', 'Billing question', 'Feature request', 'Bug report']),
        body: ticketBody(g),
        opened_at: g.ts(),
        resolved: g.chance(0.7),
      }),
    },
    {
      // A CSV import landing table: generic column names, as loaded by COPY.
      schema: 'crm',
      name: 'import_staging',
      rows: 800,
      cols: [
        c('batch_id', 'integer', null, 'integer'),
        c('col1', 'text', 'person_name', 'full name "First Last"'),
        c('col2', 'text', 'email', 'e-mail address'),
        c('col3', 'text', 'phone', 'phone, national/international formats'),
        c('col4', 'text', null, 'company name'),
        c('col5', 'text', null, 'country name'),
        c('col6', 'text', null, 'date of last deal (recent)'),
        c('col7', 'text', null, 'amount as text "1234.50"'),
        c('col8', 'text', null, 'lorem comment'),
      ],
      row: (g) => {
        const p = g.person();
        return {
          batch_id: g.int(1, 12),
          col1: p.full,
          col2: g.email(p),
          col3: g.phone(),
          col4: g.company(),
          col5: g.pick(COUNTRY_NAMES),
          col6: g.date(2021, 2025),
          col7: g.money(10, 90_000),
          col8: g.maybe(0.5, () => g.words(g.int(3, 10))),
        };
      },
    },

    // ------------------------------------------------------------------ shop
    {
      schema: 'shop',
      name: 'customers',
      rows: 2000,
      cols: [
        c('id', 'bigint PRIMARY KEY', null, 'integer key'),
        c('email', 'text NOT NULL', 'email', 'e-mail address'),
        c('full_name', 'text', 'person_name', 'full name'),
        c('phone', 'varchar(20)', 'phone', 'phone, 25% null'),
        c('sms_number', 'bigint', 'phone', 'E.164 digits without + as bigint, 60% null'),
        c('birth_date', 'date', 'dob', 'date 1940..2006, 40% null'),
        c('marketing_opt_in', 'boolean', null, 'boolean'),
        c('loyalty_tier', 'text', null, 'enum-like'),
        c('last_login_ip', 'inet', 'ip_address', 'public IPv4/IPv6'),
        c('default_currency', 'char(3)', null, 'ISO currency'),
        c('created_at', 'timestamptz', null, 'event timestamp'),
      ],
      row: (g, i) => {
        const p = g.person();
        return {
          id: i + 1,
          email: g.email(p),
          full_name: p.full,
          phone: g.maybe(0.25, () => g.phone()),
          sms_number: g.maybe(0.6, () => g.e164().slice(1)),
          birth_date: g.maybe(0.4, () => g.dob()),
          marketing_opt_in: g.chance(0.35),
          loyalty_tier: g.pick(['none', 'bronze', 'silver', 'gold']),
          last_login_ip: g.ip(),
          default_currency: g.pick(['EUR', 'USD', 'GBP']),
          created_at: g.ts(2019, 2025),
        };
      },
    },
    {
      schema: 'shop',
      name: 'addresses',
      rows: 1800,
      cols: [
        c('id', 'bigint PRIMARY KEY', null, 'integer key'),
        c('customer_id', 'bigint', null, 'integer fk'),
        c('recipient', 'text', 'person_name', 'full name of the recipient'),
        c('line1', 'text', 'ignore', 'street and house number'),
        c('line2', 'text', 'ignore', 'apartment/floor, mostly null'),
        c('city', 'text', null, 'city name'),
        c('region', 'text', null, 'state/region'),
        c('postal_code', 'varchar(10)', 'postal_code', 'US/DE/FR/ES/GB/NL/CA postal code'),
        c('country', 'char(2)', null, 'ISO country code'),
        c('is_default', 'boolean', null, 'boolean'),
      ],
      row: (g, i) => ({
        id: i + 1,
        customer_id: g.int(1, 2000),
        recipient: g.person().full,
        line1: g.pick([`${g.int(1, 250)} ${g.pick(['Main St', 'Oak Avenue', 'Market Street', 'High Street'])}`, `${g.pick(['Hauptstraße', 'Bahnhofstr.', 'Gartenweg'])} ${g.int(1, 120)}`, `${g.int(1, 90)} rue ${g.pick(['de la Paix', 'Victor Hugo', 'du Moulin'])}`, `Calle ${g.pick(['Mayor', 'de Alcalá', 'Sol'])} ${g.int(1, 150)}`]),
        line2: g.maybe(0.8, () => g.pick(['Apt 4B', '2. OG', 'Bâtiment C', 'Suite 210', 'c/o Reception'])),
        city: g.pick(CITIES),
        region: g.pick(['CA', 'NY', 'Bayern', 'Île-de-France', 'Cataluña', 'Noord-Holland', 'Ontario', 'Greater London']),
        postal_code: g.postal(),
        country: g.pick(COUNTRIES),
        is_default: g.chance(0.6),
      }),
    },
    {
      schema: 'shop',
      name: 'products',
      rows: 500,
      cols: [
        c('id', 'bigint PRIMARY KEY', null, 'integer key'),
        c('sku', 'varchar(20)', null, 'SKU code'),
        c('name', 'text', null, 'product name'),
        c('brand', 'text', null, 'brand; a third are person-name brands ("Calvin Klein")'),
        c('description', 'text', null, 'lorem description'),
        c('price', 'numeric(10,2)', null, 'currency amount'),
        c('weight_grams', 'integer', null, 'integer'),
        c('isbn', 'varchar(17)', null, 'ISBN-13, hyphenated or plain, 60% null'),
        c('ean', 'char(13)', null, '13-digit barcode'),
        c('part_no', 'varchar(12)', null, 'phone-shaped part number ddd-ddd-dddd'),
        c('release_date', 'date', null, 'date 1990..2025'),
        c('thumbnail', 'text', null, 'data: URI with base64 PNG bytes'),
        c('active', 'boolean', null, 'boolean'),
      ],
      row: (g, i) => ({
        id: i + 1,
        sku: g.sku(),
        name: g.productName(),
        brand: g.pick(['Calvin Klein', 'Hugo Boss', 'Ralph Lauren', 'Tommy Hilfiger', 'Stella McCartney', 'Acme', 'Northwind', 'Blue Harbor', 'Evergreen Goods', 'Atlas Outdoor', 'Summit', 'Pioneer Home']),
        description: g.lorem(g.int(2, 5)),
        price: g.money(3, 900),
        weight_grams: g.int(20, 25000),
        isbn: g.maybe(0.6, () => g.isbn13()),
        ean: g.pick(['400', '301', '500', '871', '843']) + g.digits(10),
        part_no: `${g.digits(3)}-${g.digits(3)}-${g.digits(4)}`,
        release_date: g.date(1990, 2025),
        thumbnail: `data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAA${g.bytes(90).toString('base64')}`,
        active: g.chance(0.9),
      }),
    },
    {
      schema: 'shop',
      name: 'orders',
      rows: 2000,
      cols: [
        c('id', 'bigint PRIMARY KEY', null, 'integer key'),
        c('order_no', 'text', null, 'SSN-shaped order number ddd-dd-dddd'),
        c('customer_id', 'bigint', null, 'integer fk'),
        c('status', 'text', null, 'enum-like'),
        c('total', 'numeric(10,2)', null, 'currency amount'),
        c('currency', 'char(3)', null, 'ISO currency'),
        c('gateway_txn_id', 'varchar(16)', null, '16 digits, Luhn-failing, first digit 3..6'),
        c('client_ip', 'text', 'ip_address', 'public IPv4/IPv6 as text'),
        c('tracking_number', 'text', null, 'UPS/USPS/FedEx tracking number, 30% null'),
        c('carrier', 'text', null, 'enum-like'),
        c('coupon_code', 'text', null, 'promo code, mostly null'),
        c('delivery_instructions', 'text', 'free_text', 'short instructions, ~20% with a phone number or name', ['phone', 'person_name']),
        c('placed_at', 'timestamptz', null, 'event timestamp'),
        c('shipped_at', 'timestamptz', null, 'event timestamp, 30% null'),
      ],
      row: (g, i) => ({
        id: i + 1,
        order_no: `${g.digits(3)}-${g.digits(2)}-${g.digits(4)}`,
        customer_id: g.int(1, 2000),
        status: g.pick(['pending', 'paid', 'shipped', 'delivered', 'refunded', 'cancelled']),
        total: g.money(5, 1500),
        currency: g.pick(['EUR', 'USD', 'GBP']),
        gateway_txn_id: g.luhnFailing16(),
        client_ip: g.ip(0.2),
        tracking_number: g.maybe(0.3, () => g.tracking()),
        carrier: g.pick(['UPS', 'USPS', 'FedEx', 'DHL', 'DPD']),
        coupon_code: g.maybe(0.8, () => g.pick(['SUMMER24', 'WELCOME10', 'BFCM2024', 'FREESHIP', 'VIP-20'])),
        delivery_instructions: g.maybe(0.5, () =>
          g.chance(0.2)
            ? g.pick([`Please call ${g.phone()} on arrival`, `Leave with neighbour ${g.person().full} at no. ${g.int(1, 90)}`, `Gate code 4${g.digits(3)}, ring ${g.phone()}`])
            : g.pick(['Leave at the front door', 'Ring the bell twice', 'Deliver to reception', 'Do not leave in the rain', 'Back door please', 'Parcel box in the garage'])),
        placed_at: g.ts(),
        shipped_at: g.maybe(0.3, () => g.ts()),
      }),
    },
    {
      schema: 'shop',
      name: 'reviews',
      rows: 900,
      cols: [
        c('id', 'bigint PRIMARY KEY', null, 'integer key'),
        c('product_id', 'bigint', null, 'integer fk'),
        c('rating', 'smallint', null, '1..5'),
        c('title', 'text', null, 'short review title'),
        c('body', 'text', null, 'review text without contact details'),
        c('display_name', 'text', 'ignore', 'reviewer handle "maria_k"'),
        c('helpful_votes', 'integer', null, 'integer'),
        c('created_at', 'timestamptz', null, 'event timestamp'),
      ],
      row: (g, i) => {
        const p = g.person();
        return {
          id: i + 1,
          product_id: g.int(1, 500),
          rating: g.int(1, 5),
          title: g.pick(['Love it', 'Not bad', 'Disappointed', 'Exactly as described', 'Would recommend', 'Meh']),
          body: Array.from({ length: g.int(1, 4) }, () => g.pick(REVIEW_PHRASES)).join(' '),
          display_name: `${ascii(p.first)}_${ascii(p.last)[0]}${g.chance(0.3) ? g.int(1, 99) : ''}`,
          helpful_votes: g.int(0, 300),
          created_at: g.ts(),
        };
      },
    },
    {
      schema: 'shop',
      name: 'inventory',
      rows: 600,
      cols: [
        c('sku', 'varchar(20)', null, 'SKU code'),
        c('warehouse', 'text', null, 'warehouse code like "FRA-2"'),
        c('warehouse_city', 'text', null, 'city name'),
        c('stock_units', 'integer', null, 'zip-shaped quantity 10000..99999'),
        c('lot_code', 'char(5)', null, 'zip-shaped 5-digit lot code'),
        c('reorder_level', 'integer', null, 'integer'),
        c('updated_at', 'timestamptz', null, 'event timestamp'),
      ],
      row: (g) => ({
        sku: g.sku(),
        warehouse: `${g.pick(['FRA', 'AMS', 'MAD', 'LHR', 'JFK', 'ORD'])}-${g.int(1, 4)}`,
        warehouse_city: g.pick(CITIES),
        stock_units: g.int(10000, 99999),
        lot_code: g.digits(5),
        reorder_level: g.int(10, 500),
        updated_at: g.ts(),
      }),
    },

    // ------------------------------------------------------------------ HR
    {
      schema: 'hr',
      name: 'employees',
      rows: 1200,
      cols: [
        c('employee_id', 'integer PRIMARY KEY', null, 'integer key'),
        c('emp_no', 'varchar(10)', null, 'E-000123'),
        c('given_name', 'text', 'person_name', 'given name'),
        c('family_name', 'text', 'person_name', 'family name'),
        c('preferred_name', 'text', 'person_name', 'nickname/given name, 70% null'),
        c('work_email', 'text', 'email', 'corporate e-mail'),
        c('personal_email', 'text', 'email', 'private e-mail, 30% null'),
        c('home_phone', 'bigint', 'phone', '10-digit US number as bigint'),
        c('date_of_birth', 'date', 'dob', 'date 1955..2004'),
        c('hire_date', 'date', null, 'date 1995..2025'),
        c('termination_date', 'date', null, 'date, 85% null'),
        c('national_id', 'char(11)', 'ssn', 'SSN ddd-dd-dddd'),
        c('tax_id', 'text', 'ssn', 'SSN as 9 digits'),
        c('department', 'text', null, 'department name'),
        c('job_title', 'text', null, 'job title'),
        c('salary', 'numeric(10,2)', null, 'currency amount'),
        c('manager_id', 'integer', null, 'integer fk'),
        c('bank_iban', 'text', 'iban', 'IBAN DE/FR/GB/ES/NL, printed or electronic'),
        c('emergency_contact', 'jsonb', 'phone', '{"name","relation","phone"}', ['person_name']),
        c('badge_uid', 'uuid', null, 'uuid'),
        c('is_active', 'boolean', null, 'boolean'),
      ],
      row: (g, i) => {
        const p = g.person();
        const ec = g.person();
        return {
          employee_id: i + 1,
          emp_no: `E-${String(i + 1).padStart(6, '0')}`,
          given_name: p.first,
          family_name: p.last,
          preferred_name: g.maybe(0.7, () => g.pick(FIRST)),
          work_email: g.email(p, 'initech.com'),
          personal_email: g.maybe(0.3, () => g.email(p)),
          home_phone: g.pii(g.usPhoneDigits()),
          date_of_birth: g.pii(g.date(1955, 2004)),
          hire_date: g.date(1995, 2025),
          termination_date: g.maybe(0.85, () => g.date(2015, 2025)),
          national_id: g.ssn(true),
          tax_id: g.ssn(false),
          department: g.pick(DEPARTMENTS),
          job_title: g.pick(JOB_TITLES),
          salary: g.money(30_000, 240_000),
          manager_id: g.maybe(0.05, () => g.int(1, 1200)),
          bank_iban: g.iban(),
          emergency_contact: { name: ec.full, relation: g.pick(['spouse', 'parent', 'sibling', 'friend']), phone: g.phone() },
          badge_uid: g.uuid(),
          is_active: g.chance(0.9),
        };
      },
    },
    {
      // The scanning role is not allowed to read this one.
      schema: 'hr',
      name: 'salary_secrets',
      rows: 100,
      cols: [
        c('employee_id', 'integer', null, 'integer fk'),
        c('ssn', 'text', 'ssn', 'SSN'),
        c('salary', 'numeric(10,2)', null, 'currency amount'),
      ],
      scored: false,
      row: (g, i) => ({ employee_id: i + 1, ssn: g.ssn(), salary: g.money(30_000, 240_000) }),
    },
    {
      schema: 'hr',
      name: 'performance_reviews',
      rows: 800,
      cols: [
        c('id', 'bigint PRIMARY KEY', null, 'integer key'),
        c('employee_id', 'integer', null, 'integer fk'),
        c('period', 'text', null, '"2024-H1"'),
        c('score', 'numeric(3,1)', null, '1.0..5.0'),
        c('comments', 'text', 'free_text', 'review text with colleague names, some e-mails', ['person_name', 'email']),
        c('submitted_at', 'timestamptz', null, 'event timestamp'),
      ],
      row: (g, i) => ({
        id: i + 1,
        employee_id: g.int(1, 1200),
        period: `${g.int(2021, 2025)}-H${g.int(1, 2)}`,
        score: (1 + g.int(0, 40) / 10).toFixed(1),
        comments: reviewComment(g),
        submitted_at: g.ts(),
      }),
    },
    {
      // A payroll export: positional field names.
      schema: 'hr',
      name: 'payroll_export',
      rows: 1000,
      cols: [
        c('field_01', 'text', null, 'employee number E-000123'),
        c('field_02', 'text', 'person_name', '"LAST, First"'),
        c('field_03', 'text', null, 'gross amount "4312.55"'),
        c('field_04', 'text', 'ssn', 'SSN ddd-dd-dddd'),
        c('field_05', 'text', 'iban', 'IBAN electronic format'),
        c('field_06', 'text', null, 'pay period "2024-06"'),
      ],
      row: (g, i) => {
        const p = g.person();
        return {
          field_01: `E-${String(g.int(1, 1200)).padStart(6, '0')}`,
          field_02: g.pii(`${p.last.toUpperCase()}, ${p.first}`),
          field_03: g.money(1500, 15000),
          field_04: g.ssn(),
          field_05: g.iban(undefined, false),
          field_06: `${g.int(2022, 2025)}-${String((i % 12) + 1).padStart(2, '0')}`,
        };
      },
    },

    // --------------------------------------------------------------- clinic
    {
      schema: 'clinic',
      name: 'patients',
      rows: 1500,
      cols: [
        c('patient_id', 'uuid PRIMARY KEY', null, 'uuid'),
        c('mrn', 'varchar(12)', 'ignore', 'medical record number MRN00123456'),
        c('first_name', 'text', 'person_name', 'given name'),
        c('last_name', 'text', 'person_name', 'family name'),
        c('dob', 'date', 'dob', 'date 1930..2024 (includes children)'),
        c('sex', 'char(1)', null, 'F/M/X'),
        c('phone', 'varchar(25)', 'phone', 'US phone'),
        c('email', 'text', 'email', 'e-mail, 40% null'),
        c('preferred_contact', 'text', 'email', 'either an e-mail address or a phone number', ['phone']),
        c('zip', 'varchar(10)', 'postal_code', 'US ZIP or ZIP+4'),
        c('insurance_member_id', 'text', 'ignore', 'XGH123456789'),
        c('kin', 'jsonb', 'person_name', '{"name","phone","relationship"}', ['phone']),
        c('registered_at', 'timestamptz', null, 'event timestamp'),
      ],
      row: (g) => {
        const p = g.person();
        const k = g.person();
        return {
          patient_id: g.uuid(),
          mrn: `MRN${g.digits(8)}`,
          first_name: p.first,
          last_name: p.last,
          dob: g.pii(g.date(1930, 2024)),
          sex: g.pick(['F', 'M', 'X']),
          phone: g.phone('US'),
          email: g.maybe(0.4, () => g.email(p)),
          preferred_contact: g.chance(0.5) ? g.email(p) : g.phone('US'),
          zip: g.postal('US'),
          insurance_member_id: `${g.chars(3, UPPER)}${g.digits(9)}`,
          kin: g.maybe(0.3, () => ({ name: k.full, phone: g.phone('US'), relationship: g.pick(['mother', 'father', 'spouse', 'child']) })),
          registered_at: g.ts(2015, 2025),
        };
      },
    },
    {
      schema: 'clinic',
      name: 'appointments',
      rows: 2000,
      cols: [
        c('id', 'bigint PRIMARY KEY', null, 'integer key'),
        c('patient_id', 'uuid', null, 'uuid'),
        c('provider_name', 'text', 'person_name', '"Dr. First Last"'),
        c('scheduled_for', 'timestamptz', null, 'event timestamp'),
        c('duration_min', 'smallint', null, '15/30/45/60'),
        c('room', 'text', null, '"B-204"'),
        c('status', 'text', null, 'enum-like'),
        c('reason', 'text', 'ignore', 'short visit reason (health data, no identifiers)'),
        c('notes', 'text', 'free_text', 'clinical notes, ~65% with names/phones/e-mails', FREE_TEXT_ACCEPT),
        c('checked_in_at', 'timestamptz', null, 'event timestamp, 40% null'),
      ],
      row: (g, i) => ({
        id: i + 1,
        patient_id: g.uuid(),
        provider_name: g.pii(`Dr. ${g.pick(FIRST)} ${g.pick(LAST)}`),
        scheduled_for: g.ts(2023, 2026),
        duration_min: g.pick([15, 30, 45, 60]),
        room: `${g.pick(['A', 'B', 'C'])}-${g.int(100, 420)}`,
        status: g.pick(['booked', 'confirmed', 'checked_in', 'completed', 'no_show', 'cancelled']),
        reason: g.pick(['Annual check-up', 'Follow-up', 'Vaccination', 'Lab results review', 'Back pain', 'Skin rash', 'Flu symptoms']),
        notes: g.maybe(0.3, () => clinicNote(g)),
        checked_in_at: g.maybe(0.4, () => g.ts(2023, 2025)),
      }),
    },
    {
      schema: 'clinic',
      name: 'lab_results',
      rows: 1500,
      cols: [
        c('id', 'bigint PRIMARY KEY', null, 'integer key'),
        c('patient_id', 'uuid', null, 'uuid'),
        c('accession_no', 'text', null, '"A24-0012345"'),
        c('test_code', 'text', null, 'LOINC code "2345-7"'),
        c('value', 'numeric(8,2)', null, 'measurement'),
        c('unit', 'text', null, 'mg/dL, mmol/L...'),
        c('ref_range', 'text', null, '"70-99"'),
        c('collected_at', 'timestamptz', null, 'event timestamp'),
      ],
      row: (g, i) => ({
        id: i + 1,
        patient_id: g.uuid(),
        accession_no: `A${g.int(20, 25)}-${g.digits(7)}`,
        test_code: `${g.int(1000, 99999)}-${g.int(0, 9)}`,
        value: g.money(0, 400),
        unit: g.pick(['mg/dL', 'mmol/L', 'g/dL', 'U/L', '%', '10^9/L']),
        ref_range: g.pick(['70-99', '3.5-5.0', '0.6-1.2', '12-16', '4.0-11.0']),
        collected_at: g.ts(),
      }),
    },

    // ------------------------------------------------------------------ auth
    {
      schema: 'auth',
      name: 'users',
      rows: 1500,
      cols: [
        c('id', 'uuid PRIMARY KEY', null, 'uuid'),
        c('username', 'text', 'ignore', 'login handle'),
        c('name', 'text', 'person_name', 'full name, 20% null'),
        c('email', 'text', 'email', 'e-mail address'),
        c('email_verified', 'boolean', null, 'boolean'),
        c('password_hash', 'text', 'secret', 'bcrypt or argon2id hash'),
        c('mfa_secret', 'text', 'secret', 'TOTP base32 seed, 60% null'),
        c('recovery_codes', 'text[]', 'secret', 'array of 8 codes "xxxxx-xxxxx", 70% null'),
        c('backup_phones', 'jsonb', 'phone', 'JSON array of phone strings, 50% null'),
        c('role', 'text', null, 'enum-like'),
        c('locale', 'text', null, '"de-DE"'),
        c('timezone', 'text', null, '"Europe/Berlin"'),
        c('avatar_url', 'text', null, 'CDN URL with uuid'),
        c('failed_attempts', 'smallint', null, 'integer'),
        c('last_login_at', 'timestamptz', null, 'event timestamp'),
        c('last_login_ip', 'inet', 'ip_address', 'public IPv4/IPv6'),
        c('signup_ip', 'text', 'ip_address', 'public IPv4/IPv6 as text'),
      ],
      row: (g) => {
        const p = g.person();
        return {
          id: g.uuid(),
          username: `${ascii(p.first)}${g.pick(['', '_', '.'])}${ascii(p.last).slice(0, g.int(1, 6))}${g.chance(0.5) ? g.int(1, 999) : ''}`,
          name: g.maybe(0.2, () => p.full),
          email: g.email(p),
          email_verified: g.chance(0.8),
          password_hash: g.chance(0.7) ? g.bcrypt() : g.argon2(),
          mfa_secret: g.maybe(0.6, () => g.totpSeed()),
          recovery_codes: g.maybe(0.7, () => Array.from({ length: 8 }, () => g.pii(`${g.chars(5, LOWER_ALNUM)}-${g.chars(5, LOWER_ALNUM)}`))),
          backup_phones: g.maybe(0.5, () => Array.from({ length: g.int(1, 2) }, () => g.phone())),
          role: g.pick(['member', 'member', 'admin', 'owner', 'viewer']),
          locale: g.pick(['en-US', 'en-GB', 'de-DE', 'fr-FR', 'es-ES', 'nl-NL']),
          timezone: g.pick(['Europe/Berlin', 'Europe/Paris', 'Europe/Madrid', 'Europe/London', 'America/New_York', 'America/Los_Angeles']),
          avatar_url: `https://cdn.acme-app.com/avatars/${g.uuid()}.jpg`,
          failed_attempts: g.int(0, 5),
          last_login_at: g.ts(),
          last_login_ip: g.ip(),
          signup_ip: g.ip(0.3),
        };
      },
    },
    {
      schema: 'auth',
      name: 'sessions',
      rows: 2000,
      cols: [
        c('id', 'uuid PRIMARY KEY', null, 'uuid'),
        c('user_id', 'uuid', null, 'uuid'),
        c('access_token', 'text', 'secret', 'JWT (HS256/RS256)'),
        c('refresh_token', 'varchar(64)', 'secret', '64-char base64url opaque token'),
        c('user_agent', 'text', null, 'HTTP user agent'),
        c('ip', 'inet', 'ip_address', 'public IPv4/IPv6'),
        c('created_at', 'timestamptz', null, 'event timestamp'),
        c('expires_at', 'timestamptz', null, 'event timestamp'),
        c('revoked', 'boolean', null, 'boolean'),
      ],
      row: (g) => ({
        id: g.uuid(),
        user_id: g.uuid(),
        access_token: g.jwt(),
        refresh_token: g.opaqueToken(64),
        user_agent: g.userAgent(),
        ip: g.ip(),
        created_at: g.ts(),
        expires_at: g.ts(),
        revoked: g.chance(0.1),
      }),
    },
    {
      schema: 'auth',
      name: 'api_keys',
      rows: 400,
      cols: [
        c('id', 'bigint PRIMARY KEY', null, 'integer key'),
        c('owner_id', 'uuid', null, 'uuid'),
        c('label', 'text', null, '"CI deploy key"'),
        c('secret', 'text', 'secret', 'AWS/GitHub/Stripe/Slack-shaped key'),
        c('aws_secret_access_key', 'text', 'secret', '40-char AWS secret key, 60% null'),
        c('token_sha256', 'char(64)', null, 'SHA-256 hex of the key'),
        c('scopes', 'text[]', null, 'array of scope names'),
        c('allowed_cidr', 'cidr', null, 'corporate network range'),
        c('created_at', 'timestamptz', null, 'event timestamp'),
        c('last_used_at', 'timestamptz', null, 'event timestamp'),
      ],
      row: (g, i) => ({
        id: i + 1,
        owner_id: g.uuid(),
        label: g.pick(['CI deploy key', 'Zapier integration', 'Local dev', 'Terraform', 'Data warehouse sync', 'Backup job']),
        secret: [() => g.awsAccessKeyId(), () => g.githubToken(), () => g.stripeKey(), () => g.slackToken()][g.int(0, 3)](),
        aws_secret_access_key: g.maybe(0.6, () => g.awsSecretKey()),
        token_sha256: g.hex(64),
        scopes: g.pick([['read'], ['read', 'write'], ['admin'], ['orders:read', 'customers:read'], ['deploy']]),
        allowed_cidr: g.pick(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', `10.${g.int(0, 255)}.0.0/16`, '0.0.0.0/0']),
        created_at: g.ts(),
        last_used_at: g.maybe(0.3, () => g.ts()),
      }),
    },
    {
      schema: 'auth',
      name: 'oauth_identities',
      rows: 900,
      cols: [
        c('id', 'bigint PRIMARY KEY', null, 'integer key'),
        c('provider', 'text', null, 'enum: google/github/microsoft'),
        c('provider_user_id', 'text', null, '20/21-digit provider subject id'),
        c('access_token', 'text', 'secret', 'OAuth access token (ya29./gho_)'),
        c('profile', 'jsonb', 'email', '{"name","email","picture","locale","email_verified"}', ['person_name']),
        c('linked_at', 'timestamptz', null, 'event timestamp'),
      ],
      row: (g, i) => {
        const p = g.person();
        const provider = g.pick(['google', 'github', 'microsoft']);
        return {
          id: i + 1,
          provider,
          provider_user_id: g.digits(g.pick([20, 21])),
          access_token: g.pii(provider === 'github' ? `gho_${g.chars(36, ALNUM)}` : provider === 'google' ? `ya29.a0${g.chars(150, B64URL)}` : `EwB${g.chars(180, ALNUM + '+/')}`),
          profile: { name: p.full, email: g.email(p), picture: `https://lh3.googleusercontent.com/a/${g.chars(40, B64URL)}`, locale: g.pick(['en', 'de', 'fr', 'es']), email_verified: true },
          linked_at: g.ts(),
        };
      },
    },
    {
      // An ORM-style table (Prisma): quoted camelCase names, timestamp(3), cuid ids.
      schema: 'auth',
      name: 'Customer',
      rows: 800,
      cols: [
        c('id', 'text PRIMARY KEY', null, 'cuid'),
        c('firstName', 'text', 'person_name', 'given name'),
        c('lastName', 'text', 'person_name', 'family name'),
        c('emailAddress', 'text', 'email', 'e-mail address'),
        c('phoneNumber', 'text', 'phone', 'E.164 phone, 30% null'),
        c('dateOfBirth', 'timestamp(3)', 'dob', 'timestamp(3) at midnight, 1940..2006'),
        c('stripeCustomerId', 'text', null, 'Stripe object id cus_...'),
        c('createdAt', 'timestamp(3)', null, 'event timestamp'),
        c('updatedAt', 'timestamp(3)', null, 'event timestamp'),
      ],
      row: (g) => {
        const p = g.person();
        return {
          id: `cl${g.chars(23, LOWER_ALNUM)}`,
          firstName: p.first,
          lastName: p.last,
          emailAddress: g.email(p),
          phoneNumber: g.maybe(0.3, () => g.pii(`+1${g.usPhoneDigits()}`)),
          dateOfBirth: `${g.dob()} 00:00:00`,
          stripeCustomerId: `cus_${g.chars(14, ALNUM)}`,
          createdAt: g.ts().slice(0, 19),
          updatedAt: g.ts().slice(0, 19),
        };
      },
    },

    // ------------------------------------------------------------------- ops
    {
      schema: 'ops',
      name: 'events',
      rows: 2000,
      cols: [
        c('id', 'bigint PRIMARY KEY', null, 'integer key'),
        c('event_type', 'text', null, 'enum-like'),
        c('occurred_at', 'timestamptz', null, 'event timestamp'),
        c('session_id', 'uuid', null, 'uuid'),
        c('request_id', 'char(32)', null, '32 hex'),
        c('path', 'text', null, 'URL path'),
        c('http_status', 'smallint', null, 'HTTP status'),
        c('latency_ms', 'integer', null, 'integer'),
        c('user_agent', 'text', null, 'HTTP user agent'),
        c('app_version', 'text', null, 'semantic version'),
        c('build', 'text', null, 'IP-shaped build number a.b.c.d (each <=255)'),
        c('client_ip', 'inet', 'ip_address', 'public IPv4/IPv6'),
        c('etag', 'text', null, 'quoted md5 hex etag, W/ prefix sometimes'),
        c('payload', 'jsonb', null, '{"cart":{"items","value"},"referrer","utm":{...}}'),
        c('context', 'jsonb', 'email', '{"user":{"id","email","phone"?},"device":{...}}', ['phone']),
        c('meta', 'jsonb', 'email', '{"tags":[..],"contacts":[{"type","value"}]} array of objects', ['phone']),
      ],
      row: (g, i) => {
        const p = g.person();
        const contacts = [{ type: 'email', value: g.email(p) }];
        if (g.chance(0.5)) contacts.push({ type: 'phone', value: g.phone() });
        return {
          id: i + 1,
          event_type: g.pick(['page_view', 'add_to_cart', 'checkout_started', 'purchase', 'login', 'logout', 'search']),
          occurred_at: g.ts(),
          session_id: g.uuid(),
          request_id: g.hex(32),
          path: g.pick(['/', '/pricing', `/products/${g.int(1, 500)}`, `/api/v1/orders/${g.int(1, 99999)}`, '/checkout', '/account/settings']),
          http_status: g.pick([200, 200, 200, 201, 302, 304, 404, 500]),
          latency_ms: g.int(1, 4000),
          user_agent: g.userAgent(),
          app_version: g.semver(),
          build: g.ipShapedVersion(),
          client_ip: g.ip(),
          etag: `${g.chance(0.3) ? 'W/' : ''}"${g.hex(32)}"`,
          payload: { cart: { items: g.int(0, 12), value: Number(g.money(0, 900)) }, referrer: g.pick(['https://www.google.com/', 'https://t.co/', null, 'https://news.ycombinator.com/']), utm: { source: g.pick(['newsletter', 'google', 'twitter']), campaign: g.pick(['spring_sale', 'launch', 'retargeting']) } },
          context: { user: { id: g.int(1, 2000), email: g.email(p), ...(g.chance(0.3) ? { phone: g.phone() } : {}) }, device: { os: g.pick(['iOS', 'Android', 'macOS', 'Windows']), screen: g.pick(['1920x1080', '390x844', '1440x900']) } },
          meta: { tags: g.pick([['vip'], ['trial', 'eu'], [], ['beta']]), contacts },
        };
      },
    },
    {
      schema: 'ops',
      name: 'app_logs',
      rows: 2000,
      cols: [
        c('ts', 'timestamptz', null, 'event timestamp'),
        c('level', 'text', null, 'enum: debug/info/warn/error'),
        c('logger', 'text', null, 'class name com.acme...'),
        c('host', 'text', null, 'hostname web-03.prod.internal'),
        c('pid', 'integer', null, 'integer'),
        c('message', 'text', null, 'log line without PII'),
        c('source_file', 'text', null, 'file path'),
        c('stack', 'text', null, 'stack trace, 90% null'),
      ],
      row: (g) => ({
        ts: g.ts(),
        level: g.pick(['debug', 'info', 'info', 'info', 'warn', 'error']),
        logger: `com.acme.${g.pick(['billing', 'orders', 'auth', 'search'])}.${g.pick(['InvoiceService', 'OrderController', 'TokenRefresher', 'IndexWorker'])}`,
        host: `${g.pick(['web', 'worker', 'api'])}-${String(g.int(1, 12)).padStart(2, '0')}.prod.internal`,
        pid: g.int(1000, 65000),
        message: g.logLine(),
        source_file: g.pick([`/var/www/app/releases/2024${String(g.int(1, 12)).padStart(2, '0')}${String(g.int(1, 28)).padStart(2, '0')}/src/server.js`, `/srv/app/lib/${g.pick(['billing', 'orders'])}/${g.pick(['service', 'worker'])}.rb`, `C:\\inetpub\\wwwroot\\App_Code\\${g.pick(['Orders', 'Invoices'])}.cs`]),
        stack: g.maybe(0.9, () => `Error: ${g.pick(['ECONNRESET', 'ETIMEDOUT', 'Unexpected token'])}\n    at Socket.onread (node:net:${g.int(100, 900)}:${g.int(1, 40)})\n    at process.processTicksAndRejections (node:internal/process/task_queues:${g.int(50, 99)}:5)`),
      }),
    },
    {
      schema: 'ops',
      name: 'audit_log',
      rows: 1200,
      cols: [
        c('id', 'bigint PRIMARY KEY', null, 'integer key'),
        c('actor', 'text', 'email', 'e-mail of the acting user'),
        c('action', 'text', null, 'enum-like'),
        c('target_table', 'text', null, 'table name'),
        c('target_id', 'bigint', null, 'integer'),
        c('ip_address', 'text', 'ip_address', 'IPv4 as text'),
        c('details', 'jsonb', 'phone', '{"changed":[..],"old":{"phone"},"new":{"phone"}} for 40%, else {"changed":["status"]}'),
        c('at', 'timestamptz', null, 'event timestamp'),
      ],
      row: (g, i) => {
        const p = g.person();
        return {
          id: i + 1,
          actor: g.email(p, g.pick(COMPANY_DOMAINS)),
          action: g.pick(['update', 'delete', 'export', 'login', 'grant']),
          target_table: g.pick(['customers', 'orders', 'employees', 'invoices']),
          target_id: g.int(1, 100000),
          ip_address: g.publicIpv4(),
          details: g.chance(0.6) ? { changed: ['phone'], old: { phone: g.phone() }, new: { phone: g.phone() } } : { changed: ['status'], old: { status: 'pending' }, new: { status: 'paid' } },
          at: g.ts(),
        };
      },
    },
    {
      schema: 'ops',
      name: 'webhook_deliveries',
      rows: 800,
      cols: [
        c('id', 'bigint PRIMARY KEY', null, 'integer key'),
        c('url', 'text', null, 'partner webhook URL'),
        c('attempt', 'smallint', null, '1..5'),
        c('response_code', 'smallint', null, 'HTTP status'),
        c('response_body', 'text', null, 'small JSON ack without PII'),
        c('signature', 'text', null, 'sha256=<64 hex> HMAC'),
        c('delivered_at', 'timestamptz', null, 'event timestamp'),
      ],
      row: (g, i) => ({
        id: i + 1,
        url: `https://hooks.${g.pick(['partner-a.com', 'zapier.com', 'example-erp.de'])}/in/${g.chars(16, LOWER_ALNUM)}`,
        attempt: g.int(1, 5),
        response_code: g.pick([200, 200, 202, 400, 500, 503]),
        response_body: JSON.stringify({ ok: g.chance(0.8), received: g.int(1, 50) }),
        signature: `sha256=${g.hex(64)}`,
        delivered_at: g.ts(),
      }),
    },
    {
      schema: 'ops',
      name: 'deployments',
      rows: 400,
      cols: [
        c('id', 'bigint PRIMARY KEY', null, 'integer key'),
        c('repo', 'text', null, 'git@github.com:org/repo.git (e-mail-shaped)'),
        c('commit_sha', 'char(40)', null, '40 hex git commit'),
        c('branch', 'text', null, 'branch name'),
        c('version', 'text', null, 'semantic version'),
        c('image', 'text', null, 'registry/image@sha256:<hex> (e-mail-shaped)'),
        c('deployed_by', 'text', 'email', 'engineer e-mail'),
        c('deployed_at', 'timestamptz', null, 'event timestamp'),
        c('duration_s', 'integer', null, 'integer'),
      ],
      row: (g, i) => {
        const app = g.pick(['web', 'api', 'worker', 'billing-service', 'search']);
        return {
          id: i + 1,
          repo: `git@github.com:acme-app/${app}.git`,
          commit_sha: g.hex(40),
          branch: g.pick(['main', 'main', 'release/2024-06', `hotfix/${g.int(100, 999)}`]),
          version: g.semver(),
          image: `registry.acme.io/${app}@sha256:${g.hex(64)}`,
          deployed_by: g.email(g.person(), 'acme-app.com'),
          deployed_at: g.ts(),
          duration_s: g.int(20, 900),
        };
      },
    },
    {
      schema: 'ops',
      name: 'devices',
      rows: 900,
      cols: [
        c('device_id', 'uuid', null, 'uuid'),
        c('imei', 'char(15)', null, '15-digit Luhn-valid IMEI starting 35/86'),
        c('model', 'text', null, '"iPhone15,2"'),
        c('os_version', 'text', null, 'semantic version'),
        c('push_token', 'text', 'ignore', '64 hex APNs device token'),
        c('owner_email', 'text', 'email', 'e-mail address'),
        c('last_seen_ip', 'inet', 'ip_address', 'public IPv4/IPv6'),
        c('last_seen_at', 'timestamptz', null, 'event timestamp'),
      ],
      row: (g) => {
        const body = g.pick(['35', '86']) + g.digits(12);
        return {
          device_id: g.uuid(),
          imei: body + String(luhnCheckDigit(body)),
          model: g.pick(['iPhone15,2', 'iPhone14,5', 'Pixel 8', 'SM-S918B', 'iPad13,1']),
          os_version: g.semver(),
          push_token: g.hex(64),
          owner_email: g.email(g.person()),
          last_seen_ip: g.ip(),
          last_seen_at: g.ts(),
        };
      },
    },

    // --------------------------------------------------------------- billing
    {
      schema: 'billing',
      name: 'payment_methods',
      rows: 1500,
      cols: [
        c('id', 'bigint PRIMARY KEY', null, 'integer key'),
        c('customer_id', 'bigint', null, 'integer fk'),
        c('brand', 'text', null, 'card brand enum'),
        c('card_number', 'varchar(23)', 'card', 'Luhn-valid PAN, plain/spaced/dashed'),
        c('last4', 'char(4)', null, 'last four digits'),
        c('exp_month', 'smallint', null, '1..12'),
        c('exp_year', 'smallint', null, '2025..2032'),
        c('cardholder_name', 'text', 'person_name', 'name, often upper case'),
        c('billing_zip', 'varchar(10)', 'postal_code', 'postal code'),
        c('fingerprint', 'char(16)', null, '16 alnum'),
        c('created_at', 'timestamptz', null, 'event timestamp'),
      ],
      row: (g, i) => {
        const card = g.card();
        const p = g.person();
        return {
          id: i + 1,
          customer_id: g.int(1, 2000),
          brand: card.brand,
          card_number: card.text,
          last4: card.pan.slice(-4),
          exp_month: g.int(1, 12),
          exp_year: g.int(2025, 2032),
          cardholder_name: g.pii(g.chance(0.5) ? p.full.toUpperCase() : p.full),
          billing_zip: g.postal(),
          fingerprint: g.chars(16, ALNUM),
          created_at: g.ts(),
        };
      },
    },
    {
      schema: 'billing',
      name: 'payments',
      rows: 2000,
      cols: [
        c('id', 'bigint PRIMARY KEY', null, 'integer key'),
        c('payment_method_id', 'bigint', null, 'integer fk'),
        c('amount_cents', 'bigint', null, 'integer amount'),
        c('currency', 'char(3)', null, 'ISO currency'),
        c('status', 'text', null, 'enum-like'),
        c('processor_ref', 'text', null, 'Stripe object id ch_/pi_'),
        c('card_display', 'text', null, 'masked card "Visa •••• 4242"'),
        c('idempotency_key', 'uuid', null, 'uuid'),
        c('failure_reason', 'text', null, 'enum-like, mostly null'),
        c('captured_at', 'timestamptz', null, 'event timestamp'),
      ],
      row: (g, i) => ({
        id: i + 1,
        payment_method_id: g.int(1, 1500),
        amount_cents: g.int(100, 500000),
        currency: g.pick(['EUR', 'USD', 'GBP']),
        status: g.pick(['succeeded', 'succeeded', 'pending', 'failed', 'refunded']),
        processor_ref: `${g.pick(['ch_3', 'pi_3'])}${g.chars(23, ALNUM)}`,
        card_display: `${g.pick(['Visa', 'Mastercard', 'Amex', 'Discover'])} ${g.pick(['•••• ', '**** **** **** ', 'ending in '])}${g.digits(4)}`,
        idempotency_key: g.uuid(),
        failure_reason: g.maybe(0.85, () => g.pick(['card_declined', 'insufficient_funds', 'expired_card', 'processing_error'])),
        captured_at: g.ts(),
      }),
    },
    {
      // A legacy transactions table: card numbers stored as numbers.
      schema: 'billing',
      name: 'legacy_transactions',
      rows: 1200,
      cols: [
        c('txn_ref', 'bigint', null, '16-digit Luhn-failing id'),
        c('acct_no', 'numeric(19,0)', 'card', 'Luhn-valid PAN as a number'),
        c('merchant_id', 'char(15)', null, '15-digit merchant id'),
        c('auth_code', 'char(6)', null, '6 alnum'),
        c('amount', 'numeric(12,2)', null, 'currency amount'),
        c('posted_on', 'date', null, 'date 2010..2020'),
        c('payer_iban', 'varchar(34)', 'iban', 'IBAN, 50% null'),
        c('zip', 'integer', 'postal_code', 'US ZIP stored as integer (leading zeros lost)'),
      ],
      row: (g) => ({
        txn_ref: g.luhnFailing16(),
        acct_no: g.card('plain').pan,
        merchant_id: '4' + g.digits(14),
        auth_code: g.chars(6, UPPER + '0123456789'),
        amount: g.money(1, 5000),
        posted_on: g.date(2010, 2020),
        payer_iban: g.maybe(0.5, () => g.iban(undefined, false)),
        zip: g.int(1001, 99950),
      }),
    },
    {
      schema: 'billing',
      name: 'invoices',
      rows: 1500,
      cols: [
        c('id', 'bigint PRIMARY KEY', null, 'integer key'),
        c('invoice_number', 'text', null, 'INV-2024-000123'),
        c('bill_to', 'jsonb', 'person_name', '{"name","company","address":{"line1","city","postal_code","country"}}', ['postal_code']),
        c('vat_id', 'text', null, 'EU VAT id DE123456789, 50% null'),
        c('payment_reference', 'text', null, 'ISO 11649 RF creditor reference (mod-97 valid)'),
        c('total', 'numeric(12,2)', null, 'currency amount'),
        c('due_date', 'date', null, 'date 2022..2026'),
        c('paid_at', 'timestamptz', null, 'event timestamp'),
        c('pdf_path', 'text', null, 'file path'),
      ],
      row: (g, i) => {
        const year = g.int(2022, 2025);
        const no = `INV-${year}-${String(i + 1).padStart(6, '0')}`;
        return {
          id: i + 1,
          invoice_number: no,
          bill_to: { name: g.person().full, company: g.maybe(0.5, () => g.company()), address: { line1: `${g.int(1, 200)} ${g.pick(['Main St', 'Lindenstraße', 'Rue Lepic'])}`, city: g.pick(CITIES), postal_code: g.postal(), country: g.pick(COUNTRIES) } },
          vat_id: g.maybe(0.5, () => `${g.pick(['DE', 'FR', 'ES', 'NL'])}${g.digits(9)}`),
          payment_reference: g.rfReference(),
          total: g.money(10, 20000),
          due_date: g.date(2022, 2026),
          paid_at: g.maybe(0.3, () => g.ts()),
          pdf_path: `/data/invoices/${year}/${String(g.int(1, 12)).padStart(2, '0')}/${no}.pdf`,
        };
      },
    },
    {
      schema: 'billing',
      name: 'payouts',
      rows: 700,
      cols: [
        c('id', 'bigint PRIMARY KEY', null, 'integer key'),
        c('beneficiary', 'text', 'person_name', 'full name'),
        c('iban', 'text', 'iban', 'IBAN DE/FR/GB/ES/NL printed with spaces'),
        c('bic', 'char(11)', null, 'BIC/SWIFT code'),
        c('amount', 'numeric(12,2)', null, 'currency amount'),
        c('reference', 'text', null, '"Payout 2024-06 #4471"'),
        c('scheduled_on', 'date', null, 'date'),
      ],
      row: (g, i) => ({
        id: i + 1,
        beneficiary: g.person().full,
        iban: g.iban(undefined, true),
        bic: `${g.pick(['DEUT', 'BNPA', 'BARC', 'CAIX', 'INGB', 'COBA'])}${g.pick(['DE', 'FR', 'GB', 'ES', 'NL'])}${g.pick(['FF', '2L', 'MM', 'BB'])}XXX`,
        amount: g.money(50, 9000),
        reference: `Payout ${g.int(2022, 2025)}-${String(g.int(1, 12)).padStart(2, '0')} #${g.int(1000, 9999)}`,
        scheduled_on: g.date(2022, 2025),
      }),
    },

    // ------------------------------------------------------------------ intl
    {
      schema: 'intl',
      name: 'kunden',
      rows: 1000,
      cols: [
        c('kunden_nr', 'integer PRIMARY KEY', null, 'integer key'),
        c('anrede', 'text', null, 'Herr/Frau/Divers'),
        c('vorname', 'text', 'person_name', 'given name'),
        c('nachname', 'text', 'person_name', 'family name'),
        c('geburtsdatum', 'date', 'dob', 'date 1940..2006'),
        c('telefon', 'text', 'phone', 'German phone, national/international formats'),
        c('E-Mail', 'text', 'email', 'e-mail address'),
        c('strasse', 'text', 'ignore', 'street and number'),
        c('plz', 'char(5)', 'postal_code', 'German 5-digit postal code'),
        c('ort', 'text', null, 'city name'),
        c('kontonummer', 'varchar(34)', 'iban', 'German IBAN'),
        c('bemerkung', 'text', null, 'German note without PII'),
        c('erstellt_am', 'timestamp', null, 'event timestamp'),
      ],
      row: (g, i) => {
        const p = g.person();
        return {
          kunden_nr: 10000 + i,
          anrede: g.pick(['Herr', 'Frau', 'Divers']),
          vorname: p.first,
          nachname: p.last,
          geburtsdatum: g.dob(),
          telefon: g.phone('DE'),
          'E-Mail': g.email(p, g.pick(['gmx.de', 'web.de', 't-online.de', 'posteo.de', 'gmail.com'])),
          strasse: `${g.pick(['Hauptstraße', 'Bahnhofstraße', 'Schillerstr.', 'Am Markt', 'Lindenallee'])} ${g.int(1, 140)}${g.chance(0.1) ? 'a' : ''}`,
          plz: g.postal('DE'),
          ort: g.pick(['Berlin', 'München', 'Hamburg', 'Köln', 'Stuttgart', 'Leipzig', 'Dresden']),
          kontonummer: g.iban('DE'),
          bemerkung: g.maybe(0.5, () => g.pick(DE_NOTES)),
          erstellt_am: g.ts().slice(0, 19),
        };
      },
    },
    {
      schema: 'intl',
      name: 'clients',
      rows: 800,
      cols: [
        c('id', 'integer PRIMARY KEY', null, 'integer key'),
        c('civilite', 'text', null, 'M./Mme'),
        c('prenom', 'text', 'person_name', 'given name'),
        c('nom', 'text', 'person_name', 'family name'),
        c('courriel', 'text', 'email', 'e-mail address'),
        c('telephone', 'text', 'phone', 'French phone'),
        c('date_naissance', 'varchar(10)', 'dob', 'birth date as text dd/mm/yyyy'),
        c('code_postal', 'char(5)', 'postal_code', 'French postal code'),
        c('ville', 'text', null, 'city name'),
        c('rib', 'text', 'iban', 'French IBAN'),
        c('montant_du', 'numeric(10,2)', null, 'currency amount'),
        c('date_inscription', 'date', null, 'date 2015..2025'),
      ],
      row: (g, i) => {
        const p = g.person();
        const d = g.dob();
        return {
          id: i + 1,
          civilite: g.pick(['M.', 'Mme']),
          prenom: p.first,
          nom: p.last,
          courriel: g.email(p, g.pick(['orange.fr', 'free.fr', 'laposte.net', 'sfr.fr', 'gmail.com'])),
          telephone: g.phone('FR'),
          date_naissance: g.pii(`${d.slice(8, 10)}/${d.slice(5, 7)}/${d.slice(0, 4)}`),
          code_postal: g.postal('FR'),
          ville: g.pick(['Paris', 'Lyon', 'Marseille', 'Lille', 'Nantes', 'Toulouse']),
          rib: g.iban('FR'),
          montant_du: g.money(0, 3000),
          date_inscription: g.date(2015, 2025),
        };
      },
    },
    {
      schema: 'intl',
      name: 'clientes',
      rows: 800,
      cols: [
        c('id', 'integer PRIMARY KEY', null, 'integer key'),
        c('nombre', 'text', 'person_name', 'given name'),
        c('apellidos', 'text', 'person_name', 'one or two family names'),
        c('correo', 'text', 'email', 'e-mail address'),
        c('telefono_movil', 'text', 'phone', 'Spanish phone'),
        c('fecha_nacimiento', 'date', 'dob', 'date 1940..2006'),
        c('codigo_postal', 'varchar(5)', 'postal_code', 'Spanish postal code'),
        c('ciudad', 'text', null, 'city name'),
        c('pais', 'text', null, 'country name'),
        c('cuenta_bancaria', 'text', 'iban', 'Spanish IBAN'),
        c('numero_seguimiento', 'text', null, 'tracking number'),
        c('importe', 'numeric(10,2)', null, 'currency amount'),
        c('fecha_envio', 'date', null, 'recent date'),
      ],
      row: (g, i) => {
        const p = g.person();
        const second = g.chance(0.6) ? ` ${g.pick(LAST)}` : '';
        return {
          id: i + 1,
          nombre: p.first,
          apellidos: g.pii(p.last + second),
          correo: g.email(p, g.pick(['hotmail.es', 'telefonica.net', 'gmail.com', 'yahoo.es'])),
          telefono_movil: g.phone('ES'),
          fecha_nacimiento: g.dob(),
          codigo_postal: g.postal('ES'),
          ciudad: g.pick(['Madrid', 'Barcelona', 'Valencia', 'Sevilla', 'Bilbao', 'Málaga']),
          pais: g.pick(['España', 'Portugal', 'México', 'Argentina']),
          cuenta_bancaria: g.iban('ES'),
          numero_seguimiento: g.maybe(0.3, () => g.tracking()),
          importe: g.money(5, 800),
          fecha_envio: g.date(2023, 2025),
        };
      },
    },
  ];
}

function views(): ViewDef[] {
  return [
    {
      schema: 'crm',
      name: 'contact_directory',
      kind: 'view',
      sql: `SELECT c.id, c.first_name || ' ' || c.last_name AS full_name, c.email, a.name AS company, a.city
            FROM crm.contacts c JOIN crm.accounts a ON a.id = c.account_id`,
      cols: [
        { name: 'id', expect: null, shape: 'integer key' },
        { name: 'full_name', expect: 'person_name', shape: 'concatenated "First Last"' },
        { name: 'email', expect: 'email', shape: 'e-mail address' },
        { name: 'company', expect: null, shape: 'company name' },
        { name: 'city', expect: null, shape: 'city name' },
      ],
    },
    {
      schema: 'shop',
      name: 'v_order_summary',
      kind: 'view',
      sql: `SELECT o.order_no, lower(cu.email) AS customer_email, cu.full_name AS customer, o.total, o.currency, o.placed_at
            FROM shop.orders o JOIN shop.customers cu ON cu.id = o.customer_id`,
      cols: [
        { name: 'order_no', expect: null, shape: 'SSN-shaped order number' },
        { name: 'customer_email', expect: 'email', shape: 'lower-cased e-mail' },
        { name: 'customer', expect: 'person_name', shape: 'full name' },
        { name: 'total', expect: null, shape: 'currency amount' },
        { name: 'currency', expect: null, shape: 'ISO currency' },
        { name: 'placed_at', expect: null, shape: 'event timestamp' },
      ],
    },
    {
      schema: 'hr',
      name: 'employee_directory',
      kind: 'matview',
      sql: `SELECT employee_id, given_name || ' ' || family_name AS employee_name, work_email, department, hire_date
            FROM hr.employees WHERE is_active`,
      cols: [
        { name: 'employee_id', expect: null, shape: 'integer key' },
        { name: 'employee_name', expect: 'person_name', shape: 'concatenated "First Last"' },
        { name: 'work_email', expect: 'email', shape: 'corporate e-mail' },
        { name: 'department', expect: null, shape: 'department name' },
        { name: 'hire_date', expect: null, shape: 'date' },
      ],
    },
    {
      schema: 'ops',
      name: 'daily_event_counts',
      kind: 'matview',
      sql: `SELECT date_trunc('day', occurred_at)::date AS day, event_type, count(*)::int AS n, count(DISTINCT session_id)::int AS sessions
            FROM ops.events GROUP BY 1, 2`,
      cols: [
        { name: 'day', expect: null, shape: 'date' },
        { name: 'event_type', expect: null, shape: 'enum-like' },
        { name: 'n', expect: null, shape: 'count' },
        { name: 'sessions', expect: null, shape: 'count' },
      ],
    },
    {
      schema: 'billing',
      name: 'v_card_owners',
      kind: 'view',
      sql: `SELECT pm.id, pm.cardholder_name, pm.card_number, pm.brand, pm.exp_year FROM billing.payment_methods pm`,
      cols: [
        { name: 'id', expect: null, shape: 'integer key' },
        { name: 'cardholder_name', expect: 'person_name', shape: 'name' },
        { name: 'card_number', expect: 'card', shape: 'PAN' },
        { name: 'brand', expect: null, shape: 'card brand enum' },
        { name: 'exp_year', expect: null, shape: 'year' },
      ],
    },
  ];
}

// ---------------------------------------------------------------------------
// Robustness schema (not part of the numbers)
// ---------------------------------------------------------------------------

/** Secrets hidden in the robustness tables; must never appear in any output. */
export const EDGE_SECRETS = {
  hugeEmail: 'wilhelmina.vanderberg-hugedoc@example-mail.org',
  hugeToken: 'ghp_HUGEdocTokenAbCdEfGh0123456789XYZabc',
  jsonEmail: 'json.nested.person-77@inner-domain.net',
  tailEmail: 'json.tail.person-88@inner-domain.net',
  byteaEmail: 'bytea.hidden.address@blob-mail.com',
  wideEmailPrefix: 'wide.table.person',
} as const;

function edgeTables(): TableDef[] {
  const wideCols: ColDef[] = [];
  for (let k = 1; k <= 100; k++) {
    const name = `c${String(k).padStart(3, '0')}`;
    if (k === 42) wideCols.push(c(name, 'text', 'email', 'e-mail address'));
    else if (k === 77) wideCols.push(c(name, 'text', 'phone', 'phone'));
    else if (k === 99) wideCols.push(c(name, 'date', 'dob', 'birth date under a generic name'));
    else wideCols.push(c(name, ['integer', 'text', 'numeric(8,2)', 'boolean', 'timestamptz'][k % 5], null, ['integer', 'enum-like word', 'amount', 'boolean', 'timestamp'][k % 5]));
  }
  return [
    {
      schema: 'edge',
      name: 'wide',
      rows: 300,
      scored: false,
      cols: wideCols,
      row: (g, i) => {
        const row: Row = {};
        for (let k = 1; k <= 100; k++) {
          const name = `c${String(k).padStart(3, '0')}`;
          if (k === 42) row[name] = g.pii(`${EDGE_SECRETS.wideEmailPrefix}${i}@${g.pick(MAIL_DOMAINS)}`);
          else if (k === 77) row[name] = g.phone();
          else if (k === 99) row[name] = g.dob();
          else row[name] = [() => g.int(0, 1e6), () => g.pick(['alpha', 'beta', 'gamma', 'delta']), () => g.money(0, 999), () => g.chance(0.5), () => g.ts()][k % 5]();
        }
        return row;
      },
    },
    {
      schema: 'edge',
      name: 'empty_profiles',
      rows: 0,
      scored: false,
      cols: [c('id', 'integer', null, 'no rows'), c('email', 'text', 'email', 'no rows'), c('phone', 'text', 'phone', 'no rows'), c('ssn', 'text', 'ssn', 'no rows')],
      row: () => ({}),
    },
    {
      schema: 'edge',
      name: 'all_nulls',
      rows: 250,
      scored: false,
      cols: [c('id', 'integer', null, 'integer'), c('ssn', 'text', 'ssn', 'all NULL'), c('notes', 'text', null, 'all NULL'), c('payload', 'jsonb', null, 'all NULL')],
      row: (_g, i) => ({ id: i + 1, ssn: null, notes: null, payload: null }),
    },
    {
      schema: 'edge',
      name: 'huge_values',
      rows: 4,
      scored: false,
      cols: [
        c('id', 'integer', null, 'integer'),
        c('body', 'text', 'free_text', '~1 MB of lorem with an e-mail near the start and a token deep inside', ['email', 'secret']),
        c('doc', 'jsonb', 'email', '~1 MB jsonb, a nested e-mail in the first key ($.by.email), then 1 MB of items'),
        c('doc_tail', 'jsonb', 'ignore', '~1 MB jsonb whose only e-mail is in the last key, beyond the documented 32,768-char cap'),
      ],
      row: (g, i) => {
        const chunk = g.lorem(40);
        let body = `Intro note from ${EDGE_SECRETS.hugeEmail}. `;
        while (body.length < 500_000) body += chunk + ' ';
        body += EDGE_SECRETS.hugeToken + ' ';
        while (body.length < 1_048_576) body += chunk + ' ';
        const items: string[] = [];
        let size = 0;
        while (size < 1_000_000) {
          const s = g.lorem(3);
          items.push(s);
          size += s.length + 3;
        }
        // jsonb orders keys by length, then bytes: "by" renders first, "zz_owner_contact" last.
        return { id: i + 1, body, doc: { by: { email: EDGE_SECRETS.jsonEmail }, items }, doc_tail: { items, zz_owner_contact: { email: EDGE_SECRETS.tailEmail } } };
      },
    },
    {
      schema: 'edge',
      name: 'blobs',
      rows: 200,
      scored: false,
      cols: [
        c('id', 'integer', null, 'integer'),
        c('filename', 'text', null, 'file name'),
        c('mime', 'text', null, 'MIME type'),
        c('payload', 'bytea', 'ignore', 'random bytes, some with an embedded ASCII e-mail'),
      ],
      row: (g, i) => {
        const parts = [g.bytes(g.int(16, 2048))];
        if (i % 10 === 0) parts.push(Buffer.from(EDGE_SECRETS.byteaEmail, 'ascii'), g.bytes(64));
        return { id: i + 1, filename: `upload_${i}.${g.pick(['png', 'pdf', 'bin'])}`, mime: g.pick(['image/png', 'application/pdf', 'application/octet-stream']), payload: Buffer.concat(parts) };
      },
    },
    {
      schema: 'edge',
      name: 'weird_text',
      rows: 300,
      scored: false,
      cols: [
        c('id', 'integer', null, 'integer'),
        c('value', 'text', null, 'control characters, emoji, RTL text, very long tokens, quotes, backslashes'),
      ],
      row: (g, i) => ({
        id: i + 1,
        value: g.pick([
          '\u0001\u0002\u001b[31mred\u001b[0m',
          '😀🎉🚀 ✓ ✗ ∞',
          'مرحبا بالعالم',
          'שלום עולם',
          'x'.repeat(g.int(100, 5000)),
          `"quoted" 'single' \\backslash\\ \t tab \r\n crlf`,
          '{not json',
          '\u202eevil\u202c',
          '',
          ' ',
          'NULL',
          '\\x00ff',
        ]),
      }),
    },
  ];
}

function edgeViews(): ViewDef[] {
  return [
    {
      schema: 'edge',
      name: 'v_wide_contacts',
      kind: 'view',
      sql: 'SELECT c042 AS contact, c077 AS tel FROM edge.wide',
      scored: false,
      cols: [
        { name: 'contact', expect: 'email', shape: 'e-mail' },
        { name: 'tel', expect: 'phone', shape: 'phone' },
      ],
    },
  ];
}

// ---------------------------------------------------------------------------
// Building the database
// ---------------------------------------------------------------------------

function qi(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function seedOf(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function toParam(v: unknown, type: string): unknown {
  if (v === null || v === undefined) return null;
  if (/^jsonb?\b/.test(type)) return JSON.stringify(v);
  return v;
}

async function insertRows(client: pg.Client, t: TableDef, rows: Row[]): Promise<void> {
  const names = t.cols.map((col) => col.name);
  const perRow = names.length;
  const batch = Math.max(1, Math.min(500, Math.floor(30_000 / perRow)));
  for (let start = 0; start < rows.length; start += batch) {
    const slice = rows.slice(start, start + batch);
    const params: unknown[] = [];
    const tuples = slice.map((row) => {
      const ph = t.cols.map((col) => {
        params.push(toParam(row[col.name], col.type));
        return `$${params.length}`;
      });
      return `(${ph.join(', ')})`;
    });
    await client.query(`INSERT INTO ${qi(t.schema)}.${qi(t.name)} (${names.map(qi).join(', ')}) VALUES ${tuples.join(', ')}`, params);
  }
}

/** Walks generated values and adds every string leaf (and compact digit forms) to the needles. */
function addNeedles(needles: Set<string>, v: unknown): void {
  if (v === null || v === undefined) return;
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint') {
    const s = String(v);
    if (s.length >= 8) needles.add(s);
    return;
  }
  if (Buffer.isBuffer(v)) return;
  if (Array.isArray(v)) {
    for (const x of v) addNeedles(needles, x);
    return;
  }
  if (typeof v === 'object') for (const x of Object.values(v as object)) addNeedles(needles, x);
}

export async function createHeldoutFixture(admin: pg.ClientConfig): Promise<HeldoutFixture> {
  await withClient(admin, async (cl) => {
    await cl.query(`DROP DATABASE IF EXISTS ${HELDOUT_DB} WITH (FORCE)`);
    await cl.query(`CREATE DATABASE ${HELDOUT_DB}`);
    await cl.query(`DROP ROLE IF EXISTS ${HELDOUT_ROLE.user}`);
    await cl.query(`CREATE ROLE ${HELDOUT_ROLE.user} LOGIN PASSWORD '${HELDOUT_ROLE.password}'`);
  });

  const needles = new Set<string>();
  const truth: TruthEntry[] = [];
  const all = [...tables().map((t) => ({ ...t, scored: t.scored ?? true })), ...edgeTables()];
  const allViews = [...views(), ...edgeViews()];
  const schemas = [...new Set([...all.map((t) => t.schema), ...allViews.map((v) => v.schema)])];

  await withClient({ ...admin, database: HELDOUT_DB }, async (cl) => {
    for (const s of schemas) await cl.query(`CREATE SCHEMA ${qi(s)}`);
    for (const t of all) {
      const colsSql = t.cols.map((col) => `${qi(col.name)} ${col.type}`).join(', ');
      await cl.query(`CREATE TABLE ${qi(t.schema)}.${qi(t.name)} (${colsSql})`);
      const g = new Gen(prng(seedOf(`${t.schema}.${t.name}`)), needles);
      const rows: Row[] = [];
      for (let i = 0; i < t.rows; i++) rows.push(t.row(g, i));
      for (const col of t.cols) {
        if (col.expect === null || col.expect === 'ignore') continue;
        for (const row of rows) addNeedles(needles, row[col.name]);
      }
      if (rows.length) await insertRows(cl, t, rows);
      for (const col of t.cols) truth.push({ schema: t.schema, table: t.name, column: col.name, kind: 'table', expect: col.expect, accept: col.accept, shape: col.shape, scored: t.scored !== false });
    }
    for (const v of allViews) {
      await cl.query(`CREATE ${v.kind === 'matview' ? 'MATERIALIZED VIEW' : 'VIEW'} ${qi(v.schema)}.${qi(v.name)} AS ${v.sql}`);
      for (const col of v.cols) truth.push({ schema: v.schema, table: v.name, column: col.name, kind: v.kind, expect: col.expect, accept: col.accept, shape: col.shape, scored: v.scored !== false });
    }
    // Permissions: the scanner reads everything except hr.salary_secrets.
    for (const s of schemas) {
      await cl.query(`GRANT USAGE ON SCHEMA ${qi(s)} TO ${HELDOUT_ROLE.user}`);
      await cl.query(`GRANT SELECT ON ALL TABLES IN SCHEMA ${qi(s)} TO ${HELDOUT_ROLE.user}`);
    }
    await cl.query(`REVOKE SELECT ON hr.salary_secrets FROM ${HELDOUT_ROLE.user}`);
    await cl.query('ANALYZE');
  });

  for (const s of Object.values(EDGE_SECRETS)) needles.add(s);
  return {
    truth,
    needles,
    expectedSkips: { 'hr.salary_secrets': '42501' },
    robustnessRelations: ['edge.wide', 'edge.empty_profiles', 'edge.all_nulls', 'edge.huge_values', 'edge.blobs', 'edge.weird_text', 'edge.v_wide_contacts'],
  };
}

// ---------------------------------------------------------------------------
// Per-format probe: one neutrally named column per value format, so what the
// scanner reports reflects the values alone. Informational, not scored.
// ---------------------------------------------------------------------------

export const PROBE_DB = 'pgveil_heldout_formats';

export interface FormatProbe {
  label: string;
  type: string;
  expect: PiiClass | null;
  make: (g: Gen) => unknown;
}

export const FORMAT_PROBES: FormatProbe[] = [
  ...PHONE_FORMATS.map((f): FormatProbe => ({ label: `phone ${f.name}`, type: 'text', expect: 'phone', make: (g) => g.pii(f.make(g)) })),
  { label: 'phone bigint US 10 digits', type: 'bigint', expect: 'phone', make: (g) => g.usPhoneDigits() },
  { label: 'phone bigint E.164 without +', type: 'bigint', expect: 'phone', make: (g) => g.e164().slice(1) },
  { label: 'card visa plain', type: 'text', expect: 'card', make: (g) => cardOf(g, 'visa', 'plain') },
  { label: 'card visa spaced', type: 'text', expect: 'card', make: (g) => cardOf(g, 'visa', 'spaces') },
  { label: 'card mastercard dashed', type: 'text', expect: 'card', make: (g) => cardOf(g, 'mastercard', 'dashes') },
  { label: 'card amex 4-6-5', type: 'text', expect: 'card', make: (g) => cardOf(g, 'amex', 'spaces') },
  { label: 'card discover plain', type: 'text', expect: 'card', make: (g) => cardOf(g, 'discover', 'plain') },
  { label: 'card jcb plain', type: 'text', expect: 'card', make: (g) => cardOf(g, 'jcb', 'plain') },
  { label: 'card diners 14 plain', type: 'text', expect: 'card', make: (g) => cardOf(g, 'diners', 'plain') },
  { label: 'card unionpay 19 plain', type: 'text', expect: 'card', make: (g) => cardOf(g, 'unionpay', 'plain') },
  { label: 'card numeric(19,0)', type: 'numeric(19,0)', expect: 'card', make: (g) => g.card('plain').pan },
  { label: 'card bigint', type: 'bigint', expect: 'card', make: (g) => cardOf(g, 'visa', 'plain') },
  ...(['DE', 'FR', 'GB', 'ES', 'NL'] as const).flatMap((cc): FormatProbe[] => [
    { label: `iban ${cc} printed`, type: 'text', expect: 'iban', make: (g) => g.iban(cc, true) },
    { label: `iban ${cc} electronic`, type: 'text', expect: 'iban', make: (g) => g.iban(cc, false) },
  ]),
  { label: 'ssn ddd-dd-dddd', type: 'text', expect: 'ssn', make: (g) => g.ssn(true) },
  { label: 'ssn 9 digits', type: 'text', expect: 'ssn', make: (g) => g.ssn(false) },
  { label: 'ssn ddd dd dddd', type: 'text', expect: 'ssn', make: (g) => g.pii(g.ssnParts().join(' ')) },
  { label: 'ssn integer', type: 'integer', expect: 'ssn', make: (g) => Number(g.ssn(false)) },
  ...(['US', 'DE', 'FR', 'ES', 'GB', 'NL', 'CA'] as const).map((cc): FormatProbe => ({ label: `postal ${cc}`, type: 'text', expect: 'postal_code', make: (g) => g.postal(cc) })),
  { label: 'postal US integer', type: 'integer', expect: 'postal_code', make: (g) => g.int(1001, 99950) },
  { label: 'dob date', type: 'date', expect: 'dob', make: (g) => g.dob() },
  { label: 'dob text ISO', type: 'text', expect: 'dob', make: (g) => g.dob() },
  { label: 'dob text MM/DD/YYYY', type: 'text', expect: 'dob', make: (g) => g.dob().replace(/^(\d{4})-(\d\d)-(\d\d)$/, '$2/$3/$1') },
  { label: 'dob text DD.MM.YYYY', type: 'text', expect: 'dob', make: (g) => g.dob().replace(/^(\d{4})-(\d\d)-(\d\d)$/, '$3.$2.$1') },
  { label: 'dob timestamp(3)', type: 'timestamp(3)', expect: 'dob', make: (g) => `${g.dob()} 00:00:00` },
  { label: 'dob timestamptz', type: 'timestamptz', expect: 'dob', make: (g) => `${g.dob()} 00:00:00+00` },
  { label: 'ip inet v4', type: 'inet', expect: 'ip_address', make: (g) => g.publicIpv4() },
  { label: 'ip text v4', type: 'text', expect: 'ip_address', make: (g) => g.publicIpv4() },
  { label: 'ip text v6', type: 'text', expect: 'ip_address', make: (g) => g.ipv6() },
  { label: 'email text', type: 'text', expect: 'email', make: (g) => g.email(g.person()) },
  { label: 'name "First Last"', type: 'text', expect: 'person_name', make: (g) => g.person().full },
  { label: 'name "LAST, First"', type: 'text', expect: 'person_name', make: (g) => { const p = g.person(); return `${p.last.toUpperCase()}, ${p.first}`; } },
  { label: 'name "Dr. First Last"', type: 'text', expect: 'person_name', make: (g) => `Dr. ${g.person().full}` },
  { label: 'name upper case', type: 'text', expect: 'person_name', make: (g) => g.person().full.toUpperCase() },
  { label: 'name given only', type: 'text', expect: 'person_name', make: (g) => g.pick(FIRST) },
  { label: 'secret JWT', type: 'text', expect: 'secret', make: (g) => g.jwt() },
  { label: 'secret AWS access key id', type: 'text', expect: 'secret', make: (g) => g.awsAccessKeyId() },
  { label: 'secret AWS secret key', type: 'text', expect: 'secret', make: (g) => g.awsSecretKey() },
  { label: 'secret GitHub token', type: 'text', expect: 'secret', make: (g) => g.githubToken() },
  { label: 'secret Stripe key', type: 'text', expect: 'secret', make: (g) => g.stripeKey() },
  { label: 'secret Slack token', type: 'text', expect: 'secret', make: (g) => g.slackToken() },
  { label: 'secret bcrypt', type: 'text', expect: 'secret', make: (g) => g.bcrypt() },
  { label: 'secret argon2id', type: 'text', expect: 'secret', make: (g) => g.argon2() },
  { label: 'secret TOTP base32', type: 'text', expect: 'secret', make: (g) => g.totpSeed() },
  { label: 'secret opaque 64 base64url', type: 'text', expect: 'secret', make: (g) => g.opaqueToken(64) },
  { label: 'secret recovery code xxxxx-xxxxx', type: 'text', expect: 'secret', make: (g) => g.pii(`${g.chars(5, LOWER_ALNUM)}-${g.chars(5, LOWER_ALNUM)}`) },
  { label: 'secret recovery codes text[]', type: 'text[]', expect: 'secret', make: (g) => Array.from({ length: 8 }, () => g.pii(`${g.chars(5, LOWER_ALNUM)}-${g.chars(5, LOWER_ALNUM)}`)) },
  // Decoys.
  { label: 'decoy 16 digits Luhn-failing', type: 'text', expect: null, make: (g) => g.luhnFailing16() },
  { label: 'decoy IMEI (15 digits, Luhn-valid)', type: 'text', expect: null, make: (g) => { const b = g.pick(['35', '86']) + g.digits(12); return b + String(luhnCheckDigit(b)); } },
  { label: 'decoy EAN-13', type: 'text', expect: null, make: (g) => g.pick(['400', '301', '500']) + g.digits(10) },
  { label: 'decoy ISBN-13', type: 'text', expect: null, make: (g) => g.isbn13() },
  { label: 'decoy tracking numbers', type: 'text', expect: null, make: (g) => g.tracking() },
  { label: 'decoy part no ddd-ddd-dddd', type: 'text', expect: null, make: (g) => `${g.digits(3)}-${g.digits(3)}-${g.digits(4)}` },
  { label: 'decoy order no ddd-dd-dddd', type: 'text', expect: null, make: (g) => `${g.digits(3)}-${g.digits(2)}-${g.digits(4)}` },
  { label: 'decoy RF creditor reference', type: 'text', expect: null, make: (g) => g.rfReference() },
  { label: 'decoy SHA-256 hex', type: 'text', expect: null, make: (g) => g.hex(64) },
  { label: 'decoy git SHA-1 hex', type: 'text', expect: null, make: (g) => g.hex(40) },
  { label: 'decoy uuid', type: 'uuid', expect: null, make: (g) => g.uuid() },
  { label: 'decoy semver', type: 'text', expect: null, make: (g) => g.semver() },
  { label: 'decoy IP-shaped build number', type: 'text', expect: null, make: (g) => g.ipShapedVersion() },
  { label: 'decoy cidr private ranges', type: 'cidr', expect: null, make: (g) => `10.${g.int(0, 255)}.${g.int(0, 255)}.0/24` },
  { label: 'decoy zip-shaped quantity integer', type: 'integer', expect: null, make: (g) => g.int(10000, 99999) },
  { label: 'decoy recent date', type: 'date', expect: null, make: (g) => g.date(2022, 2025) },
  { label: 'decoy date 1900..2020', type: 'date', expect: null, make: (g) => g.date(1900, 2020) },
  { label: 'decoy product name', type: 'text', expect: null, make: (g) => g.productName() },
  { label: 'decoy company name', type: 'text', expect: null, make: (g) => g.company() },
  { label: 'decoy city', type: 'text', expect: null, make: (g) => g.pick(CITIES) },
  { label: 'decoy lorem', type: 'text', expect: null, make: (g) => g.lorem(2) },
  { label: 'decoy log line', type: 'text', expect: null, make: (g) => g.logLine() },
  { label: 'decoy user agent', type: 'text', expect: null, make: (g) => g.userAgent() },
  { label: 'decoy git remote git@github.com:org/repo.git', type: 'text', expect: null, make: (g) => `git@github.com:acme-app/${g.pick(['web', 'api', 'worker'])}.git` },
  { label: 'decoy Stripe object id ch_/cus_', type: 'text', expect: null, make: (g) => `${g.pick(['ch_3', 'cus_', 'pi_3'])}${g.chars(20, ALNUM)}` },
  { label: 'decoy masked card "Visa •••• 4242"', type: 'text', expect: null, make: (g) => `Visa •••• ${g.digits(4)}` },
  { label: 'decoy amount', type: 'numeric(10,2)', expect: null, make: (g) => g.money(1, 5000) },
];

function cardOf(g: Gen, brand: string, style: 'plain' | 'spaces' | 'dashes'): string {
  for (;;) {
    const card = g.card(style);
    if (card.brand === brand) return card.text;
  }
}

/** Column name for probe k: neutral, so no name hint applies. */
export const probeColumn = (k: number) => `f${String(k + 1).padStart(3, '0')}`;

export async function createFormatProbe(admin: pg.ClientConfig, needles: Set<string>): Promise<void> {
  await withClient(admin, async (cl) => {
    await cl.query(`DROP DATABASE IF EXISTS ${PROBE_DB} WITH (FORCE)`);
    await cl.query(`CREATE DATABASE ${PROBE_DB}`);
  });
  await withClient({ ...admin, database: PROBE_DB }, async (cl) => {
    await cl.query('CREATE SCHEMA probe');
    const t: TableDef = {
      schema: 'probe',
      name: 'formats',
      rows: 200,
      cols: FORMAT_PROBES.map((p, k) => c(probeColumn(k), p.type, p.expect, p.label)),
      row: () => ({}),
    };
    await cl.query(`CREATE TABLE probe.formats (${t.cols.map((col) => `${col.name} ${col.type}`).join(', ')})`);
    const g = new Gen(prng(seedOf('probe.formats')), needles);
    const rows: Row[] = [];
    for (let i = 0; i < t.rows; i++) {
      const row: Row = {};
      FORMAT_PROBES.forEach((p, k) => {
        row[probeColumn(k)] = p.make(g);
        if (p.expect) addNeedles(needles, row[probeColumn(k)]);
      });
      rows.push(row);
    }
    await insertRows(cl, t, rows);
    await cl.query(`GRANT USAGE ON SCHEMA probe TO ${HELDOUT_ROLE.user}`);
    await cl.query(`GRANT SELECT ON ALL TABLES IN SCHEMA probe TO ${HELDOUT_ROLE.user}`);
    await cl.query('ANALYZE');
  });
}
