// vitest configuration: all tests under test/, run in worker threads.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    pool: 'threads',
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
