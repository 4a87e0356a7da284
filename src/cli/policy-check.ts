import { loadCatalog } from '../catalog/loader.js';
import { connectionFor, databaseOf } from '../catalog/dsn.js';
import { loadPolicy, PolicyError, resolveColumn, type Policy } from '../policy/index.js';
import { matchColumn } from '../policy/identifiers.js';

export interface CheckOutput {
  out: (line: string) => void;
  err: (line: string) => void;
}

/**
 * `pgveil policy check FILE [--dsn URL]`: schema errors with file:line:col (exit 1);
 * with a DSN, warnings for entries that name no existing column.
 */
export async function policyCheck(file: string, dsn: string | undefined, io: CheckOutput): Promise<number> {
  let policy: Policy;
  try {
    policy = loadPolicy(file);
  } catch (err) {
    if (err instanceof PolicyError) {
      for (const i of err.issues) io.err(`${i.where}: error: ${i.path ? `${i.path}: ` : ''}${i.message}`);
      io.err(`${file}: ${err.issues.length} error${err.issues.length === 1 ? '' : 's'}`);
      return 1;
    }
    io.err(`${file}: error: ${(err as Error).message}`);
    return 1;
  }
  let warnings = 0;
  if (dsn) {
    let catalog;
    try {
      catalog = await loadCatalog(connectionFor(dsn, databaseOf(dsn)));
    } catch (err) {
      io.err(`cannot read the catalog through --dsn: ${(err as Error).message}`);
      return 1;
    }
    const existing = catalog.data.relations.flatMap((r) => r.columns.map((c) => ({ schema: r.schema, table: r.name, column: c.name })));
    for (const rule of policy.columns) {
      const hits = existing.filter((ref) => matchColumn(rule.pattern, ref));
      if (hits.length === 0) {
        warnings++;
        io.err(`${rule.where}: warning: "${rule.key}" matches no column in database ${databaseOf(dsn)}`);
      }
    }
    const covered = existing.filter((ref) => resolveColumn(policy, ref.schema, ref.table, ref.column) !== undefined).length;
    io.out(`${file}: ${policy.columns.length} column entries cover ${covered} columns in ${databaseOf(dsn)}`);
  }
  io.out(`${file}: OK${warnings ? ` (${warnings} warning${warnings === 1 ? '' : 's'})` : ''}`);
  return 0;
}
