import { once } from "node:events";
import http from "node:http";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HEADER } from "../../contract/src/headers.ts";
import { AuditQueueFullError } from "../../store/src/audit-writer.ts";
import {
  ALICE,
  LEGACY_ACCEPT,
  openSession,
  postMcp,
  readMessages,
  sessionHeaders,
  startRouterFixture,
  testConfig,
  verdictFor,
  verdictSigningFetch,
  type RouterFixture,
} from "./router-harness.ts";

const call = (
  id: number,
  name: string,
  args: Record<string, unknown> = {},
  meta?: Record<string, unknown>,
) => ({
  jsonrpc: "2.0",
  id,
  method: "tools/call",
  params: { name, arguments: args, ...(meta === undefined ? {} : { _meta: meta }) },
});

describe("tools/call forwarding, limits and audit", () => {
  let fixture: RouterFixture;
  let endpoint: string;
  let sessionId: string;
  beforeAll(async () => {
    fixture = await startRouterFixture({
      config: (url) =>
        testConfig(url, { timeoutMs: 400, maxResponseBytes: 5_000, auditArguments: "full" }),
      router: { maxRequestBytes: 10_000 },
    });
    endpoint = `${fixture.router.url}/calc/mcp`;
    sessionId = await openSession(endpoint);
  });
  afterAll(async () => {
    await fixture.close();
  });

  const send = (message: unknown, headers: Record<string, string> = {}) =>
    postMcp(endpoint, message, { headers: { ...sessionHeaders(sessionId), ...headers } });

  it("passes an isError result through unchanged and audits it as tool_error", async () => {
    const response = await send(call(1, "fail", { password: "hunter2", x: 1 }));
    expect(response.status).toBe(200);
    const [message] = await readMessages(response);
    expect(message!.result).toEqual({
      content: [{ type: "text", text: "division by zero" }],
      isError: true,
    });
    const requestId = response.headers.get(HEADER.requestId)!;
    const [row] = await fixture.auditRows({ request_id: requestId });
    expect(row).toMatchObject({
      kind: "invocation",
      subject: "alice",
      tenant: "acme",
      scope: "calc",
      tool: "fail",
      method: "tools/call",
      outcome: "tool_error",
      reason: "tool_error",
      arguments: { password: "[redacted]", x: 1 },
    });
    expect(row!.arguments_digest).toMatch(/^[0-9a-f]{64}$/);
    expect(row!.latency_ms).toBeGreaterThanOrEqual(0);
    expect(row!.request_bytes).toBeGreaterThan(0);
    expect(row!.response_bytes).toBeGreaterThan(0);
  });

  it("audits a successful call with outcome success", async () => {
    const response = await send(call(2, "add", { a: 1, b: 2 }));
    const [row] = await fixture.auditRows({ request_id: response.headers.get(HEADER.requestId)! });
    expect(row).toMatchObject({ outcome: "ok", reason: null, status: 200 });
  });

  it("aborts the upstream call at the tool's timeout and says so", async () => {
    const closed = once(fixture.backend.events, "client-closed");
    const response = await send(call(3, "slow", { ms: 10_000 }));
    const [message] = await readMessages(response);
    expect(message!.error).toMatchObject({
      code: -32008,
      message: "Tool call timed out after 400 ms",
      data: { code: "GW_UPSTREAM_TIMEOUT" },
    });
    await closed;
    const [row] = await fixture.auditRows({ request_id: response.headers.get(HEADER.requestId)! });
    expect(row).toMatchObject({ outcome: "timeout", reason: "timeout" });
  });

  it("caps the response size", async () => {
    const small = await send(call(4, "big", { bytes: 1_000 }));
    expect((await readMessages(small))[0]!.result).toBeDefined();
    const large = await send(call(5, "big", { bytes: 50_000 }));
    const [message] = await readMessages(large);
    expect(message!.error).toMatchObject({ data: { code: "GW_UPSTREAM_RESPONSE_TOO_LARGE" } });
  });

  it("streams backend progress notifications to the client as SSE, the response last", async () => {
    const response = await send(call(6, "progress", {}, { progressToken: "tok-1" }));
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const messages = await readMessages(response);
    expect(messages.map((m) => m.method ?? "response")).toEqual([
      "notifications/progress",
      "notifications/progress",
      "response",
    ]);
    expect(messages[0]!.params).toMatchObject({ progressToken: "tok-1", progress: 1 });
    expect(messages[2]).toMatchObject({
      id: 6,
      result: { content: [{ type: "text", text: "finished" }] },
    });
  });

  it("delivers progress to the SDK client's onprogress", async () => {
    const client = new Client({ name: "sdk1", version: "1" });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(endpoint), {
        fetch: verdictSigningFetch(ALICE, "calc"),
      }),
    );
    const progress: number[] = [];
    const result = await client.callTool({ name: "progress", arguments: {} }, undefined, {
      onprogress: (p) => progress.push(p.progress),
    });
    expect(progress).toEqual([1, 2]);
    expect(result.content).toEqual([{ type: "text", text: "finished" }]);
    await client.close();
  });

  it("aborts the upstream call on notifications/cancelled", async () => {
    const started = once(fixture.backend.events, "call");
    const closed = once(fixture.backend.events, "client-closed");
    const pending = send(call(77, "slow", { ms: 10_000 }));
    await started;
    const cancel = await send({
      jsonrpc: "2.0",
      method: "notifications/cancelled",
      params: { requestId: 77 },
    });
    expect(cancel.status).toBe(202);
    await closed;
    const response = await pending;
    // A cancelled request is not answered (spec: SHOULD NOT): 202 and no JSON-RPC message.
    expect(response.status).toBe(202);
    expect(await response.text()).toBe("");
    const [row] = await fixture.auditRows({ request_id: response.headers.get(HEADER.requestId)! });
    expect(row).toMatchObject({ outcome: "cancelled", reason: "cancelled" });
  });

  it("does not let another session cancel the call", async () => {
    const otherSession = await openSession(endpoint);
    const started = once(fixture.backend.events, "call");
    const pending = send(call(78, "slow", { ms: 300 }));
    await started;
    await postMcp(
      endpoint,
      { jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 78 } },
      {
        headers: sessionHeaders(otherSession),
      },
    );
    const [message] = await readMessages(await pending);
    expect(message!.result).toMatchObject({ content: [{ type: "text", text: "done" }] });
  });

  it.each([
    ["a tool not in tools.yaml", "hidden"],
    ["a disabled tool", "disabled_tool"],
    ["the removed meta-tool find_tools", "find_tools"],
    ["the removed meta-tool call_tool", "call_tool"],
  ])("answers %s as an unknown tool (-32602)", async (_name, tool) => {
    const response = await postMcp(endpoint, call(8, tool), {
      identity: { ...ALICE, tools: [...ALICE.tools!, tool] },
      headers: sessionHeaders(sessionId),
    });
    const [message] = await readMessages(response);
    expect(message!.error).toMatchObject({ code: -32602, data: { code: "GW_UNKNOWN_TOOL" } });
  });

  it("refuses non-object arguments", async () => {
    const response = await send({
      jsonrpc: "2.0",
      id: 9,
      method: "tools/call",
      params: { name: "add", arguments: [1, 2] },
    });
    const [message] = await readMessages(response);
    expect(message!.error).toMatchObject({ code: -32602 });
  });

  it("refuses a body over the limit with 413, by Content-Length and while reading a chunked body", async () => {
    const big = JSON.stringify(call(10, "add", { pad: "x".repeat(20_000) }));
    const declared = await fetch(endpoint, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: LEGACY_ACCEPT,
        [HEADER.verdict]: verdictFor(ALICE, "calc", big),
      },
      body: big,
    });
    expect(declared.status).toBe(413);

    const { port, hostname } = new URL(endpoint);
    const status = await new Promise<number>((resolve, reject) => {
      const request = http.request(
        {
          host: hostname,
          port,
          path: "/calc/mcp",
          method: "POST",
          headers: {
            "content-type": "application/json",
            accept: LEGACY_ACCEPT,
            "transfer-encoding": "chunked",
          },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      request.on("error", reject);
      // Chunks keep coming; the router must answer without waiting for the end.
      for (let i = 0; i < 4; i++) request.write("x".repeat(4_000));
    });
    expect(status).toBe(413);
  });

  it("rejects wrong Content-Type (415), Accept (406), bad JSON (400) and batches (400)", async () => {
    const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" });
    const base = {
      [HEADER.verdict]: verdictFor(ALICE, "calc", body),
      ...sessionHeaders(sessionId),
    };
    expect(
      (
        await fetch(endpoint, {
          method: "POST",
          body,
          headers: { ...base, "content-type": "text/plain", accept: LEGACY_ACCEPT },
        })
      ).status,
    ).toBe(415);
    expect(
      (
        await fetch(endpoint, {
          method: "POST",
          body,
          headers: {
            ...base,
            [HEADER.verdict]: verdictFor(ALICE, "calc", body),
            "content-type": "application/json",
            accept: "application/json",
          },
        })
      ).status,
    ).toBe(406);
    const parse = await postMcp(endpoint, null, {
      rawBody: "{not json",
      headers: sessionHeaders(sessionId),
    });
    expect(parse.status).toBe(400);
    expect(((await readMessages(parse))[0]!.error as { code: number }).code).toBe(-32700);
    const batch = await postMcp(endpoint, [{ jsonrpc: "2.0", id: 1, method: "ping" }], {
      headers: sessionHeaders(sessionId),
    });
    expect(batch.status).toBe(400);
  });
});

