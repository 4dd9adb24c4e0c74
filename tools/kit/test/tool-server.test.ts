import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { signGatewayAuth } from "../../../contract/src/gateway-auth.ts";
import { createLogger } from "../../../contract/src/log.ts";
import { createToolServer } from "../src/tool-server.ts";
import { defineTool, toolError, toolOk, type ToolContext } from "../src/tool-definition.ts";
import {
  callToolInProcess,
  callToolSigned,
  connectSignedClient,
  postSigned,
  signedHeaders,
  startTestToolServer,
  type TestToolServer,
} from "../src/testing.ts";

const seen: ToolContext[] = [];

const echo = defineTool({
  name: "echo",
  description: "Echoes text back",
  inputSchema: z.object({ text: z.string().max(100) }),
  outputSchema: z.object({ text: z.string(), length: z.number().int() }),
  annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  handler: ({ text }, context) => {
    seen.push(context);
    if (text === "refuse") return toolError("text must not be 'refuse'");
    if (text === "throw") throw new Error("secret internal detail /etc/passwd");
    if (text === "bad-output") return toolOk({ text, length: "x" as unknown as number });
    return toolOk({ text, length: text.length });
  },
});

const slow = defineTool({
  name: "slow_report",
  description: "Declares optional task support",
  inputSchema: z.object({}),
  outputSchema: z.object({ done: z.boolean() }),
  annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  execution: { taskSupport: "optional" },
  handler: () => toolOk({ done: true }),
});

let server: TestToolServer;

beforeAll(async () => {
  server = await startTestToolServer([echo, slow], { maxRequestBytes: 4096 });
});
afterAll(async () => {
  await server.close();
});

interface Reply {
  result: { tools: unknown[] };
  error: { code: number; message: string; data: { code: string } };
}

async function replyOf(response: Response): Promise<Reply> {
  return (await response.json()) as Reply;
}

const listMessage = { jsonrpc: "2.0", id: 1, method: "tools/list", params: {} };
const HEADER_USER_ID = "x-user-id";
const HEADER_REQUEST_ID = "x-request-id";

describe("tool server over the real MCP SDK client", () => {
  it("lists tools with schemas, annotations and task support", async () => {
    const client = await connectSignedClient(server.mcpUrl, server.signing);
    try {
      const { tools } = await client.listTools();
      const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
      expect(Object.keys(byName).sort()).toEqual(["echo", "slow_report"]);
      expect(byName.echo!.inputSchema).toMatchObject({
        type: "object",
        properties: { text: { type: "string", maxLength: 100 } },
        required: ["text"],
      });
      expect(byName.echo!.outputSchema).toMatchObject({
        type: "object",
        required: ["text", "length"],
      });
      expect(byName.echo!.annotations).toEqual({
        readOnlyHint: true,
        idempotentHint: true,
        openWorldHint: false,
      });
      expect(byName.slow_report!.execution).toEqual({ taskSupport: "optional" });
      expect(byName.echo!.execution).toBeUndefined();
    } finally {
      await client.close();
    }
  });

  it("returns structuredContent and the same JSON as text; user and request id reach the handler", async () => {
    seen.length = 0;
    const result = await callToolSigned(
      server.mcpUrl,
      { ...server.signing, userId: "alice", requestId: () => "req-42" },
      "echo",
      { text: "héllo" },
    );
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toEqual({ text: "héllo", length: 5 });
    expect(result.content).toEqual([
      { type: "text", text: JSON.stringify({ text: "héllo", length: 5 }) },
    ]);
    const call = seen.at(-1)!;
    expect(call.userId).toBe("alice");
    expect(call.requestId).toBe("req-42");
  });

  it("turns bad arguments into isError with the offending path", async () => {
    const result = await callToolSigned(server.mcpUrl, server.signing, "echo", { text: 7 });
    expect(result.isError).toBe(true);
    expect(result.content[0]).toMatchObject({ type: "text" });
    const text = (result.content[0] as { text: string }).text;
    expect(text).toContain("Invalid arguments for tool echo");
    expect(text).toContain("text:");
  });

  it("passes tool-level errors through as isError", async () => {
    const result = await callToolSigned(server.mcpUrl, server.signing, "echo", { text: "refuse" });
    expect(result).toMatchObject({
      isError: true,
      content: [{ type: "text", text: "text must not be 'refuse'" }],
    });
  });

  it("hides exception text and invalid output behind a generic message", async () => {
    for (const text of ["throw", "bad-output"]) {
      const result = await callToolSigned(server.mcpUrl, server.signing, "echo", { text });
      expect(result.isError).toBe(true);
      const message = (result.content[0] as { text: string }).text;
      expect(message).toBe("Tool echo failed with an internal error");
    }
  });

  it("answers an unknown tool with JSON-RPC invalid params", async () => {
    const response = await postSigned(
      server.mcpUrl,
      { jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "nope", arguments: {} } },
      server.signing,
    );
    expect(response.status).toBe(200);
    const body = await replyOf(response);
    expect(body.error.code).toBe(-32602);
    expect(body.error.message).toContain("Unknown tool: nope");
  });
});

