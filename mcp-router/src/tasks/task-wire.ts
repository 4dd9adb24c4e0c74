import { jsonRpcErrorBody, type GatewayErrorCode } from "../../../contract/src/errors.ts";
import type { JsonRpcErrorObject } from "../../../contract/src/json-rpc.ts";
import type { TaskRow, TaskStatus } from "../../../store/src/schema.ts";

/**
 * How a stored task looks on each wire: the 2025-11-25 experimental Task, the 2026-07-28
 * `io.modelcontextprotocol/tasks` extension's (Detailed)Task, and the REST job document.
 */

export const TERMINAL_STATUSES: ReadonlySet<TaskStatus> = new Set([
  "completed",
  "failed",
  "cancelled",
]);

export function isTerminal(row: Pick<TaskRow, "status">): boolean {
  return TERMINAL_STATUSES.has(row.status);
}

/** Task ids as ext-authz accepts them in `/mcp/jobs/{id}`; anything else cannot be ours. */
export const TASK_ID_RE = /^[A-Za-z0-9_-]{1,128}$/;

/** 2025-11-25 `Task` (also the body of tasks/get, tasks/cancel and notifications/tasks/status). */
export function legacyTask(row: TaskRow): Record<string, unknown> {
  return {
    taskId: row.id,
    status: row.status,
    ...(row.status_message === null ? {} : { statusMessage: row.status_message }),
    createdAt: row.created_at.toISOString(),
    lastUpdatedAt: row.updated_at.toISOString(),
    ttl: row.ttl_ms,
    ...(row.poll_interval_ms === null ? {} : { pollInterval: row.poll_interval_ms }),
  };
}

/** 2026-07-28 extension `Task` (the flat part of CreateTaskResult). */
export function modernTask(row: TaskRow): Record<string, unknown> {
  return {
    taskId: row.id,
    status: row.status,
    ...(row.status_message === null ? {} : { statusMessage: row.status_message }),
    createdAt: row.created_at.toISOString(),
    lastUpdatedAt: row.updated_at.toISOString(),
    ttlMs: row.ttl_ms,
    ...(row.poll_interval_ms === null ? {} : { pollIntervalMs: row.poll_interval_ms }),
  };
}

/** 2026-07-28 `DetailedTask`: the result or error inline once the task is terminal. */
export function modernDetailedTask(row: TaskRow): Record<string, unknown> {
  const task = modernTask(row);
  if (row.status === "completed") return { ...task, result: storedResult(row) };
  if (row.status === "failed") return { ...task, error: storedError(row) };
  return task;
}

export function storedResult(row: TaskRow): Record<string, unknown> {
  return isRecord(row.result) ? row.result : { content: [] };
}

/** The JSON-RPC error object the original call would have received. */
export function storedError(row: TaskRow): JsonRpcErrorObject {
  const error = row.error;
  if (isRecord(error) && typeof error.code === "number" && typeof error.message === "string") {
    return {
      code: error.code,
      message: error.message,
      ...(isRecord(error.data) ? { data: error.data } : {}),
    };
  }
  // Rows failed by something that did not store a JSON-RPC error (older sweeps, manual edits).
  return gatewayError("GW_INTERNAL", "The task failed");
}

export function gatewayError(code: GatewayErrorCode, detail?: string): JsonRpcErrorObject {
  return jsonRpcErrorBody(code, null, detail === undefined ? {} : { detail }).error;
}

/** The stable `GW_…` code carried in a stored error, for REST and audit reasons. */
export function storedErrorCode(row: TaskRow): string {
  const data = storedError(row).data;
  return isRecord(data) && typeof data.code === "string" ? data.code : "GW_INTERNAL";
}

/** REST job document (`GET /mcp/jobs/{id}`). */
export function jobView(row: TaskRow): Record<string, unknown> {
  const view: Record<string, unknown> = {
    job_id: row.id,
    status: row.status,
    tool_name: `${row.scope}.${row.tool}`,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    expires_at: row.expires_at.toISOString(),
    ...(row.status_message === null ? {} : { status_message: row.status_message }),
    ...(row.poll_interval_ms === null ? {} : { poll_interval_ms: row.poll_interval_ms }),
  };
  if (row.status === "completed") {
    const result = storedResult(row);
    view.is_error = result.isError === true;
    view.result = result;
  }
  if (row.status === "failed") {
    view.error = { code: storedErrorCode(row), message: storedError(row).message };
  }
  return view;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
