/**
 * Framer: random message streams cut into random chunks (1-byte chunks,
 * splits inside headers, empty chunks, whole streams), random rules per type,
 * and a recording sink checked against the stream (pure unit tests):
 *
 *  i.   forwarded bytes + inspected / rewritten messages, in callback order,
 *       are exactly the stream: each message once, in order;
 *  ii.  every REWRITE message arrives in a rewrite(chunk, start, end) call that
 *       holds whole REWRITE messages only, and runs inside a chunk are maximal;
 *  iii. observe(m) comes right after m's last byte was forwarded (and before
 *       anything after it);
 *  iv.  an invalid type or length: everything before it is delivered, then one
 *       violation, then nothing;
 *  and rule tables changed from an observe / inspect callback apply to the
 *  very next message, also inside the same chunk.
 */
import { describe, expect, it } from 'vitest';
import { Framer, Rule, ruleTable, type FramerSink, type RuleTable } from '../src/wire/framer.js';
import { Rng } from './support/rng.js';



function fail(message: string): never {
  throw new Error(message);
}

// ---------------------------------------------------------------- streams & chunks

interface Msg {
  type: number;
  start: number;
  end: number;
}

const TYPES = [...'DCTZdcNSE1'].map((c) => c.charCodeAt(0));
const RULES = [Rule.Forward, Rule.Observe, Rule.Inspect, Rule.Rewrite] as const;
const RULE_NAME: Record<number, string> = { 0: 'Invalid', 1: 'Forward', 2: 'Observe', 3: 'Inspect', 4: 'Rewrite' };
const MAX_LENGTH = 1 << 20;

function message(type: number, body: Buffer): Buffer {
  const m = Buffer.allocUnsafe(5 + body.length);
  m[0] = type;
  m.writeUInt32BE(4 + body.length, 1);
  body.copy(m, 5);
  return m;
}

function randomBody(r: Rng, maxBody: number): Buffer {
  const k = r.int(100);
  const n = k < 15 ? 0 : k < 65 ? 1 + r.int(20) : k < 90 ? 20 + r.int(280) : k < 98 ? 300 + r.int(4700) : 20_000 + r.int(50_000);
  const b = Buffer.allocUnsafe(Math.min(n, maxBody));
  for (let i = 0; i < b.length; i++) b[i] = r.int(256);
  return b;
}

function buildStream(parts: readonly Buffer[]): { stream: Buffer; msgs: Msg[] } {
  const msgs: Msg[] = [];
  let o = 0;
  for (const p of parts) {
    msgs.push({ type: p[0], start: o, end: o + p.length });
    o += p.length;
  }
  return { stream: Buffer.concat(parts), msgs };
}

type Chunking = '1-byte' | 'tiny' | 'small' | 'large' | 'headers' | 'whole';
const CHUNKINGS: Chunking[] = ['1-byte', 'tiny', 'small', 'large', 'headers', 'whole'];

/** Cut points for a chunking strategy; each chunk is its own Buffer (as from a socket), with some empty chunks. */
function chunkify(r: Rng, stream: Buffer, msgs: readonly Msg[], how: Chunking): Buffer[] {
  const cuts = new Set<number>();
  switch (how) {
    case '1-byte':
      for (let i = 1; i < stream.length; i++) cuts.add(i);
      break;
    case 'tiny':
    case 'small':
    case 'large': {
      const max = how === 'tiny' ? 7 : how === 'small' ? 200 : 20_000;
      for (let i = 1 + r.int(max); i < stream.length; i += 1 + r.int(max)) cuts.add(i);
      break;
    }
    case 'headers':
      // Inside headers (1–4 bytes in), at boundaries (0) and right after headers (5).
      for (const m of msgs) if (r.chance(0.5)) cuts.add(m.start + r.int(6));
      for (let i = 0; i < 5; i++) cuts.add(r.int(stream.length));
      break;
    case 'whole':
      break;
  }
  const points = [...cuts].filter((c) => c > 0 && c < stream.length).sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let prev = 0;
  for (const p of [...points, stream.length]) {
    chunks.push(Buffer.from(stream.subarray(prev, p)));
    if (how !== '1-byte' && r.chance(0.03)) chunks.push(Buffer.alloc(0));
    prev = p;
  }
  return chunks;
}

