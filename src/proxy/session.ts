import type net from 'node:net';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { Framer, Rule, ruleTable, type FramerSink } from '../wire/framer.js';
import {
  AuthCode,
  FRONTEND_TYPES,
  MAX_STARTUP_PACKET,
  StartupCode,
  decodeSaslMechanisms,
  decodeStartupParameters,
  encodeBackendKeyData,
  encodeErrorResponse,
  encodeSaslMechanisms,
} from '../wire/messages.js';
import { connectUpstream, sendUpstreamCancel, type UpstreamLink } from './upstream.js';
import type { ProxyContext } from './context.js';
import { Guard, MalformedMessage } from './guard.js';
import { BatchedWriter } from './batched-writer.js';
import { copySpan, sameBytes } from '../util/bytes.js';
import { PolicyGate } from '../gate/policy-gate.js';
import { PendingDefinitions } from '../gate/pending-definitions.js';
import { HARMLESS_READ, SessionScreen } from '../gate/screen.js';
import { analyzeSql, type AnalysisResult, type StatementAnalysis } from '../sql/analyze.js';
import { CatalogSnapshot } from '../catalog/snapshot.js';
import type { CatalogHandle, CatalogManager } from '../catalog/manager.js';
import { RowDescriptionMemo, type FieldDescription } from '../wire/results.js';

/** Client → server: every frontend type is valid; S/Q/F each earn one ReadyForQuery, X ends the session. */
const CLIENT_RULES = ruleTable({ [FRONTEND_TYPES]: Rule.Forward, SQFX: Rule.Observe });
/** Server → client while authenticating: auth requests and the backend key are rewritten. */
const UPSTREAM_AUTH_RULES = ruleTable({ R: Rule.Inspect, K: Rule.Inspect, Z: Rule.Observe, S: Rule.Observe }, Rule.Forward);
/** Server → client afterwards: bytes pass untouched; ReadyForQuery tells us when the session is idle. */
const UPSTREAM_READY_RULES = ruleTable({ Z: Rule.Observe, A: Rule.Inspect }, Rule.Forward);

const NO_CATALOG_NEEDED = new Set(['TransactionStmt', 'VariableSetStmt', 'VariableShowStmt', 'DiscardStmt', 'ListenStmt', 'UnlistenStmt']);

/** An empty catalog for analysis while the real one is unavailable (the gate then fails closed). */
const NO_CATALOG = new CatalogSnapshot({ relations: [], memberships: {}, functions: [], domainBase: {} });

/** PostgreSQL's own limit for one message is 1 GB; the server is trusted up to that. */
const MAX_UPSTREAM_MESSAGE = 0x40000000;

const SCRAM_PLUS = 'SCRAM-SHA-256-PLUS';

type Phase = 'startup' | 'connecting' | 'auth' | 'ready' | 'closed';

/** Where the statement text of a Query or Parse starts in the message. */
function statementStart(type: number, message: Buffer): number {
  return type === 0x51 ? 5 : message.indexOf(0, 5) + 1;
}

/** Where it ends (its terminating zero byte, or the message's end). */
function statementEnd(type: number, message: Buffer, start: number): number {
  if (type === 0x51) return message.length - 1;
  const end = message.indexOf(0, start);
  return end < 0 ? message.length : end;
}

export class Session {
  readonly id: string;
  readonly clientAddress: string;
  readonly startedAt = Date.now();
  phase: Phase = 'startup';
  /** Set only after the upstream server said AuthenticationOk. */
  user: string | undefined;
  database: string | undefined;
  /** Our BackendKeyData, handed to the client instead of the server's. */
  proxyPid = 0;
  proxyKey: Buffer = Buffer.alloc(0);
  upstreamPid = 0;
  upstreamKey: Buffer = Buffer.alloc(0);
  lastActivity: number;
  bytesFromClient = 0;

