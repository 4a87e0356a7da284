/**
 * Per-session protocol tracker for masking. It follows the client's requests
 * (simple and extended protocol, SQL-level cursors and prepared statements)
 * and pairs every server response with the statement that produced it, so
 * each result set, COPY stream and error is judged against the right analysis.
 *
 * Server responses come back in request order, so pending requests are a FIFO:
 * Parse → ParseComplete, Bind → BindComplete, Describe → [ParameterDescription]
 * RowDescription|NoData, Execute → rows then CommandComplete|PortalSuspended|
 * EmptyQuery, Sync/Query/FunctionCall → ReadyForQuery. After an ErrorResponse
 * the server skips to the next Sync, and so does the FIFO.
 */
import type { AnalysisResult, StatementAnalysis } from '../sql/analyze.js';
import type { OutputArena } from '../wire/arena.js';
import { Rule, ruleTable, type RuleTable } from '../wire/framer.js';
import { Queue } from '../util/queue.js';
import { decodeErrorFields, encodeErrorResponse, encodeMessage } from '../wire/messages.js';
import { POSTGRES_SQLSTATES } from '../wire/sqlstates.js';
import {
  RowDescriptionMemo,
  rewriteCopyRow,
  appendMessage,
  CopyTextRewriter,
  type CopyByteRewrite,
  rewriteDataRow,
  type CopyTextFormat,
  type FieldDescription,
  type FieldRewrite,
  MAX_COLUMNS,
} from '../wire/results.js';
import { UNKNOWN_STATEMENT, type CopyPlan, type Gate, type Refusal, type ResultPlan } from './gate.js';

/**
 * A request awaiting its answer. Every entry is an Entry (one object shape
 * whatever its kind: the FIFO's head is read at nearly every message, and
 * objects of many shapes would make each read a slow, megamorphic one); the
 * union says which fields each kind uses.
 */
type Pending =
  | { kind: 'query'; statements: StatementAnalysis[]; index: number; changesReading: boolean; text: string }
  // name: statement (parse, describe S) or portal (bind, execute, describe P).
  | { kind: 'parse'; name: string; statement: PreparedStatement }
  | { kind: 'bind'; name: string; value: Portal }
  | { kind: 'describe'; target: 'S' | 'P'; name: string; swallow: boolean; statement: PreparedStatement | undefined; value: Portal | undefined }
  | { kind: 'execute'; name: string; value: Portal | undefined }
  | { kind: 'close' }
  | { kind: 'sync'; changesReading: boolean }
  | { kind: 'function'; changesReading: boolean }
  | { kind: 'inject'; build: () => Buffer[] };

class Entry {
  name = '';
  statement: PreparedStatement | undefined = undefined;
  value: Portal | undefined = undefined;
  statements: StatementAnalysis[] = NO_STATEMENTS;
  index = 0;
  changesReading = false;
  target: 'S' | 'P' = 'S';
  swallow = false;
  build: (() => Buffer[]) | undefined = undefined;
  /** A Sync the server turned out to ignore (sent into COPY FROM STDIN): skipped when it comes to the head. */
  cancelled = false;
  /** A query's text (for the prepared statements and cursors it creates). */
  text = '';
  /** A poison sent in place of a refused request: its error is answered with this refusal (see refuse). */
  refusal: Refusal | undefined = undefined;
  constructor(readonly kind: Pending['kind']) {}
}

const NO_STATEMENTS: StatementAnalysis[] = [];

/** Entries by kind, their fields set by name (the rest keep the defaults above). */
const pending = {
  query(statements: StatementAnalysis[], changesReading: boolean, text: string): Pending {
    const e = new Entry('query');
    e.statements = statements;
    e.changesReading = changesReading;
    e.text = text;
    return e as unknown as Pending;
  },
  parse(name: string, statement: PreparedStatement): Pending {
    const e = new Entry('parse');
    e.name = name;
    e.statement = statement;
    return e as unknown as Pending;
  },
  bind(portal: string, value: Portal): Pending {
    const e = new Entry('bind');
    e.name = portal;
    e.value = value;
    return e as unknown as Pending;
  },
  describe(target: 'S' | 'P', name: string, swallow: boolean, statement: PreparedStatement | undefined, portal: Portal | undefined): Pending {
    const e = new Entry('describe');
    e.target = target;
    e.name = name;
    e.swallow = swallow;
    e.statement = statement;
    e.value = portal;
    return e as unknown as Pending;
  },
  execute(portal: string, value: Portal | undefined): Pending {
    const e = new Entry('execute');
    e.name = portal;
    e.value = value;
    return e as unknown as Pending;
  },
  close: (): Pending => new Entry('close') as unknown as Pending,
  sync(changesReading: boolean): Pending {
    const e = new Entry('sync');
    e.changesReading = changesReading;
    return e as unknown as Pending;
  },
  function(): Pending {
    const e = new Entry('function');
    e.changesReading = true;
    return e as unknown as Pending;
  },
  inject(build: () => Buffer[]): Pending {
    const e = new Entry('inject');
    e.build = build;
    return e as unknown as Pending;
  },
};

/** Created only by preparedStatement() (one object shape). */
interface PreparedStatement {
  analysis: StatementAnalysis | undefined;
  description: FieldDescription[] | undefined;
  /**
   * The description with the result formats of the last Bind, kept while the
   * formats repeat (they do, Bind after Bind): the same object lets the gate
   * find its plan by identity.
   */
  formatted: { of: FieldDescription[]; formats: readonly number[]; fields: FieldDescription[] } | undefined;
  /** The server refused (or skipped) the Parse that would have created it. */
  rejected: boolean;
  /** The version of the name this Parse would replace, if any (see onBind). */
  shadows: PreparedStatement | undefined;
  /** Where the analysis comes from, to judge it again (see Guard.rejudge). */
  source: StatementSource | undefined;
  /** GuardHooks.judgement() when it was last judged, and the refusal that judgement gave (it stands until the judgement changes). */
  judgedBy: object | undefined;
  refusal: Refusal | undefined;
}

/** SQL text and which part of it a prepared statement or cursor runs: statement `index`, itself or the query it PREPAREs or DECLAREs. */
interface StatementSource {
  text: string;
  index: number;
  part: 'self' | 'prepared' | 'cursor';
}

function preparedStatement(
  analysis: StatementAnalysis | undefined,
  shadows: PreparedStatement | undefined,
  source?: StatementSource,
  judgedBy?: object,
): PreparedStatement {
  return { analysis, description: undefined, formatted: undefined, rejected: false, shadows, source, judgedBy, refusal: undefined };
}

/** Created only by newPortal() (one object shape). */
interface Portal {
  /** The statement the Bind named, and the version of it that was newest then (maybe unconfirmed). */
  statementName: string;
  candidate: PreparedStatement | undefined;
  /** The candidate was unconfirmed while another version was confirmed: which one runs is known only later. */
  ambiguous: boolean;
  /** Result format codes from Bind: [] = all text, [f] = all f, else per column. */
  formats: readonly number[];
  description: FieldDescription[] | undefined;
  /** A Describe of this portal is on its way (the client's or ours). */
  describeRequested: boolean;
  /** The server refused (or skipped) the Bind that would have created it. */
  rejected: boolean;
  /** Created by SQL DECLARE (may outlive its transaction WITH HOLD). */
  portalFromDeclare: boolean;
}

