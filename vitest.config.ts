import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: two files at a time against the one server.
    maxWorkers: 2,
    pool: 'forks',
    // The guard compares what it remembers with fresh answers and fails loudly on a difference.
    env: { PGVEIL_GUARD_SELF_CHECK: '1' },
  },
});
