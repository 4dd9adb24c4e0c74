import type { Decimal } from "decimal.js";
import { z } from "zod";
import {
  defineTool,
  toolError,
  toolOk,
  type ToolDefinition,
} from "../../kit/src/tool-definition.ts";
import type { WorkerPoolEnv } from "../../kit/src/tool-server-env.ts";
import {
  DEFAULT_PRECISION,
  MAX_OPERAND_LENGTH,
  MAX_PRECISION,
  MIN_PRECISION,
  ROUNDING_MODES,
  add,
  decimalContext,
  divide,
  formatDecimal,
  modulo,
  multiply,
  parseDecimal,
  power,
  roundTo,
  squareRoot,
  subtract,
  type Calc,
} from "./decimal-math.ts";
import { MAX_EXPRESSION_LENGTH, evaluate, parseExpression } from "./expression.ts";
import { MEASURES, computeStatistics } from "./statistics.ts";
import { convertUnits, listUnits } from "./unit-conversion.ts";
import { DIMENSIONS } from "./unit-table.ts";

const ANNOTATIONS = { readOnlyHint: true, idempotentHint: true, openWorldHint: false } as const;

const PrecisionSchema = z
  .number()
  .int()
  .min(MIN_PRECISION)
  .max(MAX_PRECISION)
  .default(DEFAULT_PRECISION)
  .describe("Significant digits for rounded results (1-1000, default 28)");
const RoundingSchema = z
  .enum(ROUNDING_MODES)
  .default("half_even")
  .describe("Rounding mode for results and for the round operator (default half_even)");
const DecimalStringSchema = z
  .string()
  .max(MAX_OPERAND_LENGTH)
  .describe('A decimal number as a string, e.g. "-12.5e3"');

const OPERATORS = [
  "add",
  "subtract",
  "multiply",
  "divide",
  "power",
  "sqrt",
  "mod",
  "abs",
  "negate",
  "round",
  "compare",
] as const;
type Operator = (typeof OPERATORS)[number];

// Maps, so that an operator name reaching the lookup (the schema admits only OPERATORS) can never
// find an Object.prototype member.
const ARITY: ReadonlyMap<string, readonly [min: number, max: number]> = new Map<
  Operator,
  readonly [min: number, max: number]
>([
  ["add", [2, 1000]],
  ["subtract", [2, 1000]],
  ["multiply", [2, 1000]],
  ["divide", [2, 2]],
  ["power", [2, 2]],
  ["mod", [2, 2]],
  ["compare", [2, 2]],
  ["sqrt", [1, 1]],
  ["abs", [1, 1]],
  ["negate", [1, 1]],
  ["round", [1, 1]],
]);

const ExactCalculateInputSchema = z.strictObject({
  operator: z.enum(OPERATORS),
  operands: z.array(DecimalStringSchema).min(1).max(1000),
  precision: PrecisionSchema,
  rounding: RoundingSchema,
  decimalPlaces: z
    .number()
    .int()
    .min(0)
    .max(1000)
    .default(0)
    .describe(
      "Digits after the point kept by the round operator (default 0); the result never has more than `precision` significant digits",
    ),
});

const ExactCalculateOutputSchema = z.object({
  result: z.string(),
  operator: z.enum(OPERATORS),
  precision: z.number().int(),
  rounding: z.enum(ROUNDING_MODES),
  comparison: z.enum(["less", "equal", "greater"]).optional(),
});

const FOLD: ReadonlyMap<string, (a: Decimal, b: Decimal) => Calc> = new Map([
  ["add", add],
  ["subtract", subtract],
  ["multiply", multiply],
  ["divide", divide],
  ["power", power],
  ["mod", modulo],
]);

