import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withClient, type RunningProxy } from './support/proxy.js';
import { PII, clientAs, createPiiDatabase, startMaskingProxy } from './support/masking-env.js';

const DB = 'mask_basic';
let px: RunningProxy;

beforeAll(async () => {
  await createPiiDatabase(DB);
  px = await startMaskingProxy();
});
afterAll(async () => { await px?.stop(); });

const asAnalyst = <T>(fn: (c: import('pg').Client) => Promise<T>) => withClient(clientAs(px.port, 'analyst', DB), fn);

describe('masking through the proxy', () => {
  it('masks direct references per the policy', async () => {
    const r = await asAnalyst((c) => c.query('SELECT id, ssn, email, salary, birth_date::text AS b, notes FROM app.users ORDER BY id'));
    expect(r.rows[0].id).toBe(1);
    expect(r.rows[0].ssn).toBe('***-**-6789');
    expect(r.rows[0].email).not.toContain('alice');
    expect(r.rows[0].email).toContain('example.com');
    expect(r.rows[0].salary).toBeNull();
    expect(JSON.stringify(r.rows)).not.toContain('123-45-6789');
  });
  it('masks derived values as a whole', async () => {
    const r = await asAnalyst((c) => c.query("SELECT upper(ssn) AS u, ssn || '' AS c, length(ssn) AS l, reverse(ssn) AS r FROM app.users"));
    const text = JSON.stringify(r.rows);
    for (const u of PII) {
      expect(text).not.toContain(u.ssn);
      expect(text).not.toContain(u.ssn.split('').reverse().join(''));
    }
  });
  it('refuses filters on masked columns with 42501', async () => {
    const err = await asAnalyst((c) => c.query("SELECT id FROM app.users WHERE ssn LIKE '123%'")).catch((e: unknown) => e);
    // The refusal names the column and says how to get access (the policy's approvers).
    expect(err).toMatchObject({ code: '42501' });
    expect((err as Error).message).toContain('app.users.ssn');
    expect((err as { hint?: string }).hint).toMatch(/security_lead/);
  });
  it('keeps each named statement\'s analysis past the point where settled names are swept (over 64 names)', async () => {
    await asAnalyst(async (c) => {
      for (let i = 0; i < 100; i++) {
        const plain = await c.query({ name: `plain_${i}`, text: `SELECT $1::int + ${i} AS v`, values: [1] });
        expect(plain.rows[0].v).toBe(1 + i);
        if (i % 10 === 0) {
          const masked = await c.query({ name: `ssn_${i}`, text: `SELECT ssn, ${i} AS k FROM app.users WHERE id = $1`, values: [1] });
          expect(masked.rows[0].ssn).toBe('***-**-6789');
        }
      }
      // Statements prepared before the sweeps run again by name (Bind/Execute only).
      for (const i of [0, 50, 90]) {
        const again = await c.query({ name: `ssn_${i}`, text: `SELECT ssn, ${i} AS k FROM app.users WHERE id = $1`, values: [1] });
        expect(again.rows[0].ssn).toBe('***-**-6789');
        const plain = await c.query({ name: `plain_${i}`, text: `SELECT $1::int + ${i} AS v`, values: [2] });
        expect(plain.rows[0].v).toBe(2 + i);
      }
    });
  });
  it('passes raw values to a role with standing access', async () => {
    const r = await withClient(clientAs(px.port, 'app_backend', DB), (c) => c.query('SELECT email, ssn FROM app.users ORDER BY id'));
    expect(r.rows[0].email).toBe(PII[0].email);
    expect(r.rows[0].ssn).toBe('***-**-6789');
  });
  it('masks in the extended protocol with binary results', async () => {
    const r = await asAnalyst((c) => c.query({ text: "SELECT ssn, birth_date FROM app.users WHERE id = $1", values: [1], binary: true } as import("pg").QueryConfig));
    expect(JSON.stringify(r.rows)).not.toContain('6789-');
  });
});
