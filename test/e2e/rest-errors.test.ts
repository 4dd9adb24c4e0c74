import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GATEWAY_ERRORS, type GatewayErrorCode } from "../../contract/src/errors.ts";
import { HEADER } from "../../contract/src/headers.ts";
import { REST_INVOKE_BODY_HINT } from "../../contract/src/mcp-wire.ts";
import { startRouter, type RouterHandle } from "../../mcp-router/src/router.ts";
import {
  ALICE,
  BOB,
  closedPort,
  MAX_REQUEST_BYTES,
  quietLogger,
  STREAMABLE_ACCEPT,
  startE2eStack,
  TINY_QUOTA,
  type E2eStack,
  type User,
} from "./stack-fixture.ts";

/**
 * The REST API's error contract through the real ext-authz Check (router in direct mode): every
 * refusal of `/mcp/invoke` and `/mcp/jobs/*`, whoever makes it, is `{error: {code, message},
 * request_id}` with the REST status and an x-request-id equal to request_id. MCP endpoints keep
 * their JSON-RPC error bodies.
 */

let e2e: E2eStack;
/** A router in direct mode whose ext-authz address has nothing listening. */
let orphan: RouterHandle;

beforeAll(async () => {
  e2e = await startE2eStack();
  orphan = await startRouter({
    config: e2e.stack.config,
    db: e2e.stack.database.db,
    audit: e2e.stack.audit,
    callJournal: e2e.stack.callJournal,
    logger: quietLogger,
    authz: { mode: "direct", address: `127.0.0.1:${await closedPort()}`, deadlineMs: 1_000 },
    verdictKey: e2e.env.GATEWAY_VERDICT_KEY!,
    toolSecret: e2e.env.TOOL_GATEWAY_SHARED_SECRET!,
    maxRequestBytes: MAX_REQUEST_BYTES,
    host: "127.0.0.1",
    port: 0,
  });
});
afterAll(async () => {
  await orphan?.close();
  await e2e?.close();
});

type Call = {
  method?: string;
  path?: string;
  user?: User | null;
  authorization?: string;
  body?: string;
  base?: string;
};

async function call(options: Call): Promise<Response> {
  const method = options.method ?? "POST";
  const headers: Record<string, string> = {};
  if (options.body !== undefined) headers["content-type"] = "application/json";
  if (options.authorization !== undefined) headers.authorization = options.authorization;
  else if (options.user !== null)
    headers.authorization = `Bearer ${await e2e.token(options.user ?? ALICE)}`;
  return fetch(`${options.base ?? e2e.stack.url}${options.path ?? "/mcp/invoke"}`, {
    method,
    headers,
    ...(options.body === undefined ? {} : { body: options.body }),
  });
}

const invoke = (toolName: string, args: Record<string, unknown> = {}) =>
  JSON.stringify({ tool_name: toolName, arguments: args });

/** Asserts the exact REST error and returns its request id (header and body agree). */
async function expectRestError(
  response: Response,
  status: number,
  code: GatewayErrorCode,
  message: string = GATEWAY_ERRORS[code].message,
): Promise<string> {
  expect(response.status).toBe(status);
  expect(response.headers.get("content-type")).toBe("application/json");
  const requestId = response.headers.get(HEADER.requestId);
  expect(requestId).toMatch(/^[\x21-\x7e]{1,200}$/);
  expect(await response.json()).toEqual({ error: { code, message }, request_id: requestId });
  return requestId!;
}

