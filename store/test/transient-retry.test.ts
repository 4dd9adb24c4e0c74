import { describe, expect, it } from "vitest";
import { isTransientDatabaseError } from "../src/transient-error.ts";
import { retryTransient } from "../src/transient-retry.ts";

const withCode = (code: string, extra: object = {}) =>
  Object.assign(new Error(code), { code, ...extra });

describe("isTransientDatabaseError", () => {
  it.each([
    ["57P01 admin shutdown (pg_terminate_backend, fast shutdown)", withCode("57P01"), true],
    ["57P03 cannot connect now (starting up)", withCode("57P03"), true],
    ["08006 connection failure", withCode("08006"), true],
    ["53300 too many connections", withCode("53300"), true],
    ["40001 serialization failure", withCode("40001"), true],
    ["40P01 deadlock", withCode("40P01"), true],
    ["ECONNREFUSED", withCode("ECONNREFUSED", { syscall: "connect" }), true],
    ["EPIPE, five letters but no SQLSTATE", withCode("EPIPE", { syscall: "write" }), true],
    ["ECONNRESET", withCode("ECONNRESET", { syscall: "read" }), true],
    ["pg's closed socket", new Error("Connection terminated unexpectedly"), true],
    ["a pool connect timeout", new Error("timeout exceeded when trying to connect"), true],
    ["23505 unique violation", withCode("23505"), false],
    ["22P02 invalid text", withCode("22P02"), false],
    ["42P01 undefined table", withCode("42P01"), false],
    ["a TypeError (a bug)", new TypeError("x is not a function"), false],
    ["a RangeError (a bug)", new RangeError("Invalid array length"), false],
    ["a database this process closed", new Error("driver has already been destroyed"), false],
    ["not an error", "string", false],
    ["null", null, false],
  ])("%s", (_name, error, expected) => {
    expect(isTransientDatabaseError(error)).toBe(expected);
  });
});

describe("retryTransient", () => {
  const fast = { initialDelayMs: 1, maxDelayMs: 2 };

  it("retries transient errors, telling the operation its attempt", async () => {
    const attempts: number[] = [];
    const result = await retryTransient(async (attempt) => {
      attempts.push(attempt);
      if (attempt < 2) throw withCode("57P01");
      return "done";
    }, fast);
    expect(result).toBe("done");
    expect(attempts).toEqual([0, 1, 2]);
  });

  it("throws a non-transient error at once", async () => {
    let calls = 0;
    const failing = retryTransient(async () => {
      calls += 1;
      throw withCode("23505");
    }, fast);
    await expect(failing).rejects.toMatchObject({ code: "23505" });
    expect(calls).toBe(1);
  });

  it("throws the last error when its attempts are used up", async () => {
    let calls = 0;
    const failing = retryTransient(
      async () => {
        calls += 1;
        throw withCode("08006");
      },
      { ...fast, attempts: 3 },
    );
    await expect(failing).rejects.toMatchObject({ code: "08006" });
    expect(calls).toBe(3);
  });
});
