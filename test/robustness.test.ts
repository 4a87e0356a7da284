/**
 * Robustness of the in-process proxy: malformed input, limits, timeouts,
 * cancel, vanished clients and a seeded fuzz run. Every bad input must end in
 * a FATAL ErrorResponse and a closed connection for that client only: an
 * already-open session keeps working and the proxy keeps accepting.
 */
import { backendsRunning, pollUntil } from './support/wait.js';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { RawConnection, fields, message, query } from './support/raw.js';
import { pgInfo, startProxy, superConfig, withClient, type RunningProxy } from './support/proxy.js';
import { freePort } from './support/net.js';
import { AUTH_USERS } from './support/pg-info.js';
import { prng } from '../src/util/prng.js';

const TRUST = AUTH_USERS.trust.user;
const PROTOCOL_3_0 = 196608;
const CANCEL_REQUEST_CODE = 80877102;

// ---- process-wide guards ------------------------------------------------------

const unexpected: unknown[] = [];
const onUnexpected = (err: unknown) => {
  unexpected.push(err);
};

// ---- resources closed in afterAll ---------------------------------------------

const proxies: RunningProxy[] = [];
const clients: pg.Client[] = [];
const raws: RawConnection[] = [];
let admin: pg.Client;

async function proxyWith(overrides: Parameters<typeof startProxy>[0] = {}): Promise<RunningProxy> {
  const px = await startProxy(overrides);
  proxies.push(px);
  return px;
}

function trustConfig(port: number): pg.ClientConfig {
  return { host: '127.0.0.1', port, user: TRUST, database: 'postgres' };
}

/** A pg client through the proxy as the trust user; errors after connect are swallowed (tests look at query results). */
async function pgClient(port: number): Promise<pg.Client> {
  const c = new pg.Client(trustConfig(port));
  c.on('error', () => undefined);
  clients.push(c);
  await c.connect();
  return c;
}

async function rawConnect(port: number): Promise<RawConnection> {
  const r = await RawConnection.connect(port);
  raws.push(r);
  return r;
}

/** Raw connection that completed startup + trust auth (ReadyForQuery seen). */
async function rawAuthed(port: number): Promise<RawConnection> {
  const r = await rawConnect(port);
  r.startup({ user: TRUST, database: 'postgres' });
  const z = await r.until('Z', 10_000);
  if (!z) throw new Error(`connection closed during startup: ${r.messages.map((m) => m.type).join('')}`);
  return r;
}

function startupPacket(length: number, code: number, body: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(length >>> 0, 0);
  head.writeUInt32BE(code >>> 0, 4);
  return Buffer.concat([head, body]);
}

function v3Startup(params: Record<string, string>): Buffer {
  const body = Buffer.concat([...Object.entries(params).map(([k, v]) => Buffer.from(`${k}\0${v}\0`)), Buffer.from([0])]);
  return startupPacket(8 + body.length, PROTOCOL_3_0, body);
}

/** Header of a typed message with an arbitrary (possibly lying) length. */
function header(type: number | string, length: number): Buffer {
  const out = Buffer.alloc(5);
  out[0] = typeof type === 'string' ? type.charCodeAt(0) : type;
  out.writeUInt32BE(length >>> 0, 1);
  return out;
}

/** The client must get a FATAL ErrorResponse with `code` and then be disconnected. */
async function expectFatal(r: RawConnection, code: string, timeoutMs = 5_000): Promise<Record<string, string>> {
  const types = () => r.messages.map((m) => m.type).join('');
  const e = await r.until('E', timeoutMs);
  expect(e, `expected an ErrorResponse; connection closed after '${types()}'`).toBeDefined();
  const f = fields((e as { body: Buffer }).body);
  expect({ S: f.S, C: f.C }, `ErrorResponse was ${JSON.stringify(f)}`).toEqual({ S: 'FATAL', C: code });
  await r.waitClosed(5_000);
  return f;
}

/** The already-open session still answers and a new session is still accepted. */
async function expectHealthy(px: RunningProxy, bystander: pg.Client): Promise<void> {
  const r = await bystander.query('select 41 + 1 as v');
  expect(r.rows).toEqual([{ v: 42 }]);
  const fresh = await withClient(trustConfig(px.port), (c) => c.query('select current_user as u'));
  expect(fresh.rows).toEqual([{ u: TRUST }]);
}



async function terminateTagged(prefix: string): Promise<void> {
  await admin
    .query('select pg_terminate_backend(pid) from pg_stat_activity where pid <> pg_backend_pid() and strpos(query, $1) > 0', [prefix])
    .catch(() => undefined);
}

