import { describe, expect, it } from "vitest";
import { statisticsTool } from "../src/calculator-tools.ts";
import { toolErrorOf as errorOf, toolResultOf as resultOf } from "../../kit/src/testing.ts";

describe("statistics on reference data", () => {
  it("NIST StRD NumAcc-style data: 1001 values around 1000000000.2 give mean c and sample sd 0.1 exactly", async () => {
    // Expected values cross-checked with Python decimal. One centre value and 500 values 0.1 either side: Σ(x-c)² = 1000·0.01 = 10, so s² = 10/1000.
    const values = ["1000000000.2"];
    for (let i = 0; i < 500; i += 1) values.push("1000000000.1", "1000000000.3");
    const output = await resultOf(statisticsTool, { values });
    expect(output).toMatchObject({
      count: 1001,
      sum: "1001000000200.2",
      mean: "1000000000.2",
      median: "1000000000.2",
      varianceSample: "0.01",
      stddevSample: "0.1",
      min: "1000000000.1",
      max: "1000000000.3",
      range: "0.2",
    });
    // What a float computation of the same data gives (it drifts; the decimal one does not).
    const floats = values.map(Number);
    const mean = floats.reduce((a, b) => a + b, 0) / floats.length;
    const floatVariance =
      (floats.reduce((a, b) => a + b * b, 0) - floats.length * mean * mean) / (floats.length - 1);
    expect(floatVariance).not.toBe(0.01);
  });

  it("large offset: 1e9+{4,7,13,16}", async () => {
    const output = await resultOf(statisticsTool, {
      values: ["1000000004", "1000000007", "1000000013", "1000000016"],
    });
    expect(output).toMatchObject({
      mean: "1000000010",
      variancePopulation: "22.5",
      varianceSample: "30",
      median: "1000000010",
    });
    expect(output.stddevSample).toBe("5.477225575051661134569697828");
    expect(output.stddevPopulation).toBe("4.743416490252568997998340317");
  });

  it("many significant digits are kept exactly", async () => {
    const output = await resultOf(statisticsTool, {
      values: ["0.1000000000000000000000000001", "0.2", "123456789012345678901234567890.5"],
      measures: ["sum", "max", "range"],
    });
    expect(output).toEqual({
      count: 3,
      sum: "123456789012345678901234567890.8000000000000000000000000001",
      max: "123456789012345678901234567890.5",
      range: "123456789012345678901234567890.3999999999999999999999999999",
      precision: 28,
      notes: [],
    });
  });

  it("median, quartiles and modes", async () => {
    const output = await resultOf(statisticsTool, {
      values: ["4", "1", "3", "2"],
      measures: ["median", "percentiles", "mode"],
      percentiles: [0, 25, 75, 90, 100],
    });
    expect(output.median).toBe("2.5");
    expect(output.percentiles).toEqual([
      { p: 0, value: "1" },
      { p: 25, value: "1.75" },
      { p: 75, value: "3.25" },
      { p: 90, value: "3.7" },
      { p: 100, value: "4" },
    ]);
    expect(output.percentileMethod).toMatch(/type 7/);
    expect(output.modes).toEqual(["1", "2", "3", "4"]);
    expect(output.notes).toContain("every value occurs once, so every value is a mode");

    const modes = await resultOf(statisticsTool, {
      values: ["3", "1", "2.0", "2", "3", "5"],
      measures: ["mode"],
    });
    expect(modes).toMatchObject({ modes: ["2", "3"], modeFrequency: 2 });
  });

  it("mean is rounded once to the requested precision", async () => {
    const output = await resultOf(statisticsTool, {
      values: ["1", "2", "2"],
      measures: ["mean"],
      precision: 10,
    });
    expect(output.mean).toBe("1.666666667");
  });

  it("a single value has no sample variance", async () => {
    const output = await resultOf(statisticsTool, { values: ["5"] });
    expect(output).toMatchObject({
      count: 1,
      mean: "5",
      varianceSample: null,
      stddevSample: null,
      variancePopulation: "0",
    });
    expect(output.notes).toContain("sample variance and standard deviation need at least 2 values");
  });
});

describe("statistics bad input", () => {
  it("names the bad value", async () => {
    expect(await errorOf(statisticsTool, { values: ["1", "two"] })).toMatch(
      /values\[1\] "two" is not a decimal number/,
    );
  });

  it.each([
    { values: [] },
    { values: "1,2,3" },
    { values: ["1"], measures: ["average"] },
    { values: ["1"], percentiles: [101] },
    { values: ["1"], precision: 0 },
  ])("rejects %j", async (args) => {
    expect((await errorOf(statisticsTool, args)).length).toBeGreaterThan(0);
  });

  it("refuses values whose exact squares would be too wide", async () => {
    expect(await errorOf(statisticsTool, { values: ["1e60000", "1e-60000"] })).toMatch(
      /too many digits/,
    );
  });
});
