import type { ClientCapability } from "./session.ts";
import { GATEWAY_ERRORS, type GatewayErrorCode } from "../../contract/src/errors.ts";
import { HEADER } from "../../contract/src/headers.ts";
import type { JsonRpcId } from "../../contract/src/json-rpc.ts";
import {
  BATCH_PROTOCOL_VERSION,
  checkRoutingHeaders,
  isSessionVersion,
  SUPPORTED_PROTOCOL_VERSIONS,
  type WireMessage,
} from "../../contract/src/mcp-wire.ts";
import { reasonCode, rejectedToolCallEvent } from "./audit.ts";
import { rpcErrorResponse, type RouterResponse } from "./http-types.ts";
import { isToolAllowed } from "./verdict-access.ts";
import { finalOf, type McpCall } from "./mcp-answer.ts";
import { encodeAnswer, encodeBatch, type McpExchange } from "./mcp-encoding.ts";
import { dispatch } from "./mcp-methods.ts";
import type { RouterContext } from "./router-context.ts";
import { sessionBinding } from "./session.ts";

/**
 * The session era (2024-11-05 … 2025-11-25) on Streamable HTTP: `initialize` negotiates the
 * version and issues a signed session bound to subject, tenant and scope; every later request
 * names that session. 2025-03-26 also has batches.
 */

function refusal(
  exchange: McpExchange,
  code: GatewayErrorCode,
  id: JsonRpcId,
  extra: { detail?: string; data?: Record<string, unknown> } = {},
): RouterResponse {
  return rpcErrorResponse(code, id, { ...extra, headers: exchange.responseHeaders });
}

type SessionLookup =
  | {
      ok: true;
      sessionId: string;
      version: string;
      clientCapabilities: readonly ClientCapability[];
    }
  | { ok: false; response: RouterResponse };

export async function requireSession(
  ctx: RouterContext,
  call: McpCall,
  exchange: McpExchange,
  id: JsonRpcId,
): Promise<SessionLookup> {
  const sessionId = exchange.headers[HEADER.mcpSessionId];
  if (sessionId === undefined || sessionId === "") {
    return { ok: false, response: refusal(exchange, "GW_SESSION_REQUIRED", id) };
  }
  const check = ctx.sessions.verify(sessionId, sessionBinding(call));
  // Another user's, another scope's, an expired or a forged id all look the same: not found.
  if (!check.ok || (await ctx.revocations.isRevoked(check.claims.sid))) {
    call.logger.info({ reason: check.ok ? "revoked" : check.reason }, "session refused");
    return { ok: false, response: refusal(exchange, "GW_SESSION_NOT_FOUND", id) };
  }
  return {
    ok: true,
    sessionId: check.claims.sid,
    version: check.claims.ver,
    clientCapabilities: check.claims.cli ?? [],
  };
}

export async function handleSessionPost(
  ctx: RouterContext,
  call: McpCall,
  message: WireMessage,
  exchange: McpExchange,
): Promise<RouterResponse> {
  const id = message.kind === "request" ? message.id : null;
  const headerVersion = exchange.headers[HEADER.mcpProtocolVersion];
  const isInitialize = message.kind === "request" && message.method === "initialize";
  if (!isInitialize && headerVersion !== undefined && !isSessionVersion(headerVersion)) {
    return refusal(exchange, "GW_UNSUPPORTED_PROTOCOL_VERSION", id, {
      data: { supported: SUPPORTED_PROTOCOL_VERSIONS, requested: headerVersion },
    });
  }
  const problem = checkRoutingHeaders(message, exchange.routing, "session");
  if (problem !== undefined) {
    return refusal(exchange, "GW_HEADER_MISMATCH", id, { detail: problem.detail });
  }
  const encode = { era: "session", id, ...exchange } as const;
  if (isInitialize) return encodeAnswer(await dispatch(ctx, call, message), encode);

  const session = await requireSession(ctx, call, exchange, id);
  if (!session.ok) return session.response;
  const inSession = {
    ...call,
    sessionId: session.sessionId,
    clientCapabilities: session.clientCapabilities,
  };
  return encodeAnswer(await dispatch(ctx, inSession, message), encode);
}

/**
 * A 2025-03-26 batch: authorized whole by ext-authz (every tools/call allowed and charged), then
 * each message handled as if sent alone. Requests are answered in one JSON array (one stream
 * cannot carry several calls' progress here); notifications and responses get nothing.
 */
export async function handleSessionBatch(
  ctx: RouterContext,
  call: McpCall,
  messages: readonly WireMessage[],
  exchange: McpExchange,
): Promise<RouterResponse> {
  const session = await requireSession(ctx, call, exchange, null);
  if (!session.ok) return session.response;
  if (session.version !== BATCH_PROTOCOL_VERSION) {
    return refusal(exchange, "GW_BATCH_NOT_SUPPORTED", null);
  }
  // The verdict must cover every call; if one is missing nothing in the batch runs.
  for (const message of messages) {
    if (message.kind !== "request" || message.method !== "tools/call") continue;
    const name = message.params?.name;
    if (typeof name !== "string" || isToolAllowed(call.verdict.tools, call.scope, name)) continue;
    return refuseBatch(ctx, call, exchange, name);
  }
  const inSession = { ...call, sessionId: session.sessionId };
  const answers = await Promise.all(
    messages.map(async (message) => ({
      id: message.kind === "request" ? message.id : null,
      answer: await finalOf(await dispatch(ctx, inSession, message)),
    })),
  );
  return encodeBatch(answers, exchange.responseHeaders);
}

async function refuseBatch(
  ctx: RouterContext,
  call: McpCall,
  exchange: McpExchange,
  tool: string,
): Promise<RouterResponse> {
  call.logger.info({ tool, reason: "tool_forbidden" }, "batch refused");
  try {
    await ctx.audit.write(
      rejectedToolCallEvent(call, {
        tool,
        rejection: reasonCode("GW_TOOL_FORBIDDEN"),
        status: GATEWAY_ERRORS.GW_TOOL_FORBIDDEN.httpStatus,
      }),
    );
  } catch (error) {
    call.logger.error({ err: error }, "audit write refused; answering 503");
    return refusal(exchange, "GW_AUDIT_UNAVAILABLE", null);
  }
  return refusal(exchange, "GW_TOOL_FORBIDDEN", null);
}

export async function handleSessionDelete(
  ctx: RouterContext,
  call: McpCall,
  exchange: McpExchange,
): Promise<RouterResponse> {
  const session = await requireSession(ctx, call, exchange, null);
  if (!session.ok) return session.response;
  const check = ctx.sessions.verify(exchange.headers[HEADER.mcpSessionId], sessionBinding(call));
  if (check.ok) await ctx.revocations.revoke(check.claims.sid, check.claims.exp);
  return { status: 204, headers: exchange.responseHeaders };
}
