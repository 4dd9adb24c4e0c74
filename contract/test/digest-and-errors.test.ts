import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { canonicalJson, constantTimeEqual, digestJson, macEqual } from "../src/digest.ts";
import {
  GATEWAY_ERRORS,
  jsonRpcErrorBody,
  restErrorBody,
  restStatus,
  type GatewayErrorCode,
} from "../src/errors.ts";
import { createLogger } from "../src/log.ts";

describe("canonical JSON", () => {
  it("sorts keys at every depth and drops undefined", () => {
    expect(canonicalJson({ b: 1, a: { d: [{ y: 1, x: 2 }], c: undefined } })).toBe(
      '{"a":{"d":[{"x":2,"y":1}]},"b":1}',
    );
    expect(digestJson({ a: 1, b: 2 })).toBe(digestJson({ b: 2, a: 1 }));
  });

  it("compares secrets of different lengths", () => {
    expect(constantTimeEqual("abc", "abc")).toBe(true);
    expect(constantTimeEqual("abc", "abcd")).toBe(false);
  });

  it("compares MACs: equal, one byte off, shorter, longer, empty, multi-byte characters", () => {
    const mac = "a".repeat(63) + "f";
    expect(macEqual(mac, mac)).toBe(true);
    expect(macEqual("a".repeat(63) + "e", mac)).toBe(false);
    expect(macEqual("e" + "a".repeat(62) + "f", mac)).toBe(false);
    expect(macEqual(mac.slice(0, 63), mac)).toBe(false);
    expect(macEqual(mac + "0", mac)).toBe(false);
    expect(macEqual("", mac)).toBe(false);
    expect(macEqual("", "")).toBe(true);
    // Same number of UTF-16 units, not of bytes: compared as bytes.
    expect(macEqual("é", "e")).toBe(false);
  });
});

describe("error table", () => {
  it("gives every code a status, an rpc code and a message", () => {
    for (const [code, entry] of Object.entries(GATEWAY_ERRORS)) {
      expect(code).toMatch(/^GW_[A-Z_]+$/);
      expect(entry.httpStatus).toBeGreaterThanOrEqual(200);
      expect(entry.rpcCode).toBeLessThan(0);
      expect(entry.message.length).toBeGreaterThan(3);
    }
  });

  it("builds a JSON-RPC error body carrying the stable code", () => {
    expect(jsonRpcErrorBody("GW_RATE_LIMITED", 7, { data: { retryAfterSeconds: 3 } })).toEqual({
      jsonrpc: "2.0",
      id: 7,
      error: {
        code: -32029,
        message: "Rate limit exceeded",
        data: { code: "GW_RATE_LIMITED", retryAfterSeconds: 3 },
      },
    });
  });

  it("gives every code a REST error status, the table's unless JSON-RPC answers it on 200", () => {
    for (const code of Object.keys(GATEWAY_ERRORS) as GatewayErrorCode[]) {
      const status = restStatus(code);
      expect(status).toBeGreaterThanOrEqual(400);
      if (GATEWAY_ERRORS[code].httpStatus !== 200)
        expect(status).toBe(GATEWAY_ERRORS[code].httpStatus);
    }
    expect(restStatus("GW_UNKNOWN_TOOL")).toBe(404);
    expect(restStatus("GW_TASK_NOT_FOUND")).toBe(404);
    expect(restStatus("GW_TOOL_PENDING_APPROVAL")).toBe(409);
    expect(restStatus("GW_UPSTREAM_TIMEOUT")).toBe(504);
    expect(restStatus("GW_UPSTREAM_UNAVAILABLE")).toBe(502);
    expect(restStatus("GW_TOOL_FORBIDDEN")).toBe(403);
  });

  it("builds the REST error body: the stable code, a fixed or gateway-written message, the id", () => {
    expect(restErrorBody("GW_TOOL_FORBIDDEN", "req-1")).toEqual({
      error: { code: "GW_TOOL_FORBIDDEN", message: "Tool not permitted" },
      request_id: "req-1",
    });
    expect(restErrorBody("GW_UNKNOWN_TOOL", "req-2", { detail: "Unknown tool: x" })).toEqual({
      error: { code: "GW_UNKNOWN_TOOL", message: "Unknown tool: x" },
      request_id: "req-2",
    });
  });
});

describe("logger", () => {
  it("redacts credentials and gateway headers", () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const logger = createLogger({ name: "t", destination });
    logger.info(
      {
        headers: {
          authorization: "Bearer abc.def.ghi",
          "x-gateway-verdict": "v1.x.y",
          "x-user-id": "u",
        },
        token: "abc.def.ghi",
      },
      "request",
    );
    const line = lines.join("");
    expect(line).not.toContain("abc.def.ghi");
    expect(line).not.toContain("v1.x.y");
    expect(line).toContain('"x-user-id":"u"');
  });
});
