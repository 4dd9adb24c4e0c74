import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GATEWAY_ERRORS, type GatewayErrorCode } from "../../contract/src/errors.ts";
import { HEADER } from "../../contract/src/headers.ts";
import { AUDIT_QUERY_FIELDS } from "../../store/src/audit-query.ts";
import { buildOpenApiDocument } from "../src/openapi.ts";
import { resolveRestToolName } from "../src/rest-invoke.ts";
import {
  ALICE,
  BOB,
  startRouterFixture,
  testConfig,
  verdictFor,
  type Identity,
  type RouterFixture,
} from "./router-harness.ts";

let fixture: RouterFixture;
beforeAll(async () => {
  fixture = await startRouterFixture({ config: (url) => testConfig(url, { timeoutMs: 300 }) });
});
afterAll(async () => {
  await fixture.close();
});

async function invoke(
  body: unknown,
  identity: Identity | null = ALICE,
  scope = "calc",
  headers: Record<string, string> = {},
) {
  const text = JSON.stringify(body);
  return fetch(`${fixture.router.url}/mcp/invoke`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(identity === null ? {} : { [HEADER.verdict]: verdictFor(identity, scope, text) }),
      ...headers,
    },
    body: text,
  });
}

describe("REST POST /mcp/invoke", () => {
  it("calls a tool by qualified or bare name and returns the result as JSON", async () => {
    const response = await invoke({ tool_name: "calc.add", arguments: { a: 2, b: 2 } });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      tool_name: "calc.add",
      is_error: false,
      result: { content: [{ type: "text", text: "4" }] },
    });
    const bare = await invoke({ tool_name: "big", arguments: { bytes: 3 } });
    expect(await bare.json()).toMatchObject({
      tool_name: "calc.big",
      result: { content: [{ text: "xxx" }] },
    });
    const rows = await fixture.auditRows({ tool: "add" });
    expect(rows.at(-1)).toMatchObject({ kind: "invocation", outcome: "ok", subject: "alice" });
  });

  it("passes tool errors through with is_error", async () => {
    const response = await invoke({ tool_name: "calc.fail" });
    expect(await response.json()).toMatchObject({ is_error: true, result: { isError: true } });
  });

  it("maps failures to REST statuses", async () => {
    expect((await invoke({ tool_name: "calc.slow", arguments: { ms: 5_000 } })).status).toBe(504);
    expect((await invoke({ tool_name: "calc.slow" }, BOB)).status).toBe(403);
    expect((await invoke({ tool_name: "calc.nope" })).status).toBe(404);
    const unknownScope = await invoke(
      { tool_name: "other.add" },
      { ...ALICE, tools: ["add"] },
      "other",
    );
    expect(unknownScope.status).toBe(502);
    expect(await unknownScope.json()).toMatchObject({ error: { code: "GW_UPSTREAM_UNAVAILABLE" } });
  });

  it("rejects a verdict issued for another scope than the tool's", async () => {
    const response = await invoke(
      { tool_name: "calc.add", arguments: { a: 1, b: 1 } },
      ALICE,
      "other",
    );
    expect(response.status).toBe(403);
  });

  it("refuses requests without a verdict", async () => {
    expect((await invoke({ tool_name: "calc.add" }, null)).status).toBe(403);
  });

  it.each([
    ["not JSON", "{", "GW_PARSE_ERROR"],
    ["missing tool_name", { arguments: {} }, "GW_INVALID_REQUEST"],
    ["arguments not an object", { tool_name: "calc.add", arguments: [1] }, "GW_INVALID_REQUEST"],
    ["unknown field", { tool_name: "calc.add", extra: 1 }, "GW_INVALID_REQUEST"],
    ["an ambiguous bare name", { tool_name: "add" }, "GW_INVALID_REQUEST"],
    ["ttl_ms without async", { tool_name: "calc.add", ttl_ms: 1000 }, "GW_INVALID_PARAMS"],
  ])("rejects a body with %s (400)", async (_name, body, code) => {
    const text = typeof body === "string" ? body : JSON.stringify(body);
    const response = await fetch(`${fixture.router.url}/mcp/invoke`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        [HEADER.verdict]: verdictFor(ALICE, "calc", text),
      },
      body: text,
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { code } });
  });

  it("resolves tool names like ext-authz does", () => {
    const tools = testConfig("http://127.0.0.1:1").tools;
    expect(resolveRestToolName(tools, "calc.add")).toEqual({
      kind: "found",
      scope: "calc",
      tool: "add",
    });
    expect(resolveRestToolName(tools, "slow")).toEqual({
      kind: "found",
      scope: "calc",
      tool: "slow",
    });
    expect(resolveRestToolName(tools, "add")).toEqual({ kind: "ambiguous" });
    expect(resolveRestToolName(tools, "nope.add")).toEqual({ kind: "unknown" });
    expect(resolveRestToolName(tools, "constructor.add")).toEqual({ kind: "unknown" });
  });

  it("answers other methods with 405", async () => {
    expect((await fetch(`${fixture.router.url}/mcp/invoke`)).status).toBe(405);
  });
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The documented REST error: exact body, and x-request-id equal to its request_id. */
async function expectRestError(
  response: Response,
  expected: {
    status: number;
    code: GatewayErrorCode;
    message?: string;
    requestId?: string | RegExp;
  },
): Promise<string> {
  expect(response.status).toBe(expected.status);
  expect(response.headers.get("content-type")).toBe("application/json");
  const requestId = response.headers.get(HEADER.requestId);
  expect(requestId).toMatch(
    expected.requestId === undefined
      ? UUID
      : expected.requestId instanceof RegExp
        ? expected.requestId
        : new RegExp(`^${expected.requestId}$`),
  );
  expect(await response.json()).toEqual({
    error: {
      code: expected.code,
      message: expected.message ?? GATEWAY_ERRORS[expected.code].message,
    },
    request_id: requestId,
  });
  return requestId!;
}

