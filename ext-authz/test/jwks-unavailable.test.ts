/** A key set that does not answer is the gateway's problem (503), not the client's token. */
import { generateKeyPairSync } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkResponse } from "../src/envoy/check-response.ts";
import { decide } from "../src/policy/decide.ts";
import { createTokenVerifier } from "../src/policy/token.ts";
import { createTokenKeys } from "../src/runtime/keys.ts";
import {
  AUDIENCE,
  decisionDeps,
  ISSUER,
  NOW_MS,
  NOW_S,
  TOKEN_SETTINGS,
  VERDICT_KEY,
} from "./fixture-config.ts";

const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });

let server: http.Server;
let url = "";
const held: http.ServerResponse[] = [];

beforeAll(async () => {
  // Never answers: only the verifier's own timeout ends the wait.
  server = http.createServer((_req, res) => void held.push(res));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
});
afterAll(async () => {
  for (const res of held) res.destroy();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function deny(path: string, body: string, authorization?: string) {
  const token = await new SignJWT({ sub: "alice", roles: ["developer"], iat: NOW_S - 10 })
    .setProtectedHeader({ alg: "RS256", kid: "k1" })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setExpirationTime(NOW_S + 600)
    .sign(privateKey);
  const tokens = createTokenVerifier({
    settings: { ...TOKEN_SETTINGS, algorithms: ["RS256"] },
    keys: createTokenKeys({
      secret: undefined,
      publicKeyPem: undefined,
      jwksUrl: url,
      jwksTimeoutMs: 150,
      jwksCooldownSeconds: 30,
      jwksCacheMaxAgeSeconds: 600,
    }),
    now: () => NOW_MS,
  });
  const headers = { authorization: authorization ?? `Bearer ${token}`, "x-request-id": "req-j" };
  const decision = await decide(
    {
      method: "POST",
      path,
      headers,
      body: new TextEncoder().encode(body),
      contextScope: undefined,
    },
    decisionDeps({ tokens }),
  );
  const denied = checkResponse(decision, headers, VERDICT_KEY).denied_response;
  if (denied === undefined || denied === null) throw new Error("expected a deny");
  return {
    decision,
    status: denied.status?.code,
    headerNames: denied.headers.map((option) => option.header!.key),
    headers: Object.fromEntries(denied.headers.map((o) => [o.header!.key, o.header!.value!])),
    body: JSON.parse(denied.body) as unknown,
  };
}

describe("a slow JWKS", () => {
  it("answers 503 without WWW-Authenticate on an MCP endpoint", async () => {
    const reply = await deny("/calculator/mcp", '{"jsonrpc":"2.0","id":3,"method":"ping"}');
    expect(reply.decision).toMatchObject({ outcome: "deny", reason: "jwks_unavailable" });
    expect(reply.status).toBe(503);
    expect(reply.headerNames).not.toContain("www-authenticate");
    expect(reply.body).toMatchObject({
      jsonrpc: "2.0",
      id: 3,
      error: { data: { code: "GW_AUTHZ_UNAVAILABLE" } },
    });
  });

  it("answers 503 without WWW-Authenticate on the REST API", async () => {
    const reply = await deny("/mcp/invoke", '{"tool_name":"statistics","arguments":{}}');
    expect(reply.status).toBe(503);
    expect(reply.headerNames).not.toContain("www-authenticate");
    expect(reply.body).toMatchObject({ error: { code: "GW_AUTHZ_UNAVAILABLE" } });
  });

  it("still challenges a malformed token with invalid_token (the control)", async () => {
    const reply = await deny(
      "/calculator/mcp",
      '{"jsonrpc":"2.0","id":3,"method":"ping"}',
      "Bearer not-a-jwt",
    );
    expect(reply.status).toBe(401);
    expect(reply.headers["www-authenticate"]).toMatch(/^Bearer error="invalid_token"/);
  });
});