// ---------------------------------------------------------------- recording sink

type Event =
  | { kind: 'forward'; bytes: Buffer }
  | { kind: 'observe'; type: number; msg: Buffer }
  | { kind: 'inspect'; type: number; msg: Buffer }
  | { kind: 'rewrite'; bytes: Buffer; chunk: Buffer; start: number; end: number; push: number }
  | { kind: 'violation'; reason: string };

/** A rule change the sink makes from an observe / inspect callback. */
interface Switch {
  type: number;
  rule: Rule;
  /** Assign a new table (as the guard does) rather than edit the current one. */
  replace: boolean;
}

class Recorder implements FramerSink {
  readonly events: Event[] = [];
  framer!: Framer;
  /** Number of the push() being processed, to tell rewrite runs of one chunk apart. */
  push = 0;
  private nextSwitch = 0;

  constructor(
    /** Messages of these types make the sink apply the next switch when it sees them. */
    private readonly triggers: ReadonlySet<number> = new Set(),
    private readonly switches: readonly Switch[] = [],
  ) {}

  /** chunk[start, end) (the defaults also take the older one-slice form). */
  forward(chunk: Buffer, start = 0, end = chunk.length): void {
    if (!(start >= 0 && start <= end && end <= chunk.length)) fail(`forward(chunk of ${chunk.length}, ${start}, ${end}): bad range`);
    this.events.push({ kind: 'forward', bytes: Buffer.from(chunk.subarray(start, end)) });
  }
  observe(type: number, chunk: Buffer, start: number, end: number): void {
    this.events.push({ kind: 'observe', type, msg: Buffer.from(chunk.subarray(start, end)) });
    this.seen(type);
  }
  inspect(type: number, msg: Buffer): void {
    this.events.push({ kind: 'inspect', type, msg: Buffer.from(msg) });
    this.seen(type);
  }
  rewrite(chunk: Buffer, start: number, end: number): void {
    if (!(start >= 0 && start < end && end <= chunk.length)) fail(`rewrite(chunk of ${chunk.length}, ${start}, ${end}): bad range`);
    this.events.push({ kind: 'rewrite', bytes: Buffer.from(chunk.subarray(start, end)), chunk, start, end, push: this.push });
  }
  violation(reason: string): void {
    this.events.push({ kind: 'violation', reason });
  }
  private seen(type: number): void {
    if (!this.triggers.has(type) || this.nextSwitch >= this.switches.length) return;
    applySwitch(this.switches[this.nextSwitch++], this.framer);
  }
}

function applySwitch(s: Switch, holder: { rules: RuleTable }): void {
  if (s.replace) {
    const table = Uint8Array.from(holder.rules);
    table[s.type] = s.rule;
    holder.rules = table;
  } else {
    holder.rules[s.type] = s.rule;
  }
}

/** The rule each message gets: the table as the previous messages' callbacks left it. */
function expectedRules(msgs: readonly Msg[], initial: RuleTable, triggers: ReadonlySet<number>, switches: readonly Switch[]): Rule[] {
  const model = { rules: Uint8Array.from(initial) as RuleTable };
  let next = 0;
  return msgs.map((m) => {
    const rule = model.rules[m.type] as Rule;
    if ((rule === Rule.Observe || rule === Rule.Inspect) && triggers.has(m.type) && next < switches.length) applySwitch(switches[next++], model);
    return rule;
  });
}

function run(chunks: readonly Buffer[], rules: RuleTable, recorder: Recorder, maxLength = MAX_LENGTH): Framer {
  const framer = new Framer(recorder, rules, maxLength);
  recorder.framer = framer;
  for (const c of chunks) {
    recorder.push++;
    framer.push(c);
  }
  return framer;
}

