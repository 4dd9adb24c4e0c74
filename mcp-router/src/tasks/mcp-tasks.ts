import { z } from "zod";
import { GATEWAY_ERRORS, jsonRpcErrorBody } from "../../../contract/src/errors.ts";
import { rejectedToolCallEvent } from "../audit.ts";
import { jsonResponse, sseEvent, type RouterResponse } from "../http-types.ts";
import { createChannel, handleToolsCall, rpcError, rpcResult } from "../mcp-tools.ts";
import type { McpCall, RouterContext } from "../router-context.ts";
import type { WaitOutcome } from "./task-service.ts";
import { checkTaskEligibility } from "./task-support.ts";
import {
  CLIENT_CAPABILITIES_META_KEY,
  isRecord,
  isTerminal,
  legacyTask,
  modernDetailedTask,
  modernTask,
  RELATED_TASK_META_KEY,
  storedError,
  storedResult,
  TASKS_EXTENSION_ID,
} from "./task-wire.ts";

/**
 * MCP Tasks on the scoped endpoints. 2025-11-25 (experimental, in core): `tools/call` with
 * `params.task`, then tasks/get, tasks/result, tasks/list, tasks/cancel. 2026-07-28 (extension
 * `io.modelcontextprotocol/tasks`): the server decides to answer `tools/call` with a task when the
 * request declares the extension; then tasks/get (result inline), tasks/cancel, tasks/update.
 */

export const LEGACY_TASKS_CAPABILITY = {
  list: {},
  cancel: {},
  requests: { tools: { call: {} } },
} as const;

export const LEGACY_TASK_METHODS: ReadonlySet<string> = new Set([
  "tasks/get",
  "tasks/result",
  "tasks/list",
  "tasks/cancel",
]);
export const MODERN_TASK_METHODS: ReadonlySet<string> = new Set([
  "tasks/get",
  "tasks/cancel",
  "tasks/update",
]);

const TaskMetadataSchema = z.looseObject({
  ttl: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
});
const TaskIdParamsSchema = z.looseObject({ taskId: z.string().min(1).max(256) });
const ListParamsSchema = z.looseObject({ cursor: z.string().min(1).max(1024).optional() });
const UpdateParamsSchema = z.looseObject({
  taskId: z.string().min(1).max(256),
  inputResponses: z.record(z.string(), z.unknown()),
});

const KEEPALIVE_MS = 15_000;

type TaskRequest = { kind: "none" } | { kind: "task"; ttlMs?: number } | { kind: "invalid" };

function legacyTaskRequest(params: Record<string, unknown> | undefined): TaskRequest {
  if (params?.task === undefined) return { kind: "none" };
  const parsed = TaskMetadataSchema.safeParse(params.task);
  if (!parsed.success) return { kind: "invalid" };
  return parsed.data.ttl === undefined
    ? { kind: "task" }
    : { kind: "task", ttlMs: parsed.data.ttl };
}

/** 2026-07-28: `params.task` is the legacy field and ignored; the per-request capability counts. */
export function declaresTasksExtension(params: Record<string, unknown> | undefined): boolean {
  const meta = params?._meta;
  const capabilities = isRecord(meta) ? meta[CLIENT_CAPABILITIES_META_KEY] : undefined;
  const extensions = isRecord(capabilities) ? capabilities.extensions : undefined;
  return isRecord(extensions) && isRecord(extensions[TASKS_EXTENSION_ID]);
}