describe("REST refusals made by ext-authz", () => {
  it("401 without a token, with the Bearer challenge, audited under the same request id", async () => {
    const response = await call({ user: null, body: invoke("calculator.list_units") });
    expect(response.headers.get("www-authenticate")).toMatch(/^Bearer resource_metadata="/);
    const requestId = await expectRestError(response, 401, "GW_TOKEN_MISSING");
    expect(await e2e.auditRows(requestId)).toMatchObject([
      { source: "ext-authz", outcome: "denied", reason: "token_missing", status: 401 },
    ]);
  });

  it("401 for an invalid token", async () => {
    const response = await call({
      authorization: "Bearer not-a-token",
      body: invoke("calculator.list_units"),
    });
    expect(response.headers.get("www-authenticate")).toMatch(/error="invalid_token"/);
    await expectRestError(response, 401, "GW_TOKEN_INVALID");
  });

  it("403 for a tool the caller's roles do not grant", async () => {
    const response = await call({ user: BOB, body: invoke("git.git_log") });
    expect(response.headers.get("www-authenticate")).toMatch(/error="insufficient_scope"/);
    await expectRestError(response, 403, "GW_TOOL_FORBIDDEN");
  });

  it("404 for a tool no scope lists, audited as tool_unknown with status 404", async () => {
    const response = await call({ body: invoke("calculator.no_such_tool") });
    expect(response.headers.get("www-authenticate")).toBeNull();
    const requestId = await expectRestError(
      response,
      404,
      "GW_UNKNOWN_TOOL",
      "Unknown tool: calculator.no_such_tool",
    );
    expect(await e2e.auditRows(requestId)).toMatchObject([
      { source: "ext-authz", outcome: "denied", reason: "tool_unknown", status: 404 },
    ]);
  });

  it("429 with Retry-After once the per-user tool quota is spent", async () => {
    const user: User = { user: "rest-quota", roles: ["developer"], tenant: "acme" };
    for (let i = 0; i < TINY_QUOTA; i += 1) {
      const allowed = await call({ user, body: invoke("calculator.list_units") });
      expect(allowed.status).toBe(200);
    }
    const limited = await call({ user, body: invoke("calculator.list_units") });
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    await expectRestError(limited, 429, "GW_RATE_LIMITED");
  });

  it.each([
    ["not JSON", "{", "GW_PARSE_ERROR", GATEWAY_ERRORS.GW_PARSE_ERROR.message],
    ["no tool_name", '{"arguments":{}}', "GW_INVALID_REQUEST", REST_INVOKE_BODY_HINT],
    [
      "an unknown member",
      '{"tool_name":"list_units","x":1}',
      "GW_INVALID_REQUEST",
      REST_INVOKE_BODY_HINT,
    ],
  ] as const)("400 for a body with %s", async (_name, body, code, message) => {
    await expectRestError(await call({ body }), 400, code, message);
  });

  it("jobs: 401 without a token, 404 for a job that is not the caller's", async () => {
    await expectRestError(
      await call({ method: "GET", path: "/mcp/jobs/no-such-job", user: null }),
      401,
      "GW_TOKEN_MISSING",
    );
    await expectRestError(
      await call({ method: "GET", path: "/mcp/jobs/no-such-job" }),
      404,
      "GW_TASK_NOT_FOUND",
      "Job not found",
    );
  });
});

describe("REST refusals made by the router", () => {
  it("405 with Allow for another method", async () => {
    const response = await call({ method: "GET" });
    expect(response.headers.get("allow")).toBe("POST");
    await expectRestError(response, 405, "GW_METHOD_NOT_ALLOWED");
  });

  it("413 for a body over the limit", async () => {
    const response = await call({
      body: invoke("calculator.list_units", { pad: "x".repeat(MAX_REQUEST_BYTES) }),
    });
    await expectRestError(response, 413, "GW_PAYLOAD_TOO_LARGE");
  });

  it("503 GW_AUTHZ_UNAVAILABLE when ext-authz cannot be reached, REST and jobs alike", async () => {
    await expectRestError(
      await call({ base: orphan.url, body: invoke("calculator.list_units") }),
      503,
      "GW_AUTHZ_UNAVAILABLE",
    );
    await expectRestError(
      await call({ base: orphan.url, method: "DELETE", path: "/mcp/jobs/some-job" }),
      503,
      "GW_AUTHZ_UNAVAILABLE",
    );
  });
});

describe("MCP endpoints keep JSON-RPC error bodies", () => {
  const listTools = JSON.stringify({ jsonrpc: "2.0", id: 3, method: "tools/list" });
  const post = (base: string, authorization?: string) =>
    fetch(`${base}/calculator/mcp`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: STREAMABLE_ACCEPT,
        ...(authorization === undefined ? {} : { authorization }),
      },
      body: listTools,
    });

  it("401 from ext-authz", async () => {
    const response = await post(e2e.stack.url);
    expect(response.status).toBe(401);
    expect(response.headers.get(HEADER.requestId)).not.toBeNull();
    expect(await response.json()).toEqual({
      jsonrpc: "2.0",
      id: 3,
      error: {
        code: -32001,
        message: GATEWAY_ERRORS.GW_TOKEN_MISSING.message,
        data: { code: "GW_TOKEN_MISSING" },
      },
    });
  });

  it("503 from the router when ext-authz is down", async () => {
    const response = await post(orphan.url, `Bearer ${await e2e.token(ALICE)}`);
    expect(response.status).toBe(503);
    expect(response.headers.get(HEADER.requestId)).not.toBeNull();
    expect(await response.json()).toMatchObject({
      jsonrpc: "2.0",
      error: { data: { code: "GW_AUTHZ_UNAVAILABLE" } },
    });
  });
});
