/* eslint-disable @typescript-eslint/no-explicit-any -- migrations are frozen in time: they must not depend on the application's DB type */
import { sql, type Kysely } from "kysely";

// Frozen in time: this file must never import application code.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("tool_registry")
    .addColumn("scope", "text", (col) => col.notNull())
    .addColumn("name", "text", (col) => col.notNull())
    .addColumn("active", "boolean", (col) => col.notNull().defaultTo(true))
    .addColumn("enabled", "boolean", (col) => col.notNull().defaultTo(true))
    .addColumn("task_support", "text")
    .addColumn("timeout_ms", "integer")
    .addColumn("first_seen_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn("last_seen_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn("deactivated_at", "timestamptz")
    .addColumn("approved_definition_digest", "text")
    .addColumn("observed_definition_digest", "text")
    .addColumn("definition_changed_at", "timestamptz")
    .addPrimaryKeyConstraint("tool_registry_pkey", ["scope", "name"])
    .addCheckConstraint(
      "tool_registry_task_support_check",
      sql`task_support is null or task_support in ('forbidden', 'optional', 'required')`,
    )
    .execute();

  await db.schema
    .createTable("tool_registry_history")
    .addColumn("id", "bigserial", (col) => col.primaryKey())
    .addColumn("scope", "text", (col) => col.notNull())
    .addColumn("name", "text", (col) => col.notNull())
    .addColumn("event", "text", (col) => col.notNull())
    .addColumn("at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn("details", "jsonb")
    .addCheckConstraint(
      "tool_registry_history_event_check",
      sql`event in ('added', 'deactivated', 'reactivated', 'definition_changed', 'definition_approved')`,
    )
    .execute();

  await db.schema
    .createIndex("tool_registry_history_tool_at_idx")
    .on("tool_registry_history")
    .columns(["scope", "name", "at"])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("tool_registry_history").execute();
  await db.schema.dropTable("tool_registry").execute();
}
