import { describe, expect, it } from "vitest";
import {
  checkRoutingHeaders,
  decodeHeaderValue,
  encodeHeaderValue,
  eraOf,
  negotiateSessionVersion,
  readBody,
  readMessage,
  statelessEnvelopeProblem,
  unsupportedStatelessVersion,
  type WireMessage,
} from "../src/mcp-wire.ts";

const parse = (text: string, headerVersion?: string) => readBody(JSON.parse(text), headerVersion);

describe("readBody", () => {
  it("classifies requests, notifications and responses", () => {
    expect(parse('{"jsonrpc":"2.0","id":1,"method":"ping"}')).toMatchObject({
      ok: true,
      message: { kind: "request" },
    });
    expect(parse('{"jsonrpc":"2.0","method":"notifications/initialized"}')).toMatchObject({
      ok: true,
      message: { kind: "notification" },
    });
    expect(parse('{"jsonrpc":"2.0","id":"a","result":{}}')).toMatchObject({
      ok: true,
      message: { kind: "response" },
    });
    expect(parse('{"jsonrpc":"2.0","id":null,"error":{"code":1}}')).toMatchObject({
      ok: true,
      message: { kind: "response" },
    });
  });

  it.each([
    ["wrong version", '{"jsonrpc":"1.0","id":1,"method":"ping"}'],
    ["array params", '{"jsonrpc":"2.0","id":1,"method":"ping","params":[1]}'],
    ["object id", '{"jsonrpc":"2.0","id":{},"method":"ping"}'],
    ["fractional id", '{"jsonrpc":"2.0","id":1.5,"method":"ping"}'],
    ["oversized id", JSON.stringify({ jsonrpc: "2.0", id: "x".repeat(257), method: "ping" })],
    ["empty method", '{"jsonrpc":"2.0","id":1,"method":""}'],
    ["extra member", '{"jsonrpc":"2.0","id":1,"method":"ping","x":1}'],
    ["result and error", '{"jsonrpc":"2.0","id":1,"result":{},"error":{}}'],
    ["a scalar", "42"],
    ["null", "null"],
  ])("rejects %s", (_name, text) => {
    expect(parse(text)).toMatchObject({ ok: false, reason: "invalid_request" });
  });

  it("classifies each message of a batch", () => {
    expect(
      parse(
        JSON.stringify([
          { jsonrpc: "2.0", id: 1, method: "tools/list" },
          { jsonrpc: "2.0", method: "notifications/initialized" },
          { jsonrpc: "2.0", id: "x", result: {} },
        ]),
      ),
    ).toMatchObject({
      ok: true,
      batch: true,
      messages: [
        { kind: "request", id: 1, method: "tools/list" },
        { kind: "notification" },
        { kind: "response" },
      ],
    });
    expect(parse('{"jsonrpc":"2.0","id":1,"method":"ping"}')).toMatchObject({ batch: false });
  });

  const ping = (id: number) => ({ jsonrpc: "2.0", id, method: "ping" });
  it.each([
    ["empty", "[]", "invalid_request"],
    ["a scalar member", "[1]", "invalid_request"],
    [
      "an invalid member",
      JSON.stringify([ping(1), { jsonrpc: "1.0", id: 2, method: "ping" }]),
      "invalid_request",
    ],
    ["a nested batch", JSON.stringify([[ping(1)]]), "invalid_request"],
    ["a repeated id", JSON.stringify([ping(1), ping(1)]), "invalid_request"],
    [
      "33 messages",
      JSON.stringify(Array.from({ length: 33 }, (_, i) => ping(i))),
      "batch_too_large",
    ],
    [
      "initialize",
      JSON.stringify([{ jsonrpc: "2.0", id: 1, method: "initialize", params: {} }]),
      "batch_initialize",
    ],
    [
      "a 2026 message",
      JSON.stringify([
        {
          jsonrpc: "2.0",
          id: 1,
          method: "tools/list",
          params: { _meta: { "io.modelcontextprotocol/protocolVersion": "2026-07-28" } },
        },
      ]),
      "batch_not_allowed",
    ],
  ])("rejects a batch holding %s, whole", (_name, text, reason) => {
    expect(parse(text)).toMatchObject({ ok: false, reason, id: null });
  });

  it("has batches only in 2025-03-26 (or without a version header)", () => {
    const batch = JSON.stringify([ping(1), ping(2)]);
    expect(parse(batch, "2025-03-26")).toMatchObject({ ok: true, batch: true });
    expect(parse(batch, "2025-06-18")).toMatchObject({ ok: false, reason: "batch_not_allowed" });
    expect(parse(batch, "2026-07-28")).toMatchObject({ ok: false, reason: "batch_not_allowed" });
  });

  it("accepts a batch of the largest size", () => {
    const text = JSON.stringify(Array.from({ length: 32 }, (_, i) => ping(i)));
    expect(parse(text)).toMatchObject({ ok: true, batch: true });
  });

  it("keeps the id of an invalid request for the error answer", () => {
    expect(parse('{"jsonrpc":"2.0","id":7,"method":5}')).toEqual({
      ok: false,
      reason: "invalid_request",
      id: 7,
    });
  });
});