export const exactCalculateTool = defineTool({
  name: "exact_calculate",
  title: "Exact decimal calculation",
  description:
    "Exact decimal arithmetic (no binary floating point): add, subtract, multiply (2+ operands, left to right), divide, power (integer or fractional exponent), mod (truncating, sign of the dividend), compare (-1/0/1) on 2 operands; sqrt, abs, negate, round on 1 operand. Operands are decimal strings. Results are rounded to `precision` significant digits with `rounding`.",
  inputSchema: ExactCalculateInputSchema,
  outputSchema: ExactCalculateOutputSchema,
  annotations: ANNOTATIONS,
  handler: (input) => {
    const arity = ARITY.get(input.operator);
    if (arity === undefined) return toolError(`unknown operator: ${input.operator.slice(0, 40)}`);
    const [min, max] = arity;
    if (input.operands.length < min || input.operands.length > max) {
      const wanted = min === max ? `exactly ${min}` : `at least ${min}`;
      return toolError(
        `${input.operator} takes ${wanted} operand(s), got ${input.operands.length}`,
      );
    }
    const D = decimalContext(input.precision, input.rounding);
    const values: Decimal[] = [];
    for (const [index, text] of input.operands.entries()) {
      const parsed = parseDecimal(D, text, `operands[${index}]`);
      if (!parsed.ok) return toolError(parsed.error);
      values.push(parsed.value);
    }
    const [x, y] = values as [Decimal, Decimal];
    const base = { operator: input.operator, precision: input.precision, rounding: input.rounding };
    let outcome: Calc;
    switch (input.operator) {
      case "sqrt":
        outcome = squareRoot(x);
        break;
      case "abs":
        outcome = { ok: true, value: x.abs().toSignificantDigits(input.precision) };
        break;
      case "negate":
        outcome = { ok: true, value: x.negated().toSignificantDigits(input.precision) };
        break;
      case "round":
        outcome = roundTo(x, input.decimalPlaces, input.precision, input.rounding);
        break;
      case "compare": {
        const order = x.comparedTo(y);
        const comparison = order < 0 ? "less" : order > 0 ? "greater" : "equal";
        return toolOk({ ...base, result: String(order), comparison });
      }
      case "add":
      case "subtract":
      case "multiply":
      case "divide":
      case "power":
      case "mod": {
        const operation = FOLD.get(input.operator)!;
        outcome = { ok: true, value: x };
        for (const next of values.slice(1)) {
          outcome = operation(outcome.value, next);
          if (!outcome.ok) break;
        }
        break;
      }
    }
    if (!outcome.ok) return toolError(outcome.error);
    return toolOk({ ...base, result: formatDecimal(outcome.value) });
  },
});

const StatisticsInputSchema = z.strictObject({
  values: z.array(DecimalStringSchema).min(1).max(100_000),
  measures: z
    .array(z.enum(MEASURES))
    .min(1)
    .optional()
    .describe("Which measures to compute; all when omitted"),
  percentiles: z
    .array(z.number().min(0).max(100))
    .min(1)
    .max(100)
    .optional()
    .describe("Percentiles (0-100) for the percentiles measure; default [25, 50, 75]"),
  precision: PrecisionSchema,
});

const StatisticsOutputSchema = z.object({
  count: z.number().int(),
  sum: z.string().optional(),
  mean: z.string().optional(),
  median: z.string().optional(),
  modes: z.array(z.string()).optional(),
  modeFrequency: z.number().int().optional(),
  min: z.string().optional(),
  max: z.string().optional(),
  range: z.string().optional(),
  varianceSample: z.string().nullable().optional(),
  variancePopulation: z.string().optional(),
  stddevSample: z.string().nullable().optional(),
  stddevPopulation: z.string().optional(),
  percentiles: z.array(z.object({ p: z.number(), value: z.string() })).optional(),
  percentileMethod: z.string().optional(),
  precision: z.number().int(),
  notes: z.array(z.string()),
});

export const statisticsTool = defineTool({
  name: "statistics",
  title: "Exact descriptive statistics",
  description:
    "Descriptive statistics over decimal strings, computed exactly in decimal (sum, range, min, max, mode and the numerators of mean and variance are exact; divisions and square roots are rounded once to `precision`). Measures: count, sum, mean, median, mode, min, max, range, variance_sample, variance_population, stddev_sample, stddev_population, percentiles (linear interpolation between closest ranks, Hyndman-Fan type 7).",
  inputSchema: StatisticsInputSchema,
  outputSchema: StatisticsOutputSchema,
  annotations: ANNOTATIONS,
  // Exact sums over 100 000 values of up to 1000 digits take seconds: served on the worker pool.
  worker: { module: import.meta.url, exportName: "statisticsTool" },
  handler: (input) => {
    const computed = computeStatistics(input);
    return computed.ok ? toolOk(computed.result) : toolError(computed.error);
  },
});

const ConvertUnitsInputSchema = z.strictObject({
  value: DecimalStringSchema,
  from: z.string().min(1).max(40).describe('Source unit symbol or alias, e.g. "in", "degF", "GiB"'),
  to: z.string().min(1).max(40).describe("Target unit of the same dimension"),
  precision: PrecisionSchema,
});

