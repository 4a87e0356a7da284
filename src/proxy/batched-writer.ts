import type net from 'node:net';
import { OutputArena } from '../wire/arena.js';

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
  /**
   * The open run of bytes to send, tailMemory[tailStart, tailEnd) (offsets in
   * the ArrayBuffer): ranges and messages that lie right after each other in
   * memory (the framer splits a chunk around the messages the guard looks at,
   * and a message the guard held and passes on unchanged is a view of that
   * chunk) join here, without a buffer per piece and without a copy.
   */
  private tailMemory: ArrayBufferLike | undefined;
  private tailStart = 0;
  private tailEnd = 0;
  /** Bytes queued for the socket so far. */
  bytesWritten = 0;
  /** Where rewritten messages are built; what is written there goes out in order with the rest. */
  readonly arena = new OutputArena((written) => this.queue(written));

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
    this.commitArena();
    this.queue(bytes);
  }

  /** Writes chunk[start, end) (see tailMemory). */
  writeRange(chunk: Buffer, start: number, end: number): void {
    this.commitArena();
    if (this.depth === 0) return this.send(chunk.subarray(start, end));
    this.append(chunk, start, end);
  }

  private append(bytes: Buffer, start: number, end: number): void {
    this.bytesWritten += end - start;
    this.size += end - start;
    const from = bytes.byteOffset + start;
    if (this.tailMemory === bytes.buffer && this.tailEnd === from) {
      this.tailEnd = from + end - start;
    } else {
      this.closeTail();
      this.tailMemory = bytes.buffer;
      this.tailStart = from;
      this.tailEnd = from + end - start;
    }
    if (this.size >= 256 * 1024) this.flush();
  }

  /** Queues what was built in the arena since the last time (call after building). */
  commitArena(): void {
    const built = this.arena.take();
    if (built) this.queue(built);
  }

  private closeTail(): void {
    if (this.tailMemory === undefined) return;
    this.parts.push(Buffer.from(this.tailMemory, this.tailStart, this.tailEnd - this.tailStart));
    this.tailMemory = undefined;
  }

  private queue(bytes: Buffer): void {
    if (this.depth === 0) return this.send(bytes);
    this.append(bytes, 0, bytes.length);
  }

  private send(bytes: Buffer): void {
    this.bytesWritten += bytes.length;
    if (!this.socket().write(bytes)) this.onBlocked();
  }

  private flush(): void {
    // Straight into parts (not through queue(): end() has already set depth to 0).
    const built = this.arena.take();
    if (built) {
      this.closeTail();
      this.parts.push(built);
      this.size += built.length;
      this.bytesWritten += built.length;
    }
    this.closeTail();
    const n = this.parts.length;
    if (n === 0) return;
    const out = n === 1 ? this.parts[0] : Buffer.concat(this.parts, this.size);
    this.parts = [];
    this.size = 0;
    if (!this.socket().write(out)) this.onBlocked();
  }
}
