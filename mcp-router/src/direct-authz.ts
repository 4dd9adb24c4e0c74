import type {
  CheckRequest,
  CheckResponse,
  HeaderValueOption,
} from "../../contract/src/authz-wire.ts";
import { httpStatusNumber } from "../../contract/src/envoy-http-status.ts";
import { GATEWAY_HEADER_PREFIX, HEADER } from "../../contract/src/headers.ts";
import { traceHeaders } from "../../contract/src/tracing.ts";
import type { ResponseHeaders, RouterRequest, RouterResponse } from "./http-types.ts";

/**
 * AUTHZ_MODE=direct: the router plays Envoy's ext_authz filter. It sends the CheckRequest Envoy
 * would send and applies the answer the way Envoy does; it makes no decision of its own.
 */

export function buildCheckRequest(input: {
  request: RouterRequest;
  body: Buffer;
  requestId: string;
  streamId: string;
  contextExtensions: Record<string, string>;
}): CheckRequest {
  const { request, body } = input;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    // Envoy turns Host into :authority; hop-by-hop headers never reach the filter.
    if (name === "host" || name === "connection" || name === "keep-alive") continue;
    headers[name] = value;
  }
  const authority = request.headers.host ?? "";
  headers[":authority"] = authority;
  headers[":method"] = request.method;
  headers[":path"] = request.target;
  headers[":scheme"] = "http";
  headers["x-forwarded-proto"] = "http";
  // An edge Envoy replaces a client's x-request-id with its own unless told to preserve it.
  headers[HEADER.requestId] = input.requestId;
  // Envoy with tracing on names its ext_authz span as the parent; here the router's current span.
  Object.assign(headers, traceHeaders());
  if (body.length > 0 && headers["content-length"] === undefined) {
    headers["content-length"] = String(body.length);
  }
  const nowMs = Date.now();
  return {
    attributes: {
      source: peer(request.remoteAddress, request.remotePort),
      destination: peer(request.localAddress, request.localPort),
      request: {
        time: { seconds: Math.floor(nowMs / 1000), nanos: (nowMs % 1000) * 1_000_000 },
        http: {
          id: input.streamId,
          method: request.method,
          headers,
          path: request.target,
          host: authority,
          scheme: "http",
          size: body.byteLength,
          protocol: `HTTP/${request.httpVersion}`,
          // As Envoy with pack_as_bytes: the exact bytes. A UTF-8 string would replace invalid
          // sequences, and the verdict's digest would then not match the body forwarded.
          raw_body: body,
        },
      },
      context_extensions: input.contextExtensions,
    },
  };
}

function peer(address: string | undefined, port: number | undefined) {
  if (address === undefined) return null;
  return {
    address: {
      socket_address: { protocol: "TCP" as const, address, port_value: port ?? 0 },
    },
  };
}

export type AppliedCheck =
  | { kind: "deny"; status: number; response: RouterResponse }
  | { kind: "allow"; headers: Record<string, string>; responseHeaders: ResponseHeaders };

/**
 * Applies a CheckResponse as Envoy's filter does: a non-zero status is a local reply built from
 * denied_response (403 when no status is given); OK applies the header mutations to the request.
 * Client copies of gateway headers are dropped first, so only ext-authz can supply a verdict.
 */
export function applyCheckResponse(
  response: CheckResponse,
  requestHeaders: Record<string, string>,
): AppliedCheck {
  const code = response.status?.code ?? 0;
  if (code !== 0) {
    const denied = response.denied_response ?? response.error_response ?? null;
    const status = httpStatusNumber(denied?.status);
    const headers: Record<string, string> = {};
    for (const option of denied?.headers ?? []) applyHeaderOption(headers, option);
    return {
      kind: "deny",
      status,
      response: { status, headers, body: denied?.body ?? "" },
    };
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(requestHeaders)) {
    if (!name.startsWith(GATEWAY_HEADER_PREFIX)) headers[name] = value;
  }
  const ok = response.ok_response;
  for (const option of ok?.headers ?? []) applyHeaderOption(headers, option);
  for (const name of ok?.headers_to_remove ?? []) delete headers[name.toLowerCase()];
  const responseHeaders: Record<string, string> = {};
  for (const option of ok?.response_headers_to_add ?? [])
    applyHeaderOption(responseHeaders, option);
  return { kind: "allow", headers, responseHeaders };
}

function applyHeaderOption(target: Record<string, string>, option: HeaderValueOption): void {
  const header = option.header;
  if (header === null || header.key === "") return;
  const name = header.key.toLowerCase();
  const value =
    header.value !== undefined && header.value !== ""
      ? header.value
      : header.raw_value !== undefined
        ? Buffer.from(header.raw_value).toString("utf8")
        : "";
  if (value === "" && option.keep_empty_value !== true) return;
  const existing = target[name];
  if (option.append?.value === true) {
    target[name] = existing === undefined ? value : `${existing}, ${value}`;
    return;
  }
  switch (option.append_action) {
    case "ADD_IF_ABSENT":
      if (existing === undefined) target[name] = value;
      return;
    case "OVERWRITE_IF_EXISTS":
      if (existing !== undefined) target[name] = value;
      return;
    default:
      // append unset/false: overwrite, the behaviour every Envoy version agrees on.
      target[name] = value;
  }
}
