/**
 * A database for `pgveil scan`: realistic tables with synthetic PII (some under
 * misleading names), decoys that look like PII but aren't, views, a
 * materialized view, a partitioned table, odd identifiers, and relations the
 * scanning role can't read. Values come from a seeded PRNG, so every run sees
 * the same data. GROUND_TRUTH says, for every column the scan should read,
 * which class it holds (or null for none).
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import type { PiiClass } from '../../src/scan/types.js';
import { prng } from '../../src/util/prng.js';

export const SCAN_DB = 'scan_fixture';
/** A login without superuser rights: SELECT on everything except app.hr_notes. */
export const SCAN_ROLE = { user: 'pv_scan_reader', password: 'scan-reader-pw' } as const;

export interface Expectation {
  readonly schema: string;
  readonly table: string;
  readonly column: string;
  /** The class the column holds; null: nothing sensitive; 'ignore': PII with no class in the contract (street addresses). */
  readonly expect: PiiClass | null | 'ignore';
  /** For PII inside JSON: where it is. */
  readonly jsonPath?: string;
}

const gt = (schema: string, table: string, cols: Record<string, PiiClass | null | 'ignore'>): Expectation[] =>
  Object.entries(cols).map(([column, expect]) => ({ schema, table, column, expect }));

/** Every column of every relation the scanning role can read. */
export const GROUND_TRUTH: readonly Expectation[] = [
  ...gt('app', 'customers', {
    id: null, first_name: 'person_name', last_name: 'person_name', email: 'email', phone: 'phone', mobile: 'phone',
    birth_date: 'dob', c7: 'ssn', contact: 'email', profile: 'phone', status: null, country: null, external_ref: null,
    loyalty_points: null, created_at: null,
  }).map((e) => (e.column === 'profile' ? { ...e, jsonPath: '$.contact.phone' } : e)),
  ...gt('app', 'addresses', { id: null, customer_id: null, street: 'ignore', city: null, state: null, zip: 'postal_code', country: null }),
  ...gt('app', 'payments', {
    id: null, customer_id: null, card_number: 'card', iban: 'iban', amount: null, currency: null, order_number: null, paid_at: null,
  }),
  ...gt('app', 'shipments', { id: null, tracking_id: null, carrier: null, shipped_on: null, weight_grams: null }),
  ...gt('app', 'access_log', {
    id: null, customer_id: null, ip_address: 'ip_address', client_addr: 'ip_address', app_version: null, request_path: null,
    status_code: null, request_id: null, requested_at: null,
  }),
  ...gt('app', 'credentials', {
    customer_id: null, password_hash: 'secret', api_token: 'secret', session_jwt: 'secret', mfa_enabled: null, rotated_at: null,
  }),
  ...gt('app', 'products', {
    id: null, sku: null, product_code: null, name: null, description: null, price: null, quantity: null, product_url: null, status: null,
  }),
  ...gt('app', 'attachments', { id: null, file_name: null, mime_type: null, size_bytes: null, checksum_sha256: null, uploaded_at: null }),
  ...gt('app', 'support_tickets', { id: null, customer_id: null, notes: 'free_text', priority: null, opened_at: null }),
  ...gt('app', 'events', { id: null, occurred_at: null, actor_email: 'email', action: null }),
  ...gt('app', 'customer_directory', { id: null, full_name: 'person_name', email_address: 'email', tax_ref: 'ssn' }),
  ...gt('app', 'order_totals', { customer_id: null, total: null, orders: null }),
  ...gt('app', 'mv_recent_logins', { customer_id: null, ip_address: 'ip_address', requested_at: null }),
  ...gt('public', 'event_log', { event_id: null, kind: null, details: null, created_at: null }),
  ...gt('public', 'scan_sink', { id: null }),
  ...gt('Sales Team', 'Leads "2024"', { 'Lead ID': null, 'E-Mail Address': 'email', 'Full Name': 'person_name', order: null }),
];

