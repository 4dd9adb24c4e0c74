import { rulePattern, type PolicyConfig, type PolicyRule } from "./policy-schema.ts";
import { parseToolPattern } from "./tool-pattern.ts";
import { toolEntry, type ToolsConfig } from "./tools-schema.ts";
import type { PathError } from "./interpolate.ts";

/** Checks that every name policy.yaml uses exists in tools.yaml (scopes, tools) or in policy.yaml (roles). */
export function checkPolicyAgainstTools(tools: ToolsConfig, policy: PolicyConfig): PathError[] {
  const errors: PathError[] = [];
  const scopeNames = Object.keys(tools.scopes).sort();

  const checkTarget = (
    path: (string | number)[],
    scope: string,
    tool: string | undefined,
  ): void => {
    if (!Object.hasOwn(tools.scopes, scope)) {
      errors.push({
        path,
        message: `unknown scope "${scope}" (tools.yaml scopes: ${scopeNames.join(", ")})`,
      });
      return;
    }
    // A discovering scope may have any tool: it exists when its server lists it.
    if (tool !== undefined && toolEntry(tools.scopes[scope], tool) === undefined) {
      errors.push({ path, message: `unknown tool "${scope}.${tool}" (not listed in tools.yaml)` });
    }
  };

  const checkPatterns = (rules: readonly PolicyRule[], path: (string | number)[]): void => {
    rules.forEach((rule, index) => {
      const parsed = parseToolPattern(rulePattern(rule));
      if (!parsed) return; // already reported by the schema
      const at = typeof rule === "string" ? [...path, index] : [...path, index, "tools"];
      switch (parsed.kind) {
        case "all":
          return;
        case "scope":
          checkTarget(at, parsed.scope, undefined);
          return;
        case "tool":
          checkTarget(at, parsed.scope, parsed.tool);
          return;
        case "item":
          checkTarget(at, parsed.scope, undefined);
          if (tools.scopes[parsed.scope] !== undefined && !tools.scopes[parsed.scope]!.mcp_server) {
            errors.push({
              path: at,
              message: `scope "${parsed.scope}" has no mcp_server: only MCP servers have prompts and resources`,
            });
          }
          return;
      }
    });
  };

  for (const [roleName, role] of Object.entries(policy.roles)) {
    checkPatterns(role.allow, ["roles", roleName, "allow"]);
    checkPatterns(role.deny, ["roles", roleName, "deny"]);
  }
  checkPatterns(policy.deny, ["deny"]);

  for (const roleName of Object.keys(policy.quotas.per_user.roles)) {
    if (!Object.hasOwn(policy.roles, roleName)) {
      errors.push({
        path: ["quotas", "per_user", "roles", roleName],
        message: `unknown role "${roleName}"`,
      });
    }
  }
  policy.operator_roles.forEach((roleName, index) => {
    if (!Object.hasOwn(policy.roles, roleName)) {
      errors.push({ path: ["operator_roles", index], message: `unknown role "${roleName}"` });
    }
  });
  for (const section of ["per_tool", "per_user_tool"] as const) {
    for (const key of Object.keys(policy.quotas[section].tools)) {
      const path = ["quotas", section, "tools", key];
      const parsed = parseToolPattern(key);
      if (parsed?.kind !== "tool") {
        errors.push({ path, message: `invalid tool key "${key}": expected "<scope>.<tool>"` });
        continue;
      }
      checkTarget(path, parsed.scope, parsed.tool);
    }
  }
  return errors;
}
