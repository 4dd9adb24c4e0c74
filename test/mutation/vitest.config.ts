import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

/**
 * The vitest configuration StrykerJS runs (see stryker.config.mjs): only the test files that
 * exercise the mutated code, and none of the root configuration's global setup (a build of dist/
 * per sandbox) or coverage thresholds. Stryker's vitest runner sets the pool and the reporters.
 */
export default defineConfig({
  test: {
    root: fileURLToPath(new URL("../..", import.meta.url)),
    // Unit-level tests of the mutated code. Left out for run time (each would be rerun for
    // hundreds of mutants): the gRPC server, Envoy response and wire tests (grpc-server,
    // check-response, authz-wire) and the router's end-to-end authorization.test.ts, whose
    // checks the unit tests below repeat.
    include: [
      "ext-authz/test/{decide,token,jwks,rpc-body,rate-limit,redis-counters,task-requests}.test.ts",
      "ext-authz/test/{conditions,route,protected-resource,strict-json,quota}.test.ts",
      "ext-authz/test/{authorization-header,jwks-unavailable,roles-claim,items,admin-route}.test.ts",
      "ext-authz/test/{decide-shapes,rbac-edges,token-classify}.test.ts",
      "config/test/policy-condition.test.ts",
      "contract/test/{verdict,gateway-auth,gateway-auth-audience}.test.ts",
      "mcp-router/test/{authorizer-audit,session}.test.ts",
      "tools/kit/test/{tool-server,tool-server-refusals,gateway-auth-replay}.test.ts",
    ],
    exclude: ["**/node_modules/**"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
