import { describe, expect, it } from "vitest";
import { EnvError } from "../../config/src/env.ts";
import { parseRouterEnv } from "../src/router-env.ts";

const secrets = {
  GATEWAY_VERDICT_KEY: "verdict-key-0123456789-abcdefghijklmnop",
  TOOL_GATEWAY_SHARED_SECRET: "tool-secret-0123456789-abcdefghijklmnop",
};

function problemsOf(input: Record<string, string>): string[] {
  try {
    parseRouterEnv(input);
  } catch (error) {
    if (error instanceof EnvError) return [...error.problems];
    throw error;
  }
  return [];
}

describe("router environment", () => {
  it("applies defaults", () => {
    const env = parseRouterEnv(secrets);
    expect(env).toMatchObject({
      NODE_ENV: "production",
      AUTHZ_MODE: "envoy",
      PORT: 8080,
      HOST: "127.0.0.1",
      MAX_REQUEST_BYTES: 1_048_576,
      ALLOWED_ORIGINS: [],
      SESSION_TTL_SECONDS: 86_400,
    });
  });

  it("parses lists and numbers, blank counts as unset", () => {
    const env = parseRouterEnv({
      ...secrets,
      AUTHZ_MODE: "direct",
      PORT: "0",
      ALLOWED_ORIGINS: "https://a.example, https://b.example,",
      DATABASE_URL: "",
    });
    expect(env.ALLOWED_ORIGINS).toEqual(["https://a.example", "https://b.example"]);
    expect(env.PORT).toBe(0);
    expect(env.DATABASE_URL).toBeUndefined();
  });

  it("takes the public URL, unset by default", () => {
    expect(parseRouterEnv(secrets).GATEWAY_PUBLIC_URL).toBeUndefined();
    expect(
      parseRouterEnv({ ...secrets, GATEWAY_PUBLIC_URL: "" }).GATEWAY_PUBLIC_URL,
    ).toBeUndefined();
    expect(
      parseRouterEnv({ ...secrets, GATEWAY_PUBLIC_URL: "https://mcp.example.com" })
        .GATEWAY_PUBLIC_URL,
    ).toBe("https://mcp.example.com");
  });

  it("uses development defaults for secrets only in development", () => {
    const env = parseRouterEnv({ NODE_ENV: "development" });
    expect(env.GATEWAY_VERDICT_KEY).toMatch(/^dev-insecure-/);
    expect(problemsOf({ ...secrets, GATEWAY_VERDICT_KEY: env.GATEWAY_VERDICT_KEY })).toEqual([
      "GATEWAY_VERDICT_KEY: weak secret: a development default is not allowed outside development",
    ]);
  });

  it.each([
    [
      "a missing verdict key",
      { TOOL_GATEWAY_SHARED_SECRET: secrets.TOOL_GATEWAY_SHARED_SECRET },
      "GATEWAY_VERDICT_KEY",
    ],
    [
      "a short tool secret",
      { ...secrets, TOOL_GATEWAY_SHARED_SECRET: "tiny-value" },
      "TOOL_GATEWAY_SHARED_SECRET",
    ],
    ["an unknown mode", { ...secrets, AUTHZ_MODE: "none" }, "AUTHZ_MODE"],
    ["a bad port", { ...secrets, PORT: "70000" }, "PORT"],
    ["a non-numeric limit", { ...secrets, MAX_REQUEST_BYTES: "lots" }, "MAX_REQUEST_BYTES"],
    ["a bad log level", { ...secrets, LOG_LEVEL: "loud" }, "LOG_LEVEL"],
    [
      "a public URL that is no URL",
      { ...secrets, GATEWAY_PUBLIC_URL: "mcp.example" },
      "GATEWAY_PUBLIC_URL",
    ],
    [
      "a non-http public URL",
      { ...secrets, GATEWAY_PUBLIC_URL: "ftp://mcp.example" },
      "GATEWAY_PUBLIC_URL",
    ],
  ])("rejects %s", (_name, input, key) => {
    const problems = problemsOf(input);
    expect(problems.map((problem) => problem.split(":")[0])).toContain(key);
    expect(problems.join("\n")).not.toContain("tiny-value");
  });
});
