/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-return --
   These tests walk untyped rendered manifests and Envoy's YAML; the assertions are the checks. */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  byKind,
  get,
  overlayDir,
  podLabelsOf,
  podSpecOf,
  render,
  selects,
  settingsOf,
  workloads,
} from "./overlays.ts";

const envoy = parse(readFileSync(new URL("../../envoy/envoy.yaml", import.meta.url), "utf8"));
const hcm = envoy.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
const envoyExtAuthz = hcm.http_filters.find(
  (f: any) => f.name === "envoy.filters.http.ext_authz",
).typed_config;
const envoyRoutes: any[] = hcm.route_config.virtual_hosts.flatMap((host: any) => host.routes);

const meshConfig = parse(readFileSync(`${overlayDir("istio")}/mesh-config.yaml`, "utf8"));
const [provider] = meshConfig.spec.meshConfig.extensionProviders;
const objects = render("istio");
const routerFqdn = "mcp-router.mcp-gateway.svc.cluster.local";

describe("istio overlay", () => {
  it("registers ext-authz with the check settings of envoy.yaml's ext_authz filter", () => {
    const grpc = provider.envoyExtAuthzGrpc;
    expect(grpc.timeout).toBe(envoyExtAuthz.grpc_service.timeout);
    expect(grpc.failOpen).toBe(envoyExtAuthz.failure_mode_allow);
    expect(envoyExtAuthz.status_on_error.code).toBe("ServiceUnavailable");
    expect(grpc.statusOnError).toBe("503");
    const body = envoyExtAuthz.with_request_body;
    expect(grpc.includeRequestBodyInCheck).toEqual({
      maxRequestBytes: body.max_request_bytes,
      allowPartialMessage: body.allow_partial_message,
      packAsBytes: body.pack_as_bytes,
    });
    expect(grpc.includeRequestBodyInCheck.allowPartialMessage).toBe(false);
  });

  it("points the provider at the ext-authz Service's gRPC port", () => {
    const service = get(objects, "Service", "ext-authz");
    const grpcPort = (service.spec as any).ports.find((p: any) => p.appProtocol === "grpc");
    expect(provider.envoyExtAuthzGrpc.service).toBe(
      `${service.metadata.name}.${service.metadata.namespace}.svc.cluster.local`,
    );
    expect(provider.envoyExtAuthzGrpc.port).toBe(grpcPort.port);
    // In the mesh the sidecars balance per request: an ordinary ClusterIP Service.
    expect((service.spec as any).clusterIP).toBeUndefined();
  });

  it("agrees with the provider of envoy/istio/mesh-config.yaml", () => {
    const example = parse(
      readFileSync(new URL("../../envoy/istio/mesh-config.yaml", import.meta.url), "utf8"),
    );
    expect(example.spec.meshConfig.extensionProviders).toEqual([provider]);
  });

  it("sends every router request but the probes to ext-authz with a CUSTOM policy", () => {
    const policies = byKind(objects, "AuthorizationPolicy").filter(
      (policy) => (policy.spec as any).action === "CUSTOM",
    );
    expect(policies).toHaveLength(1);
    const spec = policies[0]!.spec as any;
    expect(spec.provider).toEqual({ name: provider.name });
    const selected = workloads(objects).filter((w) => selects(spec.selector, podLabelsOf(w)));
    expect(selected.map((w) => w.metadata.name)).toEqual(["mcp-router"]);
    expect(spec.rules).toEqual([{ to: [{ operation: { notPaths: ["/health", "/ready"] } }] }]);
  });

  it("lets only the router's identity call the tool servers and ext-authz", () => {
    const router = get(objects, "Deployment", "mcp-router");
    const account = String(podSpecOf(router).serviceAccountName);
    expect(byKind(objects, "ServiceAccount").map((sa) => sa.metadata.name)).toContain(account);
    const principal = `cluster.local/ns/${router.metadata.namespace}/sa/${account}`;
    const allow = byKind(objects, "AuthorizationPolicy").filter(
      (policy) => (policy.spec as any).action === "ALLOW",
    );
    const protectedWorkloads = new Map<string, any[]>();
    for (const policy of allow) {
      const spec = policy.spec as any;
      for (const rule of spec.rules) {
        expect(rule.from).toEqual([{ source: { principals: [principal] } }]);
      }
      for (const workload of workloads(objects).filter((w) =>
        selects(spec.selector, podLabelsOf(w)),
      )) {
        protectedWorkloads.set(workload.metadata.name, spec.rules);
      }
    }
    expect([...protectedWorkloads.keys()].sort()).toEqual([
      "calculator",
      "docs",
      "ext-authz",
      "git",
    ]);
    expect(protectedWorkloads.get("ext-authz")![0].to).toEqual([
      { operation: { ports: ["9191"] } },
    ]);
    const [peer] = byKind(objects, "PeerAuthentication");
    expect((peer!.spec as any).mtls).toEqual({ mode: "STRICT" });
  });

  it("exposes exactly envoy.yaml's public routes through the ingress gateway", () => {
    const toRouter = envoyRoutes.filter((route) => route.route !== undefined);
    const expected = toRouter
      .map((route) => ({
        match:
          route.match.path !== undefined
            ? { exact: route.match.path }
            : { prefix: route.match.prefix },
        timeout: route.route.timeout,
      }))
      .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    const virtualService = get(objects, "VirtualService", "mcp-gateway");
    const http: any[] = (virtualService.spec as any).http;
    const actual = http
      .map((route) => ({ match: route.match[0].uri, timeout: route.timeout }))
      .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    expect(actual).toEqual(expected);
    for (const route of http) {
      expect(route.match, route.name).toHaveLength(1);
      expect(route.route, route.name).toEqual([
        { destination: { host: routerFqdn, port: { number: 8080 } } },
      ]);
      expect(route.headers.request.remove, route.name).toEqual(
        hcm.http_filters[0].typed_config.mutations.request_mutations.map((m: any) => m.remove),
      );
    }
    // Envoy's catch-all (404 without calling anyone) is the gateway's "no route".
    expect(envoyRoutes.at(-1).direct_response.status).toBe(404);
  });

  it("serves the public host of GATEWAY_PUBLIC_URL and hashes router traffic on the client", () => {
    const host = new URL(settingsOf("istio").GATEWAY_PUBLIC_URL!).hostname;
    const gateway = get(objects, "Gateway", "mcp-gateway");
    const virtualService = get(objects, "VirtualService", "mcp-gateway");
    expect((gateway.spec as any).servers.flatMap((s: any) => s.hosts)).toEqual([host]);
    expect((virtualService.spec as any).hosts).toEqual([host]);
    expect((virtualService.spec as any).gateways).toEqual([gateway.metadata.name]);
    const rule = get(objects, "DestinationRule", "mcp-router");
    expect((rule.spec as any).host).toBe(routerFqdn);
    expect((rule.spec as any).trafficPolicy.loadBalancer.consistentHash).toEqual({
      useSourceIp: true,
    });
  });

  it("injects sidecars into the namespace", () => {
    expect(get(objects, "Namespace", "mcp-gateway").metadata.labels).toMatchObject({
      "istio-injection": "enabled",
      "pod-security.kubernetes.io/enforce": "restricted",
    });
  });

  it("runs the jobs without a sidecar, which would keep their pods from completing", () => {
    const injection = (workload: (typeof objects)[number]) =>
      podLabelsOf(workload)["sidecar.istio.io/inject"];
    const batch = workloads(objects).filter((w) => ["Job", "CronJob"].includes(w.kind));
    expect(batch.map((w) => `${w.kind}/${w.metadata.name}`).sort()).toEqual([
      "CronJob/mcp-gateway-audit-prune",
      "Job/mcp-gateway-migrate",
    ]);
    for (const workload of batch) expect(injection(workload), workload.metadata.name).toBe("false");
    // Everything else keeps its sidecar: the policies and mTLS rely on it.
    for (const deployment of byKind(objects, "Deployment")) {
      expect(injection(deployment), deployment.metadata.name).toBeUndefined();
    }
  });
});
