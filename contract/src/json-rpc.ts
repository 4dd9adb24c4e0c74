/** JSON-RPC 2.0 codes (spec) and the MCP-specific ones the gateway emits. */
export const RPC_CODE = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internalError: -32603,
  /** Gateway-level failures use the implementation-defined server error range. */
  unauthorized: -32001,
  forbidden: -32003,
  notFound: -32004,
  rateLimited: -32029,
  upstreamTimeout: -32008,
  upstreamUnavailable: -32009,
  upstreamInvalid: -32010,
  unavailable: -32011,
  /** 2026-07-28 stateless revision. */
  headerMismatch: -32020,
  missingRequiredClientCapability: -32021,
  unsupportedProtocolVersion: -32022,
} as const;

export type JsonRpcId = string | number | null;

export interface JsonRpcErrorObject {
  code: number;
  message: string;
  data?: unknown;
}

export interface JsonRpcErrorResponse {
  jsonrpc: "2.0";
  id: JsonRpcId;
  error: JsonRpcErrorObject;
}

export interface JsonRpcSuccessResponse {
  jsonrpc: "2.0";
  id: string | number;
  result: unknown;
}

export function isJsonRpcId(value: unknown): value is string | number {
  return typeof value === "string" || (typeof value === "number" && Number.isFinite(value));
}
