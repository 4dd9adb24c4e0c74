/* eslint-disable @typescript-eslint/no-explicit-any -- migrations are frozen in time: they must not depend on the application's DB type */
import { sql, type Kysely } from "kysely";

// Frozen in time: this file must never import application code.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("audit_events")
    .addColumn("id", "bigserial", (col) => col.primaryKey())
    .addColumn("time", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn("request_id", "text", (col) => col.notNull())
    .addColumn("source", "text", (col) => col.notNull())
    .addColumn("kind", "text", (col) => col.notNull())
    .addColumn("subject", "text")
    .addColumn("tenant", "text")
    .addColumn("roles", sql`text[]`, (col) => col.notNull().defaultTo(sql`'{}'::text[]`))
    .addColumn("scope", "text")
    .addColumn("method", "text")
    .addColumn("tool", "text")
    .addColumn("outcome", "text", (col) => col.notNull())
    .addColumn("reason", "text")
    .addColumn("status", "integer")
    .addColumn("latency_ms", "integer")
    .addColumn("request_bytes", "integer")
    .addColumn("response_bytes", "integer")
    .addColumn("arguments_digest", "text")
    .addColumn("arguments", "jsonb")
    .addColumn("task_id", "text")
    .addCheckConstraint("audit_events_source_check", sql`source in ('ext-authz', 'router')`)
    .addCheckConstraint(
      "audit_events_kind_check",
      sql`kind in ('decision', 'invocation', 'list', 'task')`,
    )
    .execute();

  // The questions security teams ask: what did this user do, who used this tool, what happened
  // to this request, and which requests were refused.
  await db.schema
    .createIndex("audit_events_subject_time_idx")
    .on("audit_events")
    .columns(["subject", "time"])
    .execute();
  await db.schema
    .createIndex("audit_events_tool_time_idx")
    .on("audit_events")
    .columns(["tool", "time"])
    .execute();
  await db.schema
    .createIndex("audit_events_request_id_idx")
    .on("audit_events")
    .column("request_id")
    .execute();
  await db.schema.createIndex("audit_events_time_idx").on("audit_events").column("time").execute();
  await db.schema
    .createIndex("audit_events_denied_time_idx")
    .on("audit_events")
    .column("time")
    // Refusals by ext-authz (denied) and by the router (rejected): "show me every refusal".
    .where(sql<boolean>`outcome in ('denied', 'rejected')`)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("audit_events").execute();
}
