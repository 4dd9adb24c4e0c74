import type { AuditEventJson, AuditPageJson } from "../../../mcp-router/src/admin-wire.ts";
import { describeError, getCsvPage, getJson } from "../api.ts";
import { showDetails } from "../dialog.ts";
import { badge, h, notice, replace, table } from "../dom.ts";
import { dateTime, stamp } from "../format.ts";
import type { Page, PageContext } from "./page.ts";

/** The filters of GET /admin/audit the page offers (docs/audit.md, Querying). */
const FILTERS = ["user", "tool", "scope", "outcome", "since", "until"] as const;
const PAGE_SIZES = ["25", "50", "100", "200"];
const OUTCOMES = [
  "ok",
  "allowed",
  "denied",
  "rejected",
  "would_deny",
  "tool_error",
  "timeout",
  "upstream_error",
  "cancelled",
  "interrupted",
  "created",
  "completed",
  "failed",
];
/** CSV export follows the pages of the filter up to this many rows. */
const EXPORT_MAX_ROWS = 50_000;

const OUTCOME_KIND: Record<string, string> = {
  ok: "ok",
  allowed: "ok",
  completed: "ok",
  denied: "bad",
  rejected: "bad",
  tool_error: "warn",
  timeout: "warn",
  upstream_error: "warn",
  failed: "warn",
  interrupted: "warn",
  would_deny: "info",
};

function outcomeBadge(outcome: string) {
  return badge(outcome, OUTCOME_KIND[outcome] ?? "muted");
}

/** `1h`, `7d` or a date: sent as typed; a datetime-local value becomes an ISO time. */
function timeValue(text: string): string {
  const trimmed = text.trim();
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(trimmed)) {
    const date = new Date(trimmed);
    if (!Number.isNaN(date.getTime())) return date.toISOString();
  }
  return trimmed;
}

const isStringList = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((item) => typeof item === "string");

function fieldText(value: unknown): string {
  if (typeof value === "string") return value;
  if (isStringList(value)) {
    return value.length === 0 ? "(none)" : value.join(", ");
  }
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return JSON.stringify(value) ?? "";
}

function eventDetails(event: AuditEventJson): void {
  const fields = Object.entries(event).filter(([, value]) => value !== null && value !== undefined);
  showDetails(
    `Audit event ${event.id}`,
    h(
      "dl",
      { class: "event" },
      fields.map(([name, value]) => [
        h("dt", null, name),
        h(
          "dd",
          null,
          typeof value === "object" && !isStringList(value)
            ? h("pre", null, JSON.stringify(value, null, 2))
            : name === "time" && typeof value === "string"
              ? `${value} (${dateTime(value)} local)`
              : fieldText(value),
        ),
      ]),
    ),
  );
}

function eventRow(event: AuditEventJson): HTMLTableRowElement {
  const open = () => eventDetails(event);
  return h(
    "tr",
    {
      class: "clickable",
      tabindex: 0,
      "data-request-id": event.request_id,
      title: "Open the full event",
      on: {
        click: open,
        keydown: (key) => {
          if (key.key === "Enter" || key.key === " ") {
            key.preventDefault();
            open();
          }
        },
      },
    },
    h("td", { class: "nowrap" }, dateTime(event.time)),
    h("td", null, event.subject ?? "–"),
    h("td", null, event.scope ?? "–"),
    h("td", null, event.tool === null ? "–" : h("code", null, event.tool)),
    h("td", null, typeof event.method === "string" ? event.method : "–"),
    h("td", null, outcomeBadge(event.outcome)),
    h("td", null, event.reason ?? ""),
    h("td", null, event.status === null ? "" : String(event.status)),
    h("td", { class: "muted" }, `${event.source} · ${event.kind}`),
  );
}

/** Cursors of the pages before the current one, per filter: "Newer" walks back through them. */
const previousCursors = new Map<string, string[]>();

