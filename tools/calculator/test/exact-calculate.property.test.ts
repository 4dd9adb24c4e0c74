import { Decimal } from "decimal.js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../../contract/src/log.ts";
import { runTool } from "../../kit/src/mcp-endpoint.ts";
import { compileTools } from "../../kit/src/tool-definition.ts";
import { exactCalculateTool } from "../src/calculator-tools.ts";

/**
 * Properties of exact_calculate, called through the tool kit (schema, defaults, result shaping):
 * each operation agrees with decimal.js rounded once to the requested precision; with room for
 * every digit, sums and products equal an independent BigInt computation and the usual
 * identities hold; any malformed number is a tool error, never an exception.
 */

type Outcome = { ok: true; result: string } | { ok: false; error: string };

// What callToolInProcess does, with the tool compiled once rather than on every call.
const compiled = compileTools([exactCalculateTool]).get(exactCalculateTool.name)!;
const context = {
  userId: "property-test",
  requestId: "property-test",
  logger: createLogger({ name: "tool-test", level: "silent" }),
  signal: new AbortController().signal,
};

async function calc(
  operator: string,
  operands: string[],
  extra: Record<string, unknown> = {},
): Promise<Outcome> {
  const answer = await runTool(compiled, { operator, operands, ...extra }, context);
  if (answer.isError === true) {
    const first = answer.content[0];
    return { ok: false, error: first?.type === "text" ? first.text : "" };
  }
  return { ok: true, result: (answer.structuredContent as { result: string }).result };
}

async function resultOf(
  operator: string,
  operands: string[],
  extra: Record<string, unknown> = {},
): Promise<string> {
  const outcome = await calc(operator, operands, extra);
  if (!outcome.ok) throw new Error(`${operator} ${JSON.stringify(operands)}: ${outcome.error}`);
  return outcome.result;
}

/** decimal.js rounding codes, written out here rather than taken from the code under test. */
const ROUNDING: Record<string, Decimal.Rounding> = {
  up: Decimal.ROUND_UP,
  down: Decimal.ROUND_DOWN,
  ceil: Decimal.ROUND_CEIL,
  floor: Decimal.ROUND_FLOOR,
  half_up: Decimal.ROUND_HALF_UP,
  half_down: Decimal.ROUND_HALF_DOWN,
  half_even: Decimal.ROUND_HALF_EVEN,
  half_ceil: Decimal.ROUND_HALF_CEIL,
  half_floor: Decimal.ROUND_HALF_FLOOR,
};
const roundingArb = fc.constantFrom(...Object.keys(ROUNDING));

/** Plain decimal notation in its many spellings: sign, "1.", ".5", exponents, edge blanks. */
function decimalString(maxDigits: number, maxExponent: number): fc.Arbitrary<string> {
  const digits = fc.stringMatching(new RegExp(`^[0-9]{0,${maxDigits}}$`));
  return fc
    .record({
      sign: fc.constantFrom("", "", "-", "+"),
      whole: digits,
      fraction: fc.option(digits, { nil: undefined }),
      exponent: fc.option(
        fc.tuple(
          fc.constantFrom("e", "E"),
          fc.constantFrom("", "+"),
          fc.integer({ min: -maxExponent, max: maxExponent }),
        ),
        { nil: undefined },
      ),
      blank: fc.constantFrom("", "", " ", "\t"),
    })
    .filter(({ whole, fraction }) => whole !== "" || (fraction ?? "") !== "")
    .map(({ sign, whole, fraction, exponent, blank }) => {
      const point = fraction === undefined ? "" : `.${fraction}`;
      const exp =
        exponent === undefined
          ? ""
          : `${exponent[0]}${exponent[2] < 0 ? "" : exponent[1]}${exponent[2]}`;
      return `${blank}${sign}${whole}${point}${exp}${blank}`;
    });
}

const operandArb = decimalString(18, 40);

/** An exact decimal as mantissa × 10^-scale, parsed without decimal.js. */
type Exact = { mantissa: bigint; scale: number };

function exact(text: string): Exact {
  const match = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text.trim());
  if (match === null) throw new Error(`not a decimal: ${text}`);
  const [, sign, whole = "", fraction = "", exponent = "0"] = match;
  const mantissa = BigInt(`${whole}${fraction}` || "0") * (sign === "-" ? -1n : 1n);
  return { mantissa, scale: fraction.length - Number(exponent) };
}

function aligned(a: Exact, b: Exact): [bigint, bigint, number] {
  const scale = Math.max(a.scale, b.scale);
  return [
    a.mantissa * 10n ** BigInt(scale - a.scale),
    b.mantissa * 10n ** BigInt(scale - b.scale),
    scale,
  ];
}

function sameValue(a: Exact, b: Exact): boolean {
  const [x, y] = aligned(a, b);
  return x === y;
}

const sum = (a: Exact, b: Exact): Exact => {
  const [x, y, scale] = aligned(a, b);
  return { mantissa: x + y, scale };
};
const product = (a: Exact, b: Exact): Exact => ({
  mantissa: a.mantissa * b.mantissa,
  scale: a.scale + b.scale,
});

/** Results are plain decimals (maybe with an exponent), never -0, NaN or Infinity. */
const RESULT = /^-?(?:0|[1-9]\d*)(?:\.\d*[1-9])?(?:e[+-]\d+)?$/;

