import { generateKeyPairSync } from "node:crypto";
import { SignJWT, base64url } from "jose";
import { describe, expect, it } from "vitest";
import {
  assertAlgorithmsMatchKeys,
  bearerToken,
  createTokenVerifier,
  type TokenSettings,
} from "../src/policy/token.ts";
import {
  makeToken,
  NOW_MS,
  NOW_S,
  SECRET,
  SECRET_KEYS,
  TOKEN_SETTINGS,
  AUDIENCE,
  ISSUER,
} from "./fixture-config.ts";

function verifier(settings: Partial<TokenSettings> = {}, now = () => NOW_MS) {
  return createTokenVerifier({
    settings: { ...TOKEN_SETTINGS, ...settings },
    keys: SECRET_KEYS,
    now,
  });
}

async function reason(token: string, settings: Partial<TokenSettings> = {}): Promise<string> {
  const result = await verifier(settings).verify(token);
  return result.ok ? "ok" : result.reason;
}

function unsignedToken(header: object, payload: object, signature = ""): string {
  const encode = (value: object) => base64url.encode(JSON.stringify(value));
  return `${encode(header)}.${encode(payload)}.${signature}`;
}

const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const rsaPublicPem = rsa.publicKey.export({ type: "spki", format: "pem" }).toString();