describe("REST error contract: the OpenAPI document", () => {
  type Operation = { responses: Record<string, Record<string, unknown>> };
  const document = () =>
    buildOpenApiDocument(fixture.config.tools, "0.0.0") as {
      paths: Record<string, Record<string, Operation>>;
    };

  it("documents every REST error as the Error schema with x-request-id", () => {
    const { paths } = document();
    const operations = [
      paths["/mcp/invoke"]!.post!,
      paths["/mcp/jobs/{job_id}"]!.get!,
      paths["/mcp/jobs/{job_id}"]!.delete!,
      paths["/admin/audit"]!.get!,
    ];
    for (const operation of operations) {
      const errors = Object.entries(operation.responses).filter(
        ([status]) => Number(status) >= 400,
      );
      expect(errors.length).toBeGreaterThan(0);
      for (const [, response] of errors) {
        expect(response).toMatchObject({
          headers: { "x-request-id": { $ref: "#/components/headers/x-request-id" } },
          content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
        });
      }
      expect(operation.responses["401"]!.headers).toHaveProperty("www-authenticate");
      expect(operation.responses["429"]!.headers).toHaveProperty("retry-after");
    }
    expect(Object.keys(operations[0]!.responses)).toEqual(
      expect.arrayContaining(["400", "401", "403", "404", "413", "415", "429", "500", "503"]),
    );
  });

  it("documents GET /admin/audit with exactly the filters the query accepts", () => {
    const doc = buildOpenApiDocument(fixture.config.tools, "0.0.0") as {
      paths: Record<string, { get: { parameters: { name: string; in: string }[] } }>;
      components: Record<string, Record<string, unknown>>;
    };
    const names = doc.paths["/admin/audit"]!.get.parameters.map((p) => `${p.in}:${p.name}`);
    expect(names).toEqual([...AUDIT_QUERY_FIELDS, "format"].map((name) => `query:${name}`));
    // Every $ref of the document names a component that exists.
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/(\w+)\/([\w-]+)"/g)];
    expect(refs.length).toBeGreaterThan(10);
    for (const [, kind, name] of refs)
      expect(doc.components[kind!], `${kind}/${name}`).toHaveProperty([name!]);
    const event = doc.components.schemas!.AuditEvent as { properties: Record<string, unknown> };
    expect(Object.keys(event.properties)).toEqual(
      expect.arrayContaining(["trace_id", "policy_rule"]),
    );
  });

  it("describes the Error shape the gateway answers", () => {
    const schema = (
      buildOpenApiDocument(fixture.config.tools, "0.0.0") as {
        components: { schemas: { Error: Record<string, unknown> } };
      }
    ).components.schemas.Error;
    expect(schema).toMatchObject({ required: ["error", "request_id"] });
    expect(schema).toHaveProperty(
      "properties.error.properties.code.enum",
      Object.keys(GATEWAY_ERRORS),
    );
  });
});

