import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { ConfigReloadState } from "../../config/src/config-reload.ts";
import { registerConfigReloadMetrics } from "../../config/src/reload-metrics.ts";
import { hasAuditStats, registerAuditWriterMetrics } from "../../store/src/audit-metrics.ts";

/** One registry per router instance, so several routers (tests, the embedded stack) never clash. */
export type RouterMetrics = {
  registry: Registry;
  httpRequests: Counter<"route" | "status">;
  authzRejections: Counter<"reason">;
  toolCalls: Counter<"scope" | "tool" | "outcome" | "via">;
  toolCallSeconds: Histogram<"scope" | "outcome">;
  toolLists: Counter<"scope" | "outcome">;
  auditFailures: Counter<"reason">;
  definitionChanges: Counter<"scope" | "policy">;
  inFlight: Gauge;
};

export function createRouterMetrics(options: {
  inFlight: () => number;
  /** The router's audit sink: when it is the store's writer, its queue and totals are exported. */
  audit?: object;
  /** Configuration reloads (tools.yaml, policy.yaml). */
  configReloads?: ConfigReloadState;
}): RouterMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "mcp_router_" });
  if (options.audit !== undefined && hasAuditStats(options.audit))
    registerAuditWriterMetrics(registry, options.audit, { prefix: "mcp_router_" });
  if (options.configReloads !== undefined)
    registerConfigReloadMetrics(registry, options.configReloads, { prefix: "mcp_router_" });
  return {
    registry,
    httpRequests: new Counter({
      name: "mcp_router_http_requests_total",
      help: "HTTP requests by route and status",
      labelNames: ["route", "status"],
      registers: [registry],
    }),
    authzRejections: new Counter({
      name: "mcp_router_authz_rejections_total",
      help: "Requests refused before reaching MCP handling, by reason",
      labelNames: ["reason"],
      registers: [registry],
    }),
    toolCalls: new Counter({
      name: "mcp_router_tool_calls_total",
      help: "tools/call outcomes",
      labelNames: ["scope", "tool", "outcome", "via"],
      registers: [registry],
    }),
    toolCallSeconds: new Histogram({
      name: "mcp_router_tool_call_duration_seconds",
      help: "tools/call latency including the backend",
      labelNames: ["scope", "outcome"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120],
      registers: [registry],
    }),
    toolLists: new Counter({
      name: "mcp_router_tool_lists_total",
      help: "tools/list outcomes",
      labelNames: ["scope", "outcome"],
      registers: [registry],
    }),
    auditFailures: new Counter({
      name: "mcp_router_audit_failures_total",
      help: "Audit events the router could not hand to the writer (request refused)",
      labelNames: ["reason"],
      registers: [registry],
    }),
    definitionChanges: new Counter({
      name: "mcp_router_tool_definition_changes_total",
      help: "Backend tool definitions that differ from the approved one",
      labelNames: ["scope", "policy"],
      registers: [registry],
    }),
    inFlight: new Gauge({
      name: "mcp_router_tool_calls_in_flight",
      help: "tools/call requests currently forwarded",
      registers: [registry],
      collect() {
        this.set(options.inFlight());
      },
    }),
  };
}
