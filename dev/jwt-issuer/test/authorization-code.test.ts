import { createHash, randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { jwtVerify } from "jose";
import { createIssuer, type Issuer, type IssuerOptions } from "../src/issuer.ts";

const SECRET = "test-secret-key-with-enough-length-0123456789";
const ISSUER = "http://localhost:8010";
const REDIRECT = "http://127.0.0.1:33418/oauth/callback";

const running: Issuer[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((issuer) => issuer.close()));
});

async function start(overrides: Partial<IssuerOptions> = {}): Promise<string> {
  const issuer = await createIssuer({
    issuer: ISSUER,
    audience: "mcp-gateway",
    algorithm: "HS256",
    secretKey: SECRET,
    maxExpiresInSeconds: 600,
    ...overrides,
  });
  running.push(issuer);
  const { port } = await issuer.listen(0, "127.0.0.1");
  return `http://127.0.0.1:${port}`;
}

function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString("base64url");
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") };
}

async function register(base: string, body: unknown): Promise<Response> {
  return fetch(`${base}/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

async function clientId(base: string, name = "mcp-remote"): Promise<string> {
  const response = await register(base, { redirect_uris: [REDIRECT], client_name: name });
  expect(response.status).toBe(201);
  return ((await response.json()) as { client_id: string }).client_id;
}

function authorizeUrl(base: string, params: Record<string, string>): string {
  return `${base}/authorize?${new URLSearchParams(params).toString()}`;
}

/** Opens the sign-in page like a browser and returns the hidden request id. */
async function signInPage(base: string, params: Record<string, string>): Promise<string> {
  const response = await fetch(authorizeUrl(base, params), { redirect: "manual" });
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toBe("text/html; charset=utf-8");
  expect(response.headers.get("x-frame-options")).toBe("DENY");
  const html = await response.text();
  const request = /name="request" value="([^"]+)"/.exec(html)?.[1];
  expect(request).toBeDefined();
  return request!;
}

async function submit(base: string, fields: Record<string, string>): Promise<Response> {
  return fetch(`${base}/authorize`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(fields).toString(),
    redirect: "manual",
  });
}

async function exchange(base: string, fields: Record<string, string>): Promise<Response> {
  return fetch(`${base}/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "authorization_code", ...fields }).toString(),
  });
}

/** Registers, signs in with the form's values and returns what the client needs to redeem. */
async function codeFor(
  base: string,
  form: Record<string, string> = {},
): Promise<{ client: string; verifier: string; code: string; location: URL }> {
  const client = await clientId(base);
  const { verifier, challenge } = pkce();
  const request = await signInPage(base, {
    response_type: "code",
    client_id: client,
    redirect_uri: REDIRECT,
    code_challenge: challenge,
    code_challenge_method: "S256",
    state: "xyz",
    resource: "http://127.0.0.1:8000/calculator/mcp",
  });
  const response = await submit(base, {
    request,
    action: "approve",
    user_id: "alice",
    roles: "developer, analyst",
    workspace: "acme",
    ...form,
  });
  expect(response.status).toBe(302);
  const location = new URL(response.headers.get("location")!);
  return { client, verifier, code: location.searchParams.get("code") ?? "", location };
}

