import {
  GATEWAY_ERRORS,
  jsonRpcErrorBody,
  type GatewayErrorCode,
} from "../../contract/src/errors.ts";
import { buildAuditEvent } from "./audit.ts";
import type { JsonRpcNotificationMessage } from "./forwarding.ts";
import { jsonResponse, rpcErrorResponse, sseEvent, type RouterResponse } from "./http-types.ts";
import { inFlightKey } from "./in-flight.ts";
import { isToolAllowed } from "./invoke-tool.ts";
import type { McpCall, RouterContext } from "./router-context.ts";
import { withTaskSupport } from "./tasks/task-support.ts";

/** tools/list and tools/call, shared by both protocol revisions (shaping differs by `call.era`). */

export function rpcResult(
  call: McpCall,
  id: string | number,
  result: Record<string, unknown>,
): RouterResponse {
  const shaped = call.era === "modern" ? { ...result, resultType: "complete" } : result;
  return jsonResponse(200, { jsonrpc: "2.0", id, result: shaped }, call.responseHeaders);
}

export function rpcError(
  call: McpCall,
  code: GatewayErrorCode,
  id: string | number | null,
  options: { detail?: string; data?: Record<string, unknown>; status?: number } = {},
): RouterResponse {
  return rpcErrorResponse(code, id, { ...options, headers: call.responseHeaders });
}

export async function handleToolsList(
  ctx: RouterContext,
  call: McpCall,
  id: string | number,
  params: Record<string, unknown> | undefined,
): Promise<RouterResponse> {
  const started = performance.now();
  // The gateway returns the whole filtered list in one page and never issues cursors.
  if (params?.cursor !== undefined)
    return rpcError(call, "GW_INVALID_PARAMS", id, { detail: "Unknown cursor" });
  const catalog = await ctx.catalog.get(call.scope);
  const toolConfigs = ctx.config.tools.scopes[call.scope]?.tools ?? [];
  const tools = catalog.ok
    ? [...catalog.tools.values()]
        .filter((entry) => isToolAllowed(call.verdict.tools, call.scope, entry.name))
        .map((entry) =>
          call.era === "modern"
            ? withoutExecution(entry.definition)
            : // 2025 clients learn from execution.taskSupport what the gateway runs as a task.
              withTaskSupport(
                entry.definition,
                toolConfigs.find((tool) => tool.name === entry.name),
              ),
        )
    : [];
  const outcome = catalog.ok ? "ok" : "upstream_error";
  ctx.metrics.toolLists.inc({ scope: call.scope, outcome });
  const result: Record<string, unknown> =
    call.era === "modern" ? { tools, ttlMs: ctx.listTtlMs, cacheScope: "private" } : { tools };
  const body = JSON.stringify(result);
  try {
    await ctx.audit.write(
      buildAuditEvent({
        kind: "list",
        requestId: call.requestId,
        identity: call.verdict,
        scope: call.scope,
        method: "tools/list",
        tool: null,
        outcome,
        status: catalog.ok ? 200 : GATEWAY_ERRORS.GW_UPSTREAM_UNAVAILABLE.httpStatus,
        latencyMs: Math.round(performance.now() - started),
        responseBytes: Buffer.byteLength(body),
      }),
    );
  } catch (error) {
    ctx.metrics.auditFailures.inc({ reason: "list" });
    call.logger.error({ err: error }, "audit write refused; answering 503");
    return rpcError(call, "GW_AUDIT_UNAVAILABLE", id);
  }
  if (!catalog.ok) return rpcError(call, "GW_UPSTREAM_UNAVAILABLE", id);
  return rpcResult(call, id, result);
}

function withoutExecution(definition: Record<string, unknown>): Record<string, unknown> {
  // 2026-07-28 dropped `execution` from Tool (tasks moved to an extension).
  const { execution: _execution, ...rest } = definition;
  return rest;
}

/** Notifications a backend may stream that the client is meant to see. */
const PASSTHROUGH_NOTIFICATIONS = new Set(["notifications/progress", "notifications/message"]);

export async function handleToolsCall(
  ctx: RouterContext,
  call: McpCall,
  id: string | number,
  params: Record<string, unknown> | undefined,
): Promise<RouterResponse> {
  const meta = params?._meta;
  const progressToken =
    meta !== null && typeof meta === "object" && !Array.isArray(meta)
      ? (meta as Record<string, unknown>).progressToken
      : undefined;
  const validToken =
    typeof progressToken === "string" ||
    (typeof progressToken === "number" && Number.isFinite(progressToken))
      ? progressToken
      : undefined;

  const tracked = ctx.inFlight.start(inFlightKey(call.verdict.subject, call.sessionId, id));
  const events = createChannel<string>();
  let announceFirst: () => void = () => undefined;
  const firstEvent = new Promise<"event">((resolve) => {
    announceFirst = () => resolve("event");
  });
  const onNotification = (notification: JsonRpcNotificationMessage) => {
    if (!call.acceptsSse || !PASSTHROUGH_NOTIFICATIONS.has(notification.method)) return;
    if (notification.method === "notifications/progress" && validToken === undefined) return;
    events.push(sseEvent(notification));
    announceFirst();
  };

  const invocation = ctx
    .invokeTool({
      scope: call.scope,
      toolName: params?.name,
      arguments: params?.arguments,
      identity: call.verdict,
      allowedTools: call.verdict.tools,
      requestId: call.requestId,
      via: "mcp",
      ...(validToken === undefined ? {} : { progressToken: validToken }),
      signal: AbortSignal.any([tracked.signal, call.signal]),
      onNotification,
      logger: call.logger,
    })
    .finally(() => tracked.done());

  const toMessage = (result: Awaited<typeof invocation>) =>
    result.ok
      ? {
          jsonrpc: "2.0",
          id,
          result:
            call.era === "modern" ? { ...result.result, resultType: "complete" } : result.result,
        }
      : jsonRpcErrorBody(
          result.error,
          id,
          result.detail === undefined ? {} : { detail: result.detail },
        );

  // The spec says a cancelled request SHOULD NOT be answered, and the client has already
  // forgotten its id (the SDK clients report a response for an unknown id as an error).
  const cancelledByClient = (result: Awaited<typeof invocation>) =>
    result.outcome === "cancelled" && tracked.signal.aborted;

  const first = await Promise.race([invocation.then(() => "done" as const), firstEvent]);
  if (first === "done") {
    const result = await invocation;
    // 202 without a body: what both SDK clients accept silently for a POST they sent.
    if (cancelledByClient(result)) return { status: 202, headers: call.responseHeaders };
    const status = result.ok ? 200 : GATEWAY_ERRORS[result.error].httpStatus;
    return jsonResponse(status, toMessage(result), call.responseHeaders);
  }
  // The backend streams (progress): answer as SSE, its notifications first, the response last.
  void invocation.then((result) => {
    if (!cancelledByClient(result)) events.push(sseEvent(toMessage(result)));
    events.close();
  });
  return { status: 200, headers: call.responseHeaders, events };
}

export type Channel<T> = AsyncIterable<T> & { push(item: T): void; close(): void };

export function createChannel<T>(): Channel<T> {
  const items: T[] = [];
  let closed = false;
  let wake: (() => void) | undefined;
  return {
    push(item) {
      if (closed) return;
      items.push(item);
      wake?.();
    },
    close() {
      closed = true;
      wake?.();
    },
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const item = items.shift();
        if (item !== undefined) {
          yield item;
          continue;
        }
        if (closed) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
    },
  };
}
