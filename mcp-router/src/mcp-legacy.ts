import { HEADER } from "../../contract/src/headers.ts";
import type { InboundMessage } from "./json-rpc-message.ts";
import type { RouterResponse } from "./http-types.ts";
import { inFlightKey } from "./in-flight.ts";
import { handleToolsList, rpcError, rpcResult } from "./mcp-tools.ts";
import { ALL_VERSIONS, isLegacyVersion, negotiateLegacyVersion } from "./protocol-version.ts";
import type { McpCall, RouterContext } from "./router-context.ts";
import {
  handleTaskRequest,
  handleToolsCallWithTasks,
  LEGACY_TASKS_CAPABILITY,
} from "./tasks/mcp-tasks.ts";
import type { SessionBinding } from "./session.ts";

/**
 * The 2025 revisions (2025-03-26, 2025-06-18, 2025-11-25): initialize with version negotiation,
 * then requests within a signed session bound to subject, tenant and scope.
 */

export function sessionBinding(call: McpCall): SessionBinding {
  return { subject: call.verdict.subject, tenant: call.verdict.tenant, scope: call.scope };
}

type SessionLookup = { ok: true; sessionId: string } | { ok: false; response: RouterResponse };

export async function requireSession(
  ctx: RouterContext,
  call: McpCall,
  headers: Record<string, string>,
  id: string | number | null,
): Promise<SessionLookup> {
  const sessionId = headers[HEADER.mcpSessionId];
  if (sessionId === undefined || sessionId === "") {
    return { ok: false, response: rpcError(call, "GW_SESSION_REQUIRED", id) };
  }
  const check = ctx.sessions.verify(sessionId, sessionBinding(call));
  // Another user's, another scope's, an expired or a forged id all look the same: not found.
  if (!check.ok || (await ctx.revocations.isRevoked(check.claims.sid))) {
    call.logger.info({ reason: check.ok ? "revoked" : check.reason }, "session refused");
    return { ok: false, response: rpcError(call, "GW_SESSION_NOT_FOUND", id) };
  }
  return { ok: true, sessionId: check.claims.sid };
}

export async function handleLegacyPost(
  ctx: RouterContext,
  call: McpCall,
  message: InboundMessage,
  headers: Record<string, string>,
): Promise<RouterResponse> {
  const id = message.kind === "request" ? message.request.id : null;
  const headerVersion = headers[HEADER.mcpProtocolVersion];
  const isInitialize = message.kind === "request" && message.request.method === "initialize";
  if (!isInitialize && headerVersion !== undefined && !isLegacyVersion(headerVersion)) {
    return rpcError(call, "GW_UNSUPPORTED_PROTOCOL_VERSION", id, {
      data: { supported: ALL_VERSIONS },
    });
  }

  if (message.kind === "request" && message.request.method === "initialize") {
    const params = message.request.params ?? {};
    const version = negotiateLegacyVersion(params.protocolVersion);
    const session = ctx.sessions.issue(sessionBinding(call), version);
    const description = ctx.config.tools.scopes[call.scope]?.description;
    const response = rpcResult(call, message.request.id, {
      protocolVersion: version,
      capabilities: { tools: { listChanged: false }, tasks: LEGACY_TASKS_CAPABILITY },
      serverInfo: ctx.serverInfo,
      ...(description === undefined ? {} : { instructions: description }),
    });
    return { ...response, headers: { ...response.headers, [HEADER.mcpSessionId]: session.id } };
  }

  const session = await requireSession(ctx, call, headers, id);
  if (!session.ok) return session.response;
  const sessionCall: McpCall = { ...call, sessionId: session.sessionId };

  if (message.kind === "response") return { status: 202, headers: call.responseHeaders };
  if (message.kind === "notification") {
    const { method, params } = message.notification;
    if (method === "notifications/cancelled") {
      const requestId = params?.requestId;
      if (typeof requestId === "string" || typeof requestId === "number") {
        const cancelled = ctx.inFlight.cancel(
          inFlightKey(call.verdict.subject, session.sessionId, requestId),
        );
        call.logger.info({ cancelled }, "notifications/cancelled");
      }
    }
    return { status: 202, headers: call.responseHeaders };
  }

  const { request } = message;
  switch (request.method) {
    case "ping":
      return rpcResult(sessionCall, request.id, {});
    case "tools/list":
      return handleToolsList(ctx, sessionCall, request.id, request.params);
    case "tools/call":
      return handleToolsCallWithTasks(ctx, sessionCall, request.id, request.params);
    default:
      return (
        (await handleTaskRequest(ctx, sessionCall, request.id, request.method, request.params)) ??
        rpcError(sessionCall, "GW_METHOD_NOT_FOUND", request.id)
      );
  }
}

export async function handleLegacyDelete(
  ctx: RouterContext,
  call: McpCall,
  headers: Record<string, string>,
): Promise<RouterResponse> {
  const sessionId = headers[HEADER.mcpSessionId];
  const session = await requireSession(ctx, call, headers, null);
  if (!session.ok) return session.response;
  const check = ctx.sessions.verify(sessionId, sessionBinding(call));
  if (check.ok) await ctx.revocations.revoke(check.claims.sid, check.claims.exp);
  return { status: 204, headers: call.responseHeaders };
}
