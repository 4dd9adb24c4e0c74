import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyGatewayAuth } from "../../contract/src/gateway-auth.ts";
import type { InProcessHandler } from "../../contract/src/in-process-mcp.ts";
import {
  callUpstream,
  createBackendPools,
  UPSTREAM_PROTOCOL_VERSION,
  type JsonRpcNotificationMessage,
  type UpstreamCall,
} from "../src/forwarding.ts";

/** A backend whose answer each test scripts; it records what reached it. */
type Script = (request: IncomingMessage, body: string, response: ServerResponse) => void;
let script: Script = (_request, _body, response) => response.end();
const received: { path: string; headers: IncomingMessage["headers"]; body: string }[] = [];
const server = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on("data", (chunk: Buffer) => chunks.push(chunk));
  request.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    received.push({ path: request.url ?? "", headers: request.headers, body });
    script(request, body, response);
  });
});
const pools = createBackendPools();
let backendUrl = "";
const SECRET = "forwarding-test-secret-0123456789-abcdefghij";

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  backendUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await pools.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function call(overrides: Partial<UpstreamCall> = {}) {
  return callUpstream(pools, {
    backendUrl,
    scope: "calculator",
    method: "tools/call",
    params: { name: "exact_calculate", arguments: { operator: "add", operands: ["1", "2"] } },
    userId: "alice",
    requestId: "req-1",
    secret: SECRET,
    timeoutMs: 5_000,
    maxResponseBytes: 64 * 1024,
    ...overrides,
  });
}

function json(status: number, message: unknown): Script {
  return (_request, _body, response) => {
    response.writeHead(status, { "content-type": "application/json" });
    response.end(JSON.stringify(message));
  };
}

function sse(...events: string[]): Script {
  return (_request, _body, response) => {
    response.writeHead(200, { "content-type": "text/event-stream" });
    for (const data of events) response.write(`data: ${data}\n\n`);
    response.end();
  };
}

const RESULT = { jsonrpc: "2.0", id: 1, result: { content: [{ type: "text", text: "3" }] } };

