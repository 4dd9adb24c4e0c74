import { randomFillSync } from "node:crypto";
import { constantTimeEqual, hmacSha256, macEqual, sha256Hex } from "./digest.ts";

/**
 * `X-Gateway-Auth`: the router's proof to one tool server that a call came through the gateway.
 * Wire form `v2.<audience>.<unix seconds>.<nonce>.<hex HMAC-SHA256(secret, "v2\n" + audience +
 * "\n" + ts + "\n" + nonce + "\n" + user + "\n" + request id + "\n" + sha256(body))>`.
 *
 * Binding user, request id and body stops a captured header from being replayed with other
 * arguments or another identity; the audience (the tool server's name, which is its scope in
 * tools.yaml) stops it from being replayed on another tool server; the timestamp bounds how long
 * it can be replayed on the same one, and a replay guard on the tool server (the random nonce
 * makes every minted header distinct) refuses a second use within that time.
 *
 * v1 had no audience and no nonce; a v1 header is refused as `unsupported_version`.
 */
const VERSION = "v2";
export const DEFAULT_GATEWAY_AUTH_WINDOW_SECONDS = 60;
/** Clock difference tolerated for a header that claims to come from the future. */
export const DEFAULT_GATEWAY_AUTH_FUTURE_SKEW_SECONDS = 5;
const NONCE_BYTES = 16;
/** Drawn from the CSPRNG in blocks, one call per 256 nonces: each byte is still used once. */
const noncePool = Buffer.alloc(NONCE_BYTES * 256);
let noncePoolOffset = noncePool.length;

function newNonce(): string {
  if (noncePoolOffset === noncePool.length) {
    randomFillSync(noncePool);
    noncePoolOffset = 0;
  }
  const nonce = noncePool.toString("hex", noncePoolOffset, noncePoolOffset + NONCE_BYTES);
  noncePoolOffset += NONCE_BYTES;
  return nonce;
}
const AUDIENCE_RE = /^[A-Za-z0-9_-]{1,64}$/;
const HEADER_RE = /^v2\.([A-Za-z0-9_-]{1,64})\.(\d{1,12})\.([0-9a-f]{32})\.([0-9a-f]{64})$/;
const VERSION_RE = /^v\d{1,3}\./;

export interface GatewayAuthInput {
  secret: string;
  /** The tool server the call is for: its name, equal to its scope name in tools.yaml. */
  audience: string;
  userId: string;
  requestId: string;
  body: string | Uint8Array;
  /** Milliseconds since the epoch; defaults to now. */
  now?: number;
}

/**
 * Remembers headers that verified, for as long as they could verify again. `key` identifies one
 * minted header; it stops being acceptable after `expiresAt` (unix seconds).
 * - `first`: not seen before, now remembered;
 * - `replayed`: seen before;
 * - `forgotten`: the guard had to drop entries at least this recent (it is full), so it cannot
 *   tell whether this one was seen.
 */
export interface GatewayAuthReplayGuard {
  claim(key: string, expiresAt: number, nowSeconds: number): "first" | "replayed" | "forgotten";
}

export type GatewayAuthRejection =
  | "missing"
  | "malformed"
  | "unsupported_version"
  | "wrong_audience"
  | "stale"
  | "future"
  | "bad_signature"
  | "replayed"
  | "replay_cache_full";
export type GatewayAuthCheck = { ok: true } | { ok: false; reason: GatewayAuthRejection };

export function isGatewayAuthAudience(value: string): boolean {
  return AUDIENCE_RE.test(value);
}

export function signGatewayAuth(input: GatewayAuthInput): string {
  // The audience travels in clear: it must not be able to break the header's shape.
  if (!isGatewayAuthAudience(input.audience)) {
    throw new Error("signGatewayAuth: audience must be 1-64 characters of A-Z a-z 0-9 _ -");
  }
  const timestamp = Math.floor((input.now ?? Date.now()) / 1000);
  const nonce = newNonce();
  return `${VERSION}.${input.audience}.${timestamp}.${nonce}.${mac(input, timestamp, nonce)}`;
}

export function verifyGatewayAuth(
  header: string | undefined,
  input: GatewayAuthInput & {
    /**
     * A static shared secret accepted as-is, only when an operator configured it. It is bound to
     * nothing: no audience, no time, no single use.
     */
    staticSecret?: string;
    /** How long after minting a header is accepted (seconds). */
    windowSeconds?: number;
    /** How far ahead of this clock a header's timestamp may be (seconds). */
    futureSkewSeconds?: number;
    /** Without one, a header is accepted any number of times within its window. */
    replay?: GatewayAuthReplayGuard;
  },
): GatewayAuthCheck {
  if (header === undefined || header === "") return { ok: false, reason: "missing" };
  if (input.staticSecret !== undefined && input.staticSecret !== "") {
    if (constantTimeEqual(header, input.staticSecret)) return { ok: true };
  }
  const match = HEADER_RE.exec(header);
  if (match === null) {
    const otherVersion = VERSION_RE.test(header) && !header.startsWith(`${VERSION}.`);
    return { ok: false, reason: otherVersion ? "unsupported_version" : "malformed" };
  }
  const audience = match[1] as string;
  const nonce = match[3] as string;
  const signature = match[4] as string;
  // Checked before the MAC only to name the failure: a header for another backend would fail the
  // MAC as well, and an operator then sees a scope/server name mismatch rather than a bad secret.
  if (audience !== input.audience) return { ok: false, reason: "wrong_audience" };
  const timestamp = Number(match[2]);
  const nowSeconds = Math.floor((input.now ?? Date.now()) / 1000);
  const window = input.windowSeconds ?? DEFAULT_GATEWAY_AUTH_WINDOW_SECONDS;
  const futureSkew = input.futureSkewSeconds ?? DEFAULT_GATEWAY_AUTH_FUTURE_SKEW_SECONDS;
  if (nowSeconds - timestamp > window) return { ok: false, reason: "stale" };
  if (timestamp - nowSeconds > futureSkew) return { ok: false, reason: "future" };
  if (!macEqual(signature, mac(input, timestamp, nonce))) {
    return { ok: false, reason: "bad_signature" };
  }
  // Only a header the router really minted is remembered, so a flood of forgeries cannot fill
  // the guard.
  switch (input.replay?.claim(signature, timestamp + window, nowSeconds) ?? "first") {
    case "first":
      return { ok: true };
    case "replayed":
      return { ok: false, reason: "replayed" };
    case "forgotten":
      return { ok: false, reason: "replay_cache_full" };
  }
}

function mac(input: GatewayAuthInput, timestamp: number, nonce: string): string {
  const message = [
    VERSION,
    input.audience,
    timestamp,
    nonce,
    input.userId,
    input.requestId,
    sha256Hex(input.body),
  ].join("\n");
  return hmacSha256(input.secret, message).toString("hex");
}
