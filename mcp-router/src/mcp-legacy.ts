import { GATEWAY_ERRORS } from "../../contract/src/errors.ts";
import { HEADER } from "../../contract/src/headers.ts";
import { reasonCode, rejectedToolCallEvent } from "./audit.ts";
import type { InboundMessage } from "./json-rpc-message.ts";
import { jsonResponse, type RouterResponse } from "./http-types.ts";
import { inFlightKey } from "./in-flight.ts";
import { isToolAllowed } from "./invoke-tool.ts";
import { handleToolsList, rpcError, rpcResult } from "./mcp-tools.ts";
import {
  ALL_VERSIONS,
  isLegacyVersion,
  negotiateLegacyVersion,
  type LegacyVersion,
} from "./protocol-version.ts";
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

/** The only revision whose Streamable HTTP has JSON-RPC batches (later ones forbid them). */
export const BATCH_PROTOCOL_VERSION: LegacyVersion = "2025-03-26";

type SessionLookup =
  { ok: true; sessionId: string; version: string } | { ok: false; response: RouterResponse };

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
  return { ok: true, sessionId: check.claims.sid, version: check.claims.ver };
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
  return handleSessionMessage(ctx, { ...call, sessionId: session.sessionId }, message);
}

/**
 * A 2025-03-26 batch: authorized whole by ext-authz (every tools/call allowed and charged), then
 * each message handled as if sent alone. Requests are answered in one JSON array (no SSE: one
 * stream cannot carry several calls' progress here); notifications and responses get nothing.
 */
export async function handleLegacyBatch(
  ctx: RouterContext,
  call: McpCall,
  messages: readonly InboundMessage[],
  headers: Record<string, string>,
): Promise<RouterResponse> {
  if (messages.some((m) => m.kind === "request" && m.request.method === "initialize")) {
    return rpcError(call, "GW_INVALID_REQUEST", null, {
      detail: "initialize cannot be sent in a JSON-RPC batch",
    });
  }
  const session = await requireSession(ctx, call, headers, null);
  if (!session.ok) return session.response;
  if (session.version !== BATCH_PROTOCOL_VERSION) {
    return rpcError(call, "GW_BATCH_NOT_SUPPORTED", null);
  }
  // The verdict must cover every call; if one is missing nothing in the batch runs.
  for (const message of messages) {
    if (message.kind !== "request" || message.request.method !== "tools/call") continue;
    const name = message.request.params?.name;
    if (typeof name !== "string" || isToolAllowed(call.verdict.tools, call.scope, name)) continue;
    return refuseBatch(ctx, call, name);
  }
  const batchCall: McpCall = { ...call, sessionId: session.sessionId, acceptsSse: false };
  const answers = await Promise.all(
    messages.map(async (message) =>
      finalMessage(await handleSessionMessage(ctx, batchCall, message)),
    ),
  );
  const responses = answers.filter((answer) => answer !== undefined);
  if (responses.length === 0) return { status: 202, headers: call.responseHeaders };
  return jsonResponse(200, responses, call.responseHeaders);
}

async function refuseBatch(ctx: RouterContext, call: McpCall, tool: string) {
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
    return rpcError(call, "GW_AUDIT_UNAVAILABLE", null);
  }
  return rpcError(call, "GW_TOOL_FORBIDDEN", null);
}

/** The JSON-RPC response a single-message answer carries, if any (SSE: its response event). */
async function finalMessage(response: RouterResponse): Promise<unknown> {
  if (!("events" in response)) {
    if (response.body === undefined || response.body.length === 0) return undefined;
    return JSON.parse(Buffer.from(response.body).toString("utf8"));
  }
  let last: unknown;
  for await (const event of response.events) {
    for (const line of event.split("\n")) {
      if (!line.startsWith("data: ")) continue;
      const message = JSON.parse(line.slice("data: ".length)) as Record<string, unknown>;
      if (message.method === undefined) last = message;
    }
  }
  return last;
}

/** Everything after initialize and the session check, for one message. */
async function handleSessionMessage(
  ctx: RouterContext,
  call: McpCall,
  message: InboundMessage,
): Promise<RouterResponse> {
  if (message.kind === "response") return { status: 202, headers: call.responseHeaders };
  if (message.kind === "notification") {
    const { method, params } = message.notification;
    if (method === "notifications/cancelled") {
      const requestId = params?.requestId;
      if (typeof requestId === "string" || typeof requestId === "number") {
        const cancelled = ctx.inFlight.cancel(
          inFlightKey(call.verdict.subject, call.sessionId, requestId),
        );
        call.logger.info({ cancelled }, "notifications/cancelled");
      }
    }
    return { status: 202, headers: call.responseHeaders };
  }

  const { request } = message;
  switch (request.method) {
    case "ping":
      return rpcResult(call, request.id, {});
    case "tools/list":
      return handleToolsList(ctx, call, request.id, request.params);
    case "tools/call":
      return handleToolsCallWithTasks(ctx, call, request.id, request.params);
    default:
      return (
        (await handleTaskRequest(ctx, call, request.id, request.method, request.params)) ??
        rpcError(call, "GW_METHOD_NOT_FOUND", request.id)
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
