import { describe, expect, it } from "vitest";
import {
  compileToolPattern,
  parseQualifiedToolName,
  parseToolPattern,
} from "../src/tool-pattern.ts";
import { parseDuration } from "../src/duration.ts";
import { interpolateString } from "../src/interpolate.ts";

describe("tool patterns", () => {
  it("matches *, scope.* and scope.tool", () => {
    expect(compileToolPattern("*")("git", "git_log")).toBe(true);
    const scope = compileToolPattern("calculator.*");
    expect(scope("calculator", "statistics")).toBe(true);
    expect(scope("calculatorx", "statistics")).toBe(false);
    const tool = compileToolPattern("docs.generate_document");
    expect(tool("docs", "generate_document")).toBe(true);
    expect(tool("docs", "generate_documents")).toBe(false);
    expect(tool("git", "generate_document")).toBe(false);
  });

  it("splits at the first dot so tool names may contain dots", () => {
    expect(parseToolPattern("git.v2.log")).toEqual({ kind: "tool", scope: "git", tool: "v2.log" });
    expect(parseQualifiedToolName("git.*")).toBeUndefined();
  });

  it.each([
    "",
    "calculator",
    "calculator*",
    "*.tool",
    ".tool",
    "Calc.*",
    "calc.",
    "calc.a b",
    "calc.**",
    "**",
  ])("rejects %j", (pattern) => {
    expect(parseToolPattern(pattern)).toBeUndefined();
    expect(() => compileToolPattern(pattern)).toThrow(/invalid tool pattern/);
  });
});

describe("durations", () => {
  it.each([
    ["500ms", 500],
    ["30s", 30_000],
    ["5m", 300_000],
    ["1h", 3_600_000],
    ["1d", 86_400_000],
  ])("%s = %d ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(["", "0s", "1", "1 m", "1.5s", "-1s", "1w", "m", "01s", "1mm"])("rejects %j", (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});

describe("interpolation", () => {
  const env = { SET: "value", EMPTY: "" };
  it.each([
    ["plain", "plain"],
    ["${SET}", "value"],
    ["a-${SET}-b", "a-value-b"],
    ["${UNSET:-fallback}", "fallback"],
    ["${EMPTY:-fallback}", "fallback"],
    ["${EMPTY}", ""],
    ["${UNSET:-http://x:1}", "http://x:1"],
    ["$$HOME", "$HOME"],
    ["cost $5", "cost $5"],
  ])("%j → %j", (text, expected) => {
    expect(interpolateString(text, env)).toEqual({ ok: true, value: expected });
  });

  it.each([
    ["${UNSET}", "environment variable UNSET is not set and has no default"],
    ["${SET", 'unterminated "${": expected "}"'],
    ["${1BAD}", 'invalid variable name "1BAD" in "${...}"'],
    ["${}", 'invalid variable name "" in "${...}"'],
  ])("%j fails", (text, message) => {
    expect(interpolateString(text, env)).toEqual({ ok: false, message });
  });
});
