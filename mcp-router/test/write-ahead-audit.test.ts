import { once } from "node:events";
import { afterEach, describe, expect, it } from "vitest";
import { HEADER } from "../../contract/src/headers.ts";
import { AuditNotStoredError, type AuditWriter } from "../../store/src/audit-writer.ts";
import type { AuditRowWriter } from "../src/audit.ts";
import { startRouter } from "../src/router.ts";
import {
  ALICE,
  quietLogger,
  startRouterFixture,
  TOOL_SECRET,
  VERDICT_KEY,
  verdictFor,
  type RouterFixture,
} from "./router-harness.ts";

/**
 * Write-ahead audit as a client meets it: a call's start is stored before the tool is asked, its
 * outcome before the answer leaves, and a call whose rows cannot be stored is not answered as a
 * success.
 */

let fixture: RouterFixture | undefined;
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

function invoke(target: RouterFixture, body: Record<string, unknown>): Promise<Response> {
  const text = JSON.stringify(body);
  return fetch(`${target.router.url}/mcp/invoke`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      [HEADER.verdict]: verdictFor(ALICE, "calc", text),
    },
    body: text,
  });
}

const starts = (target: RouterFixture) =>
  target.database.db.selectFrom("audit_call_starts").selectAll().execute();

/** Stored rows only: no flush, so a row the router did not wait for is not found. */
const storedRowsOf = (target: RouterFixture, requestId: string) =>
  target.database.db
    .selectFrom("audit_events")
    .selectAll()
    .where("request_id", "=", requestId)
    .execute();

/** The fixture's writer with some of its methods replaced. */
function failing(overrides: (writer: AuditWriter) => Partial<AuditRowWriter>) {
  let writer: AuditWriter | undefined;
  const delegate: AuditRowWriter = {
    write: (...args) => writer!.write(...args),
    commit: (...args) => (overrides(writer!).commit ?? writer!.commit)(...args),
    begin: (...args) => (overrides(writer!).begin ?? writer!.begin)(...args),
  };
  return { delegate, bind: (target: AuditWriter) => (writer = target) };
}

describe("write-ahead audit (the default)", () => {
  it("stores the call's start before the tool runs and its outcome before the answer", async () => {
    fixture = await startRouterFixture();
    const target = fixture;
    const seenByTool = once(target.backend.events, "call").then(() => starts(target));

    const response = await invoke(target, { tool_name: "calc.slow", arguments: { ms: 200 } });
    expect(response.status).toBe(200);
    const requestId = response.headers.get(HEADER.requestId)!;

    expect(await seenByTool).toEqual([
      expect.objectContaining({
        request_id: requestId,
        instance: target.callJournal.instance,
        subject: ALICE.subject,
        scope: "calc",
        tool: "slow",
        method: "tools/call",
      }),
    ]);
    expect(await storedRowsOf(target, requestId)).toEqual([
      expect.objectContaining({ outcome: "ok", status: 200, tool: "slow" }),
    ]);
    expect(await starts(target)).toEqual([]);
  });

  it("refuses with 503 before the tool is asked when the start cannot be stored", async () => {
    const audit = failing(() => ({
      begin: () => Promise.reject(new AuditNotStoredError("timeout")),
    }));
    fixture = await startRouterFixture({ audit: audit.delegate });
    audit.bind(fixture.audit);

    const response = await invoke(fixture, { tool_name: "calc.add", arguments: { a: 1, b: 2 } });
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ error: { code: "GW_AUDIT_UNAVAILABLE" } });
    expect(fixture.backend.seen.filter((seen) => seen.method === "tools/call")).toEqual([]);
    const rows = await fixture.auditRows({ request_id: response.headers.get(HEADER.requestId)! });
    expect(rows).toEqual([
      expect.objectContaining({ outcome: "rejected", reason: "audit_unavailable", status: 503 }),
    ]);
  });

  it("answers 503 when the outcome cannot be stored, and the row that follows says so", async () => {
    const audit = failing((writer) => ({
      commit: (event, options) =>
        options?.completes === undefined
          ? writer.commit(event, options)
          : Promise.reject(new AuditNotStoredError("timeout")),
    }));
    fixture = await startRouterFixture({ audit: audit.delegate });
    audit.bind(fixture.audit);

    const response = await invoke(fixture, { tool_name: "calc.add", arguments: { a: 1, b: 2 } });
    expect(response.status).toBe(503);
    expect(fixture.backend.seen.filter((seen) => seen.method === "tools/call")).toHaveLength(1);
    const rows = await fixture.auditRows({ request_id: response.headers.get(HEADER.requestId)! });
    expect(rows).toEqual([
      expect.objectContaining({
        outcome: "upstream_error",
        reason: "audit_unavailable",
        status: 503,
        tool: "add",
      }),
    ]);
    // The row that was queued closed the call's start.
    expect(await starts(fixture)).toEqual([]);
  });

  it("cannot be started without the call journal that names the process", async () => {
    const base = await startRouterFixture();
    fixture = base;
    await expect(
      startRouter({
        config: base.config,
        db: base.database.db,
        audit: base.audit,
        logger: quietLogger,
        authz: { mode: "envoy" },
        verdictKey: VERDICT_KEY,
        toolSecret: TOOL_SECRET,
        port: 0,
      }),
    ).rejects.toThrow(/call journal/);
  });
});

describe("best-effort audit (AUDIT_MODE=best-effort)", () => {
  it("answers without waiting for the database and stores no start rows", async () => {
    const unavailable = () => Promise.reject(new AuditNotStoredError("timeout"));
    const audit = failing(() => ({ begin: unavailable, commit: unavailable }));
    fixture = await startRouterFixture({
      audit: audit.delegate,
      router: { auditMode: "best-effort" },
    });
    audit.bind(fixture.audit);
    const target = fixture;
    const seenByTool = once(target.backend.events, "call").then(() => starts(target));

    const response = await invoke(target, { tool_name: "calc.slow", arguments: { ms: 50 } });
    expect(response.status).toBe(200);
    expect(await seenByTool).toEqual([]);
    const rows = await target.auditRows({ request_id: response.headers.get(HEADER.requestId)! });
    expect(rows).toEqual([expect.objectContaining({ outcome: "ok", status: 200 })]);
  });
});
