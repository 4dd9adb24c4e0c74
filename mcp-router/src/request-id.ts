import { randomUUID } from "node:crypto";
import { HEADER } from "../../contract/src/headers.ts";
import type { RouterRequest, RouterResponse } from "./http-types.ts";

/**
 * The request id of an answer the router gives without ext-authz having named one: the client's
 * x-request-id when it is well-formed (the rule ext-authz applies), else a fresh UUID.
 */
const REQUEST_ID_RE = /^[\x21-\x7e]{1,200}$/;

export function requestIdFor(request: RouterRequest): string {
  const sent = request.headers[HEADER.requestId];
  return sent !== undefined && REQUEST_ID_RE.test(sent) ? sent : randomUUID();
}

/** The response with an x-request-id header, unless it already carries one. */
export function withRequestId(response: RouterResponse, requestId: () => string): RouterResponse {
  if (response.headers?.[HEADER.requestId] !== undefined) return response;
  return { ...response, headers: { ...response.headers, [HEADER.requestId]: requestId() } };
}