describe("callUpstream", () => {
  it("posts one signed JSON-RPC request to {backend_url}/mcp, with or without a trailing slash", async () => {
    script = json(200, RESULT);
    for (const url of [backendUrl, `${backendUrl}/`]) {
      received.length = 0;
      const outcome = await call({ backendUrl: url });
      expect(outcome).toMatchObject({ kind: "result", result: RESULT.result });
      const [seen] = received;
      expect(seen!.path).toBe("/mcp");
      expect(seen!.headers["x-user-id"]).toBe("alice");
      expect(seen!.headers["x-request-id"]).toBe("req-1");
      const check = verifyGatewayAuth(String(seen!.headers["x-gateway-auth"]), {
        secret: SECRET,
        audience: "calculator",
        windowSeconds: 60,
        userId: "alice",
        requestId: "req-1",
        body: Buffer.from(seen!.body),
      });
      expect(check.ok).toBe(true);
      expect(JSON.parse(seen!.body)).toMatchObject({ jsonrpc: "2.0", id: 1, method: "tools/call" });
      expect(outcome.requestBytes).toBe(Buffer.byteLength(seen!.body));
    }
  });

  it("returns a JSON-RPC error as rpc_error", async () => {
    script = json(200, { jsonrpc: "2.0", id: 1, error: { code: -32602, message: "bad" } });
    expect(await call()).toMatchObject({
      kind: "rpc_error",
      error: { code: -32602, message: "bad" },
    });
  });

  it.each([
    ["not an object", [1, 2]],
    ["another JSON-RPC version", { jsonrpc: "1.0", id: 1, result: {} }],
    ["another id", { jsonrpc: "2.0", id: 2, result: {} }],
    [
      "an error without a numeric code",
      { jsonrpc: "2.0", id: 1, error: { code: "x", message: "m" } },
    ],
    ["an error without a message", { jsonrpc: "2.0", id: 1, error: { code: 1 } }],
    ["neither result nor error", { jsonrpc: "2.0", id: 1 }],
    ["a result that is not an object", { jsonrpc: "2.0", id: 1, result: "3" }],
  ])("refuses %s as invalid_response", async (_name, message) => {
    script = json(200, message);
    expect(await call()).toMatchObject({ kind: "failure", reason: "invalid_response" });
  });

  it("refuses a body that is not JSON, and a content type it does not speak", async () => {
    script = (_request, _body, response) => {
      response.writeHead(200, { "content-type": "application/json" });
      response.end("{not json");
    };
    expect(await call()).toMatchObject({ kind: "failure", reason: "invalid_response" });
    script = (_request, _body, response) => {
      response.writeHead(200, { "content-type": "text/plain" });
      response.end("3");
    };
    expect(await call()).toMatchObject({ kind: "failure", reason: "invalid_response" });
  });

  it("reports a non-2xx answer as http_error with its status", async () => {
    script = json(502, { error: "down" });
    expect(await call()).toMatchObject({ kind: "failure", reason: "http_error", status: 502 });
  });

  it("relays notifications streamed before the response, skipping empty events", async () => {
    script = sse(
      JSON.stringify({ jsonrpc: "2.0", method: "notifications/progress", params: { progress: 1 } }),
      "",
      JSON.stringify({ jsonrpc: "2.0", method: "notifications/tools/list_changed" }),
      JSON.stringify(RESULT),
    );
    const notifications: JsonRpcNotificationMessage[] = [];
    const outcome = await call({ onNotification: (n) => notifications.push(n) });
    expect(outcome).toMatchObject({ kind: "result", result: RESULT.result });
    expect(outcome.responseBytes).toBeGreaterThan(0);
    expect(notifications).toEqual([
      { jsonrpc: "2.0", method: "notifications/progress", params: { progress: 1 } },
      { jsonrpc: "2.0", method: "notifications/tools/list_changed" },
    ]);
  });

  it("refuses a stream with a message that is neither, or that ends without a response", async () => {
    script = sse(JSON.stringify({ jsonrpc: "2.0", id: 7, result: {} }));
    expect(await call()).toMatchObject({ kind: "failure", reason: "invalid_response" });
    script = sse(JSON.stringify({ jsonrpc: "2.0", method: "notifications/progress" }));
    expect(await call()).toMatchObject({ kind: "failure", reason: "invalid_response" });
  });

  it("stops reading past maxResponseBytes, streamed or not", async () => {
    const big = { ...RESULT, result: { content: [{ type: "text", text: "x".repeat(4096) }] } };
    script = json(200, big);
    expect(await call({ maxResponseBytes: 1024 })).toMatchObject({
      kind: "failure",
      reason: "too_large",
    });
    script = sse(JSON.stringify(big));
    expect(await call({ maxResponseBytes: 1024 })).toMatchObject({
      kind: "failure",
      reason: "too_large",
    });
  });

  it("tells a timeout from a cancellation from an unreachable backend", async () => {
    script = () => undefined; // never answers
    expect(await call({ timeoutMs: 100 })).toMatchObject({ kind: "failure", reason: "timeout" });

    const cancel = new AbortController();
    const cancelled = call({ signal: cancel.signal });
    setImmediate(() => cancel.abort());
    expect(await cancelled).toMatchObject({ kind: "failure", reason: "cancelled" });

    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    expect(await call({ backendUrl: `http://127.0.0.1:${port}` })).toMatchObject({
      kind: "failure",
      reason: "unavailable",
    });
  });
});