function newPortal(
  statementName: string,
  candidate: PreparedStatement | undefined,
  ambiguous: boolean,
  formats: readonly number[],
  description: FieldDescription[] | undefined,
  portalFromDeclare: boolean,
): Portal {
  return { statementName, candidate, ambiguous, formats, description, describeRequested: false, rejected: false, portalFromDeclare };
}

export interface GuardHooks {
  toUpstream(bytes: Buffer): void;
  toClient(bytes: Buffer): void;
  /** Where rewritten rows are built; they go to the client in order with the next toClient() or commit. */
  clientArena(): OutputArena;
  /** Queues what was built in the arena (after a run of rows). */
  commitClientArena(): void;
  /** Which messages each direction must hand to the guard (see rule tables below). */
  setServerRules(rules: RuleTable): void;
  setClientRules(rules: RuleTable): void;
  gate(): Gate;
  analyze(sql: string): AnalysisResult;
  /**
   * What statements are judged by: the same object while catalog, policy and
   * the session's uncommitted definitions stay the same. A prepared statement
   * judged under another one is judged again before it runs.
   */
  judgement(): object;
}

/** A COPY TO STDOUT whose rows are masked. */
interface CopyOut {
  plan: CopyPlan;
  format: CopyTextFormat;
  headerPending: boolean;
  /** The byte-level fast path, for the default text format. */
  text: CopyTextRewriter | undefined;
}

const READING_UNKNOWN: Refusal = {
  message: 'pgveil refuses this statement: an earlier statement of the same query or pipeline may change client_encoding or standard_conforming_strings, so pgveil cannot tell how the server will read it or write its results',
  hint: 'Send the statement after the answer to the one that changes the setting (its ReadyForQuery), or in a query of its own.',
};

/** Tests set PGVEIL_GUARD_SELF_CHECK=1: remembered answers are compared with fresh ones. */
const SELF_CHECK = process.env.PGVEIL_GUARD_SELF_CHECK === '1';

const EMPTY_PLAN: ResultPlan = { rewrites: [], masks: false };
/**
 * Which observed messages the guard reads beyond their type byte. The others
 * are handed over as NO_BODY (reading it fails loudly, never silently).
 */
const CLIENT_BODY_READ = typeSet('BDC');
// (ReadyForQuery is read for its status byte alone; RowDescription, ErrorResponse
// and NoticeResponse come through the session whole, and are listed in case.)
const SERVER_BODY_READ = typeSet('SHTEN');
const NO_BODY = Buffer.alloc(0);

/** Rows of unknown shape that may carry masked values: NULL in every field, whatever their number. */
const NULL_EVERY_FIELD: ResultPlan = { rewrites: new Array<FieldRewrite>(MAX_COLUMNS).fill(() => null), masks: true };

/** Rows of an Execute whose portal was never described. */
const NO_FIELDS = Object.freeze([]) as unknown as FieldDescription[];

/**
 * Rule tables. Requests that may be refused (Query, Parse, FunctionCall) are
 * held for the guard, and so is Execute: its portal may need a Describe
 * injected before it (asked of the portal when the Execute arrives, so no
 * table has to follow the state of every portal). A held message the guard
 * passes on unchanged is a view of its chunk, so a pipelined chunk still
 * leaves in one write (see BatchedWriter). The rest of the extended protocol
 * is only observed. While skipping to Sync after a refusal, everything is held
 * (and dropped).
 */
const FRONTEND = 'BCdcfDEHFPpQSX';
const CLIENT_RULES = ruleTable({ [FRONTEND]: Rule.Forward, BDCSHXcf: Rule.Observe, QPFE: Rule.Inspect });
const CLIENT_RULES_SKIPPING = ruleTable({ [FRONTEND]: Rule.Forward, Xcf: Rule.Observe, BDECSHQPF: Rule.Inspect });

/**
 * Server side: responses are observed to keep the FIFO in step; errors and
 * notices are held (they may need scrubbing); rows are held only while the
 * current result set has masked columns; descriptions only while one of ours
 * must be kept from the client.
 */
const TRACKED = '123tnTCIsZHcVSG';
const serverTables: RuleTable[] = [];
for (let bits = 0; bits < 8; bits++) {
  // A: NotificationResponse, rewritten by the session (its own backend's pid).
  const spec: Record<string, Rule> = { [TRACKED]: Rule.Observe, ENA: Rule.Inspect };
  if (bits & 1) spec.D = Rule.Rewrite;
  if (bits & 2) spec.d = Rule.Rewrite;
  if (bits & 4) spec.tTn = Rule.Inspect;
  serverTables.push(ruleTable(spec, Rule.Forward));
}

export class Guard {
  private readonly fifo = new Queue<Pending>();
  private readonly names = new NameReader();
  /**
   * Statements and portals the server confirmed (ParseComplete/BindComplete),
   * and those still on their way. A Parse or Bind the server rejects (a name
   * already in use, say) must not replace what the server still holds, so
   * entries become definite only when confirmed; requests queued behind an
   * unconfirmed one see it, as the server will if it succeeds.
   */
  private readonly statements = new Map<string, PreparedStatement>();
  private readonly portals = new Map<string, Portal>();
  // A settled name keeps its key with the value undefined: deleting and adding
  // the same key transaction after transaction makes the map shrink and grow
  // its table each time (see settle()).
  private readonly pendingStatements = new Map<string, PreparedStatement | undefined>();
  private readonly pendingPortals = new Map<string, Portal | undefined>();
  /** After a refused extended-protocol message: drop client messages until Sync. */
  private skipUntilSync = false;
  private txStatus = 0x49; // 'I'
  private plan: ResultPlan = EMPTY_PLAN;
  private copy: CopyOut | undefined;

  private serverRules: RuleTable | undefined;
  private clientRules: RuleTable | undefined;

  constructor(private readonly hooks: GuardHooks) {
    this.updateServerRules();
    this.updateClientRules();
  }

  /** The server side depends only on the result set being read and the FIFO's head. */
  private updateServerRules(): void {
    const head = this.fifo.peek();
    const swallow = head?.kind === 'describe' && head.swallow;
    const server = serverTables[(this.plan.masks ? 1 : 0) | (this.copy ? 2 : 0) | (swallow ? 4 : 0)];
    if (server !== this.serverRules) {
      this.serverRules = server;
      this.hooks.setServerRules(server);
    }
  }

  /**
   * The client side depends only on skipUntilSync, which only client messages
   * change (a refused Parse sets it, Sync clears it): the table is always
   * current when the client framer reads the next message.
   */
  private updateClientRules(): void {
    const client = this.chooseClientRules();
    if (client !== this.clientRules) {
      this.clientRules = client;
      this.hooks.setClientRules(client);
    }
  }

  private chooseClientRules(): RuleTable {
    return this.skipUntilSync ? CLIENT_RULES_SKIPPING : CLIENT_RULES;
  }

  /** Self-check: the message now handled was read with the client rule table the current state calls for. */
  private checkClientRules(): void {
    if (this.chooseClientRules() !== this.clientRules) throw new Error('guard: a client message was read with a stale rule table');
  }

  /**
   * From a COPY FROM STDIN sent until the client's CopyDone/CopyFail (or the
   * server's error or ReadyForQuery): the server ignores a Sync it reads in
   * copy-in mode. Until its CopyInResponse arrives it isn't known whether the
   * COPY got that far (it may fail first, and then the Sync is answered), so
   * such Syncs are queued as doubtful and cancelled when CopyInResponse comes.
   */
  private copyIn = false;
  private copyInConfirmed = false;
  private readonly doubtfulSyncs: Entry[] = [];
  /**
   * Errors and notices can surface after the statement that caused them (a
   * WITH HOLD cursor materialized at COMMIT, an implicit commit at Sync): once
   * a statement that needs scrubbing has run, scrub until the session is idle
   * outside a transaction with no cursors left.
   */
  private scrubSticky = false;

