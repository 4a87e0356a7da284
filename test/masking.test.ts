/**
 * Masks × types × formats. Inputs are the real wire bytes of the test server
 * (text output, and each type's send function for the binary format); every
 * non-NULL masked output is fed back to the server in the same format
 * (text: `$1::type`, binary: a binary parameter, i.e. the type's recv function)
 * to prove it is a valid value of the column type.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { superConfig } from './support/proxy.js';
import {
  MaskError,
  OID,
  compileMask,
  compileTextMask,
  maskTextValue,
  type FieldFormat,
  type MaskSpec,
  type TypeFamily,
} from '../src/masking/index.js';
import { typeFamily } from '../src/masking/types.js';
import {
  numericBinaryToText,
  numericTextToBinary,
  pgCivilFromDays,
  pgDaysFromCivil,
  parseDecimal,
  roundDecimal,
  formatDecimal,
} from '../src/masking/pg-binary.js';

const KEY = Buffer.from('test-hmac-key');
const partial = (keepFirst: number, keepLast: number, keepSeparators = true, maskChar = '*'): MaskSpec => ({
  kind: 'partial',
  keepFirst,
  keepLast,
  keepSeparators,
  maskChar,
});

/** Apply `spec` to a text-format value given as a string. */
function text(spec: MaskSpec, oid: number, value: string, typeModifier?: number): string | null {
  const out = compileMask(spec, oid, 0, { hashKey: KEY, typeModifier })(Buffer.from(value, 'utf8'));
  return out === null ? null : out.toString('utf8');
}

