/**
 * Rewrites the kustomize base's copies of config/tools.yaml, config/policy.yaml and
 * envoy/envoy.yaml after one of them changed:
 *   npx tsx deploy/test/sync-config-copies.ts
 */
import { readFileSync, writeFileSync } from "node:fs";
import { CONFIG_COPIES, expectedCopy, repoRoot } from "./config-copies.ts";

for (const copy of CONFIG_COPIES) {
  const target = `${repoRoot}${copy.target}`;
  const wanted = expectedCopy(copy);
  let current: string | undefined;
  try {
    current = readFileSync(target, "utf8");
  } catch {
    current = undefined;
  }
  if (current === wanted) {
    console.log(`unchanged ${copy.target}`);
  } else {
    writeFileSync(target, wanted);
    console.log(`wrote     ${copy.target} (from ${copy.source})`);
  }
}