describe("gateway authentication", () => {
  async function expect401(response: Response): Promise<void> {
    expect(response.status).toBe(401);
    const body = await replyOf(response);
    expect(body).toMatchObject({ jsonrpc: "2.0", id: null, error: { code: -32001 } });
  }

  it("accepts a correctly signed raw request", async () => {
    const response = await postSigned(server.mcpUrl, listMessage, server.signing);
    expect(response.status).toBe(200);
    expect((await replyOf(response)).result.tools).toHaveLength(2);
  });

  it("refuses a missing header", async () => {
    const response = await fetch(server.mcpUrl, {
      method: "POST",
      headers: { "content-type": "application/json", "x-user-id": "u", "x-request-id": "r" },
      body: JSON.stringify(listMessage),
    });
    await expect401(response);
  });

  it("refuses a signature made with another secret", async () => {
    await expect401(
      await postSigned(server.mcpUrl, listMessage, { ...server.signing, secret: "x".repeat(64) }),
    );
  });

  it("refuses a stale signature (older than the window)", async () => {
    await expect401(
      await postSigned(server.mcpUrl, listMessage, {
        ...server.signing,
        now: () => Date.now() - 5 * 60_000,
      }),
    );
  });

  it("refuses a malformed header", async () => {
    await expect401(
      await postSigned(server.mcpUrl, listMessage, {
        ...server.signing,
        headers: { "x-gateway-auth": "v1.abc.def" },
      }),
    );
  });

  it("refuses a signature replayed with another body, user or request id", async () => {
    const body = JSON.stringify(listMessage);
    const header = signGatewayAuth({
      secret: server.secret,
      audience: server.audience,
      userId: "alice",
      requestId: "r1",
      body,
    });
    const base = {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
    };
    const variants = [
      {
        headers: {
          ...base,
          "x-gateway-auth": header,
          "x-user-id": "mallory",
          "x-request-id": "r1",
        },
        body,
      },
      {
        headers: { ...base, "x-gateway-auth": header, "x-user-id": "alice", "x-request-id": "r2" },
        body,
      },
      {
        headers: { ...base, "x-gateway-auth": header, "x-user-id": "alice", "x-request-id": "r1" },
        body: JSON.stringify({ ...listMessage, id: 2 }),
      },
      { headers: { ...base, "x-gateway-auth": header, "x-request-id": "r1" }, body },
    ];
    for (const variant of variants) {
      await expect401(await fetch(server.mcpUrl, { method: "POST", ...variant }));
    }
    const ok = await fetch(server.mcpUrl, {
      method: "POST",
      headers: { ...base, "x-gateway-auth": header, "x-user-id": "alice", "x-request-id": "r1" },
      body,
    });
    expect(ok.status).toBe(200);
  });

  it("accepts the static secret only when configured", async () => {
    await expect401(
      await postSigned(server.mcpUrl, listMessage, {
        ...server.signing,
        headers: { "x-gateway-auth": server.secret },
      }),
    );
    const withStatic = await startTestToolServer([echo], { staticSecret: "s".repeat(40) });
    try {
      const response = await postSigned(withStatic.mcpUrl, listMessage, {
        ...withStatic.signing,
        headers: { "x-gateway-auth": "s".repeat(40) },
      });
      expect(response.status).toBe(200);
    } finally {
      await withStatic.close();
    }
  });
});

