/**
 * policy.yaml + tools.yaml compiled once into lookups. Precedence (policy.yaml contract): a tool
 * is allowed when at least one of the caller's roles allows it, no role of the caller denies it,
 * no global deny matches it, and tools.yaml has it enabled. Deny always beats allow; unknown roles
 * grant nothing. A rule with `when` matches only where its condition is true; a condition that
 * fails to evaluate never allows and always denies. `mode: dry_run` denies are reported as
 * "would deny" and never enforced.
 */
import {
  compileCondition,
  type Condition,
  type ConditionInput,
} from "../../../config/src/policy-condition.ts";
import {
  compileToolPattern,
  ITEM_KINDS,
  parseToolPattern,
  type ToolMatcher,
  type ToolPattern,
} from "../../../config/src/tool-pattern.ts";
import {
  rulePattern,
  type PolicyConfig,
  type PolicyRule,
  type Quota,
} from "../../../config/src/policy-schema.ts";
import { toolEntry, type ToolsConfig } from "../../../config/src/tools-schema.ts";
import { resolveToolName, type ToolResolution } from "../../../contract/src/mcp-wire.ts";
import { TOOL_ITEM_PREFIX, toolItem } from "../../../contract/src/mcp-items.ts";

export type ToolStatus = "allowed" | "tool_unknown" | "tool_inactive" | "tool_not_allowed";

export type { ToolResolution };

export type QuotaRule = { points: number; durationMs: number };

/** Who asks, as conditions see them. */
export type PolicyCaller = {
  roles: readonly string[];
  /** The token's claims with `subject`, `tenant` and `roles` as mapped. */
  claims: Readonly<Record<string, unknown>>;
  /** HTTP method and the headers policy.yaml's `condition_headers` expose. */
  request: ConditionInput["request"];
};

/** A caller known only by roles: no claims, no request (tests, `policy matrix`). */
export function callerWithRoles(roles: readonly string[]): PolicyCaller {
  return { roles, claims: { roles: [...roles] }, request: { method: "POST", headers: {} } };
}

/** A rule of policy.yaml, named by its place: `roles.auditor.deny[4]`, `deny[0]`. */
export type RuleRef = {
  path: string;
  effect: "allow" | "deny";
  tools: string;
  when: string | undefined;
  mode: "enforce" | "dry_run";
};

export type ToolDecision = {
  status: ToolStatus;
  /** The deny that refused, or the allow that granted; undefined when no rule allows. */
  rule: RuleRef | undefined;
  /** Why the deciding rule's condition could not be evaluated (it then denied). */
  conditionError: string | undefined;
  /** Dry-run denies whose condition held (or failed): what enforcing them would refuse. */
  wouldDeny: readonly RuleRef[];
};

/**
 * `arguments` of a tools/call; `undefined` when there are none to see yet (tools/list, jobs):
 * then a rule whose condition reads `arguments` counts as an allow that may hold and a deny
 * that may not, so a tool is listed when some call of it could be allowed.
 */
export type CallArguments = unknown;

/**
 * Which prompts and resources of a scope a caller may see, and in a discovering scope which
 * tools, for the router to filter lists: patterns relative to the scope (`prompt:*`,
 * `resource:file:///srv/*`, `tool:search`, `tool:*`); an item is visible when an allow pattern
 * matches it and no deny pattern does.
 */
export type ItemRules = { allow: readonly string[]; deny: readonly string[] };

