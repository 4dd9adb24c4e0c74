import { describe, expect, it } from "vitest";
import { signGatewayAuth, verifyGatewayAuth } from "../src/gateway-auth.ts";

const secret = "s".repeat(40);
const now = Date.UTC(2026, 10, 25, 12, 0, 0);
const base = {
  secret,
  audience: "calculator",
  userId: "alice",
  requestId: "r1",
  body: '{"a":1}',
  now,
};

describe("X-Gateway-Auth", () => {
  it("accepts its own signature inside the window", () => {
    const header = signGatewayAuth(base);
    expect(verifyGatewayAuth(header, { ...base, now: now + 59_000 })).toEqual({ ok: true });
  });

  it.each([
    ["missing", undefined, {}],
    ["malformed", "v2.abc.def", {}],
    ["unsupported_version", "v1.abc.def", {}],
    ["stale", "SIGNED", { now: now + 61_000 }],
    ["future", "SIGNED", { now: now - 6_000 }],
    ["wrong_audience", "SIGNED", { audience: "git" }],
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
    for (const at of [now - 5_000, now + 60_000, now + 60_999]) {
      expect(verifyGatewayAuth(header, { ...base, now: at })).toEqual({ ok: true });
    }
    expect(verifyGatewayAuth(header, { ...base, now: now + 61_000 })).toEqual({
      ok: false,
      reason: "stale",
    });
    expect(verifyGatewayAuth(header, { ...base, now: now - 6_000 })).toEqual({
      ok: false,
      reason: "future",
    });
  });

  it("signs whole seconds, rounding down", () => {
    const header = signGatewayAuth({ ...base, now: now + 999 });
    expect(header.split(".")[2]).toBe(String(now / 1000));
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
    const old = signGatewayAuth({ ...base, now: Date.UTC(2023, 0, 1) });
    expect(verifyGatewayAuth(old, { ...base, now: undefined })).toEqual({
      ok: false,
      reason: "stale",
    });
  });

  it.each([
    ["a prefix", (h: string) => `x${h}`],
    ["a suffix", (h: string) => `${h}0`],
    ["no version", (h: string) => h.replace(/^v2\./, "")],
    ["a 13-digit timestamp", (h: string) => h.replace(/\.(\d+)\./, ".100$1.")],
    ["no timestamp", (h: string) => h.replace(/\.(\d+)\./, "..")],
    ["a letter in the timestamp", (h: string) => h.replace(/\.(\d)/, ".a")],
    ["upper-case hex", (h: string) => h.replace(/\.([0-9a-f]+)$/, (m) => m.toUpperCase())],
    ["an upper-case nonce", (h: string) => h.replace(/\.([0-9a-f]{32})\./, (m) => m.toUpperCase())],
    ["a short nonce", (h: string) => h.replace(/\.([0-9a-f]{32})\./, (m) => m.slice(1))],
    ["no audience", (h: string) => h.replace(/^v2\.calculator\./, "v2..")],
    ["a dot in the audience", (h: string) => h.replace(/^v2\.calculator\./, "v2.calc.ulator.")],
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
