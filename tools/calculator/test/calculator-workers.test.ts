import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { callToolSigned, startTestToolServer, type TestToolServer } from "../../kit/src/testing.ts";
import { parseWorkerPoolEnv } from "../../kit/src/tool-server-env.ts";
import { CALCULATOR_WORKER_POOL, calculatorTools } from "../src/calculator-tools.ts";

const BUDGET_MS = 250;

function textOf(result: { content: unknown }): string {
  const [first] = result.content as { type: string; text?: string }[];
  return first?.type === "text" ? (first.text ?? "") : "";
}

/** Fractional powers at 1000 digits: seconds of work, which the evaluator's own deadline allows. */
const SLOW_EXPRESSION = Array.from({ length: 200 }, (_, i) => `${i + 2}.5^1.5`).join("*");

describe("calculator tools on the worker pool", () => {
  let server: TestToolServer;
  beforeAll(async () => {
    server = await startTestToolServer(calculatorTools, {
      name: "calculator",
      workers: { threads: 1, budgetMs: BUDGET_MS, maxQueue: 4 },
    });
  });
  afterAll(async () => {
    await server.close();
  });

  const call = (name: string, args: Record<string, unknown>) =>
    callToolSigned(server.mcpUrl, server.signing, name, args);

  it("serves evaluate_expression and statistics from the pool, exact_calculate in-process", async () => {
    const pool = server.server.workers!;
    const before = pool.stats().completed;
    const expression = await call("evaluate_expression", { expression: "(0.1 + 0.2) * 3" });
    expect(expression.structuredContent).toMatchObject({ result: "0.9" });
    const statistics = await call("statistics", { values: ["1", "2", "3"], measures: ["mean"] });
    expect(statistics.structuredContent).toMatchObject({ mean: "2" });
    expect(pool.stats().completed).toBe(before + 2);

    const exact = await call("exact_calculate", { operator: "add", operands: ["0.1", "0.2"] });
    expect(exact.structuredContent).toMatchObject({ result: "0.3" });
    expect(pool.stats().completed).toBe(before + 2);
  });

  it("keeps tool errors of the worker as they are", async () => {
    expect(textOf(await call("evaluate_expression", { expression: "constructor(1)" }))).toMatch(
      /^cannot parse expression: unknown function: constructor at position 1;/,
    );
  });

  it("stops an expression over the time budget and answers the budget error", async () => {
    const pool = server.server.workers!;
    const before = pool.stats();
    const result = await call("evaluate_expression", {
      expression: SLOW_EXPRESSION,
      precision: 1000,
    });
    expect(result).toMatchObject({ isError: true });
    expect(textOf(result)).toBe(
      `Tool evaluate_expression exceeded its time budget of ${BUDGET_MS} ms and was stopped; shorten or simplify the input`,
    );
    expect(pool.stats()).toMatchObject({
      overBudget: before.overBudget + 1,
      terminated: before.terminated + 1,
    });
    const next = await call("evaluate_expression", { expression: "2^10" });
    expect(next.structuredContent).toMatchObject({ result: "1024" });
  });

  it("reads CALCULATOR_WORKER_* with an 8 s default budget", () => {
    expect(parseWorkerPoolEnv({}, CALCULATOR_WORKER_POOL)).toMatchObject({
      ok: true,
      settings: { budgetMs: 8_000 },
    });
    expect(
      parseWorkerPoolEnv({ CALCULATOR_WORKER_BUDGET_MS: "nope" }, CALCULATOR_WORKER_POOL),
    ).toEqual({
      ok: false,
      problems: ["CALCULATOR_WORKER_BUDGET_MS: CALCULATOR_WORKER_BUDGET_MS must be a whole number"],
    });
  });
});