describe("REST error contract: the router's own refusals", () => {
  const url = (path: string) => `${fixture.router.url}${path}`;

  it("refuses a call without a verdict, echoing a well-formed client request id", async () => {
    const body = JSON.stringify({ tool_name: "calc.add" });
    const headers = { "content-type": "application/json" };
    await expectRestError(
      await fetch(url("/mcp/invoke"), {
        method: "POST",
        headers: { ...headers, [HEADER.requestId]: "client-req-1" },
        body,
      }),
      { status: 403, code: "GW_VERDICT_INVALID", requestId: "client-req-1" },
    );
    // A request id with a space (or over 200 characters) is replaced by a fresh one.
    await expectRestError(
      await fetch(url("/mcp/invoke"), {
        method: "POST",
        headers: { ...headers, [HEADER.requestId]: "not valid" },
        body,
      }),
      { status: 403, code: "GW_VERDICT_INVALID" },
    );
    await expectRestError(await fetch(url("/mcp/jobs/job-1")), {
      status: 403,
      code: "GW_VERDICT_INVALID",
    });
  });

  it("answers a genuine but unusable verdict under the verdict's request id", async () => {
    const expired = await invoke({ tool_name: "calc.add" }, ALICE, "calc", {
      [HEADER.verdict]: verdictFor(ALICE, "calc", JSON.stringify({ tool_name: "calc.add" }), {
        requestId: "verdict-req-expired",
        exp: Math.floor(Date.now() / 1000) - 1,
      }),
    });
    await expectRestError(expired, {
      status: 403,
      code: "GW_VERDICT_INVALID",
      requestId: "verdict-req-expired",
    });
    const otherBody = await invoke({ tool_name: "calc.add" }, ALICE, "calc", {
      [HEADER.verdict]: verdictFor(ALICE, "calc", "{}", { requestId: "verdict-req-body" }),
    });
    await expectRestError(otherBody, {
      status: 403,
      code: "GW_VERDICT_INVALID",
      requestId: "verdict-req-body",
    });
  });

  it("refuses a disallowed Origin and an unknown tool under the verdict's request id", async () => {
    const body = JSON.stringify({ tool_name: "calc.add", arguments: { a: 1, b: 1 } });
    const origin = await fetch(url("/mcp/invoke"), {
      method: "POST",
      headers: {
        "content-type": "application/json",
        origin: "https://evil.example",
        [HEADER.verdict]: verdictFor(ALICE, "calc", body, { requestId: "verdict-req-origin" }),
      },
      body,
    });
    await expectRestError(origin, {
      status: 403,
      code: "GW_ORIGIN_FORBIDDEN",
      requestId: "verdict-req-origin",
    });
    const unknown = await invoke({ tool_name: "calc.nope" }, ALICE, "calc", {
      [HEADER.verdict]: verdictFor(ALICE, "calc", JSON.stringify({ tool_name: "calc.nope" }), {
        requestId: "verdict-req-unknown",
      }),
    });
    await expectRestError(unknown, {
      status: 404,
      code: "GW_UNKNOWN_TOOL",
      message: "Unknown tool: calc.nope",
      requestId: "verdict-req-unknown",
    });
  });

  it("refuses a body over the limit while reading (413)", async () => {
    const body = JSON.stringify({
      tool_name: "calc.add",
      arguments: { pad: "x".repeat(1_100_000) },
    });
    const response = await fetch(url("/mcp/invoke"), {
      method: "POST",
      headers: {
        "content-type": "application/json",
        [HEADER.verdict]: verdictFor(ALICE, "calc", body),
      },
      body,
    });
    await expectRestError(response, { status: 413, code: "GW_PAYLOAD_TOO_LARGE" });
  });

  it.each([
    ["GET", "/mcp/invoke", "POST"],
    ["PUT", "/mcp/jobs/job-1", "GET, DELETE"],
  ])("answers %s %s with 405 and Allow", async (method, path, allow) => {
    const response = await fetch(url(path), { method });
    expect(response.headers.get("allow")).toBe(allow);
    await expectRestError(response, { status: 405, code: "GW_METHOD_NOT_ALLOWED" });
  });

  it("answers a malformed job id with 404 in the REST shape", async () => {
    await expectRestError(await fetch(url("/mcp/jobs/bad!id")), {
      status: 404,
      code: "GW_NOT_FOUND",
    });
  });

  it("keeps JSON-RPC bodies elsewhere, each refusal with an x-request-id", async () => {
    const unknownPath = await fetch(url("/nope"), { method: "POST", body: "{}" });
    expect(unknownPath.status).toBe(404);
    expect(unknownPath.headers.get(HEADER.requestId)).toMatch(UUID);
    expect(await unknownPath.json()).toMatchObject({
      jsonrpc: "2.0",
      error: { data: { code: "GW_NOT_FOUND" } },
    });
    const mcp = await fetch(url("/calc/mcp"), {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        [HEADER.requestId]: "client-req-mcp",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    expect(mcp.status).toBe(403);
    expect(mcp.headers.get(HEADER.requestId)).toBe("client-req-mcp");
    expect(await mcp.json()).toMatchObject({
      jsonrpc: "2.0",
      error: { data: { code: "GW_VERDICT_INVALID" } },
    });
  });
});

describe("paths, health, readiness, metrics and docs", () => {
  it.each(["/sse", "/messages", "/messages/abc", "/nope/mcp", "/calc/other", "/"])(
    "answers %s with 404",
    async (path) => {
      const response = await fetch(`${fixture.router.url}${path}`, { method: "POST", body: "{}" });
      expect(response.status).toBe(404);
    },
  );

  it("serves liveness and readiness", async () => {
    expect(await (await fetch(`${fixture.router.url}/health`)).json()).toEqual({ status: "ok" });
    const ready = await fetch(`${fixture.router.url}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({
      status: "ready",
      checks: { serving: "ok", database: "ok", registry: "ok" },
      // Detail that does not decide readiness: the running configuration and its reloads.
      config: expect.objectContaining({ status: "ok", restart_required: [] }),
    });
  });

  it("serves Prometheus metrics", async () => {
    const response = await fetch(`${fixture.router.url}/metrics`);
    expect(response.headers.get("content-type")).toContain("text/plain");
    const text = await response.text();
    expect(text).toContain("mcp_router_tool_calls_total");
    expect(text).toContain("mcp_router_http_requests_total");
    // The harness passes the store's audit writer: its totals and queue are exported.
    expect(text).toMatch(/^mcp_router_audit_events_written_total \d+$/m);
    expect(text).toMatch(/^mcp_router_audit_queue_events \d+$/m);
    expect(text).toContain("mcp_router_audit_events_failed_total 0");
  });

  it("counts /docs/mcp with the scope endpoints, not with the API pages at /docs", async () => {
    const counter = async (route: string, status: string): Promise<number> => {
      const text = await (await fetch(`${fixture.router.url}/metrics`)).text();
      const line = text
        .split("\n")
        .find((l) =>
          l.startsWith(`mcp_router_http_requests_total{route="${route}",status="${status}"}`),
        );
      return line === undefined ? 0 : Number(line.split(" ").at(-1));
    };
    const before = {
      scope: await counter("/{scope}/mcp", "404"),
      docs: await counter("/docs", "404"),
    };
    const response = await fetch(`${fixture.router.url}/docs/mcp`, { method: "POST", body: "{}" });
    expect(response.status).toBe(404);
    expect(await counter("/{scope}/mcp", "404")).toBe(before.scope + 1);
    expect(await counter("/docs", "404")).toBe(before.docs);
  });

  it("serves the OpenAPI 3.1 document and a rendered page with its assets", async () => {
    const doc = (await (await fetch(`${fixture.router.url}/docs/openapi.json`)).json()) as Record<
      string,
      unknown
    >;
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths as object)).toContain("/mcp/invoke");
    const page = await fetch(`${fixture.router.url}/docs`);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(await page.text()).toContain("swagger-ui-bundle.js");
    const bundle = await fetch(`${fixture.router.url}/docs/assets/swagger-ui-bundle.js`);
    expect(bundle.status).toBe(200);
    expect((await bundle.arrayBuffer()).byteLength).toBeGreaterThan(100_000);
    expect((await fetch(`${fixture.router.url}/docs/assets/..%2Fpackage.json`)).status).toBe(404);
  });
});
