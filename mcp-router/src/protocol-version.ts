/**
 * MCP protocol revisions the router speaks, chosen per request. The 2025 family is
 * session-capable and negotiated by `initialize`; 2026-07-28 is stateless and carries its version
 * in every request's `_meta` plus the `MCP-Protocol-Version` header.
 */
export const LEGACY_VERSIONS = ["2025-11-25", "2025-06-18", "2025-03-26"] as const;
export const MODERN_VERSIONS = ["2026-07-28"] as const;

export type LegacyVersion = (typeof LEGACY_VERSIONS)[number];
export type ModernVersion = (typeof MODERN_VERSIONS)[number];

export const LATEST_LEGACY_VERSION: LegacyVersion = "2025-11-25";
/** What a 2025-era request without `MCP-Protocol-Version` is assumed to speak (spec). */
export const DEFAULT_LEGACY_VERSION: LegacyVersion = "2025-03-26";
export const ALL_VERSIONS: readonly string[] = [...MODERN_VERSIONS, ...LEGACY_VERSIONS];

export const PROTOCOL_VERSION_META_KEY = "io.modelcontextprotocol/protocolVersion";
export const SERVER_INFO_META_KEY = "io.modelcontextprotocol/serverInfo";

export function isLegacyVersion(value: string): value is LegacyVersion {
  return (LEGACY_VERSIONS as readonly string[]).includes(value);
}

export function isModernVersion(value: string): value is ModernVersion {
  return (MODERN_VERSIONS as readonly string[]).includes(value);
}

/** Version negotiation of the 2025 lifecycle: echo a supported version, else offer the latest. */
export function negotiateLegacyVersion(requested: unknown): LegacyVersion {
  return typeof requested === "string" && isLegacyVersion(requested)
    ? requested
    : LATEST_LEGACY_VERSION;
}

export type RevisionChoice =
  | { era: "legacy"; headerVersion: string | undefined }
  | { era: "modern"; version: string; headerVersion: string | undefined };

/**
 * Body-primary classification: a request whose `_meta` names a protocol version is a 2026-era
 * request (its support is checked by the modern handler, so an unknown future version gets the
 * -32022 answer listing what is supported). A request without that claim whose header names a
 * modern version is also modern (and then fails the envelope check). Everything else is 2025-era.
 */
export function chooseRevision(
  message: unknown,
  headerVersion: string | undefined,
): RevisionChoice {
  const claim = metaProtocolVersion(message);
  if (claim !== undefined && !isLegacyVersion(claim)) {
    return { era: "modern", version: claim, headerVersion };
  }
  if (headerVersion !== undefined && isModernVersion(headerVersion)) {
    return { era: "modern", version: claim ?? headerVersion, headerVersion };
  }
  return { era: "legacy", headerVersion };
}

export function metaProtocolVersion(message: unknown): string | undefined {
  if (message === null || typeof message !== "object" || Array.isArray(message)) return undefined;
  const params = (message as { params?: unknown }).params;
  if (params === null || typeof params !== "object") return undefined;
  const meta = (params as { _meta?: unknown })._meta;
  if (meta === null || typeof meta !== "object") return undefined;
  const version = (meta as Record<string, unknown>)[PROTOCOL_VERSION_META_KEY];
  return typeof version === "string" ? version : undefined;
}
