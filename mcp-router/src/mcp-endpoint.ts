import { HEADER } from "../../contract/src/headers.ts";
import type { JsonRpcId } from "../../contract/src/json-rpc.ts";
import {
  echoableId,
  eraOf,
  isStatelessVersion,
  readBody,
  type RoutingHeaders,
} from "../../contract/src/mcp-wire.ts";
import { rpcErrorResponse, type RouterRequest, type RouterResponse } from "./http-types.ts";
import type { McpCall } from "./mcp-answer.ts";
import type { McpExchange } from "./mcp-encoding.ts";
import {
  handleSessionBatch,
  handleSessionDelete,
  handleSessionPost,
  requireSession,
} from "./mcp-session.ts";
import {
  openSessionStream,
  openSseStream,
  postToSseStream,
  sseSessionIdOf,
} from "./mcp-sse-transport.ts";
import { handleStatelessPost } from "./mcp-stateless.ts";
import type { RouterContext } from "./router-context.ts";
import {
  acceptsMediaType,
  acceptsStreamableHttp,
  isJsonContentType,
  isOriginAllowed,
} from "./transport-checks.ts";

/**
 * `/{scope}/sse` and `/{scope}/mcp`: read the body under the size limit, obtain and verify the
 * verdict, apply the transport checks, then hand the message to its era.
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
  const headers = request.headers;
  const routing: RoutingHeaders = {
    protocolVersion: headers[HEADER.mcpProtocolVersion],
    method: headers[HEADER.mcpMethod],
    name: headers[HEADER.mcpName],
  };
  const exchange: McpExchange = {
    headers,
    routing,
    acceptsSse: acceptsMediaType(headers.accept, "text/event-stream"),
    responseHeaders: { ...auth.responseHeaders, [HEADER.requestId]: verdict.requestId },
  };
  const call: McpCall = {
    scope,
    verdict,
    requestId: verdict.requestId,
    logger: ctx.logger.child({ requestId: verdict.requestId, scope }),
    signal: request.signal,
    era: "session",
    sessionId: undefined,
  };
  // The verdict covers this body, so a refusal can name the request it refuses; echoableId keeps
  // only an id a response may carry (bounded string or safe integer), never an attacker's blob.
  const bodyId = (): JsonRpcId => {
    try {
      return echoableId(JSON.parse(read.body.toString("utf8")));
    } catch {
      return null;
    }
  };
  const fail = (code: Parameters<typeof rpcErrorResponse>[0], extra: { allow?: string } = {}) =>
    rpcErrorResponse(code, bodyId(), {
      headers: {
        ...exchange.responseHeaders,
        ...(extra.allow === undefined ? {} : { allow: extra.allow }),
      },
    });

  if (!isOriginAllowed(headers.origin, ctx.allowedOrigins)) {
    call.logger.info({ reason: "origin_forbidden" }, "request refused");
    return fail("GW_ORIGIN_FORBIDDEN");
  }

  const statelessHeader = isStatelessVersion(routing.protocolVersion);
  const sseAlias = request.path.endsWith("/sse");
  const sseSessionId = sseAlias ? sseSessionIdOf(request) : undefined;
  if (request.method === "POST" && sseSessionId !== undefined) {
    return postToSseStream(ctx, call, read.body, exchange, sseSessionId);
  }
  // A GET without a session on /{scope}/sse opens the 2024-11-05 HTTP+SSE transport; with a
  // Streamable HTTP session it would be that transport's optional stream, which is not offered.
  if (
    request.method === "GET" &&
    sseAlias &&
    !statelessHeader &&
    headers[HEADER.mcpSessionId] === undefined &&
    exchange.acceptsSse
  ) {
    return openSseStream(ctx, request, call, exchange);
  }
  if (
    request.method === "GET" &&
    !statelessHeader &&
    ctx.config.tools.scopes[call.scope]?.mcp_server !== undefined
  ) {
    // What an MCP server sends outside a request has a stream to go to (mcp-sse-transport.ts).
    if (!exchange.acceptsSse) return fail("GW_NOT_ACCEPTABLE");
    const session = await requireSession(ctx, call, exchange, null);
    if (!session.ok) return session.response;
    return openSessionStream(ctx, request, { ...call, sessionId: session.sessionId }, exchange);
  }
  if (request.method === "GET") {
    // Gateway tool servers send nothing outside a request (the spec allows 405); 2026-07-28 is
    // POST-only.
    return fail("GW_METHOD_NOT_ALLOWED", { allow: statelessHeader ? "POST" : "POST, DELETE" });
  }
  if (request.method === "DELETE") {
    if (statelessHeader) return fail("GW_METHOD_NOT_ALLOWED", { allow: "POST" });
    return handleSessionDelete(ctx, call, exchange);
  }

  if (!isJsonContentType(headers["content-type"])) return fail("GW_UNSUPPORTED_MEDIA_TYPE");
  if (!acceptsStreamableHttp(headers.accept)) return fail("GW_NOT_ACCEPTABLE");
  let value: unknown;
  try {
    value = JSON.parse(read.body.toString("utf8"));
  } catch {
    return fail("GW_PARSE_ERROR");
  }
  const body = readBody(value, routing.protocolVersion);
  if (!body.ok) {
    const code =
      body.reason === "batch_not_allowed" ? "GW_BATCH_NOT_SUPPORTED" : "GW_INVALID_REQUEST";
    return rpcErrorResponse(code, body.id, {
      headers: exchange.responseHeaders,
      ...(body.detail === undefined ? {} : { detail: body.detail }),
    });
  }
  if (body.batch) return handleSessionBatch(ctx, call, body.messages, exchange);
  const era = eraOf(body.message, routing.protocolVersion);
  if (era === "stateless") {
    return handleStatelessPost(ctx, { ...call, era }, body.message, exchange);
  }
  return handleSessionPost(ctx, call, body.message, exchange);
}