describe('masks on text values', () => {
  it('partial keeps only the configured characters and the separators', () => {
    expect(text(partial(0, 4), OID.text, '123-45-6789')).toBe('***-**-6789');
    expect(text(partial(0, 4, false), OID.text, '123-45-6789')).toBe('*******6789');
    expect(text(partial(2, 2), OID.varchar, '4111 1111 1111 1234')).toBe('41** **** **** **34');
    expect(text(partial(0, 4, true, 'X'), OID.text, '(555) 123-4567')).toBe('(XXX) XXX-4567');
    expect(text(partial(1, 0), OID.text, 'Zoë Ålander')).toBe('Z** *******');
    expect(text(partial(0, 2), OID.text, '日本語テキスト')).toBe('*****スト');
    expect(text(partial(0, 0), OID.text, 'secret')).toBe('******');
    // Never the whole value: too short to keep anything.
    expect(text(partial(0, 4), OID.text, '6789')).toBe('****');
    expect(text(partial(2, 2), OID.text, '1-2-3-4')).toBe('*-*-*-*');
    // char(n) padding stays padding.
    expect(text(partial(0, 2), OID.bpchar, 'AB-1234     ', 16)).toBe('**-**34     ');
    expect(text(partial(0, 4), OID.int4, '123456789')).toBeNull();
    expect(text(partial(0, 4), OID.uuid, '9f1c2b3a-4d5e-4f60-8a7b-1c2d3e4f5a6b')).toBeNull();
  });

  it('email keeps only the domain', () => {
    expect(text({ kind: 'email' }, OID.text, 'alice.smith@example.com')).toBe('***@example.com');
    expect(text({ kind: 'email' }, OID.text, 'a"b@c"@mail.example.org')).toBe('***@mail.example.org');
    expect(text({ kind: 'email' }, OID.text, 'not an email')).toBe('***');
    expect(text({ kind: 'email' }, OID.bpchar, 'bo@x.io   ', 14)).toBe('***@x.io  ') // char(10);
    expect(text({ kind: 'email' }, OID.varchar, 'a@example.com', 4 + 12)).toBe('***@example.');
    expect(text({ kind: 'email' }, OID.jsonb, '"a@b.c"')).toBeNull();
  });

  it('redact is sized to the type', () => {
    expect(text({ kind: 'redact' }, OID.text, 'anything')).toBe('[REDACTED]');
    expect(text({ kind: 'redact' }, OID.varchar, 'abc', 4 + 3)).toBe('***');
    expect(text({ kind: 'redact' }, OID.bpchar, 'abcdefghijkl', 4 + 12)).toBe('[REDACTED]  ');
    expect(text({ kind: 'redact' }, OID.json, '{"a":1}')).toBe('"[REDACTED]"');
    expect(text({ kind: 'redact' }, OID.int4, '42')).toBeNull();
    expect(text({ kind: 'redact' }, 999_999, 'x')).toBeNull();
    expect(compileMask({ kind: 'redact' }, 999_999, 0, { typeCategory: 'S' })(Buffer.from('x'))?.toString()).toBe('[REDACTED]');
  });

  it('year generalizes dates and timestamps, keeps infinity, and refuses non-ISO DateStyles', () => {
    expect(text({ kind: 'year' }, OID.date, '1987-06-05')).toBe('1987-01-01');
    expect(text({ kind: 'year' }, OID.date, '0044-03-15 BC')).toBe('0044-01-01 BC');
    expect(text({ kind: 'year' }, OID.date, '12345-03-15')).toBe('12345-01-01');
    expect(text({ kind: 'year' }, OID.timestamp, '1987-06-05 04:03:02.5')).toBe('1987-01-01 00:00:00');
    expect(text({ kind: 'year' }, OID.timestamptz, '1987-06-05 04:03:02+05:30')).toBe('1987-01-01 00:00:00+05:30');
    expect(text({ kind: 'year' }, OID.date, 'infinity')).toBe('infinity');
    expect(text({ kind: 'year' }, OID.date, '06/05/1987')).toBeNull();
    expect(text({ kind: 'year' }, OID.text, '1987-06-05')).toBeNull();
  });

  it('round rounds half away from zero to the step, exactly', () => {
    const r = (step: number, oid: number, v: string, tm?: number) => text({ kind: 'round', step }, oid, v, tm);
    expect(r(100, OID.int4, '12345')).toBe('12300');
    expect(r(100, OID.int4, '12350')).toBe('12400');
    expect(r(100, OID.int4, '-150')).toBe('-200');
    expect(r(1000, OID.int2, '32767')).toBeNull(); // 33000 does not fit int2
    expect(r(2.5, OID.int4, '10')).toBeNull(); // a fractional step can't round an integer type
    expect(r(1000, OID.int8, '9007199254740993')).toBe('9007199254741000');
    expect(r(0.5, OID.numeric, '123456.789')).toBe('123457.000');
    expect(r(0.01, OID.numeric, '-0.004')).toBe('0.000'); // the value's scale is kept
    expect(r(10000, OID.numeric, '98765.43')).toBe('100000.00');
    expect(r(1, OID.numeric, 'NaN')).toBe('NaN');
    expect(r(0.1, OID.float8, '1.26')).toBe('1.3');
    expect(r(100, OID.float4, '1234.5')).toBe('1200');
    expect(r(100, OID.float8, '-Infinity')).toBe('-Infinity');
    expect(r(100, OID.float8, 'garbage')).toBeNull();
    expect(r(100, OID.text, '12345')).toBeNull();
  });

  it('fixed is validated once for the type', () => {
    const f = (value: string | number | boolean, oid: number, tm?: number) => text({ kind: 'fixed', value }, oid, 'raw', tm);
    expect(f('n/a', OID.text)).toBe('n/a');
    expect(f('toolong', OID.varchar, 4 + 3)).toBeNull();
    expect(f('ab', OID.bpchar, 4 + 4)).toBe('ab  ');
    expect(f(0, OID.int4)).toBe('0');
    expect(f(70000, OID.int2)).toBeNull();
    expect(f('12', OID.int8)).toBe('12');
    expect(f(1.5, OID.int4)).toBeNull();
    expect(f('1e3', OID.numeric)).toBe('1000');
    expect(f(1234567, OID.numeric, ((8 << 16) | 2) + 4)).toBeNull(); // numeric(8,2) holds 6 integer digits
    expect(f(12345.6, OID.numeric, ((8 << 16) | 2) + 4)).toBe('12345.6');
    expect(f('1999-12-31', OID.date)).toBe('1999-12-31');
    expect(f('1999-02-30', OID.date)).toBeNull();
    expect(f('2020-01-01T10:00:00+02', OID.timestamptz)).toBe('2020-01-01 08:00:00+00');
    expect(f('2020-01-01 10:00:00.25', OID.timestamp)).toBe('2020-01-01 10:00:00.25');
    expect(f('2020-01-01 10:00:00+02', OID.timestamp)).toBeNull();
    expect(f(false, OID.bool)).toBe('f');
    expect(f('maybe', OID.bool)).toBeNull();
    expect(f('n/a', OID.json)).toBe('"n/a"');
    expect(f(0, OID.jsonb)).toBe('0');
    expect(f('00000000-0000-0000-0000-000000000000', OID.uuid)).toBe('00000000-0000-0000-0000-000000000000');
    expect(f('nope', OID.uuid)).toBeNull();
    expect(f('\\x00ff', OID.bytea)).toBe('\\x00ff');
    expect(f('ab', OID.bytea)).toBe('\\x6162');
    expect(f('x', 999_999)).toBeNull();
  });

  it('hash is deterministic, keyed, and the same in text and binary format', () => {
    const h = (v: string, key: Buffer | string = KEY, oid: number = OID.text) =>
      compileMask({ kind: 'hash', length: 16 }, oid, 0, { hashKey: key })(Buffer.from(v))?.toString();
    expect(h('123-45-6789')).toMatch(/^[0-9a-f]{16}$/);
    expect(h('123-45-6789')).toBe(h('123-45-6789'));
    expect(h('123-45-6789')).not.toBe(h('123-45-6780'));
    expect(h('123-45-6789', 'other key')).not.toBe(h('123-45-6789'));
    // char(n) padding is not part of the value: joins with text still match
    expect(h('abc   ', KEY, OID.bpchar)).toBe(h('abc'));
    // an int column hashes like its text form, in both formats
    const intText = compileMask({ kind: 'hash', length: 16 }, OID.int4, 0, { hashKey: KEY })(Buffer.from('42'));
    const b = Buffer.alloc(4);
    b.writeInt32BE(42);
    const intBin = compileMask({ kind: 'hash', length: 16 }, OID.int4, 1, { hashKey: KEY })(b);
    expect(intBin?.readInt32BE(0)).toBe(Number(intText?.toString()));
    expect(compileMask({ kind: 'hash', length: 8 }, OID.text, 0, { hashKey: KEY })(Buffer.from('x'))?.length).toBe(8);
    expect(() => compileMask({ kind: 'hash', length: 16 }, OID.text, 0)).toThrow(MaskError);
    // types where hashing means nothing: NULL, no key needed
    expect(compileMask({ kind: 'hash', length: 16 }, OID.bool, 0)(Buffer.from('t'))).toBeNull();
  });

  it('unparsable input gives NULL, never the input', () => {
    const bad = Buffer.from([1, 2, 3]);
    for (const oid of [OID.int2, OID.int4, OID.int8, OID.float4, OID.float8, OID.date, OID.timestamp, OID.uuid, OID.numeric]) {
      for (const spec of [{ kind: 'round', step: 10 }, { kind: 'year' }, { kind: 'hash', length: 16 }] as MaskSpec[]) {
        expect(compileMask(spec, oid, 1, { hashKey: KEY })(bad)).toBeNull();
      }
    }
    expect(text({ kind: 'round', step: 10 }, OID.int4, '12x')).toBeNull();
    expect(text({ kind: 'hash', length: 16 }, OID.bytea, '\\xzz')).toBeNull();
  });

  it('constant masks return one preallocated buffer; text helpers for COPY', () => {
    const fn = compileMask({ kind: 'redact' }, OID.text, 0);
    expect(fn(Buffer.from('a'))).toBe(fn(Buffer.from('b')));
    expect(compileTextMask(partial(0, 4), OID.text)('123-45-6789')).toBe('***-**-6789');
    expect(maskTextValue({ kind: 'null' }, OID.text, 'x')).toBeNull();
    expect(maskTextValue({ kind: 'year' }, OID.date, '2001-09-11')).toBe('2001-01-01');
  });

  it('type families', () => {
    const fams: [number, TypeFamily][] = [[OID.varchar, 'text'], [OID.name, 'text'], [OID.unknown, 'text'], [OID.jsonb, 'jsonb'], [1186, 'other']];
    for (const [oid, fam] of fams) expect(typeFamily(oid)).toBe(fam);
  });
});