/** Relations the scanning role reads but can't sample, and the SQLSTATE it gets. */
export const EXPECTED_SKIPS: Readonly<Record<string, string>> = {
  'app.hr_notes': '42501', // no SELECT privilege
  'app.mv_stale': '55000', // materialized view never refreshed
  'app.bad_cast': '22P02', // the view's cast fails; the server's message quotes a value
  'public.touchy': '25006', // the view calls a function that writes
};

// ---------------------------------------------------------------- values


const FIRST = ['Alice', 'Bruno', 'Chen', 'Dana', 'Emeka', 'Farah', 'Goran', 'Hana', 'Ivan', 'Jia', 'Kofi', 'Lena', 'Mateo', 'Nadia',
  'Omar', 'Priya', 'Quentin', 'Rosa', 'Sven', 'Tomoko', 'Umar', 'Valeria', 'Wei', 'Ximena', 'Yusuf', 'Zofia', 'Aaron', 'Beatriz',
  'Carlos', 'Deepa', 'Elif', 'Finn', 'Grace', 'Hiroshi', 'Ingrid', 'Jamal', 'Katarzyna', 'Luis', 'Maria', 'Noah'];
const LAST = ['Smith', 'Okafor', 'Nguyen', 'Kowalski', 'Silva', 'Haddad', 'Ivanova', 'Tanaka', 'Moreau', 'Larsen', 'Rossi', 'Khan',
  'Garcia', 'Müller', 'Johnson', 'Patel', 'Andersson', 'Yilmaz', 'Novak', "O'Brien", 'Fernández', 'Kim', 'Dubois', 'Schmidt',
  'Williams', 'Mensah', 'Costa', 'Lindqvist', 'Rahman', 'Takahashi', 'Brown', 'Petrov', 'Jansen', 'Wójcik', 'Ali', 'Chen'];
const DOMAINS = ['gmail.com', 'yahoo.com', 'outlook.com', 'proton.me', 'acme-corp.com', 'uni-heidelberg.de', 'example.co.uk', 'web.de'];
const CITIES: [string, string][] = [['Springfield', 'IL'], ['Portland', 'OR'], ['Austin', 'TX'], ['Madison', 'WI'], ['Boulder', 'CO'],
  ['Salem', 'MA'], ['Raleigh', 'NC'], ['Tucson', 'AZ'], ['Fresno', 'CA'], ['Buffalo', 'NY'], ['Omaha', 'NE'], ['Savannah', 'GA']];
const STREETS = ['Maple', 'Harbor', 'Elm', 'Station', 'Mill', 'Oak', 'Cedar', 'Lakeview', 'Sunset', 'Washington', 'Park', 'Hillcrest'];
const STREET_TYPES = ['St', 'Ave', 'Rd', 'Blvd', 'Ln', 'Dr', 'Ct', 'Way'];
const B62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const BCRYPT = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

