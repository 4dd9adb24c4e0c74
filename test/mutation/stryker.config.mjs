// StrykerJS over the authorization core (docs/testing.md, "Mutation testing"). Run it with
// `npm run test:mutation` (test/mutation/run.sh) from the repository root.
import { tmpdir } from "node:os";
import path from "node:path";

const here = "test/mutation";

/** @type {import("@stryker-mutator/api/core").PartialStrykerOptions} */
export default {
  mutate: [
    "ext-authz/src/policy/**/*.ts",
    // The CEL conditions of policy rules: their load-time checks and evaluation.
    "config/src/policy-condition.ts",
    "contract/src/verdict.ts",
    "contract/src/gateway-auth.ts",
    "mcp-router/src/authorization.ts",
    "mcp-router/src/session.ts",
    // handleMcpPost up to and including the X-Gateway-Auth verdict, nothing else of the server.
    "tools/kit/src/tool-server.ts:132-178",
    // Single use of an X-Gateway-Auth header on the tool server.
    "tools/kit/src/replay-cache.ts",
  ],
  testRunner: "vitest",
  vitest: { configFile: `${here}/vitest.config.ts`, related: false },
  checkers: ["typescript"],
  tsconfigFile: "tsconfig.json",
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  coverageAnalysis: "perTest",
  // Mutants of module-level code (schemas, constant sets, regular expressions) can only be tested
  // by rerunning every test file, about 15 s each here: 200 of them would double the run.
  ignoreStatic: true,
  incremental: true,
  incrementalFile: `${here}/reports/stryker-incremental.json`,
  // Two cores, and other test runs may share them: generous timeouts, two workers.
  concurrency: 2,
  timeoutMS: 20_000,
  timeoutFactor: 3,
  // The sandboxes live outside the repository, so a concurrent `npm test`, tsc or eslint of the
  // working tree never picks up their copies of the test files.
  tempDirName: path.join(tmpdir(), "mcp-gateway-stryker"),
  ignorePatterns: [
    "dist",
    "coverage",
    "data",
    "docs",
    "bench",
    "test/conformance",
    `${here}/node_modules`,
    `${here}/reports`,
  ],
  reporters: ["clear-text", "progress-append-only", "html", "json"],
  htmlReporter: { fileName: `${here}/reports/mutation.html` },
  jsonReporter: { fileName: `${here}/reports/mutation.json` },
  clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true },
  thresholds: { high: 90, low: 85, break: null },
};