/**
 * Checks i–iii: walks the callbacks with `pos` = how much of the stream has
 * been handed on (forwarded, inspected or rewritten).
 */
function verify(stream: Buffer, msgs: readonly Msg[], rules: readonly Rule[], events: readonly Event[], where: string): void {
  const observed = msgs.map((_, i) => i).filter((i) => rules[i] === Rule.Observe);
  let nextObserved = 0;
  let pos = 0;
  let k = 0; // first message not completely handed on
  const at = (i: number) => `${where}: event ${i} (${events[i].kind}) at stream offset ${pos}`;
  const advance = () => {
    while (k < msgs.length && msgs[k].end <= pos) k++;
  };
  const slice = (bytes: Buffer, i: number) => {
    if (!bytes.equals(stream.subarray(pos, pos + bytes.length))) fail(`${at(i)}: ${bytes.length} bytes that are not the stream's next bytes`);
  };
  let previous: Event | undefined;
  events.forEach((ev, i) => {
    switch (ev.kind) {
      case 'forward': {
        slice(ev.bytes, i);
        for (let j = k; j < msgs.length && msgs[j].start < pos + ev.bytes.length; j++) {
          if (rules[j] !== Rule.Forward && rules[j] !== Rule.Observe) fail(`${at(i)}: forwards bytes of message ${j} (${String.fromCharCode(msgs[j].type)}, rule ${RULE_NAME[rules[j]]})`);
        }
        pos += ev.bytes.length;
        break;
      }
      case 'inspect': {
        const m = msgs[k];
        if (!m || m.start !== pos) fail(`${at(i)}: not at a message boundary`);
        if (rules[k] !== Rule.Inspect) fail(`${at(i)}: message ${k} has rule ${RULE_NAME[rules[k]]}`);
        if (ev.type !== m.type) fail(`${at(i)}: type ${ev.type}, message ${k} is ${m.type}`);
        if (!ev.msg.equals(stream.subarray(m.start, m.end))) fail(`${at(i)}: message ${k} bytes differ`);
        pos = m.end;
        break;
      }
      case 'rewrite': {
        const m = msgs[k];
        if (!m || m.start !== pos) fail(`${at(i)}: rewrite does not start at a message boundary`);
        slice(ev.bytes, i);
        const end = pos + ev.bytes.length;
        let j = k;
        for (; j < msgs.length && msgs[j].end <= end; j++) {
          if (rules[j] !== Rule.Rewrite) fail(`${at(i)}: message ${j} (${String.fromCharCode(msgs[j].type)}, rule ${RULE_NAME[rules[j]]}) inside a rewrite run`);
        }
        if (j === k || msgs[j - 1].end !== end) fail(`${at(i)}: rewrite run does not end at a message boundary`);
        // Runs are maximal: two adjacent pieces of one chunk in one push() would have been one call.
        if (previous?.kind === 'rewrite' && previous.chunk === ev.chunk && previous.push === ev.push && previous.end === ev.start) {
          fail(`${at(i)}: rewrite run split in two (${previous.start}-${previous.end}, ${ev.start}-${ev.end})`);
        }
        pos = end;
        break;
      }
      case 'observe': {
        const idx = observed[nextObserved++];
        if (idx === undefined) fail(`${at(i)}: observe of a message without the Observe rule`);
        const m = msgs[idx];
        if (pos !== m.end) fail(`${at(i)}: observe of message ${idx} [${m.start}, ${m.end}) when ${pos} bytes are handed on (must be exactly its end)`);
        if (ev.type !== m.type || !ev.msg.equals(stream.subarray(m.start, m.end))) fail(`${at(i)}: observed message ${idx} differs`);
        break;
      }
      case 'violation':
        fail(`${at(i)}: unexpected violation: ${ev.reason}`);
    }
    advance();
    previous = ev;
  });
  if (pos !== stream.length) fail(`${where}: ${pos} of ${stream.length} bytes handed on`);
  if (nextObserved !== observed.length) fail(`${where}: ${nextObserved} of ${observed.length} Observe messages observed`);
}

