/**
 * A deliberately low-level protocol client for tests that need to send what
 * real drivers never send (garbage, FunctionCall, odd batching) and to see
 * every message that comes back.
 */
import net from 'node:net';

export interface RawMessage {
  type: string;
  body: Buffer;
}

export class RawConnection {
  readonly messages: RawMessage[] = [];
  closed = false;
  private buf = Buffer.alloc(0);
  private waiters: (() => void)[] = [];

  /** Wraps any connected socket (plain or TLS). */
  constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buf = Buffer.concat([this.buf, chunk]);
      while (this.buf.length >= 5) {
        const len = this.buf.readUInt32BE(1);
        if (this.buf.length < 1 + len) break;
        this.messages.push({ type: String.fromCharCode(this.buf[0]), body: this.buf.subarray(5, 1 + len) });
        this.buf = this.buf.subarray(1 + len);
      }
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host }, () => resolve(new RawConnection(s)));
      s.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Sends a v3 StartupMessage. */
  startup(params: Record<string, string>): void {
    const body = Buffer.concat([
      ...Object.entries(params).map(([k, v]) => Buffer.from(`${k}\0${v}\0`)),
      Buffer.from([0]),
    ]);
    const head = Buffer.alloc(8);
    head.writeUInt32BE(8 + body.length, 0);
    head.writeUInt32BE(196608, 4);
    this.write(Buffer.concat([head, body]));
  }

  /** Waits until a message of `type` arrives (or the socket closes); returns it. */
  async until(type: string, timeoutMs = 10_000): Promise<RawMessage | undefined> {
    const deadline = Date.now() + timeoutMs;
    let seen = 0;
    for (;;) {
      for (; seen < this.messages.length; seen++) if (this.messages[seen].type === type) return this.messages.splice(0, seen + 1).pop();
      if (this.closed) return undefined;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for '${type}', got ${this.messages.map((m) => m.type).join('')}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** Resolves when the peer closed the connection. */
  async waitClosed(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('connection still open');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A typed message: type char + int32 length + body. */
export function message(type: string, body: Buffer = Buffer.alloc(0)): Buffer {
  const out = Buffer.alloc(5 + body.length);
  out.write(type, 0, 'latin1');
  out.writeUInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

export function query(sql: string): Buffer {
  return message('Q', Buffer.from(`${sql}\0`));
}

/** Reads the fields of an 'E' or 'N' body into { C: sqlstate, M: message, ... }. */
export function fields(body: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let o = 0;
  while (o < body.length && body[o] !== 0) {
    const end = body.indexOf(0, o + 1);
    out[String.fromCharCode(body[o])] = body.toString('utf8', o + 1, end);
    o = end + 1;
  }
  return out;
}

/** Builders for message bodies. */
export const cstr = (s: string): Buffer => Buffer.from(`${s}\0`, 'utf8');
export const i16 = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
};
export const i32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};

/** Field values of a DataRow body (null for SQL NULL). */
export function dataRowValues(body: Buffer): (Buffer | null)[] {
  const n = body.readInt16BE(0);
  const out: (Buffer | null)[] = [];
  let o = 2;
  for (let i = 0; i < n; i++) {
    const len = body.readInt32BE(o);
    o += 4;
    if (len < 0) out.push(null);
    else {
      out.push(body.subarray(o, o + len));
      o += len;
    }
  }
  return out;
}
