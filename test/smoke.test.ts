import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy, superConfig, withClient, type RunningProxy } from './support/proxy.js';

let px: RunningProxy;
beforeAll(async () => { px = await startProxy(); });
afterAll(async () => { await px.stop(); });

describe('smoke', () => {
  it('relays a query', async () => {
    const r = await withClient(superConfig(px.port), (c) => c.query('select 1 as one, current_user as u'));
    expect(r.rows).toEqual([{ one: 1, u: 'postgres' }]);
  });
});
