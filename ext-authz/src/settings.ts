/**
 * ext-authz environment, parsed once (by main.ts, and by the dev token command that must sign
 * exactly what ext-authz accepts). Secrets follow config/src/env.ts: required and strong outside
 * development, documented dev defaults with NODE_ENV=development|test. The same split holds for the
 * token's issuer and audience (explicit outside development) and the JWKS URL (https outside it).
 */
import { z } from "zod";
import {
  auditEnvShape,
  baseEnvShape,
  commaList,
  EnvError,
  isDevelopment,
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
  /** Required outside development; see DEVELOPMENT_DEFAULTS. */
  JWT_ISSUER: z.string().min(1).optional(),
  JWT_AUDIENCE: z.string().min(1).optional(),
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
  /** A Redis command slower than this falls back to the in-memory insurance limiter. */
  REDIS_COMMAND_TIMEOUT_MS: positiveIntString.pipe(z.number().max(60_000)).default(100),
  /** Consecutive failed Redis commands that open the circuit breaker (memory counters only). */
  REDIS_BREAKER_FAILURES: positiveIntString.pipe(z.number().max(1000)).default(3),
  /** While the breaker is open, how often Redis is probed; it closes when Redis answers. */
  REDIS_BREAKER_PROBE_MS: positiveIntString.pipe(z.number().min(50).max(600_000)).default(2000),
  DATABASE_URL: z.string().optional(),
  /** After SIGTERM: NOT_SERVING while still answering, so Envoy stops sending before the port closes. */
  SHUTDOWN_DRAIN_MS: nonNegativeIntString.pipe(z.number().max(600_000)).optional(),
  SHUTDOWN_GRACE_MS: positiveIntString.default(10_000),
});
export type ExtAuthzEnv = Omit<
  z.infer<typeof ExtAuthzEnvSchema>,
  "JWT_ALLOWED_ALGORITHMS" | "JWT_ISSUER" | "JWT_AUDIENCE" | "SHUTDOWN_DRAIN_MS"
> & {
  JWT_ALLOWED_ALGORITHMS: string[];
  JWT_ISSUER: string;
  JWT_AUDIENCE: string;
  SHUTDOWN_DRAIN_MS: number;
};

/**
 * Used only with NODE_ENV=development|test. In production a token check against a guessed
 * issuer or audience would silently accept tokens minted for something else.
 */
const DEVELOPMENT_DEFAULTS = {
  JWT_ISSUER: "http://localhost:8010",
  JWT_AUDIENCE: "mcp-gateway",
  SHUTDOWN_DRAIN_MS: 0,
} as const;
const PRODUCTION_DRAIN_MS = 10_000;

/** Throws an EnvError listing every bad variable (values never echoed). */
export function parseExtAuthzEnv(env: EnvSource = process.env): ExtAuthzEnv {
  const raw = parseEnv(ExtAuthzEnvSchema, env);
  const development = isDevelopment({ NODE_ENV: raw.NODE_ENV });
  if (!development) {
    const problems: string[] = [];
    if (raw.JWT_ISSUER === undefined) {
      problems.push("JWT_ISSUER: required outside development (the iss of accepted tokens)");
    }
    if (raw.JWT_AUDIENCE === undefined) {
      problems.push("JWT_AUDIENCE: required outside development (the aud of accepted tokens)");
    }
    // Keys fetched over plain HTTP could be swapped in transit, and with them every token.
    if (raw.JWT_JWKS_URL !== undefined && new URL(raw.JWT_JWKS_URL).protocol !== "https:") {
      problems.push("JWT_JWKS_URL: expected an https URL outside development");
    }
    if (problems.length > 0) throw new EnvError(problems);
  }
  const parsed: ExtAuthzEnv = {
    ...raw,
    JWT_ALLOWED_ALGORITHMS: raw.JWT_ALLOWED_ALGORITHMS ?? [raw.JWT_ALGORITHM],
    JWT_ISSUER: raw.JWT_ISSUER ?? DEVELOPMENT_DEFAULTS.JWT_ISSUER,
    JWT_AUDIENCE: raw.JWT_AUDIENCE ?? DEVELOPMENT_DEFAULTS.JWT_AUDIENCE,
    SHUTDOWN_DRAIN_MS:
      raw.SHUTDOWN_DRAIN_MS ??
      (development ? DEVELOPMENT_DEFAULTS.SHUTDOWN_DRAIN_MS : PRODUCTION_DRAIN_MS),
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
