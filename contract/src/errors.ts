import { RPC_CODE, type JsonRpcErrorResponse, type JsonRpcId } from "./json-rpc.ts";

/**
 * The one table of gateway errors. A code maps to the HTTP status the client sees, the JSON-RPC
 * code in the body and a fixed message: internal error text never reaches a client.
 */
export const GATEWAY_ERRORS = {
  GW_PARSE_ERROR: {
    httpStatus: 400,
    rpcCode: RPC_CODE.parseError,
    message: "Parse error: body is not valid JSON",
  },
  GW_INVALID_REQUEST: {
    httpStatus: 400,
    rpcCode: RPC_CODE.invalidRequest,
    message: "Invalid JSON-RPC request",
  },
  GW_BATCH_NOT_SUPPORTED: {
    httpStatus: 400,
    rpcCode: RPC_CODE.invalidRequest,
    message: "JSON-RPC batches are not supported by this protocol revision",
  },
  GW_HEADER_MISMATCH: {
    httpStatus: 400,
    rpcCode: RPC_CODE.headerMismatch,
    message: "An MCP routing header is missing or does not match the request body",
  },
  GW_MISSING_CLIENT_CAPABILITY: {
    httpStatus: 400,
    rpcCode: RPC_CODE.missingRequiredClientCapability,
    message: "The request needs a client capability it did not declare",
  },
  GW_UNSUPPORTED_PROTOCOL_VERSION: {
    httpStatus: 400,
    rpcCode: RPC_CODE.unsupportedProtocolVersion,
    message: "Unsupported MCP protocol version",
  },
  GW_TOKEN_MISSING: {
    httpStatus: 401,
    rpcCode: RPC_CODE.unauthorized,
    message: "Authentication required: send a Bearer token",
  },
  GW_TOKEN_INVALID: {
    httpStatus: 401,
    rpcCode: RPC_CODE.unauthorized,
    message: "Invalid or expired token",
  },
  GW_INSUFFICIENT_SCOPE: {
    httpStatus: 403,
    rpcCode: RPC_CODE.forbidden,
    message: "Your roles do not grant access to this endpoint",
  },
  GW_TOOL_FORBIDDEN: {
    httpStatus: 403,
    rpcCode: RPC_CODE.forbidden,
    message: "Tool not permitted",
  },
  GW_VERDICT_INVALID: {
    httpStatus: 403,
    rpcCode: RPC_CODE.forbidden,
    message: "Request was not authorized by the gateway",
  },
  GW_ORIGIN_FORBIDDEN: {
    httpStatus: 403,
    rpcCode: RPC_CODE.forbidden,
    message: "Origin not allowed",
  },
  GW_NOT_FOUND: { httpStatus: 404, rpcCode: RPC_CODE.notFound, message: "Not found" },
  GW_SESSION_NOT_FOUND: {
    httpStatus: 404,
    rpcCode: RPC_CODE.notFound,
    message: "Session not found or expired",
  },
  GW_METHOD_NOT_ALLOWED: {
    httpStatus: 405,
    rpcCode: RPC_CODE.invalidRequest,
    message: "HTTP method not allowed on this endpoint",
  },
  GW_NOT_ACCEPTABLE: {
    httpStatus: 406,
    rpcCode: RPC_CODE.invalidRequest,
    message: "Accept must list application/json and text/event-stream",
  },
  GW_PAYLOAD_TOO_LARGE: {
    httpStatus: 413,
    rpcCode: RPC_CODE.invalidRequest,
    message: "Request body too large",
  },
  GW_UNSUPPORTED_MEDIA_TYPE: {
    httpStatus: 415,
    rpcCode: RPC_CODE.invalidRequest,
    message: "Content-Type must be application/json",
  },
  GW_RATE_LIMITED: {
    httpStatus: 429,
    rpcCode: RPC_CODE.rateLimited,
    message: "Rate limit exceeded",
  },
  GW_SESSION_REQUIRED: {
    httpStatus: 400,
    rpcCode: RPC_CODE.invalidRequest,
    message: "Mcp-Session-Id header required",
  },
  GW_METHOD_NOT_FOUND: {
    httpStatus: 200,
    rpcCode: RPC_CODE.methodNotFound,
    message: "Method not found",
  },
  GW_INVALID_PARAMS: {
    httpStatus: 200,
    rpcCode: RPC_CODE.invalidParams,
    message: "Invalid params",
  },
  GW_UNKNOWN_TOOL: { httpStatus: 200, rpcCode: RPC_CODE.invalidParams, message: "Unknown tool" },
  GW_TOOL_PENDING_APPROVAL: {
    httpStatus: 200,
    rpcCode: RPC_CODE.forbidden,
    message: "Tool definition changed and awaits operator approval",
  },
  GW_UPSTREAM_TIMEOUT: {
    httpStatus: 200,
    rpcCode: RPC_CODE.upstreamTimeout,
    message: "Tool call timed out",
  },
  GW_UPSTREAM_UNAVAILABLE: {
    httpStatus: 200,
    rpcCode: RPC_CODE.upstreamUnavailable,
    message: "Tool backend is unavailable",
  },
  GW_UPSTREAM_RESPONSE_TOO_LARGE: {
    httpStatus: 200,
    rpcCode: RPC_CODE.upstreamInvalid,
    message: "Tool response exceeds the size limit",
  },
  GW_UPSTREAM_INVALID: {
    httpStatus: 200,
    rpcCode: RPC_CODE.upstreamInvalid,
    message: "Tool backend sent an invalid response",
  },
  GW_TASK_NOT_FOUND: {
    httpStatus: 200,
    rpcCode: RPC_CODE.invalidParams,
    message: "Task not found",
  },
  GW_AUDIT_UNAVAILABLE: {
    httpStatus: 503,
    rpcCode: RPC_CODE.unavailable,
    message: "Audit log unavailable; request refused",
  },
  GW_AUTHZ_UNAVAILABLE: {
    httpStatus: 503,
    rpcCode: RPC_CODE.unavailable,
    message: "Authorization service unavailable",
  },
  GW_DATABASE_UNAVAILABLE: {
    httpStatus: 503,
    rpcCode: RPC_CODE.unavailable,
    message: "The gateway's database is unavailable; retry shortly",
  },
  GW_INTERNAL: { httpStatus: 500, rpcCode: RPC_CODE.internalError, message: "Internal error" },
} as const satisfies Record<string, { httpStatus: number; rpcCode: number; message: string }>;

