/**
 * PromQL checks for the dashboard and the alert rules. The syntax is Prometheus' own grammar
 * (@prometheus-io/lezer-promql, what the Prometheus UI's editor uses); on its syntax tree a small
 * label inference follows each expression from its selectors to its result:
 * - every selected series must be exported (catalog: see exported-metrics.ts),
 * - every label in a matcher, `by`/`without`, `on`/`ignoring`/`group_*` must exist where it is
 *   used (a `by (tool)` over a series without `tool` yields one empty group, silently),
 * - range functions get range vectors and aggregations instant vectors,
 * - both sides of a vector/vector operation without `on`/`ignoring` carry the same labels
 *   (otherwise nothing matches and the result is empty, not an error),
 * and the labels of the result are known, for legends and alert annotations.
 */
import { parser } from "@prometheus-io/lezer-promql";
import type { Catalog } from "./exported-metrics.ts";

type SyntaxNode = ReturnType<typeof parser.parse>["topNode"];

/** Labels a result's series can carry; `any` after an unknown metric (reported once). */
type LabelSet = ReadonlySet<string> | "any";

export type Value =
  { kind: "vector"; labels: LabelSet; range: boolean } | { kind: "scalar" } | { kind: "string" };

export type Analysis = {
  problems: string[];
  /** Series names selected, as written. */
  metrics: Set<string>;
  /** Undefined when the expression did not parse. */
  result: Value | undefined;
};

/** Functions whose (first vector) argument is a range vector and whose result keeps its labels. */
const RANGE_FUNCTIONS = new Set([
  "rate",
  "irate",
  "increase",
  "delta",
  "idelta",
  "deriv",
  "changes",
  "resets",
  "avg_over_time",
  "min_over_time",
  "max_over_time",
  "sum_over_time",
  "count_over_time",
  "stddev_over_time",
  "stdvar_over_time",
  "last_over_time",
  "first_over_time",
  "present_over_time",
  "quantile_over_time",
  "mad_over_time",
  "predict_linear",
  "double_exponential_smoothing",
  "absent_over_time",
]);

/** Functions without a vector argument that return a vector with no labels, or a scalar. */
const SCALAR_FUNCTIONS = new Set(["time", "pi", "scalar"]);

/** Aggregations whose first argument is a parameter, not the vector. */
const PARAMETER_AGGREGATIONS = new Set([
  "topk",
  "bottomk",
  "quantile",
  "count_values",
  "limitk",
  "limit_ratio",
]);
/** Aggregations that return input series (so their labels), not one series per group. */
const SELECTING_AGGREGATIONS = new Set(["topk", "bottomk", "limitk", "limit_ratio"]);

const SET_OPERATORS = new Set(["and", "or", "unless"]);

export function formatLabels(labels: LabelSet): string {
  return labels === "any" ? "(any)" : `{${[...labels].sort().join(", ")}}`;
}

function has(labels: LabelSet, label: string): boolean {
  return labels === "any" || labels.has(label);
}

function union(a: LabelSet, b: LabelSet): LabelSet {
  return a === "any" || b === "any" ? "any" : new Set([...a, ...b]);
}

function sameLabels(a: LabelSet, b: LabelSet): boolean {
  if (a === "any" || b === "any") return true;
  return a.size === b.size && [...a].every((label) => b.has(label));
}

function children(node: SyntaxNode): SyntaxNode[] {
  const list: SyntaxNode[] = [];
  for (let child = node.firstChild; child !== null; child = child.nextSibling) list.push(child);
  return list;
}

function isExpr(node: SyntaxNode): boolean {
  return node.type.is("Expr");
}

/** The label names of a GroupingLabels node: `(a, b, "c")`. */
function groupingLabels(node: SyntaxNode | null, text: (n: SyntaxNode) => string): string[] {
  if (node === null) return [];
  return children(node)
    .filter((child) => child.name === "LabelName" || child.name === "QuotedLabelName")
    .map((child) => unquote(text(child)));
}

function unquote(literal: string): string {
  const quote = literal[0];
  if (quote === '"' || quote === "'" || quote === "`") return literal.slice(1, -1);
  return literal;
}

