/**
 * What the services really export: their registries, built by the same factories their main.ts
 * calls, with every optional part attached (store audit writer, Redis breaker, config reloads),
 * read back from prom-client. The dashboard and the alert rules are checked against this.
 */
import { Registry, collectDefaultMetrics } from "prom-client";
import { createConfigReloadState } from "../../../config/src/config-reload.ts";
import { createMetrics } from "../../../ext-authz/src/runtime/metrics.ts";
import { createRedisBreaker } from "../../../ext-authz/src/runtime/redis-breaker.ts";
import { createRouterMetrics } from "../../../mcp-router/src/metrics.ts";
import { createAuditWriter } from "../../../store/src/audit-writer.ts";

export type MetricType = "counter" | "gauge" | "histogram" | "summary" | "untyped";

/** One metric family as registered: `name` is what prom-client was given. */
export type MetricFamily = {
  service: "ext-authz" | "mcp-router" | "prometheus";
  name: string;
  type: MetricType;
  help: string;
  /** The family's own labels, without the target labels Prometheus adds. */
  labelNames: readonly string[];
  /** Part of prom-client's collectDefaultMetrics (process and Node.js runtime). */
  defaultMetric: boolean;
};

/** A series name a query can select, with every label its samples can carry. */
export type SeriesInfo = { family: MetricFamily; labels: ReadonlySet<string> };
export type Catalog = ReadonlyMap<string, SeriesInfo>;

/**
 * Labels Prometheus attaches to every scraped sample (`job` from the scrape configuration,
 * `instance` the target's address). docs/monitoring.md asks for the jobs `ext-authz` and
 * `mcp-router`.
 */
export const TARGET_LABELS = ["job", "instance"] as const;

/** Series Prometheus makes itself for every target, not exported by any service. */
const SYNTHETIC: MetricFamily[] = [
  {
    service: "prometheus",
    name: "up",
    type: "gauge",
    help: "1 if the last scrape of the target succeeded",
    labelNames: [],
    defaultMetric: false,
  },
];

const unusedLogger = { warn() {}, error() {} };

async function families(
  service: MetricFamily["service"],
  registry: Registry,
  defaults: ReadonlySet<string>,
): Promise<MetricFamily[]> {
  // getMetricsAsJSON runs every collect(), as a scrape does: a collector that throws fails here.
  const json = await registry.getMetricsAsJSON();
  const declared = new Map(
    registry
      .getMetricsAsArray()
      .map((metric) => [
        metric.name,
        (metric as unknown as { labelNames?: readonly string[] }).labelNames ?? [],
      ]),
  );
  return json.map((metric) => {
    const seen = new Set(declared.get(metric.name) ?? []);
    for (const value of metric.values) {
      for (const label of Object.keys(value.labels)) {
        if (label !== "le" && label !== "quantile") seen.add(label);
      }
    }
    return {
      service,
      name: metric.name,
      type: String(metric.type) as MetricType,
      help: metric.help,
      labelNames: [...seen].sort(),
      defaultMetric: defaults.has(metric.name),
    };
  });
}

async function defaultMetricNames(prefix: string): Promise<Set<string>> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix });
  return new Set((await registry.getMetricsAsJSON()).map((metric) => metric.name));
}

/** Every metric family of ext-authz and the router, plus Prometheus' own `up`. */
export async function exportedFamilies(): Promise<MetricFamily[]> {
  const digests = { "tools.yaml": "0".repeat(64), "policy.yaml": "1".repeat(64) };
  // The store's real writer, so that hasAuditStats() accepts it as in production. Its database
  // is never touched: nothing is written.
  const writer = () =>
    createAuditWriter({ db: undefined as never, logger: unusedLogger, maxQueue: 10 });
  const breaker = createRedisBreaker({
    failureThreshold: 3,
    probeIntervalMs: 60_000,
    probeTimeoutMs: 100,
    probe: async () => "PONG",
  });
  try {
    const authz = createMetrics({
      audit: writer(),
      redisBreaker: breaker,
      configReloads: createConfigReloadState(digests),
    });
    const router = createRouterMetrics({
      inFlight: () => 0,
      audit: writer(),
      configReloads: createConfigReloadState(digests),
    });
    return [
      ...(await families("ext-authz", authz.registry, await defaultMetricNames("ext_authz_"))),
      ...(await families("mcp-router", router.registry, await defaultMetricNames("mcp_router_"))),
      ...SYNTHETIC,
    ];
  } finally {
    breaker.close();
  }
}

/** The series names a query can use: histograms as _bucket/_sum/_count, summaries likewise. */
export function catalogOf(list: readonly MetricFamily[]): Catalog {
  const catalog = new Map<string, SeriesInfo>();
  const add = (name: string, family: MetricFamily, extra: readonly string[]) => {
    if (catalog.has(name)) throw new Error(`series ${name} is exported twice`);
    catalog.set(name, {
      family,
      labels: new Set([...family.labelNames, ...extra, ...TARGET_LABELS]),
    });
  };
  for (const family of list) {
    switch (family.type) {
      case "histogram":
        add(`${family.name}_bucket`, family, ["le"]);
        add(`${family.name}_sum`, family, []);
        add(`${family.name}_count`, family, []);
        break;
      case "summary":
        add(family.name, family, ["quantile"]);
        add(`${family.name}_sum`, family, []);
        add(`${family.name}_count`, family, []);
        break;
      case "counter":
      case "gauge":
      case "untyped":
        add(family.name, family, []);
        break;
    }
  }
  return catalog;
}
