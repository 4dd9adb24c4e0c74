/* eslint-disable @typescript-eslint/no-explicit-any -- migrations are frozen in time: they must not depend on the application's DB type */
import { sql, type Kysely } from "kysely";

// Frozen in time: this file must never import application code.

/**
 * The policy rule behind a decision (`roles.auditor.deny[4]`): the rule that refused a call, or
 * the dry-run rule that would have (outcome `would_deny`).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table audit_events add column policy_rule text`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table audit_events drop column policy_rule`.execute(db);
}
