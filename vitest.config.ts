import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";

const INCLUDE = ["**/test/**/*.test.ts"];
// Every node_modules, also test/conformance/node_modules (its own install, zod ships tests).
const EXCLUDE = ["**/node_modules/**", "data/**"];
/**
 * Files that replace a module other files load (vi.mock, vi.doMock): they need modules of their
 * own. Every other file shares its worker's module instances with the files before it (isolate:
 * false), which saves each file importing the source and starting PGlite's WebAssembly anew; the
 * helpers that keep something per file reset it when the file ends (store/test/file-end.ts).
 */
const OWN_MODULES = [
  "store/test/open-database-lazy.test.ts",
  "tools/kit/test/mcp-endpoint.test.ts",
];

/** Every project's own settings (inline projects take none from the root). */
const COMMON = {
  // Bounds for hangs, not for speed: files run side by side, on a machine that may be busy.
  testTimeout: 60_000,
  hookTimeout: 120_000,
  setupFiles: ["test/setup-file.ts"],
};

export default defineConfig({
  test: {
    projects: [
      { test: { ...COMMON, name: "own-modules", include: OWN_MODULES } },
      {
        test: {
          ...COMMON,
          name: "shared-modules",
          include: INCLUDE,
          exclude: [...EXCLUDE, ...OWN_MODULES],
          isolate: false,
          // `npm run build` once (incremental): tests that start processes run dist/ on plain node.
          globalSetup: ["test/global-setup.ts"],
        },
      },
    ],
    // Vitest's default is one worker fewer than the cores: a single one on a 2-core machine, while
    // most test files wait on sockets, child processes and databases. Measured on 2 cores: 2
    // workers 188 s, 3 workers 173 s but with the slowest files twice as slow; the cap keeps a big
    // machine from opening more database pools than one PostgreSQL serves.
    maxWorkers: Math.min(4, Math.max(2, availableParallelism())),
    coverage: {
      provider: "v8",
      include: ["**/src/**/*.ts"],
      // The console's browser code runs in Chromium (test/browser), where v8 coverage of node
      // does not see it.
      exclude: ["console/src/**"],
      // json-summary feeds test/coverage-by-folder.ts; html is the browsable report (coverage/).
      reporter: ["text-summary", "html", "json-summary"],
      // Set from the figures of 2026-11-30 (docs/testing.md), a point under each so a test that
      // times differently does not fail the run; raised as coverage grows, never lowered.
      thresholds: {
        lines: 91,
        branches: 85,
        functions: 90,
        statements: 89,
        "ext-authz/src/policy/**": { lines: 97, branches: 93, functions: 94, statements: 96 },
        "contract/src/**": { lines: 98, branches: 92, functions: 97, statements: 96 },
        "mcp-router/src/{authorization,direct-authz,forwarding,invoke-tool,session}.ts": {
          lines: 95,
          branches: 89,
          functions: 93,
          statements: 92,
        },
        "tools/kit/src/**": { lines: 91, branches: 84, functions: 89, statements: 88 },
      },
    },
  },
});
