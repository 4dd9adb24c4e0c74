/**
 * `when:` conditions of policy rules: CEL expressions (docs/adr/0002-cel-for-policy-conditions.md)
 * compiled once at load. @bufbuild/cel evaluates them; what it does not check before evaluation is
 * checked here, so a mistake is a config error and an attacker's input cannot make one expensive:
 * syntax, size and nesting, comprehension depth, names of variables and functions, constant
 * regular expressions, and (with every input empty) operator types and the bool result.
 */
import {
  celEnv,
  CelScalar,
  isCelError,
  mapType,
  parse,
  plan,
  type CelInput,
  type CelResult,
} from "@bufbuild/cel";
import { strings } from "@bufbuild/cel/ext";
import { RE2JS } from "@bufbuild/re2";

/** What an expression sees (docs/policy.md, "Conditions"). */
export type ConditionInput = {
  claims: Readonly<Record<string, unknown>>;
  scope: string;
  tool: string;
  arguments: Readonly<Record<string, unknown>>;
  request: { method: string; headers: Readonly<Record<string, string>> };
};

export const CONDITION_LIMITS = {
  maxSourceLength: 2048,
  maxNodes: 256,
  maxDepth: 24,
  /** A comprehension inside another one is quadratic in the size of the caller's arguments. */
  maxComprehensionDepth: 1,
} as const;

export type Condition = {
  readonly source: string;
  /** Whether the expression reads `arguments`: only then is it unknown before a tools/call. */
  readonly readsArguments: boolean;
  /** `true`/`false`, or an error message (an error never allows). */
  evaluate(input: ConditionInput): boolean | { error: string };
};

const VARIABLES = ["claims", "scope", "tool", "arguments", "request"] as const;
/** Type names are identifiers too (`type(x) == string`). */
const TYPE_NAMES = new Set([
  "bool",
  "bytes",
  "double",
  "dyn",
  "int",
  "list",
  "map",
  "null_type",
  "string",
  "type",
  "uint",
]);

const env = celEnv({
  variables: {
    claims: mapType(CelScalar.STRING, CelScalar.DYN),
    scope: CelScalar.STRING,
    tool: CelScalar.STRING,
    arguments: mapType(CelScalar.STRING, CelScalar.DYN),
    request: mapType(CelScalar.STRING, CelScalar.DYN),
  },
  funcs: strings,
});

/** Logical operators and macros the parser expands, which are not functions of the environment. */
const BUILT_IN_OPERATORS = new Set(["_&&_", "_||_", "_?_:_", "_[_]", "@not_strictly_false"]);

type Expr = ReturnType<typeof parse>["expr"];

export class ConditionError extends Error {}

/** Throws ConditionError with a message fit for `policy.yaml: <path>.when: <message>`. */
export function compileCondition(source: string): Condition {
  if (source.trim() === "") throw new ConditionError("empty expression");
  if (source.length > CONDITION_LIMITS.maxSourceLength) {
    throw new ConditionError(
      `expression is longer than ${CONDITION_LIMITS.maxSourceLength} characters`,
    );
  }
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(source);
  } catch (error) {
    throw new ConditionError(`syntax error: ${messageOf(error).replace(/^<input>:/, "")}`);
  }
  const readsArguments = inspect(parsed.expr);
  let run: (bindings: Record<string, CelInput>) => CelResult;
  try {
    run = plan(env, parsed) as (bindings: Record<string, CelInput>) => CelResult;
  } catch (error) {
    throw new ConditionError(messageOf(error));
  }
  const probe = run({ claims: {}, scope: "", tool: "", arguments: {}, request: {} });
  if (isCelError(probe)) {
    if (/no matching overload|unbound function|unresolved attribute/.test(probe.message)) {
      throw new ConditionError(`type error: ${probe.message}`);
    }
  } else if (typeof probe !== "boolean") {
    throw new ConditionError("the expression must evaluate to a bool");
  }
  return {
    source,
    readsArguments,
    evaluate(input) {
      let result: CelResult;
      try {
        result = run(input as unknown as Record<string, CelInput>);
      } catch (error) {
        return { error: messageOf(error) };
      }
      if (isCelError(result)) return { error: result.message };
      if (typeof result !== "boolean")
        return { error: "the expression did not evaluate to a bool" };
      return result;
    },
  };
}

/** Walks the syntax tree once: limits, names, constant regular expressions. */
function inspect(root: Expr): boolean {
  let nodes = 0;
  let readsArguments = false;
  const visit = (
    expr: Expr | undefined,
    depth: number,
    comprehensions: number,
    bound: ReadonlySet<string>,
  ): void => {
    if (expr === undefined) return;
    nodes += 1;
    if (nodes > CONDITION_LIMITS.maxNodes) {
      throw new ConditionError(`expression has more than ${CONDITION_LIMITS.maxNodes} nodes`);
    }
    if (depth > CONDITION_LIMITS.maxDepth) {
      throw new ConditionError(`expression is nested deeper than ${CONDITION_LIMITS.maxDepth}`);
    }
    const next = depth + 1;
    const kind = expr.exprKind;
    switch (kind.case) {
      case "identExpr": {
        const name = kind.value.name;
        if (bound.has(name) || TYPE_NAMES.has(name)) return;
        if (!(VARIABLES as readonly string[]).includes(name)) {
          throw new ConditionError(
            `unknown variable "${name}": expected one of ${VARIABLES.join(", ")}`,
          );
        }
        if (name === "arguments") readsArguments = true;
        return;
      }
      case "selectExpr":
        visit(kind.value.operand, next, comprehensions, bound);
        return;
      case "callExpr": {
        const call = kind.value;
        if (!BUILT_IN_OPERATORS.has(call.function) && env.funcs.find(call.function) === undefined) {
          throw new ConditionError(`unknown function "${call.function}"`);
        }
        if (call.function === "matches") checkConstantPattern(call.args.at(-1));
        visit(call.target, next, comprehensions, bound);
        for (const arg of call.args) visit(arg, next, comprehensions, bound);
        return;
      }
      case "listExpr":
        for (const element of kind.value.elements) visit(element, next, comprehensions, bound);
        return;
      case "structExpr":
        for (const entry of kind.value.entries) {
          if (entry.keyKind.case === "mapKey")
            visit(entry.keyKind.value, next, comprehensions, bound);
          visit(entry.value, next, comprehensions, bound);
        }
        return;
      case "comprehensionExpr": {
        const loop = kind.value;
        if (comprehensions >= CONDITION_LIMITS.maxComprehensionDepth) {
          throw new ConditionError(
            "a macro (all, exists, exists_one, map, filter) inside another one is not allowed: its cost grows with the square of the arguments' size",
          );
        }
        visit(loop.iterRange, next, comprehensions, bound);
        const inner = new Set(bound);
        for (const name of [loop.iterVar, loop.iterVar2, loop.accuVar]) if (name) inner.add(name);
        visit(loop.accuInit, next, comprehensions, bound);
        visit(loop.loopCondition, next, comprehensions + 1, inner);
        visit(loop.loopStep, next, comprehensions + 1, inner);
        visit(loop.result, next, comprehensions, inner);
        return;
      }
      default:
        return;
    }
  };
  visit(root, 0, 0, new Set());
  return readsArguments;
}

function checkConstantPattern(pattern: Expr | undefined): void {
  const kind = pattern?.exprKind;
  if (kind?.case !== "constExpr" || kind.value.constantKind.case !== "stringValue") return;
  try {
    RE2JS.compile(kind.value.constantKind.value);
  } catch (error) {
    throw new ConditionError(`invalid regular expression: ${messageOf(error)}`);
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
