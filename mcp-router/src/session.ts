import { hkdfSync, randomBytes } from "node:crypto";
import { z } from "zod";
import { hmacSha256, macEqual, sha256Hex } from "../../contract/src/digest.ts";

/**
 * MCP session ids of the 2025 revisions. Stateless by design so any replica can accept them:
 * `s1.<base64url(claims)>.<base64url(HMAC-SHA256)>`. The claims carry a random id, the expiry,
 * the negotiated version and a digest binding subject, tenant and scope (the subject itself is not
 * readable from the id). Ending a session needs shared state: see SessionRevocations.
 */
const PREFIX = "s1";
const MAX_SESSION_ID_LENGTH = 512;

export const SessionClaimsSchema = z.strictObject({
  sid: z.string().regex(/^[A-Za-z0-9_-]{22,64}$/),
  bind: z.string().regex(/^[0-9a-f]{64}$/),
  ver: z.string().min(1).max(32),
  /** Unix milliseconds. */
  exp: z.number().int().positive(),
  /**
   * The requests the client said at initialize it can answer (sampling, elicitation, roots): an
   * MCP server behind the gateway may send it those, relayed on the client's streams.
   */
  cli: z
    .array(z.enum(["sampling", "elicitation", "roots"]))
    .max(3)
    .optional(),
});

/** Client capabilities the gateway can relay server requests for. */
export const RELAYABLE_CLIENT_CAPABILITIES = ["sampling", "elicitation", "roots"] as const;
export type ClientCapability = (typeof RELAYABLE_CLIENT_CAPABILITIES)[number];
export type SessionClaims = z.infer<typeof SessionClaimsSchema>;

export type SessionBinding = { subject: string; tenant: string | null; scope: string };

export type SessionRejection =
  "malformed" | "bad_signature" | "expired" | "wrong_binding" | "revoked";
export type SessionCheck =
  { ok: true; claims: SessionClaims } | { ok: false; reason: SessionRejection };

/** Shared record of ended sessions, so DELETE on one replica ends the session on all of them. */
export type SessionRevocations = {
  revoke(sessionId: string, expiresAtMs: number): Promise<void>;
  isRevoked(sessionId: string): Promise<boolean>;
  /** Stops background work (the database variant's polling). */
  close?(): void;
};

export type SessionCodec = {
  issue(
    binding: SessionBinding,
    version: string,
    clientCapabilities?: readonly ClientCapability[],
  ): { id: string; claims: SessionClaims };
  /** Signature, expiry and binding; revocation is checked separately (it needs I/O). */
  verify(id: string | undefined, binding: SessionBinding): SessionCheck;
};

/** A session key derived from the verdict key when no dedicated secret is configured. */
export function deriveSessionKey(verdictKey: string): Buffer {
  return Buffer.from(hkdfSync("sha256", verdictKey, "mcp-router", "mcp-session-id v1", 32));
}

export function bindingDigest(binding: SessionBinding): string {
  return sha256Hex(JSON.stringify([binding.subject, binding.tenant, binding.scope]));
}

export function createSessionCodec(options: {
  key: string | Uint8Array;
  ttlSeconds: number;
  now?: () => number;
}): SessionCodec {
  const now = options.now ?? Date.now;
  const sign = (segment: string) =>
    hmacSha256(options.key, `${PREFIX}.${segment}`).toString("base64url");
  return {
    issue(binding, version, clientCapabilities = []) {
      const claims: SessionClaims = {
        sid: randomBytes(18).toString("base64url"),
        bind: bindingDigest(binding),
        ver: version,
        exp: now() + options.ttlSeconds * 1000,
        ...(clientCapabilities.length === 0 ? {} : { cli: [...clientCapabilities] }),
      };
      const segment = Buffer.from(JSON.stringify(claims)).toString("base64url");
      return { id: `${PREFIX}.${segment}.${sign(segment)}`, claims };
    },
    verify(id, binding) {
      if (id === undefined || id.length === 0 || id.length > MAX_SESSION_ID_LENGTH) {
        return { ok: false, reason: "malformed" };
      }
      const parts = id.split(".");
      if (parts.length !== 3 || parts[0] !== PREFIX) return { ok: false, reason: "malformed" };
      const [, segment, signature] = parts as [string, string, string];
      if (!macEqual(signature, sign(segment))) return { ok: false, reason: "bad_signature" };
      let decoded: unknown;
      try {
        decoded = JSON.parse(Buffer.from(segment, "base64url").toString("utf8"));
      } catch {
        return { ok: false, reason: "malformed" };
      }
      const parsed = SessionClaimsSchema.safeParse(decoded);
      if (!parsed.success) return { ok: false, reason: "malformed" };
      if (parsed.data.exp <= now()) return { ok: false, reason: "expired" };
      if (!macEqual(parsed.data.bind, bindingDigest(binding))) {
        return { ok: false, reason: "wrong_binding" };
      }
      return { ok: true, claims: parsed.data };
    },
  };
}

/**
 * Single-process revocations: correct for one replica only. Expired entries are dropped lazily.
 */
export function createMemoryRevocations(now: () => number = Date.now): SessionRevocations {
  const revoked = new Map<string, number>();
  return {
    async revoke(sessionId, expiresAtMs) {
      revoked.set(sessionId, expiresAtMs);
      if (revoked.size > 10_000) {
        const current = now();
        for (const [id, exp] of revoked) if (exp <= current) revoked.delete(id);
      }
    },
    async isRevoked(sessionId) {
      const exp = revoked.get(sessionId);
      return exp !== undefined && exp > now();
    },
  };
}

/** A session belongs to one subject of one tenant on one scope. */
export function sessionBinding(call: {
  scope: string;
  verdict: { subject: string; tenant: string | null };
}): SessionBinding {
  return { subject: call.verdict.subject, tenant: call.verdict.tenant, scope: call.scope };
}
