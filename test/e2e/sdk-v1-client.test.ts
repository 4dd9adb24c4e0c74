import { once } from "node:events";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HEADER } from "../../contract/src/headers.ts";
import {
  ALICE,
  BOB,
  CAROL,
  LEGACY_VERSION,
  MAX_REQUEST_BYTES,
  SLOW_TIMEOUT_MS,
  STREAMABLE_ACCEPT,
  TINY_QUOTA,
  connectLegacy,
  legacyClient,
  readMessages,
  startE2eStack,
  type E2eStack,
  type User,
} from "./stack-fixture.ts";

/**
 * Whole stack through the official 1.x SDK client (2025-11-25, sessions): each case checks what
 * the client sees and the audit rows the gateway wrote for that request id.
 */

let e2e: E2eStack;
const open: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  e2e = await startE2eStack();
});
afterAll(async () => {
  for (const connection of open) await connection.close().catch(() => undefined);
  await e2e?.close();
});

async function connect(scope: string, user: User) {
  const connection = await connectLegacy(e2e.endpoint(scope), await e2e.token(user));
  open.push(connection);
  return connection;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected the call to fail");
}

describe("tools/list is filtered per role", () => {
  it("gives the developer every git tool and the auditor only those without file contents", async () => {
    const alice = await connect("git", ALICE);
    const carol = await connect("git", CAROL);
    const aliceTools = (await alice.client.listTools()).tools.map((tool) => tool.name);
    const carolTools = (await carol.client.listTools()).tools.map((tool) => tool.name);

    expect(aliceTools).toContain("git_read_file");
    expect(aliceTools).toHaveLength(e2e.stack.config.tools.scopes.git!.tools.length);
    expect(carolTools.sort()).toEqual([
      "git_diff",
      "git_list_files",
      "git_list_repositories",
      "git_log",
      "git_show_commit",
    ]);

    for (const [connection, user] of [
      [alice, ALICE],
      [carol, CAROL],
    ] as const) {
      const rows = await e2e.auditRows(connection.lastRequestId("tools/list"));
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({
        source: "router",
        kind: "list",
        subject: user.user,
        tenant: user.tenant,
        roles: user.roles,
        scope: "git",
        method: "tools/list",
        outcome: "ok",
        status: 200,
      });
    }
  });

  it("refuses a role that has nothing in the scope at initialize (403, audited by ext-authz)", async () => {
    const bob = legacyClient(e2e.endpoint("git"), await e2e.token(BOB));
    const error = await rejection(bob.connect());
    expect(error).toBeInstanceOf(StreamableHTTPError);
    expect((error as StreamableHTTPError).code).toBe(403);
    const requestId = bob.lastRequestId("initialize");
    const rows = await e2e.auditRows(requestId);
    expect(rows).toMatchObject([
      {
        source: "ext-authz",
        kind: "decision",
        subject: "bob",
        scope: "git",
        method: "initialize",
        outcome: "denied",
        reason: "insufficient_scope",
        status: 403,
      },
    ]);
  });
});

