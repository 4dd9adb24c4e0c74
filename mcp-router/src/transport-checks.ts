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

/** A request without Origin (not a browser) passes; a present Origin must be allowlisted. */
export function isOriginAllowed(
  origin: string | undefined,
  allowlist: ReadonlySet<string>,
): boolean {
  if (origin === undefined) return true;
  const normalised = normaliseOrigin(origin);
  return normalised !== undefined && allowlist.has(normalised);
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
