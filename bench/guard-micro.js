#!/usr/bin/env node
// In-process micro-benchmark of the per-transaction JavaScript a loaded policy
// adds on traffic that touches no sensitive column: pgbench -S transactions fed
// as wire chunks through the session's own layers (the framer, the batched
// writers and, with a policy, the protocol guard with a PolicyGate, the
// example policy and a synthetic catalog), sockets replaced by sinks. Each
// mode runs without a policy (the pass-through path) and with one, side by
// side in one process; prints µs per transaction for both and the difference.
// Needs dist/ (npm run build).
//
//   node bench/guard-micro.js [--tx N]
//
// It leaves out the kernel and the event loop, and runs hot in the CPU's
// caches: the real per-transaction difference (bench/run.js, "CPU µs/tx") is
// several times larger. Use it to compare changes, not as the real cost.
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
const { SessionScreen, HARMLESS_READ } = await dist('gate/screen.js');
const { parsePolicy } = await dist('policy/index.js');
const { Framer, Rule, ruleTable } = await dist('wire/framer.js');
const { BatchedWriter } = await dist('proxy/batched-writer.js');
const { FRONTEND_TYPES } = await dist('wire/messages.js');

const args = process.argv.slice(2);
const TX = args.includes('--tx') ? Number(args[args.indexOf('--tx') + 1]) : 20_000;
const ROUNDS = 7;

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
const sync = msg('S', Buffer.alloc(0));
const execute = msg('E', Buffer.concat([cstr(''), i32(0)]));
const bind = (statement, aid) => msg('B', Buffer.concat([cstr(''), cstr(statement), i16(0), i16(1), i32(String(aid).length), Buffer.from(String(aid)), i16(0)]));
// pgbench's random aids: a new literal per simple query, a new parameter per Bind.
const aid = (i) => 1 + ((i * 7919) % 1_000_000);
const VARIANTS = 20_000;

const MODES = {
  'simple (Q | T D C Z)': {
    client: Array.from({ length: VARIANTS }, (_, i) => msg('Q', cstr(`${SQL}${aid(i)}`))),
    server: Buffer.concat([rowDescription, dataRow, commandComplete, ready]),
  },
  'extended (P B D E S | 1 2 T D C Z)': {
    client: Array.from({ length: VARIANTS }, (_, i) =>
      Buffer.concat([msg('P', Buffer.concat([cstr(''), cstr(`${SQL}$1`), i16(0)])), bind('', aid(i)), msg('D', Buffer.concat([Buffer.from('P'), cstr('')])), execute, sync])),
    server: Buffer.concat([parseComplete, bindComplete, rowDescription, dataRow, commandComplete, ready]),
  },
  'prepared (B E S | 2 D C Z)': {
    setup: [
      Buffer.concat([msg('P', Buffer.concat([cstr('P0_1'), cstr(`${SQL}$1`), i16(1), i32(23)])), msg('D', Buffer.concat([Buffer.from('S'), cstr('P0_1')])), sync]),
      Buffer.concat([parseComplete, msg('t', Buffer.concat([i16(1), i32(23)])), rowDescription, ready]),
    ],
    client: Array.from({ length: VARIANTS }, (_, i) => Buffer.concat([bind('P0_1', aid(i)), execute, sync])),
    server: Buffer.concat([bindComplete, dataRow, commandComplete, ready]),
  },
};

