/**
 * Authentication, TLS and startup through the proxy: every auth method the
 * server's pg_hba uses, TLS on the client leg and on the upstream leg (per
 * sslmode), SCRAM-SHA-256-PLUS stripping, startup parameters and the proxy's
 * own BackendKeyData.
 */
import { onPath } from './support/wait.js';
import net from 'node:net';
import tls from 'node:tls';
import dns from 'node:dns/promises';
import os from 'node:os';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generate } from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { pgInfo, proxyTls, startProxy, superConfig, withClient, type RunningProxy } from './support/proxy.js';
import { AUTH_USERS } from './support/pg-info.js';
import { RawConnection, fields, query, type RawMessage } from './support/raw.js';

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;

const proxies: RunningProxy[] = [];
const servers: net.Server[] = [];

async function proxy(opts: Parameters<typeof startProxy>[0] = {}): Promise<RunningProxy> {
  const p = await startProxy(opts);
  proxies.push(p);
  return p;
}

afterAll(async () => {
  await Promise.all(proxies.map((p) => p.stop()));
  for (const s of servers) s.close();
});

type Method = keyof typeof AUTH_USERS;

function userConfig(method: Method, port: number, extra: pg.ClientConfig = {}): pg.ClientConfig {
  const info = pgInfo();
  const { user, password } = AUTH_USERS[method];
  return { host: info.host, port, user, password: password || undefined, database: 'postgres', ...extra };
}

async function connectError(config: pg.ClientConfig): Promise<Error & Partial<pg.DatabaseError>> {
  const client = new pg.Client(config);
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    return err as Error & Partial<pg.DatabaseError>;
  } finally {
    await client.end().catch(() => undefined);
  }
  throw new Error('connection unexpectedly succeeded');
}

function startupPacket(params: Record<string, string>): Buffer {
  const body = Buffer.concat([...Object.entries(params).map(([k, v]) => Buffer.from(`${k}\0${v}\0`)), Buffer.from([0])]);
  const head = Buffer.alloc(8);
  head.writeUInt32BE(8 + body.length, 0);
  head.writeUInt32BE(196608, 4);
  return Buffer.concat([head, body]);
}

function requestPacket(code: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(8, 0);
  b.writeUInt32BE(code, 4);
  return b;
}

/** RawConnection over any socket (plain or TLS), failing loudly when the peer closes. */
class Wire extends RawConnection {
  override async until(type: string, timeoutMs?: number): Promise<RawMessage> {
    const m = await super.until(type, timeoutMs);
    if (!m) throw new Error(`connection closed before '${type}'`);
    return m;
  }
}

/** Opens a TCP connection, sends an SSLRequest/GSSENCRequest and returns the single answer byte. */
async function encryptionRequest(port: number, code: number): Promise<{ socket: net.Socket; answer: string; extra: number }> {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.write(requestPacket(code));
  const chunk = await new Promise<Buffer>((resolve, reject) => {
    socket.once('data', resolve);
    socket.once('close', () => reject(new Error('closed before answering')));
  });
  socket.removeAllListeners('data');
  socket.removeAllListeners('close');
  socket.pause();
  return { socket, answer: String.fromCharCode(chunk[0]), extra: chunk.length - 1 };
}

async function tlsUpgrade(socket: net.Socket, servername = 'localhost', ca: string | Buffer = readFileSync(pgInfo().certFile)): Promise<tls.TLSSocket> {
  const secure = tls.connect({ socket, ca, servername });
  await new Promise<void>((resolve, reject) => {
    secure.once('secureConnect', resolve);
    secure.once('error', reject);
  });
  return secure;
}

function saslMechanisms(body: Buffer): string[] {
  expect(body.readUInt32BE(0)).toBe(10);
  const out: string[] = [];
  let o = 4;
  while (o < body.length && body[o] !== 0) {
    const end = body.indexOf(0, o);
    out.push(body.toString('utf8', o, end));
    o = end + 1;
  }
  return out;
}

/** Reads the mechanism list of the first AuthenticationSASL a SCRAM user gets. */
async function mechanismsSeen(wire: Wire): Promise<string[]> {
  wire.socket.write(startupPacket({ user: AUTH_USERS.scram.user, database: 'postgres' }));
  const r = await wire.until('R');
  const mechs = saslMechanisms(r.body);
  wire.socket.destroy();
  return mechs;
}

