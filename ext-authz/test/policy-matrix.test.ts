import { describe, expect, it } from "vitest";
import {
  formatMatrixCsv,
  formatMatrixText,
  matrixJson,
  policyMatrix,
  type MatrixCell,
  type PolicyMatrix,
} from "../src/policy-cli/policy-matrix.ts";
import { checkConfig, configFrom } from "./policy-check-fixture.ts";

const matrix = policyMatrix(checkConfig());

function cell(table: PolicyMatrix, tool: string, role: string): MatrixCell {
  const row = table.rows.find((candidate) => candidate.tool === tool);
  const column = table.roles.indexOf(role);
  if (row === undefined || column < 0) throw new Error(`no cell ${tool} × ${role}`);
  return row.cells[column]!;
}

describe("policyMatrix", () => {
  it("has every role of policy.yaml and every tool of every scope, in file order", () => {
    expect(matrix.roles).toEqual(["developer", "auditor", "tenant_only", "broken", "watched"]);
    expect(matrix.rows.map((row) => [row.tool, row.active])).toEqual([
      ["calculator.exact_calculate", true],
      ["calculator.statistics", true],
      ["calculator.retired_tool", false],
      ["calculator.shared_tool", true],
      ["git.git_log", true],
      ["git.git_read_file", true],
      ["git.shared_tool", true],
      ["docs.generate_document", true],
    ]);
  });

  it.each([
    ["git.git_log", "developer", "allow"],
    ["git.git_log", "auditor", "allow"],
    ["docs.generate_document", "auditor", "deny"],
    // An unconditional deny beats the allow.
    ["calculator.exact_calculate", "auditor", "deny"],
    // Allowed, but a deny holds for some arguments.
    ["git.git_read_file", "auditor", "conditional"],
    // An allow that holds for some claims only (a roles-only caller could not evaluate it).
    ["calculator.exact_calculate", "tenant_only", "conditional"],
    ["git.git_log", "tenant_only", "deny"],
    // An allow whose condition may also fail to evaluate.
    ["calculator.statistics", "broken", "conditional"],
    // A global conditional deny (on a request header) makes every grant conditional.
    ["calculator.statistics", "developer", "conditional"],
    ["calculator.statistics", "watched", "conditional"],
    // A disabled tool shows what the policy would give it.
    ["calculator.retired_tool", "developer", "allow"],
    ["calculator.retired_tool", "auditor", "deny"],
  ])("%s × %s: %s", (tool, role, decision) => {
    expect(cell(matrix, tool, role).decision).toBe(decision);
  });

  it("names the rules with conditions that make a cell conditional", () => {
    expect(cell(matrix, "git.git_read_file", "auditor").conditions).toEqual([
      expect.objectContaining({ path: "roles.auditor.deny[1]" }),
    ]);
    expect(cell(matrix, "calculator.exact_calculate", "tenant_only").conditions).toEqual([
      expect.objectContaining({
        path: "roles.tenant_only.allow[0]",
        when: 'has(claims.tenant) && claims.tenant == "acme"',
      }),
    ]);
    expect(cell(matrix, "calculator.statistics", "watched").conditions).toEqual([
      expect.objectContaining({ path: "deny[0]" }),
    ]);
    expect(cell(matrix, "git.git_log", "auditor").conditions).toEqual([]);
  });

  it("names both rules when a conditional allow meets a conditional deny", () => {
    const both = policyMatrix(
      configFrom(`
version: 1
roles:
  r:
    allow: [{ tools: "git.*", when: 'claims.tenant == "a"' }]
    deny: [{ tools: git.git_log, when: "has(arguments.all)" }]
quotas:
  per_user: { default: { points: 1, duration: 1m } }
  per_tool: { default: { points: 1, duration: 1m } }
  per_user_tool: { default: { points: 1, duration: 1m } }
protected_resource:
  resource_base_url: https://gw.example
  authorization_servers: ["https://issuer.example"]
`),
    );
    expect(cell(both, "git.git_log", "r").conditions.map((rule) => rule.path)).toEqual([
      "roles.r.allow[0]",
      "roles.r.deny[0]",
    ]);
  });

  it("marks a dry-run deny on cells that are not denied", () => {
    expect(cell(matrix, "docs.generate_document", "watched")).toEqual({
      decision: "allow",
      dryRunDeny: true,
      conditions: [],
    });
    expect(cell(matrix, "docs.generate_document", "developer").dryRunDeny).toBe(false);
  });
});

