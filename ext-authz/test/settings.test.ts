import { describe, expect, it } from "vitest";
import { EnvError } from "../../config/src/env.ts";
import { parseExtAuthzEnv } from "../src/settings.ts";

const production = {
  NODE_ENV: "production",
  JWT_SECRET_KEY: "jwt-secret-0123456789-abcdefghijklmnopq",
  GATEWAY_VERDICT_KEY: "verdict-key-0123456789-abcdefghijklmnop",
  JWT_ISSUER: "https://login.example.com/",
  JWT_AUDIENCE: "mcp-gateway",
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
    expect(() => parseExtAuthzEnv({ ...production, JWT_SECRET_KEY: undefined })).toThrow(
      /no JWT key configured/,
    );
  });

  it("requires JWT_ISSUER and JWT_AUDIENCE outside development, never guessing them", () => {
    const { JWT_ISSUER: _issuer, JWT_AUDIENCE: _audience, ...withoutBoth } = production;
    expect(() => parseExtAuthzEnv(withoutBoth)).toThrow(EnvError);
    expect(() => parseExtAuthzEnv(withoutBoth)).toThrow(/JWT_ISSUER: required/);
    expect(() => parseExtAuthzEnv(withoutBoth)).toThrow(/JWT_AUDIENCE: required/);
    expect(() => parseExtAuthzEnv({ ...production, JWT_AUDIENCE: "" })).toThrow(/JWT_AUDIENCE/);
    const parsed = parseExtAuthzEnv(production);
    expect(parsed.JWT_ISSUER).toBe("https://login.example.com/");
    expect(parsed.JWT_AUDIENCE).toBe("mcp-gateway");
  });

  it.each(["development", "test"])("keeps the local defaults with NODE_ENV=%s", (nodeEnv) => {
    const parsed = parseExtAuthzEnv({ NODE_ENV: nodeEnv });
    expect(parsed.JWT_ISSUER).toBe("http://localhost:8010");
    expect(parsed.JWT_AUDIENCE).toBe("mcp-gateway");
    expect(
      parseExtAuthzEnv({
        NODE_ENV: nodeEnv,
        JWT_JWKS_URL: "http://127.0.0.1:8010/.well-known/jwks.json",
        JWT_ALLOWED_ALGORITHMS: "RS256",
      }).JWT_JWKS_URL,
    ).toBe("http://127.0.0.1:8010/.well-known/jwks.json");
  });

  it("requires an https JWKS URL outside development", () => {
    const jwks = { ...production, JWT_SECRET_KEY: undefined, JWT_ALLOWED_ALGORITHMS: "RS256" };
    expect(() =>
      parseExtAuthzEnv({ ...jwks, JWT_JWKS_URL: "http://login.example.com/jwks.json" }),
    ).toThrow(/JWT_JWKS_URL: expected an https URL/);
    expect(
      parseExtAuthzEnv({ ...jwks, JWT_JWKS_URL: "https://login.example.com/jwks.json" })
        .JWT_JWKS_URL,
    ).toBe("https://login.example.com/jwks.json");
    expect(() => parseExtAuthzEnv({ ...jwks, JWT_JWKS_URL: "ftp://x/jwks" })).toThrow(EnvError);
  });

  it("drains 10 s by default in production and not at all in development", () => {
    expect(parseExtAuthzEnv(production).SHUTDOWN_DRAIN_MS).toBe(10_000);
    expect(parseExtAuthzEnv({ NODE_ENV: "test" }).SHUTDOWN_DRAIN_MS).toBe(0);
    expect(parseExtAuthzEnv({ ...production, SHUTDOWN_DRAIN_MS: "0" }).SHUTDOWN_DRAIN_MS).toBe(0);
    expect(() => parseExtAuthzEnv({ ...production, SHUTDOWN_DRAIN_MS: "soon" })).toThrow(
      /SHUTDOWN_DRAIN_MS/,
    );
  });

  it("bounds Redis commands at 100 ms unless configured", () => {
    expect(parseExtAuthzEnv(production).REDIS_COMMAND_TIMEOUT_MS).toBe(100);
    expect(
      parseExtAuthzEnv({ ...production, REDIS_COMMAND_TIMEOUT_MS: "250" }).REDIS_COMMAND_TIMEOUT_MS,
    ).toBe(250);
    for (const bad of ["0", "-5", "1s"]) {
      expect(() => parseExtAuthzEnv({ ...production, REDIS_COMMAND_TIMEOUT_MS: bad })).toThrow(
        /REDIS_COMMAND_TIMEOUT_MS/,
      );
    }
  });
});
