import { describe, expect, it } from "vitest";
import { signGatewayAuth, verifyGatewayAuth } from "../src/gateway-auth.ts";

const secret = "s".repeat(40);
const now = Date.UTC(2026, 10, 25, 12, 0, 0);
const base = { secret, userId: "alice", requestId: "r1", body: '{"a":1}', now };

describe("X-Gateway-Auth", () => {
  it("accepts its own signature inside the window", () => {
    const header = signGatewayAuth(base);
    expect(verifyGatewayAuth(header, { ...base, now: now + 59_000 })).toEqual({ ok: true });
  });

  it.each([
    ["missing", undefined, {}],
    ["malformed", "v1.abc.def", {}],
    ["stale", "SIGNED", { now: now + 61_000 }],
    ["stale", "SIGNED", { now: now - 61_000 }],
    ["bad_signature", "SIGNED", { userId: "mallory" }],
    ["bad_signature", "SIGNED", { requestId: "r2" }],
    ["bad_signature", "SIGNED", { body: '{"a":2}' }],
    ["bad_signature", "SIGNED", { secret: "t".repeat(40) }],
  ] as const)("rejects %s", (reason, header, overrides) => {
    const value = header === "SIGNED" ? signGatewayAuth(base) : header;
    expect(verifyGatewayAuth(value, { ...base, ...overrides })).toEqual({ ok: false, reason });
  });

  it("accepts a static secret only when configured", () => {
    const staticSecret = "static-secret-value-that-is-long-enough";
    expect(verifyGatewayAuth(staticSecret, { ...base, staticSecret })).toEqual({ ok: true });
    expect(verifyGatewayAuth(staticSecret, base)).toEqual({ ok: false, reason: "malformed" });
    expect(verifyGatewayAuth("wrong", { ...base, staticSecret })).toEqual({
      ok: false,
      reason: "malformed",
    });
  });

  it("binds the exact body bytes", () => {
    const bytes = new TextEncoder().encode('{"a":1}');
    const header = signGatewayAuth({ ...base, body: bytes });
    expect(verifyGatewayAuth(header, base)).toEqual({ ok: true });
  });
});

describe("X-Gateway-Auth edges", () => {
  it("accepts a signature exactly at either end of the window, not a second beyond", () => {
    const header = signGatewayAuth(base);
    for (const at of [now - 60_000, now + 60_000, now + 60_999]) {
      expect(verifyGatewayAuth(header, { ...base, now: at })).toEqual({ ok: true });
    }
    for (const at of [now - 61_000, now + 61_000]) {
      expect(verifyGatewayAuth(header, { ...base, now: at })).toEqual({
        ok: false,
        reason: "stale",
      });
    }
  });

  it("signs whole seconds, rounding down", () => {
    const header = signGatewayAuth({ ...base, now: now + 999 });
    expect(header.split(".")[1]).toBe(String(now / 1000));
    expect(verifyGatewayAuth(header, { ...base, now: now + 999 })).toEqual({ ok: true });
  });

  it("honours a configured window", () => {
    const header = signGatewayAuth(base);
    expect(verifyGatewayAuth(header, { ...base, windowSeconds: 5, now: now + 5_000 })).toEqual({
      ok: true,
    });
    expect(verifyGatewayAuth(header, { ...base, windowSeconds: 5, now: now + 6_000 })).toEqual({
      ok: false,
      reason: "stale",
    });
  });

  it("defaults to the current time", () => {
    const header = signGatewayAuth({ ...base, now: undefined });
    expect(verifyGatewayAuth(header, { ...base, now: undefined })).toEqual({ ok: true });
    expect(verifyGatewayAuth(signGatewayAuth(base), { ...base, now: undefined })).toEqual({
      ok: false,
      reason: "stale",
    });
  });

  it.each([
    ["a prefix", (h: string) => `x${h}`],
    ["a suffix", (h: string) => `${h}0`],
    ["another version", (h: string) => h.replace(/^v1/, "v2")],
    ["a 13-digit timestamp", (h: string) => h.replace(/\.(\d+)\./, ".100$1.")],
    ["no timestamp", (h: string) => h.replace(/\.(\d+)\./, "..")],
    ["a letter in the timestamp", (h: string) => h.replace(/\.(\d)/, ".a")],
    ["upper-case hex", (h: string) => h.toUpperCase().replace(/^V1/, "v1")],
    ["a short signature", (h: string) => h.slice(0, -1)],
  ])("refuses %s as malformed", (_name, change) => {
    const header = change(signGatewayAuth({ ...base, now: 1_700_000_000_000 }));
    expect(verifyGatewayAuth(header, { ...base, now: 1_700_000_000_000 })).toEqual({
      ok: false,
      reason: "malformed",
    });
  });

  it("does not accept an empty static secret as a match for anything", () => {
    expect(verifyGatewayAuth("", { ...base, staticSecret: "" })).toEqual({
      ok: false,
      reason: "missing",
    });
    expect(verifyGatewayAuth("x", { ...base, staticSecret: "" })).toEqual({
      ok: false,
      reason: "malformed",
    });
    const staticSecret = "static-secret-value-that-is-long-enough";
    expect(verifyGatewayAuth(signGatewayAuth(base), { ...base, staticSecret })).toEqual({
      ok: true,
    });
  });
});
