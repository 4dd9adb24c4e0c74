/** Remote key sets: a local JWKS server on an ephemeral port that can be healthy, down, slow or rotated. */
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { denyResponse } from "../src/envoy/check-response.ts";
import { decide } from "../src/policy/decide.ts";
import { createTokenVerifier } from "../src/policy/token.ts";
import { createTokenKeys } from "../src/runtime/keys.ts";
import { AUDIENCE, decisionDeps, ISSUER, NOW_MS, NOW_S, TOKEN_SETTINGS } from "./fixture-config.ts";

type Mode = "ok" | "down" | "slow";

const keyPair = (): { privateKey: KeyObject; publicKey: KeyObject } =>
  generateKeyPairSync("rsa", { modulusLength: 2048 });
const k1 = keyPair();
const k2 = keyPair();

async function jwk(key: KeyObject, kid: string) {
  return { ...(await exportJWK(key)), kid, alg: "RS256", use: "sig" };
}

function sign(privateKey: KeyObject, kid: string, sub = "alice"): Promise<string> {
  return new SignJWT({ sub, roles: ["developer"], iat: NOW_S - 10, exp: NOW_S + 600 })
    .setProtectedHeader({ alg: "RS256", kid })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .sign(privateKey);
}

describe("JWKS", () => {
  let server: http.Server;
  let url = "";
  let mode: Mode = "ok";
  let hits = 0;
  let keys: object[] = [];
  const held: http.ServerResponse[] = [];

  beforeAll(async () => {
    keys = [await jwk(k1.publicKey, "k1")];
    server = http.createServer((_req, res) => {
      hits += 1;
      if (mode === "down") {
        res.writeHead(503).end();
      } else if (mode === "slow") {
        held.push(res); // never answered: the verifier's own timeout must end the wait
      } else {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys }));
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  });
  afterAll(async () => {
    for (const res of held) res.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  function verifier(options: { cooldownSeconds?: number; timeoutMs?: number } = {}) {
    return createTokenVerifier({
      settings: { ...TOKEN_SETTINGS, algorithms: ["RS256"] },
      keys: createTokenKeys({
        secret: undefined,
        publicKeyPem: undefined,
        jwksUrl: url,
        jwksTimeoutMs: options.timeoutMs ?? 2000,
        jwksCooldownSeconds: options.cooldownSeconds ?? 30,
        jwksCacheMaxAgeSeconds: 600,
      }),
      now: () => NOW_MS,
    });
  }

  it("verifies with a fetched key and reuses the cached set", async () => {
    mode = "ok";
    keys = [await jwk(k1.publicKey, "k1")];
    hits = 0;
    const tokens = verifier();
    expect(await tokens.verify(await sign(k1.privateKey, "k1"))).toMatchObject({ ok: true });
    expect(await tokens.verify(await sign(k1.privateKey, "k1", "bob"))).toMatchObject({ ok: true });
    expect(hits).toBe(1);
  });

  it("refuses an unknown kid and refreshes at a bounded rate", async () => {
    mode = "ok";
    keys = [await jwk(k1.publicKey, "k1")];
    hits = 0;
    const tokens = verifier({ cooldownSeconds: 60 });
    expect(await tokens.verify(await sign(k1.privateKey, "k1"))).toMatchObject({ ok: true });
    expect(hits).toBe(1);
    // Within the cooldown, unknown kids do not trigger fetches: a flood of forged kids costs nothing.
    for (let i = 0; i < 5; i += 1) {
      expect(await tokens.verify(await sign(k2.privateKey, `forged-${i}`, `u${i}`))).toMatchObject({
        ok: false,
        reason: "token_unknown_kid",
      });
    }
    expect(hits).toBe(1);
  });

  it("picks up a rotated key on an unknown kid once the cooldown allows", async () => {
    mode = "ok";
    keys = [await jwk(k1.publicKey, "k1")];
    hits = 0;
    const tokens = verifier({ cooldownSeconds: 0 });
    expect(await tokens.verify(await sign(k1.privateKey, "k1"))).toMatchObject({ ok: true });
    keys = [await jwk(k1.publicKey, "k1"), await jwk(k2.publicKey, "k2")];
    expect(await tokens.verify(await sign(k2.privateKey, "k2"))).toMatchObject({ ok: true });
    expect(hits).toBe(2);
  });

  it("fails closed when the JWKS endpoint is down", async () => {
    mode = "down";
    hits = 0;
    const result = await verifier().verify(await sign(k1.privateKey, "k1"));
    expect(result).toMatchObject({ ok: false, reason: "jwks_unavailable" });
    expect(hits).toBe(1);
  });

  it("fails closed, within its timeout, when the JWKS endpoint is slow", async () => {
    mode = "slow";
    const started = performance.now();
    const result = await verifier({ timeoutMs: 200 }).verify(await sign(k1.privateKey, "k1"));
    expect(result).toMatchObject({ ok: false, reason: "jwks_unavailable" });
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it("answers an unreachable key set with 503, not 401", async () => {
    mode = "down";
    const deps = decisionDeps({ tokens: verifier() });
    const decision = await decide(
      {
        method: "POST",
        path: "/calculator/mcp",
        headers: { authorization: `Bearer ${await sign(k1.privateKey, "k1")}` },
        body: new TextEncoder().encode('{"jsonrpc":"2.0","id":1,"method":"ping"}'),
        contextScope: undefined,
      },
      deps,
    );
    expect(decision).toMatchObject({
      outcome: "deny",
      reason: "jwks_unavailable",
      error: "GW_AUTHZ_UNAVAILABLE",
    });
    if (decision.outcome !== "deny") return;
    expect(denyResponse(decision).denied_response?.status).toEqual({ code: 503 });
  });
});
