import { randomUUID } from "node:crypto";
import { sql } from "kysely";
import { createAuditWriter, type AuditEvent } from "../store/src/audit-writer.ts";
import { openDatabase } from "../store/src/open-database.ts";

/**
 * The audit writer alone against PostgreSQL: events as the router writes them for a finished
 * tools/call, queued as fast as the writer takes them (its queue stays full) for `durationS`, then
 * flushed. The rate counts rows committed, verified by counting them back.
 */

export type AuditWriterRate = {
  queued: number;
  stored: number;
  failed: number;
  commits: number;
  seconds: number;
  rowsPerSecond: number;
};

export async function measureAuditWriter(
  databaseUrl: string,
  durationS: number,
): Promise<AuditWriterRate> {
  const database = await openDatabase({ databaseUrl });
  const subject = `writer-${randomUUID()}`;
  const quiet = { warn: () => undefined, error: () => undefined };
  const writer = createAuditWriter({ db: database.db, logger: quiet });
  const event = (n: number): AuditEvent => ({
    request_id: randomUUID(),
    source: "router",
    kind: "invocation",
    subject,
    tenant: null,
    roles: ["developer"],
    scope: "calculator",
    method: "tools/call",
    tool: "exact_calculate",
    outcome: "ok",
    status: 200,
    latency_ms: 1 + (n % 7),
    request_bytes: 180,
    response_bytes: 240,
    arguments_digest: "ab".repeat(32),
  });
  try {
    const started = performance.now();
    const stopAt = started + durationS * 1000;
    let queued = 0;
    // write() resolves at once while the queue has room; yielding every so often lets the writer's
    // I/O run while it fills, and once full each write waits for room.
    while (performance.now() < stopAt) {
      await writer.write(event(queued));
      queued += 1;
      if (queued % 1000 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await writer.flush();
    const seconds = (performance.now() - started) / 1000;
    const stats = writer.stats();
    const { rows } = await sql<{ n: string }>`
      select count(*) as n from audit_events where subject = ${subject}
    `.execute(database.db);
    const stored = Number(rows[0]!.n);
    return {
      queued,
      stored,
      failed: stats.failed,
      commits: stats.commits,
      seconds,
      rowsPerSecond: stored / seconds,
    };
  } finally {
    await writer.close();
    await database.close();
  }
}
