#!/usr/bin/env node
// The installed command runs the compiled CLI; `npm ci` builds dist/ in `prepare`.
import { main } from '../dist/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => {
    if (typeof code === 'number') process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`pgveil: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
