import { describe, expect, it } from "vitest";
import { EnvError } from "../../config/src/env.ts";
import { parseExtAuthzEnv } from "../src/settings.ts";

const production = {
  NODE_ENV: "production",
  JWT_SECRET_KEY: "jwt-secret-0123456789-abcdefghijklmnopq",
  GATEWAY_VERDICT_KEY: "verdict-key-0123456789-abcdefghijklmnop",
};

describe("ext-authz environment", () => {
  it("takes the allowed algorithms from JWT_ALGORITHM when the list is unset", () => {
    expect(parseExtAuthzEnv(production).JWT_ALLOWED_ALGORITHMS).toEqual(["HS256"]);
    expect(
      parseExtAuthzEnv({ ...production, JWT_ALGORITHM: "HS512" }).JWT_ALLOWED_ALGORITHMS,
    ).toEqual(["HS512"]);
    expect(
      parseExtAuthzEnv({
        ...production,
        JWT_ALGORITHM: "HS512",
        JWT_ALLOWED_ALGORITHMS: "HS256, HS384",
      }).JWT_ALLOWED_ALGORITHMS,
    ).toEqual(["HS256", "HS384"]);
  });

  it("reads the audit queue bound", () => {
    expect(parseExtAuthzEnv(production).AUDIT_QUEUE_MAX).toBe(10_000);
    expect(parseExtAuthzEnv({ ...production, AUDIT_QUEUE_MAX: "50" }).AUDIT_QUEUE_MAX).toBe(50);
    expect(() => parseExtAuthzEnv({ ...production, AUDIT_QUEUE_MAX: "-1" })).toThrow(EnvError);
  });

  it("refuses to start in production without a strong verdict key or any JWT key", () => {
    expect(() => parseExtAuthzEnv({ ...production, GATEWAY_VERDICT_KEY: "changeme" })).toThrow(
      /GATEWAY_VERDICT_KEY: weak secret/,
    );
    expect(() =>
      parseExtAuthzEnv({
        NODE_ENV: "production",
        GATEWAY_VERDICT_KEY: production.GATEWAY_VERDICT_KEY,
      }),
    ).toThrow(/no JWT key configured/);
  });
});
