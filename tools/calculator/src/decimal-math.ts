import { Decimal } from "decimal.js";

/**
 * Exact decimal arithmetic over decimal.js. Every operation returns data: a value or an error
 * message written for the model (division by zero, overflow, non-real results), never an exception.
 */

export type DecimalClass = typeof Decimal;
export type Calc = { ok: true; value: Decimal } | { ok: false; error: string };

export const ROUNDING_MODES = [
  "up",
  "down",
  "ceil",
  "floor",
  "half_up",
  "half_down",
  "half_even",
  "half_ceil",
  "half_floor",
] as const;
export type RoundingMode = (typeof ROUNDING_MODES)[number];

// A Map, so that a mode name reaching the lookup (the schemas admit only ROUNDING_MODES) can never
// find an Object.prototype member.
const ROUNDING_CODE: ReadonlyMap<string, Decimal.Rounding> = new Map<
  RoundingMode,
  Decimal.Rounding
>([
  ["up", Decimal.ROUND_UP],
  ["down", Decimal.ROUND_DOWN],
  ["ceil", Decimal.ROUND_CEIL],
  ["floor", Decimal.ROUND_FLOOR],
  ["half_up", Decimal.ROUND_HALF_UP],
  ["half_down", Decimal.ROUND_HALF_DOWN],
  ["half_even", Decimal.ROUND_HALF_EVEN],
  ["half_ceil", Decimal.ROUND_HALF_CEIL],
  ["half_floor", Decimal.ROUND_HALF_FLOOR],
]);

function roundingCode(mode: RoundingMode): Decimal.Rounding {
  const code = ROUNDING_CODE.get(mode);
  // decimal.js would silently use its default for an undefined mode; a wrong answer is worse.
  if (code === undefined)
    throw new RangeError(`unknown rounding mode: ${String(mode).slice(0, 40)}`);
  return code;
}

export const MIN_PRECISION = 1;
export const MAX_PRECISION = 1000;
export const DEFAULT_PRECISION = 28;
/** Longest accepted operand: enough for 1000 significant digits plus sign, point and exponent. */
export const MAX_OPERAND_LENGTH = 2100;

/**
 * A Decimal constructor bound to one call's precision and rounding, so concurrent calls never
 * share mutable configuration. Results print in plain notation unless they are tinier than 1e-30
 * or have more integer digits than the precision can hold, which keeps output short and readable.
 */
export function decimalContext(precision: number, rounding: RoundingMode): DecimalClass {
  return Decimal.clone({
    precision,
    rounding: roundingCode(rounding),
    toExpPos: Math.max(21, precision),
    toExpNeg: -30,
    maxE: 9e15,
    minE: -9e15,
    modulo: Decimal.ROUND_DOWN,
  });
}

// Only plain decimal notation: decimal.js would also accept hex, binary, NaN and Infinity. The
// exponent may have any number of digits; what falls outside the range is refused below.
const DECIMAL_STRING = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/** The representable magnitudes (decimalContext's maxE and minE), as the messages state them. */
export const RANGE_TEXT = "1e-9000000000000000 <= |x| < 1e9000000000000001";

export function parseDecimal(D: DecimalClass, text: string, label: string): Calc {
  if (text.length > MAX_OPERAND_LENGTH) {
    return { ok: false, error: `${label} is longer than ${MAX_OPERAND_LENGTH} characters` };
  }
  const trimmed = text.trim();
  if (!DECIMAL_STRING.test(trimmed)) {
    return {
      ok: false,
      error: `${label} "${preview(text)}" is not a decimal number (expected digits with an optional sign, point and exponent, e.g. "-12.5e3")`,
    };
  }
  const value = new D(trimmed);
  // decimal.js turns a too-small literal into 0 and a too-large one into Infinity without a word.
  const nonZeroLiteral = /[1-9]/.test(trimmed.split(/[eE]/)[0] as string);
  if (!value.isFinite() || (nonZeroLiteral && value.isZero())) {
    return { ok: false, error: `${label} "${preview(text)}" is out of range (${RANGE_TEXT})` };
  }
  return { ok: true, value };
}