function randomRules(r: Rng): RuleTable {
  const table = ruleTable({});
  for (const t of TYPES) table[t] = r.pick(RULES);
  return table;
}

// ---------------------------------------------------------------- tests

describe('Framer on random streams and chunkings', () => {
  it('i–iii: each message once, in order, rewrite runs of whole messages, observe right after forwarding', () => {
    let runs = 0;
    for (let seed = 1; seed <= 120; seed++) {
      const r = new Rng(seed);
      const how = CHUNKINGS[seed % CHUNKINGS.length];
      const maxBody = how === '1-byte' ? 400 : how === 'tiny' ? 5000 : 70_000;
      const count = how === '1-byte' ? 1 + r.int(40) : 1 + r.int(200);
      const { stream, msgs } = buildStream(Array.from({ length: count }, () => message(r.pick(TYPES), randomBody(r, maxBody))));
      const rules = randomRules(r);
      const recorder = new Recorder();
      run(chunkify(r, stream, msgs, how), Uint8Array.from(rules), recorder);
      verify(stream, msgs, msgs.map((m) => rules[m.type] as Rule), recorder.events, `seed=${seed} chunking=${how}`);
      runs++;
    }
    expect(runs).toBe(120);
  });

  it('the same stream gives the same hand-on under every chunking', () => {
    const r = new Rng(4242);
    const { stream, msgs } = buildStream(Array.from({ length: 60 }, () => message(r.pick(TYPES), randomBody(r, 2000))));
    for (let variant = 0; variant < 20; variant++) {
      const rules = randomRules(r);
      for (const how of CHUNKINGS) {
        const recorder = new Recorder();
        run(chunkify(r, stream, msgs, how), Uint8Array.from(rules), recorder);
        verify(stream, msgs, msgs.map((m) => rules[m.type] as Rule), recorder.events, `variant=${variant} chunking=${how}`);
      }
    }
  });

  it('rule tables switched from observe / inspect callbacks apply from the next message on, same chunk or not', () => {
    for (let seed = 300; seed < 450; seed++) {
      const r = new Rng(seed);
      const how = CHUNKINGS[seed % CHUNKINGS.length];
      const count = how === '1-byte' ? 1 + r.int(40) : 1 + r.int(150);
      const { stream, msgs } = buildStream(Array.from({ length: count }, () => message(r.pick(TYPES), randomBody(r, how === '1-byte' ? 200 : 5000))));
      const initial = randomRules(r);
      const triggers = new Set(TYPES.filter(() => r.chance(0.4)));
      const switches: Switch[] = Array.from({ length: 1 + r.int(40) }, () => ({ type: r.pick(TYPES), rule: r.pick(RULES), replace: r.chance(0.5) }));
      const recorder = new Recorder(triggers, switches);
      run(chunkify(r, stream, msgs, how), Uint8Array.from(initial), recorder);
      verify(stream, msgs, expectedRules(msgs, initial, triggers, switches), recorder.events, `seed=${seed} chunking=${how}`);
    }
  });

  it('iv: an invalid type or length: all before it handed on, one violation, then nothing (also for later pushes)', () => {
    for (let seed = 600; seed < 800; seed++) {
      const r = new Rng(seed);
      const how = CHUNKINGS[seed % CHUNKINGS.length];
      const count = 1 + r.int(how === '1-byte' ? 20 : 80);
      const maxBody = how === '1-byte' ? 200 : 5000;
      const parts = Array.from({ length: count }, () => message(r.pick(TYPES), randomBody(r, maxBody)));
      const bad = r.int(count + 1);
      let badMessage: Buffer;
      switch (r.int(4)) {
        case 0:
          badMessage = message(r.pick([0x00, 0x58 /* X: not in the table */, 0xff]), randomBody(r, 50));
          break;
        case 1:
          badMessage = Buffer.from([r.pick(TYPES), 0, 0, 0, r.int(4)]); // length < 4
          break;
        case 2:
          badMessage = Buffer.concat([Buffer.from([r.pick(TYPES)]), Buffer.alloc(4), randomBody(r, 50)]);
          badMessage.writeUInt32BE(MAX_LENGTH + 1 + r.int(1000), 1);
          break;
        default:
          badMessage = Buffer.from([r.pick(TYPES), 0xff, 0xff, 0xff, 0xff, 1, 2, 3]);
      }
      parts.splice(bad, 0, badMessage);
      const { stream, msgs } = buildStream(parts);
      const rules = randomRules(r);
      const recorder = new Recorder();
      const framer = run(chunkify(r, stream, msgs, how), Uint8Array.from(rules), recorder);
      const where = `seed=${seed} chunking=${how} bad=${bad}`;
      const events = recorder.events;
      const last = events[events.length - 1];
      if (last?.kind !== 'violation') fail(`${where}: the last event is ${last?.kind}, not a violation`);
      if (events.filter((e) => e.kind === 'violation').length !== 1) fail(`${where}: more than one violation`);
      const before = msgs.slice(0, bad);
      verify(stream.subarray(0, msgs[bad].start), before, before.map((m) => rules[m.type] as Rule), events.slice(0, -1), where);
      const n = events.length;
      framer.push(message(TYPES[0], Buffer.from('after')));
      expect(events.length, where).toBe(n);
    }
  });

  it('a length of exactly maxLength passes, one more is a violation', () => {
    const rules = ruleTable({ D: Rule.Forward });
    const ok = message(0x44, Buffer.alloc(96)); // length 100
    const okRecorder = new Recorder();
    run([ok], rules, okRecorder, 100);
    expect(okRecorder.events).toEqual([{ kind: 'forward', bytes: ok }]);
    const tooLong = message(0x44, Buffer.alloc(97));
    const badRecorder = new Recorder();
    run([ok, tooLong], rules, badRecorder, 100);
    expect(badRecorder.events.map((e) => e.kind)).toEqual(['forward', 'violation']);
  });
});

