import { describe, expect, it } from "vitest";
import { parseInbound } from "../src/json-rpc-message.ts";
import { chooseRevision, negotiateLegacyVersion } from "../src/protocol-version.ts";

const parse = (text: string) => parseInbound(Buffer.from(text));

describe("parseInbound", () => {
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
    ["not JSON", "{", "GW_PARSE_ERROR"],
    ["empty", "", "GW_PARSE_ERROR"],
    ["wrong version", '{"jsonrpc":"1.0","id":1,"method":"ping"}', "GW_INVALID_REQUEST"],
    ["array params", '{"jsonrpc":"2.0","id":1,"method":"ping","params":[1]}', "GW_INVALID_REQUEST"],
    ["object id", '{"jsonrpc":"2.0","id":{},"method":"ping"}', "GW_INVALID_REQUEST"],
    ["fractional id", '{"jsonrpc":"2.0","id":1.5,"method":"ping"}', "GW_INVALID_REQUEST"],
    ["empty method", '{"jsonrpc":"2.0","id":1,"method":""}', "GW_INVALID_REQUEST"],
    ["extra member", '{"jsonrpc":"2.0","id":1,"method":"ping","x":1}', "GW_INVALID_REQUEST"],
    ["a scalar", "42", "GW_INVALID_REQUEST"],
    ["null", "null", "GW_INVALID_REQUEST"],
  ])("rejects %s", (_name, text, error) => {
    expect(parse(text)).toMatchObject({ ok: false, error });
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
        { kind: "request", request: { id: 1, method: "tools/list" } },
        { kind: "notification" },
        { kind: "response" },
      ],
    });
    expect(parse('{"jsonrpc":"2.0","id":1,"method":"ping"}')).toMatchObject({ batch: false });
  });

  const ping = (id: number) => ({ jsonrpc: "2.0", id, method: "ping" });
  it.each([
    ["empty", "[]"],
    ["a scalar member", "[1]"],
    ["an invalid member", JSON.stringify([ping(1), { jsonrpc: "1.0", id: 2, method: "ping" }])],
    ["a nested batch", JSON.stringify([[ping(1)]])],
    ["a repeated id", JSON.stringify([ping(1), ping(1)])],
    ["33 messages", JSON.stringify(Array.from({ length: 33 }, (_, i) => ping(i)))],
  ])("rejects a batch holding %s, whole", (_name, text) => {
    expect(parse(text)).toMatchObject({ ok: false, error: "GW_INVALID_REQUEST", id: null });
  });

  it("accepts a batch of the largest size", () => {
    const text = JSON.stringify(Array.from({ length: 32 }, (_, i) => ping(i)));
    expect(parse(text)).toMatchObject({ ok: true, batch: true });
  });

  it("keeps the id of an invalid request for the error answer", () => {
    expect(parse('{"jsonrpc":"2.0","id":7,"method":5}')).toEqual({
      ok: false,
      error: "GW_INVALID_REQUEST",
      id: 7,
    });
  });
});

describe("revision choice", () => {
  const meta = (version: string) => ({
    params: { _meta: { "io.modelcontextprotocol/protocolVersion": version } },
  });

  it("is body-primary", () => {
    expect(chooseRevision(meta("2026-07-28"), undefined)).toMatchObject({
      era: "modern",
      version: "2026-07-28",
    });
    expect(chooseRevision(meta("2031-01-01"), "2026-07-28")).toMatchObject({
      era: "modern",
      version: "2031-01-01",
    });
    expect(chooseRevision({ params: {} }, "2026-07-28")).toMatchObject({ era: "modern" });
    expect(chooseRevision({ params: {} }, "2025-06-18")).toMatchObject({ era: "legacy" });
    expect(chooseRevision({}, undefined)).toMatchObject({ era: "legacy" });
    expect(chooseRevision(meta("2025-11-25"), undefined)).toMatchObject({ era: "legacy" });
  });

  it("negotiates legacy versions", () => {
    expect(negotiateLegacyVersion("2025-06-18")).toBe("2025-06-18");
    expect(negotiateLegacyVersion("2024-11-05")).toBe("2025-11-25");
    expect(negotiateLegacyVersion(42)).toBe("2025-11-25");
  });
});
