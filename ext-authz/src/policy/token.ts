/**
 * Bearer token → identity. Signature, algorithm, issuer, audience and time checks are done with
 * jose; the claim mapping, token-age rule and API-version rule are the gateway's own. A verified
 * token is cached by its digest until it stops being valid, so the hot path skips the signature.
 */
import { jwtVerify, errors as joseErrors, type JWTPayload, type JWTVerifyGetKey } from "jose";
import type { KeyObject } from "node:crypto";
import { LRUCache } from "lru-cache";
import { sha256Hex } from "../../../contract/src/digest.ts";

export type Identity = {
  subject: string;
  tenant: string | null;
  roles: string[];
  apiVersion: string | null;
  /** Unix seconds. */
  expiresAt: number;
  /** The verified payload, as policy conditions see it (`claims`); never logged. */
  claims: Readonly<Record<string, unknown>>;
};

/** Key material, injected: an HMAC secret, one public key, or a remote key set (JWKS). */
export type TokenKeys =
  | { kind: "secret"; secret: Uint8Array }
  | { kind: "public"; key: KeyObject }
  | { kind: "jwks"; getKey: JWTVerifyGetKey };

export const HMAC_ALGORITHMS = ["HS256", "HS384", "HS512"] as const;
export const ASYMMETRIC_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
] as const;

export type TokenSettings = {
  issuer: string;
  audience: string;
  algorithms: readonly string[];
  clockSkewSeconds: number;
  /** 0 disables the age rule; then `iat` is optional. */
  maxTokenAgeMinutes: number;
  maxTokenBytes: number;
  claims: {
    userId: string;
    roles: string;
    tenant: string;
    apiVersion: string;
    exp: string;
    iat: string;
  };
  /** Empty: any (or no) API version is accepted. */
  allowedApiVersions: readonly string[];
  cacheSize: number;
};

export type TokenFailure =
  | "token_malformed"
  | "token_too_large"
  | "token_invalid"
  | "token_expired"
  | "token_not_yet_valid"
  | "token_iat_future"
  | "token_too_old"
  | "token_wrong_issuer"
  | "token_wrong_audience"
  | "token_missing_subject"
  | "token_bad_claims"
  | "token_api_version"
  | "token_unknown_kid"
  | "jwks_unavailable";

export type TokenResult =
  | { ok: true; identity: Identity; cached: boolean }
  | { ok: false; reason: TokenFailure; description: string };

/** Fixed, client-safe texts for `error_description` (RFC 6750 quoted-string safe). */
export const TOKEN_FAILURE_DESCRIPTION: Record<TokenFailure, string> = {
  token_malformed: "The access token is malformed",
  token_too_large: "The access token is too large",
  token_invalid: "The access token signature or algorithm is not accepted",
  token_expired: "The access token expired",
  token_not_yet_valid: "The access token is not valid yet",
  token_iat_future: "The access token was issued in the future",
  token_too_old: "The access token is too old",
  token_wrong_issuer: "The access token issuer is not accepted",
  token_wrong_audience: "The access token audience is not accepted",
  token_missing_subject: "The access token has no subject",
  token_bad_claims: "The access token claims are invalid",
  token_api_version: "The access token API version is not accepted",
  token_unknown_kid: "The access token signing key is unknown",
  jwks_unavailable: "The signing keys are temporarily unavailable",
};

const MAX_ROLES = 64;
const MAX_ROLE_LENGTH = 128;
const MAX_SUBJECT_LENGTH = 256;
const MAX_TENANT_LENGTH = 256;
const COMPACT_JWS_RE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
/**
 * Subject, tenant and roles travel on as header values (x-user-id), audit fields and log labels:
 * visible ASCII only, so no control character can split a header or forge a log line.
 */
const VISIBLE_ASCII_RE = /^[\x21-\x7e]+$/;

