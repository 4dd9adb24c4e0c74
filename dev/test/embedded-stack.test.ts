import { createServer, type Server } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import {
  UnauthorizedError,
  type OAuthClientProvider,
} from "@modelcontextprotocol/sdk/client/auth.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type {
  OAuthClientInformationMixed,
  OAuthTokens,
} from "@modelcontextprotocol/sdk/shared/auth.js";
import { decodeJwt, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EnvError } from "../../config/src/env.ts";
import { servesEmbeddedIssuer } from "../embedded-issuer.ts";
import { startEmbeddedStack, type EmbeddedStack } from "../embedded-stack.ts";
import { signDevToken } from "../token-cli.ts";

const CONFIG_DIR = fileURLToPath(new URL("../../config", import.meta.url));
const PRODUCTION_JWT_KEY = "prod-jwt-key-0123456789-abcdefghijklmnopqr";

/** A port held open here: a stack that tried to listen on it would fail to start. */
async function holdPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return { port: address.port, server };
}

async function invoke(stack: EmbeddedStack, token: string, origin?: string): Promise<number> {
  const response = await fetch(`${stack.url}/mcp/invoke`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
      ...(origin === undefined ? {} : { origin }),
    },
    body: JSON.stringify({
      tool_name: "calculator.exact_calculate",
      arguments: { operator: "add", operands: ["1", "2"] },
    }),
  });
  await response.arrayBuffer();
  return response.status;
}

async function initialize(stack: EmbeddedStack, token: string, origin: string): Promise<number> {
  const response = await fetch(`${stack.url}/calculator/mcp`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      origin,
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: {
        protocolVersion: "2025-06-18",
        capabilities: {},
        clientInfo: { name: "origin-test", version: "1" },
      },
    }),
  });
  await response.arrayBuffer();
  return response.status;
}

async function protectedResource(stack: EmbeddedStack): Promise<Record<string, unknown>> {
  const response = await fetch(`${stack.url}/.well-known/oauth-protected-resource/calculator/mcp`);
  return (await response.json()) as Record<string, unknown>;
}

const held: Server[] = [];
let development: EmbeddedStack;
let production: EmbeddedStack;
let busyPort: number;

beforeAll(async () => {
  const busy = await holdPort();
  held.push(busy.server);
  busyPort = busy.port;
  const common = {
    PORT: "0",
    EXT_AUTHZ_PORT: "0",
    CONFIG_DIR,
    LOG_LEVEL: "silent",
    // The git tool reads this repository; nothing here depends on its contents.
    GIT_REPOSITORIES: `gateway=${path.dirname(CONFIG_DIR)}`,
  };
  [development, production] = await Promise.all([
    startEmbeddedStack({
      env: {
        ...common,
        NODE_ENV: "development",
        JWT_ISSUER_PORT: "0",
        ALLOWED_ORIGINS: "https://app.example.com",
      },
      inMemoryDatabase: true,
    }),
    startEmbeddedStack({
      env: {
        ...common,
        NODE_ENV: "production",
        // Held by this test: the stack starts only because production never serves the issuer.
        JWT_ISSUER_PORT: String(busy.port),
        JWT_SECRET_KEY: PRODUCTION_JWT_KEY,
        JWT_ISSUER: "https://login.example.com",
        JWT_AUDIENCE: "mcp-gateway",
        GATEWAY_PUBLIC_URL: "https://mcp.example.com",
        GATEWAY_VERDICT_KEY: "prod-verdict-key-0123456789-abcdefghijklmn",
        TOOL_GATEWAY_SHARED_SECRET: "prod-tool-secret-0123456789-abcdefghijklm",
        SHUTDOWN_DRAIN_MS: "0",
      },
      inMemoryDatabase: true,
    }),
  ]);
}, 180_000);

afterAll(async () => {
  await Promise.all([development?.close(), production?.close()]);
  for (const server of held) server.close();
});

