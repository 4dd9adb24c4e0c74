/**
 * policy.yaml + tools.yaml compiled once into lookups. Precedence (policy.yaml contract): a tool
 * is allowed when at least one of the caller's roles allows it, no role of the caller denies it,
 * no global deny matches it, and tools.yaml has it enabled. Deny always beats allow; unknown roles
 * grant nothing.
 */
import { compileToolPattern, type ToolMatcher } from "../../../config/src/tool-pattern.ts";
import type { PolicyConfig, Quota } from "../../../config/src/policy-schema.ts";
import type { ToolsConfig } from "../../../config/src/tools-schema.ts";
import { resolveToolName, type ToolResolution } from "../../../contract/src/mcp-wire.ts";

export type ToolStatus = "allowed" | "tool_unknown" | "tool_inactive" | "tool_not_allowed";

export type { ToolResolution };

export type QuotaRule = { points: number; durationMs: number };

export type CompiledPolicy = {
  hasScope: (scope: string) => boolean;
  scopeNames(): readonly string[];
  /** Enabled tools of `scope` the roles may use, sorted. */
  allowedTools(roles: readonly string[], scope: string): readonly string[];
  /** `scope.tool` names of every scope the roles may use, sorted. */
  allowedQualifiedTools(roles: readonly string[]): readonly string[];
  toolStatus(roles: readonly string[], scope: string, tool: string): ToolStatus;
  /** `scope.tool`, or a bare tool name that exactly one scope defines. */
  resolveToolName(name: string): ToolResolution;
  userQuota(roles: readonly string[]): QuotaRule;
  toolQuota(scope: string, tool: string): QuotaRule;
  userToolQuota(scope: string, tool: string): QuotaRule;
};

type CompiledRole = { allow: ToolMatcher[]; deny: ToolMatcher[] };

function rule(quota: Quota): QuotaRule {
  return { points: quota.points, durationMs: quota.duration_ms };
}

export function compilePolicy(tools: ToolsConfig, policy: PolicyConfig): CompiledPolicy {
  const scopes = new Map<string, Map<string, { enabled: boolean }>>();
  const scopesByTool = new Map<string, string[]>();
  for (const [scope, definition] of Object.entries(tools.scopes)) {
    const entries = new Map<string, { enabled: boolean }>();
    for (const tool of definition.tools) {
      entries.set(tool.name, { enabled: tool.enabled });
      scopesByTool.set(tool.name, [...(scopesByTool.get(tool.name) ?? []), scope]);
    }
    scopes.set(scope, entries);
  }
  const roles = new Map<string, CompiledRole>();
  for (const [name, role] of Object.entries(policy.roles)) {
    roles.set(name, {
      allow: role.allow.map(compileToolPattern),
      deny: role.deny.map(compileToolPattern),
    });
  }
  const globalDeny = policy.deny.map(compileToolPattern);

  function grants(roleNames: readonly string[], scope: string, tool: string): boolean {
    let allowed = false;
    for (const name of roleNames) {
      const role = roles.get(name);
      if (role === undefined) continue;
      if (role.deny.some((match) => match(scope, tool))) return false;
      if (role.allow.some((match) => match(scope, tool))) allowed = true;
    }
    return allowed && !globalDeny.some((match) => match(scope, tool));
  }

  // Role sets repeat across requests: memoize per (sorted roles, scope). Bounded by clearing.
  const memo = new Map<string, readonly string[]>();
  const MEMO_LIMIT = 10_000;

  function allowedTools(roleNames: readonly string[], scope: string): readonly string[] {
    const key = `${scope}\u0000${[...roleNames].sort().join("\u0000")}`;
    const cached = memo.get(key);
    if (cached !== undefined) return cached;
    const entries = scopes.get(scope);
    const result: string[] = [];
    if (entries !== undefined) {
      for (const [tool, { enabled }] of entries) {
        if (enabled && grants(roleNames, scope, tool)) result.push(tool);
      }
    }
    result.sort();
    if (memo.size >= MEMO_LIMIT) memo.clear();
    const frozen = Object.freeze(result);
    memo.set(key, frozen);
    return frozen;
  }

  const userQuotas = policy.quotas.per_user;
  const rate = (quota: QuotaRule): number => quota.points / quota.durationMs;

  return {
    hasScope: (scope) => scopes.has(scope),
    scopeNames: () => [...scopes.keys()],
    allowedTools,
    allowedQualifiedTools(roleNames) {
      const result: string[] = [];
      for (const scope of scopes.keys()) {
        for (const tool of allowedTools(roleNames, scope)) result.push(`${scope}.${tool}`);
      }
      return result.sort();
    },
    toolStatus(roleNames, scope, tool) {
      const entry = scopes.get(scope)?.get(tool);
      if (entry === undefined) return "tool_unknown";
      if (!entry.enabled) return "tool_inactive";
      return grants(roleNames, scope, tool) ? "allowed" : "tool_not_allowed";
    },
    resolveToolName: (name) =>
      resolveToolName(
        name,
        (scope, tool) => scopes.get(scope)?.has(tool) === true,
        (tool) => scopesByTool.get(tool) ?? [],
      ),
    userQuota(roleNames) {
      // Several roles: the most generous per-user quota wins (a role without its own uses the default).
      let best = rule(userQuotas.default);
      let first = true;
      for (const name of roleNames) {
        if (!roles.has(name)) continue;
        const own = userQuotas.roles[name];
        const candidate = own === undefined ? rule(userQuotas.default) : rule(own);
        if (first || rate(candidate) > rate(best)) best = candidate;
        first = false;
      }
      return best;
    },
    toolQuota(scope, tool) {
      const own = policy.quotas.per_tool.tools[`${scope}.${tool}`];
      return rule(own ?? policy.quotas.per_tool.default);
    },
    userToolQuota(scope, tool) {
      const own = policy.quotas.per_user_tool.tools[`${scope}.${tool}`];
      return rule(own ?? policy.quotas.per_user_tool.default);
    },
  };
}
