import type { AdminOverview, BackendHealth } from "../../../mcp-router/src/admin-wire.ts";
import { describeError, getJson } from "../api.ts";
import { badge, h, notice, replace, table } from "../dom.ts";
import { ago, count, dateTime, milliseconds, percent, rate } from "../format.ts";
import { sparkline } from "../sparkline.ts";
import { every, type Page } from "./page.ts";

const REFRESH_MS = 15_000;

const latest = (values: readonly (number | null)[]): number | null =>
  values.findLast((value) => value !== null) ?? null;

function kpi(label: string, value: string, chart: Node | null, note?: string) {
  return h(
    "div",
    { class: "kpi" },
    h("div", { class: "kpi-label" }, label),
    h("div", { class: "kpi-value" }, value),
    chart,
    note === undefined ? null : h("div", { class: "kpi-note" }, note),
  );
}

const BACKEND_BADGE: Record<BackendHealth["status"], [string, string]> = {
  up: ["up", "ok"],
  stale: ["stale", "warn"],
  down: ["down", "bad"],
  unknown: ["unknown", "muted"],
};

function view(data: AdminOverview): Node[] {
  const slots = Math.round(data.window_seconds / data.interval_seconds);
  const spark = (values: readonly (number | null)[], label: string, max?: number) =>
    sparkline(values, { slots, label, ...(max === undefined ? {} : { max }) });
  const { requests, audit } = data;
  const minutes = Math.round(data.window_seconds / 60);

  const kpis = h(
    "div",
    { class: "kpis" },
    kpi(
      "Requests / s",
      rate(latest(requests.per_second)),
      spark(requests.per_second, `Requests per second, last ${minutes} min`),
      `${count(requests.totals.count)} in ${minutes} min`,
    ),
    kpi(
      "Error rate",
      percent(latest(requests.error_rate)),
      spark(requests.error_rate, "Share of answers that were errors (5xx)", 0.05),
      `${count(requests.totals.errors)} errors`,
    ),
    kpi(
      "Refusal rate",
      percent(latest(requests.refusal_rate)),
      spark(requests.refusal_rate, "Share of requests refused (4xx)", 0.05),
      `${count(requests.totals.refusals)} refused`,
    ),
    kpi("Tool calls in flight", count(data.in_flight), null),
    kpi(
      "Audit queue",
      count(audit.queued),
      null,
      audit.queued === null
        ? "not reported by this audit sink"
        : `lag ${milliseconds(audit.lag_ms)} · ${audit.mode}`,
    ),
  );

  const scopes =
    data.scopes.length === 0
      ? h("p", { class: "empty" }, "No tool calls yet in this window.")
      : table(
          ["Scope", "Calls / s", "Error rate", "Refusal rate", "p50", "p99"],
          data.scopes.map((scope) =>
            h(
              "tr",
              { "data-scope": scope.scope },
              h("th", { scope: "row" }, scope.scope),
              h(
                "td",
                null,
                h("div", { class: "cell-value" }, rate(latest(scope.per_second))),
                spark(scope.per_second, `${scope.scope}: tools/call per second`),
              ),
              h(
                "td",
                null,
                h("div", { class: "cell-value" }, percent(latest(scope.error_rate))),
                spark(scope.error_rate, `${scope.scope}: error rate`, 0.05),
                h("div", { class: "cell-note" }, `${count(scope.totals.errors)} in window`),
              ),
              h(
                "td",
                null,
                h("div", { class: "cell-value" }, percent(latest(scope.refusal_rate))),
                spark(scope.refusal_rate, `${scope.scope}: refusal rate`, 0.05),
                h("div", { class: "cell-note" }, `${count(scope.totals.refusals)} in window`),
              ),
              h(
                "td",
                null,
                h("div", { class: "cell-value" }, milliseconds(scope.latency.p50_ms)),
                spark(scope.p50_ms, `${scope.scope}: median latency (ms)`),
              ),
              h(
                "td",
                null,
                h("div", { class: "cell-value" }, milliseconds(scope.latency.p99_ms)),
                spark(scope.p99_ms, `${scope.scope}: 99th percentile latency (ms)`),
              ),
            ),
          ),
          { class: "data overview-scopes" },
        );

  const backends = table(
    ["Backend", "Status", "Tools served", "Listed", `Failures (${minutes} min)`],
    data.backends.map((backend) => {
      const [text, kind] = BACKEND_BADGE[backend.status];
      return h(
        "tr",
        { "data-scope": backend.scope },
        h("th", { scope: "row" }, backend.scope),
        h("td", null, badge(text, kind)),
        h("td", null, count(backend.tools_served)),
        h("td", { title: dateTime(backend.listed_at) }, ago(backend.listed_at)),
        h(
          "td",
          { class: backend.backend_failures > 0 ? "warn-text" : undefined },
          count(backend.backend_failures),
        ),
      );
    }),
    { class: "data" },
  );

  const auditTable = table(
    ["Mode", "Queued", "Waiting for room", "Lag", "Stored", "Failed", "Refused (503)"],
    [
      h(
        "tr",
        null,
        h("td", null, audit.mode),
        h("td", null, count(audit.queued)),
        h("td", null, count(audit.waiting)),
        h("td", null, milliseconds(audit.lag_ms)),
        h("td", null, count(audit.written_total)),
        h(
          "td",
          { class: (audit.failed_total ?? 0) > 0 ? "bad-text" : undefined },
          count(audit.failed_total),
        ),
        h(
          "td",
          { class: (audit.rejected_total ?? 0) > 0 ? "warn-text" : undefined },
          count(audit.rejected_total),
        ),
      ),
    ],
    { class: "data" },
  );

  return [
    kpis,
    h("h2", null, "Scopes (tools/call)"),
    scopes,
    h("h2", null, "Backends"),
    backends,
    h("h2", null, "Audit log"),
    auditTable,
    h(
      "p",
      { class: "footnote" },
      `This router's own metrics over the last ${minutes} minutes, one point per ${data.interval_seconds} s; `,
      `updated ${dateTime(data.generated_at)}. Requests refused by ext-authz behind Envoy never reach the router: `,
      "ext-authz's metrics count them.",
    ),
  ];
}

export const overviewPage: Page = {
  title: "Overview",
  render(root, context) {
    const body = h("div", { class: "page-body" }, h("p", { class: "loading" }, "Loading…"));
    replace(root, h("h1", null, "Overview"), body);
    const load = () => {
      getJson<AdminOverview>("/admin/overview", { signal: context.signal })
        .then((data) => {
          if (!context.signal.aborted) replace(body, view(data));
        })
        .catch((error: unknown) => {
          if (!context.signal.aborted) replace(body, notice("error", describeError(error)));
        });
    };
    load();
    every(REFRESH_MS, load, context.signal);
  },
};
