import { Counter, Gauge, type Registry } from "prom-client";
import type { AuditWriterStats } from "./audit-writer.ts";

export type AuditStatsSource = { stats(): AuditWriterStats };

/** True for the store's audit writer; false for other sinks (log-only, test doubles). */
export function hasAuditStats(sink: object): sink is AuditStatsSource {
  return typeof (sink as Partial<AuditStatsSource>).stats === "function";
}

const COUNTERS = [
  ["written", "audit_events_written_total", "Audit events stored in the database"],
  ["commits", "audit_commits_total", "Audit transactions committed (group commit: many rows each)"],
  [
    "retried",
    "audit_write_retries_total",
    "Audit inserts retried after a transient database error",
  ],
  [
    "failed",
    "audit_events_failed_total",
    "Audit events that could not be stored (rejected by the database or lost at shutdown; each is logged)",
  ],
  [
    "rejected",
    "audit_events_rejected_total",
    "Audit rows refused to their request (queue full, or not stored in time): the request failed closed",
  ],
] as const satisfies readonly (readonly [keyof AuditWriterStats, string, string])[];

const GAUGES = [
  ["queued", "audit_queue_events", "Audit events accepted and not yet written"],
  ["waiting", "audit_queue_waiting", "Callers waiting for room in the full audit queue"],
] as const satisfies readonly (readonly [keyof AuditWriterStats, string, string])[];

/**
 * Exposes the audit writer's stats() on `registry`, read at scrape time. Names are
 * `<prefix>audit_…`, e.g. `mcp_router_audit_events_written_total`.
 */
export function registerAuditWriterMetrics(
  registry: Registry,
  writer: AuditStatsSource,
  options: { prefix: string },
): void {
  for (const [field, name, help] of COUNTERS) {
    new Counter({
      name: `${options.prefix}${name}`,
      help,
      registers: [registry],
      collect() {
        // The writer owns the running total; the counter mirrors it.
        this.reset();
        this.inc(writer.stats()[field]);
      },
    });
  }
  for (const [field, name, help] of GAUGES) {
    new Gauge({
      name: `${options.prefix}${name}`,
      help,
      registers: [registry],
      collect() {
        this.set(writer.stats()[field]);
      },
    });
  }
}