function cancelPacket(pid: number, key: Buffer): Buffer {
  const out = Buffer.alloc(12 + key.length);
  out.writeUInt32BE(12 + key.length, 0);
  out.writeUInt32BE(CANCEL_REQUEST_CODE, 4);
  out.writeUInt32BE(pid >>> 0, 8);
  key.copy(out, 12);
  return out;
}

/** Sends a CancelRequest on a fresh connection and waits for the proxy to close it. */
function sendCancel(port: number, pid: number, key: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => s.write(cancelPacket(pid, key)));
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('proxy did not close the cancel connection within 5 s'));
    }, 5_000);
    s.on('data', () => undefined);
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** BackendKeyData a pg client received (the proxy's, not the server's). */
function keyOf(c: pg.Client): { pid: number; key: Buffer } {
  const internals = c as unknown as { processID: number | null; secretKey: number | null };
  if (internals.processID === null || internals.secretKey === null) throw new Error('client has no BackendKeyData');
  const key = Buffer.alloc(4);
  key.writeInt32BE(internals.secretKey, 0);
  return { pid: internals.processID, key };
}

function errorCode(err: unknown): string | undefined {
  return (err as { code?: string } | undefined)?.code;
}

beforeAll(async () => {
  process.on('uncaughtException', onUnexpected);
  process.on('unhandledRejection', onUnexpected);
  admin = new pg.Client(superConfig());
  admin.on('error', () => undefined);
  await admin.connect();
});

afterAll(async () => {
  for (const r of raws) r.close();
  await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  await Promise.all(proxies.map((p) => p.stop()));
  await terminateTagged('rob_');
  await admin.end().catch(() => undefined);
  process.off('uncaughtException', onUnexpected);
  process.off('unhandledRejection', onUnexpected);
  expect(unexpected, 'uncaught exceptions / unhandled rejections during the file').toEqual([]);
});

// ---------------------------------------------------------------------------------

describe('bad input ends only the offending session (FATAL 08P01)', () => {
  let px: RunningProxy;
  let small: RunningProxy;
  let bystander: pg.Client;
  let smallBystander: pg.Client;

  beforeAll(async () => {
    px = await proxyWith();
    small = await proxyWith({ maxMessageSize: 1024 });
    bystander = await pgClient(px.port);
    smallBystander = await pgClient(small.port);
  });

  it.each([10_001, 20_000, 0x7fffffff])('startup packet length %i (> 10000)', async (length) => {
    const r = await rawConnect(px.port);
    r.write(startupPacket(length, PROTOCOL_3_0, Buffer.from('user\0pv_trust\0\0')));
    const f = await expectFatal(r, '08P01');
    expect(f.M).toContain('startup packet');
    await expectHealthy(px, bystander);
  });

  it.each([0, 4, 7])('startup packet length %i (< 8)', async (length) => {
    const r = await rawConnect(px.port);
    r.write(startupPacket(length, PROTOCOL_3_0));
    await expectFatal(r, '08P01');
    await expectHealthy(px, bystander);
  });

  it.each([
    [2, 0],
    [9, 9],
    [1, 0],
  ])('unsupported protocol version %i.%i', async (major, minor) => {
    const r = await rawConnect(px.port);
    const body = Buffer.from(`user\0${TRUST}\0database\0postgres\0\0`);
    r.write(startupPacket(8 + body.length, (major << 16) | minor, body));
    const f = await expectFatal(r, '08P01');
    expect(f.M).toContain(`${major}.${minor}`);
    await expectHealthy(px, bystander);
  });

  it("unknown message type 'z' after authentication", async () => {
    const r = await rawAuthed(px.port);
    r.write(message('z', Buffer.from('hello\0')));
    const f = await expectFatal(r, '08P01');
    expect(f.M).toMatch(/invalid message type/);
    await expectHealthy(px, bystander);
  });

  it('message longer than maxMessageSize (1024): Query claiming 1,000,000 bytes', async () => {
    const r = await rawAuthed(small.port);
    // A message just under the limit still goes through.
    const sql = `select '${'a'.repeat(900)}' as v`;
    expect(query(sql).length).toBeLessThan(1024);
    r.write(query(sql));
    const d = await r.until('D');
    expect(d?.body.length).toBeGreaterThan(900);
    await r.until('Z');
    r.write(Buffer.concat([header('Q', 1_000_000), Buffer.alloc(200, 0x61)]));
    const f = await expectFatal(r, '08P01');
    expect(f.M).toMatch(/length/);
    await expectHealthy(small, smallBystander);
  });

  it.each([0, 1, 3])('message length field %i (< 4)', async (length) => {
    const r = await rawAuthed(px.port);
    r.write(Buffer.concat([header('Q', length), Buffer.from('select 1\0')]));
    await expectFatal(r, '08P01');
    await expectHealthy(px, bystander);
  });

  it.each([
    ['0xff bytes', Buffer.alloc(64, 0xff)],
    ['text', Buffer.from('this is not a protocol message at all\r\n')],
    ['NUL bytes', Buffer.alloc(32, 0)],
  ])('garbage (%s) in the same packet right after the startup message', async (_name, garbage) => {
    const r = await rawConnect(px.port);
    r.write(Buffer.concat([v3Startup({ user: TRUST, database: 'postgres' }), garbage]));
    await expectFatal(r, '08P01');
    await expectHealthy(px, bystander);
  });

  it('garbage sent right after startup, before authentication completes', async () => {
    const r = await rawConnect(px.port);
    r.write(v3Startup({ user: TRUST, database: 'postgres' }));
    r.write(Buffer.from('\x01\x02\x03 garbage garbage garbage'));
    await expectFatal(r, '08P01');
    await expectHealthy(px, bystander);
  });

  it('Terminate without closing the socket: the proxy closes the connection, as PostgreSQL does', async () => {
    // Baseline: PostgreSQL itself closes the connection after 'X'.
    const direct = await RawConnection.connect(pgInfo().port, pgInfo().host);
    raws.push(direct);
    direct.startup({ user: TRUST, database: 'postgres' });
    await direct.until('Z');
    direct.write(message('X'));
    await direct.waitClosed(3_000);

    const before = px.proxy.sessionCount;
    const r = await rawAuthed(px.port);
    expect(px.proxy.sessionCount).toBe(before + 1);
    r.write(message('X'));
    await r.waitClosed(3_000);
    await pollUntil('session count back to its previous value', () => px.proxy.sessionCount === before, 3_000);
    await expectHealthy(px, bystander);
  });
});