describe("era", () => {
  const request = (method: string, version?: string): WireMessage => ({
    kind: "request",
    id: 1,
    method,
    params:
      version === undefined
        ? {}
        : { _meta: { "io.modelcontextprotocol/protocolVersion": version } },
  });

  it("is body-primary", () => {
    expect(eraOf(request("tools/list", "2026-07-28"), undefined)).toBe("stateless");
    expect(eraOf(request("tools/list", "2031-01-01"), "2026-07-28")).toBe("stateless");
    expect(eraOf(request("tools/list"), "2026-07-28")).toBe("stateless");
    expect(eraOf(request("tools/list"), "2025-06-18")).toBe("session");
    expect(eraOf(request("tools/list"), undefined)).toBe("session");
    expect(eraOf(request("tools/list", "2025-11-25"), undefined)).toBe("session");
    // initialize is the session handshake unless the body claims a stateless revision.
    expect(eraOf(request("initialize"), "2026-07-28")).toBe("session");
  });

  it("negotiates session versions", () => {
    expect(negotiateSessionVersion("2025-06-18")).toBe("2025-06-18");
    expect(negotiateSessionVersion("2024-11-05")).toBe("2024-11-05");
    expect(negotiateSessionVersion("2023-01-01")).toBe("2025-11-25");
    expect(negotiateSessionVersion(42)).toBe("2025-11-25");
  });
});

describe("header values", () => {
  it.each([
    ["exact_calculate", "exact_calculate"],
    ["file:///tmp/a b.txt", "file:///tmp/a b.txt"],
    ["", "=?base64??="],
    [" padded ", "=?base64?IHBhZGRlZCA=?="],
    ["Grüße", "=?base64?R3LDvMOfZQ==?="],
    ["=?base64?abc?=", "=?base64?PT9iYXNlNjQ/YWJjPz0=?="],
  ])("encodes %j as %j and back", (value, encoded) => {
    expect(encodeHeaderValue(value)).toBe(encoded);
    expect(decodeHeaderValue(encoded)).toBe(value);
  });

  it.each([
    ["not base64", "=?base64?***?="],
    ["non-canonical padding", "=?base64?YQ?="],
    ['non-zero unused bits (a second spelling of "f")', "=?base64?Zh==?="],
    ["invalid UTF-8", `=?base64?${Buffer.from([0xff, 0xfe]).toString("base64")}?=`],
  ])("refuses a sentinel with %s", (_name, raw) => {
    expect(decodeHeaderValue(raw)).toBeUndefined();
  });

  it("strips optional whitespace around a field value", () => {
    expect(decodeHeaderValue("  exact_calculate\t")).toBe("exact_calculate");
  });
});

