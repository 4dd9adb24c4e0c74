import { HEADER } from "../../contract/src/headers.ts";
import { rpcErrorResponse, type RouterRequest, type RouterResponse } from "./http-types.ts";
import { parseInbound } from "./json-rpc-message.ts";
import {
  BATCH_PROTOCOL_VERSION,
  handleLegacyBatch,
  handleLegacyDelete,
  handleLegacyPost,
} from "./mcp-legacy.ts";
import { handleModernPost } from "./mcp-modern.ts";
import { chooseRevision, isModernVersion, metaProtocolVersion } from "./protocol-version.ts";
import type { McpCall, RouterContext } from "./router-context.ts";
import {
  acceptsMediaType,
  acceptsStreamableHttp,
  isJsonContentType,
  isOriginAllowed,
} from "./transport-checks.ts";

/**
 * `/{scope}/sse` and `/{scope}/mcp`: read the body under the size limit, obtain and verify the
 * verdict, apply the transport checks, then hand the message to the handler of its revision.
 */
export async function handleMcpEndpoint(
  ctx: RouterContext,
  request: RouterRequest,
  scope: string,
): Promise<RouterResponse> {
  if (request.method !== "POST" && request.method !== "GET" && request.method !== "DELETE") {
    return rpcErrorResponse("GW_METHOD_NOT_ALLOWED", null, {
      headers: { allow: "POST, GET, DELETE" },
    });
  }
  const read = await request.readBody();
  if (!read.ok) return rpcErrorResponse("GW_PAYLOAD_TOO_LARGE");

  const auth = await ctx.authorizer.authorize({
    request,
    body: read.body,
    scope,
    contextExtensions: { scope },
  });
  if (!auth.ok) {
    ctx.metrics.authzRejections.inc({ reason: auth.reason });
    ctx.logger.info(
      { path: request.path, reason: auth.reason },
      "request refused before MCP handling",
    );
    return auth.response;
  }
  const { verdict } = auth;
  const logger = ctx.logger.child({ requestId: verdict.requestId, scope });
  const headers = request.headers;
  const call: McpCall = {
    scope,
    verdict,
    requestId: verdict.requestId,
    logger,
    signal: request.signal,
    acceptsSse: acceptsMediaType(headers.accept, "text/event-stream"),
    sessionId: undefined,
    era: "legacy",
    responseHeaders: { ...auth.responseHeaders, [HEADER.requestId]: verdict.requestId },
  };
  const fail = (code: Parameters<typeof rpcErrorResponse>[0], extra: { allow?: string } = {}) =>
    rpcErrorResponse(code, null, {
      headers: {
        ...call.responseHeaders,
        ...(extra.allow === undefined ? {} : { allow: extra.allow }),
      },
    });

  if (!isOriginAllowed(headers.origin, ctx.allowedOrigins)) {
    logger.info({ reason: "origin_forbidden" }, "request refused");
    return fail("GW_ORIGIN_FORBIDDEN");
  }

  const headerVersion = headers[HEADER.mcpProtocolVersion];
  const modernHeader = headerVersion !== undefined && isModernVersion(headerVersion);
  if (request.method === "GET") {
    // No server-initiated stream is offered (the spec allows 405); 2026-07-28 is POST-only.
    return fail("GW_METHOD_NOT_ALLOWED", { allow: modernHeader ? "POST" : "POST, DELETE" });
  }
  if (request.method === "DELETE") {
    if (modernHeader) return fail("GW_METHOD_NOT_ALLOWED", { allow: "POST" });
    return handleLegacyDelete(ctx, call, headers);
  }

  if (!isJsonContentType(headers["content-type"])) return fail("GW_UNSUPPORTED_MEDIA_TYPE");
  if (!acceptsStreamableHttp(headers.accept)) return fail("GW_NOT_ACCEPTABLE");
  const parsed = parseInbound(read.body);
  if (!parsed.ok) {
    return rpcErrorResponse(parsed.error, parsed.id, {
      headers: call.responseHeaders,
      ...(parsed.detail === undefined ? {} : { detail: parsed.detail }),
    });
  }
  if (parsed.batch) {
    // Only 2025-03-26 has batches; an absent header means 2025-03-26 (the session must agree).
    const batchRevision =
      (headerVersion === undefined || headerVersion === BATCH_PROTOCOL_VERSION) &&
      parsed.raw.every((raw) => {
        const claim = metaProtocolVersion(raw);
        return claim === undefined || claim === BATCH_PROTOCOL_VERSION;
      });
    if (!batchRevision) return fail("GW_BATCH_NOT_SUPPORTED");
    return handleLegacyBatch(ctx, call, parsed.messages, headers);
  }
  const revision = chooseRevision(parsed.raw, headerVersion);
  if (revision.era === "modern") {
    return handleModernPost(
      ctx,
      { ...call, era: "modern" },
      parsed.message,
      revision.version,
      headers,
    );
  }
  return handleLegacyPost(ctx, call, parsed.message, headers);
}
