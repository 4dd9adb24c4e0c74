import { describe, expect, it } from "vitest";
import { decide, type Decision, type DecisionDeps } from "../src/policy/decide.ts";
import { decisionDeps, makeToken } from "./fixture-config.ts";

/**
 * The shapes of decide()'s answers that the Envoy adapter and the audit rely on: which surface
 * (MCP or REST) an error is written for, the context recorded with a refusal, the ids and details
 * refusals carry, and the edges of the body limits. Found missing by mutation testing.
 */

type Input = {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
};

async function check(input: Input, deps: DecisionDeps = decisionDeps()): Promise<Decision> {
  const body =
    input.body instanceof Uint8Array ? input.body : new TextEncoder().encode(input.body ?? "");
  return decide(
    {
      method: input.method ?? "POST",
      path: input.path,
      headers: input.headers ?? {},
      body,
      contextScope: undefined,
    },
    deps,
  );
}

const mcpHeaders = async (extra: Record<string, string> = {}) => ({
  authorization: `Bearer ${await makeToken()}`,
  "content-type": "application/json",
  accept: "application/json, text/event-stream",
  "mcp-protocol-version": "2025-11-25",
  "mcp-session-id": "s",
  ...extra,
});

function denial(decision: Decision) {
  if (decision.outcome !== "deny") throw new Error(`expected a denial, got ${decision.outcome}`);
  return decision;
}

describe("the surface an error is written for", () => {
  it.each([
    ["/mcp/invoke", "rest"],
    ["/mcp/jobs/abc", "rest"],
    ["/admin/audit", "rest"],
    ["/calculator/mcp", "mcp"],
    // Unknown paths: REST-shaped under the REST prefixes, MCP-shaped elsewhere.
    ["/mcp/jobs/", "rest"],
    ["/admin/nothing-here", "rest"],
    ["/mcp/invoke?x=1", "rest"],
    ["/mcp/invokes", "mcp"],
    ["/weather/mcp", "mcp"],
    ["/x/mcp/jobs/1", "mcp"],
    ["/x/admin/audit", "mcp"],
  ])("%s → %s", async (path, surface) => {
    // No token: every known route refuses with token_missing, unknown ones with not-found.
    expect(denial(await check({ method: "GET", path })).surface).toBe(surface);
  });
});

describe("the context recorded with a refusal", () => {
  it("starts empty, with no roles, before the token is read", async () => {
    const decision = denial(await check({ path: "/calculator/mcp", body: "{}" }));
    expect(decision.context).toEqual({
      subject: null,
      tenant: null,
      roles: [],
      scope: "calculator",
      method: "POST",
      tool: null,
    });
  });

  it("names the route kind as the method outside MCP endpoints", async () => {
    expect(denial(await check({ path: "/mcp/invoke", body: "{}" })).context.method).toBe("invoke");
    expect(denial(await check({ method: "GET", path: "/mcp/jobs/abc" })).context.method).toBe(
      "jobs",
    );
    expect(denial(await check({ method: "get", path: "/calculator/mcp" })).context.method).toBe(
      "GET",
    );
  });

  it("names the first message's method, or `response`", async () => {
    const headers = await mcpHeaders();
    const forbidden = await check(
      {
        path: "/calculator/mcp",
        headers,
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
      },
      decisionDeps({ limits: { maxBodyBytes: 1_048_576, maxJsonDepth: 64 } }),
    );
    expect(forbidden.outcome).toBe("allow");
    if (forbidden.outcome === "allow") expect(forbidden.context.method).toBe("tools/list");
    const response = await check({
      path: "/calculator/mcp",
      headers,
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, result: {} }),
    });
    if (response.outcome !== "allow") throw new Error(response.outcome);
    expect(response.context.method).toBe("response");
  });

  it("records no would-deny list and no rule when nothing matched", async () => {
    const decision = await check({
      path: "/calculator/mcp",
      headers: await mcpHeaders(),
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "tools/call",
        params: { name: "exact_calculate", arguments: {} },
      }),
    });
    if (decision.outcome !== "allow") throw new Error(decision.outcome);
    expect(decision.context).not.toHaveProperty("wouldDeny");
    expect(decision.context).not.toHaveProperty("rule");
  });

  it("records no rule for a refusal no rule made (nothing allows the tool)", async () => {
    const decision = denial(
      await check({
        path: "/calculator/mcp",
        headers: await mcpHeaders({
          authorization: `Bearer ${await makeToken({ roles: ["limited"] })}`,
        }),
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 7,
          method: "tools/call",
          params: { name: "statistics", arguments: {} },
        }),
      }),
    );
    expect(decision.reason).toBe("tool_not_allowed");
    expect(decision.context).not.toHaveProperty("rule");
    expect(decision.challenge?.description).toBe("Tool not permitted");
    expect(decision.rpcId).toBe(7);
  });
});