/** Waits until a ReadyForQuery is among the received messages; returns and consumes everything up to it. */
async function drainUntilZ(raw: RawConnection, timeoutMs = 10_000): Promise<RawMessage[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const z = raw.messages.findIndex((m) => m.type === 'Z');
    if (z >= 0) return raw.messages.splice(0, z + 1);
    if (raw.closed) throw new Error(`closed; got ${raw.messages.map((m) => m.type).join('')}`);
    if (Date.now() > deadline) throw new Error(`timed out; got ${raw.messages.map((m) => m.type).join('')}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function clientStream(c: pg.Client): net.Socket {
  return (c as unknown as { connection: { stream: net.Socket } }).connection.stream;
}

const SSL_OF_BACKEND = 'select ssl from pg_stat_ssl where pid = pg_backend_pid()';

// ---------------------------------------------------------------------------

describe('authentication methods relayed', () => {
  let px: RunningProxy;
  beforeAll(async () => {
    px = await proxy();
  });

  for (const method of ['trust', 'cleartext', 'md5', 'scram'] as const) {
    it(`${method}: pg client logs in through the proxy as ${AUTH_USERS[method].user}`, async () => {
      const row = await withClient(userConfig(method, px.port), async (c) => {
        // system_user is "auth_method:identity" (NULL for trust).
        const r = await c.query<{ u: string; su: string | null }>('select current_user as u, system_user as su');
        return r.rows[0];
      });
      expect(row.u).toBe(AUTH_USERS[method].user);
      const expectedMethod = { trust: null, cleartext: 'password', md5: 'md5', scram: 'scram-sha-256' }[method];
      expect(row.su).toBe(expectedMethod === null ? null : `${expectedMethod}:${AUTH_USERS[method].user}`);
    });
  }

  it('the server really asks each user for its own method (checked by the request code the client sees)', async () => {
    // AuthenticationOk=0, CleartextPassword=3, MD5Password=5, SASL=10.
    const expected: Record<Method, number> = { trust: 0, cleartext: 3, md5: 5, scram: 10 };
    for (const method of Object.keys(expected) as Method[]) {
      const raw = await RawConnection.connect(px.port);
      raw.startup({ user: AUTH_USERS[method].user, database: 'postgres' });
      const r = await raw.until('R');
      expect(r, method).toBeDefined();
      expect((r as { body: Buffer }).body.readUInt32BE(0), method).toBe(expected[method]);
      raw.close();
    }
  });

  for (const method of ['cleartext', 'md5', 'scram'] as const) {
    it(`${method}: a wrong password is refused with 28P01, same error as direct`, async () => {
      const viaProxy = await connectError(userConfig(method, px.port, { password: 'definitely-wrong' }));
      const direct = await connectError(userConfig(method, pgInfo().port, { password: 'definitely-wrong' }));
      expect(viaProxy.code).toBe('28P01');
      expect(viaProxy.message).toBe(`password authentication failed for user "${AUTH_USERS[method].user}"`);
      expect({ code: viaProxy.code, message: viaProxy.message, severity: viaProxy.severity }).toEqual({
        code: direct.code,
        message: direct.message,
        severity: direct.severity,
      });
    });
  }

  it('an unknown database is refused with 3D000 relayed from the server', async () => {
    const err = await connectError(userConfig('md5', px.port, { database: 'auth_no_such_db' }));
    expect(err.code).toBe('3D000');
    expect(err.message).toBe('database "auth_no_such_db" does not exist');
  });

  it('a failed login leaves the proxy usable', async () => {
    await connectError(userConfig('scram', px.port, { password: 'nope' }));
    const r = await withClient(userConfig('scram', px.port), (c) => c.query('select 41 + 1 as n'));
    expect(r.rows).toEqual([{ n: 42 }]);
  });
});

// ---------------------------------------------------------------------------

describe('client-side TLS', () => {
  let tlsProxy: RunningProxy;
  let plainProxy: RunningProxy;
  let ca: Buffer;
  beforeAll(async () => {
    ca = readFileSync(pgInfo().certFile);
    tlsProxy = await proxy({ tls: proxyTls() });
    plainProxy = await proxy();
  });

  it('pg with ssl {ca} verifies the proxy certificate for 127.0.0.1 and localhost', async () => {
    for (const host of ['127.0.0.1', 'localhost']) {
      const res = await withClient({ ...userConfig('scram', tlsProxy.port), host, ssl: { ca } }, async (c) => {
        const s = clientStream(c);
        expect(s).toBeInstanceOf(tls.TLSSocket);
        expect((s as tls.TLSSocket).authorized).toBe(true);
        return (await c.query<{ u: string }>('select current_user as u')).rows[0].u;
      });
      expect(res, host).toBe(AUTH_USERS.scram.user);
    }
    const starts = tlsProxy.logs.filter((l) => l.msg === 'session start');
    expect(starts.length).toBeGreaterThanOrEqual(2);
    expect(starts.slice(-2).map((l) => l.tls)).toEqual([true, true]);
  });

  it('certificate verification is real: a wrong server name is rejected by the client', async () => {
    const err = await connectError({ ...userConfig('md5', tlsProxy.port), ssl: { ca, servername: 'auth-wrong.example' } });
    expect(String((err as NodeJS.ErrnoException).code ?? err.message)).toMatch(/ALTNAME|does not match/i);
    // The half-open session is cleaned up.
    for (let i = 0; i < 250 && tlsProxy.proxy.sessionCount > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(tlsProxy.proxy.sessionCount).toBe(0);
  });

  it('SSLRequest followed by plaintext bytes in the same segment is refused (08P01), never answered S', async () => {
    const socket = net.connect({ host: '127.0.0.1', port: tlsProxy.port });
    socket.on('error', () => undefined);
    await new Promise<void>((r) => socket.once('connect', r));
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.write(Buffer.concat([requestPacket(SSL_REQUEST), startupPacket({ user: AUTH_USERS.trust.user, database: 'postgres' })]));
    await closed;
    const all = Buffer.concat(chunks);
    expect(String.fromCharCode(all[0])).toBe('E');
    const f = fields(all.subarray(5, 1 + all.readUInt32BE(1)));
    expect(f.S).toBe('FATAL');
    expect(f.C).toBe('08P01');
  });

  // PostgreSQL 17 accepts a TLS handshake as the very first bytes (libpq
  // sslnegotiation=direct, ALPN "postgresql"), without an SSLRequest.
  it('direct TLS negotiation (sslnegotiation=direct, PostgreSQL 17+) works like against the server', async () => {
    const direct = await withClient({ ...userConfig('md5', pgInfo().port), ssl: { ca }, sslnegotiation: 'direct' }, (c) =>
      c.query<{ ssl: boolean }>(SSL_OF_BACKEND),
    );
    expect(direct.rows).toEqual([{ ssl: true }]);
    const via = await withClient({ ...userConfig('md5', tlsProxy.port), ssl: { ca }, sslnegotiation: 'direct' }, (c) =>
      c.query<{ u: string }>('select current_user as u'),
    );
    expect(via.rows).toEqual([{ u: AUTH_USERS.md5.user }]);
  });

  it('a client asking for no TLS still works on a TLS-enabled proxy', async () => {
    const u = await withClient({ ...userConfig('md5', tlsProxy.port), ssl: false }, async (c) => {
      expect(clientStream(c)).not.toBeInstanceOf(tls.TLSSocket);
      return (await c.query<{ u: string }>('select current_user as u')).rows[0].u;
    });
    expect(u).toBe(AUTH_USERS.md5.user);
    const last = tlsProxy.logs.filter((l) => l.msg === 'session start').pop();
    expect(last?.tls).toBe(false);
  });

  it("without a tls option the proxy answers 'N' to SSLRequest and the session continues in plaintext", async () => {
    const { socket, answer, extra } = await encryptionRequest(plainProxy.port, SSL_REQUEST);
    expect(answer).toBe('N');
    expect(extra).toBe(0);
    const wire = new Wire(socket);
    socket.resume();
    socket.write(startupPacket({ user: AUTH_USERS.trust.user, database: 'postgres' }));
    const r = await wire.until('R');
    expect(r.body.readUInt32BE(0)).toBe(0);
    await wire.until('Z');
    socket.destroy();
  });

  it('pg with ssl:true against a proxy without TLS fails clearly', async () => {
    const err = await connectError({ ...userConfig('md5', plainProxy.port), ssl: true });
    expect(err.message).toMatch(/does not support SSL/i);
  });

  it("TLS proxy answers 'S' to SSLRequest and the startup continues inside TLS", async () => {
    const { socket, answer, extra } = await encryptionRequest(tlsProxy.port, SSL_REQUEST);
    expect(answer).toBe('S');
    expect(extra).toBe(0);
    const secure = await tlsUpgrade(socket);
    const wire = new Wire(secure);
    secure.write(startupPacket({ user: AUTH_USERS.trust.user, database: 'postgres' }));
    expect((await wire.until('R')).body.readUInt32BE(0)).toBe(0);
    await wire.until('Z');
    secure.destroy();
  });

  for (const which of ['plain', 'tls'] as const) {
    it(`GSSENCRequest is answered 'N' (${which} proxy), then SSLRequest/startup still work on the same connection`, async () => {
      const px = which === 'tls' ? tlsProxy : plainProxy;
      const { socket, answer, extra } = await encryptionRequest(px.port, GSSENC_REQUEST);
      expect(answer).toBe('N');
      expect(extra).toBe(0);
      // libpq with gssencmode=prefer goes on with an SSLRequest on the same socket.
      socket.resume();
      socket.write(requestPacket(SSL_REQUEST));
      const second = await new Promise<Buffer>((resolve) => socket.once('data', resolve));
      expect(String.fromCharCode(second[0])).toBe(which === 'tls' ? 'S' : 'N');
      let stream: net.Socket = socket;
      if (which === 'tls') {
        socket.pause();
        stream = await tlsUpgrade(socket);
      }
      const wire = new Wire(stream);
      stream.write(startupPacket({ user: AUTH_USERS.trust.user, database: 'postgres' }));
      expect((await wire.until('R')).body.readUInt32BE(0)).toBe(0);
      stream.write(query('select 7 as seven'));
      const d = await wire.until('D');
      expect(d.body.toString('utf8', 6)).toBe('7');
      await wire.until('Z');
      stream.destroy();
    });
  }
});

// ---------------------------------------------------------------------------

describe('upstream TLS per sslmode', () => {
  const cases: { mode: string; query: () => string; ssl: boolean }[] = [
    { mode: 'disable', query: () => '?sslmode=disable', ssl: false },
    { mode: 'allow', query: () => '?sslmode=allow', ssl: false },
    { mode: 'prefer', query: () => '?sslmode=prefer', ssl: true },
    { mode: 'require', query: () => '?sslmode=require', ssl: true },
    { mode: 'verify-ca', query: () => `?sslmode=verify-ca&sslrootcert=${encodeURIComponent(pgInfo().certFile)}`, ssl: true },
  ];
  for (const c of cases) {
    it(`sslmode=${c.mode}: pg_stat_ssl.ssl is ${c.ssl} for the upstream backend`, async () => {
      const px = await proxy({ upstreamQuery: c.query() });
      const r = await withClient(userConfig('md5', px.port), (cl) => cl.query<{ ssl: boolean }>(SSL_OF_BACKEND));
      expect(r.rows).toEqual([{ ssl: c.ssl }]);
    });
  }

  it('sslmode=verify-full with sslrootcert and host localhost works and is encrypted', async () => {
    const info = pgInfo();
    const px = await proxy({
      upstreamUrl: `postgres://localhost:${info.port}?sslmode=verify-full&sslrootcert=${encodeURIComponent(info.certFile)}`,
    });
    const r = await withClient(userConfig('scram', px.port), (cl) => cl.query<{ ssl: boolean; u: string }>(
      `select ssl, current_user as u from pg_stat_ssl where pid = pg_backend_pid()`,
    ));
    expect(r.rows).toEqual([{ ssl: true, u: AUTH_USERS.scram.user }]);
  });

  it('sslmode=verify-full against a host name not in the certificate fails with 08006 (verify-ca/require accept it)', async () => {
    const info = pgInfo();
    // A host name that reaches the server but is not in its certificate
    // (CN localhost, SAN localhost + 127.0.0.1): this machine's own name,
    // else 127.0.0.2; a relay on all interfaces forwards it to the server.
    let wrongHost = '127.0.0.2';
    const own = os.hostname();
    if (own && own !== 'localhost') {
      const found = await dns.lookup(own, { family: 4 }).catch(() => undefined);
      if (found) wrongHost = own;
    }
    const relay = net.createServer((s) => {
      const u = net.connect({ host: info.host, port: info.port });
      s.on('error', () => u.destroy());
      u.on('error', () => s.destroy());
      s.pipe(u).pipe(s);
    });
    servers.push(relay);
    await new Promise<void>((r) => relay.listen(0, '0.0.0.0', r));
    const relayPort = (relay.address() as net.AddressInfo).port;
    const rootcert = encodeURIComponent(info.certFile);

    // Control: the relay and the name work when the name isn't checked.
    for (const mode of ['require', 'verify-ca']) {
      const ok = await proxy({ upstreamUrl: `postgres://${wrongHost}:${relayPort}?sslmode=${mode}&sslrootcert=${rootcert}` });
      const r = await withClient(userConfig('md5', ok.port), (cl) => cl.query<{ ssl: boolean }>(SSL_OF_BACKEND));
      expect(r.rows, `${mode} via ${wrongHost}`).toEqual([{ ssl: true }]);
    }

    const bad = await proxy({ upstreamUrl: `postgres://${wrongHost}:${relayPort}?sslmode=verify-full&sslrootcert=${rootcert}` });
    const err = await connectError(userConfig('md5', bad.port));
    expect(err.code).toBe('08006');
    expect(err.message).toMatch(/could not connect to upstream server/);
    expect(err.message).toMatch(/ALTNAME|hostname|certificate/i);
  });

  it('sslmode=verify-full with a CA that did not sign the server certificate fails with 08006', async () => {
    const other = await generate([{ name: 'commonName', value: 'localhost' }], {
      keySize: 2048,
      extensions: [{ name: 'basicConstraints', cA: true }],
    });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pgveil-auth-'));
    const file = path.join(dir, 'other-ca.crt');
    writeFileSync(file, other.cert);
    const info = pgInfo();
    const px = await proxy({ upstreamUrl: `postgres://localhost:${info.port}?sslmode=verify-full&sslrootcert=${encodeURIComponent(file)}` });
    const err = await connectError(userConfig('md5', px.port));
    rmSync(dir, { recursive: true, force: true });
    expect(err.code).toBe('08006');
    expect(err.message).toMatch(/could not connect to upstream server/);
  });

  describe('upstream that refuses TLS (fake server answering N)', () => {
    let fakePort: number;
    const startups: Buffer[] = [];
    beforeAll(async () => {
      const fake = net.createServer((s) => {
        s.on('error', () => undefined);
        let buf = Buffer.alloc(0);
        s.on('data', (chunk: Buffer) => {
          buf = Buffer.concat([buf, chunk]);
          while (buf.length >= 8 && buf.length >= buf.readUInt32BE(0)) {
            const len = buf.readUInt32BE(0);
            const pkt = buf.subarray(0, len);
            buf = buf.subarray(len);
            if (pkt.readUInt32BE(4) === SSL_REQUEST) {
              s.write('N');
            } else {
              startups.push(Buffer.from(pkt));
              // FATAL, so the proxy and client end the session.
              const body = Buffer.from('SFATAL\0C28000\0Mfake server says no\0\0');
              const e = Buffer.alloc(5);
              e.write('E');
              e.writeUInt32BE(4 + body.length, 1);
              s.end(Buffer.concat([e, body]));
            }
          }
        });
      });
      servers.push(fake);
      await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
      fakePort = (fake.address() as net.AddressInfo).port;
    });

    it('sslmode=prefer falls back to plaintext and relays the startup packet', async () => {
      const px = await proxy({ upstreamUrl: `postgres://127.0.0.1:${fakePort}?sslmode=prefer` });
      const err = await connectError(userConfig('md5', px.port));
      expect(err.message).toBe('fake server says no');
      expect(startups.length).toBe(1);
      expect(startups[0].toString('latin1')).toContain(`user\0${AUTH_USERS.md5.user}\0`);
    });

    it('sslmode=require fails with 08006 and never sends the startup packet', async () => {
      const before = startups.length;
      const px = await proxy({ upstreamUrl: `postgres://127.0.0.1:${fakePort}?sslmode=require` });
      const err = await connectError(userConfig('md5', px.port));
      expect(err.code).toBe('08006');
      expect(err.message).toMatch(/does not support SSL/);
      expect(startups.length).toBe(before);
    });
  });
});

