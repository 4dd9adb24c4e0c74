import { describe, expect, it } from "vitest";
import { parseConfigText } from "../src/load-config.ts";
import {
  compileCondition,
  CONDITION_LIMITS,
  ConditionError,
  type ConditionInput,
} from "../src/policy-condition.ts";

const input = (overrides: Partial<ConditionInput> = {}): ConditionInput => ({
  claims: { sub: "alice", roles: ["auditor"], department: "finance", level: 3 },
  scope: "git",
  tool: "git_diff",
  arguments: { format: "patch", paths: ["a", "b"], count: 2, nested: { flag: true } },
  request: { method: "POST", headers: { "user-agent": "curl/8.5" } },
  ...overrides,
});

describe("compiling a condition", () => {
  it.each([
    ['has(arguments.format) && arguments.format != "stat"', true, true],
    ["!(has(arguments.include_patch) && arguments.include_patch == false)", true, true],
    ['claims.department == "finance"', false, true],
    ['"auditor" in claims.roles', false, true],
    ["claims.level >= 3", false, true],
    ['scope == "git" && tool.startsWith("git_")', false, true],
    ['request.headers["user-agent"].startsWith("curl/")', false, true],
    ['request.method == "GET"', false, false],
    ["arguments.paths.exists(p, p == 'b')", true, true],
    ["arguments.paths.all(p, p.size() == 1) && size(arguments.paths) == 2", true, true],
    ["arguments.count == 2 && arguments.count > 1.5", true, true],
    ["arguments.nested.flag", true, true],
    ['arguments.paths.exists(p, p.matches("^[ab]$"))', true, true],
    ["type(scope) == string", false, true],
  ])("%s (reads arguments: %s) → %s", (source, readsArguments, expected) => {
    const condition = compileCondition(source);
    expect(condition.readsArguments).toBe(readsArguments);
    expect(condition.evaluate(input())).toBe(expected);
  });

  it.each([
    ["", "empty expression"],
    ["   ", "empty expression"],
    ["arguments.format ==", "syntax error"],
    ["arguments.format == 'a", "syntax error"],
    ["secrets.value == 1", 'unknown variable "secrets"'],
    ["env.HOME != ''", 'unknown variable "env"'],
    ["exec('rm')", 'unknown function "exec"'],
    ["scope + 1 > 0", "type error"],
    ['"a"', "must evaluate to a bool"],
    ["1 + 2", "must evaluate to a bool"],
    ['tool.matches("(")', "invalid regular expression"],
    ["arguments.paths.all(a, arguments.paths.all(b, a == b))", "inside another one is not allowed"],
    [
      "arguments.paths.exists(a, [1, 2].map(x, x * 2).size() > 0)",
      "inside another one is not allowed",
    ],
    ["x" + " || true".repeat(300), "longer than"],
    [Array.from({ length: 90 }, (_, i) => `claims.c${i} == 1`).join(" || "), "more than"],
    ["true && (".repeat(30) + "true" + ")".repeat(30), "nested deeper than"],
  ])("refuses %#: %s", (source, message) => {
    expect(() => compileCondition(source)).toThrow(ConditionError);
    expect(() => compileCondition(source)).toThrow(message);
  });

  it("keeps the limits it states", () => {
    expect(CONDITION_LIMITS.maxComprehensionDepth).toBe(1);
    const atLimit = "x".repeat(CONDITION_LIMITS.maxSourceLength - 10);
    expect(() => compileCondition(`"${atLimit}" == tool`)).not.toThrow();
  });

  it("reports an evaluation error instead of a decision, never throws", () => {
    const condition = compileCondition('arguments.format == "patch"');
    expect(condition.evaluate(input({ arguments: {} }))).toEqual({
      error: expect.stringContaining("format") as unknown,
    });
    const division = compileCondition("arguments.count / 0 == 1.0");
    expect(division.evaluate(input())).toEqual({ error: expect.any(String) as unknown });
    const notBool = compileCondition("arguments.nested.flag");
    expect(notBool.evaluate(input({ arguments: { nested: { flag: "yes" } } }))).toEqual({
      error: "the expression did not evaluate to a bool",
    });
  });

  it("treats JSON numbers as doubles and a null value as absent", () => {
    expect(compileCondition("arguments.count == 2").evaluate(input())).toBe(true);
    expect(compileCondition("arguments.count == 2.0").evaluate(input())).toBe(true);
    const hasFormat = compileCondition("has(arguments.format)");
    expect(hasFormat.evaluate(input({ arguments: { format: null } }))).toBe(false);
  });

  it("does not see inherited properties of the arguments object", () => {
    const condition = compileCondition("has(arguments.constructor) || has(arguments.toString)");
    expect(condition.evaluate(input({ arguments: {} }))).toBe(false);
    const polluted = JSON.parse('{"__proto__": {"admin": true}}') as Record<string, unknown>;
    expect(compileCondition("has(arguments.admin)").evaluate(input({ arguments: polluted }))).toBe(
      false,
    );
  });

  it("matches regular expressions in linear time (RE2), whatever the input", () => {
    const condition = compileCondition('arguments.text.matches("^(a+)+$")');
    const hostile = `${"a".repeat(50_000)}b`;
    const started = performance.now();
    expect(condition.evaluate(input({ arguments: { text: hostile } }))).toBe(false);
    // A backtracking engine needs longer than the universe's age here; RE2 needs milliseconds.
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});

describe("conditions in policy.yaml", () => {
  const tools = `
version: 1
scopes:
  git:
    backend_url: http://127.0.0.1:2
    tools: [{ name: git_diff }, { name: git_log }]
`;
  const policy = (roles: string, extra = "") => `
version: 1
roles:
${roles}
deny: []
${extra}
quotas:
  per_user: { default: { points: 10, duration: 1m } }
  per_tool: { default: { points: 10, duration: 1m } }
  per_user_tool: { default: { points: 10, duration: 1m } }
protected_resource:
  resource_base_url: https://gw.example
  authorization_servers: ["https://issuer.example"]
`;
  const load = (roles: string, extra = "") =>
    parseConfigText({ toolsYaml: tools, policyYaml: policy(roles, extra), env: {} });

  it("accepts patterns and conditional rules side by side", () => {
    const result = load(`  auditor:
    allow: ["git.git_log", { tools: "git.git_diff", when: 'arguments.format == "stat"' }]
    deny: [{ tools: "git.*", when: 'claims.tenant == "blocked"', mode: dry_run }]`);
    expect(result.ok ? result.config.policy.roles.auditor?.allow : result.errors).toEqual([
      "git.git_log",
      { tools: "git.git_diff", when: 'arguments.format == "stat"', mode: "enforce" },
    ]);
  });

  it.each([
    [
      `  auditor:
    allow: ["git.git_log", "git.git_diff", { tools: "git.git_diff", when: "arguments.format ==" }]`,
      "policy.yaml: roles.auditor.allow[2].when: syntax error",
    ],
    [
      `  auditor:
    deny: [{ tools: "git.*", when: 'password == "x"' }]`,
      'policy.yaml: roles.auditor.deny[0].when: unknown variable "password"',
    ],
    [
      `  auditor:
    allow: [{ tools: "git.*", when: "true", mode: dry_run }]`,
      "policy.yaml: roles.auditor.allow[0].mode: mode: dry_run applies to deny rules only",
    ],
    [
      `  auditor:
    allow: [{ tools: "git.nope", when: "true" }]`,
      'policy.yaml: roles.auditor.allow[0].tools: unknown tool "git.nope"',
    ],
    [
      `  auditor:
    allow: [{ tools: "git.*", when: "true", extra: 1 }]`,
      "policy.yaml: roles.auditor.allow[0]",
    ],
    [
      `  auditor:
    allow: [{ tools: "git.*", when: "true", mode: maybe }]`,
      "policy.yaml: roles.auditor.allow[0]",
    ],
  ])("reports a bad rule with its place: %#", (roles, message) => {
    const result = load(roles);
    expect(result.ok).toBe(false);
    expect(result.ok ? "" : result.errors.join("\n")).toContain(message);
  });

  it("reports a bad global deny condition with its place", () => {
    const result = load(`  auditor: { allow: ["git.*"] }`, "");
    expect(result.ok).toBe(true);
    const bad = parseConfigText({
      toolsYaml: tools,
      policyYaml: policy(`  auditor: { allow: ["git.*"] }`).replace(
        "deny: []",
        'deny: [{ tools: "*", when: "1 + true" }]',
      ),
      env: {},
    });
    expect(bad.ok ? "" : bad.errors.join("\n")).toContain("policy.yaml: deny[0].when: type error");
  });

  it.each([
    ["authorization", "credential headers cannot be exposed"],
    ["cookie", "credential headers cannot be exposed"],
    ["X-Upper", "invalid header name"],
  ])("refuses condition_headers entry %s", (name, message) => {
    const result = load(`  auditor: { allow: ["git.*"] }`, `condition_headers: ["${name}"]`);
    expect(result.ok ? "" : result.errors.join("\n")).toContain(message);
  });
});
