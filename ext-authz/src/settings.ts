/**
 * ext-authz environment, parsed once (by main.ts, and by the dev token command that must sign
 * exactly what ext-authz accepts). Secrets follow config/src/env.ts: required and strong outside
 * development, documented dev defaults with NODE_ENV=development|test.
 */
import { z } from "zod";
import {
  auditEnvShape,
  baseEnvShape,
  commaList,
  nonNegativeIntString,
  parseEnv,
  portNumber,
  positiveIntString,
  secretSchema,
  type EnvSource,
} from "../../config/src/env.ts";

export const ExtAuthzEnvSchema = z.object({
  ...baseEnvShape,
  ...auditEnvShape,
  EXT_AUTHZ_HOST: z.string().min(1).default("0.0.0.0"),
  EXT_AUTHZ_PORT: portNumber.default(9191),
  EXT_AUTHZ_METRICS_PORT: portNumber.default(9192),

  JWT_SECRET_KEY: secretSchema("JWT_SECRET_KEY", { optional: true }),
  JWT_PUBLIC_KEY: z
    .string()
    .includes("-----BEGIN", { error: "expected a PEM public key" })
    .optional(),
  JWT_JWKS_URL: z.url({ protocol: /^https?$/, error: "expected an http(s) URL" }).optional(),
  JWT_ISSUER: z.string().min(1).default("http://localhost:8010"),
  JWT_AUDIENCE: z.string().min(1).default("mcp-gateway"),
  /** The original product's single-algorithm setting: the allowed list when that is unset. */
  JWT_ALGORITHM: z.string().min(1).default("HS256"),
  JWT_ALLOWED_ALGORITHMS: commaList.optional(),
  JWT_CLOCK_SKEW_SECONDS: nonNegativeIntString.pipe(z.number().max(600)).default(30),
  /** 0 disables the age rule (then `iat` is optional); default one day. */
  JWT_MAX_TOKEN_AGE_MINUTES: nonNegativeIntString.default(1440),
  JWT_MAX_TOKEN_BYTES: positiveIntString.default(8192),
  JWT_USER_ID_CLAIM: z.string().min(1).default("sub"),
  JWT_ROLES_CLAIM: z.string().min(1).default("roles"),
  JWT_TENANT_CLAIM: z.string().min(1).default("tenant"),
  JWT_API_VERSION_CLAIM: z.string().min(1).default("api_version"),
  JWT_EXP_CLAIM: z.string().min(1).default("exp"),
  JWT_IAT_CLAIM: z.string().min(1).default("iat"),
  JWT_ALLOWED_API_VERSIONS: commaList.default([]),
  JWT_CACHE_SIZE: positiveIntString.default(10_000),
  JWT_JWKS_TIMEOUT_MS: positiveIntString.default(1000),
  JWT_JWKS_COOLDOWN_SECONDS: nonNegativeIntString.default(30),
  JWT_JWKS_CACHE_MAX_AGE_SECONDS: positiveIntString.default(600),

  GATEWAY_VERDICT_KEY: secretSchema("GATEWAY_VERDICT_KEY"),
  GATEWAY_VERDICT_TTL_SECONDS: positiveIntString.pipe(z.number().max(3600)).default(30),

  MAX_REQUEST_BYTES: positiveIntString.default(1_048_576),
  MAX_JSON_DEPTH: positiveIntString.pipe(z.number().max(1000)).default(64),
  REDIS_URL: z
    .url({ protocol: /^rediss?$/, error: "expected a redis:// or rediss:// URL" })
    .optional(),
  RATE_LIMIT_KEY_PREFIX: z.string().min(1).default("mcpgw:rl"),
  DATABASE_URL: z.string().optional(),
  SHUTDOWN_GRACE_MS: positiveIntString.default(10_000),
});
export type ExtAuthzEnv = Omit<z.infer<typeof ExtAuthzEnvSchema>, "JWT_ALLOWED_ALGORITHMS"> & {
  JWT_ALLOWED_ALGORITHMS: string[];
};

/** Throws an EnvError listing every bad variable (values never echoed). */
export function parseExtAuthzEnv(env: EnvSource = process.env): ExtAuthzEnv {
  const raw = parseEnv(ExtAuthzEnvSchema, env);
  const parsed: ExtAuthzEnv = {
    ...raw,
    JWT_ALLOWED_ALGORITHMS: raw.JWT_ALLOWED_ALGORITHMS ?? [raw.JWT_ALGORITHM],
  };
  const sources = [
    env.JWT_SECRET_KEY ? "JWT_SECRET_KEY" : undefined,
    parsed.JWT_PUBLIC_KEY ? "JWT_PUBLIC_KEY" : undefined,
    parsed.JWT_JWKS_URL ? "JWT_JWKS_URL" : undefined,
  ].filter((name) => name !== undefined);
  if (sources.length > 1) {
    throw new Error(`set only one JWT key source (found ${sources.join(", ")})`);
  }
  if (sources.length === 0 && parsed.JWT_SECRET_KEY === undefined) {
    throw new Error("no JWT key configured: set JWT_SECRET_KEY, JWT_PUBLIC_KEY or JWT_JWKS_URL");
  }
  // A public key / JWKS wins over the development default secret.
  if (sources.length === 1 && sources[0] !== "JWT_SECRET_KEY") {
    return { ...parsed, JWT_SECRET_KEY: undefined };
  }
  return parsed;
}
