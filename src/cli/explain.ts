import { loadCatalog } from '../catalog/loader.js';
import { connectionFor, databaseOf } from '../catalog/dsn.js';
import { PolicyGate, type GateEvent } from '../gate/policy-gate.js';
import { loadPolicy, resolveHashKey } from '../policy/index.js';
import { analyzeSql } from '../sql/analyze.js';
import { loadParser } from '../sql/parse.js';
import { parseColumnKey, valueSources } from '../sql/lineage.js';
import type { FieldDescription } from '../wire/results.js';
import type { CheckOutput } from './policy-check.js';

/**
 * `pgveil explain`: what pgveil would do with each result column of a
 * statement, for a given user, without running the statement.
 */
export async function explain(opts: { dsn: string; user: string; policyFile: string; sql: string }, io: CheckOutput): Promise<number> {
  const policy = loadPolicy(opts.policyFile);
  await loadParser();
  const catalog = await loadCatalog(connectionFor(opts.dsn, databaseOf(opts.dsn)));
  const events: GateEvent[] = [];
  const gate = new PolicyGate({
    policy: () => policy,
    catalog: () => catalog,
    identity: () => ({ user: opts.user, roles: catalog.rolesOf(opts.user) }),
    grants: () => [],
    now: () => new Date(),
    hashKey: () => resolveHashKey(policy, process.env) ?? Buffer.from('explain'),
    record: (e) => events.push(e),
  });
  const result = analyzeSql(opts.sql, catalog);
  if (!result.ok) {
    io.out(`refused: ${gate.unparseable(result.error).message} (${result.error})`);
    return 0;
  }
  const roles = catalog.rolesOf(opts.user);
  io.out(`user ${opts.user}${roles.length ? ` (member of ${roles.join(', ')})` : ''}, policy ${opts.policyFile}, database ${databaseOf(opts.dsn)}`);
  result.statements.forEach((st, n) => {
    io.out(`statement ${n + 1}: ${st.nodeType}`);
    events.length = 0;
    const refusal = gate.refusal(st.cursorQuery ?? st.prepared ?? st);
    if (refusal) {
      io.out(`  refused (42501): ${refusal.message}`);
      if (refusal.hint) io.out(`  hint: ${refusal.hint}`);
      return;
    }
    const target = st.cursorQuery ?? st.prepared ?? st;
    const outputs = target.outputs ?? [];
    if (outputs.length === 0) {
      io.out('  returns no columns pgveil needs to judge');
      return;
    }
    // The wire layer's view of each column: a plain reference carries its table OID.
    const fields: FieldDescription[] = outputs.map((o) => {
      const values = valueSources(o.sources, catalog);
      const key = o.direct && values.length === 1 ? parseColumnKey(values[0]) : undefined;
      const typeOid = key ? catalog.relation(key.rel)?.columns.find((c) => c.attnum === key.attnum)?.typeOid ?? 25 : 25;
      return { name: o.name, tableOid: key?.rel ?? 0, attnum: key?.attnum ?? 0, typeOid, typeModifier: -1, format: 0 };
    });
    gate.resultPlan(target, fields);
    const decided = new Map<string, { action: string; reason: string }>();
    for (const e of events) if (e.kind === 'result') for (const c of e.columns) decided.set(c.name, c);
    for (const f of fields) {
      const d = decided.get(f.name);
      const layer = f.tableOid ? 'wire (table OID) + SQL lineage' : 'SQL lineage';
      io.out(`  ${f.name}: ${d ? d.action : 'raw'} [${layer}]`);
      io.out(`    why: ${d ? d.reason : 'no sensitive source'}`);
    }
  });
  return 0;
}
