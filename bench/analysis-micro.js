#!/usr/bin/env node
// In-process micro-benchmark of pgveil's per-statement analysis (dist/ build):
// analyzeSql on a cache hit and a miss, and the screen fast path, on a
// synthetic catalog with policies/example.yaml. Prints one JSON line.
// Run by bench/run.js (BENCH_MASKING_ONLY=1 npm run bench), or alone:
//
//   node bench/analysis-micro.js [--batches N] [--pretty]
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => import(path.join(ROOT, 'dist', p));
const { analyzeSql } = await dist('sql/analyze.js');
const { loadParser } = await dist('sql/parse.js');
const { CatalogSnapshot } = await dist('catalog/snapshot.js');
const { screen, isHarmlessRead } = await dist('gate/screen.js');
const { parsePolicy } = await dist('policy/index.js');

const args = process.argv.slice(2);
const BATCHES = Number(args[args.indexOf('--batches') + 1]) > 0 && args.includes('--batches') ? Number(args[args.indexOf('--batches') + 1]) : 7;
const HIT_ITER = 20_000; // per batch, cache hits and screen calls
const MISS_ITER = 500; // per batch, unique statement texts (each one parsed)

await loadParser();
const policyFile = path.join(ROOT, 'policies', 'example.yaml');
const policy = parsePolicy(readFileSync(policyFile, 'utf8'), policyFile);

const col = (attnum, name, typeOid) => ({ attnum, name, typeOid });
const T = 25, I4 = 23, I8 = 20, NUM = 1700, TS = 1184, DATE = 1082, BOOL = 16;
// app.users carries the example policy's sensitive columns; the rest is ordinary.
const catalog = new CatalogSnapshot({
  relations: [
    { oid: 16401, schema: 'app', name: 'users', kind: 'table', ancestors: [], columns: [
      col(1, 'id', I8), col(2, 'full_name', T), col(3, 'email', T), col(4, 'ssn', T), col(5, 'card_number', T),
      col(6, 'salary', NUM), col(7, 'birth_date', DATE), col(8, 'notes', T), col(9, 'created_at', TS)] },
    { oid: 16402, schema: 'app', name: 'orders', kind: 'table', ancestors: [], columns: [
      col(1, 'id', I8), col(2, 'user_id', I8), col(3, 'status', T), col(4, 'total', NUM), col(5, 'placed_at', TS)] },
    { oid: 16403, schema: 'app', name: 'order_items', kind: 'table', ancestors: [], columns: [
      col(1, 'order_id', I8), col(2, 'product_id', I8), col(3, 'quantity', I4), col(4, 'price', NUM)] },
    { oid: 16404, schema: 'app', name: 'products', kind: 'table', ancestors: [], columns: [
      col(1, 'id', I8), col(2, 'sku', T), col(3, 'name', T), col(4, 'price', NUM), col(5, 'active', BOOL)] },
    { oid: 16405, schema: 'public', name: 'pgbench_accounts', kind: 'table', ancestors: [], columns: [
      col(1, 'aid', I4), col(2, 'bid', I4), col(3, 'abalance', I4), col(4, 'filler', 1042)] },
    { oid: 16406, schema: 'app', name: 'v_order_totals', kind: 'view', ancestors: [], columns: [
      col(1, 'user_id', I8), col(2, 'n', I8), col(3, 'sum', NUM)],
      viewDefinition: ' SELECT orders.user_id, count(*) AS n, sum(orders.total) AS sum FROM app.orders GROUP BY orders.user_id' },
  ],
  memberships: {},
  functions: [],
  domainBase: {},
});

// {n} is replaced by a number: a fixed one for hits, a fresh one per call for misses.
const STATEMENTS = [
  { name: 'pgbench -S', sql: 'SELECT abalance FROM pgbench_accounts WHERE aid = {n}' },
  { name: 'simple SELECT', sql: 'SELECT id, sku, name, price FROM app.products WHERE active AND id = {n}' },
  { name: 'join (sensitive)', sql: 'SELECT o.id, o.total, u.full_name, u.email FROM app.orders o JOIN app.users u ON u.id = o.user_id WHERE o.placed_at > now() - interval \'{n} days\' ORDER BY o.placed_at DESC LIMIT 50' },
  { name: 'CTE', sql: 'WITH recent AS (SELECT user_id, sum(total) AS spent FROM app.orders WHERE placed_at > now() - interval \'{n} days\' GROUP BY user_id) SELECT p.id, p.name, r.spent FROM recent r JOIN app.order_items i ON i.order_id = r.user_id JOIN app.products p ON p.id = i.product_id ORDER BY r.spent DESC LIMIT 20' },
  { name: 'ORM ($1 params)', sql: 'SELECT "t0"."id", "t0"."user_id", "t0"."status", "t0"."total", "t0"."placed_at" FROM "app"."orders" AS "t0" WHERE ("t0"."user_id" = $1 AND "t0"."status" = ANY($2)) ORDER BY "t0"."placed_at" DESC LIMIT $3 OFFSET {n}' },
];

const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};

/**
 * A fresh string object per call, as the proxy gets one decoded from each
 * message (a reused string would carry a cached hash and flatter the Map lookup).
 */
function fresh(text, count) {
  const buf = Buffer.from(text, 'utf8');
  const out = new Array(count);
  for (let i = 0; i < count; i++) out[i] = buf.toString('utf8');
  return out;
}

let seq = 1_000_000;
function unique(template, count) {
  const out = new Array(count);
  for (let i = 0; i < count; i++) out[i] = template.replace('{n}', String(seq++));
  return out;
}

/** µs per call: median over batches, each timed over `texts()` with process.hrtime.bigint. */
function measure(texts, fn) {
  const per = [];
  let sink = 0;
  for (let b = 0; b < BATCHES + 1; b++) {
    const input = texts();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < input.length; i++) if (fn(input[i])) sink++;
    const ns = Number(process.hrtime.bigint() - t0);
    if (b > 0) per.push(ns / input.length / 1000); // batch 0 is warm-up
  }
  return { median: median(per), min: Math.min(...per), max: Math.max(...per), sink };
}

const ok = (r) => r.ok === true;
// Warm the parser and analyzer (JIT) on every statement before measuring any.
for (let k = 0; k < 3; k++) for (const s of STATEMENTS) for (const t of unique(s.sql, 300)) analyzeSql(t, catalog);
const results = [];
for (const s of STATEMENTS) {
  const fixed = s.sql.replace('{n}', '7');
  const first = analyzeSql(fixed, catalog);
  if (!first.ok) throw new Error(`${s.name}: ${first.error}`);
  const harmless = isHarmlessRead(fixed, catalog, policy);
  results.push({
    name: s.name,
    sql: fixed,
    screenPasses: harmless,
    analyzeHitUs: measure(() => fresh(fixed, HIT_ITER), (t) => ok(analyzeSql(t, catalog))).median,
    analyzeMissUs: measure(() => unique(s.sql, MISS_ITER), (t) => ok(analyzeSql(t, catalog))).median,
    screenHitUs: measure(() => fresh(fixed, HIT_ITER), (t) => screen(t, catalog, policy)).median,
    screenMissUs: measure(() => unique(s.sql, HIT_ITER), (t) => screen(t, catalog, policy)).median,
  });
}
const out = { batches: BATCHES, hitIterations: HIT_ITER, missIterations: MISS_ITER, node: process.version, statements: results };
process.stdout.write((args.includes('--pretty') ? JSON.stringify(out, null, 2) : JSON.stringify(out)) + '\n');