  private client: net.Socket;
  private upstream: net.Socket | undefined;
  private clientEncrypted = false;
  private startupBuffer: Buffer = Buffer.alloc(0);
  private startupUser: string | undefined;
  private clientFramer: Framer | undefined;
  private upstreamFramer: Framer | undefined;
  /** ReadyForQuery messages still owed by the server (one per Query/Sync/FunctionCall). */
  private pendingReady = 0;
  private admitted = false;
  private ending = false;
  /** Present when a policy is in force: judges statements and masks results. */
  private guard: Guard | undefined;
  /** A DDL statement went upstream: refresh the catalog at the next ReadyForQuery. */
  private ddlPending = false;
  /** A request waits for the catalog; the client framer is paused. */
  private catalogWait = false;
  private readonly missingOids = new Set<number>();
  private readonly rowDescriptions = new RowDescriptionMemo();
  /** The last description found to name only known tables, and the catalog it was checked against. */
  private knownTables: { fields: FieldDescription[]; snapshot: CatalogSnapshot | undefined } | undefined;
  private readonly log: Logger;

  constructor(
    private readonly ctx: ProxyContext,
    socket: net.Socket,
  ) {
    this.id = randomBytes(6).toString('hex');
    this.clientAddress = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    this.client = socket;
    this.lastActivity = ctx.clock();
    this.log = ctx.logger.child({ session: this.id });
    this.attachClient(socket);
  }

  /** Idle means: authenticated, no query running, nothing exchanged for the idle timeout. */
  isIdleSince(now: number, idleMs: number): boolean {
    const busy = this.guard ? this.guard.busy() : this.pendingReady > 0;
    return this.phase === 'ready' && !busy && now - this.lastActivity >= idleMs;
  }

  // ---- client side ---------------------------------------------------------

  private attachClient(socket: net.Socket): void {
    socket.on('data', (chunk: Buffer) => this.onClientData(chunk));
    socket.on('error', (err) => this.log.debug({ err: err.message }, 'client socket error'));
    socket.on('close', () => this.finish('client closed'));
    socket.on('drain', () => this.upstream?.resume());
  }

  private onClientData(chunk: Buffer): void {
    this.bytesFromClient += chunk.length;
    this.lastActivity = this.ctx.clock();
    if (this.clientFramer) {
      // Several messages of one chunk leave in one write.
      this.toUpstream.begin();
      this.clientFramer.push(chunk);
      this.toUpstream.end();
    } else this.onStartupData(chunk);
  }

  private onStartupData(chunk: Buffer): void {
    if (this.phase !== 'startup') {
      // Bytes before the upstream link is up: keep them for the framer.
      this.startupBuffer = Buffer.concat([this.startupBuffer, chunk]);
      return;
    }
    let buf = this.startupBuffer.length ? Buffer.concat([this.startupBuffer, chunk]) : chunk;
    if (!this.clientEncrypted && this.ctx.tls && buf[0] === 0x16 /* TLS handshake record */) {
      // PostgreSQL 17 direct TLS (sslnegotiation=direct): no SSLRequest first.
      this.startupBuffer = Buffer.alloc(0);
      return this.upgradeDirectTls(this.ctx.tls, buf);
    }
    for (;;) {
      if (buf.length < 4) break;
      const length = buf.readUInt32BE(0);
      if (length < 8 || length > MAX_STARTUP_PACKET) {
        return this.fatal('08P01', `invalid length of startup packet: ${length}`);
      }
      if (buf.length < length) break;
      const packet = buf.subarray(0, length);
      buf = buf.subarray(length);
      const code = packet.readUInt32BE(4);
      if (code === StartupCode.SSLRequest || code === StartupCode.GSSENCRequest) {
        if (this.clientEncrypted) return this.fatal('08P01', 'encryption requested twice');
        if (buf.length > 0) return this.fatal('08P01', 'received unencrypted data after encryption request');
        if (code === StartupCode.SSLRequest && this.ctx.tls) {
          this.startupBuffer = Buffer.alloc(0);
          return this.upgradeClientToTls(this.ctx.tls);
        }
        this.client.write('N');
        continue;
      }
      if (code === StartupCode.CancelRequest) {
        this.ctx.cancel(packet);
        this.ending = true;
        this.client.end();
        return;
      }
      if (code >>> 16 !== 3) {
        return this.fatal('08P01', `unsupported frontend protocol ${code >>> 16}.${code & 0xffff}: server supports 3.0 to 3.2`);
      }
      this.startupBuffer = Buffer.from(buf);
      return this.onStartupMessage(Buffer.from(packet));
    }
    this.startupBuffer = buf.length ? Buffer.from(buf) : Buffer.alloc(0);
  }