describe("gateway authentication edges", () => {
  const body = JSON.stringify(listMessage);
  const post = (headers: Record<string, string>, url = server.mcpUrl) =>
    fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        ...headers,
      },
      body,
    });
  const signedFor = (
    userId: string,
    requestId: string,
    secret = server.secret,
    now?: number,
    audience = server.audience,
  ) =>
    signedHeaders({
      secret,
      audience,
      userId,
      requestId,
      body,
      ...(now === undefined ? {} : { now }),
    });

  it("accepts user and request ids of up to 256 characters, refuses longer ones", async () => {
    const long = "u".repeat(256);
    expect((await post(signedFor(long, "r1"))).status).toBe(200);
    expect((await post(signedFor("alice", long))).status).toBe(200);
    expect((await post(signedFor(`${long}u`, "r1"))).status).toBe(401);
    expect((await post(signedFor("alice", `${long}u`))).status).toBe(401);
  });

  it("refuses a request without x-request-id even when signed for an empty one", async () => {
    const { [HEADER_REQUEST_ID]: _dropped, ...headers } = signedFor("alice", "");
    expect((await post(headers)).status).toBe(401);
    const { [HEADER_USER_ID]: _user, ...noUser } = signedFor("", "r1");
    expect((await post(noUser)).status).toBe(401);
  });

  it("checks freshness against its configured window and clock", async () => {
    const secret = "w".repeat(64);
    const clock = Date.UTC(2020, 0, 1);
    const tools = createToolServer({
      name: "window-tools",
      version: "0.0.0",
      tools: [echo],
      auth: { secret, windowSeconds: 5 },
      logger: createLogger({ name: "window-tools", level: "silent" }),
      now: () => clock,
    });
    const { url } = await tools.listen(0, "127.0.0.1");
    try {
      const at = async (signedAt: number) =>
        (await post(signedFor("alice", "r1", secret, signedAt, "window-tools"), `${url}/mcp`))
          .status;
      expect(await at(clock - 5_000)).toBe(200);
      expect(await at(clock - 6_000)).toBe(401);
      expect(await at(Date.now())).toBe(401);
    } finally {
      await tools.close({ graceMs: 1_000 });
    }
  });
});

