import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HEADER } from "../../contract/src/headers.ts";
import {
  ALICE,
  BOB,
  openSession,
  postMcp,
  readMessages,
  sessionHeaders,
  startRouterFixture,
  verdictSigningFetch,
  type RouterFixture,
} from "./router-harness.ts";

let fixture: RouterFixture;
let endpoint: string;

beforeAll(async () => {
  fixture = await startRouterFixture();
  endpoint = `${fixture.router.url}/calc/mcp`;
});
afterAll(async () => {
  await fixture.close();
});

describe("2025 revisions through the SDK 1.x client", () => {
  it("initializes, lists the allowed tools and calls one", async () => {
    const client = new Client({ name: "sdk1", version: "1.0.0" });
    const transport = new StreamableHTTPClientTransport(new URL(`${fixture.router.url}/calc/sse`), {
      fetch: verdictSigningFetch(ALICE, "calc"),
    });
    await client.connect(transport);
    expect(client.getServerVersion()?.name).toBe("mcp-gateway");
    expect(transport.sessionId).toMatch(/^s1\./);
    const listed = await client.listTools();
    expect(listed.tools.map((tool) => tool.name).sort()).toEqual([
      "add",
      "big",
      "fail",
      "progress",
      "slow",
    ]);
    const result = await client.callTool({ name: "add", arguments: { a: 2, b: 3 } });
    expect(result.content).toEqual([{ type: "text", text: "5" }]);
    await client.ping();
    await transport.terminateSession();
    await client.close();
  });

  it("filters tools/list to the verdict's tools", async () => {
    const sessionId = await openSession(endpoint, BOB);
    const response = await postMcp(
      endpoint,
      { jsonrpc: "2.0", id: 1, method: "tools/list" },
      { identity: BOB, headers: sessionHeaders(sessionId) },
    );
    const [message] = await readMessages(response);
    expect((message!.result as { tools: { name: string }[] }).tools.map((t) => t.name)).toEqual([
      "add",
    ]);
  });

  it("negotiates the version: echoes a supported one, offers the latest otherwise", async () => {
    for (const [asked, answered, hasTasks] of [
      ["2024-11-05", "2024-11-05", false],
      ["2025-03-26", "2025-03-26", false],
      ["2025-06-18", "2025-06-18", false],
      ["2025-11-25", "2025-11-25", true],
      ["1999-01-01", "2025-11-25", true],
    ] as const) {
      const response = await postMcp(endpoint, {
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: {
          protocolVersion: asked,
          capabilities: {},
          clientInfo: { name: "t", version: "1" },
        },
      });
      const [message] = await readMessages(response);
      const result = message!.result as {
        protocolVersion: string;
        capabilities: Record<string, unknown>;
      };
      expect(result.protocolVersion).toBe(answered);
      // Tasks exist from 2025-11-25 on; an older revision is not offered them.
      expect(Object.hasOwn(result.capabilities, "tasks")).toBe(hasTasks);
    }
  });

  it("requires a session after initialize (400) and refuses unknown ones (404)", async () => {
    const missing = await postMcp(endpoint, { jsonrpc: "2.0", id: 1, method: "tools/list" });
    expect(missing.status).toBe(400);
    const forged = await postMcp(
      endpoint,
      { jsonrpc: "2.0", id: 1, method: "tools/list" },
      { headers: sessionHeaders("s1.eyJ4IjoxfQ.bad") },
    );
    expect(forged.status).toBe(404);
  });

  it("refuses a session used by another user or on another scope", async () => {
    const sessionId = await openSession(endpoint, ALICE);
    const byBob = await postMcp(
      endpoint,
      { jsonrpc: "2.0", id: 1, method: "tools/list" },
      { identity: BOB, headers: sessionHeaders(sessionId) },
    );
    expect(byBob.status).toBe(404);
    const otherScope = await postMcp(
      `${fixture.router.url}/other/mcp`,
      { jsonrpc: "2.0", id: 1, method: "tools/list" },
      { identity: { ...ALICE, tools: ["add"] }, headers: sessionHeaders(sessionId) },
    );
    expect(otherScope.status).toBe(404);
  });

  it("ends a session with DELETE: later use is 404", async () => {
    const sessionId = await openSession(endpoint, ALICE);
    const del = await fetch(endpoint, {
      method: "DELETE",
      headers: {
        ...sessionHeaders(sessionId),
        [HEADER.verdict]: (await import("./router-harness.ts")).verdictFor(ALICE, "calc", ""),
      },
    });
    expect(del.status).toBe(204);
    const after = await postMcp(
      endpoint,
      { jsonrpc: "2.0", id: 1, method: "ping" },
      { headers: sessionHeaders(sessionId) },
    );
    expect(after.status).toBe(404);
  });

  it("answers notifications and posted responses with 202 and no body", async () => {
    const sessionId = await openSession(endpoint);
    const notification = await postMcp(
      endpoint,
      { jsonrpc: "2.0", method: "notifications/initialized" },
      { headers: sessionHeaders(sessionId) },
    );
    expect(notification.status).toBe(202);
    expect(await notification.text()).toBe("");
    const response = await postMcp(
      endpoint,
      { jsonrpc: "2.0", id: 9, result: {} },
      { headers: sessionHeaders(sessionId) },
    );
    expect(response.status).toBe(202);
  });

  it("rejects an unsupported MCP-Protocol-Version header with 400", async () => {
    const sessionId = await openSession(endpoint);
    const response = await postMcp(
      endpoint,
      { jsonrpc: "2.0", id: 1, method: "ping" },
      { headers: { ...sessionHeaders(sessionId), [HEADER.mcpProtocolVersion]: "2024-01-01" } },
    );
    expect(response.status).toBe(400);
    const [message] = await readMessages(response);
    expect((message!.error as { code: number }).code).toBe(-32022);
  });

  it("answers an unknown method with -32601", async () => {
    const sessionId = await openSession(endpoint);
    const response = await postMcp(
      endpoint,
      { jsonrpc: "2.0", id: 4, method: "resources/list" },
      { headers: sessionHeaders(sessionId) },
    );
    const [message] = await readMessages(response);
    expect(message).toMatchObject({ id: 4, error: { code: -32601 } });
  });

  it("answers GET with 405 (no server stream offered)", async () => {
    const response = await fetch(endpoint, {
      headers: {
        accept: "text/event-stream",
        [HEADER.verdict]: (await import("./router-harness.ts")).verdictFor(ALICE, "calc", ""),
      },
    });
    expect(response.status).toBe(405);
  });
});
