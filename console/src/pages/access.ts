import type {
  AdminPolicy,
  Explanation,
  MatrixCellJson,
  RuleJson,
} from "../../../mcp-router/src/admin-wire.ts";
import { describeError, getJson, postJson } from "../api.ts";
import { badge, h, notice, replace, table, type Child } from "../dom.ts";
import type { Page } from "./page.ts";

const CELL: Record<MatrixCellJson["decision"], [string, string]> = {
  allow: ["allow", "ok"],
  deny: ["deny", "muted"],
  conditional: ["conditional", "warn"],
};

function cell(value: MatrixCellJson | undefined) {
  if (value === undefined) return h("td", null, "–");
  const [text, kind] = CELL[value.decision];
  return h(
    "td",
    { class: `cell-${value.decision}` },
    badge(text, kind),
    value.dry_run_deny
      ? badge(
          "dry-run deny",
          "info",
          "A mode: dry_run deny matches: audited as would_deny, not enforced",
        )
      : null,
    value.conditions.length === 0
      ? null
      : h(
          "ul",
          { class: "conditions" },
          value.conditions.map((condition) =>
            h(
              "li",
              null,
              h("code", null, condition.rule),
              " when ",
              h("code", null, condition.when ?? ""),
            ),
          ),
        ),
  );
}

function matrixView(policy: AdminPolicy): Node[] {
  return [
    table(
      [
        "Tool",
        ...policy.roles.map((role) =>
          h(
            "span",
            { title: role.description ?? "" },
            role.name,
            role.operator ? h("span", { class: "tag" }, "operator") : null,
          ),
        ),
      ],
      policy.tools.map((row) =>
        h(
          "tr",
          { "data-tool": row.tool },
          h(
            "th",
            { scope: "row" },
            h("code", null, row.tool),
            row.active ? null : badge("disabled", "muted", "enabled: false in tools.yaml"),
          ),
          policy.roles.map((role) => cell(row.cells[role.name])),
        ),
      ),
      { class: "data matrix" },
    ),
    h(
      "p",
      { class: "footnote" },
      "A cell says what a caller with only that role gets: every call (allow), none (deny), or some — a ",
      h("code", null, "when"),
      " condition on the arguments, claims or request decides (conditional). Roles add up; any matching deny wins. ",
      policy.operator_roles.length === 0
        ? "No role may use this console (operator_roles is empty)."
        : `Operator roles (this console and /admin/*): ${policy.operator_roles.join(", ")}.`,
    ),
  ];
}

function ruleText(rule: RuleJson) {
  return [
    h("code", null, rule.path),
    `: ${rule.effect} `,
    h("code", null, rule.tools),
    rule.when === null ? null : [" when ", h("code", null, rule.when)],
    rule.mode === "dry_run" ? " (dry run)" : null,
  ];
}

const DECISION: Record<Explanation["decision"], [string, string]> = {
  allowed: ["allowed", "ok"],
  denied: ["denied", "bad"],
  unknown_tool: ["unknown tool", "muted"],
  inactive: ["disabled tool", "muted"],
};

function explanationView(result: Explanation): HTMLElement {
  const [text, kind] = DECISION[result.decision];
  const rows: [string, Child][] = [
    ["Decision", badge(text, kind)],
    ["Tool", h("code", null, result.tool)],
    ["Roles", result.roles.length === 0 ? "(none)" : result.roles.join(", ")],
  ];
  if (result.unknown_roles.length > 0) {
    rows.push([
      "Unknown roles",
      `${result.unknown_roles.join(", ")} (not in policy.yaml: they grant nothing)`,
    ]);
  }
  if (result.rule !== null) rows.push(["Deciding rule", ruleText(result.rule)]);
  else if (result.decision === "denied")
    rows.push(["Deciding rule", "none: no allow rule of these roles holds"]);
  if (result.condition_error !== null) {
    rows.push([
      "Condition error",
      `${result.condition_error} (a condition that cannot be evaluated denies)`,
    ]);
  }
  for (const rule of result.would_deny) rows.push(["Would deny (dry run)", ruleText(rule)]);
  if (result.decision === "allowed" || result.decision === "denied") {
    rows.push(["tools/list", result.listed ? "listed for these roles" : "hidden from these roles"]);
  }
  if (!result.arguments_given) rows.push(["Arguments", "none given: decided as a call with {}"]);
  return h(
    "dl",
    { class: "explanation", "data-decision": result.decision },
    rows.map(([label, value]) => [h("dt", null, label), h("dd", null, value)]),
  );
}

