import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import { GATEWAY_ERRORS } from "../../../contract/src/errors.ts";
import type { Logger } from "../../../contract/src/log.ts";
import { toolItem } from "../../../contract/src/mcp-items.ts";
import type { VerdictClaims } from "../../../contract/src/verdict.ts";
import type { TasksConfigSchema } from "../../../config/src/tools-schema.ts";
import type { AuditEvent, AuditOutcome } from "../../../store/src/audit-writer.ts";
import type { TaskRow } from "../../../store/src/schema.ts";
import { InvalidCursorError, type TaskStore } from "../../../store/src/task-store.ts";
import type { AuditSink } from "../audit.ts";
import type { Identity, InvokeResult, ToolInvoker } from "../invoke-tool.ts";
import { itemVisible, toolVisible } from "../verdict-access.ts";
import type { ServerRequest, ServerRequestAnswer } from "../server-requests.ts";
import type { ClientCapability } from "../session.ts";
import { createTaskInputs, type TaskInputRequests } from "./task-input.ts";
import { gatewayError, isTerminal, storedErrorCode } from "./task-wire.ts";
import type { z } from "zod";

/**
 * Background tool calls. A task is a row in the tasks table (any replica can answer for it) plus,
 * on the replica that created it, an in-flight invokeTool call. The creating replica holds a lease
 * on the row and renews it on a heartbeat; every replica's sweeper fails tasks whose lease ran out
 * (their replica died) and purges tasks past their ttl, so no task stays `working` forever.
 */

export type TasksSettings = z.infer<typeof TasksConfigSchema>;

/** ext-authz's verdict scope for `/mcp/jobs/{id}` when the route names no scope. */
export const REST_VERDICT_SCOPE = "rest";

export type TaskViewer = Pick<VerdictClaims, "subject" | "tenant" | "scope" | "tools" | "items">;

export type StartTaskInput = {
  scope: string;
  tool: string;
  arguments: Record<string, unknown> | undefined;
  identity: Identity;
  allowedTools: readonly string[];
  /** The creating request's id: forwarded to the backend and joined in audit. */
  requestId: string;
  /** What the client asked for; bounded by the configured maximum. */
  requestedTtlMs?: number;
  via: "mcp" | "rest";
  /**
   * What the creating client can be asked (its declared capabilities): the server's requests
   * while the task runs wait as the task's input requests (status input_required) for tasks/update.
   */
  clientCapabilities?: readonly ClientCapability[];
  /** The task's CreateTaskResult is held back while the server's first input is gathered. */
  heldAnnouncement?: HeldAnnouncement;
  /** Already bound to requestId and scope. */
  logger?: Logger;
};

/**
 * A task the client has not been told about yet (announce-after-input.ts): the server's requests
 * go to the client synchronously until the announcement, and a client that can no longer learn of
 * the task (it left, or its round expired) stops it.
 */
export type HeldAnnouncement = {
  /** Aborted when the client will never learn of the task. */
  readonly signal: AbortSignal;
  /** Asks the client synchronously; undefined once the task is announced. */
  ask(request: ServerRequest): Promise<ServerRequestAnswer> | undefined;
  /** The server runs the call as a task of its own: time to announce ours. */
  serverTaskStarted(): void;
  /**
   * The task's run is over: announced with its row if it was not yet (undefined when the row
   * could not be read).
   */
  ended(task: TaskRow | undefined): void;
};

export type AnswerInputResult = { ok: true } | { ok: false; reason: "not_found" | "no_input" };

export type StartTaskResult =
  { ok: true; task: TaskRow } | { ok: false; error: "GW_AUDIT_UNAVAILABLE" | "GW_INTERNAL" };

export type CancelTaskResult =
  { ok: true; task: TaskRow } | { ok: false; reason: "not_found" | "terminal" };

export type WaitOutcome =
  | { kind: "terminal"; task: TaskRow }
  | { kind: "not_found" }
  /** The caller went away or this replica is stopping. */
  | { kind: "aborted" };