/** `tools/call` for both revisions: a task when asked (2025) or chosen (2026), else a plain call. */
export async function handleToolsCallWithTasks(
  ctx: RouterContext,
  call: McpCall,
  id: string | number,
  params: Record<string, unknown> | undefined,
): Promise<RouterResponse> {
  const request: TaskRequest =
    call.era === "legacy"
      ? legacyTaskRequest(params)
      : declaresTasksExtension(params)
        ? { kind: "task" }
        : { kind: "none" };
  if (request.kind === "invalid") {
    return rpcError(call, "GW_INVALID_PARAMS", id, {
      detail: "params.task must be an object with an optional non-negative integer ttl",
    });
  }
  const eligibility = await checkTaskEligibility(ctx, {
    scope: call.scope,
    toolName: params?.name,
    arguments: params?.arguments,
    allowedTools: call.verdict.tools,
  });
  // A call invokeTool would refuse is refused (and audited) there, task or not.
  if (!eligibility.ok) return handleToolsCall(ctx, call, id, params);
  const { support, tool } = eligibility;

  if (request.kind === "task" && support === "forbidden") {
    if (call.era === "modern") return handleToolsCall(ctx, call, id, params);
    return refuseTaskSupport(ctx, call, id, tool, `Tool ${tool} cannot be called as a task`);
  }
  if (request.kind === "none") {
    if (support === "required") {
      return refuseTaskSupport(
        ctx,
        call,
        id,
        tool,
        call.era === "legacy"
          ? `Tool ${tool} must be called as a task (params.task)`
          : `Tool ${tool} requires the ${TASKS_EXTENSION_ID} extension`,
      );
    }
    return handleToolsCall(ctx, call, id, params);
  }

  const started = await ctx.tasks.start({
    scope: call.scope,
    tool,
    arguments: params?.arguments as Record<string, unknown> | undefined,
    identity: call.verdict,
    allowedTools: call.verdict.tools,
    requestId: call.requestId,
    ...(request.ttlMs === undefined ? {} : { requestedTtlMs: request.ttlMs }),
    via: "mcp",
    logger: call.logger,
  });
  if (!started.ok) return rpcError(call, started.error, id);
  if (call.era === "legacy") return rpcResult(call, id, { task: legacyTask(started.task) });
  return jsonResponse(
    200,
    { jsonrpc: "2.0", id, result: { ...modernTask(started.task), resultType: "task" } },
    call.responseHeaders,
  );
}

async function refuseTaskSupport(
  ctx: RouterContext,
  call: McpCall,
  id: string | number,
  tool: string,
  detail: string,
): Promise<RouterResponse> {
  try {
    await ctx.audit.write(
      rejectedToolCallEvent(call, {
        tool,
        rejection: "task_support",
        status: GATEWAY_ERRORS.GW_METHOD_NOT_FOUND.httpStatus,
      }),
    );
  } catch (error) {
    ctx.metrics.auditFailures.inc({ reason: "task" });
    call.logger.error({ err: error }, "audit write refused; answering 503");
    return rpcError(call, "GW_AUDIT_UNAVAILABLE", id);
  }
  // Spec: a task-augmented call to a tool that does not allow it (or the reverse) is -32601.
  return rpcError(call, "GW_METHOD_NOT_FOUND", id, { detail });
}

/** tasks/* requests; `undefined` when the method is not a tasks method of this revision. */
export async function handleTaskRequest(
  ctx: RouterContext,
  call: McpCall,
  id: string | number,
  method: string,
  params: Record<string, unknown> | undefined,
): Promise<RouterResponse | undefined> {
  const methods = call.era === "legacy" ? LEGACY_TASK_METHODS : MODERN_TASK_METHODS;
  if (!methods.has(method)) return undefined;

  if (method === "tasks/list") {
    const parsed = ListParamsSchema.safeParse(params ?? {});
    if (!parsed.success) {
      return rpcError(call, "GW_INVALID_PARAMS", id, { detail: "cursor must be a string" });
    }
    const page = await ctx.tasks.list(call.verdict, parsed.data.cursor);
    if (page === undefined) {
      return rpcError(call, "GW_INVALID_PARAMS", id, { detail: "Unknown cursor" });
    }
    return rpcResult(call, id, {
      tasks: page.tasks.map(legacyTask),
      ...(page.nextCursor === undefined ? {} : { nextCursor: page.nextCursor }),
    });
  }

  if (method === "tasks/update") {
    const parsed = UpdateParamsSchema.safeParse(params ?? {});
    if (!parsed.success) {
      return rpcError(call, "GW_INVALID_PARAMS", id, {
        detail: "params must be {taskId: string, inputResponses: object}",
      });
    }
    const task = await ctx.tasks.get(parsed.data.taskId, call.verdict);
    if (task === undefined) return rpcError(call, "GW_TASK_NOT_FOUND", id);
    // The gateway forwards no server-to-client requests, so its tasks never await input.
    return rpcError(call, "GW_INVALID_PARAMS", id, {
      detail: "Task has no outstanding input requests",
    });
  }

  const parsed = TaskIdParamsSchema.safeParse(params ?? {});
  if (!parsed.success) {
    return rpcError(call, "GW_INVALID_PARAMS", id, { detail: "params.taskId must be a string" });
  }
  const taskId = parsed.data.taskId;

  switch (method) {
    case "tasks/get": {
      const task = await ctx.tasks.get(taskId, call.verdict);
      if (task === undefined) return rpcError(call, "GW_TASK_NOT_FOUND", id);
      return rpcResult(
        call,
        id,
        call.era === "legacy" ? legacyTask(task) : modernDetailedTask(task),
      );
    }
    case "tasks/cancel": {
      const cancelled = await ctx.tasks.cancel(taskId, call.verdict, call.requestId);
      if (!cancelled.ok) {
        return cancelled.reason === "not_found"
          ? rpcError(call, "GW_TASK_NOT_FOUND", id)
          : rpcError(call, "GW_INVALID_PARAMS", id, {
              detail: "Task is already in a terminal status",
            });
      }
      return rpcResult(call, id, call.era === "legacy" ? legacyTask(cancelled.task) : {});
    }
    default:
      return handleTaskResult(ctx, call, id, taskId);
  }
}