/** Parses and checks one PromQL expression against the series that exist. */
export function analyzePromql(expr: string, catalog: Catalog): Analysis {
  const problems: string[] = [];
  const metrics = new Set<string>();
  const tree = parser.parse(expr);
  const text = (node: SyntaxNode) => expr.slice(node.from, node.to);

  let syntaxError = false;
  tree.iterate({
    enter(ref) {
      if (ref.type.isError) {
        syntaxError = true;
        const context = expr.slice(Math.max(0, ref.from - 20), ref.to + 20);
        problems.push(`syntax error at offset ${ref.from} near ${JSON.stringify(context)}`);
      }
      // The grammar accepts an unterminated string (for the editor): Prometheus does not.
      if (ref.name === "StringLiteral") {
        const literal = expr.slice(ref.from, ref.to);
        if (literal.length < 2 || literal.at(-1) !== literal[0]) {
          syntaxError = true;
          problems.push(`unterminated string at offset ${ref.from}`);
        }
      }
    },
  });
  if (syntaxError) return { problems, metrics, result: undefined };

  const problem = (node: SyntaxNode, message: string) =>
    problems.push(`${message} (in ${JSON.stringify(text(node))})`);

  const instantVector = (node: SyntaxNode, value: Value, what: string): LabelSet | undefined => {
    if (value.kind !== "vector") {
      problem(node, `${what} needs an instant vector, got a ${value.kind}`);
      return undefined;
    }
    if (value.range) {
      problem(node, `${what} needs an instant vector, got a range vector`);
      return undefined;
    }
    return value.labels;
  };

  function selector(node: SyntaxNode): Value {
    const identifier = node.getChild("Identifier");
    const matchers = node.getChild("LabelMatchers");
    const matched: { name: string; value: string; equal: boolean }[] = [];
    let metric = identifier === null ? undefined : text(identifier);
    for (const matcher of matchers === null ? [] : children(matchers)) {
      const nameNode = matcher.getChild("LabelName") ?? matcher.getChild("QuotedLabelName");
      if (matcher.name === "QuotedLabelName") {
        // `{"metric.name"}`: a quoted metric name.
        metric = unquote(text(matcher));
        continue;
      }
      if (nameNode === null) continue;
      const value = matcher.getChild("StringLiteral");
      matched.push({
        name: unquote(text(nameNode)),
        value: value === null ? "" : unquote(text(value)),
        equal: matcher.getChild("MatchOp")?.getChild("EqlSingle") != null,
      });
    }
    if (metric === undefined) {
      // `{__name__="x"}` names one metric; a regular expression names none that can be checked.
      metric = matched.find((m) => m.name === "__name__" && m.equal)?.value;
    }
    if (metric === undefined) {
      problem(node, "a selector without a metric name cannot be checked");
      return { kind: "vector", labels: "any", range: false };
    }
    metrics.add(metric);
    const series = catalog.get(metric);
    if (series === undefined) {
      problem(node, `unknown metric "${metric}" (not exported by the services)`);
      return { kind: "vector", labels: "any", range: false };
    }
    for (const { name } of matched) {
      if (name !== "__name__" && !series.labels.has(name)) {
        problem(
          node,
          `unknown label "${name}" on "${metric}" (it has ${formatLabels(series.labels)})`,
        );
      }
    }
    return { kind: "vector", labels: series.labels, range: false };
  }

  function functionCall(node: SyntaxNode): Value {
    const name = text(node.getChild("FunctionIdentifier")!);
    const argNodes = children(node.getChild("FunctionCallBody")!).filter(isExpr);
    const args = argNodes.map((arg) => infer(arg));
    const vectorIndex = args.findIndex((arg) => arg.kind === "vector");
    const vector = vectorIndex === -1 ? undefined : args[vectorIndex];
    const vectorNode = vectorIndex === -1 ? node : argNodes[vectorIndex]!;

    if (RANGE_FUNCTIONS.has(name)) {
      if (vector?.kind !== "vector" || !vector.range) {
        problem(node, `${name}() needs a range vector argument, e.g. x[5m]`);
        return { kind: "vector", labels: "any", range: false };
      }
      if (name === "absent_over_time") return { kind: "vector", labels: new Set(), range: false };
      return { kind: "vector", labels: vector.labels, range: false };
    }
    if (SCALAR_FUNCTIONS.has(name)) return { kind: "scalar" };
    if (name === "vector") return { kind: "vector", labels: new Set(), range: false };
    if (vector === undefined) {
      // Date functions without an argument use vector(time()).
      return { kind: "vector", labels: new Set(), range: false };
    }
    const labels = instantVector(vectorNode, vector, `${name}()`);
    if (labels === undefined) return { kind: "vector", labels: "any", range: false };
    switch (name) {
      case "absent": {
        // absent() returns one series labelled with the argument's equality matchers.
        const matchers = argNodes[0]?.name === "VectorSelector" ? argNodes[0] : undefined;
        const equal = new Set<string>();
        for (const matcher of matchers
          ?.getChild("LabelMatchers")
          ?.getChildren("UnquotedLabelMatcher") ?? []) {
          if (matcher.getChild("MatchOp")?.getChild("EqlSingle") != null) {
            equal.add(text(matcher.getChild("LabelName")!));
          }
        }
        return { kind: "vector", labels: equal, range: false };
      }
      case "histogram_quantile":
      case "histogram_fraction": {
        if (!has(labels, "le")) problem(node, `${name}() over series without "le"`);
        return {
          kind: "vector",
          labels: labels === "any" ? "any" : new Set([...labels].filter((l) => l !== "le")),
          range: false,
        };
      }
      case "label_replace":
      case "label_join": {
        const target = args[1]?.kind === "string" ? unquote(text(argNodes[1]!)) : undefined;
        return {
          kind: "vector",
          labels: target === undefined ? labels : union(labels, new Set([target])),
          range: false,
        };
      }
      default:
        return { kind: "vector", labels, range: false };
    }
  }

  function aggregation(node: SyntaxNode): Value {
    const op = text(node.getChild("AggregateOp")!).toLowerCase();
    const argNodes = children(node.getChild("FunctionCallBody")!).filter(isExpr);
    const args = argNodes.map((arg) => infer(arg));
    const inputNode = argNodes.at(-1);
    const input = args.at(-1);
    const expected = PARAMETER_AGGREGATIONS.has(op) ? 2 : 1;
    if (args.length !== expected || inputNode === undefined || input === undefined) {
      problem(node, `${op} takes ${expected} argument(s), got ${args.length}`);
      return { kind: "vector", labels: "any", range: false };
    }
    const labels = instantVector(inputNode, input, op) ?? "any";
    const modifier = node.getChild("AggregateModifier");
    const grouping = groupingLabels(modifier?.getChild("GroupingLabels") ?? null, text);
    for (const label of grouping) {
      if (!has(labels, label)) {
        problem(
          node,
          `${op} by/without "${label}": the aggregated series have no such label (they have ${formatLabels(labels)})`,
        );
      }
    }
    let result: LabelSet;
    if (SELECTING_AGGREGATIONS.has(op)) result = labels;
    else if (modifier === null) result = new Set();
    else if (modifier.getChild("By") !== null) result = new Set(grouping);
    else
      result = labels === "any" ? "any" : new Set([...labels].filter((l) => !grouping.includes(l)));
    if (op === "count_values" && args[0]?.kind === "string") {
      result = union(result, new Set([unquote(text(argNodes[0]!))]));
    }
    return { kind: "vector", labels: result, range: false };
  }

  function binary(node: SyntaxNode): Value {
    const parts = children(node);
    const leftNode = parts[0]!;
    const rightNode = parts.at(-1)!;
    const op = text(parts[1]!).toLowerCase();
    const left = infer(leftNode);
    const right = infer(rightNode);
    const matching = node.getChild("MatchingModifierClause");
    const bool = node.getChild("BoolModifier") !== null;

    if (left.kind === "string" || right.kind === "string") {
      problem(node, `operator ${op} cannot take a string`);
      return { kind: "vector", labels: "any", range: false };
    }
    if (left.kind === "scalar" && right.kind === "scalar") return { kind: "scalar" };
    if (left.kind === "scalar" || right.kind === "scalar") {
      if (SET_OPERATORS.has(op)) problem(node, `set operator ${op} needs vectors on both sides`);
      const vectorSide = left.kind === "vector" ? left : right;
      const labels =
        instantVector(left.kind === "vector" ? leftNode : rightNode, vectorSide, op) ?? "any";
      return { kind: "vector", labels, range: false };
    }
    const l = instantVector(leftNode, left, op) ?? "any";
    const r = instantVector(rightNode, right, op) ?? "any";
    if (matching === null) {
      // `or` is a union; every other operator pairs series with identical label sets.
      if (op === "or") return { kind: "vector", labels: union(l, r), range: false };
      if (!sameLabels(l, r)) {
        problem(
          node,
          `operands of ${op} carry different labels, ${formatLabels(l)} and ${formatLabels(r)}: nothing would match (aggregate or use on()/ignoring())`,
        );
      }
      return { kind: "vector", labels: l, range: false };
    }

    const clause = children(matching);
    const onLabels = matching.getChild("On") !== null;
    const [matchGroup, extraGroup] = matching.getChildren("GroupingLabels");
    const matchLabels = groupingLabels(matchGroup ?? null, text);
    const extra = groupingLabels(extraGroup ?? null, text);
    const groupLeft = clause.some((c) => c.name === "GroupLeft");
    const groupRight = clause.some((c) => c.name === "GroupRight");
    for (const label of matchLabels) {
      const where = onLabels ? has(l, label) && has(r, label) : has(l, label) || has(r, label);
      if (!where) {
        problem(
          node,
          `${onLabels ? "on" : "ignoring"}(${label}): ${onLabels ? "both sides need" : "neither side has"} the label (left ${formatLabels(l)}, right ${formatLabels(r)})`,
        );
      }
    }
    if (SET_OPERATORS.has(op)) {
      return { kind: "vector", labels: op === "or" ? union(l, r) : l, range: false };
    }
    if (groupLeft || groupRight) {
      const many = groupLeft ? l : r;
      const one = groupLeft ? r : l;
      for (const label of extra) {
        if (!has(one, label)) {
          problem(node, `group_${groupLeft ? "left" : "right"}(${label}): the "one" side lacks it`);
        }
      }
      return { kind: "vector", labels: union(many, new Set(extra)), range: false };
    }
    // One-to-one: Prometheus keeps only the on() labels, or drops the ignored ones.
    let labels: LabelSet;
    if (onLabels) labels = new Set(matchLabels);
    else labels = l === "any" ? "any" : new Set([...l].filter((x) => !matchLabels.includes(x)));
    // A filtering comparison returns the left sample unchanged.
    const comparison = ["==", "!=", ">", "<", ">=", "<="].includes(op);
    if (comparison && !bool) labels = l;
    return { kind: "vector", labels, range: false };
  }

  function infer(node: SyntaxNode): Value {
    switch (node.name) {
      case "PromQL":
      case "ParenExpr":
      case "UnaryExpr":
      case "OffsetExpr":
      case "StepInvariantExpr":
      case "AnchoredExpr":
      case "SmoothedExpr": {
        const inner = children(node).find(isExpr);
        if (inner === undefined) {
          problem(node, "empty expression");
          return { kind: "vector", labels: "any", range: false };
        }
        return infer(inner);
      }
      case "NumberDurationLiteral":
        return { kind: "scalar" };
      case "StringLiteral":
        return { kind: "string" };
      case "VectorSelector":
        return selector(node);
      case "MatrixSelector": {
        const inner = children(node).find(isExpr)!;
        if (inner.name !== "VectorSelector") {
          problem(node, "a range [..] applies to a selector only (use a subquery [..:..])");
        }
        const value = infer(inner);
        return value.kind === "vector"
          ? { kind: "vector", labels: value.labels, range: true }
          : value;
      }
      case "SubqueryExpr": {
        const inner = children(node).find(isExpr)!;
        const labels = instantVector(inner, infer(inner), "a subquery") ?? "any";
        return { kind: "vector", labels, range: true };
      }
      case "FunctionCall":
        return functionCall(node);
      case "AggregateExpr":
        return aggregation(node);
      case "BinaryExpr":
        return binary(node);
      default:
        problem(node, `unsupported PromQL construct ${node.name}`);
        return { kind: "vector", labels: "any", range: false };
    }
  }

  const result = infer(tree.topNode);
  return { problems, metrics, result };
}

/** The labels a result's series carry, for legends and annotations; `any` when unknown. */
export function resultLabels(analysis: Analysis): LabelSet {
  const result = analysis.result;
  if (result === undefined || result.kind !== "vector") return new Set();
  return result.labels;
}

/** Prometheus' duration syntax (`for:`, `interval:`): 30s, 5m, 1h30m; at least one unit. */
export function parsePrometheusDuration(value: unknown): number | undefined {
  if (typeof value !== "string" || value === "") return undefined;
  const match =
    /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/.exec(value);
  if (match === null) return undefined;
  const units = [31_536_000_000, 604_800_000, 86_400_000, 3_600_000, 60_000, 1000, 1];
  let total = 0;
  let any = false;
  for (const [index, unit] of units.entries()) {
    const digits = match[index + 1];
    if (digits !== undefined) {
      any = true;
      total += Number(digits) * unit;
    }
  }
  return any ? total : undefined;
}