function render(root: HTMLElement, context: PageContext): void {
  const query = context.query;
  const inputs = new Map<string, HTMLInputElement | HTMLSelectElement>();
  const field = (name: (typeof FILTERS)[number], label: string, placeholder: string) => {
    const input =
      name === "outcome"
        ? h(
            "select",
            { name, "aria-label": label },
            h("option", { value: "" }, "any"),
            OUTCOMES.map((outcome) => h("option", { value: outcome }, outcome)),
          )
        : h("input", { name, placeholder, "aria-label": label });
    input.value = query.get(name) ?? "";
    inputs.set(name, input);
    return h("label", null, label, input);
  };
  const size = h(
    "select",
    { name: "limit", "aria-label": "Rows per page" },
    PAGE_SIZES.map((value) => h("option", { value }, value)),
  );
  size.value = PAGE_SIZES.includes(query.get("limit") ?? "") ? query.get("limit")! : "50";

  const filterQuery = () => {
    const next = new URLSearchParams();
    for (const name of FILTERS) {
      const value = inputs.get(name)!.value.trim();
      if (value !== "")
        next.set(name, name === "since" || name === "until" ? timeValue(value) : value);
    }
    next.set("limit", size.value);
    return next;
  };
  const filterKey = (() => {
    const key = new URLSearchParams(query);
    key.delete("cursor");
    return key.toString();
  })();
  const stack = previousCursors.get(filterKey) ?? [];
  previousCursors.clear();
  previousCursors.set(filterKey, stack);

  const form = h(
    "form",
    { class: "filters", role: "search" },
    field("user", "User", "alice"),
    field("tool", "Tool", "git_read_file"),
    field("scope", "Scope", "git"),
    field("outcome", "Outcome", ""),
    field("since", "Since", "1h, 7d or 2026-11-30T09:00"),
    field("until", "Until", "now"),
    h("label", null, "Rows", size),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "button button-primary" }, "Apply"),
      h(
        "button",
        {
          type: "button",
          class: "button",
          on: { click: () => context.navigate(new URLSearchParams({ limit: size.value })) },
        },
        "Reset",
      ),
    ),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    previousCursors.clear();
    context.navigate(filterQuery());
  });

  const status = h("div", { class: "status-line", "aria-live": "polite" });
  const body = h("div", { class: "page-body" }, h("p", { class: "loading" }, "Loading…"));

  const exportCsv = async (button: HTMLButtonElement) => {
    button.disabled = true;
    const parts: string[] = [];
    let rows = 0;
    let cursor: string | null = null;
    try {
      do {
        const params = new URLSearchParams(query);
        params.delete("cursor");
        params.set("limit", "1000");
        params.set("format", "csv");
        if (cursor !== null) params.set("cursor", cursor);
        const page = await getCsvPage(`/admin/audit?${params.toString()}`, context.signal);
        const lines = page.text.split("\r\n").filter((line) => line !== "");
        // Every page starts with the header row; keep the first one.
        parts.push(...(parts.length === 0 ? lines : lines.slice(1)));
        rows += lines.length - 1;
        cursor = page.nextCursor;
        replace(status, notice("info", `Exporting… ${rows} rows`));
      } while (cursor !== null && rows < EXPORT_MAX_ROWS);
      const blob = new Blob([`${parts.join("\r\n")}\r\n`], { type: "text/csv;charset=utf-8" });
      const url = URL.createObjectURL(blob);
      const link = h("a", { href: url, download: `audit-${stamp()}.csv`, hidden: true });
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      replace(
        status,
        notice(
          "success",
          `Exported ${rows} rows${cursor === null ? "" : ` (the first ${EXPORT_MAX_ROWS}: narrow the filter for the rest)`}.`,
        ),
      );
    } catch (error) {
      replace(status, notice("error", describeError(error)));
    } finally {
      button.disabled = false;
    }
  };
  const exportButton: HTMLButtonElement = h(
    "button",
    { type: "button", class: "button", on: { click: () => void exportCsv(exportButton) } },
    "Export CSV",
  );

  const load = async () => {
    const params = new URLSearchParams(query);
    if (!params.has("limit")) params.set("limit", size.value);
    try {
      const page = await getJson<AuditPageJson>(`/admin/audit?${params.toString()}`, {
        signal: context.signal,
      });
      if (context.signal.aborted) return;
      const goTo = (cursor: string | null, push: boolean) => {
        const next = new URLSearchParams(query);
        if (push) stack.push(query.get("cursor") ?? "");
        if (cursor === null || cursor === "") next.delete("cursor");
        else next.set("cursor", cursor);
        context.navigate(next);
      };
      replace(
        body,
        page.events.length === 0
          ? h("p", { class: "empty" }, "No audit events match.")
          : table(
              ["Time", "User", "Scope", "Tool", "Method", "Outcome", "Reason", "Status", "Source"],
              page.events.map(eventRow),
              { class: "data audit" },
            ),
        h(
          "div",
          { class: "pager" },
          h(
            "button",
            {
              type: "button",
              class: "button",
              disabled: !query.has("cursor"),
              on: {
                click: () => {
                  stack.length = 0;
                  goTo(null, false);
                },
              },
            },
            "First page",
          ),
          h(
            "button",
            {
              type: "button",
              class: "button",
              disabled: stack.length === 0,
              on: { click: () => goTo(stack.pop() ?? null, false) },
            },
            "← Newer",
          ),
          h(
            "button",
            {
              type: "button",
              class: "button",
              disabled: page.next_cursor === null,
              on: { click: () => goTo(page.next_cursor, true) },
            },
            "Older →",
          ),
        ),
      );
    } catch (error) {
      if (!context.signal.aborted) replace(body, notice("error", describeError(error)));
    }
  };

  replace(
    root,
    h("h1", null, "Audit"),
    form,
    h(
      "div",
      { class: "toolbar" },
      h("button", { type: "button", class: "button", on: { click: () => void load() } }, "Refresh"),
      exportButton,
      h("span", { class: "muted" }, "Newest first. Select a row for the full event."),
    ),
    status,
    body,
  );
  void load();
}

export const auditPage: Page = { title: "Audit", render };
