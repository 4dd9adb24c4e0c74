import { describe, expect, it } from "vitest";
import {
  acceptsStreamableHttp,
  compileOriginAllowlist,
  isJsonContentType,
  isOriginAllowed,
} from "../src/transport-checks.ts";

describe("Origin allowlist", () => {
  const allowlist = compileOriginAllowlist(["https://app.example.com/", "http://localhost:3000"]);

  it.each([
    [undefined, true],
    ["https://app.example.com", true],
    ["http://localhost:3000", true],
    ["https://app.example.com:443", true],
    ["https://evil.example.com", false],
    ["http://app.example.com", false],
    ["null", false],
    ["not a url", false],
    ["file:///etc/passwd", false],
  ])("origin %s → %s", (origin, allowed) => {
    expect(isOriginAllowed(origin, allowlist)).toBe(allowed);
  });

  it("rejects an invalid configured origin", () => {
    expect(() => compileOriginAllowlist(["ftp://x"])).toThrow(/invalid allowed origin/);
    expect(() => compileOriginAllowlist(["nope"])).toThrow(/invalid allowed origin/);
  });
});

describe("Accept and Content-Type", () => {
  it.each([
    ["application/json, text/event-stream", true],
    ["text/event-stream;q=0.9, application/json", true],
    ["*/*", true],
    ["application/*, text/*", true],
    ["application/json", false],
    ["text/event-stream", false],
    ["application/json, text/event-stream;q=0", false],
    ["", false],
    [undefined, false],
    ["garbage", false],
  ])("Accept %s → %s", (accept, ok) => {
    expect(acceptsStreamableHttp(accept)).toBe(ok);
  });

  it.each([
    ["application/json", true],
    ["application/json; charset=utf-8", true],
    ["Application/JSON", true],
    ["text/plain", false],
    ["application/jsonx", false],
    [undefined, false],
  ])("Content-Type %s → %s", (contentType, ok) => {
    expect(isJsonContentType(contentType)).toBe(ok);
  });
});
