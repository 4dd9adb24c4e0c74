/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-return --
   The negative cases edit an untyped copy of the parsed YAML. */
import { readFileSync } from "node:fs";
import type { JsonValue } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import {
  checkEnvoyDocument,
  checkEnvoyYaml,
  loadEnvoyApi,
  parseEnvoyYaml,
  type Problem,
} from "./envoy-api.ts";

const composeText = readFileSync(new URL("../envoy.yaml", import.meta.url), "utf8");
const kubernetesText = readFileSync(
  new URL("../../deploy/kubernetes/base/files/envoy.yaml", import.meta.url),
  "utf8",
);
const document = parseEnvoyYaml(composeText);

const HCM = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config";
const hcmOf = (config: any): any =>
  config.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
const clusterOf = (config: any, name: string): any =>
  config.static_resources.clusters.find((cluster: any) => cluster.name === name);
const clusterIndex = (name: string): number =>
  (document as any).static_resources.clusters.findIndex((cluster: any) => cluster.name === name);

/** The problems found in a copy of envoy.yaml changed by `edit`. */
function problemsAfter(edit: (config: any) => void): Problem[] {
  const copy = structuredClone(document) as any;
  edit(copy);
  return checkEnvoyDocument(copy as JsonValue).problems;
}

describe("envoy.yaml against Envoy 1.36's API", () => {
  it("vendors a descriptor set that knows the bootstrap and every type envoy.yaml names", () => {
    const { registry } = loadEnvoyApi();
    expect(registry.getMessage("envoy.config.bootstrap.v3.Bootstrap")).toBeDefined();
    const types = [...composeText.matchAll(/"@type": type\.googleapis\.com\/([\w.]+)/g)].map(
      (match) => match[1]!,
    );
    expect(types.length).toBeGreaterThan(5);
    for (const type of types) expect(registry.getMessage(type), type).toBeDefined();
  });

  it("parses envoy/envoy.yaml strictly, with every constraint met and nothing deprecated", () => {
    expect(checkEnvoyYaml(composeText)).toEqual({ problems: [], deprecated: [] });
  });

  it("parses the Kubernetes copy the same way", () => {
    expect(checkEnvoyYaml(kubernetesText)).toEqual({ problems: [], deprecated: [] });
  });

  it("accepts the lowerCamel JSON names too, as Envoy does", () => {
    expect(
      problemsAfter((config) => {
        const cluster = config.static_resources.clusters[0];
        cluster.connectTimeout = cluster.connect_timeout;
        delete cluster.connect_timeout;
      }),
    ).toEqual([]);
  });
});