class Gen {
  private readonly rnd: () => number;
  constructor(seed: number) {
    this.rnd = prng(seed);
  }
  float(): number {
    return this.rnd();
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.rnd() * (max - min + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rnd() * xs.length)];
  }
  chance(p: number): boolean {
    return this.rnd() < p;
  }
  digits(n: number): string {
    return Array.from({ length: n }, () => String(this.int(0, 9))).join('');
  }
  chars(n: number, alphabet: string): string {
    return Array.from({ length: n }, () => alphabet[this.int(0, alphabet.length - 1)]).join('');
  }
  pad(n: number, width: number): string {
    return String(n).padStart(width, '0');
  }
  date(fromYear: number, toYear: number): string {
    return `${this.int(fromYear, toYear)}-${this.pad(this.int(1, 12), 2)}-${this.pad(this.int(1, 28), 2)}`;
  }
  timestamp(fromYear: number, toYear: number): string {
    return `${this.date(fromYear, toYear)} ${this.pad(this.int(0, 23), 2)}:${this.pad(this.int(0, 59), 2)}:${this.pad(this.int(0, 59), 2)}+00`;
  }
  uuid(): string {
    const h = this.chars(32, '0123456789abcdef').split('');
    h[12] = '4';
    h[16] = '89ab'[this.int(0, 3)];
    const s = h.join('');
    return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
  }
  b64url(bytes: number): string {
    return Buffer.from(Array.from({ length: bytes }, () => this.int(0, 255))).toString('base64url');
  }

  // --- PII
  email(first: string, last: string, n: number): string {
    const ascii = (s: string) => s.normalize('NFD').replace(/[^A-Za-z]/g, '').toLowerCase();
    const local = this.pick([
      () => `${ascii(first)}.${ascii(last)}`,
      () => `${ascii(first)[0]}${ascii(last)}${n % 100}`,
      () => `${ascii(first)}_${ascii(last)}${this.int(70, 99)}`,
      () => `${ascii(last)}.${ascii(first)}`,
    ])();
    return `${local}@${this.pick(DOMAINS)}`;
  }
  usNumber(): [string, string, string] {
    return [String(this.int(201, 989)), String(this.int(200, 999)), this.digits(4)];
  }
  phoneE164(): string {
    const [a, e, l] = this.usNumber();
    return this.pick([
      () => `+1${a}${e}${l}`,
      () => `+1 ${a}-${e}-${l}`,
      () => `+44 20 7${this.digits(3)} ${this.digits(4)}`,
      () => `+49 30 ${this.digits(8)}`,
      () => `+33 6 ${this.digits(2)} ${this.digits(2)} ${this.digits(2)} ${this.digits(2)}`,
      () => `+1 (${a}) ${e}-${l}`,
    ])();
  }
  phoneNational(): string {
    const [a, e, l] = this.usNumber();
    return this.pick([`(${a}) ${e}-${l}`, `${a}-${e}-${l}`, `${a}.${e}.${l}`, `${a} ${e} ${l}`]);
  }
  ssn(): string {
    let area = this.int(1, 899);
    if (area === 666) area = 667;
    const s = `${this.pad(area, 3)}-${this.pad(this.int(1, 99), 2)}-${this.pad(this.int(1, 9999), 4)}`;
    return this.chance(0.1) ? s.replace(/-/g, '') : s;
  }
  card(): string {
    const [prefix, len] = this.pick<[string, number]>([
      ['4', 16], ['4', 16], ['4', 16], [String(this.int(51, 55)), 16], [String(this.int(2221, 2720)), 16],
      [this.pick(['34', '37']), 15], ['6011', 16],
    ]);
    const num = luhnComplete(prefix + this.digits(len - prefix.length - 1));
    const style = this.float();
    if (style < 0.7) return num;
    const groups = len === 15 ? [num.slice(0, 4), num.slice(4, 10), num.slice(10)] : num.match(/.{4}/g) ?? [num];
    return groups.join(style < 0.9 ? ' ' : '-');
  }
  iban(): string {
    const [country, bban] = this.pick<() => [string, string]>([
      () => ['DE', this.digits(18)],
      () => ['GB', `${this.pick(['NWBK', 'BARC', 'LOYD', 'HBUK'])}${this.digits(14)}`],
      () => ['NL', `${this.pick(['ABNA', 'INGB', 'RABO'])}${this.digits(10)}`],
      () => ['FR', `${this.digits(10)}${this.chars(11, '0123456789ABCDEFGHJKLMNPQRSTUVWXYZ')}${this.digits(2)}`],
      () => ['ES', this.digits(20)],
    ])();
    const iban = `${country}${ibanCheck(country, bban)}${bban}`;
    return this.chance(0.4) ? (iban.match(/.{1,4}/g) ?? [iban]).join(' ') : iban;
  }
  ipv4(): string {
    return `${this.pick([23, 31, 45, 62, 77, 81, 93, 104, 151, 185, 203, 212])}.${this.int(0, 255)}.${this.int(0, 255)}.${this.int(1, 254)}`;
  }
  ipv6(): string {
    const g = () => this.int(0, 0xffff).toString(16);
    return this.pick([
      () => `2a02:${g()}:${g()}:${g()}::${g()}`,
      () => `2001:${g()}:${g()}:${g()}:${g()}:${g()}:${g()}:${g()}`,
      () => `2600:${g()}:${g()}::${g()}:${g()}`,
    ])();
  }
  apiToken(): string {
    return this.pick([
      () => `sk_live_${this.chars(24, B62)}`,
      () => `ghp_${this.chars(36, B62)}`,
      () => `xoxb-${this.digits(12)}-${this.digits(13)}-${this.chars(24, B62)}`,
      () => `AKIA${this.chars(16, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567')}`,
    ])();
  }
  passwordHash(): string {
    return this.chance(0.7)
      ? `$2b$12$${this.chars(53, BCRYPT)}`
      : `$argon2id$v=19$m=65536,t=3,p=4$${this.b64url(16).replace(/-/g, '+').replace(/_/g, '/')}$${this.b64url(32).replace(/-/g, '+').replace(/_/g, '/')}`;
  }
  jwt(sub: number): string {
    const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const iat = 1_700_000_000 + this.int(0, 30_000_000);
    return `${enc({ alg: 'HS256', typ: 'JWT' })}.${enc({ sub: String(sub), iat, exp: iat + 3600, scope: 'user' })}.${this.b64url(32)}`;
  }
}

