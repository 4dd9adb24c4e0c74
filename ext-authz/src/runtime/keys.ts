/** Key material for token verification, built once from settings. */
import { createPublicKey } from "node:crypto";
import { createRemoteJWKSet } from "jose";
import type { TokenKeys } from "../policy/token.ts";

export type KeySettings = {
  secret: string | undefined;
  publicKeyPem: string | undefined;
  jwksUrl: string | undefined;
  jwksTimeoutMs: number;
  jwksCooldownSeconds: number;
  jwksCacheMaxAgeSeconds: number;
};

export function createTokenKeys(settings: KeySettings): TokenKeys {
  if (settings.jwksUrl !== undefined) {
    // jose caches the set, refetches on an unknown kid at most once per cooldown, and bounds
    // each fetch by the timeout: a slow or down JWKS endpoint cannot stall checks indefinitely.
    const getKey = createRemoteJWKSet(new URL(settings.jwksUrl), {
      timeoutDuration: settings.jwksTimeoutMs,
      cooldownDuration: settings.jwksCooldownSeconds * 1000,
      cacheMaxAge: settings.jwksCacheMaxAgeSeconds * 1000,
    });
    return { kind: "jwks", getKey };
  }
  if (settings.publicKeyPem !== undefined) {
    // Env files often carry PEM with literal "\n" sequences.
    const pem = settings.publicKeyPem.includes("\\n")
      ? settings.publicKeyPem.replaceAll("\\n", "\n")
      : settings.publicKeyPem;
    const key = createPublicKey(pem);
    if (key.type !== "public") throw new Error("JWT_PUBLIC_KEY is not a public key");
    return { kind: "public", key };
  }
  if (settings.secret !== undefined) {
    return { kind: "secret", secret: new TextEncoder().encode(settings.secret) };
  }
  throw new Error("no JWT key configured: set JWT_SECRET_KEY, JWT_PUBLIC_KEY or JWT_JWKS_URL");
}
