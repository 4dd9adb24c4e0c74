import { once } from "node:events";
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HEADER } from "../../contract/src/headers.ts";
import {
  ALICE,
  LEGACY_ACCEPT,
  startRouterFixture,
  verdictFor,
  type RouterFixture,
} from "./router-harness.ts";

/**
 * `Expect: 100-continue` (curl sends it for any body over 1 KiB): the router answers 413 from the
 * declared length before the client sends a byte of an oversized body, and sends 100 Continue only
 * for a body it will read.
 */

const LIMIT = 10_000;
let fixture: RouterFixture;
let port: number;

beforeAll(async () => {
  fixture = await startRouterFixture({ router: { maxRequestBytes: LIMIT } });
  port = Number(new URL(fixture.router.url).port);
});
afterAll(async () => {
  await fixture.close();
});

/**
 * Plays curl: sends the head, and the body only once the server says 100 Continue. Resolves with
 * the final response and whether the body went out.
 */
async function exchange(path: string, body: string, headers: Record<string, string> = {}) {
  const request = http.request({
    host: "127.0.0.1",
    port,
    path,
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: LEGACY_ACCEPT,
      "content-length": String(Buffer.byteLength(body)),
      expect: "100-continue",
      ...headers,
    },
  });
  let continued = false;
  request.on("continue", () => {
    continued = true;
    request.end(body);
  });
  request.flushHeaders();
  const [response] = (await once(request, "response")) as [http.IncomingMessage];
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  request.destroy();
  const text = Buffer.concat(chunks).toString("utf8");
  return {
    continued,
    status: response.statusCode,
    connection: response.headers.connection,
    body: text === "" ? undefined : (JSON.parse(text) as unknown),
  };
}

/** An initialize request padded with JSON whitespace to exactly `bytes` bytes. */
function initializeOf(bytes: number): string {
  const message = JSON.stringify({
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: {
      protocolVersion: "2025-11-25",
      capabilities: {},
      clientInfo: { name: "t", version: "1" },
    },
  });
  return message + " ".repeat(bytes - Buffer.byteLength(message));
}

describe("Expect: 100-continue", () => {
  it.each([
    [
      "an MCP endpoint",
      "/calc/mcp",
      { jsonrpc: "2.0", id: null, error: { data: { code: "GW_PAYLOAD_TOO_LARGE" } } },
    ],
    ["the REST API", "/mcp/invoke", { error: { code: "GW_PAYLOAD_TOO_LARGE" } }],
  ])(
    "answers an oversized body on %s with 413 at once, never 100 Continue",
    async (_name, path, shape) => {
      const body = initializeOf(LIMIT + 1);
      const reply = await exchange(path, body, {
        [HEADER.verdict]: verdictFor(ALICE, "calc", body),
      });
      expect(reply.continued).toBe(false);
      expect(reply.status).toBe(413);
      expect(reply.body).toMatchObject(shape);
      // The body was never read: the connection cannot be reused.
      expect(reply.connection).toBe("close");
    },
  );

  it("says 100 Continue for a body at the limit and handles it normally", async () => {
    const body = initializeOf(LIMIT);
    const reply = await exchange("/calc/mcp", body, {
      [HEADER.verdict]: verdictFor(ALICE, "calc", body),
    });
    expect(reply.continued).toBe(true);
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({
      jsonrpc: "2.0",
      id: 1,
      result: { protocolVersion: "2025-11-25" },
    });
  });

  it("still refuses a small body without a verdict (403) after 100 Continue", async () => {
    const reply = await exchange("/calc/mcp", initializeOf(200));
    expect(reply.continued).toBe(true);
    expect(reply.status).toBe(403);
  });
});