describe("what refusals carry", () => {
  it("echoes the JSON-RPC id of a request refused for its token", async () => {
    const body = JSON.stringify({ jsonrpc: "2.0", id: 42, method: "tools/list" });
    expect(denial(await check({ path: "/calculator/mcp?access_token=x", body })).rpcId).toBe(42);
    expect(denial(await check({ path: "/calculator/mcp", body })).rpcId).toBe(42);
  });

  it("echoes the id when the body was cut short or too large", async () => {
    const body = JSON.stringify({ jsonrpc: "2.0", id: 9, method: "tools/list" });
    const partial = denial(
      await check({
        path: "/calculator/mcp",
        headers: await mcpHeaders({ "x-envoy-auth-partial-body": "true" }),
        body,
      }),
    );
    expect(partial).toMatchObject({ reason: "partial_body", rpcId: 9 });
  });

  it("takes a body of exactly the limit, and refuses one byte more", async () => {
    const body = JSON.stringify({ jsonrpc: "2.0", id: 3, method: "tools/list" });
    const limits = (max: number) =>
      decisionDeps({ limits: { maxBodyBytes: max, maxJsonDepth: 64 } });
    const headers = await mcpHeaders();
    const bytes = Buffer.byteLength(body);
    expect((await check({ path: "/calculator/mcp", headers, body }, limits(bytes))).outcome).toBe(
      "allow",
    );
    const refused = denial(
      await check({ path: "/calculator/mcp", headers, body }, limits(bytes - 1)),
    );
    // Too large to be read at all: no id to echo.
    expect(refused).toMatchObject({ reason: "payload_too_large", rpcId: null });
  });

  it("reads no body of a request that is not a POST", async () => {
    const decision = await check({
      method: "GET",
      path: "/mcp/jobs/abc",
      headers: { authorization: `Bearer ${await makeToken()}` },
      body: "{not json",
    });
    expect(decision.outcome).toBe("allow");
  });

  it("refuses a body that is not UTF-8 as unparseable", async () => {
    const decision = denial(
      await check({
        path: "/calculator/mcp",
        headers: await mcpHeaders(),
        body: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]),
      }),
    );
    expect(decision.reason).toBe("parse_error");
  });

  it("explains a malformed REST invoke body with the expected shape", async () => {
    const decision = denial(
      await check({
        path: "/mcp/invoke",
        headers: {
          authorization: `Bearer ${await makeToken()}`,
          "content-type": "application/json",
        },
        body: JSON.stringify({ tool: "x" }),
      }),
    );
    expect(decision.reason).toBe("invalid_request");
    expect(decision.detail).toMatch(/tool_name/);
  });

  it("names the unknown tool of a REST invoke, and treats a disabled one alike", async () => {
    const invoke = async (tool: string, path = "/mcp/invoke") =>
      denial(
        await check({
          path,
          headers: {
            authorization: `Bearer ${await makeToken()}`,
            "content-type": "application/json",
          },
          body: JSON.stringify({ tool_name: tool, arguments: {} }),
        }),
      );
    expect(await invoke("calculator.nothing")).toMatchObject({
      reason: "tool_unknown",
      detail: "Unknown tool: calculator.nothing",
    });
    expect(await invoke("calculator.retired_tool")).toMatchObject({
      reason: "tool_inactive",
      detail: "Unknown tool: calculator.retired_tool",
    });
  });

  it("describes an insufficient scope in its challenge", async () => {
    const decision = denial(
      await check({
        path: "/git/mcp",
        headers: await mcpHeaders({
          authorization: `Bearer ${await makeToken({ roles: ["analyst"] })}`,
        }),
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
      }),
    );
    expect(decision.reason).toBe("insufficient_scope");
    expect(decision.challenge?.description).toBe(
      "The token's roles grant nothing on this endpoint",
    );
  });
});

describe("protected resource metadata", () => {
  it("is answered as JSON", async () => {
    const decision = await check({
      method: "GET",
      path: "/.well-known/oauth-protected-resource/calculator/mcp",
    });
    expect(decision).toMatchObject({
      outcome: "respond",
      status: 200,
      contentType: "application/json",
    });
  });
});