  /** The server's view of how statement text is to be read (ParameterStatus). */
  private clientEncoding = 'UTF8';
  private standardStrings = true;
  /** An Execute that may change how text is read was sent; the next Sync's answer settles it. */
  private readingChangeBeforeSync = false;

  /**
   * Whether a request on its way may change client_encoding or
   * standard_conforming_strings. The server reports the new values just before
   * the ReadyForQuery that answers it; until then the settings are unknown.
   */
  private readingUnknown(): boolean {
    return this.readingChangeBeforeSync || this.readingChanges > 0;
  }

  /** Entries in the FIFO with changesReading (they leave it only at their ReadyForQuery). */
  private readingChanges = 0;

  parameterStatus(name: string, value: string): void {
    if (name === 'client_encoding') {
      this.clientEncoding = value.toUpperCase();
      this.names.setEncoding(this.clientEncoding);
    }
    if (name === 'standard_conforming_strings') this.standardStrings = value === 'on';
  }

  /**
   * pgveil parses statements as UTF-8 with standard-conforming strings, like a
   * default server. Text whose meaning depends on other settings (backslashes
   * with standard_conforming_strings off, non-ASCII bytes in another client
   * encoding) could be read differently by the server: refuse it.
   */
  private unreadable(sql: string): Refusal | undefined {
    if (this.readingUnknown() && (sql.includes('\\') || /[^\x00-\x7f]/.test(sql))) return READING_UNKNOWN;
    if (!this.standardStrings && sql.includes('\\')) {
      return { message: 'pgveil refuses statements with backslashes while standard_conforming_strings is off', hint: 'SET standard_conforming_strings = on' };
    }
    if (this.clientEncoding !== 'UTF8' && /[^\x00-\x7f]/.test(sql)) {
      return { message: `pgveil refuses non-ASCII statements while client_encoding is ${this.clientEncoding}`, hint: "SET client_encoding = 'UTF8'" };
    }
    return undefined;
  }

  /** Masked values are produced as UTF-8: refuse results with masked columns in another client encoding. */
  private encodingRefusal(analysis: StatementAnalysis, readingUnknown = this.readingUnknown()): Refusal | undefined {
    if (readingUnknown && this.hooks.gate().scrubErrors(analysis)) return READING_UNKNOWN;
    if (this.clientEncoding === 'UTF8' || !this.hooks.gate().scrubErrors(analysis)) return undefined;
    return { message: `pgveil masks values only with client_encoding UTF8 (it is ${this.clientEncoding})`, hint: "SET client_encoding = 'UTF8'" };
  }

  /** Requests still waiting for their answers (a running query is not idle). */
  busy(): boolean {
    return this.fifo.length > 0;
  }

  /** How many ReadyForQuery messages the requests sent so far still have coming. */
  readyPending(): number {
    let n = 0;
    this.fifo.forEach((e) => {
      if (!(e as unknown as Entry).cancelled && (e.kind === 'sync' || e.kind === 'query' || e.kind === 'function')) n++;
    });
    return n;
  }

  // ---- client → server ------------------------------------------------------

  /**
   * A client message that was only observed (already on its way), chunk[start, end).
   * Only Bind, Describe and Close are read beyond their type (Execute is always held).
   */
  clientObserved(type: number, chunk: Buffer, start: number, end: number): void {
    // Read where it lies in the chunk: no view of it is made.
    if (CLIENT_BODY_READ[type] === 1) this.clientMessage(type, chunk, true, undefined, start, end);
    else this.clientMessage(type, NO_BODY, true);
  }

  /**
   * A client request; `forwarded` when it was only observed (already on its
   * way); `text`: the statement text of a Query or Parse, when the caller has
   * already decoded it. An observed message may be given as msg[at, end).
   */
  clientMessage(type: number, msg: Buffer, forwarded = false, text?: string, at = 0, end = msg.length): void {
    // A message the guard must pass on itself is always given whole.
    if (!forwarded && (at !== 0 || end !== msg.length)) throw new Error('guard: a held message must be given whole');
    if (SELF_CHECK) this.checkClientRules();
    this.forwarded = forwarded;
    this.refused = false;
    if (this.skipUntilSync && type !== 0x53 /* S */) return;
    switch (type) {
      case 0x51 /* Q */:
        return this.onQuery(msg, text);
      case 0x50 /* P */:
        return this.onParse(msg, text);
      case 0x42 /* B */:
        return this.onBind(msg, at, end);
      case 0x44 /* D */:
        return this.onDescribe(msg, at, end);
      case 0x45 /* E */:
        return this.onExecute(msg, at, end);
      case 0x43 /* C */: {
        const target = byteAt(msg, at + 5, end);
        const name = this.names.read(msg, at + 6, end);
        if (target === 0x53) {
          this.statements.delete(name);
          this.pendingStatements.delete(name);
        } else {
          this.portals.delete(name);
          this.pendingPortals.delete(name);
        }
        this.push(pending.close(), msg);
        return;
      }
      case 0x53 /* S */: {
        if (this.copyIn && this.copyInConfirmed) {
          // The server ignores Sync during COPY FROM STDIN: no ReadyForQuery will answer it.
          if (!forwarded) this.hooks.toUpstream(msg);
          return;
        }
        this.skipUntilSync = false;
        const entry = pending.sync(this.readingChangeBeforeSync);
        if (this.copyIn) this.doubtfulSyncs.push(entry as unknown as Entry);
        this.push(entry, msg);
        this.readingChangeBeforeSync = false;
        this.updateClientRules();
        return;
      }
      case 0x63 /* c CopyDone */:
      case 0x66 /* f CopyFail */:
        this.endCopyIn();
        if (!forwarded) this.hooks.toUpstream(msg);
        return;
      case 0x46 /* F */: {
        const oid = int32At(msg, 5, msg.length) >>> 0;
        const refusal = this.hooks.gate().functionCallRefusal(oid);
        if (refusal) return this.refuseWhole(refusal);
        // Any function may be set_config: until its answer, settings are unknown.
        this.push(pending.function(), msg);
        return;
      }
      default:
        if (!forwarded) this.hooks.toUpstream(msg);
    }
  }

  private onQuery(msg: Buffer, text: string | undefined): void {
    const sql = text ?? msg.toString('utf8', 5, msg.length - 1);
    const unreadable = this.unreadable(sql);
    if (unreadable) return this.refuseWhole(unreadable);
    const result = this.hooks.analyze(sql);
    const gate = this.hooks.gate();
    if (!result.ok) return this.refuseWhole(gate.unparseable(result.error));
    // A multi-statement query runs as one unit: refuse all of it if any part is refused.
    // After a statement that may change how text is read and results written,
    // the rest of the query can't be judged with the settings known now.
    let changesReading = false;
    for (const st of result.statements) {
      const stale = this.rejudgeNamed(st);
      if (stale) return this.refuseWhole(stale);
      if (changesReading && (sql.includes('\\') || /[^\x00-\x7f]/.test(sql))) return this.refuseWhole(READING_UNKNOWN);
      const refusal = gate.refusal(this.effective(st)) ?? this.encodingRefusal(this.effective(st), changesReading || this.readingUnknown());
      if (refusal) return this.refuseWhole(refusal);
      changesReading ||= this.changesReading(st);
    }
    this.noteSent(result.statements, true);
    this.push(pending.query(result.statements, changesReading, sql), msg);
  }

