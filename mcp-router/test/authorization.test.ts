import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  authorizationService,
  healthService,
  type CheckRequest,
  type CheckResponse,
} from "../../contract/src/authz-wire.ts";
import { sha256Hex } from "../../contract/src/digest.ts";
import { HEADER } from "../../contract/src/headers.ts";
import { signVerdict } from "../../contract/src/verdict.ts";
import {
  ALICE,
  BOB,
  LEGACY_ACCEPT,
  VERDICT_KEY,
  openSession,
  postMcp,
  readMessages,
  sessionHeaders,
  startRouterFixture,
  verdictFor,
  type RouterFixture,
} from "./router-harness.ts";

const listBody = { jsonrpc: "2.0", id: 1, method: "tools/list" };

describe("envoy mode: the verdict header is the only credential", () => {
  let fixture: RouterFixture;
  let endpoint: string;
  beforeAll(async () => {
    fixture = await startRouterFixture();
    endpoint = `${fixture.router.url}/calc/mcp`;
  });
  afterAll(async () => {
    await fixture.close();
  });

  it("refuses a request that bypassed ext-authz (no verdict) with 403", async () => {
    const response = await postMcp(endpoint, listBody, { identity: null });
    expect(response.status).toBe(403);
    const [message] = await readMessages(response);
    expect(message!.error).toMatchObject({ data: { code: "GW_VERDICT_INVALID" } });
  });

  it("refuses a verdict replayed with another body", async () => {
    const original = JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name: "add", arguments: { a: 1, b: 2 } },
    });
    const verdict = verdictFor(BOB, "calc", original);
    const sessionId = await openSession(endpoint, BOB);
    const swapped = JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name: "slow", arguments: {} },
    });
    const response = await fetch(endpoint, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: LEGACY_ACCEPT,
        [HEADER.verdict]: verdict,
        ...sessionHeaders(sessionId),
      },
      body: swapped,
    });
    expect(response.status).toBe(403);
    expect(
      fixture.backend.seen.some((entry) => entry.method === "tools/call" && entry.userId === "bob"),
    ).toBe(false);
  });

  it("refuses the same verdict presented twice", async () => {
    const sessionId = await openSession(endpoint);
    const body = JSON.stringify({ jsonrpc: "2.0", id: 7, method: "ping" });
    const headers = {
      "content-type": "application/json",
      accept: LEGACY_ACCEPT,
      [HEADER.verdict]: verdictFor(ALICE, "calc", body),
      ...sessionHeaders(sessionId),
    };
    expect((await fetch(endpoint, { method: "POST", headers, body })).status).toBe(200);
    expect((await fetch(endpoint, { method: "POST", headers, body })).status).toBe(403);
  });

  it.each([
    ["expired", { exp: Math.floor(Date.now() / 1000) - 1 }],
    ["for another scope", { scope: "other" }],
  ])("refuses a verdict that is %s", async (_name, overrides) => {
    const response = await postMcp(endpoint, listBody, { verdictOverrides: overrides });
    expect(response.status).toBe(403);
  });

  it("refuses a verdict signed with another key", async () => {
    const body = JSON.stringify(listBody);
    const forged = signVerdict(
      {
        requestId: "r",
        subject: "mallory",
        tenant: null,
        roles: ["developer"],
        scope: "calc",
        tools: ["add"],
        bodyDigest: sha256Hex(body),
        exp: Math.floor(Date.now() / 1000) + 60,
      },
      "not-the-gateway-key-000000000000000000",
    );
    const response = await fetch(endpoint, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: LEGACY_ACCEPT,
        [HEADER.verdict]: forged,
      },
      body,
    });
    expect(response.status).toBe(403);
  });

  it("never believes client identity headers: the backend sees the verdict's subject", async () => {
    const sessionId = await openSession(endpoint, BOB);
    const response = await postMcp(
      endpoint,
      {
        jsonrpc: "2.0",
        id: 3,
        method: "tools/call",
        params: { name: "add", arguments: { a: 1, b: 1 } },
      },
      {
        identity: BOB,
        headers: {
          ...sessionHeaders(sessionId),
          [HEADER.userId]: "alice",
          authorization: "Bearer stolen",
        },
      },
    );
    expect(response.status).toBe(200);
    const call = fixture.backend.seen.filter((entry) => entry.method === "tools/call").at(-1);
    expect(call?.userId).toBe("bob");
    expect(call?.forgedHeaders).toBe(false);
  });

  it("re-checks tools/call against the verdict's tools (403) and audits the refusal", async () => {
    const sessionId = await openSession(endpoint, BOB);
    const response = await postMcp(
      endpoint,
      { jsonrpc: "2.0", id: 5, method: "tools/call", params: { name: "slow", arguments: {} } },
      { identity: BOB, headers: sessionHeaders(sessionId) },
    );
    expect(response.status).toBe(403);
    const [message] = await readMessages(response);
    expect(message).toMatchObject({ id: 5, error: { data: { code: "GW_TOOL_FORBIDDEN" } } });
    const rows = await fixture.auditRows({ subject: "bob", tool: "slow" });
    expect(rows.at(-1)).toMatchObject({
      outcome: "rejected",
      reason: "tool_forbidden",
      scope: "calc",
    });
  });

  it("checks Origin against the allowlist", async () => {
    const denied = await postMcp(endpoint, listBody, {
      headers: { origin: "https://evil.example" },
    });
    expect(denied.status).toBe(403);
    const sessionId = await openSession(endpoint);
    const allowed = await postMcp(endpoint, listBody, {
      headers: { origin: "https://app.example.com", ...sessionHeaders(sessionId) },
    });
    expect(allowed.status).toBe(200);
  });
});

