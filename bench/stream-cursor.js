#!/usr/bin/env node
// Reads a whole table through a node-postgres cursor (pg-cursor) in batches and
// prints {"rows":N,"ms":T} on stdout. Run as a child of bench/run.js so the
// client's CPU is not the bench driver's.
//
//   node bench/stream-cursor.js HOST PORT USER DATABASE TABLE [BATCH]
//   (password, if any, in PGPASSWORD)
import pg from 'pg';
import Cursor from 'pg-cursor';

const [host, port, user, database, table, batchArg] = process.argv.slice(2);
const batch = Number(batchArg || 10000);

const client = new pg.Client({
  host,
  port: Number(port),
  user,
  database,
  password: process.env.PGPASSWORD || undefined,
  ssl: false,
});

const t0 = process.hrtime.bigint();
await client.connect();
const cursor = client.query(new Cursor(`SELECT * FROM ${table}`));
let rows = 0;
for (;;) {
  const got = await cursor.read(batch);
  if (got.length === 0) break;
  rows += got.length;
}
await cursor.close();
const ms = Number(process.hrtime.bigint() - t0) / 1e6;
await client.end();
process.stdout.write(JSON.stringify({ rows, ms }) + '\n');
