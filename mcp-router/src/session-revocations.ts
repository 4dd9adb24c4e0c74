import { sql, type Kysely } from "kysely";
import type { Logger } from "../../contract/src/log.ts";
import { createMemoryRevocations, type SessionRevocations } from "./session.ts";

/**
 * Ended sessions in the shared database, so a DELETE on one replica ends the session on all.
 * Needs the table `mcp_session_revocations (session_id, expires_at, revoked_at)` (migrations);
 * without it the router falls back to per-process memory and says so at startup.
 *
 * Every request of a 2025 session asks "is this session ended?". Asking the database each time
 * cost a round trip per request, so each replica keeps the unexpired revocations in memory and
 * fetches the new ones every `pollMs`: a DELETE holds at once on the replica that took it and
 * within `pollMs` on the others. When fetching has failed for longer than a few intervals the
 * replica asks the database per request again, so it fails closed rather than trusting stale
 * memory.
 */
export const REVOCATION_TABLE = "mcp_session_revocations";

// The table is not part of the store's typed schema yet, so queries are raw SQL on any Kysely.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyKysely = Kysely<any>;

export type DatabaseRevocationsOptions = {
  /** How often new revocations are fetched (default 1000). */
  pollMs?: number;
  logger?: Pick<Logger, "warn">;
  /** Monotonic milliseconds (tests). */
  clock?: () => number;
};

/** Rows committed out of order can carry an earlier revoked_at than the last one seen. */
const OVERLAP_MS = 10_000;
/** Intervals without a successful fetch after which memory is no longer trusted. */
const STALE_AFTER_POLLS = 3;

export type DatabaseRevocations = SessionRevocations & {
  /** Fetches revocations made since the last fetch (also run every pollMs). */
  refresh(): Promise<void>;
  close(): void;
};

export function createDatabaseRevocations(
  db: AnyKysely,
  options: DatabaseRevocationsOptions = {},
): DatabaseRevocations {
  const pollMs = options.pollMs ?? 1000;
  const clock = options.clock ?? (() => performance.now());
  const revoked = new Map<string, number>();
  let since: Date | undefined;
  let freshUntil = 0;
  let revokes = 0;
  let failing = false;

  async function refresh(): Promise<void> {
    const started = clock();
    const result = await sql<{ session_id: string; expires_at: Date; revoked_at: Date }>`
      select session_id, expires_at, revoked_at from mcp_session_revocations
      where expires_at > now()
        and revoked_at >= ${since === undefined ? new Date(0) : new Date(since.getTime() - OVERLAP_MS)}
    `.execute(db);
    for (const row of result.rows) {
      revoked.set(row.session_id, row.expires_at.getTime());
      if (since === undefined || row.revoked_at > since) since = row.revoked_at;
    }
    const now = Date.now();
    for (const [id, expiresAt] of revoked) if (expiresAt <= now) revoked.delete(id);
    freshUntil = started + pollMs * STALE_AFTER_POLLS;
    if (failing) failing = false;
  }

  const timer = setInterval(() => {
    refresh().catch((error: unknown) => {
      if (!failing) options.logger?.warn({ err: error }, "could not fetch session revocations");
      failing = true;
    });
  }, pollMs);
  timer.unref();

  async function isRevokedInDatabase(sessionId: string): Promise<boolean> {
    const result = await sql<{ one: number }>`select 1 as one from mcp_session_revocations
      where session_id = ${sessionId} and expires_at > now()`.execute(db);
    return result.rows.length > 0;
  }

  return {
    refresh,
    close: () => clearInterval(timer),
    async revoke(sessionId, expiresAtMs) {
      await sql`insert into mcp_session_revocations (session_id, expires_at)
        values (${sessionId}, ${new Date(expiresAtMs)})
        on conflict (session_id) do nothing`.execute(db);
      revoked.set(sessionId, expiresAtMs);
      revokes += 1;
      if (revokes % 100 === 0) {
        await sql`delete from mcp_session_revocations where expires_at < now()`.execute(db);
      }
    },
    async isRevoked(sessionId) {
      const expiresAt = revoked.get(sessionId);
      if (expiresAt !== undefined && expiresAt > Date.now()) return true;
      if (clock() <= freshUntil) return false;
      return isRevokedInDatabase(sessionId);
    },
  };
}

export async function chooseRevocations(
  db: AnyKysely,
  logger: Logger,
  options: { pollMs?: number } = {},
): Promise<SessionRevocations & { close?(): void }> {
  const result = await sql<{
    present: string | null;
  }>`select to_regclass(${REVOCATION_TABLE})::text as present`.execute(db);
  if (!result.rows[0]?.present) {
    logger.warn(
      { table: REVOCATION_TABLE },
      "session revocation table missing: DELETE ends sessions on this replica only",
    );
    return createMemoryRevocations();
  }
  const revocations = createDatabaseRevocations(db, { ...options, logger });
  // The first fetch is part of startup; a failure leaves per-request queries until one succeeds.
  await revocations.refresh().catch(() => undefined);
  return revocations;
}