function luhnComplete(body: string): string {
  let sum = 0;
  const digits = `${body}0`.split('').map(Number).reverse();
  digits.forEach((d, i) => {
    let v = d;
    if (i % 2 === 1) {
      v *= 2;
      if (v > 9) v -= 9;
    }
    sum += v;
  });
  return body + String((10 - (sum % 10)) % 10);
}

export function luhnValid(num: string): boolean {
  const d = num.replace(/\D/g, '');
  return luhnComplete(d.slice(0, -1)) === d;
}

function ibanCheck(country: string, bban: string): string {
  const rearranged = `${bban}${country}00`.replace(/[A-Z]/g, (c) => String(c.charCodeAt(0) - 55));
  let mod = 0;
  for (const ch of rearranged) mod = (mod * 10 + Number(ch)) % 97;
  return String(98 - mod).padStart(2, '0');
}

// ---------------------------------------------------------------- the database

type Row = Record<string, unknown>;

export interface ScanFixture {
  /** Distinctive PII values in the fixture: none of them may appear in anything pgveil scan writes. */
  readonly sensitiveValues: readonly string[];
}

/** (Re)creates SCAN_DB and the scanning role. `admin` is the superuser's connection config (any database). */
export async function createScanFixture(admin: pg.ClientConfig): Promise<ScanFixture> {
  const server = new pg.Client(admin);
  await server.connect();
  try {
    await server.query(`DROP DATABASE IF EXISTS ${SCAN_DB} WITH (FORCE)`);
    await server.query(`CREATE DATABASE ${SCAN_DB}`);
    await server.query(
      `DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${SCAN_ROLE.user}') THEN
         CREATE ROLE ${SCAN_ROLE.user} LOGIN PASSWORD '${SCAN_ROLE.password}'; END IF; END $$`,
    );
  } finally {
    await server.end();
  }
  const c = new pg.Client({ ...admin, database: SCAN_DB });
  await c.connect();
  try {
    return await populate(c);
  } finally {
    await c.end();
  }
}

async function insert(c: pg.Client, table: string, rows: Row[]): Promise<void> {
  // jsonb_populate_recordset maps keys to columns by exact name, quoted identifiers included.
  await c.query(`INSERT INTO ${table} SELECT * FROM jsonb_populate_recordset(NULL::${table}, $1::jsonb)`, [JSON.stringify(rows)]);
}

