import { describe, expect, it } from "vitest";
import type { McpCall } from "../src/mcp-answer.ts";
import { logLevelRelay, notificationFilter, requestLogLevel } from "../src/mcp-relay.ts";

/** A 2026-07-28 request's `_meta` log level: what it lets through, and what goes upstream. */

const meta = (level: unknown) => ({
  _meta: { "io.modelcontextprotocol/logLevel": level },
});
const message = (level: string) => ({
  jsonrpc: "2.0" as const,
  method: "notifications/message",
  params: { level, data: "x" },
});

describe("log levels of 2026-07-28 requests", () => {
  it("reads a valid level only", () => {
    expect(requestLogLevel(meta("warning"))).toBe("warning");
    expect(requestLogLevel(meta("loud"))).toBeUndefined();
    expect(requestLogLevel(meta(3))).toBeUndefined();
    expect(requestLogLevel(undefined)).toBeUndefined();
  });

  it("passes the level on for stateless calls only", () => {
    expect(logLevelRelay({ era: "stateless" } as McpCall, meta("debug"))).toEqual({
      logLevel: "debug",
    });
    expect(logLevelRelay({ era: "session" } as McpCall, meta("debug"))).toEqual({});
    expect(logLevelRelay({ era: "stateless" } as McpCall, {})).toEqual({});
  });

  it("lets through log messages at or above the level, none without one", () => {
    const wanted = notificationFilter("stateless", meta("warning"));
    expect(wanted(message("error"))).toBe(true);
    expect(wanted(message("warning"))).toBe(true);
    expect(wanted(message("info"))).toBe(false);
    expect(notificationFilter("stateless", {})(message("emergency"))).toBe(false);
    expect(notificationFilter("session", {})(message("debug"))).toBe(true);
  });
});
