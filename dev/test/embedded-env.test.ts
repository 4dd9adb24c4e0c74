import { describe, expect, it } from "vitest";
import { EmbeddedEnvSchema } from "../embedded-stack.ts";

const secrets = {
  GATEWAY_VERDICT_KEY: "verdict-key-0123456789-abcdefghijklmnopqrstu",
  TOOL_GATEWAY_SHARED_SECRET: "tool-secret-0123456789-abcdefghijklmnopqrstu",
};

describe("the embedded stack's EXT_AUTHZ_TIMEOUT_MS", () => {
  it("defaults to 2 s, as the router's", () => {
    expect(EmbeddedEnvSchema.parse(secrets).EXT_AUTHZ_TIMEOUT_MS).toBe(2_000);
  });

  it("takes a positive whole number of milliseconds", () => {
    expect(
      EmbeddedEnvSchema.parse({ ...secrets, EXT_AUTHZ_TIMEOUT_MS: "750" }).EXT_AUTHZ_TIMEOUT_MS,
    ).toBe(750);
  });

  it.each(["0", "-1", "1.5", "soon", ""])("refuses %j", (value) => {
    expect(EmbeddedEnvSchema.safeParse({ ...secrets, EXT_AUTHZ_TIMEOUT_MS: value }).success).toBe(
      false,
    );
  });
});
