import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hmacSha256, sha256Hex } from "../src/digest.ts";
import { signVerdict, verifyVerdict, type VerdictClaims } from "../src/verdict.ts";

/**
 * Properties of the x-gateway-verdict codec: any claims within the schema's limits survive
 * sign → verify; any single-byte change of the header, or of the body its digest covers, is
 * refused; a genuine verdict for another scope, another body or a past instant is refused with
 * that reason and the claims.
 */

/** Strings with any UTF-16 units, lone surrogates included, of at most `max` units. */
function text(min: number, max: number): fc.Arbitrary<string> {
  return fc.oneof(
    fc.string({ unit: "grapheme-ascii", minLength: min, maxLength: max }),
    fc.string({ unit: "binary", minLength: min, maxLength: Math.floor(max / 2) }),
    fc.string({
      unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((unit) => String.fromCharCode(unit)),
      minLength: min,
      maxLength: max,
    }),
  );
}

const hex64 = fc.stringMatching(/^[0-9a-f]{64}$/);

const claimsArb: fc.Arbitrary<VerdictClaims> = fc.record({
  requestId: text(1, 200),
  subject: text(1, 512),
  tenant: fc.option(text(0, 256), { nil: null }),
  roles: fc.array(text(0, 128), { maxLength: 8 }),
  scope: text(1, 64),
  tools: fc.array(text(0, 200), { maxLength: 8 }),
  bodyDigest: hex64,
  exp: fc.integer({ min: 1, max: 2 ** 42 }),
});

const keyArb = fc.string({ minLength: 1, maxLength: 64 });

/** A clock strictly before the expiry (ms). */
function before(claims: VerdictClaims, back: number): number {
  return Math.max(0, claims.exp * 1000 - 1 - back);
}

describe("x-gateway-verdict (properties)", () => {
  it("verifies what it signs, for any claims within the schema", () => {
    fc.assert(
      fc.property(claimsArb, keyArb, fc.nat(10 ** 9), (claims, key, back) => {
        const header = signVerdict(claims, key);
        const check = verifyVerdict(header, {
          key,
          bodyDigest: claims.bodyDigest,
          scope: claims.scope,
          now: before(claims, back),
        });
        expect(check).toEqual({ ok: true, verdict: claims });
      }),
      { numRuns: 300 },
    );
  });

  it("refuses the header with any one byte changed", () => {
    fc.assert(
      fc.property(
        claimsArb,
        keyArb,
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (c, key, at, d) => {
          const header = signVerdict(c, key);
          const i = at % header.length;
          const changed = String.fromCharCode((header.charCodeAt(i) + d) % 256);
          const tampered = header.slice(0, i) + changed + header.slice(i + 1);
          const check = verifyVerdict(tampered, {
            key,
            bodyDigest: c.bodyDigest,
            scope: c.scope,
            now: before(c, 0),
          });
          expect(check.ok).toBe(false);
          expect(["malformed", "bad_signature"]).toContain(check.ok ? "" : check.reason);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("refuses the header with a byte dropped or inserted", () => {
    fc.assert(
      fc.property(
        claimsArb,
        keyArb,
        fc.nat(),
        fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined }),
        (claims, key, at, insert) => {
          const header = signVerdict(claims, key);
          const i = at % (header.length + (insert === undefined ? 0 : 1));
          const tampered =
            insert === undefined
              ? header.slice(0, i) + header.slice(i + 1)
              : header.slice(0, i) + String.fromCharCode(insert) + header.slice(i);
          const check = verifyVerdict(tampered, {
            key,
            bodyDigest: claims.bodyDigest,
            scope: claims.scope,
            now: before(claims, 0),
          });
          expect(check.ok).toBe(false);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("refuses the verdict for a body with any one byte changed, naming the body", () => {
    fc.assert(
      fc.property(
        claimsArb,
        keyArb,
        fc.uint8Array({ minLength: 1, maxLength: 200 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (claimsWithoutBody, key, body, at, delta) => {
          const claims = { ...claimsWithoutBody, bodyDigest: sha256Hex(body) };
          const header = signVerdict(claims, key);
          const changed = Uint8Array.from(body);
          const i = at % body.length;
          changed[i] = (body[i]! + delta) % 256;
          const expected = { key, scope: claims.scope, now: before(claims, 0) };
          expect(verifyVerdict(header, { ...expected, bodyDigest: sha256Hex(body) }).ok).toBe(true);
          expect(verifyVerdict(header, { ...expected, bodyDigest: sha256Hex(changed) })).toEqual({
            ok: false,
            reason: "body_mismatch",
            claims,
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  it("refuses a genuine verdict that expired, is for another scope, or another key, with that reason", () => {
    fc.assert(
      fc.property(
        claimsArb,
        keyArb,
        keyArb,
        text(1, 64),
        fc.nat(10 ** 9),
        (claims, key, otherKey, otherScope, late) => {
          const header = signVerdict(claims, key);
          const expected = { key, bodyDigest: claims.bodyDigest, scope: claims.scope };
          expect(verifyVerdict(header, { ...expected, now: claims.exp * 1000 + late })).toEqual({
            ok: false,
            reason: "expired",
            claims,
          });
          const now = before(claims, late);
          if (otherScope !== claims.scope) {
            expect(verifyVerdict(header, { ...expected, scope: otherScope, now })).toEqual({
              ok: false,
              reason: "scope_mismatch",
              claims,
            });
          }
          // Without an expected scope, the verdict of any scope is accepted.
          expect(verifyVerdict(header, { ...expected, scope: undefined, now }).ok).toBe(true);
          if (otherKey !== key) {
            expect(verifyVerdict(header, { ...expected, key: otherKey, now })).toEqual({
              ok: false,
              reason: "bad_signature",
            });
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("refuses a correctly signed segment that is not claims of the schema as malformed", () => {
    const notClaims = fc.oneof(
      fc.jsonValue({ maxDepth: 2 }),
      // Claims with one member more: the schema is strict.
      fc
        .tuple(claimsArb, fc.string({ minLength: 1, maxLength: 8 }), fc.jsonValue({ maxDepth: 1 }))
        .filter(([claims, extra]) => !Object.hasOwn(claims, extra))
        .map(([claims, extra, value]) => ({ ...claims, [extra]: value })),
      // Claims with one member missing.
      fc
        .tuple(claimsArb, fc.constantFrom("requestId", "subject", "scope", "bodyDigest", "exp"))
        .map(([claims, drop]) =>
          Object.fromEntries(Object.entries(claims).filter(([k]) => k !== drop)),
        ),
    );
    fc.assert(
      fc.property(notClaims, keyArb, (value, key) => {
        const segment = Buffer.from(JSON.stringify(value) ?? "").toString("base64url");
        const signed = `v1.${segment}`;
        const header = `${signed}.${hmacSha256(key, signed).toString("base64url")}`;
        const digest = "0".repeat(64);
        expect(verifyVerdict(header, { key, bodyDigest: digest, now: 0 })).toEqual({
          ok: false,
          reason: "malformed",
        });
      }),
      { numRuns: 300 },
    );
  });

  it("answers any header with a rejection, never an exception", () => {
    const dotted = fc
      .array(fc.string({ unit: "binary", maxLength: 30 }), { minLength: 1, maxLength: 4 })
      .map((parts) => ["v1", ...parts].join("."));
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: "binary" }), dotted), keyArb, (header, key) => {
        const check = verifyVerdict(header, { key, bodyDigest: "0".repeat(64), now: 0 });
        expect(check.ok).toBe(false);
      }),
      { numRuns: 1000 },
    );
  });
});
