/**
 * `npm run policy -- explain`: one tool call decided exactly as ext-authz decides it (rbac.ts),
 * with the rule that decided it. The caller is built from claims the way decide.ts builds it from
 * a verified token (`{...payload, subject, tenant, roles}`), so a condition on claims sees here
 * what it sees in the gateway. The table tests (policy-table.ts) build callers the same way.
 */
import type { GatewayConfig } from "../../../config/src/load-config.ts";
import { parseRoles } from "../policy/token.ts";
import {
  compilePolicy,
  type CompiledPolicy,
  type PolicyCaller,
  type RuleRef,
  type ToolDecision,
} from "../policy/rbac.ts";

export type Claims = Readonly<Record<string, unknown>>;

/** The roles claim as a token carries it, read exactly as ext-authz reads it. */
export const rolesOfClaim = parseRoles;

export const ROLES_CLAIM_HINT =
  "expected an array of role names or one space- or comma-separated string";

/**
 * The caller a token with these claims (default claim names `sub`, `tenant`, `roles`) and
 * request headers becomes; conditions see only the headers policy.yaml's `condition_headers` lists.
 */
export function callerFromClaims(
  compiled: CompiledPolicy,
  claims: Claims,
  headers: Readonly<Record<string, string>> = {},
): { ok: true; caller: PolicyCaller } | { ok: false; error: string } {
  const roles = rolesOfClaim(claims.roles);
  if (roles === undefined) return { ok: false, error: `claims.roles: ${ROLES_CLAIM_HINT}` };
  const subject = typeof claims.sub === "string" ? { subject: claims.sub } : {};
  const tenant = typeof claims.tenant === "string" && claims.tenant !== "" ? claims.tenant : null;
  const lowerCase: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) lowerCase[name.toLowerCase()] = value;
  return {
    ok: true,
    caller: {
      roles,
      claims: { ...claims, ...subject, tenant, roles },
      request: compiled.conditionRequest("POST", lowerCase),
    },
  };
}

export type ToolLookup =
  | { kind: "found"; scope: string; tool: string }
  | { kind: "unknown" }
  | { kind: "ambiguous"; scopes: readonly string[] };

/** `scope.tool`, or a bare name exactly one scope defines: as the REST API resolves `tool_name`. */
export function lookUpTool(
  config: GatewayConfig,
  compiled: CompiledPolicy,
  name: string,
): ToolLookup {
  const resolved = compiled.resolveToolName(name);
  if (resolved.kind !== "ambiguous") return resolved;
  const scopes = Object.entries(config.tools.scopes)
    .filter(([, scope]) => scope.tools.some((tool) => tool.name === name))
    .map(([scope]) => scope);
  return { kind: "ambiguous", scopes };
}

export function ambiguousToolMessage(name: string, scopes: readonly string[]): string {
  return `${JSON.stringify(name)} is a tool of several scopes (${scopes.join(", ")}): name it <scope>.<tool>`;
}

/** A JSON object given on the command line (`--args`, `--claims`, `--headers`). */
export function parseJsonObject(
  option: string,
  text: string,
): { ok: true; value: Record<string, unknown> } | { ok: false; error: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, error: `${option}: invalid JSON: ${(error as Error).message}` };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, error: `${option}: expected a JSON object, like '{"key": "value"}'` };
  }
  return { ok: true, value: value as Record<string, unknown> };
}

export type ExplainRequest = {
  /** Role names; when absent, the `roles` of `claims`. */
  roles?: readonly string[];
  claims?: Claims;
  /** `scope.tool` or a bare tool name. */
  tool: string;
  /** The call's arguments; absent: a call with `{}`. */
  arguments?: Readonly<Record<string, unknown>>;
  headers?: Readonly<Record<string, string>>;
};

export type ExplainDecision = "allowed" | "denied" | "unknown_tool" | "inactive";

export type Explanation = {
  /** `scope.tool` when the name resolved, else the name as asked. */
  tool: string;
  scope: string | undefined;
  roles: readonly string[];
  /** Roles of the caller that policy.yaml does not define: they grant nothing. */
  unknownRoles: readonly string[];
  /** The claims conditions see. */
  claims: Claims;
  arguments: Readonly<Record<string, unknown>>;
  argumentsGiven: boolean;
  decision: ExplainDecision;
  /** The deny that refused, or the allow that granted (or whose condition failed). */
  rule: RuleRef | undefined;
  conditionError: string | undefined;
  wouldDeny: readonly RuleRef[];
  /** Whether tools/list shows the tool to this caller (some call of it may be allowed). */
  listed: boolean;
};

const DECISION: Record<ToolDecision["status"], ExplainDecision> = {
  allowed: "allowed",
  tool_not_allowed: "denied",
  tool_inactive: "inactive",
  tool_unknown: "unknown_tool",
};

