import type { Decimal } from "decimal.js";
import { decimalContext, formatDecimal, parseDecimal, type DecimalClass } from "./decimal-math.ts";

export const MEASURES = [
  "count",
  "sum",
  "mean",
  "median",
  "mode",
  "min",
  "max",
  "range",
  "variance_sample",
  "variance_population",
  "stddev_sample",
  "stddev_population",
  "percentiles",
] as const;
export type Measure = (typeof MEASURES)[number];

export const PERCENTILE_METHOD =
  "linear interpolation between closest ranks (Hyndman-Fan type 7; R default, NumPy 'linear', Excel PERCENTILE.INC): h = (n-1)p/100, x[floor h] + (h - floor h)(x[floor h + 1] - x[floor h])";

export interface StatisticsRequest {
  values: string[];
  measures?: Measure[];
  percentiles?: number[];
  precision: number;
}

export interface StatisticsResult {
  count: number;
  sum?: string;
  mean?: string;
  median?: string;
  modes?: string[];
  modeFrequency?: number;
  min?: string;
  max?: string;
  range?: string;
  varianceSample?: string | null;
  variancePopulation?: string;
  stddevSample?: string | null;
  stddevPopulation?: string;
  percentiles?: { p: number; value: string }[];
  percentileMethod?: string;
  precision: number;
  notes: string[];
}

/**
 * Working digits for the exact sums: enough to square any single operand (2100 characters), while a
 * full request of values that wide still sums in about a second (cost grows with width × count).
 */
const MAX_WORKING_PRECISION = 5_000;
const GUARD_DIGITS = 10;

/**
 * Statistics computed exactly: sums and sums of squares are carried with enough working digits to
 * be exact, and only the final division or square root is rounded to `precision`. Variance uses
 * S = n·Σx² − (Σx)², which is exact here (with floats it cancels catastrophically).
 */
