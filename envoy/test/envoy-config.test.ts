/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-return --
   These tests walk untyped YAML documents (Envoy, Compose, Istio); the assertions are the checks. */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { parseExtAuthzEnv } from "../../ext-authz/src/settings.ts";

// The gateway's payload limit (MAX_REQUEST_BYTES default). Envoy must buffer exactly this much
// for ext-authz: less would refuse bodies the router accepts, more would let ext-authz see a
// body the router refuses.
const MAX_REQUEST_BYTES = 1_048_576;

const EXT_AUTHZ = "envoy.filters.http.ext_authz";
const HCM_TYPE =
  "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

const envoy = parse(readFileSync(new URL("../envoy.yaml", import.meta.url), "utf8"));
const tools = parse(readFileSync(new URL("../../config/tools.yaml", import.meta.url), "utf8"));
const scopes = Object.keys(tools.scopes as Record<string, unknown>);

const listener = envoy.static_resources.listeners[0];
const hcm = listener.filter_chains[0].filters.find(
  (filter: any) => filter.typed_config?.["@type"] === HCM_TYPE,
).typed_config;
const filters: any[] = hcm.http_filters;
const extAuthz = filters.find((filter) => filter.name === EXT_AUTHZ)?.typed_config;
const routes: any[] = hcm.route_config.virtual_hosts.flatMap((host: any) => host.routes);

type Probe = { path: string };
/** First route whose match takes the path, as Envoy evaluates them (in order). */
function routeFor(probe: Probe): any {
  return routes.find((route) => {
    const match = route.match;
    if (match.path !== undefined) return match.path === probe.path;
    if (match.prefix !== undefined) return probe.path.startsWith(match.prefix);
    return false;
  });
}
function authzOf(route: any): any {
  return route.typed_per_filter_config?.[EXT_AUTHZ];
}
function seconds(duration: string | undefined): number {
  if (duration === undefined) return Number.NaN;
  const match = /^(\d+(?:\.\d+)?)s$/.exec(duration);
  return match ? Number(match[1]) : Number.NaN;
}

