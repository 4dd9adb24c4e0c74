import { describe, expect, it } from "vitest";
import { evaluateExpressionTool } from "../src/calculator-tools.ts";
import { toolErrorOf as errorOf, toolResultOf as resultOf } from "../../kit/src/testing.ts";

async function evaluate(expression: string, extra: Record<string, unknown> = {}): Promise<string> {
  return (await resultOf(evaluateExpressionTool, { expression, ...extra })).result as string;
}

describe("evaluate_expression", () => {
  it.each([
    ["0.1 + 0.2", "0.3"],
    ["1 + 2 * 3", "7"],
    ["(1 + 2) * 3", "9"],
    ["2 ^ 3 ^ 2", "512"],
    ["2 ** 3", "8"],
    ["-2 ^ 2", "-4"],
    ["(-2) ^ 2", "4"],
    ["2 ^ -1", "0.5"],
    ["10 % 3", "1"],
    ["-7 % 3", "-1"],
    ["10 / 4", "2.5"],
    ["1 - - 1", "2"],
    ["+5", "5"],
    [".5 + 1.", "1.5"],
    ["1.5e3 * 2", "3000"],
    ["sqrt(16) + abs(-2)", "6"],
    ["pow(2, 10)", "1024"],
    ["mod(17, 5)", "2"],
    ["round(2.5)", "2"],
    ["round(2.675, 2)", "2.68"],
    ["compare(1, 2)", "-1"],
    ["1 / 3 * 3", "0.9999999999999999999999999999"], // every intermediate is rounded
    ["  ( ( 1 ) )  ", "1"],
  ])("%s = %s", async (expression, expected) => {
    expect(await evaluate(expression)).toBe(expected);
  });

  it("honours precision and rounding", async () => {
    expect(await evaluate("sqrt(2)", { precision: 10 })).toBe("1.414213562");
    expect(await evaluate("2 / 3", { precision: 4, rounding: "down" })).toBe("0.6666");
    expect(await evaluate("round(2.5)", { rounding: "half_up" })).toBe("3");
    expect(await evaluate("123456", { precision: 2 })).toBe("120000");
    expect(await evaluate("round(1.2349, 3)", { precision: 3, rounding: "half_up" })).toBe("1.23");
  });

  it.each([
    ["1 / 0", /division by zero \(at position 3\)/],
    ["1 +", /expected a number, a function or "\(" but found end of expression at position 4/],
    ["1 2", /expected an operator or end of expression but found "2" at position 3/],
    ["(1 + 2", /expected "\)" but found end of expression/],
    ["foo(1)", /^cannot parse expression: unknown function: foo at position 1; available: /],
    ["sqrt 4", /expected "\(" after sqrt/],
    ["pow(2)", /pow\(\) takes 2 argument\(s\), got 1/],
    ["round(1.5, 0.5)", /places must be an integer/],
    ["process.exit(1)", /unknown function: process at position 1|unexpected character "\."/],
    ["1 & 2", /unexpected character "&" at position 3/],
    ["sqrt(-4)", /negative number has no real result/],
    ["0 ^ -1", /division by zero/],
    ["(".repeat(200) + "1" + ")".repeat(200), /nests deeper than 100 levels/],
    ["-".repeat(150) + "1", /nests deeper than 100 levels/],
  ])("%s is an error", async (expression, message) => {
    expect(await errorOf(evaluateExpressionTool, { expression })).toMatch(message);
  });

  it.each([{ expression: "" }, { expression: 5 }, { expression: "1".repeat(10_001) }, {}])(
    "schema rejects %j",
    async (args) => {
      expect((await errorOf(evaluateExpressionTool, args)).length).toBeGreaterThan(0);
    },
  );
});
