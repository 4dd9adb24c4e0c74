import { z } from "zod";
import type { GatewayErrorCode } from "../../../contract/src/errors.ts";
import { declaresExtension, META_KEY, TASKS_EXTENSION_ID } from "../../../contract/src/mcp-wire.ts";
import { rejectedToolCallEvent } from "../audit.ts";
import {
  createChannel,
  KEEPALIVE_MS,
  failure,
  result,
  type FinalAnswer,
  type McpAnswer,
  type McpCall,
  type StreamItem,
} from "../mcp-answer.ts";
import { httpStatusOf } from "../mcp-encoding.ts";
import { requestCapabilities, resumeInputRound } from "../input-required.ts";
import { handleToolsCall } from "../mcp-tools.ts";
import type { RouterContext } from "../router-context.ts";
import { inputFirst, startTaskAfterInput } from "./announce-after-input.ts";
import type { StartTaskInput, WaitOutcome } from "./task-service.ts";
import { checkTaskEligibility } from "./task-support.ts";
import {
  isRecord,
  isTerminal,
  legacyTask,
  modernDetailedTask,
  modernTask,
  storedError,
  storedResult,
} from "./task-wire.ts";

/**
 * MCP Tasks on the scoped endpoints. 2025-11-25 (experimental, in core): `tools/call` with
 * `params.task`, then tasks/get, tasks/result, tasks/list, tasks/cancel. 2026-07-28 (extension
 * `io.modelcontextprotocol/tasks`): the server decides to answer `tools/call` with a task when the
 * request declares the extension; then tasks/get (result inline), tasks/cancel, tasks/update.
 */

export const SESSION_TASKS_CAPABILITY = {
  list: {},
  cancel: {},
  requests: { tools: { call: {} } },
} as const;

const TaskMetadataSchema = z.looseObject({
  ttl: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
});
const TaskIdParamsSchema = z.looseObject({ taskId: z.string().min(1).max(256) });
const ListParamsSchema = z.looseObject({ cursor: z.string().min(1).max(1024).optional() });
const UpdateParamsSchema = z.looseObject({
  taskId: z.string().min(1).max(256),
  inputResponses: z.record(z.string(), z.unknown()),
});

type TaskRequest = { kind: "none" } | { kind: "task"; ttlMs?: number } | { kind: "invalid" };

function legacyTaskRequest(params: Record<string, unknown> | undefined): TaskRequest {
  if (params?.task === undefined) return { kind: "none" };
  const parsed = TaskMetadataSchema.safeParse(params.task);
  if (!parsed.success) return { kind: "invalid" };
  return parsed.data.ttl === undefined
    ? { kind: "task" }
    : { kind: "task", ttlMs: parsed.data.ttl };
}

