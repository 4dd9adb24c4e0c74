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
