import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HEADER } from "../../contract/src/headers.ts";
import { startRouter, type RouterHandle } from "../src/router.ts";
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
    const third = await startRouter({
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
      const after = await postMcp(`${third.url}/calc/mcp`, ping, {
        headers: sessionHeaders(sessionId),
      });
      expect(after.status).toBe(404);
    } finally {
      await third.close();
    }
  });
});
