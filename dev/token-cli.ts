/**
 * Development token:
 * `NODE_ENV=development npm run token -- --user demo --roles developer [--tenant t] [--ttl 3600]`.
 * Reads the same environment as ext-authz (and `.env`, like `npm start`) and signs with its HMAC
 * key, so the token is exactly what ext-authz accepts. Prints only the token on stdout; runs only
 * with NODE_ENV=development|test.
 */
import { randomUUID } from "node:crypto";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { SignJWT } from "jose";
import {
  devSecretDefault,
  EnvError,
  isDevelopment,
  portNumber,
  type EnvSource,
} from "../config/src/env.ts";
import { HMAC_ALGORITHMS } from "../ext-authz/src/policy/token.ts";
import { parseExtAuthzEnv } from "../ext-authz/src/settings.ts";
import { loadDotEnv } from "./dot-env.ts";
import { DEFAULT_ISSUER_PORT, defaultIssuerIdentifier } from "./embedded-issuer.ts";

export type TokenRequest = { user: string; roles: string[]; tenant?: string; ttlSeconds: number };

const USAGE =
  "usage: npm run token -- --user <id> --roles <role[,role...]> [--tenant <tenant>] [--ttl <seconds>]";
const MAX_TTL_SECONDS = 7 * 24 * 3600;

export function parseTokenArgs(
  argv: readonly string[],
): { ok: true; request: TokenRequest } | { ok: false; error: string } {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        user: { type: "string" },
        roles: { type: "string" },
        tenant: { type: "string" },
        ttl: { type: "string" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : "invalid arguments" };
  }
  const user = values.user?.trim();
  if (!user) return { ok: false, error: "--user is required" };
  const roles = (values.roles ?? "")
    .split(",")
    .map((role) => role.trim())
    .filter((role) => role !== "");
  if (roles.length === 0) return { ok: false, error: "--roles is required (comma-separated)" };
  const ttlText = values.ttl ?? "3600";
  if (!/^[0-9]{1,7}$/.test(ttlText) || Number(ttlText) <= 0 || Number(ttlText) > MAX_TTL_SECONDS) {
    return { ok: false, error: `--ttl must be whole seconds between 1 and ${MAX_TTL_SECONDS}` };
  }
  const tenant = values.tenant?.trim();
  return {
    ok: true,
    request: { user, roles, ttlSeconds: Number(ttlText), ...(tenant ? { tenant } : {}) },
  };
}

/** Signs a development token with ext-authz's settings; throws with a readable message otherwise. */
export async function signDevToken(
  request: TokenRequest,
  source: EnvSource,
  nowMs = Date.now(),
): Promise<string> {
  // An unset NODE_ENV is how production hosts often look, and a token minted there with a
  // production key would be a real credential: without an explicit development NODE_ENV only the
  // documented development key (JWT_SECRET_KEY unset) may sign.
  const devKeyOnly =
    !source.NODE_ENV &&
    (!source.JWT_SECRET_KEY || source.JWT_SECRET_KEY === devSecretDefault("JWT_SECRET_KEY"));
  const effective: EnvSource = devKeyOnly ? { ...source, NODE_ENV: "development" } : source;
  if (!isDevelopment(effective)) {
    throw new Error(
      `refusing to mint tokens with NODE_ENV=${source.NODE_ENV || "(unset)"} and a configured key: ` +
        "set NODE_ENV=development or NODE_ENV=test (development tool only)",
    );
  }
  const env = parseExtAuthzEnv(withEmbeddedIssuer(effective));
  if (env.JWT_SECRET_KEY === undefined) {
    throw new Error(
      "ext-authz verifies with a public key or JWKS; tokens must come from that issuer",
    );
  }
  const alg = env.JWT_ALLOWED_ALGORITHMS.find((candidate) =>
    (HMAC_ALGORITHMS as readonly string[]).includes(candidate),
  );
  if (alg === undefined) throw new Error("JWT_ALLOWED_ALGORITHMS lists no HMAC algorithm");
  const now = Math.floor(nowMs / 1000);
  const claims: Record<string, unknown> = {
    [env.JWT_USER_ID_CLAIM]: request.user,
    [env.JWT_ROLES_CLAIM]: request.roles,
    [env.JWT_IAT_CLAIM]: now,
    [env.JWT_EXP_CLAIM]: now + request.ttlSeconds,
  };
  if (request.tenant !== undefined) claims[env.JWT_TENANT_CLAIM] = request.tenant;
  const apiVersion = env.JWT_ALLOWED_API_VERSIONS[0];
  if (apiVersion !== undefined) claims[env.JWT_API_VERSION_CLAIM] = apiVersion;
  return new SignJWT(claims)
    .setProtectedHeader({ alg, typ: "JWT" })
    .setIssuer(env.JWT_ISSUER)
    .setAudience(env.JWT_AUDIENCE)
    .setJti(randomUUID())
    .sign(new TextEncoder().encode(env.JWT_SECRET_KEY));
}

/**
 * Without JWT_ISSUER, `npm start` names its development issuer after HOST and JWT_ISSUER_PORT; the
 * token must carry that `iss`. (With the defaults both are ext-authz's http://localhost:8010.)
 */
function withEmbeddedIssuer(source: EnvSource): EnvSource {
  if (source.JWT_ISSUER) return source;
  const port = source.JWT_ISSUER_PORT
    ? portNumber.safeParse(source.JWT_ISSUER_PORT).data
    : DEFAULT_ISSUER_PORT;
  // Port 0: the issuer's identifier is known only to the running stack; mint from the issuer.
  if (port === undefined || port === 0) return source;
  return { ...source, JWT_ISSUER: defaultIssuerIdentifier(source.HOST || "127.0.0.1", port) };
}

async function main(): Promise<number> {
  const parsed = parseTokenArgs(process.argv.slice(2));
  if (!parsed.ok) {
    process.stderr.write(`${parsed.error}\n${USAGE}\n`);
    return 2;
  }
  try {
    loadDotEnv();
    const token = await signDevToken(parsed.request, process.env);
    process.stdout.write(`${token}\n`);
    return 0;
  } catch (error) {
    const message = error instanceof EnvError || error instanceof Error ? error.message : "failed";
    process.stderr.write(`token: ${message}\n`);
    return 1;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main();
}