describe("tools/call", () => {
  it("runs an allowed call on the calculator exactly (0.1 + 0.2 = 0.3) and audits it", async () => {
    const alice = await connect("calculator", ALICE);
    const result = await alice.client.callTool({
      name: "exact_calculate",
      arguments: { operator: "add", operands: ["0.1", "0.2"] },
    });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ result: "0.3", operator: "add" });

    const rows = await e2e.auditRows(alice.lastRequestId("tools/call"));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      source: "router",
      kind: "invocation",
      subject: "alice",
      tenant: "acme",
      scope: "calculator",
      method: "tools/call",
      tool: "exact_calculate",
      outcome: "ok",
      reason: null,
      status: 200,
    });
    expect(rows[0]!.arguments_digest).toMatch(/^[0-9a-f]{64}$/);
    expect(rows[0]!.latency_ms).toEqual(expect.any(Number));
  });

  it("refuses a tool the role does not grant (403 from ext-authz) without reaching the router's invoke", async () => {
    const carol = await connect("git", CAROL);
    const error = await rejection(
      carol.client.callTool({
        name: "git_read_file",
        arguments: { repository: "gateway", path: "README.md" },
      }),
    );
    expect(error).toBeInstanceOf(StreamableHTTPError);
    expect((error as StreamableHTTPError).code).toBe(403);
    expect((error as Error).message).toContain("Tool not permitted");

    const rows = await e2e.auditRows(carol.lastRequestId("tools/call"));
    expect(rows).toMatchObject([
      {
        source: "ext-authz",
        kind: "decision",
        subject: "carol",
        scope: "git",
        method: "tools/call",
        tool: "git_read_file",
        outcome: "denied",
        reason: "tool_not_allowed",
        status: 403,
      },
    ]);
  });

  it("rate-limits a user on one tool: the quota passes, the next call is 429 with Retry-After", async () => {
    const dave: User = { user: "dave", roles: ["analyst"], tenant: "acme" };
    const connection = await connect("calculator", dave);
    for (let i = 0; i < TINY_QUOTA; i += 1) {
      const ok = await connection.client.callTool({ name: "list_units", arguments: {} });
      expect(ok.isError).toBeFalsy();
    }
    const allowedId = connection.lastRequestId("tools/call");
    const error = await rejection(
      connection.client.callTool({ name: "list_units", arguments: {} }),
    );
    expect(error).toBeInstanceOf(StreamableHTTPError);
    expect((error as StreamableHTTPError).code).toBe(429);
    expect((error as Error).message).toContain("-32029");
    const refused = connection.exchanges.at(-1)!;
    expect(refused.status).toBe(429);
    expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);

    expect(await e2e.auditRows(allowedId)).toMatchObject([
      { source: "router", subject: "dave", tool: "list_units", outcome: "ok" },
    ]);
    expect(await e2e.auditRows(refused.requestId!)).toMatchObject([
      {
        source: "ext-authz",
        subject: "dave",
        scope: "calculator",
        tool: "list_units",
        outcome: "denied",
        reason: "rate_limited_user_tool",
        status: 429,
      },
    ]);
    // Another tool of the same user is not affected by that tool's quota.
    const other = await connection.client.callTool({
      name: "exact_calculate",
      arguments: { operator: "add", operands: ["1", "2"] },
    });
    expect(other.structuredContent).toMatchObject({ result: "3" });
  });

  it("times out a slow backend, aborts the upstream call, answers -32008 and audits a timeout", async () => {
    const alice = await connect("slow", ALICE);
    const aborted = once(e2e.slowEvents, "aborted");
    const started = performance.now();
    const error = await rejection(alice.client.callTool({ name: "wait", arguments: {} }));
    const elapsed = performance.now() - started;
    expect(error).toBeInstanceOf(McpError);
    expect((error as McpError).code).toBe(-32008);
    expect((error as McpError).message).toContain(`timed out after ${SLOW_TIMEOUT_MS} ms`);
    expect(elapsed).toBeGreaterThanOrEqual(SLOW_TIMEOUT_MS - 50);
    expect(elapsed).toBeLessThan(SLOW_TIMEOUT_MS + 5_000);
    // The backend must see the abort (the router cancels the upstream request).
    await Promise.race([
      aborted,
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error("backend never saw the abort")), 5_000).unref(),
      ),
    ]);
    // In-process: the embedded router reached its tool server without HTTP, abort included.
    expect(e2e.slowHttpRequests()).toBe(0);

    const rows = await e2e.auditRows(alice.lastRequestId("tools/call"));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      source: "router",
      subject: "alice",
      scope: "slow",
      tool: "wait",
      outcome: "timeout",
      reason: "timeout",
    });
    expect(rows[0]!.latency_ms!).toBeGreaterThanOrEqual(SLOW_TIMEOUT_MS - 50);
  });

  it("answers -32009 when the backend is down, for tools/call and tools/list, and audits both", async () => {
    const alice = await connect("down", ALICE);
    const callError = await rejection(alice.client.callTool({ name: "anything", arguments: {} }));
    expect(callError).toBeInstanceOf(McpError);
    expect((callError as McpError).code).toBe(-32009);
    expect((callError as McpError).message).toContain("Tool backend is unavailable");
    // Internal error text (ECONNREFUSED, addresses) never reaches the client.
    expect((callError as McpError).message).not.toMatch(/ECONNREFUSED|127\.0\.0\.1/);
    expect(await e2e.auditRows(alice.lastRequestId("tools/call"))).toMatchObject([
      {
        source: "router",
        kind: "invocation",
        subject: "alice",
        scope: "down",
        tool: "anything",
        outcome: "upstream_error",
        reason: "upstream_error",
      },
    ]);

    const listError = await rejection(alice.client.listTools());
    expect((listError as McpError).code).toBe(-32009);
    expect(await e2e.auditRows(alice.lastRequestId("tools/list"))).toMatchObject([
      {
        source: "router",
        kind: "list",
        subject: "alice",
        scope: "down",
        outcome: "upstream_error",
      },
    ]);
  });

  it("refuses an oversized request with 413 before anything runs", async () => {
    const alice = await connect("calculator", ALICE);
    const before = await e2e.auditCount();
    const error = await rejection(
      alice.client.callTool({
        name: "exact_calculate",
        arguments: { operator: "add", operands: ["1", "9".repeat(MAX_REQUEST_BYTES)] },
      }),
    );
    expect(error).toBeInstanceOf(StreamableHTTPError);
    expect((error as StreamableHTTPError).code).toBe(413);
    expect((error as Error).message).toContain("Request body too large");
    // Nothing was invoked: no invocation row, and the session keeps working.
    expect(await e2e.auditCount()).toBe(before);
    const after = await alice.client.callTool({
      name: "exact_calculate",
      arguments: { operator: "multiply", operands: ["1.5", "4"] },
    });
    expect(after.structuredContent).toMatchObject({ result: "6" });
  });
});

