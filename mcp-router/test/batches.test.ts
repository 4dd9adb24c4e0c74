import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HEADER } from "../../contract/src/headers.ts";
import {
  ALICE,
  BOB,
  openSession,
  postMcp,
  startRouterFixture,
  type RouterFixture,
} from "./router-harness.ts";

/** JSON-RPC batches: served for 2025-03-26 sessions only, refused (400, -32600) otherwise. */

const call = (id: number, name: string, args: Record<string, unknown> = {}, meta?: object) => ({
  jsonrpc: "2.0",
  id,
  method: "tools/call",
  params: { name, arguments: args, ...(meta === undefined ? {} : { _meta: meta }) },
});
const list = (id: number) => ({ jsonrpc: "2.0", id, method: "tools/list" });
const initialized = { jsonrpc: "2.0", method: "notifications/initialized" };

describe("JSON-RPC batches", () => {
  let fixture: RouterFixture;
  let endpoint: string;
  let session0326: string;
  beforeAll(async () => {
    fixture = await startRouterFixture();
    endpoint = `${fixture.router.url}/calc/mcp`;
    session0326 = await openSession(endpoint, ALICE, "2025-03-26");
  });
  afterAll(async () => {
    await fixture.close();
  });

  const headers0326 = (version: string | undefined = "2025-03-26") => ({
    [HEADER.mcpSessionId]: session0326,
    ...(version === undefined ? {} : { [HEADER.mcpProtocolVersion]: version }),
  });

  it.each([["2025-03-26"], [undefined]])(
    "answers the requests of a 2025-03-26 batch in one JSON array (header %s)",
    async (version) => {
      const response = await postMcp(
        endpoint,
        [list(1), call(2, "add", { a: 1, b: 2 }), initialized, call(3, "fail")],
        { headers: headers0326(version) },
      );
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toContain("application/json");
      const answers = (await response.json()) as Record<string, unknown>[];
      expect(answers.map((answer) => answer.id)).toEqual([1, 2, 3]);
      const tools = (answers[0]!.result as { tools: { name: string }[] }).tools;
      expect(tools.map((tool) => tool.name).sort()).toEqual(
        ["add", "big", "fail", "progress", "slow"].sort(),
      );
      expect(answers[1]).toEqual({
        jsonrpc: "2.0",
        id: 2,
        result: { content: [{ type: "text", text: "3" }] },
      });
      expect(answers[2]!.result).toMatchObject({ isError: true });
      // Each call is audited on its own, under the request's id.
      const rows = await fixture.auditRows({
        request_id: response.headers.get(HEADER.requestId)!,
      });
      expect(rows.map((row) => `${row.kind}:${row.tool ?? "-"}:${row.outcome}`).sort()).toEqual([
        "invocation:add:ok",
        "invocation:fail:tool_error",
        "list:-:ok",
      ]);
    },
  );

  it("answers a streaming call inside a batch as JSON (no SSE)", async () => {
    const response = await postMcp(endpoint, [call(4, "progress", {}, { progressToken: "p" })], {
      headers: headers0326(),
    });
    expect(response.headers.get("content-type")).toContain("application/json");
    expect(await response.json()).toEqual([
      { jsonrpc: "2.0", id: 4, result: { content: [{ type: "text", text: "finished" }] } },
    ]);
  });

  it("answers 202 to a batch of notifications and responses only", async () => {
    const response = await postMcp(
      endpoint,
      [initialized, { jsonrpc: "2.0", id: "server-1", result: {} }],
      { headers: headers0326() },
    );
    expect(response.status).toBe(202);
    expect(await response.text()).toBe("");
  });

  it("denies a batch whole when the verdict does not cover one of its calls", async () => {
    const bobSession = await openSession(endpoint, BOB, "2025-03-26");
    const callsBefore = fixture.backend.seen.filter((s) => s.method === "tools/call").length;
    const response = await postMcp(endpoint, [call(1, "add", { a: 1, b: 1 }), call(2, "fail")], {
      identity: BOB,
      headers: { [HEADER.mcpSessionId]: bobSession, [HEADER.mcpProtocolVersion]: "2025-03-26" },
    });
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({
      id: null,
      error: { data: { code: "GW_TOOL_FORBIDDEN" } },
    });
    expect(fixture.backend.seen.filter((s) => s.method === "tools/call")).toHaveLength(callsBefore);
    const rows = await fixture.auditRows({ request_id: response.headers.get(HEADER.requestId)! });
    expect(rows).toMatchObject([{ tool: "fail", outcome: "rejected", reason: "tool_forbidden" }]);
  });

  it("refuses a batch holding initialize", async () => {
    const response = await postMcp(
      endpoint,
      [{ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-03-26" } }],
      { headers: headers0326() },
    );
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({
      error: { code: -32600, data: { code: "GW_INVALID_REQUEST" } },
    });
  });

  it("refuses an over-long batch with a clear error", async () => {
    const response = await postMcp(
      endpoint,
      Array.from({ length: 33 }, (_, i) => list(i)),
      { headers: headers0326() },
    );
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({
      error: { code: -32600, message: "A JSON-RPC batch may hold at most 32 messages" },
    });
  });

  it("refuses batches for 2025-06-18 and later (400, -32600)", async () => {
    const session0618 = await openSession(endpoint, ALICE, "2025-06-18");
    const refusals: Record<string, string>[] = [
      // The header names a revision without batches.
      { [HEADER.mcpSessionId]: session0618, [HEADER.mcpProtocolVersion]: "2025-06-18" },
      { [HEADER.mcpSessionId]: session0326, [HEADER.mcpProtocolVersion]: "2025-11-25" },
      { [HEADER.mcpSessionId]: session0326, [HEADER.mcpProtocolVersion]: "2026-07-28" },
      // No header, but the session was negotiated at 2025-06-18.
      { [HEADER.mcpSessionId]: session0618 },
    ];
    for (const headers of refusals) {
      const response = await postMcp(endpoint, [list(1), list(2)], { headers });
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({
        id: null,
        error: { code: -32600, data: { code: "GW_BATCH_NOT_SUPPORTED" } },
      });
    }
  });
});
