import { describe, expect, it } from "vitest";
import {
  convertUnitsTool,
  evaluateExpressionTool,
  exactCalculateTool,
  statisticsTool,
} from "../src/calculator-tools.ts";
import { decimalContext } from "../src/decimal-math.ts";
import { evaluate, parseExpression } from "../src/expression.ts";
import {
  callToolInProcess,
  toolErrorOf as errorOf,
  toolResultOf as resultOf,
} from "../../kit/src/testing.ts";

/**
 * Inputs that once crashed the process, exhausted the stack or ran for seconds. Each must come back
 * as a tool-level error (or a quick result), never as an internal error.
 */
describe("hostile inputs are refused with a precise message", () => {
  it.each([
    [
      "exact_calculate",
      { operator: "mod", operands: ["1e9000000000000000", "7"] },
      /^modulo out of range: the dividend is about 1e9000000000000000 times the divisor, and the quotient may have at most 10000 digits$/,
    ],
    [
      "exact_calculate",
      { operator: "mod", operands: ["1e2000000", "7"] },
      /^modulo out of range: .*1e2000000 times/,
    ],
    [
      "exact_calculate",
      { operator: "mod", operands: ["1", "1e-10000"] },
      /^modulo out of range: .*1e10000 times/,
    ],
    [
      "exact_calculate",
      { operator: "compare", operands: ["1e-9999999999999999", "0"] },
      /^operands\[0\] "1e-9999999999999999" is out of range \(1e-9000000000000000 <= \|x\| < 1e9000000000000001\)$/,
    ],
    [
      "exact_calculate",
      { operator: "divide", operands: ["1", "-1e-9000000000000001"] },
      /^operands\[1\] .* is out of range/,
    ],
    [
      "exact_calculate",
      { operator: "add", operands: ["1", "1e99999999999999999999"] },
      /^operands\[1\] .* is out of range/,
    ],
    [
      "exact_calculate",
      { operator: "power", operands: ["1.0000001", "1e300"] },
      /^overflow: the result of the power exceeds the representable range/,
    ],
    [
      "convert_units",
      { value: "1e1000000000000000", from: "degC", to: "K" },
      /^value is out of range for unit conversion: its magnitude must be between 1e-100000 and 1e100001$/,
    ],
    [
      "convert_units",
      { value: "-2.5e-100001", from: "nm", to: "km" },
      /^value is out of range for unit conversion/,
    ],
    [
      "statistics",
      { values: ["1e3000", "1e-3000"] },
      /^values span too many digits for exact statistics \(needs \d+ working digits, limit 5000\)$/,
    ],
    ["statistics", { values: ["1", "1e-9999999999999999"] }, /^values\[1\] .* is out of range/],
    [
      "evaluate_expression",
      { expression: "1e9000000000000000 % 7" },
      /^modulo out of range: .* \(at position 20\)$/,
    ],
    [
      "evaluate_expression",
      { expression: "mod(1e2000000, 7)" },
      /^modulo out of range: .* \(at position 1\)$/,
    ],
    [
      "evaluate_expression",
      { expression: "1 + 1e-99999999999999999999" },
      /^the number at position 5 "1e-99999999999999999999" is out of range/,
    ],
    [
      "evaluate_expression",
      { expression: "2 ^ 1e99999999999999999999" },
      /^the number at position 5 .* is out of range/,
    ],
  ])("%s %j", async (tool, args, message) => {
    const tools = {
      exact_calculate: exactCalculateTool,
      convert_units: convertUnitsTool,
      statistics: statisticsTool,
      evaluate_expression: evaluateExpressionTool,
    } as const;
    expect(await errorOf(tools[tool as keyof typeof tools], args)).toMatch(message);
  });

  it.each([
    [{ operator: "mod", operands: ["1e9998", "7"] }, "2"],
    [{ operator: "mod", operands: ["7", "1e-9000000000000000"] }, "modulo out of range"],
    [{ operator: "sqrt", operands: ["1e9000000000000000"] }, '"1e+4500000000000000"'],
    [
      { operator: "sqrt", operands: ["1e8999999999999999"] },
      "3.162277660168379331998893544e+4499999999999999",
    ],
    [{ operator: "power", operands: ["1e-9000000000000000", "0.5"] }, "1e-4500000000000000"],
    [
      { operator: "round", operands: ["1.5e9000000000000000"], decimalPlaces: 1000 },
      "1.5e+9000000000000000",
    ],
  ])("exact_calculate %j stays quick: %s", async (args, expected) => {
    const result = await callToolInProcess(exactCalculateTool, args);
    const first = result.content[0];
    expect(first?.type === "text" ? first.text : "").toContain(expected);
  });

  it("evaluates a left-deep chain of 5000 operators without recursing per operator", async () => {
    const sum = await resultOf(evaluateExpressionTool, { expression: "1" + "+1".repeat(4999) });
    expect(sum.result).toBe("5000");
    const product = await resultOf(evaluateExpressionTool, {
      expression: "2" + "*1".repeat(3000) + "-1" + "/1".repeat(1000),
    });
    expect(product.result).toBe("1");
  });

  it("stops an evaluation that runs past its time budget", () => {
    const parsed = parseExpression("2 ^ 0.5 + 1");
    if (!parsed.ok) throw new Error(parsed.error);
    const D = decimalContext(1000, "half_even");
    const result = evaluate(parsed.node, D, "half_even", { deadline: performance.now() - 1 });
    expect(result).toEqual({
      ok: false,
      error:
        "evaluation stopped at position 3: the expression needs more than 2 s of computation at precision 1000; lower the precision or split the expression",
    });
  });
});
