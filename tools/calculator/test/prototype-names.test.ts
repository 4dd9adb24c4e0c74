import { describe, expect, it } from "vitest";
import {
  convertUnitsTool,
  evaluateExpressionTool,
  exactCalculateTool,
  listUnitsTool,
  statisticsTool,
} from "../src/calculator-tools.ts";
import { decimalContext, roundTo } from "../src/decimal-math.ts";
import { parseExpression } from "../src/expression.ts";
import { callToolInProcess, toolErrorOf as errorOf } from "../../kit/src/testing.ts";

/**
 * Names a user types are looked up in tables; none of Object.prototype's members may be found
 * there. Each must be a plain "unknown …" tool error, never the kit's internal-error answer.
 */

const PROTOTYPE_NAMES = Object.getOwnPropertyNames(Object.prototype);
const INTERNAL = /internal error/;

describe("evaluate_expression refuses Object.prototype names as functions", () => {
  it("covers the names from the issue and every other prototype member", () => {
    expect(PROTOTYPE_NAMES).toEqual(
      expect.arrayContaining([
        "constructor",
        "toString",
        "__proto__",
        "hasOwnProperty",
        "valueOf",
        "isPrototypeOf",
        "propertyIsEnumerable",
        "toLocaleString",
        "__defineGetter__",
        "__lookupSetter__",
      ]),
    );
  });

  it.each([
    ["constructor(1)", "constructor"],
    ["toString(1)", "toString"],
    ["__proto__(1)", "__proto__"],
    ["hasOwnProperty(1)", "hasOwnProperty"],
    ["valueOf(1,2)", "valueOf"],
    ["1 + constructor(2) * 3", "constructor"],
    ["sqrt(toString(4))", "toString"],
    ["constructor", "constructor"],
    ["__proto__ + 1", "__proto__"],
  ])("%s → unknown function: %s", async (expression, name) => {
    const result = await callToolInProcess(evaluateExpressionTool, { expression });
    expect(result.isError).toBe(true);
    const text = (result.content[0] as { text: string }).text;
    expect(text).toMatch(
      new RegExp(
        `^cannot parse expression: unknown function: ${name} at position \\d+; available: sqrt, abs, pow, mod, round, compare$`,
      ),
    );
    expect(text).not.toMatch(INTERNAL);
  });

  it.each(PROTOTYPE_NAMES)("%s(1) and %s(1, 2) are unknown functions", async (name) => {
    for (const expression of [`${name}(1)`, `${name}(1, 2)`, `${name}()`]) {
      expect(await errorOf(evaluateExpressionTool, { expression })).toBe(
        `cannot parse expression: unknown function: ${name} at position 1; available: sqrt, abs, pow, mod, round, compare`,
      );
    }
    expect(parseExpression(`${name}(1)`)).toEqual({
      ok: false,
      error: `unknown function: ${name} at position 1; available: sqrt, abs, pow, mod, round, compare`,
    });
  });

  it("still evaluates the real functions", async () => {
    const result = await callToolInProcess(evaluateExpressionTool, {
      expression: "round(sqrt(16) + abs(-2) + pow(2, 3) + mod(7, 4) + compare(2, 1), 0)",
    });
    expect(result.structuredContent).toMatchObject({ result: "18" });
  });

  it("shortens a very long unknown name in the message", async () => {
    const name = `constructor${"x".repeat(500)}`;
    const message = await errorOf(evaluateExpressionTool, { expression: `${name}(1)` });
    expect(message).toBe(
      `cannot parse expression: unknown function: ${name.slice(0, 40)} at position 1; available: sqrt, abs, pow, mod, round, compare`,
    );
  });
});

describe("other tables refuse Object.prototype names", () => {
  it.each(PROTOTYPE_NAMES)("exact_calculate operator %s is refused by the schema", async (name) => {
    const message = await errorOf(exactCalculateTool, { operator: name, operands: ["1", "2"] });
    expect(message).toMatch(/^Invalid arguments for tool exact_calculate: /);
  });

  it.each(PROTOTYPE_NAMES)("rounding mode %s is refused by the schema", async (name) => {
    for (const [tool, args] of [
      [exactCalculateTool, { operator: "add", operands: ["1", "2"], rounding: name }],
      [evaluateExpressionTool, { expression: "1", rounding: name }],
    ] as const) {
      expect(await errorOf(tool, args)).toMatch(/^Invalid arguments for tool /);
    }
  });

  it.each(PROTOTYPE_NAMES)("unit %s is unknown", async (name) => {
    expect(await errorOf(convertUnitsTool, { value: "1", from: name, to: "m" })).toMatch(
      new RegExp(`^unknown source unit "${name.replace(/[$]/g, "\\$&")}"`),
    );
    expect(await errorOf(convertUnitsTool, { value: "1", from: "m", to: name })).toMatch(
      /^unknown target unit "/,
    );
  });

  it.each(PROTOTYPE_NAMES)("dimension and measure %s are refused by the schema", async (name) => {
    expect(await errorOf(listUnitsTool, { dimension: name })).toMatch(/^Invalid arguments/);
    expect(await errorOf(statisticsTool, { values: ["1"], measures: [name] })).toMatch(
      /^Invalid arguments/,
    );
  });

  it("refuses an unknown rounding mode that bypassed the schema instead of rounding by default", () => {
    expect(() => decimalContext(10, "constructor" as never)).toThrow(
      /^unknown rounding mode: constructor$/,
    );
    const D = decimalContext(10, "half_even");
    expect(() => roundTo(new D("2.5"), 0, 10, "toString" as never)).toThrow(
      /^unknown rounding mode: toString$/,
    );
  });
});
