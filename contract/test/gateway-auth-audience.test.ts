import { describe, expect, it } from "vitest";
import { hmacSha256, sha256Hex } from "../src/digest.ts";
import {
  signGatewayAuth,
  verifyGatewayAuth,
  type GatewayAuthReplayGuard,
} from "../src/gateway-auth.ts";

/** X-Gateway-Auth v2: bound to one tool server, single-use, not from the future. */

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

/** Remembers every key it is asked about; answers `forgotten` for keys listed in `forget`. */
function recordingGuard(forget: string[] = []) {
  const calls: { key: string; expiresAt: number; nowSeconds: number }[] = [];
  const seen = new Set<string>();
  const guard: GatewayAuthReplayGuard = {
    claim(key, expiresAt, nowSeconds) {
      calls.push({ key, expiresAt, nowSeconds });
      if (forget.includes(key)) return "forgotten";
      if (seen.has(key)) return "replayed";
      seen.add(key);
      return "first";
    },
  };
  return { guard, calls };
}

describe("X-Gateway-Auth audience", () => {
  it("puts the audience in the header and under the MAC", () => {
    const header = signGatewayAuth(base);
    const [version, audience, ts, nonce, mac] = header.split(".");
    expect([version, audience, ts]).toEqual(["v2", "calculator", String(now / 1000)]);
    expect(nonce).toMatch(/^[0-9a-f]{32}$/);
    const message = [
      "v2",
      "calculator",
      now / 1000,
      nonce,
      "alice",
      "r1",
      sha256Hex('{"a":1}'),
    ].join("\n");
    expect(mac).toBe(hmacSha256(secret, message).toString("hex"));
  });

  it("refuses a header minted for another tool server, even with the audience rewritten", () => {
    const forGit = signGatewayAuth({ ...base, audience: "git" });
    expect(verifyGatewayAuth(forGit, base)).toEqual({ ok: false, reason: "wrong_audience" });
    const rewritten = forGit.replace(/^v2\.git\./, "v2.calculator.");
    expect(verifyGatewayAuth(rewritten, base)).toEqual({ ok: false, reason: "bad_signature" });
  });

  it("tells audiences apart exactly, including case and prefixes", () => {
    const header = signGatewayAuth(base);
    for (const audience of ["Calculator", "calculator2", "calc", "calculator_"]) {
      expect(verifyGatewayAuth(header, { ...base, audience })).toEqual({
        ok: false,
        reason: "wrong_audience",
      });
    }
  });

  it.each(["", "a.b", "a b", "a\nb", "é", "x".repeat(65)])(
    "refuses to sign for the audience %j",
    (audience) => {
      expect(() => signGatewayAuth({ ...base, audience })).toThrow(/audience must be 1-64/);
    },
  );

  it("signs each call with a fresh nonce, so two identical calls differ", () => {
    const first = signGatewayAuth(base);
    const second = signGatewayAuth(base);
    expect(first).not.toBe(second);
    expect(verifyGatewayAuth(first, base)).toEqual({ ok: true });
    expect(verifyGatewayAuth(second, base)).toEqual({ ok: true });
  });

  it("refuses a v1 header as an unsupported version", () => {
    const v1 = `v1.${now / 1000}.${"a".repeat(64)}`;
    expect(verifyGatewayAuth(v1, base)).toEqual({ ok: false, reason: "unsupported_version" });
  });
});

describe("X-Gateway-Auth future timestamps", () => {
  it("accepts up to 5 s ahead by default and refuses 6 s", () => {
    const header = signGatewayAuth(base);
    expect(verifyGatewayAuth(header, { ...base, now: now - 5_000 })).toEqual({ ok: true });
    expect(verifyGatewayAuth(header, { ...base, now: now - 6_000 })).toEqual({
      ok: false,
      reason: "future",
    });
  });

  it("honours a configured skew", () => {
    const header = signGatewayAuth(base);
    const at = (ms: number, futureSkewSeconds: number) =>
      verifyGatewayAuth(header, { ...base, now: now - ms, futureSkewSeconds });
    expect(at(1_000, 0)).toEqual({ ok: false, reason: "future" });
    expect(at(0, 0)).toEqual({ ok: true });
    expect(at(30_000, 30)).toEqual({ ok: true });
    expect(at(31_000, 30)).toEqual({ ok: false, reason: "future" });
  });

  it("never records a header from the future", () => {
    const { guard, calls } = recordingGuard();
    const header = signGatewayAuth({ ...base, now: now + 3_600_000 });
    expect(verifyGatewayAuth(header, { ...base, replay: guard })).toEqual({
      ok: false,
      reason: "future",
    });
    expect(calls).toEqual([]);
  });
});

describe("X-Gateway-Auth replay guard", () => {
  it("asks the guard once per verified header, keyed by its MAC, until the window closes", () => {
    const { guard, calls } = recordingGuard();
    const header = signGatewayAuth(base);
    expect(verifyGatewayAuth(header, { ...base, replay: guard, windowSeconds: 30 })).toEqual({
      ok: true,
    });
    expect(calls).toEqual([
      { key: header.split(".")[4], expiresAt: now / 1000 + 30, nowSeconds: now / 1000 },
    ]);
  });

  it("refuses the same header the second time as replayed", () => {
    const { guard } = recordingGuard();
    const header = signGatewayAuth(base);
    expect(verifyGatewayAuth(header, { ...base, replay: guard })).toEqual({ ok: true });
    expect(verifyGatewayAuth(header, { ...base, replay: guard, now: now + 1_000 })).toEqual({
      ok: false,
      reason: "replayed",
    });
  });

  it("refuses a header the guard can no longer vouch for", () => {
    const header = signGatewayAuth(base);
    const { guard } = recordingGuard([header.split(".")[4]!]);
    expect(verifyGatewayAuth(header, { ...base, replay: guard })).toEqual({
      ok: false,
      reason: "replay_cache_full",
    });
  });

  it.each([
    ["a bad signature", { userId: "mallory" }],
    ["another audience", { audience: "git" }],
    ["a stale header", { now: now + 61_000 }],
  ])("never records %s", (_name, overrides) => {
    const { guard, calls } = recordingGuard();
    const header = signGatewayAuth(base);
    expect(verifyGatewayAuth(header, { ...base, ...overrides, replay: guard }).ok).toBe(false);
    expect(calls).toEqual([]);
  });

  it("does not apply to the static secret, which is bound to nothing", () => {
    const { guard, calls } = recordingGuard();
    const staticSecret = "static-secret-value-that-is-long-enough";
    const input = { ...base, staticSecret, replay: guard };
    expect(verifyGatewayAuth(staticSecret, input)).toEqual({ ok: true });
    expect(verifyGatewayAuth(staticSecret, { ...input, audience: "git" })).toEqual({ ok: true });
    expect(verifyGatewayAuth(staticSecret, input)).toEqual({ ok: true });
    expect(calls).toEqual([]);
  });
});