// ---- the session's layers, wired as src/proxy/session.ts wires them ----
const JUDGEMENT = {};
const socket = { write: () => true };
function newProxy(withPolicy) {
  const toUpstream = new BatchedWriter(() => socket, () => undefined);
  const toClient = new BatchedWriter(() => socket, () => undefined);
  let guard;
  let pendingReady = 0;
  let last;
  const sessionScreen = new SessionScreen();
  // The request being handled (its message and where its text lies), as the session keeps it for the screen.
  let request = { sql: '', message: undefined, start: 0, end: 0 };
  const analyze = (sql) => {
    if (last?.sql === sql) return last.result;
    const bytes = sql === request.sql ? request.message : undefined;
    const result = sessionScreen.passes(sql, catalog, policy, bytes, request.start, request.end) ? HARMLESS_READ : analyzeSql(sql, catalog);
    last = { sql, result };
    return result;
  };
  const statementText = (type, m) => {
    let start = 5;
    let end = m.length - 1;
    if (type !== 0x51) {
      start = m.indexOf(0, 5) + 1;
      end = m.indexOf(0, start);
    }
    const sql = m.toString('utf8', start, end);
    request = { sql, message: m, start, end };
    return sql;
  };
  const clientFramer = new Framer({
    forward: (chunk, start, end) => toUpstream.writeRange(chunk, start, end),
    observe: (type, chunk, start, end) => (guard ? guard.clientObserved(type, chunk, start, end) : pendingReady++),
    inspect: (type, m) => {
      // As the session: Query and Parse are analyzed (and their text decoded) first.
      if (type !== 0x51 && type !== 0x50) return guard.clientMessage(type, m);
      const sql = statementText(type, m);
      analyze(sql);
      guard.clientMessage(type, m, false, sql);
    },
    violation: (reason) => { throw new Error(reason); },
  }, ruleTable({ [FRONTEND_TYPES]: Rule.Forward, SQFX: Rule.Observe }), 1 << 30);
  const upstreamFramer = new Framer({
    forward: (chunk, start, end) => toClient.writeRange(chunk, start, end),
    observe: (type, chunk, start, end) => {
      if (!guard) pendingReady--;
      else if (type === 0x54) guard.serverMessage(type, chunk.subarray(start, end), true);
      else guard.serverObserved(type, chunk, start, end);
    },
    inspect: (type, m) => guard.serverMessage(type, m, false),
    rewrite: (chunk, start, end) => guard.rows(chunk, start, end),
    violation: (reason) => { throw new Error(reason); },
  }, ruleTable({ Z: Rule.Observe, A: Rule.Inspect }, Rule.Forward), 1 << 30);
  if (withPolicy) {
    const gate = new PolicyGate({
      policy: () => policy,
      catalog: () => catalog,
      identity: () => ({ user: 'bench', roles: [] }),
      grants: () => [],
      now: () => new Date(),
      hashKey: () => undefined,
    });
    guard = new Guard({
      toUpstream: (b) => toUpstream.write(b),
      toClient: (b) => toClient.write(b),
      clientArena: () => toClient.arena,
      commitClientArena: () => toClient.commitArena(),
      setServerRules: (rules) => { upstreamFramer.rules = rules; },
      setClientRules: (rules) => { clientFramer.rules = rules; },
      gate: () => gate,
      analyze,
      // Catalog and policy never change here: one judgement for the whole run.
      judgement: () => JUDGEMENT,
    });
  }
  return {
    /** Bytes handed to the client: with nothing refused or rewritten, all the server sent. */
    toClientBytes: () => toClient.bytesWritten,
    // Each chunk a fresh Buffer, as it comes from a socket read.
    fromClient: (chunk) => { toUpstream.begin(); clientFramer.push(Buffer.from(chunk)); toUpstream.end(); },
    fromServer: (chunk) => { toClient.begin(); upstreamFramer.push(Buffer.from(chunk)); toClient.end(); },
  };
}

function measure(mode, withPolicy) {
  const proxy = newProxy(withPolicy);
  if (mode.setup) {
    proxy.fromClient(mode.setup[0]);
    proxy.fromServer(mode.setup[1]);
  }
  const per = [];
  for (let round = 0; round < ROUNDS; round++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < TX; i++) {
      proxy.fromClient(mode.client[i % VARIANTS]);
      proxy.fromServer(mode.server);
    }
    if (round > 1) per.push(Number(process.hrtime.bigint() - t0) / TX / 1000);
  }
  // The statements touch no sensitive column: every byte must pass unchanged (no refusal, no mask).
  const expected = (mode.setup ? mode.setup[1].length : 0) + ROUNDS * TX * mode.server.length;
  if (proxy.toClientBytes() !== expected) throw new Error(`guard-micro: ${proxy.toClientBytes()} bytes reached the client, expected ${expected}`);
  per.sort((a, b) => a - b);
  return per[per.length >> 1];
}

const results = [];
for (const [name, mode] of Object.entries(MODES)) {
  const plain = measure(mode, false);
  const withPolicy = measure(mode, true);
  results.push({ name, usPerTxNoPolicy: +plain.toFixed(3), usPerTxPolicy: +withPolicy.toFixed(3), usPerTxAdded: +(withPolicy - plain).toFixed(3) });
}
process.stdout.write(JSON.stringify({ node: process.version, tx: TX, rounds: ROUNDS, results }) + '\n');
