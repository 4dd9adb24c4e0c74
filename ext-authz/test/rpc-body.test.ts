import { describe, expect, it } from "vitest";
import type { RoutingHeaders as McpHeaders } from "../../contract/src/mcp-wire.ts";
import { parseRpcBody } from "../src/policy/rpc-body.ts";
import { parseStrictJson } from "../src/policy/strict-json.ts";

const none: McpHeaders = { protocolVersion: undefined, method: undefined, name: undefined };
const parse = (body: string, headers: Partial<McpHeaders> = {}, depth = 64) =>
  parseRpcBody(body, { ...none, ...headers }, depth);

const call = (name: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    jsonrpc: "2.0",
    id: 1,
    method: "tools/call",
    params: { name, arguments: {}, ...extra },
  });

describe("strict JSON", () => {
  it.each([
    ['{"a":1,"a":2}', "duplicate_key"],
    ['{"a":{"b":1,"b":1}}', "duplicate_key"],
    ['{"a":1,"\\u0061":2}', "duplicate_key"],
    ['[{"a":1},{"a":1}]', "ok"],
    ['{"a":"\\"a\\"","b":"a"}', "ok"],
    ['{"x":"{\\"a\\":1,\\"a\\":1}"}', "ok"],
    ["[[[[1]]]]", "ok"],
    ["[[[[[1]]]]]", "too_deep"],
    ['{"a":{"b":{"c":{"d":{}}}}}', "too_deep"],
    ["{", "parse_error"],
    ["", "parse_error"],
    ["{'a':1}", "parse_error"],
    ['{"a":1,}', "parse_error"],
  ])("%s → %s", (text, expected) => {
    const result = parseStrictJson(text, 4);
    expect(result.ok ? "ok" : result.error).toBe(expected);
  });

  it("survives hostile nesting far beyond the limit", () => {
    const deep = "[".repeat(100_000) + "]".repeat(100_000);
    expect(parseStrictJson(deep, 64)).toEqual({ ok: false, error: "too_deep" });
  });
});