describe('Framer: targeted', () => {
  const D = (s: string) => message(0x44, Buffer.from(s));
  const C = message(0x43, Buffer.from('SELECT 4\0'));
  const one = message(0x31, Buffer.alloc(0));

  it('a chunk of whole FORWARD messages is one forward() of the chunk itself, without a copy', () => {
    const chunk = Buffer.concat([D('a'), D('bb'), C, D('ccc')]);
    const calls: Buffer[] = [];
    const sink: FramerSink = { forward: (b: Buffer, start = 0, end = b.length) => calls.push(b.subarray(start, end)), observe: () => fail('observe'), inspect: () => fail('inspect'), violation: (r) => fail(r) };
    new Framer(sink, ruleTable({ DC: Rule.Forward }), MAX_LENGTH).push(chunk);
    expect(calls.length).toBe(1);
    expect(calls[0].buffer).toBe(chunk.buffer);
    expect(calls[0].byteOffset).toBe(chunk.byteOffset);
    expect(calls[0].length).toBe(chunk.length);
  });

  it('a chunk of whole REWRITE messages is one rewrite() call over the chunk', () => {
    const chunk = Buffer.concat([D('a'), D('bb'), D('ccc')]);
    const recorder = new Recorder();
    run([chunk], ruleTable({ D: Rule.Rewrite }), recorder);
    expect(recorder.events.length).toBe(1);
    const ev = recorder.events[0];
    expect(ev.kind === 'rewrite' && ev.chunk === chunk && ev.start === 0 && ev.end === chunk.length).toBe(true);
  });

  it("'D' switched from Rewrite to Forward when the sink observes 'C', mid-chunk", () => {
    for (const replace of [false, true]) {
      const chunk = Buffer.concat([D('r1'), D('r2'), C, D('f1'), D('f2')]);
      const recorder = new Recorder(new Set([0x43]), [{ type: 0x44, rule: Rule.Forward, replace }]);
      run([chunk], ruleTable({ D: Rule.Rewrite, C: Rule.Observe }), recorder);
      const summary = recorder.events.map((e) => (e.kind === 'observe' || e.kind === 'inspect' ? `${e.kind} ${String.fromCharCode(e.type)}` : e.kind === 'violation' ? e.reason : `${e.kind} ${e.bytes.length}`));
      expect(summary, `replace=${replace}`).toEqual([`rewrite ${2 * D('r1').length}`, `forward ${C.length}`, 'observe C', `forward ${2 * D('f1').length}`]);
    }
  });

  it("'D' switched from Forward to Rewrite by an inspected message, mid-chunk, and back by an observed one", () => {
    const chunk = Buffer.concat([D('f1'), D('f2'), one, D('r1'), D('r2'), C, D('f3')]);
    const recorder = new Recorder(new Set([0x31, 0x43]), [
      { type: 0x44, rule: Rule.Rewrite, replace: true },
      { type: 0x44, rule: Rule.Forward, replace: false },
    ]);
    run([chunk], ruleTable({ D: Rule.Forward, 1: Rule.Inspect, C: Rule.Observe }), recorder);
    const kinds = recorder.events.map((e) => e.kind);
    expect(kinds).toEqual(['forward', 'inspect', 'rewrite', 'forward', 'observe', 'forward']);
    const second = recorder.events[2];
    expect(second.kind === 'rewrite' && second.bytes.equals(Buffer.concat([D('r1'), D('r2')]))).toBe(true);
  });

  it('a REWRITE message spanning chunks arrives whole as rewrite(msg, 0, msg.length), between the runs around it', () => {
    const big = D('x'.repeat(100));
    const stream = Buffer.concat([D('a'), D('b'), big, D('c'), D('d')]);
    const cut1 = D('a').length + D('b').length + 3; // inside big's header
    const cut2 = cut1 + 50;
    const recorder = new Recorder();
    run([stream.subarray(0, cut1), stream.subarray(cut1, cut2), stream.subarray(cut2)].map((c) => Buffer.from(c)), ruleTable({ D: Rule.Rewrite }), recorder);
    const rewrites = recorder.events.map((e) => (e.kind === 'rewrite' ? e.bytes.length : -1));
    expect(rewrites).toEqual([2 * D('a').length, big.length, 2 * D('c').length]);
    const spanning = recorder.events[1];
    expect(spanning.kind === 'rewrite' && spanning.start === 0 && spanning.end === spanning.chunk.length).toBe(true);
  });
});

