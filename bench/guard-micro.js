#!/usr/bin/env node
// In-process micro-benchmark of the per-transaction JavaScript a loaded policy
// adds: the protocol guard (src/proxy/guard.ts) with a PolicyGate and the
// example policy judging pgbench -S traffic (which touches no sensitive
// column), fed the messages of one transaction at a time as the session would.
// Prints µs per transaction for -M simple (a new literal every time), -M
// extended and -M prepared. Needs dist/ (npm run build).
//
//   node bench/guard-micro.js [--tx N]
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => import(path.join(ROOT, 'dist', p));
const { Guard } = await dist('proxy/guard.js');
const { PolicyGate } = await dist('gate/policy-gate.js');
const { analyzeSql } = await dist('sql/analyze.js');
const { loadParser } = await dist('sql/parse.js');
const { CatalogSnapshot } = await dist('catalog/snapshot.js');
const { screen, HARMLESS_READ } = await dist('gate/screen.js');
const { parsePolicy } = await dist('policy/index.js');
const { OutputArena } = await dist('wire/arena.js');

const args = process.argv.slice(2);
const TX = args.includes('--tx') ? Number(args[args.indexOf('--tx') + 1]) : 200_000;

await loadParser();
const policyFile = path.join(ROOT, 'policies', 'example.yaml');
const policy = parsePolicy(readFileSync(policyFile, 'utf8'), policyFile);
const catalog = new CatalogSnapshot({
  relations: [
    { oid: 16405, schema: 'public', name: 'pgbench_accounts', kind: 'table', ancestors: [], columns: [
      { attnum: 1, name: 'aid', typeOid: 23 }, { attnum: 2, name: 'bid', typeOid: 23 }, { attnum: 3, name: 'abalance', typeOid: 23 }, { attnum: 4, name: 'filler', typeOid: 1042 }] },
  ],
  memberships: {},
  functions: [],
  domainBase: {},
});

// ---- messages ----
const msg = (type, body) => {
  const b = Buffer.alloc(5 + body.length);
  b[0] = type.charCodeAt(0);
  b.writeUInt32BE(4 + body.length, 1);
  body.copy(b, 5);
  return b;
};
const cstr = (s) => Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]);
const i16 = (n) => { const b = Buffer.alloc(2); b.writeInt16BE(n); return b; };
const i32 = (n) => { const b = Buffer.alloc(4); b.writeInt32BE(n); return b; };
const SQL = 'SELECT abalance FROM pgbench_accounts WHERE aid = ';
const rowDescription = msg('T', Buffer.concat([i16(1), cstr('abalance'), i32(16405), i16(3), i32(23), i16(4), i32(-1), i16(0)]));
const dataRow = msg('D', Buffer.concat([i16(1), i32(1), Buffer.from('0')]));
const commandComplete = msg('C', cstr('SELECT 1'));
const ready = msg('Z', Buffer.from('I'));
const parseComplete = msg('1', Buffer.alloc(0));
const bindComplete = msg('2', Buffer.alloc(0));
const parse = msg('P', Buffer.concat([cstr('P0_1'), cstr(`${SQL}$1`), i16(1), i32(23)]));
const describe = msg('D', Buffer.concat([Buffer.from('S'), cstr('P0_1')]));
const paramDescription = msg('t', Buffer.concat([i16(1), i32(23)]));
const sync = msg('S', Buffer.alloc(0));
const bind = (aid) => msg('B', Buffer.concat([cstr(''), cstr('P0_1'), i16(0), i16(1), i32(String(aid).length), Buffer.from(String(aid)), i16(0)]));
const execute = msg('E', Buffer.concat([cstr(''), i32(0)]));

// ---- a guard wired as the session wires it (sockets replaced by counters) ----
function newGuard() {
  const gate = new PolicyGate({
    policy: () => policy,
    catalog: () => catalog,
    identity: () => ({ user: 'bench', roles: [] }),
    grants: () => [],
    now: () => new Date(),
    hashKey: () => undefined,
  });
  let sent = 0;
  const arena = new OutputArena(() => undefined);
  const guard = new Guard({
    toUpstream: (b) => { sent += b.length; },
    toClient: (b) => { sent += b.length; },
    clientArena: () => arena,
    commitClientArena: () => arena.take(),
    setServerRules: () => undefined,
    setClientRules: () => undefined,
    gate: () => gate,
    analyze: (sql) => (screen(sql, catalog, policy) ? HARMLESS_READ : analyzeSql(sql, catalog)),
  });
  return { guard, sent: () => sent };
}

