import type { Logger } from "../../contract/src/log.ts";
import type { AuditWriterStats } from "../../store/src/audit-writer.ts";
import { runAdminEndpoint } from "./admin-access.ts";
import type {
  AdminOverview,
  AuditQueueState,
  BackendHealth,
  ScopeTraffic,
  TrafficSeries,
} from "./admin-wire.ts";
import type { AuditMode } from "./audit.ts";
import type { RouterRequest, RouterResponse } from "./http-types.ts";
import type { RouterMetrics } from "./metrics.ts";
import type { RouterContext } from "./router-context.ts";

/**
 * `GET /admin/overview`: the last 15 minutes of this router, from its own Prometheus metrics.
 * Counters only ever grow, so a small ring of their totals, read every 10 s, gives the rate and
 * the latency quantiles of each interval as differences (quantiles from the histogram buckets,
 * interpolated as Prometheus' histogram_quantile does). Per router replica: a fleet-wide view is
 * Prometheus' job (docs/monitoring.md); this one needs nothing but the router.
 */

export const ADMIN_OVERVIEW_PATH = "/admin/overview";
export const OVERVIEW_WINDOW_MS = 15 * 60_000;
export const OVERVIEW_INTERVAL_MS = 10_000;

/** The routes whose answers count as traffic (not /health, /metrics, /docs, /console, /admin). */
const TRAFFIC_ROUTES: ReadonlySet<string> = new Set([
  "/{scope}/mcp",
  "/mcp/invoke",
  "/mcp/jobs/{id}",
]);
const ERROR_OUTCOMES: ReadonlySet<string> = new Set(["tool_error", "timeout", "upstream_error"]);
const BACKEND_FAILURES: ReadonlySet<string> = new Set(["timeout", "upstream_error"]);

type Totals = { count: number; errors: number; refusals: number };
type ScopeTotals = Totals & {
  backendFailures: number;
  /** Cumulative histogram counts per upper bound (seconds; Infinity last). */
  buckets: Map<number, number>;
};
type Sample = { at: number; http: Totals; scopes: Map<string, ScopeTotals> };

export type MetricsHistory = {
  readonly intervalMs: number;
  readonly windowMs: number;
  /** Reads the counters now and keeps the sample (the timer does this every interval). */
  sample(): Promise<void>;
  /** The kept samples and one taken now, oldest first. */
  samples(): Promise<Sample[]>;
  close(): void;
};

const zeroTotals = (): Totals => ({ count: 0, errors: 0, refusals: 0 });

async function readSample(metrics: RouterMetrics, at: number): Promise<Sample> {
  const http = zeroTotals();
  for (const { value, labels } of (await metrics.httpRequests.get()).values) {
    if (!TRAFFIC_ROUTES.has(String(labels.route))) continue;
    const status = Number(labels.status);
    http.count += value;
    if (status >= 500) http.errors += value;
    else if (status >= 400) http.refusals += value;
  }
  const scopes = new Map<string, ScopeTotals>();
  const scopeOf = (name: string): ScopeTotals => {
    let found = scopes.get(name);
    if (found === undefined) {
      found = { ...zeroTotals(), backendFailures: 0, buckets: new Map() };
      scopes.set(name, found);
    }
    return found;
  };
  for (const { value, labels } of (await metrics.toolCalls.get()).values) {
    const totals = scopeOf(String(labels.scope));
    const outcome = String(labels.outcome);
    totals.count += value;
    if (ERROR_OUTCOMES.has(outcome)) totals.errors += value;
    if (outcome === "rejected") totals.refusals += value;
    if (BACKEND_FAILURES.has(outcome)) totals.backendFailures += value;
  }
  for (const { value, labels, metricName } of (await metrics.toolCallSeconds.get()).values) {
    if (metricName === undefined || !metricName.endsWith("_bucket")) continue;
    // prom-client's type leaves out the histogram's own label.
    const le = (labels as Record<string, string | number | undefined>).le;
    const bound = le === "+Inf" ? Infinity : Number(le);
    if (Number.isNaN(bound)) continue;
    const { buckets } = scopeOf(String(labels.scope));
    buckets.set(bound, (buckets.get(bound) ?? 0) + value);
  }
  return { at, http, scopes };
}