describe("backend failures", () => {
  it("answers a clear error when the backend is down and audits it", async () => {
    const fixture = await startRouterFixture();
    try {
      const endpoint = `${fixture.router.url}/other/mcp`;
      const identity = { ...ALICE, tools: ["add"] };
      const sessionId = await openSession(endpoint, identity);
      const response = await postMcp(endpoint, call(1, "add", { a: 1, b: 1 }), {
        identity,
        headers: sessionHeaders(sessionId),
      });
      const [message] = await readMessages(response);
      expect(message!.error).toMatchObject({
        code: -32009,
        message: "Tool backend is unavailable",
      });
      const [row] = await fixture.auditRows({
        request_id: response.headers.get(HEADER.requestId)!,
      });
      expect(row).toMatchObject({
        outcome: "upstream_error",
        reason: "upstream_error",
        scope: "other",
      });
      const list = await postMcp(
        endpoint,
        { jsonrpc: "2.0", id: 2, method: "tools/list" },
        { identity, headers: sessionHeaders(sessionId) },
      );
      expect(((await readMessages(list))[0]!.error as { code: number }).code).toBe(-32009);
    } finally {
      await fixture.close();
    }
  });

  it("fails closed with 503 when the audit queue is full, before the tool is asked", async () => {
    const full = () => Promise.reject(new AuditQueueFullError());
    const fixture = await startRouterFixture({
      audit: { write: full, commit: full, begin: full },
    });
    try {
      const endpoint = `${fixture.router.url}/calc/mcp`;
      const sessionId = await openSession(endpoint);
      const response = await postMcp(endpoint, call(1, "add", { a: 1, b: 1 }), {
        headers: sessionHeaders(sessionId),
      });
      expect(response.status).toBe(503);
      expect((await readMessages(response))[0]!.error).toMatchObject({
        data: { code: "GW_AUDIT_UNAVAILABLE" },
      });
      expect(fixture.backend.seen.filter((seen) => seen.method === "tools/call")).toEqual([]);
      const list = await postMcp(
        endpoint,
        { jsonrpc: "2.0", id: 2, method: "tools/list" },
        { headers: sessionHeaders(sessionId) },
      );
      expect(list.status).toBe(503);
    } finally {
      await fixture.close();
    }
  });
});