  /** The last client message was refused (it never reaches the server). */
  refused = false;

  /**
   * Refuses a simple query (or FunctionCall). The server gets a poison in its
   * place, a query that fails to parse: it then fails the way the client is
   * told, aborting an open transaction as any error would (statements before
   * it must not commit as if nothing had failed). Its error is answered with
   * the refusal, its ReadyForQuery passes.
   */
  private refuseWhole(refusal: Refusal): void {
    this.refused = true;
    const entry = pending.query(NO_STATEMENTS, false, '') as unknown as Entry;
    entry.refusal = refusal;
    this.push(entry as unknown as Pending, POISON_QUERY);
  }

  /**
   * Refuses an extended-protocol request (Parse, Execute): the server gets a
   * poison in its place (POISON_PARSE), so it skips to Sync and rolls back the
   * pipeline's implicit transaction (or aborts the open one), as it would after
   * an error of its own. Its error is answered with the refusal; the client's
   * messages up to Sync are dropped. (Its queue entry only waits for that
   * error: a swallowed Describe, which nothing else can answer.)
   */
  private refuseRequest(refusal: Refusal): void {
    this.refused = true;
    const entry = pending.describe('P', '', true, undefined, undefined) as unknown as Entry;
    entry.refusal = refusal;
    this.push(entry as unknown as Pending, POISON_PARSE);
    this.skipUntilSync = true;
    this.updateClientRules();
  }

  private onParse(msg: Buffer, text: string | undefined): void {
    const name = this.names.read(msg, 5);
    const query = text ?? cstring(msg, this.names.next).value;
    const result = this.hooks.analyze(query);
    const gate = this.hooks.gate();
    let refusal: Refusal | undefined = this.unreadable(query);
    let analysis: StatementAnalysis | undefined;
    if (!result.ok) refusal ??= gate.unparseable(result.error);
    else {
      analysis = result.statements[0];
      for (const st of result.statements) refusal ??= gate.refusal(this.effective(st)) ?? this.encodingRefusal(this.effective(st));
    }
    if (refusal) return this.refuseRequest(refusal);
    if (analysis) this.noteSent([analysis], false);
    // A Parse of a name already in use (confirmed or still on its way) may be
    // refused by the server: until it answers, which version runs is unknown.
    const statement = preparedStatement(analysis, this.statement(name), { text: query, index: 0, part: 'self' }, this.hooks.judgement());
    this.pendingStatements.set(name, statement);
    this.push(pending.parse(name, statement), msg);
  }

  /** Bind, msg[at, end). */
  private onBind(msg: Buffer, at: number, end: number): void {
    const portalName = this.names.read(msg, at + 5, end);
    const statementName = this.names.read(msg, this.names.next, end);
    let o = this.names.next;
    const nParamFormats = uint16At(msg, o, end);
    o += 2 + 2 * nParamFormats;
    const nParams = uint16At(msg, o, end);
    o += 2;
    for (let i = 0; i < nParams; i++) {
      const len = int32At(msg, o, end);
      o += 4 + (len > 0 ? len : 0);
    }
    const formats = resultFormats(msg, o, end);
    const prepared = this.statement(statementName);
    const confirmed = this.statements.get(statementName);
    const ambiguous = prepared !== undefined && prepared !== confirmed && (confirmed !== undefined || prepared.shadows !== undefined);
    // A statement-level description is only trusted when it is certain which statement runs.
    const description = !ambiguous && prepared?.description ? formattedDescription(prepared, prepared.description, formats) : undefined;
    const value = newPortal(statementName, prepared, ambiguous, formats, description, false);
    this.pendingPortals.set(portalName, value);
    this.push(pending.bind(portalName, value), msg);
  }

  private statement(name: string): PreparedStatement | undefined {
    return this.pendingStatements.get(name) ?? this.statements.get(name);
  }

  private portal(name: string): Portal | undefined {
    return this.pendingPortals.get(name) ?? this.portals.get(name);
  }

  /**
   * The analysis of the statement a portal runs. Resolved when needed: by the
   * time its Execute is answered, the server has accepted or refused every
   * Parse before it, so a refused re-Parse of the name falls back to the
   * version the server still holds.
   */
  private portalAnalysis(p: Portal | undefined): StatementAnalysis | undefined {
    return this.portalStatement(p)?.analysis;
  }

  private portalStatement(p: Portal | undefined): PreparedStatement | undefined {
    if (!p) return undefined;
    return p.candidate && !p.candidate.rejected ? p.candidate : this.statements.get(p.statementName);
  }

  /**
   * Judges a prepared statement (or cursor) again when what statements are
   * judged by has changed since (the catalog was read again after a function
   * was replaced, the session defined something it hasn't committed): the
   * server runs what the names mean now. Updates its analysis; a refusal if
   * it would now be refused.
   */
  private rejudge(ps: PreparedStatement | undefined): Refusal | undefined {
    const source = ps?.source;
    if (!ps || !source) return undefined;
    const judgement = this.hooks.judgement();
    if (ps.judgedBy === judgement) return ps.refusal;
    ps.judgedBy = judgement;
    ps.refusal = this.judge(ps, source);
    return ps.refusal;
  }

  private judge(ps: PreparedStatement, source: StatementSource): Refusal | undefined {
    const result = this.hooks.analyze(source.text);
    const gate = this.hooks.gate();
    if (!result.ok) return gate.unparseable(result.error);
    const st = result.statements[source.index];
    const analysis = source.part === 'prepared' ? st?.prepared : source.part === 'cursor' ? st?.cursorQuery : st;
    ps.analysis = analysis;
    if (!analysis) return undefined;
    return gate.refusal(this.effective(analysis)) ?? this.encodingRefusal(this.effective(analysis));
  }

  /**
   * rejudge for the version of its statement a portal runs. (An ambiguous
   * portal's older version runs only if the newer Parse fails; a re-Parse of
   * the unnamed statement makes every portal ambiguous, and refusing for the
   * older text would refuse the newer one for what it no longer says.)
   */
  private rejudgePortal(portal: Portal): Refusal | undefined {
    return this.rejudge(portal.candidate ?? this.statements.get(portal.statementName));
  }

  /** rejudge for the prepared statement or cursor an SQL EXECUTE / FETCH names. */
  private rejudgeNamed(st: StatementAnalysis): Refusal | undefined {
    if (st.name === undefined) return undefined;
    if (st.kind === 'execute') return this.rejudge(this.statements.get(st.name));
    if (st.kind === 'fetch') {
      const portal = this.portals.get(st.name);
      return portal ? this.rejudgePortal(portal) : undefined;
    }
    return undefined;
  }

  /**
   * The portal an Execute runs: the one its name meant when the Execute was
   * sent (a later Bind of the same name must not relabel it), unless that Bind
   * was rejected, in which case the server still has the earlier one.
   */
  private executedPortal(entry: Extract<Pending, { kind: 'execute' }>): Portal | undefined {
    if (entry.value && !entry.value.rejected) return entry.value;
    return this.portals.get(entry.name);
  }

