import { describe, expect, it } from "vitest";
import { digestJson } from "../../contract/src/digest.ts";
import { captureArguments, REDACTED } from "../src/capture-arguments.ts";
import { isTransientDatabaseError } from "../src/transient-error.ts";

const redactKeys = ["password", "secret", "token", "api_key", "authorization"];

describe("captureArguments", () => {
  const args = {
    expression: "1+1",
    nested: { DB_Password: "hunter2", list: [{ "api-key": "k", ok: 1 }] },
    Authorization: "Bearer abc",
    accessToken: "t",
  };

  it("none keeps nothing", () => {
    expect(captureArguments(args, "none", redactKeys)).toEqual({});
  });

  it("digest keeps the SHA-256 of the canonical JSON only", () => {
    const reordered = {
      accessToken: "t",
      Authorization: "Bearer abc",
      nested: args.nested,
      expression: "1+1",
    };
    const captured = captureArguments(args, "digest", redactKeys);
    expect(captured).toEqual({ arguments_digest: digestJson(args) });
    expect(captureArguments(reordered, "digest", redactKeys)).toEqual(captured);
    expect(captured.arguments_digest).toMatch(/^[0-9a-f]{64}$/);
  });

  it("full redacts every value under a sensitive key, at any depth", () => {
    expect(captureArguments(args, "full", redactKeys)).toEqual({
      arguments_digest: digestJson(args),
      arguments: {
        expression: "1+1",
        nested: { DB_Password: REDACTED, list: [{ "api-key": REDACTED, ok: 1 }] },
        Authorization: REDACTED,
        accessToken: REDACTED,
      },
    });
  });

  it("handles missing arguments", () => {
    expect(captureArguments(undefined, "full", redactKeys)).toEqual({
      arguments_digest: digestJson(null),
      arguments: null,
    });
  });
});

describe("isTransientDatabaseError", () => {
  it.each([
    [Object.assign(new Error("x"), { code: "ECONNREFUSED" }), true],
    [Object.assign(new Error("x"), { code: "57P01" }), true],
    [Object.assign(new Error("x"), { code: "08006" }), true],
    [Object.assign(new Error("x"), { code: "40001" }), true],
    [new Error("Connection terminated unexpectedly"), true],
    [Object.assign(new Error("x"), { code: "23514" }), false],
    [Object.assign(new Error("x"), { code: "42P01" }), false],
    ["string", false],
    [null, false],
  ])("%#", (error, expected) => {
    expect(isTransientDatabaseError(error)).toBe(expected);
  });
});