function preview(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

function checked(value: Decimal, what: string, inputsNonZero: boolean): Calc {
  if (value.isNaN()) return { ok: false, error: `${what} has no defined result` };
  if (!value.isFinite()) {
    return {
      ok: false,
      error: `overflow: the result of ${what} exceeds the representable range (${RANGE_TEXT})`,
    };
  }
  if (inputsNonZero && value.isZero()) {
    return {
      ok: false,
      error: `underflow: the result of ${what} is smaller than the representable range (${RANGE_TEXT})`,
    };
  }
  return { ok: true, value };
}

export function add(a: Decimal, b: Decimal): Calc {
  return checked(a.plus(b), "the addition", false);
}

export function subtract(a: Decimal, b: Decimal): Calc {
  return checked(a.minus(b), "the subtraction", false);
}

export function multiply(a: Decimal, b: Decimal): Calc {
  return checked(a.times(b), "the multiplication", !a.isZero() && !b.isZero());
}

export function divide(a: Decimal, b: Decimal): Calc {
  if (b.isZero()) return { ok: false, error: "division by zero" };
  return checked(a.dividedBy(b), "the division", !a.isZero());
}

/**
 * decimal.js computes the whole integer quotient to find a remainder, so its size is bounded: more
 * digits than this take seconds and, with exponents in the quadrillions, exhaust the heap.
 */
export const MAX_MODULO_QUOTIENT_DIGITS = 10 * MAX_PRECISION;

/** Truncating modulo: the result has the sign of the dividend (like C, Java and JavaScript `%`). */
export function modulo(a: Decimal, b: Decimal): Calc {
  if (b.isZero()) return { ok: false, error: "modulo by zero" };
  if (!a.isZero() && a.e - b.e >= MAX_MODULO_QUOTIENT_DIGITS) {
    return {
      ok: false,
      error: `modulo out of range: the dividend is about 1e${a.e - b.e} times the divisor, and the quotient may have at most ${MAX_MODULO_QUOTIENT_DIGITS} digits`,
    };
  }
  return checked(a.modulo(b), "the modulo", false);
}

export function power(base: Decimal, exponent: Decimal): Calc {
  if (base.isZero()) {
    if (exponent.isNegative() && !exponent.isZero()) {
      return { ok: false, error: "division by zero: 0 raised to a negative power" };
    }
    // 0^0 = 1 by the usual convention for exact arithmetic.
    return {
      ok: true,
      value: exponent.isZero() ? new (base.constructor as DecimalClass)(1) : base.abs(),
    };
  }
  if (base.isNegative() && !exponent.isInteger()) {
    return {
      ok: false,
      error: "a negative base raised to a non-integer exponent has no real result",
    };
  }
  return checked(base.toPower(exponent), "the power", true);
}

export function squareRoot(a: Decimal): Calc {
  if (a.isNegative() && !a.isZero()) {
    return { ok: false, error: "square root of a negative number has no real result" };
  }
  return checked(a.squareRoot(), "the square root", !a.isZero());
}

/**
 * Rounds once, at whichever position is coarser: `decimalPlaces` digits after the point or
 * `precision` significant digits (two roundings in a row could round a tie twice).
 */
export function roundTo(
  a: Decimal,
  decimalPlaces: number,
  precision: number,
  mode: RoundingMode,
): Calc {
  const placesForPrecision = precision - 1 - a.e;
  const value =
    a.isZero() || decimalPlaces <= placesForPrecision
      ? a.toDecimalPlaces(decimalPlaces, roundingCode(mode))
      : a.toSignificantDigits(precision, roundingCode(mode));
  return { ok: true, value };
}

/** Canonical output: no trailing zeros, "-0" shown as "0". */
export function formatDecimal(value: Decimal): string {
  return value.isZero() ? "0" : value.toString();
}