describe('date and numeric codecs', () => {
  it('civil dates round-trip around the PostgreSQL epoch', () => {
    expect(pgDaysFromCivil(2000, 1, 1)).toBe(0);
    expect(pgDaysFromCivil(1987, 1, 1)).toBe(-4748);
    expect(pgDaysFromCivil(-4713, 11, 24)).toBe(-2451545); // 4714-11-24 BC, Julian day 0
    for (const d of [-2451545, -730000, -1, 0, 59, 60, 366, 2932896]) {
      const c = pgCivilFromDays(d);
      expect(pgDaysFromCivil(c.year, c.month, c.day)).toBe(d);
    }
  });
  it('decimal rounding', () => {
    const r = (v: string, s: string) => formatDecimal(roundDecimal(parseDecimal(v)!, parseDecimal(s)!));
    expect(r('2.5', '1')).toBe('3.0');
    expect(r('-2.5', '1')).toBe('-3.0');
    expect(r('149', '100')).toBe('100');
    expect(r('1.23456', '1e-3')).toBe('1.23500');
    expect(parseDecimal('abc')).toBeUndefined();
  });
});

// ---------------------------------------------------------------- against the server

interface Fixture {
  sqlType: string;
  send: string;
  literal: string;
  oid: number;
  typeModifier: number;
  text: Buffer;
  binary: Buffer;
}

