/**
 * `pgveil scan --dsn URL [--schemas a,b] [--sample N] [--timeout 30s] [--out FILE]
 *   [--policy-out FILE] [--check POLICY] [--quiet]`
 *
 * stdout carries the catalog YAML when there is no --out; everything meant for
 * a person (progress, summary, uncovered columns, errors) goes to stderr.
 * Exit codes: 0 done; 1 --check found sensitive columns the policy does not
 * cover; 2 the scan could not run (bad flags, unreachable server, failed
 * login, unknown schema, invalid policy, unwritable output).
 */
import { writeFileSync } from 'node:fs';
import { loadCatalog } from '../catalog/loader.js';
import type { CatalogSnapshot } from '../catalog/snapshot.js';
import { IdentifierError, loadPolicy, parseNamePattern, PolicyError, type NamePattern, type Policy } from '../policy/index.js';
import { loadParser } from '../sql/parse.js';
import { parseDuration } from '../util/units.js';
import { classifyColumn, SENSITIVE_CONFIDENCE } from '../scan/classify.js';
import { catalogYaml, checkCoverage, formatRelation, splitColumns, suggestPolicy, type CatalogColumn } from '../scan/report.js';
import { scanDatabase, ScanError, type ScanResult } from '../scan/scanner.js';
import type { CheckOutput } from './policy-check.js';

export interface ScanFlags {
  dsn: string;
  schemas?: string;
  sample: string;
  timeout: string;
  out?: string;
  policyOut?: string;
  check?: string;
  quiet?: boolean;
}

export interface ScanIo extends CheckOutput {
  /** Where the progress bar goes, when it is a terminal (stderr). */
  progress?: { isTTY?: boolean; columns?: number; write(s: string): unknown };
}

const EXIT_UNCOVERED = 1;
const EXIT_USAGE = 2;

class UsageError extends Error {}

/** Splits `a,"B,c",d` on commas outside double quotes. */
function splitList(text: string): string[] {
  const items: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    if (ch === ',' && !quoted) {
      items.push(cur);
      cur = '';
    } else {
      cur += ch;
    }
  }
  items.push(cur);
  return items.map((s) => s.trim()).filter((s) => s !== '');
}

function parseSchemas(text: string | undefined): NamePattern[] | undefined {
  if (text === undefined) return undefined;
  const items = splitList(text);
  if (items.length === 0) throw new UsageError('--schemas is empty: give a comma-separated list such as app,public');
  return items.map((s) => {
    try {
      return parseNamePattern(s);
    } catch (err) {
      if (err instanceof IdentifierError) throw new UsageError(`--schemas: ${err.message}`);
      throw err;
    }
  });
}

function parseDsn(dsn: string): URL {
  let url: URL;
  try {
    url = new URL(dsn);
  } catch {
    throw new UsageError('--dsn must be a URL such as postgres://USER@HOST:5432/DATABASE');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new UsageError(`--dsn must be a postgres:// URL, not ${url.protocol}//…`);
  }
  return url;
}