describe("JSON-RPC body", () => {
  it("summarises a tools/call", () => {
    expect(parse(call("statistics"))).toMatchObject({
      ok: true,
      id: 1,
      messages: [{ kind: "request", method: "tools/call", id: 1, toolName: "statistics" }],
    });
  });

  it.each([
    ["truncated", '{"jsonrpc":"2.0","id":1,"method":"tools/ca', "parse_error"],
    ["empty", "", "parse_error"],
    ["wrong version", '{"jsonrpc":"1.0","id":1,"method":"ping"}', "invalid_request"],
    ["missing version", '{"id":1,"method":"ping"}', "invalid_request"],
    ["numeric version", '{"jsonrpc":2.0,"id":1,"method":"ping"}', "invalid_request"],
    ["method not a string", '{"jsonrpc":"2.0","id":1,"method":7}', "invalid_request"],
    ["empty method", '{"jsonrpc":"2.0","id":1,"method":""}', "invalid_request"],
    [
      "huge method",
      JSON.stringify({ jsonrpc: "2.0", id: 1, method: "m".repeat(300) }),
      "invalid_request",
    ],
    ["params an array", '{"jsonrpc":"2.0","id":1,"method":"ping","params":[1]}', "invalid_request"],
    ["unknown member", '{"jsonrpc":"2.0","id":1,"method":"ping","extra":1}', "invalid_request"],
    [
      "huge string id",
      JSON.stringify({ jsonrpc: "2.0", id: "i".repeat(257), method: "ping" }),
      "invalid_request",
    ],
    ["huge numeric id", '{"jsonrpc":"2.0","id":1e400,"method":"ping"}', "invalid_request"],
    [
      "unsafe integer id",
      '{"jsonrpc":"2.0","id":9007199254740993,"method":"ping"}',
      "invalid_request",
    ],
    ["fractional id", '{"jsonrpc":"2.0","id":1.5,"method":"ping"}', "invalid_request"],
    ["object id", '{"jsonrpc":"2.0","id":{},"method":"ping"}', "invalid_request"],
    ["null request id", '{"jsonrpc":"2.0","id":null,"method":"ping"}', "invalid_request"],
    ["a bare value", "42", "invalid_request"],
    [
      "tools/call without a name",
      '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}',
      "invalid_request",
    ],
    ["tools/call with a bad name", call("../etc/passwd"), "invalid_request"],
    ["tools/call with a long name", call("t".repeat(129)), "invalid_request"],
    [
      "response with result and error",
      '{"jsonrpc":"2.0","id":1,"result":{},"error":{}}',
      "invalid_request",
    ],
    [
      "duplicate tool name",
      '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","name":"b"}}',
      "duplicate_key",
    ],
    [
      "duplicate method",
      '{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call"}',
      "duplicate_key",
    ],
  ])("refuses %s", (_name, body, reason) => {
    expect(parse(body)).toMatchObject({ ok: false, reason });
  });

  it("refuses deep nesting", () => {
    const params = `{"name":"x","arguments":${"[".repeat(70)}${"]".repeat(70)}}`;
    const body = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":${params}}`;
    expect(parse(body)).toMatchObject({ ok: false, reason: "too_deep" });
  });

  it("echoes only a well-formed id", () => {
    expect(parse('{"jsonrpc":"1.0","id":"abc","method":"ping"}')).toMatchObject({
      ok: false,
      id: "abc",
    });
    expect(
      parse(JSON.stringify({ jsonrpc: "1.0", id: "x".repeat(300), method: "ping" })),
    ).toMatchObject({ id: null });
  });

  describe("batches", () => {
    const batch = JSON.stringify([
      { jsonrpc: "2.0", id: 1, method: "tools/list" },
      { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "statistics" } },
      { jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 0 } },
      { jsonrpc: "2.0", id: "a", result: {} },
    ]);
    it.each([undefined, "2025-03-26"])("are parsed message by message under %s", (version) => {
      expect(parse(batch, { protocolVersion: version })).toEqual({
        ok: true,
        batch: true,
        id: null,
        messages: [
          {
            kind: "request",
            method: "tools/list",
            id: 1,
            toolName: undefined,
            item: undefined,
            params: undefined,
          },
          {
            kind: "request",
            method: "tools/call",
            id: 2,
            toolName: "statistics",
            item: undefined,
            params: { name: "statistics" },
          },
          { kind: "notification", method: "notifications/cancelled", params: { requestId: 0 } },
          { kind: "response", id: "a", result: {} },
        ],
      });
    });
    it.each(["2025-06-18", "2025-11-25", "2026-07-28", "2024-11-05"])(
      "are refused for protocol version %s",
      (version) => {
        expect(parse(batch, { protocolVersion: version })).toEqual({
          ok: false,
          reason: "batch_not_allowed",
          id: null,
        });
      },
    );
    const ping = (id: number) => ({ jsonrpc: "2.0", id, method: "ping" });
    it.each([
      ["empty", "[]", "invalid_request"],
      ["a scalar member", "[5]", "invalid_request"],
      [
        "an invalid member",
        '[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"1.0"}]',
        "invalid_request",
      ],
      [
        "a tools/call without a valid name",
        '[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x y"}}]',
        "invalid_request",
      ],
      ["a repeated request id", JSON.stringify([ping(1), ping(1)]), "invalid_request"],
      [
        "initialize",
        JSON.stringify([{ jsonrpc: "2.0", id: 1, method: "initialize", params: {} }]),
        "batch_initialize",
      ],
      [
        "33 messages",
        JSON.stringify(Array.from({ length: 33 }, (_, i) => ping(i))),
        "batch_too_large",
      ],
      [
        "a 2026 message",
        JSON.stringify([
          {
            ...ping(1),
            params: { _meta: { "io.modelcontextprotocol/protocolVersion": "2026-07-28" } },
          },
        ]),
        "batch_not_allowed",
      ],
      ["a nested batch", JSON.stringify([[ping(1)]]), "invalid_request"],
    ])("refuses a batch holding %s", (_name, body, reason) => {
      expect(parse(body)).toMatchObject({ ok: false, reason, id: null });
    });
    it("accepts the largest batch", () => {
      const body = JSON.stringify(Array.from({ length: 32 }, (_, i) => ping(i)));
      expect(parse(body)).toMatchObject({ ok: true, batch: true });
    });
    it("refuses Mcp-Method / Mcp-Name on a batch", () => {
      expect(parse(batch, { method: "tools/list" })).toMatchObject({ reason: "header_mismatch" });
      expect(parse(batch, { name: "statistics" })).toMatchObject({ reason: "header_mismatch" });
    });
  });

  describe("2026-07-28 routing headers", () => {
    const meta = { _meta: { "io.modelcontextprotocol/protocolVersion": "2026-07-28" } };
    const modernCall = (name: string) =>
      JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name, ...meta } });
    const modern = { protocolVersion: "2026-07-28" };

    it("accepts matching headers", () => {
      expect(
        parse(modernCall("statistics"), { ...modern, method: "tools/call", name: "statistics" }),
      ).toMatchObject({ ok: true });
    });
    it("refuses a header naming another tool than the body", () => {
      expect(
        parse(modernCall("statistics"), {
          ...modern,
          method: "tools/call",
          name: "exact_calculate",
        }),
      ).toMatchObject({
        ok: false,
        reason: "header_mismatch",
        id: 1,
      });
    });
    it("refuses a header naming another method than the body", () => {
      expect(
        parse(modernCall("statistics"), { ...modern, method: "tools/list", name: "statistics" }),
      ).toMatchObject({
        ok: false,
        reason: "header_mismatch",
      });
    });
    it("refuses a body version different from a known header version", () => {
      expect(
        parse(modernCall("statistics"), {
          protocolVersion: "2025-11-25",
          method: "tools/call",
          name: "statistics",
        }),
      ).toMatchObject({ ok: false, reason: "header_mismatch" });
    });
    it("leaves an unknown header version to the router's -32022", () => {
      expect(
        parse(modernCall("statistics"), {
          protocolVersion: "2026-09-01",
          method: "tools/call",
          name: "statistics",
        }),
      ).toMatchObject({ ok: true });
    });
    it("requires Mcp-Method and Mcp-Name", () => {
      expect(parse(modernCall("statistics"), { ...modern, name: "statistics" })).toMatchObject({
        reason: "header_mismatch",
      });
      expect(parse(modernCall("statistics"), { ...modern, method: "tools/call" })).toMatchObject({
        reason: "header_mismatch",
      });
      // The body's _meta alone makes it a stateless request.
      expect(parse(modernCall("statistics"))).toMatchObject({ reason: "header_mismatch" });
    });
    it("checks present headers on 2025 requests too", () => {
      expect(parse(call("statistics"), { method: "tools/call", name: "other" })).toMatchObject({
        reason: "header_mismatch",
      });
      expect(parse(call("statistics"), { method: "tools/call", name: "statistics" })).toMatchObject(
        { ok: true },
      );
      expect(parse(call("statistics"))).toMatchObject({ ok: true });
      // Mcp-Name on a method that has no name to mirror routes nothing: ignored.
      expect(parse('{"jsonrpc":"2.0","id":1,"method":"ping"}', { name: "x" })).toMatchObject({
        ok: true,
      });
    });
  });
});

describe("what a refused body is told", () => {
  const request = (method: string, params: Record<string, unknown>) =>
    JSON.stringify({ jsonrpc: "2.0", id: 7, method, params });

  it.each([
    ["tools/call", {}, "tools/call needs a valid params.name"],
    ["prompts/get", {}, "prompts/get needs a valid params.name"],
    ["resources/read", { uri: 5 }, "resources/read needs a valid params.uri"],
    ["skills/get", {}, "skills/get needs a valid params.uri"],
    [
      "completion/complete",
      { ref: { type: "ref/other" } },
      "completion/complete needs a valid params.ref",
    ],
  ])("%s with %j: %s", (method, params, detail) => {
    expect(parse(request(method, params))).toEqual({
      ok: false,
      reason: "invalid_request",
      id: 7,
      detail,
    });
  });

  it("refuses routing headers on a batch, naming why", () => {
    const batch = `[${request("tools/list", {})}]`;
    for (const headers of [{ method: "tools/list" }, { name: "x" }]) {
      expect(parse(batch, headers)).toEqual({
        ok: false,
        reason: "header_mismatch",
        id: null,
        detail: "A batch carries no Mcp-Method or Mcp-Name header",
      });
    }
  });
});
