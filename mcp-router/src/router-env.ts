import { z } from "zod";
import {
  auditEnvShape,
  baseEnvShape,
  commaList,
  parseEnv,
  portNumber,
  positiveIntString,
  nonNegativeIntString,
  secretSchema,
  type EnvSource,
} from "../../config/src/env.ts";
import { AUDIT_MODES } from "./audit.ts";

/**
 * The router's environment, parsed once at startup (see main.ts). Secrets follow the shared rules:
 * required and strong outside development, documented defaults with NODE_ENV=development|test.
 */
export const RouterEnvSchema = z.object({
  ...baseEnvShape,
  ...auditEnvShape,
  AUTHZ_MODE: z.enum(["envoy", "direct"]).default("envoy"),
  /** write-ahead: no call runs or is answered before its row is stored; best-effort: queued. */
  AUDIT_MODE: z.enum(AUDIT_MODES).default("write-ahead"),
  EXT_AUTHZ_ADDRESS: z.string().min(1).default("127.0.0.1:9191"),
  // Above ext-authz's JWKS fetch timeout, like Envoy's ext_authz timeout.
  EXT_AUTHZ_TIMEOUT_MS: positiveIntString.default(2000),
  GATEWAY_VERDICT_KEY: secretSchema("GATEWAY_VERDICT_KEY"),
  TOOL_GATEWAY_SHARED_SECRET: secretSchema("TOOL_GATEWAY_SHARED_SECRET"),
  SESSION_SECRET: secretSchema("SESSION_SECRET", { optional: true, devDefault: null }),
  PORT: portNumber.default(8080),
  HOST: z.string().min(1).default("127.0.0.1"),
  MAX_REQUEST_BYTES: positiveIntString.default(1_048_576),
  ALLOWED_ORIGINS: commaList.default([]),
  // The origin browsers see the gateway under (Envoy's, in Compose): the /docs page calls from it.
  GATEWAY_PUBLIC_URL: z.url({ protocol: /^https?$/, error: "expected an http(s) URL" }).optional(),
  SESSION_TTL_SECONDS: positiveIntString.default(86_400),
  /** How soon a session ended on another replica is refused here (ms). */
  SESSION_REVOCATION_POLL_MS: positiveIntString.default(1_000),
  /** On SIGTERM, how long requests in progress may finish before connections are closed. */
  DRAIN_TIMEOUT_MS: nonNegativeIntString.default(25_000),
  DATABASE_URL: z.string().optional(),
  DATA_DIR: z.string().min(1).default("./data"),
  CONFIG_DIR: z.string().optional(),
});
export type RouterEnv = z.infer<typeof RouterEnvSchema>;

/** Throws an EnvError naming every bad variable (values never echoed). */
export function parseRouterEnv(env: EnvSource = process.env): RouterEnv {
  return parseEnv(RouterEnvSchema, env);
}
