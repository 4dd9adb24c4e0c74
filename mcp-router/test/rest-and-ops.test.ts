import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HEADER } from "../../contract/src/headers.ts";
import { resolveToolName } from "../src/rest-invoke.ts";
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
    ["missing tool_name", { arguments: {} }, "GW_INVALID_PARAMS"],
    ["arguments not an object", { tool_name: "calc.add", arguments: [1] }, "GW_INVALID_PARAMS"],
    ["unknown field", { tool_name: "calc.add", extra: 1 }, "GW_INVALID_PARAMS"],
    ["an ambiguous bare name", { tool_name: "add" }, "GW_INVALID_PARAMS"],
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
    expect(resolveToolName(tools, "calc.add")).toEqual({
      kind: "found",
      scope: "calc",
      tool: "add",
    });
    expect(resolveToolName(tools, "slow")).toEqual({ kind: "found", scope: "calc", tool: "slow" });
    expect(resolveToolName(tools, "add")).toEqual({ kind: "ambiguous" });
    expect(resolveToolName(tools, "nope.add")).toEqual({ kind: "unknown" });
  });

  it("answers other methods with 405", async () => {
    expect((await fetch(`${fixture.router.url}/mcp/invoke`)).status).toBe(405);
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
      checks: { database: "ok", registry: "ok" },
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
