/* eslint-disable @typescript-eslint/no-explicit-any -- migrations are frozen in time: they must not depend on the application's DB type */
import { sql, type Kysely } from "kysely";

// Frozen in time: this file must never import application code.

/** Configuration reloads are audited as their own kind of event. */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table audit_events drop constraint audit_events_kind_check`.execute(db);
  await sql`alter table audit_events add constraint audit_events_kind_check
    check (kind in ('decision', 'invocation', 'list', 'task', 'config'))`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table audit_events drop constraint audit_events_kind_check`.execute(db);
  // NOT VALID: the audit log is append-only, so config rows already written stay; new ones are refused.
  await sql`alter table audit_events add constraint audit_events_kind_check
    check (kind in ('decision', 'invocation', 'list', 'task')) not valid`.execute(db);
}
