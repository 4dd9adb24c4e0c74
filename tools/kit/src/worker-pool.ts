import { EventEmitter } from "node:events";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { Piscina } from "piscina";
import type { Logger } from "pino";
import type { ToolOutcome } from "./tool-definition.ts";

/**
 * CPU-heavy handlers (document rendering, Markdown parsing, expression evaluation) run on worker
 * threads, so a slow call never blocks the event loop that also serves health checks, ext-authz
 * and the router when everything shares one process (`npm start`). A call over its time budget
 * has its thread terminated, not merely abandoned: a JavaScript loop cannot be interrupted from
 * outside any other way, and an abandoned thread would keep a core busy.
 */

export interface WorkerPoolSettings {
  /** Worker threads of this pool (each runs one call at a time). */
  threads: number;
  /** Longest a call may run on its thread, in ms, counted from when the thread picks it up. */
  budgetMs: number;
  /** Calls that may wait for a free thread; one more is refused as busy. */
  maxQueue: number;
}

export const DEFAULT_WORKER_BUDGET_MS = 30_000;
export const DEFAULT_WORKER_MAX_QUEUE = 64;

/**
 * Half the cores, at least one, at most four: on a 2-core machine one thread per pool leaves the
 * other core to the event loop that answers everyone else.
 */
export function defaultWorkerThreads(cores: number = availableParallelism()): number {
  return Math.min(4, Math.max(1, Math.floor(cores / 2)));
}

export function defaultWorkerPoolSettings(
  overrides: Partial<WorkerPoolSettings> = {},
): WorkerPoolSettings {
  return {
    threads: overrides.threads ?? defaultWorkerThreads(),
    budgetMs: overrides.budgetMs ?? DEFAULT_WORKER_BUDGET_MS,
    maxQueue: overrides.maxQueue ?? DEFAULT_WORKER_MAX_QUEUE,
  };
}

/** Where a worker finds the tool: a module URL and the name of the export holding its definition. */
export interface WorkerTarget {
  module: string;
  exportName: string;
}

/** One call as it crosses to a worker: structured-cloneable data only. */
export interface WorkerTask extends WorkerTarget {
  tool: string;
  input: unknown;
  userId: string;
  requestId: string;
  log: { level: string; bindings: Record<string, unknown> };
}

export type WorkerRun =
  | { ok: true; outcome: ToolOutcome<unknown>; durationMs: number }
  | { ok: false; reason: "over_budget"; durationMs: number }
  | { ok: false; reason: "cancelled" | "queue_full" }
  | { ok: false; reason: "failed"; error: unknown };

export interface WorkerPoolStats {
  running: number;
  queued: number;
  completed: number;
  overBudget: number;
  cancelled: number;
  queueFull: number;
  failed: number;
  /** Threads ended while the pool was open: a call over budget or cancelled, or a crash. */
  terminated: number;
}

export interface ToolWorkerPool {
  readonly settings: WorkerPoolSettings;
  /** Runs a tool handler on a worker; resolves (never rejects) with what happened. */
  run(task: WorkerTask, signal: AbortSignal): Promise<WorkerRun>;
  stats(): WorkerPoolStats;
  /** Emits "started" (tool name) when a thread picks a call up, "settled" (WorkerRun) when done. */
  readonly events: EventEmitter;
  /** Terminates every thread; calls still running settle as cancelled. */
  close(): Promise<void>;
}

/** Shared with worker-entry.mjs, which posts it when a thread picks a call up. */
export const TASK_STARTED = "tool-worker:task-started";

/** Piscina's refusals when every thread is busy and the queue is full (or disabled). */
const QUEUE_FULL_MESSAGES = new Set([
  "Task queue is at limit",
  "No task queue available and all Workers are busy",
]);

const ENTRY = fileURLToPath(new URL("./worker-entry.mjs", import.meta.url));

