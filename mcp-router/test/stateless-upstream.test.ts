import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StreamableHttpServerSchema } from "../../config/src/tools-schema.ts";
import type { JsonRpcNotificationMessage } from "../src/forwarding.ts";
import { createStatelessMcpServerBackend } from "../src/upstream/stateless-upstream.ts";
import { quietLogger } from "./router-harness.ts";

/**
 * The 2026-07-28 upstream client against a scripted server: the envelope and headers it sends,
 * JSON and SSE answers, and what it does with an InputRequiredResult and with bad answers.
 */

type Seen = { headers: http.IncomingHttpHeaders; body: Record<string, unknown> };
type Script = (seen: Seen, res: http.ServerResponse) => void;

let server: http.Server;
let url: string;
const seen: Seen[] = [];
let script: Script = () => undefined;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const entry = {
        headers: req.headers,
        body: JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>,
      };
      seen.push(entry);
      script(entry, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

function backend() {
  return createStatelessMcpServerBackend({
    config: StreamableHttpServerSchema.parse({
      transport: "streamable-http",
      url,
      protocol_version: "2026-07-28",
      headers: { "X-Team": "platform" },
    }),
    env: {},
    logger: quietLogger,
    clientInfo: { name: "mcp-gateway", version: "test" },
  });
}

const json = (res: http.ServerResponse, body: unknown, status = 200) => {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
};
const answer = (seenBody: Record<string, unknown>, result: Record<string, unknown>) => ({
  jsonrpc: "2.0",
  id: seenBody.id,
  result,
});

const request = (method: string, params: Record<string, unknown> = {}) => ({
  method,
  params,
  timeoutMs: 5_000,
  maxResponseBytes: 10_000,
});

describe("stateless (2026-07-28) upstream", () => {
  it("sends the envelope and the routing headers, and reads a JSON answer", async () => {
    seen.length = 0;
    script = (entry, res) => json(res, answer(entry.body, { content: [] }));
    const outcome = await backend().call(
      "user",
      {
        ...request("tools/call", {
          name: "search",
          arguments: { q: "x" },
          _meta: { progressToken: 7 },
        }),
        headers: { "mcp-param-region": "eu" },
      },
      ["elicitation"],
    );
    expect(outcome).toMatchObject({ kind: "result", result: { content: [] } });
    const [sent] = seen;
    expect(sent!.headers).toMatchObject({
      "mcp-protocol-version": "2026-07-28",
      "mcp-method": "tools/call",
      "mcp-name": "search",
      "mcp-param-region": "eu",
      "x-team": "platform",
    });
    expect(sent!.body.params).toEqual({
      name: "search",
      arguments: { q: "x" },
      _meta: {
        progressToken: 7,
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": { name: "mcp-gateway", version: "test" },
        // The gateway waits for this answer, so the server may run the call as a task.
        "io.modelcontextprotocol/clientCapabilities": {
          elicitation: {},
          extensions: { "io.modelcontextprotocol/tasks": {} },
        },
      },
    });
  });

  it("relays the notifications of an SSE answer before its response", async () => {
    script = (entry, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      const progress = {
        jsonrpc: "2.0",
        method: "notifications/progress",
        params: { progress: 1 },
      };
      res.write(`data: ${JSON.stringify(progress)}\r\n\r\n`);
      res.end(`event: message\ndata: ${JSON.stringify(answer(entry.body, { ok: true }))}\n\n`);
    };
    const notified: JsonRpcNotificationMessage[] = [];
    const outcome = await backend().call("user", {
      ...request("tools/call", { name: "slow" }),
      onNotification: (notification) => notified.push(notification),
    });
    expect(outcome).toMatchObject({ kind: "result", result: { ok: true } });
    expect(notified.map((notification) => notification.method)).toEqual(["notifications/progress"]);
  });

  it("refuses answers that are too large, malformed or not JSON-RPC", async () => {
    script = (entry, res) => json(res, answer(entry.body, { big: "x".repeat(20_000) }));
    expect(await backend().call("user", request("tools/list"))).toMatchObject({
      kind: "failure",
      reason: "too_large",
    });
    script = (_entry, res) => {
      res.writeHead(500, { "content-type": "text/plain" });
      res.end("boom");
    };
    expect(await backend().call("user", request("tools/list"))).toMatchObject({
      kind: "failure",
      reason: "invalid_response",
      status: 500,
    });
    script = (_entry, res) => json(res, { jsonrpc: "2.0", id: "other", result: {} }, 502);
    expect(await backend().call("user", request("tools/list"))).toMatchObject({
      kind: "failure",
      reason: "http_error",
      status: 502,
    });
    script = (entry, res) =>
      json(res, { jsonrpc: "2.0", id: entry.body.id, error: { code: -32602, message: "bad" } });
    expect(await backend().call("user", request("tools/list"))).toMatchObject({
      kind: "rpc_error",
      error: { code: -32602, message: "bad" },
    });
  });

  it("answers an input round through onServerRequest and sends the call again", async () => {
    seen.length = 0;
    script = (entry, res) => {
      const params = entry.body.params as Record<string, unknown>;
      if (params.inputResponses === undefined) {
        json(
          res,
          answer(entry.body, {
            resultType: "input_required",
            inputRequests: {
              user_name: { method: "elicitation/create", params: { message: "Name?" } },
            },
            requestState: "opaque-1",
          }),
        );
        return;
      }
      json(res, answer(entry.body, { content: [{ type: "text", text: JSON.stringify(params) }] }));
    };
    const asked: string[] = [];
    const outcome = await backend().call(
      "user",
      {
        ...request("tools/call", { name: "greet" }),
        onServerRequest: async (serverRequest) => {
          asked.push(serverRequest.method);
          return { result: { action: "accept", content: { name: "Grace" } } };
        },
      },
      ["elicitation"],
    );
    expect(asked).toEqual(["elicitation/create"]);
    expect(outcome.kind).toBe("result");
    const resent = seen[1]!.body.params as Record<string, unknown>;
    expect(resent).toMatchObject({
      name: "greet",
      inputResponses: { user_name: { action: "accept", content: { name: "Grace" } } },
      requestState: "opaque-1",
    });
  });

  it("gives up on a server that keeps asking, or one that asks a caller nobody can ask", async () => {
    script = (entry, res) =>
      json(
        res,
        answer(entry.body, {
          resultType: "input_required",
          inputRequests: { again: { method: "roots/list" } },
        }),
      );
    const looping = await backend().call("user", {
      ...request("tools/call", { name: "loop" }),
      onServerRequest: async () => ({ result: { roots: [] } }),
    });
    expect(looping).toMatchObject({
      kind: "rpc_error",
      error: { code: -32603, message: expect.stringMatching(/more than 8 times/) },
    });
    const unasked = await backend().call("user", request("tools/call", { name: "loop" }));
    expect(unasked).toMatchObject({
      kind: "rpc_error",
      error: { message: expect.stringMatching(/did not declare it can give/) },
    });
    // A 2026-07-28 client continues the round itself: the result comes back as it is.
    const relayed = await backend().call("user", {
      ...request("tools/call", { name: "loop" }),
      relayInputRequired: true,
    });
    expect(relayed).toMatchObject({ kind: "result", result: { resultType: "input_required" } });
  });

  it("polls a task the server chose to run, answering its input requests", async () => {
    seen.length = 0;
    let polls = 0;
    script = (entry, res) => {
      const params = entry.body.params as Record<string, unknown>;
      switch (entry.body.method) {
        case "tools/call":
          json(
            res,
            answer(entry.body, {
              resultType: "task",
              taskId: "t-1",
              status: "working",
              pollIntervalMs: 1,
            }),
          );
          return;
        case "tasks/get":
          polls += 1;
          if (polls === 1) {
            json(res, answer(entry.body, { taskId: "t-1", status: "working" }));
          } else if (polls === 2) {
            json(
              res,
              answer(entry.body, {
                taskId: "t-1",
                status: "input_required",
                inputRequests: { ok: { method: "elicitation/create", params: { message: "Go?" } } },
              }),
            );
          } else {
            json(
              res,
              answer(entry.body, {
                taskId: "t-1",
                status: "completed",
                result: { content: [{ type: "text", text: "done" }], isError: true },
              }),
            );
          }
          return;
        case "tasks/update":
          expect(params.inputResponses).toEqual({ ok: { action: "accept" } });
          json(res, answer(entry.body, {}));
          return;
        default:
          json(res, { jsonrpc: "2.0", id: entry.body.id, error: { code: -32601, message: "no" } });
      }
    };
    const outcome = await backend().call("user", {
      ...request("tools/call", { name: "job" }),
      headers: { "mcp-param-region": "eu" },
      onServerRequest: async () => ({ result: { action: "accept" } }),
    });
    // A tool error is the task's completed result, as the call would have answered it.
    expect(outcome).toMatchObject({
      kind: "result",
      result: { content: [{ type: "text", text: "done" }], isError: true },
    });
    expect(seen.map((entry) => entry.body.method)).toEqual([
      "tools/call",
      "tasks/get",
      "tasks/get",
      "tasks/update",
      "tasks/get",
    ]);
    // Task requests name the task, and carry none of the call's own headers.
    expect(seen[1]!.headers).toMatchObject({ "mcp-method": "tasks/get", "mcp-name": "t-1" });
    expect(seen[1]!.headers["mcp-param-region"]).toBeUndefined();
  });

  it("relays a failed task's error, and cancels a task whose call is abandoned", async () => {
    script = (entry, res) => {
      if (entry.body.method === "tools/call") {
        json(res, answer(entry.body, { resultType: "task", taskId: "t-2", pollIntervalMs: 1 }));
        return;
      }
      json(
        res,
        answer(entry.body, {
          taskId: "t-2",
          status: "failed",
          error: { code: -32000, message: "it broke" },
        }),
      );
    };
    expect(await backend().call("user", request("tools/call", { name: "job" }))).toMatchObject({
      kind: "rpc_error",
      error: { code: -32000, message: "it broke" },
    });

    seen.length = 0;
    const cancelled = new Promise<void>((resolve) => {
      script = (entry, res) => {
        if (entry.body.method === "tools/call") {
          json(
            res,
            answer(entry.body, { resultType: "task", taskId: "t-3", pollIntervalMs: 10_000 }),
          );
          return;
        }
        if (entry.body.method === "tasks/cancel") resolve();
        json(res, answer(entry.body, {}));
      };
    });
    const abandon = new AbortController();
    const pending = backend().call("user", {
      ...request("tools/call", { name: "job" }),
      signal: abandon.signal,
    });
    await expect.poll(() => seen.length).toBe(1);
    abandon.abort();
    expect(await pending).toMatchObject({ kind: "failure", reason: "cancelled" });
    await cancelled;
  });

  it("keeps a 2025 client's log level and sends it on the user's later requests", async () => {
    seen.length = 0;
    script = (entry, res) => json(res, answer(entry.body, {}));
    const upstream = backend();
    expect(
      await upstream.call("ada", request("logging/setLevel", { level: "loud" })),
    ).toMatchObject({ kind: "rpc_error", error: { code: -32602 } });
    expect(
      await upstream.call("ada", request("logging/setLevel", { level: "debug" })),
    ).toMatchObject({
      kind: "result",
    });
    expect(seen).toHaveLength(0);
    await upstream.call("ada", request("tools/list"));
    await upstream.call("bob", request("tools/list"));
    const metaOf = (entry: Seen) => (entry.body.params as { _meta: Record<string, unknown> })._meta;
    expect(metaOf(seen[0]!)["io.modelcontextprotocol/logLevel"]).toBe("debug");
    expect(metaOf(seen[1]!)["io.modelcontextprotocol/logLevel"]).toBeUndefined();
    // A 2026-07-28 client's own level goes as it asked.
    await upstream.call("ada", { ...request("tools/list"), logLevel: "error" });
    await upstream.call("bob", { ...request("tools/list"), logLevel: "warning" });
    expect(metaOf(seen[2]!)["io.modelcontextprotocol/logLevel"]).toBe("error");
    expect(metaOf(seen[3]!)["io.modelcontextprotocol/logLevel"]).toBe("warning");
    await upstream.close();
  });

  it("maps a 2025 client's resource subscriptions to a listen stream, and tool list changes too", async () => {
    const streams: { notifications: unknown; res: http.ServerResponse }[] = [];
    script = (entry, res) => {
      if (entry.body.method !== "subscriptions/listen") {
        json(res, answer(entry.body, {}));
        return;
      }
      const { notifications } = entry.body.params as { notifications: unknown };
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write(
        `data: ${JSON.stringify({ jsonrpc: "2.0", method: "notifications/subscriptions/acknowledged", params: { notifications } })}\n\n`,
      );
      streams.push({ notifications, res });
    };
    const delivered: { user: string; method: string; params: unknown }[] = [];
    let listChanged = 0;
    const upstream = createStatelessMcpServerBackend({
      config: StreamableHttpServerSchema.parse({
        transport: "streamable-http",
        url,
        protocol_version: "2026-07-28",
      }),
      env: {},
      logger: quietLogger,
      clientInfo: { name: "mcp-gateway", version: "test" },
      onListChanged: () => (listChanged += 1),
      onSessionNotification: (user, notification) =>
        delivered.push({ user, method: notification.method, params: notification.params }),
    });
    try {
      await upstream.call("ada", request("resources/subscribe", { uri: "file:///a" }));
      await expect.poll(() => streams.length).toBe(2);
      const catalog = streams.find((stream) =>
        JSON.stringify(stream.notifications).includes("tools"),
      )!;
      const resources = streams.find((stream) => stream !== catalog)!;
      expect(resources.notifications).toEqual({ resourceSubscriptions: ["file:///a"] });
      const send = (res: http.ServerResponse, method: string, params: Record<string, unknown>) =>
        res.write(`data: ${JSON.stringify({ jsonrpc: "2.0", method, params })}\n\n`);
      send(resources.res, "notifications/resources/updated", {
        uri: "file:///a",
        _meta: { "io.modelcontextprotocol/subscriptionId": 7 },
      });
      send(catalog.res, "notifications/tools/list_changed", {});
      await expect.poll(() => delivered.length).toBe(1);
      expect(delivered[0]).toEqual({
        user: "ada",
        method: "notifications/resources/updated",
        params: { uri: "file:///a" },
      });
      await expect.poll(() => listChanged).toBe(1);

      // Subscribing again changes nothing; unsubscribing the last resource ends the stream.
      await upstream.call("ada", request("resources/subscribe", { uri: "file:///a" }));
      expect(streams).toHaveLength(2);
      const ended = new Promise((resolve) => resources.res.on("close", resolve));
      await upstream.call("ada", request("resources/unsubscribe", { uri: "file:///a" }));
      await ended;
      expect(await upstream.call("ada", request("resources/subscribe", { uri: "" }))).toMatchObject(
        { kind: "rpc_error", error: { code: -32602 } },
      );
    } finally {
      await upstream.close();
      for (const stream of streams) stream.res.end();
    }
  });

  it("reports an unreachable server, and nothing after close", async () => {
    const gone = createStatelessMcpServerBackend({
      config: StreamableHttpServerSchema.parse({
        transport: "streamable-http",
        url: "http://127.0.0.1:9/mcp",
        protocol_version: "2026-07-28",
      }),
      env: {},
      logger: quietLogger,
      clientInfo: { name: "mcp-gateway", version: "test" },
    });
    expect(await gone.call("user", request("tools/list"))).toMatchObject({
      kind: "failure",
      reason: "unavailable",
    });
    expect(await gone.capabilities("user")).toBeUndefined();
    await gone.close();
    expect(await gone.call("user", request("tools/list"))).toMatchObject({ reason: "unavailable" });
  });
});
