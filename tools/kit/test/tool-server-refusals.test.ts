import { randomBytes } from "node:crypto";
import { request } from "node:http";
import { Writable } from "node:stream";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { createLogger } from "../../../contract/src/log.ts";
import { signedHeaders } from "../src/testing.ts";
import { defineTool, toolOk } from "../src/tool-definition.ts";
import { createToolServer, type ToolServer } from "../src/tool-server.ts";

/**
 * What the tool kit does before it trusts a request, seen from outside: the order of its checks
 * (a missing X-Gateway-Auth is refused before the body is read), the statuses and headers of its
 * refusals, and the log line each refusal leaves for an operator.
 */

const MAX_REQUEST_BYTES = 2048;
const secret = randomBytes(32).toString("hex");
const name = "refusal-tools";
const lines: Record<string, unknown>[] = [];
const capture = new Writable({
  write(chunk: Buffer, _encoding, done) {
    for (const line of chunk.toString("utf8").split("\n")) {
      if (line !== "") lines.push(JSON.parse(line) as Record<string, unknown>);
    }
    done();
  },
});

const ping = defineTool({
  name: "ping_tool",
  description: "Answers pong",
  inputSchema: z.object({}),
  outputSchema: z.object({ pong: z.boolean() }),
  annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  handler: () => toolOk({ pong: true }),
});

let server: ToolServer;
let mcpUrl: URL;

beforeAll(async () => {
  server = createToolServer({
    name,
    version: "0.0.0",
    tools: [ping],
    auth: { secret },
    maxRequestBytes: MAX_REQUEST_BYTES,
    logger: createLogger({ name, level: "info", destination: capture }),
  });
  const { url } = await server.listen(0, "127.0.0.1");
  mcpUrl = new URL(`${url}/mcp`);
});
afterAll(async () => {
  await server.close({ graceMs: 1_000 });
});
beforeEach(() => {
  lines.length = 0;
});

type RawAnswer = { status: number; headers: Record<string, unknown>; body: string };

/** A POST over node:http, so a refusal sent before the body is read still arrives. */
function rawPost(headers: Record<string, string>, body: string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      mcpUrl,
      {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          "content-length": String(Buffer.byteLength(body)),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString("utf8"),
          }),
        );
      },
    );
    // The server may answer and close before taking the whole body.
    req.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code !== "EPIPE" && error.code !== "ECONNRESET") reject(error);
    });
    req.end(body);
  });
}

/** The log line with this message, once the logger's asynchronous writes are in. */
async function logLine(message: string): Promise<Record<string, unknown>> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const line = lines.find((candidate) => candidate.msg === message);
    if (line !== undefined) return line;
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`no log line "${message}"; saw ${JSON.stringify(lines.map((l) => l.msg))}`);
}

const listBody = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list", params: {} });
const oversized = JSON.stringify({
  jsonrpc: "2.0",
  id: 1,
  method: "x",
  params: { pad: "p".repeat(4096) },
});

describe("the tool kit's refusals before a request is trusted", () => {
  it("refuses a missing X-Gateway-Auth with 401 before reading the body, and logs who asked", async () => {
    // Too large as well: a server that read the body first would answer 413.
    const answer = await rawPost({ "x-user-id": "alice", "x-request-id": "r-missing" }, oversized);
    expect(answer.status).toBe(401);
    expect(JSON.parse(answer.body)).toMatchObject({ error: { code: -32001 } });
    expect(await logLine("tool call refused: no X-Gateway-Auth")).toMatchObject({
      level: 40,
      reason: "missing",
      requestId: "r-missing",
      userId: "alice",
    });
  });

  it("logs null for identity headers that are absent", async () => {
    await rawPost({}, listBody);
    expect(await logLine("tool call refused: no X-Gateway-Auth")).toMatchObject({
      requestId: null,
      userId: null,
    });
  });

  it("refuses an oversized body with 413 and closes the connection", async () => {
    const answer = await rawPost(
      signedHeaders({
        secret,
        audience: name,
        userId: "alice",
        requestId: "r-big",
        body: oversized,
      }),
      oversized,
    );
    expect(answer.status).toBe(413);
    expect(answer.headers.connection).toBe("close");
    expect(await logLine("tool call refused: body too large")).toMatchObject({
      level: 40,
      limit: MAX_REQUEST_BYTES,
      requestId: "r-big",
    });
  });

  it("refuses missing identity headers with 401 and says so in the log", async () => {
    const signed = signedHeaders({
      secret,
      audience: name,
      userId: "alice",
      requestId: "r-id",
      body: listBody,
    });
    const { "x-user-id": _dropped, ...withoutUser } = signed;
    const answer = await rawPost(withoutUser, listBody);
    expect(answer.status).toBe(401);
    expect(await logLine("tool call refused: X-User-ID or x-request-id missing")).toMatchObject({
      level: 40,
      reason: "identity_headers",
      requestId: "r-id",
      userId: null,
    });
  });

  it("answers a correctly signed request (the control case)", async () => {
    const answer = await rawPost(
      signedHeaders({ secret, audience: name, userId: "alice", requestId: "r-ok", body: listBody }),
      listBody,
    );
    expect(answer.status).toBe(200);
    expect(lines.filter((line) => String(line.msg).startsWith("tool call refused"))).toEqual([]);
  });
});