/** host:port/database of a DSN, without user or password (for messages). */
function describeDsn(url: URL): string {
  const db = decodeURIComponent(url.pathname.replace(/^\//, '')) || '(default database)';
  return `${url.hostname || 'localhost'}${url.port ? `:${url.port}` : ''}/${db}`;
}

function progressBar(io: ScanIo): ((p: { done: number; total: number; relation: string }) => void) | undefined {
  const tty = io.progress;
  if (!tty?.isTTY) return undefined;
  return ({ done, total, relation }) => {
    if (done >= total) {
      tty.write('\r\x1b[K');
      return;
    }
    const width = 24;
    const filled = total ? Math.round((done / total) * width) : 0;
    const line = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done + 1}/${total} ${relation}`;
    tty.write(`\r\x1b[K${line.slice(0, Math.max(20, (tty.columns ?? 80) - 1))}`);
  };
}

export async function scan(flags: ScanFlags, io: ScanIo): Promise<number> {
  try {
    return await run(flags, io);
  } catch (err) {
    if (err instanceof UsageError || err instanceof ScanError) {
      io.err(`pgveil scan: ${err.message}`);
      return EXIT_USAGE;
    }
    throw err;
  }
}

async function run(flags: ScanFlags, io: ScanIo): Promise<number> {
  const url = parseDsn(flags.dsn);
  if (!/^\d+$/.test(flags.sample.trim()) || Number(flags.sample) < 1 || Number(flags.sample) > 1_000_000) {
    throw new UsageError(`--sample must be a whole number of rows from 1 to 1000000, not ${JSON.stringify(flags.sample)}`);
  }
  const sampleSize = Number(flags.sample);
  let timeoutMs: number;
  try {
    timeoutMs = parseDuration(flags.timeout);
  } catch (err) {
    throw new UsageError(`--timeout: ${(err as Error).message}`);
  }
  if (timeoutMs <= 0) throw new UsageError('--timeout must be more than 0 (e.g. 30s)');
  const schemas = parseSchemas(flags.schemas);

  // Load the policy first: a broken policy should not cost a scan.
  let policy: Policy | undefined;
  if (flags.check) {
    try {
      policy = loadPolicy(flags.check);
    } catch (err) {
      if (!(err instanceof PolicyError)) throw err;
      for (const i of err.issues) io.err(`${i.where}: error: ${i.path ? `${i.path}: ` : ''}${i.message}`);
      throw new UsageError(`--check ${flags.check}: the policy is not valid`);
    }
  }

  const connection = { connectionString: flags.dsn, connectionTimeoutMillis: 10_000 };
  const scannedAt = new Date();
  let result: ScanResult;
  try {
    result = await scanDatabase({
      connection,
      schemas,
      sampleSize,
      statementTimeoutMs: timeoutMs,
      classify: classifyColumn,
      onProgress: flags.quiet ? undefined : progressBar(io),
    });
  } catch (err) {
    if (err instanceof ScanError) throw err;
    if (io.progress?.isTTY && !flags.quiet) io.progress.write('\r\x1b[K');
    throw new UsageError(`cannot scan ${describeDsn(url)}: ${errorText(err)}`);
  }

  const meta = { scannedAt, sampleSize, threshold: SENSITIVE_CONFIDENCE };
  const { sensitive } = splitColumns(result, SENSITIVE_CONFIDENCE);
  const needsCatalog = policy !== undefined || (flags.policyOut !== undefined && sensitive.some((c) => c.relationKind === 'view' || c.relationKind === 'matview'));
  let catalog: CatalogSnapshot | undefined;
  if (needsCatalog) {
    try {
      await loadParser();
      catalog = await loadCatalog(connection);
    } catch (err) {
      throw new UsageError(`cannot read the catalog of ${describeDsn(url)}: ${errorText(err)}`);
    }
  }

  const yamlText = catalogYaml(result, meta);
  if (flags.out) write(flags.out, yamlText);
  else io.out(yamlText.replace(/\n$/, ''));
  if (flags.policyOut) write(flags.policyOut, suggestPolicy(sensitive, { database: result.database, scannedAt }, catalog));

  if (!flags.quiet) summary(result, sensitive, flags, io);

  if (policy && catalog) {
    const coverage = checkCoverage(policy, catalog, sensitive);
    const missing = coverage.filter((c) => !c.covered);
    if (result.skipped.length) io.err(`pgveil scan: warning: ${result.skipped.length} relation(s) could not be sampled, so their columns were not checked`);
    if (missing.length === 0) {
      io.err(`pgveil scan: ${flags.check} covers all ${coverage.length} sensitive column${coverage.length === 1 ? '' : 's'} found`);
      return 0;
    }
    io.err(`pgveil scan: ${missing.length} sensitive column${missing.length === 1 ? ' is' : 's are'} not covered by ${flags.check}:`);
    for (const m of missing) io.err(`  ${columnLine(m.column)}`);
    return EXIT_UNCOVERED;
  }
  return 0;
}

/** One line about a failure; connection errors to several addresses come as an AggregateError with no message. */
function errorText(err: unknown): string {
  const e = err as { message?: string; code?: string; errors?: { message?: string }[] };
  return e.message || e.errors?.map((x) => x.message).filter(Boolean).join('; ') || e.code || String(err);
}

function write(file: string, text: string): void {
  try {
    writeFileSync(file, text);
  } catch (err) {
    throw new UsageError(`cannot write ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function columnLine(c: CatalogColumn): string {
  const f = c.findings[0];
  return `${c.key}  ${f.class}  ${f.confidence.toFixed(2)}${f.jsonPath ? `  ${f.jsonPath}` : ''}  (${c.relationKind}, ${c.dataType})`;
}

function summary(result: ScanResult, sensitive: readonly CatalogColumn[], flags: ScanFlags, io: ScanIo): void {
  const columns = result.relations.reduce((n, r) => n + r.columns.length, 0);
  io.err(
    `pgveil scan: ${result.database}: ${result.relations.length} relation${result.relations.length === 1 ? '' : 's'} sampled` +
      ` (${columns} columns), ${result.skipped.length} skipped; ${sensitive.length} column${sensitive.length === 1 ? '' : 's'} look sensitive`,
  );
  for (const c of sensitive) io.err(`  ${columnLine(c)}`);
  for (const s of result.skipped) io.err(`  skipped ${formatRelation(s)} (${s.kind})${s.sqlstate ? ` [${s.sqlstate}]` : ''}: ${s.reason}`);
  if (flags.out) io.err(`catalog written to ${flags.out}`);
  if (flags.policyOut) io.err(`suggested policy written to ${flags.policyOut} (check it with: pgveil policy check ${flags.policyOut} --dsn URL)`);
}