describe('the framer checks can fail', () => {
  it('verify() rejects a reordered, a duplicated and a misclassified hand-on', () => {
    const r = new Rng(9);
    const { stream, msgs } = buildStream([message(0x44, Buffer.from('one')), message(0x43, Buffer.from('two')), message(0x44, Buffer.from('three'))]);
    const rules: Rule[] = [Rule.Rewrite, Rule.Observe, Rule.Rewrite];
    const recorder = new Recorder();
    run(chunkify(r, stream, msgs, 'whole'), ruleTable({ D: Rule.Rewrite, C: Rule.Observe }), recorder);
    verify(stream, msgs, rules, recorder.events, 'control');
    const ev = recorder.events;
    expect(() => verify(stream, msgs, rules, [ev[1], ev[0], ...ev.slice(2)], 'reordered')).toThrow();
    expect(() => verify(stream, msgs, rules, [ev[0], ...ev], 'duplicated')).toThrow();
    expect(() => verify(stream, msgs, rules, ev.slice(0, -1), 'dropped')).toThrow();
    expect(() => verify(stream, msgs, [Rule.Rewrite, Rule.Forward, Rule.Rewrite], ev, 'not an Observe message')).toThrow();
    // Observe before its bytes were forwarded.
    expect(() => verify(stream, msgs, rules, [ev[0], ev[2], ev[1], ...ev.slice(3)], 'observe first')).toThrow();
  });
});
