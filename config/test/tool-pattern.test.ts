import { describe, expect, it } from "vitest";
import {
  compileToolPattern,
  globMatches,
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

describe("prompt and resource patterns", () => {
  it("name a scope's prompts and resources, with * as a wildcard", () => {
    expect(parseToolPattern("tickets.prompt:triage")).toEqual({
      kind: "item",
      scope: "tickets",
      item: "prompt",
      glob: "triage",
    });
    const prompts = compileToolPattern("tickets.prompt:*");
    expect(prompts("tickets", "prompt:triage")).toBe(true);
    expect(prompts("tickets", "resource:triage")).toBe(false);
    expect(prompts("other", "prompt:triage")).toBe(false);
    // Never a tool: tool names have no colon.
    expect(prompts("tickets", "triage")).toBe(false);
    const files = compileToolPattern("tickets.resource:file:///srv/public/*");
    expect(files("tickets", "resource:file:///srv/public/a/b.txt")).toBe(true);
    expect(files("tickets", "resource:file:///srv/private/a.txt")).toBe(false);
    expect(files("tickets", "resource:file:///srv/public")).toBe(false);
    // A scope's wildcard covers its prompts and resources too; * covers everything.
    expect(compileToolPattern("tickets.*")("tickets", "resource:x://y")).toBe(true);
    expect(compileToolPattern("*")("tickets", "prompt:p")).toBe(true);
    // Tool rules never match an item.
    expect(compileToolPattern("tickets.triage")("tickets", "prompt:triage")).toBe(false);
  });

  it.each([
    "tickets.prompt:",
    "tickets.resource:",
    "tickets.prompt:a\u0000b",
    `tickets.prompt:${"a".repeat(513)}`,
  ])("rejects %j", (pattern) => {
    expect(parseToolPattern(pattern)).toBeUndefined();
  });

  it("matches globs without backtracking blow-up", () => {
    expect(globMatches("a*b*c", "axxbyyc")).toBe(true);
    expect(globMatches("a*b*c", "axxbyy")).toBe(false);
    expect(globMatches("*", "")).toBe(true);
    expect(globMatches("", "")).toBe(true);
    expect(globMatches("", "a")).toBe(false);
    expect(globMatches("**a", "bba")).toBe(true);
    // Backtracking only to the last star: a regular expression engine would take exponential
    // time here; this answers within the test's timeout.
    expect(globMatches(`${"*a".repeat(50)}b`, "a".repeat(20_000))).toBe(false);
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
