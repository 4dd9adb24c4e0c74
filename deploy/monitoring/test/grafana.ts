/**
 * Reading the Grafana dashboard: its panels, its PromQL (targets, annotations, query variables)
 * and its template variables, and turning Grafana's `$variables` into PromQL that parses.
 */

/* eslint-disable @typescript-eslint/no-explicit-any --
   A dashboard is untyped JSON; the checks below are what validates it. */

export type Panel = {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type?: string; uid?: string };
  targets?: { refId?: string; expr?: string; legendFormat?: string; datasource?: unknown }[];
  panels?: Panel[];
};

/** Variables Grafana defines itself, with a value that keeps the expression valid PromQL. */
export const GRAFANA_BUILTINS: Record<string, string> = {
  __rate_interval: "1m",
  __interval: "1m",
  __interval_ms: "60000",
  __range: "1h",
  __range_s: "3600",
  __range_ms: "3600000",
};

/** `$name`, `${name}`, `${name:format}` and the deprecated `[[name]]`, `[[name:format]]`. */
const VARIABLE = /\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]|\$(\w+)/g;

/** The names of the variables a string refers to. */
export function variablesIn(text: string): string[] {
  return [...text.matchAll(VARIABLE)].map((m) => (m[1] ?? m[2] ?? m[3])!);
}

/**
 * The PromQL Prometheus receives, with a stand-in for each variable: the built-in intervals
 * become durations, a dashboard variable (used inside a matcher's string) a plain word.
 */
export function expandVariables(expr: string): string {
  return expr.replace(VARIABLE, (_whole, a?: string, b?: string, c?: string) => {
    const name = (a ?? b ?? c)!;
    return GRAFANA_BUILTINS[name] ?? "variable_value";
  });
}

/** Every panel, those nested in collapsed rows included. */
export function allPanels(dashboard: any): Panel[] {
  const list: Panel[] = [];
  const visit = (panels: Panel[] | undefined) => {
    for (const panel of panels ?? []) {
      list.push(panel);
      visit(panel.panels);
    }
  };
  visit(dashboard.panels);
  return list;
}

/** A PromQL query of the dashboard, with where it is and the labels its legend asks for. */
export type DashboardQuery = {
  where: string;
  expr: string;
  /** Labels a legend or annotation title/tag refers to: `{{label}}`. */
  labelsUsed: string[];
};

function legendLabels(format: unknown): string[] {
  if (typeof format !== "string") return [];
  return [...format.matchAll(/\{\{\s*([A-Za-z_]\w*)\s*\}\}/g)].map((m) => m[1]!);
}

/** A `label_values(selector, label)` variable query, as the Prometheus data source reads it. */
export function parseLabelValues(query: string): { selector: string; label: string } | undefined {
  const match = /^\s*label_values\(\s*(.+?)\s*,\s*([A-Za-z_]\w*)\s*\)\s*$/s.exec(query);
  return match === null ? undefined : { selector: match[1]!, label: match[2]! };
}

export function dashboardQueries(dashboard: any): DashboardQuery[] {
  const queries: DashboardQuery[] = [];
  for (const panel of allPanels(dashboard)) {
    for (const target of panel.targets ?? []) {
      queries.push({
        where: `panel ${panel.id} "${panel.title}" target ${target.refId}`,
        expr: target.expr ?? "",
        labelsUsed: legendLabels(target.legendFormat),
      });
    }
  }
  for (const annotation of dashboard.annotations?.list ?? []) {
    if (annotation.datasource?.type !== "prometheus") continue;
    const tagKeys =
      typeof annotation.tagKeys === "string"
        ? annotation.tagKeys.split(",").map((k: string) => k.trim())
        : [];
    queries.push({
      where: `annotation "${annotation.name}"`,
      expr: annotation.expr ?? "",
      labelsUsed: [
        ...legendLabels(annotation.titleFormat),
        ...legendLabels(annotation.textFormat),
        ...tagKeys.filter((k: string) => k !== ""),
      ],
    });
  }
  return queries;
}

/** Every string in the dashboard, where variables may be used (not the saved selections). */
export function dashboardStrings(value: unknown, path = ""): { path: string; text: string }[] {
  if (typeof value === "string") return [{ path, text: value }];
  if (Array.isArray(value)) return value.flatMap((v, i) => dashboardStrings(v, `${path}[${i}]`));
  if (value !== null && typeof value === "object") {
    return Object.entries(value)
      .filter(([key]) => key !== "current" && key !== "options")
      .flatMap(([key, v]) => dashboardStrings(v, `${path}.${key}`));
  }
  return [];
}
