import { z } from "zod";
import { TOOL_NAME_PATTERN } from "../../contract/src/mcp-wire.ts";

/** Scope names: lower-case, short, usable as a URL path segment. */
export const SCOPE_NAME_RE = /^[a-z][a-z0-9_-]{0,31}$/;
/** MCP tool-name rules, from the wire contract. */
export const TOOL_NAME_RE = TOOL_NAME_PATTERN;

export type ToolPattern =
  | { kind: "all" }
  | { kind: "scope"; scope: string }
  | { kind: "tool"; scope: string; tool: string };

export type ToolMatcher = (scope: string, tool: string) => boolean;

/**
 * Valid patterns: `*`, `<scope>.*`, `<scope>.<tool>`. The scope is split at the first dot because
 * scope names cannot contain one while tool names may.
 */
export function parseToolPattern(pattern: string): ToolPattern | undefined {
  if (pattern === "*") return { kind: "all" };
  const dot = pattern.indexOf(".");
  if (dot <= 0) return undefined;
  const scope = pattern.slice(0, dot);
  const rest = pattern.slice(dot + 1);
  if (!SCOPE_NAME_RE.test(scope)) return undefined;
  if (rest === "*") return { kind: "scope", scope };
  if (!TOOL_NAME_RE.test(rest)) return undefined;
  return { kind: "tool", scope, tool: rest };
}

export function compileToolPattern(pattern: string): ToolMatcher {
  const parsed = parseToolPattern(pattern);
  if (!parsed) throw new Error(`invalid tool pattern: ${JSON.stringify(pattern)}`);
  switch (parsed.kind) {
    case "all":
      return () => true;
    case "scope":
      return (scope) => scope === parsed.scope;
    case "tool":
      return (scope, tool) => scope === parsed.scope && tool === parsed.tool;
  }
}

export const ToolPatternSchema = z.string().refine((text) => parseToolPattern(text) !== undefined, {
  message: 'invalid tool pattern: expected "*", "<scope>.*" or "<scope>.<tool>"',
});

/** A quota key naming one tool: `<scope>.<tool>`. */
export function parseQualifiedToolName(text: string): { scope: string; tool: string } | undefined {
  const parsed = parseToolPattern(text);
  return parsed?.kind === "tool" ? { scope: parsed.scope, tool: parsed.tool } : undefined;
}