describe("routing headers", () => {
  const call = (name: unknown): WireMessage => ({
    kind: "request",
    id: 1,
    method: "tools/call",
    params: { name, _meta: { "io.modelcontextprotocol/protocolVersion": "2026-07-28" } },
  });
  const headers = (method?: string, name?: string, protocolVersion = "2026-07-28") => ({
    protocolVersion,
    method,
    name,
  });

  it("accepts headers that mirror the body, plain or base64", () => {
    expect(checkRoutingHeaders(call("sum"), headers("tools/call", "sum"), "stateless")).toBe(
      undefined,
    );
    expect(
      checkRoutingHeaders(
        call("sümme"),
        headers("tools/call", encodeHeaderValue("sümme")),
        "stateless",
      ),
    ).toBe(undefined);
  });

  it.each([
    ["no MCP-Protocol-Version", { protocolVersion: undefined, method: "tools/call", name: "sum" }],
    ["a different known version", headers("tools/call", "sum", "2025-11-25")],
    ["no Mcp-Method", headers(undefined, "sum")],
    ["another Mcp-Method", headers("tools/list", "sum")],
    ["no Mcp-Name", headers("tools/call")],
    ["another Mcp-Name", headers("tools/call", "other")],
    ["a broken base64 Mcp-Name", headers("tools/call", "=?base64?%%?=")],
  ])("refuses a stateless tools/call with %s (-32020)", (_name, sent) => {
    expect(checkRoutingHeaders(call("sum"), sent, "stateless")).toMatchObject({
      reason: "header_mismatch",
    });
  });

  it("mirrors params.taskId for the tasks extension", () => {
    const get: WireMessage = {
      kind: "request",
      id: 2,
      method: "tasks/get",
      params: { taskId: "t-1", _meta: { "io.modelcontextprotocol/protocolVersion": "2026-07-28" } },
    };
    expect(checkRoutingHeaders(get, headers("tasks/get", "t-1"), "stateless")).toBeUndefined();
    expect(checkRoutingHeaders(get, headers("tasks/get"), "stateless")).toBeDefined();
    expect(checkRoutingHeaders(get, headers("tasks/get", "t-2"), "stateless")).toBeDefined();
  });

  it("requires nothing of the session era but refuses a header naming something else", () => {
    const legacy: WireMessage = {
      kind: "request",
      id: 1,
      method: "tools/call",
      params: { name: "sum" },
    };
    const none = { protocolVersion: undefined, method: undefined, name: undefined };
    expect(checkRoutingHeaders(legacy, none, "session")).toBeUndefined();
    expect(
      checkRoutingHeaders(legacy, { ...none, method: "tools/call", name: "sum" }, "session"),
    ).toBeUndefined();
    expect(checkRoutingHeaders(legacy, { ...none, name: "other" }, "session")).toBeDefined();
    expect(checkRoutingHeaders(legacy, { ...none, method: "ping" }, "session")).toBeDefined();
  });

  it("exempts notifications from the presence rule", () => {
    const note = readMessage({
      jsonrpc: "2.0",
      method: "notifications/cancelled",
      params: { requestId: 1, _meta: { "io.modelcontextprotocol/protocolVersion": "2026-07-28" } },
    })!;
    const none = { protocolVersion: undefined, method: undefined, name: undefined };
    expect(checkRoutingHeaders(note, none, "stateless")).toBeUndefined();
    expect(checkRoutingHeaders(note, { ...none, method: "tools/call" }, "stateless")).toBeDefined();
  });
});

describe("unsupported stateless versions", () => {
  it("judges the header first, then the _meta claim", () => {
    expect(unsupportedStatelessVersion("2026-07-28", "2026-07-28")).toBeUndefined();
    expect(unsupportedStatelessVersion("v999", "v999")).toBe("v999");
    // A known header that differs from _meta is a mismatch (-32020), not a version error.
    expect(unsupportedStatelessVersion("v999", "2026-07-28")).toBeUndefined();
    expect(unsupportedStatelessVersion("2026-07-28", "v999")).toBe("v999");
    expect(unsupportedStatelessVersion("v999", undefined)).toBe("v999");
    expect(unsupportedStatelessVersion("2026-07-28", undefined)).toBeUndefined();
  });
});

describe("stateless envelope", () => {
  const meta = (extra: Record<string, unknown>) => ({
    _meta: { "io.modelcontextprotocol/protocolVersion": "2026-07-28", ...extra },
  });

  it("needs the version and the client capabilities", () => {
    expect(
      statelessEnvelopeProblem(meta({ "io.modelcontextprotocol/clientCapabilities": {} })),
    ).toBeUndefined();
    expect(statelessEnvelopeProblem(meta({}))).toMatch(/clientCapabilities/);
    expect(statelessEnvelopeProblem(undefined)).toMatch(/_meta/);
    expect(
      statelessEnvelopeProblem(
        meta({
          "io.modelcontextprotocol/clientCapabilities": {},
          "io.modelcontextprotocol/clientInfo": "x",
        }),
      ),
    ).toMatch(/clientInfo/);
  });
});
