/* eslint-disable @typescript-eslint/no-explicit-any -- migrations are frozen in time: they must not depend on the application's DB type */
import { sql, type Kysely } from "kysely";

// Frozen in time: this file must never import application code.

/**
 * Tools enter the registry from tools.yaml (`config`) or from the listing of a scope that says
 * `tools: discover` (`discovered`); the history records a discovery as its own event.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable("tool_registry")
    .addColumn("source", "text", (col) => col.notNull().defaultTo("config"))
    .execute();
  await sql`alter table tool_registry add constraint tool_registry_source_check
    check (source in ('config', 'discovered'))`.execute(db);
  await sql`alter table tool_registry_history drop constraint tool_registry_history_event_check`.execute(
    db,
  );
  await sql`alter table tool_registry_history add constraint tool_registry_history_event_check
    check (event in ('added', 'discovered', 'deactivated', 'reactivated', 'definition_changed',
      'definition_approved'))`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table tool_registry_history drop constraint tool_registry_history_event_check`.execute(
    db,
  );
  // NOT VALID: history is append-only, so `discovered` rows already written stay.
  await sql`alter table tool_registry_history add constraint tool_registry_history_event_check
    check (event in ('added', 'deactivated', 'reactivated', 'definition_changed',
      'definition_approved')) not valid`.execute(db);
  await db.schema.alterTable("tool_registry").dropColumn("source").execute();
}
