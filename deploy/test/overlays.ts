/**
 * The rendered overlays the deploy tests check, and what the tests share about them: selectors,
 * pod specs, env resolution, and the Secret the operator provides.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import {
  containersOf,
  isObject,
  parseEnvFile,
  podSpecsOf,
  renderKustomization,
  type JsonObject,
  type KubeObject,
} from "./kustomize-render.ts";

export const kubernetesDir = fileURLToPath(new URL("../kubernetes/", import.meta.url));
export const NAMESPACE = "mcp-gateway";

export const OVERLAYS = ["dev", "production", "istio"] as const;
export type Overlay = (typeof OVERLAYS)[number];

export function overlayDir(overlay: Overlay): string {
  return `${kubernetesDir}overlays/${overlay}`;
}

/**
 * The dev overlay's secrets.env is gitignored (each developer copies secrets.env.example): the
 * tests render with the example in its place.
 */
export function devSecretsFiles(): Record<string, string> {
  const dir = overlayDir("dev");
  return { [`${dir}/secrets.env`]: readFileSync(`${dir}/secrets.env.example`, "utf8") };
}

const cache = new Map<Overlay, KubeObject[]>();

export function render(overlay: Overlay): KubeObject[] {
  let objects = cache.get(overlay);
  if (objects === undefined) {
    objects = renderKustomization(overlayDir(overlay), { files: devSecretsFiles() });
    cache.set(overlay, objects);
  }
  return structuredClone(objects);
}

/**
 * The Secret the production and istio overlays expect the operator to create: the one
 * documented list (deploy/kubernetes/overlays/production/secret.example.yaml). Keys left out of
 * it must be referenced with `optional: true`.
 */
export function operatorSecret(): KubeObject & { stringData: Record<string, string> } {
  return parse(
    readFileSync(`${overlayDir("production")}/secret.example.yaml`, "utf8"),
  ) as KubeObject & { stringData: Record<string, string> };
}

export function byKind(objects: KubeObject[], kind: string): KubeObject[] {
  return objects.filter((object) => object.kind === kind);
}

export function find(objects: KubeObject[], kind: string, name: string): KubeObject | undefined {
  return objects.find((object) => object.kind === kind && object.metadata.name === name);
}

export function get(objects: KubeObject[], kind: string, name: string): KubeObject {
  const object = find(objects, kind, name);
  if (object === undefined) throw new Error(`no ${kind}/${name}`);
  return object;
}

/** Workloads with a pod template (Deployments, Jobs and CronJobs here). */
export function workloads(objects: KubeObject[]): KubeObject[] {
  return objects.filter((object) => podSpecsOf(object).length > 0);
}

export function podSpecOf(workload: KubeObject): JsonObject {
  const [spec] = podSpecsOf(workload);
  if (spec === undefined)
    throw new Error(`${workload.kind}/${workload.metadata.name}: no pod spec`);
  return spec;
}

/** The labels of the pods a workload creates: spec.template, or a CronJob's job template's. */
export function podLabelsOf(workload: KubeObject): Record<string, string> {
  const spec = workload.spec as JsonObject;
  const template = (
    workload.kind === "CronJob"
      ? ((spec.jobTemplate as JsonObject).spec as JsonObject).template
      : spec.template
  ) as JsonObject;
  return ((template.metadata as JsonObject | undefined)?.labels ?? {}) as Record<string, string>;
}

export { containersOf };

export function mainContainers(workload: KubeObject): JsonObject[] {
  const containers = podSpecOf(workload).containers;
  return Array.isArray(containers) ? containers.filter(isObject) : [];
}

interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
}

/** Kubernetes label selector semantics; an empty selector matches everything. */
export function selects(selector: unknown, labels: Record<string, string>): boolean {
  if (!isObject(selector)) return false;
  const { matchLabels = {}, matchExpressions = [] } = selector as LabelSelector;
  const byLabels = Object.entries(matchLabels).every(([key, value]) => labels[key] === value);
  const byExpressions = matchExpressions.every(({ key, operator, values = [] }) => {
    switch (operator) {
      case "In":
        return labels[key] !== undefined && values.includes(labels[key]);
      case "NotIn":
        return labels[key] === undefined || !values.includes(labels[key]);
      case "Exists":
        return labels[key] !== undefined;
      case "DoesNotExist":
        return labels[key] === undefined;
      default:
        throw new Error(`unknown selector operator ${operator}`);
    }
  });
  return byLabels && byExpressions;
}

/** A Service's `selector` is a plain map. */
export function serviceSelects(service: KubeObject, labels: Record<string, string>): boolean {
  const selector = (service.spec as JsonObject).selector as Record<string, string> | undefined;
  if (selector === undefined || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

/** The settings ConfigMap's data, from the overlay's settings.env (what the render generated). */
export function configMapData(objects: KubeObject[], originalName: string): Record<string, string> {
  const matches = byKind(objects, "ConfigMap").filter(
    (object) =>
      object.metadata.name === originalName ||
      new RegExp(`^${originalName}-[a-z0-9]{10}$`).test(object.metadata.name),
  );
  if (matches.length !== 1) throw new Error(`${originalName}: ${matches.length} ConfigMaps`);
  return (matches[0]!.data ?? {}) as Record<string, string>;
}

export function settingsOf(overlay: Overlay): Record<string, string> {
  return Object.fromEntries(
    parseEnvFile(
      readFileSync(
        `${overlayDir(overlay === "istio" ? "production" : overlay)}/settings.env`,
        "utf8",
      ),
      "settings.env",
    ),
  );
}

/**
 * A container's environment as the kubelet would set it: literal values, ConfigMap keys from
 * the rendered ConfigMaps, Secret keys from `secretValue` (the tests pass strong stand-ins).
 * Optional references to a missing key are left unset, as Kubernetes does.
 */
export function resolveEnv(
  objects: KubeObject[],
  container: JsonObject,
  secretValue: (secretName: string, key: string) => string | undefined,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of Array.isArray(container.env) ? container.env.filter(isObject) : []) {
    const name = String(entry.name);
    if (typeof entry.value === "string") {
      env[name] = entry.value;
      continue;
    }
    const from = entry.valueFrom as JsonObject | undefined;
    const configRef = from?.configMapKeyRef as JsonObject | undefined;
    const secretRef = from?.secretKeyRef as JsonObject | undefined;
    if (configRef !== undefined) {
      const configMap = find(objects, "ConfigMap", String(configRef.name));
      const value = (configMap?.data as Record<string, string> | undefined)?.[
        String(configRef.key)
      ];
      if (value === undefined && configRef.optional !== true) {
        throw new Error(
          `${name}: ConfigMap ${String(configRef.name)} has no ${String(configRef.key)}`,
        );
      }
      if (value !== undefined) env[name] = value;
    } else if (secretRef !== undefined) {
      const value = secretValue(String(secretRef.name), String(secretRef.key));
      if (value === undefined && secretRef.optional !== true) {
        throw new Error(
          `${name}: Secret ${String(secretRef.name)} has no ${String(secretRef.key)}`,
        );
      }
      if (value !== undefined) env[name] = value;
    }
  }
  return env;
}

/** The value of a rendered (generated) Secret's key. */
export function renderedSecretValue(
  objects: KubeObject[],
  secretName: string,
  key: string,
): string | undefined {
  const secret = find(objects, "Secret", secretName);
  const encoded = (secret?.data as Record<string, string> | undefined)?.[key];
  return encoded === undefined ? undefined : Buffer.from(encoded, "base64").toString("utf8");
}
