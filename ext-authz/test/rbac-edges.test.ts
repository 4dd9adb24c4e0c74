import { describe, expect, it } from "vitest";
import { parseConfigText } from "../../config/src/load-config.ts";
import { callerWithRoles, compilePolicy, type PolicyCaller } from "../src/policy/rbac.ts";

/** Edges of the compiled policy that only mutation testing showed untested. */

const TOOLS = `
version: 1
scopes:
  zeta:
    backend_url: http://127.0.0.1:1
    tools:
      - { name: z_tool }
  alpha:
    backend_url: http://127.0.0.1:2
    tools:
      - { name: b_tool }
      - { name: a_tool }
`;

const POLICY = `
version: 1
roles:
  a:
    allow: ["alpha.a_tool"]
  b:
    allow: ["alpha.b_tool"]
  ab:
    allow: ["zeta.*"]
  tenanted:
    allow:
      - { tools: "alpha.*", when: "claims.tenant == 'acme'" }
  shaped:
    allow:
      - { tools: "alpha.a_tool", when: "arguments.x == 1" }
  fast:
    allow: ["*"]
  slow:
    allow: ["*"]
deny: []
quotas:
  per_user:
    default: { points: 100, duration: 1m }
    roles:
      fast: { points: 10, duration: 1s }
      slow: { points: 600, duration: 1m }
  per_tool: { default: { points: 1000, duration: 1m } }
  per_user_tool: { default: { points: 1000, duration: 1m } }
protected_resource:
  resource_base_url: https://gw.example
  authorization_servers: ["https://issuer.example"]
`;

function compiled() {
  const result = parseConfigText({ toolsYaml: TOOLS, policyYaml: POLICY, env: {} });
  if (!result.ok) throw new Error(result.errors.join("\n"));
  return compilePolicy(result.config.tools, result.config.policy);
}

const withTenant = (roles: string[], tenant: string): PolicyCaller => ({
  ...callerWithRoles(roles),
  claims: { roles, tenant },
});

describe("compiled policy edges", () => {
  it("builds a caller from roles alone: roles as the only claim, a POST without headers", () => {
    expect(callerWithRoles(["a", "b"])).toEqual({
      roles: ["a", "b"],
      claims: { roles: ["a", "b"] },
      request: { method: "POST", headers: {} },
    });
  });

  it("never mixes up role sets whose names run together", () => {
    const policy = compiled();
    expect(policy.allowedTools(callerWithRoles(["a", "b"]), "alpha")).toEqual(["a_tool", "b_tool"]);
    expect(policy.allowedTools(callerWithRoles(["ab"]), "alpha")).toEqual([]);
    expect(policy.allowedTools(callerWithRoles(["ab"]), "zeta")).toEqual(["z_tool"]);
    expect(policy.allowedTools(callerWithRoles(["b", "a"]), "alpha")).toEqual(["a_tool", "b_tool"]);
  });

  it("lists per caller when a condition reads the caller's claims", () => {
    const policy = compiled();
    expect(policy.allowedTools(withTenant(["tenanted"], "acme"), "alpha")).toEqual([
      "a_tool",
      "b_tool",
    ]);
    // Same roles, another tenant: not the first caller's list.
    expect(policy.allowedTools(withTenant(["tenanted"], "other"), "alpha")).toEqual([]);
    expect(policy.allowedTools(withTenant(["tenanted"], "acme"), "alpha")).toHaveLength(2);
  });

  it("refuses a call whose arguments are not an object when a condition reads them", () => {
    const policy = compiled();
    const caller = callerWithRoles(["shaped"]);
    expect(policy.decideTool(caller, "alpha", "a_tool", { x: 1 }).status).toBe("allowed");
    for (const args of [[1], null, "x", 5]) {
      const decision = policy.decideTool(caller, "alpha", "a_tool", args);
      expect(decision.status).toBe("tool_not_allowed");
      expect(decision.conditionError).toBe("arguments is not an object");
    }
  });

  it("lists every scope's tools qualified and sorted", () => {
    expect(compiled().allowedQualifiedTools(callerWithRoles(["fast"]))).toEqual([
      "alpha.a_tool",
      "alpha.b_tool",
      "zeta.z_tool",
    ]);
  });

  it("resolves only names a scope has", () => {
    const policy = compiled();
    expect(policy.resolveToolName("alpha.a_tool")).toEqual({
      kind: "found",
      scope: "alpha",
      tool: "a_tool",
    });
    expect(policy.resolveToolName("alpha.z_tool")).toEqual({ kind: "unknown" });
    expect(policy.resolveToolName("z_tool")).toEqual({
      kind: "found",
      scope: "zeta",
      tool: "z_tool",
    });
  });

  it("keeps the first of two equally generous per-user quotas", () => {
    const policy = compiled();
    // 10 per second and 600 per minute are the same rate.
    expect(policy.userQuota(["fast", "slow"])).toEqual({ points: 10, durationMs: 1000 });
    expect(policy.userQuota(["slow", "fast"])).toEqual({ points: 600, durationMs: 60_000 });
  });
});
