/**
 * The prompt or resource an MCP request targets, named as policy items: `prompt:<name>` and
 * `resource:<uri>`. ext-authz decides on it; the router checks it again against the verdict.
 */

/** Longest prompt name or resource URI a request may name. */
export const MAX_ITEM_NAME = 2048;

const itemName = (value: unknown): value is string =>
  typeof value === "string" && value !== "" && value.length <= MAX_ITEM_NAME;

/** Methods of the 2025 revisions only: 2026-07-28 has no resource subscriptions. */
export const SESSION_ONLY_ITEM_METHODS: ReadonlySet<string> = new Set([
  "resources/subscribe",
  "resources/unsubscribe",
]);

/**
 * The prompt or resource a request targets: undefined when the method targets none (or does not
 * exist in the request's era: the router answers "Method not found"), null when it should and
 * the params do not name one validly.
 */
export function requestItem(
  method: string,
  params: Readonly<Record<string, unknown>> | undefined,
  era: "session" | "stateless" = "session",
): string | null | undefined {
  if (era === "stateless" && SESSION_ONLY_ITEM_METHODS.has(method)) return undefined;
  switch (method) {
    case "prompts/get":
      return itemName(params?.name) ? `prompt:${params.name}` : null;
    // The skills extension (SEP-2640) names resources too: a skill by its SKILL.md, a directory.
    case "resources/read":
    case "resources/subscribe":
    case "resources/unsubscribe":
    case "skills/get":
    case "resources/directory/read":
      return itemName(params?.uri) ? `resource:${params.uri}` : null;
    case "completion/complete": {
      const ref = params?.ref;
      if (ref === null || typeof ref !== "object" || Array.isArray(ref)) return null;
      const { type, name, uri } = ref as Record<string, unknown>;
      if (type === "ref/prompt") return itemName(name) ? `prompt:${name}` : null;
      if (type === "ref/resource") return itemName(uri) ? `resource:${uri}` : null;
      return null;
    }
    default:
      return undefined;
  }
}

/**
 * A tool of a discovering scope as a verdict item (`tool:<name>`; in the REST verdict
 * `tool:<scope>.<name>`): ext-authz writes the caller's patterns, the router matches tools
 * against them. A colon is never part of a tool name, so the prefix cannot be mistaken.
 */
export const TOOL_ITEM_PREFIX = "tool:";

export function toolItem(name: string): string {
  return `${TOOL_ITEM_PREFIX}${name}`;
}
