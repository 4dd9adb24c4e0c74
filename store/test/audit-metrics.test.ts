import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { hasAuditStats, registerAuditWriterMetrics } from "../src/audit-metrics.ts";
import type { AuditWriterStats } from "../src/audit-writer.ts";

describe("audit writer metrics", () => {
  it("reports the writer's stats at every scrape", async () => {
    const stats: AuditWriterStats = {
      queued: 3,
      waiting: 1,
      written: 10,
      commits: 7,
      retried: 2,
      failed: 4,
      rejected: 5,
    };
    const registry = new Registry();
    registerAuditWriterMetrics(registry, { stats: () => ({ ...stats }) }, { prefix: "svc_" });

    const first = await registry.metrics();
    expect(first).toContain("# TYPE svc_audit_events_written_total counter");
    expect(first).toContain("svc_audit_events_written_total 10");
    expect(first).toContain("svc_audit_write_retries_total 2");
    expect(first).toContain("svc_audit_commits_total 7");
    expect(first).toContain("svc_audit_events_failed_total 4");
    expect(first).toContain("svc_audit_events_rejected_total 5");
    expect(first).toContain("# TYPE svc_audit_queue_events gauge");
    expect(first).toContain("svc_audit_queue_events 3");
    expect(first).toContain("svc_audit_queue_waiting 1");

    stats.written = 25;
    stats.queued = 0;
    const second = await registry.metrics();
    expect(second).toContain("svc_audit_events_written_total 25");
    expect(second).toContain("svc_audit_queue_events 0");
  });

  it("recognizes sinks that have stats()", () => {
    expect(hasAuditStats({ write: async () => undefined, stats: () => ({}) })).toBe(true);
    expect(hasAuditStats({ write: async () => undefined })).toBe(false);
    expect(hasAuditStats({ stats: 1 })).toBe(false);
  });
});