  private upgradeClientToTls(secureContext: tls.SecureContext): void {
    const raw = this.client;
    raw.removeAllListeners('data');
    raw.removeAllListeners('close');
    raw.removeAllListeners('drain');
    raw.on('error', () => undefined);
    raw.write('S');
    const secure = new tls.TLSSocket(raw, { isServer: true, secureContext });
    this.client = secure;
    this.clientEncrypted = true;
    this.attachClient(secure);
  }

  /**
   * The bytes already read belong to the TLS handshake, so the TLS layer reads
   * through a small bridge that replays them first. Like PostgreSQL, pgveil
   * requires the ALPN protocol "postgresql" on direct TLS.
   */
  private upgradeDirectTls(secureContext: tls.SecureContext, first: Buffer): void {
    const raw = this.client;
    raw.removeAllListeners('data');
    raw.removeAllListeners('close');
    raw.removeAllListeners('drain');
    raw.on('error', () => undefined);
    const bridge = new Duplex({
      read: () => {
        raw.resume();
      },
      write: (chunk: Buffer, _enc, cb) => {
        raw.write(chunk, cb);
      },
      final: (cb) => {
        raw.end();
        cb();
      },
      destroy: (err, cb) => {
        raw.destroy();
        cb(err);
      },
    });
    bridge.push(first);
    raw.on('data', (d: Buffer) => {
      if (!bridge.push(d)) raw.pause();
    });
    raw.on('end', () => bridge.push(null));
    raw.on('close', () => bridge.destroy());
    const secure = new tls.TLSSocket(bridge as unknown as net.Socket, { isServer: true, secureContext, ALPNProtocols: ['postgresql'] });
    secure.once('secure', () => {
      if (secure.alpnProtocol !== 'postgresql') this.fatal('08P01', 'direct SSL connection without ALPN protocol negotiation extension');
    });
    this.client = secure;
    this.clientEncrypted = true;
    this.attachClient(secure);
  }

  private onStartupMessage(packet: Buffer): void {
    let params: Map<string, string>;
    try {
      params = decodeStartupParameters(packet);
    } catch (err) {
      return this.fatal('08P01', `invalid startup packet layout: ${(err as Error).message}`);
    }
    const user = params.get('user');
    if (!user) return this.fatal('28000', 'no PostgreSQL user name specified in startup packet');
    if (!this.ctx.admit()) return this.fatal('53300', 'sorry, too many clients already');
    this.admitted = true;
    this.startupUser = user;
    this.database = params.get('database') || user;
    this.phase = 'connecting';
    this.client.pause();
    connectUpstream(this.ctx.upstream, this.ctx.connectTimeoutMs).then(
      (link) => this.onUpstreamConnected(link, packet),
      (err: Error) => this.fatal('08006', `could not connect to upstream server ${this.ctx.upstream.label}: ${err.message}`),
    );
  }

  // ---- upstream side -------------------------------------------------------

  private onUpstreamConnected(link: UpstreamLink, startupPacket: Buffer): void {
    if (this.phase === 'closed' || this.ending) {
      link.socket.destroy();
      return;
    }
    const upstream = link.socket;
    this.upstream = upstream;
    this.phase = 'auth';
    this.upstreamFramer = new Framer(this.upstreamSink, UPSTREAM_AUTH_RULES, MAX_UPSTREAM_MESSAGE);
    this.clientFramer = new Framer(this.clientSink, CLIENT_RULES, this.ctx.maxMessageSize);
    upstream.on('data', (chunk: Buffer) => {
      this.lastActivity = this.ctx.clock();
      this.toClient.begin();
      (this.upstreamFramer as Framer).push(chunk);
      this.toClient.end();
    });
    upstream.on('drain', () => this.client.resume());
    upstream.on('error', (err) => this.log.debug({ err: err.message }, 'upstream socket error'));
    upstream.on('close', () => {
      // The server ended the session (Terminate, FATAL, shutdown): let the
      // client read what was already forwarded, then close.
      this.ending = true;
      this.client.end();
      this.destroyLater();
    });
    upstream.write(startupPacket);
    const early = this.startupBuffer;
    this.startupBuffer = Buffer.alloc(0);
    if (early.length) this.clientFramer.push(early);
    this.client.resume();
  }

