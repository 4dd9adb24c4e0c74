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