  /** A portal whose rows need column types nobody has asked the server for yet. */
  private undescribed(p: Portal | undefined): boolean {
    if (p === undefined || p.description || p.describeRequested) return false;
    if (p.ambiguous) return true;
    const analysis = this.portalAnalysis(p);
    return analysis !== undefined && needsDescription(this.effective(analysis));
  }

  /** Describe, msg[at, end). */
  private onDescribe(msg: Buffer, at: number, end: number): void {
    const target = byteAt(msg, at + 5, end) === 0x53 ? 'S' : 'P';
    const name = this.names.read(msg, at + 6, end);
    if (target === 'P') {
      const portal = this.portal(name);
      if (portal) portal.describeRequested = true;
    }
    // What the name means now, in the request stream, not when the answer comes.
    this.push(pending.describe(target, name, false, target === 'S' ? this.statement(name) : undefined, target === 'P' ? this.portal(name) : undefined), msg);
  }

  /** Execute, msg[at, end). */
  private onExecute(msg: Buffer, at: number, end: number): void {
    const name = this.names.read(msg, at + 5, end);
    const portal = this.portal(name);
    const stale = portal && !this.forwarded ? this.rejudgePortal(portal) : undefined;
    if (stale) return this.refuseRequest(stale);
    // (A name read in another client encoding can't be written back: its rows go out as NULLs, see onHeadChanged.)
    if (portal && this.undescribed(portal) && !this.forwarded && !name.startsWith('\0')) {
      // The client never asked for the row shape, but masking needs the column
      // types: ask the server ourselves and keep its answer from the client.
      const describe = Buffer.alloc(7 + Buffer.byteLength(name));
      describe[0] = 0x44;
      describe.writeUInt32BE(describe.length - 1, 1);
      describe[5] = 0x50;
      describe.write(name, 6, 'utf8');
      this.fifo.push(pending.describe('P', name, true, undefined, portal));
      if (this.fifo.length === 1) this.onHeadChanged();
      this.hooks.toUpstream(describe);
      portal.describeRequested = true;
    }
    if (portal && this.portalChangesReading(portal)) this.readingChangeBeforeSync = true;
    // An Execute of a COPY FROM STDIN puts the server in copy-in mode (when it gets that far).
    const runs = portal && this.portalAnalysis(portal);
    if (runs && this.effective(runs).kind === 'copy_in') this.startCopyIn();
    this.push(pending.execute(name, portal), msg);
  }

  /** Whether executing the portal may change the settings; an ambiguous portal may run any version of its statement. */
  private portalChangesReading(portal: Portal): boolean {
    const confirmed = this.statements.get(portal.statementName);
    if (!portal.ambiguous) return this.versionChangesReading(portal.candidate && !portal.candidate.rejected ? portal.candidate : confirmed);
    return this.versionChangesReading(portal.candidate) || this.versionChangesReading(portal.candidate?.shadows) || this.versionChangesReading(confirmed);
  }

  private versionChangesReading(version: PreparedStatement | undefined): boolean {
    return version?.analysis !== undefined && this.changesReading(version.analysis);
  }

  /** Whether running `st` may change client_encoding or standard_conforming_strings (see StatementAnalysis). */
  private changesReading(st: StatementAnalysis): boolean {
    // EXECUTE of a prepared SET, say: what matters is what it runs.
    if (st.changesReading === true || this.effective(st).changesReading === true) return true;
    // Ending a transaction undoes its SETs: a change only if one may have been made in it.
    return st.endsTransaction === true && this.readingChangedInTransaction;
  }

  /**
   * A request that may change the settings was sent since the session was last
   * idle outside a transaction: COMMIT or ROLLBACK may then change them back.
   */
  private readingChangedInTransaction = false;

  /** For EXECUTE / FETCH the analysis that matters is that of the prepared statement / cursor. */
  private effective(st: StatementAnalysis): StatementAnalysis {
    // SQL PREPARE and protocol Parse share one namespace, as do DECLARE and Bind.
    if (st.kind === 'execute' && st.name !== undefined) return this.statements.get(st.name)?.analysis ?? st;
    // The cursor the server has when FETCH runs: a Bind of the name sent behind it isn't done yet.
    if (st.kind === 'fetch' && st.name !== undefined) return this.portalAnalysis(this.portals.get(st.name)) ?? st;
    if (st.kind === 'declare' && st.cursorQuery) return st.cursorQuery;
    if (st.kind === 'prepare' && st.prepared) return st.prepared;
    return st;
  }

  /** Bookkeeping for statements on their way: sticky scrubbing, COPY FROM STDIN (`running`: they run now, not just get parsed). */
  private noteSent(statements: StatementAnalysis[], running: boolean): void {
    const gate = this.hooks.gate();
    for (const st of statements) {
      if (!this.scrubSticky && gate.scrubErrors(this.effective(st))) this.scrubSticky = true;
      // Sync during COPY FROM STDIN gets no answer; the client may send it before our CopyInResponse arrives.
      if (running && st.kind === 'copy_in') this.startCopyIn();
    }
  }

  private startCopyIn(): void {
    if (this.copyIn) return;
    this.copyIn = true;
    this.copyInConfirmed = false;
  }

  private hasCursors(): boolean {
    for (const p of this.portals.values()) if (p.portalFromDeclare) return true;
    return false;
  }

  /** SQL-level PREPARE/DECLARE/DEALLOCATE/CLOSE take effect once the server completed them. */
  /** `source`: where `st` comes from (to judge what it creates again later). */
  private trackSqlLevel(st: StatementAnalysis, source: StatementSource | undefined): void {
    if (st.kind !== 'prepare' && st.kind !== 'declare' && st.kind !== 'deallocate' && st.kind !== 'close_cursor') return;
    const judgedBy = this.hooks.judgement();
    if (st.kind === 'prepare' && st.name !== undefined && st.prepared) {
      this.statements.set(st.name, preparedStatement(st.prepared, undefined, source && { ...source, part: 'prepared' }, judgedBy));
    } else if (st.kind === 'declare' && st.name !== undefined && st.cursorQuery) {
      this.portals.set(st.name, newPortal('', preparedStatement(st.cursorQuery, undefined, source && { ...source, part: 'cursor' }, judgedBy), false, ALL_TEXT, undefined, true));
    } else if (st.kind === 'deallocate') {
      if (st.name === '*') {
        this.statements.clear();
        this.pendingStatements.clear();
      } else if (st.name !== undefined) this.statements.delete(st.name);
    } else if (st.kind === 'close_cursor') {
      if (st.name === '*') this.portals.clear();
      else if (st.name !== undefined) this.portals.delete(st.name);
    }
  }

  /** Whether the message being handled was only observed (already forwarded). */
  private forwarded = false;

  private push(entry: Pending, msg: Buffer): void {
    if ((entry.kind === 'query' || entry.kind === 'sync' || entry.kind === 'function') && entry.changesReading) {
      this.readingChanges++;
      this.readingChangedInTransaction = true;
    }
    this.fifo.push(entry);
    if (this.fifo.length === 1) this.onHeadChanged();
    if (!this.forwarded) this.hooks.toUpstream(msg);
  }

  private pushInject(build: () => Buffer[]): void {
    this.fifo.push(pending.inject(build));
    if (this.fifo.length === 1) this.drainInjects();
  }

  /** Emits refusals that are now in turn, then prepares for the next request's responses. */
  private drainInjects(): void {
    for (let head = this.fifo.peek(); head && (head.kind === 'inject' || (head as unknown as Entry).cancelled); head = this.fifo.peek()) {
      this.fifo.shift();
      if (head.kind === 'inject') for (const b of head.build()) this.hooks.toClient(b);
    }
    this.onHeadChanged();
  }

