/**
 * The files the kustomize base carries as copies (its load restrictor refuses ../../config/…):
 * tools.yaml and policy.yaml byte for byte, envoy.yaml with the Compose host names replaced by the
 * Kubernetes Service names (a Service name cannot contain `_`). config-copies.test.ts compares;
 * sync-config-copies.ts writes.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

/** Compose service name → Kubernetes Service name, for the upstreams envoy.yaml names. */
export const ENVOY_UPSTREAM_SERVICES: Readonly<Record<string, string>> = {
  ext_authz: "ext-authz",
  mcp_router: "mcp-router",
  "otel-collector": "otel-collector",
};

const ENVOY_HEADER =
  "# GENERATED from envoy/envoy.yaml by deploy/test/sync-config-copies.ts: do not edit here.\n" +
  "# Only change: upstream addresses are the Kubernetes Service names (ext-authz, mcp-router).\n";

export function kubernetesEnvoyConfig(composeEnvoyYaml: string): string {
  const body = composeEnvoyYaml.replace(
    /(socket_address:\s*\{\s*address:\s*)([a-z][a-z0-9_-]*)(?=\s*,)/g,
    (whole, prefix: string, host: string) => {
      const service = ENVOY_UPSTREAM_SERVICES[host];
      return service === undefined ? whole : `${prefix}${service}`;
    },
  );
  return ENVOY_HEADER + body;
}

export interface ConfigCopy {
  /** Repository-relative paths. */
  source: string;
  target: string;
  render(sourceText: string): string;
}

const identity = (text: string): string => text;

export const CONFIG_COPIES: readonly ConfigCopy[] = [
  {
    source: "config/tools.yaml",
    target: "deploy/kubernetes/base/files/tools.yaml",
    render: identity,
  },
  {
    source: "config/policy.yaml",
    target: "deploy/kubernetes/base/files/policy.yaml",
    render: identity,
  },
  {
    source: "envoy/envoy.yaml",
    target: "deploy/kubernetes/base/files/envoy.yaml",
    render: kubernetesEnvoyConfig,
  },
];

export function expectedCopy(copy: ConfigCopy): string {
  return copy.render(readFileSync(`${repoRoot}${copy.source}`, "utf8"));
}
