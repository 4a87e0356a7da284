import type tls from 'node:tls';
import type { Logger } from 'pino';
import type { UpstreamTarget } from './upstream.js';
import type { Session } from './session.js';
import type { PolicyStore } from '../policy/store.js';
import type { CatalogManager } from '../catalog/manager.js';
import type { Grant } from '../policy/index.js';

/** What a session needs from the proxy that owns it. */
export interface ProxyContext {
  readonly upstream: UpstreamTarget;
  readonly tls: tls.SecureContext | undefined;
  /** DER of the certificate pgveil presents to clients (for channel binding pass-through). */
  readonly tlsCertificateDer: Buffer | undefined;
  readonly maxMessageSize: number;
  readonly connectTimeoutMs: number;
  readonly logger: Logger;
  /** The masking policy in force; absent = transparent proxy. */
  readonly policy: PolicyStore | undefined;
  readonly catalogs: CatalogManager | undefined;
  /** HMAC key for `hash` masks. */
  readonly hashKey: Buffer | undefined;
  /** Active-or-not grants of a user (the JIT grant store plugs in here). */
  grants(user: string): readonly Grant[];
  /** Coarse clock (ms), updated by a timer: cheap enough to read per chunk. */
  clock(): number;
  /** Takes a connection slot; false when --max-connections is reached. */
  admit(): boolean;
  release(session: Session): void;
  forget(session: Session): void;
  /** Gives the session its own BackendKeyData (pid + key of the given length). */
  registerCancelKey(session: Session, keyLength: number): void;
  /**
   * NotificationResponse carries the sending backend's pid; clients compare it
   * with the pid from their BackendKeyData, so it is translated to the proxy's.
   */
  ownNotification(message: Buffer): Buffer;
  /** Handles a CancelRequest packet received on a fresh connection. */
  cancel(packet: Buffer): void;
}