describe("callUpstream to a tool server in this process", () => {
  type Reply = Awaited<ReturnType<InProcessHandler>>;
  const handed: { headers: Readonly<Record<string, string>>; body: string; signal: AbortSignal }[] =
    [];
  let answer: (request: (typeof handed)[number]) => Promise<Reply> = () =>
    Promise.resolve({ status: 200, headers: JSON_TYPE, body: JSON.stringify(RESULT) });
  const JSON_TYPE = { "content-type": "application/json" };
  const origin = "http://127.0.0.1:1";
  const local = createBackendPools({
    inProcess: new Map<string, InProcessHandler>([
      [
        origin,
        (request) => {
          handed.push(request);
          return answer(request);
        },
      ],
    ]),
  });
  afterAll(() => local.close());

  function callLocal(overrides: Partial<UpstreamCall> = {}) {
    handed.length = 0;
    return callUpstream(local, {
      backendUrl: origin,
      scope: "calculator",
      method: "tools/call",
      params: { name: "exact_calculate", arguments: { operator: "add", operands: ["1", "2"] } },
      userId: "alice",
      requestId: "req-local",
      secret: SECRET,
      timeoutMs: 5_000,
      maxResponseBytes: 64 * 1024,
      ...overrides,
    });
  }

  function replying(reply: Reply) {
    answer = () => Promise.resolve(reply);
  }

  it("hands over the headers and signed body HTTP would carry, and reads the answer", async () => {
    replying({ status: 200, headers: JSON_TYPE, body: JSON.stringify(RESULT) });
    const outcome = await callLocal();
    expect(outcome).toMatchObject({ kind: "result", result: RESULT.result });
    const [seen] = handed;
    expect(seen!.headers["x-user-id"]).toBe("alice");
    expect(seen!.headers["x-request-id"]).toBe("req-local");
    expect(seen!.headers["mcp-protocol-version"]).toBe(UPSTREAM_PROTOCOL_VERSION);
    const check = verifyGatewayAuth(seen!.headers["x-gateway-auth"], {
      secret: SECRET,
      audience: "calculator",
      userId: "alice",
      requestId: "req-local",
      body: seen!.body,
    });
    expect(check.ok).toBe(true);
    expect(outcome.requestBytes).toBe(Buffer.byteLength(seen!.body));
    expect(outcome.responseBytes).toBe(JSON.stringify(RESULT).length);
  });

  it("classifies the answer as over HTTP", async () => {
    const failures: [string, Reply, Record<string, unknown>][] = [
      [
        "a refusal",
        { status: 401, headers: JSON_TYPE, body: "{}" },
        { reason: "http_error", status: 401 },
      ],
      [
        "a body that is not JSON",
        { status: 200, headers: JSON_TYPE, body: "{" },
        { reason: "invalid_response" },
      ],
      [
        "another content type",
        { status: 200, headers: { "content-type": "text/plain" }, body: JSON.stringify(RESULT) },
        { reason: "invalid_response" },
      ],
      [
        "an answer over the limit",
        {
          status: 200,
          headers: JSON_TYPE,
          body: JSON.stringify({ ...RESULT, pad: "x".repeat(2048) }),
        },
        { reason: "too_large" },
      ],
    ];
    for (const [label, reply, expected] of failures) {
      replying(reply);
      const outcome = await callLocal({ maxResponseBytes: 1024 });
      expect({ label, outcome }).toMatchObject({
        label,
        outcome: { kind: "failure", ...expected },
      });
    }
    replying({
      status: 200,
      headers: JSON_TYPE,
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, error: { code: -32602, message: "bad" } }),
    });
    expect(await callLocal()).toMatchObject({
      kind: "rpc_error",
      error: { code: -32602, message: "bad" },
    });
  });

  it("stops waiting at its timeout or the caller's cancellation, and tells the tool server", async () => {
    answer = (request) =>
      new Promise((resolve) =>
        request.signal.addEventListener("abort", () => resolve("cancelled"), { once: true }),
      );
    expect(await callLocal({ timeoutMs: 50 })).toMatchObject({
      kind: "failure",
      reason: "timeout",
    });
    expect(handed[0]!.signal.aborted).toBe(true);

    // A tool server that never settles: the caller is answered all the same.
    answer = () => new Promise(() => undefined);
    const cancel = new AbortController();
    const cancelled = callLocal({ signal: cancel.signal });
    setImmediate(() => cancel.abort());
    expect(await cancelled).toMatchObject({ kind: "failure", reason: "cancelled" });
    expect(handed[0]!.signal.aborted).toBe(true);
  });

  it("reports a tool server that is closing or failing as unavailable", async () => {
    answer = () => Promise.reject(new Error("tool server calculator is closing"));
    expect(await callLocal()).toMatchObject({ kind: "failure", reason: "unavailable" });
  });

  it("goes over HTTP for a URL of the same origin that is not /mcp there", async () => {
    const outcome = await callLocal({ backendUrl: `${origin}/prefix` });
    expect(handed).toEqual([]);
    // Nothing listens on port 1.
    expect(outcome).toMatchObject({ kind: "failure", reason: "unavailable" });
  });
});