  private readonly clientSink: FramerSink = {
    forward: (chunk, start, end) => this.toUpstream.writeRange(chunk, start, end),
    observe: (type, chunk, start, end) => {
      if (type === 0x58 /* X */) {
        this.ending = true;
        return;
      }
      const guard = this.guard;
      if (!guard) {
        this.pendingReady++;
        return;
      }
      // Inline rather than through safely(): this runs for several messages of every transaction.
      try {
        guard.clientObserved(type, chunk, start, end);
      } catch (err) {
        this.internalError(err);
      }
    },
    inspect: (type, message) => {
      try {
        this.guardClientMessage(type, message);
      } catch (err) {
        this.internalError(err);
      }
    },
    violation: (reason) => this.fatal('08P01', `protocol violation: ${reason}`),
  };

  private readonly toUpstream = new BatchedWriter(
    () => this.upstream as net.Socket,
    () => this.client.pause(),
  );

  private readonly toClient = new BatchedWriter(
    () => this.client,
    () => this.upstream?.pause(),
  );

  private writeUpstream(bytes: Buffer): void {
    this.toUpstream.write(bytes);
  }

  private readonly upstreamSink: FramerSink = {
    forward: (chunk, start, end) => this.toClient.writeRange(chunk, start, end),
    observe: (type, chunk, start, end) => {
      if (this.phase === 'auth') {
        if (type === 0x53 /* S */) return this.rememberParameter(chunk.subarray(start, end));
        // ReadyForQuery: authentication is over.
        return this.onAuthenticated();
      }
      const guard = this.guard;
      if (guard) {
        try {
          // The session itself looks at RowDescription and ReadyForQuery (catalog refreshes).
          if (type === 0x54 /* T */) this.guardServerMessage(type, chunk.subarray(start, end), true);
          else {
            guard.serverObserved(type, chunk, start, end);
            if (type === 0x5a /* Z */) this.onServerReady(end - start > 5 ? chunk[start + 5] : 0);
          }
        } catch (err) {
          this.internalError(err);
        }
        return;
      }
      // ReadyForQuery.
      if (this.pendingReady > 0) this.pendingReady--;
    },
    inspect: (type, message) => {
      if (this.phase === 'auth') {
        if (type === 0x52 /* R */) this.onAuthRequest(message);
        else this.onBackendKeyData(message);
        return;
      }
      if (type === 0x41 /* A */) message = this.ctx.ownNotification(message);
      try {
        this.guardServerMessage(type, message, false);
      } catch (err) {
        this.internalError(err);
      }
    },
    rewrite: (chunk, start, end) => {
      // Inline rather than through safely(): this runs for every chunk of masked rows.
      try {
        (this.guard as Guard).rows(chunk, start, end);
      } catch (err) {
        this.internalError(err);
      }
    },
    violation: (reason) => {
      this.log.warn({ reason }, 'upstream protocol violation');
      this.fatal('08P01', `upstream server sent an invalid message: ${reason}`);
    },
  };

  private writeClient(bytes: Buffer): void {
    this.toClient.write(bytes);
  }

  private onAuthRequest(message: Buffer): void {
    const code = message.length >= 9 ? message.readUInt32BE(5) : -1;
    if (code === AuthCode.SASL) {
      // Channel binding ties SCRAM to the certificate the client sees. It can
      // cross pgveil only when pgveil presents the very certificate the server
      // does; otherwise -PLUS is withdrawn so clients use plain SCRAM.
      const mechanisms = decodeSaslMechanisms(message);
      if (mechanisms.includes(SCRAM_PLUS) && !this.sameCertificateBothLegs()) {
        return this.writeClient(encodeSaslMechanisms(mechanisms.filter((m) => m !== SCRAM_PLUS)));
      }
    } else if (code === AuthCode.Ok) {
      // Only now is the name in the startup packet an identity.
      this.user = this.startupUser;
    }
    this.writeClient(message);
  }