export type GatewayErrorCode = keyof typeof GATEWAY_ERRORS;

/**
 * The JSON-RPC error body for a gateway error. `detail` replaces the fixed message only with text
 * the gateway wrote itself (never an exception message); the stable code travels in `data.code`.
 */
export function jsonRpcErrorBody(
  code: GatewayErrorCode,
  id: JsonRpcId = null,
  extra: { detail?: string; data?: Record<string, unknown> } = {},
): JsonRpcErrorResponse {
  const entry = GATEWAY_ERRORS[code];
  return {
    jsonrpc: "2.0",
    id,
    error: {
      code: entry.rpcCode,
      message: extra.detail ?? entry.message,
      data: { code, ...extra.data },
    },
  };
}

/**
 * REST statuses (`/mcp/invoke`, `/mcp/jobs/*`) where the table's status is JSON-RPC's: errors a
 * JSON-RPC answer carries on HTTP 200 need a real HTTP status when the body is plain JSON.
 */
const REST_STATUS: Partial<Record<GatewayErrorCode, number>> = {
  GW_UNKNOWN_TOOL: 404,
  GW_INVALID_PARAMS: 400,
  GW_TOOL_PENDING_APPROVAL: 409,
  GW_UPSTREAM_TIMEOUT: 504,
  GW_UPSTREAM_UNAVAILABLE: 502,
  GW_UPSTREAM_RESPONSE_TOO_LARGE: 502,
  GW_UPSTREAM_INVALID: 502,
  GW_METHOD_NOT_FOUND: 404,
  GW_TASK_NOT_FOUND: 404,
};

/** The HTTP status of a gateway error on the REST API: never 200 for an error. */
export function restStatus(code: GatewayErrorCode): number {
  const status = REST_STATUS[code] ?? GATEWAY_ERRORS[code].httpStatus;
  return status === 200 ? 500 : status;
}

/** The REST API's one error shape; `request_id` is also the response's `x-request-id`. */
export type RestErrorBody = {
  error: { code: GatewayErrorCode; message: string };
  request_id: string;
};

/** The REST error body for a gateway error; `detail` as in jsonRpcErrorBody. */
export function restErrorBody(
  code: GatewayErrorCode,
  requestId: string,
  extra: { detail?: string } = {},
): RestErrorBody {
  return {
    error: { code, message: extra.detail ?? GATEWAY_ERRORS[code].message },
    request_id: requestId,
  };
}