export type TaskService = {
  start(input: StartTaskInput): Promise<StartTaskResult>;
  /** The viewer's task, or undefined for a missing, expired or someone else's task (same answer). */
  get(id: string, viewer: TaskViewer): Promise<TaskRow | undefined>;
  /** The viewer's tasks in its scope, newest first; undefined for a cursor we did not issue. */
  list(
    viewer: TaskViewer,
    cursor?: string,
  ): Promise<{ tasks: TaskRow[]; nextCursor?: string } | undefined>;
  cancel(
    id: string,
    viewer: TaskViewer & { roles: readonly string[] },
    requestId: string,
  ): Promise<CancelTaskResult>;
  /** The requests a task running on this replica waits on (status input_required). */
  inputRequests(id: string): TaskInputRequests | undefined;
  /** The client's answers to a task's input requests (tasks/update); unknown keys are ignored. */
  answerInput(
    id: string,
    viewer: TaskViewer,
    inputResponses: Record<string, unknown>,
  ): Promise<AnswerInputResult>;
  /** Waits on this replica's completion event, and polls the database for other replicas' tasks. */
  waitForTerminal(id: string, viewer: TaskViewer, signal: AbortSignal): Promise<WaitOutcome>;
  /** Status changes of a task seen by this replica (its own tasks, cancels and sweeps). */
  onChange(id: string, listener: (task: TaskRow) => void): () => void;
  /** One sweep: fail tasks with expired leases, purge expired tasks. */
  sweep(): Promise<{ failed: number; purged: number }>;
  pollIntervalMs: number;
  /** Tasks running on this replica. */
  runningCount(): number;
  /** Stops the timers and fails this replica's running tasks (they cannot outlive it). */
  close(): Promise<void>;
};

export type TaskServiceOptions = {
  store: TaskStore;
  settings: TasksSettings;
  invokeTool: ToolInvoker;
  audit: AuditSink;
  logger: Logger;
  /** Counted when a lifecycle audit record is refused (the task state is already stored). */
  onAuditFailure?: () => void;
  /** Identifies this replica's leases; random per process by default. */
  replicaId?: string;
  /** Default 30000. */
  leaseMs?: number;
  /** Default leaseMs / 3. */
  heartbeatMs?: number;
  /** Default 15000. */
  sweepIntervalMs?: number;
};

const LIST_PAGE_SIZE = 50;
const MIN_TTL_MS = 1_000;
const LOCAL_WAIT_FALLBACK_MS = 5_000;
const ABANDONED = "The client left before it was told of this task";

export function newTaskId(): string {
  // 192 random bits, URL-safe (also a valid REST job id).
  return randomBytes(24).toString("base64url");
}

export function isVisibleTo(row: TaskRow, viewer: TaskViewer, now: Date): boolean {
  if (row.expires_at.getTime() <= now.getTime()) return false;
  if (viewer.scope === REST_VERDICT_SCOPE) {
    const qualified = `${row.scope}.${row.tool}`;
    return viewer.tools.includes(qualified) || itemVisible(viewer.items, toolItem(qualified));
  }
  return row.scope === viewer.scope && toolVisible(viewer, row.scope, row.tool);
}

