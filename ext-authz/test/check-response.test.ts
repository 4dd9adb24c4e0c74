import { describe, expect, it } from "vitest";
import type { CheckResponse } from "../../contract/src/authz-wire.ts";
import { REST_INVOKE_BODY_HINT } from "../../contract/src/mcp-wire.ts";
import { checkResponse } from "../src/envoy/check-response.ts";
import { decide, type CheckInput, type DecisionDeps } from "../src/policy/decide.ts";
import { decisionDeps, makeToken } from "./fixture-config.ts";

/**
 * The deny as the client sees it: on `/mcp/invoke` and `/mcp/jobs/*` the REST API's error shape
 * and status, on MCP endpoints a JSON-RPC error.
 */

type Reply = { status: number; headers: Record<string, string>; body: unknown; grpcCode: number };

async function reply(
  input: {
    method?: string;
    path: string;
    body?: string;
    token?: string | null;
    headers?: Record<string, string>;
    contextScope?: string;
  },
  deps: DecisionDeps = decisionDeps(),
): Promise<Reply> {
  const token = input.token === undefined ? await makeToken() : input.token;
  const headers: Record<string, string> = { "x-request-id": "req-rest", ...input.headers };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const check: CheckInput = {
    method: input.method ?? "POST",
    path: input.path,
    headers,
    body: new TextEncoder().encode(input.body ?? ""),
    contextScope: input.contextScope,
  };
  const response: CheckResponse = checkResponse(await decide(check, deps), headers, "k".repeat(40));
  const denied = response.denied_response;
  if (denied === undefined || denied === null) throw new Error("expected a deny");
  return {
    status: denied.status?.code as number,
    headers: Object.fromEntries(denied.headers.map((h) => [h.header!.key, h.header!.value!])),
    body: JSON.parse(denied.body) as unknown,
    grpcCode: response.status?.code ?? 0,
  };
}

const invoke = (toolName: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ tool_name: toolName, arguments: {}, ...extra });

const restBody = (code: string, message: string) => ({
  error: { code, message },
  request_id: "req-rest",
});

