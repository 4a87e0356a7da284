/**
 * Masking features beyond plain results: policy reload, identity (roles,
 * SET ROLE), catalog refresh and failure, refusal in pipelines, Describe
 * injection, and the policy check / explain / serve commands.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { pino } from 'pino';
import { PolicyStore } from '../src/policy/store.js';
import { CatalogManager } from '../src/catalog/manager.js';
import { pgInfo, startProxy, superConfig, withClient, type RunningProxy } from './support/proxy.js';
import { EXAMPLE_POLICY, PII, clientAs, createPiiDatabase, startMaskingProxy } from './support/masking-env.js';
import { RawConnection, dataRowValues, fields, message, query } from './support/raw.js';
import { AUTH_USERS } from './support/pg-info.js';
import { freePort } from './support/net.js';
import { runCli, startServe, upstreamUrl } from './support/cli.js';

const DB = 'mask_features';
let px: Awaited<ReturnType<typeof startMaskingProxy>>;
let dir: string;

beforeAll(async () => {
  await createPiiDatabase(DB);
  await withClient({ ...superConfig(), database: DB }, async (c) => {
    await c.query('DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = \'backend_member\') THEN CREATE ROLE backend_member LOGIN PASSWORD \'pw-backend_member\'; END IF; END $$');
    await c.query('GRANT app_backend TO backend_member');
  });
  px = await startMaskingProxy();
  dir = mkdtempSync(path.join(tmpdir(), 'pgveil-features-'));
});
afterAll(async () => {
  await px?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const analyst = () => clientAs(px.port, 'analyst', DB);
const cstr = (s: string) => Buffer.from(`${s}\0`);
const int16 = (n: number) => { const b = Buffer.alloc(2); b.writeInt16BE(n); return b; };

/** Authenticates a raw connection as the trust superuser through the proxy. */
async function rawSession(port: number): Promise<RawConnection> {
  const raw = await RawConnection.connect(port);
  raw.startup({ user: AUTH_USERS.trust.user, database: DB });
  await raw.until('Z');
  raw.messages.length = 0;
  return raw;
}

describe('identity', () => {
  it('a member of a role with standing access gets raw values (pg_auth_members)', async () => {
    const r = await withClient(clientAs(px.port, 'backend_member', DB), (c) => c.query('SELECT email FROM app.users WHERE id = 1'));
    expect(r.rows[0].email).toBe(PII[0].email);
  });
  it('SET ROLE does not change what the session may see', async () => {
    // pv_trust is a superuser with no standing access; becoming app_backend gives nothing.
    const r = await withClient({ host: '127.0.0.1', port: px.port, user: AUTH_USERS.trust.user, database: DB }, async (c) => {
      await c.query('SET ROLE app_backend');
      await c.query('SET SESSION AUTHORIZATION app_backend');
      return c.query('SELECT email, current_user AS u FROM app.users WHERE id = 1');
    });
    expect(r.rows[0].u).toBe('app_backend');
    expect(r.rows[0].email).not.toBe(PII[0].email);
  });
});

describe('catalog', () => {
  it('sees an inheritance child created through the proxy (refresh after DDL)', async () => {
    await withClient({ host: '127.0.0.1', port: px.port, user: AUTH_USERS.trust.user, database: DB }, async (c) => {
      await c.query('CREATE TABLE app.users_child () INHERITS (app.users)');
      await c.query("INSERT INTO app.users_child (id, ssn) VALUES (99, '555-66-7777')");
      await c.query('GRANT SELECT ON app.users_child TO PUBLIC');
    });
    const r = await withClient(analyst(), (c) => c.query('SELECT ssn FROM app.users_child'));
    expect(r.rows[0].ssn).toBe('***-**-7777');
  });
  it('sees a table created behind its back (unknown OID in RowDescription)', async () => {
    await withClient({ ...superConfig(), database: DB }, async (c) => {
      await c.query('CREATE TABLE app.users_hidden () INHERITS (app.users)');
      await c.query("INSERT INTO app.users_hidden (id, ssn) VALUES (98, '444-33-2222')");
      await c.query('GRANT SELECT ON app.users_hidden TO PUBLIC');
    });
    await new Promise((r) => setTimeout(r, 1_200)); // older than the refresh rate limit
    const r = await withClient(analyst(), (c) => c.query('SELECT * FROM app.users_hidden'));
    expect(JSON.stringify(r.rows)).not.toContain('444-33-2222');
  });
  it('refuses statements that read tables while the catalog cannot be read (fail closed)', async () => {
    const logger = pino({ level: 'silent' });
    const dead = await freePort();
    const catalogs = new CatalogManager({
      connection: (database) => ({ host: '127.0.0.1', port: dead, user: 'nobody', database, connectionTimeoutMillis: 2_000 }),
      refreshMs: 0,
      logger,
    });
    const blind = await startProxy({ policy: new PolicyStore(EXAMPLE_POLICY, logger), catalogs, hashKey: Buffer.from('k') });
    try {
      await withClient(clientAs(blind.port, 'analyst', DB), async (c) => {
        expect((await c.query('SELECT 1 AS one')).rows[0].one).toBe(1);
        await expect(c.query('SELECT ssn FROM app.users')).rejects.toMatchObject({ code: '42501' });
        await expect(c.query('SELECT id FROM app.orders')).rejects.toMatchObject({ code: '42501' });
      });
    } finally {
      await blind.stop();
    }
  });
});

