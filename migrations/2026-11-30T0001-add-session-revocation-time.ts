/* eslint-disable @typescript-eslint/no-explicit-any -- migrations are frozen in time: they must not depend on the application's DB type */
import { sql, type Kysely } from "kysely";

// Frozen in time: this file must never import application code.

/** When a session was ended, so replicas can fetch the revocations they have not seen yet. */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable("mcp_session_revocations")
    .addColumn("revoked_at", "timestamptz", (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex("mcp_session_revocations_revoked_at_idx")
    .on("mcp_session_revocations")
    .column("revoked_at")
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("mcp_session_revocations").dropColumn("revoked_at").execute();
}
