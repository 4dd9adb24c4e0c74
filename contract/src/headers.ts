/** Header names shared by ext-authz, the router and the tool servers (HTTP/2 lower-case form). */
export const HEADER = {
  userId: "x-user-id",
  requestId: "x-request-id",
  verdict: "x-gateway-verdict",
  gatewayAuth: "x-gateway-auth",
  authorization: "authorization",
  mcpSessionId: "mcp-session-id",
  mcpProtocolVersion: "mcp-protocol-version",
  mcpMethod: "mcp-method",
  mcpName: "mcp-name",
  partialBody: "x-envoy-auth-partial-body",
} as const;

/** Every header a client might send to impersonate the gateway: never trusted from outside. */
export const GATEWAY_HEADER_PREFIX = "x-gateway-";

/**
 * A client's x-request-id is kept when it is visible ASCII of bounded length (it lands in logs,
 * audit rows and headers); anything else is replaced by a fresh id.
 */
const REQUEST_ID_RE = /^[\x21-\x7e]{1,200}$/;

/** The sent x-request-id when well-formed, else `fresh()`. */
export function requestIdFrom(
  headers: Readonly<Record<string, string | undefined>>,
  fresh: () => string,
): string {
  const sent = headers[HEADER.requestId];
  return sent !== undefined && REQUEST_ID_RE.test(sent) ? sent : fresh();
}
