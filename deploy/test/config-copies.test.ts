import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  CONFIG_COPIES,
  ENVOY_UPSTREAM_SERVICES,
  expectedCopy,
  kubernetesEnvoyConfig,
  repoRoot,
} from "./config-copies.ts";

describe("the kustomize base's copies of the repository's configuration", () => {
  it.each(CONFIG_COPIES.map((copy) => [copy.target, copy] as const))(
    "%s is up to date (else: npx tsx deploy/test/sync-config-copies.ts)",
    (_target, copy) => {
      expect(readFileSync(`${repoRoot}${copy.target}`, "utf8")).toBe(expectedCopy(copy));
    },
  );

  it("changes nothing in envoy.yaml but the upstream host names", () => {
    const source = readFileSync(`${repoRoot}envoy/envoy.yaml`, "utf8");
    const copy = parse(kubernetesEnvoyConfig(source));
    const original = parse(source);
    const addresses: string[] = [];
    for (const cluster of original.static_resources.clusters) {
      for (const endpoints of cluster.load_assignment.endpoints) {
        for (const { endpoint } of endpoints.lb_endpoints) {
          addresses.push(endpoint.address.socket_address.address);
          endpoint.address.socket_address.address =
            ENVOY_UPSTREAM_SERVICES[endpoint.address.socket_address.address];
        }
      }
    }
    expect(copy).toEqual(original);
    // Every upstream Compose names has a Kubernetes Service name (no `_`: not a DNS label).
    expect(new Set(addresses)).toEqual(new Set(Object.keys(ENVOY_UPSTREAM_SERVICES)));
    for (const name of Object.values(ENVOY_UPSTREAM_SERVICES)) {
      expect(name).toMatch(/^[a-z]([-a-z0-9]*[a-z0-9])?$/);
    }
  });

  it("leaves addresses that are not upstream services alone", () => {
    const text = "socket_address: { address: 127.0.0.1, port_value: 9901 }\n";
    expect(kubernetesEnvoyConfig(text).endsWith(text)).toBe(true);
  });
});
