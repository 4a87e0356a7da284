import net from 'node:net';
import tls from 'node:tls';
import { X509Certificate, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { Session } from './session.js';
import type { ProxyContext } from './context.js';
import { sendUpstreamCancel, type UpstreamTarget } from './upstream.js';
import type { PolicyStore } from '../policy/store.js';
import { loadParser } from '../sql/parse.js';
import type { CatalogManager } from '../catalog/manager.js';
import type { Grant } from '../policy/index.js';

export interface ProxyOptions {
  listenHost: string;
  listenPort: number;
  upstream: UpstreamTarget;
  /** PEM certificate and key: when set, SSLRequest is answered 'S' and TLS terminated here. */
  tls?: { cert: Buffer; key: Buffer };
  maxConnections: number;
  maxMessageSize: number;
  /** 0 disables the idle timeout. */
  idleTimeoutMs: number;
  drainTimeoutMs: number;
  connectTimeoutMs: number;
  logger: Logger;
  policy?: PolicyStore;
  catalogs?: CatalogManager;
  hashKey?: Buffer;
  grants?: (user: string) => readonly Grant[];
}

/** Accepts client connections and owns every session, the cancel-key map and the limits. */
export class Proxy implements ProxyContext {
  readonly upstream: UpstreamTarget;
  readonly tls: tls.SecureContext | undefined;
  readonly tlsCertificateDer: Buffer | undefined;
  readonly maxMessageSize: number;
  readonly connectTimeoutMs: number;
  readonly logger: Logger;
  readonly policy: PolicyStore | undefined;
  readonly catalogs: CatalogManager | undefined;
  readonly hashKey: Buffer | undefined;

  private readonly server: net.Server;
  private readonly sessions = new Set<Session>();
  private readonly byCancelPid = new Map<number, Session>();
  private readonly byUpstreamPid = new Map<number, Session>();
  private admitted = 0;
  private now = Date.now();
  private readonly ticker: NodeJS.Timeout;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: ProxyOptions) {
    this.upstream = options.upstream;
    this.tls = options.tls ? tls.createSecureContext({ cert: options.tls.cert, key: options.tls.key }) : undefined;
    this.tlsCertificateDer = options.tls ? new X509Certificate(options.tls.cert).raw : undefined;
    this.maxMessageSize = options.maxMessageSize;
    this.connectTimeoutMs = options.connectTimeoutMs;
    this.logger = options.logger;
    this.policy = options.policy;
    this.catalogs = options.catalogs;
    this.hashKey = options.hashKey;
    this.server = net.createServer({ noDelay: true }, (socket) => this.onConnection(socket));
    this.server.on('error', (err) => this.logger.error({ err: err.message }, 'listener error'));
    this.ticker = setInterval(() => this.tick(), 250);
    this.ticker.unref();
  }

  async listen(): Promise<{ host: string; port: number }> {
    // The SQL parser is WebAssembly: load it before the first statement needs it.
    if (this.policy) await loadParser();
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.listenPort, this.options.listenHost, () => {
        this.server.off('error', reject);
        const addr = this.server.address() as net.AddressInfo;
        this.logger.info({ listen: `${addr.address}:${addr.port}`, upstream: this.upstream.label }, 'listening');
        resolve({ host: addr.address, port: addr.port });
      });
    });
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  grants(user: string): readonly Grant[] {
    return this.options.grants?.(user) ?? [];
  }

  clock(): number {
    return this.now;
  }

  admit(): boolean {
    if (this.closing || this.admitted >= this.options.maxConnections) return false;
    this.admitted++;
    return true;
  }

  release(): void {
    this.admitted--;
  }

  forget(session: Session): void {
    this.sessions.delete(session);
    if (this.byCancelPid.get(session.proxyPid) === session) this.byCancelPid.delete(session.proxyPid);
    if (this.byUpstreamPid.get(session.upstreamPid) === session) this.byUpstreamPid.delete(session.upstreamPid);
  }

  registerCancelKey(session: Session, keyLength: number): void {
    let pid: number;
    do pid = randomInt(1, 0x7fffffff);
    while (this.byCancelPid.has(pid));
    session.proxyPid = pid;
    session.proxyKey = randomBytes(Math.max(4, keyLength));
    this.byCancelPid.set(pid, session);
    this.byUpstreamPid.set(session.upstreamPid, session);
  }

  ownNotification(message: Buffer): Buffer {
    if (message.length < 9) return message;
    const session = this.byUpstreamPid.get(message.readUInt32BE(5));
    if (!session) return message;
    const out = Buffer.from(message);
    out.writeUInt32BE(session.proxyPid, 5);
    return out;
  }

  cancel(packet: Buffer): void {
    if (packet.length < 16) return;
    const session = this.byCancelPid.get(packet.readUInt32BE(8));
    const key = packet.subarray(12);
    if (!session || session.proxyKey.length !== key.length || !timingSafeEqual(session.proxyKey, key)) {
      this.logger.debug('cancel request with an unknown key ignored');
      return;
    }
    this.logger.info({ session: session.id }, 'cancel request forwarded');
    sendUpstreamCancel(this.upstream, session.upstreamPid, session.upstreamKey, this.connectTimeoutMs).catch((err: Error) =>
      this.logger.warn({ session: session.id, err: err.message }, 'cancel request could not reach upstream'),
    );
  }

  /** Stops accepting, lets sessions finish for up to the drain timeout, then ends the rest. */
  shutdown(): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = new Promise<void>((resolve) => {
      this.server.close();
      this.logger.info({ sessions: this.sessions.size, drainTimeoutMs: this.options.drainTimeoutMs }, 'shutting down');
      const deadline = Date.now() + this.options.drainTimeoutMs;
      const check = () => {
        if (this.sessions.size === 0) {
          clearInterval(this.ticker);
          this.logger.info('stopped');
          return resolve();
        }
        const now = Date.now();
        if (now >= deadline) {
          for (const s of this.sessions) s.fatal('57P01', 'terminating connection due to administrator command');
        }
        // Peers that ignore our FIN don't get to keep the process alive.
        if (now >= deadline + 5_000) for (const s of this.sessions) s.destroy();
        setTimeout(check, 50);
      };
      check();
    });
    return this.closing;
  }

  private onConnection(socket: net.Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    this.sessions.add(new Session(this, socket));
  }

  private tick(): void {
    this.now = Date.now();
    const idle = this.options.idleTimeoutMs;
    if (idle <= 0) return;
    for (const s of this.sessions) {
      if (s.isIdleSince(this.now, idle)) s.fatal('57P05', 'terminating connection due to idle-session timeout');
    }
  }
}
