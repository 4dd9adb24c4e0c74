import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createLogger } from "../../../contract/src/log.ts";
import { signedHeaders } from "../src/testing.ts";
import { defineTool, toolOk } from "../src/tool-definition.ts";
import {
  createToolServer,
  ToolServerClosedError,
  type InProcessRequest,
  type ToolServer,
} from "../src/tool-server.ts";

/**
 * exchange(): a POST /mcp handed over in-process (the embedded stack's router) is checked and
 * answered exactly as over HTTP — same statuses, headers and bodies, X-Gateway-Auth and its replay
 * check included — and the caller's signal cancels the call as a closed connection does.
 */

const MAX_REQUEST_BYTES = 2048;
const secret = randomBytes(32).toString("hex");
const name = "in-process-tools";

const echo = defineTool({
  name: "echo_tool",
  description: "Answers with its text",
  inputSchema: z.object({ text: z.string() }),
  outputSchema: z.object({ text: z.string(), user: z.string() }),
  annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  handler: ({ text }, context) => toolOk({ text, user: context.userId }),
});

const started: (() => void)[] = [];
let aborted: ((value: boolean) => void) | undefined;
const waits = defineTool({
  name: "wait_tool",
  description: "Waits until its call is cancelled",
  inputSchema: z.object({}),
  outputSchema: z.object({ done: z.boolean() }),
  annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  handler: async (_input, context) => {
    started.shift()?.();
    await new Promise<void>((resolve) =>
      context.signal.addEventListener("abort", () => resolve(), { once: true }),
    );
    aborted?.(context.signal.aborted);
    return toolOk({ done: true });
  },
});

let server: ToolServer;
let mcpUrl: string;

beforeAll(async () => {
  server = createToolServer({
    name,
    version: "0.0.0",
    tools: [echo, waits],
    auth: { secret },
    maxRequestBytes: MAX_REQUEST_BYTES,
    logger: createLogger({ name, level: "silent" }),
  });
  mcpUrl = `${(await server.listen(0, "127.0.0.1")).url}/mcp`;
});
afterAll(async () => {
  await server.close({ graceMs: 1_000 });
});

let nextId = 0;
function callBody(tool: string, args: Record<string, unknown>): string {
  nextId += 1;
  return JSON.stringify({
    jsonrpc: "2.0",
    id: nextId,
    method: "tools/call",
    params: { name: tool, arguments: args },
  });
}

function request(
  body: string,
  options: { signal?: AbortSignal; headers?: Record<string, string>; requestId?: string } = {},
): InProcessRequest {
  return {
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": "2025-11-25",
      ...signedHeaders({
        secret,
        audience: name,
        userId: "alice",
        requestId: options.requestId ?? `r-${nextId}`,
        body,
      }),
      ...options.headers,
    },
    body,
    signal: options.signal ?? new AbortController().signal,
  };
}

async function overHttp(call: InProcessRequest) {
  const response = await fetch(mcpUrl, { method: "POST", headers: call.headers, body: call.body });
  return {
    status: response.status,
    contentType: response.headers.get("content-type"),
    body: await response.text(),
  };
}

describe("a tool server's in-process exchange", () => {
  it("answers a tools/call with the body HTTP would carry", async () => {
    const body = callBody("echo_tool", { text: "héllo" });
    const reply = await server.exchange(request(body, { requestId: "r-in" }));
    if (reply === "cancelled") throw new Error("cancelled");
    const http = await overHttp(request(body, { requestId: "r-http" }));
    expect(reply.status).toBe(200);
    expect(reply.headers["content-type"]).toBe(http.contentType);
    expect(reply.body).toBe(http.body);
    expect(JSON.parse(reply.body)).toMatchObject({
      result: { structuredContent: { text: "héllo", user: "alice" } },
    });
  });

  it("takes header names in any case", async () => {
    const body = callBody("echo_tool", { text: "x" });
    const call = request(body);
    const upper = Object.fromEntries(
      Object.entries(call.headers).map(([key, value]) => [key.toUpperCase(), value]),
    );
    const reply = await server.exchange({ ...call, headers: upper });
    expect(reply !== "cancelled" && reply.status).toBe(200);
  });

  it("refuses what HTTP refuses, with the same status and body", async () => {
    const body = callBody("echo_tool", { text: "x" });
    const signed = request(body);
    const { "x-gateway-auth": _auth, ...unsigned } = signed.headers;
    const tampered = { ...signed, body: callBody("echo_tool", { text: "y" }) };
    const oversized = callBody("echo_tool", { text: "p".repeat(MAX_REQUEST_BYTES) });
    const cases: [string, InProcessRequest, number][] = [
      ["no X-Gateway-Auth", { ...signed, headers: unsigned }, 401],
      ["a body other than the signed one", tampered, 401],
      ["a body over the limit", request(oversized), 413],
    ];
    for (const [label, call, status] of cases) {
      const reply = await server.exchange(call);
      const http = await overHttp({ ...call, headers: { ...call.headers } });
      if (reply === "cancelled") throw new Error(`${label}: cancelled`);
      expect({ label, status: reply.status }).toEqual({ label, status });
      expect({ label, status: http.status }).toEqual({ label, status });
      expect(JSON.parse(reply.body)).toEqual(JSON.parse(http.body));
    }
  });

  it("refuses a header already used, in-process or over HTTP", async () => {
    const body = callBody("echo_tool", { text: "once" });
    const call = request(body);
    const first = await server.exchange(call);
    expect(first !== "cancelled" && first.status).toBe(200);
    const again = await server.exchange(call);
    expect(again !== "cancelled" && again.status).toBe(401);
    expect((await overHttp(call)).status).toBe(401);
  });

  it("cancels the tool when the caller's signal aborts", async () => {
    const running = new Promise<void>((resolve) => started.push(resolve));
    const toolSaw = new Promise<boolean>((resolve) => {
      aborted = resolve;
    });
    const controller = new AbortController();
    const reply = server.exchange(
      request(callBody("wait_tool", {}), { signal: controller.signal }),
    );
    await running;
    controller.abort();
    expect(await reply).toBe("cancelled");
    expect(await toolSaw).toBe(true);
  });
});

describe("an in-process exchange during close()", () => {
  it("refuses new calls at once and cancels a running one when the grace period ends", async () => {
    const closing = createToolServer({
      name,
      version: "0.0.0",
      tools: [echo, waits],
      auth: { secret },
      logger: createLogger({ name, level: "silent" }),
    });
    await closing.listen(0, "127.0.0.1");
    const running = new Promise<void>((resolve) => started.push(resolve));
    const toolSaw = new Promise<boolean>((resolve) => {
      aborted = resolve;
    });
    const call = closing.exchange(request(callBody("wait_tool", {})));
    await running;
    const closed = closing.close({ graceMs: 50 });
    await expect(closing.exchange(request(callBody("echo_tool", { text: "x" })))).rejects.toThrow(
      ToolServerClosedError,
    );
    await closed;
    // The grace period ran out: close() aborted the call, whose caller learns it was cancelled.
    expect(await toolSaw).toBe(true);
    expect(await call).toBe("cancelled");
  });
});