// What the session hands the guard per message: inspected (held) or observed (already forwarded).
// Messages are built before timing; aids vary (a new literal per simple query, as pgbench sends).
const VARIANTS = 50_000; // more than the screen remembers (10,000): mostly misses, as with pgbench's random aids
const queries = Array.from({ length: VARIANTS }, (_, i) => msg('Q', cstr(`${SQL}${1 + ((i * 7919) % 1_000_000)}`)));
const binds = Array.from({ length: VARIANTS }, (_, i) => bind(1 + ((i * 7919) % 1_000_000)));

function simpleTx(g, i) {
  // A fresh Buffer per message, as each comes from a socket read.
  const q = Buffer.from(queries[i % VARIANTS]);
  g.clientMessage(0x51, q);
  g.serverMessage(0x54, rowDescription, true);
  g.serverMessage(0x43, commandComplete, true);
  g.serverMessage(0x5a, ready, true);
}

function preparedTx(g, i) {
  g.clientMessage(0x42, Buffer.from(binds[i % VARIANTS]), true);
  g.clientMessage(0x45, execute, true);
  g.clientMessage(0x53, sync, true);
  g.serverMessage(0x32, bindComplete, true);
  g.serverMessage(0x43, commandComplete, true);
  g.serverMessage(0x5a, ready, true);
}

// -M extended: the unnamed statement parsed again for every transaction.
const parseUnnamed = msg('P', Buffer.concat([cstr(''), cstr(`${SQL}$1`), i16(0)]));
const bindUnnamed = Array.from({ length: VARIANTS }, (_, i) => {
  const aid = String(1 + ((i * 7919) % 1_000_000));
  return msg('B', Buffer.concat([cstr(''), cstr(''), i16(0), i16(1), i32(aid.length), Buffer.from(aid), i16(0)]));
});
const describePortal = msg('D', Buffer.concat([Buffer.from('P'), cstr('')]));

function extendedTx(g, i) {
  g.clientMessage(0x50, Buffer.from(parseUnnamed));
  g.clientMessage(0x42, Buffer.from(bindUnnamed[i % VARIANTS]), true);
  g.clientMessage(0x44, describePortal, true);
  g.clientMessage(0x45, execute, true);
  g.clientMessage(0x53, sync, true);
  g.serverMessage(0x31, parseComplete, true);
  g.serverMessage(0x32, bindComplete, true);
  g.serverMessage(0x54, Buffer.from(rowDescription), true);
  g.serverMessage(0x43, commandComplete, true);
  g.serverMessage(0x5a, ready, true);
}

function measure(name, setup, tx) {
  const { guard } = newGuard();
  setup(guard);
  const per = [];
  for (let round = 0; round < 6; round++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < TX / 5; i++) tx(guard, i);
    if (round > 0) per.push(Number(process.hrtime.bigint() - t0) / (TX / 5) / 1000);
  }
  per.sort((a, b) => a - b);
  return { name, usPerTx: Number(per[per.length >> 1].toFixed(3)) };
}

const results = [
  measure('simple (Q, T, C, Z)', () => undefined, simpleTx),
  measure('extended (P, B, D, E, S, 1, 2, T, C, Z)', () => undefined, extendedTx),
  measure('prepared (B, E, S, 2, C, Z)', (g) => {
    g.clientMessage(0x50, parse);
    g.clientMessage(0x44, describe, true);
    g.clientMessage(0x53, sync, true);
    g.serverMessage(0x31, parseComplete, true);
    g.serverMessage(0x74, paramDescription, true);
    g.serverMessage(0x54, rowDescription, true);
    g.serverMessage(0x5a, ready, true);
  }, preparedTx),
];
process.stdout.write(JSON.stringify({ node: process.version, tx: TX, results }) + '\n');
