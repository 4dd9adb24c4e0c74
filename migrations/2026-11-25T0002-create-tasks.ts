/* eslint-disable @typescript-eslint/no-explicit-any -- migrations are frozen in time: they must not depend on the application's DB type */
import { sql, type Kysely } from "kysely";

// Frozen in time: this file must never import application code.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("tasks")
    .addColumn("id", "text", (col) => col.primaryKey())
    .addColumn("owner_subject", "text", (col) => col.notNull())
    // '' when the token carried no tenant, so ownership checks are plain equality.
    .addColumn("owner_tenant", "text", (col) => col.notNull().defaultTo(""))
    .addColumn("scope", "text", (col) => col.notNull())
    .addColumn("tool", "text", (col) => col.notNull())
    .addColumn("status", "text", (col) => col.notNull())
    .addColumn("status_message", "text")
    .addColumn("created_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn("ttl_ms", "integer", (col) => col.notNull())
    .addColumn("expires_at", "timestamptz", (col) => col.notNull())
    .addColumn("poll_interval_ms", "integer")
    .addColumn("request", "jsonb")
    .addColumn("result", "jsonb")
    .addColumn("error", "jsonb")
    .addColumn("lease_owner", "text")
    .addColumn("lease_expires_at", "timestamptz")
    .addColumn("request_id", "text")
    .addCheckConstraint(
      "tasks_status_check",
      sql`status in ('working', 'input_required', 'completed', 'failed', 'cancelled')`,
    )
    .execute();

  await db.schema
    .createIndex("tasks_owner_created_idx")
    .on("tasks")
    .columns(["owner_subject", "owner_tenant", "created_at"])
    .execute();
  await db.schema
    .createIndex("tasks_status_lease_idx")
    .on("tasks")
    .columns(["status", "lease_expires_at"])
    .execute();
  await db.schema.createIndex("tasks_expires_at_idx").on("tasks").column("expires_at").execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("tasks").execute();
}
