import { z } from "zod";
import { hmacSha256, macEqual } from "./digest.ts";

/**
 * `x-gateway-verdict`: ext-authz's signed statement that one request, with one body, was allowed.
 * Wire form `v1.<base64url(JSON claims)>.<base64url(HMAC-SHA256(key, "v1." + claims segment))>`:
 * the signed bytes are exactly the transmitted segment, so no re-serialisation can change them.
 */
export const VERDICT_VERSION = "v1";

export const VerdictClaimsSchema = z.strictObject({
  requestId: z.string().min(1).max(200),
  subject: z.string().min(1).max(512),
  tenant: z.string().max(256).nullable(),
  roles: z.array(z.string().max(128)).max(64),
  scope: z.string().min(1).max(64),
  tools: z.array(z.string().max(200)).max(4096),
  /**
   * Scopes served by a standard MCP server: the prompt and resource patterns (`prompt:*`,
   * `resource:<uri glob>`) the caller may see, for filtering lists; absent elsewhere.
   */
  items: z
    .strictObject({
      allow: z.array(z.string().max(600)).max(1024),
      deny: z.array(z.string().max(600)).max(1024),
    })
    .optional(),
  /** sha256 hex of the exact request body bytes ("" body included). */
  bodyDigest: z.string().regex(/^[0-9a-f]{64}$/),
  /** Unix seconds. */
  exp: z.number().int().positive(),
});
export type VerdictClaims = z.infer<typeof VerdictClaimsSchema>;

export type VerdictRejection =
  "missing" | "malformed" | "bad_signature" | "expired" | "body_mismatch" | "scope_mismatch";

export type VerdictCheck =
  | { ok: true; verdict: VerdictClaims }
  /** `claims` is present when the signature was genuine (expired, other body, other scope). */
  | { ok: false; reason: VerdictRejection; claims?: VerdictClaims };

const MAX_HEADER_LENGTH = 256 * 1024;

export function signVerdict(claims: VerdictClaims, key: string): string {
  const segment = Buffer.from(JSON.stringify(VerdictClaimsSchema.parse(claims))).toString(
    "base64url",
  );
  const signed = `${VERDICT_VERSION}.${segment}`;
  return `${signed}.${hmacSha256(key, signed).toString("base64url")}`;
}

export function verifyVerdict(
  header: string | undefined,
  expected: { key: string; bodyDigest: string; scope?: string; now?: number },
): VerdictCheck {
  if (header === undefined || header === "") return { ok: false, reason: "missing" };
  if (header.length > MAX_HEADER_LENGTH) return { ok: false, reason: "malformed" };
  const parts = header.split(".");
  if (parts.length !== 3 || parts[0] !== VERDICT_VERSION) return { ok: false, reason: "malformed" };
  const [version, segment, signature] = parts as [string, string, string];
  const computed = hmacSha256(expected.key, `${version}.${segment}`).toString("base64url");
  if (!macEqual(signature, computed)) return { ok: false, reason: "bad_signature" };

  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(segment, "base64url").toString("utf8"));
  } catch {
    return { ok: false, reason: "malformed" };
  }
  const parsed = VerdictClaimsSchema.safeParse(decoded);
  if (!parsed.success) return { ok: false, reason: "malformed" };
  const claims = parsed.data;

  const nowSeconds = Math.floor((expected.now ?? Date.now()) / 1000);
  if (claims.exp <= nowSeconds) return { ok: false, reason: "expired", claims };
  if (!macEqual(claims.bodyDigest, expected.bodyDigest)) {
    return { ok: false, reason: "body_mismatch", claims };
  }
  if (expected.scope !== undefined && claims.scope !== expected.scope) {
    return { ok: false, reason: "scope_mismatch", claims };
  }
  return { ok: true, verdict: claims };
}