const ConvertUnitsOutputSchema = z.object({
  value: z.string(),
  from: z.string(),
  to: z.string(),
  dimension: z.enum(DIMENSIONS),
  exact: z
    .boolean()
    .describe("True when the value is the exact conversion, false when rounded to precision"),
  precision: z.number().int(),
});

export const convertUnitsTool = defineTool({
  name: "convert_units",
  title: "Exact unit conversion",
  description:
    "Converts a decimal value between units of the same dimension (length, mass, time, temperature, volume, area, speed, data with SI and IEC prefixes, pressure, energy) using exact factors from the unit definitions (e.g. 1 in = 0.0254 m). Unit names are case-sensitive; call list_units for the catalogue.",
  inputSchema: ConvertUnitsInputSchema,
  outputSchema: ConvertUnitsOutputSchema,
  annotations: ANNOTATIONS,
  handler: (input) => {
    const converted = convertUnits(input);
    return converted.ok ? toolOk(converted.result) : toolError(converted.error);
  },
});

const ListUnitsInputSchema = z.strictObject({
  dimension: z.enum(DIMENSIONS).optional().describe("Only this dimension; all when omitted"),
});

const ListUnitsOutputSchema = z.object({
  dimensions: z.array(
    z.object({
      dimension: z.enum(DIMENSIONS),
      baseUnit: z.string(),
      units: z.array(
        z.object({
          symbol: z.string(),
          name: z.string(),
          aliases: z.array(z.string()),
          definition: z.string(),
        }),
      ),
    }),
  ),
});

export const listUnitsTool = defineTool({
  name: "list_units",
  title: "List convertible units",
  description:
    "Lists the units convert_units accepts, grouped by dimension, with aliases and exact definitions.",
  inputSchema: ListUnitsInputSchema,
  outputSchema: ListUnitsOutputSchema,
  annotations: ANNOTATIONS,
  handler: (input) => toolOk({ dimensions: listUnits(input.dimension) }),
});

const EvaluateExpressionInputSchema = z.strictObject({
  expression: z
    .string()
    .min(1)
    .max(MAX_EXPRESSION_LENGTH)
    .describe(
      'e.g. "(0.1 + 0.2) * 3 ^ 2 - sqrt(2)"; operators + - * / % ^ (or **), functions sqrt, abs, pow, mod, round, compare',
    ),
  precision: PrecisionSchema,
  rounding: RoundingSchema,
});

const EvaluateExpressionOutputSchema = z.object({
  result: z.string(),
  precision: z.number().int(),
  rounding: z.enum(ROUNDING_MODES),
});

export const evaluateExpressionTool = defineTool({
  name: "evaluate_expression",
  title: "Evaluate an arithmetic expression exactly",
  description:
    "Evaluates an arithmetic expression over exact decimals with a real parser (no code evaluation). Operators: + - * / % (truncating mod) ^ or ** (right-associative; -2^2 = -4); parentheses; functions sqrt(x), abs(x), pow(x, y), mod(x, y), round(x[, places]), compare(x, y). Every intermediate result is rounded to `precision` significant digits.",
  inputSchema: EvaluateExpressionInputSchema,
  outputSchema: EvaluateExpressionOutputSchema,
  annotations: ANNOTATIONS,
  // Up to 2 s of evaluation by its own deadline, longer for one slow step: on the worker pool.
  worker: { module: import.meta.url, exportName: "evaluateExpressionTool" },
  handler: (input) => {
    const parsed = parseExpression(input.expression);
    if (!parsed.ok) return toolError(`cannot parse expression: ${parsed.error}`);
    const D = decimalContext(input.precision, input.rounding);
    const value = evaluate(parsed.node, D, input.rounding);
    if (!value.ok) return toolError(value.error);
    return toolOk({
      result: formatDecimal(value.value.toSignificantDigits(input.precision)),
      precision: input.precision,
      rounding: input.rounding,
    });
  },
});

/**
 * CALCULATOR_WORKER_THREADS, CALCULATOR_WORKER_BUDGET_MS, CALCULATOR_WORKER_MAX_QUEUE. 8 s covers
 * an expression's own 2 s evaluation deadline plus its slowest single step and the largest
 * statistics input, and stays below the router's 10 s calculator deadline.
 */
export const CALCULATOR_WORKER_POOL: WorkerPoolEnv = {
  prefix: "CALCULATOR",
  defaultBudgetMs: 8_000,
};

export const calculatorTools: ToolDefinition[] = [
  exactCalculateTool,
  statisticsTool,
  convertUnitsTool,
  listUnitsTool,
  evaluateExpressionTool,
];
