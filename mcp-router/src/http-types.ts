import {
  GATEWAY_ERRORS,
  jsonRpcErrorBody,
  type GatewayErrorCode,
} from "../../contract/src/errors.ts";
import type { JsonRpcId } from "../../contract/src/json-rpc.ts";

/**
 * The router's core speaks these two shapes, not node:http: the adapter in http-server.ts turns
 * an IncomingMessage into a RouterRequest and writes a RouterResponse back.
 */
export type BodyRead = { ok: true; body: Buffer } | { ok: false; reason: "too_large" | "aborted" };

export type RouterRequest = {
  method: string;
  /** Path without the query string. */
  path: string;
  /** Path with the query string, as received. */
  target: string;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  remoteAddress: string | undefined;
  remotePort: number | undefined;
  localAddress: string | undefined;
  localPort: number | undefined;
  httpVersion: string;
  /** Reads the whole body, refusing (while reading) anything over the configured limit. */
  readBody(): Promise<BodyRead>;
  /** Aborted when the client goes away before the response is complete. */
  signal: AbortSignal;
};

export type ResponseHeaders = Record<string, string | string[]>;

export type RouterResponse =
  | { status: number; headers?: ResponseHeaders; body?: string | Uint8Array }
  | {
      status: number;
      headers?: ResponseHeaders;
      /** Server-sent events, each already formatted (`event:`/`data:` lines and blank line). */
      events: AsyncIterable<string>;
    };

export function jsonResponse(
  status: number,
  value: unknown,
  headers: ResponseHeaders = {},
): RouterResponse {
  return {
    status,
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(value),
  };
}

/** A gateway error as the JSON-RPC error body plus the HTTP status from the one error table. */
export function rpcErrorResponse(
  code: GatewayErrorCode,
  id: JsonRpcId = null,
  options: {
    detail?: string;
    data?: Record<string, unknown>;
    status?: number;
    headers?: ResponseHeaders;
  } = {},
): RouterResponse {
  const extra = {
    ...(options.detail === undefined ? {} : { detail: options.detail }),
    ...(options.data === undefined ? {} : { data: options.data }),
  };
  return jsonResponse(
    options.status ?? GATEWAY_ERRORS[code].httpStatus,
    jsonRpcErrorBody(code, id, extra),
    options.headers,
  );
}

export function sseEvent(message: unknown): string {
  return `event: message\ndata: ${JSON.stringify(message)}\n\n`;
}