export function computeStatistics(
  request: StatisticsRequest,
): { ok: true; result: StatisticsResult } | { ok: false; error: string } {
  const wanted = new Set<Measure>(request.measures ?? MEASURES);
  const probe = decimalContext(request.precision, "half_even");
  const parsed: Decimal[] = [];
  for (const [index, text] of request.values.entries()) {
    const value = parseDecimal(probe, text, `values[${index}]`);
    if (!value.ok) return value;
    parsed.push(value.value);
  }
  const n = parsed.length;

  // Digits needed for an exact Σx²: twice the span from the highest integer digit to the lowest
  // fractional digit, plus the digits the count adds.
  let highest = 0;
  let fractional = 0;
  for (const value of parsed) {
    if (!value.isZero()) highest = Math.max(highest, value.e + 1);
    fractional = Math.max(fractional, value.decimalPlaces());
  }
  const countDigits = String(n).length + 1;
  const working = 2 * (highest + fractional + countDigits) + GUARD_DIGITS;
  if (working > MAX_WORKING_PRECISION) {
    return {
      ok: false,
      error: `values span too many digits for exact statistics (needs ${working} working digits, limit ${MAX_WORKING_PRECISION})`,
    };
  }
  const W = decimalContext(Math.max(working, request.precision + GUARD_DIGITS), "half_even");
  const P = decimalContext(request.precision, "half_even");
  const G = decimalContext(request.precision + GUARD_DIGITS, "half_even");
  const xs = parsed.map((value) => new W(value));
  const sorted = [...xs].sort((a, b) => a.comparedTo(b));
  const notes: string[] = [];
  const result: StatisticsResult = { count: n, precision: request.precision, notes };
  const out = (value: Decimal): string =>
    formatDecimal(new P(value).toSignificantDigits(request.precision));
  // Exact numerator and denominator, so decimal.js rounds the quotient once, correctly.
  const quotient = (a: Decimal, b: Decimal): string => formatDecimal(new P(a).dividedBy(new P(b)));

  const sum = xs.reduce((acc, x) => acc.plus(x), new W(0));
  const count = new W(n);
  if (wanted.has("sum")) result.sum = formatDecimal(sum);
  if (wanted.has("mean")) result.mean = quotient(sum, count);
  if (wanted.has("min")) result.min = formatDecimal(first(sorted));
  if (wanted.has("max")) result.max = formatDecimal(last(sorted));
  if (wanted.has("range")) result.range = formatDecimal(last(sorted).minus(first(sorted)));
  if (wanted.has("median")) result.median = out(quantile(W, sorted, new W(50)));
  if (wanted.has("mode")) {
    const { modes, frequency } = modesOf(sorted);
    result.modes = modes;
    result.modeFrequency = frequency;
    if (frequency === 1 && n > 1) notes.push("every value occurs once, so every value is a mode");
  }
  if (wanted.has("percentiles")) {
    const ps = request.percentiles ?? [25, 50, 75];
    result.percentiles = ps.map((p) => ({ p, value: out(quantile(W, sorted, new W(p))) }));
    result.percentileMethod = PERCENTILE_METHOD;
  }

  const needsSpread = [
    "variance_sample",
    "variance_population",
    "stddev_sample",
    "stddev_population",
  ].some((m) => wanted.has(m as Measure));
  if (needsSpread) {
    const sumSquares = xs.reduce((acc, x) => acc.plus(x.times(x)), new W(0));
    const spread = count.times(sumSquares).minus(sum.times(sum)); // n·Σx² − (Σx)², exact and ≥ 0
    const populationDenominator = count.times(count);
    if (wanted.has("variance_population"))
      result.variancePopulation = quotient(spread, populationDenominator);
    if (wanted.has("stddev_population")) {
      result.stddevPopulation = out(
        new G(spread).dividedBy(new G(populationDenominator)).squareRoot(),
      );
    }
    const sampleWanted = wanted.has("variance_sample") || wanted.has("stddev_sample");
    if (sampleWanted && n < 2) {
      notes.push("sample variance and standard deviation need at least 2 values");
      if (wanted.has("variance_sample")) result.varianceSample = null;
      if (wanted.has("stddev_sample")) result.stddevSample = null;
    } else if (sampleWanted) {
      const sampleDenominator = count.times(count.minus(1));
      if (wanted.has("variance_sample"))
        result.varianceSample = quotient(spread, sampleDenominator);
      if (wanted.has("stddev_sample")) {
        const variance = new G(spread).dividedBy(new G(sampleDenominator));
        result.stddevSample = out(variance.squareRoot());
      }
    }
  }
  return { ok: true, result };
}

function first(sorted: Decimal[]): Decimal {
  return sorted[0] as Decimal;
}

function last(sorted: Decimal[]): Decimal {
  return sorted[sorted.length - 1] as Decimal;
}

/** Type 7 quantile on sorted data; exact in the working context. */
function quantile(W: DecimalClass, sorted: Decimal[], percent: Decimal): Decimal {
  const h = new W(sorted.length - 1).times(percent).dividedBy(100);
  const lowIndex = h.floor().toNumber();
  const low = sorted[lowIndex] as Decimal;
  const high = sorted[Math.min(lowIndex + 1, sorted.length - 1)] as Decimal;
  return low.plus(h.minus(lowIndex).times(high.minus(low)));
}

function modesOf(sorted: Decimal[]): { modes: string[]; frequency: number } {
  let best = 0;
  let modes: string[] = [];
  let index = 0;
  while (index < sorted.length) {
    let end = index + 1;
    while (end < sorted.length && (sorted[end] as Decimal).equals(sorted[index] as Decimal))
      end += 1;
    const run = end - index;
    const value = formatDecimal(sorted[index] as Decimal);
    if (run > best) {
      best = run;
      modes = [value];
    } else if (run === best) {
      modes.push(value);
    }
    index = end;
  }
  return { modes, frequency: best };
}
