import { restErrorBody, restStatus, type GatewayErrorCode } from "../../contract/src/errors.ts";
import { HEADER } from "../../contract/src/headers.ts";
import { jsonResponse, type ResponseHeaders, type RouterResponse } from "./http-types.ts";

/**
 * A REST API refusal (`/mcp/invoke`, `/mcp/jobs/*`): the documented `{error: {code, message},
 * request_id}` with the REST status, and the same id in x-request-id.
 */
export function restError(
  code: GatewayErrorCode,
  options: { requestId: string; detail?: string; headers?: ResponseHeaders; status?: number },
): RouterResponse {
  return jsonResponse(
    options.status ?? restStatus(code),
    restErrorBody(
      code,
      options.requestId,
      options.detail === undefined ? {} : { detail: options.detail },
    ),
    { ...options.headers, [HEADER.requestId]: options.requestId },
  );
}
