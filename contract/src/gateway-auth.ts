import { constantTimeEqual, hmacSha256, sha256Hex } from "./digest.ts";

/**
 * `X-Gateway-Auth`: the router's proof to a tool server that a call came through the gateway.
 * Wire form `v1.<unix seconds>.<hex HMAC-SHA256(secret, "v1\n" + ts + "\n" + user + "\n" +
 * request id + "\n" + sha256(body))>`. Binding user, request id and body stops a captured header
 * from being replayed with other arguments or another identity; the timestamp bounds replay time.
 */
const VERSION = "v1";
const DEFAULT_WINDOW_SECONDS = 60;

export interface GatewayAuthInput {
  secret: string;
  userId: string;
  requestId: string;
  body: string | Uint8Array;
  /** Milliseconds since the epoch; defaults to now. */
  now?: number;
}

export type GatewayAuthRejection = "missing" | "malformed" | "stale" | "bad_signature";
export type GatewayAuthCheck = { ok: true } | { ok: false; reason: GatewayAuthRejection };

export function signGatewayAuth(input: GatewayAuthInput): string {
  const timestamp = Math.floor((input.now ?? Date.now()) / 1000);
  return `${VERSION}.${timestamp}.${mac(input, timestamp)}`;
}

export function verifyGatewayAuth(
  header: string | undefined,
  input: GatewayAuthInput & {
    /** A static shared secret accepted as-is, only when an operator configured it. */
    staticSecret?: string;
    windowSeconds?: number;
  },
): GatewayAuthCheck {
  if (header === undefined || header === "") return { ok: false, reason: "missing" };
  if (input.staticSecret !== undefined && input.staticSecret !== "") {
    if (constantTimeEqual(header, input.staticSecret)) return { ok: true };
  }
  const match = /^v1\.(\d{1,12})\.([0-9a-f]{64})$/.exec(header);
  if (match === null) return { ok: false, reason: "malformed" };
  const timestamp = Number(match[1]);
  const nowSeconds = Math.floor((input.now ?? Date.now()) / 1000);
  const window = input.windowSeconds ?? DEFAULT_WINDOW_SECONDS;
  if (Math.abs(nowSeconds - timestamp) > window) return { ok: false, reason: "stale" };
  if (!constantTimeEqual(mac(input, timestamp), match[2] as string)) {
    return { ok: false, reason: "bad_signature" };
  }
  return { ok: true };
}

function mac(input: GatewayAuthInput, timestamp: number): string {
  const message = [VERSION, timestamp, input.userId, input.requestId, sha256Hex(input.body)].join(
    "\n",
  );
  return hmacSha256(input.secret, message).toString("hex");
}
