import { describe, expect, it } from "vitest";
import { exactCalculateTool } from "../src/calculator-tools.ts";
import { toolErrorOf as errorOf, toolResultOf as resultOf } from "../../kit/src/testing.ts";

async function calc(
  operator: string,
  operands: string[],
  extra: Record<string, unknown> = {},
): Promise<string> {
  const output = await resultOf(exactCalculateTool, { operator, operands, ...extra });
  return output.result as string;
}

describe("exact_calculate arithmetic", () => {
  it.each([
    ["add", ["1.2", "2.3"], {}, "3.5"],
    ["add", ["0.1", "0.2"], {}, "0.3"],
    ["subtract", ["0.3", "0.1"], {}, "0.2"],
    ["multiply", ["1.1", "1.1"], {}, "1.21"],
    ["add", ["1", "1e-30"], { precision: 50 }, "1.000000000000000000000000000001"],
    ["add", ["1", "1e-30"], { precision: 28 }, "1"],
    ["multiply", ["1e500", "1e500"], {}, "1e+1000"],
    ["multiply", ["1e-400", "1e-400"], {}, "1e-800"],
    ["divide", ["1", "3"], { precision: 5 }, "0.33333"],
    ["divide", ["2", "3"], { precision: 5 }, "0.66667"],
    ["divide", ["1", "3"], { precision: 1 }, "0.3"],
    ["divide", ["10", "4"], {}, "2.5"],
    ["add", ["1", "2", "3", "4.5"], {}, "10.5"],
    ["subtract", ["10", "1", "2"], {}, "7"],
    ["mod", ["7", "3"], {}, "1"],
    ["mod", ["-7", "3"], {}, "-1"],
    ["mod", ["7.5", "2"], {}, "1.5"],
    ["abs", ["-3.25"], {}, "3.25"],
    ["negate", ["3.25"], {}, "-3.25"],
    ["negate", ["0"], {}, "0"],
    ["compare", ["0.30", "0.3"], {}, "0"],
    ["compare", ["-1", "1"], {}, "-1"],
    ["compare", ["1e3", "999.9999"], {}, "1"],
  ])("%s %j %j = %s", async (operator, operands, extra, expected) => {
    expect(await calc(operator, operands, extra)).toBe(expected);
  });

  it("keeps all 1000 requested digits", async () => {
    const third = await calc("divide", ["1", "3"], { precision: 1000 });
    expect(third).toBe(`0.${"3".repeat(1000)}`);
  });

  it("reports the comparison word", async () => {
    const output = await resultOf(exactCalculateTool, {
      operator: "compare",
      operands: ["2", "1"],
    });
    expect(output).toMatchObject({ result: "1", comparison: "greater" });
  });
});

describe("exact_calculate power and sqrt", () => {
  it.each([
    [["2", "10"], {}, "1024"],
    [["2", "-2"], {}, "0.25"],
    [["-2", "3"], {}, "-8"],
    [["4", "0.5"], {}, "2"],
    [["2", "0.5"], { precision: 20 }, "1.4142135623730950488"],
    [["0", "0"], {}, "1"],
    [["0", "5"], {}, "0"],
    [["1.5", "2"], {}, "2.25"],
    [["10", "-30"], {}, "1e-30"],
    [["2", "100"], { precision: 40 }, "1267650600228229401496703205376"],
  ])("power %j %j = %s", async (operands, extra, expected) => {
    expect(await calc("power", operands, extra)).toBe(expected);
  });

  it.each([
    ["2", 50, "1.4142135623730950488016887242096980785696718753769"],
    ["0.25", 28, "0.5"],
    ["0", 28, "0"],
    ["1e-100", 28, "1e-50"],
    ["152415787532388367501905199875019052100", 60, "12345678901234567890"],
  ])("sqrt %s (precision %d) = %s", async (operand, precision, expected) => {
    expect(await calc("sqrt", [operand], { precision })).toBe(expected);
  });

  it.each([
    ["power", ["0", "-1"], /division by zero/],
    ["power", ["-8", "0.5"], /negative base .* non-integer exponent/],
    ["power", ["10", "1e16"], /overflow/],
    ["multiply", ["1e9000000000000000", "1e9000000000000000"], /overflow/],
    ["multiply", ["1e-5000000000000000", "1e-5000000000000000"], /underflow/],
    ["sqrt", ["-1"], /negative number has no real result/],
    ["divide", ["1", "0"], /division by zero/],
    ["divide", ["0", "0.000"], /division by zero/],
    ["mod", ["5", "0"], /modulo by zero/],
  ])("%s %j is an error", async (operator, operands, message) => {
    expect(await errorOf(exactCalculateTool, { operator, operands })).toMatch(message);
  });
});

