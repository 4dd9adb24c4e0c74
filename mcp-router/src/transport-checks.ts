/**
 * Streamable HTTP request checks that do not depend on the protocol revision: Origin (DNS
 * rebinding defence), Accept and Content-Type.
 */

/** Normalises configured origins (`https://app.example.com`, with or without a trailing slash). */
export function compileOriginAllowlist(origins: readonly string[]): ReadonlySet<string> {
  const set = new Set<string>();
  for (const origin of origins) {
    const trimmed = origin.trim();
    if (trimmed === "") continue;
    const normalised = normaliseOrigin(trimmed);
    if (normalised === undefined) throw new Error(`invalid allowed origin: ${trimmed}`);
    set.add(normalised);
  }
  return set;
}

function normaliseOrigin(value: string): string | undefined {
  try {
    const url = new URL(value);
    if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
    return url.origin;
  } catch {
    return undefined;
  }
}

/** Which browser origins may call the MCP endpoints and the REST API (compiled once). */
export type OriginPolicy = {
  allowlist: ReadonlySet<string>;
  /** The gateway's own origin (from GATEWAY_PUBLIC_URL): its /docs page calls the API. */
  publicOrigin: string | undefined;
  /** Development only: any http loopback origin. */
  allowLoopback: boolean;
};

export function compileOriginPolicy(input: {
  allowedOrigins: readonly string[];
  publicUrl?: string | undefined;
  allowLoopback?: boolean | undefined;
}): OriginPolicy {
  let publicOrigin: string | undefined;
  if (input.publicUrl !== undefined) {
    publicOrigin = normaliseOrigin(input.publicUrl);
    if (publicOrigin === undefined) throw new Error(`invalid public URL: ${input.publicUrl}`);
  }
  return {
    allowlist: compileOriginAllowlist(input.allowedOrigins),
    publicOrigin,
    allowLoopback: input.allowLoopback ?? false,
  };
}

const LOOPBACK_HOSTNAMES: ReadonlySet<string> = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** `http://localhost:*`, `http://127.0.0.1:*`, `http://[::1]:*` (any port, or none). */
export function isLoopbackOrigin(origin: string): boolean {
  try {
    const url = new URL(origin);
    return url.protocol === "http:" && LOOPBACK_HOSTNAMES.has(url.hostname);
  } catch {
    return false;
  }
}

/**
 * MCP Streamable HTTP: servers must validate Origin against DNS rebinding, where a page from a
 * hostile site reaches a local server under the site's own name. A request without Origin (not a
 * browser) passes; a present Origin passes when it is the gateway's own, configured, or, in
 * development only, a loopback origin: a hostile page never has one, and a loopback-bound dev
 * server is what the rule protects, not what it locks out.
 */
export function isOriginAllowed(origin: string | undefined, policy: OriginPolicy): boolean {
  if (origin === undefined) return true;
  const normalised = normaliseOrigin(origin);
  if (normalised === undefined) return false;
  if (policy.allowlist.has(normalised) || normalised === policy.publicOrigin) return true;
  return policy.allowLoopback && isLoopbackOrigin(normalised);
}

type MediaRange = { type: string; subtype: string; q: number };

function parseAccept(header: string): MediaRange[] {
  const ranges: MediaRange[] = [];
  for (const part of header.split(",")) {
    const [mediaType = "", ...params] = part.split(";").map((piece) => piece.trim());
    const [type, subtype] = mediaType.toLowerCase().split("/");
    if (type === undefined || subtype === undefined || type === "" || subtype === "") continue;
    let q = 1;
    for (const param of params) {
      const [name, value] = param.split("=").map((piece) => piece.trim());
      if (name?.toLowerCase() === "q" && value !== undefined) {
        const parsed = Number(value);
        if (Number.isFinite(parsed)) q = parsed;
      }
    }
    ranges.push({ type, subtype, q });
  }
  return ranges;
}

export function acceptsMediaType(accept: string | undefined, mediaType: string): boolean {
  if (accept === undefined) return false;
  const [type, subtype] = mediaType.split("/");
  return parseAccept(accept).some(
    (range) =>
      range.q > 0 &&
      (range.type === "*" || range.type === type) &&
      (range.subtype === "*" || range.subtype === subtype),
  );
}

/** Streamable HTTP: a POST must accept both JSON and an event stream. */
export function acceptsStreamableHttp(accept: string | undefined): boolean {
  return (
    acceptsMediaType(accept, "application/json") && acceptsMediaType(accept, "text/event-stream")
  );
}

export function isJsonContentType(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const essence = contentType.split(";")[0]?.trim().toLowerCase();
  return essence === "application/json";
}
