import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HEADER } from "../../contract/src/headers.ts";
import {
  ALICE,
  BOB,
  CAROL,
  MODERN_VERSION,
  modernHeaders,
  modernRequest,
  readMessages,
  recordingFetch,
  startE2eStack,
  type E2eStack,
  type Exchange,
  type User,
} from "./stack-fixture.ts";

/**
 * The stateless 2026-07-28 revision through the official 2.x client pinned to it, its wire shape,
 * and the REST invoke endpoint kept for scripts.
 */

let e2e: E2eStack;
const clients: Client[] = [];

beforeAll(async () => {
  e2e = await startE2eStack();
});
afterAll(async () => {
  for (const client of clients) await client.close().catch(() => undefined);
  await e2e?.close();
});

async function connectModern(scope: string, user: User) {
  const exchanges: Exchange[] = [];
  const client = new Client(
    { name: "e2e-sdk-v2", version: "2.0.0" },
    { versionNegotiation: { mode: { pin: MODERN_VERSION } } },
  );
  const transport = new StreamableHTTPClientTransport(new URL(e2e.endpoint(scope)), {
    requestInit: { headers: { Authorization: `Bearer ${await e2e.token(user)}` } },
    fetch: recordingFetch(exchanges),
  });
  await client.connect(transport);
  clients.push(client);
  const lastOf = (rpcMethod: string) => {
    const found = exchanges.filter((exchange) => exchange.rpcMethod === rpcMethod).at(-1);
    if (found === undefined) throw new Error(`no exchange for ${rpcMethod}`);
    return found;
  };
  return { client, exchanges, lastOf };
}

async function postModern(
  scope: string,
  user: User | null,
  message: Record<string, unknown>,
  headers: Record<string, string>,
): Promise<Response> {
  return fetch(e2e.endpoint(scope), {
    method: "POST",
    headers: {
      ...headers,
      ...(user === null ? {} : { authorization: `Bearer ${await e2e.token(user)}` }),
    },
    body: JSON.stringify(message),
  });
}

describe("2026-07-28 through @modelcontextprotocol/client 2.x", () => {
  it("discovers instead of initializing, lists and calls statelessly, and is audited", async () => {
    const bob = await connectModern("calculator", BOB);
    expect(bob.client.getNegotiatedProtocolVersion()).toBe(MODERN_VERSION);
    expect(bob.client.getDiscoverResult()?.supportedVersions).toContain(MODERN_VERSION);

    const listed = await bob.client.listTools();
    expect(listed.tools.map((tool) => tool.name).sort()).toEqual(
      e2e.stack.config.tools.scopes.calculator!.tools.map((tool) => tool.name).sort(),
    );
    const result = await bob.client.callTool({
      name: "exact_calculate",
      arguments: { operator: "add", operands: ["0.1", "0.2"] },
    });
    expect(result.structuredContent).toMatchObject({ result: "0.3" });

    // Stateless: no initialize, no session id handed out.
    expect(bob.exchanges.map((exchange) => exchange.rpcMethod)).not.toContain("initialize");
    expect(bob.exchanges.every((exchange) => exchange.sessionId === null)).toBe(true);

    expect(await e2e.auditRows(bob.lastOf("tools/list").requestId!)).toMatchObject([
      { source: "router", kind: "list", subject: "bob", scope: "calculator", outcome: "ok" },
    ]);
    expect(await e2e.auditRows(bob.lastOf("tools/call").requestId!)).toMatchObject([
      {
        source: "router",
        kind: "invocation",
        subject: "bob",
        tool: "exact_calculate",
        outcome: "ok",
        status: 200,
      },
    ]);
  });

  it("filters tools/list per role and refuses a tool the role lacks", async () => {
    const alice = await connectModern("git", ALICE);
    const carol = await connectModern("git", CAROL);
    expect((await alice.client.listTools()).tools.map((tool) => tool.name)).toContain(
      "git_read_file",
    );
    const carolTools = (await carol.client.listTools()).tools.map((tool) => tool.name);
    expect(carolTools).not.toContain("git_read_file");
    expect(carolTools).toContain("git_log");

    await expect(
      carol.client.callTool({
        name: "git_read_file",
        arguments: { repository: "gateway", path: "README.md" },
      }),
    ).rejects.toThrow();
    const refused = carol.lastOf("tools/call");
    expect(refused.status).toBe(403);
    expect(await e2e.auditRows(refused.requestId!)).toMatchObject([
      {
        source: "ext-authz",
        subject: "carol",
        tool: "git_read_file",
        outcome: "denied",
        reason: "tool_not_allowed",
      },
    ]);
  });
});

