/**
 * Streaming framer for the PostgreSQL v3 protocol (every message after startup:
 * 1 type byte + int32 length that counts itself + body).
 *
 * The hot path never copies: bytes of messages that nobody needs to look at are
 * handed on as subarrays of the incoming chunk, one contiguous run per chunk, so
 * a chunk full of DataRows costs one write. A message spanning chunks is
 * forwarded piecewise as it arrives, so memory stays flat whatever its size.
 *
 * What happens to each message type is a per-type rule in a 256-entry table the
 * owner can swap as the session changes phase:
 *  - FORWARD: pass the bytes on, look at nothing;
 *  - OBSERVE: pass the bytes on as part of the run AND show the whole message
 *    to the owner (a copy only when it spans chunks);
 *  - INSPECT: hold the message back and hand it whole to the owner, who
 *    forwards, rewrites or drops it;
 *  - REWRITE: like INSPECT for messages whose handling changes no state (the
 *    rows of a masked result set): a run of them inside one chunk is handed
 *    over at once, so a chunk of rows costs one call, not one per row;
 *  - INVALID: protocol violation (unknown message type).
 */

export const Rule = {
  Invalid: 0,
  Forward: 1,
  Observe: 2,
  Inspect: 3,
  Rewrite: 4,
} as const;
export type Rule = (typeof Rule)[keyof typeof Rule];

export type RuleTable = Uint8Array;

export interface FramerSink {
  /**
   * Bytes chunk[start, end) to pass on unchanged (possibly parts of messages).
   * A range rather than a slice: consecutive ranges of one chunk join without
   * allocating (most chunks go on whole, split only around observed messages).
   */
  forward(chunk: Buffer, start: number, end: number): void;
  /**
   * A whole OBSERVE message, chunk[start, end) (already forwarded or about to
   * be, in order). A range, so an observer that needs only the type makes no
   * view of the bytes.
   */
  observe(type: number, chunk: Buffer, start: number, end: number): void;
  /** A whole INSPECT message; the sink decides what reaches the other side. */
  inspect(type: number, message: Buffer): void;
  /**
   * Whole REWRITE messages, back to back in chunk[start, end) (one or more);
   * the sink hands on what replaces them. Required when a table uses REWRITE.
   */
  rewrite?(chunk: Buffer, start: number, end: number): void;
  /** Unknown type or impossible length. The framer stops for good. */
  violation(reason: string): void;
}

/** A rule table with every listed type set to `rule` and everything else INVALID. */
export function ruleTable(entries: Record<string, Rule>, fallback: Rule = Rule.Invalid): RuleTable {
  const table = new Uint8Array(256).fill(fallback);
  for (const [chars, rule] of Object.entries(entries)) {
    for (const ch of chars) table[ch.charCodeAt(0)] = rule;
  }
  return table;
}

const HEADER = 5;

export class Framer {
  rules: RuleTable;
  maxLength: number;

  private readonly header = Buffer.alloc(HEADER);
  private headerFill = 0;
  /** Body bytes of the current message still to come in later chunks. */
  private bodyRemaining = 0;
  private forwarding = false;
  /**
   * Pieces of a held message that spans chunks. Kept as received (not
   * preallocated from the length field) so a header claiming a huge message
   * costs nothing until the bytes actually arrive.
   */
  private collect: Buffer[] | null = null;
  private collectRule: Rule = Rule.Forward;
  private collectType = 0;
  private stopped = false;
  private paused = false;
  private pending: Buffer | null = null;

  constructor(private readonly sink: FramerSink, rules: RuleTable, maxLength: number) {
    this.rules = rules;
    this.maxLength = maxLength;
  }

  /** True when no message is partially through: safe to inject a message. */
  atBoundary(): boolean {
    return this.headerFill === 0 && this.bodyRemaining === 0;
  }

