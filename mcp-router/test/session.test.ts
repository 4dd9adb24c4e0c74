import { describe, expect, it } from "vitest";
import { createMemoryRevocations, createSessionCodec, deriveSessionKey } from "../src/session.ts";

const binding = { subject: "alice", tenant: "acme", scope: "calc" };

describe("signed session ids", () => {
  let clock = 1_000_000;
  const codec = createSessionCodec({
    key: deriveSessionKey("verdict-key-for-tests"),
    ttlSeconds: 60,
    now: () => clock,
  });

  it("verifies its own ids for the same subject, tenant and scope", () => {
    const { id, claims } = codec.issue(binding, "2025-11-25");
    expect(id).toMatch(/^s1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(id).not.toContain("alice");
    expect(codec.verify(id, binding)).toEqual({ ok: true, claims });
  });

  it("is valid on another replica with the same key", () => {
    const { id } = codec.issue(binding, "2025-11-25");
    const replica = createSessionCodec({
      key: deriveSessionKey("verdict-key-for-tests"),
      ttlSeconds: 60,
      now: () => clock,
    });
    expect(replica.verify(id, binding).ok).toBe(true);
    const otherKey = createSessionCodec({
      key: deriveSessionKey("another-key"),
      ttlSeconds: 60,
      now: () => clock,
    });
    expect(otherKey.verify(id, binding)).toEqual({ ok: false, reason: "bad_signature" });
  });

  it.each([
    ["another subject", { ...binding, subject: "bob" }],
    ["another tenant", { ...binding, tenant: "other" }],
    ["no tenant", { ...binding, tenant: null }],
    ["another scope", { ...binding, scope: "git" }],
  ])("refuses use by %s", (_name, other) => {
    const { id } = codec.issue(binding, "2025-11-25");
    expect(codec.verify(id, other)).toEqual({ ok: false, reason: "wrong_binding" });
  });

  it("expires", () => {
    const { id } = codec.issue(binding, "2025-11-25");
    clock += 61_000;
    expect(codec.verify(id, binding)).toEqual({ ok: false, reason: "expired" });
  });

  it.each([
    ["undefined", undefined],
    ["empty", ""],
    ["two parts", "s1.abc"],
    ["wrong prefix", "s2.abc.def"],
    ["too long", `s1.${"a".repeat(600)}.b`],
  ])("refuses a malformed id (%s)", (_name, id) => {
    expect(codec.verify(id, binding)).toEqual({ ok: false, reason: "malformed" });
  });

  it("refuses a tampered payload", () => {
    const { id } = codec.issue(binding, "2025-11-25");
    const [prefix, , signature] = id.split(".");
    const payload = Buffer.from(
      JSON.stringify({ sid: "x".repeat(24), bind: "0".repeat(64), ver: "v", exp: 9e15 }),
    ).toString("base64url");
    expect(codec.verify(`${prefix}.${payload}.${signature}`, binding)).toEqual({
      ok: false,
      reason: "bad_signature",
    });
  });
});

describe("memory revocations", () => {
  it("revokes until the session would have expired anyway", async () => {
    let now = 0;
    const revocations = createMemoryRevocations(() => now);
    await revocations.revoke("a", 100);
    expect(await revocations.isRevoked("a")).toBe(true);
    expect(await revocations.isRevoked("b")).toBe(false);
    now = 101;
    expect(await revocations.isRevoked("a")).toBe(false);
  });
});
