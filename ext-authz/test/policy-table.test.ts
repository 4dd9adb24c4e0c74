import { describe, expect, it } from "vitest";
import {
  formatTableResults,
  parseTable,
  runTable,
  type ResolvedCase,
} from "../src/policy-cli/policy-table.ts";
import { checkConfig } from "./policy-check-fixture.ts";

const config = checkConfig();

function cases(text: string): ResolvedCase[] {
  const parsed = parseTable("t.yaml", text, config);
  if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
  return parsed.cases;
}

function errors(text: string): string[] {
  const parsed = parseTable("t.yaml", text, config);
  return parsed.ok ? [] : parsed.errors;
}

const PASSING = `
cases:
  - name: auditor reads a file
    claims: { sub: a, roles: [auditor] }
    tool: git.git_read_file
    arguments: { path: README.md }
    expect: allow
    rule: roles.auditor.allow[1]
  - name: auditor cannot read .env
    claims: { sub: a, roles: "auditor" }
    tool: git_read_file
    arguments: { path: .env }
    expect: deny
    rule: roles.auditor.deny[1]
  - name: tenant acme calculates
    claims: { sub: t, roles: tenant_only, tenant: acme }
    tool: calculator.statistics
    expect: allow
  - name: another tenant cannot
    claims: { sub: t, roles: tenant_only, tenant: other }
    tool: calculator.statistics
    expect: deny
  - name: a bot is refused by the global deny
    claims: { sub: d, roles: [developer] }
    headers: { User-Agent: bad-bot }
    tool: calculator.statistics
    expect: deny
    rule: deny[0]
  - name: custom claims reach conditions
    claims: { sub: d, roles: [developer], department: audit }
    tool: git.git_log
    expect: allow
`;

describe("parseTable", () => {
  it("reads cases and resolves their tools", () => {
    const parsed = cases(PASSING);
    expect(parsed).toHaveLength(6);
    expect(parsed[1]).toMatchObject({ scope: "git", toolName: "git_read_file", expect: "deny" });
    expect(parsed[5]?.claims).toEqual({ sub: "d", roles: ["developer"], department: "audit" });
  });

  it.each([
    [
      "an unknown key",
      "cases:\n  - name: x\n    claims: { sub: a, roles: [] }\n    tool: git.git_log\n    expect: deny\n    expected: deny\n",
      ["t.yaml: cases[0].expected: unknown key (line 6)"],
    ],
    [
      "a bad expect",
      "cases:\n  - name: x\n    claims: { sub: a, roles: [] }\n    tool: git.git_log\n    expect: refuse\n",
      [expect.stringMatching(/^t\.yaml: cases\[0\]\.expect: .*"allow".*"deny".* \(line 5\)$/)],
    ],
    [
      "a missing subject",
      "cases:\n  - name: x\n    claims: { roles: [] }\n    tool: git.git_log\n    expect: deny\n",
      [expect.stringMatching(/^t\.yaml: cases\[0\]\.claims\.sub: /)],
    ],
    [
      "roles of the wrong type",
      "cases:\n  - name: x\n    claims: { sub: a, roles: 3 }\n    tool: git.git_log\n    expect: deny\n",
      [
        "t.yaml: cases[0].claims.roles: expected an array of role names or one space- or comma-separated string (line 3)",
      ],
    ],
    [
      "a malformed rule path",
      "cases:\n  - name: x\n    claims: { sub: a, roles: [] }\n    tool: git.git_log\n    expect: deny\n    rule: auditor.deny.5\n",
      [
        "t.yaml: cases[0].rule: expected a rule path like roles.auditor.deny[5] or deny[0] (line 6)",
      ],
    ],
    [
      "an unknown tool",
      "cases:\n  - name: x\n    claims: { sub: a, roles: [] }\n    tool: git.git_lgo\n    expect: deny\n",
      [
        't.yaml: cases[0].tool: unknown tool "git.git_lgo": no scope of tools.yaml defines it (line 4)',
      ],
    ],
    [
      "an ambiguous tool",
      "cases:\n  - name: x\n    claims: { sub: a, roles: [] }\n    tool: shared_tool\n    expect: deny\n",
      [
        't.yaml: cases[0].tool: "shared_tool" is a tool of several scopes (calculator, git): name it <scope>.<tool> (line 4)',
      ],
    ],
    [
      "a duplicate name",
      "cases:\n  - { name: x, claims: { sub: a, roles: [] }, tool: git.git_log, expect: deny }\n  - { name: x, claims: { sub: a, roles: [] }, tool: git.git_log, expect: deny }\n",
      ['t.yaml: cases[1].name: duplicate name "x" (line 3)'],
    ],
    ["no cases", "cases: []\n", ["t.yaml: cases: expected at least one case (line 1)"]],
    ["an empty file", "", [expect.stringMatching(/^t\.yaml: \(root\): /)]],
    [
      "an unknown top-level key",
      "tests: []\n",
      expect.arrayContaining(["t.yaml: tests: unknown key (line 1)"]),
    ],
    ["a YAML syntax error", "cases: [\n", [expect.stringMatching(/^t\.yaml: line 2, column 1: /)]],
    [
      "a duplicate YAML key",
      "cases:\n  - name: x\n    name: y\n",
      [expect.stringMatching(/^t\.yaml: line 3, column 5: .*[Dd]uplicate|unique/)],
    ],
  ])("refuses %s", (_label, text, expected) => {
    expect(errors(text)).toEqual(expected);
  });

  it("reports every problem of the file at once", () => {
    const problems = errors(
      "cases:\n  - { name: x, claims: { sub: a, roles: [] }, tool: git.nope, expect: deny }\n  - { name: y, claims: { sub: a, roles: [] }, tool: git.git_log, expect: maybe }\n",
    );
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^t\.yaml: cases\[1\]\.expect: /);
    expect(
      errors(
        "cases:\n  - { name: x, claims: { sub: a, roles: [] }, tool: git.nope, expect: deny }\n  - { name: x, claims: { sub: a, roles: [] }, tool: git.nope2, expect: deny }\n",
      ),
    ).toHaveLength(3);
  });
});

