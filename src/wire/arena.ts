/**
 * Output space where rewritten messages are built in place, one after the
 * other. A run of rewritten rows therefore ends up contiguous and leaves as a
 * single buffer: no buffer object per row, no second copy to join them.
 *
 * Bytes handed out by take() are never written again (a socket may still be
 * holding them); when the rest of the buffer is too small a fresh one starts.
 *
 * Each buffer also has a staging area behind the output space: input copied
 * there shares memory with the output, so fields move with copyWithin (no
 * typed-array view per copy, which dominates the cost of short fields).
 */
export class OutputArena {
  /** The current memory; write at `pos` after reserve(). */
  buf: Buffer = Buffer.alloc(0);
  /** End of what has been written. */
  pos = 0;
  /** Where the output space of `buf` ends and its staging area begins. */
  private limit = 0;
  /** Start of what has been written but not taken yet. */
  private from = 0;
  /** The last stage() result and the memory it lives in. */
  private staged: Buffer | undefined;
  private stagedIn: Buffer | undefined;

  constructor(
    /** Receives the written part of a buffer that is being replaced. */
    private readonly onFull: (written: Buffer) => void,
    // Kept per session while it lives: small enough for many sessions, big
    // enough for a socket chunk (64 KiB) to be staged whole.
    private readonly size = 128 * 1024,
    private readonly stageSize = 64 * 1024,
  ) {}

  /** Makes sure `size` bytes fit at `pos`; returns the buffer to write into. */
  reserve(size: number): Buffer {
    if (this.limit - this.pos < size) this.renew(size);
    return this.buf;
  }

  /**
   * A copy of src[start, end) in the staging area of the current memory, or
   * undefined when it doesn't fit (callers then read from src itself). Valid
   * until the next stage().
   */
  stage(src: Buffer, start: number, end: number): Buffer | undefined {
    const n = end - start;
    if (n > this.stageSize) return undefined;
    if (this.buf.length === 0) this.renew(0);
    src.copy(this.buf, this.limit, start, end);
    this.staged = this.buf.subarray(this.limit, this.limit + n);
    this.stagedIn = this.buf;
    return this.staged;
  }

  /**
   * Where src[0] lies in `dst` when src is the staged input and dst the memory
   * it was staged in (then dst.copyWithin can move its bytes); -1 otherwise.
   * Identity checks only: reading .buffer / .byteOffset costs more than a short copy.
   */
  offsetIn(src: Buffer, dst: Buffer): number {
    return src === this.staged && dst === this.stagedIn ? this.limit : -1;
  }

  /** What was written since the last take(), if anything. */
  take(): Buffer | undefined {
    if (this.pos === this.from) return undefined;
    const written = this.buf.subarray(this.from, this.pos);
    this.from = this.pos;
    return written;
  }

  private renew(need: number): void {
    const written = this.take();
    if (written) this.onFull(written);
    this.limit = Math.max(this.size, need);
    this.buf = Buffer.allocUnsafeSlow(this.limit + this.stageSize);
    this.pos = 0;
    this.from = 0;
  }
}