export type CompiledPolicy = {
  hasScope: (scope: string) => boolean;
  scopeNames(): readonly string[];
  /** Enabled tools of `scope` the caller may use at all, sorted. */
  allowedTools(caller: PolicyCaller, scope: string): readonly string[];
  /** `scope.tool` names of every scope the caller may use at all, sorted. */
  allowedQualifiedTools(caller: PolicyCaller): readonly string[];
  /** The decision for one call (`args` given) or for listing (`args` undefined). */
  decideTool(caller: PolicyCaller, scope: string, tool: string, args?: CallArguments): ToolDecision;
  toolStatus(caller: PolicyCaller, scope: string, tool: string, args?: CallArguments): ToolStatus;
  /**
   * The decision for a prompt or resource (`prompt:<name>`, `resource:<uri>`) of a scope served
   * by an MCP server: "tool_unknown" on any other scope. `args`: a prompt's arguments.
   */
  decideItem(caller: PolicyCaller, scope: string, item: string, args?: CallArguments): ToolDecision;
  /**
   * What the caller may see of a scope's prompts and resources (MCP-server scopes) and tools
   * (discovering scopes); undefined for a tool-server scope that lists its tools.
   */
  itemRules(caller: PolicyCaller, scope: string): ItemRules | undefined;
  /**
   * The REST API's view across scopes: the tools of every discovering scope the caller may use,
   * as qualified patterns (`tool:<scope>.*`, `tool:<scope>.<tool>`); undefined when there is none.
   */
  qualifiedToolRules(caller: PolicyCaller): ItemRules | undefined;
  /** `scope.tool`, or a bare tool name that exactly one scope defines. */
  resolveToolName(name: string): ToolResolution;
  /** The `request` conditions see: the method and only the headers policy.yaml exposes. */
  conditionRequest(
    method: string,
    headers: Readonly<Record<string, string>>,
  ): ConditionInput["request"];
  /** Every rule, in evaluation order, for `policy matrix` and explanations. */
  rules(): readonly RuleRef[];
  userQuota(roles: readonly string[]): QuotaRule;
  /** Whether one of `roles` is in policy.yaml's `operator_roles` (the `/admin/*` endpoints). */
  isOperator(roles: readonly string[]): boolean;
  toolQuota(scope: string, tool: string): QuotaRule;
  userToolQuota(scope: string, tool: string): QuotaRule;
};

type CompiledRule = {
  ref: RuleRef;
  pattern: ToolPattern;
  matches: ToolMatcher;
  condition: Condition | undefined;
};
type CompiledRole = { allow: CompiledRule[]; deny: CompiledRule[] };

function rule(quota: Quota): QuotaRule {
  return { points: quota.points, durationMs: quota.duration_ms };
}

function compileRule(entry: PolicyRule, path: string, effect: RuleRef["effect"]): CompiledRule {
  const tools = rulePattern(entry);
  const when = typeof entry === "string" ? undefined : entry.when;
  const mode = typeof entry === "string" ? "enforce" : entry.mode;
  return {
    ref: { path, effect, tools, when, mode },
    pattern: parseToolPattern(tools)!,
    matches: compileToolPattern(tools),
    condition: when === undefined ? undefined : compileCondition(when),
  };
}

/** What a rule's condition says here: true, false, unknown (arguments not seen) or an error. */
type Verdict = true | false | "unknown" | { error: string };

function evaluate(
  candidate: CompiledRule,
  caller: PolicyCaller,
  scope: string,
  tool: string,
  args: CallArguments,
): Verdict {
  const { condition } = candidate;
  if (condition === undefined) return true;
  if (args === undefined && condition.readsArguments) return "unknown";
  const argumentMap = args === undefined ? {} : args;
  if (typeof argumentMap !== "object" || argumentMap === null || Array.isArray(argumentMap)) {
    return { error: "arguments is not an object" };
  }
  return condition.evaluate({
    claims: caller.claims,
    scope,
    tool,
    arguments: argumentMap as Record<string, unknown>,
    request: caller.request,
  });
}

