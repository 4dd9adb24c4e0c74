import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HEADER } from "../../contract/src/headers.ts";
import { MAX_ID_LENGTH } from "../../contract/src/mcp-wire.ts";
import {
  ALICE,
  LEGACY_ACCEPT,
  startRouterFixture,
  verdictFor,
  type RouterFixture,
} from "./router-harness.ts";

/**
 * Transport refusals after the verdict check (Origin, Content-Type, Accept, HTTP method) name the
 * request they refuse: the JSON-RPC id when the body has a well-formed one, and x-request-id.
 */

let fixture: RouterFixture;
let endpoint: string;
beforeAll(async () => {
  fixture = await startRouterFixture();
  endpoint = `${fixture.router.url}/calc/mcp`;
});
afterAll(async () => {
  await fixture.close();
});

type Refusal = { status: number; requestId: string | null; body: Record<string, unknown> };

async function send(
  body: string,
  headers: Record<string, string>,
  method = "POST",
): Promise<Refusal & { verdictRequestId: string }> {
  const verdictRequestId = `refusal-${Math.random().toString(36).slice(2)}`;
  const response = await fetch(endpoint, {
    method,
    headers: {
      [HEADER.verdict]: verdictFor(ALICE, "calc", body, { requestId: verdictRequestId }),
      ...headers,
    },
    ...(body === "" ? {} : { body }),
  });
  return {
    status: response.status,
    requestId: response.headers.get(HEADER.requestId),
    body: (await response.json()) as Record<string, unknown>,
    verdictRequestId,
  };
}

const ping = (id: unknown) => JSON.stringify({ jsonrpc: "2.0", id, method: "ping" });
const JSON_HEADERS = { "content-type": "application/json", accept: LEGACY_ACCEPT };

describe("refusals after the verdict carry the JSON-RPC id and x-request-id", () => {
  it.each([
    {
      name: "a forbidden Origin",
      headers: { ...JSON_HEADERS, origin: "https://evil.example" },
      method: "POST",
      status: 403,
      code: "GW_ORIGIN_FORBIDDEN",
    },
    {
      name: "a non-JSON Content-Type",
      headers: { "content-type": "text/plain", accept: LEGACY_ACCEPT },
      method: "POST",
      status: 415,
      code: "GW_UNSUPPORTED_MEDIA_TYPE",
    },
    {
      name: "an Accept without text/event-stream",
      headers: { "content-type": "application/json", accept: "application/json" },
      method: "POST",
      status: 406,
      code: "GW_NOT_ACCEPTABLE",
    },
    {
      name: "DELETE on the stateless revision",
      headers: { ...JSON_HEADERS, [HEADER.mcpProtocolVersion]: "2026-07-28" },
      method: "DELETE",
      status: 405,
      code: "GW_METHOD_NOT_ALLOWED",
    },
  ])("$name: $status with the body's id", async ({ headers, method, status, code }) => {
    for (const id of [7, "req-7", 0, "", "x".repeat(MAX_ID_LENGTH), Number.MAX_SAFE_INTEGER]) {
      const refusal = await send(ping(id), headers, method);
      expect(refusal.status).toBe(status);
      expect(refusal.body).toMatchObject({ jsonrpc: "2.0", id, error: { data: { code } } });
      expect(refusal.requestId).toBe(refusal.verdictRequestId);
    }
  });

  it.each([
    ["an id longer than the limit", ping("x".repeat(MAX_ID_LENGTH + 1))],
    ["a megabyte-sized id", ping("x".repeat(500_000))],
    ["an object id", ping({ nested: "x".repeat(100) })],
    ["an array id", ping([1, 2, 3])],
    ["a fractional id", ping(1.5)],
    ["an unsafe integer id", ping(2 ** 60)],
    ["a boolean id", ping(true)],
    ["a null id", ping(null)],
    ["no id", JSON.stringify({ jsonrpc: "2.0", method: "ping" })],
    ["a batch", JSON.stringify([{ jsonrpc: "2.0", id: 1, method: "ping" }])],
    ["a body that is not JSON", '{"jsonrpc":"2.0","id":7,'],
    ["a JSON string", JSON.stringify("id")],
    ["an empty body", ""],
  ])("echoes no id for %s", async (_name, body) => {
    const refusal = await send(body, { "content-type": "text/plain", accept: LEGACY_ACCEPT });
    expect(refusal.status).toBe(415);
    expect(refusal.body).toMatchObject({
      id: null,
      error: { data: { code: "GW_UNSUPPORTED_MEDIA_TYPE" } },
    });
    expect(JSON.stringify(refusal.body).length).toBeLessThan(400);
    expect(refusal.requestId).toBe(refusal.verdictRequestId);
  });

  it("a GET without a stream to open is 405 without an id (it has no body)", async () => {
    const refusal = await send("", { accept: "application/json" }, "GET");
    expect(refusal.status).toBe(405);
    expect(refusal.body).toMatchObject({
      id: null,
      error: { data: { code: "GW_METHOD_NOT_ALLOWED" } },
    });
    expect(refusal.requestId).toBe(refusal.verdictRequestId);
  });

  it("a body that is not JSON still gets the parse error with id null", async () => {
    const refusal = await send('{"id": 3,', JSON_HEADERS);
    expect(refusal.status).toBe(400);
    expect(refusal.body).toMatchObject({ id: null, error: { code: -32700 } });
    expect(refusal.requestId).toBe(refusal.verdictRequestId);
  });

  it("a method refused before any verdict has an x-request-id and no id", async () => {
    const response = await fetch(endpoint, {
      method: "PUT",
      headers: JSON_HEADERS,
      body: ping(9),
    });
    expect(response.status).toBe(405);
    expect(response.headers.get(HEADER.requestId)).toBeTruthy();
    expect(await response.json()).toMatchObject({ id: null });
  });
});