export function explainCall(
  config: GatewayConfig,
  request: ExplainRequest,
  compiled: CompiledPolicy = compilePolicy(config.tools, config.policy),
): { ok: true; explanation: Explanation } | { ok: false; error: string } {
  const claims: Record<string, unknown> = { ...request.claims };
  if (request.roles !== undefined) claims.roles = [...request.roles];
  else if (claims.roles === undefined) {
    return { ok: false, error: "no roles: give --roles, or a roles claim in --claims" };
  }
  const built = callerFromClaims(compiled, claims, request.headers);
  if (!built.ok) return built;
  const { caller } = built;
  const args = request.arguments ?? {};
  const base = {
    roles: caller.roles,
    unknownRoles: caller.roles.filter((role) => !Object.hasOwn(config.policy.roles, role)),
    claims: caller.claims,
    arguments: args,
    argumentsGiven: request.arguments !== undefined,
  };
  const found = lookUpTool(config, compiled, request.tool);
  if (found.kind === "ambiguous") {
    return { ok: false, error: `--tool: ${ambiguousToolMessage(request.tool, found.scopes)}` };
  }
  if (found.kind === "unknown") {
    const explanation: Explanation = {
      ...base,
      tool: request.tool,
      scope: undefined,
      decision: "unknown_tool",
      rule: undefined,
      conditionError: undefined,
      wouldDeny: [],
      listed: false,
    };
    return { ok: true, explanation };
  }
  const { scope, tool } = found;
  const decision = compiled.decideTool(caller, scope, tool, args);
  const explanation: Explanation = {
    ...base,
    tool: `${scope}.${tool}`,
    scope,
    decision: DECISION[decision.status],
    rule: decision.rule,
    conditionError: decision.conditionError,
    wouldDeny: decision.wouldDeny,
    listed: compiled.allowedTools(caller, scope).includes(tool),
  };
  return { ok: true, explanation };
}

/** `roles.auditor.deny[5]: deny git.git_diff` */
export function describeRule(rule: RuleRef): string {
  return `${rule.path}: ${rule.effect} ${rule.tools}`;
}

function decisionLine(explanation: Explanation): string {
  switch (explanation.decision) {
    case "allowed":
      return "allowed";
    case "denied":
      return "denied";
    case "inactive":
      return "inactive: the tool is disabled in tools.yaml, every call is refused";
    case "unknown_tool":
      return "unknown tool: no scope of tools.yaml defines it (npm run policy -- matrix lists them)";
  }
}

/** The explanation as `label: value` lines for a terminal. */
export function formatExplanation(explanation: Explanation): string[] {
  const rows: [string, string][] = [
    ["tool", explanation.tool],
    ["roles", explanation.roles.length > 0 ? explanation.roles.join(", ") : "(none)"],
  ];
  if (explanation.unknownRoles.length > 0) {
    rows.push([
      "unknown roles",
      `${explanation.unknownRoles.join(", ")} (not in policy.yaml: they grant nothing)`,
    ]);
  }
  rows.push(["claims", JSON.stringify(explanation.claims)]);
  const args = JSON.stringify(explanation.arguments);
  rows.push([
    "arguments",
    explanation.argumentsGiven ? args : `${args} (none given: a call without arguments)`,
  ]);
  rows.push(["decision", decisionLine(explanation)]);
  const { rule } = explanation;
  if (rule !== undefined) {
    rows.push(["rule", describeRule(rule)]);
    if (rule.when !== undefined) rows.push(["when", rule.when]);
    rows.push(["mode", rule.mode]);
  } else if (explanation.decision === "denied") {
    rows.push(["rule", "none: no allow rule of these roles holds for this call"]);
  }
  if (explanation.conditionError !== undefined) {
    rows.push([
      "condition error",
      `${explanation.conditionError} (a condition that cannot be evaluated denies)`,
    ]);
  }
  for (const dryRun of explanation.wouldDeny) {
    const when = dryRun.when === undefined ? "" : ` when ${dryRun.when}`;
    rows.push(["would deny", `${describeRule(dryRun)}${when} (dry_run: not enforced)`]);
  }
  if (explanation.decision === "allowed" || explanation.decision === "denied") {
    let listing = explanation.listed
      ? "listed: tools/list shows it to these roles"
      : "not listed: tools/list hides it from these roles";
    if (explanation.listed && explanation.decision === "denied") {
      listing += " (other arguments may be allowed)";
    }
    rows.push(["tools/list", listing]);
  }
  const width = Math.max(...rows.map(([label]) => label.length)) + 2;
  return rows.map(([label, value]) => `${`${label}:`.padEnd(width)}${value}`);
}

type RuleJson = {
  path: string;
  effect: RuleRef["effect"];
  tools: string;
  when: string | null;
  mode: RuleRef["mode"];
};

function ruleJson(rule: RuleRef): RuleJson {
  return { ...rule, when: rule.when ?? null };
}

/** The explanation as `--format json` prints it (snake_case, nulls instead of absent values). */
export function explanationJson(explanation: Explanation): Record<string, unknown> {
  return {
    tool: explanation.tool,
    scope: explanation.scope ?? null,
    roles: explanation.roles,
    unknown_roles: explanation.unknownRoles,
    claims: explanation.claims,
    arguments: explanation.arguments,
    arguments_given: explanation.argumentsGiven,
    decision: explanation.decision,
    rule: explanation.rule === undefined ? null : ruleJson(explanation.rule),
    condition_error: explanation.conditionError ?? null,
    would_deny: explanation.wouldDeny.map(ruleJson),
    listed: explanation.listed,
  };
}
