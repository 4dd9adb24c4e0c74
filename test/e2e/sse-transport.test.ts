import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { EventSourceParserStream } from "eventsource-parser/stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ALICE, BOB, startE2eStack, type E2eStack } from "./stack-fixture.ts";

/**
 * The 2024-11-05 HTTP+SSE transport on /{scope}/sse through the whole gateway (ext-authz deciding
 * every GET and POST on real JWTs): the SDK's SSEClientTransport, and a raw stream read the way
 * curl would, with the endpoint event, 202 on POST and the answer on the stream.
 */

let e2e: E2eStack;
const clients: Client[] = [];

beforeAll(async () => {
  e2e = await startE2eStack();
});
afterAll(async () => {
  for (const client of clients) await client.close().catch(() => undefined);
  await e2e?.close();
});

type Event = { event: string | undefined; data: string };

/** A raw GET of the stream, its events readable one at a time. */
async function openRawStream(token: string, scope = "calculator") {
  const controller = new AbortController();
  const response = await fetch(`${e2e.stack.url}/${scope}/sse`, {
    headers: { authorization: `Bearer ${token}`, accept: "text/event-stream" },
    signal: controller.signal,
  });
  const reader = response
    .body!.pipeThrough(new TextDecoderStream())
    .pipeThrough(new EventSourceParserStream())
    .getReader();
  return {
    response,
    async next(): Promise<Event> {
      const { value, done } = await reader.read();
      if (done) throw new Error("stream ended");
      return { event: value.event, data: value.data };
    },
    close: () => controller.abort(),
  };
}

async function post(url: string, token: string, message: unknown): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(message),
  });
}

describe("HTTP+SSE transport (2024-11-05) on /{scope}/sse", () => {
  it("serves the SDK's SSEClientTransport: initialize, tools/list, tools/call", async () => {
    const client = new Client({ name: "e2e-sse", version: "1.0.0" });
    const transport = new SSEClientTransport(new URL(`${e2e.stack.url}/calculator/sse`), {
      requestInit: { headers: { Authorization: `Bearer ${await e2e.token(ALICE)}` } },
    });
    await client.connect(transport);
    clients.push(client);
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name)).toContain("exact_calculate");
    const result = await client.callTool({
      name: "exact_calculate",
      arguments: { operator: "add", operands: ["0.1", "0.2"] },
    });
    expect(result.structuredContent).toMatchObject({ result: "0.3" });
    await client.close();
  });

  it("announces the endpoint, answers POSTs 202 and delivers answers on the stream", async () => {
    const token = await e2e.token(ALICE);
    const stream = await openRawStream(token);
    expect(stream.response.status).toBe(200);
    expect(stream.response.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const endpoint = await stream.next();
    expect(endpoint.event).toBe("endpoint");
    expect(endpoint.data).toMatch(/^\/calculator\/sse\?sessionId=[A-Za-z0-9_-]{32}$/);
    const url = new URL(endpoint.data, e2e.stack.url).toString();

    const initialize = await post(url, token, {
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: {
        protocolVersion: "2024-11-05",
        capabilities: {},
        clientInfo: { name: "raw", version: "1" },
      },
    });
    expect(initialize.status).toBe(202);
    expect(initialize.headers.get("x-request-id")).toBeTruthy();
    const initialized = JSON.parse((await stream.next()).data) as {
      result: { capabilities: Record<string, unknown> };
    };
    expect(initialized).toMatchObject({ id: 1, result: { protocolVersion: "2024-11-05" } });
    // Tasks arrived in 2025-11-25: a 2024-11-05 client is not offered them.
    expect(initialized.result.capabilities).not.toHaveProperty("tasks");

    const call = await post(url, token, {
      jsonrpc: "2.0",
      id: "c-1",
      method: "tools/call",
      params: {
        name: "exact_calculate",
        arguments: { operator: "multiply", operands: ["1.5", "4"] },
      },
    });
    expect(call.status).toBe(202);
    const answered = JSON.parse((await stream.next()).data) as unknown;
    // Audited under the POST's request id, with the status that POST got.
    const rows = await e2e.auditRows(call.headers.get("x-request-id")!);
    expect(rows.filter((row) => row.kind === "invocation")).toMatchObject([
      { tool: "exact_calculate", outcome: "ok", status: 202 },
    ]);
    expect(answered).toMatchObject({ id: "c-1", result: { structuredContent: { result: "6" } } });
    stream.close();
  });

  it("binds the stream to its user and scope, and authorizes every POST", async () => {
    const aliceToken = await e2e.token(ALICE);
    const stream = await openRawStream(aliceToken);
    const url = new URL((await stream.next()).data, e2e.stack.url).toString();
    const list = { jsonrpc: "2.0", id: 2, method: "tools/list" };

    const bob = await post(url, await e2e.token(BOB), list);
    expect(bob.status).toBe(404);
    const otherScope = await post(url.replace("/calculator/", "/docs/"), aliceToken, list);
    expect(otherScope.status).toBe(404);
    const anonymous = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(list),
    });
    expect(anonymous.status).toBe(401);
    const unknown = await post(
      url.replace(/sessionId=.*/, "sessionId=" + "A".repeat(32)),
      aliceToken,
      list,
    );
    expect(unknown.status).toBe(404);
    stream.close();
  });

  it("keeps Streamable HTTP working on the same path", async () => {
    const client = new Client({ name: "e2e-streamable", version: "1.0.0" });
    const transport = new StreamableHTTPClientTransport(
      new URL(`${e2e.stack.url}/calculator/sse`),
      {
        requestInit: { headers: { Authorization: `Bearer ${await e2e.token(ALICE)}` } },
      },
    );
    await client.connect(transport);
    clients.push(client);
    expect(client.getServerCapabilities()?.tasks).toBeDefined();
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);
    await client.close();
  });
});