export type TokenVerifier = {
  /**
   * `resource`: the exact URL of the endpoint being called (RFC 8707 / RFC 9728 `resource`). A
   * token is accepted when its `aud` holds the configured audience or that URL, so a token minted
   * for one endpoint is refused on every other.
   */
  verify(token: string, resource?: string): Promise<TokenResult>;
  /** Entries currently cached (for tests and metrics). */
  cacheSize(): number;
};

export function createTokenVerifier(deps: {
  settings: TokenSettings;
  keys: TokenKeys;
  now: () => number;
}): TokenVerifier {
  const { settings, keys, now } = deps;
  assertAlgorithmsMatchKeys(settings.algorithms, keys);
  const cache = new LRUCache<
    string,
    { identity: Identity; audiences: readonly string[]; validUntilMs: number }
  >({
    max: Math.max(1, settings.cacheSize),
  });
  const skewMs = settings.clockSkewSeconds * 1000;
  const maxAgeSeconds = settings.maxTokenAgeMinutes * 60;

  const fail = (reason: TokenFailure): TokenResult => ({
    ok: false,
    reason,
    description: TOKEN_FAILURE_DESCRIPTION[reason],
  });

  // The audience depends on the endpoint called, so it is checked on every call, cached or not.
  const audienceAccepted = (audiences: readonly string[], resource: string | undefined) =>
    audiences.includes(settings.audience) ||
    (resource !== undefined && audiences.includes(resource));

  async function verify(token: string, resource?: string): Promise<TokenResult> {
    if (Buffer.byteLength(token) > settings.maxTokenBytes) return fail("token_too_large");
    if (!COMPACT_JWS_RE.test(token)) return fail("token_malformed");
    const nowMs = now();
    const digest = sha256Hex(token);
    const hit = cache.get(digest);
    if (hit !== undefined) {
      if (nowMs < hit.validUntilMs) {
        if (!audienceAccepted(hit.audiences, resource)) return fail("token_wrong_audience");
        return { ok: true, identity: hit.identity, cached: true };
      }
      cache.delete(digest);
    }

    let payload: JWTPayload;
    try {
      // No `audience` here: jose would accept only fixed values, the resource varies per call.
      const options = {
        algorithms: [...settings.algorithms],
        issuer: settings.issuer,
        clockTolerance: settings.clockSkewSeconds,
        currentDate: new Date(nowMs),
      };
      const verified =
        keys.kind === "jwks"
          ? await jwtVerify(token, keys.getKey, options)
          : await jwtVerify(token, keys.kind === "secret" ? keys.secret : keys.key, options);
      payload = verified.payload;
    } catch (error) {
      return fail(classifyJoseError(error, keys.kind));
    }

    const audiences = parseAudiences(payload.aud);
    if (audiences === undefined) return fail("token_bad_claims");
    if (!audienceAccepted(audiences, resource)) return fail("token_wrong_audience");

    const mapped = mapClaims(payload, settings, nowMs, maxAgeSeconds);
    if (!mapped.ok) return fail(mapped.reason);
    const { identity, iat } = mapped;
    let validUntilMs = identity.expiresAt * 1000 + skewMs;
    if (maxAgeSeconds > 0 && iat !== undefined) {
      validUntilMs = Math.min(validUntilMs, (iat + maxAgeSeconds) * 1000 + skewMs);
    }
    cache.set(digest, { identity, audiences, validUntilMs });
    return { ok: true, identity, cached: false };
  }

  return { verify, cacheSize: () => cache.size };
}

/**
 * HS/RS confusion is prevented twice: the configured algorithms must fit the key kind (a secret
 * only with HS*, a public key or JWKS only with asymmetric algorithms), and jose refuses a key of
 * the wrong type. `none` is never accepted.
 */
