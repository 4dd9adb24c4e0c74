import { describe, expect, it } from "vitest";
import { convertUnitsTool, listUnitsTool } from "../src/calculator-tools.ts";
import { DIMENSIONS, UNITS } from "../src/unit-table.ts";
import { toolErrorOf as errorOf, toolResultOf as resultOf } from "../../kit/src/testing.ts";

async function convert(
  value: string,
  from: string,
  to: string,
  precision = 28,
): Promise<Record<string, unknown>> {
  return resultOf(convertUnitsTool, { value, from, to, precision });
}

describe("convert_units known values", () => {
  it.each([
    ["1", "in", "m", "0.0254", true],
    ["1", "mi", "km", "1.609344", true],
    ["1", "ly", "au", "63241.07708426628026865358318", false],
    ["1", "lb", "g", "453.59237", true],
    ["1", "st", "lb", "14", true],
    ["1", "wk", "h", "168", true],
    ["1", "yr", "d", "365.25", true],
    ["100", "degC", "degF", "212", true],
    ["-40", "degC", "degF", "-40", true],
    ["0", "K", "degC", "-273.15", true],
    ["98.6", "°F", "degC", "37", true],
    ["0", "degF", "degR", "459.67", true],
    ["1", "gal", "L", "3.785411784", true],
    ["1", "imp_gal", "L", "4.54609", true],
    ["1", "acre", "ha", "0.40468564224", true],
    ["1", "mi2", "km2", "2.589988110336", true],
    ["60", "mph", "km/h", "96.56064", true],
    ["1", "kn", "km/h", "1.852", true],
    ["1", "GiB", "B", "1073741824", true],
    ["1", "MB", "MiB", "0.95367431640625", true],
    ["1", "Gbit", "MB", "125", true],
    ["1", "atm", "Pa", "101325", true],
    ["760", "torr", "atm", "1", true],
    ["1", "psi", "Pa", "6894.757293168361336722673445", false],
    ["1", "kWh", "J", "3600000", true],
    ["1", "kcal", "kJ", "4.184", true],
    ["1", "eV", "J", "0.0000000000000000001602176634", true],
    ["1", "BTU", "J", "1055.05585262", true],
  ])("%s %s → %s = %s", async (value, from, to, expected, exact) => {
    const output = await convert(value, from, to);
    expect(output.value).toBe(expected);
    expect(output.exact).toBe(exact);
  });
});

describe("convert_units round trips in every family", () => {
  for (const dimension of DIMENSIONS) {
    const units = UNITS.filter((unit) => unit.dimension === dimension);
    it(`${dimension}: every unit to the base unit and back`, async () => {
      expect(units.length).toBeGreaterThan(1);
      for (const unit of units) {
        // Below 0 K is refused, so absolute scales (K, degR) round-trip a positive value instead.
        const negative = dimension === "temperature" && unit.offset === "0" ? "0.5" : "-0.5";
        for (const value of ["123.456", negative, "1e-12"]) {
          const to = units[0]!.symbol === unit.symbol ? units[1]!.symbol : units[0]!.symbol;
          const there = await convert(value, unit.symbol, to, 60);
          const back = await convert(there.value as string, to, unit.symbol, 60);
          const rounded = await resultOf(convertUnitsTool, {
            value: back.value,
            from: unit.symbol,
            to: unit.symbol,
            precision: 40,
          });
          expect(rounded.value, `${value} ${unit.symbol} → ${to} → back`).toBe(
            (
              await resultOf(convertUnitsTool, {
                value,
                from: unit.symbol,
                to: unit.symbol,
                precision: 40,
              })
            ).value,
          );
        }
      }
    });
  }
});

describe("convert_units errors", () => {
  it("unknown unit", async () => {
    expect(await errorOf(convertUnitsTool, { value: "1", from: "furlong", to: "m" })).toBe(
      'unknown source unit "furlong"; call list_units to see the supported units',
    );
  });

  it("case hint", async () => {
    expect(await errorOf(convertUnitsTool, { value: "1", from: "m", to: "KM" })).toMatch(
      /did you mean "km"\?/,
    );
  });

  it("incompatible dimensions", async () => {
    expect(await errorOf(convertUnitsTool, { value: "1", from: "m", to: "kg" })).toBe(
      "cannot convert length (m) to mass (kg): the units measure different quantities",
    );
  });

  it("bad value", async () => {
    expect(await errorOf(convertUnitsTool, { value: "ten", from: "m", to: "km" })).toMatch(
      /not a decimal number/,
    );
  });

  it.each([
    { value: 1, from: "m", to: "km" },
    { value: "1", from: "", to: "km" },
    { value: "1", from: "m" },
  ])("schema rejects %j", async (args) => {
    expect((await errorOf(convertUnitsTool, args)).length).toBeGreaterThan(0);
  });
});

describe("convert_units absolute zero", () => {
  it.each([
    ["0", "K", "degC", "-273.15"],
    ["-0", "K", "degF", "-459.67"],
    ["-273.15", "degC", "K", "0"],
    ["-273.15", "°C", "degR", "0"],
    ["-459.67", "degF", "K", "0"],
    ["-459.67", "fahrenheit", "degC", "-273.15"],
    ["0", "degR", "degF", "-459.67"],
    ["-2.7315e2", "celsius", "kelvin", "0"],
    ["-273.1499999999999999999999999999999999", "degC", "K", "1e-34"],
  ])("%s %s is at or above absolute zero: → %s = %s", async (value, from, to, expected) => {
    const output = await convert(value, from, to, 40);
    expect(output.value).toBe(expected);
  });

  it.each([
    ["-0.0000000001", "K", "K", "0"],
    ["-1", "kelvin", "degC", "0"],
    ["-273.15000000000000000000000000000000000001", "degC", "K", "-273.15"],
    ["-273.16", "°C", "degF", "-273.15"],
    ["-300", "degC", "K", "-273.15"],
    ["-459.68", "degF", "K", "-459.67"],
    ["-1000", "F", "degC", "-459.67"],
    ["-0.5", "degR", "K", "0"],
    ["-1e99999", "degC", "K", "-273.15"],
  ])("%s %s is below absolute zero", async (value, from, to, minimum) => {
    const message = await errorOf(convertUnitsTool, { value, from, to });
    const symbol = (await convert("300", from, "K")).from as string;
    expect(message).toBe(
      `temperature below absolute zero: a value in ${symbol} must be at least ${minimum} (0 K)`,
    );
  });

  it("leaves negative values of other dimensions alone", async () => {
    expect((await convert("-1", "km", "m")).value).toBe("-1000");
    expect((await convert("-300", "J", "kJ")).value).toBe("-0.3");
  });
});

describe("list_units", () => {
  it("lists every dimension with definitions", async () => {
    const output = await resultOf(listUnitsTool, {});
    const dimensions = output.dimensions as {
      dimension: string;
      units: { symbol: string; definition: string }[];
    }[];
    expect(dimensions.map((d) => d.dimension)).toEqual([...DIMENSIONS]);
    const inch = dimensions[0]!.units.find((u) => u.symbol === "in");
    expect(inch?.definition).toBe("1 in = 0.0254 m");
  });

  it("filters by dimension and rejects unknown ones", async () => {
    const output = await resultOf(listUnitsTool, { dimension: "temperature" });
    expect((output.dimensions as unknown[]).length).toBe(1);
    expect((await errorOf(listUnitsTool, { dimension: "colour" })).length).toBeGreaterThan(0);
  });
});