/** tasks/result (2025): blocks until the task is terminal, then answers what tools/call would have. */
async function handleTaskResult(
  ctx: RouterContext,
  call: McpCall,
  id: string | number,
  taskId: string,
): Promise<RouterResponse> {
  const current = await ctx.tasks.get(taskId, call.verdict);
  if (current === undefined) return rpcError(call, "GW_TASK_NOT_FOUND", id);
  if (isTerminal(current) || !call.acceptsSse) {
    const outcome = await ctx.tasks.waitForTerminal(taskId, call.verdict, call.signal);
    if (outcome.kind === "aborted") {
      return rpcError(call, "GW_INTERNAL", id, {
        status: 503,
        detail: "The gateway is stopping; call tasks/result again",
      });
    }
    return jsonResponse(200, taskResultMessage(id, outcome), call.responseHeaders);
  }
  // An open stream: the status notification when the task ends, then the response. Comment
  // lines keep idle-timeout proxies from cutting a long wait.
  const events = createChannel<string>();
  const keepAlive = setInterval(() => events.push(": keepalive\n\n"), KEEPALIVE_MS);
  void ctx.tasks
    .waitForTerminal(taskId, call.verdict, call.signal)
    .then((outcome) => {
      if (outcome.kind === "terminal") {
        events.push(
          sseEvent({
            jsonrpc: "2.0",
            method: "notifications/tasks/status",
            params: legacyTask(outcome.task),
          }),
        );
      }
      events.push(
        sseEvent(
          outcome.kind === "aborted"
            ? jsonRpcErrorBody("GW_INTERNAL", id, {
                detail: "The gateway is stopping; call tasks/result again",
              })
            : taskResultMessage(id, outcome),
        ),
      );
    })
    .catch((error: unknown) => {
      call.logger.error({ err: error }, "tasks/result wait failed");
      events.push(sseEvent(jsonRpcErrorBody("GW_INTERNAL", id)));
    })
    .finally(() => {
      clearInterval(keepAlive);
      events.close();
    });
  return { status: 200, headers: call.responseHeaders, events };
}

function taskResultMessage(
  id: string | number,
  outcome: Exclude<WaitOutcome, { kind: "aborted" }>,
): Record<string, unknown> {
  if (outcome.kind === "not_found") return { ...jsonRpcErrorBody("GW_TASK_NOT_FOUND", id) };
  const { task } = outcome;
  const related = { [RELATED_TASK_META_KEY]: { taskId: task.id } };
  if (task.status === "completed") {
    const result = storedResult(task);
    const meta = isRecord(result._meta) ? result._meta : {};
    return { jsonrpc: "2.0", id, result: { ...result, _meta: { ...meta, ...related } } };
  }
  if (task.status === "failed") {
    return { jsonrpc: "2.0", id, error: storedError(task) };
  }
  return {
    ...jsonRpcErrorBody("GW_INVALID_PARAMS", id, {
      detail: "Task was cancelled; it has no result",
    }),
  };
}
