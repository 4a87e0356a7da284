/**
 * A session reads its database's catalog through a handle bound to the
 * manager's entry (src/catalog/manager.ts): it must see every load, failure
 * and invalidation the manager sees, including those after it was made.
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { CatalogManager } from '../src/catalog/manager.js';
import { CatalogSnapshot } from '../src/catalog/snapshot.js';

const snapshot = () => new CatalogSnapshot({ relations: [], memberships: {}, functions: [], domainBase: {} });

describe('CatalogManager.handle', () => {
  it('follows loads, invalidations and failures made after it was taken', async () => {
    let fail = false;
    const loaded: CatalogSnapshot[] = [];
    const catalogs = new CatalogManager({
      connection: (database) => ({ database }),
      refreshMs: 0,
      logger: pino({ level: 'silent' }),
      load: async () => {
        if (fail) throw new Error('down');
        const s = snapshot();
        loaded.push(s);
        return s;
      },
    });
    const handle = catalogs.handle('app');
    // Nothing loaded yet: wait for a load, and nothing to judge with.
    expect(handle.needsLoad()).toBe(true);
    expect(handle.current()).toBeUndefined();

    await catalogs.ensure('app');
    expect(handle.current()).toBe(loaded[0]);
    expect(handle.needsLoad()).toBe(false);
    expect(catalogs.current('app')).toBe(loaded[0]);

    // After DDL: the old snapshot stays readable, the next statement waits for a reload.
    catalogs.invalidate('app');
    expect(handle.needsLoad()).toBe(true);
    expect(handle.current()).toBe(loaded[0]);
    await catalogs.ensure('app');
    expect(handle.current()).toBe(loaded[1]);

    // A failed load: unavailable (fail closed), for the handle as for the manager.
    fail = true;
    await catalogs.refresh('app');
    expect(handle.current()).toBeUndefined();
    expect(catalogs.current('app')).toBeUndefined();
    fail = false;
    await catalogs.refresh('app');
    expect(handle.current()).toBe(loaded[2]);

    // Handles of other databases are their own; a second handle shares the entry.
    expect(catalogs.handle('other').current()).toBeUndefined();
    expect(catalogs.handle('app').current()).toBe(loaded[2]);
    catalogs.close();
  });
});
