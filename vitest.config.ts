import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["**/test/**/*.test.ts"],
    // Every node_modules, also test/conformance/node_modules (its own install, zod ships tests).
    exclude: ["**/node_modules/**", "data/**"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    coverage: {
      provider: "v8",
      include: ["**/src/**/*.ts"],
      reporter: ["text-summary", "html"],
    },
  },
});
