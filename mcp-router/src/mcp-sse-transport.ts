import { checkRoutingHeaders, readBody } from "../../contract/src/mcp-wire.ts";
import { rpcErrorResponse, type RouterRequest, type RouterResponse } from "./http-types.ts";
import { createChannel, KEEPALIVE_MS, type McpCall } from "./mcp-answer.ts";
import { sseFramesOf, type McpExchange } from "./mcp-encoding.ts";
import { dispatch } from "./mcp-methods.ts";
import type { RouterContext } from "./router-context.ts";
import { sessionBinding, type SessionBinding } from "./session.ts";
import { MAX_STREAMS_PER_SUBJECT } from "./sse-streams.ts";
import { isJsonContentType } from "./transport-checks.ts";

/**
 * The HTTP+SSE transport of 2024-11-05 on `/{scope}/sse`, for clients that choose the transport
 * from the URL: a GET opens an event stream whose first event names where to POST messages
 * (`/{scope}/sse?sessionId=…`); each POST is authorized like any other request and answered 202,
 * and its response travels on the stream. A stream lives on the replica that opened it, bound to
 * the user and scope of the verdict that opened it; envoy.yaml routes a client's requests to
 * one replica (see docs/deployment.md).
 */

const STREAM_ID_RE = /^[A-Za-z0-9_-]{32}$/;

/** The `sessionId` query parameter of an HTTP+SSE message POST, if the request has one. */
export function sseSessionIdOf(request: RouterRequest): string | undefined {
  const question = request.target.indexOf("?");
  if (question === -1) return undefined;
  return new URLSearchParams(request.target.slice(question + 1)).get("sessionId") ?? undefined;
}

function sameBinding(a: SessionBinding, b: SessionBinding): boolean {
  return a.subject === b.subject && a.tenant === b.tenant && a.scope === b.scope;
}

/**
 * A server-to-client event stream bound to the caller's user and scope, kept alive until the
 * client goes away; `first` names the first frame once the stream's id is known.
 */
function openStream(
  ctx: RouterContext,
  request: RouterRequest,
  call: McpCall,
  exchange: McpExchange,
  transport: "http+sse" | "streamable-http",
  first: (streamId: string) => string,
): RouterResponse {
  const frames = createChannel<string>();
  const opened = ctx.sseStreams.open(sessionBinding(call), frames);
  if (opened === undefined) {
    return rpcErrorResponse("GW_RATE_LIMITED", null, {
      headers: exchange.responseHeaders,
      detail: `At most ${MAX_STREAMS_PER_SUBJECT} SSE streams per user`,
    });
  }
  const keepAlive = setInterval(() => frames.push(": keepalive\n\n"), KEEPALIVE_MS);
  const close = () => {
    clearInterval(keepAlive);
    opened.close();
  };
  request.signal.addEventListener("abort", close, { once: true });
  call.logger.info({ transport }, "SSE stream opened");
  frames.push(first(opened.id));
  return {
    status: 200,
    headers: { ...exchange.responseHeaders, "cache-control": "no-cache, no-transform" },
    events: frames,
  };
}

export function openSseStream(
  ctx: RouterContext,
  request: RouterRequest,
  call: McpCall,
  exchange: McpExchange,
): RouterResponse {
  return openStream(
    ctx,
    request,
    call,
    exchange,
    "http+sse",
    (id) => `event: endpoint\ndata: /${call.scope}/sse?sessionId=${id}\n\n`,
  );
}

/**
 * Streamable HTTP's optional GET stream of a 2025 session, on scopes served by an MCP server:
 * what the server sends outside any request (resource updates, list changes, log messages) for
 * this user reaches the client here. Other scopes have nothing to send and answer 405.
 */
export function openSessionStream(
  ctx: RouterContext,
  request: RouterRequest,
  call: McpCall,
  exchange: McpExchange,
): RouterResponse {
  // A comment first, so the client sees the stream open before any event.
  return openStream(ctx, request, call, exchange, "streamable-http", () => ": stream open\n\n");
}

export async function postToSseStream(
  ctx: RouterContext,
  call: McpCall,
  body: Buffer,
  exchange: McpExchange,
  sessionId: string,
): Promise<RouterResponse> {
  const headers = exchange.responseHeaders;
  const stream = STREAM_ID_RE.test(sessionId) ? ctx.sseStreams.get(sessionId) : undefined;
  const binding = sessionBinding(call);
  // Another user's, another scope's, an ended or an unknown stream all look the same.
  if (stream === undefined || !sameBinding(stream.binding, binding)) {
    return rpcErrorResponse("GW_SESSION_NOT_FOUND", null, { headers });
  }
  if (!isJsonContentType(exchange.headers["content-type"])) {
    return rpcErrorResponse("GW_UNSUPPORTED_MEDIA_TYPE", null, { headers });
  }
  let value: unknown;
  try {
    value = JSON.parse(body.toString("utf8"));
  } catch {
    return rpcErrorResponse("GW_PARSE_ERROR", null, { headers });
  }
  // 2024-11-05 has no batches: one message per POST.
  if (Array.isArray(value)) return rpcErrorResponse("GW_BATCH_NOT_SUPPORTED", null, { headers });
  const parsed = readBody(value, undefined);
  if (!parsed.ok || parsed.batch) {
    return rpcErrorResponse("GW_INVALID_REQUEST", parsed.ok ? null : parsed.id, { headers });
  }
  const { message } = parsed;
  const problem = checkRoutingHeaders(message, exchange.routing, "session");
  const id = message.kind === "request" ? message.id : null;
  if (problem !== undefined) {
    return rpcErrorResponse("GW_HEADER_MISMATCH", id, { headers, detail: problem.detail });
  }
  const streamCall: McpCall = {
    ...call,
    era: "session",
    sessionId,
    signal: stream.signal,
    answeredOnStream: true,
  };
  void (async () => {
    try {
      const answer = await dispatch(ctx, streamCall, message);
      for await (const frame of sseFramesOf(answer, { era: "session", id })) {
        stream.frames.push(frame);
      }
    } catch (error) {
      call.logger.error({ err: error }, "HTTP+SSE message failed");
    }
  })();
  return { status: 202, headers };
}