export function createMetricsHistory(options: {
  metrics: RouterMetrics;
  logger: Logger;
  intervalMs?: number;
  windowMs?: number;
  now?: () => number;
}): MetricsHistory {
  const now = options.now ?? Date.now;
  const intervalMs = options.intervalMs ?? OVERVIEW_INTERVAL_MS;
  const windowMs = options.windowMs ?? OVERVIEW_WINDOW_MS;
  const keep = Math.ceil(windowMs / intervalMs) + 1;
  const ring: Sample[] = [];
  async function sample(): Promise<void> {
    ring.push(await readSample(options.metrics, now()));
    if (ring.length > keep) ring.splice(0, ring.length - keep);
  }
  const timer = setInterval(() => {
    sample().catch((error: unknown) =>
      options.logger.warn({ err: error }, "could not sample the router's metrics"),
    );
  }, intervalMs);
  timer.unref();
  void sample().catch(() => undefined);
  return {
    intervalMs,
    windowMs,
    sample,
    async samples() {
      const current = await readSample(options.metrics, now());
      return [...ring.filter((kept) => kept.at < current.at), current];
    },
    close: () => clearInterval(timer),
  };
}

/** histogram_quantile over cumulative bucket counts (differences of two samples), in ms. */
export function bucketQuantile(buckets: ReadonlyMap<number, number>, q: number): number | null {
  const bounds = [...buckets.keys()].sort((a, b) => a - b);
  const total = buckets.get(Infinity) ?? (bounds.length > 0 ? buckets.get(bounds.at(-1)!)! : 0);
  if (total <= 0) return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const bound of bounds) {
    const count = buckets.get(bound)!;
    if (count >= rank) {
      // Beyond the last finite bucket nothing is known but that it is slower than that bound.
      if (bound === Infinity) return Math.round(lower * 1000 * 1000) / 1000;
      const inBucket = count - below;
      const position = inBucket <= 0 ? 1 : (rank - below) / inBucket;
      return Math.round((lower + (bound - lower) * position) * 1000 * 1000) / 1000;
    }
    lower = bound;
    below = count;
  }
  return null;
}

const rate = (part: number, whole: number): number | null => (whole > 0 ? part / whole : null);

function difference(later: Totals, earlier: Totals | undefined): Totals {
  return {
    count: Math.max(0, later.count - (earlier?.count ?? 0)),
    errors: Math.max(0, later.errors - (earlier?.errors ?? 0)),
    refusals: Math.max(0, later.refusals - (earlier?.refusals ?? 0)),
  };
}

function bucketDifference(
  later: ReadonlyMap<number, number> | undefined,
  earlier: ReadonlyMap<number, number> | undefined,
): Map<number, number> {
  const result = new Map<number, number>();
  for (const [bound, count] of later ?? []) {
    result.set(bound, Math.max(0, count - (earlier?.get(bound) ?? 0)));
  }
  return result;
}

function series(intervals: { seconds: number; totals: Totals }[], whole: Totals): TrafficSeries {
  return {
    per_second: intervals.map(({ seconds, totals }) =>
      seconds > 0 ? Math.round((totals.count / seconds) * 1000) / 1000 : 0,
    ),
    error_rate: intervals.map(({ totals }) => rate(totals.errors, totals.count)),
    refusal_rate: intervals.map(({ totals }) => rate(totals.refusals, totals.count)),
    totals: whole,
  };
}

/** Rates and quantiles of each interval between consecutive samples. */
export function trafficFrom(samples: readonly Sample[]): {
  times: string[];
  requests: TrafficSeries;
  scopes: ScopeTraffic[];
  backendFailures: Map<string, number>;
} {
  const pairs = samples.slice(1).map((later, index) => ({ later, earlier: samples[index]! }));
  const seconds = pairs.map(({ later, earlier }) => (later.at - earlier.at) / 1000);
  const first = samples[0];
  const last = samples.at(-1);
  const requests = series(
    pairs.map(({ later, earlier }, index) => ({
      seconds: seconds[index]!,
      totals: difference(later.http, earlier.http),
    })),
    last === undefined || first === undefined ? zeroTotals() : difference(last.http, first.http),
  );
  const names = [...new Set(samples.flatMap((sample) => [...sample.scopes.keys()]))].sort();
  const backendFailures = new Map<string, number>();
  const scopes = names.map((scope): ScopeTraffic => {
    const of = (sample: Sample | undefined) => sample?.scopes.get(scope);
    const whole =
      last === undefined ? zeroTotals() : difference(of(last) ?? zeroTotals(), of(first));
    backendFailures.set(
      scope,
      Math.max(0, (of(last)?.backendFailures ?? 0) - (of(first)?.backendFailures ?? 0)),
    );
    const wholeBuckets = bucketDifference(of(last)?.buckets, of(first)?.buckets);
    const intervalBuckets = pairs.map(({ later, earlier }) =>
      bucketDifference(of(later)?.buckets, of(earlier)?.buckets),
    );
    return {
      scope,
      ...series(
        pairs.map(({ later, earlier }, index) => ({
          seconds: seconds[index]!,
          totals: difference(of(later) ?? zeroTotals(), of(earlier)),
        })),
        whole,
      ),
      p50_ms: intervalBuckets.map((buckets) => bucketQuantile(buckets, 0.5)),
      p99_ms: intervalBuckets.map((buckets) => bucketQuantile(buckets, 0.99)),
      latency: {
        p50_ms: bucketQuantile(wholeBuckets, 0.5),
        p99_ms: bucketQuantile(wholeBuckets, 0.99),
      },
    };
  });
  return {
    times: pairs.map(({ later }) => new Date(later.at).toISOString()),
    requests,
    scopes,
    backendFailures,
  };
}