  /** Copy-in is over (or never began): Syncs still doubtful are answered like any other. */
  private endCopyIn(): void {
    this.copyIn = false;
    this.copyInConfirmed = false;
    this.doubtfulSyncs.length = 0;
  }

  private shift(): void {
    this.fifo.shift();
    this.drainInjects();
  }

  // ---- server → client ------------------------------------------------------

  private serverForwarded = false;
  private readonly rowDescriptions = new RowDescriptionMemo();

  /** Hands a (possibly rewritten) server message on, unless it already went as part of a run. */
  private pass(msg: Buffer): void {
    if (!this.serverForwarded) this.hooks.toClient(msg);
  }

  /**
   * A server message that was only observed (already forwarded), chunk[start, end).
   * Completions and the like are read by their type alone: no view of their bytes.
   */
  serverObserved(type: number, chunk: Buffer, start: number, end: number): void {
    this.serverForwarded = true;
    // ReadyForQuery is read for its status byte only.
    if (type === 0x5a /* Z */) return this.onReadyForQuery(byteAt(chunk, start + 5, end), NO_BODY);
    this.serverMessage(type, SERVER_BODY_READ[type] === 1 ? chunk.subarray(start, end) : NO_BODY, true);
  }

  /** Server messages the guard only watches (already forwarded when this runs, unless swallowed). */
  /** `fields`: the RowDescription already decoded by the caller, if it did (decoded once per result set). */
  serverMessage(type: number, msg: Buffer, forwarded = false, fields?: FieldDescription[]): void {
    this.serverForwarded = forwarded;
    const head = this.fifo.peek();
    switch (type) {
      case 0x31 /* 1 ParseComplete */:
        if (head?.kind === 'parse') {
          head.statement.shadows = undefined;
          settle(this.pendingStatements, head.name, head.statement);
          this.statements.set(head.name, head.statement);
          this.shift();
        }
        this.pass(msg);
        return;
      case 0x32 /* 2 BindComplete */:
        if (head?.kind === 'bind') {
          settle(this.pendingPortals, head.name, head.value);
          this.portals.set(head.name, head.value);
          this.shift();
        }
        this.pass(msg);
        return;
      case 0x33 /* 3 CloseComplete */:
        if (head?.kind === 'close') this.shift();
        this.pass(msg);
        return;
      case 0x74 /* t ParameterDescription */:
        if (!(head?.kind === 'describe' && head.swallow)) this.pass(msg);
        return;
      case 0x6e /* n NoData */:
        if (head?.kind === 'describe') {
          const swallow = head.swallow;
          this.shift();
          if (swallow) return;
        }
        this.pass(msg);
        return;
      case 0x54 /* T RowDescription */:
        return this.onRowDescription(msg, fields ?? this.rowDescriptions.decode(msg));
      case 0x43 /* C CommandComplete */:
      case 0x49 /* I EmptyQueryResponse */:
      case 0x73 /* s PortalSuspended */:
        this.endResultSet();
        if (head?.kind === 'execute') {
          const portal = this.executedPortal(head);
          const analysis = this.portalAnalysis(portal);
          if (type === 0x43 && analysis) this.trackSqlLevel(analysis, this.portalStatement(portal)?.source);
          this.shift();
        } else if (head?.kind === 'query') {
          const analysis = head.statements[head.index];
          if (type === 0x43 && analysis) this.trackSqlLevel(analysis, { text: head.text, index: head.index, part: 'self' });
          head.index++;
        }
        this.pass(msg);
        return;
      case 0x5a /* Z ReadyForQuery */:
        return this.onReadyForQuery(msg[5], msg);
      case 0x45 /* E ErrorResponse */:
        return this.onError(msg);
      case 0x4e /* N NoticeResponse */:
        // A statement that reads masked columns keeps its notices to itself:
        // even withheld, how many arrive and between which rows can follow
        // the values (a CASE over ssn that makes to_tsquery warn).
        if (this.scrubs(this.currentAnalysis())) return;
        return this.pass(msg);
      case 0x48 /* H CopyOutResponse */:
        this.onCopyOut(msg);
        return;
      case 0x63 /* c CopyDone */:
        this.pass(msg);
        return;
      case 0x44 /* D DataRow */:
      case 0x64 /* d CopyData */:
        // The session hands rows over through rows() (REWRITE rule) or forwards
        // them; should one come here held, it must not leave unmasked.
        if (forwarded) return;
        return this.rows(msg, 0, msg.length);
      case 0x53 /* S ParameterStatus */: {
        const nameEnd = msg.indexOf(0, 5);
        const valueEnd = msg.indexOf(0, nameEnd + 1);
        if (nameEnd > 0 && valueEnd > 0) this.parameterStatus(msg.toString('utf8', 5, nameEnd), msg.toString('utf8', nameEnd + 1, valueEnd));
        this.pass(msg);
        return;
      }
      case 0x47 /* G CopyInResponse */:
        // The COPY is in copy-in mode: the Syncs sent behind it are ignored by the server.
        this.copyIn = true;
        this.copyInConfirmed = true;
        for (const e of this.doubtfulSyncs) {
          e.cancelled = true;
          if (e.changesReading) this.readingChanges--;
        }
        this.doubtfulSyncs.length = 0;
        this.pass(msg);
        return;
      case 0x56 /* V FunctionCallResponse */:
      default:
        this.pass(msg);
    }
  }

  /** ReadyForQuery with its status byte; `msg` is the message when it must still be passed on. */
  private onReadyForQuery(status: number, msg: Buffer): void {
    this.txStatus = status;
    if (this.scrubSticky && this.txStatus === 0x49 /* I */ && !this.hasCursors()) this.scrubSticky = false;
    this.endResultSet();
    // Everything up to the request that earned this Z is answered, and the
    // ParameterStatus messages before it told what settings it changed.
    for (let e = this.fifo.peek(); e; e = this.fifo.peek()) {
      this.fifo.shift();
      if ((e as unknown as Entry).cancelled) continue;
      if (e.kind === 'sync' || e.kind === 'query' || e.kind === 'function') {
        if (e.changesReading) this.readingChanges--;
        break;
      }
    }
    if (this.txStatus === 0x49 /* I */ && this.readingChanges === 0 && !this.readingChangeBeforeSync) this.readingChangedInTransaction = false;
    this.pass(msg);
    this.drainInjects();
  }

  private onRowDescription(msg: Buffer, fields: FieldDescription[]): void {
    const head = this.fifo.peek();
    if (head?.kind === 'describe') {
      const swallow = head.swallow;
      if (head.target === 'S') {
        const st = head.statement ?? this.statement(head.name);
        if (st) st.description = fields;
      } else {
        const portal = head.value ?? this.portal(head.name);
        if (portal) portal.description = fields;
      }
      this.shift();
      if (!swallow) this.pass(msg);
      return;
    }
    if (head?.kind === 'query') {
      this.beginResultSet(this.effective(head.statements[head.index] ?? head.statements[head.statements.length - 1]), fields);
    } else {
      // Rows without a known statement: still judged by the wire layer (table OIDs).
      this.beginResultSet(undefined, fields);
    }
    this.pass(msg);
  }

