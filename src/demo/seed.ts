/** Synthetic PII for the demo: deterministic, realistic in shape, belonging to nobody. */
import { prng } from '../util/prng.js';

const FIRST = ['Alice', 'Bruno', 'Chen', 'Dana', 'Emeka', 'Farah', 'Goran', 'Hana', 'Ivan', 'Jia', 'Kofi', 'Lena', 'Mateo', 'Nadia', 'Omar', 'Priya'];
const LAST = ['Smith', 'Okafor', 'Nguyen', 'Kowalski', 'Silva', 'Haddad', 'Ivanova', 'Tanaka', 'Moreau', 'Larsen', 'Rossi', 'Khan'];
const STREETS = ['Maple St', 'Harbor Rd', 'Elm Ave', 'Station Sq', 'Mill Lane', 'Oak Ct'];


function luhnComplete(prefix: string): string {
  let sum = 0;
  const digits = `${prefix}0`.split('').map(Number).reverse();
  digits.forEach((d, i) => {
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  });
  return prefix + String((10 - (sum % 10)) % 10);
}

export function demoSchemaSql(users = 200): string {
  const rnd = prng(42);
  const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)];
  const digits = (n: number) => Array.from({ length: n }, () => Math.floor(rnd() * 10)).join('');
  const q = (v: string) => `'${v.replace(/'/g, "''")}'`;
  const rows: string[] = [];
  const orders: string[] = [];
  for (let i = 1; i <= users; i++) {
    const first = pick(FIRST);
    const last = pick(LAST);
    const email = `${first}.${last}${i}@example.com`.toLowerCase();
    const ssn = `${100 + Math.floor(rnd() * 565)}-${10 + Math.floor(rnd() * 89)}-${1000 + Math.floor(rnd() * 8999)}`;
    const phone = `+1-555-${digits(3)}-${digits(4)}`;
    const card = luhnComplete(`4${digits(14)}`);
    const salary = (40000 + Math.floor(rnd() * 160000)).toFixed(2);
    const birth = `${1950 + Math.floor(rnd() * 55)}-${String(1 + Math.floor(rnd() * 12)).padStart(2, '0')}-${String(1 + Math.floor(rnd() * 28)).padStart(2, '0')}`;
    const notes = rnd() < 0.5 ? `Prefers email contact at ${email}` : `Called from ${phone} about an order`;
    const token = `sk_live_${digits(24)}`;
    rows.push(`(${i}, ${q(`${first} ${last}`)}, ${q(email)}, ${q(ssn)}, ${q(phone)}, ${q(card)}, ${salary}, ${q(birth)}, ${q(notes)}, ${q(token)})`);
    for (let k = 0; k < 2; k++) {
      orders.push(`(${i * 10 + k}, ${i}, ${q(email)}, ${q(`${1 + Math.floor(rnd() * 999)} ${pick(STREETS)}, Springfield`)}, ${(5 + rnd() * 495).toFixed(2)}, now() - interval '${Math.floor(rnd() * 365)} days')`);
    }
  }
  return `
CREATE SCHEMA IF NOT EXISTS app;
CREATE TABLE app.users (id int PRIMARY KEY, full_name text, email text, ssn text, phone text, card_number text,
  salary numeric(12,2), birth_date date, notes text, api_token text);
CREATE TABLE app.orders (id int PRIMARY KEY, user_id int REFERENCES app.users, customer_email text, ship_address text,
  amount numeric(10,2), placed_at timestamptz);
INSERT INTO app.users VALUES ${rows.join(',\n')};
INSERT INTO app.orders VALUES ${orders.join(',\n')};
GRANT USAGE ON SCHEMA app TO PUBLIC;
GRANT SELECT ON ALL TABLES IN SCHEMA app TO PUBLIC;
`;
}

/** Login roles of the demo, each with its own password. */
export const DEMO_ROLES = ['analyst', 'app_backend', 'support_eu', 'security_lead'] as const;
