/**
 * `pgveil scan` end to end, through the built CLI (build first:
 * `npx tsc -p tsconfig.build.json`): precision and recall of the catalog on a
 * fixture with PII under misleading names and decoys, no sampled value in any
 * output, read-only scanning that goes on past unreadable relations, the
 * suggested policy, the --check gate (views through lineage), flags and errors,
 * and sampling of a large table with TABLESAMPLE.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { formatColumn } from '../src/policy/identifiers.js';
import { scanDatabase, sampleQuery } from '../src/scan/scanner.js';
import { scan } from '../src/cli/scan.js';
import { runCli } from './support/cli.js';
import { pgInfo, superConfig, withClient } from './support/proxy.js';
import { createScanFixture, EXPECTED_SKIPS, GROUND_TRUTH, SCAN_DB, SCAN_ROLE, type ScanFixture } from './support/scan-fixture.js';
import type { Catalog } from './support/scan-catalog.js';


let dir: string;
let fixture: ScanFixture;
let main: { code: number | null; stdout: string; stderr: string; catalog: Catalog; catalogText: string; policyText: string };

const dsn = (user: string, password: string, database: string) => {
  const info = pgInfo();
  return `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${info.host}:${info.port}/${database}`;
};
const readerDsn = () => dsn(SCAN_ROLE.user, SCAN_ROLE.password, SCAN_DB);
const superDsn = (database = SCAN_DB) => dsn(pgInfo().superuser, pgInfo().superpass, database);
const file = (name: string) => path.join(dir, name);

beforeAll(async () => {
  if (!existsSync(new URL('../dist/cli/main.js', import.meta.url))) {
    throw new Error('dist/ is missing: run `npx tsc -p tsconfig.build.json` before these tests');
  }
  dir = mkdtempSync(path.join(tmpdir(), 'pgveil-scan-'));
  fixture = await createScanFixture(superConfig());
  const r = await runCli(['scan', '--dsn', readerDsn(), '--out', file('catalog.yaml'), '--policy-out', file('suggested.yaml')], { timeoutMs: 60_000 });
  const catalogText = existsSync(file('catalog.yaml')) ? readFileSync(file('catalog.yaml'), 'utf8') : '';
  const policyText = existsSync(file('suggested.yaml')) ? readFileSync(file('suggested.yaml'), 'utf8') : '';
  main = { ...r, catalogText, policyText, catalog: parseYaml(catalogText) as Catalog };
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('pgveil scan on the fixture', () => {
  it('exits 0, writes the catalog and a summary', () => {
    expect(main.code, main.stderr).toBe(0);
    expect(main.stdout).toBe('');
    expect(main.catalog.version).toBe(1);
    expect(main.catalog.database).toBe(SCAN_DB);
    expect(main.catalog.schemas).toEqual(['Sales Team', 'app', 'public']);
    expect(main.catalog.sample_rows).toBe(1000);
    expect(main.stderr).toMatch(/relations sampled/);
  });

  it('finds the PII columns (recall 1.0) with precision >= 0.9', () => {
    const detected = main.catalog.columns;
    const truth = new Map(GROUND_TRUTH.map((e) => [formatColumn(e), e]));
    const pii = GROUND_TRUTH.filter((e) => e.expect !== null && e.expect !== 'ignore');
    const missed = pii.filter((e) => !detected[formatColumn(e)]);
    const falsePositives: string[] = [];
    const wrongClass: string[] = [];
    let truePositives = 0;
    let counted = 0;
    for (const [key, col] of Object.entries(detected)) {
      const e = truth.get(key);
      if (e?.expect === 'ignore') continue;
      counted++;
      if (!e) falsePositives.push(`${key} (${col.class}): not in the ground truth`);
      else if (e.expect === null) falsePositives.push(`${key}: ${col.class} ${col.confidence} via ${col.findings[0].detector}`);
      else if (e.expect !== col.class) wrongClass.push(`${key}: expected ${e.expect}, got ${col.class} ${col.confidence} via ${col.findings[0].detector}`);
      else truePositives++;
    }
    const recall = (pii.length - missed.length) / pii.length;
    // A detected column with the wrong class counts against precision.
    const precision = counted ? truePositives / counted : 1;
    const classAccuracy = pii.length - missed.length ? truePositives / (pii.length - missed.length) : 1;
    const decoys = GROUND_TRUTH.filter((e) => e.expect === null).length;
    console.log(
      [
        `pgveil scan on ${SCAN_DB}: ${pii.length} PII columns, ${decoys} columns without PII, ${Object.keys(detected).length} reported sensitive`,
        `  recall    ${recall.toFixed(3)} (PII columns reported, whatever the class)`,
        `  precision ${precision.toFixed(3)} (reported columns that hold PII of the reported class)`,
        `  class accuracy on found PII ${classAccuracy.toFixed(3)}`,
        ...missed.map((e) => `  missed: ${formatColumn(e)} (${e.expect})`),
        ...falsePositives.map((s) => `  false positive: ${s}`),
        ...wrongClass.map((s) => `  wrong class: ${s}`),
      ].join('\n'),
    );
    expect(missed.map((e) => formatColumn(e))).toEqual([]);
    expect(recall).toBe(1);
    expect(precision).toBeGreaterThanOrEqual(0.9);
  });

  it('reports the key path of PII inside a JSON document', () => {
    const profile = main.catalog.columns['app.customers.profile'];
    expect(profile?.findings.some((f) => f.class === 'phone' && f.json_path === '$.contact.phone'), JSON.stringify(profile)).toBe(true);
  });

  it('gives class, confidence (2 decimals), match rate and detector for every finding', () => {
    for (const [key, col] of Object.entries(main.catalog.columns)) {
      expect(col.findings.length, key).toBeGreaterThan(0);
      expect(col.class).toBe(col.findings[0].class);
      for (const f of col.findings) {
        expect(Math.abs(f.confidence * 100 - Math.round(f.confidence * 100)), key).toBeLessThan(1e-9);
        expect(f.match_rate).toBeGreaterThanOrEqual(0);
        expect(f.match_rate).toBeLessThanOrEqual(1);
        expect(f.detector).toMatch(/\S/);
      }
      expect(col.confidence).toBeGreaterThanOrEqual(main.catalog.threshold);
    }
  });

  it('never writes a sampled value: not in stdout, stderr, the catalog or the suggested policy', () => {
    const outputs = { stdout: main.stdout, stderr: main.stderr, catalog: main.catalogText, policy: main.policyText };
    const needles = new Set<string>();
    for (const v of fixture.sensitiveValues) {
      needles.add(v);
      const compact = v.replace(/[\s-]/g, '');
      if (compact.length >= 9) needles.add(compact);
      if (v.length >= 16) {
        needles.add(v.slice(0, 10));
        needles.add(v.slice(-10));
      }
      const at = v.indexOf('@');
      if (at >= 6) needles.add(v.slice(0, at + 1));
    }
    expect(needles.size).toBeGreaterThan(3000);
    for (const [name, text] of Object.entries(outputs)) {
      const leaked = [...needles].filter((n) => text.includes(n));
      expect(leaked, `${name} contains sampled values`).toEqual([]);
    }
  });

  it('skips what the role cannot read with the SQLSTATE, withholds server messages, and goes on', () => {
    const skipped = Object.fromEntries(main.catalog.relations.skipped.map((s) => [s.relation, s]));
    for (const [rel, sqlstate] of Object.entries(EXPECTED_SKIPS)) expect(skipped[rel]?.sqlstate, rel).toBe(sqlstate);
    expect(skipped['app.hr_notes'].reason).toBe('permission denied');
    expect(skipped['app.bad_cast'].reason).toMatch(/withheld/);
    expect(main.stderr).toMatch(/skipped app\.hr_notes \(table\) \[42501\]/);
    // Relations after the failures were still sampled.
    const scanned = main.catalog.relations.scanned.map((s) => s.relation);
    expect(scanned).toContain('public.scan_sink');
    expect(scanned).toContain('app.support_tickets');
  });

  it('writes nothing: a view calling a function that inserts fails in the read-only transaction', async () => {
    const n = await withClient({ ...superConfig(), database: SCAN_DB }, (c) => c.query('SELECT count(*)::int AS n FROM public.scan_sink'));
    expect(n.rows[0].n).toBe(0);
  });

  it('samples a partitioned table through its parent and does not list the partitions', () => {
    const scanned = Object.fromEntries(main.catalog.relations.scanned.map((s) => [s.relation, s]));
    expect(scanned['app.events']?.kind).toBe('partitioned');
    expect(scanned['app.events'].rows_sampled).toBe(800);
    expect(scanned['app.events_2024']).toBeUndefined();
    expect(scanned['app.customer_directory']?.kind).toBe('view');
    expect(scanned['app.mv_recent_logins']?.kind).toBe('matview');
  });

  it('reads odd identifiers (spaces, quotes, mixed case, reserved words) and names them in policy syntax', () => {
    expect(main.catalog.relations.scanned.map((s) => s.relation)).toContain('"Sales Team"."Leads ""2024"""');
    const key = '"Sales Team"."Leads ""2024"""."E-Mail Address"';
    expect(main.catalog.columns[key]?.class).toBe('email');
    expect(main.policyText).toContain(`'${key}': { class: email`);
  });
});

describe('the suggested policy', () => {
  it('passes pgveil policy check --dsn with no warnings', async () => {
    const r = await runCli(['policy', 'check', file('suggested.yaml'), '--dsn', superDsn()]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/warning/);
    expect(r.stdout).toMatch(/OK/);
  });

  it('has a type-correct mask per column and notes JSON key paths', () => {
    const policy = parseYaml(main.policyText) as { version: number; columns: Record<string, Record<string, unknown>> };
    expect(policy.version).toBe(1);
    const cols = policy.columns;
    expect(cols['app.customers.c7']).toMatchObject({ class: 'ssn', mask: 'partial', keep_last: 4 });
    expect(cols['app.customers.email']).toMatchObject({ class: 'email', mask: 'email' });
    expect(cols['app.customers.birth_date']).toMatchObject({ class: 'dob', mask: 'year' }); // date column
    expect(cols['app.customers.profile']).toMatchObject({ mask: 'redact' }); // jsonb: a JSON string
    expect(cols['app.access_log.client_addr']).toMatchObject({ class: 'ip_address', mask: 'null' }); // inet: no text mask applies
    expect(cols['app.addresses.zip']).toMatchObject({ class: 'postal_code', mask: 'partial', keep_first: 2 });
    expect(main.policyText).toMatch(/# phone at \$\.contact\.phone/);
    // View columns are masked through the table columns they read: no entries of their own.
    for (const key of Object.keys(cols)) expect(key).not.toMatch(/customer_directory|mv_recent_logins/);
  });
});

describe('--check POLICY', () => {
  const check = (policy: string) => runCli(['scan', '--dsn', readerDsn(), '--check', policy, '--quiet', '--out', file('check-catalog.yaml')], { timeoutMs: 60_000 });

  it('exits 0 when the policy covers every sensitive column, views included through lineage', async () => {
    const r = await check(file('suggested.yaml'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/covers all \d+ sensitive columns/);
  });

  it('exits 1 and lists the uncovered columns, including view columns that read them', async () => {
    const text = main.policyText.split('\n').filter((l) => !l.startsWith('  app.customers.c7:')).join('\n');
    expect(text).not.toBe(main.policyText);
    writeFileSync(file('no-c7.yaml'), text);
    const r = await check(file('no-c7.yaml'));
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^ {2}app\.customers\.c7 {2}ssn {2}\d\.\d\d/m);
    expect(r.stderr).toMatch(/^ {2}app\.customer_directory\.tax_ref {2}ssn/m);
    expect(r.stderr).not.toMatch(/app\.customers\.email /);
  });

  it('an entry on the view column covers the view column, not the table column it reads', async () => {
    const text = main.policyText.replace(/^ {2}app\.customers\.c7:.*$/m, '  app.customer_directory.tax_ref: { class: ssn, mask: redact }');
    writeFileSync(file('view-only.yaml'), text);
    const r = await check(file('view-only.yaml'));
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^ {2}app\.customers\.c7 /m);
    expect(r.stderr).not.toMatch(/^ {2}app\.customer_directory\.tax_ref /m);
  });

  it('a glob entry covers what it matches', async () => {
    writeFileSync(file('glob.yaml'), 'version: 1\ncolumns:\n  "*.*.*": { mask: "null" }\n');
    const r = await check(file('glob.yaml'));
    expect(r.code, r.stderr).toBe(0);
  });

  it('an invalid policy exits 2 with file:line:column, before scanning', async () => {
    writeFileSync(file('bad.yaml'), 'version: 1\ncolumns:\n  app.customers.c7: { mask: sparkle }\n');
    const r = await check(file('bad.yaml'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bad\.yaml:3:\d+/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });
});

describe('flags and errors', () => {
  it('--schemas limits the scan (quoted names keep their case); without --out the catalog goes to stdout', async () => {
    const r = await runCli(['scan', '--dsn', readerDsn(), '--schemas', '"Sales Team"', '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const catalog = parseYaml(r.stdout) as Catalog;
    expect(catalog.schemas).toEqual(['Sales Team']);
    expect(catalog.relations.scanned.map((s) => s.relation)).toEqual(['"Sales Team"."Leads ""2024"""']);
  });

  it('an unknown schema in --schemas exits 2 naming it', async () => {
    const r = await runCli(['scan', '--dsn', readerDsn(), '--schemas', 'app,nosuch']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no schema "nosuch"/);
  });

  it.each(['0', '-5', 'lots', '2.5'])('--sample %s exits 2', async (n) => {
    const r = await runCli(['scan', '--dsn', readerDsn(), `--sample=${n}`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--sample must be a whole number/);
  });

  it('a DSN that is not a postgres URL exits 2', async () => {
    const r = await runCli(['scan', '--dsn', 'mysql://x@y/z']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/postgres:\/\//);
  });

  it('an unreachable server exits 2 with one clear line', async () => {
    const r = await runCli(['scan', '--dsn', 'postgres://nobody@127.0.0.1:1/db']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot scan 127\.0\.0\.1:1\/db: .*ECONNREFUSED/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('a failed login exits 2 without echoing the password', async () => {
    const r = await runCli(['scan', '--dsn', dsn(SCAN_ROLE.user, 'wrong-password-xyz', SCAN_DB)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/password authentication failed/);
    expect(r.stderr).not.toContain('wrong-password-xyz');
  });

  it('an empty database gives an empty catalog', async () => {
    await withClient(superConfig(), async (c) => {
      await c.query('DROP DATABASE IF EXISTS scan_empty WITH (FORCE)');
      await c.query('CREATE DATABASE scan_empty');
    });
    const r = await runCli(['scan', '--dsn', superDsn('scan_empty'), '--policy-out', file('empty-policy.yaml')]);
    expect(r.code, r.stderr).toBe(0);
    const catalog = parseYaml(r.stdout) as Catalog;
    expect(catalog.relations.scanned).toEqual([]);
    expect(catalog.columns).toEqual({});
    const check = await runCli(['policy', 'check', file('empty-policy.yaml')]);
    expect(check.code, check.stderr).toBe(0);
  });

  it('skips a relation that exceeds --timeout (57014) and goes on', async () => {
    await withClient(superConfig(), async (c) => {
      await c.query('DROP DATABASE IF EXISTS scan_slow WITH (FORCE)');
      await c.query('CREATE DATABASE scan_slow');
    });
    await withClient({ ...superConfig(), database: 'scan_slow' }, async (c) => {
      await c.query("CREATE VIEW public.a_slow AS SELECT 1 AS x FROM pg_sleep(5); CREATE TABLE public.b_fast (email text); INSERT INTO public.b_fast VALUES ('x@example.com')");
    });
    const r = await runCli(['scan', '--dsn', superDsn('scan_slow'), '--timeout', '300ms']);
    expect(r.code, r.stderr).toBe(0);
    const catalog = parseYaml(r.stdout) as Catalog;
    expect(catalog.relations.skipped).toEqual([{ relation: 'public.a_slow', kind: 'view', sqlstate: '57014', reason: expect.stringMatching(/timeout/) }]);
    expect(catalog.relations.scanned.map((s) => s.relation)).toEqual(['public.b_fast']);
  });

  it('draws a progress bar on a terminal, naming relations and never values', async () => {
    const progress: string[] = [];
    const out: string[] = [];
    const err: string[] = [];
    const code = await scan(
      { dsn: readerDsn(), schemas: 'app', sample: '200', timeout: '30s' },
      { out: (l) => out.push(l), err: (l) => err.push(l), progress: { isTTY: true, columns: 120, write: (s) => progress.push(s) } },
    );
    expect(code).toBe(0);
    const text = progress.join('');
    expect(text).toMatch(/\r\x1b\[K\[#*-*\] \d+\/\d+ app\.customers/);
    expect(text.endsWith('\r\x1b[K')).toBe(true);
    for (const v of fixture.sensitiveValues) expect(text.includes(v)).toBe(false);
    // Not a terminal: no bar.
    const quiet: string[] = [];
    await scan({ dsn: readerDsn(), schemas: '"Sales Team"', sample: '10', timeout: '30s' }, { out: () => undefined, err: () => undefined, progress: { isTTY: false, write: (s) => quiet.push(s) } });
    expect(quiet).toEqual([]);
  });
});

describe('sampling cost', () => {
  const BIG_DB = 'scan_big';
  const ROWS = 2_000_000;

  beforeAll(async () => {
    await withClient(superConfig(), async (c) => {
      await c.query(`DROP DATABASE IF EXISTS ${BIG_DB} WITH (FORCE)`);
      await c.query(`CREATE DATABASE ${BIG_DB}`);
    });
    await withClient({ ...superConfig(), database: BIG_DB }, async (c) => {
      await c.query(`CREATE TABLE public.clicks (id int, bucket int)`);
      await c.query(`INSERT INTO public.clicks SELECT g, g % 97 FROM generate_series(1, ${ROWS}) g`);
      await c.query('ANALYZE public.clicks');
      await c.query('CREATE VIEW public.clicks_v AS SELECT id, bucket FROM public.clicks');
    });
  }, 120_000);

  it(`reads a bounded sample of a ${ROWS.toLocaleString('en')}-row table with TABLESAMPLE SYSTEM, and views with LIMIT`, async () => {
    const big = await scanDatabase({
      connection: { ...superConfig(), database: BIG_DB },
      sampleSize: 1000,
      statementTimeoutMs: 30_000,
      classify: () => [],
    });
    const table = big.relations.find((r) => r.name === 'clicks');
    const view = big.relations.find((r) => r.name === 'clicks_v');
    expect(table?.method).toBe('tablesample');
    expect(table?.query).toMatch(/TABLESAMPLE SYSTEM \([\d.]+\) REPEATABLE \(\d+\) LIMIT 1000$/);
    expect(table?.percent).toBeLessThan(1);
    expect(table?.sampledRows).toBeGreaterThanOrEqual(500);
    expect(table?.sampledRows).toBeLessThanOrEqual(1000);
    expect(view?.method).toBe('limit');
    expect(view?.query).not.toMatch(/TABLESAMPLE/);
    // What the chosen query costs: pages touched, from the server's own accounting.
    const plan = await withClient({ ...superConfig(), database: BIG_DB }, async (c) => {
      const pages = await c.query<{ relpages: number }>("SELECT relpages FROM pg_class WHERE relname = 'clicks'");
      const explain = await c.query(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${table?.query}`);
      return { relpages: pages.rows[0].relpages, plan: (explain.rows[0]['QUERY PLAN'] as { Plan: Record<string, number> }[])[0].Plan };
    });
    const touched = plan.plan['Shared Hit Blocks'] + plan.plan['Shared Read Blocks'];
    console.log(`sampling ${ROWS} rows (${plan.relpages} pages): ${table?.query.replace(/SELECT .* FROM/, 'SELECT … FROM')} touched ${touched} pages, returned ${table?.sampledRows} rows`);
    expect(touched).toBeLessThan(plan.relpages * 0.02);
    expect(plan.plan['Actual Rows']).toBeLessThanOrEqual(1000);
  });

  it('builds quoted, capped, single-pass sample queries', () => {
    const q = sampleQuery({ schema: 'My "S"', name: 'T', kind: 'table', estimatedRows: 10, columns: [{ name: 'order', baseTypeOid: 25 }, { name: 'doc', baseTypeOid: 3802 }] }, 50);
    expect(q).toBe('SELECT substr("order"::text, 1, 4096), substr("doc"::text, 1, 32768) FROM ONLY "My ""S"""."T" LIMIT 50');
  });
});