export function assertAlgorithmsMatchKeys(algorithms: readonly string[], keys: TokenKeys): void {
  if (algorithms.length === 0) throw new Error("JWT_ALLOWED_ALGORITHMS is empty");
  for (const alg of algorithms) {
    if (alg.toLowerCase() === "none") throw new Error('JWT algorithm "none" is never allowed');
    const hmac = (HMAC_ALGORITHMS as readonly string[]).includes(alg);
    const asymmetric = (ASYMMETRIC_ALGORITHMS as readonly string[]).includes(alg);
    if (!hmac && !asymmetric) throw new Error(`unsupported JWT algorithm ${alg}`);
    if (keys.kind === "secret" && !hmac) {
      throw new Error(`JWT algorithm ${alg} needs a public key or JWKS, not JWT_SECRET_KEY`);
    }
    if (keys.kind !== "secret" && hmac) {
      throw new Error(`JWT algorithm ${alg} needs JWT_SECRET_KEY, not a public key or JWKS`);
    }
  }
}

/**
 * A jose failure as a token failure. jose is given no audience and no maximum age (both are
 * checked here, per call), so it reports `exp`, `nbf`, `iss` and malformed `iat` only.
 */
export function classifyJoseError(error: unknown, keyKind: TokenKeys["kind"]): TokenFailure {
  if (error instanceof joseErrors.JWTExpired) return "token_expired";
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    switch (error.claim) {
      case "nbf":
        return error.reason === "check_failed" ? "token_not_yet_valid" : "token_bad_claims";
      case "iss":
        return "token_wrong_issuer";
      default:
        return "token_bad_claims";
    }
  }
  if (error instanceof joseErrors.JWKSNoMatchingKey) return "token_unknown_kid";
  if (error instanceof joseErrors.JWKSMultipleMatchingKeys) return "token_invalid";
  if (error instanceof joseErrors.JWKSTimeout || error instanceof joseErrors.JWKSInvalid) {
    return "jwks_unavailable";
  }
  if (error instanceof joseErrors.JWSInvalid || error instanceof joseErrors.JWTInvalid) {
    return "token_malformed";
  }
  if (
    error instanceof joseErrors.JOSEAlgNotAllowed ||
    error instanceof joseErrors.JWSSignatureVerificationFailed ||
    error instanceof joseErrors.JOSENotSupported
  ) {
    return "token_invalid";
  }
  // A non-200 JWKS answer or a network failure surfaces as a generic error from the key fetch.
  if (keyKind === "jwks") return "jwks_unavailable";
  return "token_invalid";
}

/** `aud` (RFC 7519 §4.1.3): one string or an array of strings; absent = no audience. */
function parseAudiences(value: unknown): string[] | undefined {
  if (value === undefined) return [];
  if (typeof value === "string") return [value];
  if (Array.isArray(value) && value.every((entry) => typeof entry === "string")) return value;
  return undefined;
}

type MappedClaims =
  { ok: true; identity: Identity; iat: number | undefined } | { ok: false; reason: TokenFailure };