const FIXTURES: Omit<Fixture, 'oid' | 'typeModifier' | 'text' | 'binary'>[] = [
  { sqlType: 'int2', send: 'int2send', literal: '12345' },
  { sqlType: 'int4', send: 'int4send', literal: '-1234567' },
  { sqlType: 'int8', send: 'int8send', literal: '9007199254740993' },
  { sqlType: 'numeric', send: 'numeric_send', literal: '123456.789' },
  { sqlType: 'numeric(10,2)', send: 'numeric_send', literal: '-98765.43' },
  { sqlType: 'float4', send: 'float4send', literal: '1234.56' },
  { sqlType: 'float8', send: 'float8send', literal: '98765.4321' },
  { sqlType: 'text', send: 'textsend', literal: '123-45-6789' },
  { sqlType: 'varchar(40)', send: 'varcharsend', literal: 'alice.smith@example.com' },
  { sqlType: 'char(12)', send: 'bpcharsend', literal: 'AB-9876' },
  { sqlType: 'text', send: 'textsend', literal: 'Zoë Ålander-Øst' },
  { sqlType: 'date', send: 'date_send', literal: '1987-06-05' },
  { sqlType: 'timestamp', send: 'timestamp_send', literal: '1987-06-05 04:03:02.123456' },
  { sqlType: 'timestamptz', send: 'timestamptz_send', literal: '1987-06-05 04:03:02.123456+02' },
  { sqlType: 'bool', send: 'boolsend', literal: 'true' },
  { sqlType: 'json', send: 'json_send', literal: '{"ssn": "123-45-6789"}' },
  { sqlType: 'jsonb', send: 'jsonb_send', literal: '{"ssn": "123-45-6789"}' },
  { sqlType: 'uuid', send: 'uuid_send', literal: '9f1c2b3a-4d5e-4f60-8a7b-1c2d3e4f5a6b' },
  { sqlType: 'bytea', send: 'byteasend', literal: '\\x73656372657421' },
  { sqlType: 'interval', send: 'interval_send', literal: '3 days 04:05:06' },
];

/** Which families each mask must produce a value for (NULL everywhere else). */
const NON_NULL: Record<string, readonly TypeFamily[]> = {
  redact: ['text', 'json', 'jsonb'],
  partial: ['text'],
  email: ['text'],
  hash: ['text', 'json', 'jsonb', 'int2', 'int4', 'int8', 'numeric', 'float4', 'float8', 'uuid', 'bytea'],
  null: [],
  year: ['date', 'timestamp', 'timestamptz'],
  round: ['int2', 'int4', 'int8', 'numeric', 'float4', 'float8'],
};

const SPECS: MaskSpec[] = [
  { kind: 'redact' },
  partial(0, 4),
  partial(2, 2, false, 'X'),
  { kind: 'email' },
  { kind: 'hash', length: 16 },
  { kind: 'null' },
  { kind: 'year' },
  { kind: 'round', step: 100 },
  { kind: 'round', step: 0.5 },
];

