import { afterEach, describe, expect, it } from "vitest";
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { createIssuer, type Issuer, type IssuerOptions } from "../src/issuer.ts";

const SECRET = "test-secret-key-with-enough-length-0123456789";
const BASE: IssuerOptions & { issuer: string } = {
  issuer: "http://localhost:8010",
  audience: "mcp-gateway",
  algorithm: "HS256",
  secretKey: SECRET,
  maxExpiresInSeconds: 600,
};

type TokenBody = {
  access_token: string;
  token_type: string;
  expires_in: number;
  error?: string;
  error_description?: string;
};

const running: Issuer[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((issuer) => issuer.close()));
});

async function start(overrides: Partial<IssuerOptions> = {}): Promise<string> {
  const issuer = await createIssuer({ ...BASE, ...overrides });
  running.push(issuer);
  const address = await issuer.listen(0, "127.0.0.1");
  return `http://127.0.0.1:${address.port}`;
}

async function postToken(
  base: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: TokenBody }> {
  const response = await fetch(`${base}/token`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as TokenBody };
}

describe("POST /token with HS256", () => {
  it("issues a token the shared key verifies, with the gateway's claims", async () => {
    const base = await start();
    const { status, json } = await postToken(base, {
      user_id: "alice",
      roles: ["developer", "analyst"],
      workspace: "acme",
      api_version: "2",
      expires_in_seconds: 120,
    });
    expect(status).toBe(200);
    expect(json.token_type).toBe("Bearer");
    expect(json.expires_in).toBe(120);
    const { payload, protectedHeader } = await jwtVerify(
      json.access_token,
      new TextEncoder().encode(SECRET),
      {
        issuer: BASE.issuer,
        audience: BASE.audience,
        algorithms: ["HS256"],
      },
    );
    expect(protectedHeader.alg).toBe("HS256");
    expect(payload.sub).toBe("alice");
    expect(payload["tenant"]).toBe("acme");
    expect(payload["roles"]).toEqual(["developer", "analyst"]);
    expect(payload["api_version"]).toBe("2");
    expect(payload.exp! - payload.iat!).toBe(120);
    expect(typeof payload.jti).toBe("string");
  });

  it("applies defaults and gives every token its own jti", async () => {
    const base = await start({ defaultExpiresInSeconds: 900 });
    const first = await postToken(base, { user_id: "bob" });
    const second = await postToken(base, { user_id: "bob" });
    expect(first.status).toBe(200);
    // The default is capped by the maximum.
    expect(first.json.expires_in).toBe(600);
    const a = await jwtVerify(first.json.access_token, new TextEncoder().encode(SECRET));
    const b = await jwtVerify(second.json.access_token, new TextEncoder().encode(SECRET));
    expect(a.payload["roles"]).toEqual([]);
    expect(a.payload["tenant"]).toBe("default");
    expect(a.payload["api_version"]).toBeUndefined();
    expect(a.payload.jti).not.toBe(b.payload.jti);
  });

  it("uses the injected clock for iat and exp", async () => {
    const base = await start({ now: () => 1_700_000_000_500 });
    const { json } = await postToken(base, { user_id: "carol", expires_in_seconds: 60 });
    const [, payloadPart] = json.access_token.split(".");
    const payload = JSON.parse(Buffer.from(payloadPart!, "base64url").toString("utf8"));
    expect(payload.iat).toBe(1_700_000_000);
    expect(payload.exp).toBe(1_700_000_060);
  });

  it("does not publish a JWKS for a symmetric key", async () => {
    const base = await start();
    const response = await fetch(`${base}/.well-known/jwks.json`);
    expect(response.status).toBe(404);
  });

  it("publishes RFC 8414 metadata naming its endpoints and no keys", async () => {
    const base = await start({ issuer: "http://localhost:8010/" });
    const response = await fetch(`${base}/.well-known/oauth-authorization-server`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      issuer: "http://localhost:8010/",
      authorization_endpoint: "http://localhost:8010/authorize",
      token_endpoint: "http://localhost:8010/token",
      registration_endpoint: "http://localhost:8010/register",
      response_types_supported: ["code"],
      grant_types_supported: ["authorization_code"],
      code_challenge_methods_supported: ["S256"],
      token_endpoint_auth_methods_supported: ["none"],
      authorization_response_iss_parameter_supported: true,
    });
    const post = await fetch(`${base}/.well-known/oauth-authorization-server`, { method: "POST" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET");
  });

  it("derives its identifier from the bound address when told to", async () => {
    const issuer = await createIssuer({
      ...BASE,
      issuer: (address) => `http://localhost:${address.port}`,
    });
    running.push(issuer);
    expect(() => issuer.identifier()).toThrow(/once listening/);
    const { port } = await issuer.listen(0, "127.0.0.1");
    expect(issuer.identifier()).toBe(`http://localhost:${port}`);
    const base = `http://127.0.0.1:${port}`;
    const metadata = (await (
      await fetch(`${base}/.well-known/oauth-authorization-server`)
    ).json()) as Record<string, unknown>;
    expect(metadata["issuer"]).toBe(`http://localhost:${port}`);
    const { json } = await postToken(base, { user_id: "eve" });
    const { payload } = await jwtVerify(json.access_token, new TextEncoder().encode(SECRET), {
      issuer: `http://localhost:${port}`,
    });
    expect(payload.sub).toBe("eve");
  });

  it("refuses a short HS256 key at creation", async () => {
    await expect(createIssuer({ ...BASE, secretKey: "short" })).rejects.toThrow(/at least 32/);
    await expect(createIssuer({ ...BASE, secretKey: undefined })).rejects.toThrow(/at least 32/);
  });
});

describe.each(["RS256", "ES256"] as const)("POST /token with %s", (algorithm) => {
  it("signs with a generated key published at /.well-known/jwks.json", async () => {
    const base = await start({ algorithm, secretKey: undefined });
    const jwksResponse = await fetch(`${base}/.well-known/jwks.json`);
    expect(jwksResponse.status).toBe(200);
    const jwks = (await jwksResponse.json()) as { keys: Array<Record<string, unknown>> };
    expect(jwks.keys).toHaveLength(1);
    const key = jwks.keys[0]!;
    expect(key.alg).toBe(algorithm);
    expect(key.use).toBe("sig");
    // Only the public half is published.
    expect(key.d).toBeUndefined();
    expect(key.p).toBeUndefined();

    const { status, json } = await postToken(base, {
      user_id: "dave",
      roles: ["admin"],
      workspace: "w1",
    });
    expect(status).toBe(200);
    expect(decodeProtectedHeader(json.access_token).kid).toBe(key.kid);
    const { payload } = await jwtVerify(
      json.access_token,
      createRemoteJWKSet(new URL(`${base}/.well-known/jwks.json`)),
      {
        issuer: BASE.issuer,
        audience: BASE.audience,
        algorithms: [algorithm],
      },
    );
    expect(payload.sub).toBe("dave");
    expect(payload["roles"]).toEqual(["admin"]);
  });

  it("names its JWKS in its RFC 8414 metadata", async () => {
    const base = await start({ algorithm, secretKey: undefined });
    const metadata = (await (
      await fetch(`${base}/.well-known/oauth-authorization-server`)
    ).json()) as Record<string, unknown>;
    expect(metadata).toMatchObject({
      issuer: BASE.issuer,
      token_endpoint: `${BASE.issuer}/token`,
      jwks_uri: `${BASE.issuer}/.well-known/jwks.json`,
    });
  });
});

describe("X-Issuer-Token guard", () => {
  it("requires the admin token when one is configured", async () => {
    const base = await start({ adminToken: "issuer-admin-token-for-tests-0123456789" });
    expect((await postToken(base, { user_id: "eve" })).status).toBe(401);
    expect((await postToken(base, { user_id: "eve" }, { "x-issuer-token": "wrong" })).status).toBe(
      401,
    );
    const sameLength = "issuer-admin-token-for-tests-0123456780";
    expect(
      (await postToken(base, { user_id: "eve" }, { "x-issuer-token": sameLength })).status,
    ).toBe(401);
    const ok = await postToken(
      base,
      { user_id: "eve" },
      { "x-issuer-token": "issuer-admin-token-for-tests-0123456789" },
    );
    expect(ok.status).toBe(200);
  });

  it("checks the admin token before reading the body", async () => {
    const base = await start({ adminToken: "issuer-admin-token-for-tests-0123456789" });
    const { status, json } = await postToken(base, "not json");
    expect(status).toBe(401);
    expect(json.error).toBe("unauthorized");
  });
});

describe("bad requests", () => {
  const cases: Array<[string, unknown, RegExp]> = [
    ["missing user_id", { roles: [] }, /user_id/],
    ["empty user_id", { user_id: "" }, /user_id must not be empty/],
    ["user_id with spaces", { user_id: "a b" }, /user_id may only contain/],
    ["roles not an array", { user_id: "a", roles: "admin" }, /roles/],
    ["role not a string", { user_id: "a", roles: [1] }, /roles\.0/],
    ["expiry above the maximum", { user_id: "a", expires_in_seconds: 601 }, /at most 600/],
    ["expiry zero", { user_id: "a", expires_in_seconds: 0 }, /at least 1/],
    ["fractional expiry", { user_id: "a", expires_in_seconds: 1.5 }, /integer/],
    ["unknown field", { user_id: "a", role: ["x"] }, /role/],
    ["array body", [], /object/],
  ];
  it.each(cases)("%s → 400 naming the problem", async (_name, body, pattern) => {
    const base = await start();
    const { status, json } = await postToken(base, body);
    expect(status).toBe(400);
    expect(json.error).toBe("invalid_request");
    expect(json.error_description).toMatch(pattern);
  });

  it("rejects a body that is not JSON", async () => {
    const base = await start();
    const { status, json } = await postToken(base, "{not json");
    expect(status).toBe(400);
    expect(json.error_description).toMatch(/not valid JSON/);
  });

  it("rejects a wrong content type", async () => {
    const base = await start();
    const response = await fetch(`${base}/token`, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: JSON.stringify({ user_id: "a" }),
    });
    expect(response.status).toBe(415);
  });

  it("rejects an oversized body", async () => {
    const base = await start();
    const { status } = await postToken(base, { user_id: "a", padding: "x".repeat(20_000) });
    expect(status).toBe(413);
  });

  it("answers 405 for a wrong method and 404 for unknown paths", async () => {
    const base = await start();
    const get = await fetch(`${base}/token`);
    expect(get.status).toBe(405);
    expect(get.headers.get("allow")).toBe("POST");
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    const health = await fetch(`${base}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok" });
  });
});