describe("HTTP surface", () => {
  it("serves /health without auth", async () => {
    const response = await fetch(`${server.url}/health`);
    expect(response.status).toBe(200);
    expect(await replyOf(response)).toEqual({ status: "ok", name: "test-tools", version: "0.0.0" });
  });

  it("answers GET and DELETE on /mcp with 405", async () => {
    for (const method of ["GET", "DELETE"]) {
      const response = await fetch(server.mcpUrl, {
        method,
        headers: { accept: "text/event-stream" },
      });
      expect(response.status).toBe(405);
      expect(response.headers.get("allow")).toBe("POST");
      expect((await replyOf(response)).error.data.code).toBe("GW_METHOD_NOT_ALLOWED");
    }
  });

  it("answers unknown paths with 404", async () => {
    expect((await fetch(`${server.url}/sse`, { method: "POST" })).status).toBe(404);
  });

  it("refuses a body over the limit with 413 (declared length)", async () => {
    const big = { ...listMessage, params: { pad: "x".repeat(5000) } };
    const response = await postSigned(server.mcpUrl, big, server.signing);
    expect(response.status).toBe(413);
    expect((await replyOf(response)).error.data.code).toBe("GW_PAYLOAD_TOO_LARGE");
  });

  it("refuses a chunked body that grows over the limit with 413", async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${server.mcpUrl}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-gateway-auth": "v1.1.aa",
          "transfer-encoding": "chunked",
        },
      });
      req.on("response", (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      req.write("x".repeat(3000));
      req.write("x".repeat(3000));
      req.end();
    });
    expect(status).toBe(413);
  });

  it("answers signed invalid JSON with a parse error", async () => {
    const response = await postSigned(server.mcpUrl, "{not json", server.signing);
    expect(response.status).toBe(400);
    expect((await replyOf(response)).error.code).toBe(-32700);
  });

  it("rejects invalid tool names at startup", () => {
    const bad = { ...echo, name: "has space" };
    expect(() =>
      createToolServer({
        name: "x",
        version: "0",
        tools: [bad],
        auth: { secret: "k".repeat(32) },
        logger: createLogger({ name: "x", level: "silent" }),
      }),
    ).toThrow(/tool name/);
  });

  it("closes gracefully, letting an in-flight request finish", async () => {
    const own = await startTestToolServer([echo]);
    const pending = postSigned(own.mcpUrl, listMessage, own.signing);
    // The request is on the wire before close; the server must answer it, then stop.
    await new Promise<void>((resolve) => own.server.httpServer.once("request", () => resolve()));
    const closed = own.close();
    const response = await pending;
    expect(response.status).toBe(200);
    await closed;
    expect(own.server.httpServer.listening).toBe(false);
  });
});

describe("cancellation", () => {
  /** A tool that reports when it starts and waits until the test (or the call's signal) ends it. */
  function gatedTool() {
    let markStarted!: () => void;
    const started = new Promise<void>((resolve) => (markStarted = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let markAborted!: (aborted: boolean) => void;
    const sawAbort = new Promise<boolean>((resolve) => (markAborted = resolve));
    let calls = 0;
    const tool = defineTool({
      name: "gated",
      description: "Waits for the test",
      inputSchema: z.object({}),
      outputSchema: z.object({ done: z.boolean() }),
      annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
      handler: async (_input, context) => {
        calls += 1;
        markStarted();
        const onAbort = new Promise<void>((resolve) =>
          context.signal.addEventListener("abort", () => resolve(), { once: true }),
        );
        await Promise.race([released, onAbort]);
        markAborted(context.signal.aborted);
        return toolOk({ done: true });
      },
    });
    return { tool, started, release, sawAbort, calls: () => calls };
  }

  it("does not start a handler whose call is already cancelled", async () => {
    const gated = gatedTool();
    const controller = new AbortController();
    controller.abort();
    const result = await callToolInProcess(gated.tool, {}, { signal: controller.signal });
    expect(result).toMatchObject({ isError: true });
    expect(JSON.stringify(result.content)).toMatch(/cancelled: the client went away/);
    expect(gated.calls()).toBe(0);
  });

  it("drops the result of a handler whose call was cancelled while it ran", async () => {
    const gated = gatedTool();
    const controller = new AbortController();
    const pending = callToolInProcess(gated.tool, {}, { signal: controller.signal });
    await gated.started;
    controller.abort();
    const result = await pending;
    expect(await gated.sawAbort).toBe(true);
    expect(result.structuredContent).toBeUndefined();
    expect(JSON.stringify(result.content)).toMatch(/cancelled/);
  });

  it("aborts the handler's signal when the HTTP client disconnects", async () => {
    const gated = gatedTool();
    const own = await startTestToolServer([gated.tool]);
    try {
      const body = JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "tools/call",
        params: { name: "gated", arguments: {} },
      });
      const headers = signedHeaders({
        secret: own.secret,
        audience: own.audience,
        userId: "test-user",
        requestId: "cancel-1",
        body,
      });
      const req = request(own.mcpUrl, {
        method: "POST",
        headers: {
          ...headers,
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
        },
      });
      req.on("error", () => undefined);
      req.end(body);
      await gated.started;
      req.destroy();
      expect(await gated.sawAbort).toBe(true);
    } finally {
      gated.release();
      await own.close();
    }
  });
});