// Each case breaks a copy of envoy.yaml in one place; the check must fail there.
describe("the strict check fails, naming the place", () => {
  it("on an unknown field at the top level", () => {
    expect(problemsAfter((config) => (config.static_resource = {}))).toEqual([
      { path: "static_resource", message: expect.stringContaining("unknown field") },
    ]);
  });

  it("on an unknown field inside a typed_config (the HTTP connection manager)", () => {
    expect(problemsAfter((config) => (hcmOf(config).stream_idle_timout = "1s"))).toEqual([
      { path: `${HCM}.stream_idle_timout`, message: expect.stringContaining("unknown field") },
    ]);
  });

  it("on an unknown field in a route's per-filter config (an Any inside an Any)", () => {
    const problems = problemsAfter((config) => {
      const route = hcmOf(config).route_config.virtual_hosts[0].routes[0];
      route.typed_per_filter_config["envoy.filters.http.ext_authz"].disable = true;
    });
    expect(problems).toEqual([
      {
        path: `${HCM}.route_config.virtual_hosts[0].routes[0].typed_per_filter_config["envoy.filters.http.ext_authz"].disable`,
        message: expect.stringContaining("ExtAuthzPerRoute"),
      },
    ]);
  });

  it("on an unknown field in typed_extension_protocol_options", () => {
    const index = clusterIndex("mcp_router");
    const problems = problemsAfter((config) => {
      const options = clusterOf(config, "mcp_router").typed_extension_protocol_options[
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
      ];
      options.common_http_protocol_options.idle_timeot = "60s";
    });
    expect(problems).toEqual([
      {
        path: `static_resources.clusters[${index}].typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].common_http_protocol_options.idle_timeot`,
        message: expect.stringContaining("unknown field"),
      },
    ]);
  });

  it("on a @type that names no message of the API", () => {
    const problems = problemsAfter((config) => {
      hcmOf(config).http_filters[1].typed_config["@type"] =
        "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuth";
    });
    expect(problems).toEqual([
      {
        path: `${HCM}.http_filters[1].typed_config["@type"]`,
        message: expect.stringContaining("unknown type"),
      },
    ]);
  });

  it("on a typed_config without @type", () => {
    const problems = problemsAfter(
      (config) => delete hcmOf(config).http_filters[2].typed_config["@type"],
    );
    expect(problems.map((problem) => problem.path)).toEqual([
      `${HCM}.http_filters[2].typed_config["@type"]`,
    ]);
  });

  it("on a contrib-only extension, which the envoyproxy/envoy image cannot load", () => {
    const problems = problemsAfter((config) => {
      hcmOf(config).http_filters[0].typed_config = {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.golang.v3alpha.Config",
      };
    });
    expect(problems).toContainEqual({
      path: `${HCM}.http_filters[0].typed_config["@type"]`,
      message: expect.stringContaining("contrib"),
    });
  });

  it.each([
    ["codec_type", (config: any) => (hcmOf(config).codec_type = "HTTP9"), `${HCM}.codec_type`],
    [
      "lb_policy",
      (config: any) => (clusterOf(config, "mcp_router").lb_policy = "ROUND_ROBBIN"),
      `static_resources.clusters[${clusterIndex("mcp_router")}].lb_policy`,
    ],
    [
      "status_on_error.code (inside an Any)",
      (config: any) => (hcmOf(config).http_filters[1].typed_config.status_on_error.code = "Nope"),
      `${HCM}.http_filters[1].typed_config.status_on_error.code`,
    ],
  ])("on an enum name that does not exist: %s", (_name, edit, path) => {
    expect(problemsAfter(edit)).toEqual([{ path, message: expect.stringContaining("enum") }]);
  });

  it("on a malformed duration", () => {
    expect(problemsAfter((config) => (hcmOf(config).request_timeout = "10 seconds"))).toEqual([
      { path: `${HCM}.request_timeout`, message: expect.stringContaining("Duration") },
    ]);
  });

  it("on a number out of its type's range", () => {
    const index = clusterIndex("mcp_router");
    const problems = problemsAfter((config) => {
      clusterOf(config, "mcp_router").circuit_breakers.thresholds[0].max_connections = -1;
    });
    expect(problems).toEqual([
      {
        path: `static_resources.clusters[${index}].circuit_breakers.thresholds[0].max_connections`,
        message: expect.stringContaining("out of range"),
      },
    ]);
  });

  it("on two members of one oneof", () => {
    const problems = problemsAfter((config) => {
      hcmOf(config).route_config.virtual_hosts[0].routes[0].direct_response = { status: 200 };
    });
    expect(problems).toEqual([
      {
        path: `${HCM}.route_config.virtual_hosts[0].routes[0].direct_response`,
        message: expect.stringContaining("oneof action"),
      },
    ]);
  });

  it.each([
    [
      "an empty required string",
      (config: any) => (hcmOf(config).stat_prefix = ""),
      `${HCM}.stat_prefix`,
      "at least 1",
    ],
    [
      "a missing required string",
      (config: any) => delete config.static_resources.clusters[0].load_assignment.cluster_name,
      "static_resources.clusters[0].load_assignment.cluster_name",
      "at least 1",
    ],
    [
      "a zero connect timeout",
      (config: any) => (config.static_resources.clusters[0].connect_timeout = "0s"),
      "static_resources.clusters[0].connect_timeout",
      "> 0s",
    ],
    [
      "a port out of range",
      (config: any) => (config.admin.address.socket_address.port_value = 70000),
      "admin.address.socket_address.port_value",
      "<= 65535",
    ],
    [
      "a route without an action",
      (config: any) => {
        const route = hcmOf(config).route_config.virtual_hosts[0].routes.at(-1);
        delete route.direct_response;
      },
      `${HCM}.route_config.virtual_hosts[0].routes[${(hcmOf(document).route_config.virtual_hosts[0].routes.length as number) - 1}]`,
      "oneof action",
    ],
    [
      "a virtual host without domains",
      (config: any) => (hcmOf(config).route_config.virtual_hosts[0].domains = []),
      `${HCM}.route_config.virtual_hosts[0].domains`,
      "at least 1",
    ],
  ])("on a broken API constraint: %s", (_name, edit, path, message) => {
    expect(problemsAfter(edit)).toEqual([{ path, message: expect.stringContaining(message) }]);
  });

  it("on YAML merge keys, which Envoy's YAML reader does not expand", () => {
    const text = composeText.replace(
      "    - name: ext_authz\n      type: STRICT_DNS\n      connect_timeout: 1s\n",
      "    - name: ext_authz\n      type: STRICT_DNS\n      <<: { connect_timeout: 1s }\n",
    );
    expect(text).not.toBe(composeText);
    expect(checkEnvoyYaml(text).problems).toEqual([
      {
        path: "static_resources.clusters[0].<<",
        message: expect.stringContaining("unknown field"),
      },
    ]);
  });

  it("on a duplicate key", () => {
    const text = composeText.replace("  listeners:\n", "  clusters: []\n  listeners:\n");
    expect(checkEnvoyYaml(text).problems).toEqual([
      { path: "(yaml)", message: expect.stringMatching(/unique/i) },
    ]);
  });

  it("reports deprecated fields separately", () => {
    const copy = structuredClone(document) as any;
    copy.static_resources.clusters[0].http2_protocol_options = {};
    expect(checkEnvoyDocument(copy as JsonValue)).toEqual({
      problems: [],
      deprecated: ["static_resources.clusters[0].http2_protocol_options"],
    });
  });
});
