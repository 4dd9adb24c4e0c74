/**
 * `npm run policy -- matrix`: every role × every tool of every scope. A cell says what calls of
 * the tool a caller with only that role gets: all of them (allow), none (deny), or some, because
 * a `when` condition decides (conditional).
 *
 * Precedence is never re-implemented here: each cell is decided twice by rbac.ts itself, on two
 * bounds of the policy where every condition is replaced by a constant. In the best case for the
 * caller every conditional allow holds and no conditional deny does; in the worst case the
 * opposite. Denied even in the best case: deny. Allowed even in the worst case: allow. Otherwise
 * the cell depends on the call's arguments, the token's claims or the request: conditional. This
 * holds for conditions on claims too, which a roles-only caller could not evaluate.
 */
import type { GatewayConfig } from "../../../config/src/load-config.ts";
import type { PolicyConfig, PolicyRule } from "../../../config/src/policy-schema.ts";
import type { ToolsConfig } from "../../../config/src/tools-schema.ts";
import { callerWithRoles, compilePolicy, type RuleRef } from "../policy/rbac.ts";

export type MatrixDecision = "allow" | "deny" | "conditional";

export type MatrixCell = {
  decision: MatrixDecision;
  /** A `mode: dry_run` deny matches (or may match) calls that are allowed. */
  dryRunDeny: boolean;
  /** The rules with `when` that make the cell conditional (policy.yaml's text). */
  conditions: readonly RuleRef[];
};

export type MatrixRow = {
  /** `scope.tool` */
  tool: string;
  /** false: disabled in tools.yaml; the cells say what the policy would give once enabled. */
  active: boolean;
  /** One cell per role, in the order of `PolicyMatrix.roles`. */
  cells: readonly MatrixCell[];
};

export type PolicyMatrix = { roles: readonly string[]; rows: readonly MatrixRow[] };

type Bound = "best" | "worst";

function boundRules(rules: readonly PolicyRule[], effect: RuleRef["effect"], bound: Bound) {
  return rules.map((rule): PolicyRule => {
    if (typeof rule === "string" || rule.when === undefined) return rule;
    // A dry-run deny never refuses: "true" in both bounds, so it is reported wherever it may hold.
    const holds = rule.mode === "dry_run" || (effect === "allow") === (bound === "best");
    return { ...rule, when: holds ? "true" : "false" };
  });
}

function boundPolicy(policy: PolicyConfig, bound: Bound): PolicyConfig {
  const roles: PolicyConfig["roles"] = {};
  for (const [name, role] of Object.entries(policy.roles)) {
    roles[name] = {
      ...role,
      allow: boundRules(role.allow, "allow", bound),
      deny: boundRules(role.deny, "deny", bound),
    };
  }
  return { ...policy, roles, deny: boundRules(policy.deny, "deny", bound) };
}

/** Every tool enabled, so a disabled tool's cells still show what the policy says about it. */
function allEnabled(tools: ToolsConfig): ToolsConfig {
  const scopes: ToolsConfig["scopes"] = {};
  for (const [name, scope] of Object.entries(tools.scopes)) {
    scopes[name] = { ...scope, tools: scope.tools.map((tool) => ({ ...tool, enabled: true })) };
  }
  return { ...tools, scopes };
}

export function policyMatrix(config: GatewayConfig): PolicyMatrix {
  const tools = allEnabled(config.tools);
  const best = compilePolicy(tools, boundPolicy(config.policy, "best"));
  const worst = compilePolicy(tools, boundPolicy(config.policy, "worst"));
  const original = new Map(
    compilePolicy(config.tools, config.policy)
      .rules()
      .map((rule) => [rule.path, rule]),
  );
  const roles = Object.keys(config.policy.roles);
  const rows: MatrixRow[] = [];
  for (const [scope, definition] of Object.entries(config.tools.scopes)) {
    for (const entry of definition.tools) {
      const cells = roles.map((role): MatrixCell => {
        const caller = callerWithRoles([role]);
        const most = best.decideTool(caller, scope, entry.name);
        const least = worst.decideTool(caller, scope, entry.name);
        const decision: MatrixDecision =
          most.status !== "allowed" ? "deny" : least.status === "allowed" ? "allow" : "conditional";
        const conditions: RuleRef[] = [];
        if (decision === "conditional") {
          for (const decided of [most.rule, least.rule]) {
            const rule = decided === undefined ? undefined : original.get(decided.path);
            if (rule?.when !== undefined && !conditions.includes(rule)) conditions.push(rule);
          }
        }
        return {
          decision,
          dryRunDeny: decision !== "deny" && most.wouldDeny.length > 0,
          conditions,
        };
      });
      rows.push({ tool: `${scope}.${entry.name}`, active: entry.enabled, cells });
    }
  }
  return { roles, rows };
}

