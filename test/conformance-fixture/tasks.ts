/**
 * The `io.modelcontextprotocol/tasks` extension (SEP-2663) as the fixture serves it on the
 * 2026-07-28 wire: an in-memory task store shared by every request of one fixture, and the
 * `tasks/get`, `tasks/update` and `tasks/cancel` handlers.
 *
 * A task runs a function in the background. It may park itself waiting for client input
 * (`status: "input_required"` with an `inputRequests` map on `tasks/get`); the client answers
 * with `tasks/update`, a subset of the keys at a time if it likes. A function that returns a
 * tool result completes the task (a tool error is still `completed`, with `result.isError`); a
 * thrown protocol error fails it (`failed` with an inlined `error`); `tasks/cancel` aborts it.
 */
import { randomUUID } from "node:crypto";
import {
  MissingRequiredClientCapabilityError,
  ProtocolError,
  type CallToolResult,
  type ClientCapabilities,
  type InputRequest,
  type McpServer,
  type ServerContext,
} from "@modelcontextprotocol/server";
import { z } from "zod";

export const TASKS_EXTENSION = "io.modelcontextprotocol/tasks";

/** How long a task stays readable after it was created. */
export const TASK_TTL_MS = 5 * 60_000;
/** The polling interval suggested to clients. */
export const TASK_POLL_INTERVAL_MS = 200;

export type TaskStatus = "working" | "input_required" | "completed" | "failed" | "cancelled";

/** One embedded request a parked task waits on (`elicitation/create`, `sampling/createMessage`, …). */
export type PendingInput = InputRequest;

export interface TaskContext {
  /** Aborted when the task is cancelled or the store closes. */
  signal: AbortSignal;
  /** Waits, or rejects as soon as the task is cancelled. */
  sleep(ms: number): Promise<void>;
  /**
   * Parks the task in `input_required` with these requests and resolves, keyed like the
   * requests, once the client has answered every one of them through `tasks/update`.
   */
  ask(requests: Record<string, PendingInput>): Promise<Record<string, unknown>>;
}

export type TaskRun = (task: TaskContext) => Promise<CallToolResult>;

interface TaskError {
  code: number;
  message: string;
  data?: unknown;
}

interface TaskRecord {
  taskId: string;
  status: TaskStatus;
  createdAt: string;
  lastUpdatedAt: string;
  statusMessage?: string;
  result?: CallToolResult;
  error?: TaskError;
  pending: Map<string, PendingInput>;
  answers: Map<string, unknown>;
  wake: (() => void) | undefined;
  abort: AbortController;
  expiry: NodeJS.Timeout;
}

/** The flat `CreateTaskResult` (SEP-2663: `Result & Task`, no nested `task` key). */
export interface CreateTaskResult {
  [key: string]: unknown;
  resultType: "task";
  taskId: string;
  status: TaskStatus;
  createdAt: string;
  lastUpdatedAt: string;
  ttlMs: number;
  pollIntervalMs: number;
}

const TERMINAL: ReadonlySet<TaskStatus> = new Set(["completed", "failed", "cancelled"]);

class TaskCancelled extends Error {
  constructor() {
    super("task cancelled");
  }
}

export class TaskStore {
  private readonly tasks = new Map<string, TaskRecord>();

  /** Creates a task, starts `run` in the background, and answers once `tasks/get` can see it. */
  create(run: TaskRun): CreateTaskResult {
    const now = new Date().toISOString();
    const taskId = `task-${randomUUID()}`;
    const record: TaskRecord = {
      taskId,
      status: "working",
      createdAt: now,
      lastUpdatedAt: now,
      pending: new Map(),
      answers: new Map(),
      wake: undefined,
      abort: new AbortController(),
      expiry: setTimeout(() => this.forget(taskId), TASK_TTL_MS),
    };
    record.expiry.unref();
    this.tasks.set(taskId, record);
    void this.execute(record, run);
    return {
      resultType: "task",
      taskId,
      status: record.status,
      createdAt: record.createdAt,
      lastUpdatedAt: record.lastUpdatedAt,
      ttlMs: TASK_TTL_MS,
      pollIntervalMs: TASK_POLL_INTERVAL_MS,
    };
  }

  /** The DetailedTask of `tasks/get`, or undefined for an unknown (or expired) id. */
  detail(taskId: string): Record<string, unknown> | undefined {
    const record = this.tasks.get(taskId);
    if (record === undefined) return undefined;
    const detail: Record<string, unknown> = {
      taskId: record.taskId,
      status: record.status,
      createdAt: record.createdAt,
      lastUpdatedAt: record.lastUpdatedAt,
      ttlMs: TASK_TTL_MS,
      pollIntervalMs: TASK_POLL_INTERVAL_MS,
    };
    if (record.statusMessage !== undefined) detail.statusMessage = record.statusMessage;
    if (record.status === "input_required") {
      detail.inputRequests = Object.fromEntries(record.pending);
    }
    if (record.status === "completed" && record.result !== undefined) detail.result = record.result;
    if (record.status === "failed" && record.error !== undefined) detail.error = record.error;
    return detail;
  }

  /**
   * Delivers input responses. Keys the task is not waiting on are ignored; the task resumes
   * once nothing is pending any more. False for an unknown task.
   */
  update(taskId: string, responses: Record<string, unknown>): boolean {
    const record = this.tasks.get(taskId);
    if (record === undefined) return false;
    if (record.status !== "input_required") return true;
    for (const [key, response] of Object.entries(responses)) {
      if (!record.pending.has(key)) continue;
      record.pending.delete(key);
      record.answers.set(key, response);
    }
    if (record.pending.size === 0) {
      this.setStatus(record, "working");
      const wake = record.wake;
      record.wake = undefined;
      wake?.();
    } else {
      record.lastUpdatedAt = new Date().toISOString();
    }
    return true;
  }