export type OverviewDeps = {
  history: MetricsHistory;
  auditMode: AuditMode;
  /** The store's audit writer statistics, when the router's audit sink is that writer. */
  auditStats: (() => AuditWriterStats) | undefined;
  /** The catalog's refresh interval: a listing older than twice this is stale. */
  catalogRefreshMs: number;
  now?: () => number;
};

async function backendHealth(
  ctx: RouterContext,
  deps: OverviewDeps,
  failures: ReadonlyMap<string, number>,
  at: number,
): Promise<BackendHealth[]> {
  return Promise.all(
    Object.keys(ctx.config.tools.scopes).map(async (scope): Promise<BackendHealth> => {
      let timer: NodeJS.Timeout | undefined;
      const listing = await Promise.race([
        ctx.catalog.get(scope),
        new Promise<undefined>((resolve) => {
          timer = setTimeout(() => resolve(undefined), 500);
        }),
      ]);
      clearTimeout(timer);
      const base = { scope, backend_failures: failures.get(scope) ?? 0 };
      if (listing === undefined) {
        return { ...base, status: "unknown", tools_served: 0, listed_at: null };
      }
      if (!listing.ok) return { ...base, status: "down", tools_served: 0, listed_at: null };
      const fresh = at - listing.loadedAt <= 2 * deps.catalogRefreshMs + 10_000;
      return {
        ...base,
        status: fresh ? "up" : "stale",
        tools_served: listing.tools.size,
        listed_at: new Date(listing.loadedAt).toISOString(),
      };
    }),
  );
}

function auditQueue(deps: OverviewDeps, at: number): AuditQueueState {
  const stats = deps.auditStats?.();
  if (stats === undefined) {
    return {
      mode: deps.auditMode,
      queued: null,
      waiting: null,
      lag_ms: null,
      written_total: null,
      failed_total: null,
      rejected_total: null,
    };
  }
  const oldest = stats.oldestQueuedAt ?? null;
  return {
    mode: deps.auditMode,
    queued: stats.queued,
    waiting: stats.waiting,
    lag_ms: oldest === null ? 0 : Math.max(0, at - oldest.getTime()),
    written_total: stats.written,
    failed_total: stats.failed,
    rejected_total: stats.rejected,
  };
}

export async function adminOverview(
  ctx: RouterContext,
  deps: OverviewDeps,
): Promise<AdminOverview> {
  const at = (deps.now ?? Date.now)();
  const traffic = trafficFrom(await deps.history.samples());
  return {
    generated_at: new Date(at).toISOString(),
    window_seconds: deps.history.windowMs / 1000,
    interval_seconds: deps.history.intervalMs / 1000,
    times: traffic.times,
    requests: traffic.requests,
    scopes: traffic.scopes,
    backends: await backendHealth(ctx, deps, traffic.backendFailures, at),
    audit: auditQueue(deps, at),
    in_flight: ctx.inFlight.size(),
  };
}

export function handleAdminOverview(
  ctx: RouterContext,
  request: RouterRequest,
  deps: OverviewDeps,
): Promise<RouterResponse> {
  return runAdminEndpoint(
    ctx,
    request,
    { method: "GET", audit: "admin/overview" },
    async (call) => ({ outcome: "ok", response: call.ok(await adminOverview(ctx, deps)) }),
  );
}
