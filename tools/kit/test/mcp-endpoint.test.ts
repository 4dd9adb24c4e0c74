import { once } from "node:events";
import { Agent, createServer, request } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import type * as SdkServerModule from "@modelcontextprotocol/sdk/server/index.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import {
  CallToolRequestSchema,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
} from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { createLogger } from "../../../contract/src/log.ts";
import { createMcpEndpoint, runTool } from "../src/mcp-endpoint.ts";
import { signedHeaders, startTestToolServer, type TestToolServer } from "../src/testing.ts";
import {
  compileTools,
  defineTool,
  toolError,
  toolOk,
  type ToolDefinition,
} from "../src/tool-definition.ts";

/** Counts SDK `Server` constructions: the kit must build one per tool server, not per request. */
const sdk = vi.hoisted(() => ({ serversBuilt: 0 }));
vi.mock("@modelcontextprotocol/sdk/server/index.js", async (importOriginal) => {
  const actual = await importOriginal<typeof SdkServerModule>();
  class CountedServer extends actual.Server {
    constructor(...args: ConstructorParameters<typeof actual.Server>) {
      super(...args);
      sdk.serversBuilt += 1;
    }
  }
  return { ...actual, Server: CountedServer };
});

const silent = createLogger({ name: "mcp-endpoint-test", level: "silent" });

const echo = defineTool({
  name: "echo",
  description: "Echoes text back",
  inputSchema: z.object({ text: z.string().max(100) }),
  outputSchema: z.object({ text: z.string(), length: z.number().int() }),
  annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  handler: ({ text }) => {
    if (text === "refuse") return toolError("text must not be 'refuse'");
    if (text === "throw") throw new Error("secret internal detail");
    if (text === "bad-content") {
      // A content block the SDK's CallToolResultSchema refuses.
      return { ok: true, output: { text, length: 1 }, content: [{ type: "bogus" } as never] };
    }
    return toolOk({ text, length: text.length });
  },
});

const planned = defineTool({
  name: "planned",
  description: "Declares optional task support",
  inputSchema: z.object({}),
  outputSchema: z.object({ done: z.boolean() }),
  annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  execution: { taskSupport: "optional" },
  handler: () => toolOk({ done: true }),
});

/**
 * What the kit did before: a fresh SDK `Server` and `StreamableHTTPServerTransport` (stateless,
 * JSON responses) for every POST, after the body was parsed. The reference the shared endpoint
 * must match byte for byte.
 */
async function startReference(
  tools: readonly ToolDefinition[],
): Promise<{ url: string; close(): Promise<void> }> {
  const compiled = compileTools(tools);
  const listing = [...compiled.values()].map((tool) => tool.listing);
  const http = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const message: unknown = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      const mcp = new Server(
        { name: "test-tools", version: "0.0.0" },
        { capabilities: { tools: { listChanged: false } } },
      );
      mcp.setRequestHandler(ListToolsRequestSchema, () => ({ tools: listing }));
      mcp.setRequestHandler(CallToolRequestSchema, async (call, extra) => {
        const tool = compiled.get(call.params.name);
        if (tool === undefined) {
          throw new McpError(
            ErrorCode.InvalidParams,
            `Unknown tool: ${call.params.name.slice(0, 128)}`,
          );
        }
        return runTool(tool, call.params.arguments ?? {}, {
          userId: "u",
          requestId: "r",
          logger: silent,
          signal: extra.signal,
        });
      });
      const transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: undefined,
        enableJsonResponse: true,
      });
      res.on("close", () => {
        void transport.close();
        void mcp.close();
      });
      void mcp.connect(transport).then(() => transport.handleRequest(req, res, message));
    });
  });
  http.listen(0, "127.0.0.1");
  await once(http, "listening");
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    close: () => new Promise((resolve) => http.close(() => resolve())),
  };
}

const ACCEPT = "application/json, text/event-stream";
const INIT_PARAMS = {
  protocolVersion: "2025-06-18",
  capabilities: {},
  clientInfo: { name: "c", version: "1" },
};
const call = (name: string, args: unknown, extra: Record<string, unknown> = {}) => ({
  jsonrpc: "2.0",
  id: 7,
  method: "tools/call",
  params: { name, arguments: args, ...extra },
});
const ping = (id: unknown) => ({ jsonrpc: "2.0", id, method: "ping" });