export function createTaskService(options: TaskServiceOptions): TaskService {
  const { store, settings, logger } = options;
  const replicaId = options.replicaId ?? `router-${randomBytes(8).toString("hex")}`;
  const leaseMs = options.leaseMs ?? 30_000;
  const heartbeatMs = options.heartbeatMs ?? Math.max(50, Math.floor(leaseMs / 3));
  const sweepIntervalMs = options.sweepIntervalMs ?? 15_000;
  // Waiting on another replica's task means polling; keep it frequent but bounded.
  const pollIntervalMs = Math.min(Math.max(settings.poll_interval_ms, 50), 2_000);
  const changes = new EventEmitter();
  changes.setMaxListeners(0);
  const stopping = new AbortController();
  const running = new Map<
    string,
    { controller: AbortController; done: Promise<void>; shutdown: boolean }
  >();

  const ownerOf = (viewer: { subject: string; tenant: string | null }) => ({
    subject: viewer.subject,
    tenant: viewer.tenant,
  });

  const announce = (task: TaskRow) => {
    changes.emit(task.id, task);
  };
  const inputs = createTaskInputs();

  /** A server request while a task runs: the task waits in input_required until it is answered. */
  async function askInput(
    id: string,
    request: ServerRequest,
    signal: AbortSignal,
  ): Promise<ServerRequestAnswer> {
    const { first, answer } = inputs.ask(id, request, signal);
    if (first) {
      try {
        const row = await store.updateStatus(id, {
          status: "input_required",
          statusMessage: "The server needs input: answer with tasks/update",
        });
        if (row !== undefined) announce(row);
      } catch (error) {
        logger.warn({ err: error, taskId: id }, "could not mark the task input_required");
      }
    }
    return answer;
  }

  async function writeAudit(
    task: TaskRow,
    outcome: Extract<AuditOutcome, "created" | "completed" | "failed" | "cancelled">,
    extra: {
      identity?: Identity;
      requestId?: string;
      reason?: string | null;
      /** The HTTP status of the request this transition answers; none for background ones. */
      status?: number;
    },
  ): Promise<void> {
    const event: AuditEvent = {
      time: new Date(),
      request_id: extra.requestId ?? task.request_id ?? task.id,
      source: "router",
      kind: "task",
      subject: extra.identity?.subject ?? task.owner_subject,
      tenant: extra.identity?.tenant ?? (task.owner_tenant === "" ? null : task.owner_tenant),
      roles: [...(extra.identity?.roles ?? [])],
      scope: task.scope,
      method: "tools/call",
      tool: task.tool,
      outcome,
      reason: extra.reason ?? null,
      status: extra.status ?? null,
      // Duration of the task so far: creation to this transition.
      latency_ms:
        outcome === "created"
          ? 0
          : Math.max(0, task.updated_at.getTime() - task.created_at.getTime()),
      task_id: task.id,
    };
    await options.audit.write(event);
  }

  async function auditQuietly(...args: Parameters<typeof writeAudit>): Promise<void> {
    try {
      await writeAudit(...args);
    } catch (error) {
      options.onAuditFailure?.();
      logger.error({ err: error, taskId: args[0].id }, "task audit record refused");
    }
  }

  async function run(task: TaskRow, input: StartTaskInput, controller: AbortController) {
    const requestLogger =
      input.logger ?? logger.child({ requestId: input.requestId, scope: input.scope });
    const log = requestLogger.child({ taskId: task.id });
    const held = input.heldAnnouncement;
    const abandon = () => controller.abort();
    held?.signal.addEventListener("abort", abandon, { once: true });
    if (held?.signal.aborted === true) abandon();
    let result: InvokeResult;
    try {
      result = await options.invokeTool({
        scope: input.scope,
        toolName: input.tool,
        arguments: input.arguments,
        identity: input.identity,
        allowedTools: input.allowedTools,
        requestId: input.requestId,
        via: "task",
        taskId: task.id,
        signal: controller.signal,
        // A result after the task expired could never be read, and no backend call may hold a
        // connection for a whole day: the shorter of ttl and max_run_ms bounds the call.
        timeoutMs: Math.min(task.ttl_ms, settings.max_run_ms),
        maxResponseBytes: settings.max_result_bytes,
        ...(input.clientCapabilities === undefined || input.clientCapabilities.length === 0
          ? {}
          : {
              clientCapabilities: input.clientCapabilities,
              onServerRequest: (request: ServerRequest) =>
                held?.ask(request) ?? askInput(task.id, request, controller.signal),
            }),
        ...(held === undefined ? {} : { onServerTask: () => held.serverTaskStarted() }),
        logger: log,
      });
    } catch (error) {
      log.error({ err: error }, "task invocation threw");
      result = { ok: false, outcome: "upstream_error", error: "GW_INTERNAL", latencyMs: 0 };
    }
    held?.signal.removeEventListener("abort", abandon);
    const abandoned = held?.signal.aborted === true;
    inputs.forget(task.id);
    const shutdown = running.get(task.id)?.shutdown === true;
    let finished: TaskRow | undefined;
    try {
      if (result.ok) {
        finished = await store.complete(task.id, {
          result: result.result,
          statusMessage: result.outcome === "tool_error" ? "The tool reported an error" : null,
        });
      } else if (result.outcome === "cancelled" && shutdown) {
        finished = await store.fail(task.id, {
          error: gatewayError("GW_INTERNAL", "The gateway stopped while this task was running"),
          statusMessage: "The gateway stopped while this task was running",
        });
      } else if (result.outcome === "cancelled" && abandoned) {
        finished = await store.fail(task.id, {
          error: gatewayError("GW_UPSTREAM_UNAVAILABLE", ABANDONED),
          statusMessage: ABANDONED,
        });
      } else {
        // After a cancel (or a lost lease) the row is already terminal and this is a no-op.
        finished = await store.fail(task.id, {
          error: gatewayError(result.error, result.detail),
          statusMessage: result.detail ?? GATEWAY_ERRORS[result.error].message,
        });
      }
    } catch (error) {
      // The lease is no longer renewed, so the sweeper fails the task if this write was lost.
      log.error({ err: error }, "could not store the task outcome");
    }
    // Leave the running set before announcing: a waiter that saw the task running is then sure
    // to get this announcement (see nextChange).
    running.delete(task.id);
    if (finished !== undefined) {
      const outcome = finished.status === "completed" ? "completed" : "failed";
      await auditQuietly(finished, outcome, {
        identity: input.identity,
        reason:
          outcome === "completed"
            ? result.ok && result.outcome === "tool_error"
              ? "tool_error"
              : null
            : shutdown
              ? "shutdown"
              : abandoned
                ? "abandoned"
                : storedErrorCode(finished).replace(/^GW_/, "").toLowerCase(),
      });
      announce(finished);
      held?.ended(finished);
    } else {
      const current = await store.getById(task.id).catch(() => undefined);
      if (current !== undefined) announce(current);
      held?.ended(current);
    }
  }

  async function heartbeat(): Promise<void> {
    const ids = [...running.keys()];
    if (ids.length === 0) return;
    let held: Set<string>;
    try {
      held = new Set(await store.heartbeatMany(ids, replicaId, leaseMs));
    } catch (error) {
      logger.warn({ err: error }, "task lease renewal failed; retrying on the next beat");
      return;
    }
    for (const id of ids) {
      // Cancelled on another replica, or failed by a sweeper: stop the backend call.
      if (!held.has(id)) running.get(id)?.controller.abort();
    }
  }

  async function sweep(): Promise<{ failed: number; purged: number }> {
    const failedRows = await store.failExpiredLeases(
      new Date(),
      gatewayError("GW_INTERNAL", "The gateway replica running this task stopped"),
    );
    for (const row of failedRows) {
      await auditQuietly(row, "failed", { reason: "lease_expired" });
      announce(row);
    }
    const purged = await store.purgeExpired(new Date());
    if (failedRows.length > 0 || purged > 0) {
      logger.info({ failed: failedRows.length, purged }, "task sweep");
    }
    return { failed: failedRows.length, purged };
  }

  const beat = setInterval(() => void heartbeat(), heartbeatMs);
  beat.unref();
  const sweeper = setInterval(() => {
    sweep().catch((error: unknown) => logger.warn({ err: error }, "task sweep failed"));
  }, sweepIntervalMs);
  sweeper.unref();
  // A restarted replica fails its predecessors' stale tasks without waiting a whole interval.
  queueMicrotask(() => {
    sweep().catch((error: unknown) => logger.warn({ err: error }, "task sweep failed"));
  });

  async function get(id: string, viewer: TaskViewer): Promise<TaskRow | undefined> {
    const row = await store.get(id, ownerOf(viewer));
    return row !== undefined && isVisibleTo(row, viewer, new Date()) ? row : undefined;
  }

  function nextChange(id: string, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        changes.off(id, done);
        signal.removeEventListener("abort", done);
        resolve();
      };
      // Running here: its end is announced in-process (the timer is only a safety net).
      // Elsewhere: only the database knows, so poll it.
      const timer = setTimeout(done, running.has(id) ? LOCAL_WAIT_FALLBACK_MS : pollIntervalMs);
      changes.on(id, done);
      signal.addEventListener("abort", done, { once: true });
    });
  }

  return {
    pollIntervalMs,

    async start(input) {
      if (stopping.signal.aborted) return { ok: false, error: "GW_INTERNAL" };
      const ttlMs = Math.min(
        Math.max(Math.trunc(input.requestedTtlMs ?? settings.default_ttl_ms), MIN_TTL_MS),
        settings.max_ttl_ms,
      );
      let task: TaskRow;
      try {
        task = await store.create({
          id: newTaskId(),
          owner: { subject: input.identity.subject, tenant: input.identity.tenant },
          scope: input.scope,
          tool: input.tool,
          ttlMs,
          pollIntervalMs: settings.poll_interval_ms,
          // Arguments are not kept: a task is never re-run elsewhere, so they are not needed.
          request: { name: input.tool, via: input.via },
          requestId: input.requestId,
          lease: { owner: replicaId, ms: leaseMs },
        });
      } catch (error) {
        logger.error({ err: error }, "could not create a task");
        return { ok: false, error: "GW_INTERNAL" };
      }
      try {
        await writeAudit(task, "created", {
          identity: input.identity,
          // REST answers 202 Accepted with the job; MCP answers the task on 200.
          status: input.via === "rest" ? 202 : 200,
        });
      } catch (error) {
        options.onAuditFailure?.();
        logger.error({ err: error, taskId: task.id }, "task audit refused; not starting it");
        await store
          .fail(task.id, {
            error: gatewayError("GW_AUDIT_UNAVAILABLE"),
            statusMessage: GATEWAY_ERRORS.GW_AUDIT_UNAVAILABLE.message,
          })
          .catch(() => undefined);
        return { ok: false, error: "GW_AUDIT_UNAVAILABLE" };
      }
      const controller = new AbortController();
      const entry = { controller, done: Promise.resolve(), shutdown: false };
      running.set(task.id, entry);
      entry.done = run(task, input, controller)
        .catch((error: unknown) => logger.error({ err: error, taskId: task.id }, "task run failed"))
        .finally(() => running.delete(task.id));
      return { ok: true, task };
    },

    get,

    inputRequests: (id) => inputs.requests(id),
    async answerInput(id, viewer, inputResponses) {
      const task = await get(id, viewer);
      if (task === undefined) return { ok: false, reason: "not_found" };
      const waiting = inputs.requests(id);
      if (waiting === undefined) return { ok: false, reason: "no_input" };
      // Back to working before the server hears the last answer, so that a request it makes
      // next puts the task in input_required again after this write, not before it.
      if (Object.keys(waiting).every((key) => Object.hasOwn(inputResponses, key))) {
        try {
          const row = await store.updateStatus(id, { status: "working" });
          if (row !== undefined) announce(row);
        } catch (error) {
          logger.warn({ err: error, taskId: id }, "could not mark the task working again");
        }
      }
      inputs.answer(id, inputResponses);
      return { ok: true };
    },
    async list(viewer, cursor) {
      try {
        const page = await store.list(ownerOf(viewer), {
          limit: LIST_PAGE_SIZE,
          ...(cursor === undefined ? {} : { cursor }),
          ...(viewer.scope === REST_VERDICT_SCOPE ? {} : { scope: viewer.scope }),
        });
        const now = new Date();
        return {
          tasks: page.tasks.filter((row) => isVisibleTo(row, viewer, now)),
          ...(page.nextCursor === undefined ? {} : { nextCursor: page.nextCursor }),
        };
      } catch (error) {
        if (error instanceof InvalidCursorError) return undefined;
        throw error;
      }
    },

    async cancel(id, viewer, requestId) {
      const visible = await get(id, viewer);
      if (visible === undefined) return { ok: false, reason: "not_found" };
      const result = await store.cancel(id, ownerOf(viewer));
      if (!result.ok) return result;
      running.get(id)?.controller.abort();
      await auditQuietly(result.task, "cancelled", {
        identity: { subject: viewer.subject, tenant: viewer.tenant, roles: viewer.roles },
        requestId,
        status: 200,
      });
      announce(result.task);
      return result;
    },

    async waitForTerminal(id, viewer, signal) {
      const combined = AbortSignal.any([signal, stopping.signal]);
      for (;;) {
        const task = await get(id, viewer);
        if (task === undefined) return { kind: "not_found" };
        if (isTerminal(task)) return { kind: "terminal", task };
        if (combined.aborted) return { kind: "aborted" };
        await nextChange(id, combined);
      }
    },

    onChange(id, listener) {
      changes.on(id, listener);
      return () => changes.off(id, listener);
    },

    sweep,

    runningCount: () => running.size,

    async close() {
      if (stopping.signal.aborted) return;
      stopping.abort();
      clearInterval(beat);
      clearInterval(sweeper);
      const entries = [...running.values()];
      for (const entry of entries) {
        entry.shutdown = true;
        entry.controller.abort();
      }
      await Promise.allSettled(entries.map((entry) => entry.done));
    },
  };
}