describe("token verification", () => {
  it("accepts a valid token and maps its claims", async () => {
    const result = await verifier().verify(await makeToken({ tenant: "acme", api_version: 2 }));
    expect(result).toEqual({
      ok: true,
      cached: false,
      identity: {
        subject: "alice",
        tenant: "acme",
        roles: ["developer"],
        apiVersion: "2",
        expiresAt: NOW_S + 3600,
        claims: expect.objectContaining({
          sub: "alice",
          tenant: "acme",
          roles: ["developer"],
          api_version: 2,
        }) as unknown,
      },
    });
  });

  it.each([
    [
      "alg none",
      async () =>
        unsignedToken(
          { alg: "none", typ: "JWT" },
          { sub: "alice", iss: ISSUER, aud: AUDIENCE, exp: NOW_S + 60 },
        ),
      ["token_invalid", "token_malformed"],
    ],
    [
      "wrong secret",
      () => makeToken({}, { secret: "another-secret-0123456789-abcdefghijklmnop" }),
      ["token_invalid"],
    ],
    ["HS512 when only HS256 is allowed", () => makeToken({}, { alg: "HS512" }), ["token_invalid"]],
    ["expired", () => makeToken({ exp: NOW_S - 31 }), ["token_expired"]],
    ["not yet valid", () => makeToken({ nbf: NOW_S + 120 }), ["token_not_yet_valid"]],
    ["iat in the future", () => makeToken({ iat: NOW_S + 120 }), ["token_iat_future"]],
    ["too old", () => makeToken({ iat: NOW_S - 1441 * 60, exp: NOW_S + 60 }), ["token_too_old"]],
    ["wrong issuer", () => makeToken({ iss: "https://evil.example" }), ["token_wrong_issuer"]],
    ["wrong audience", () => makeToken({ aud: "other-api" }), ["token_wrong_audience"]],
    ["missing subject", () => makeToken({ sub: undefined }), ["token_missing_subject"]],
    ["empty subject", () => makeToken({ sub: " " }), ["token_missing_subject"]],
    ["missing exp", () => makeToken({ exp: undefined }), ["token_bad_claims"]],
    [
      "missing iat while the age rule is on",
      () => makeToken({ iat: undefined }),
      ["token_bad_claims"],
    ],
    ["non-numeric exp", () => makeToken({ exp: "tomorrow" }), ["token_bad_claims"]],
    ["roles not a list", () => makeToken({ roles: { admin: true } }), ["token_bad_claims"]],
    ["roles with a non-string", () => makeToken({ roles: ["developer", 7] }), ["token_bad_claims"]],
    [
      "too many roles",
      () => makeToken({ roles: Array.from({ length: 65 }, (_, i) => `r${i}`) }),
      ["token_bad_claims"],
    ],
    ["tenant not a string", () => makeToken({ tenant: ["a"] }), ["token_bad_claims"]],
    // Subject, tenant and roles become header values and log fields: visible ASCII only.
    ["subject with CR LF", () => makeToken({ sub: "alice\r\nx-admin: 1" }), ["token_bad_claims"]],
    ["subject with a NUL", () => makeToken({ sub: "alice\u0000" }), ["token_bad_claims"]],
    ["subject with a space", () => makeToken({ sub: "alice smith" }), ["token_bad_claims"]],
    ["subject with a tab", () => makeToken({ sub: "alice\tbob" }), ["token_bad_claims"]],
    ["subject with DEL", () => makeToken({ sub: "alice\u007f" }), ["token_bad_claims"]],
    ["non-ASCII subject", () => makeToken({ sub: "al\u00efce" }), ["token_bad_claims"]],
    ["subject with a line separator", () => makeToken({ sub: "a\u2028b" }), ["token_bad_claims"]],
    ["tenant with LF", () => makeToken({ tenant: "acme\nother" }), ["token_bad_claims"]],
    ["non-ASCII tenant", () => makeToken({ tenant: "\u00e9cole" }), ["token_bad_claims"]],
    ["role with CR", () => makeToken({ roles: ["developer\r"] }), ["token_bad_claims"]],
    ["role with a tab", () => makeToken({ roles: "developer\tadmin" }), ["token_bad_claims"]],
    ["non-ASCII role", () => makeToken({ roles: ["d\u00e9v"] }), ["token_bad_claims"]],
    ["empty role", () => makeToken({ roles: ["developer", ""] }), ["token_bad_claims"]],
    ["oversized", () => makeToken({ padding: "x".repeat(9000) }), ["token_too_large"]],
    ["not a JWS", async () => "not-a-token", ["token_malformed"]],
    ["JWE-shaped", async () => "a.b.c.d.e", ["token_malformed"]],
    ["garbage segments", async () => "eyJhbGciOiJIUzI1NiJ9.@@@.sig", ["token_malformed"]],
  ])("refuses %s", async (_name, make, reasons) => {
    expect(reasons).toContain(await reason(await make()));
  });

  it("accepts clock skew within JWT_CLOCK_SKEW_SECONDS", async () => {
    expect(await reason(await makeToken({ exp: NOW_S - 10 }))).toBe("ok");
    expect(await reason(await makeToken({ nbf: NOW_S + 10, iat: NOW_S + 10 }))).toBe("ok");
  });

  it("makes iat optional when the age rule is disabled", async () => {
    expect(await reason(await makeToken({ iat: undefined }), { maxTokenAgeMinutes: 0 })).toBe("ok");
    expect(
      await reason(await makeToken({ iat: NOW_S - 10 * 86400, exp: NOW_S + 60 }), {
        maxTokenAgeMinutes: 0,
      }),
    ).toBe("ok");
  });

  it("refuses HS/RS confusion: an HS256 token signed with the public key when RS256 is configured", async () => {
    const forged = await new SignJWT({
      sub: "mallory",
      roles: ["developer"],
      iat: NOW_S,
      exp: NOW_S + 60,
    })
      .setProtectedHeader({ alg: "HS256" })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .sign(new TextEncoder().encode(rsaPublicPem));
    const rs = createTokenVerifier({
      settings: { ...TOKEN_SETTINGS, algorithms: ["RS256"] },
      keys: { kind: "public", key: rsa.publicKey },
      now: () => NOW_MS,
    });
    expect(await rs.verify(forged)).toMatchObject({ ok: false, reason: "token_invalid" });
    const genuine = await new SignJWT({
      sub: "bob",
      roles: ["developer"],
      iat: NOW_S,
      exp: NOW_S + 60,
    })
      .setProtectedHeader({ alg: "RS256" })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .sign(rsa.privateKey);
    expect(await rs.verify(genuine)).toMatchObject({ ok: true });
    // And an RS256 token is refused by an HMAC-configured verifier.
    expect(await reason(genuine)).toBe("token_invalid");
  });

  it("refuses configurations that mix key kinds and algorithms", () => {
    expect(() => assertAlgorithmsMatchKeys(["RS256"], SECRET_KEYS)).toThrow(/public key/);
    expect(() =>
      assertAlgorithmsMatchKeys(["HS256"], { kind: "public", key: rsa.publicKey }),
    ).toThrow(/JWT_SECRET_KEY/);
    expect(() => assertAlgorithmsMatchKeys(["none"], SECRET_KEYS)).toThrow(/none/);
    expect(() => assertAlgorithmsMatchKeys([], SECRET_KEYS)).toThrow(/empty/);
    expect(() => assertAlgorithmsMatchKeys(["XS1"], SECRET_KEYS)).toThrow(/unsupported/);
  });

  it("maps custom claim names, nested paths and namespaced claims", async () => {
    const token = await makeToken({
      sub: undefined,
      uid: "carol",
      roles: undefined,
      realm_access: { roles: ["analyst"] },
      "https://example.com/tenant": "t9",
    });
    const result = await verifier({
      claims: {
        ...TOKEN_SETTINGS.claims,
        userId: "uid",
        roles: "realm_access.roles",
        tenant: "https://example.com/tenant",
      },
    }).verify(token);
    expect(result).toMatchObject({
      ok: true,
      identity: { subject: "carol", roles: ["analyst"], tenant: "t9" },
    });
  });

  it("accepts space-separated roles", async () => {
    const result = await verifier().verify(
      await makeToken({ roles: "developer analyst developer" }),
    );
    expect(result).toMatchObject({ ok: true, identity: { roles: ["developer", "analyst"] } });
  });

  it("enforces JWT_ALLOWED_API_VERSIONS", async () => {
    const settings = { allowedApiVersions: ["2", "3"] };
    expect(await reason(await makeToken({ api_version: "2" }), settings)).toBe("ok");
    expect(await reason(await makeToken({ api_version: "1" }), settings)).toBe("token_api_version");
    expect(await reason(await makeToken(), settings)).toBe("token_api_version");
  });

  it("caches a verified token by digest until it expires", async () => {
    let now = NOW_MS;
    const tokens = verifier({}, () => now);
    const token = await makeToken({ exp: NOW_S + 100 });
    expect(await tokens.verify(token)).toMatchObject({ ok: true, cached: false });
    expect(await tokens.verify(token)).toMatchObject({ ok: true, cached: true });
    expect(tokens.cacheSize()).toBe(1);
    now = (NOW_S + 100 + 31) * 1000;
    expect(await tokens.verify(token)).toMatchObject({ ok: false, reason: "token_expired" });
    expect(tokens.cacheSize()).toBe(0);
  });

  it("ends a cached token's validity at its maximum age", async () => {
    let now = NOW_MS;
    const tokens = verifier({ maxTokenAgeMinutes: 10 }, () => now);
    const token = await makeToken({ iat: NOW_S - 60, exp: NOW_S + 86_400 });
    expect(await tokens.verify(token)).toMatchObject({ ok: true });
    now = NOW_MS + 10 * 60_000;
    expect(await tokens.verify(token)).toMatchObject({ ok: false, reason: "token_too_old" });
  });

  it("keeps the cache bounded", async () => {
    const tokens = verifier({ cacheSize: 3 });
    for (let i = 0; i < 10; i += 1) await tokens.verify(await makeToken({ sub: `user-${i}` }));
    expect(tokens.cacheSize()).toBe(3);
  });

  it("accepts visible-ASCII identities such as emails and provider ids", async () => {
    const result = await verifier().verify(
      await makeToken({ sub: "auth0|alice@example.com", tenant: "acme-1", roles: ["dev:read"] }),
    );
    expect(result).toMatchObject({
      ok: true,
      identity: { subject: "auth0|alice@example.com", tenant: "acme-1", roles: ["dev:read"] },
    });
  });

  it("accepts the configured audience or the called endpoint's resource, per call", async () => {
    const tokens = verifier();
    const resource = "https://gw.example/calculator/mcp";
    const perEndpoint = await makeToken({ aud: resource });
    expect(await tokens.verify(perEndpoint)).toMatchObject({
      ok: false,
      reason: "token_wrong_audience",
    });
    expect(await tokens.verify(perEndpoint, resource)).toMatchObject({ ok: true, cached: false });
    expect(await tokens.verify(perEndpoint, resource)).toMatchObject({ ok: true, cached: true });
    // A cache hit is no way around the audience.
    expect(await tokens.verify(perEndpoint, "https://gw.example/git/mcp")).toMatchObject({
      ok: false,
      reason: "token_wrong_audience",
    });
    const general = await makeToken({ aud: [AUDIENCE] });
    expect(await tokens.verify(general, resource)).toMatchObject({ ok: true });
    expect(await tokens.verify(general)).toMatchObject({ ok: true });
  });

  it("does not cache failures", async () => {
    const tokens = verifier();
    await tokens.verify(await makeToken({ iss: "https://evil.example" }));
    expect(tokens.cacheSize()).toBe(0);
  });

  it("never leaks the secret in a failure description", async () => {
    const result = await verifier().verify(await makeToken({}, { secret: "x".repeat(40) }));
    expect(JSON.stringify(result)).not.toContain(SECRET);
    expect(result).toMatchObject({ ok: false, description: expect.stringMatching(/^[ -~]+$/) });
  });
});