  private sameCertificateBothLegs(): boolean {
    const mine = this.ctx.tlsCertificateDer;
    const upstream = this.upstream as tls.TLSSocket | undefined;
    if (!this.clientEncrypted || !mine || !upstream || typeof upstream.getPeerCertificate !== 'function') return false;
    const theirs = upstream.getPeerCertificate()?.raw;
    return Buffer.isBuffer(theirs) && theirs.equals(mine);
  }

  private onBackendKeyData(message: Buffer): void {
    if (message.length < 13) return this.fatal('08P01', 'upstream server sent an invalid BackendKeyData');
    this.upstreamPid = message.readUInt32BE(5);
    this.upstreamKey = Buffer.from(message.subarray(9));
    this.ctx.registerCancelKey(this, this.upstreamKey.length);
    this.writeClient(encodeBackendKeyData(this.proxyPid, this.proxyKey));
  }

  /** ParameterStatus values from startup (client_encoding, standard_conforming_strings...). */
  private readonly startupParameters = new Map<string, string>();

  private rememberParameter(message: Buffer): void {
    const nameEnd = message.indexOf(0, 5);
    const valueEnd = message.indexOf(0, nameEnd + 1);
    if (nameEnd > 0 && valueEnd > 0) this.startupParameters.set(message.toString('utf8', 5, nameEnd), message.toString('utf8', nameEnd + 1, valueEnd));
  }

  private onAuthenticated(): void {
    this.phase = 'ready';
    (this.upstreamFramer as Framer).rules = UPSTREAM_READY_RULES;
    if (this.ctx.policy) this.enableGuard();
    this.log.info(
      { user: this.user, database: this.database, client: this.clientAddress, tls: this.clientEncrypted },
      'session start',
    );
  }

  // ---- masking -----------------------------------------------------------

