import { toolItem } from "../../contract/src/mcp-items.ts";
import type { VerdictClaims } from "../../contract/src/verdict.ts";
import { globMatches } from "../../config/src/tool-pattern.ts";

/** What a verdict lets its caller use and see of the verdict's scope. */

/** Whether the verdict names the tool (as `tool` in its scope's verdict, `scope.tool` in REST's). */
export function isToolAllowed(allowed: readonly string[], scope: string, name: string): boolean {
  return allowed.includes(name) || allowed.includes(`${scope}.${name}`);
}

/** Whether the verdict lets the caller see `item` (`prompt:<name>`, `resource:<uri>`, `tool:<name>`). */
export function itemVisible(items: VerdictClaims["items"], item: string): boolean {
  if (items === undefined) return false;
  const matches = (pattern: string) => globMatches(pattern, item);
  return items.allow.some(matches) && !items.deny.some(matches);
}

/**
 * Whether the verdict shows the caller a tool of its scope: one it names, or in a discovering
 * scope one its tool patterns allow (a call is decided by name: isToolAllowed).
 */
export function toolVisible(
  verdict: Pick<VerdictClaims, "tools" | "items">,
  scope: string,
  name: string,
): boolean {
  return isToolAllowed(verdict.tools, scope, name) || itemVisible(verdict.items, toolItem(name));
}
