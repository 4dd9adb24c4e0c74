import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["**/test/**/*.test.ts"],
    // Every node_modules, also test/conformance/node_modules (its own install, zod ships tests).
    exclude: ["**/node_modules/**", "data/**"],
    // `npm run build` once (incremental): tests that start processes run dist/ on plain node.
    globalSetup: ["test/global-setup.ts"],
    // Vitest's default is one worker fewer than the cores: a single one on a 2-core machine, while
    // most test files wait on sockets, child processes and databases. Measured on 2 cores: 2
    // workers 188 s, 3 workers 173 s but with the slowest files twice as slow; the cap keeps a big
    // machine from opening more database pools than one PostgreSQL serves.
    maxWorkers: Math.min(4, Math.max(2, availableParallelism())),
    // Bounds for hangs, not for speed: files run side by side, on a machine that may be busy.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    coverage: {
      provider: "v8",
      include: ["**/src/**/*.ts"],
      reporter: ["text-summary", "html"],
    },
  },
});