// ---------------------------------------------------------------------------

describe('SCRAM-SHA-256-PLUS stripping', () => {
  let tlsUp: RunningProxy;
  beforeAll(async () => {
    tlsUp = await proxy({ upstreamQuery: '?sslmode=require', tls: proxyTls() });
  });

  it('control: the server itself offers SCRAM-SHA-256-PLUS over TLS', async () => {
    const { socket, answer } = await encryptionRequest(pgInfo().port, SSL_REQUEST);
    expect(answer).toBe('S');
    const mechs = await mechanismsSeen(new Wire(await tlsUpgrade(socket)));
    expect(mechs).toContain('SCRAM-SHA-256-PLUS');
    expect(mechs).toContain('SCRAM-SHA-256');
  });

  it('through the proxy (plain client leg, TLS upstream) the mechanism list has SCRAM-SHA-256 but not -PLUS', async () => {
    const raw = await RawConnection.connect(tlsUp.port);
    raw.startup({ user: AUTH_USERS.scram.user, database: 'postgres' });
    const r = await raw.until('R');
    expect(r).toBeDefined();
    const mechs = saslMechanisms((r as { body: Buffer }).body);
    expect(mechs).toContain('SCRAM-SHA-256');
    expect(mechs).not.toContain('SCRAM-SHA-256-PLUS');
    raw.close();
  });

  it('through the proxy with TLS on the client leg and its own certificate, -PLUS is not offered', async () => {
    // pgveil presenting a certificate of its own: channel binding can't cross it.
    const own = await generate([{ name: 'commonName', value: 'pgveil' }], { keySize: 2048 });
    const px = await startProxy({ tls: { cert: Buffer.from(own.cert), key: Buffer.from(own.private) }, upstreamQuery: '?sslmode=require' });
    try {
      const { socket, answer } = await encryptionRequest(px.port, SSL_REQUEST);
      expect(answer).toBe('S');
      const mechs = await mechanismsSeen(new Wire(await tlsUpgrade(socket, 'pgveil', own.cert)));
      expect(mechs).toEqual(['SCRAM-SHA-256']);
    } finally {
      await px.stop();
    }
  });

  it('through the proxy presenting the server\'s own certificate, -PLUS passes through (binding matches)', async () => {
    const { socket, answer } = await encryptionRequest(tlsUp.port, SSL_REQUEST);
    expect(answer).toBe('S');
    const mechs = await mechanismsSeen(new Wire(await tlsUpgrade(socket)));
    expect(mechs).toEqual(['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256']);
  });

  it('pg (plain client leg) authenticates with SCRAM while the upstream leg is TLS', async () => {
    const r = await withClient(userConfig('scram', tlsUp.port), (c) =>
      c.query<{ ssl: boolean; u: string }>('select ssl, current_user as u from pg_stat_ssl where pid = pg_backend_pid()'),
    );
    expect(r.rows).toEqual([{ ssl: true, u: AUTH_USERS.scram.user }]);
  });

  it('pg with TLS on the client leg authenticates with SCRAM while the upstream leg is TLS', async () => {
    const r = await withClient({ ...userConfig('scram', tlsUp.port), ssl: { ca: readFileSync(pgInfo().certFile) } }, (c) =>
      c.query<{ ssl: boolean; u: string }>('select ssl, current_user as u from pg_stat_ssl where pid = pg_backend_pid()'),
    );
    expect(r.rows).toEqual([{ ssl: true, u: AUTH_USERS.scram.user }]);
  });

  // A channel-binding-capable client on TLS that is not offered -PLUS sends the
  // gs2 flag 'y' ("I support binding, I think you don't"). PostgreSQL on a TLS
  // connection treats that as a downgrade attack (RFC 5802) and refuses.
  it('pg with enableChannelBinding and TLS on both legs authenticates with SCRAM', async () => {
    const r = await withClient(
      { ...userConfig('scram', tlsUp.port), ssl: { ca: readFileSync(pgInfo().certFile) }, enableChannelBinding: true },
      (c) => c.query<{ ssl: boolean }>(SSL_OF_BACKEND),
    );
    expect(r.rows).toEqual([{ ssl: true }]);
  });

  const psql = onPath('psql', 'auth.test');
  it.skipIf(!psql)('psql (libpq, channel_binding=prefer default) with sslmode=require on both legs authenticates with SCRAM', async () => {
    // Control: the same psql directly against the server (which then uses SCRAM-SHA-256-PLUS).
    const directOut = await runPsql(pgInfo().port, 'require', AUTH_USERS.scram, SSL_OF_BACKEND);
    expect(directOut.stderr).toBe('');
    expect(directOut.stdout.trim()).toBe('t');
    const out = await runPsql(tlsUp.port, 'require', AUTH_USERS.scram, SSL_OF_BACKEND);
    expect(out.stderr).toBe('');
    expect(out.status).toBe(0);
    expect(out.stdout.trim()).toBe('t');
  });

  // With sslmode=prefer (libpq's default) a failed authentication inside TLS
  // makes libpq retry without TLS, so a channel binding refusal would turn
  // into a silent plaintext client leg.
  it.skipIf(!psql)('psql with the default sslmode=prefer keeps TLS on the client leg (SCRAM user, TLS upstream)', async () => {
    const before = tlsUp.logs.length;
    const out = await runPsql(tlsUp.port, 'prefer', AUTH_USERS.scram, 'select 1');
    expect(out.stderr).toBe('');
    expect(out.stdout.trim()).toBe('1');
    const starts = tlsUp.logs.slice(before).filter((l) => l.msg === 'session start');
    expect(starts.map((l) => l.tls)).toEqual([true]);
  });

  it.skipIf(!psql)('psql with sslmode=verify-full on the client leg authenticates with md5 and SCRAM (upstream TLS off)', async () => {
    const plainUp = await proxy({ tls: proxyTls() });
    for (const method of ['md5', 'scram'] as const) {
      const out = await runPsql(plainUp.port, 'verify-full', AUTH_USERS[method], 'select current_user', 'localhost');
      expect(out.stderr, method).toBe('');
      expect(out.stdout.trim()).toBe(AUTH_USERS[method].user);
    }
  });
});


