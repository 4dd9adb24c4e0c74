/* eslint-disable @typescript-eslint/no-explicit-any -- migrations are frozen in time: they must not depend on the application's DB type */
import { sql, type Kysely } from "kysely";

// Frozen in time: this file must never import application code.

/**
 * The OpenTelemetry trace id (32 lower-case hex digits) of the request an audit row belongs to;
 * null when tracing was off.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table audit_events add column trace_id text`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table audit_events drop column trace_id`.execute(db);
}