describe("matrix output", () => {
  it("prints a text table with a legend of the markers it uses", () => {
    expect(formatMatrixText(matrix)).toEqual([
      "TOOL                                developer  auditor  tenant_only  broken  watched",
      "calculator.exact_calculate          allow      deny     allow*       deny    deny",
      "calculator.statistics               allow*     deny     allow*       allow*  allow*",
      "calculator.retired_tool (inactive)  allow      deny     allow*       deny    deny",
      "calculator.shared_tool              allow      deny     allow*       deny    deny",
      "git.git_log                         allow      allow    deny         deny    deny",
      "git.git_read_file                   allow      allow*   deny         deny    deny",
      "git.shared_tool                     allow      deny     deny         deny    deny",
      "docs.generate_document              allow      deny     deny         deny    allow (dry-run deny)",
      "",
      "allow*          conditional: allowed for some calls only; a `when` condition on the arguments, claims or request decides (see npm run policy -- explain, or --format json for the rules)",
      '(dry-run deny)  a mode: dry_run deny matches: logged and audited as "would deny", not enforced',
      "(inactive)      disabled in tools.yaml: every call is refused; the cells show the policy once enabled",
    ]);
  });

  it("prints no legend when no marker appears", () => {
    const plain = policyMatrix(
      configFrom(
        `
version: 1
roles:
  r: { allow: ["git.*"] }
quotas:
  per_user: { default: { points: 1, duration: 1m } }
  per_tool: { default: { points: 1, duration: 1m } }
  per_user_tool: { default: { points: 1, duration: 1m } }
protected_resource:
  resource_base_url: https://gw.example
  authorization_servers: ["https://issuer.example"]
`,
        `
version: 1
scopes:
  git:
    backend_url: http://127.0.0.1:2
    tools: [{ name: git_log }, { name: git_diff }]
`,
      ),
    );
    const lines = formatMatrixText(plain);
    expect(lines).toHaveLength(1 + plain.rows.length);
    expect(lines.join("\n")).not.toMatch(/\*|dry-run/);
  });

  it("prints CSV with the conditional cells spelled out", () => {
    const lines = formatMatrixCsv(matrix);
    expect(lines[0]).toBe("tool,active,developer,auditor,tenant_only,broken,watched");
    expect(lines).toContain("calculator.retired_tool,false,allow,deny,conditional,deny,deny");
    expect(lines).toContain("git.git_read_file,true,allow,conditional,deny,deny,deny");
    expect(lines).toContain(
      "docs.generate_document,true,allow,deny,deny,deny,allow (dry-run deny)",
    );
    expect(lines).toHaveLength(1 + matrix.rows.length);
  });

  it("quotes CSV fields that need it", () => {
    const odd: PolicyMatrix = {
      roles: ["a"],
      rows: [
        {
          tool: 'x.say,"hi"',
          active: true,
          cells: [{ decision: "allow", dryRunDeny: false, conditions: [] }],
        },
      ],
    };
    expect(formatMatrixCsv(odd)[1]).toBe('"x.say,""hi""",true,allow');
  });

  it("prints JSON keyed by role, with the conditions", () => {
    const json = matrixJson(matrix) as {
      roles: string[];
      tools: { tool: string; active: boolean; cells: Record<string, unknown> }[];
    };
    expect(json.roles).toEqual(matrix.roles);
    expect(json.tools.find((row) => row.tool === "git.git_read_file")).toEqual({
      tool: "git.git_read_file",
      active: true,
      cells: {
        developer: { decision: "allow", dry_run_deny: false, conditions: [] },
        auditor: {
          decision: "conditional",
          dry_run_deny: false,
          conditions: [
            {
              rule: "roles.auditor.deny[1]",
              when: 'has(arguments.path) && arguments.path.startsWith(".env")',
            },
          ],
        },
        tenant_only: { decision: "deny", dry_run_deny: false, conditions: [] },
        broken: { decision: "deny", dry_run_deny: false, conditions: [] },
        watched: { decision: "deny", dry_run_deny: false, conditions: [] },
      },
    });
  });
});
