import { decimalContext, formatDecimal, parseDecimal } from "./decimal-math.ts";
import {
  BASE_UNIT,
  DIMENSIONS,
  UNITS,
  describeDefinition,
  type Dimension,
  type UnitDefinition,
} from "./unit-table.ts";

const BY_NAME = new Map<string, UnitDefinition>();
for (const unit of UNITS) {
  for (const key of [unit.symbol, ...unit.aliases]) {
    if (BY_NAME.has(key)) throw new Error(`unit table: "${key}" is defined twice`);
    BY_NAME.set(key, unit);
  }
}

export type UnitLookup = { ok: true; unit: UnitDefinition } | { ok: false; error: string };

export function findUnit(name: string, label: string): UnitLookup {
  const unit = BY_NAME.get(name.trim());
  if (unit !== undefined) return { ok: true, unit };
  const lower = name.trim().toLowerCase();
  const near = [...BY_NAME.keys()].filter((key) => key.toLowerCase() === lower);
  const hint =
    near.length > 0
      ? ` (unit names are case-sensitive; did you mean ${near.map((k) => `"${k}"`).join(" or ")}?)`
      : "";
  return {
    ok: false,
    error: `unknown ${label} unit "${name.slice(0, 40)}"${hint}; call list_units to see the supported units`,
  };
}

/**
 * Bounds the working digits of an exact affine conversion (the span from the value down to the
 * offset) and keeps every result far inside the representable range.
 */
export const MAX_VALUE_EXPONENT = 100_000;

export interface Conversion {
  value: string;
  from: string;
  to: string;
  dimension: Dimension;
  exact: boolean;
  precision: number;
}

/**
 * result = ((x + offsetFrom)·numFrom·denTo − offsetTo·denFrom·numTo) / (denFrom·numTo), with the
 * numerator and denominator computed exactly and a single correctly rounded division at the end.
 */
export function convertUnits(request: {
  value: string;
  from: string;
  to: string;
  precision: number;
}): { ok: true; result: Conversion } | { ok: false; error: string } {
  const from = findUnit(request.from, "source");
  if (!from.ok) return from;
  const to = findUnit(request.to, "target");
  if (!to.ok) return to;
  if (from.unit.dimension !== to.unit.dimension) {
    return {
      ok: false,
      error: `cannot convert ${from.unit.dimension} (${from.unit.symbol}) to ${to.unit.dimension} (${to.unit.symbol}): the units measure different quantities`,
    };
  }
  const probe = decimalContext(request.precision, "half_even");
  const parsed = parseDecimal(probe, request.value, "value");
  if (!parsed.ok) return parsed;
  if (!parsed.value.isZero() && Math.abs(parsed.value.e) > MAX_VALUE_EXPONENT) {
    return {
      ok: false,
      error: `value is out of range for unit conversion: its magnitude must be between 1e-${MAX_VALUE_EXPONENT} and 1e${MAX_VALUE_EXPONENT + 1}`,
    };
  }
  const affine = from.unit.offset !== "0" || to.unit.offset !== "0";
  // Enough digits to keep every product exact (unit factors have at most a few dozen digits); an
  // affine sum also needs the span from the value's exponent down to the offset's last digit.
  const spread = affine ? Math.abs(parsed.value.e) : 0;
  const W = decimalContext(parsed.value.precision(false) + spread + 200, "half_even");
  const x = new W(parsed.value);
  // Every temperature scale's factor is positive, so value + offset is below zero exactly when the
  // temperature is below 0 K; lt(0) rather than isNegative() lets "-0 K" through.
  const shifted = x.plus(from.unit.offset);
  if (from.unit.dimension === "temperature" && shifted.lt(0)) {
    const absoluteZero = from.unit.offset === "0" ? "0" : `-${from.unit.offset}`;
    return {
      ok: false,
      error: `temperature below absolute zero: a value in ${from.unit.symbol} must be at least ${absoluteZero} (0 K)`,
    };
  }
  const numerator = shifted
    .times(from.unit.numerator)
    .times(to.unit.denominator)
    .minus(new W(to.unit.offset).times(from.unit.denominator).times(to.unit.numerator));
  const denominator = new W(from.unit.denominator).times(to.unit.numerator);
  const P = decimalContext(request.precision, "half_even");
  const result = new P(numerator).dividedBy(new P(denominator));
  if (!result.isFinite())
    return { ok: false, error: "overflow: the converted value is out of range" };
  const exact = new W(result).times(denominator).equals(numerator);
  return {
    ok: true,
    result: {
      value: formatDecimal(result),
      from: from.unit.symbol,
      to: to.unit.symbol,
      dimension: from.unit.dimension,
      exact,
      precision: request.precision,
    },
  };
}

export interface UnitListing {
  dimension: Dimension;
  baseUnit: string;
  units: { symbol: string; name: string; aliases: string[]; definition: string }[];
}

export function listUnits(dimension?: Dimension): UnitListing[] {
  return DIMENSIONS.filter((d) => dimension === undefined || d === dimension).map((d) => ({
    dimension: d,
    baseUnit: BASE_UNIT[d],
    units: UNITS.filter((unit) => unit.dimension === d).map((unit) => ({
      symbol: unit.symbol,
      name: unit.name,
      aliases: unit.aliases,
      definition: describeDefinition(unit),
    })),
  }));
}