async function populate(c: pg.Client): Promise<ScanFixture> {
  const g = new Gen(20240611);
  const secrets: string[] = [];
  const keep = <T extends string>(v: T): T => {
    secrets.push(v);
    return v;
  };

  await c.query(`
    CREATE SCHEMA app;
    CREATE SCHEMA "Sales Team";
    CREATE TABLE app.customers (id int PRIMARY KEY, first_name text, last_name text, email varchar(255), phone text,
      mobile varchar(32), birth_date date, c7 text, contact text, profile jsonb, status text, country char(2),
      external_ref uuid, loyalty_points int, created_at timestamptz);
    CREATE TABLE app.addresses (id int PRIMARY KEY, customer_id int, street text, city text, state char(2), zip varchar(10), country char(2));
    CREATE TABLE app.payments (id bigint PRIMARY KEY, customer_id int, card_number varchar(25), iban text, amount numeric(10,2),
      currency char(3), order_number text, paid_at timestamptz);
    CREATE TABLE app.shipments (id int PRIMARY KEY, tracking_id text, carrier text, shipped_on date, weight_grams int);
    CREATE TABLE app.access_log (id bigint PRIMARY KEY, customer_id int, ip_address text, client_addr inet, app_version text,
      request_path text, status_code int, request_id text, requested_at timestamptz);
    CREATE TABLE app.credentials (customer_id int PRIMARY KEY, password_hash text, api_token text, session_jwt text,
      mfa_enabled boolean, rotated_at timestamptz);
    CREATE TABLE app.products (id int PRIMARY KEY, sku text, product_code text, name text, description text, price numeric(10,2),
      quantity int, product_url text, status text);
    CREATE TABLE app.attachments (id int PRIMARY KEY, file_name text, mime_type text, size_bytes bigint, checksum_sha256 char(64),
      uploaded_at timestamptz);
    CREATE TABLE app.support_tickets (id int PRIMARY KEY, customer_id int, notes text, priority text, opened_at timestamptz);
    CREATE TABLE app.events (id bigint, occurred_at timestamptz NOT NULL, actor_email text, action text) PARTITION BY RANGE (occurred_at);
    CREATE TABLE app.events_2024 PARTITION OF app.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
    CREATE TABLE app.events_2025 PARTITION OF app.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
    CREATE TABLE app.hr_notes (employee_ssn text, note text);
    CREATE TABLE public.event_log (event_id uuid PRIMARY KEY, kind text, details jsonb, created_at timestamptz);
    CREATE TABLE public.scan_sink (id int);
    CREATE TABLE "Sales Team"."Leads ""2024""" ("Lead ID" int, "E-Mail Address" text, "Full Name" text, "order" int);
  `);

  // customers, addresses, credentials, tickets
  const customers: Row[] = [];
  const addresses: Row[] = [];
  const credentials: Row[] = [];
  const tickets: Row[] = [];
  const people: { first: string; last: string; email: string; phone: string }[] = [];
  for (let id = 1; id <= 600; id++) {
    const first = g.pick(FIRST);
    const last = g.pick(LAST);
    const email = keep(g.email(first, last, id));
    const phone = keep(g.phoneE164());
    people.push({ first, last, email, phone });
    const profilePhone = g.chance(0.85) ? keep(g.phoneE164()) : undefined;
    customers.push({
      id,
      first_name: first,
      last_name: last,
      email,
      phone,
      mobile: g.chance(0.9) ? keep(g.phoneNational()) : null,
      birth_date: keep(g.date(1940, 2006)),
      c7: keep(g.ssn()),
      contact: keep(g.email(first, last, id + 1000)),
      profile: {
        preferences: { language: g.pick(['en', 'de', 'fr', 'es']), newsletter: g.chance(0.4), theme: g.pick(['light', 'dark']) },
        contact: profilePhone ? { phone: profilePhone, preferred_channel: g.pick(['sms', 'call']) } : { preferred_channel: 'email' },
        signup_source: g.pick(['ios', 'android', 'web', 'store']),
      },
      status: g.pick(['active', 'active', 'active', 'suspended', 'closed']),
      country: g.pick(['US', 'US', 'GB', 'DE', 'FR', 'CA']),
      external_ref: g.uuid(),
      loyalty_points: g.int(0, 20000),
      created_at: g.timestamp(2019, 2025),
    });
    const [city, state] = g.pick(CITIES);
    const zip = `${g.pad(g.int(1001, 99950), 5)}${g.chance(0.2) ? `-${g.digits(4)}` : ''}`;
    addresses.push({
      id,
      customer_id: id,
      street: `${g.int(1, 9999)} ${g.pick(STREETS)} ${g.pick(STREET_TYPES)}${g.chance(0.2) ? ` Apt ${g.int(1, 40)}` : ''}`,
      city,
      state,
      zip,
      country: 'US',
    });
    if (id <= 400) {
      credentials.push({
        customer_id: id,
        password_hash: keep(g.passwordHash()),
        api_token: g.chance(0.7) ? keep(g.apiToken()) : null,
        session_jwt: g.chance(0.8) ? keep(g.jwt(id)) : null,
        mfa_enabled: g.chance(0.3),
        rotated_at: g.timestamp(2023, 2025),
      });
    }
  }
  const NOTES: ((p: (typeof people)[number]) => string)[] = [
    () => 'Customer called about a late delivery; promised a callback tomorrow.',
    (p) => `Asked us to send the invoice to ${p.email} instead of the account address.`,
    (p) => `Left a voicemail, call back on ${p.phone} after 5pm.`,
    () => 'Refund approved for a damaged item, ticket closed.',
    (p) => `${p.first} prefers SMS; number on file ${p.phone}.`,
    () => 'Escalated to tier 2: login loop in the mobile app after the last update.',
    () => 'Wants marketing emails stopped. Unsubscribed manually.',
    (p) => `Duplicate account merged into ${p.email}.`,
    () => 'Package left at the wrong door, driver contacted.',
    () => 'Asked whether the bottle is dishwasher safe. Sent the care guide.',
  ];
  for (let id = 1; id <= 500; id++) {
    const p = g.pick(people);
    tickets.push({ id, customer_id: g.int(1, 600), notes: g.pick(NOTES)(p), priority: g.pick(['low', 'normal', 'high']), opened_at: g.timestamp(2022, 2025) });
  }
  await insert(c, 'app.customers', customers);
  await insert(c, 'app.addresses', addresses);
  await insert(c, 'app.credentials', credentials);
  await insert(c, 'app.support_tickets', tickets);

  // payments: real cards and IBANs, and order numbers shaped like SSNs (store-register-sequence)
  const stores = Array.from({ length: 6 }, () => g.int(100, 899));
  const sequence = new Map<number, number>(stores.map((s) => [s, g.int(1, 3000)]));
  const payments: Row[] = [];
  for (let id = 1; id <= 800; id++) {
    const store = g.pick(stores);
    const seq = (sequence.get(store) as number) + 1;
    sequence.set(store, seq);
    payments.push({
      id: 100000 + id,
      customer_id: g.int(1, 600),
      card_number: g.chance(0.9) ? keep(g.card()) : null,
      iban: g.chance(0.6) ? keep(g.iban()) : null,
      amount: (g.int(500, 50000) / 100).toFixed(2),
      currency: g.pick(['USD', 'EUR', 'GBP']),
      order_number: `${store}-${g.pad(g.int(1, 12), 2)}-${g.pad(seq % 10000, 4)}`,
      paid_at: g.timestamp(2023, 2025),
    });
  }
  await insert(c, 'app.payments', payments);

  // shipments: 16-digit tracking ids that fail Luhn
  const shipments: Row[] = [];
  for (let id = 1; id <= 700; id++) {
    let tracking = `${g.int(1, 9)}${g.digits(15)}`;
    if (luhnValid(tracking)) tracking = tracking.slice(0, 15) + String((Number(tracking[15]) + 1) % 10);
    shipments.push({ id, tracking_id: tracking, carrier: g.pick(['UPS', 'DHL', 'FedEx', 'USPS']), shipped_on: g.date(2023, 2025), weight_grams: g.int(80, 25000) });
  }
  await insert(c, 'app.shipments', shipments);

  // access log: client addresses as text and inet; app versions shaped like IPv4; request ids are UUIDs
  const releases = Array.from({ length: 14 }, () => `${g.int(1, 12)}.${g.int(0, 40)}.${g.int(0, 60)}.${g.int(0, 255)}`);
  const access: Row[] = [];
  for (let id = 1; id <= 1000; id++) {
    const customer = g.int(1, 600);
    access.push({
      id,
      customer_id: customer,
      ip_address: keep(g.chance(0.8) ? g.ipv4() : g.ipv6()),
      client_addr: g.chance(0.85) ? g.ipv4() : g.ipv6(),
      app_version: g.pick(releases),
      request_path: g.pick([`/api/v1/orders/${g.int(1, 9999)}`, `/api/v1/customers/${customer}/addresses`, '/login', '/health', '/api/v1/cart']),
      status_code: g.pick([200, 200, 200, 200, 201, 204, 301, 401, 404, 500]),
      request_id: g.uuid(),
      requested_at: g.timestamp(2025, 2025),
    });
  }
  await insert(c, 'app.access_log', access);

  // products and attachments: codes, URLs, prose without PII, checksums
  const ADJ = ['Classic', 'Insulated', 'Compact', 'Deluxe', 'Everyday', 'Travel', 'Premium', 'Eco'];
  const MATERIAL = ['Stainless', 'Bamboo', 'Ceramic', 'Cotton', 'Walnut', 'Glass', 'Recycled'];
  const PRODUCT = ['Water Bottle', 'Cutting Board', 'Coffee Mug', 'Tote Bag', 'Desk Lamp', 'Lunch Box', 'Phone Stand', 'Notebook'];
  const FEATURE = ['keeps drinks cold for 24 hours', 'dishwasher safe', 'made from sustainably sourced materials',
    'fits most car cup holders', 'with a lifetime warranty', 'folds flat for storage', 'available in six colours'];
  const products: Row[] = [];
  for (let id = 1; id <= 300; id++) {
    const product = g.pick(PRODUCT);
    const name = `${g.pick(ADJ)} ${g.pick(MATERIAL)} ${product}`;
    products.push({
      id,
      sku: `${product.replace(/[^A-Z]/g, '').padEnd(3, 'X')}-${g.pad(g.int(1, 9999), 4)}-${g.pick(['BLK', 'WHT', 'RED', 'GRN', 'NAT'])}`,
      product_code: `P-${g.pad(g.int(1, 999999), 6)}`,
      name,
      description: `${name}, ${g.pick(FEATURE)}. ${g.chance(0.5) ? `Also ${g.pick(FEATURE)}.` : ''}`.trim(),
      price: (g.int(499, 12999) / 100).toFixed(2),
      quantity: g.int(0, 500),
      product_url: `https://shop.example.com/products/${name.toLowerCase().replace(/ /g, '-')}-${id}`,
      status: g.pick(['active', 'draft', 'discontinued']),
    });
  }
  await insert(c, 'app.products', products);
  const attachments: Row[] = [];
  for (let id = 1; id <= 300; id++) {
    const [file, mime] = g.pick<() => [string, string]>([
      () => [`invoice-${g.int(2021, 2025)}-${g.pad(g.int(1, 12), 2)}-${g.int(1, 999)}.pdf`, 'application/pdf'],
      () => [`IMG_${g.digits(4)}.jpg`, 'image/jpeg'],
      () => [`contract_v${g.int(1, 9)}.docx`, 'application/vnd.openxmlformats-officedocument.wordprocessingml.document'],
      () => [`export-${g.digits(6)}.csv`, 'text/csv'],
    ])();
    attachments.push({
      id,
      file_name: file,
      mime_type: mime,
      size_bytes: g.int(1000, 20_000_000),
      checksum_sha256: createHash('sha256').update(`${file}:${id}:${g.digits(8)}`).digest('hex'),
      uploaded_at: g.timestamp(2021, 2025),
    });
  }
  await insert(c, 'app.attachments', attachments);

  // a partitioned table: sampled through its parent
  const events: Row[] = [];
  for (let id = 1; id <= 800; id++) {
    const p = g.pick(people);
    events.push({ id, occurred_at: g.timestamp(2024, 2025), actor_email: p.email, action: g.pick(['login', 'logout', 'password_change', 'order_placed', 'profile_update']) });
  }
  await insert(c, 'app.events', events);

  await insert(c, 'app.hr_notes', [{ employee_ssn: keep(g.ssn()), note: 'Performance review scheduled.' }]);

  const eventLog: Row[] = [];
  for (let i = 1; i <= 400; i++) {
    eventLog.push({
      event_id: g.uuid(),
      kind: g.pick(['order.created', 'cart.updated', 'payment.captured', 'shipment.dispatched']),
      details: {
        items: Array.from({ length: g.int(1, 3) }, () => ({ sku: `${g.pick(['BTL', 'MUG', 'BAG'])}-${g.pad(g.int(1, 9999), 4)}`, qty: g.int(1, 4) })),
        total: g.int(500, 30000) / 100,
        currency: g.pick(['EUR', 'USD']),
        channel: g.pick(['web', 'ios', 'android']),
      },
      created_at: g.timestamp(2024, 2025),
    });
  }
  await insert(c, 'public.event_log', eventLog);

  const leads: Row[] = [];
  for (let i = 1; i <= 200; i++) {
    const first = g.pick(FIRST);
    const last = g.pick(LAST);
    leads.push({ 'Lead ID': 5000 + i, 'E-Mail Address': keep(g.email(first, last, i + 5000)), 'Full Name': `${first} ${last}`, order: i });
  }
  await insert(c, '"Sales Team"."Leads ""2024"""', leads);

  await c.query(`
    CREATE VIEW app.customer_directory AS
      SELECT id, first_name || ' ' || last_name AS full_name, contact AS email_address, c7 AS tax_ref FROM app.customers;
    CREATE VIEW app.order_totals AS SELECT customer_id, sum(amount) AS total, count(*) AS orders FROM app.payments GROUP BY customer_id;
    CREATE MATERIALIZED VIEW app.mv_recent_logins AS
      SELECT customer_id, ip_address, requested_at FROM app.access_log WHERE status_code = 200;
    CREATE MATERIALIZED VIEW app.mv_stale AS SELECT id, email FROM app.customers WITH NO DATA;
    CREATE VIEW app.bad_cast AS SELECT id, c7::int AS c7_number FROM app.customers;
    CREATE FUNCTION public.note_read() RETURNS int LANGUAGE sql VOLATILE AS 'INSERT INTO public.scan_sink VALUES (1) RETURNING id';
    CREATE VIEW public.touchy AS SELECT public.note_read() AS marker;
    ANALYZE;
    GRANT CONNECT ON DATABASE ${SCAN_DB} TO ${SCAN_ROLE.user};
    GRANT USAGE ON SCHEMA app, public, "Sales Team" TO ${SCAN_ROLE.user};
    GRANT SELECT ON ALL TABLES IN SCHEMA app, public, "Sales Team" TO ${SCAN_ROLE.user};
    GRANT INSERT ON public.scan_sink TO ${SCAN_ROLE.user};
    REVOKE SELECT ON app.hr_notes FROM ${SCAN_ROLE.user};
  `);
  return { sensitiveValues: secrets };
}
