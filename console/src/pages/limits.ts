import type { AdminLimits, LimitCounter } from "../../../mcp-router/src/admin-wire.ts";
import { describeError, getJson } from "../api.ts";
import { h, notice, replace, table, type Child } from "../dom.ts";
import { count, dateTime, duration, percent } from "../format.ts";
import { every, type Page } from "./page.ts";

const REFRESH_MS = 10_000;

const KINDS: { kind: LimitCounter["kind"]; title: string; who: string }[] = [
  { kind: "user", title: "Per user (every request)", who: "User" },
  { kind: "user_tool", title: "Per user and tool (tools/call)", who: "User · tool" },
  { kind: "tool", title: "Per tool (tools/call, all users)", who: "Tool" },
];

function who(counter: LimitCounter) {
  const user =
    counter.user === null
      ? null
      : [
          counter.tenant === null ? null : h("span", { class: "muted" }, `${counter.tenant} / `),
          counter.user,
        ];
  if (counter.kind === "user") return user;
  if (counter.kind === "tool") return h("code", null, counter.tool ?? "");
  return [user, " · ", h("code", null, counter.tool ?? "")];
}

function counterTable(counters: readonly LimitCounter[], label: string) {
  if (counters.length === 0) return h("p", { class: "empty" }, "No counter in use.");
  return table(
    [label, "Used", "Limit", "Usage", "Window", "Resets in"],
    counters.map((counter) =>
      h(
        "tr",
        { "data-kind": counter.kind },
        h("th", { scope: "row" }, who(counter)),
        h("td", null, count(counter.used)),
        h("td", null, count(counter.limit)),
        h(
          "td",
          { class: "usage" },
          h("meter", {
            min: 0,
            max: 1,
            low: 0.7,
            high: 0.9,
            optimum: 0,
            value: String(counter.share),
            title: percent(counter.share),
          }),
          h(
            "span",
            { class: counter.share >= 0.9 ? "bad-text" : undefined },
            percent(counter.share),
          ),
        ),
        h("td", null, duration(counter.window_seconds * 1000)),
        h("td", null, duration(counter.reset_in_ms)),
      ),
    ),
    { class: "data limits" },
  );
}

function view(data: AdminLimits): Child[] {
  if (!data.available) {
    return [
      notice("warning", `The counters are not available: ${data.reason ?? "unknown reason"}.`),
    ];
  }
  return [
    h(
      "p",
      { class: "summary" },
      data.store === "redis"
        ? "Counts from Redis: every ext-authz replica's requests. "
        : "Counts from the memory of the ext-authz replica that answered (each replica counts alone). ",
      `Read ${dateTime(data.taken_at)}; ${count(data.tracked)} live counters known, the busiest shown.`,
    ),
    data.degraded
      ? notice(
          "warning",
          "Redis is unavailable: ext-authz is deciding with its per-replica insurance counters.",
        )
      : null,
    ...KINDS.flatMap(({ kind, title, who: label }) => [
      h("h2", null, title),
      counterTable(
        data.counters.filter((counter) => counter.kind === kind),
        label,
      ),
    ]),
  ];
}

export const limitsPage: Page = {
  title: "Limits",
  render(root, context) {
    const body = h("div", { class: "page-body" }, h("p", { class: "loading" }, "Loading…"));
    const load = () => {
      getJson<AdminLimits>("/admin/limits", { signal: context.signal }).then(
        (data) => {
          if (!context.signal.aborted) replace(body, view(data));
        },
        (error: unknown) => {
          if (!context.signal.aborted) replace(body, notice("error", describeError(error)));
        },
      );
    };
    replace(
      root,
      h("h1", null, "Limits"),
      h(
        "div",
        { class: "toolbar" },
        h("button", { type: "button", class: "button", on: { click: load } }, "Refresh"),
        h(
          "span",
          { class: "muted" },
          "Rate-limit counters closest to their limit (policy.yaml quotas).",
        ),
      ),
      body,
    );
    load();
    every(REFRESH_MS, load, context.signal);
  },
};
