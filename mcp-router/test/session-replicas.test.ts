import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HEADER } from "../../contract/src/headers.ts";
import { startRouter, type RouterHandle } from "../src/router.ts";
import { createDatabaseRevocations } from "../src/session-revocations.ts";
import {
  ALICE,
  TOOL_SECRET,
  VERDICT_KEY,
  openSession,
  postMcp,
  quietLogger,
  sessionHeaders,
  startRouterFixture,
  verdictFor,
  type RouterFixture,
} from "./router-harness.ts";

describe("sessions across replicas sharing one database", () => {
  let first: RouterFixture;
  let second: RouterHandle;
  beforeAll(async () => {
    first = await startRouterFixture();
    // The revocation table as the migration requested from the store is to create it (see README).
    await sql`create table if not exists mcp_session_revocations (session_id text primary key, expires_at timestamptz not null)`.execute(
      first.database.db,
    );
    // The fixture's router started before the table existed; replicas started after it share it.
    second = await startRouter({
      config: first.config,
      db: first.database.db,
      audit: first.audit,
      callJournal: first.callJournal,
      logger: quietLogger,
      authz: { mode: "envoy" },
      verdictKey: VERDICT_KEY,
      toolSecret: TOOL_SECRET,
      port: 0,
    });
  });
  afterAll(async () => {
    await second.close();
    await first.close();
  });

  it("accepts a session issued by another replica and ends it everywhere on DELETE", async () => {
    // Polls rarely: the test fetches the third replica's revocations itself.
    const thirdRevocations = createDatabaseRevocations(first.database.db, { pollMs: 600_000 });
    await thirdRevocations.refresh();
    const third = await startRouter({
      sessionRevocations: thirdRevocations,
      config: first.config,
      db: first.database.db,
      audit: first.audit,
      callJournal: first.callJournal,
      logger: quietLogger,
      authz: { mode: "envoy" },
      verdictKey: VERDICT_KEY,
      toolSecret: TOOL_SECRET,
      port: 0,
    });
    try {
      const sessionId = await openSession(`${second.url}/calc/mcp`);
      const ping = { jsonrpc: "2.0", id: 1, method: "ping" };
      const onThird = await postMcp(`${third.url}/calc/mcp`, ping, {
        headers: sessionHeaders(sessionId),
      });
      expect(onThird.status).toBe(200);

      const deleted = await fetch(`${second.url}/calc/mcp`, {
        method: "DELETE",
        headers: { ...sessionHeaders(sessionId), [HEADER.verdict]: verdictFor(ALICE, "calc", "") },
      });
      expect(deleted.status).toBe(204);
      // At once on the replica that ended it...
      const onSecond = await postMcp(`${second.url}/calc/mcp`, ping, {
        headers: sessionHeaders(sessionId),
      });
      expect(onSecond.status).toBe(404);
      // ...and on another one from its next fetch (every SESSION_REVOCATION_POLL_MS).
      await thirdRevocations.refresh();
      const after = await postMcp(`${third.url}/calc/mcp`, ping, {
        headers: sessionHeaders(sessionId),
      });
      expect(after.status).toBe(404);
    } finally {
      await third.close();
    }
  });
});
