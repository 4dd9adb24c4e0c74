import { describe, expect, it } from "vitest";
import {
  callerFromClaims,
  explainCall,
  explanationJson,
  formatExplanation,
  parseJsonObject,
  rolesOfClaim,
  type ExplainRequest,
  type Explanation,
} from "../src/policy-cli/explain.ts";
import { compilePolicy } from "../src/policy/rbac.ts";
import { checkConfig } from "./policy-check-fixture.ts";

const config = checkConfig();

function explain(request: ExplainRequest): Explanation {
  const result = explainCall(config, request);
  if (!result.ok) throw new Error(result.error);
  return result.explanation;
}

describe("rolesOfClaim", () => {
  it.each([
    [undefined, []],
    [null, []],
    [
      ["auditor", "developer", "auditor"],
      ["auditor", "developer"],
    ],
    ["auditor developer", ["auditor", "developer"]],
    ["auditor,developer, analyst", ["auditor", "developer", "analyst"]],
    ["", []],
  ])("reads %j as %j", (claim, roles) => {
    expect(rolesOfClaim(claim)).toEqual(roles);
  });

  it.each([[5], [{ auditor: true }], [["auditor", 5]]])("refuses %j", (claim) => {
    expect(rolesOfClaim(claim)).toBeUndefined();
  });
});

describe("callerFromClaims", () => {
  const compiled = compilePolicy(config.tools, config.policy);

  it("maps claims as ext-authz does: payload plus subject, tenant and roles", () => {
    const built = callerFromClaims(
      compiled,
      { sub: "u1", tenant: "acme", roles: "auditor developer", department: "audit" },
      { "User-Agent": "cli/1", Cookie: "secret=1" },
    );
    expect(built).toEqual({
      ok: true,
      caller: {
        roles: ["auditor", "developer"],
        claims: {
          sub: "u1",
          subject: "u1",
          tenant: "acme",
          roles: ["auditor", "developer"],
          department: "audit",
        },
        // Only condition_headers reach conditions.
        request: { method: "POST", headers: { "user-agent": "cli/1" } },
      },
    });
  });

  it("sets tenant null when the token has none, like the gateway", () => {
    const built = callerFromClaims(compiled, { roles: [], tenant: "" });
    expect(built.ok && built.caller.claims).toEqual({ roles: [], tenant: null });
  });

  it("refuses a roles claim that is neither a list nor a string", () => {
    expect(callerFromClaims(compiled, { roles: 3 })).toEqual({
      ok: false,
      error:
        "claims.roles: expected an array of role names or one space- or comma-separated string",
    });
  });
});

describe("parseJsonObject", () => {
  it("returns the object", () => {
    expect(parseJsonObject("--args", '{"format":"patch"}')).toEqual({
      ok: true,
      value: { format: "patch" },
    });
  });

  it("names the option and the JSON error", () => {
    const parsed = parseJsonObject("--args", "{format");
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toMatch(/^--args: invalid JSON: \S/);
  });

  it.each(["[1]", "null", '"text"', "3"])("refuses %s, which is not an object", (text) => {
    expect(parseJsonObject("--claims", text)).toEqual({
      ok: false,
      error: `--claims: expected a JSON object, like '{"key": "value"}'`,
    });
  });
});