describe("sessions", () => {
  async function postWithSession(
    scope: string,
    user: User,
    sessionId: string,
    message: Record<string, unknown>,
  ): Promise<Response> {
    return fetch(e2e.endpoint(scope), {
      method: "POST",
      headers: {
        authorization: `Bearer ${await e2e.token(user)}`,
        "content-type": "application/json",
        accept: STREAMABLE_ACCEPT,
        [HEADER.mcpSessionId]: sessionId,
        [HEADER.mcpProtocolVersion]: LEGACY_VERSION,
      },
      body: JSON.stringify(message),
    });
  }

  it("refuses another user's session id with 404 and invokes nothing", async () => {
    const alice = await connect("calculator", ALICE);
    const sessionId = alice.transport.sessionId;
    expect(sessionId).toEqual(expect.any(String));

    const hijack = await postWithSession("calculator", BOB, sessionId!, {
      jsonrpc: "2.0",
      id: 7,
      method: "tools/call",
      params: { name: "exact_calculate", arguments: { operator: "add", operands: ["1", "1"] } },
    });
    expect(hijack.status).toBe(404);
    const [message] = await readMessages(hijack);
    expect(message).toMatchObject({ id: 7, error: { data: { code: "GW_SESSION_NOT_FOUND" } } });
    const requestId = hijack.headers.get(HEADER.requestId);
    expect(requestId).toEqual(expect.any(String));
    // ext-authz allowed bob on the calculator; the router refused the session: no invocation.
    const rows = await e2e.auditRows(requestId!);
    expect(rows.filter((row) => row.kind === "invocation")).toEqual([]);

    // The owner's session is unaffected.
    const own = await alice.client.callTool({
      name: "exact_calculate",
      arguments: { operator: "add", operands: ["1", "1"] },
    });
    expect(own.structuredContent).toMatchObject({ result: "2" });
  });

  it("refuses a session on another scope than the one it was opened on", async () => {
    const alice = await connect("calculator", ALICE);
    const response = await postWithSession("git", ALICE, alice.transport.sessionId!, {
      jsonrpc: "2.0",
      id: 8,
      method: "tools/list",
    });
    expect(response.status).toBe(404);
    const [message] = await readMessages(response);
    expect(message).toMatchObject({ error: { data: { code: "GW_SESSION_NOT_FOUND" } } });
  });

  it("ends a session with DELETE; reusing it afterwards is 404", async () => {
    const alice = await connect("calculator", ALICE);
    const sessionId = alice.transport.sessionId!;
    await alice.transport.terminateSession();
    const deleted = alice.exchanges.find((exchange) => exchange.httpMethod === "DELETE");
    expect(deleted?.status).toBe(204);

    const reused = await postWithSession("calculator", ALICE, sessionId, {
      jsonrpc: "2.0",
      id: 9,
      method: "tools/call",
      params: { name: "exact_calculate", arguments: { operator: "add", operands: ["2", "2"] } },
    });
    expect(reused.status).toBe(404);
    const [message] = await readMessages(reused);
    expect(message).toMatchObject({ error: { data: { code: "GW_SESSION_NOT_FOUND" } } });
    const rows = await e2e.auditRows(reused.headers.get(HEADER.requestId)!);
    expect(rows.filter((row) => row.kind === "invocation")).toEqual([]);
  });
});

describe("one happy path per tool server", () => {
  it("git: git_list_repositories lists the served repository", async () => {
    const carol = await connect("git", CAROL);
    const result = await carol.client.callTool({ name: "git_list_repositories", arguments: {} });
    expect(result.isError).toBeFalsy();
    const repositories = (result.structuredContent as { repositories: { name: string }[] })
      .repositories;
    expect(repositories.map((repo) => repo.name)).toContain("gateway");
    expect(await e2e.auditRows(carol.lastRequestId("tools/call"))).toMatchObject([
      { source: "router", subject: "carol", tool: "git_list_repositories", outcome: "ok" },
    ]);
  });

  it("docs: generate_document renders HTML as an embedded resource", async () => {
    const bob = await connect("docs", BOB);
    const result = await bob.client.callTool({
      name: "generate_document",
      arguments: { format: "html", title: "E2E report", content: "# Findings\n\nAll *good*." },
    });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({
      format: "html",
      mimeType: expect.stringContaining("text/html"),
    });
    const content = result.content as { type: string; resource?: { blob?: string } }[];
    const resource = content.find((block) => block.type === "resource");
    const html = Buffer.from(resource!.resource!.blob!, "base64").toString("utf8");
    expect(html).toContain("E2E report");
    expect(html).toContain("<em>good</em>");
    expect(await e2e.auditRows(bob.lastRequestId("tools/call"))).toMatchObject([
      { source: "router", subject: "bob", tool: "generate_document", outcome: "ok" },
    ]);
  });
});
