import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { signGatewayAuth, verifyGatewayAuth } from "../src/gateway-auth.ts";

/**
 * Properties of X-Gateway-Auth: sign → verify inside the window for any input; any single-byte
 * change of the header, of the body, or another audience, user, request id or secret is refused;
 * the window is exactly 60 s back and 5 s ahead on whole seconds.
 *
 * User and request id are generated as what can travel in an HTTP header (no CR, LF or NUL): the
 * MAC joins its fields with "\n", so ("a\nb", "c") and ("a", "b\nc") would sign alike. That is
 * harmless only because neither value can hold a line break on the wire (x-request-id is visible
 * ASCII, x-user-id a header value).
 */

const headerText = fc
  .string({ unit: "grapheme", maxLength: 40 })
  .filter((s) => !/[\r\n\0]/.test(s));
const bodyArb = fc.oneof(
  fc.string({ unit: "binary", maxLength: 200 }),
  fc.uint8Array({ maxLength: 200 }),
);
const audienceArb = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);
const inputArb = fc.record({
  secret: fc.string({ minLength: 1, maxLength: 64 }),
  audience: audienceArb,
  userId: headerText,
  requestId: headerText,
  body: bodyArb,
  // Milliseconds, up to the year ~2500 (the header allows 12 timestamp digits).
  now: fc.integer({ min: 0, max: 17_000_000_000_000 }),
});

const REJECTIONS = [
  "missing",
  "malformed",
  "unsupported_version",
  "wrong_audience",
  "stale",
  "future",
  "bad_signature",
];

function bytesOf(body: string | Uint8Array): Uint8Array {
  return typeof body === "string" ? new TextEncoder().encode(body) : body;
}

describe("X-Gateway-Auth (properties)", () => {
  it("verifies what it signs for any input, anywhere inside the window", () => {
    fc.assert(
      fc.property(inputArb, fc.integer({ min: -5, max: 60 }), (input, skew) => {
        const header = signGatewayAuth(input);
        const signedAt = Math.floor(input.now / 1000) * 1000;
        const now = signedAt + skew * 1000;
        expect(verifyGatewayAuth(header, { ...input, now })).toEqual({ ok: true });
        // The same body as bytes or as its UTF-8 text is the same body.
        const asBytes = { ...input, body: bytesOf(input.body), now };
        if (typeof input.body === "string") {
          expect(verifyGatewayAuth(header, asBytes)).toEqual({ ok: true });
        }
      }),
      { numRuns: 300 },
    );
  });

  it("refuses a signature from after the window as stale, from the future as future", () => {
    fc.assert(
      fc.property(
        inputArb,
        fc.integer({ min: 61, max: 10 ** 6 }),
        fc.integer({ min: 6, max: 10 ** 6 }),
        fc.boolean(),
        (input, late, early, isLate) => {
          const header = signGatewayAuth(input);
          const now = Math.floor(input.now / 1000) * 1000 + (isLate ? late : -early) * 1000;
          expect(verifyGatewayAuth(header, { ...input, now })).toEqual({
            ok: false,
            reason: isLate ? "stale" : "future",
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  it("refuses the header with any one byte changed", () => {
    fc.assert(
      fc.property(inputArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (input, at, delta) => {
        const header = signGatewayAuth(input);
        const i = at % header.length;
        const changed = String.fromCharCode((header.charCodeAt(i) + delta) % 256);
        const tampered = header.slice(0, i) + changed + header.slice(i + 1);
        const check = verifyGatewayAuth(tampered, input);
        expect(check.ok).toBe(false);
        expect(REJECTIONS).toContain(check.ok ? "" : check.reason);
      }),
      { numRuns: 1000 },
    );
  });

  it("refuses the header for a body with any one byte changed", () => {
    fc.assert(
      fc.property(
        inputArb,
        fc.uint8Array({ minLength: 1, maxLength: 200 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (input, body, at, delta) => {
          const header = signGatewayAuth({ ...input, body });
          const changed = Uint8Array.from(body);
          const i = at % body.length;
          changed[i] = (body[i]! + delta) % 256;
          expect(verifyGatewayAuth(header, { ...input, body: changed })).toEqual({
            ok: false,
            reason: "bad_signature",
          });
        },
      ),
      { numRuns: 500 },
    );
  });

  it("refuses the header for another audience", () => {
    fc.assert(
      fc.property(inputArb, audienceArb, (input, other) => {
        fc.pre(input.audience !== other);
        const header = signGatewayAuth(input);
        expect(verifyGatewayAuth(header, { ...input, audience: other })).toEqual({
          ok: false,
          reason: "wrong_audience",
        });
        // Rewriting the audience in the header to match does not help: it is under the MAC.
        const moved = header.replace(`v2.${input.audience}.`, `v2.${other}.`);
        expect(verifyGatewayAuth(moved, { ...input, audience: other })).toEqual({
          ok: false,
          reason: "bad_signature",
        });
      }),
      { numRuns: 300 },
    );
  });

  it("refuses the header for another user, request id or secret", () => {
    fc.assert(
      fc.property(
        inputArb,
        fc.constantFrom("userId", "requestId", "secret"),
        fc.string({ minLength: 1, maxLength: 40 }).filter((s) => !/[\r\n\0]/.test(s)),
        (input, field, other) => {
          fc.pre(input[field] !== other);
          const header = signGatewayAuth(input);
          expect(verifyGatewayAuth(header, { ...input, [field]: other })).toEqual({
            ok: false,
            reason: "bad_signature",
          });
        },
      ),
      { numRuns: 500 },
    );
  });

  it("accepts a configured static secret only as itself", () => {
    fc.assert(
      fc.property(
        inputArb,
        fc.string({ minLength: 1, maxLength: 64 }),
        fc.string({ maxLength: 64 }),
        (input, staticSecret, header) => {
          fc.pre(header !== staticSecret);
          const withStatic = { ...input, staticSecret };
          expect(verifyGatewayAuth(staticSecret, withStatic)).toEqual({ ok: true });
          expect(verifyGatewayAuth(header, withStatic).ok).toBe(false);
          expect(verifyGatewayAuth(staticSecret, input).ok).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("answers any header with a rejection, never an exception", () => {
    const shaped = fc
      .tuple(
        fc.constantFrom("v1", "v2", "v3"),
        fc.stringMatching(/^[A-Za-z0-9_.-]{0,66}$/),
        fc.stringMatching(/^\d{0,14}$/),
        fc.stringMatching(/^[0-9a-fA-F]{30,34}$/),
        fc.stringMatching(/^[0-9a-fA-F]{62,66}$/),
      )
      .map((parts) => parts.join("."));
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: "binary" }), shaped), inputArb, (header, input) => {
        const check = verifyGatewayAuth(header, input);
        expect(check.ok).toBe(false);
        expect(REJECTIONS).toContain(check.ok ? "" : check.reason);
      }),
      { numRuns: 1000 },
    );
  });
});