describe("exact_calculate rounding", () => {
  const modes = [
    "up",
    "down",
    "ceil",
    "floor",
    "half_up",
    "half_down",
    "half_even",
    "half_ceil",
    "half_floor",
  ];
  const table: Record<string, string[]> = {
    // value: results in the order of `modes`
    "2.5": ["3", "2", "3", "2", "3", "2", "2", "3", "2"],
    "-2.5": ["-3", "-2", "-2", "-3", "-3", "-2", "-2", "-2", "-3"],
    "3.5": ["4", "3", "4", "3", "4", "3", "4", "4", "3"],
    "2.51": ["3", "2", "3", "2", "3", "3", "3", "3", "3"],
    "-2.49": ["-3", "-2", "-2", "-3", "-2", "-2", "-2", "-2", "-2"],
  };
  for (const [value, expected] of Object.entries(table)) {
    for (const [index, mode] of modes.entries()) {
      it(`round ${value} with ${mode} = ${expected[index]}`, async () => {
        expect(await calc("round", [value], { rounding: mode })).toBe(expected[index]);
      });
    }
  }

  it("rounds to decimal places", async () => {
    expect(await calc("round", ["2.345"], { decimalPlaces: 2, rounding: "half_even" })).toBe(
      "2.34",
    );
    expect(await calc("round", ["2.345"], { decimalPlaces: 2, rounding: "half_up" })).toBe("2.35");
    expect(await calc("round", ["1.005"], { decimalPlaces: 2, rounding: "half_up" })).toBe("1.01");
  });

  it.each([
    // value, decimalPlaces, precision, rounding, expected
    ["1234567890123456789012345678.9", 0, 5, "half_even", "1.2346e+27"],
    ["123.456", 2, 4, "half_even", "123.5"],
    ["123.456", 2, 28, "half_even", "123.46"],
    ["0.000123456", 5, 2, "half_even", "0.00012"],
    ["0.000123456", 8, 2, "half_even", "0.00012"],
    ["99.96", 1, 3, "half_up", "100"],
    // One rounding at the coarser position, never two in a row (1.2349 → 1.235 → 1.24 would be wrong).
    ["1.2349", 3, 3, "half_up", "1.23"],
  ])(
    "round %s to %d places with precision %d (%s) = %s",
    async (value, decimalPlaces, precision, rounding, expected) => {
      expect(await calc("round", [value], { decimalPlaces, precision, rounding })).toBe(expected);
    },
  );

  it("applies the rounding mode to precision rounding", async () => {
    expect(await calc("divide", ["2", "3"], { precision: 3, rounding: "down" })).toBe("0.666");
    expect(await calc("divide", ["2", "3"], { precision: 3, rounding: "up" })).toBe("0.667");
  });
});

describe("exact_calculate bad input", () => {
  it.each(["abc", "0x10", "0b101", "NaN", "Infinity", "1e", "", "1.2.3", "--1", "1,5", " "])(
    "rejects operand %j",
    async (operand) => {
      const error = await errorOf(exactCalculateTool, {
        operator: "add",
        operands: ["1", operand],
      });
      expect(error).toMatch(/operands\[1\] .* is not a decimal number/);
    },
  );

  it("rejects wrong operand counts", async () => {
    expect(await errorOf(exactCalculateTool, { operator: "divide", operands: ["1"] })).toBe(
      "divide takes exactly 2 operand(s), got 1",
    );
    expect(await errorOf(exactCalculateTool, { operator: "sqrt", operands: ["1", "2"] })).toMatch(
      /exactly 1/,
    );
    expect(await errorOf(exactCalculateTool, { operator: "add", operands: ["1"] })).toMatch(
      /at least 2/,
    );
  });

  it.each([
    { operator: "add", operands: ["1", "2"], precision: 0 },
    { operator: "add", operands: ["1", "2"], precision: 1001 },
    { operator: "add", operands: ["1", "2"], precision: 2.5 },
    { operator: "cube", operands: ["1"] },
    { operator: "add", operands: [1, 2] },
    { operator: "add", operands: [] },
    { operator: "round", operands: ["1"], rounding: "bankers" },
    { operator: "add", operands: ["1", "2"], extra: true },
  ])("rejects schema violation %j", async (args) => {
    const run = await errorOf(exactCalculateTool, args);
    expect(run.length).toBeGreaterThan(0);
  });

  it("rejects operands longer than the limit", async () => {
    const error = await errorOf(exactCalculateTool, {
      operator: "add",
      operands: ["1", "1".repeat(3000)],
    });
    expect(error).toMatch(/too_big|2100/);
  });
});