const FIXED: Record<string, string | number | boolean> = {
  int2: 7,
  int4: -1,
  int8: '0',
  numeric: 0,
  'numeric(10,2)': 1.5,
  float4: 0.25,
  float8: -1.5,
  text: 'n/a',
  'varchar(40)': 'withheld',
  'char(12)': 'XX',
  date: '1900-01-01',
  timestamp: '1900-01-01 00:00:00',
  timestamptz: '1900-01-01T00:00:00Z',
  bool: false,
  json: 'n/a',
  jsonb: 'n/a',
  uuid: '00000000-0000-4000-8000-000000000000',
  bytea: '\\x00',
  interval: '1 day',
};

describe('masked values are valid for the type in both formats (checked by PostgreSQL)', () => {
  let client: pg.Client;
  const fixtures: Fixture[] = [];

  beforeAll(async () => {
    client = new pg.Client(superConfig());
    await client.connect();
    await client.query("set timezone = 'UTC'; set datestyle = 'ISO, MDY'; set extra_float_digits = 1");
    for (const f of FIXTURES) {
      const lit = `'${f.literal.replace(/'/g, "''")}'::${f.sqlType}`;
      const r = await client.query({
        text: `select ${lit} as v, encode(${f.send}(${lit}), 'hex') as b`,
        types: { getTypeParser: () => (v: string) => v },
      });
      const row = r.rows[0] as { v: string; b: string };
      fixtures.push({
        ...f,
        oid: r.fields[0].dataTypeID,
        typeModifier: r.fields[0].dataTypeModifier,
        text: Buffer.from(row.v, 'utf8'),
        binary: Buffer.from(row.b, 'hex'),
      });
    }
    return () => client.end();
  });

  /** PostgreSQL's text rendering of `value` sent as `format` for `sqlType`; throws if the server rejects it. */
  async function asServerText(value: Buffer, format: FieldFormat, sqlType: string): Promise<string> {
    const param = format === 1 ? value : value.toString('utf8');
    const r = await client.query({ text: `select $1::${sqlType}::text as t`, values: [param] });
    return (r.rows[0] as { t: string }).t;
  }

  it('every mask × type × format', async () => {
    let checked = 0;
    for (const f of fixtures) {
      const family = typeFamily(f.oid);
      const rawText = f.text.toString('utf8');
      const specs = [...SPECS, { kind: 'fixed', value: FIXED[f.sqlType] } as MaskSpec];
      for (const spec of specs) {
        const rendered: (string | null)[] = [];
        for (const format of [0, 1] as FieldFormat[]) {
          const fn = compileMask(spec, f.oid, format, { hashKey: KEY, typeModifier: f.typeModifier });
          const out = fn(format === 0 ? f.text : f.binary);
          const label = `${spec.kind} ${JSON.stringify(spec)} on ${f.sqlType} ${JSON.stringify(f.literal)} format ${format}`;
          const expectValue = spec.kind === 'fixed' ? family !== 'other' : (NON_NULL[spec.kind]?.includes(family) ?? false);
          if (!expectValue) {
            expect(out, label).toBeNull();
            rendered.push(null);
            continue;
          }
          if (spec.kind === 'round' && spec.step === 0.5 && ['int2', 'int4', 'int8'].includes(family)) {
            expect(out, label).toBeNull();
            rendered.push(null);
            continue;
          }
          expect(out, label).not.toBeNull();
          let serverText: string;
          try {
            serverText = await asServerText(out!, format, f.sqlType);
          } catch (err) {
            throw new Error(`${label}: server rejected ${JSON.stringify(out!.toString(format === 0 ? 'utf8' : 'hex'))}: ${(err as Error).message}`);
          }
          rendered.push(serverText);
          checked++;
          // Never the raw value (partial: only kept characters).
          if (spec.kind !== 'fixed') {
            expect(serverText, label).not.toContain(rawText.trim());
            expect(serverText, label).not.toContain(f.binary.toString('hex'));
          }
          if (spec.kind === 'partial') {
            const stars = serverText.replace(new RegExp(`[${spec.maskChar === '*' ? '\\*' : spec.maskChar}]`, 'g'), '');
            const revealed = Array.from(stars.replace(/[\s\-.@/()+:,_]/g, ''));
            expect(revealed.length, label).toBeLessThanOrEqual(spec.keepFirst + spec.keepLast);
          }
        }
        // Same value whichever format the client asked for (timestamptz year keeps the text offset).
        if (!(spec.kind === 'year' && family === 'timestamptz')) expect(rendered[0], `${spec.kind} ${f.sqlType}`).toBe(rendered[1]);
      }
    }
    expect(checked).toBeGreaterThan(80);
  });

  it('binary outputs decode to the intended values', () => {
    const get = (sqlType: string, literal?: string) => fixtures.find((f) => f.sqlType === sqlType && (!literal || f.literal === literal))!;
    const date = get('date');
    expect(compileMask({ kind: 'year' }, date.oid, 1)(date.binary)!.readInt32BE(0)).toBe(pgDaysFromCivil(1987, 1, 1));
    const ts = get('timestamp');
    expect(compileMask({ kind: 'year' }, ts.oid, 1)(ts.binary)!.readBigInt64BE(0)).toBe(BigInt(pgDaysFromCivil(1987, 1, 1)) * 86_400_000_000n);
    const i4 = get('int4');
    expect(compileMask({ kind: 'round', step: 100 }, i4.oid, 1)(i4.binary)!.readInt32BE(0)).toBe(-1234600);
    const i8 = get('int8');
    expect(compileMask({ kind: 'round', step: 1000 }, i8.oid, 1)(i8.binary)!.readBigInt64BE(0)).toBe(9007199254741000n);
    const f8 = get('float8');
    expect(compileMask({ kind: 'round', step: 0.5 }, f8.oid, 1)(f8.binary)!.readDoubleBE(0)).toBe(98765.5);
    const f4 = get('float4');
    expect(compileMask({ kind: 'round', step: 100 }, f4.oid, 1)(f4.binary)!.readFloatBE(0)).toBe(1200);
    const num = get('numeric(10,2)');
    expect(numericBinaryToText(compileMask({ kind: 'round', step: 1000 }, num.oid, 1, { typeModifier: num.typeModifier })(num.binary)!)).toBe('-99000.00');
    const uuid = get('uuid');
    const hashed = compileMask({ kind: 'hash', length: 16 }, uuid.oid, 1, { hashKey: KEY })(uuid.binary)!;
    expect(hashed.length).toBe(16);
    expect(hashed[6] >> 4).toBe(4);
    const jsonb = get('jsonb');
    const red = compileMask({ kind: 'redact' }, jsonb.oid, 1)(jsonb.binary)!;
    expect(red[0]).toBe(1);
    expect(red.subarray(1).toString()).toBe('"[REDACTED]"');
  });

  it('numeric binary codec agrees with numeric_send / numeric_out', async () => {
    const values = ['0', '0.00', '-0.5', '1', '9999', '10000', '123456.789', '-98765.4321', '0.0001', '0.00012', '1e20', '12345678901234567890.123456789', 'NaN', 'Infinity', '-Infinity'];
    for (const v of values) {
      const r = await client.query({ text: `select x::text as t, encode(numeric_send(x), 'hex') as b from (select '${v}'::numeric as x) s` });
      const { t, b } = r.rows[0] as { t: string; b: string };
      expect(numericBinaryToText(Buffer.from(b, 'hex')), v).toBe(t);
      // (PostgreSQL sends a dscale with ±Infinity; numeric_recv ignores it)
      if (/^\d|^-\d/.test(t)) expect(numericTextToBinary(t)?.toString('hex'), v).toBe(b);
    }
  });

  it('hash outputs of equal values match across columns of different types (joins)', () => {
    const spec: MaskSpec = { kind: 'hash', length: 16 };
    const asText = compileMask(spec, OID.text, 0, { hashKey: KEY })(Buffer.from('-1234567'))!.toString();
    const i4 = fixtures.find((f) => f.sqlType === 'int4')!;
    const fromIntText = compileMask(spec, OID.varchar, 0, { hashKey: KEY })(i4.text)!.toString();
    expect(fromIntText).toBe(asText);
  });
});
