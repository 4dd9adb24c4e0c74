import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HEADER } from "../../contract/src/headers.ts";
import { META_KEY } from "../../contract/src/mcp-wire.ts";
const PROTOCOL_VERSION_META_KEY = META_KEY.protocolVersion;
import {
  ALICE,
  BOB,
  postMcp,
  readMessages,
  startRouterFixture,
  verdictFor,
  verdictSigningFetch,
  type RouterFixture,
} from "./router-harness.ts";

const MODERN = "2026-07-28";
let fixture: RouterFixture;
let endpoint: string;

beforeAll(async () => {
  fixture = await startRouterFixture();
  endpoint = `${fixture.router.url}/calc/mcp`;
});
afterAll(async () => {
  await fixture.close();
});

function modernRequest(
  method: string,
  params: Record<string, unknown> = {},
  id: number | string = 1,
) {
  return {
    jsonrpc: "2.0",
    id,
    method,
    params: {
      ...params,
      _meta: {
        [PROTOCOL_VERSION_META_KEY]: MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" },
      },
    },
  };
}

function modernHeaders(method: string, name?: string): Record<string, string> {
  return {
    [HEADER.mcpProtocolVersion]: MODERN,
    [HEADER.mcpMethod]: method,
    ...(name === undefined ? {} : { [HEADER.mcpName]: name }),
  };
}

describe("2026-07-28 through the SDK 2.x client", () => {
  it("discovers, lists and calls with the version pinned", async () => {
    const client = new Client(
      { name: "sdk2", version: "2.0.0" },
      { versionNegotiation: { mode: { pin: MODERN } } },
    );
    const transport = new StreamableHTTPClientTransport(new URL(endpoint), {
      fetch: verdictSigningFetch(BOB, "calc"),
    });
    await client.connect(transport);
    const listed = await client.listTools();
    expect(listed.tools.map((tool) => tool.name)).toEqual(["add"]);
    const result = await client.callTool({ name: "add", arguments: { a: 40, b: 2 } });
    expect(result.content).toEqual([{ type: "text", text: "42" }]);
    await client.close();
  });
});

describe("2026-07-28 on the wire", () => {
  it("marks results complete and filtered lists private with a ttl", async () => {
    const response = await postMcp(endpoint, modernRequest("tools/list"), {
      headers: modernHeaders("tools/list"),
    });
    expect(response.status).toBe(200);
    const [message] = await readMessages(response);
    expect(message!.result).toMatchObject({
      resultType: "complete",
      cacheScope: "private",
      ttlMs: expect.any(Number),
    });
  });

  it("serves server/discover with the supported versions", async () => {
    const response = await postMcp(endpoint, modernRequest("server/discover"), {
      headers: modernHeaders("server/discover"),
    });
    const [message] = await readMessages(response);
    expect((message!.result as { supportedVersions: string[] }).supportedVersions).toContain(
      MODERN,
    );
  });

  it.each([
    ["missing MCP-Protocol-Version", { [HEADER.mcpMethod]: "tools/list" }],
    [
      "MCP-Protocol-Version differs from _meta",
      { ...modernHeaders("tools/list"), [HEADER.mcpProtocolVersion]: "2025-11-25" },
    ],
    ["missing Mcp-Method", { [HEADER.mcpProtocolVersion]: MODERN }],
    ["Mcp-Method differs from the body", modernHeaders("tools/call")],
  ])("refuses %s with 400 / -32020", async (_name, headers) => {
    const response = await postMcp(endpoint, modernRequest("tools/list"), { headers });
    expect(response.status).toBe(400);
    const [message] = await readMessages(response);
    expect((message!.error as { code: number }).code).toBe(-32020);
  });

  it("refuses an Mcp-Name that names another tool than the body (authorization is on the body)", async () => {
    const request = modernRequest("tools/call", { name: "add", arguments: { a: 1, b: 1 } });
    const mismatch = await postMcp(endpoint, request, {
      headers: modernHeaders("tools/call", "slow"),
    });
    expect(mismatch.status).toBe(400);
    const missing = await postMcp(endpoint, request, { headers: modernHeaders("tools/call") });
    expect(missing.status).toBe(400);
    const encoded = await postMcp(endpoint, request, {
      headers: modernHeaders("tools/call", `=?base64?${Buffer.from("add").toString("base64")}?=`),
    });
    expect(encoded.status).toBe(200);
  });

  it("answers an unsupported _meta version with 400 / -32022 and the supported list", async () => {
    const request = modernRequest("tools/list");
    (request.params._meta as Record<string, unknown>)[PROTOCOL_VERSION_META_KEY] = "2030-01-01";
    const response = await postMcp(endpoint, request, {
      headers: { ...modernHeaders("tools/list"), [HEADER.mcpProtocolVersion]: "2030-01-01" },
    });
    expect(response.status).toBe(400);
    const [message] = await readMessages(response);
    expect(message!.error).toMatchObject({
      code: -32022,
      data: { supported: expect.arrayContaining([MODERN]) },
    });
  });

  it("answers an unknown method (ping included) with HTTP 404 / -32601", async () => {
    const response = await postMcp(endpoint, modernRequest("ping"), {
      headers: modernHeaders("ping"),
    });
    expect(response.status).toBe(404);
    const [message] = await readMessages(response);
    expect((message!.error as { code: number }).code).toBe(-32601);
  });

  it("refuses a request whose header says 2026 but whose body has no _meta version", async () => {
    const response = await postMcp(
      endpoint,
      { jsonrpc: "2.0", id: 1, method: "tools/list" },
      { headers: modernHeaders("tools/list") },
    );
    expect(response.status).toBe(400);
  });

  it("answers GET and DELETE with 405", async () => {
    for (const method of ["GET", "DELETE"]) {
      const response = await fetch(endpoint, {
        method,
        headers: {
          ...modernHeaders("tools/list"),
          accept: "text/event-stream",
          [HEADER.verdict]: verdictFor(ALICE, "calc", ""),
        },
      });
      expect(response.status).toBe(405);
    }
  });

  it("ignores Mcp-Session-Id", async () => {
    const response = await postMcp(endpoint, modernRequest("tools/list"), {
      headers: { ...modernHeaders("tools/list"), [HEADER.mcpSessionId]: "whatever" },
    });
    expect(response.status).toBe(200);
  });
});