type JsonField =
  { ok: true; value: Record<string, unknown> | undefined } | { ok: false; error: string };

function jsonObject(label: string, text: string): JsonField {
  if (text.trim() === "") return { ok: true, value: undefined };
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === "object" && value !== null && !Array.isArray(value)) {
      return { ok: true, value: value as Record<string, unknown> };
    }
    return { ok: false, error: `${label}: expected a JSON object, like {"key": "value"}` };
  } catch (error) {
    return { ok: false, error: `${label}: ${(error as Error).message}` };
  }
}

function explainForm(tools: readonly string[]): HTMLElement {
  const result = h("div", { class: "explain-result", "aria-live": "polite" });
  const tool = h("input", {
    name: "tool",
    required: true,
    list: "explain-tools",
    placeholder: "scope.tool",
  });
  const roles = h("input", { name: "roles", placeholder: "developer, auditor" });
  const claims = h("textarea", {
    name: "claims",
    rows: 3,
    placeholder: '{"sub": "alice", "tenant": "acme"}',
  });
  const args = h("textarea", { name: "arguments", rows: 3, placeholder: '{"format": "stat"}' });
  const form = h(
    "form",
    { class: "explain-form" },
    h(
      "datalist",
      { id: "explain-tools" },
      tools.map((name) => h("option", { value: name })),
    ),
    h("label", null, "Tool", tool),
    h("label", null, "Roles (comma-separated; else the roles claim)", roles),
    h("label", null, "Claims (JSON)", claims),
    h("label", null, "Arguments (JSON)", args),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "button button-primary" }, "Explain"),
    ),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const claimValue = jsonObject("Claims", claims.value);
    const argValue = jsonObject("Arguments", args.value);
    const problem = [claimValue, argValue].find((field) => !field.ok);
    if (problem !== undefined && !problem.ok) {
      replace(result, notice("error", problem.error));
      return;
    }
    const roleList = roles.value
      .split(/[\s,]+/)
      .map((role) => role.trim())
      .filter((role) => role !== "");
    const body = {
      tool: tool.value.trim(),
      ...(roleList.length > 0 ? { roles: roleList } : {}),
      ...(claimValue.ok && claimValue.value !== undefined ? { claims: claimValue.value } : {}),
      ...(argValue.ok && argValue.value !== undefined ? { arguments: argValue.value } : {}),
    };
    replace(result, h("p", { class: "loading" }, "Asking…"));
    postJson<Explanation>("/admin/policy/explain", body).then(
      (explanation) => replace(result, explanationView(explanation)),
      (error: unknown) => replace(result, notice("error", describeError(error))),
    );
  });
  return h("div", { class: "explain" }, form, result);
}

export const accessPage: Page = {
  title: "Access",
  render(root, context) {
    const matrix = h("div", null, h("p", { class: "loading" }, "Loading…"));
    const explain = h("div");
    replace(
      root,
      h("h1", null, "Access"),
      h("h2", null, "Roles × tools"),
      matrix,
      h("h2", null, "Explain a call"),
      h(
        "p",
        { class: "muted" },
        "Decided by ext-authz on the policy it runs, exactly as a real call would be (quotas aside).",
      ),
      explain,
    );
    getJson<AdminPolicy>("/admin/policy", { signal: context.signal }).then(
      (policy) => {
        if (context.signal.aborted) return;
        replace(matrix, matrixView(policy));
        replace(explain, explainForm(policy.tools.map((row) => row.tool)));
      },
      (error: unknown) => {
        if (context.signal.aborted) return;
        replace(matrix, notice("error", describeError(error)));
        replace(explain, explainForm([]));
      },
    );
  },
};
