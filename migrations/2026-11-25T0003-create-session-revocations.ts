/* eslint-disable @typescript-eslint/no-explicit-any -- migrations are frozen in time: they must not depend on the application's DB type */
import type { Kysely } from "kysely";

// Frozen in time: this file must never import application code.

/** Ended MCP sessions, so a DELETE on one router replica ends the session on every replica. */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("mcp_session_revocations")
    .addColumn("session_id", "text", (col) => col.primaryKey())
    .addColumn("expires_at", "timestamptz", (col) => col.notNull())
    .execute();
  await db.schema
    .createIndex("mcp_session_revocations_expires_at_idx")
    .on("mcp_session_revocations")
    .column("expires_at")
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("mcp_session_revocations").execute();
}