export function createToolWorkerPool(options: {
  /** Names the server in the workers' log lines. */
  name: string;
  settings: WorkerPoolSettings;
  logger: Logger;
  /** Modules imported when a thread starts, so the first call does not pay for loading them. */
  preload?: readonly string[];
}): ToolWorkerPool {
  const { settings, logger } = options;
  const counters = { completed: 0, overBudget: 0, cancelled: 0, queueFull: 0, failed: 0 };
  let terminated = 0;
  let running = 0;
  let nextId = 1;
  const onStarted = new Map<number, () => void>();
  let pool: Piscina | undefined;
  let closed = false;
  const events = new EventEmitter();

  const ensurePool = (): Piscina => {
    if (pool !== undefined) return pool;
    pool = new Piscina({
      filename: ENTRY,
      minThreads: settings.threads,
      maxThreads: settings.threads,
      maxQueue: settings.maxQueue,
      idleTimeout: Number.POSITIVE_INFINITY,
      // The parent may run under `--import tsx` (npm start, Docker) or vitest; the entry brings
      // its own scoped tsx loader, so the worker needs none of the parent's flags.
      execArgv: [],
      workerData: { name: options.name, preload: options.preload ?? [] },
    });
    pool.on("message", (message: unknown) => {
      if (isStartedMessage(message)) onStarted.get(message.id)?.();
    });
    pool.on("workerDestroy", () => {
      if (!closed) terminated += 1;
    });
    // Without a listener an idle worker's uncaught exception would be rethrown by the emitter and
    // take the whole process down.
    pool.on("error", (error: unknown) => {
      logger.error({ err: error }, "tool worker failed outside a call");
    });
    return pool;
  };

  const runOnce = async (task: WorkerTask, signal: AbortSignal): Promise<WorkerRun> => {
    if (closed || signal.aborted) return { ok: false, reason: "cancelled" };
    const current = ensurePool();
    const id = nextId++;
    const stop = new AbortController();
    let stopped: "over_budget" | "cancelled" | undefined;
    let startedAt: number | undefined;
    let timer: NodeJS.Timeout | undefined;
    onStarted.set(id, () => {
      startedAt = performance.now();
      running += 1;
      timer = setTimeout(() => {
        stopped ??= "over_budget";
        stop.abort();
      }, settings.budgetMs);
      events.emit("started", task.tool);
    });
    const onCallerAbort = (): void => {
      stopped ??= "cancelled";
      stop.abort();
    };
    signal.addEventListener("abort", onCallerAbort, { once: true });
    try {
      const outcome = (await current.run(
        { ...task, id },
        { signal: stop.signal },
      )) as ToolOutcome<unknown>;
      counters.completed += 1;
      return { ok: true, outcome, durationMs: elapsed(startedAt) };
    } catch (error) {
      // Piscina terminates the thread of an aborted call that had started (counted on
      // workerDestroy) and drops one that was still queued.
      if (stopped !== undefined) {
        if (stopped === "over_budget") {
          counters.overBudget += 1;
          return { ok: false, reason: "over_budget", durationMs: elapsed(startedAt) };
        }
        counters.cancelled += 1;
        return { ok: false, reason: "cancelled" };
      }
      if (error instanceof Error && QUEUE_FULL_MESSAGES.has(error.message)) {
        counters.queueFull += 1;
        return { ok: false, reason: "queue_full" };
      }
      if (closed) {
        counters.cancelled += 1;
        return { ok: false, reason: "cancelled" };
      }
      counters.failed += 1;
      return { ok: false, reason: "failed", error };
    } finally {
      clearTimeout(timer);
      if (startedAt !== undefined) running -= 1;
      onStarted.delete(id);
      signal.removeEventListener("abort", onCallerAbort);
    }
  };

  return {
    settings,
    events,
    async run(task, signal) {
      const run = await runOnce(task, signal);
      events.emit("settled", run);
      return run;
    },
    stats() {
      return {
        ...counters,
        running,
        queued: pool?.queueSize ?? 0,
        terminated,
      };
    },
    async close() {
      if (closed) return;
      closed = true;
      await pool?.destroy();
    },
  };
}

function elapsed(startedAt: number | undefined): number {
  return startedAt === undefined ? 0 : Math.round(performance.now() - startedAt);
}

function isStartedMessage(message: unknown): message is { type: string; id: number } {
  return (
    typeof message === "object" &&
    message !== null &&
    (message as { type?: unknown }).type === TASK_STARTED &&
    typeof (message as { id?: unknown }).id === "number"
  );
}