export function compilePolicy(tools: ToolsConfig, policy: PolicyConfig): CompiledPolicy {
  const scopes = new Map<string, Map<string, { enabled: boolean }>>();
  /** Scopes served by a standard MCP server: the only ones with prompts and resources. */
  const itemScopes = new Set(
    Object.entries(tools.scopes)
      .filter(([, definition]) => definition.mcp_server !== undefined)
      .map(([scope]) => scope),
  );
  /** Scopes whose tools are what their server lists (`tools: discover`). */
  const discoverScopes = new Set(
    Object.entries(tools.scopes)
      .filter(([, definition]) => definition.discover === true)
      .map(([scope]) => scope),
  );
  // tools.yaml's own rule: a listed tool, or any valid name in a discovering scope.
  const hasTool = (scope: string, tool: string): boolean =>
    Object.hasOwn(tools.scopes, scope) && toolEntry(tools.scopes[scope], tool) !== undefined;
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
      allow: role.allow.map((entry, i) => compileRule(entry, `roles.${name}.allow[${i}]`, "allow")),
      deny: role.deny.map((entry, i) => compileRule(entry, `roles.${name}.deny[${i}]`, "deny")),
    });
  }
  const globalDeny = policy.deny.map((entry, i) => compileRule(entry, `deny[${i}]`, "deny"));
  const allRules = [
    ...[...roles.values()].flatMap((role) => [...role.deny, ...role.allow]),
    ...globalDeny,
  ];
  // Lists can be memoized per role set unless a condition reads the caller (claims, request).
  const listDependsOnCaller = allRules.some(
    (candidate) => candidate.condition !== undefined && !candidate.condition.readsArguments,
  );

  function decideGrant(
    caller: PolicyCaller,
    scope: string,
    tool: string,
    args: CallArguments,
  ): Omit<ToolDecision, "status"> & { allowed: boolean } {
    const wouldDeny: RuleRef[] = [];
    const denies: CompiledRule[] = [];
    const allows: CompiledRule[] = [];
    for (const name of caller.roles) {
      const role = roles.get(name);
      if (role === undefined) continue;
      denies.push(...role.deny);
      allows.push(...role.allow);
    }
    denies.push(...globalDeny);

    for (const candidate of denies) {
      if (!candidate.matches(scope, tool)) continue;
      const verdict = evaluate(candidate, caller, scope, tool, args);
      if (verdict === false || verdict === "unknown") continue;
      const conditionError = verdict === true ? undefined : verdict.error;
      if (candidate.ref.mode === "dry_run") {
        wouldDeny.push(candidate.ref);
        continue;
      }
      return { allowed: false, rule: candidate.ref, conditionError, wouldDeny };
    }
    let failedAllow: { rule: RuleRef; error: string } | undefined;
    for (const candidate of allows) {
      if (!candidate.matches(scope, tool)) continue;
      const verdict = evaluate(candidate, caller, scope, tool, args);
      if (verdict === true || verdict === "unknown") {
        return { allowed: true, rule: candidate.ref, conditionError: undefined, wouldDeny };
      }
      if (verdict !== false) failedAllow ??= { rule: candidate.ref, error: verdict.error };
    }
    return {
      allowed: false,
      rule: failedAllow?.rule,
      conditionError: failedAllow?.error,
      wouldDeny,
    };
  }

  function decideTool(
    caller: PolicyCaller,
    scope: string,
    tool: string,
    args?: CallArguments,
  ): ToolDecision {
    const entry =
      scopes.get(scope)?.get(tool) ?? (hasTool(scope, tool) ? { enabled: true } : undefined);
    const none = { rule: undefined, conditionError: undefined, wouldDeny: [] };
    if (entry === undefined) return { status: "tool_unknown", ...none };
    if (!entry.enabled) return { status: "tool_inactive", ...none };
    const { allowed, ...rest } = decideGrant(caller, scope, tool, args);
    return { status: allowed ? "allowed" : "tool_not_allowed", ...rest };
  }

  function decideItem(
    caller: PolicyCaller,
    scope: string,
    item: string,
    args?: CallArguments,
  ): ToolDecision {
    if (!itemScopes.has(scope)) {
      return { status: "tool_unknown", rule: undefined, conditionError: undefined, wouldDeny: [] };
    }
    const { allowed, ...rest } = decideGrant(caller, scope, item, args);
    return { status: allowed ? "allowed" : "tool_not_allowed", ...rest };
  }

  /** The item patterns (relative to `scope`) a rule covers there. */
  function itemGlobs(pattern: ToolPattern, scope: string): string[] {
    if (pattern.kind !== "all" && pattern.scope !== scope) return [];
    const prefixes = [
      ...(itemScopes.has(scope) ? ITEM_KINDS.map((kind) => `${kind}:`) : []),
      ...(discoverScopes.has(scope) ? [TOOL_ITEM_PREFIX] : []),
    ];
    switch (pattern.kind) {
      case "all":
      case "scope":
        return prefixes.map((prefix) => `${prefix}*`);
      case "item":
        return itemScopes.has(scope) ? [`${pattern.item}:${pattern.glob}`] : [];
      case "tool":
        return discoverScopes.has(scope) ? [toolItem(pattern.tool)] : [];
    }
  }

  /** What a condition sees as `tool` for a pattern: a tool's own name, or the item pattern. */
  const conditionTool = (glob: string): string =>
    glob.startsWith(TOOL_ITEM_PREFIX) ? glob.slice(TOOL_ITEM_PREFIX.length) : glob;

  function itemRules(caller: PolicyCaller, scope: string): ItemRules | undefined {
    if (!itemScopes.has(scope) && !discoverScopes.has(scope)) return undefined;
    const allow = new Set<string>();
    const deny = new Set<string>();
    const rolesOfCaller = caller.roles.flatMap((name) => roles.get(name) ?? []);
    // As for tools/list: an allow whose condition may hold counts, a deny only where it holds
    // (or fails to evaluate); dry-run denies are never enforced.
    for (const candidate of [...rolesOfCaller.flatMap((role) => role.deny), ...globalDeny]) {
      if (candidate.ref.mode === "dry_run") continue;
      for (const glob of itemGlobs(candidate.pattern, scope)) {
        const verdict = evaluate(candidate, caller, scope, conditionTool(glob), undefined);
        if (verdict === true || typeof verdict === "object") deny.add(glob);
      }
    }
    for (const candidate of rolesOfCaller.flatMap((role) => role.allow)) {
      for (const glob of itemGlobs(candidate.pattern, scope)) {
        const verdict = evaluate(candidate, caller, scope, conditionTool(glob), undefined);
        if (verdict === true || verdict === "unknown") allow.add(glob);
      }
    }
    return { allow: [...allow].sort(), deny: [...deny].sort() };
  }

  function qualifiedToolRules(caller: PolicyCaller): ItemRules | undefined {
    if (discoverScopes.size === 0) return undefined;
    const allow: string[] = [];
    const deny: string[] = [];
    for (const scope of discoverScopes) {
      const rules = itemRules(caller, scope);
      const qualify = (glob: string) => toolItem(`${scope}.${glob.slice(TOOL_ITEM_PREFIX.length)}`);
      for (const glob of rules?.allow ?? [])
        if (glob.startsWith(TOOL_ITEM_PREFIX)) allow.push(qualify(glob));
      for (const glob of rules?.deny ?? [])
        if (glob.startsWith(TOOL_ITEM_PREFIX)) deny.push(qualify(glob));
    }
    return { allow: allow.sort(), deny: deny.sort() };
  }

  // Role sets repeat across requests: memoize per (sorted roles, scope). Bounded by clearing.
  const memo = new Map<string, readonly string[]>();
  const MEMO_LIMIT = 10_000;

  function allowedTools(caller: PolicyCaller, scope: string): readonly string[] {
    const key = listDependsOnCaller
      ? undefined
      : `${scope}\u0000${[...caller.roles].sort().join("\u0000")}`;
    const cached = key === undefined ? undefined : memo.get(key);
    if (cached !== undefined) return cached;
    const entries = scopes.get(scope);
    const result: string[] = [];
    if (entries !== undefined) {
      for (const [tool, { enabled }] of entries) {
        if (enabled && decideGrant(caller, scope, tool, undefined).allowed) result.push(tool);
      }
    }
    result.sort();
    const frozen = Object.freeze(result);
    if (key !== undefined) {
      if (memo.size >= MEMO_LIMIT) memo.clear();
      memo.set(key, frozen);
    }
    return frozen;
  }

  const userQuotas = policy.quotas.per_user;
  const rate = (quota: QuotaRule): number => quota.points / quota.durationMs;
  const operatorRoles = new Set(policy.operator_roles);

  return {
    hasScope: (scope) => scopes.has(scope),
    scopeNames: () => [...scopes.keys()],
    allowedTools,
    allowedQualifiedTools(caller) {
      const result: string[] = [];
      for (const scope of scopes.keys()) {
        for (const tool of allowedTools(caller, scope)) result.push(`${scope}.${tool}`);
      }
      return result.sort();
    },
    decideTool,
    decideItem,
    itemRules,
    qualifiedToolRules,
    toolStatus: (caller, scope, tool, args) => decideTool(caller, scope, tool, args).status,
    rules: () => allRules.map((candidate) => candidate.ref),
    conditionRequest(method, headers) {
      const visible: Record<string, string> = {};
      for (const name of policy.condition_headers) {
        const value = headers[name];
        if (value !== undefined) visible[name] = value;
      }
      return { method, headers: visible };
    },
    resolveToolName: (name) =>
      // A bare name resolves to the scopes that list it; a discovering scope's tools need theirs.
      resolveToolName(name, hasTool, (tool) => scopesByTool.get(tool) ?? []),
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
    isOperator: (roleNames) => roleNames.some((name) => operatorRoles.has(name)),
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
