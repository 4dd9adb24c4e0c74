import { describe, expect, it } from "vitest";
import { RouterEnvSchema } from "../src/router-env.ts";

const secrets = {
  GATEWAY_VERDICT_KEY: "v".repeat(32),
  TOOL_GATEWAY_SHARED_SECRET: "t".repeat(32),
};

describe("router environment", () => {
  it("applies defaults", () => {
    const env = RouterEnvSchema.parse(secrets);
    expect(env).toMatchObject({
      AUTHZ_MODE: "envoy",
      PORT: 8080,
      HOST: "127.0.0.1",
      MAX_REQUEST_BYTES: 1_048_576,
      ALLOWED_ORIGINS: [],
      SESSION_TTL_SECONDS: 86_400,
      LOG_LEVEL: "info",
    });
  });

  it("parses lists and numbers", () => {
    const env = RouterEnvSchema.parse({
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

  it.each([
    [
      "a missing verdict key",
      { TOOL_GATEWAY_SHARED_SECRET: "t".repeat(32) },
      "GATEWAY_VERDICT_KEY",
    ],
    [
      "a short tool secret",
      { ...secrets, TOOL_GATEWAY_SHARED_SECRET: "short" },
      "TOOL_GATEWAY_SHARED_SECRET",
    ],
    ["an unknown mode", { ...secrets, AUTHZ_MODE: "none" }, "AUTHZ_MODE"],
    ["a bad port", { ...secrets, PORT: "70000" }, "PORT"],
    ["a non-numeric limit", { ...secrets, MAX_REQUEST_BYTES: "lots" }, "MAX_REQUEST_BYTES"],
    ["a bad log level", { ...secrets, LOG_LEVEL: "loud" }, "LOG_LEVEL"],
  ])("rejects %s", (_name, input, key) => {
    const result = RouterEnvSchema.safeParse(input);
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((issue) => issue.path[0])).toContain(key);
  });
});