describe("authorization code flow", () => {
  it("registers a client, signs in through the form and redeems the code once", async () => {
    const base = await start();
    const { client, verifier, code, location } = await codeFor(base);
    expect(`${location.origin}${location.pathname}`).toBe(REDIRECT);
    expect(location.searchParams.get("state")).toBe("xyz");
    expect(location.searchParams.get("iss")).toBe(ISSUER);
    expect(code).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const redeemed = await exchange(base, {
      code,
      code_verifier: verifier,
      client_id: client,
      redirect_uri: REDIRECT,
    });
    expect(redeemed.status).toBe(200);
    const body = (await redeemed.json()) as { access_token: string; token_type: string };
    expect(body.token_type).toBe("Bearer");
    const { payload } = await jwtVerify(body.access_token, new TextEncoder().encode(SECRET), {
      issuer: ISSUER,
      audience: "mcp-gateway",
    });
    expect(payload).toMatchObject({
      sub: "alice",
      roles: ["developer", "analyst"],
      tenant: "acme",
    });

    const again = await exchange(base, { code, code_verifier: verifier, client_id: client });
    expect(again.status).toBe(400);
    expect(await again.json()).toMatchObject({ error: "invalid_grant" });
  });

  it.each([
    [
      "a wrong verifier",
      (v: string) => ({ code_verifier: `${v.slice(0, -1)}${v.endsWith("A") ? "B" : "A"}` }),
    ],
    ["a short verifier", () => ({ code_verifier: "short" })],
    ["another client", () => ({ client_id: "someone-else" })],
    ["another redirect_uri", () => ({ redirect_uri: "http://127.0.0.1:1/cb" })],
  ])("refuses a code redeemed with %s, and burns it", async (_label, change) => {
    const base = await start();
    const { client, verifier, code } = await codeFor(base);
    const fields = { code, code_verifier: verifier, client_id: client, ...change(verifier) };
    const refused = await exchange(base, fields);
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: "invalid_grant" });
    const honest = await exchange(base, { code, code_verifier: verifier, client_id: client });
    expect(honest.status).toBe(400);
  });

  it("lets a code expire after a minute", async () => {
    let nowMs = Date.parse("2026-01-01T00:00:00Z");
    const base = await start({ now: () => nowMs });
    const { client, verifier, code } = await codeFor(base);
    nowMs += 61_000;
    const late = await exchange(base, { code, code_verifier: verifier, client_id: client });
    expect(await late.json()).toMatchObject({ error: "invalid_grant" });
  });

  it("answers other grant types as unsupported", async () => {
    const base = await start();
    const response = await fetch(`${base}/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "grant_type=client_credentials",
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: "unsupported_grant_type" });
  });

  it("sends access_denied back when the developer cancels", async () => {
    const base = await start();
    const client = await clientId(base);
    const request = await signInPage(base, {
      response_type: "code",
      client_id: client,
      code_challenge: pkce().challenge,
      code_challenge_method: "S256",
      state: "s1",
    });
    const response = await submit(base, { request, action: "deny" });
    const location = new URL(response.headers.get("location")!);
    expect(location.searchParams.get("error")).toBe("access_denied");
    expect(location.searchParams.get("state")).toBe("s1");
    // The request is spent.
    expect((await submit(base, { request, action: "approve", user_id: "a" })).status).toBe(400);
  });

  it("shows the form again for bad input or a wrong issuer token, keeping the request", async () => {
    const base = await start({ adminToken: "admin-token-0123456789" });
    const client = await clientId(base, "<script>alert(1)</script>");
    const page = await fetch(
      authorizeUrl(base, {
        response_type: "code",
        client_id: client,
        code_challenge: pkce().challenge,
        code_challenge_method: "S256",
      }),
    );
    const html = await page.text();
    expect(html).not.toContain("<script>");
    expect(html).toContain("&#60;script&#62;");
    expect(html).toContain('name="issuer_token"');
    const request = /name="request" value="([^"]+)"/.exec(html)![1]!;

    const wrongToken = await submit(base, {
      request,
      action: "approve",
      user_id: "alice",
      issuer_token: "guess",
    });
    expect(wrongToken.status).toBe(200);
    expect(await wrongToken.text()).toContain("Wrong issuer token.");
    const badUser = await submit(base, {
      request,
      action: "approve",
      user_id: "has spaces",
      issuer_token: "admin-token-0123456789",
    });
    expect(badUser.status).toBe(200);
    expect(await badUser.text()).toContain("user_id may only contain");
    const good = await submit(base, {
      request,
      action: "approve",
      user_id: "alice",
      issuer_token: "admin-token-0123456789",
    });
    expect(good.status).toBe(302);
  });

  it.each([
    ["an unknown client", { client_id: "nope" }, /Unknown client_id/],
    ["an unregistered redirect_uri", { redirect_uri: "http://127.0.0.1:9/cb" }, /redirect_uri/],
  ])("shows an error page, not a redirect, for %s", async (_label, change, message) => {
    const base = await start();
    const client = await clientId(base);
    const response = await fetch(
      authorizeUrl(base, {
        response_type: "code",
        client_id: client,
        redirect_uri: REDIRECT,
        code_challenge: pkce().challenge,
        code_challenge_method: "S256",
        ...change,
      }),
      { redirect: "manual" },
    );
    expect(response.status).toBe(400);
    expect(await response.text()).toMatch(message);
  });

  it.each([
    ["no PKCE", { code_challenge: "" }, "invalid_request"],
    ["plain PKCE", { code_challenge_method: "plain" }, "invalid_request"],
    ["the implicit flow", { response_type: "token" }, "unsupported_response_type"],
  ])("sends %s back to the client as an error", async (_label, change, error) => {
    const base = await start();
    const client = await clientId(base);
    const response = await fetch(
      authorizeUrl(base, {
        response_type: "code",
        client_id: client,
        redirect_uri: REDIRECT,
        code_challenge: pkce().challenge,
        code_challenge_method: "S256",
        state: "st",
        ...change,
      }),
      { redirect: "manual" },
    );
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get("location")!);
    expect(`${location.origin}${location.pathname}`).toBe(REDIRECT);
    expect(location.searchParams.get("error")).toBe(error);
    expect(location.searchParams.get("state")).toBe("st");
  });

  it("refuses a sign-in request it never issued or that expired", async () => {
    let nowMs = Date.parse("2026-01-01T00:00:00Z");
    const base = await start({ now: () => nowMs });
    expect((await submit(base, { request: "made-up", action: "approve" })).status).toBe(400);
    const client = await clientId(base);
    const request = await signInPage(base, {
      response_type: "code",
      client_id: client,
      code_challenge: pkce().challenge,
      code_challenge_method: "S256",
    });
    nowMs += 11 * 60_000;
    const late = await submit(base, { request, action: "approve", user_id: "alice" });
    expect(late.status).toBe(400);
    expect(await late.text()).toContain("expired");
  });

  it.each([
    ["no redirect_uris", {}, "invalid_client_metadata"],
    ["an empty list", { redirect_uris: [] }, "invalid_client_metadata"],
    ["a remote redirect", { redirect_uris: ["https://evil.example/cb"] }, "invalid_redirect_uri"],
    ["an https loopback", { redirect_uris: ["https://localhost/cb"] }, "invalid_redirect_uri"],
    ["a fragment", { redirect_uris: ["http://localhost:1/cb#x"] }, "invalid_redirect_uri"],
    ["no URL", { redirect_uris: ["callback"] }, "invalid_redirect_uri"],
    ["not JSON", "{", "invalid_client_metadata"],
  ])("refuses to register %s", async (_label, body, error) => {
    const base = await start();
    const response = await register(base, body);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error });
  });

  it("registers public clients only, ignoring metadata it does not use", async () => {
    const base = await start();
    const response = await register(base, {
      redirect_uris: ["http://localhost:4243/oauth/callback"],
      token_endpoint_auth_method: "client_secret_basic",
      grant_types: ["authorization_code", "refresh_token"],
      software_id: "x",
    });
    expect(response.status).toBe(201);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      redirect_uris: ["http://localhost:4243/oauth/callback"],
      token_endpoint_auth_method: "none",
      grant_types: ["authorization_code"],
    });
    expect(body["client_secret"]).toBeUndefined();
    const wrongType = await fetch(`${base}/register`, { method: "POST", body: "x" });
    expect(wrongType.status).toBe(415);
  });
});
