import { describe, expect, it } from "vitest";
import { hmacSha256, sha256Hex } from "../src/digest.ts";
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

describe("verdict edges", () => {
  const expected = { key, bodyDigest: sha256Hex(body), scope: "calculator" };

  it("is valid up to the last millisecond before exp, expired from exp on", () => {
    const expMs = claims.exp * 1000;
    const header = signVerdict(claims, key);
    expect(verifyVerdict(header, { ...expected, now: expMs - 1 })).toMatchObject({ ok: true });
    expect(verifyVerdict(header, { ...expected, now: expMs })).toEqual({
      ok: false,
      reason: "expired",
      claims,
    });
  });

  it("checks the scope only when the caller names one", () => {
    const header = signVerdict(claims, key);
    expect(verifyVerdict(header, { key, bodyDigest: sha256Hex(body), now })).toEqual({
      ok: true,
      verdict: claims,
    });
  });

  it("refuses a verdict over 256 KiB as malformed before checking its signature", () => {
    const limit = 256 * 1024;
    // A genuine verdict whose claims JSON is `bytes` long: 180-character tools, then one filler.
    const genuine = (bytes: number) => {
      const tools: string[] = [];
      const size = () => JSON.stringify({ ...claims, tools }).length;
      while (size() < bytes - 190) tools.push("t".repeat(180));
      tools.push("");
      tools[tools.length - 1] = "f".repeat(bytes - size());
      return signVerdict({ ...claims, tools }, key);
    };
    // base64url of n bytes is ceil(4n/3) long, and the header adds "v1." and "." + 43.
    const under = genuine(196_572);
    const over = genuine(196_573);
    expect([under.length, over.length]).toEqual([limit - 1, limit + 1]);
    expect(verifyVerdict(under, { ...expected, now })).toMatchObject({ ok: true });
    expect(verifyVerdict(over, { ...expected, now })).toEqual({ ok: false, reason: "malformed" });
    // Exactly the limit is still read (and here fails its signature, not the length check).
    const atLimit = `v1.${"a".repeat(limit - 47)}.${"b".repeat(43)}`;
    expect(atLimit.length).toBe(limit);
    expect(verifyVerdict(atLimit, { ...expected, now })).toEqual({
      ok: false,
      reason: "bad_signature",
    });
  });

  it("refuses a correctly signed segment that is not JSON or not a verdict as malformed", () => {
    const signed = (segment: string) => {
      const payload = `v1.${segment}`;
      return `${payload}.${hmacSha256(key, payload).toString("base64url")}`;
    };
    const notJson = Buffer.from("{not json").toString("base64url");
    const notClaims = Buffer.from(JSON.stringify({ ...claims, extra: 1 })).toString("base64url");
    for (const header of [signed(notJson), signed(notClaims)]) {
      expect(verifyVerdict(header, { ...expected, now })).toEqual({
        ok: false,
        reason: "malformed",
      });
    }
  });

  it("refuses a header with extra segments or another version even when signed", () => {
    const header = signVerdict(claims, key);
    expect(verifyVerdict(`${header}.x`, { ...expected, now })).toEqual({
      ok: false,
      reason: "malformed",
    });
    const [, segment] = header.split(".");
    const v2 = `v2.${segment}`;
    const signedV2 = `${v2}.${hmacSha256(key, v2).toString("base64url")}`;
    expect(verifyVerdict(signedV2, { ...expected, now })).toEqual({
      ok: false,
      reason: "malformed",
    });
  });
});