/** [name, body, header overrides ("" removes a header)] */
const CASES: [string, unknown, Record<string, string>][] = [
  ["tools/list", { jsonrpc: "2.0", id: 1, method: "tools/list" }, {}],
  ["tools/list with cursor", { jsonrpc: "2.0", id: "a", method: "tools/list", params: {} }, {}],
  ["tools/call", call("echo", { text: "héllo" }), {}],
  ["tools/call with _meta", call("echo", { text: "hi" }, { _meta: { progressToken: 3 } }), {}],
  ["tools/call, string id", { ...call("echo", { text: "hi" }), id: "x-1" }, {}],
  [
    "tools/call without arguments",
    { jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "echo" } },
    {},
  ],
  ["tool error", call("echo", { text: "refuse" }), {}],
  ["tool throws", call("echo", { text: "throw" }), {}],
  ["result the SDK refuses", call("echo", { text: "bad-content" }), {}],
  ["bad arguments", call("echo", { text: 5 }), {}],
  ["no tool name", { jsonrpc: "2.0", id: 7, method: "tools/call", params: {} }, {}],
  ["no params", { jsonrpc: "2.0", id: 7, method: "tools/call" }, {}],
  ["arguments not an object", call("echo", [1]), {}],
  ["unknown tool", call("nope", {}), {}],
  ["task-augmented call", call("planned", {}, { task: { ttl: 1000 } }), {}],
  ["malformed task", call("planned", {}, { task: 5 }), {}],
  ["ping", ping(2), {}],
  ["ping with params", { ...ping(2), params: { x: 1 } }, {}],
  ["initialize", { jsonrpc: "2.0", id: 0, method: "initialize", params: INIT_PARAMS }, {}],
  [
    "initialize, unknown version",
    {
      jsonrpc: "2.0",
      id: 0,
      method: "initialize",
      params: { ...INIT_PARAMS, protocolVersion: "1999-01-01" },
    },
    {},
  ],
  [
    "initialize, bad params",
    { jsonrpc: "2.0", id: 0, method: "initialize", params: { protocolVersion: 5 } },
    {},
  ],
  [
    "initialize in a batch",
    [{ jsonrpc: "2.0", id: 0, method: "initialize", params: INIT_PARAMS }, ping(1)],
    {},
  ],
  ["unknown method", { jsonrpc: "2.0", id: 3, method: "resources/list" }, {}],
  [
    "logging/setLevel",
    { jsonrpc: "2.0", id: 3, method: "logging/setLevel", params: { level: "debug" } },
    {},
  ],
  ["notification", { jsonrpc: "2.0", method: "notifications/initialized" }, {}],
  [
    "cancel notification",
    { jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 1 } },
    {},
  ],
  ["a response", { jsonrpc: "2.0", id: 9, result: {} }, {}],
  [
    "batch",
    [ping(1), call("echo", { text: "x" }), { jsonrpc: "2.0", method: "notifications/initialized" }],
    {},
  ],
  ["empty batch", [], {}],
  ["batch of one", [ping(1)], {}],
  ["batch over the limit", Array.from({ length: 101 }, (_, i) => ping(i)), {}],
  ["batch with a bad message", [ping(1), { foo: 1 }], {}],
  ["not JSON-RPC", { hello: 1 }, {}],
  ["JSON-RPC 1.0", { ...ping(1), jsonrpc: "1.0" }, {}],
  ["null id", ping(null), {}],
  ["fractional id", ping(1.5), {}],
  ["a string", "hello", {}],
  ["null", null, {}],
  ["Accept without event-stream", ping(1), { accept: "application/json" }],
  ["no Accept", ping(1), { accept: "" }],
  ["text/plain", ping(1), { "content-type": "text/plain" }],
  ["JSON with charset", ping(1), { "content-type": "application/json; charset=utf-8" }],
  ["no Content-Type", ping(1), { "content-type": "" }],
  ["supported protocol version", ping(1), { "mcp-protocol-version": "2025-11-25" }],
  ["unsupported protocol version", ping(1), { "mcp-protocol-version": "2030-01-01" }],
  [
    "initialize ignores the version header",
    { jsonrpc: "2.0", id: 0, method: "initialize", params: INIT_PARAMS },
    { "mcp-protocol-version": "2030-01-01" },
  ],
  [
    "notification with an unsupported version",
    { jsonrpc: "2.0", method: "notifications/initialized" },
    { "mcp-protocol-version": "2030-01-01" },
  ],
  ["a session id", ping(1), { "mcp-session-id": "abc" }],
];

interface Exchange {
  status: number;
  headers: Record<string, string | undefined>;
  body: string;
}

function post(
  url: string,
  body: string,
  headers: Record<string, string>,
  agent?: Agent,
): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "POST", headers, agent });
    req.on("response", (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: {
            "content-type": res.headers["content-type"],
            "content-length": res.headers["content-length"],
            "transfer-encoding": res.headers["transfer-encoding"],
          },
          body: text,
        }),
      );
    });
    req.on("error", reject);
    req.end(body);
  });
}

function withOverrides(
  base: Record<string, string>,
  overrides: Record<string, string>,
): Record<string, string> {
  const headers = { ...base };
  for (const [name, value] of Object.entries(overrides)) {
    if (value === "") delete headers[name];
    else headers[name] = value;
  }
  return headers;
}