function readClaim(payload: JWTPayload, name: string): unknown {
  // Namespaced claim names (e.g. "https://example.com/roles") contain dots, so try the name whole
  // before reading it as a path into nested objects (e.g. "realm_access.roles").
  if (Object.hasOwn(payload, name)) return payload[name];
  let current: unknown = payload;
  for (const part of name.split(".")) {
    if (current === null || typeof current !== "object" || !Object.hasOwn(current, part)) {
      return undefined;
    }
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

function numericDate(value: unknown): number | undefined | null {
  if (value === undefined) return undefined;
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

function mapClaims(
  payload: JWTPayload,
  settings: TokenSettings,
  nowMs: number,
  maxAgeSeconds: number,
): MappedClaims {
  const nowSeconds = nowMs / 1000;
  const skew = settings.clockSkewSeconds;

  const exp = numericDate(readClaim(payload, settings.claims.exp));
  // A token without expiry would be valid forever: refused.
  if (exp === undefined || exp === null) return { ok: false, reason: "token_bad_claims" };
  if (exp <= nowSeconds - skew) return { ok: false, reason: "token_expired" };

  const iat = numericDate(readClaim(payload, settings.claims.iat));
  if (iat === null) return { ok: false, reason: "token_bad_claims" };
  if (iat !== undefined && iat > nowSeconds + skew)
    return { ok: false, reason: "token_iat_future" };
  if (maxAgeSeconds > 0) {
    if (iat === undefined) return { ok: false, reason: "token_bad_claims" };
    if (nowSeconds - iat > maxAgeSeconds + skew) return { ok: false, reason: "token_too_old" };
  }

  const subject = readClaim(payload, settings.claims.userId);
  if (typeof subject !== "string" || subject.trim() === "" || subject.length > MAX_SUBJECT_LENGTH) {
    return { ok: false, reason: "token_missing_subject" };
  }
  if (!VISIBLE_ASCII_RE.test(subject)) return { ok: false, reason: "token_bad_claims" };

  const tenantValue = readClaim(payload, settings.claims.tenant);
  let tenant: string | null = null;
  if (tenantValue !== undefined && tenantValue !== null) {
    if (typeof tenantValue !== "string" || tenantValue.length > MAX_TENANT_LENGTH) {
      return { ok: false, reason: "token_bad_claims" };
    }
    if (tenantValue !== "" && !VISIBLE_ASCII_RE.test(tenantValue)) {
      return { ok: false, reason: "token_bad_claims" };
    }
    tenant = tenantValue === "" ? null : tenantValue;
  }

  const roles = parseRoles(readClaim(payload, settings.claims.roles));
  if (roles === undefined) return { ok: false, reason: "token_bad_claims" };

  const versionValue = readClaim(payload, settings.claims.apiVersion);
  let apiVersion: string | null = null;
  if (typeof versionValue === "string" || typeof versionValue === "number") {
    apiVersion = String(versionValue);
  } else if (versionValue !== undefined && versionValue !== null) {
    return { ok: false, reason: "token_bad_claims" };
  }
  if (settings.allowedApiVersions.length > 0) {
    if (apiVersion === null || !settings.allowedApiVersions.includes(apiVersion)) {
      return { ok: false, reason: "token_api_version" };
    }
  }

  return {
    ok: true,
    identity: {
      subject,
      tenant,
      roles,
      apiVersion,
      expiresAt: Math.floor(exp),
      claims: Object.freeze({ ...payload }),
    },
    iat,
  };
}

/**
 * Roles as a JSON array of strings, or one string separated by spaces (OAuth `scope` style) or
 * commas (what many identity providers emit for a multi-valued attribute); absent = none.
 */
export function parseRoles(value: unknown): string[] | undefined {
  if (value === undefined || value === null) return [];
  const list = typeof value === "string" ? value.split(/[ ,]/).filter((r) => r !== "") : value;
  if (!Array.isArray(list) || list.length > MAX_ROLES) return undefined;
  const roles: string[] = [];
  for (const role of list) {
    if (typeof role !== "string" || role.length > MAX_ROLE_LENGTH) return undefined;
    if (!VISIBLE_ASCII_RE.test(role)) return undefined;
    if (!roles.includes(role)) roles.push(role);
  }
  return roles;
}

/**
 * `Authorization: Bearer <token>` (scheme case-insensitive, RFC 6750 §2.1); anything else is absent
 * or malformed. The token must be a b64token, which has no comma: a proxy joins repeated
 * Authorization headers with "," (RFC 9110 §5.3), so two credentials, or one folded with a comma,
 * are refused instead of one of them being picked.
 */
export function bearerToken(
  header: string | undefined,
): { kind: "absent" } | { kind: "malformed" } | { kind: "token"; token: string } {
  if (header === undefined || header.trim() === "") return { kind: "absent" };
  const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header);
  if (!match?.[1]) return { kind: "malformed" };
  return { kind: "token", token: match[1] };
}