  private beginResultSet(analysis: StatementAnalysis | undefined, fields: FieldDescription[]): void {
    this.setResultPlan(analysis, fields);
    this.updateServerRules();
  }

  /** The plan for the rows to come; the caller updates the rules. */
  private setResultPlan(analysis: StatementAnalysis | undefined, fields: FieldDescription[]): void {
    const gate = this.hooks.gate();
    if (analysis && !this.scrubSticky && gate.scrubErrors(analysis)) this.scrubSticky = true;
    this.plan = gate.resultPlan(analysis, fields);
  }

  private endResultSet(): void {
    // Only masking plans and COPY change the rules.
    const ruled = this.plan.masks || this.copy !== undefined;
    this.plan = EMPTY_PLAN;
    this.copy = undefined;
    if (ruled) this.updateServerRules();
  }

  /**
   * DataRows of an Execute arrive without a RowDescription. They can only come
   * once every earlier request is answered, i.e. when the Execute reaches the
   * head of the FIFO: that is when its portal's plan is set up.
   */
  private onHeadChanged(): void {
    const head = this.fifo.peek();
    if (head?.kind === 'execute') {
      const portal = this.executedPortal(head);
      const raw = this.portalAnalysis(portal);
      const analysis = raw && this.effective(raw);
      if (portal?.description === undefined && (portal === undefined || portal.ambiguous || analysis === undefined || needsDescription(analysis))) {
        // Rows whose shape nobody asked for in time (an Execute of a cursor
        // sent before the query declaring it had completed, say): without
        // column types no mask fits, so every field goes as NULL, unless
        // nothing the statement reads is masked for this session.
        const reads = this.hooks.gate().scrubErrors(analysis ?? UNKNOWN_STATEMENT);
        if (reads) this.scrubSticky = true;
        this.plan = reads ? NULL_EVERY_FIELD : EMPTY_PLAN;
      } else {
        this.setResultPlan(analysis ?? UNKNOWN_STATEMENT, portal?.description ?? NO_FIELDS);
      }
    }
    this.updateServerRules();
  }

  private onCopyOut(msg: Buffer): void {
    const analysis = this.currentAnalysis();
    const binary = msg[5] === 1;
    if (analysis?.copy && !binary && analysis.copy.format !== 'binary') {
      const plan = this.hooks.gate().copyPlan(analysis);
      if (plan.masks) {
        const format: CopyTextFormat = { format: analysis.copy.format === 'csv' ? 'csv' : 'text', delimiter: analysis.copy.delimiter, null: analysis.copy.null, quote: analysis.copy.quote, escape: analysis.copy.escape };
        let text: CopyTextRewriter | undefined;
        if (format.format === 'text' && format.delimiter.length === 1 && format.delimiter.charCodeAt(0) < 0x80 && format.null === '\\N') {
          // Every row has exactly the columns CopyOutResponse announces; if the
          // analysis expected another number, no mask can be matched to a column.
          const columns = msg.readUInt16BE(6);
          const masks = columns === plan.byteRewrites.length ? plan.byteRewrites : new Array<CopyByteRewrite>(columns).fill(plan.byteFallback);
          text = new CopyTextRewriter(format.delimiter.charCodeAt(0), masks);
        }
        this.copy = { plan, format, headerPending: analysis.copy.header && analysis.copy.format === 'csv', text };
        this.updateServerRules();
      }
    }
    this.pass(msg);
  }

  /**
   * Rows of a result set or COPY that has masked columns: DataRow and CopyData
   * messages back to back in src[start, end) (a whole run of a chunk at once).
   * Rewritten rows are built in the client writer's arena.
   */
  rows(input: Buffer, start: number, end: number): void {
    const out = this.hooks.clientArena();
    const plan = this.plan;
    const staged = out.stage(input, start, end);
    const src = staged ?? input;
    let o = staged ? 0 : start;
    if (staged) end -= start;
    while (o < end) {
      const type = src[o];
      if (type === 0x44 /* D */ && plan.masks) {
        o = rewriteDataRow(src, o, plan.rewrites, out);
        continue;
      }
      const next = o + 1 + src.readUInt32BE(o + 1);
      if (type === 0x64 /* d */ && this.copy) this.copyRow(this.copy, src, o, next, out);
      else appendMessage(src, o, next, out);
      o = next;
    }
    this.hooks.commitClientArena();
  }

  private copyRow(copy: CopyOut, src: Buffer, start: number, end: number, out: OutputArena): void {
    if (copy.headerPending) {
      copy.headerPending = false;
      return appendMessage(src, start, end, out);
    }
    if (copy.text) {
      copy.text.row(src, start, out);
      return;
    }
    this.hooks.toClient(rewriteCopyRow(src.subarray(start, end), copy.format, copy.plan.rewrites, copy.plan.fallback));
  }

  private onError(msg: Buffer): void {
    const head = this.fifo.peek();
    // The poison of a refused request failed, as it must: the client gets the refusal.
    const refusal = (head as unknown as Entry | undefined)?.refusal;
    const analysis = refusal ? undefined : this.currentAnalysis();
    this.endResultSet();
    this.endCopyIn();
    // A failed Query or FunctionCall is followed by its ReadyForQuery; nothing to skip.
    if (head?.kind !== 'query' && head?.kind !== 'function') {
      // Extended protocol: the server now skips to Sync; so do we. Parses and
      // Binds it skipped (or rejected) never took effect.
      // (PostgreSQL also skips Query and FunctionCall messages in that state.)
      while (this.fifo.length && this.fifo.peek()?.kind !== 'sync') {
        const e = this.fifo.shift() as Pending;
        if ((e.kind === 'query' || e.kind === 'function') && e.changesReading) this.readingChanges--;
        if (e.kind === 'parse') {
          e.statement.rejected = true;
          e.statement.shadows = undefined;
          settle(this.pendingStatements, e.name, e.statement);
        }
        if (e.kind === 'bind') {
          e.value.rejected = true;
          settle(this.pendingPortals, e.name, e.value);
        }
      }
      this.updateServerRules();
    }
    this.pass(refusal ? errorMessage(refusal) : this.scrubbed(msg, analysis) ?? msg);
  }

  private currentAnalysis(): StatementAnalysis | undefined {
    const head = this.fifo.peek();
    if (!head) return undefined;
    if (head.kind === 'query') return this.effective(head.statements[Math.min(head.index, head.statements.length - 1)]);
    const raw =
      head.kind === 'execute' ? this.portalAnalysis(this.executedPortal(head)) ?? UNKNOWN_STATEMENT
      : head.kind === 'parse' ? head.statement.analysis
      : head.kind === 'bind' ? this.portalAnalysis(head.value) ?? UNKNOWN_STATEMENT
      : undefined;
    return raw && this.effective(raw);
  }

  /** Whether errors and notices now must lose their text (see scrubSticky). */
  private scrubs(analysis: StatementAnalysis | undefined): boolean {
    if (analysis && !this.scrubSticky && this.hooks.gate().scrubErrors(analysis)) this.scrubSticky = true;
    return this.scrubSticky;
  }

