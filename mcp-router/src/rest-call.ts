import type { GatewayErrorCode } from "../../contract/src/errors.ts";
import { HEADER } from "../../contract/src/headers.ts";
import type { VerdictClaims } from "../../contract/src/verdict.ts";
import type { ResponseHeaders, RouterRequest, RouterResponse } from "./http-types.ts";
import { requestIdFor } from "./request-id.ts";
import { restError } from "./rest-error.ts";
import type { RouterContext } from "./router-context.ts";
import { isOriginAllowed } from "./transport-checks.ts";

/** What every REST route (`/mcp/invoke`, `/mcp/jobs/*`) does before its own work. */

export type RestFail = (code: GatewayErrorCode, detail?: string, status?: number) => RouterResponse;

export type AuthorizedRestCall =
  | {
      ok: true;
      body: Buffer;
      verdict: VerdictClaims;
      /** Sent on every answer: the authorizer's headers and the request id. */
      headers: ResponseHeaders;
      /** A REST error carrying the verdict's request id and those headers. */
      fail: RestFail;
    }
  | { ok: false; response: RouterResponse };

/** A refusal before any verdict exists (wrong method, malformed job id). */
export function restRefusal(
  request: RouterRequest,
  code: GatewayErrorCode,
  headers: ResponseHeaders = {},
): RouterResponse {
  return restError(code, { requestId: requestIdFor(request), headers });
}

/**
 * Read the body, check the verdict (its scope is checked by the route once it knows the tool),
 * then the Origin. Every refusal is in the REST shape.
 */
export async function authorizeRestCall(
  ctx: RouterContext,
  request: RouterRequest,
  log: { path: string; message: string },
): Promise<AuthorizedRestCall> {
  const read = await request.readBody();
  if (!read.ok) return { ok: false, response: restRefusal(request, "GW_PAYLOAD_TOO_LARGE") };
  const auth = await ctx.authorizer.authorize({
    request,
    body: read.body,
    // A scope-bound route (Envoy context_extensions) or the "rest" verdict scope: both valid here.
    scope: undefined,
    contextExtensions: {},
    surface: "rest",
  });
  if (!auth.ok) {
    ctx.metrics.authzRejections.inc({ reason: auth.reason });
    ctx.logger.info({ path: log.path, reason: auth.reason }, log.message);
    return { ok: false, response: auth.response };
  }
  const { verdict } = auth;
  const headers = { ...auth.responseHeaders, [HEADER.requestId]: verdict.requestId };
  const fail: RestFail = (code, detail, status) =>
    restError(code, {
      requestId: verdict.requestId,
      headers,
      ...(detail === undefined ? {} : { detail }),
      ...(status === undefined ? {} : { status }),
    });
  if (!isOriginAllowed(request.headers.origin, ctx.allowedOrigins)) {
    return { ok: false, response: fail("GW_ORIGIN_FORBIDDEN") };
  }
  return { ok: true, body: read.body, verdict, headers, fail };
}
