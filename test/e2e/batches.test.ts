import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HEADER } from "../../contract/src/headers.ts";
import {
  ALICE,
  CAROL,
  LEGACY_VERSION,
  STREAMABLE_ACCEPT,
  startE2eStack,
  TINY_QUOTA,
  type E2eStack,
  type User,
} from "./stack-fixture.ts";

/**
 * JSON-RPC batches through the whole gateway (ext-authz + router in direct mode), raw HTTP: only
 * a 2025-03-26 session may send them; ext-authz authorizes and charges every call in the batch.
 */

const BATCH_VERSION = "2025-03-26";

let e2e: E2eStack;
beforeAll(async () => {
  e2e = await startE2eStack();
});
afterAll(async () => {
  await e2e?.close();
});

const call = (id: number, name: string, args: Record<string, unknown> = {}) => ({
  jsonrpc: "2.0",
  id,
  method: "tools/call",
  params: { name, arguments: args },
});

async function post(
  scope: string,
  token: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(e2e.endpoint(scope), {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: STREAMABLE_ACCEPT,
      authorization: `Bearer ${token}`,
      ...headers,
    },
    body: JSON.stringify(body),
  });
}

/** initialize at `version`; returns the headers every later request of the session carries. */
async function openSession(
  scope: string,
  user: User,
  version: string,
): Promise<{ token: string; headers: Record<string, string> }> {
  const token = await e2e.token(user);
  const response = await post(scope, token, {
    jsonrpc: "2.0",
    id: 0,
    method: "initialize",
    params: {
      protocolVersion: version,
      capabilities: {},
      clientInfo: { name: "e2e-batch", version: "1.0.0" },
    },
  });
  expect(response.status).toBe(200);
  expect(((await response.json()) as { result: { protocolVersion: string } }).result).toMatchObject(
    { protocolVersion: version },
  );
  const sessionId = response.headers.get(HEADER.mcpSessionId)!;
  return {
    token,
    headers: { [HEADER.mcpSessionId]: sessionId, [HEADER.mcpProtocolVersion]: version },
  };
}

describe("JSON-RPC batches through the gateway", () => {
  it("serves a 2025-03-26 batch: tools/list, tools/call and a notification", async () => {
    const session = await openSession("calculator", ALICE, BATCH_VERSION);
    const response = await post(
      "calculator",
      session.token,
      [
        { jsonrpc: "2.0", id: 1, method: "tools/list" },
        call(2, "exact_calculate", { operator: "add", operands: ["1", "2"] }),
        { jsonrpc: "2.0", method: "notifications/initialized" },
      ],
      session.headers,
    );
    expect(response.status).toBe(200);
    const answers = (await response.json()) as Record<string, unknown>[];
    expect(answers.map((answer) => answer.id)).toEqual([1, 2]);
    const tools = (answers[0]!.result as { tools: { name: string }[] }).tools;
    expect(tools.map((tool) => tool.name)).toContain("exact_calculate");
    expect(answers[1]!.result).toMatchObject({ structuredContent: { result: "3" } });

    const rows = await e2e.auditRows(response.headers.get(HEADER.requestId)!);
    expect(
      rows
        .filter((row) => row.source === "router")
        .map((row) => `${row.kind}:${row.tool ?? "-"}:${row.outcome}`)
        .sort(),
    ).toEqual(["invocation:exact_calculate:ok", "list:-:ok"]);
  });

  it("denies a batch whole when one call is not allowed; nothing runs", async () => {
    const session = await openSession("git", CAROL, BATCH_VERSION);
    const before = await e2e.auditCount();
    const response = await post(
      "git",
      session.token,
      [call(1, "git_list_repositories"), call(2, "git_read_file", { repo: "x", path: "y" })],
      session.headers,
    );
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({
      id: null,
      error: { data: { code: "GW_TOOL_FORBIDDEN" } },
    });
    const rows = await e2e.auditRows(response.headers.get(HEADER.requestId)!);
    expect(rows).toMatchObject([
      { source: "ext-authz", outcome: "denied", reason: "tool_not_allowed", tool: "git_read_file" },
    ]);
    expect(await e2e.auditCount()).toBe(before + 1);
  });

  it("charges each call: a batch over the per-user tool quota is refused and refunded", async () => {
    const erin: User = { user: "erin", roles: ["analyst"], tenant: "acme" };
    const session = await openSession("calculator", erin, BATCH_VERSION);
    const overQuota = Array.from({ length: TINY_QUOTA + 1 }, (_, i) => call(i + 1, "list_units"));
    const refused = await post("calculator", session.token, overQuota, session.headers);
    expect(refused.status).toBe(429);
    // The refused batch gave back the points its first calls took: a call still fits.
    const single = await post("calculator", session.token, call(9, "list_units"), session.headers);
    expect(single.status).toBe(200);
    expect(((await single.json()) as { result?: unknown }).result).toBeDefined();
  });

  it("refuses batches on later revisions with 400 / -32600", async () => {
    const session = await openSession("calculator", ALICE, LEGACY_VERSION);
    const response = await post(
      "calculator",
      session.token,
      [
        { jsonrpc: "2.0", id: 1, method: "tools/list" },
        { jsonrpc: "2.0", id: 2, method: "ping" },
      ],
      session.headers,
    );
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({
      id: null,
      error: { code: -32600, data: { code: "GW_BATCH_NOT_SUPPORTED" } },
    });
  });
});