describe("embedded stack in development", () => {
  it("advertises its listener and its own issuer, which answers", async () => {
    expect(development.publicUrl).toBe(development.url);
    const issuer = development.issuer;
    expect(issuer?.issuer).toMatch(/^http:\/\/localhost:\d+$/);
    expect(issuer?.issuer).not.toBe("http://localhost:8010");
    expect(await protectedResource(development)).toMatchObject({
      resource: `${development.url}/calculator/mcp`,
      authorization_servers: [issuer?.issuer],
    });
    const metadata = await fetch(`${issuer?.url}/.well-known/oauth-authorization-server`);
    expect(await metadata.json()).toMatchObject({ issuer: issuer?.issuer });
  });

  it("accepts tokens from its issuer and from `npm run token`", async () => {
    const minted = await fetch(`${development.issuer?.url}/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ user_id: "demo", roles: ["developer"] }),
    });
    const { access_token: fromIssuer } = (await minted.json()) as { access_token: string };
    expect(await invoke(development, fromIssuer)).toBe(200);
    const fromCommand = await signDevToken(
      { user: "demo", roles: ["developer"], ttlSeconds: 60 },
      { NODE_ENV: "development", JWT_ISSUER: development.issuer?.issuer },
    );
    expect(await invoke(development, fromCommand)).toBe(200);
    // The issuer the token names must be this one.
    const elsewhere = await signDevToken(
      { user: "demo", roles: ["developer"], ttlSeconds: 60 },
      { NODE_ENV: "development", JWT_ISSUER: "http://localhost:1" },
    );
    expect(await invoke(development, elsewhere)).toBe(401);
  });

  it("lets an MCP SDK client sign in by itself: discovery, registration, PKCE, then tools", async () => {
    // What mcp-remote does, with the developer's browser played here: open the sign-in page,
    // submit the form, hand the code from the redirect back to the client.
    let authorizationUrl: URL | undefined;
    let verifier = "";
    let client: OAuthClientInformationMixed | undefined;
    let tokens: OAuthTokens | undefined;
    const provider: OAuthClientProvider = {
      redirectUrl: "http://127.0.0.1:1/oauth/callback",
      clientMetadata: {
        client_name: "sdk-test",
        redirect_uris: ["http://127.0.0.1:1/oauth/callback"],
        grant_types: ["authorization_code"],
        response_types: ["code"],
        token_endpoint_auth_method: "none",
      },
      clientInformation: () => client,
      saveClientInformation: (information) => {
        client = information;
      },
      tokens: () => tokens,
      saveTokens: (saved) => {
        tokens = saved;
      },
      redirectToAuthorization: (url) => {
        authorizationUrl = url;
      },
      saveCodeVerifier: (saved) => {
        verifier = saved;
      },
      codeVerifier: () => verifier,
    };
    const endpoint = new URL(`${development.url}/calculator/mcp`);
    const first = new StreamableHTTPClientTransport(endpoint, { authProvider: provider });
    await expect(new Client({ name: "sdk-test", version: "1" }).connect(first)).rejects.toThrow(
      UnauthorizedError,
    );
    expect(authorizationUrl?.origin).toBe(new URL(development.issuer!.issuer).origin);

    const page = await (await fetch(authorizationUrl!)).text();
    const request = /name="request" value="([^"]+)"/.exec(page)![1]!;
    const submitted = await fetch(new URL("/authorize", development.issuer!.url), {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ request, action: "approve", user_id: "carol", roles: "analyst" }),
      redirect: "manual",
    });
    const code = new URL(submitted.headers.get("location")!).searchParams.get("code")!;
    await first.finishAuth(code);
    expect(decodeJwt(tokens!.access_token)).toMatchObject({
      sub: "carol",
      iss: development.issuer!.issuer,
    });

    const mcp = new Client({ name: "sdk-test", version: "1" });
    await mcp.connect(new StreamableHTTPClientTransport(endpoint, { authProvider: provider }));
    try {
      const { tools } = await mcp.listTools();
      expect(tools.map((tool) => tool.name)).toContain("exact_calculate");
    } finally {
      await mcp.close();
    }
  });

  it.each([
    ["its own origin", () => development.url, 200],
    ["a loopback dev server", () => "http://localhost:5173", 200],
    ["IPv6 loopback", () => "http://[::1]:3000", 200],
    ["a configured origin", () => "https://app.example.com", 200],
    ["a foreign origin", () => "https://evil.example", 403],
    ["a look-alike of loopback", () => "http://localhost.evil.example:8000", 403],
    ["an https loopback origin", () => "https://localhost:5173", 403],
    ["an opaque origin", () => "null", 403],
  ])("origin check: %s", async (_label, origin, status) => {
    const token = await signDevToken(
      { user: "demo", roles: ["developer"], ttlSeconds: 60 },
      { NODE_ENV: "development", JWT_ISSUER: development.issuer?.issuer },
    );
    expect(await invoke(development, token, origin())).toBe(status);
    expect(await initialize(development, token, origin())).toBe(status);
  });
});

describe("embedded stack in production", () => {
  const token = () =>
    new SignJWT({ roles: ["developer"] })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setSubject("ops")
      .setIssuer("https://login.example.com")
      .setAudience("mcp-gateway")
      .setIssuedAt()
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode(PRODUCTION_JWT_KEY));

  it("serves no issuer and advertises the configured URLs", async () => {
    expect(production.issuer).toBeUndefined();
    expect(production.publicUrl).toBe("https://mcp.example.com");
    const unauthorized = await fetch(`${production.url}/git/mcp`, { method: "POST" });
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers.get("www-authenticate")).toBe(
      'Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/git/mcp"',
    );
    expect(await protectedResource(production)).toMatchObject({
      resource: "https://mcp.example.com/calculator/mcp",
      authorization_servers: ["https://login.example.com"],
    });
  });

  it("accepts its public origin and refuses loopback origins that are not listed", async () => {
    const jwt = await token();
    expect(await invoke(production, jwt)).toBe(200);
    expect(await invoke(production, jwt, "https://mcp.example.com")).toBe(200);
    expect(await initialize(production, jwt, "https://mcp.example.com")).toBe(200);
    for (const origin of ["http://localhost:5173", "http://127.0.0.1:8000", production.url]) {
      expect(await invoke(production, jwt, origin)).toBe(403);
      expect(await initialize(production, jwt, origin)).toBe(403);
    }
  });
});

describe("embedded issuer settings", () => {
  it("is served only in development, and not when ext-authz trusts another issuer's keys", () => {
    expect(servesEmbeddedIssuer({ NODE_ENV: "development" })).toBe(true);
    expect(servesEmbeddedIssuer({ NODE_ENV: "production" })).toBe(false);
    expect(servesEmbeddedIssuer({ NODE_ENV: "test" })).toBe(false);
    expect(servesEmbeddedIssuer({})).toBe(false);
    expect(
      servesEmbeddedIssuer({
        NODE_ENV: "development",
        JWT_JWKS_URL: "https://login.example.com/jwks",
      }),
    ).toBe(false);
    expect(
      servesEmbeddedIssuer({
        NODE_ENV: "development",
        JWT_PUBLIC_KEY: "-----BEGIN PUBLIC KEY-----",
      }),
    ).toBe(false);
  });

  it.each([
    [
      "a port already in use",
      () => ({ JWT_ISSUER_PORT: String(busyPort) }),
      /JWT_ISSUER_PORT: port \d+ is in use/,
    ],
    [
      "a key pair with an HMAC key configured",
      () => ({ ISSUER_ALGORITHM: "RS256", JWT_SECRET_KEY: PRODUCTION_JWT_KEY }),
      /JWT_SECRET_KEY: the development issuer signs with RS256/,
    ],
    ["an unknown algorithm", () => ({ ISSUER_ALGORITHM: "none" }), /ISSUER_ALGORITHM/],
    ["an issuer that is no URL", () => ({ JWT_ISSUER: "issuer" }), /JWT_ISSUER/],
  ])("refuses %s", async (_label, overrides, message) => {
    const started = startEmbeddedStack({
      env: {
        NODE_ENV: "development",
        PORT: "0",
        EXT_AUTHZ_PORT: "0",
        JWT_ISSUER_PORT: "0",
        CONFIG_DIR,
        LOG_LEVEL: "silent",
        ...overrides(),
      },
      inMemoryDatabase: true,
    });
    await expect(started).rejects.toBeInstanceOf(EnvError);
    await expect(started).rejects.toThrow(message);
  });
});
