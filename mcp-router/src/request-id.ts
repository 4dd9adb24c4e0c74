import { randomUUID } from "node:crypto";
import { HEADER, requestIdFrom } from "../../contract/src/headers.ts";
import type { RouterRequest, RouterResponse } from "./http-types.ts";

/**
 * The request id of an answer the router gives without ext-authz having named one: the client's
 * x-request-id when it is well-formed (the rule ext-authz applies), else a fresh UUID.
 */
export function requestIdFor(request: RouterRequest): string {
  return requestIdFrom(request.headers, randomUUID);
}

/** The response with an x-request-id header, unless it already carries one. */
export function withRequestId(response: RouterResponse, requestId: () => string): RouterResponse {
  if (response.headers?.[HEADER.requestId] !== undefined) return response;
  return { ...response, headers: { ...response.headers, [HEADER.requestId]: requestId() } };
}