const DRY_RUN_MARK = " (dry-run deny)";
const INACTIVE_MARK = " (inactive)";

function cellText(cell: MatrixCell, conditionalWord: string): string {
  const word = cell.decision === "conditional" ? conditionalWord : cell.decision;
  return cell.dryRunDeny ? `${word}${DRY_RUN_MARK}` : word;
}

/** Columns padded for a terminal, then a legend of the markers that appear. */
export function formatMatrixText(matrix: PolicyMatrix): string[] {
  const table = [
    ["TOOL", ...matrix.roles],
    ...matrix.rows.map((row) => [
      row.active ? row.tool : `${row.tool}${INACTIVE_MARK}`,
      ...row.cells.map((cell) => cellText(cell, "allow*")),
    ]),
  ];
  const widths = table[0]!.map((_, column) => Math.max(...table.map((r) => r[column]!.length)));
  const lines = table.map((row) =>
    row
      .map((cell, column) => cell.padEnd(widths[column]!))
      .join("  ")
      .trimEnd(),
  );
  const cells = matrix.rows.flatMap((row) => row.cells);
  const legend: [string, string][] = [];
  if (cells.some((cell) => cell.decision === "conditional")) {
    legend.push([
      "allow*",
      "conditional: allowed for some calls only; a `when` condition on the arguments, claims or " +
        "request decides (see npm run policy -- explain, or --format json for the rules)",
    ]);
  }
  if (cells.some((cell) => cell.dryRunDeny)) {
    legend.push([
      DRY_RUN_MARK.trim(),
      'a mode: dry_run deny matches: logged and audited as "would deny", not enforced',
    ]);
  }
  if (matrix.rows.some((row) => !row.active)) {
    legend.push([
      INACTIVE_MARK.trim(),
      "disabled in tools.yaml: every call is refused; the cells show the policy once enabled",
    ]);
  }
  if (legend.length === 0) return lines;
  const width = Math.max(...legend.map(([mark]) => mark.length)) + 2;
  return [...lines, "", ...legend.map(([mark, text]) => `${mark.padEnd(width)}${text}`)];
}

function csvField(value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** `tool,active,<role>...` with cells `allow`, `deny` or `conditional` (+ ` (dry-run deny)`). */
export function formatMatrixCsv(matrix: PolicyMatrix): string[] {
  return [
    ["tool", "active", ...matrix.roles],
    ...matrix.rows.map((row) => [
      row.tool,
      String(row.active),
      ...row.cells.map((cell) => cellText(cell, "conditional")),
    ]),
  ].map((row) => row.map(csvField).join(","));
}

/** `{roles, tools: [{tool, active, cells: {<role>: {decision, dry_run_deny, conditions}}}]}` */
export function matrixJson(matrix: PolicyMatrix): Record<string, unknown> {
  const tools = matrix.rows.map((row) => {
    const cells: Record<string, unknown> = {};
    row.cells.forEach((cell, i) => {
      cells[matrix.roles[i]!] = {
        decision: cell.decision,
        dry_run_deny: cell.dryRunDeny,
        conditions: cell.conditions.map((rule) => ({ rule: rule.path, when: rule.when })),
      };
    });
    return { tool: row.tool, active: row.active, cells };
  });
  return { roles: matrix.roles, tools };
}
