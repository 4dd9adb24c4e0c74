import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { canonicalJson, constantTimeEqual, digestJson } from "../src/digest.ts";
import { GATEWAY_ERRORS, jsonRpcErrorBody } from "../src/errors.ts";
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