describe("envoy.yaml", () => {
  it("lists the scopes of config/tools.yaml", () => {
    expect(scopes.length).toBeGreaterThan(0);
  });

  it("listens on :8000 and keeps the admin interface on loopback", () => {
    expect(listener.address.socket_address.port_value).toBe(8000);
    expect(envoy.admin.address.socket_address.address).toBe("127.0.0.1");
  });

  it("waits for ext-authz longer than ext-authz waits for the JWKS", () => {
    // A JWKS fetch that ext-authz would still complete must not be cut by Envoy's timeout.
    const jwksTimeoutMs = parseExtAuthzEnv({ NODE_ENV: "test" }).JWT_JWKS_TIMEOUT_MS;
    expect(seconds(extAuthz.grpc_service.timeout) * 1000).toBeGreaterThan(jwksTimeoutMs);
  });

  it("validates the header mutations ext-authz returns", () => {
    expect(extAuthz.validate_mutations).toBe(true);
  });

  it("authorizes fail-closed over gRPC v3 with the whole body", () => {
    expect(extAuthz).toBeDefined();
    expect(extAuthz.transport_api_version).toBe("V3");
    expect(extAuthz.grpc_service.envoy_grpc.cluster_name).toBe("ext_authz");
    expect(seconds(extAuthz.grpc_service.timeout)).toBeGreaterThan(0);
    expect(extAuthz.failure_mode_allow).toBe(false);
    expect(extAuthz.status_on_error.code).toBe("ServiceUnavailable");
    expect(extAuthz.with_request_body.max_request_bytes).toBe(MAX_REQUEST_BYTES);
    expect(extAuthz.with_request_body.allow_partial_message).toBe(false);
  });

  it("runs ext_authz before the router, after the header scrub", () => {
    const names = filters.map((filter) => filter.name);
    expect(names.at(-1)).toBe("envoy.filters.http.router");
    expect(names.indexOf(EXT_AUTHZ)).toBeGreaterThan(
      names.indexOf("envoy.filters.http.header_mutation"),
    );
    const removed = filters
      .find((filter) => filter.name === "envoy.filters.http.header_mutation")
      .typed_config.mutations.request_mutations.map((mutation: any) => mutation.remove);
    expect(removed).toEqual(
      expect.arrayContaining(["x-gateway-verdict", "x-gateway-auth", "x-user-id"]),
    );
  });

  it("uses the client address, generates request ids and logs them as JSON", () => {
    expect(hcm.use_remote_address).toBe(true);
    expect(hcm.xff_num_trusted_hops).toBe(0);
    expect(hcm.generate_request_id).toBe(true);
    expect(hcm.preserve_external_request_id).toBe(false);
    const format = hcm.access_log[0].typed_config.log_format.json_format;
    expect(format.request_id).toBe("%REQ(X-REQUEST-ID)%");
    // Credentials never reach the access log; an MCP session id is one for its session.
    expect(JSON.stringify(format).toLowerCase()).not.toMatch(
      /authorization|cookie|verdict|gateway-auth|session|%dynamic_metadata|%req\(x-user/,
    );
  });

  it("leaves liveness and readiness probes out of the access log", () => {
    expect(hcm.access_log).toHaveLength(1);
    const filters: any[] = hcm.access_log[0].filter.and_filter.filters;
    expect(filters).toContainEqual({ not_health_check_filter: {} });
    const header = filters.find((filter) => filter.header_filter)?.header_filter.header;
    expect(header.name).toBe(":path");
    expect(header.invert_match).toBe(true);
    const regex = new RegExp(header.string_match.safe_regex.regex);
    // The filter keeps a request in the log when the regex does not match its :path.
    for (const path of ["/health", "/ready", "/health?probe=1"])
      expect(regex.test(path)).toBe(true);
    for (const path of ["/calculator/mcp", "/healthz", "/health/x", "/mcp/invoke", "/"]) {
      expect(regex.test(path), path).toBe(false);
    }
  });

  it("logs paths without their query string (a refused ?access_token= stays out of the log)", () => {
    const logFormat = hcm.access_log[0].typed_config.log_format;
    const values = Object.values(logFormat.json_format as Record<string, string>);
    expect(logFormat.json_format.path).toMatch(/^%REQ_WITHOUT_QUERY\(:PATH\)(:\d+)?%$/);
    // No other operator may print the path or a URL with its query.
    for (const value of values) {
      expect(value).not.toMatch(/%REQ\((:PATH|X-ENVOY-ORIGINAL-PATH|REFERER)[^)]*\)/i);
      expect(value).not.toMatch(/%PATH\b/);
    }
    // REQ_WITHOUT_QUERY is an extension; Envoy rejects the format without it.
    expect(logFormat.formatters.map((formatter: any) => formatter.name)).toContain(
      "envoy.formatter.req_without_query",
    );
  });

  it.each(scopes.flatMap((scope) => [`/${scope}/sse`, `/${scope}/mcp`]))(
    "%s is routed to the router with ext_authz and its scope, SSE-safe",
    (path) => {
      const route = routeFor({ path });
      if (path.endsWith("/sse")) {
        // HTTP+SSE streams live on one replica: a client's requests hash to it.
        expect(route?.route?.cluster).toBe("mcp_router_sse");
        expect(route.route.hash_policy).toEqual([{ connection_properties: { source_ip: true } }]);
      } else {
        expect(route?.route?.cluster).toBe("mcp_router");
      }
      const authz = authzOf(route);
      expect(authz?.disabled).not.toBe(true);
      expect(authz?.check_settings?.context_extensions?.scope).toBe(path.split("/")[1]);
      expect(route.route.timeout).toBe("0s");
      const idle = seconds(route.route.idle_timeout);
      expect(idle).toBeGreaterThan(0);
      expect(idle).toBeLessThanOrEqual(3600);
    },
  );

  it("sends HTTP+SSE routes to the same router replicas, balanced by a ring hash", () => {
    const clusters = envoy.static_resources.clusters as any[];
    const plain = clusters.find((cluster) => cluster.name === "mcp_router");
    const hashed = clusters.find((cluster) => cluster.name === "mcp_router_sse");
    expect(hashed.lb_policy).toBe("RING_HASH");
    expect(hashed.load_assignment.endpoints).toEqual(plain.load_assignment.endpoints);
    expect(hashed.health_checks).toEqual(plain.health_checks);
  });

  it("routes no MCP path that tools.yaml does not define", () => {
    const mcpPaths = routes
      .map((route) => route.match.path as string | undefined)
      .filter((path): path is string => path !== undefined && /^\/[^/]+\/(sse|mcp)$/.test(path));
    const expected = scopes.flatMap((scope) => [`/${scope}/sse`, `/${scope}/mcp`]);
    expect(mcpPaths.sort()).toEqual(expected.sort());
  });

  it.each(["/mcp/invoke", "/mcp/jobs/abc123", "/admin/audit"])(
    "%s is routed with ext_authz enabled",
    (path) => {
      const route = routeFor({ path });
      expect(route?.route?.cluster).toBe("mcp_router");
      expect(authzOf(route)?.disabled).not.toBe(true);
      expect(seconds(route.route.timeout)).toBeGreaterThan(0);
    },
  );

  it("publishes only /health without authorization", () => {
    const route = routeFor({ path: "/health" });
    expect(route?.route?.cluster).toBe("mcp_router");
    expect(authzOf(route)?.disabled).toBe(true);
  });

  it.each([
    "/.well-known/oauth-protected-resource",
    "/.well-known/oauth-protected-resource/calculator/mcp",
    "/.well-known/oauth-protected-resource/mcp",
  ])("%s runs ext_authz, which answers it without a token", (path) => {
    const route = routeFor({ path });
    expect(route?.route).toBeDefined();
    expect(authzOf(route)?.disabled).not.toBe(true);
    // No route scope: ext-authz reads the endpoint from the path.
    expect(authzOf(route)?.check_settings?.context_extensions?.scope).toBeUndefined();
  });

  it.each(["/ready", "/sse", "/messages", "/admin", "/calculator/other", "/unknown/mcp"])(
    "%s never reaches the router",
    (path) => {
      const route = routeFor({ path });
      expect(route?.route).toBeUndefined();
      expect(route?.direct_response?.status).toBe(404);
    },
  );

  it("removes any Authorization header on every route to the router, /health included", () => {
    // ext-authz removes the token when it allows a request; this is the second net. Route and
    // virtual host removals are applied by the router filter, after ext_authz.
    const host = hcm.route_config.virtual_hosts[0];
    expect(hcm.route_config.virtual_hosts).toHaveLength(1);
    for (const route of routes) {
      if (!route.route) continue;
      const removed = [
        ...(host.request_headers_to_remove ?? []),
        ...(route.request_headers_to_remove ?? []),
      ].map((name: string) => name.toLowerCase());
      expect(removed, route.match.path ?? route.match.prefix).toContain("authorization");
    }
    expect(routeFor({ path: "/health" }).route).toBeDefined();
  });

  it("retries only failures where the request never reached the router", () => {
    // Anything broader (5xx, reset, gateway-error) could run a tools/call twice.
    const safe = new Set(["connect-failure", "reset-before-request", "refused-stream"]);
    const policies = [
      hcm.route_config.virtual_hosts[0].retry_policy,
      ...routes.map((route) => route.route?.retry_policy),
    ].filter((policy) => policy !== undefined);
    expect(policies.length).toBeGreaterThan(0);
    for (const policy of policies) {
      for (const condition of String(policy.retry_on).split(",")) {
        expect(safe.has(condition.trim()), condition).toBe(true);
      }
      expect(policy.num_retries).toBeLessThanOrEqual(2);
    }
  });

  it("every route that reaches the router runs ext_authz, except /health", () => {
    for (const route of routes) {
      if (!route.route) continue;
      const open = authzOf(route)?.disabled === true;
      const path: string = route.match.path ?? route.match.prefix;
      if (open) expect(path).toBe("/health");
    }
  });

  it("defines an HTTP/2 ext_authz cluster with gRPC health checks and a router cluster with HTTP ones", () => {
    const clusters: any[] = envoy.static_resources.clusters;
    const authz = clusters.find((cluster) => cluster.name === "ext_authz");
    const options =
      authz.typed_extension_protocol_options[
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
      ];
    expect(options.explicit_http_config.http2_protocol_options).toBeDefined();
    expect(authz.health_checks[0].grpc_health_check).toBeDefined();
    const authzAddress =
      authz.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
    expect(authzAddress).toEqual({ address: "ext_authz", port_value: 9191 });

    const router = clusters.find((cluster) => cluster.name === "mcp_router");
    // Envoy probes readiness on the upstream directly; the path is not routed for clients.
    expect(router.health_checks[0].http_health_check.path).toBe("/ready");
    const routerAddress =
      router.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
    expect(routerAddress).toEqual({ address: "mcp_router", port_value: 8080 });
  });

  it.each(["mcp_router", "mcp_router_sse"])(
    "%s closes idle upstream connections before the router does",
    (name) => {
      // A request sent into a connection the router is closing comes back as a 503.
      const source = readFileSync(
        new URL("../../mcp-router/src/http-server.ts", import.meta.url),
        "utf8",
      );
      const keepAlive = /keepAliveTimeout = ([\d_]+);/.exec(source);
      expect(keepAlive, "router keepAliveTimeout not found").not.toBeNull();
      const routerKeepAliveMs = Number(keepAlive![1]!.replaceAll("_", ""));
      const cluster = (envoy.static_resources.clusters as any[]).find((c) => c.name === name);
      const options =
        cluster.typed_extension_protocol_options[
          "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
        ];
      const idleMs = seconds(options.common_http_protocol_options.idle_timeout) * 1000;
      expect(idleMs).toBeGreaterThan(0);
      // A margin of a few seconds: the two timers start at slightly different moments.
      expect(idleMs).toBeLessThanOrEqual(routerKeepAliveMs - 5000);
    },
  );

  it("sizes the router clusters' circuit breakers for long-lived streams", () => {
    const clusters = envoy.static_resources.clusters as any[];
    const [plain, hashed] = ["mcp_router", "mcp_router_sse"].map(
      (name) => clusters.find((cluster) => cluster.name === name).circuit_breakers,
    );
    expect(hashed).toEqual(plain);
    expect(plain.thresholds).toHaveLength(1);
    const limits = plain.thresholds[0];
    expect(limits.priority).toBe("DEFAULT");
    // Envoy's defaults are 1024 connections / pending / requests and 3 retries: every open SSE
    // stream holds one connection and one request.
    expect(limits.max_connections).toBeGreaterThan(1024);
    expect(limits.max_requests).toBeGreaterThanOrEqual(limits.max_connections);
    expect(limits.max_pending_requests).toBeGreaterThan(1024);
    expect(limits.max_retries).toBeGreaterThan(3);
  });

  it("traces with OpenTelemetry into an HTTP/2 opentelemetry_collector cluster", () => {
    const provider = hcm.tracing?.provider;
    expect(provider?.name).toBe("envoy.tracers.opentelemetry");
    expect(provider.typed_config["@type"]).toBe(
      "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig",
    );
    // Every request sampled at the edge: an unsampled traceparent would switch the services off.
    expect(hcm.tracing.random_sampling).toBeUndefined();
    const clusterName = provider.typed_config.grpc_service.envoy_grpc.cluster_name;
    expect(clusterName).toBe("opentelemetry_collector");
    const collector = (envoy.static_resources.clusters as any[]).find(
      (cluster) => cluster.name === clusterName,
    );
    const options =
      collector.typed_extension_protocol_options[
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
      ];
    expect(options.explicit_http_config.http2_protocol_options).toBeDefined();
  });
});

