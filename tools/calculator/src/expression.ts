import type { Decimal } from "decimal.js";
import {
  add,
  divide,
  modulo,
  multiply,
  parseDecimal,
  power,
  roundTo,
  squareRoot,
  subtract,
  type Calc,
  type DecimalClass,
  type RoundingMode,
} from "./decimal-math.ts";

/**
 * A recursive-descent parser for arithmetic over exact decimals (no eval). Grammar, loosest first:
 *   sum     := product (("+" | "-") product)*
 *   product := unary (("*" | "/" | "%") unary)*
 *   unary   := ("-" | "+") unary | power
 *   power   := atom (("^" | "**") unary)?        right-associative, binds tighter than unary minus
 *   atom    := number | "(" sum ")" | name "(" sum ("," sum)* ")"
 * Functions: sqrt(x), abs(x), pow(x, y), mod(x, y), round(x[, places]), compare(x, y).
 */

export const MAX_EXPRESSION_LENGTH = 10_000;
const MAX_DEPTH = 100;

type Node =
  | { kind: "number"; text: string; at: number }
  | { kind: "unary"; op: "-" | "+"; operand: Node; at: number }
  | { kind: "binary"; op: "+" | "-" | "*" | "/" | "%" | "^"; left: Node; right: Node; at: number }
  | { kind: "call"; name: FunctionName; args: Node[]; at: number };

type FunctionName = "sqrt" | "abs" | "pow" | "mod" | "round" | "compare";

type FunctionArity = { name: FunctionName; min: number; max: number };
// A Map, not an object literal: names come from the user, and "constructor", "__proto__" or
// "toString" must not find Object.prototype's members.
const FUNCTIONS: ReadonlyMap<string, FunctionArity> = new Map<string, FunctionArity>([
  ["sqrt", { name: "sqrt", min: 1, max: 1 }],
  ["abs", { name: "abs", min: 1, max: 1 }],
  ["pow", { name: "pow", min: 2, max: 2 }],
  ["mod", { name: "mod", min: 2, max: 2 }],
  ["round", { name: "round", min: 1, max: 2 }],
  ["compare", { name: "compare", min: 2, max: 2 }],
]);

type Token = { type: "number" | "name" | "op" | "end"; text: string; at: number };

export type ParseResult = { ok: true; node: Node } | { ok: false; error: string };

