import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Real-vmcore tests run crash and stream ~1 GB; nothing here is a timed test.
    testTimeout: 300_000,
    hookTimeout: 300_000,
    pool: 'forks',
    // Two cores: one file at a time keeps the QEMU-made fixtures' checks from
    // fighting each other for CPU and page cache.
    fileParallelism: false,
  },
});
