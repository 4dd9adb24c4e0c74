import type {
  AdminTool,
  AdminTools,
  DiffLine,
  ToolActionResult,
  ToolStatus,
} from "../../../mcp-router/src/admin-wire.ts";
import { describeError, getJson, postJson } from "../api.ts";
import { confirmAction } from "../dialog.ts";
import { badge, h, notice, replace, table, type Child } from "../dom.ts";
import { ago, dateTime, shortDigest } from "../format.ts";
import type { Page, PageContext } from "./page.ts";

const STATUS: Record<ToolStatus, [string, string, string]> = {
  active: ["active", "ok", "Listed in tools.yaml, enabled, and served"],
  disabled: ["disabled", "muted", "enabled: false in tools.yaml: every call is refused"],
  inactive: ["inactive", "muted", "No longer in tools.yaml: kept in the registry with its history"],
  pinned_definition_changed: [
    "definition changed",
    "bad",
    "The backend changed the definition: the approved one is served and calls are refused until approved",
  ],
  definition_changed: [
    "definition changed",
    "warn",
    "The backend changed the definition (definition_changes: warn): the new one is served",
  ],
};

/** Unchanged lines kept around each change; longer unchanged runs fold. */
const CONTEXT_LINES = 3;

function diffView(lines: readonly DiffLine[]): HTMLElement {
  const changed = lines.map((line) => line.op !== "=");
  const near = (index: number) => {
    for (let i = Math.max(0, index - CONTEXT_LINES); i <= index + CONTEXT_LINES; i++) {
      if (changed[i] === true) return true;
    }
    return false;
  };
  const rows: Child[] = [];
  let folded = 0;
  const flush = () => {
    if (folded > 0) rows.push(h("div", { class: "diff-fold" }, `… ${folded} unchanged lines`));
    folded = 0;
  };
  lines.forEach((line, index) => {
    if (line.op === "=" && !near(index)) {
      folded += 1;
      return;
    }
    flush();
    const kind = line.op === "+" ? "add" : line.op === "-" ? "del" : "same";
    const mark = line.op === "=" ? " " : line.op;
    rows.push(h("div", { class: `diff-line diff-${kind}` }, `${mark} ${line.text}`));
  });
  flush();
  return h("div", { class: "diff", role: "region", "aria-label": "Definition diff" }, rows);
}

function changePanel(tool: AdminTool, act: (tool: AdminTool, action: "approve" | "keep") => void) {
  const change = tool.change!;
  const qualified = `${tool.scope}.${tool.name}`;
  return h(
    "div",
    { class: "change", "data-change": qualified },
    h(
      "p",
      null,
      `The backend changed this tool's definition ${change.changed_at === null ? "" : `on ${dateTime(change.changed_at)} `}`,
      `(approved ${shortDigest(change.approved_digest)}, now ${shortDigest(change.observed_digest)}). `,
      change.policy === "pin"
        ? "The approved definition is still served and calls are refused until it is approved."
        : "definition_changes is warn: the new definition is served already.",
    ),
    change.kept === null
      ? null
      : notice(
          "info",
          `Kept pinned by ${change.kept.by ?? "unknown"} on ${dateTime(change.kept.at)}: the change was reviewed and not approved.`,
        ),
    change.diff_unavailable === null ? null : notice("warning", change.diff_unavailable),
    change.diff === null ? null : diffView(change.diff),
    h(
      "div",
      { class: "actions" },
      h(
        "button",
        {
          type: "button",
          class: "button button-primary",
          "data-action": "approve",
          on: { click: () => act(tool, "approve") },
        },
        "Approve",
      ),
      h(
        "button",
        {
          type: "button",
          class: "button",
          "data-action": "keep",
          disabled: change.kept !== null,
          title:
            change.kept !== null
              ? "Already kept pinned"
              : "Record that the change was reviewed and the approved definition stays",
          on: { click: () => act(tool, "keep") },
        },
        "Keep pinned",
      ),
    ),
  );
}

function toolRows(tool: AdminTool, act: Parameters<typeof changePanel>[1]): HTMLElement[] {
  const [text, kind, title] = STATUS[tool.status];
  const qualified = `${tool.scope}.${tool.name}`;
  const row = h(
    "tr",
    { "data-tool": qualified, class: tool.change === null ? undefined : "has-change" },
    h("th", { scope: "row" }, h("code", null, tool.name)),
    h(
      "td",
      null,
      badge(text, kind, title),
      tool.change?.kept == null ? null : badge("kept", "muted", "Kept pinned by an operator"),
      tool.source === "discovered"
        ? badge("discovered", "muted", "Listed by the server of a scope that says tools: discover")
        : null,
    ),
    h("td", { class: "description" }, tool.description ?? ""),
    h(
      "td",
      null,
      h("code", { title: tool.approved_digest ?? "" }, shortDigest(tool.approved_digest)),
    ),
    h("td", { title: dateTime(tool.last_seen_at) }, ago(tool.last_seen_at)),
  );
  if (tool.change === null) return [row];
  return [row, h("tr", { class: "change-row" }, h("td", { colspan: 5 }, changePanel(tool, act)))];
}

