import { watch, type FSWatcher } from 'node:fs';
import type { Logger } from 'pino';
import { loadPolicy } from './load.js';
import { PolicyError, type Policy } from './types.js';

/**
 * The policy in force, reloaded on file change and on SIGHUP. A new file is
 * validated first and swapped in whole; an invalid one leaves the previous
 * policy in force and says why in the log.
 */
export class PolicyStore {
  private policy: Policy;
  private watcher: FSWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;

  /** Throws PolicyError when the initial file is invalid (startup must fail). */
  constructor(
    readonly file: string,
    private readonly logger: Logger,
  ) {
    this.policy = loadPolicy(file);
  }

  current(): Policy {
    return this.policy;
  }

  /** Re-reads the file; returns whether the new policy is now in force. */
  reload(reason: string): boolean {
    try {
      const next = loadPolicy(this.file);
      this.policy = next;
      this.logger.info({ policy: this.file, reason, columns: next.columns.length }, 'policy reloaded');
      return true;
    } catch (err) {
      const message = err instanceof PolicyError ? err.message : (err as Error).message;
      this.logger.error({ policy: this.file, reason, error: message }, 'policy reload failed; previous policy stays in force');
      return false;
    }
  }

  /** Watches the file (editors often replace it: watch the path, re-arm on rename). */
  watch(): void {
    const arm = () => {
      try {
        this.watcher = watch(this.file, () => {
          clearTimeout(this.debounce);
          this.debounce = setTimeout(() => {
            this.watcher?.close();
            arm();
            this.reload('file changed');
          }, 100);
        });
        this.watcher.on('error', () => undefined);
      } catch {
        // File briefly missing while being replaced: try again shortly.
        setTimeout(arm, 500).unref();
      }
    };
    arm();
  }

  close(): void {
    clearTimeout(this.debounce);
    this.watcher?.close();
  }
}
