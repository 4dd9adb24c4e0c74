/**
 * The renderer must print what kubectl's kustomize prints. CI machines may lack kubectl, so this
 * file compares only where `kubectl` (with its built-in kustomize) is installed, and says so when
 * it is not; the renderer's own tests pin the kustomize behaviours it relies on either way.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { resourceId, type KubeObject } from "./kustomize-render.ts";
import { devSecretsFiles, kubernetesDir, overlayDir, OVERLAYS, render } from "./overlays.ts";

const probe = spawnSync("kubectl", ["version", "--client"], { encoding: "utf8", timeout: 30_000 });
const kubectl = probe.status === 0 && /Kustomize Version/.test(probe.stdout);
if (!kubectl)
  console.info("kubectl-parity: kubectl with kustomize not installed, comparison skipped");

describe.skipIf(!kubectl)("the renderer against kubectl kustomize", () => {
  // A copy, so the dev overlay's gitignored secrets.env can be the example, as in render().
  const copy = mkdtempSync(join(tmpdir(), "deploy-kubernetes-"));
  afterAll(() => rmSync(copy, { recursive: true, force: true }));
  cpSync(kubernetesDir, copy, { recursive: true });
  for (const [path, content] of Object.entries(devSecretsFiles())) {
    writeFileSync(path.replace(kubernetesDir, `${copy}/`), content);
  }

  it.each(OVERLAYS)("overlay %s renders the same objects", (overlay) => {
    const dir = overlayDir(overlay).replace(kubernetesDir, `${copy}/`);
    const printed = execFileSync("kubectl", ["kustomize", dir], {
      encoding: "utf8",
      timeout: 60_000,
    });
    const theirs = parseAllDocuments(printed).map((document) => document.toJS() as KubeObject);
    const byId = (objects: KubeObject[]) =>
      Object.fromEntries(objects.map((object) => [resourceId(object), object]));
    expect(byId(render(overlay))).toEqual(byId(theirs));
  });
});
