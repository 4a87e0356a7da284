import type pg from 'pg';
import type { Logger } from 'pino';
import { loadCatalog } from './loader.js';
import type { CatalogSnapshot } from './snapshot.js';

interface Entry {
  snapshot: CatalogSnapshot | undefined;
  loading: Promise<CatalogSnapshot | undefined> | undefined;
  stale: boolean;
  /** The last load failed: the catalog is unavailable (fail closed) until one succeeds. */
  failed: boolean;
  failedAt: number;
}

/** A session's view of its database's catalog (see CatalogManager.handle). */
export interface CatalogHandle {
  current(): CatalogSnapshot | undefined;
  needsLoad(): boolean;
}

function currentOf(e: Entry): CatalogSnapshot | undefined {
  return e.failed ? undefined : e.snapshot;
}

function needsLoadOf(e: Entry): boolean {
  return e.stale || e.loading !== undefined || (e.failed ? Date.now() - e.failedAt > RETRY_MS : e.snapshot === undefined);
}

/** After a failed load, statements retry it at most this often. */
const RETRY_MS = 2_000;

export interface CatalogManagerOptions {
  /** Connection settings of the side connection for one database (configurable credentials). */
  connection: (database: string) => pg.ClientConfig;
  /** Background refresh period; 0 disables it. */
  refreshMs: number;
  logger: Logger;
  /** Loader, replaceable in tests. */
  load?: (config: pg.ClientConfig) => Promise<CatalogSnapshot>;
}

/**
 * One catalog per database, shared by every session on it. Loads are
 * de-duplicated; a failed load leaves the database "unavailable" so the gate
 * refuses statements that read tables until a load succeeds.
 */
export class CatalogManager {
  private readonly entries = new Map<string, Entry>();
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: CatalogManagerOptions) {
    if (options.refreshMs > 0) {
      this.timer = setInterval(() => {
        for (const db of this.entries.keys()) void this.refresh(db);
      }, options.refreshMs);
      this.timer.unref();
    }
  }

  /** The current snapshot (possibly stale), or undefined when none could be loaded. */
  current(database: string): CatalogSnapshot | undefined {
    const e = this.entries.get(database);
    return e ? currentOf(e) : undefined;
  }

  /** Whether a statement should wait for a (re)load before it is analyzed. */
  needsLoad(database: string): boolean {
    const e = this.entries.get(database);
    return !e || needsLoadOf(e);
  }

  /**
   * current() and needsLoad() for one database, bound to its entry: a session
   * asks several times per statement, and an entry, once made, is kept (and
   * changed in place) for the manager's lifetime.
   */
  handle(database: string): CatalogHandle {
    const e = this.entry(database);
    return { current: () => currentOf(e), needsLoad: () => needsLoadOf(e) };
  }

  private entry(database: string): Entry {
    let e = this.entries.get(database);
    if (!e) {
      e = { snapshot: undefined, loading: undefined, stale: false, failed: false, failedAt: 0 };
      this.entries.set(database, e);
    }
    return e;
  }

  /** Marks the catalog as outdated (after DDL); the next statement reloads it. */
  invalidate(database: string): void {
    const e = this.entries.get(database);
    if (e) e.stale = true;
  }

  /** Loads if needed and resolves to the snapshot to use (undefined = unavailable). */
  async ensure(database: string): Promise<CatalogSnapshot | undefined> {
    const e = this.entries.get(database);
    if (e && !this.needsLoad(database)) return this.current(database);
    return this.refresh(database);
  }

  refresh(database: string): Promise<CatalogSnapshot | undefined> {
    const e = this.entry(database);
    if (e.loading) return e.loading;
    const entry = e;
    const load = this.options.load ?? loadCatalog;
    entry.stale = false;
    entry.loading = load(this.options.connection(database)).then(
      (snapshot) => {
        entry.snapshot = snapshot;
        entry.failed = false;
        entry.loading = undefined;
        this.options.logger.debug({ database, relations: snapshot.data.relations.length }, 'catalog loaded');
        return snapshot;
      },
      (err: Error) => {
        entry.failed = true;
        entry.failedAt = Date.now();
        entry.loading = undefined;
        this.options.logger.warn({ database, err: err.message }, 'catalog unavailable: statements that read tables are refused');
        return undefined;
      },
    );
    return entry.loading;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