describe('partitioned tables', () => {
  // The policy names the partitioned parent only; partitions (also a default
  // and a sub-partitioned one) are masked through pg_inherits, however read.
  let parted: Awaited<ReturnType<typeof startMaskingProxy>>;
  const SECRET = ['111-22-3333', '222-33-4444', '333-44-5555'];
  beforeAll(async () => {
    await withClient({ ...superConfig(), database: DB }, async (c) => {
      await c.query(`CREATE TABLE app.events (id int, region text, ssn text) PARTITION BY LIST (region);
        CREATE TABLE app.events_eu PARTITION OF app.events FOR VALUES IN ('eu');
        CREATE TABLE app.events_us PARTITION OF app.events FOR VALUES IN ('us') PARTITION BY RANGE (id);
        CREATE TABLE app.events_us_low PARTITION OF app.events_us FOR VALUES FROM (0) TO (100);
        CREATE TABLE app.events_other PARTITION OF app.events DEFAULT;
        INSERT INTO app.events VALUES (1, 'eu', '${SECRET[0]}'), (2, 'us', '${SECRET[1]}'), (3, 'apac', '${SECRET[2]}');
        GRANT SELECT ON ALL TABLES IN SCHEMA app TO PUBLIC;`);
    });
    const file = path.join(dir, 'parted.yaml');
    writeFileSync(file, 'version: 1\ncolumns:\n  app.events.ssn: { class: ssn, mask: partial, keep_last: 4 }\n');
    parted = await startMaskingProxy(file);
  });
  afterAll(async () => {
    await parted?.stop();
  });

  it.each([
    ['the parent', 'SELECT id, ssn FROM app.events ORDER BY id'],
    ['a leaf partition', 'SELECT id, ssn FROM app.events_eu'],
    ['a sub-partitioned partition and its leaf', 'SELECT id, ssn FROM app.events_us UNION ALL SELECT id, ssn FROM app.events_us_low'],
    ['the default partition, whole row', 'SELECT e FROM app.events_other e'],
    ['ONLY the parent (no rows, same answer)', 'SELECT id, ssn FROM ONLY app.events'],
  ])('masks %s', async (_what, sql) => {
    const r = await withClient(clientAs(parted.port, 'analyst', DB), (c) => c.query(sql));
    const text = JSON.stringify(r.rows);
    for (const s of SECRET) expect(text).not.toContain(s);
    // A column read directly keeps its mask; one derived from several (UNION) is redacted whole.
    if (r.rows.length && 'ssn' in r.rows[0]) for (const row of r.rows) expect(row.ssn).toMatch(/^(\*{3}-\*{2}-\d{4}|\[REDACTED\])$/);
  });

  it('masks COPY of a partition, and the comparison against the raw value shows the mask is needed', async () => {
    const raw = await withClient({ ...superConfig(), database: DB }, (c) => c.query('SELECT ssn FROM app.events_eu'));
    expect(raw.rows[0].ssn).toBe(SECRET[0]);
    const r = await runCopyOut(parted.port, 'COPY app.events_eu TO STDOUT');
    expect(r).toContain('***-**-3333');
    expect(r).not.toContain(SECRET[0]);
  });
});

