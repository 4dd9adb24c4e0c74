import { buildAuditEvent } from "./audit.ts";
import type { JsonRpcNotificationMessage } from "./forwarding.ts";
import { inFlightKey } from "./in-flight.ts";
import {
  createChannel,
  failure,
  NO_ANSWER,
  result,
  type FinalAnswer,
  type McpAnswer,
  type McpCall,
  type StreamItem,
} from "./mcp-answer.ts";
import { httpStatusOf } from "./mcp-encoding.ts";
import { logLevelRelay, notificationFilter, serverRequestRelay } from "./mcp-relay.ts";
import { roundContinuation, startInputRound } from "./input-required.ts";
import type { RouterContext } from "./router-context.ts";
import { withTaskSupport } from "./tasks/task-support.ts";
import { toolVisible } from "./verdict-access.ts";

/** tools/list and tools/call, shared by every revision (content differs by `call.era`). */

export async function handleToolsList(
  ctx: RouterContext,
  call: McpCall,
  params: Record<string, unknown> | undefined,
): Promise<FinalAnswer> {
  const started = performance.now();
  // The gateway returns the whole filtered list in one page and never issues cursors.
  if (params?.cursor !== undefined)
    return failure("GW_INVALID_PARAMS", { detail: "Unknown cursor" });
  const catalog = await ctx.catalog.get(call.scope);
  const toolConfigs = ctx.config.tools.scopes[call.scope]?.tools ?? [];
  const tools = catalog.ok
    ? [...catalog.tools.values()]
        .filter((entry) => toolVisible(call.verdict, call.scope, entry.name))
        .map((entry) =>
          call.era === "stateless"
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
  const listed: Record<string, unknown> =
    call.era === "stateless" ? { tools, ttlMs: ctx.listTtlMs, cacheScope: "private" } : { tools };
  const body = JSON.stringify(listed);
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
        status: catalog.ok ? 200 : httpStatusOf(call.era, "GW_UPSTREAM_UNAVAILABLE"),
        latencyMs: Math.round(performance.now() - started),
        responseBytes: Buffer.byteLength(body),
      }),
    );
  } catch (error) {
    ctx.metrics.auditFailures.inc({ reason: "list" });
    call.logger.error({ err: error }, "audit write refused; answering 503");
    return failure("GW_AUDIT_UNAVAILABLE");
  }
  if (!catalog.ok) return failure("GW_UPSTREAM_UNAVAILABLE");
  return result(listed);
}

function withoutExecution(definition: Record<string, unknown>): Record<string, unknown> {
  // 2026-07-28 dropped `execution` from Tool (tasks moved to an extension).
  const { execution: _execution, ...rest } = definition;
  return rest;
}

/** Notifications a backend may stream that the client is meant to see. */
const PASSTHROUGH_NOTIFICATIONS = new Set(["notifications/progress", "notifications/message"]);

/**
 * A plain tools/call. Always a stream: backend notifications the client may see, then the answer;
 * the encoder sends plain JSON when the answer comes first.
 */
export function handleToolsCall(
  ctx: RouterContext,
  call: McpCall,
  id: string | number,
  params: Record<string, unknown> | undefined,
): McpAnswer {
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

  const target = typeof params?.name === "string" ? params.name : "";
  // A later attempt of an input round was resumed by handleToolsCallWithTasks, the one caller.
  const items = createChannel<StreamItem>();
  // A 2026-07-28 client the server may ask things: the call outlives this attempt (SEP-2322).
  const input = startInputRound(ctx, call, "tools/call", target, params, items);
  const tracked = ctx.inFlight.start(
    inFlightKey(call.verdict.subject, call.sessionId, id),
    input?.round.signal ?? call.signal,
  );
  const signal = tracked.signal;
  const wanted = notificationFilter(call.era, params);
  const onNotification = (notification: JsonRpcNotificationMessage) => {
    if (!PASSTHROUGH_NOTIFICATIONS.has(notification.method) || !wanted(notification)) return;
    if (notification.method === "notifications/progress" && validToken === undefined) return;
    if (input !== undefined) input.round.notify(notification);
    else items.push({ kind: "notification", message: notification });
  };

  void ctx
    .invokeTool({
      scope: call.scope,
      toolName: params?.name,
      arguments: params?.arguments,
      identity: call.verdict,
      allowedTools: call.verdict.tools,
      requestId: call.requestId,
      via: "mcp",
      era: call.era,
      ...(call.answeredOnStream === true ? { answeredOnStream: true } : {}),
      ...(validToken === undefined ? {} : { progressToken: validToken }),
      signal,
      onNotification,
      ...(input?.relay ?? serverRequestRelay(ctx, call, items, signal, params)),
      ...(call.era === "stateless" ? { continuation: roundContinuation(params) } : {}),
      ...logLevelRelay(call, params),
      logger: call.logger,
    })
    .then(
      (outcome): FinalAnswer => {
        // The spec says a cancelled request SHOULD NOT be answered, and the client has already
        // forgotten its id (the SDK clients report a response for an unknown id as an error).
        if (outcome.outcome === "cancelled" && tracked.cancelled) return NO_ANSWER;
        if (outcome.ok) return result(outcome.result);
        if (outcome.serverError !== undefined) {
          return { kind: "stored_error", error: outcome.serverError };
        }
        return failure(
          outcome.error,
          outcome.detail === undefined ? {} : { detail: outcome.detail },
        );
      },
      (error: unknown): FinalAnswer => {
        call.logger.error({ err: error }, "tools/call failed");
        return failure("GW_INTERNAL");
      },
    )
    .then((answer) => {
      tracked.done();
      if (input !== undefined) {
        input.round.finish(answer);
        return;
      }
      items.push({ kind: "final", answer });
      items.close();
    });
  return { kind: "stream", items };
}
