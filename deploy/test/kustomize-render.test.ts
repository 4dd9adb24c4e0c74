/* eslint-disable @typescript-eslint/no-explicit-any --
   These tests build and walk untyped kustomize trees; the assertions are the checks. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  KustomizeError,
  kustomizeBase64,
  parseEnvFile,
  renderKustomization,
  strategicMerge,
} from "./kustomize-render.ts";

const root = mkdtempSync(join(tmpdir(), "kustomize-render-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;

/** Writes a kustomize tree (relative path → content) and returns its directory. */
function tree(files: Record<string, string>): string {
  const dir = join(root, String(counter++));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: { name: app, labels: { app: a } }
spec:
  selector: { matchLabels: { app: a } }
  template:
    metadata: { labels: { app: a } }
    spec:
      containers:
        - name: app
          image: mcp-gateway:0.1.0
          env:
            - { name: A, value: "1" }
            - name: B
              valueFrom: { configMapKeyRef: { name: settings, key: B } }
            - name: C
              valueFrom: { secretKeyRef: { name: keys, key: C } }
          volumeMounts: [{ name: config, mountPath: /etc/app }]
      volumes:
        - name: config
          configMap: { name: files }
`;

describe("renderKustomization", () => {
  it("generates ConfigMaps and Secrets with kustomize's hash suffix and rewrites references", () => {
    // Names and hashes as printed by kubectl kustomize (v5.5) for the same input.
    const dir = tree({
      "kustomization.yaml": `resources: [app.yaml]
configMapGenerator:
  - { name: settings, literals: [A=1] }
secretGenerator:
  - { name: keys, literals: [A=1] }
  - { name: long, literals: ["A=dev-insecure-tool-gateway-shared-secret-do-not-use-in-production"] }
`,
      "app.yaml": deployment,
    });
    const objects = renderKustomization(dir);
    const names = objects.map((o) => `${o.kind}/${o.metadata.name}`);
    expect(names).toEqual([
      "Deployment/app",
      "ConfigMap/settings-89g4tffbfk",
      "Secret/keys-526mcbf5c2",
      "Secret/long-gm9gf5k92d",
    ]);
    const container = (objects[0] as any).spec.template.spec.containers[0];
    expect(container.env[1].valueFrom.configMapKeyRef.name).toBe("settings-89g4tffbfk");
    expect(container.env[2].valueFrom.secretKeyRef.name).toBe("keys-526mcbf5c2");
    // Not generated here: left alone.
    expect((objects[0] as any).spec.template.spec.volumes[0].configMap.name).toBe("files");
  });

  it("merges an overlay's patches, namespace, labels and images into the base", () => {
    const dir = tree({
      "base/kustomization.yaml": "resources: [app.yaml]\n",
      "base/app.yaml": deployment,
      "overlay/kustomization.yaml": `namespace: ns
labels:
  - pairs: { team: x }
    includeTemplates: true
resources: [../base]
images:
  - { name: mcp-gateway, newName: registry.example.com/mcp-gateway, newTag: 0.2.0 }
patches:
  - path: patch.yaml
`,
      "overlay/patch.yaml": `apiVersion: apps/v1
kind: Deployment
metadata: { name: app }
spec:
  template:
    spec:
      containers:
        - name: app
          env:
            - { name: A, value: "2" }
            - { name: B, $patch: delete }
            - { name: D, value: "4" }
`,
    });
    const [app] = renderKustomization(join(dir, "overlay")) as any[];
    expect(app.metadata).toEqual({ name: "app", namespace: "ns", labels: { app: "a", team: "x" } });
    expect(app.spec.selector).toEqual({ matchLabels: { app: "a" } });
    expect(app.spec.template.metadata.labels).toEqual({ app: "a", team: "x" });
    const container = app.spec.template.spec.containers[0];
    expect(container.image).toBe("registry.example.com/mcp-gateway:0.2.0");
    // kubectl kustomize's order: the patch's items first, then the base's others.
    expect(container.env.map((e: any) => `${e.name}=${e.value ?? "ref"}`)).toEqual([
      "A=2",
      "D=4",
      "C=ref",
    ]);
  });

  it("labels a CronJob's job template and its pod template (includeTemplates)", () => {
    // As kubectl kustomize (v5.5) prints it: jobTemplate.metadata is created when absent.
    const dir = tree({
      "kustomization.yaml": `labels:
  - pairs: { team: x }
    includeTemplates: true
resources: [cron.yaml]
`,
      "cron.yaml": `apiVersion: batch/v1
kind: CronJob
metadata: { name: prune }
spec:
  schedule: "17 3 * * *"
  jobTemplate:
    spec:
      template:
        metadata: { labels: { app: p } }
        spec:
          restartPolicy: OnFailure
          containers: [{ name: prune, image: mcp-gateway:0.1.0 }]
`,
    });
    const [cron] = renderKustomization(dir) as any[];
    expect(cron.metadata.labels).toEqual({ team: "x" });
    expect(cron.spec.jobTemplate.metadata).toEqual({ labels: { team: "x" } });
    expect(cron.spec.jobTemplate.spec.template.metadata.labels).toEqual({ app: "p", team: "x" });
  });

  it("deletes objects with $patch: delete and patches every target of a selector", () => {
    const dir = tree({
      "kustomization.yaml": `resources: [app.yaml, hpa.yaml]
patches:
  - patch: |-
      apiVersion: apps/v1
      kind: Deployment
      metadata: { name: app }
      $patch: delete
  - target: { kind: HorizontalPodAutoscaler }
    patch: |-
      apiVersion: autoscaling/v2
      kind: HorizontalPodAutoscaler
      metadata: { name: any }
      spec: { minReplicas: 1 }
`,
      "app.yaml": deployment,
      "hpa.yaml": `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: { name: one }
spec: { minReplicas: 2, maxReplicas: 3 }
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: { name: two }
spec: { minReplicas: 2, maxReplicas: 3 }
`,
    });
    const objects = renderKustomization(dir) as any[];
    expect(objects.map((o) => `${o.metadata.name}:${o.spec.minReplicas}`)).toEqual([
      "one:1",
      "two:1",
    ]);
  });

  it("renames a Namespace object to the kustomization's namespace, as kustomize does", () => {
    const dir = tree({
      "kustomization.yaml": "namespace: wanted\nresources: [ns.yaml]\n",
      "ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: { name: other }\n",
    });
    expect(renderKustomization(dir)[0]!.metadata).toEqual({ name: "wanted" });
  });

  it("reads a file given in options instead of the disk (a gitignored env file)", () => {
    const dir = tree({
      "kustomization.yaml": "secretGenerator:\n  - { name: s, envs: [secrets.env] }\n",
    });
    expect(() => renderKustomization(dir)).toThrow(/no such file/);
    const [secret] = renderKustomization(dir, { files: { [join(dir, "secrets.env")]: "A=1\n" } });
    expect(secret!.data).toEqual({ A: "MQ==" });
  });

  it.each([
    [
      "an unknown kustomization field",
      { "kustomization.yaml": "commonLabels: { a: b }\n" },
      /unsupported field/,
    ],
    [
      "a file outside the kustomization (load restrictor)",
      {
        "k/kustomization.yaml": "configMapGenerator:\n  - { name: c, files: [../x.yaml] }\n",
        "x.yaml": "a: 1\n",
      },
      /load restrictor/,
    ],
    [
      "a JSON 6902 patch",
      {
        "kustomization.yaml": `resources: [app.yaml]
patches:
  - target: { kind: Deployment }
    patch: |-
      - op: replace
        path: /spec/replicas
        value: 2
`,
        "app.yaml": deployment,
      },
      /JSON 6902/,
    ],
    [
      "several deleting documents in one patch (kustomize 5.5 crashes on it)",
      {
        "kustomization.yaml": "resources: [app.yaml]\npatches:\n  - path: p.yaml\n",
        "app.yaml": deployment,
        "p.yaml": `apiVersion: apps/v1
kind: Deployment
metadata: { name: app }
$patch: delete
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: app }
$patch: delete
`,
      },
      /multi-document/,
    ],
    [
      "a patch that matches nothing",
      {
        "kustomization.yaml": "resources: [app.yaml]\npatches:\n  - path: p.yaml\n",
        "app.yaml": deployment,
        "p.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: other }\n",
      },
      /no resource matches/,
    ],
    [
      "an object defined twice",
      {
        "kustomization.yaml": "resources: [a.yaml, b.yaml]\n",
        "a.yaml": deployment,
        "b.yaml": deployment,
      },
      /defined twice/,
    ],
    [
      "a generator behavior",
      {
        "kustomization.yaml":
          "configMapGenerator:\n  - { name: c, behavior: merge, literals: [A=1] }\n",
      },
      /unsupported behavior/,
    ],
    [
      "labels on selectors",
      { "kustomization.yaml": "labels:\n  - { pairs: { a: b }, includeSelectors: true }\n" },
      /includeSelectors/,
    ],
  ])("refuses %s", (_name, files, message) => {
    const dir = tree(files);
    const start = Object.keys(files).some((f) => f.startsWith("k/")) ? join(dir, "k") : dir;
    expect(() => renderKustomization(start)).toThrow(KustomizeError);
    expect(() => renderKustomization(start)).toThrow(message);
  });
});

describe("strategicMerge", () => {
  it("merges containers by name, ports by containerPort, volumeMounts by mountPath", () => {
    // Patched items come first, in the patch's order, as kubectl kustomize orders them.
    const base = {
      containers: [
        {
          name: "a",
          ports: [{ containerPort: 1, name: "x" }],
          volumeMounts: [{ mountPath: "/t", name: "t" }],
        },
        { name: "b" },
      ],
    };
    const patch = {
      containers: [
        {
          name: "a",
          ports: [{ containerPort: 1, name: "y" }, { containerPort: 2 }],
          volumeMounts: [{ mountPath: "/t", readOnly: true }],
        },
      ],
    };
    expect(strategicMerge(base, patch, "test")).toEqual({
      containers: [
        {
          name: "a",
          ports: [{ containerPort: 1, name: "y" }, { containerPort: 2 }],
          volumeMounts: [{ mountPath: "/t", name: "t", readOnly: true }],
        },
        { name: "b" },
      ],
    });
  });

  it("replaces lists without a merge key and deletes keys set to null", () => {
    expect(
      strategicMerge(
        { ingress: [{ from: [1] }], clusterIP: "None", type: "ClusterIP" },
        { ingress: [{ from: [2] }], clusterIP: null },
        "t",
      ),
    ).toEqual({ ingress: [{ from: [2] }], type: "ClusterIP" });
  });

  it("refuses directives it does not implement", () => {
    expect(() => strategicMerge({ a: { b: 1 } }, { a: { $patch: "replace" } }, "t")).toThrow(
      /\$patch/,
    );
  });
});

describe("kustomize's encodings", () => {
  it("wraps long base64 at 70 columns with a newline after each line", () => {
    expect(kustomizeBase64("1")).toBe("MQ==");
    const long = kustomizeBase64("x".repeat(60));
    expect(long.split("\n").map((line) => line.length)).toEqual([70, 10, 0]);
  });

  it("reads env files: KEY=VALUE, comments and blank lines; refuses bare keys and quotes", () => {
    expect(parseEnvFile("# c\n\nA=1\nB=x=y\nC=\n", "f")).toEqual([
      ["A", "1"],
      ["B", "x=y"],
      ["C", ""],
    ]);
    expect(() => parseEnvFile("A\n", "f")).toThrow(/KEY=VALUE/);
    expect(() => parseEnvFile('A="1"\n', "f")).toThrow(/quoted/);
  });
});