describe('policy entries on view columns', () => {
  it('mask reads through the view (plain, derived, whole row, COPY) and refuse filters on them; the table itself stays as the policy says', async () => {
    await withClient({ ...superConfig(), database: DB }, async (c) => {
      await c.query(`CREATE TABLE app.contacts (id int, email text);
        INSERT INTO app.contacts VALUES (1, 'carol.white@example.net');
        CREATE VIEW app.v_contacts AS SELECT id, email AS contact FROM app.contacts;
        GRANT SELECT ON app.contacts, app.v_contacts TO PUBLIC;`);
    });
    const file = path.join(dir, 'view-entry.yaml');
    writeFileSync(file, 'version: 1\ncolumns:\n  app.v_contacts.contact: { class: email, mask: email }\n');
    const proxy = await startMaskingProxy(file);
    try {
      await withClient(clientAs(proxy.port, 'analyst', DB), async (c) => {
        expect((await c.query('SELECT contact FROM app.v_contacts')).rows[0].contact).toBe('***@example.net');
        expect((await c.query('SELECT upper(contact) AS u FROM app.v_contacts')).rows[0].u).toBe('[REDACTED]');
        expect(JSON.stringify((await c.query('SELECT v FROM app.v_contacts v')).rows)).not.toContain('carol');
        expect(JSON.stringify((await c.query('SELECT * FROM (SELECT contact AS x FROM app.v_contacts) s')).rows)).not.toContain('carol');
        await expect(c.query("SELECT id FROM app.v_contacts WHERE contact LIKE 'carol%'")).rejects.toMatchObject({ code: '42501' });
        // The policy names only the view column: the table read directly is not covered.
        expect((await c.query('SELECT email FROM app.contacts')).rows[0].email).toBe('carol.white@example.net');
      });
      expect(await runCopyOut(proxy.port, 'COPY (SELECT * FROM app.v_contacts) TO STDOUT')).toBe('1\t***@example.net\n');
    } finally {
      await proxy.stop();
    }
  });
});

describe('COPY text with other delimiters and escapes', () => {
  it('masks fields that contain the delimiter, backslashes and newlines, and keeps the others byte for byte', async () => {
    await withClient({ ...superConfig(), database: DB }, async (c) => {
      await c.query(`CREATE TABLE app.copy_odd (id int, note text, ssn text, tag text);
        GRANT SELECT ON app.copy_odd TO PUBLIC;
        INSERT INTO app.copy_odd VALUES
          (1, E'a|b\\\\c\nd\te', E'123-45|6789', 'secret-tag-1'),
          (2, NULL, E'98\\\\7-65-4321', 'secret-tag-2'),
          (3, E'\\\\N', NULL, NULL),
          (4, 'plain', E'555\n44|3333', 'secret-tag-4');`);
    });
    const file = path.join(dir, 'copy-odd.yaml');
    // The fixed value has the delimiters, a backslash and a newline in it: it must come out escaped.
    writeFileSync(file, 'version: 1\ncolumns:\n  app.copy_odd.ssn: { class: ssn, mask: partial, keep_last: 4 }\n  app.copy_odd.tag: { mask: fixed, value: "x|y,z\\\\w\\n" }\n');
    const proxy = await startMaskingProxy(file);
    try {
      for (const options of ["(DELIMITER '|')", "(DELIMITER ',')", '']) {
        const direct = await runCopyOut(pgInfo().port, `COPY app.copy_odd TO STDOUT ${options}`, superConfig());
        const masked = await runCopyOut(proxy.port, `COPY app.copy_odd TO STDOUT ${options}`);
        const delimiter = options.includes('|') ? '|' : options.includes(',') ? ',' : '\t';
        const rows = (text: string) => text.trimEnd().split('\n').map((line) => splitCopyText(line, delimiter));
        const d = rows(direct);
        const m = rows(masked);
        expect(m.length).toBe(d.length);
        for (let i = 0; i < d.length; i++) {
          // Unmasked fields are forwarded exactly as the server wrote them.
          expect(m[i].slice(0, 2)).toEqual(d[i].slice(0, 2));
          const ssn = unescapeCopyText(d[i][2]);
          const out = unescapeCopyText(m[i][2]);
          if (ssn === null) expect(out).toBeNull();
          else {
            expect(out).not.toBe(ssn);
            expect(out?.slice(-4)).toBe(ssn.slice(-4));
            expect(out?.length).toBe(ssn.length);
          }
          expect(unescapeCopyText(m[i][3])).toBe(d[i][3] === '\\N' ? null : 'x|y,z\\w\n');
        }
        for (const secret of ['123-45', '98\\7-65', '555\n44', 'secret-tag']) expect(masked).not.toContain(secret);
      }
    } finally {
      await proxy.stop();
    }
  });
});

/** Fields of one COPY text line (escapes kept): splits at delimiters not escaped by a backslash. */
function splitCopyText(line: string, delimiter: string): string[] {
  const out: string[] = [];
  let field = '';
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '\\') {
      field += line[i] + (line[i + 1] ?? '');
      i++;
    } else if (line[i] === delimiter) {
      out.push(field);
      field = '';
    } else field += line[i];
  }
  out.push(field);
  return out;
}

