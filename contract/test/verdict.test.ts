import { describe, expect, it } from "vitest";
import { sha256Hex } from "../src/digest.ts";
import { signVerdict, verifyVerdict, type VerdictClaims } from "../src/verdict.ts";

const key = "k".repeat(40);
const now = Date.UTC(2026, 10, 25, 12, 0, 0);
const body = '{"jsonrpc":"2.0","id":1,"method":"tools/list"}';
const claims: VerdictClaims = {
  requestId: "req-1",
  subject: "alice",
  tenant: "acme",
  roles: ["developer"],
  scope: "calculator",
  tools: ["exact_calculate"],
  bodyDigest: sha256Hex(body),
  exp: Math.floor(now / 1000) + 30,
};

describe("verdict", () => {
  it("round-trips a signed verdict", () => {
    const header = signVerdict(claims, key);
    const check = verifyVerdict(header, {
      key,
      bodyDigest: sha256Hex(body),
      scope: "calculator",
      now,
    });
    expect(check).toEqual({ ok: true, verdict: claims });
  });

  it.each([
    ["missing", undefined, {}],
    ["missing", "", {}],
    ["malformed", "v2.abc.def", {}],
    ["malformed", "v1.only-two", {}],
    ["bad_signature", "SIGNED_WITH_OTHER_KEY", {}],
    ["expired", "SIGNED", { now: now + 31_000 }],
    ["body_mismatch", "SIGNED", { bodyDigest: sha256Hex('{"other":1}') }],
    ["scope_mismatch", "SIGNED", { scope: "git" }],
  ] as const)("rejects %s", (reason, header, overrides) => {
    const value =
      header === "SIGNED"
        ? signVerdict(claims, key)
        : header === "SIGNED_WITH_OTHER_KEY"
          ? signVerdict(claims, "x".repeat(40))
          : header;
    const check = verifyVerdict(value, {
      key,
      bodyDigest: sha256Hex(body),
      scope: "calculator",
      now,
      ...overrides,
    });
    expect(check).toMatchObject({ ok: false, reason });
    const genuine = ["expired", "body_mismatch", "scope_mismatch"].includes(reason);
    expect(check.ok === false && check.claims).toEqual(genuine ? claims : undefined);
  });

  it("rejects a tampered claims segment", () => {
    const [v, segment, sig] = signVerdict(claims, key).split(".");
    const forged = Buffer.from(
      JSON.stringify({
        ...JSON.parse(Buffer.from(segment!, "base64url").toString()),
        subject: "root",
      }),
    ).toString("base64url");
    expect(
      verifyVerdict(`${v}.${forged}.${sig}`, { key, bodyDigest: claims.bodyDigest, now }),
    ).toEqual({ ok: false, reason: "bad_signature" });
  });

  it("refuses to sign invalid claims", () => {
    expect(() => signVerdict({ ...claims, bodyDigest: "nope" }, key)).toThrow();
  });
});