  /** Cancels a running task; a terminal one is left as it is. False for an unknown task. */
  cancel(taskId: string): boolean {
    const record = this.tasks.get(taskId);
    if (record === undefined) return false;
    if (!TERMINAL.has(record.status)) {
      record.pending.clear();
      this.setStatus(record, "cancelled", "Cancelled by the client");
      record.abort.abort();
    }
    return true;
  }

  close(): void {
    for (const record of this.tasks.values()) {
      clearTimeout(record.expiry);
      record.abort.abort();
    }
    this.tasks.clear();
  }

  private forget(taskId: string): void {
    const record = this.tasks.get(taskId);
    if (record === undefined) return;
    record.abort.abort();
    this.tasks.delete(taskId);
  }

  private setStatus(record: TaskRecord, status: TaskStatus, message?: string): void {
    record.status = status;
    record.lastUpdatedAt = new Date().toISOString();
    if (message === undefined) delete record.statusMessage;
    else record.statusMessage = message;
  }

  private async execute(record: TaskRecord, run: TaskRun): Promise<void> {
    const { signal } = record.abort;
    const context: TaskContext = {
      signal,
      sleep: (ms) =>
        new Promise<void>((resolve, reject) => {
          if (signal.aborted) return reject(new TaskCancelled());
          const timer = setTimeout(() => {
            signal.removeEventListener("abort", onAbort);
            resolve();
          }, ms);
          const onAbort = (): void => {
            clearTimeout(timer);
            reject(new TaskCancelled());
          };
          signal.addEventListener("abort", onAbort, { once: true });
        }),
      ask: (requests) =>
        new Promise<Record<string, unknown>>((resolve, reject) => {
          if (signal.aborted) return reject(new TaskCancelled());
          const keys = Object.keys(requests);
          for (const key of keys) record.pending.set(key, requests[key]!);
          const onAbort = (): void => reject(new TaskCancelled());
          signal.addEventListener("abort", onAbort, { once: true });
          record.wake = () => {
            signal.removeEventListener("abort", onAbort);
            resolve(Object.fromEntries(keys.map((key) => [key, record.answers.get(key)])));
          };
          this.setStatus(record, "input_required", "Waiting for client input");
        }),
    };
    try {
      const result = await run(context);
      if (!signal.aborted) {
        record.result = result;
        this.setStatus(record, "completed");
      }
    } catch (error) {
      if (signal.aborted || error instanceof TaskCancelled) return;
      record.error =
        error instanceof ProtocolError
          ? {
              code: error.code,
              message: error.message,
              ...(error.data === undefined ? {} : { data: error.data }),
            }
          : { code: -32603, message: error instanceof Error ? error.message : String(error) };
      this.setStatus(record, "failed", record.error.message);
    }
  }
}

/** The capabilities a request declared: per request on 2026-07-28, per session before. */
export function clientCapabilitiesOf(mcp: McpServer, ctx: ServerContext): ClientCapabilities {
  const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
  const declared = envelope?.["io.modelcontextprotocol/clientCapabilities"];
  return (declared as ClientCapabilities | undefined) ?? mcp.server.getClientCapabilities() ?? {};
}

export function declaresTasks(capabilities: ClientCapabilities): boolean {
  const extensions = (capabilities as { extensions?: Record<string, unknown> }).extensions;
  return typeof extensions === "object" && extensions !== null && TASKS_EXTENSION in extensions;
}

/** -32021 naming the tasks extension, for a client that did not declare it. */
export function tasksRequiredError(): MissingRequiredClientCapabilityError {
  return new MissingRequiredClientCapabilityError(
    { requiredCapabilities: { extensions: { [TASKS_EXTENSION]: {} } } },
    `This request needs the ${TASKS_EXTENSION} extension, which the client did not declare`,
  );
}

const taskIdParams = z.looseObject({ taskId: z.string() });

function unknownTask(taskId: string): ProtocolError {
  return new ProtocolError(-32602, `Unknown task: ${taskId}`, { taskId });
}

/** Registers tasks/get, tasks/update and tasks/cancel on a 2026-07-28 server instance. */
export function registerTaskMethods(mcp: McpServer, store: TaskStore): void {
  const gate = (ctx: ServerContext): void => {
    if (!declaresTasks(clientCapabilitiesOf(mcp, ctx))) throw tasksRequiredError();
  };
  mcp.server.setRequestHandler("tasks/get", { params: taskIdParams }, (params, ctx) => {
    gate(ctx);
    const detail = store.detail(params.taskId);
    if (detail === undefined) throw unknownTask(params.taskId);
    return detail;
  });
  mcp.server.setRequestHandler("tasks/update", { params: taskIdParams }, (params, ctx) => {
    gate(ctx);
    // The SDK lifts `inputResponses` out of the params into the request context.
    if (!store.update(params.taskId, ctx.mcpReq.inputResponses ?? {})) {
      throw unknownTask(params.taskId);
    }
    return {};
  });
  mcp.server.setRequestHandler("tasks/cancel", { params: taskIdParams }, (params, ctx) => {
    gate(ctx);
    if (!store.cancel(params.taskId)) throw unknownTask(params.taskId);
    return {};
  });
}
