import { describe, expect, it } from "vitest";
import { hmacSha256 } from "../../contract/src/digest.ts";
import {
  createMemoryRevocations,
  createSessionCodec,
  deriveSessionKey,
  sessionBinding,
} from "../src/session.ts";

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

  it("carries the capabilities the client declared, signed, only when there are some", () => {
    const plain = codec.issue(binding, "2025-11-25");
    expect(plain.claims).not.toHaveProperty("cli");
    const capable = codec.issue(binding, "2025-11-25", ["sampling", "elicitation"]);
    expect(capable.claims.cli).toEqual(["sampling", "elicitation"]);
    expect(codec.verify(capable.id, binding)).toEqual({ ok: true, claims: capable.claims });
    // Claiming a capability the gateway does not know makes the id malformed.
    const [prefix, segment] = capable.id.split(".") as [string, string, string];
    const forged = Buffer.from(
      JSON.stringify({ ...capable.claims, cli: ["sampling", "tools"] }),
    ).toString("base64url");
    expect(segment).not.toBe(forged);
    const key = deriveSessionKey("verdict-key-for-tests");
    const signature = hmacSha256(key, `${prefix}.${forged}`).toString("base64url");
    expect(codec.verify(`${prefix}.${forged}.${signature}`, binding)).toEqual({
      ok: false,
      reason: "malformed",
    });
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

describe("session id edges", () => {
  const key = deriveSessionKey("verdict-key-for-tests");
  const signed = (segment: string) =>
    `s1.${segment}.${hmacSha256(key, `s1.${segment}`).toString("base64url")}`;

  it("lives exactly ttlSeconds: valid a millisecond before, expired at the expiry", () => {
    let clock = 5_000;
    const codec = createSessionCodec({ key, ttlSeconds: 60, now: () => clock });
    const { id, claims } = codec.issue(binding, "2025-11-25");
    expect(claims.exp).toBe(65_000);
    clock = 64_999;
    expect(codec.verify(id, binding).ok).toBe(true);
    clock = 65_000;
    expect(codec.verify(id, binding)).toEqual({ ok: false, reason: "expired" });
  });

  it("reads ids of up to 512 characters", () => {
    const codec = createSessionCodec({ key, ttlSeconds: 60 });
    const at = (length: number) => `s1.${"a".repeat(length - 6)}.bb`;
    expect(codec.verify(at(512), binding)).toEqual({ ok: false, reason: "bad_signature" });
    expect(codec.verify(at(513), binding)).toEqual({ ok: false, reason: "malformed" });
  });

  it("refuses extra segments and correctly signed payloads that are not session claims", () => {
    const codec = createSessionCodec({ key, ttlSeconds: 60 });
    const { id } = codec.issue(binding, "2025-11-25");
    expect(codec.verify(`${id}.x`, binding)).toEqual({ ok: false, reason: "malformed" });
    const notJson = Buffer.from("{nope").toString("base64url");
    const notClaims = Buffer.from(JSON.stringify({ sid: "short" })).toString("base64url");
    for (const forged of [signed(notJson), signed(notClaims)]) {
      expect(codec.verify(forged, binding)).toEqual({ ok: false, reason: "malformed" });
    }
  });

  it("binds the verdict's subject and tenant to the call's scope", () => {
    expect(sessionBinding({ scope: "git", verdict: { subject: "bob", tenant: null } })).toEqual({
      subject: "bob",
      tenant: null,
      scope: "git",
    });
  });
});

describe("memory revocations", () => {
  it("stops reporting a revocation at its expiry", async () => {
    let now = 0;
    const revocations = createMemoryRevocations(() => now);
    await revocations.revoke("a", 100);
    now = 99;
    expect(await revocations.isRevoked("a")).toBe(true);
    now = 100;
    expect(await revocations.isRevoked("a")).toBe(false);
  });

  it("keeps live revocations when it prunes expired ones", async () => {
    let now = 0;
    const revocations = createMemoryRevocations(() => now);
    for (let i = 0; i < 10_001; i += 1) await revocations.revoke(`old-${i}`, 10);
    await revocations.revoke("live", 1_000);
    now = 50;
    await revocations.revoke("late", 1_000);
    expect(await revocations.isRevoked("live")).toBe(true);
    expect(await revocations.isRevoked("late")).toBe(true);
    expect(await revocations.isRevoked("old-1")).toBe(false);
  });

  it("keeps a live revocation made before a flood of others, whenever it prunes", async () => {
    let now = 0;
    const revocations = createMemoryRevocations(() => now);
    await revocations.revoke("live", 1_000);
    await revocations.revoke("ends-now", 10);
    // Past 10,000 entries every revocation prunes; nothing has expired yet.
    for (let i = 0; i < 10_000; i += 1) await revocations.revoke(`other-${i}`, 10 + i);
    expect(await revocations.isRevoked("live")).toBe(true);
    expect(await revocations.isRevoked("ends-now")).toBe(true);
    expect(await revocations.isRevoked("other-0")).toBe(true);
    // At 10 the first two of the flood have expired; a later one and the live one have not.
    now = 10;
    await revocations.revoke("late", 1_000);
    expect(await revocations.isRevoked("live")).toBe(true);
    expect(await revocations.isRevoked("late")).toBe(true);
    expect(await revocations.isRevoked("other-9999")).toBe(true);
    expect(await revocations.isRevoked("ends-now")).toBe(false);
  });

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
