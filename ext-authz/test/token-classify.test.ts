import { errors as joseErrors } from "jose";
import { describe, expect, it } from "vitest";
import {
  assertAlgorithmsMatchKeys,
  classifyJoseError,
  createTokenVerifier,
  type TokenSettings,
} from "../src/policy/token.ts";
import { makeToken, NOW_MS, NOW_S, SECRET_KEYS, TOKEN_SETTINGS } from "./fixture-config.ts";

function verifier(settings: Partial<TokenSettings> = {}) {
  return createTokenVerifier({
    settings: { ...TOKEN_SETTINGS, ...settings },
    keys: SECRET_KEYS,
    now: () => NOW_MS,
  });
}

async function reason(token: string, settings: Partial<TokenSettings> = {}): Promise<string> {
  const result = await verifier(settings).verify(token);
  return result.ok ? "ok" : result.reason;
}

describe("classifyJoseError: each jose failure as the reason a client and an operator see", () => {
  const claim = (name: string, why: string) =>
    new joseErrors.JWTClaimValidationFailed("claim", {}, name, why);
  const table: [string, unknown, string, string][] = [
    [
      "expired",
      new joseErrors.JWTExpired("exp", {}, "exp", "check_failed"),
      "secret",
      "token_expired",
    ],
    ["nbf in the future", claim("nbf", "check_failed"), "secret", "token_not_yet_valid"],
    ["nbf not a number", claim("nbf", "invalid"), "secret", "token_bad_claims"],
    ["another issuer", claim("iss", "check_failed"), "secret", "token_wrong_issuer"],
    ["iat not a number", claim("iat", "invalid"), "secret", "token_bad_claims"],
    ["any other claim", claim("sub", "check_failed"), "jwks", "token_bad_claims"],
    ["no key for the kid", new joseErrors.JWKSNoMatchingKey(), "jwks", "token_unknown_kid"],
    [
      "several keys for the kid",
      new joseErrors.JWKSMultipleMatchingKeys(),
      "jwks",
      "token_invalid",
    ],
    ["JWKS timed out", new joseErrors.JWKSTimeout(), "jwks", "jwks_unavailable"],
    ["JWKS not a key set", new joseErrors.JWKSInvalid("bad"), "jwks", "jwks_unavailable"],
    ["JWS malformed", new joseErrors.JWSInvalid("bad"), "jwks", "token_malformed"],
    ["JWT malformed", new joseErrors.JWTInvalid("bad"), "jwks", "token_malformed"],
    ["algorithm not allowed", new joseErrors.JOSEAlgNotAllowed("alg"), "jwks", "token_invalid"],
    ["bad signature", new joseErrors.JWSSignatureVerificationFailed(), "jwks", "token_invalid"],
    ["unsupported", new joseErrors.JOSENotSupported("x"), "jwks", "token_invalid"],
    // A failed key fetch (non-200, network) is the JWKS's fault, not the token's.
    ["key fetch failed", new Error("fetch failed"), "jwks", "jwks_unavailable"],
    ["anything else, static key", new Error("odd"), "secret", "token_invalid"],
    ["anything else, public key", new Error("odd"), "public", "token_invalid"],
  ];
  it.each(table)("%s", (_name, error, keyKind, expected) => {
    expect(classifyJoseError(error, keyKind as "secret" | "public" | "jwks")).toBe(expected);
  });
});

describe("token claims the verifier checks itself", () => {
  it("refuses the algorithm none in any spelling, with that reason", () => {
    for (const alg of ["none", "None", "NONE"]) {
      expect(() => assertAlgorithmsMatchKeys([alg], SECRET_KEYS)).toThrow(
        'JWT algorithm "none" is never allowed',
      );
    }
  });

  it("checks a custom expiry claim, which jose does not know, up to the skew and not at it", async () => {
    const settings = { claims: { ...TOKEN_SETTINGS.claims, exp: "valid_to" } };
    const skew = TOKEN_SETTINGS.clockSkewSeconds;
    expect(await reason(await makeToken({ valid_to: NOW_S + 60 }), settings)).toBe("ok");
    expect(await reason(await makeToken({ valid_to: NOW_S - skew + 1 }), settings)).toBe("ok");
    expect(await reason(await makeToken({ valid_to: NOW_S - skew }), settings)).toBe(
      "token_expired",
    );
    expect(await reason(await makeToken({ valid_to: NOW_S - 3600 }), settings)).toBe(
      "token_expired",
    );
  });

  it("reads a nested claim path whose parent is missing as absent, and never a prototype key", async () => {
    const nested = { claims: { ...TOKEN_SETTINGS.claims, roles: "realm_access.roles" } };
    const verify = verifier(nested);
    const missingParent = await verify.verify(await makeToken({ roles: undefined }));
    expect(missingParent).toMatchObject({ ok: true, identity: { roles: [] } });
    const present = await verify.verify(
      await makeToken({ roles: undefined, realm_access: { roles: ["auditor"] } }),
    );
    expect(present).toMatchObject({ ok: true, identity: { roles: ["auditor"] } });

    const prototype = verifier({ claims: { ...TOKEN_SETTINGS.claims, roles: "constructor.name" } });
    expect(await prototype.verify(await makeToken({ roles: undefined }))).toMatchObject({
      ok: true,
      identity: { roles: [] },
    });
  });

  it("caches a token without the age rule until its expiry, with or without iat", async () => {
    for (const iat of [NOW_S - 60, undefined]) {
      const verify = verifier({ maxTokenAgeMinutes: 0 });
      const token = await makeToken({ iat });
      expect(await verify.verify(token)).toMatchObject({ ok: true, cached: false });
      expect(await verify.verify(token)).toMatchObject({ ok: true, cached: true });
    }
  });
});