function tokenize(source: string): { ok: true; tokens: Token[] } | { ok: false; error: string } {
  const tokens: Token[] = [];
  const pattern =
    /\s+|(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|([A-Za-z_]\w*)|(\*\*|[-+*/%^(),])/y;
  let index = 0;
  while (index < source.length) {
    pattern.lastIndex = index;
    const match = pattern.exec(source);
    if (match === null) {
      return {
        ok: false,
        error: `unexpected character "${source[index]}" at position ${index + 1}`,
      };
    }
    if (match[1] !== undefined) tokens.push({ type: "number", text: match[1], at: index });
    else if (match[2] !== undefined) tokens.push({ type: "name", text: match[2], at: index });
    else if (match[3] !== undefined)
      tokens.push({ type: "op", text: match[3] === "**" ? "^" : match[3], at: index });
    index = pattern.lastIndex;
  }
  tokens.push({ type: "end", text: "end of expression", at: source.length });
  return { ok: true, tokens };
}

/** Unwinds the recursive descent to parseExpression, which turns it back into data. */
class SyntaxFailure extends Error {}

export function parseExpression(source: string): ParseResult {
  if (source.length > MAX_EXPRESSION_LENGTH) {
    return { ok: false, error: `expression is longer than ${MAX_EXPRESSION_LENGTH} characters` };
  }
  const lexed = tokenize(source);
  if (!lexed.ok) return lexed;
  const tokens = lexed.tokens;
  let position = 0;
  let depth = 0;

  const peek = (): Token => tokens[position] as Token;
  const next = (): Token => tokens[position++] as Token;
  const fail = (token: Token, expected: string): never => {
    const shown = token.type === "end" ? "end of expression" : `"${token.text}"`;
    throw new SyntaxFailure(`expected ${expected} but found ${shown} at position ${token.at + 1}`);
  };
  const isOp = (token: Token, ...ops: string[]): boolean =>
    token.type === "op" && ops.includes(token.text);

  const nested = <T>(parse: () => T): T => {
    depth += 1;
    if (depth > MAX_DEPTH)
      throw new SyntaxFailure(`expression nests deeper than ${MAX_DEPTH} levels`);
    try {
      return parse();
    } finally {
      depth -= 1;
    }
  };

  const sum = (): Node =>
    nested(() => {
      let left = product();
      while (isOp(peek(), "+", "-")) {
        const op = next();
        left = { kind: "binary", op: op.text as "+" | "-", left, right: product(), at: op.at };
      }
      return left;
    });

  const product = (): Node => {
    let left = unary();
    while (isOp(peek(), "*", "/", "%")) {
      const op = next();
      left = { kind: "binary", op: op.text as "*" | "/" | "%", left, right: unary(), at: op.at };
    }
    return left;
  };

  const unary = (): Node =>
    nested(() => {
      const token = peek();
      if (isOp(token, "-", "+")) {
        next();
        return { kind: "unary", op: token.text as "-" | "+", operand: unary(), at: token.at };
      }
      return powerNode();
    });

  const powerNode = (): Node => {
    const base = atom();
    if (isOp(peek(), "^")) {
      const op = next();
      return { kind: "binary", op: "^", left: base, right: unary(), at: op.at };
    }
    return base;
  };

  const atom = (): Node => {
    const token = next();
    if (token.type === "number") return { kind: "number", text: token.text, at: token.at };
    if (isOp(token, "(")) {
      const inner = sum();
      if (!isOp(next(), ")")) fail(tokens[position - 1] as Token, '")"');
      return inner;
    }
    if (token.type === "name") {
      const known = FUNCTIONS.get(token.text);
      if (known === undefined) {
        throw new SyntaxFailure(
          `unknown function: ${token.text.slice(0, 40)} at position ${token.at + 1}; available: ${[...FUNCTIONS.keys()].join(", ")}`,
        );
      }
      const { name, min, max } = known;
      if (!isOp(next(), "(")) fail(tokens[position - 1] as Token, `"(" after ${name}`);
      const args = [sum()];
      while (isOp(peek(), ",")) {
        next();
        args.push(sum());
      }
      if (!isOp(next(), ")")) fail(tokens[position - 1] as Token, '"," or ")"');
      if (args.length < min || args.length > max) {
        const wanted = min === max ? `${min}` : `${min} or ${max}`;
        throw new SyntaxFailure(
          `${name}() takes ${wanted} argument(s), got ${args.length} at position ${token.at + 1}`,
        );
      }
      return { kind: "call", name, args, at: token.at };
    }
    return fail(token, 'a number, a function or "("');
  };

  try {
    const node = sum();
    if (peek().type !== "end") fail(peek(), "an operator or end of expression");
    return { ok: true, node };
  } catch (error) {
    if (error instanceof SyntaxFailure) return { ok: false, error: error.message };
    throw error;
  }
}

/** Wall-clock budget for one evaluation: each step is bounded, but an expression may hold many. */
export const EVALUATION_BUDGET_MS = 2_000;

type BinaryNode = Extract<Node, { kind: "binary" }>;

const BINARY: Record<BinaryNode["op"], (a: Decimal, b: Decimal) => Calc> = {
  "+": add,
  "-": subtract,
  "*": multiply,
  "/": divide,
  "%": modulo,
  "^": power,
};

export function evaluate(
  root: Node,
  D: DecimalClass,
  rounding: RoundingMode,
  options: { deadline?: number } = {},
): Calc {
  const deadline = options.deadline ?? performance.now() + EVALUATION_BUDGET_MS;
  const at = (result: Calc, position: number): Calc =>
    result.ok ? result : { ok: false, error: `${result.error} (at position ${position + 1})` };
  const overBudget = (position: number): Calc | undefined =>
    performance.now() > deadline
      ? {
          ok: false,
          error: `evaluation stopped at position ${position + 1}: the expression needs more than ${EVALUATION_BUDGET_MS / 1000} s of computation at precision ${D.precision}; lower the precision or split the expression`,
        }
      : undefined;

  const visit = (node: Node): Calc => {
    switch (node.kind) {
      case "number":
        return parseDecimal(D, node.text, `the number at position ${node.at + 1}`);
      case "unary": {
        const operand = visit(node.operand);
        if (!operand.ok || node.op === "+") return operand;
        return { ok: true, value: operand.value.negated() };
      }
      case "binary":
        return chain(node);
      case "call":
        return call(node);
    }
  };

  // A left-associative chain ("1+1+1…", unbounded in length) is walked in a loop, so recursion only
  // follows parentheses, unary signs, powers and calls, whose depth the parser bounds.
  const chain = (node: BinaryNode): Calc => {
    const spine: BinaryNode[] = [];
    let leftmost: Node = node;
    while (leftmost.kind === "binary" && leftmost.op !== "^") {
      spine.push(leftmost);
      leftmost = leftmost.left;
    }
    if (leftmost.kind === "binary") {
      spine.push(leftmost);
      leftmost = leftmost.left;
    }
    let result = visit(leftmost);
    for (let index = spine.length - 1; index >= 0 && result.ok; index -= 1) {
      const step = spine[index] as BinaryNode;
      const right = visit(step.right);
      if (!right.ok) return right;
      const stopped = overBudget(step.at);
      if (stopped !== undefined) return stopped;
      result = at(BINARY[step.op](result.value, right.value), step.at);
    }
    return result;
  };

  const call = (node: Extract<Node, { kind: "call" }>): Calc => {
    const values: Decimal[] = [];
    for (const arg of node.args) {
      const value = visit(arg);
      if (!value.ok) return value;
      values.push(value.value);
    }
    const stopped = overBudget(node.at);
    if (stopped !== undefined) return stopped;
    const [x, y] = values as [Decimal, Decimal | undefined];
    switch (node.name) {
      case "sqrt":
        return at(squareRoot(x), node.at);
      case "abs":
        return { ok: true, value: x.abs() };
      case "pow":
        return at(power(x, y as Decimal), node.at);
      case "mod":
        return at(modulo(x, y as Decimal), node.at);
      case "compare":
        return { ok: true, value: new D(x.comparedTo(y as Decimal)) };
      case "round": {
        const places = y ?? new D(0);
        if (!places.isInteger() || places.isNegative() || places.greaterThan(1000)) {
          return {
            ok: false,
            error: `round() places must be an integer from 0 to 1000 (at position ${node.at + 1})`,
          };
        }
        return roundTo(x, places.toNumber(), D.precision, rounding);
      }
    }
  };

  return visit(root);
}