/** Runs psql asynchronously (the proxy lives in this process, so the event loop must keep running). */
function runPsql(
  port: number,
  sslmode: string,
  who: { user: string; password: string },
  sql: string,
  host = '127.0.0.1',
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const conninfo = `host=${host} port=${port} dbname=postgres user=${who.user} sslmode=${sslmode} sslrootcert=${pgInfo().certFile}`;
  return new Promise((resolve, reject) => {
    const child = spawn('psql', ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', sql, conninfo], {
      env: { ...process.env, PGPASSWORD: who.password, PGGSSENCMODE: 'disable', PGCONNECT_TIMEOUT: '10' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

// ---------------------------------------------------------------------------

describe('startup parameters and backend key', () => {
  let px: RunningProxy;
  beforeAll(async () => {
    px = await proxy();
  });

  it('application_name, options -c search_path and a custom GUC reach the server', async () => {
    const extra = { application_name: 'auth_app_name', options: '-c search_path=auth_foo,public -c pgveil.test=1' };
    const sql = `select current_setting('application_name') as app, current_setting('search_path') as sp,
                        current_setting('pgveil.test') as custom, current_schemas(false)::text as schemas`;
    const via = await withClient(userConfig('scram', px.port, extra), (c) => c.query(sql));
    const direct = await withClient(userConfig('scram', pgInfo().port, extra), (c) => c.query(sql));
    expect(via.rows[0]).toMatchObject({ app: 'auth_app_name', sp: 'auth_foo,public', custom: '1' });
    expect(via.rows).toEqual(direct.rows);
    // Control: without the options the settings are the server defaults.
    const plain = await withClient(userConfig('scram', px.port), (c) =>
      c.query(`select current_setting('search_path') as sp, current_setting('pgveil.test', true) as custom`),
    );
    expect(plain.rows).toEqual([{ sp: '"$user", public', custom: null }]);
  });

  it('arbitrary GUCs and the database name in the raw StartupMessage are forwarded', async () => {
    const raw = await RawConnection.connect(px.port);
    raw.startup({
      user: AUTH_USERS.trust.user,
      database: 'template1',
      DateStyle: 'SQL, DMY',
      'pgveil.raw': 'raw-value',
      application_name: 'auth_raw',
    });
    const ds = await raw.until('S');
    expect(ds).toBeDefined();
    await raw.until('Z');
    raw.write(
      query(
        `select current_database() || '|' || current_setting('DateStyle') || '|' || current_setting('pgveil.raw') || '|' || current_setting('application_name')`,
      ),
    );
    const d = await raw.until('D');
    expect(d).toBeDefined();
    expect((d as { body: Buffer }).body.toString('utf8', 6)).toBe('template1|SQL, DMY|raw-value|auth_raw');
    raw.close();
  });

  it('a StartupMessage without a user is refused with 28000', async () => {
    const raw = await RawConnection.connect(px.port);
    raw.startup({ database: 'postgres' });
    const e = await raw.until('E');
    expect(e).toBeDefined();
    expect(fields((e as { body: Buffer }).body)).toMatchObject({ S: 'FATAL', C: '28000' });
    await raw.waitClosed();
  });

  it('StartupMessage and a Query in the same segment (trust): the query runs after authentication', async () => {
    const raw = await RawConnection.connect(px.port);
    raw.write(Buffer.concat([startupPacket({ user: AUTH_USERS.trust.user, database: 'postgres' }), query("select 'early' as e")]));
    const msgs = await drainUntilZ(raw); // startup's Z
    expect(msgs.map((m) => m.type)).toContain('K');
    const rest = await drainUntilZ(raw);
    expect(rest.map((m) => m.type).join('')).toBe('TDCZ');
    expect(rest[1].body.toString('utf8', 6)).toBe('early');
    raw.close();
  });

  it('a protocol 3.2 StartupMessage with a _pq_ option is negotiated down by the server, as direct', async () => {
    const run = async (port: number) => {
      const raw = await RawConnection.connect(port);
      const body = Buffer.from(`user\0${AUTH_USERS.trust.user}\0database\0postgres\0_pq_.pgveil_test\0x\0\0`);
      const head = Buffer.alloc(8);
      head.writeUInt32BE(8 + body.length, 0);
      head.writeUInt32BE((3 << 16) | 2, 4);
      raw.write(Buffer.concat([head, body]));
      const msgs = await drainUntilZ(raw);
      raw.write(query('select 1'));
      const after = await drainUntilZ(raw);
      raw.close();
      return { msgs, after };
    };
    const p = await run(px.port);
    const d = await run(pgInfo().port);
    const v = p.msgs.find((m) => m.type === 'v');
    const dv = d.msgs.find((m) => m.type === 'v');
    expect(dv, 'server sends NegotiateProtocolVersion').toBeDefined();
    expect(v?.body.toString('hex')).toBe(dv?.body.toString('hex'));
    expect(p.msgs.map((m) => m.type).filter((t) => t !== 'S').join('')).toBe(d.msgs.map((m) => m.type).filter((t) => t !== 'S').join(''));
    expect(p.after.map((m) => m.type).join('')).toBe('TDCZ');
  });

  it('the BackendKeyData pid the client sees is the proxy\'s, not pg_backend_pid()', async () => {
    const raw = await RawConnection.connect(px.port);
    raw.startup({ user: AUTH_USERS.trust.user, database: 'postgres' });
    const k = await raw.until('K');
    expect(k).toBeDefined();
    const body = (k as { body: Buffer }).body;
    expect(body.length).toBeGreaterThanOrEqual(8);
    const keyPid = body.readUInt32BE(0);
    await raw.until('Z');
    raw.write(query('select pg_backend_pid()'));
    const d = await raw.until('D');
    const backendPid = Number((d as { body: Buffer }).body.toString('utf8', 6));
    expect(backendPid).toBeGreaterThan(0);
    expect(keyPid).not.toBe(backendPid);
    raw.close();

    // Same through pg: client.processID comes from BackendKeyData.
    await withClient(userConfig('md5', px.port), async (c) => {
      const pid = (c as unknown as { processID: number }).processID;
      const r = await c.query<{ pid: number }>('select pg_backend_pid() as pid');
      expect(pid).toBeGreaterThan(0);
      expect(pid).not.toBe(r.rows[0].pid);
    });
  });

  it('a CancelRequest with the proxy key cancels the running query; a wrong key does not', async () => {
    const raw = await RawConnection.connect(px.port);
    raw.startup({ user: AUTH_USERS.trust.user, database: 'postgres' });
    const k = (await raw.until('K')) as { body: Buffer };
    await raw.until('Z');
    const pid = k.body.readUInt32BE(0);
    const key = k.body.subarray(4);

    const sendCancel = async (p: number, secret: Buffer) => {
      const pkt = Buffer.alloc(12 + secret.length);
      pkt.writeUInt32BE(12 + secret.length, 0);
      pkt.writeUInt32BE(CANCEL_REQUEST, 4);
      pkt.writeUInt32BE(p, 8);
      secret.copy(pkt, 12);
      const s = net.connect({ host: '127.0.0.1', port: px.port });
      s.on('error', () => undefined);
      await new Promise<void>((r) => s.once('connect', r));
      s.write(pkt);
      await new Promise<void>((r) => s.once('close', r));
    };

    raw.write(query('select pg_backend_pid()'));
    const backendPid = Number(((await raw.until('D')) as { body: Buffer }).body.toString('utf8', 6));
    await raw.until('Z');
    const waitActive = () =>
      withClient(superConfig(), async (c) => {
        for (let i = 0; i < 500; i++) {
          const r = await c.query(`select 1 from pg_stat_activity where pid = $1 and state = 'active' and query like 'select pg_sleep%'`, [backendPid]);
          if (r.rowCount) return;
          await new Promise((res) => setTimeout(res, 20));
        }
        throw new Error('query never became active');
      });

    // Wrong key: the short sleep must finish normally.
    raw.write(query('select pg_sleep(1.5) as slept'));
    await waitActive();
    const wrong = Buffer.from(key);
    wrong[0] ^= 0xff;
    await sendCancel(pid, wrong);
    // The upstream pid with the right key is not a valid proxy key either.
    await sendCancel(backendPid, key);
    const types1 = (await drainUntilZ(raw)).map((m) => m.type).join('');
    expect(types1).toBe('TDCZ');

    // Right key: a long sleep is cancelled with 57014.
    raw.write(query('select pg_sleep(30)'));
    await waitActive();
    await sendCancel(pid, key);
    const msgs = await drainUntilZ(raw, 20_000);
    expect(msgs.map((m) => m.type).join('')).toBe('TEZ');
    expect(fields(msgs[1].body).C).toBe('57014');
    expect(fields(msgs[1].body).M).toBe('canceling statement due to user request');
    raw.close();
  });
});