function unescapeCopyText(field: string): string | null {
  if (field === '\\N') return null;
  const map: Record<string, string> = { n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', v: '\v' };
  return field.replace(/\\(.)/g, (_m, c: string) => map[c] ?? c);
}

/** Runs COPY … TO STDOUT (pg-copy-streams); returns the data as text. */
async function runCopyOut(port: number, sql: string, config: pg.ClientConfig = clientAs(port, 'analyst', DB)): Promise<string> {
  return withClient({ ...config, host: '127.0.0.1', port, database: DB }, async (c) => {
    const stream = c.query(copyTo(sql));
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  });
}

describe('protocol paths', () => {
  it('refuses unparseable statements with 42501', async () => {
    await expect(withClient(analyst(), (c) => c.query('SELEC ssn FROM app.users'))).rejects.toMatchObject({ code: '42501' });
  });
  it('a refused Parse in a pipeline is answered in order, skips to Sync, and the session goes on', async () => {
    const seen: string[] = [];
    const again = await rawSession(px.port);
    again.write(Buffer.concat([
      message('P', Buffer.concat([cstr(''), cstr('SELECT 1 AS a'), int16(0)])),
      message('B', Buffer.concat([cstr(''), cstr(''), int16(0), int16(0), int16(0)])),
      message('E', Buffer.concat([cstr(''), Buffer.alloc(4)])),
      message('S'),
      message('P', Buffer.concat([cstr(''), cstr("SELECT id FROM app.users WHERE ssn = '123-45-6789'"), int16(0)])),
      message('B', Buffer.concat([cstr(''), cstr(''), int16(0), int16(0), int16(0)])),
      message('S'),
      message('P', Buffer.concat([cstr(''), cstr('SELECT 2 AS b'), int16(0)])),
      message('B', Buffer.concat([cstr(''), cstr(''), int16(0), int16(0), int16(0)])),
      message('E', Buffer.concat([cstr(''), Buffer.alloc(4)])),
      message('S'),
    ]));
    await new Promise((r) => setTimeout(r, 500));
    for (const m of again.messages) seen.push(m.type === 'E' ? `E${fields(m.body).C}` : m.type);
    again.close();
    // pv_trust has no standing access: the filter on ssn is refused (42501) in its place.
    expect(seen.join(' ')).toBe('1 2 D C Z E42501 Z 1 2 D C Z');
  });
  it('masks rows of a portal the client never described (pgveil asks the server itself)', async () => {
    const raw = await rawSession(px.port);
    raw.write(Buffer.concat([
      message('P', Buffer.concat([cstr('s1'), cstr('SELECT ssn, birth_date FROM app.users WHERE id = 1'), int16(0)])),
      // Bind with all results in binary, then Execute without any Describe.
      message('B', Buffer.concat([cstr(''), cstr('s1'), int16(0), int16(0), int16(1), int16(1)])),
      message('E', Buffer.concat([cstr(''), Buffer.alloc(4)])),
      message('S'),
    ]));
    const deadline = Date.now() + 5_000;
    while (!raw.messages.some((m) => m.type === 'Z') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const types = raw.messages.map((m) => m.type).join('');
    expect(types).toBe('12DCZ');
    const row = raw.messages.find((m) => m.type === 'D');
    raw.close();
    expect(types).not.toContain('T'); // our Describe's answer is kept from the client
    expect(row).toBeDefined();
    const body = (row as { body: Buffer }).body;
    const len = body.readInt32BE(2);
    expect(body.toString('utf8', 6, 6 + len)).toBe('***-**-6789');
    expect(body.toString('latin1')).not.toContain('123-45');
  });
});

describe('the client rule table after a change made by a server message', () => {
  it('a re-Parse the server rejects lifts the hold on Execute before the next chunk is read', async () => {
    // The Bind after the re-Parse makes a portal that needs its row shape: Execute
    // is held. The server rejects the Parse (42P05) and skips the Bind, so no such
    // portal is left, and the next chunk must be read without the hold. Under the
    // suite's PGVEIL_GUARD_SELF_CHECK a chunk read with the stale table ends the
    // session (this fails when the session stops refreshing the table per chunk).
    const raw = await rawSession(px.port);
    // The types of what one request brought back, up to its ReadyForQuery (or the end of the session).
    const answer = async (bytes: Buffer) => {
      raw.messages.length = 0;
      raw.write(bytes);
      const deadline = Date.now() + 10_000;
      while (!raw.closed && !raw.messages.some((m) => m.type === 'Z') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      return raw.messages.map((m) => (m.type === 'E' ? `E:${fields(m.body).C}` : m.type));
    };
    const parse = message('P', Buffer.concat([cstr('s1'), cstr('SELECT ssn FROM app.users WHERE id = 1'), int16(0)]));
    expect(await answer(Buffer.concat([parse, message('S')]))).toEqual(['1', 'Z']);
    const bind = message('B', Buffer.concat([cstr(''), cstr('s1'), int16(0), int16(0), int16(0)]));
    expect(await answer(Buffer.concat([parse, bind, message('S')]))).toEqual(['E:42P05', 'Z']);
    expect(await answer(query('SELECT 41 + 1 AS answer'))).toEqual(['T', 'D', 'C', 'Z']);
    raw.close();
  });
});

describe('Execute of a cursor DECLAREd in a query still running', () => {
  // The protocol-level Execute of a portal created by SQL DECLARE: its rows come
  // without a RowDescription, so pgveil must know their shape (or null them).
  const execute = (portal: string) => message('E', Buffer.concat([cstr(portal), Buffer.alloc(4)]));
  const leaked = (raw: RawConnection) => {
    const text = raw.messages.map((m) => m.body.toString('latin1')).join('|');
    return PII.filter((p) => text.includes(p.ssn) || text.includes(p.ssn.replace(/-/g, ''))).map((p) => p.ssn);
  };
  const waitFor = async (raw: RawConnection, done: () => boolean) => {
    const deadline = Date.now() + 10_000;
    while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  };

  it.each(['CURSOR', 'BINARY CURSOR'])('sent in the same packet as the query that declares it (%s): every field NULL', async (kind) => {
    const raw = await rawSession(px.port);
    raw.write(Buffer.concat([query(`BEGIN; DECLARE c ${kind} FOR SELECT id, ssn, email FROM app.users WHERE id IN (1, 2) ORDER BY id`), execute('c'), message('S')]));
    await waitFor(raw, () => raw.messages.filter((m) => m.type === 'Z').length >= 2);
    raw.close();
    const rows = raw.messages.filter((m) => m.type === 'D');
    expect(rows.length).toBe(PII.length);
    expect(leaked(raw)).toEqual([]);
    // Its column types were never asked for in time: no mask fits, so nothing is sent at all.
    for (const row of rows) expect(dataRowValues(row.body)).toEqual([null, null, null]);
  });

  it('a cursor that reads no table with masked columns keeps its values', async () => {
    // (Over a table with masked columns every field is NULL, even unmasked ones:
    // without the row's shape pgveil can't tell which field is which.)
    const raw = await rawSession(px.port);
    raw.write(Buffer.concat([query('BEGIN; DECLARE c CURSOR FOR SELECT g FROM generate_series(1, 2) g'), execute('c'), message('S')]));
    await waitFor(raw, () => raw.messages.filter((m) => m.type === 'Z').length >= 2);
    raw.close();
    const rows = raw.messages.filter((m) => m.type === 'D').map((m) => dataRowValues(m.body).map((v) => v?.toString()));
    expect(rows).toEqual([['1'], ['2']]);
  });

  it('sent once the DECLARE completed, while the rest of the query still runs: masked, not NULL', async () => {
    const raw = await rawSession(px.port);
    // BEGIN's and DECLARE's CommandComplete arrive while the DO block sleeps: the DECLARE has
    // completed, the query hasn't. (Its NOTICE is withheld: the query reads masked columns.)
    raw.write(query("BEGIN; DECLARE c CURSOR FOR SELECT ssn FROM app.users WHERE id IN (1, 2) ORDER BY id; DO $$ BEGIN RAISE NOTICE 'declared'; PERFORM pg_sleep(0.5); END $$"));
    await waitFor(raw, () => raw.messages.filter((m) => m.type === 'C').length >= 2);
    expect(raw.messages.some((m) => m.type === 'Z')).toBe(false);
    raw.write(Buffer.concat([execute('c'), message('S')]));
    await waitFor(raw, () => raw.messages.filter((m) => m.type === 'Z').length >= 2);
    raw.close();
    expect(leaked(raw)).toEqual([]);
    // Execute was held from the DECLARE's completion on, so pgveil asked for the
    // row shape and masked (without that hold the fields would all be NULL).
    const values = raw.messages.filter((m) => m.type === 'D').map((m) => dataRowValues(m.body).map((v) => v?.toString()));
    expect(values).toEqual(PII.map((p) => [`***-**-${p.ssn.slice(-4)}`]));
  });
});

describe('malformed extended-protocol messages with a policy', () => {
  // The guard reads Bind, Describe, Execute and Close where they lie in the
  // socket chunk; a field running past its message must end the session
  // (08P01), never be read from the next message's bytes.
  it.each([
    ['Bind whose portal name runs past its end', message('B', Buffer.from('no-terminator'))],
    ['Bind cut inside its parameter count', message('B', Buffer.concat([cstr(''), cstr('s1'), Buffer.from([0])]))],
    ['Bind whose parameter length runs past its end', message('B', Buffer.concat([cstr(''), cstr(''), int16(0), int16(1), Buffer.from([0, 0])]))],
    ['Bind cut inside its result formats', message('B', Buffer.concat([cstr(''), cstr(''), int16(0), int16(0), int16(2), int16(1)]))],
    ['Execute whose portal name runs past its end', message('E', Buffer.from('p'))],
    ['Describe without its target byte', message('D')],
    ['Close whose name runs past its end', message('C', Buffer.from('Sabc'))],
  ])('%s, followed by more messages in the same chunk', async (_name, bad) => {
    const raw = await rawSession(px.port);
    // The next messages carry NUL bytes a runaway read would stop at.
    raw.write(Buffer.concat([bad, message('S'), query('SELECT 1')]));
    const deadline = Date.now() + 5_000;
    while (!raw.messages.some((m) => m.type === 'E') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const error = raw.messages.find((m) => m.type === 'E');
    raw.close();
    expect(error && fields(error.body)).toMatchObject({ S: 'FATAL', C: '08P01' });
    // The proxy goes on serving others.
    const r = await withClient(analyst(), (c) => c.query('SELECT 1 AS one'));
    expect(r.rows[0].one).toBe(1);
  });
});

describe('settings that change how text is read', () => {
  it('ROLLBACK that undoes a SET of standard_conforming_strings makes the settings unknown for the rest of the query', async () => {
    const raw = await rawSession(px.port);
    const z = async (n: number) => {
      const deadline = Date.now() + 5_000;
      while (raw.messages.filter((m) => m.type === 'Z').length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    };
    raw.write(query('SET standard_conforming_strings = off'));
    await z(1);
    raw.write(query('BEGIN; SET standard_conforming_strings = on'));
    await z(2);
    // After the ROLLBACK the server reads 'a\'' as a quote inside the literal: the rest is code.
    raw.write(query("ROLLBACK; SELECT 'a\\' AS p, 1 AS q -- ', (SELECT string_agg(ssn, ';') FROM app.users) AS r --'"));
    await z(3);
    const text = raw.messages.map((m) => m.body.toString('latin1')).join('|');
    raw.close();
    expect(text).not.toContain('123-45-6789');
    expect(raw.messages.some((m) => m.type === 'E' && fields(m.body).C === '42501')).toBe(true);
  });
});

describe('names the server rejected', () => {
  it('a second Parse of an existing statement name does not replace what the server holds', async () => {
    const raw = await rawSession(px.port);
    const rows: Buffer[] = [];
    raw.write(Buffer.concat([
      message('P', Buffer.concat([cstr('s9'), cstr('SELECT upper(ssn) AS u FROM app.users WHERE id = 1'), int16(0)])),
      message('S'),
      // Rejected by the server: s9 exists. pgveil must keep judging s9 as the first statement.
      message('P', Buffer.concat([cstr('s9'), cstr("SELECT 'harmless'::text AS u"), int16(0)])),
      message('S'),
      message('B', Buffer.concat([cstr(''), cstr('s9'), int16(0), int16(0), int16(0)])),
      message('E', Buffer.concat([cstr(''), Buffer.alloc(4)])),
      message('S'),
    ]));
    const deadline = Date.now() + 5_000;
    while (raw.messages.filter((m) => m.type === 'Z').length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const m of raw.messages) if (m.type === "D") rows.push(m.body);
    raw.close();
    expect(rows).toHaveLength(1);
    expect(rows[0].toString('latin1')).not.toContain('123-45-6789');
  });
  it('a failed PREPARE or DECLARE of an existing name does not replace what the server holds', async () => {
    await withClient(analyst(), async (c) => {
      await c.query('PREPARE p9 AS SELECT upper(ssn) AS u FROM app.users WHERE id = 1');
      await expect(c.query("PREPARE p9 AS SELECT 'harmless'::text AS u")).rejects.toMatchObject({ code: '42P05' });
      const r = await c.query('EXECUTE p9');
      expect(JSON.stringify(r.rows)).not.toContain('123-45-6789');
      await c.query('BEGIN');
      await c.query('DECLARE c9 CURSOR FOR SELECT ssn || \'\' AS u FROM app.users WHERE id = 1');
      await expect(c.query("DECLARE c9 CURSOR FOR SELECT 'harmless'::text AS u")).rejects.toMatchObject({ code: '42P03' });
      await c.query('ROLLBACK');
    });
    await withClient(analyst(), async (c) => {
      await c.query('BEGIN');
      await c.query("DECLARE c8 CURSOR FOR SELECT ssn || '' AS u FROM app.users WHERE id = 1");
      await c.query('SAVEPOINT s');
      await expect(c.query("DECLARE c8 CURSOR FOR SELECT 'harmless'::text AS u")).rejects.toMatchObject({ code: '42P03' });
      await c.query('ROLLBACK TO SAVEPOINT s');
      const r = await c.query('FETCH ALL FROM c8');
      await c.query('COMMIT');
      expect(r.rows).toHaveLength(1);
      expect(JSON.stringify(r.rows)).not.toContain('123-45-6789');
    });
  });
});

describe('policy reload', () => {
  it('file change and SIGHUP-style reload swap the policy; an invalid file keeps the previous one', async () => {
    const file = path.join(dir, 'reload.yaml');
    writeFileSync(file, readFileSync(EXAMPLE_POLICY, 'utf8'));
    const logger = pino({ level: 'silent' });
    const policy = new PolicyStore(file, logger);
    const info = pgInfo();
    const catalogs = new CatalogManager({
      connection: (database) => ({ host: info.host, port: info.port, user: info.superuser, password: info.superpass, database }),
      refreshMs: 0,
      logger,
    });
    const p = await startProxy({ policy, catalogs, hashKey: Buffer.from('k') });
    policy.watch();
    const ssn = () => withClient(clientAs(p.port, 'analyst', DB), (c) => c.query('SELECT ssn FROM app.users WHERE id = 1')).then((r) => r.rows[0].ssn as string);
    const until = async (want: (v: string) => boolean) => {
      const deadline = Date.now() + 5_000;
      let v = await ssn();
      while (!want(v) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        v = await ssn();
      }
      return v;
    };
    try {
      expect(await ssn()).toBe('***-**-6789');
      // Edit: ssn fully redacted now (file watch).
      writeFileSync(file, readFileSync(EXAMPLE_POLICY, 'utf8').replace('{ class: ssn,   mask: partial, keep_last: 4 }', '{ class: ssn, mask: redact }'));
      expect(await until((v) => v === '[REDACTED]')).toBe('[REDACTED]');
      // Invalid file: previous policy stays in force.
      writeFileSync(file, 'version: 1\ncolumns:\n  app.users.ssn: { mask: sparkle }\n');
      expect(policy.reload('SIGHUP')).toBe(false);
      await new Promise((r) => setTimeout(r, 400));
      expect(await ssn()).toBe('[REDACTED]');
      // SIGHUP-style explicit reload of a valid file.
      writeFileSync(file, readFileSync(EXAMPLE_POLICY, 'utf8'));
      expect(policy.reload('SIGHUP')).toBe(true);
      expect(await ssn()).toBe('***-**-6789');
    } finally {
      policy.close();
      await p.stop();
    }
  });
});

describe('commands', () => {
  const dsn = () => {
    const info = pgInfo();
    return `postgres://${info.superuser}:${info.superpass}@${info.host}:${info.port}/${DB}`;
  };
  it('policy check accepts the examples and reports errors with file:line:column (exit 1)', async () => {
    const ok = await runCli(['policy', 'check', EXAMPLE_POLICY]);
    expect(ok.code).toBe(0);
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, 'version: 1\ncolumns:\n  app.users.ssn: { class: ssn, mask: sparkle }\n  app.users.x: { mask: partial, keep_lats: 4 }\n');
    const r = await runCli(['policy', 'check', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3:\\d+`));
    expect(r.stderr).toMatch(/:4:\d+/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
  it('policy check --dsn warns about entries that match no column', async () => {
    const file = path.join(dir, 'ghost.yaml');
    writeFileSync(file, 'version: 1\ncolumns:\n  app.users.ssn: { mask: redact }\n  app.users.ghost: { mask: redact }\n');
    const r = await runCli(['policy', 'check', file, '--dsn', dsn()]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/:4:\d+: warning: "app.users.ghost" matches no column/);
    expect(r.stderr).not.toContain('app.users.ssn');
  });
  it('explain prints the decision per column and why, without running the statement', async () => {
    const r = await runCli(['explain', '--dsn', dsn(), '--user', 'analyst', '--policy', EXAMPLE_POLICY,
      'SELECT id, ssn, upper(email) AS e FROM app.users; SELECT id FROM app.users WHERE ssn = \'1\'']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/id: raw/);
    expect(r.stdout).toMatch(/ssn: mask/);
    expect(r.stdout).toMatch(/policy entry "app.users.ssn"/);
    expect(r.stdout).toMatch(/e: mask/);
    expect(r.stdout).toMatch(/refused \(42501\)/);
    const backend = await runCli(['explain', '--dsn', dsn(), '--user', 'app_backend', '--policy', EXAMPLE_POLICY, 'SELECT email FROM app.users']);
    expect(backend.stdout).toMatch(/email: raw/);
  });
  it('serve refuses to start with an invalid policy (exit 2, file:line:col)', async () => {
    const bad = path.join(dir, 'bad-serve.yaml');
    writeFileSync(bad, 'version: 1\ncolumns:\n  app.users.ssn: { mask: sparkle }\n');
    const r = await runCli(['serve', '--listen', '127.0.0.1:0', '--upstream', upstreamUrl(), '--policy', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bad-serve.yaml:3:\d+/);
  });
  it('serve reloads the policy on SIGHUP; an invalid file keeps the previous policy', async () => {
    const port = await freePort();
    const file = path.join(dir, 'hup.yaml');
    writeFileSync(file, readFileSync(EXAMPLE_POLICY, 'utf8'));
    const { cli } = await startServe(port, ['--policy', file, '--catalog-dsn', dsn()]);
    const ssn = () => withClient(clientAs(port, 'analyst', DB), (c) => c.query('SELECT ssn FROM app.users WHERE id = 2')).then((r) => r.rows[0].ssn as string);
    try {
      expect(await ssn()).toBe('***-**-4321');
      writeFileSync(file, 'version: 1\ncolumns:\n  app.users.ssn: { mask: sparkle }\n');
      cli.child.kill('SIGHUP');
      await cli.waitForLine((l) => l.msg === 'policy reload failed; previous policy stays in force' && l.reason === 'SIGHUP', 5_000);
      expect(await ssn()).toBe('***-**-4321');
      writeFileSync(file, readFileSync(EXAMPLE_POLICY, 'utf8').replace('{ class: ssn,   mask: partial, keep_last: 4 }', '{ class: ssn, mask: redact }'));
      cli.child.kill('SIGHUP');
      await cli.waitForLine((l) => l.msg === 'policy reloaded' && l.reason === 'SIGHUP', 5_000);
      expect(await ssn()).toBe('[REDACTED]');
    } finally {
      await cli.stop();
    }
  });
  it('serve --policy --catalog-dsn masks end to end from the command line', async () => {
    const port = await freePort();
    const { cli } = await startServe(port, ['--policy', EXAMPLE_POLICY, '--catalog-dsn', dsn()]);
    try {
      const r = await withClient(clientAs(port, 'analyst', DB), (c) => c.query('SELECT ssn FROM app.users WHERE id = 2'));
      expect(r.rows[0].ssn).toBe('***-**-4321');
    } finally {
      await cli.stop();
    }
  });
});

void pg;
void query;

describe('texts that differ from the last one only in numbers', () => {
  // The session's screen passes a text that differs from the last one it passed
  // only in numeric constants without reading its words again; the names it
  // matches as substrings (quoted names) must still be looked for. The
  // derived column (upper) carries no table OID: only the SQL layer can catch it.
  // The names are made of words the database knows (users), as the screen
  // passes only texts made of such words.
  let numbered: Awaited<ReturnType<typeof startMaskingProxy>>;
  beforeAll(async () => {
    await withClient({ ...superConfig(), database: DB }, async (c) => {
      await c.query(`CREATE TABLE app."users 6" (v text); CREATE TABLE app."users 7" (v text);
        INSERT INTO app."users 6" VALUES ('open-6-value'); INSERT INTO app."users 7" VALUES ('secret-7-value');
        GRANT SELECT ON app."users 6", app."users 7" TO PUBLIC;`);
    });
    const file = path.join(dir, 'numbered.yaml');
    writeFileSync(file, 'version: 1\ncolumns:\n  \'app."users 7".v\': { mask: redact }\n');
    numbered = await startMaskingProxy(file);
  });
  afterAll(async () => {
    await numbered?.stop();
  });

  it('masks a quoted sensitive name reached by changing a number in the last harmless text', async () => {
    await withClient(clientAs(numbered.port, 'analyst', DB), async (c) => {
      // Simple protocol (no parameters): each text is screened by the session.
      for (let i = 0; i < 3; i++) {
        const open = await c.query(`SELECT upper(v), ${i} FROM app."users 6"`);
        expect(open.rows[0].upper).toBe('OPEN-6-VALUE');
      }
      const closed = await c.query('SELECT upper(v), 2 FROM app."users 7"');
      expect(JSON.stringify(closed.rows)).not.toMatch(/secret-7-value/i);
      const again = await c.query('SELECT upper(v), 3 FROM app."users 6"');
      expect(again.rows[0].upper).toBe('OPEN-6-VALUE');
    });
  });
});