/** `tools/call` for both revisions: a task when asked (2025) or chosen (2026), else a plain call. */
export async function handleToolsCallWithTasks(
  ctx: RouterContext,
  call: McpCall,
  id: string | number,
  params: Record<string, unknown> | undefined,
): Promise<McpAnswer> {
  const request: TaskRequest =
    call.era === "session"
      ? legacyTaskRequest(params)
      : // 2026-07-28: `params.task` is ignored; the per-request capability decides.
        declaresExtension(params, TASKS_EXTENSION_ID)
        ? { kind: "task" }
        : { kind: "none" };
  // A later attempt of an input round: a plain call's (input-required.ts) or a task's whose
  // announcement is held (announce-after-input.ts).
  const resumed = resumeInputRound(
    ctx,
    call,
    "tools/call",
    typeof params?.name === "string" ? params.name : "",
    params,
  );
  if (resumed !== undefined) return resumed;
  if (request.kind === "invalid") {
    return failure("GW_INVALID_PARAMS", {
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
    if (call.era === "stateless") return handleToolsCall(ctx, call, id, params);
    return refuseTaskSupport(ctx, call, tool, `Tool ${tool} cannot be called as a task`);
  }
  if (request.kind === "none") {
    if (support === "required") {
      return call.era === "session"
        ? refuseTaskSupport(ctx, call, tool, `Tool ${tool} must be called as a task (params.task)`)
        : refuseTaskSupport(
            ctx,
            call,
            tool,
            `Tool ${tool} requires the ${TASKS_EXTENSION_ID} extension`,
            {
              // SEP-2663: a 2026-07-28 client learns which extension to declare.
              error: "GW_MISSING_CLIENT_CAPABILITY",
              data: { requiredCapabilities: { extensions: { [TASKS_EXTENSION_ID]: {} } } },
            },
          );
    }
    return handleToolsCall(ctx, call, id, params);
  }

  const capabilities = call.era === "stateless" ? requestCapabilities(params) : [];
  const input: StartTaskInput = {
    scope: call.scope,
    tool,
    arguments: params?.arguments as Record<string, unknown> | undefined,
    identity: call.verdict,
    allowedTools: call.verdict.tools,
    requestId: call.requestId,
    // 2026-07-28: what the server asks while the task runs waits for tasks/update.
    ...(call.era === "stateless" ? { clientCapabilities: capabilities } : {}),
    ...(request.ttlMs === undefined ? {} : { requestedTtlMs: request.ttlMs }),
    via: "mcp",
    logger: call.logger,
  };
  const first = inputFirst(ctx, call.scope, tool, capabilities);
  const held = first === undefined ? undefined : startTaskAfterInput(ctx, call, input, first);
  if (held !== undefined) return held;
  const started = await ctx.tasks.start(input);
  if (!started.ok) return failure(started.error);
  if (call.era === "session") return result({ task: legacyTask(started.task) });
  return result(modernTask(started.task), { resultType: "task" });
}

async function refuseTaskSupport(
  ctx: RouterContext,
  call: McpCall,
  tool: string,
  detail: string,
  // Spec: a task-augmented call to a tool that does not allow it (or the reverse) is -32601.
  refusal: { error: GatewayErrorCode; data?: Record<string, unknown> } = {
    error: "GW_METHOD_NOT_FOUND",
  },
): Promise<FinalAnswer> {
  try {
    await ctx.audit.write(
      rejectedToolCallEvent(call, {
        tool,
        rejection: "task_support",
        // What the encoder sends (2026-07-28 answers an unknown method with 404).
        status: httpStatusOf(call.era, refusal.error),
      }),
    );
  } catch (error) {
    ctx.metrics.auditFailures.inc({ reason: "task" });
    call.logger.error({ err: error }, "audit write refused; answering 503");
    return failure("GW_AUDIT_UNAVAILABLE");
  }
  return failure(refusal.error, {
    detail,
    ...(refusal.data === undefined ? {} : { data: refusal.data }),
  });
}

/** tasks/list (2025-11-25): this caller's tasks, newest first, paged by an opaque cursor. */
export async function handleTasksList(
  ctx: RouterContext,
  call: McpCall,
  params: Record<string, unknown> | undefined,
): Promise<FinalAnswer> {
  const parsed = ListParamsSchema.safeParse(params ?? {});
  if (!parsed.success) return failure("GW_INVALID_PARAMS", { detail: "cursor must be a string" });
  const page = await ctx.tasks.list(call.verdict, parsed.data.cursor);
  if (page === undefined) return failure("GW_INVALID_PARAMS", { detail: "Unknown cursor" });
  return result({
    tasks: page.tasks.map(legacyTask),
    ...(page.nextCursor === undefined ? {} : { nextCursor: page.nextCursor }),
  });
}

/** tasks/update (2026-07-28): answers to a task's input requests. */
export async function handleTasksUpdate(
  ctx: RouterContext,
  call: McpCall,
  params: Record<string, unknown> | undefined,
): Promise<FinalAnswer> {
  const parsed = UpdateParamsSchema.safeParse(params ?? {});
  if (!parsed.success) {
    return failure("GW_INVALID_PARAMS", {
      detail: "params must be {taskId: string, inputResponses: object}",
    });
  }
  const answered = await ctx.tasks.answerInput(
    parsed.data.taskId,
    call.verdict,
    parsed.data.inputResponses,
  );
  if (answered.ok) return result({});
  if (answered.reason === "not_found") return failure("GW_TASK_NOT_FOUND");
  return failure("GW_INVALID_PARAMS", { detail: "Task has no outstanding input requests" });
}

function taskIdOf(params: Record<string, unknown> | undefined): string | undefined {
  const parsed = TaskIdParamsSchema.safeParse(params ?? {});
  return parsed.success ? parsed.data.taskId : undefined;
}

const TASK_ID_REQUIRED = failure("GW_INVALID_PARAMS", { detail: "params.taskId must be a string" });

/** tasks/get: 2025 Task, or the 2026 DetailedTask with its result inline once terminal. */
export async function handleTasksGet(
  ctx: RouterContext,
  call: McpCall,
  params: Record<string, unknown> | undefined,
): Promise<FinalAnswer> {
  const taskId = taskIdOf(params);
  if (taskId === undefined) return TASK_ID_REQUIRED;
  const task = await ctx.tasks.get(taskId, call.verdict);
  if (task === undefined) return failure("GW_TASK_NOT_FOUND");
  if (call.era === "session") return result(legacyTask(task));
  const inputRequests =
    task.status === "input_required" ? ctx.tasks.inputRequests(task.id) : undefined;
  return result({
    ...modernDetailedTask(task),
    ...(inputRequests === undefined ? {} : { inputRequests }),
  });
}

export async function handleTasksCancel(
  ctx: RouterContext,
  call: McpCall,
  params: Record<string, unknown> | undefined,
): Promise<FinalAnswer> {
  const taskId = taskIdOf(params);
  if (taskId === undefined) return TASK_ID_REQUIRED;
  const cancelled = await ctx.tasks.cancel(taskId, call.verdict, call.requestId);
  if (!cancelled.ok) {
    if (cancelled.reason === "not_found") return failure("GW_TASK_NOT_FOUND");
    // SEP-2663 (2026-07-28): cancelling a finished task is the same empty ack, so a retried
    // cancel is idempotent; 2025-11-25 reserves -32602 for it.
    if (call.era === "stateless") return result({});
    return failure("GW_INVALID_PARAMS", { detail: "Task is already in a terminal status" });
  }
  return result(call.era === "session" ? legacyTask(cancelled.task) : {});
}

const STOPPING = failure("GW_INTERNAL", {
  detail: "The gateway is stopping; call tasks/result again",
});

/**
 * tasks/result (2025-11-25): waits until the task is terminal, then answers what tools/call would
 * have. On a stream the status notification precedes the answer, and keepalive comments keep
 * idle-timeout proxies from cutting a long wait.
 */
export async function handleTasksResult(
  ctx: RouterContext,
  call: McpCall,
  params: Record<string, unknown> | undefined,
): Promise<McpAnswer> {
  const taskId = taskIdOf(params);
  if (taskId === undefined) return TASK_ID_REQUIRED;
  const current = await ctx.tasks.get(taskId, call.verdict);
  if (current === undefined) return failure("GW_TASK_NOT_FOUND");
  if (isTerminal(current)) {
    const outcome = await ctx.tasks.waitForTerminal(taskId, call.verdict, call.signal);
    return outcome.kind === "aborted" ? STOPPING : taskResultAnswer(outcome);
  }
  const items = createChannel<StreamItem>();
  const keepAlive = setInterval(() => items.push({ kind: "keepalive" }), KEEPALIVE_MS);
  void ctx.tasks
    .waitForTerminal(taskId, call.verdict, call.signal)
    .then((outcome): FinalAnswer => {
      if (outcome.kind === "aborted") return STOPPING;
      if (outcome.kind === "terminal") {
        items.push({
          kind: "notification",
          message: {
            jsonrpc: "2.0",
            method: "notifications/tasks/status",
            params: legacyTask(outcome.task),
          },
        });
      }
      return taskResultAnswer(outcome);
    })
    .catch((error: unknown): FinalAnswer => {
      call.logger.error({ err: error }, "tasks/result wait failed");
      return failure("GW_INTERNAL");
    })
    .then((answer) => {
      clearInterval(keepAlive);
      items.push({ kind: "final", answer });
      items.close();
    });
  return { kind: "stream", items };
}

function taskResultAnswer(outcome: Exclude<WaitOutcome, { kind: "aborted" }>): FinalAnswer {
  if (outcome.kind === "not_found") return failure("GW_TASK_NOT_FOUND");
  const { task } = outcome;
  if (task.status === "completed") {
    const stored = storedResult(task);
    const meta = isRecord(stored._meta) ? stored._meta : {};
    return result({
      ...stored,
      _meta: { ...meta, [META_KEY.relatedTask]: { taskId: task.id } },
    });
  }
  if (task.status === "failed") return { kind: "stored_error", error: storedError(task) };
  return failure("GW_INVALID_PARAMS", { detail: "Task was cancelled; it has no result" });
}
