/** Prometheus metrics and the small HTTP port that serves them (plus liveness/readiness). */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { ConfigReloadState } from "../../../config/src/config-reload.ts";
import { registerConfigReloadMetrics } from "../../../config/src/reload-metrics.ts";
import { hasAuditStats, registerAuditWriterMetrics } from "../../../store/src/audit-metrics.ts";
import { BREAKER_STATES, type BreakerState, type RedisBreaker } from "./redis-breaker.ts";

export type AuthzMetrics = {
  registry: Registry;
  decisions: Counter<"outcome" | "reason">;
  checkDuration: Histogram<"outcome" | "token">;
  auditFailures: Counter;
  internalErrors: Counter;
  policyDryRun: Counter<"rule">;
};

export function createMetrics(
  options: {
    defaultMetrics?: boolean;
    /** The denial audit sink: when it is the store's writer, its queue and totals are exported. */
    audit?: object;
    /** The Redis counters' circuit breaker, when counting on Redis. */
    redisBreaker?: RedisBreaker | undefined;
    /** Configuration reloads (policy.yaml, tools.yaml). */
    configReloads?: ConfigReloadState;
  } = {},
): AuthzMetrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true)
    collectDefaultMetrics({ register: registry, prefix: "ext_authz_" });
  if (options.audit !== undefined && hasAuditStats(options.audit))
    registerAuditWriterMetrics(registry, options.audit, { prefix: "ext_authz_" });
  if (options.redisBreaker !== undefined) registerBreakerMetrics(registry, options.redisBreaker);
  if (options.configReloads !== undefined)
    registerConfigReloadMetrics(registry, options.configReloads, { prefix: "ext_authz_" });
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
    policyDryRun: new Counter({
      name: "ext_authz_policy_dry_run_total",
      help: "Tool calls a dry-run deny rule would have refused, by rule (policy.yaml path)",
      labelNames: ["rule"],
      registers: [registry],
    }),
  };
}

/**
 * A state set (1 for the current state, 0 for the others) so that alerts need no magic numbers:
 * `ext_authz_redis_breaker_state{state="closed"} == 0` means the insurance limiter decides alone.
 */
function registerBreakerMetrics(registry: Registry, breaker: RedisBreaker): void {
  new Gauge({
    name: "ext_authz_redis_breaker_state",
    help: "Circuit breaker in front of the Redis quota counters: 1 for its current state (closed: Redis counts; open: in-memory insurance limiter only; half_open: Redis being probed)",
    labelNames: ["state"],
    registers: [registry],
    collect() {
      for (const state of BREAKER_STATES) this.set({ state }, breaker.state() === state ? 1 : 0);
    },
  });
  const transitions = new Counter({
    name: "ext_authz_redis_breaker_transitions_total",
    help: "Redis circuit breaker state changes, by the state entered",
    labelNames: ["to"],
    registers: [registry],
  });
  for (const state of BREAKER_STATES) transitions.inc({ to: state }, 0);
  breaker.onTransition(({ to }) => transitions.inc({ to }));
}

/** What /ready reports besides serving: still deciding, but not the way it should. */
export type Degradation = { degraded: boolean; redis?: BreakerState };

export async function startMetricsServer(options: {
  host: string;
  port: number;
  metrics: AuthzMetrics;
  isServing: () => boolean;
  degradation?: () => Degradation;
  /** The `config` detail of /ready: the running configuration and the last reload. */
  configDetail?: () => Record<string, unknown>;
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
      // Degraded stays 200: every replica shares the Redis, so taking degraded replicas out of
      // rotation would turn a looser quota into an outage.
      // A refused reload stays 200 as well: this replica still runs a valid configuration, and
      // a bad file reaches every replica at once.
      const body = {
        status: serving ? "serving" : "not_serving",
        ...(options.degradation?.() ?? { degraded: false }),
        ...(options.configDetail === undefined ? {} : { config: options.configDetail() }),
      };
      res
        .writeHead(serving ? 200 : 503, { "content-type": "application/json" })
        .end(JSON.stringify(body));
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