describe('upstream unreachable', () => {
  it('FATAL 08006 naming the upstream host:port, and the proxy keeps accepting', async () => {
    const deadPort = await freePort();
    const px = await proxyWith({ upstreamUrl: `postgres://127.0.0.1:${deadPort}?sslmode=disable` });
    for (let attempt = 0; attempt < 3; attempt++) {
      const r = await rawConnect(px.port);
      r.startup({ user: TRUST, database: 'postgres' });
      const f = await expectFatal(r, '08006');
      expect(f.M).toContain(`127.0.0.1:${deadPort}`);
    }
  });

  it('a driver refused with 08006 frees its connection slot at once (maxConnections 1: the next client also gets 08006, not 53300)', async () => {
    const deadPort = await freePort();
    const px = await proxyWith({ upstreamUrl: `postgres://127.0.0.1:${deadPort}?sslmode=disable`, maxConnections: 1 });
    const codes: (string | undefined)[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      // node-postgres answers the FATAL with Terminate + FIN, like libpq does.
      const c = new pg.Client(trustConfig(px.port));
      c.on('error', () => undefined);
      const err = await c.connect().then(
        () => undefined,
        (e: unknown) => e,
      );
      await c.end().catch(() => undefined);
      codes.push(errorCode(err));
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(codes).toEqual(['08006', '08006', '08006']);
    await pollUntil('sessions of refused clients released', () => px.proxy.sessionCount === 0, 3_000);
  });
});

describe('client gone mid-query', () => {
  it('destroying the client socket during pg_sleep(30) ends the upstream backend and the session', async () => {
    const px = await proxyWith();
    const before = px.proxy.sessionCount;
    const tag = `rob_gone_${process.pid}_${Date.now()}`;
    try {
      const r = await rawAuthed(px.port);
      r.write(query(`select pg_sleep(30) /* ${tag} */`));
      await pollUntil('query visible in pg_stat_activity', async () => (await backendsRunning(admin, tag)).some((b) => b.state === 'active'), 5_000);
      r.socket.destroy();
      await pollUntil('proxy session count back to its previous value', () => px.proxy.sessionCount === before, 3_000);
      const took = await pollUntil('upstream backend of the vanished client gone', async () => (await backendsRunning(admin, tag)).length === 0, 5_000, 100);
      console.log(`upstream backend gone ${took} ms after the client vanished`);
    } finally {
      await terminateTagged(tag);
    }
  });
});

describe('maxConnections', () => {
  it('third client gets FATAL 53300; after one closes a new client is accepted', async () => {
    const px = await proxyWith({ maxConnections: 2 });
    const a = await pgClient(px.port);
    const b = await pgClient(px.port);
    const third = await rawConnect(px.port);
    third.startup({ user: TRUST, database: 'postgres' });
    const f = await expectFatal(third, '53300');
    expect(f.M).toBe('sorry, too many clients already');
    // Same through a driver.
    const c = new pg.Client(trustConfig(px.port));
    c.on('error', () => undefined);
    const err = await c.connect().then(
      () => undefined,
      (e: unknown) => e,
    );
    await c.end().catch(() => undefined);
    expect(errorCode(err)).toBe('53300');
    expect((await a.query('select 1 as v')).rows).toEqual([{ v: 1 }]);

    await b.end();
    await pollUntil('slot released', () => px.proxy.sessionCount === 1, 3_000);
    const d = await pgClient(px.port);
    expect((await d.query('select 2 as v')).rows).toEqual([{ v: 2 }]);
    expect((await a.query('select 3 as v')).rows).toEqual([{ v: 3 }]);
  });
});

describe('idle timeout', () => {
  it('an idle session gets FATAL 57P05; a session in pg_sleep(2) is not killed mid-query', async () => {
    const px = await proxyWith({ idleTimeoutMs: 1_000 });
    const idle = await rawAuthed(px.port);
    const t0 = Date.now();
    const busy = await pgClient(px.port);
    const running = busy.query('select pg_sleep(2) as slept, 7 as v');
    const f = await expectFatal(idle, '57P05', 5_000);
    const idleFor = Date.now() - t0;
    console.log(`idle session closed after ${idleFor} ms`);
    expect(idleFor).toBeGreaterThanOrEqual(500);
    expect(f.M).toMatch(/idle/);
    const r = await running;
    expect(r.rows).toEqual([{ slept: '', v: 7 }]);
  });
});

describe('cancel', () => {
  it('CancelRequest with the key from BackendKeyData cancels a running query (57014)', async () => {
    const px = await proxyWith();
    const c = await pgClient(px.port);
    const { pid, key } = keyOf(c);
    const t0 = Date.now();
    const running = c.query('select pg_sleep(10)').then(
      () => undefined,
      (e: unknown) => e,
    );
    await new Promise((r) => setTimeout(r, 1_000));
    await sendCancel(px.port, pid, key);
    const err = await running;
    const elapsed = Date.now() - t0;
    console.log(`cancelled query ended after ${elapsed} ms`);
    expect(errorCode(err), String(err)).toBe('57014');
    expect(elapsed).toBeLessThan(5_000);
    expect(px.logs.filter((l) => l.msg === 'cancel request forwarded')).toHaveLength(1);
    // The session survives a cancel. (PostgreSQL signals the backend twice, to its pid and its
    // process group; on a busy machine the second SIGINT can land on the next statement, so wait.)
    await new Promise((r) => setTimeout(r, 500));
    expect((await c.query('select 1 as v')).rows).toEqual([{ v: 1 }]);
  });

  it('a CancelRequest with a wrong key or pid cancels nothing', async () => {
    const px = await proxyWith();
    const c = await pgClient(px.port);
    const other = await pgClient(px.port);
    const { pid, key } = keyOf(c);
    const wrongKey = Buffer.from(key);
    wrongKey[3] ^= 0x01;
    const t0 = Date.now();
    const running = c.query('select pg_sleep(2) as slept, 5 as v');
    await new Promise((r) => setTimeout(r, 500));
    await sendCancel(px.port, pid, wrongKey);
    await sendCancel(px.port, (pid + 1) >>> 0, key);
    await sendCancel(px.port, pid, Buffer.alloc(0)); // too short to be a key
    // The other session's key must not reach this one either.
    const otherKey = keyOf(other);
    await sendCancel(px.port, otherKey.pid, key);
    const r = await running;
    expect(r.rows).toEqual([{ slept: '', v: 5 }]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1_500);
    expect(px.logs.filter((l) => l.msg === 'cancel request forwarded')).toHaveLength(0);
  });
});

// ---- fuzz ------------------------------------------------------------------------


const FRONTEND = 'BCdcfDEHFPpQSX';

describe('fuzz', () => {
  it('300 seeded random message sequences after authentication never take the proxy down', async () => {
    const SEED = 0x5eed_2024;
    const rand = prng(SEED);
    const int = (n: number) => Math.floor(rand() * n);
    const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
    const MAX = 64 * 1024;
    const px = await proxyWith({ maxMessageSize: MAX });
    const bystander = await pgClient(px.port);

    const randomType = () => (rand() < 0.8 ? FRONTEND.charCodeAt(int(FRONTEND.length)) : int(256));
    const randomBytes = (n: number) => {
      const b = Buffer.alloc(n);
      for (let i = 0; i < n; i++) b[i] = rand() < 0.2 ? 0 : int(256);
      return b;
    };
    const body = (type: number, n: number) => {
      const b = randomBytes(n);
      // FunctionCall by OID as a superuser: keep the OID invalid so no real function runs.
      if (type === 0x46 && n >= 4) b.writeUInt32BE(0, 0);
      return b;
    };
    const wellFormed = (type: number, n: number) => Buffer.concat([header(type, 4 + n), body(type, n)]);

    const sqls = ['select 1', 'select $1', 'begin', 'commit', 'rollback', 'copy (select 1) to stdout', 'select pg_sleep(0.01)', '', ';;;'];
    let lastOps: string[] = [];
    let closedByPeer = 0;
    for (let iter = 0; iter < 300; iter++) {
      lastOps = [];
      const r = await rawAuthed(px.port);
      const ops = 1 + int(6);
      let closeMidMessage = false;
      for (let k = 0; k < ops && !r.closed; k++) {
        const op = int(7);
        let bytes: Buffer;
        switch (op) {
          case 0: {
            const t = randomType();
            bytes = wellFormed(t, int(200));
            lastOps.push(`wellformed ${t} ${bytes.length}`);
            break;
          }
          case 1: {
            bytes = query(pick(sqls));
            lastOps.push('query');
            break;
          }
          case 2: {
            const t = randomType();
            const len = pick([0, 1, 2, 3, 4, 5, 8, 0xffffffff, 0x80000000, MAX, MAX + 1, 1_000_000, int(5000)]);
            bytes = Buffer.concat([header(t, len), randomBytes(int(100))]);
            lastOps.push(`badlength ${t} ${len}`);
            break;
          }
          case 3: {
            const t = randomType();
            const len = 10 + int(3000);
            bytes = Buffer.concat([header(t, len), body(t, int(len - 4))]);
            closeMidMessage = rand() < 0.5;
            lastOps.push(`truncated ${t} ${len} close=${closeMidMessage}`);
            break;
          }
          case 4: {
            bytes = randomBytes(1 + int(300));
            lastOps.push(`random ${bytes.length}`);
            break;
          }
          case 5: {
            // A well-formed message split at random points over several writes.
            const whole = wellFormed(randomType(), int(50));
            let at = 0;
            while (at < whole.length - 1 && !r.closed) {
              const step = 1 + int(4);
              r.write(whole.subarray(at, Math.min(at + step, whole.length - 1)));
              at = Math.min(at + step, whole.length - 1);
              await new Promise((res) => setImmediate(res));
            }
            bytes = whole.subarray(at);
            lastOps.push(`split ${whole[0]} ${whole.length}`);
            break;
          }
          default: {
            // Several well-formed messages in one write, then Sync.
            const parts = [];
            for (let j = 0; j < 1 + int(4); j++) parts.push(wellFormed(randomType(), int(40)));
            parts.push(message('S'));
            bytes = Buffer.concat(parts);
            lastOps.push(`batch ${parts.length}`);
          }
        }
        if (closeMidMessage) {
          r.write(bytes.subarray(0, Math.max(1, int(bytes.length))));
          break;
        }
        r.write(bytes);
        if (rand() < 0.3) await new Promise((res) => setTimeout(res, int(5)));
      }
      if (!closeMidMessage && rand() < 0.5) {
        // Give the proxy/server a moment to answer or hang up.
        const deadline = Date.now() + 30;
        while (!r.closed && Date.now() < deadline) await new Promise((res) => setTimeout(res, 5));
      }
      if (r.closed) closedByPeer++;
      r.socket.destroy();
      expect(unexpected, `after iteration ${iter}: ${lastOps.join(', ')}`).toEqual([]);
      if (iter % 50 === 49) {
        // Still alive between batches.
        expect((await bystander.query('select 1 as v')).rows).toEqual([{ v: 1 }]);
      }
    }
    expect((await bystander.query('select 1 as v')).rows).toEqual([{ v: 1 }]);
    const r = await withClient(trustConfig(px.port), (c) => c.query("select 'still here' as s"));
    expect(r.rows).toEqual([{ s: 'still here' }]);
    const violations = px.logs.filter((l) => l.code === '08P01').length;
    console.log(`fuzz: ${closedByPeer} of 300 connections were closed by the proxy/server first; ${violations} proxy protocol-violation FATALs`);
    // The generator does reach the framer's violation path.
    expect(violations).toBeGreaterThan(30);
    // Every fuzz session was released (only the bystander is left).
    await pollUntil('fuzz sessions released', () => px.proxy.sessionCount === 1, 10_000);
    expect(unexpected).toEqual([]);
  });
});
