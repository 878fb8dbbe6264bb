import { defineConfig } from 'vitest/config';

// Integration tests share one NATS and one Redis: each test uses its own stream names and key
// prefix. libchdb binds one data directory per process, so each test file runs in its own fork.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    fileParallelism: true,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    isolate: true,
  },
});