  /**
   * A bug in analysis or masking must cost one session, never the process,
   * and never let the message it was judging through (fail closed).
   */
  private safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.internalError(err);
    }
  }

  private internalError(err: unknown): void {
    if (err instanceof MalformedMessage) return this.fatal('08P01', `invalid message format: ${err.message}`);
    this.log.error({ err: (err as Error).message, stack: (err as Error).stack?.split('\n').slice(0, 4).join(' | ') }, 'internal error while judging a message');
    this.fatal('XX000', 'pgveil internal error: the session was closed to keep data safe');
  }

  private enableGuard(): void {
    const policy = this.ctx.policy;
    if (!policy) return;
    const database = this.database as string;
    const user = this.user as string;
    const catalogs = this.ctx.catalogs;
    const handle = catalogs?.handle(database);
    this.catalog = handle;
    const catalog = () => handle?.current();
    const gate = new PolicyGate({
      policy: () => policy.current(),
      catalog,
      identity: () => ({ user, roles: catalog()?.rolesOf(user) ?? [] }),
      grants: () => this.ctx.grants(user),
      now: () => new Date(),
      hashKey: () => this.ctx.hashKey,
      record: (event) => this.log.debug({ decision: event }, 'decision'),
    });
    const upstreamFramer = this.upstreamFramer as Framer;
    this.guard = new Guard(
      {
        toUpstream: (bytes) => this.writeUpstream(bytes),
        toClient: (bytes) => this.writeClient(bytes),
        clientArena: () => this.toClient.arena,
        commitClientArena: () => this.toClient.commitArena(),
        setServerRules: (rules) => {
          upstreamFramer.rules = rules;
        },
        setClientRules: (rules) => {
          (this.clientFramer as Framer).rules = rules;
        },
        gate: () => gate,
        analyze: (sql) => this.analyze(sql),
        judgement: () => this.judgement(),
      },
    );
    for (const [name, value] of this.startupParameters) this.guard.parameterStatus(name, value);
    if (catalogs) void catalogs.ensure(database);
  }

  /** The last analysis: a request is looked at by the session (catalog waits) and then by the guard. */
  private lastAnalysis: { sql: string; snapshot: CatalogSnapshot | undefined; policy: unknown; result: AnalysisResult } | undefined;

  private readonly screen = new SessionScreen();
  /** This session's database in ctx.catalogs (set with the guard). */
  private catalog: CatalogHandle | undefined;

  /** Definitions this session sent that the catalog can't see yet (see PendingDefinitions). */
  private readonly pending = new PendingDefinitions();
  /** ReadyForQuery messages still to come before the last pending definition has been answered. */
  private definitionsReady = 0;
  /** What statements are judged by: a new object whenever catalog, policy or pending definitions change (the guard re-judges prepared statements then). */
  private judgementToken: object = {};
  private judgedSnapshot: CatalogSnapshot | undefined;
  private judgedPolicy: unknown;

  private judgement(): object {
    const snapshot = this.catalog?.current();
    const policy = this.ctx.policy?.current();
    if (snapshot !== this.judgedSnapshot || policy !== this.judgedPolicy) {
      this.judgedSnapshot = snapshot;
      this.judgedPolicy = policy;
      this.judgementToken = {};
    }
    return this.judgementToken;
  }

  private analyze(sql: string): AnalysisResult {
    const result = this.analyzeText(sql);
    return this.pending.active ? this.pending.apply(sql, result, this.catalog?.current()) : result;
  }

  private analyzeText(sql: string): AnalysisResult {
    const snapshot = this.catalog?.current();
    const policy = this.ctx.policy?.current();
    const last = this.lastAnalysis;
    if (last && last.snapshot === snapshot && last.policy === policy && last.sql === sql) return last.result;
    const request = sql === this.lastRequestText ? this.requestMessage : undefined;
    const result = snapshot && policy && this.screen.passes(sql, snapshot, policy, request, this.lastRequestStart, this.lastRequestEnd) ? HARMLESS_READ : analyzeSql(sql, snapshot ?? NO_CATALOG);
    if (last) {
      // Changed in place: a query with a new literal each time is a new text each time.
      last.sql = sql;
      last.snapshot = snapshot;
      last.policy = policy;
      last.result = result;
    } else this.lastAnalysis = { sql, snapshot, policy, result };
    return result;
  }

  /**
   * The last Query or Parse (the request being handled, or the one before):
   * its statement text, where that lies in the message, and a copy of its
   * bytes in lastRequestBytes[0, lastRequestLength) (-1: none kept; drivers
   * send the same Parse again and again). The copy goes into one buffer kept
   * for the session, not a new one per request (a query with a new literal
   * each time is a new request each time).
   */
  private lastRequestBytes: Buffer | undefined;
  private lastRequestLength = -1;
  private lastRequestText = '';
  private lastRequestStart = 0;
  private lastRequestEnd = 0;
  /** The message of the request being handled, for the screen, which compares statement texts as bytes (short ones only: a long message is not kept after its request). */
  private requestMessage: Buffer | undefined;

  /** statementText, taken from the last request when this one has the very same bytes (no decoding, and the same string for the analysis memo). */
  private requestText(type: number, message: Buffer): string {
    const n = message.length;
    const last = this.lastRequestBytes;
    this.requestMessage = n <= 4096 ? message : undefined;
    if (last && n === this.lastRequestLength && sameBytes(last, message, n)) return this.lastRequestText;
    const start = statementStart(type, message);
    const end = statementEnd(type, message, start);
    const text = message.toString('utf8', start, end);
    this.lastRequestText = text;
    this.lastRequestStart = start;
    this.lastRequestEnd = end;
    // Long texts are decoded each time rather than kept twice.
    if (n > 4096) {
      this.lastRequestLength = -1;
      return text;
    }
    const into = last && last.length >= n ? last : (this.lastRequestBytes = Buffer.allocUnsafe(Math.max(256, n)));
    copySpan(message, 0, n, into, 0);
    this.lastRequestLength = n;
    return text;
  }

  /** Requests go through the guard; Q and P may first wait for a catalog (re)load. */
  private guardClientMessage(type: number, message: Buffer): void {
    const guard = this.guard;
    if (!guard) return this.writeUpstream(message);
    // An Execute runs a statement judged earlier: after DDL, judge it by the catalog read again.
    if (type === 0x45 /* E */ && this.ctx.catalogs && this.catalog?.needsLoad()) return this.waitForCatalog(type, message);
    if (type === 0x51 /* Q */ || type === 0x50 /* P */) {
      const catalogs = this.ctx.catalogs;
      const database = this.database as string;
      const sql = this.requestText(type, message);
      let defines: readonly StatementAnalysis[] | undefined;
      let wait = this.catalog?.needsLoad() ?? false;
      if (wait) {
        // Transaction control and settings never need the catalog: don't hold a
        // COMMIT behind a catalog read that waits on that very transaction's locks.
        const quick = this.analyze(sql);
        if (quick.ok && quick.statements.length > 0 && quick.statements.every((st) => NO_CATALOG_NEEDED.has(st.nodeType))) wait = false;
      }
      if (!wait && catalogs) {
        // Names the catalog doesn't know may be relations created since it was read.
        const result = this.analyze(sql);
        // (A read the screen passed names only relations the catalog knows, and changes nothing.)
        if (result.ok && result !== HARMLESS_READ) {
          const unresolved = result.statements.some((st) => st.unresolved.length > 0 || st.prepared?.unresolved.length || st.cursorQuery?.unresolved.length);
          const snapshot = this.catalog?.current();
          if (unresolved && snapshot && Date.now() - snapshot.loadedAt.getTime() > 1_000) {
            wait = true;
            catalogs.invalidate(database);
          }
          // DDL, and code that can run DDL (DO, CALL), change what the catalog must say.
          if (result.statements.some((st) => st.kind === 'ddl' || st.nodeType === 'DoStmt' || st.nodeType === 'CallStmt')) {
            this.ddlPending = true;
            defines = result.statements;
          }
        }
      }
      if (wait && catalogs) return this.waitForCatalog(type, message);
      guard.clientMessage(type, message, false, sql);
      // What it defines counts from the next statement on, until it is committed and read:
      // until the ReadyForQuery that answers it (a Parse's: that of the Sync still to come)
      // or a later one finds the session outside a transaction.
      if (defines && !guard.refused && this.pending.note(defines)) {
        this.judgementToken = {};
        this.definitionsReady = Math.max(this.definitionsReady, guard.readyPending() + (type === 0x50 ? 1 : 0));
      }
      return;
    }
    guard.clientMessage(type, message);
  }

  /**
   * Holds this request and everything after it until the catalog is read:
   * requests must reach the server in the order the client sent them.
   */
  private waitForCatalog(type: number, message: Buffer): void {
    const catalogs = this.ctx.catalogs as CatalogManager;
    const framer = this.clientFramer as Framer;
    framer.pause();
    this.catalogWait = true;
    void catalogs.ensure(this.database as string).then(() => {
      if (this.phase === 'closed') return;
      this.catalogWait = false;
      this.toUpstream.begin();
      this.safely(() => this.guardClientMessage(type, message));
      this.toUpstream.end();
      // It may have had to wait again (another DDL meanwhile): then that wait resumes.
      if (!this.catalogWait) framer.resume();
    });
  }

  private guardServerMessage(type: number, message: Buffer, forwarded: boolean): void {
    const guard = this.guard;
    if (!guard) {
      if (!forwarded) this.writeClient(message);
      return;
    }
    if (type === 0x54 /* T */ && this.ctx.catalogs) {
      // A table OID the catalog doesn't know: read the catalog again before judging the rows.
      const catalogs = this.ctx.catalogs;
      const database = this.database as string;
      const snapshot = this.catalog?.current();
      // System catalogs (OIDs below 16384) are never in it; a table still
      // missing after one refresh is not looked for again.
      const fields = this.rowDescriptions.decode(message);
      const unknown = this.unknownTables(fields, snapshot);
      if (unknown.length && snapshot) {
        const framer = this.upstreamFramer as Framer;
        framer.pause();
        void catalogs.refresh(database).then((fresh) => {
          if (this.phase === 'closed') return;
          for (const oid of unknown) if (!fresh?.relation(oid)) this.missingOids.add(oid);
          this.toClient.begin();
          this.safely(() => guard.serverMessage(type, message, forwarded, fields));
          this.toClient.end();
          framer.resume();
        });
        return;
      }
      return guard.serverMessage(type, message, forwarded, fields);
    }
    guard.serverMessage(type, message, forwarded);
  }

  /**
   * ReadyForQuery (after the guard has seen it), with its transaction status:
   * a DDL statement that went upstream has now been answered; once the session
   * is idle outside a transaction, what it defined is committed (or undone)
   * and the catalog is read again.
   */
  private onServerReady(status: number): void {
    if (this.ddlPending) {
      this.ddlPending = false;
      this.ctx.catalogs?.invalidate(this.database as string);
    }
    if (this.definitionsReady > 0) this.definitionsReady--;
    if (this.pending.active && status === 0x49 /* I */ && this.definitionsReady === 0) {
      this.pending.clear();
      this.judgementToken = {};
      this.ctx.catalogs?.invalidate(this.database as string);
    }
  }

  /** Table OIDs of a result the catalog doesn't know (system catalogs, below 16384, never are in it). */
  private unknownTables(fields: FieldDescription[], snapshot: CatalogSnapshot | undefined): number[] {
    const known = this.knownTables;
    if (known && known.fields === fields && known.snapshot === snapshot) return [];
    const unknown: number[] = [];
    for (const f of fields) {
      if (f.tableOid >= 16384 && !snapshot?.relation(f.tableOid) && !this.missingOids.has(f.tableOid) && !unknown.includes(f.tableOid)) unknown.push(f.tableOid);
    }
    if (unknown.length === 0) this.knownTables = { fields, snapshot };
    return unknown;
  }

  // ---- ending --------------------------------------------------------------

  /**
   * Sends a FATAL ErrorResponse (when the client stream is at a message
   * boundary, so it can't corrupt a half-forwarded message) and closes both sides.
   */
  fatal(code: string, message: string): void {
    if (this.phase === 'closed' || this.ending) return;
    this.ending = true;
    this.clientFramer?.stop();
    this.upstreamFramer?.stop();
    this.upstream?.destroy();
    if (code !== '57P01' && code !== '57P05') this.log.info({ code, reason: message }, 'session refused or aborted');
    if (!this.upstreamFramer || this.upstreamFramer.atBoundary()) {
      this.client.write(encodeErrorResponse({ severity: 'FATAL', code, message }));
    }
    this.client.end();
    // Read (and ignore) whatever the client still sends, so its FIN is seen
    // and the session's slot is released at once.
    this.client.removeAllListeners('data');
    this.client.on('data', () => undefined);
    this.client.resume();
    this.destroyLater();
  }

  /** A client that never reads or never closes must not hold the session open. */
  private destroyLater(): void {
    setTimeout(() => this.destroy(), 5_000).unref();
  }

  destroy(): void {
    this.client.destroy();
    this.upstream?.destroy();
  }

  private finish(reason: string): void {
    if (this.phase === 'closed') return;
    const wasReady = this.phase === 'ready';
    // A backend busy with a query doesn't notice its client is gone until it
    // writes: cancel the query so it doesn't run on for nothing.
    const busy = this.guard ? this.guard.busy() : this.pendingReady > 0;
    if (wasReady && busy && this.upstreamKey.length > 0) {
      sendUpstreamCancel(this.ctx.upstream, this.upstreamPid, this.upstreamKey, this.ctx.connectTimeoutMs).catch(() => undefined);
    }
    this.phase = 'closed';
    this.upstream?.destroy();
    this.clientFramer?.stop();
    this.upstreamFramer?.stop();
    if (this.admitted) this.ctx.release(this);
    this.ctx.forget(this);
    if (wasReady || this.user) {
      this.log.info(
        {
          user: this.user,
          database: this.database,
          client: this.clientAddress,
          durationMs: Date.now() - this.startedAt,
          bytesFromClient: this.bytesFromClient,
          bytesToClient: this.toClient.bytesWritten,
          reason,
        },
        'session end',
      );
    }
  }
}