function render(root: HTMLElement, context: PageContext): void {
  const status = h("div", { class: "status-line", "aria-live": "polite" });
  const body = h("div", { class: "page-body" }, h("p", { class: "loading" }, "Loading…"));
  const filter = h("input", {
    type: "search",
    placeholder: "Filter tools",
    "aria-label": "Filter tools",
    value: context.query.get("q") ?? "",
  });
  const reviewOnly = h("input", {
    type: "checkbox",
    checked: context.query.get("review") === "1",
  });
  let data: AdminTools | undefined;

  const show = () => {
    if (data === undefined) return;
    const text = filter.value.trim().toLowerCase();
    const matches = (tool: AdminTool) =>
      (text === "" ||
        `${tool.scope}.${tool.name} ${tool.description ?? ""}`.toLowerCase().includes(text)) &&
      (!reviewOnly.checked || (tool.change !== null && tool.change.kept === null));
    const all = data.scopes.flatMap((scope) => scope.tools);
    const waiting = all.filter((tool) => tool.change !== null && tool.change.kept === null).length;
    const needsReview = (tools: readonly AdminTool[]) =>
      tools.some((tool) => tool.change !== null && tool.change.kept === null);
    // What needs an operator comes first; otherwise tools.yaml's order.
    const sections = [...data.scopes]
      .sort((a, b) => Number(needsReview(b.tools)) - Number(needsReview(a.tools)))
      .map((scope) => ({ ...scope, tools: scope.tools.filter(matches) }))
      .filter((scope) => scope.tools.length > 0)
      .map((scope) =>
        h(
          "section",
          { class: "scope", "data-scope": scope.scope },
          h("h2", null, scope.scope, h("span", { class: "scope-backend" }, scope.backend)),
          scope.description === null ? null : h("p", { class: "muted" }, scope.description),
          table(
            ["Tool", "Status", "Description", "Approved definition", "Last seen"],
            scope.tools.flatMap((tool) =>
              toolRows(tool, (target, action) => void act(target, action)),
            ),
            { class: "data tools" },
          ),
        ),
      );
    replace(
      body,
      h(
        "p",
        { class: "summary" },
        `${all.length} tools in ${data.scopes.length} scopes · definition_changes: ${data.definition_changes} · `,
        waiting === 0
          ? "no definition change awaits review"
          : h(
              "strong",
              null,
              `${waiting} definition change${waiting === 1 ? "" : "s"} awaiting review`,
            ),
      ),
      sections.length === 0 ? h("p", { class: "empty" }, "No tool matches.") : sections,
    );
  };

  const load = async () => {
    try {
      data = await getJson<AdminTools>("/admin/tools", { signal: context.signal });
      if (!context.signal.aborted) show();
    } catch (error) {
      if (!context.signal.aborted) replace(body, notice("error", describeError(error)));
    }
  };

  async function act(tool: AdminTool, action: "approve" | "keep") {
    const change = tool.change;
    if (change === null) return;
    const qualified = `${tool.scope}.${tool.name}`;
    const confirmed = await confirmAction(
      action === "approve"
        ? {
            title: `Approve ${qualified}?`,
            body: [
              h(
                "p",
                null,
                `The definition ${shortDigest(change.observed_digest)} the backend serves now becomes the approved one.`,
              ),
              h(
                "p",
                null,
                "This router serves it at once and other routers within a minute; calls are allowed again. The approval is audited with your identity.",
              ),
            ],
            confirm: "Approve",
            danger: true,
          }
        : {
            title: `Keep ${qualified} pinned?`,
            body: [
              h(
                "p",
                null,
                `The approved definition ${shortDigest(change.approved_digest)} stays; the change is recorded as reviewed.`,
              ),
              h(
                "p",
                null,
                "Calls stay refused while the backend serves the changed definition. The decision is audited with your identity.",
              ),
            ],
            confirm: "Keep pinned",
          },
    );
    if (!confirmed) return;
    replace(status);
    try {
      const result = await postJson<ToolActionResult>(
        `/admin/tools/${encodeURIComponent(tool.scope)}/${encodeURIComponent(tool.name)}/${action}`,
        { observed_digest: change.observed_digest },
      );
      replace(
        status,
        notice(
          "success",
          result.action === "approve"
            ? `Approved ${qualified}: definition ${shortDigest(result.observed_digest)} is now the approved one.`
            : `Kept ${qualified} pinned to ${shortDigest(result.approved_digest)}.`,
        ),
      );
    } catch (error) {
      replace(status, notice("error", describeError(error)));
    }
    await load();
  }

  const updateQuery = () => {
    const query = new URLSearchParams();
    if (filter.value.trim() !== "") query.set("q", filter.value.trim());
    if (reviewOnly.checked) query.set("review", "1");
    history.replaceState(null, "", `#/tools${query.size > 0 ? `?${query.toString()}` : ""}`);
    show();
  };
  filter.addEventListener("input", updateQuery);
  reviewOnly.addEventListener("change", updateQuery);

  replace(
    root,
    h("h1", null, "Tools"),
    h(
      "div",
      { class: "toolbar" },
      filter,
      h("label", { class: "check" }, reviewOnly, " Awaiting review only"),
      h("button", { type: "button", class: "button", on: { click: () => void load() } }, "Refresh"),
    ),
    status,
    body,
  );
  void load();
}

export const toolsPage: Page = { title: "Tools", render };
