import { execFileSync } from 'node:child_process';
import type pg from 'pg';

/** Polls `cond` until true; returns the milliseconds it took, throws after `timeoutMs`. */
export async function pollUntil(what: string, cond: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await cond()) return Date.now() - start;
    if (Date.now() - start > timeoutMs) throw new Error(`${what}: not true after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Server backends whose current query contains `tag`, seen through a direct connection. */
export async function backendsRunning(admin: pg.Client, tag: string): Promise<{ pid: number; state: string }[]> {
  const r = await admin.query<{ pid: number; state: string }>(
    'select pid, state from pg_stat_activity where pid <> pg_backend_pid() and strpos(query, $1) > 0',
    [tag],
  );
  return r.rows;
}

/** Whether a command is on PATH; says so when its tests will be skipped. */
export function onPath(name: string, who: string): boolean {
  try {
    execFileSync('which', [name], { stdio: 'pipe' });
    return true;
  } catch {
    console.log(`${who}: ${name} not found on PATH, its tests are skipped`);
    return false;
  }
}
