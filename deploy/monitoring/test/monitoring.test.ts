/* eslint-disable @typescript-eslint/no-explicit-any --
   The dashboard and the rule file are untyped JSON and YAML; the assertions are the checks. */
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { parseDocument } from "yaml";
import {
  catalogOf,
  exportedFamilies,
  TARGET_LABELS,
  type Catalog,
  type MetricFamily,
} from "./exported-metrics.ts";
import {
  allPanels,
  dashboardQueries,
  dashboardStrings,
  expandVariables,
  GRAFANA_BUILTINS,
  parseLabelValues,
  variablesIn,
} from "./grafana.ts";
import { analyzePromql, formatLabels, parsePrometheusDuration, resultLabels } from "./promql.ts";

const root = new URL("../../../", import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), "utf8");

const DASHBOARD_PATH = "deploy/monitoring/grafana/mcp-gateway.json";
const RULES_PATH = "deploy/monitoring/prometheus/alerts.yaml";
const DOCS_PATH = "docs/monitoring.md";

const dashboard: any = JSON.parse(read(DASHBOARD_PATH));
const rulesDocument = parseDocument(read(RULES_PATH), { uniqueKeys: true, prettyErrors: true });
const rules: any = rulesDocument.toJS();
const docs = read(DOCS_PATH);

let families: MetricFamily[];
let catalog: Catalog;
beforeAll(async () => {
  families = await exportedFamilies();
  catalog = catalogOf(families);
});

/** Problems of one query: PromQL's and the labels its legend or annotations use. */
function queryProblems(expr: string, labelsUsed: readonly string[], cat: Catalog): string[] {
  const analysis = analyzePromql(expr, cat);
  const problems = [...analysis.problems];
  if (analysis.result !== undefined && analysis.problems.length === 0) {
    const labels = resultLabels(analysis);
    for (const label of labelsUsed) {
      if (labels !== "any" && !labels.has(label)) {
        problems.push(`uses label "${label}", the result has ${formatLabels(labels)}`);
      }
    }
  }
  return problems;
}

/** Problems of every PromQL query of a dashboard, by where they are. */
function dashboardProblems(board: any, cat: Catalog): string[] {
  const problems: string[] = [];
  for (const query of dashboardQueries(board)) {
    if (query.expr.trim() === "") {
      problems.push(`${query.where}: empty expr`);
      continue;
    }
    for (const p of queryProblems(expandVariables(query.expr), query.labelsUsed, cat)) {
      problems.push(`${query.where}: ${p}`);
    }
  }
  for (const variable of board.templating?.list ?? []) {
    if (variable.type !== "query") continue;
    const text = typeof variable.query === "string" ? variable.query : variable.query?.query;
    const parsed = parseLabelValues(String(text));
    if (parsed === undefined) {
      problems.push(`variable ${variable.name}: not a label_values(selector, label) query`);
      continue;
    }
    for (const p of queryProblems(expandVariables(parsed.selector), [parsed.label], cat)) {
      problems.push(`variable ${variable.name}: ${p}`);
    }
  }
  return problems;
}

type Rule = {
  alert?: string;
  record?: string;
  expr?: unknown;
  for?: unknown;
  labels?: Record<string, unknown>;
  annotations?: Record<string, unknown>;
};

const exprOf = (rule: Rule): string => (typeof rule.expr === "string" ? rule.expr : "");

const alertRules = (): Rule[] =>
  (rules.groups as { rules: Rule[] }[]).flatMap((group) => group.rules).filter((r) => r.alert);

/** `{{ $labels.x }}` and `$labels.x` in annotation and label templates. */
function templateLabels(text: string): string[] {
  return [...text.matchAll(/\$labels\.([A-Za-z_]\w*)/g)].map((m) => m[1]!);
}

