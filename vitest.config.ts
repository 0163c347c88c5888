import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Interop tests start real peers; two cores, so keep parallelism modest.
    maxWorkers: 2,
    reporters: ['default'],
    // Fails a test file that leaves a child process, an open socket or a torrent-* temp folder
    // behind, and gives each file a temp folder of its own (TMPDIR).
    setupFiles: ['test/helpers/leak-check.ts'],
    // No test may reach the internet: every DHT started by a test (or by a CLI it spawns, which
    // inherits this) bootstraps from loopback nodes only, or from none.
    env: { TORRENT_DHT_BOOTSTRAP: '' },
  },
});