  /** Stop processing at the next message boundary until resume() (async work). */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const rest = this.pending;
    this.pending = null;
    if (rest) this.push(rest);
  }

  isPaused(): boolean {
    return this.paused;
  }

  stop(): void {
    this.stopped = true;
    this.pending = null;
  }

  push(chunk: Buffer): void {
    if (this.stopped) return;
    if (this.paused) {
      this.pending = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
      return;
    }
    const n = chunk.length;
    let i = 0;
    // At most one of these runs is open at a time: [runStart, i) goes on as it
    // is, [rewriteStart, i) goes to the sink's rewrite().
    let runStart = -1;
    let rewriteStart = -1;

    if (this.bodyRemaining > 0) {
      const take = Math.min(this.bodyRemaining, n);
      if (this.forwarding) runStart = 0;
      if (this.collect) this.collect.push(Buffer.from(chunk.subarray(0, take)));
      this.bodyRemaining -= take;
      i = take;
      if (this.bodyRemaining === 0 && this.collect) {
        if (runStart >= 0) {
          this.sink.forward(chunk, runStart, i);
          runStart = -1;
        }
        this.deliverCollected();
        if (this.stopped) return;
        if (this.paused) return this.keep(chunk, i);
      }
    }

    while (i < n) {
      let type: number;
      let length: number;
      let msgStart: number;
      if (this.headerFill > 0 || n - i < HEADER) {
        // Header split across chunks: assemble it in a 5-byte scratch buffer.
        // Everything before it goes now; its own bytes go once it is complete.
        if (runStart >= 0) {
          this.sink.forward(chunk, runStart, i);
          runStart = -1;
        }
        if (rewriteStart >= 0) {
          this.rewriteRun(chunk, rewriteStart, i);
          rewriteStart = -1;
          if (this.stopped) return;
        }
        const take = Math.min(HEADER - this.headerFill, n - i);
        chunk.copy(this.header, this.headerFill, i, i + take);
        this.headerFill += take;
        i += take;
        if (this.headerFill < HEADER) break;
        this.headerFill = 0;
        type = this.header[0];
        length = this.header.readUInt32BE(1);
        msgStart = -1; // header is not inside this chunk
      } else {
        type = chunk[i];
        length = ((chunk[i + 1] << 24) | (chunk[i + 2] << 16) | (chunk[i + 3] << 8) | chunk[i + 4]) >>> 0;
        msgStart = i;
        i += HEADER;
      }

      const rule = this.rules[type] as Rule;
      if (rule === Rule.Invalid || length < 4 || length > this.maxLength) {
        const upTo = msgStart >= 0 ? msgStart : i - HEADER;
        if (runStart >= 0) this.sink.forward(chunk, runStart, upTo);
        if (rewriteStart >= 0) this.rewriteRun(chunk, rewriteStart, upTo);
        this.stopped = true;
        this.sink.violation(
          rule === Rule.Invalid
            ? `invalid message type 0x${type.toString(16).padStart(2, '0')}`
            : `invalid message length ${length} for message type 0x${type.toString(16).padStart(2, '0')}`,
        );
        return;
      }

      const bodyLength = length - 4;
      const available = n - i;
      const complete = available >= bodyLength;

      if (msgStart >= 0 && complete) {
        // Whole message inside this chunk: no copies at all.
        const end = i + bodyLength;
        if (rule === Rule.Rewrite) {
          if (runStart >= 0) {
            this.sink.forward(chunk, runStart, msgStart);
            runStart = -1;
          }
          if (rewriteStart < 0) rewriteStart = msgStart;
          i = end;
          continue;
        }
        if (rewriteStart >= 0) {
          this.rewriteRun(chunk, rewriteStart, msgStart);
          rewriteStart = -1;
          if (this.stopped) return;
        }
        if (rule === Rule.Inspect) {
          if (runStart >= 0) {
            this.sink.forward(chunk, runStart, msgStart);
            runStart = -1;
          }
          this.sink.inspect(type, chunk.subarray(msgStart, end));
        } else {
          if (runStart < 0) runStart = msgStart;
          if (rule === Rule.Observe) {
            // Hand on everything up to and including this message first, so the
            // observer sees the stream in order.
            this.sink.forward(chunk, runStart, end);
            runStart = -1;
            this.sink.observe(type, chunk, msgStart, end);
          }
        }
        i = end;
        if (this.stopped) return;
        if (this.paused) {
          if (runStart >= 0) this.sink.forward(chunk, runStart, i);
          return this.keep(chunk, i);
        }
        continue;
      }

      // The message continues in later chunks (or its header came from earlier ones).
      if (rewriteStart >= 0) {
        this.rewriteRun(chunk, rewriteStart, msgStart);
        rewriteStart = -1;
        if (this.stopped) return;
      }
      this.forwarding = rule === Rule.Forward || rule === Rule.Observe;
      if (this.forwarding) {
        if (msgStart >= 0) {
          if (runStart < 0) runStart = msgStart;
        } else {
          // The header bytes came (at least partly) from the previous chunk and
          // were held back; pass them on now, then the body as it comes.
          this.sink.forward(Buffer.from(this.header), 0, HEADER);
          runStart = i;
        }
      } else if (runStart >= 0) {
        this.sink.forward(chunk, runStart, msgStart);
        runStart = -1;
      }
      if (rule === Rule.Forward) {
        this.collect = null;
      } else {
        const header = Buffer.allocUnsafe(HEADER);
        header[0] = type;
        header.writeUInt32BE(length, 1);
        this.collect = [header];
        this.collectRule = rule;
        this.collectType = type;
      }
      const take = Math.min(available, bodyLength);
      if (this.collect) this.collect.push(Buffer.from(chunk.subarray(i, i + take)));
      i += take;
      this.bodyRemaining = bodyLength - take;
      if (this.bodyRemaining === 0) {
        // Header was split but the body completed in this chunk.
        if (runStart >= 0) {
          this.sink.forward(chunk, runStart, i);
          runStart = -1;
        }
        if (this.collect) {
          this.deliverCollected();
          if (this.stopped) return;
          if (this.paused) return this.keep(chunk, i);
        }
      }
    }
    if (runStart >= 0 && runStart < i) this.sink.forward(chunk, runStart, i);
    if (rewriteStart >= 0) this.rewriteRun(chunk, rewriteStart, i);
  }

  private rewriteRun(chunk: Buffer, start: number, end: number): void {
    (this.sink.rewrite as NonNullable<FramerSink['rewrite']>)(chunk, start, end);
  }

  private keep(chunk: Buffer, from: number): void {
    if (from < chunk.length) this.pending = chunk.subarray(from);
  }

  private deliverCollected(): void {
    const msg = Buffer.concat(this.collect as Buffer[]);
    this.collect = null;
    this.forwarding = false;
    if (this.collectRule === Rule.Inspect) this.sink.inspect(this.collectType, msg);
    else if (this.collectRule === Rule.Rewrite) this.rewriteRun(msg, 0, msg.length);
    else this.sink.observe(this.collectType, msg, 0, msg.length);
  }
}
