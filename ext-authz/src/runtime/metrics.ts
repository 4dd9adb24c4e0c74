/** Prometheus metrics and the small HTTP port that serves them (plus liveness/readiness). */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { hasAuditStats, registerAuditWriterMetrics } from "../../../store/src/audit-metrics.ts";

export type AuthzMetrics = {
  registry: Registry;
  decisions: Counter<"outcome" | "reason">;
  checkDuration: Histogram<"outcome" | "token">;
  auditFailures: Counter;
  internalErrors: Counter;
};

export function createMetrics(
  options: {
    defaultMetrics?: boolean;
    /** The denial audit sink: when it is the store's writer, its queue and totals are exported. */
    audit?: object;
  } = {},
): AuthzMetrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true)
    collectDefaultMetrics({ register: registry, prefix: "ext_authz_" });
  if (options.audit !== undefined && hasAuditStats(options.audit))
    registerAuditWriterMetrics(registry, options.audit, { prefix: "ext_authz_" });
  return {
    registry,
    decisions: new Counter({
      name: "ext_authz_decisions_total",
      help: "Check decisions by outcome (allow, public, respond, deny) and reason",
      labelNames: ["outcome", "reason"],
      registers: [registry],
    }),
    checkDuration: new Histogram({
      name: "ext_authz_check_duration_seconds",
      help: "Time to answer a Check, by outcome and whether the token came from the cache",
      labelNames: ["outcome", "token"],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    auditFailures: new Counter({
      name: "ext_authz_audit_failures_total",
      help: "Denials whose audit event could not be queued (each is also logged)",
      registers: [registry],
    }),
    internalErrors: new Counter({
      name: "ext_authz_internal_errors_total",
      help: "Checks answered with a gRPC error (Envoy then fails closed)",
      registers: [registry],
    }),
  };
}

export async function startMetricsServer(options: {
  host: string;
  port: number;
  metrics: AuthzMetrics;
  isServing: () => boolean;
}): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?", 1)[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    if (path === "/metrics") {
      options.metrics.registry.metrics().then(
        (text) =>
          res.writeHead(200, { "content-type": options.metrics.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
      return;
    }
    if (path === "/health") {
      res.writeHead(200, { "content-type": "application/json" }).end('{"status":"ok"}');
      return;
    }
    if (path === "/ready") {
      const serving = options.isServing();
      res
        .writeHead(serving ? 200 : 503, { "content-type": "application/json" })
        .end(serving ? '{"status":"serving"}' : '{"status":"not_serving"}');
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
