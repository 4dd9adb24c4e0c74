import { describe, expect, it } from "vitest";
import { decide } from "../src/policy/decide.ts";
import { createTokenVerifier } from "../src/policy/token.ts";
import { decisionDeps, makeToken, NOW_MS, SECRET_KEYS, TOKEN_SETTINGS } from "./fixture-config.ts";

/** The roles claim takes what .env.example promises: an array, or a space/comma-separated string. */

const verifier = () =>
  createTokenVerifier({ settings: TOKEN_SETTINGS, keys: SECRET_KEYS, now: () => NOW_MS });

describe("roles claim", () => {
  it.each([
    ["an array", ["developer", "analyst"]],
    ["a space-separated string", "developer analyst"],
    ["a comma-separated string", "developer,analyst"],
    ["commas and spaces", "developer, analyst"],
    ["stray separators and a duplicate", " ,developer,, analyst ,developer, "],
  ])("reads %s", async (_name, roles) => {
    const result = await verifier().verify(await makeToken({ roles }));
    expect(result).toMatchObject({ ok: true, identity: { roles: ["developer", "analyst"] } });
  });

  it.each([
    ["only separators", " , ,"],
    ["an empty string", ""],
  ])("reads %s as no roles", async (_name, roles) => {
    const result = await verifier().verify(await makeToken({ roles }));
    expect(result).toMatchObject({ ok: true, identity: { roles: [] } });
  });

  it("does not split on a tab: it stays in the role and is refused as not visible ASCII", async () => {
    const result = await verifier().verify(await makeToken({ roles: "developer\tanalyst" }));
    expect(result).toMatchObject({ ok: false, reason: "token_bad_claims" });
  });

  it("does not split on other punctuation", async () => {
    const result = await verifier().verify(await makeToken({ roles: "developer;analyst" }));
    expect(result).toMatchObject({ ok: true, identity: { roles: ["developer;analyst"] } });
  });

  it("counts roles from a string against the same limit as an array", async () => {
    const many = Array.from({ length: 65 }, (_, i) => `r${i}`).join(",");
    const result = await verifier().verify(await makeToken({ roles: many }));
    expect(result).toMatchObject({ ok: false, reason: "token_bad_claims" });
  });

  it("grants what each comma-separated role allows", async () => {
    // analyst has no git tools in the fixture policy; developer does.
    const body = '{"jsonrpc":"2.0","id":1,"method":"tools/list"}';
    const decision = await decide(
      {
        method: "POST",
        path: "/git/mcp",
        headers: { authorization: `Bearer ${await makeToken({ roles: "analyst,developer" })}` },
        body: new TextEncoder().encode(body),
        contextScope: undefined,
      },
      decisionDeps(),
    );
    expect(decision).toMatchObject({
      outcome: "allow",
      identity: { roles: ["analyst", "developer"] },
    });
  });
});
