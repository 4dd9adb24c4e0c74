/* eslint-disable @typescript-eslint/no-explicit-any -- migrations are frozen in time: they must not depend on the application's DB type */
import { sql, type Kysely } from "kysely";

// Frozen in time: this file must never import application code.

/**
 * The write-ahead half of the audit: a tool call's start is stored here before the tool runs and
 * removed in the same transaction that stores its outcome in audit_events. What remains belongs to
 * calls still running, or to a router that died under them (`instance` says which).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("audit_call_starts")
    .addColumn("call_id", "text", (col) => col.primaryKey())
    .addColumn("instance", "text", (col) => col.notNull())
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
    .addColumn("arguments_digest", "text")
    .addColumn("arguments", "jsonb")
    .addColumn("task_id", "text")
    .execute();
  await db.schema
    .createIndex("audit_call_starts_instance_idx")
    .on("audit_call_starts")
    .column("instance")
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("audit_call_starts").execute();
}
