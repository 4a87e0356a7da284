#!/usr/bin/env node
// Reads a whole table through a node-postgres cursor (pg-cursor) in batches and
// prints {"rows":N,"ms":T,"first":{...}} on stdout. Run as a child of bench/run.js
// so the client's CPU is not the bench driver's.
//
//   node bench/stream-cursor.js HOST PORT USER DATABASE TABLE [BATCH] [binary]
//   (password, if any, in PGPASSWORD)
//
// With `binary`, every result column is requested in binary format (the Bind
// message's result-format code 1, what `new pg.Client({ binary: true })` sends
// for plain queries; pg-cursor does not pass that option on, so the connection's
// bind() is wrapped here) and node-postgres decodes the binary values.
import pg from 'pg';
import Cursor from 'pg-cursor';

const [host, port, user, database, table, batchArg, format] = process.argv.slice(2);
const batch = Number(batchArg || 10000);
const binary = format === 'binary';

const client = new pg.Client({
  host,
  port: Number(port),
  user,
  database,
  password: process.env.PGPASSWORD || undefined,
  ssl: false,
  binary,
});

const t0 = process.hrtime.bigint();
await client.connect();
if (binary) {
  const con = client.connection;
  const bind = con.bind.bind(con);
  con.bind = (config, more) => bind({ ...config, binary: true }, more);
}
const cursor = client.query(new Cursor(`SELECT * FROM ${table}`));
let rows = 0;
let first;
let formats;
for (;;) {
  const got = await cursor.read(batch);
  if (got.length === 0) break;
  if (first === undefined) {
    first = got[0];
    formats = [...new Set((cursor._result?.fields ?? []).map((f) => f.format))];
  }
  rows += got.length;
}
await cursor.close();
const ms = Number(process.hrtime.bigint() - t0) / 1e6;
await client.end();
process.stdout.write(JSON.stringify({ rows, ms, formats, first }) + '\n');