describe("cancelled calls are not answered", () => {
  let fixture: RouterFixture;
  let endpoint: string;
  let sessionId: string;
  beforeAll(async () => {
    // A long tool timeout, so only the cancellation can end these calls.
    fixture = await startRouterFixture({ config: (url) => testConfig(url, { timeoutMs: 60_000 }) });
    endpoint = `${fixture.router.url}/calc/mcp`;
    sessionId = await openSession(endpoint);
  });
  afterAll(async () => {
    await fixture.close();
  });

  const send = (message: unknown) =>
    postMcp(endpoint, message, { headers: sessionHeaders(sessionId) });

  it("ends an SSE answer without a response when the call is cancelled", async () => {
    const response = await send(
      call(79, "slow", { ms: 10_000, progress: true }, { progressToken: 1 }),
    );
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const closed = once(fixture.backend.events, "client-closed");
    const cancel = await send({
      jsonrpc: "2.0",
      method: "notifications/cancelled",
      params: { requestId: 79 },
    });
    expect(cancel.status).toBe(202);
    await closed;
    const messages = await readMessages(response);
    expect(messages.map((m) => m.method ?? "response")).toEqual(["notifications/progress"]);
  });

  it("lets the SDK client cancel a call without reporting a stray response", async () => {
    const client = new Client({ name: "sdk1", version: "1" });
    const errors: Error[] = [];
    client.onerror = (error) => errors.push(error);
    await client.connect(
      new StreamableHTTPClientTransport(new URL(endpoint), {
        fetch: verdictSigningFetch(ALICE, "calc"),
      }),
    );
    const started = once(fixture.backend.events, "call");
    const closed = once(fixture.backend.events, "client-closed");
    const controller = new AbortController();
    const pending = client.callTool({ name: "slow", arguments: { ms: 10_000 } }, undefined, {
      signal: controller.signal,
    });
    await started;
    controller.abort("user gave up");
    await expect(pending).rejects.toThrow();
    await closed;
    // A full round trip on the same client: the cancelled call's HTTP answer is handled by then.
    await client.listTools();
    await client.listTools();
    expect(errors).toEqual([]);
    await client.close();
  });
});