describe("Istio example", () => {
  const mesh = parse(readFileSync(new URL("../istio/mesh-config.yaml", import.meta.url), "utf8"));
  const provider = mesh.spec.meshConfig.extensionProviders[0];

  it("registers ext-authz fail-closed with the same body limit", () => {
    expect(provider.envoyExtAuthzGrpc.port).toBe(9191);
    expect(seconds(provider.envoyExtAuthzGrpc.timeout) * 1000).toBeGreaterThan(
      parseExtAuthzEnv({ NODE_ENV: "test" }).JWT_JWKS_TIMEOUT_MS,
    );
    expect(provider.envoyExtAuthzGrpc.failOpen).toBe(false);
    expect(provider.envoyExtAuthzGrpc.includeRequestBodyInCheck.maxRequestBytes).toBe(
      MAX_REQUEST_BYTES,
    );
    expect(provider.envoyExtAuthzGrpc.includeRequestBodyInCheck.allowPartialMessage).toBe(false);
  });

  it("has a CUSTOM AuthorizationPolicy that uses that provider", () => {
    const documents = parseAllDocuments(
      readFileSync(new URL("../istio/authorization-policy.yaml", import.meta.url), "utf8"),
    ).map((document) => document.toJSON());
    const custom = documents.find((document: any) => document.spec?.action === "CUSTOM");
    expect(custom.kind).toBe("AuthorizationPolicy");
    expect(custom.spec.provider.name).toBe(provider.name);
    // ext-authz answers the RFC 9728 metadata, so those paths must be sent to it.
    const skipped: string[] = custom.spec.rules.flatMap((rule: any) =>
      rule.to.flatMap((to: any) => to.operation.notPaths ?? []),
    );
    expect(skipped.filter((path) => path.includes(".well-known"))).toEqual([]);
  });
});