describe("bearer header", () => {
  it.each([
    [undefined, { kind: "absent" }],
    ["", { kind: "absent" }],
    ["Bearer abc.def.ghi", { kind: "token", token: "abc.def.ghi" }],
    ["bearer abc", { kind: "token", token: "abc" }],
    ["Basic abc", { kind: "malformed" }],
    ["Bearer", { kind: "malformed" }],
    ["Bearer a b", { kind: "malformed" }],
    ["Token abc", { kind: "malformed" }],
  ])("%j", (header, expected) => {
    expect(bearerToken(header)).toEqual(expected);
  });
});

describe("token verification edges", () => {
  it("refuses iat more than the clock skew in the future, not at the skew", async () => {
    expect(await reason(await makeToken({ iat: NOW_S + 30 }))).toBe("ok");
    expect(await reason(await makeToken({ iat: NOW_S + 31 }))).toBe("token_iat_future");
  });

  it("refuses a token older than the maximum age plus skew, not at it", async () => {
    const maxAge = 1440 * 60;
    expect(await reason(await makeToken({ iat: NOW_S - maxAge - 30 }))).toBe("ok");
    expect(await reason(await makeToken({ iat: NOW_S - maxAge - 31 }))).toBe("token_too_old");
  });

  it("bounds subject, tenant and role lengths", async () => {
    expect(await reason(await makeToken({ sub: "s".repeat(256) }))).toBe("ok");
    expect(await reason(await makeToken({ sub: "s".repeat(257) }))).toBe("token_missing_subject");
    expect(await reason(await makeToken({ tenant: "t".repeat(256) }))).toBe("ok");
    expect(await reason(await makeToken({ tenant: "t".repeat(257) }))).toBe("token_bad_claims");
    expect(await reason(await makeToken({ roles: ["r".repeat(128)] }))).toBe("ok");
    expect(await reason(await makeToken({ roles: ["r".repeat(129)] }))).toBe("token_bad_claims");
    const many = Array.from({ length: 64 }, (_, i) => `r${i}`);
    expect(await reason(await makeToken({ roles: many }))).toBe("ok");
  });

  it("maps an empty or null tenant and absent roles to none", async () => {
    for (const tenant of ["", null]) {
      const result = await verifier().verify(await makeToken({ tenant, roles: null }));
      expect(result).toMatchObject({ ok: true, identity: { tenant: null, roles: [] } });
    }
    const noRoles = await verifier().verify(await makeToken({ roles: undefined }));
    expect(noRoles).toMatchObject({ ok: true, identity: { roles: [] } });
  });

  it("reads the API version from a string or a number, refuses other types", async () => {
    expect(await verifier().verify(await makeToken({ api_version: 3 }))).toMatchObject({
      identity: { apiVersion: "3" },
    });
    expect(await verifier().verify(await makeToken({ api_version: null }))).toMatchObject({
      identity: { apiVersion: null },
    });
    for (const api_version of [true, { v: 1 }, [2]]) {
      expect(await reason(await makeToken({ api_version }))).toBe("token_bad_claims");
    }
  });

  it("refuses an aud that is neither a string nor a list of strings", async () => {
    expect(await reason(await makeToken({ aud: [AUDIENCE, 7] }))).not.toBe("ok");
    expect(await reason(await makeToken({ aud: undefined }))).toBe("token_wrong_audience");
  });

  it("serves a cached token until the last millisecond of exp plus skew", async () => {
    let now = NOW_MS;
    const tokens = verifier({}, () => now);
    const token = await makeToken({ exp: NOW_S + 100 });
    expect(await tokens.verify(token)).toMatchObject({ ok: true, cached: false });
    now = (NOW_S + 130) * 1000 - 1;
    expect(await tokens.verify(token)).toMatchObject({ ok: true, cached: true });
    now = (NOW_S + 130) * 1000;
    expect(await tokens.verify(token)).toMatchObject({ ok: false, reason: "token_expired" });
  });

  it("serves a cached token until the last millisecond of its maximum age plus skew", async () => {
    let now = NOW_MS;
    const tokens = verifier({ maxTokenAgeMinutes: 10 }, () => now);
    const token = await makeToken({ iat: NOW_S - 60, exp: NOW_S + 86_400 });
    expect(await tokens.verify(token)).toMatchObject({ ok: true, cached: false });
    const end = (NOW_S - 60 + 600 + 30) * 1000;
    now = end - 1;
    expect(await tokens.verify(token)).toMatchObject({ ok: true, cached: true });
    // The cache entry ends there; a fresh check still accepts that very millisecond.
    now = end;
    expect(await tokens.verify(token)).toMatchObject({ ok: true, cached: false });
    now = end + 1;
    expect(await verifier({ maxTokenAgeMinutes: 10 }, () => now).verify(token)).toMatchObject({
      ok: false,
      reason: "token_too_old",
    });
  });

  it("accepts a token of exactly JWT_MAX_TOKEN_BYTES", async () => {
    const settings = { maxTokenBytes: 600 };
    let exact: string | undefined;
    for (let pad = 0; exact === undefined && pad < 400; pad += 1) {
      const token = await makeToken({ padding: "p".repeat(pad) });
      if (token.length === 600) exact = token;
    }
    expect(exact).toBeDefined();
    expect(await reason(exact!, settings)).toBe("ok");
    expect(await reason(await makeToken({ padding: "p".repeat(400) }), settings)).toBe(
      "token_too_large",
    );
  });

  it("reads a Bearer header with any scheme case and trailing spaces only", () => {
    expect(bearerToken("bearer abc")).toEqual({ kind: "token", token: "abc" });
    expect(bearerToken("Bearer   abc  ")).toEqual({ kind: "token", token: "abc" });
    expect(bearerToken("Bearer abc def")).toEqual({ kind: "malformed" });
    expect(bearerToken("Bearerabc")).toEqual({ kind: "malformed" });
    expect(bearerToken("xBearer abc")).toEqual({ kind: "malformed" });
    expect(bearerToken("   ")).toEqual({ kind: "absent" });
    expect(bearerToken(undefined)).toEqual({ kind: "absent" });
  });
});