/** The problems of every rule's expression and templates. */
function ruleProblems(list: readonly Rule[], cat: Catalog): string[] {
  const problems: string[] = [];
  for (const rule of list) {
    const name = rule.alert ?? rule.record ?? "(unnamed)";
    const templates = [
      ...Object.values(rule.annotations ?? {}),
      ...Object.values(rule.labels ?? {}),
    ].map(String);
    const used = templates.flatMap(templateLabels);
    const analysis = analyzePromql(exprOf(rule), cat);
    if (analysis.result !== undefined && analysis.result.kind !== "vector") {
      problems.push(`${name}: the expression must return a vector, not a ${analysis.result.kind}`);
    }
    for (const p of queryProblems(exprOf(rule), used, cat)) {
      problems.push(`${name}: ${p}`);
    }
  }
  return problems;
}

/** GitHub's anchor for a Markdown heading. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

const docAnchors = new Set(
  [...docs.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => slug(m[1]!.replace(/`/g, ""))),
);

describe("the exported metrics (what the checks compare against)", () => {
  it("come from both services' registries, with histogram series and labels", () => {
    expect(catalog.get("ext_authz_decisions_total")?.labels).toEqual(
      new Set(["outcome", "reason", ...TARGET_LABELS]),
    );
    expect(catalog.get("mcp_router_tool_call_duration_seconds_bucket")?.labels).toEqual(
      new Set(["scope", "outcome", "le", ...TARGET_LABELS]),
    );
    expect(catalog.has("mcp_router_tool_call_duration_seconds_count")).toBe(true);
    // A classic histogram has no series under its bare name.
    expect(catalog.has("mcp_router_tool_call_duration_seconds")).toBe(false);
    // The optional parts: the audit writer's stats, the Redis breaker, configuration reloads.
    expect(catalog.has("ext_authz_audit_queue_events")).toBe(true);
    expect(catalog.has("mcp_router_audit_queue_events")).toBe(true);
    expect(catalog.get("ext_authz_redis_breaker_state")?.labels.has("state")).toBe(true);
    expect(catalog.get("mcp_router_config_reloads_total")?.labels.has("result")).toBe(true);
    // collectDefaultMetrics, with each service's prefix.
    expect(catalog.get("mcp_router_nodejs_eventloop_lag_p99_seconds")?.family.defaultMetric).toBe(
      true,
    );
    expect(catalog.has("up")).toBe(true);
  });
});

describe("the PromQL checker", () => {
  const check = (expr: string, labelsUsed: string[] = []) =>
    queryProblems(expr, labelsUsed, catalog);

  it("accepts the shapes the dashboard and rules use", () => {
    expect(
      check(
        'histogram_quantile(0.99, sum by (le, scope) (rate(mcp_router_tool_call_duration_seconds_bucket{scope=~"a|b"}[5m])))',
        ["scope"],
      ),
    ).toEqual([]);
    expect(
      check(
        "sum by (scope) (rate(mcp_router_tool_calls_total[5m])) / sum by (scope) (rate(mcp_router_tool_calls_total[5m])) > 0.1",
        ["scope"],
      ),
    ).toEqual([]);
    expect(check('absent(up{job="ext-authz"} == 1)')).toEqual([]);
    expect(check('absent(up{job="ext-authz"})', ["job"])).toEqual([]);
    expect(check("count(count by (policy_sha256) (ext_authz_config_info)) > 1")).toEqual([]);
    // absent() carries the labels of its equality matchers only.
    expect(check('absent(up{job=~"ext-.*"})', ["job"])).toEqual([
      'uses label "job", the result has {}',
    ]);
    // The grouping may follow the argument.
    expect(check("sum(rate(mcp_router_tool_calls_total[5m])) by (tol)")[0]).toMatch(
      /by\/without "tol"/,
    );
    expect(
      check(
        "sum by (instance) (mcp_router_tool_calls_in_flight) * on (instance) group_left (scope) ext_authz_config_info",
      )[0],
    ).toMatch(/group_left\(scope\): the "one" side lacks it/);
    expect(
      check(
        "max by (instance) (x_y) / on (instance) group_left (scope) mcp_router_tool_calls_total",
      ),
    ).toEqual(['unknown metric "x_y" (not exported by the services) (in "x_y")']);
  });

  it("catches an unknown metric name", () => {
    expect(check("sum(rate(mcp_router_tool_calls_totl[5m]))")).toEqual([
      'unknown metric "mcp_router_tool_calls_totl" (not exported by the services) (in "mcp_router_tool_calls_totl")',
    ]);
    // Counters are exported with _total, histograms only as _bucket/_sum/_count.
    expect(check("rate(ext_authz_decisions[5m])")[0]).toMatch(
      /unknown metric "ext_authz_decisions"/,
    );
    expect(check("mcp_router_tool_call_duration_seconds")[0]).toMatch(/unknown metric/);
    // A quoted name and a __name__ matcher are names too.
    expect(check('{"mcp_router_nope"}')[0]).toMatch(/unknown metric "mcp_router_nope"/);
    expect(check('{__name__="mcp_router_nope"}')[0]).toMatch(/unknown metric "mcp_router_nope"/);
    expect(check('{__name__=~"mcp_router_.*"}')[0]).toMatch(/without a metric name/);
  });

  it("catches an unknown label in a matcher, a grouping, a vector match, a legend", () => {
    expect(check('mcp_router_tool_call_duration_seconds_bucket{tool="add"}')[0]).toMatch(
      /unknown label "tool" on "mcp_router_tool_call_duration_seconds_bucket"/,
    );
    expect(
      check("sum by (tool) (rate(mcp_router_tool_call_duration_seconds_count[5m]))")[0],
    ).toMatch(/by\/without "tool": the aggregated series have no such label/);
    expect(check("sum without (status) (ext_authz_decisions_total)")[0]).toMatch(
      /by\/without "status"/,
    );
    expect(
      check(
        "sum by (scope) (rate(mcp_router_tool_calls_total[5m])) / on (reason) sum by (scope) (rate(mcp_router_tool_lists_total[5m]))",
      )[0],
    ).toMatch(/on\(reason\): both sides need the label/);
    expect(check("sum by (outcome) (rate(ext_authz_decisions_total[5m]))", ["reason"])).toEqual([
      'uses label "reason", the result has {outcome}',
    ]);
    // `le` is gone after histogram_quantile.
    expect(
      check(
        "histogram_quantile(0.9, sum by (le) (rate(ext_authz_check_duration_seconds_bucket[5m])))",
        ["le"],
      ),
    ).toEqual(['uses label "le", the result has {}']);
  });

  it("catches operands that can never match", () => {
    expect(
      check(
        "sum by (scope) (rate(mcp_router_tool_calls_total[5m])) / sum(rate(mcp_router_tool_calls_total[5m]))",
      )[0],
    ).toMatch(/operands of \/ carry different labels, \{scope\} and \{\}/);
  });

  it("catches syntax errors, with Prometheus' grammar", () => {
    expect(check("sum(rate(mcp_router_tool_calls_total[5m])")[0]).toMatch(/syntax error/);
    expect(check("sum by scope (mcp_router_tool_calls_total)")[0]).toMatch(/syntax error/);
    expect(check('mcp_router_tool_calls_total{scope="x}')[0]).toMatch(/syntax error|unterminated/);
    expect(check("rate(mcp_router_tool_calls_total[5m]) >")[0]).toMatch(/syntax error/);
    expect(check("frobnicate(mcp_router_tool_calls_total)")[0]).toMatch(/syntax error/);
  });

  it("catches range/instant vector mix-ups", () => {
    expect(check("rate(mcp_router_tool_calls_total)")[0]).toMatch(/rate\(\) needs a range vector/);
    expect(check("sum(mcp_router_tool_calls_total[5m])")[0]).toMatch(/sum needs an instant vector/);
    expect(check("rate(sum(mcp_router_tool_calls_total)[5m])")[0]).toMatch(/subquery/);
    expect(check("rate(sum(mcp_router_tool_calls_total)[5m:1m])")).toEqual([]);
  });

  it("parses Prometheus durations", () => {
    expect(parsePrometheusDuration("5m")).toBe(300_000);
    expect(parsePrometheusDuration("1h30m")).toBe(5_400_000);
    expect(parsePrometheusDuration("0s")).toBe(0);
    for (const bad of ["", "5", "5 m", "m", "1.5h", "5min", 5, undefined]) {
      expect(parsePrometheusDuration(bad), String(bad)).toBeUndefined();
    }
  });
});

describe(`the Grafana dashboard (${DASHBOARD_PATH})`, () => {
  const panels = allPanels(dashboard);
  const variables: any[] = dashboard.templating?.list ?? [];

  it("is a dashboard with an id, a title and panels", () => {
    expect(dashboard.uid).toMatch(/^[\w-]{1,40}$/);
    expect(dashboard.title).toBeTruthy();
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(panels.length).toBeGreaterThan(10);
    // Importable anywhere: no id of the instance it was exported from, no __inputs to answer.
    expect(dashboard.id ?? null).toBeNull();
    expect(dashboard.__inputs).toBeUndefined();
  });

  it("has unique panel ids and a layout on the 24-column grid without overlaps", () => {
    const ids = panels.map((panel) => panel.id);
    expect(ids.every((id) => Number.isInteger(id) && id > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    const taken = new Map<string, number>();
    for (const panel of dashboard.panels as typeof panels) {
      const { h, w, x, y } = panel.gridPos;
      expect([h, w, x, y].every(Number.isInteger), `panel ${panel.id} gridPos`).toBe(true);
      expect(w >= 1 && x >= 0 && x + w <= 24 && h >= 1 && y >= 0, `panel ${panel.id}`).toBe(true);
      for (let row = y; row < y + h; row++) {
        for (let col = x; col < x + w; col++) {
          const other = taken.get(`${row},${col}`);
          expect(other, `panel ${panel.id} overlaps panel ${other}`).toBeUndefined();
          taken.set(`${row},${col}`, panel.id);
        }
      }
    }
  });

  it("gives every panel the Prometheus data source variable and queries with an expr", () => {
    const source = variables.find((v) => v.type === "datasource");
    expect(source?.query).toBe("prometheus");
    const expected = { type: "prometheus", uid: `\${${source.name}}` };
    for (const panel of panels) {
      if (panel.type === "row") {
        expect(panel.targets ?? [], `row ${panel.id}`).toEqual([]);
        continue;
      }
      const where = `panel ${panel.id} "${panel.title}"`;
      expect(panel.title, where).toBeTruthy();
      expect(panel.datasource, where).toEqual(expected);
      expect(panel.targets?.length, where).toBeGreaterThan(0);
      const refIds = panel.targets!.map((target) => target.refId);
      expect(new Set(refIds).size, `${where} refIds`).toBe(refIds.length);
      for (const target of panel.targets!) {
        expect(target.refId, where).toMatch(/^[A-Z]$/);
        expect(typeof target.expr === "string" && target.expr.trim() !== "", where).toBe(true);
        if (target.datasource !== undefined) expect(target.datasource, where).toEqual(expected);
      }
    }
  });

  it("defines every template variable it uses, each once", () => {
    const names = variables.map((v) => v.name as string);
    expect(new Set(names).size).toBe(names.length);
    const undefinedUses = dashboardStrings(dashboard).flatMap(({ path, text }) =>
      variablesIn(text)
        .filter((name) => !names.includes(name) && !(name in GRAFANA_BUILTINS))
        .map((name) => `${path}: $${name}`),
    );
    expect(undefinedUses).toEqual([]);
    // And uses each variable it defines.
    const used = new Set(
      dashboardStrings({ panels: dashboard.panels, templating: dashboard.templating }).flatMap(
        ({ text }) => variablesIn(text),
      ),
    );
    for (const name of names) expect(used.has(name), `variable ${name} is unused`).toBe(true);
  });

  it("queries only metrics and labels the services export, in valid PromQL", () => {
    expect(dashboardProblems(dashboard, catalog)).toEqual([]);
  });

  it("fails the check for a misspelt metric, label or variable (negative)", () => {
    const broken = structuredClone(dashboard);
    const target = allPanels(broken).find((p) => p.targets?.length)!.targets![0]!;
    target.expr = target.expr!.replace(
      "mcp_router_http_requests_total",
      "mcp_router_requests_total",
    );
    const latency = allPanels(broken).find((p) =>
      p.targets?.some((t) => t.expr?.includes("tool_call_duration_seconds_bucket")),
    )!;
    latency.targets![0]!.expr = latency.targets![0]!.expr!.replace(
      "by (le, scope)",
      "by (le, tool)",
    );
    const byRoute = allPanels(broken).find((p) => p.title === "HTTP requests by route")!;
    byRoute.targets![0]!.legendFormat = "{{path}}";
    broken.templating.list.find((v: any) => v.name === "tool").query.query =
      "label_values(mcp_router_tool_calls_total, tool_name)";
    const problems = dashboardProblems(broken, catalog);
    expect(problems).toHaveLength(4);
    expect(problems[0]).toMatch(/unknown metric "mcp_router_requests_total"/);
    expect(problems[1]).toMatch(
      /"HTTP requests by route" target A: uses label "path", the result has \{route\}/,
    );
    expect(problems[2]).toMatch(/by\/without "tool"/);
    expect(problems[3]).toMatch(/variable tool: uses label "tool_name"/);
  });
});

describe(`the alerting rules (${RULES_PATH})`, () => {
  it("is valid YAML in the rule file format", () => {
    expect(rulesDocument.errors).toEqual([]);
    expect(Object.keys(rules)).toEqual(["groups"]);
    expect(Array.isArray(rules.groups) && rules.groups.length > 0).toBe(true);
    const groupNames = rules.groups.map((g: { name?: unknown }) => g.name);
    expect(new Set(groupNames).size).toBe(groupNames.length);
    for (const group of rules.groups) {
      expect(typeof group.name === "string" && group.name !== "").toBe(true);
      for (const key of Object.keys(group)) {
        expect(["name", "interval", "limit", "rules", "query_offset", "labels"]).toContain(key);
      }
      if (group.interval !== undefined) {
        expect(parsePrometheusDuration(group.interval)).toBeDefined();
      }
      expect(Array.isArray(group.rules) && group.rules.length > 0, group.name).toBe(true);
    }
  });

  it("gives every alert a unique name, for:, a severity, a summary, a description and a runbook", () => {
    const names = alertRules().map((rule) => rule.alert);
    expect(new Set(names).size).toBe(names.length);
    for (const group of rules.groups) {
      for (const rule of group.rules as Rule[]) {
        const name = rule.alert ?? rule.record;
        expect(rule.alert === undefined || rule.record === undefined, name).toBe(true);
        expect(rule.alert ?? rule.record, "alert or record").toMatch(/^[A-Za-z_:][\w:]*$/);
        expect(typeof rule.expr === "string" && rule.expr.trim() !== "", name).toBe(true);
        if (rule.record !== undefined) continue;
        for (const key of Object.keys(rule)) {
          expect(["alert", "expr", "for", "keep_firing_for", "labels", "annotations"]).toContain(
            key,
          );
        }
        expect(parsePrometheusDuration(rule.for), `${name} for: ${String(rule.for)}`).toBeDefined();
        expect(["critical", "warning", "info"], name).toContain(rule.labels?.severity);
        const annotations = rule.annotations ?? {};
        for (const key of ["summary", "description", "runbook_url"]) {
          expect(
            typeof annotations[key] === "string" && annotations[key] !== "",
            `${name} ${key}`,
          ).toBe(true);
        }
        // Go templates: balanced delimiters.
        for (const text of Object.values(annotations).map(String)) {
          expect(text.split("{{").length, `${name}: ${text}`).toBe(text.split("}}").length);
        }
      }
    }
  });

  it("points every runbook_url at its section of docs/monitoring.md", () => {
    for (const rule of alertRules()) {
      const url = String(rule.annotations?.runbook_url);
      expect(url, rule.alert).toBe(`${DOCS_PATH}#${slug(rule.alert!)}`);
      expect(docAnchors.has(slug(rule.alert!)), `no heading "${rule.alert}" in ${DOCS_PATH}`).toBe(
        true,
      );
    }
  });

  it("queries only metrics and labels the services export, in valid PromQL", () => {
    expect(ruleProblems(alertRules(), catalog)).toEqual([]);
  });

  it("fails the check for an unknown metric or label (negative)", () => {
    const [first] = alertRules();
    const broken: Rule[] = [
      { ...first, expr: "sum(rate(ext_authz_internal_error_total[5m])) > 0" },
      {
        ...first,
        alert: "ByMissingLabel",
        expr: 'sum by (instance) (rate(mcp_router_authz_rejections_total{reson="x"}[5m])) > 0',
      },
      {
        ...first,
        alert: "AnnotationLabel",
        expr: "sum(rate(ext_authz_internal_errors_total[5m])) > 0",
        annotations: { summary: "{{ $labels.instance }}" },
      },
      { ...first, alert: "Scalar", expr: "1 > 0" },
    ];
    const problems = ruleProblems(broken, catalog);
    expect(problems).toHaveLength(4);
    expect(problems[0]).toMatch(/unknown metric "ext_authz_internal_error_total"/);
    expect(problems[1]).toMatch(/unknown label "reson"/);
    expect(problems[2]).toMatch(/AnnotationLabel: uses label "instance", the result has \{\}/);
    expect(problems[3]).toMatch(/Scalar: the expression must return a vector/);
  });
});

describe(`the monitoring guide (${DOCS_PATH})`, () => {
  /** `| \`name\` | type | labels | meaning |` rows of the metrics table. */
  const documented = [...docs.matchAll(/^\| `([a-z_:]+)` \| (\w+) \| ([^|]*) \|/gm)].map((m) => ({
    name: m[1]!,
    type: m[2]!,
    labels: [...m[3]!.matchAll(/`([^`]+)`/g)].map((l) => l[1]!).sort(),
  }));

  it("lists every metric the services export (process and Node.js defaults aside), with type and labels", () => {
    const exported = families
      .filter((family) => !family.defaultMetric && family.service !== "prometheus")
      .map((family) => ({
        name: family.name,
        type: family.type,
        labels: [...family.labelNames].sort(),
      }))
      .sort((a, b) => a.name.localeCompare(b.name));
    expect([...documented].sort((a, b) => a.name.localeCompare(b.name))).toEqual(exported);
  });

  it("has a runbook section for each alert, and mentions no alert that does not exist", () => {
    const names = new Set(alertRules().map((rule) => rule.alert));
    const mentioned = new Set([...docs.matchAll(/\bMcpGateway[A-Za-z]+\b/g)].map((m) => m[0]));
    expect([...mentioned].filter((name) => !names.has(name))).toEqual([]);
    for (const name of names) expect(docs, name).toMatch(new RegExp(`^### ${name}$`, "m"));
  });

  it("links only to documents and sections that exist", () => {
    const links = [...docs.matchAll(/\]\(([\w./-]+\.md)?(?:#([\w-]+))?\)/g)];
    expect(links.length).toBeGreaterThan(5);
    for (const [link, file, anchor] of links) {
      const target = file === undefined ? docs : read(`docs/${file}`);
      if (anchor === undefined) continue;
      const anchors = [...target.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) =>
        slug(m[1]!.replace(/`/g, "")),
      );
      expect(anchors, link).toContain(anchor);
    }
  });

  it("is what the dashboard and the rules watch: every gateway metric is on the dashboard or in a rule", () => {
    const used = new Set<string>();
    for (const query of dashboardQueries(dashboard)) {
      for (const m of analyzePromql(expandVariables(query.expr), catalog).metrics) used.add(m);
    }
    for (const rule of alertRules()) {
      for (const m of analyzePromql(exprOf(rule), catalog).metrics) used.add(m);
    }
    const unwatched = families
      .filter((family) => !family.defaultMetric && family.service !== "prometheus")
      .filter(
        (family) =>
          ![
            family.name,
            `${family.name}_bucket`,
            `${family.name}_count`,
            `${family.name}_sum`,
          ].some((series) => used.has(series)),
      )
      .map((family) => family.name);
    expect(unwatched).toEqual([]);
  });
});