let server: TestToolServer;
let reference: { url: string; close(): Promise<void> };

beforeAll(async () => {
  server = await startTestToolServer([echo, planned], { maxRequestBytes: 65_536 });
  reference = await startReference([echo, planned]);
});
afterAll(async () => {
  await server.close();
  await reference.close();
});

function signedPost(
  message: unknown,
  overrides: Record<string, string> = {},
  options: { userId?: string; requestId?: string; agent?: Agent } = {},
): Promise<Exchange> {
  const body = JSON.stringify(message);
  const base = {
    "content-type": "application/json",
    accept: ACCEPT,
    ...signedHeaders({
      secret: server.secret,
      audience: server.audience,
      userId: options.userId ?? "u",
      requestId: options.requestId ?? "r",
      body,
    }),
  };
  return post(server.mcpUrl, body, withOverrides(base, overrides), options.agent);
}

describe("answers exactly as a fresh SDK server and transport per request did", () => {
  it.each(CASES)("%s", async (_name, message, overrides) => {
    const body = JSON.stringify(message);
    const expected = await post(
      reference.url,
      body,
      withOverrides({ "content-type": "application/json", accept: ACCEPT }, overrides),
    );
    const actual = await signedPost(message, overrides);
    expect(actual).toEqual(expected);
  });
});

describe("one SDK server for the life of the tool server", () => {
  it("is built once, however many calls arrive, one after another or at once", async () => {
    const builtBefore = sdk.serversBuilt;
    const own = await startTestToolServer([echo]);
    try {
      expect(sdk.serversBuilt).toBe(builtBefore + 1);
      const sequential: Exchange[] = [];
      for (let i = 0; i < 50; i++) {
        sequential.push(await signedPostTo(own, call("echo", { text: `s${i}` })));
        sequential.push(await signedPostTo(own, { jsonrpc: "2.0", id: 1, method: "tools/list" }));
      }
      const concurrent = await Promise.all(
        Array.from({ length: 50 }, (_, i) => signedPostTo(own, call("echo", { text: `c${i}` }))),
      );
      for (const [i, answer] of concurrent.entries()) {
        expect(JSON.parse(answer.body)).toEqual({
          result: {
            content: [
              { type: "text", text: JSON.stringify({ text: `c${i}`, length: `c${i}`.length }) },
            ],
            structuredContent: { text: `c${i}`, length: `c${i}`.length },
          },
          jsonrpc: "2.0",
          id: 7,
        });
      }
      expect(sequential.every((answer) => answer.status === 200)).toBe(true);
      expect(sdk.serversBuilt).toBe(builtBefore + 1);
    } finally {
      await own.close();
    }
  });

  it("keeps concurrent callers apart although they all use the same JSON-RPC id", async () => {
    const gate = gatedTool();
    const own = await startTestToolServer([gate.tool]);
    try {
      const users = ["alice", "bob", "carol", "dave"];
      const pending = users.map((user) =>
        signedPostTo(own, call("gated", { tag: user }), { userId: user, requestId: `req-${user}` }),
      );
      await gate.started(users.length);
      gate.release();
      const answers = await Promise.all(pending);
      for (const [i, user] of users.entries()) {
        expect(JSON.parse(answers[i]!.body)).toMatchObject({
          id: 7,
          result: { structuredContent: { tag: user, userId: user, requestId: `req-${user}` } },
        });
      }
    } finally {
      gate.release();
      await own.close();
    }
  });

  it("never lets one caller's notifications cancel another caller's call", async () => {
    const gate = gatedTool();
    const own = await startTestToolServer([gate.tool]);
    try {
      const pending = signedPostTo(own, { ...call("gated", { tag: "a" }), id: 1 });
      await gate.started(1);
      // The router numbers every forwarded request 1; the endpoint's own ids start at 1 too.
      for (const requestId of [1, 2, 3, "1"]) {
        const answer = await signedPostTo(own, {
          jsonrpc: "2.0",
          method: "notifications/cancelled",
          params: { requestId },
        });
        expect(answer.status).toBe(202);
      }
      gate.release();
      const answer = await pending;
      expect(JSON.parse(answer.body)).toMatchObject({
        id: 1,
        result: { structuredContent: { tag: "a", aborted: false } },
      });
    } finally {
      gate.release();
      await own.close();
    }
  });

  it("adds no listener per request to a kept-alive connection", async () => {
    const sockets: Socket[] = [];
    const onConnection = (socket: Socket) => sockets.push(socket);
    server.server.httpServer.on("connection", onConnection);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on("warning", onWarning);
    try {
      const listeners = (socket: Socket) =>
        Object.fromEntries(
          socket.eventNames().map((name) => [String(name), socket.listenerCount(name)]),
        );
      await signedPost(call("echo", { text: "first" }), {}, { agent });
      expect(sockets).toHaveLength(1);
      const afterOne = listeners(sockets[0]!);
      for (let i = 0; i < 100; i++) {
        const message = i % 2 === 0 ? call("echo", { text: `n${i}` }) : ping(i);
        expect((await signedPost(message, {}, { agent })).status).toBe(200);
      }
      expect(sockets).toHaveLength(1);
      expect(listeners(sockets[0]!)).toEqual(afterOne);
      expect(warnings.filter((w) => w.name === "MaxListenersExceededWarning")).toEqual([]);
    } finally {
      process.off("warning", onWarning);
      server.server.httpServer.off("connection", onConnection);
      agent.destroy();
    }
  });
});

