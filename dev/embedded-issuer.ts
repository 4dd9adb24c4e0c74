import { z } from "zod";
import type { Logger } from "../contract/src/log.ts";
import {
  EnvError,
  parseEnv,
  portNumber,
  positiveIntString,
  secretSchema,
  type EnvSource,
} from "../config/src/env.ts";
import {
  createIssuer,
  IssuerAlgorithmSchema,
  type IssuerAlgorithm,
} from "./jwt-issuer/src/issuer.ts";

/**
 * The development token issuer inside `npm start`, so the authorization server the gateway
 * advertises (RFC 9728 `authorization_servers`) answers: RFC 8414 metadata, the OAuth sign-in MCP
 * clients run by themselves, POST /token and the JWKS.
 *
 * It gets its own port rather than a path under the gateway: the issuer's identifier is then a bare
 * origin like every other issuer's (its RFC 8414 metadata at the root, no path-inserted well-known
 * URL on the gateway's origin), its routes never mix with the gateway's, and it sits where the
 * Compose issuer, `.env.development` and the desktop examples already look (:8010).
 */

export const DEFAULT_ISSUER_PORT = 8010;

const EmbeddedIssuerEnvSchema = z.object({
  NODE_ENV: z.literal("development"),
  JWT_ISSUER_PORT: portNumber.default(DEFAULT_ISSUER_PORT),
  JWT_ISSUER: z.url({ protocol: /^https?$/, error: "expected an http(s) URL" }).optional(),
  JWT_AUDIENCE: z.string().min(1).default("mcp-gateway"),
  JWT_SECRET_KEY: secretSchema("JWT_SECRET_KEY"),
  ISSUER_ALGORITHM: IssuerAlgorithmSchema.default("HS256"),
  JWT_ISSUER_ADMIN_TOKEN: secretSchema("JWT_ISSUER_ADMIN_TOKEN", {
    optional: true,
    devDefault: null,
  }),
  MAX_EXPIRES_IN_SECONDS: positiveIntString.default(3600),
});

const WILDCARD_OR_LOOPBACK = new Set(["0.0.0.0", "::", "127.0.0.1", "::1", "localhost"]);

/**
 * The issuer identifier (`iss`, the advertised authorization server) of an issuer listening on
 * host:port when JWT_ISSUER is unset. Locally it is `http://localhost:<port>`, the development
 * default ext-authz and `npm run token` already use, so tokens from either source verify.
 */
export function defaultIssuerIdentifier(host: string, port: number): string {
  if (WILDCARD_OR_LOOPBACK.has(host)) return `http://localhost:${port}`;
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/**
 * Whether `npm start` serves the issuer: only with NODE_ENV=development (never in production, and
 * not in test, where stacks run side by side), and not when ext-authz is told to verify another
 * issuer's keys (its tokens would then be refused, so advertising it would mislead).
 */
export function servesEmbeddedIssuer(env: EnvSource): boolean {
  return env.NODE_ENV === "development" && !env.JWT_PUBLIC_KEY && !env.JWT_JWKS_URL;
}

export type EmbeddedIssuer = {
  /** Where it listens. */
  url: string;
  /** Its identifier: `iss` of its tokens, the advertised authorization server, RFC 8414 `issuer`. */
  issuer: string;
  /** HS256 shares JWT_SECRET_KEY with ext-authz (so `npm run token` works too); others use a JWKS. */
  algorithm: IssuerAlgorithm;
  /** Variables ext-authz and the configuration need for its tokens to verify (the env wins). */
  authEnv: Readonly<Record<string, string>>;
  close(): Promise<void>;
};

export async function startEmbeddedIssuer(options: {
  env: EnvSource;
  host: string;
  logger: Logger;
}): Promise<EmbeddedIssuer> {
  const env = parseEnv(EmbeddedIssuerEnvSchema, options.env);
  const asymmetric = env.ISSUER_ALGORITHM !== "HS256";
  // A key pair's tokens verify only against its JWKS; a configured HMAC key would refuse them.
  if (asymmetric && options.env.JWT_SECRET_KEY) {
    throw new EnvError([
      `JWT_SECRET_KEY: the development issuer signs with ${env.ISSUER_ALGORITHM} (ISSUER_ALGORITHM), so ext-authz must verify with its JWKS: unset JWT_SECRET_KEY`,
    ]);
  }
  const issuer = await createIssuer({
    issuer: env.JWT_ISSUER ?? ((address) => defaultIssuerIdentifier(options.host, address.port)),
    audience: env.JWT_AUDIENCE,
    algorithm: env.ISSUER_ALGORITHM,
    secretKey: env.JWT_SECRET_KEY,
    adminToken: env.JWT_ISSUER_ADMIN_TOKEN,
    maxExpiresInSeconds: env.MAX_EXPIRES_IN_SECONDS,
    logger: options.logger,
  });
  let port: number;
  try {
    ({ port } = await issuer.listen(env.JWT_ISSUER_PORT, options.host));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EADDRINUSE") {
      throw new EnvError([
        `JWT_ISSUER_PORT: port ${env.JWT_ISSUER_PORT} is in use (the development token issuer needs a port of its own; 0 picks a free one)`,
      ]);
    }
    throw error;
  }
  const url = `http://${connectHost(options.host)}:${port}`;
  const authEnv: Record<string, string> = { JWT_ISSUER: issuer.identifier() };
  if (asymmetric) {
    authEnv["JWT_JWKS_URL"] = `${url}/.well-known/jwks.json`;
    if (!options.env.JWT_ALGORITHM && !options.env.JWT_ALLOWED_ALGORITHMS) {
      authEnv["JWT_ALGORITHM"] = env.ISSUER_ALGORITHM;
    }
  }
  return {
    url,
    issuer: issuer.identifier(),
    algorithm: env.ISSUER_ALGORITHM,
    authEnv,
    close: () => issuer.close(),
  };
}

function connectHost(host: string): string {
  if (host === "0.0.0.0") return "127.0.0.1";
  if (host === "::") return "[::1]";
  return host.includes(":") ? `[${host}]` : host;
}
