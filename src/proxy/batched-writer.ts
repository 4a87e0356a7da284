import type net from 'node:net';

/**
 * Collects what one incoming chunk produces for a socket and writes it once.
 * One write per chunk keeps the per-transaction syscall and JS cost of a
 * proxy that inspects messages as low as a plain relay's. A single part (the
 * common case: a whole chunk forwarded untouched) is written without a copy.
 */
export class BatchedWriter {
  private parts: Buffer[] = [];
  private size = 0;
  private depth = 0;

  constructor(
    private readonly socket: () => net.Socket,
    /** Called when the socket's buffer is full: pause the source until 'drain'. */
    private readonly onBlocked: () => void,
  ) {}

  begin(): void {
    this.depth++;
  }

  end(): void {
    if (--this.depth === 0) this.flush();
  }

  write(bytes: Buffer): void {
    if (this.depth === 0) {
      if (!this.socket().write(bytes)) this.onBlocked();
      return;
    }
    // Messages the guard looked at one by one are usually adjacent slices of
    // the same incoming chunk: join them back without copying.
    const last = this.parts[this.parts.length - 1];
    if (last !== undefined && last.buffer === bytes.buffer && last.byteOffset + last.length === bytes.byteOffset) {
      this.parts[this.parts.length - 1] = Buffer.from(last.buffer, last.byteOffset, last.length + bytes.length);
    } else {
      this.parts.push(bytes);
    }
    this.size += bytes.length;
    if (this.size >= 256 * 1024) this.flush();
  }

  private flush(): void {
    const n = this.parts.length;
    if (n === 0) return;
    const out = n === 1 ? this.parts[0] : Buffer.concat(this.parts, this.size);
    this.parts = [];
    this.size = 0;
    if (!this.socket().write(out)) this.onBlocked();
  }
}
