import { z } from "zod";
import { TOOL_NAME_PATTERN } from "../../contract/src/mcp-wire.ts";

/** Scope names: lower-case, short, usable as a URL path segment. */
export const SCOPE_NAME_RE = /^[a-z][a-z0-9_-]{0,31}$/;
/** MCP tool-name rules, from the wire contract. */
export const TOOL_NAME_RE = TOOL_NAME_PATTERN;

/**
 * What a standard MCP server offers besides tools: its prompts and resources, named as policy
 * items `prompt:<name>` and `resource:<uri>`. A colon is never part of a tool name, so an item can
 * never be taken for a tool or match a tool's rule.
 */
export type ItemKind = "prompt" | "resource";
export const ITEM_KINDS: readonly ItemKind[] = ["prompt", "resource"];

export type ToolPattern =
  | { kind: "all" }
  | { kind: "scope"; scope: string }
  | { kind: "tool"; scope: string; tool: string }
  /** `glob`: `*` stands for any run of characters (none included); nothing else is special. */
  | { kind: "item"; scope: string; item: ItemKind; glob: string };

/** `tool` is a tool name or an item (`prompt:<name>`, `resource:<uri>`). */
export type ToolMatcher = (scope: string, tool: string) => boolean;

/** Longest prompt name or resource URI pattern in a rule. */
const MAX_ITEM_GLOB = 512;

/**
 * Valid patterns: `*`, `<scope>.*`, `<scope>.<tool>`, `<scope>.prompt:<glob>` and
 * `<scope>.resource:<glob>`. The scope is split at the first dot because scope names cannot
 * contain one while tool names may.
 */
export function parseToolPattern(pattern: string): ToolPattern | undefined {
  if (pattern === "*") return { kind: "all" };
  const dot = pattern.indexOf(".");
  if (dot <= 0) return undefined;
  const scope = pattern.slice(0, dot);
  const rest = pattern.slice(dot + 1);
  if (!SCOPE_NAME_RE.test(scope)) return undefined;
  if (rest === "*") return { kind: "scope", scope };
  for (const item of ITEM_KINDS) {
    if (!rest.startsWith(`${item}:`)) continue;
    const glob = rest.slice(item.length + 1);
    // eslint-disable-next-line no-control-regex -- control characters are refused, that is the point
    if (glob === "" || glob.length > MAX_ITEM_GLOB || /[\u0000-\u001f\u007f]/.test(glob)) {
      return undefined;
    }
    return { kind: "item", scope, item, glob };
  }
  if (!TOOL_NAME_RE.test(rest)) return undefined;
  return { kind: "tool", scope, tool: rest };
}

/**
 * Whether `text` matches `glob`, where `*` matches any run of characters. Linear in the text for
 * each star (greedy with backtracking to the last star only), so no pattern can be made slow.
 */
export function globMatches(glob: string, text: string): boolean {
  let g = 0;
  let t = 0;
  let star = -1;
  let resume = 0;
  while (t < text.length) {
    if (g < glob.length && glob[g] === "*") {
      star = g++;
      resume = t;
    } else if (g < glob.length && glob[g] === text[t]) {
      g++;
      t++;
    } else if (star !== -1) {
      g = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (g < glob.length && glob[g] === "*") g++;
  return g === glob.length;
}

/** `prompt:<name>` or `resource:<uri>` → its kind and name; undefined for a tool name. */
export function parseItem(text: string): { item: ItemKind; name: string } | undefined {
  for (const item of ITEM_KINDS) {
    if (text.startsWith(`${item}:`)) return { item, name: text.slice(item.length + 1) };
  }
  return undefined;
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
    case "item":
      return (scope, tool) => {
        if (scope !== parsed.scope) return false;
        const item = parseItem(tool);
        return item?.item === parsed.item && globMatches(parsed.glob, item.name);
      };
  }
}

export const ToolPatternSchema = z.string().refine((text) => parseToolPattern(text) !== undefined, {
  message:
    'invalid tool pattern: expected "*", "<scope>.*", "<scope>.<tool>", "<scope>.prompt:<name>" or "<scope>.resource:<uri>"',
});

/** A quota key naming one tool: `<scope>.<tool>`. */
export function parseQualifiedToolName(text: string): { scope: string; tool: string } | undefined {
  const parsed = parseToolPattern(text);
  return parsed?.kind === "tool" ? { scope: parsed.scope, tool: parsed.tool } : undefined;
}