describe("REST denies: the documented error shape and status", () => {
  it("401 without a token, keeping the challenge", async () => {
    const answer = await reply({ path: "/mcp/invoke", body: invoke("statistics"), token: null });
    expect(answer.status).toBe(401);
    expect(answer.grpcCode).toBe(16);
    expect(answer.body).toEqual(
      restBody("GW_TOKEN_MISSING", "Authentication required: send a Bearer token"),
    );
    expect(answer.headers).toMatchObject({
      "content-type": "application/json",
      "x-request-id": "req-rest",
      "www-authenticate":
        'Bearer resource_metadata="https://gw.example/.well-known/oauth-protected-resource/mcp"',
    });
  });

  it("401 for an invalid token, with an invalid_token challenge", async () => {
    const answer = await reply({
      method: "GET",
      path: "/mcp/jobs/job-1",
      token: await makeToken({}, { secret: "another-secret-0123456789-abcdefghijkl" }),
    });
    expect(answer.status).toBe(401);
    expect(answer.body).toEqual(restBody("GW_TOKEN_INVALID", "Invalid or expired token"));
    expect(answer.headers["www-authenticate"]).toMatch(/^Bearer error="invalid_token"/);
  });

  it("403 for a tool the caller may not use", async () => {
    const answer = await reply({
      path: "/mcp/invoke",
      body: invoke("git.git_read_file"),
      token: await makeToken({ roles: ["auditor"] }),
    });
    expect(answer.status).toBe(403);
    expect(answer.body).toEqual(restBody("GW_TOOL_FORBIDDEN", "Tool not permitted"));
    expect(answer.headers["www-authenticate"]).toMatch(/^Bearer error="insufficient_scope"/);
  });

  it("403 on jobs for a caller whose roles grant no tool", async () => {
    const answer = await reply({
      method: "GET",
      path: "/mcp/jobs/job-1",
      token: await makeToken({ roles: ["nobody"] }),
    });
    expect(answer.status).toBe(403);
    expect(answer.body).toEqual(
      restBody("GW_INSUFFICIENT_SCOPE", "Your roles do not grant access to this endpoint"),
    );
  });

  it.each([
    ["an unknown tool", "calculator.nope"],
    ["a disabled tool", "calculator.retired_tool"],
    ["a tool outside the route's scope", "git.git_log"],
  ])("404 GW_UNKNOWN_TOOL for %s, without a challenge", async (_name, tool) => {
    const answer = await reply({
      path: "/mcp/invoke",
      body: invoke(tool),
      contextScope: tool === "git.git_log" ? "calculator" : undefined,
    });
    expect(answer.status).toBe(404);
    expect(answer.grpcCode).toBe(5);
    expect(answer.body).toEqual(restBody("GW_UNKNOWN_TOOL", `Unknown tool: ${tool}`));
    expect(answer.headers["www-authenticate"]).toBeUndefined();
  });

  it.each([
    ["not JSON", "{", "GW_PARSE_ERROR", "Parse error: body is not valid JSON"],
    ["missing tool_name", '{"arguments":{}}', "GW_INVALID_REQUEST", REST_INVOKE_BODY_HINT],
    [
      "an unknown member",
      '{"tool_name":"statistics","x":1}',
      "GW_INVALID_REQUEST",
      REST_INVOKE_BODY_HINT,
    ],
    [
      "a repeated key",
      '{"tool_name":"a","tool_name":"b"}',
      "GW_INVALID_REQUEST",
      "Request body repeats an object key",
    ],
    [
      "an ambiguous tool_name",
      invoke("shared_tool"),
      "GW_INVALID_REQUEST",
      "tool_name is ambiguous: use <scope>.<tool>",
    ],
  ])("400 for a body with %s", async (_name, body, code, message) => {
    const answer = await reply({ path: "/mcp/invoke", body });
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual(restBody(code, message));
  });

  it("413 for a body over the limit or one Envoy truncated", async () => {
    const small = decisionDeps({ limits: { maxBodyBytes: 16, maxJsonDepth: 64 } });
    const large = await reply({ path: "/mcp/invoke", body: invoke("statistics") }, small);
    expect(large.status).toBe(413);
    expect(large.body).toEqual(restBody("GW_PAYLOAD_TOO_LARGE", "Request body too large"));
    const truncated = await reply({
      path: "/mcp/invoke",
      body: '{"tool_name":"stat',
      headers: { "x-envoy-auth-partial-body": "true" },
    });
    expect(truncated.status).toBe(413);
    expect(truncated.body).toMatchObject({ error: { code: "GW_PAYLOAD_TOO_LARGE" } });
  });

  it("429 with Retry-After and the RateLimit headers", async () => {
    const deps = decisionDeps();
    const token = await makeToken();
    // calculator.statistics allows one call per user and minute.
    const first = await decide(
      {
        method: "POST",
        path: "/mcp/invoke",
        headers: { authorization: `Bearer ${token}` },
        body: new TextEncoder().encode(invoke("calculator.statistics")),
        contextScope: undefined,
      },
      deps,
    );
    expect(first.outcome).toBe("allow");
    const answer = await reply(
      { path: "/mcp/invoke", body: invoke("calculator.statistics"), token },
      deps,
    );
    expect(answer.status).toBe(429);
    expect(answer.body).toEqual(restBody("GW_RATE_LIMITED", "Rate limit exceeded"));
    expect(Number(answer.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(answer.headers).toMatchObject({ "ratelimit-limit": "1", "ratelimit-remaining": "0" });
  });

  it.each([
    ["GET", "/mcp/invoke", "POST"],
    ["POST", "/mcp/jobs/job-1", "GET, DELETE"],
  ])("405 for %s %s with Allow", async (method, path, allow) => {
    const answer = await reply({ method, path });
    expect(answer.status).toBe(405);
    expect(answer.headers.allow).toBe(allow);
    expect(answer.body).toEqual(
      restBody("GW_METHOD_NOT_ALLOWED", "HTTP method not allowed on this endpoint"),
    );
  });

  it.each(["/mcp/jobs/a/b", "/mcp/jobs/bad%20id"])(
    "404 GW_NOT_FOUND for the REST path %s that names no job",
    async (path) => {
      const answer = await reply({ method: "GET", path });
      expect(answer.status).toBe(404);
      expect(answer.body).toEqual(restBody("GW_NOT_FOUND", "Not found"));
    },
  );

  it("503 GW_AUTHZ_UNAVAILABLE when the token keys cannot be fetched", async () => {
    const deps = decisionDeps({
      tokens: {
        verify: async () => ({
          ok: false,
          reason: "jwks_unavailable",
          description: "The token signing keys are unavailable",
        }),
        cacheSize: () => 0,
      },
    });
    const answer = await reply({ path: "/mcp/invoke", body: invoke("statistics") }, deps);
    expect(answer.status).toBe(503);
    expect(answer.grpcCode).toBe(14);
    expect(answer.body).toEqual(
      restBody("GW_AUTHZ_UNAVAILABLE", "Authorization service unavailable"),
    );
  });
});

describe("MCP endpoint denies keep the JSON-RPC error body", () => {
  it("401 without a token", async () => {
    const answer = await reply({
      path: "/calculator/mcp",
      body: '{"jsonrpc":"2.0","id":4,"method":"tools/list"}',
      token: null,
    });
    expect(answer.status).toBe(401);
    expect(answer.body).toEqual({
      jsonrpc: "2.0",
      id: 4,
      error: {
        code: -32001,
        message: "Authentication required: send a Bearer token",
        data: { code: "GW_TOKEN_MISSING" },
      },
    });
  });

  it("404 for an unknown path outside the REST API", async () => {
    const answer = await reply({ path: "/mcp/other", body: "{}" });
    expect(answer.status).toBe(404);
    expect(answer.body).toMatchObject({
      jsonrpc: "2.0",
      error: { data: { code: "GW_NOT_FOUND" } },
    });
  });
});
