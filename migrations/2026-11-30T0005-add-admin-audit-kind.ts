/* eslint-disable @typescript-eslint/no-explicit-any -- migrations are frozen in time: they must not depend on the application's DB type */
import { sql, type Kysely } from "kysely";

// Frozen in time: this file must never import application code.

/**
 * Reads of the audit log (`GET /admin/audit`) are audited as their own kind of event, and the
 * keyset pagination of those reads (order by time desc, id desc) gets an index of its own: the
 * (time) index alone leaves ties on time to a sort. (subject, time) and (tool, time) exist since
 * 2026-11-25T0001.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table audit_events drop constraint audit_events_kind_check`.execute(db);
  await sql`alter table audit_events add constraint audit_events_kind_check
    check (kind in ('decision', 'invocation', 'list', 'task', 'config', 'admin'))`.execute(db);
  await sql`create index audit_events_time_id_idx on audit_events (time desc, id desc)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index audit_events_time_id_idx`.execute(db);
  await sql`alter table audit_events drop constraint audit_events_kind_check`.execute(db);
  // NOT VALID: the audit log is append-only, so admin rows already written stay; new ones are refused.
  await sql`alter table audit_events add constraint audit_events_kind_check
    check (kind in ('decision', 'invocation', 'list', 'task', 'config')) not valid`.execute(db);
}