describe("the endpoint without HTTP", () => {
  const headers = { accept: ACCEPT, "content-type": "application/json" };
  const identity = { userId: "u", requestId: "r", logger: silent };

  it("answers requests it hands to the SDK server and forgets them", async () => {
    const endpoint = createMcpEndpoint({
      info: { name: "x", version: "1" },
      tools: compileTools([echo]),
      logger: silent,
    });
    try {
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          endpoint.handle({
            headers,
            message: i % 2 === 0 ? ping(i) : call("nope", {}),
            identity,
            signal: new AbortController().signal,
          }),
        ),
      );
      expect(answers.every((answer) => answer.kind === "json" && answer.status === 200)).toBe(true);
      expect(endpoint.inFlight()).toBe(0);
    } finally {
      await endpoint.close();
    }
  });

  it("cancels a request the SDK server is answering when its caller goes away", async () => {
    const endpoint = createMcpEndpoint({
      info: { name: "x", version: "1" },
      tools: compileTools([echo]),
      logger: silent,
    });
    try {
      const live = new AbortController();
      expect(
        await endpoint.handle({ headers, message: ping(1), identity, signal: live.signal }),
      ).toMatchObject({ kind: "json", status: 200 });
      const leaving = new AbortController();
      const pending = endpoint.handle({
        headers,
        message: { jsonrpc: "2.0", id: 2, method: "tools/list" },
        identity,
        signal: leaving.signal,
      });
      // Handed over synchronously, not answered yet: the SDK runs handlers on a later tick.
      expect(endpoint.inFlight()).toBe(1);
      leaving.abort();
      expect(await pending).toEqual({ kind: "cancelled" });
      expect(endpoint.inFlight()).toBe(0);
      // The shared server goes on answering everyone else.
      expect(
        await endpoint.handle({ headers, message: ping(3), identity, signal: live.signal }),
      ).toEqual({ kind: "json", status: 200, body: '{"result":{},"jsonrpc":"2.0","id":3}' });
    } finally {
      await endpoint.close();
    }
  });

  it("answers nothing, and drops the request, once the caller has gone", async () => {
    const endpoint = createMcpEndpoint({
      info: { name: "x", version: "1" },
      tools: compileTools([echo]),
      logger: silent,
    });
    try {
      const gone = new AbortController();
      gone.abort();
      for (const message of [ping(1), call("echo", { text: "x" })]) {
        const answer = await endpoint.handle({ headers, message, identity, signal: gone.signal });
        expect(answer).toEqual({ kind: "cancelled" });
      }
      expect(endpoint.inFlight()).toBe(0);
    } finally {
      await endpoint.close();
    }
  });
});

function signedPostTo(
  target: TestToolServer,
  message: unknown,
  options: { userId?: string; requestId?: string } = {},
): Promise<Exchange> {
  const body = JSON.stringify(message);
  return post(target.mcpUrl, body, {
    "content-type": "application/json",
    accept: ACCEPT,
    ...signedHeaders({
      secret: target.secret,
      audience: target.audience,
      userId: options.userId ?? "u",
      requestId: options.requestId ?? "r",
      body,
    }),
  });
}

/** A tool that holds every call until the test releases them, then reports what it saw. */
function gatedTool() {
  let count = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const tool = defineTool({
    name: "gated",
    description: "Waits for the test",
    inputSchema: z.object({ tag: z.string() }),
    outputSchema: z.object({
      tag: z.string(),
      userId: z.string(),
      requestId: z.string(),
      aborted: z.boolean(),
    }),
    annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    handler: async ({ tag }, context) => {
      count += 1;
      for (const waiter of waiters.filter((w) => w.n <= count)) waiter.resolve();
      await released;
      return toolOk({
        tag,
        userId: context.userId,
        requestId: context.requestId,
        aborted: context.signal.aborted,
      });
    },
  });
  return {
    tool,
    release,
    started: (n: number) =>
      n <= count ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve })),
  };
}