  /** An error or notice of a statement that reads masked columns keeps only its SQLSTATE. */
  private scrubbed(msg: Buffer, analysis: StatementAnalysis | undefined): Buffer | undefined {
    if (!this.scrubs(analysis)) return undefined;
    const f = decodeErrorFields(msg);
    const severity = (f.get('V') ?? f.get('S') ?? 'ERROR') as 'ERROR';
    // Server code can raise any code (RAISE … USING ERRCODE = substr(ssn, 1, 5)): only PostgreSQL's own are kept.
    const code = f.get('C') ?? 'XX000';
    return encodeErrorResponse(
      {
        severity,
        code: POSTGRES_SQLSTATES.has(code) ? code : 'P0001',
        message: 'message withheld by pgveil: the statement reads masked columns',
        hint: 'The SQLSTATE is kept; the text could contain masked values.',
      },
      msg[0] === 0x4e ? 'N' : 'E',
    );
  }
}

// ---- helpers ------------------------------------------------------------------

/** A 256-entry table with 1 for each message type in `types`. */
function typeSet(types: string): Uint8Array {
  const set = new Uint8Array(256);
  for (const t of types) set[t.charCodeAt(0)] = 1;
  return set;
}

function cstring(msg: Buffer, offset: number): { value: string; next: number } {
  const end = msg.indexOf(0, offset);
  const stop = end < 0 ? msg.length : end;
  return { value: msg.toString('utf8', offset, stop), next: stop + 1 };
}

function formattedDescription(st: PreparedStatement, description: FieldDescription[], formats: readonly number[]): FieldDescription[] {
  const memo = st.formatted;
  if (memo && memo.of === description && sameFormats(memo.formats, formats)) return memo.fields;
  const fields = applyFormats(description, formats);
  st.formatted = { of: description, formats, fields };
  return fields;
}

function sameFormats(a: readonly number[], b: readonly number[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The common result-format lists (none, all text, all binary), shared rather than built per Bind. */
const ALL_TEXT: readonly number[] = Object.freeze([]);
const ONE_TEXT: readonly number[] = Object.freeze([0]);
const ONE_BINARY: readonly number[] = Object.freeze([1]);

/** Bind's result-format codes, read at `o` (the count, then the codes) and before `end`. */
function resultFormats(msg: Buffer, o: number, end: number): readonly number[] {
  const n = uint16At(msg, o, end);
  if (n === 0) return ALL_TEXT;
  if (n === 1) {
    const f = uint16At(msg, o + 2, end);
    if (f === 0) return ONE_TEXT;
    if (f === 1) return ONE_BINARY;
  }
  const formats: number[] = [];
  for (let i = 0; i < n; i++) formats.push(uint16At(msg, o + 2 + 2 * i, end));
  return formats;
}

/**
 * The request that created map[name] was answered: the name is no longer
 * pending (unless a later request made it pending again). The key stays, with
 * no value, so the map keeps its table; once many names have collected, the
 * settled ones are dropped.
 */
function settle<T>(map: Map<string, T | undefined>, name: string, value: T): void {
  if (map.get(name) !== value) return;
  map.set(name, undefined);
  if (map.size < SETTLED_NAMES || map.size < (nextSweep.get(map) ?? 0)) return;
  map.forEach((v, k) => {
    if (v === undefined) map.delete(k);
  });
  // Many names may still be pending (a long pipeline): sweep again only once the map has doubled.
  nextSweep.set(map, 2 * map.size);
}

const SETTLED_NAMES = 64;
const nextSweep = new WeakMap<Map<string, unknown>, number>();

// Reads within a message that may lie inside a larger chunk: past its end is
// a malformed message (the session then ends), never the next message's bytes.

/** A client message whose fields don't fit its length (the session answers 08P01). */
export class MalformedMessage extends Error {}

function byteAt(msg: Buffer, o: number, end: number): number {
  if (o >= end) throw new MalformedMessage('message too short');
  return msg[o];
}

function uint16At(msg: Buffer, o: number, end: number): number {
  if (o + 2 > end) throw new MalformedMessage('message too short');
  return msg.readUInt16BE(o);
}

function int32At(msg: Buffer, o: number, end: number): number {
  if (o + 4 > end) throw new MalformedMessage('message too short');
  return msg.readInt32BE(o);
}

/**
 * Statement and portal names recur message after message (an ORM's "P0_1",
 * the unnamed ""): each distinct recent name is decoded to a string once.
 */
class NameReader {
  /** Where the last name read ended (the byte after its terminator). */
  next = 0;
  private readonly bytes: Buffer[] = [];
  private readonly values: string[] = [];
  private victim = 0;
  private encoding = 'UTF8';

  /**
   * The client encoding names arrive in. A name with non-ASCII bytes means
   * what the server decodes it to: pgveil knows that only for valid UTF-8 in
   * UTF8. Any other such name gets a key of its own (NUL, the encoding, the
   * bytes one to one), so two names never share a key, and a key never
   * matches a name the server would read differently: at worst a statement
   * or portal is unknown, and unknown ones are masked whole.
   */
  setEncoding(encoding: string): void {
    if (encoding === this.encoding) return;
    this.encoding = encoding;
    this.bytes.length = 0;
    this.values.length = 0;
  }

  /** The NUL-terminated name at msg[offset], which must end before `limit`. */
  read(msg: Buffer, offset: number, limit = msg.length): string {
    let end = offset;
    while (end < limit && msg[end] !== 0) end++;
    if (end >= limit) throw new MalformedMessage('name not terminated within its message');
    this.next = end + 1;
    const len = end - offset;
    if (len === 0) return '';
    for (let k = 0; k < this.bytes.length; k++) {
      const b = this.bytes[k];
      if (b.length !== len) continue;
      let i = 0;
      while (i < len && b[i] === msg[offset + i]) i++;
      if (i === len) return this.values[k];
    }
    let value = msg.toString('utf8', offset, end);
    let ascii = true;
    for (let i = offset; i < end && ascii; i++) ascii = msg[i] < 0x80;
    if (!ascii && (this.encoding !== 'UTF8' || Buffer.byteLength(value) !== len || value.includes('\ufffd'))) {
      value = `\0${this.encoding}\0${msg.toString('latin1', offset, end)}`;
    }
    if (len <= 64) {
      // A few slots, replaced in turn: enough for a client's handful of hot statements.
      const slot = this.bytes.length < NAME_SLOTS ? this.bytes.length : this.victim++ % NAME_SLOTS;
      this.bytes[slot] = Buffer.from(msg.subarray(offset, end));
      this.values[slot] = value;
    }
    return value;
  }
}

const NAME_SLOTS = 8;

function applyFormats(fields: FieldDescription[], formats: readonly number[]): FieldDescription[] {
  return fields.map((f, i) => ({ ...f, format: (formats.length === 0 ? 0 : formats.length === 1 ? formats[0] : formats[i] ?? 0) === 1 ? 1 : 0 }));
}

function needsDescription(analysis: StatementAnalysis): boolean {
  return analysis.outputs === undefined || analysis.outputs.some((o) => o.sources.size > 0);
}

/** What the server gets in place of a refused simple query: it can only fail to parse. */
const POISON_QUERY = encodeMessage('Q', Buffer.from('pgveil_refused_this_statement\0', 'utf8'));

/**
 * What the server gets in place of a refused Parse or Execute: a Parse of a
 * text that can't parse, so it can only fail (whatever statements or portals
 * the client named), and it creates or drops nothing (a named statement: the
 * unnamed one is left alone).
 */
const POISON_PARSE = encodeMessage('P', Buffer.from('\x7fpgveil refused\0pgveil_refused_this_statement\0\0\0', 'utf8'));

function errorMessage(refusal: Refusal): Buffer {
  return encodeErrorResponse({ severity: 'ERROR', code: '42501', message: refusal.message, detail: refusal.detail, hint: refusal.hint });
}