describe("exact_calculate (properties)", () => {
  it("agrees with decimal.js at the requested precision and rounding", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("add", "subtract", "multiply", "divide"),
        operandArb,
        operandArb,
        fc.integer({ min: 1, max: 60 }),
        roundingArb,
        async (operator, a, b, precision, rounding) => {
          const D = Decimal.clone({ precision, rounding: ROUNDING[rounding]! });
          const x = new D(a.trim());
          const y = new D(b.trim());
          const outcome = await calc(operator, [a, b], { precision, rounding });
          if (operator === "divide" && y.isZero()) {
            expect(outcome).toEqual({
              ok: false,
              error: expect.stringMatching(/division by zero/),
            });
            return;
          }
          const expected =
            operator === "add"
              ? x.plus(y)
              : operator === "subtract"
                ? x.minus(y)
                : operator === "multiply"
                  ? x.times(y)
                  : x.dividedBy(y);
          expect(outcome.ok).toBe(true);
          const result = outcome.ok ? outcome.result : "";
          expect(result).toMatch(RESULT);
          expect(new Decimal(result).equals(expected)).toBe(true);
        },
      ),
      { numRuns: 600 },
    );
  });

  it("adds and multiplies exactly when the precision holds every digit", async () => {
    await fc.assert(
      fc.asyncProperty(operandArb, operandArb, async (a, b) => {
        const extra = { precision: 1000 };
        const total = await resultOf("add", [a, b], extra);
        const difference = await resultOf("subtract", [a, b], extra);
        const times = await resultOf("multiply", [a, b], extra);
        const negB = exact(b);
        negB.mantissa = -negB.mantissa;
        expect(sameValue(exact(total), sum(exact(a), exact(b)))).toBe(true);
        expect(sameValue(exact(difference), sum(exact(a), negB))).toBe(true);
        expect(sameValue(exact(times), product(exact(a), exact(b)))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it("keeps a + b - b = a, a × 1 = a and (a × b) / b = a when every digit fits", async () => {
    await fc.assert(
      fc.asyncProperty(operandArb, operandArb, async (a, b) => {
        const extra = { precision: 1000 };
        const same = async (value: string) =>
          resultOf("compare", [value, a], extra).then((order) => expect(order).toBe("0"));
        await same(await resultOf("subtract", [await resultOf("add", [a, b], extra), b], extra));
        await same(await resultOf("multiply", [a, "1"], extra));
        await same(await resultOf("add", [a, "0"], extra));
        await same(await resultOf("negate", [await resultOf("negate", [a], extra)], extra));
        if (!exact(b).mantissa) return;
        const times = await resultOf("multiply", [a, b], extra);
        await same(await resultOf("divide", [times, b], extra));
      }),
      { numRuns: 200 },
    );
  });

  it("is commutative for + and × and folds more operands left to right, at any precision", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("add", "multiply"),
        operandArb,
        operandArb,
        operandArb,
        fc.integer({ min: 1, max: 40 }),
        roundingArb,
        async (operator, a, b, c, precision, rounding) => {
          const extra = { precision, rounding };
          const ab = await resultOf(operator, [a, b], extra);
          expect(await resultOf(operator, [b, a], extra)).toBe(ab);
          expect(await resultOf(operator, [a, b, c], extra)).toBe(
            await resultOf(operator, [ab, c], extra),
          );
        },
      ),
      { numRuns: 200 },
    );
  });

  it("rounds a × 1 to the precision exactly as decimal.js rounds a", async () => {
    await fc.assert(
      fc.asyncProperty(
        decimalString(40, 30),
        fc.integer({ min: 1, max: 40 }),
        roundingArb,
        async (a, precision, rounding) => {
          const result = await resultOf("multiply", [a, "1"], { precision, rounding });
          const expected = new Decimal(a.trim()).toSignificantDigits(
            precision,
            ROUNDING[rounding]!,
          );
          expect(new Decimal(result).equals(expected)).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("answers a malformed or out-of-range number with a tool error, never an exception", async () => {
    const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
    const nearMiss = fc
      .array(
        fc.constantFrom("1", "0", ".", "-", "+", "e", "E", "x", "_", ",", " ", "NaN", "Infinity"),
        { maxLength: 8 },
      )
      .map((pieces) => pieces.join(""));
    const wild = fc.oneof(
      fc.string({ unit: "binary", maxLength: 30 }),
      nearMiss,
      fc.constantFrom("0x10", "0b1", "0o7", "1e", "--1", "1_000", "١٢", "1e9000000000000001"),
      fc.bigInt({ min: 1n, max: 10n ** 30n }).map((e) => `1e${e}`),
      fc.bigInt({ min: 1n, max: 10n ** 30n }).map((e) => `1e-${e}`),
    );
    await fc.assert(
      fc.asyncProperty(
        wild,
        fc.constantFrom("add", "multiply", "divide", "sqrt", "abs"),
        async (text, operator) => {
          const operands = operator === "sqrt" || operator === "abs" ? [text] : ["1", text];
          const outcome = await calc(operator, operands);
          if (!DECIMAL.test(text.trim())) {
            expect(outcome).toEqual({
              ok: false,
              error: expect.stringMatching(/is not a decimal number/),
            });
          } else if (!outcome.ok) {
            expect(outcome.error).toMatch(
              /out of range|overflow|underflow|division by zero|no real result/,
            );
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