describe("runTable", () => {
  it("passes cases the policy agrees with", () => {
    const results = runTable(config, cases(PASSING));
    expect(results.map((result) => [result.case.name, result.actual, result.pass])).toEqual([
      ["auditor reads a file", "allow", true],
      ["auditor cannot read .env", "deny", true],
      ["tenant acme calculates", "allow", true],
      ["another tenant cannot", "deny", true],
      ["a bot is refused by the global deny", "deny", true],
      ["custom claims reach conditions", "allow", true],
    ]);
    const lines = formatTableResults(results);
    expect(lines[0]).toBe(
      "ok    auditor reads a file (git.git_read_file): allow: roles.auditor.allow[1]: allow git.git_read_file",
    );
    expect(lines[3]).toBe(
      "ok    another tenant cannot (calculator.statistics): deny: no rule allows it",
    );
    expect(lines.at(-1)).toBe("6 cases: all passed");
  });

  it("fails a case whose decision or deciding rule differs", () => {
    const results = runTable(
      config,
      cases(`
cases:
  - name: wrong decision
    claims: { sub: a, roles: [auditor] }
    tool: git.git_read_file
    arguments: { path: .env }
    expect: allow
  - name: wrong rule
    claims: { sub: a, roles: [auditor] }
    tool: git.git_read_file
    arguments: { path: .env }
    expect: deny
    rule: roles.auditor.deny[0]
  - name: right
    claims: { sub: a, roles: [auditor] }
    tool: git.git_log
    expect: allow
`),
    );
    expect(results.map((result) => result.pass)).toEqual([false, false, true]);
    expect(formatTableResults(results)).toEqual([
      "FAIL  wrong decision (git.git_read_file): expected allow, got deny: roles.auditor.deny[1]: deny git.git_read_file",
      "FAIL  wrong rule (git.git_read_file): expected deny by roles.auditor.deny[0], got deny: roles.auditor.deny[1]: deny git.git_read_file",
      "ok    right (git.git_log): allow: roles.auditor.allow[0]: allow git.git_log",
      "3 cases: 1 passed, 2 failed",
    ]);
  });

  it("reports inactive tools, condition errors and dry-run denies", () => {
    const results = runTable(
      config,
      cases(`
cases:
  - name: retired
    claims: { sub: d, roles: [developer] }
    tool: calculator.retired_tool
    expect: deny
  - name: broken condition
    claims: { sub: b, roles: [broken] }
    tool: calculator.statistics
    expect: deny
    rule: roles.broken.allow[0]
  - name: watched
    claims: { sub: w, roles: [watched] }
    tool: docs.generate_document
    expect: allow
`),
    );
    expect(results.every((result) => result.pass)).toBe(true);
    expect(formatTableResults(results)).toEqual([
      "ok    retired (calculator.retired_tool): deny: the tool is disabled in tools.yaml",
      expect.stringMatching(
        /^ok {4}broken condition \(calculator\.statistics\): deny: roles\.broken\.allow\[0\]: allow calculator\.statistics; condition error: .*count/,
      ),
      "ok    watched (docs.generate_document): allow: roles.watched.allow[0]: allow docs.*; would deny: roles.watched.deny[0] (dry_run)",
      "3 cases: all passed",
    ]);
  });

  it("refuses a case whose roles claim was not validated", () => {
    const [valid] = cases(PASSING);
    expect(() =>
      runTable(config, [{ ...valid!, claims: { sub: "a", roles: 3 as never } }]),
    ).toThrow(/claims\.roles/);
  });
});
