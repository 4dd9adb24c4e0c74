import { describe, expect, it } from "vitest";
import { parseConfigText } from "../../config/src/load-config.ts";
import { GATEWAY_ERRORS } from "../../contract/src/errors.ts";
import { ADMIN_VERDICT_SCOPE, decide, type Decision } from "../src/policy/decide.ts";
import { compilePolicy } from "../src/policy/rbac.ts";
import { resolveRoute } from "../src/policy/route.ts";
import { decisionDeps, makeToken, POLICY_YAML, TOOLS_YAML } from "./fixture-config.ts";

/** The fixture policy with an `operator` role (no tools) that policy.yaml names as operators'. */
const OPERATOR_POLICY = `${POLICY_YAML.replace(
  "  nobody:\n    allow: []\n",
  "  nobody:\n    allow: []\n  operator:\n    allow: []\n",
)}operator_roles: [operator]\n`;

function compiled(policyYaml: string) {
  const result = parseConfigText({ toolsYaml: TOOLS_YAML, policyYaml, env: {} });
  if (!result.ok) throw new Error(result.errors.join("\n"));
  return compilePolicy(result.config.tools, result.config.policy);
}

async function check(
  roles: string[] | null,
  options: { method?: string; path?: string; policyYaml?: string } = {},
): Promise<Decision> {
  const headers: Record<string, string> = {};
  if (roles !== null) headers.authorization = `Bearer ${await makeToken({ roles })}`;
  return decide(
    {
      method: options.method ?? "GET",
      path: options.path ?? "/admin/audit?user=alice&since=1h",
      headers,
      body: new Uint8Array(),
      contextScope: undefined,
    },
    decisionDeps({ policy: compiled(options.policyYaml ?? OPERATOR_POLICY) }),
  );
}

describe("admin route", () => {
  const known = (scope: string) => scope === "calculator";
  it.each([
    ["/admin/audit", { kind: "admin", endpoint: "/mcp" }],
    ["/admin/audit?cursor=abc&limit=5", { kind: "admin", endpoint: "/mcp" }],
    ["/admin/audit/", { kind: "not_found", reason: "unknown_route" }],
    ["/admin/other", { kind: "not_found", reason: "unknown_route" }],
    ["/admin", { kind: "not_found", reason: "unknown_route" }],
  ] as const)("%s", (path, expected) => {
    expect(resolveRoute(path, undefined, known)).toEqual(expected);
  });
});

describe("admin decisions", () => {
  it("allows a token with an operator role, with the admin verdict scope and no tools", async () => {
    const decision = await check(["operator"]);
    expect(decision).toMatchObject({
      outcome: "allow",
      scope: ADMIN_VERDICT_SCOPE,
      tools: [],
      identity: { subject: "alice", roles: ["operator"] },
      context: { scope: null, method: "admin", tool: null },
    });
  });

  it("allows an operator who has other roles too", async () => {
    expect((await check(["developer", "operator"])).outcome).toBe("allow");
  });

  it.each([[["developer"]], [["nobody"]], [[]]])(
    "refuses roles %j with 403 in the REST shape, with a challenge",
    async (roles) => {
      const decision = await check(roles);
      expect(decision).toMatchObject({
        outcome: "deny",
        reason: "operator_role_required",
        error: "GW_INSUFFICIENT_SCOPE",
        surface: "rest",
        challenge: { error: "insufficient_scope" },
        context: { subject: "alice", method: "admin" },
      });
      expect(GATEWAY_ERRORS.GW_INSUFFICIENT_SCOPE.httpStatus).toBe(403);
    },
  );

  it("refuses a request without a token with 401", async () => {
    expect(await check(null)).toMatchObject({
      outcome: "deny",
      reason: "token_missing",
      error: "GW_TOKEN_MISSING",
      surface: "rest",
    });
  });

  it("refuses other methods", async () => {
    expect(await check(["operator"], { method: "POST" })).toMatchObject({
      outcome: "deny",
      reason: "method_not_allowed",
      allow: ["GET"],
    });
  });

  it("answers unknown /admin paths 404 in the REST shape", async () => {
    expect(await check(["operator"], { path: "/admin/users" })).toMatchObject({
      outcome: "deny",
      reason: "unknown_route",
      surface: "rest",
    });
  });

  it("has no operators unless policy.yaml names operator roles", async () => {
    const withoutOperatorRoles = POLICY_YAML.replace(
      "  nobody:\n    allow: []\n",
      "  nobody:\n    allow: []\n  operator:\n    allow: []\n",
    );
    expect(await check(["operator"], { policyYaml: withoutOperatorRoles })).toMatchObject({
      outcome: "deny",
      reason: "operator_role_required",
    });
  });

  it("rejects operator roles that policy.yaml does not define", () => {
    const result = parseConfigText({
      toolsYaml: TOOLS_YAML,
      policyYaml: `${POLICY_YAML}operator_roles: [root]\n`,
      env: {},
    });
    expect(result.ok).toBe(false);
    expect(result.ok ? [] : result.errors.join("\n")).toMatch(
      /operator_roles.*unknown role "root"/,
    );
  });
});
