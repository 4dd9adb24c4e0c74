/** Denials reach the real store audit writer (PostgreSQL when DATABASE_URL is set, else PGlite; migrated). */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuthzClient } from "../../contract/src/authz-wire.ts";
import { createAuditWriter, type AuditWriter } from "../../store/src/audit-writer.ts";
import type { Database } from "../../store/src/open-database.ts";
import { serviceDatabase } from "../../store/test/test-databases.ts";
import { startExtAuthz, type RunningExtAuthz } from "../src/main.ts";
import {
  checkRequest,
  makeToken,
  NOW_MS,
  silentLogger,
  TEST_ENV,
  testConfig,
} from "./fixture-config.ts";

describe("denial audit through the store", () => {
  let database: Database;
  let writer: AuditWriter;
  let server: RunningExtAuthz;

  beforeAll(async () => {
    database = await serviceDatabase();
    writer = createAuditWriter({ db: database.db, logger: silentLogger });
    server = await startExtAuthz({
      env: TEST_ENV,
      config: testConfig(),
      host: "127.0.0.1",
      port: 0,
      metricsPort: null,
      audit: writer,
      logger: silentLogger,
      now: () => NOW_MS,
    });
  });
  afterAll(async () => {
    await server?.close();
    await writer?.close();
    await database?.close();
  });

  it("stores one row per denial, without the token", async () => {
    const token = await makeToken({ sub: "ann", roles: ["analyst"], tenant: "acme" });
    const client = createAuthzClient(`127.0.0.1:${server.port}`);
    try {
      const response = await client.check(
        checkRequest({
          path: "/git/mcp",
          headers: { authorization: `Bearer ${token}`, "x-request-id": "req-store-audit" },
          body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
        }),
        { deadlineMs: 5000 },
      );
      expect(response.status?.code).toBe(7);
    } finally {
      client.close();
    }
    await writer.flush();
    const rows = await database.db
      .selectFrom("audit_events")
      .selectAll()
      .where("request_id", "=", "req-store-audit")
      .execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      source: "ext-authz",
      kind: "decision",
      outcome: "denied",
      reason: "insufficient_scope",
      status: 403,
      subject: "ann",
      tenant: "acme",
      roles: ["analyst"],
      scope: "git",
      method: "tools/list",
    });
    expect(JSON.stringify(rows)).not.toContain(token);
  });

  it("exports the audit writer's totals and queue on its Prometheus registry", async () => {
    await writer.flush();
    const text = await server.metrics.registry.metrics();
    expect(text).toContain(`ext_authz_audit_events_written_total ${writer.stats().written}`);
    expect(writer.stats().written).toBeGreaterThan(0);
    expect(text).toContain("ext_authz_audit_events_failed_total 0");
    expect(text).toContain("ext_authz_audit_queue_events 0");
  });
});
