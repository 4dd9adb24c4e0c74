import { sql, type Kysely } from "kysely";
import type { Logger } from "../../contract/src/log.ts";
import { createMemoryRevocations, type SessionRevocations } from "./session.ts";

/**
 * Ended sessions in the shared database, so a DELETE on one replica ends the session on all.
 * Needs the table `mcp_session_revocations (session_id text primary key, expires_at timestamptz
 * not null)`; without it the router falls back to per-process memory and says so at startup.
 */
export const REVOCATION_TABLE = "mcp_session_revocations";

// The table is not part of the store's typed schema yet, so queries are raw SQL on any Kysely.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyKysely = Kysely<any>;

export function createDatabaseRevocations(db: AnyKysely): SessionRevocations {
  let revokes = 0;
  return {
    async revoke(sessionId, expiresAtMs) {
      await sql`insert into mcp_session_revocations (session_id, expires_at)
        values (${sessionId}, ${new Date(expiresAtMs)})
        on conflict (session_id) do nothing`.execute(db);
      revokes += 1;
      if (revokes % 100 === 0) {
        await sql`delete from mcp_session_revocations where expires_at < now()`.execute(db);
      }
    },
    async isRevoked(sessionId) {
      const result = await sql<{ one: number }>`select 1 as one from mcp_session_revocations
        where session_id = ${sessionId} and expires_at > now()`.execute(db);
      return result.rows.length > 0;
    },
  };
}

export async function chooseRevocations(
  db: AnyKysely,
  logger: Logger,
): Promise<SessionRevocations> {
  const result = await sql<{
    present: string | null;
  }>`select to_regclass(${REVOCATION_TABLE})::text as present`.execute(db);
  if (result.rows[0]?.present) return createDatabaseRevocations(db);
  logger.warn(
    { table: REVOCATION_TABLE },
    "session revocation table missing: DELETE ends sessions on this replica only",
  );
  return createMemoryRevocations();
}
