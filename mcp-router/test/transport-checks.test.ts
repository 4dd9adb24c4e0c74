import { describe, expect, it } from "vitest";
import {
  acceptsStreamableHttp,
  compileOriginAllowlist,
  compileOriginPolicy,
  isJsonContentType,
  isLoopbackOrigin,
  isOriginAllowed,
} from "../src/transport-checks.ts";

describe("Origin allowlist", () => {
  const policy = compileOriginPolicy({
    allowedOrigins: ["https://app.example.com/", "http://localhost:3000"],
  });

  it.each([
    [undefined, true],
    ["https://app.example.com", true],
    ["http://localhost:3000", true],
    ["https://app.example.com:443", true],
    ["https://evil.example.com", false],
    ["http://app.example.com", false],
    ["http://localhost:3001", false],
    ["null", false],
    ["not a url", false],
    ["file:///etc/passwd", false],
  ])("origin %s → %s", (origin, allowed) => {
    expect(isOriginAllowed(origin, policy)).toBe(allowed);
  });

  it("rejects an invalid configured origin", () => {
    expect(() => compileOriginAllowlist(["ftp://x"])).toThrow(/invalid allowed origin/);
    expect(() => compileOriginAllowlist(["nope"])).toThrow(/invalid allowed origin/);
    expect(() => compileOriginPolicy({ allowedOrigins: ["nope"] })).toThrow(
      /invalid allowed origin/,
    );
  });
});

describe("the gateway's own origin", () => {
  const policy = compileOriginPolicy({
    allowedOrigins: [],
    publicUrl: "https://mcp.example.com/gateway/",
  });

  it.each([
    ["https://mcp.example.com", true],
    ["https://mcp.example.com:443", true],
    ["http://mcp.example.com", false],
    ["https://mcp.example.com:8443", false],
    ["https://evil.mcp.example.com", false],
    ["http://localhost:8000", false],
  ])("origin %s → %s", (origin, allowed) => {
    expect(isOriginAllowed(origin, policy)).toBe(allowed);
  });

  it("takes the origin of a listener URL with a port", () => {
    const local = compileOriginPolicy({ allowedOrigins: [], publicUrl: "http://127.0.0.1:9123" });
    expect(isOriginAllowed("http://127.0.0.1:9123", local)).toBe(true);
    expect(isOriginAllowed("http://127.0.0.1:9124", local)).toBe(false);
  });

  it.each(["", "mcp.example.com", "ftp://mcp.example.com", "http://"])(
    "refuses the public URL %j",
    (publicUrl) => {
      expect(() => compileOriginPolicy({ allowedOrigins: [], publicUrl })).toThrow(
        /invalid public URL/,
      );
    },
  );
});

describe("loopback origins", () => {
  const loopbackOrigins = [
    "http://localhost:5173",
    "http://localhost",
    "http://127.0.0.1:8000",
    "http://[::1]:8000",
    "http://LOCALHOST:3000",
  ];
  const notLoopback = [
    "https://localhost:5173",
    "http://localhost.evil.example:80",
    "http://127.0.0.1.nip.io:8000",
    "http://127.0.0.2:8000",
    "http://[::2]:8000",
    "http://0.0.0.0:8000",
    "http://evil.example",
    "null",
    "",
  ];

  it.each(loopbackOrigins)("%s is loopback", (origin) => {
    expect(isLoopbackOrigin(origin)).toBe(true);
  });
  it.each(notLoopback)("%j is not loopback", (origin) => {
    expect(isLoopbackOrigin(origin)).toBe(false);
  });

  it("are accepted in development, still alongside the allowlist and the own origin", () => {
    const development = compileOriginPolicy({
      allowedOrigins: ["https://app.example.com"],
      publicUrl: "http://127.0.0.1:8000",
      allowLoopback: true,
    });
    for (const origin of loopbackOrigins) expect(isOriginAllowed(origin, development)).toBe(true);
    expect(isOriginAllowed("https://app.example.com", development)).toBe(true);
    for (const origin of notLoopback) expect(isOriginAllowed(origin, development)).toBe(false);
  });

  it("are refused in production unless listed; the own origin still passes", () => {
    const production = compileOriginPolicy({
      allowedOrigins: ["http://localhost:3000"],
      publicUrl: "http://127.0.0.1:8000",
      allowLoopback: false,
    });
    expect(isOriginAllowed("http://127.0.0.1:8000", production)).toBe(true);
    expect(isOriginAllowed("http://localhost:3000", production)).toBe(true);
    expect(isOriginAllowed("http://localhost:5173", production)).toBe(false);
    expect(isOriginAllowed("http://127.0.0.1:8001", production)).toBe(false);
    expect(isOriginAllowed("http://[::1]:8000", production)).toBe(false);
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