describe("explainCall", () => {
  it("names the conditional deny that refused a call, and that the tool is still listed", () => {
    const explanation = explain({
      roles: ["auditor"],
      tool: "git.git_read_file",
      arguments: { path: ".env.development" },
    });
    expect(explanation).toMatchObject({
      tool: "git.git_read_file",
      scope: "git",
      decision: "denied",
      rule: {
        path: "roles.auditor.deny[1]",
        effect: "deny",
        tools: "git.git_read_file",
        when: 'has(arguments.path) && arguments.path.startsWith(".env")',
        mode: "enforce",
      },
      conditionError: undefined,
      wouldDeny: [],
      listed: true,
      argumentsGiven: true,
    });
    expect(formatExplanation(explanation)).toEqual([
      "tool:       git.git_read_file",
      "roles:      auditor",
      'claims:     {"roles":["auditor"],"tenant":null}',
      'arguments:  {"path":".env.development"}',
      "decision:   denied",
      "rule:       roles.auditor.deny[1]: deny git.git_read_file",
      'when:       has(arguments.path) && arguments.path.startsWith(".env")',
      "mode:       enforce",
      "tools/list: listed: tools/list shows it to these roles (other arguments may be allowed)",
    ]);
  });

  it("names the allow that granted a call whose conditional deny did not hold", () => {
    const explanation = explain({
      roles: ["auditor"],
      tool: "git.git_read_file",
      arguments: { path: "README.md" },
    });
    expect(explanation.decision).toBe("allowed");
    expect(explanation.rule?.path).toBe("roles.auditor.allow[1]");
    expect(formatExplanation(explanation)).toContain(
      "tools/list: listed: tools/list shows it to these roles",
    );
  });

  it("explains a call with {} when no arguments are given", () => {
    const explanation = explain({ roles: ["auditor"], tool: "git.git_read_file" });
    expect(explanation).toMatchObject({
      arguments: {},
      argumentsGiven: false,
      decision: "allowed",
    });
    expect(formatExplanation(explanation)).toContain(
      "arguments:  {} (none given: a call without arguments)",
    );
  });

  it("reports an unconditional deny beating an allow", () => {
    const explanation = explain({ roles: ["auditor"], tool: "calculator.exact_calculate" });
    expect(explanation).toMatchObject({
      decision: "denied",
      rule: { path: "roles.auditor.deny[0]", when: undefined },
      listed: false,
    });
    expect(formatExplanation(explanation)).toContain(
      "tools/list: not listed: tools/list hides it from these roles",
    );
  });

  it("says no rule holds when no allow matches", () => {
    const explanation = explain({ roles: ["auditor"], tool: "docs.generate_document" });
    expect(explanation).toMatchObject({ decision: "denied", rule: undefined, listed: false });
    expect(formatExplanation(explanation)).toContain(
      "rule:       none: no allow rule of these roles holds for this call",
    );
  });

  it("evaluates conditions on claims given with --claims", () => {
    const without = explain({ roles: ["tenant_only"], tool: "calculator.statistics" });
    expect(without).toMatchObject({ decision: "denied", rule: undefined });
    const withTenant = explain({
      roles: ["tenant_only"],
      claims: { sub: "u", tenant: "acme" },
      tool: "calculator.statistics",
    });
    expect(withTenant).toMatchObject({
      decision: "allowed",
      rule: { path: "roles.tenant_only.allow[0]" },
      claims: { sub: "u", subject: "u", tenant: "acme", roles: ["tenant_only"] },
      listed: true,
    });
  });

  it("takes the roles from the claims when --roles is absent, and --roles over the claims", () => {
    expect(explain({ claims: { roles: "auditor,developer" }, tool: "git.git_log" }).roles).toEqual([
      "auditor",
      "developer",
    ]);
    expect(
      explain({ roles: ["developer"], claims: { roles: ["auditor"] }, tool: "git.git_log" }),
    ).toMatchObject({ roles: ["developer"], claims: { roles: ["developer"] } });
  });

  it("reports a condition that cannot be evaluated, which denies", () => {
    const explanation = explain({ roles: ["broken"], tool: "calculator.statistics" });
    expect(explanation).toMatchObject({
      decision: "denied",
      rule: { path: "roles.broken.allow[0]", effect: "allow" },
      conditionError: expect.stringContaining("count"),
    });
    expect(formatExplanation(explanation)).toContainEqual(
      expect.stringMatching(
        /^condition error: .*count.* \(a condition that cannot be evaluated denies\)$/,
      ),
    );
    expect(
      explain({ roles: ["broken"], tool: "calculator.statistics", arguments: { count: 2 } })
        .decision,
    ).toBe("allowed");
  });

  it("lists dry-run denies that would refuse an allowed call", () => {
    const explanation = explain({ roles: ["watched"], tool: "docs.generate_document" });
    expect(explanation).toMatchObject({
      decision: "allowed",
      rule: { path: "roles.watched.allow[0]" },
      wouldDeny: [{ path: "roles.watched.deny[0]", mode: "dry_run" }],
    });
    expect(formatExplanation(explanation)).toContain(
      "would deny: roles.watched.deny[0]: deny docs.generate_document (dry_run: not enforced)",
    );
  });

  it("shows the request headers policy.yaml exposes to conditions", () => {
    const request = { roles: ["developer"], tool: "calculator.statistics" };
    expect(explain(request).decision).toBe("allowed");
    expect(explain({ ...request, headers: { "User-Agent": "bad-bot" } })).toMatchObject({
      decision: "denied",
      rule: { path: "deny[0]" },
    });
  });

  it("resolves a bare tool name like the REST API", () => {
    expect(explain({ roles: ["developer"], tool: "git_log" })).toMatchObject({
      tool: "git.git_log",
      scope: "git",
      decision: "allowed",
    });
  });

  it("refuses an ambiguous bare name, naming the scopes", () => {
    expect(explainCall(config, { roles: ["developer"], tool: "shared_tool" })).toEqual({
      ok: false,
      error:
        '--tool: "shared_tool" is a tool of several scopes (calculator, git): name it <scope>.<tool>',
    });
  });

  it("explains an unknown tool as the gateway's answer", () => {
    const explanation = explain({ roles: ["developer"], tool: "git.nope" });
    expect(explanation).toMatchObject({
      tool: "git.nope",
      scope: undefined,
      decision: "unknown_tool",
      rule: undefined,
      listed: false,
    });
    const lines = formatExplanation(explanation);
    expect(lines).toContain(
      "decision:  unknown tool: no scope of tools.yaml defines it (npm run policy -- matrix lists them)",
    );
    expect(lines.some((line) => line.startsWith("tools/list"))).toBe(false);
  });

  it("explains an inactive tool", () => {
    const explanation = explain({ roles: ["developer"], tool: "calculator.retired_tool" });
    expect(explanation).toMatchObject({ decision: "inactive", rule: undefined, listed: false });
    expect(formatExplanation(explanation)).toContain(
      "decision:  inactive: the tool is disabled in tools.yaml, every call is refused",
    );
  });

  it("names roles policy.yaml does not define", () => {
    const explanation = explain({ roles: ["auditor", "root"], tool: "git.git_log" });
    expect(explanation.unknownRoles).toEqual(["root"]);
    expect(formatExplanation(explanation)).toContain(
      "unknown roles: root (not in policy.yaml: they grant nothing)",
    );
    expect(formatExplanation(explain({ roles: [], tool: "git.git_log" }))).toContain(
      "roles:      (none)",
    );
  });

  it("needs roles, from --roles or the claims", () => {
    expect(explainCall(config, { claims: { sub: "u" }, tool: "git.git_log" })).toEqual({
      ok: false,
      error: "no roles: give --roles, or a roles claim in --claims",
    });
    expect(explainCall(config, { claims: { roles: 1 }, tool: "git.git_log" })).toMatchObject({
      ok: false,
      error: expect.stringMatching(/^claims\.roles: /),
    });
  });
});

describe("explanationJson", () => {
  it("uses snake_case and nulls", () => {
    expect(
      explanationJson(explain({ roles: ["watched"], tool: "docs.generate_document" })),
    ).toEqual({
      tool: "docs.generate_document",
      scope: "docs",
      roles: ["watched"],
      unknown_roles: [],
      claims: { roles: ["watched"], tenant: null },
      arguments: {},
      arguments_given: false,
      decision: "allowed",
      rule: {
        path: "roles.watched.allow[0]",
        effect: "allow",
        tools: "docs.*",
        when: null,
        mode: "enforce",
      },
      condition_error: null,
      would_deny: [
        {
          path: "roles.watched.deny[0]",
          effect: "deny",
          tools: "docs.generate_document",
          when: null,
          mode: "dry_run",
        },
      ],
      listed: true,
    });
    expect(explanationJson(explain({ roles: ["developer"], tool: "nope" }))).toMatchObject({
      scope: null,
      rule: null,
      decision: "unknown_tool",
    });
  });
});