describe("2026-07-28 on the wire", () => {
  it("marks results complete and the filtered list private with a ttl", async () => {
    const list = await postModern(
      "git",
      CAROL,
      modernRequest("tools/list"),
      modernHeaders("tools/list"),
    );
    expect(list.status).toBe(200);
    const [message] = await readMessages(list);
    const result = message!.result as Record<string, unknown>;
    expect(result).toMatchObject({ resultType: "complete", cacheScope: "private" });
    expect(result.ttlMs).toEqual(expect.any(Number));
    expect((result.tools as { name: string }[]).map((tool) => tool.name)).not.toContain(
      "git_read_file",
    );

    const discover = await postModern(
      "git",
      CAROL,
      modernRequest("server/discover"),
      modernHeaders("server/discover"),
    );
    const [discovered] = await readMessages(discover);
    expect(discovered!.result).toMatchObject({
      resultType: "complete",
      supportedVersions: expect.arrayContaining([MODERN_VERSION]),
    });
  });

  it("refuses an Mcp-Name header that names an allowed tool while the body calls a denied one", async () => {
    const response = await postModern(
      "git",
      CAROL,
      modernRequest("tools/call", {
        name: "git_read_file",
        arguments: { repository: "gateway", path: "README.md" },
      }),
      modernHeaders("tools/call", "git_log"),
    );
    expect(response.status).toBe(400);
    const [message] = await readMessages(response);
    expect((message!.error as { code: number }).code).toBe(-32020);
    const rows = await e2e.auditRows(response.headers.get(HEADER.requestId)!);
    expect(rows.filter((row) => row.kind === "invocation")).toEqual([]);
    expect(rows).toMatchObject([
      { source: "ext-authz", subject: "carol", outcome: "denied", reason: "header_mismatch" },
    ]);
  });

  it("answers GET and DELETE with 405 on the stateless revision", async () => {
    for (const method of ["GET", "DELETE"]) {
      const response = await fetch(e2e.endpoint("calculator"), {
        method,
        headers: {
          authorization: `Bearer ${await e2e.token(BOB)}`,
          accept: "text/event-stream",
          [HEADER.mcpProtocolVersion]: MODERN_VERSION,
        },
      });
      expect(response.status).toBe(405);
      expect(response.headers.get("allow")).toBe("POST");
    }
  });
});

describe("REST POST /mcp/invoke", () => {
  async function invoke(user: User | null, body: Record<string, unknown>): Promise<Response> {
    return fetch(`${e2e.stack.url}/mcp/invoke`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(user === null ? {} : { authorization: `Bearer ${await e2e.token(user)}` }),
      },
      body: JSON.stringify(body),
    });
  }

  it("invokes an allowed tool and audits it like an MCP call", async () => {
    const response = await invoke(BOB, {
      tool_name: "calculator.exact_calculate",
      arguments: { operator: "add", operands: ["0.1", "0.2"] },
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      tool_name: "calculator.exact_calculate",
      is_error: false,
      result: { structuredContent: { result: "0.3" } },
    });
    expect(body.request_id).toBe(response.headers.get(HEADER.requestId));
    expect(await e2e.auditRows(body.request_id as string)).toMatchObject([
      {
        source: "router",
        kind: "invocation",
        subject: "bob",
        scope: "calculator",
        tool: "exact_calculate",
        outcome: "ok",
      },
    ]);
  });

  it("refuses a tool outside the caller's roles (403) and a missing token (401), audited by ext-authz", async () => {
    const forbidden = await invoke(BOB, { tool_name: "git.git_log", arguments: {} });
    expect(forbidden.status).toBe(403);
    expect(await e2e.auditRows(forbidden.headers.get(HEADER.requestId)!)).toMatchObject([
      {
        source: "ext-authz",
        subject: "bob",
        scope: "git",
        tool: "git_log",
        outcome: "denied",
        reason: "tool_not_allowed",
        status: 403,
      },
    ]);

    const anonymous = await invoke(null, {
      tool_name: "calculator.exact_calculate",
      arguments: { operator: "add", operands: ["1", "1"] },
    });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toMatch(/^Bearer /);
    expect(await e2e.auditRows(anonymous.headers.get(HEADER.requestId)!)).toMatchObject([
      { source: "ext-authz", subject: null, outcome: "denied", reason: "token_missing" },
    ]);
  });
});