type FakeDecision = "allow" | "deny" | "allow-without-verdict";

/** A stand-in ext-authz: the token is `Bearer <subject>`; it signs a verdict over the body. */
async function startFakeAuthz(decide: () => FakeDecision) {
  const seen: CheckRequest[] = [];
  const server = new grpc.Server();
  server.addService(authorizationService, {
    Check(
      call: grpc.ServerUnaryCall<CheckRequest, CheckResponse>,
      callback: grpc.sendUnaryData<CheckResponse>,
    ) {
      seen.push(call.request);
      const http = call.request.attributes?.request?.http;
      const token = http?.headers?.authorization?.replace(/^Bearer /, "");
      const decision = token === undefined ? "deny" : decide();
      if (decision === "deny") {
        callback(null, {
          status: { code: 16 },
          denied_response: {
            status: { code: "Unauthorized" },
            headers: [
              {
                header: {
                  key: "www-authenticate",
                  value:
                    'Bearer resource_metadata="http://x/.well-known/oauth-protected-resource/calc/mcp"',
                },
                append: { value: false },
              },
            ],
            body: '{"jsonrpc":"2.0","id":null,"error":{"code":-32001,"message":"Authentication required"}}',
          },
        });
        return;
      }
      const verdict = signVerdict(
        {
          requestId: http?.headers?.["x-request-id"] ?? "missing",
          subject: token!,
          tenant: "acme",
          roles: ["developer"],
          scope: call.request.attributes?.context_extensions?.scope ?? "calc",
          tools: ["add"],
          bodyDigest: sha256Hex(http?.raw_body ?? http?.body ?? ""),
          exp: Math.floor(Date.now() / 1000) + 30,
        },
        VERDICT_KEY,
      );
      callback(null, {
        status: { code: 0 },
        ok_response: {
          headers:
            decision === "allow"
              ? [
                  {
                    header: { key: HEADER.verdict, value: verdict },
                    append: { value: false },
                    append_action: "OVERWRITE_IF_EXISTS_OR_ADD",
                  },
                ]
              : [],
          headers_to_remove: ["authorization"],
        },
      });
    },
  });
  server.addService(healthService, {
    Check(_call: unknown, callback: grpc.sendUnaryData<{ status: string }>) {
      callback(null, { status: "SERVING" });
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    );
  });
  return {
    address: `127.0.0.1:${port}`,
    seen,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

describe("direct mode: the router plays Envoy's ext_authz filter", () => {
  let decision: FakeDecision = "allow";
  let authz: Awaited<ReturnType<typeof startFakeAuthz>>;
  let fixture: RouterFixture;
  let endpoint: string;
  beforeAll(async () => {
    authz = await startFakeAuthz(() => decision);
    fixture = await startRouterFixture({
      router: { authz: { mode: "direct", address: authz.address } },
    });
    endpoint = `${fixture.router.url}/calc/mcp`;
  });
  afterAll(async () => {
    await fixture.close();
    await authz.close();
  });

  const post = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(endpoint, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: LEGACY_ACCEPT,
        authorization: "Bearer carol",
        ...headers,
      },
      body: JSON.stringify(body),
    });

  it("sends the CheckRequest Envoy would send and serves on allow", async () => {
    decision = "allow";
    const init = await post({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: {
        protocolVersion: "2025-11-25",
        capabilities: {},
        clientInfo: { name: "t", version: "1" },
      },
    });
    expect(init.status).toBe(200);
    const request = authz.seen.at(-1)!.attributes!;
    expect(request.context_extensions).toEqual({ scope: "calc" });
    expect(request.request?.http).toMatchObject({
      method: "POST",
      path: "/calc/mcp",
      scheme: "http",
    });
    expect(request.request?.http?.headers).toMatchObject({
      ":method": "POST",
      ":path": "/calc/mcp",
      authorization: "Bearer carol",
    });
    expect(request.request?.http?.headers?.[":authority"]).toContain("127.0.0.1");
    expect(
      JSON.parse(Buffer.from(request.request?.http?.raw_body ?? []).toString("utf8")),
    ).toMatchObject({ method: "initialize" });
    const sessionId = init.headers.get(HEADER.mcpSessionId)!;
    const call = await post(
      {
        jsonrpc: "2.0",
        id: 2,
        method: "tools/call",
        params: { name: "add", arguments: { a: 1, b: 2 } },
      },
      sessionHeaders(sessionId),
    );
    const [message] = await readMessages(call);
    expect(message!.result).toMatchObject({ content: [{ type: "text", text: "3" }] });
    expect(fixture.backend.seen.at(-1)).toMatchObject({ userId: "carol", forgedHeaders: false });
  });

  it("relays a deny exactly: status, headers and body", async () => {
    const response = await fetch(endpoint, {
      method: "POST",
      headers: { "content-type": "application/json", accept: LEGACY_ACCEPT },
      body: JSON.stringify(listBody),
    });
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toContain("resource_metadata=");
    expect(await response.json()).toMatchObject({ error: { code: -32001 } });
  });

  it("does not let a client-sent verdict stand in for ext-authz's", async () => {
    decision = "allow-without-verdict";
    const body = {
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: {
        protocolVersion: "2025-11-25",
        capabilities: {},
        clientInfo: { name: "t", version: "1" },
      },
    };
    const response = await post(body, {
      [HEADER.verdict]: verdictFor(ALICE, "calc", JSON.stringify(body)),
    });
    expect(response.status).toBe(403);
  });

  it("fails closed with 503 when ext-authz cannot be reached", async () => {
    const unreachable = await startRouterFixture({
      router: { authz: { mode: "direct", address: "127.0.0.1:1", deadlineMs: 300 } },
    });
    try {
      const response = await fetch(`${unreachable.router.url}/calc/mcp`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: LEGACY_ACCEPT,
          authorization: "Bearer carol",
        },
        body: JSON.stringify(listBody),
      });
      expect(response.status).toBe(503);
      expect(response.headers.get(HEADER.requestId)).toMatch(/^[0-9a-f-]{36}$/);
      expect(await response.json()).toMatchObject({
        jsonrpc: "2.0",
        error: { data: { code: "GW_AUTHZ_UNAVAILABLE" } },
      });
      const rest = await fetch(`${unreachable.router.url}/mcp/invoke`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          authorization: "Bearer carol",
          [HEADER.requestId]: "client-req-503",
        },
        body: JSON.stringify({ tool_name: "calc.add" }),
      });
      expect(rest.status).toBe(503);
      expect(rest.headers.get(HEADER.requestId)).toBe("client-req-503");
      expect(await rest.json()).toEqual({
        error: { code: "GW_AUTHZ_UNAVAILABLE", message: "Authorization service unavailable" },
        request_id: "client-req-503",
      });
      const ready = await fetch(`${unreachable.router.url}/ready`);
      expect(ready.status).toBe(503);
    } finally {
      await unreachable.close();
    }
  });

  it("reports ext-authz in readiness", async () => {
    const ready = await fetch(`${fixture.router.url}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({
      checks: { serving: "ok", database: "ok", registry: "ok", ext_authz: "ok" },
    });
  });
});
