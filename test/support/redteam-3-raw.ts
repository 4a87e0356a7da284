/**
 * Red team 3: a raw protocol session that logs in as an ordinary SCRAM user
 * (the analyst), and keeps every byte the proxy sent, so a leak is found even
 * when it corrupts the message stream.
 */
import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';
import { RawConnection, cstr, dataRowValues, fields, i16, i32, message, type RawMessage } from './raw.js';
import { base64Cores, type Needle } from './leak-detector.js';

const require = createRequire(import.meta.url);
// node-postgres' own SCRAM client (pure functions over the exchanged strings).
const sasl = require('pg/lib/crypto/sasl.js') as {
  startSession(mechanisms: string[], stream?: unknown): { mechanism: string; response: string; clientNonce: string; message: string };
  continueSession(session: object, password: string, serverData: string, stream?: unknown): Promise<void>;
  finalizeSession(session: object, serverData: string): void;
};

export class Session {
  /** Every byte received after login. */
  bytes: Buffer[] = [];
  constructor(readonly raw: RawConnection) {
    raw.socket.on('data', (d: Buffer) => this.bytes.push(Buffer.from(d)));
  }

  /** Everything received since login, as latin1 and utf8 text (for the leak detector). */
  text(): string {
    const all = Buffer.concat(this.bytes);
    return `${all.toString('latin1')}\n${all.toString('utf8')}`;
  }

  send(...parts: Buffer[]): void {
    this.raw.write(Buffer.concat(parts));
  }

  /** Waits for `n` ReadyForQuery messages (or the socket closing); returns every message received up to the n-th. */
  async untilReady(n = 1, timeoutMs = 15_000): Promise<RawMessage[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let seen = 0;
      let cut = -1;
      for (let i = 0; i < this.raw.messages.length; i++) {
        if (this.raw.messages[i].type === 'Z' && ++seen === n) {
          cut = i + 1;
          break;
        }
      }
      if (cut >= 0) return this.raw.messages.splice(0, cut);
      if (this.raw.closed) return this.raw.messages.splice(0);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${n} ReadyForQuery; got ${this.raw.messages.map((m) => m.type).join('')}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  close(): void {
    try {
      this.raw.write(message('X'));
    } catch {
      /* closed */
    }
    this.raw.close();
  }
}

/**
 * Logs in through `port` with SCRAM-SHA-256 (or trust) and returns a session
 * after the first ReadyForQuery. Extra startup parameters (options, client_encoding) may be given.
 */
export async function login(port: number, user: string, password: string, database: string, extra: Record<string, string> = {}): Promise<Session> {
  const raw = await RawConnection.connect(port);
  raw.startup({ user, database, ...extra });
  let session: { mechanism: string; response: string } | undefined;
  for (;;) {
    const m = await raw.until('R', 10_000).catch(() => undefined);
    if (!m) {
      const err = raw.messages.find((x) => x.type === 'E');
      throw new Error(`login failed: ${err ? err.body.toString('utf8') : 'closed'}`);
    }
    const code = m.body.readUInt32BE(0);
    if (code === 0) break; // AuthenticationOk
    if (code === 10) {
      const mechs = m.body.toString('utf8', 4).split('\0').filter(Boolean);
      session = sasl.startSession(mechs);
      const resp = Buffer.from(session.response, 'utf8');
      raw.write(message('p', Buffer.concat([cstr(session.mechanism), i32(resp.length), resp])));
    } else if (code === 11) {
      await sasl.continueSession(session as object, password, m.body.toString('utf8', 4));
      raw.write(message('p', Buffer.from((session as unknown as { response: string }).response, 'utf8')));
    } else if (code === 12) {
      sasl.finalizeSession(session as object, m.body.toString('utf8', 4));
    } else if (code === 3) {
      raw.write(message('p', cstr(password)));
    } else {
      throw new Error(`unsupported auth request ${code}`);
    }
  }
  await raw.until('Z');
  raw.messages.length = 0;
  return new Session(raw);
}

// ---- extended-protocol message builders ------------------------------------------

export const Q = (sql: string): Buffer => message('Q', Buffer.from(`${sql}\0`, 'utf8'));
export const P = (name: string, sql: string): Buffer => message('P', Buffer.concat([cstr(name), cstr(sql), i16(0)]));
/** Bind with no parameters; `formats` = result format codes. */
export const B = (portal: string, stmt: string, formats: number[] = []): Buffer =>
  message('B', Buffer.concat([cstr(portal), cstr(stmt), i16(0), i16(0), i16(formats.length), ...formats.map(i16)]));
export const E = (portal: string, maxRows = 0): Buffer => message('E', Buffer.concat([cstr(portal), i32(maxRows)]));
export const D = (kind: 'S' | 'P', name: string): Buffer => message('D', Buffer.concat([Buffer.from(kind), cstr(name)]));
export const C = (kind: 'S' | 'P', name: string): Buffer => message('C', Buffer.concat([Buffer.from(kind), cstr(name)]));
export const S = (): Buffer => message('S');
export const H = (): Buffer => message('H');

/** Fields of an 'E'/'N' body. */
export const errorFields = fields;

/** DataRow body → fields as strings (null for SQL NULL). */
export const dataRow = (body: Buffer): (string | null)[] => dataRowValues(body).map((v) => (v === null ? null : v.toString('utf8')));

// ---- needles for values that are not in the PII fixture ---------------------------

const reverse = (s: string) => [...s].reverse().join('');
const SEPARATORS = /[\s\-.@:/_+(),]/g;

/** The same transforms the leak detector applies to the fixture's values (raw, stripped, reversed, hex, base64, md5, sha256). */
export function needlesFor(value: string, label: string): Needle[] {
  const out: Needle[] = [];
  const add = (text: string, ci: boolean, l: string) => {
    if (text.length >= 6) out.push({ text: ci ? text.toLowerCase() : text, caseInsensitive: ci, label: l });
  };
  const stripped = value.replace(SEPARATORS, '');
  for (const [v, what] of [[value, ''], [stripped, ' without separators']] as const) {
    if (what && v === value) continue;
    add(v, true, `${label}${what}`);
    add(reverse(v), true, `${label}${what} reversed`);
    add(Buffer.from(v, 'utf8').toString('hex'), true, `${label}${what} as hex`);
    for (const core of base64Cores(v)) add(core, false, `${label}${what} as base64`);
    add(createHash('md5').update(v).digest('hex'), true, `${label}${what} as md5`);
    add(createHash('sha256').update(v).digest('hex'), true, `${label}${what} as sha256`);
  }
  return out;
}
