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
  /**
   * How long a thread may sit without a call before it exits, in ms (default 30 s). Threads start
   * when calls need them, so an idle server holds none.
   */
  idleTimeoutMs?: number;
}

export const DEFAULT_WORKER_BUDGET_MS = 30_000;
export const DEFAULT_WORKER_MAX_QUEUE = 64;
export const DEFAULT_WORKER_IDLE_TIMEOUT_MS = 30_000;

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
    idleTimeoutMs: overrides.idleTimeoutMs ?? DEFAULT_WORKER_IDLE_TIMEOUT_MS,
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
  /** Threads alive now (starting, busy or idle); idle ones exit after `idleTimeoutMs`. */
  threads: number;
}

/** Why a thread ended: it sat idle too long, or it was stopped or crashed (counted as terminated). */
export interface ThreadExit {
  threadId: number;
  reason: "idle" | "terminated";
}

export interface ToolWorkerPool {
  readonly settings: WorkerPoolSettings;
  /** Runs a tool handler on a worker; resolves (never rejects) with what happened. */
  run(task: WorkerTask, signal: AbortSignal): Promise<WorkerRun>;
  stats(): WorkerPoolStats;
  /**
   * Emits "started" (tool name) when a thread picks a call up, "settled" (WorkerRun) when done,
   * "exited" (ThreadExit) when a thread ends while the pool is open.
   */
  readonly events: EventEmitter;
  /** Terminates every thread; calls still running settle as cancelled. */
  close(): Promise<void>;
}

/** Shared with worker-entry.mjs, which posts it when a thread picks a call up. */
export const TASK_STARTED = "tool-worker:task-started";

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
  const onStarted = new Map<number, (threadId: number) => void>();
  /** Threads running a call that has started, by thread id. */
  const busy = new Set<number>();
  /** True while a call's own abort runs: piscina terminates that call's thread synchronously. */
  let stopping = false;
  /**
   * Calls are admitted here, at most `threads` at a time, and wait here otherwise: piscina then
   * never holds a call it has no thread for. Left to it, a call queued behind one whose thread was
   * terminated would wait forever (with no minimum of threads, piscina starts one only when a
   * call arrives), and its queue limit would not apply to calls that carry an abort signal.
   */
  let admitted = 0;
  const waiting: { admit(): void; drop(): void }[] = [];
  let pool: Piscina | undefined;
  let closed = false;
  const events = new EventEmitter();

  const ensurePool = (): Piscina => {
    if (pool !== undefined) return pool;
    pool = new Piscina({
      filename: ENTRY,
      // A thread costs tens of MB: start them as calls need them, end them once idle.
      minThreads: 0,
      maxThreads: settings.threads,
      idleTimeout: settings.idleTimeoutMs ?? DEFAULT_WORKER_IDLE_TIMEOUT_MS,
      // The parent may run the build output, or sources under vitest or `--import tsx`; the entry
      // loads either by itself, so the worker needs none of the parent's flags.
      execArgv: [],
      workerData: { name: options.name, preload: options.preload ?? [] },
    });
    pool.on("message", (message: unknown) => {
      if (isStartedMessage(message)) onStarted.get(message.id)?.(message.threadId);
    });
    pool.on("workerDestroy", (worker: { id: number }) => {
      if (closed) return;
      // Node reports thread id -1 once a thread has exited by itself: it crashed. A thread that
      // runs a call, or whose call is being aborted, was stopped. Any other was idle too long.
      const ended = worker.id === -1 || stopping || busy.has(worker.id);
      if (ended) terminated += 1;
      events.emit("exited", {
        threadId: worker.id,
        reason: ended ? "terminated" : "idle",
      } satisfies ThreadExit);
    });
    // Without a listener an idle worker's uncaught exception would be rethrown by the emitter and
    // take the whole process down. Such a thread is gone (and was reported idle when it went).
    pool.on("error", (error: unknown) => {
      if (!closed) terminated += 1;
      logger.error({ err: error }, "tool worker failed outside a call");
    });
    return pool;
  };

  /** Resolves true once the call holds one of the `threads` slots, false if it left first. */
  const admit = (signal: AbortSignal): Promise<boolean> => {
    if (admitted < settings.threads) {
      admitted += 1;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const entry = {
        admit() {
          signal.removeEventListener("abort", onAbort);
          resolve(true);
        },
        drop() {
          signal.removeEventListener("abort", onAbort);
          resolve(false);
        },
      };
      const onAbort = (): void => {
        const at = waiting.indexOf(entry);
        if (at !== -1) waiting.splice(at, 1);
        resolve(false);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      waiting.push(entry);
    });
  };

  /** Hands the slot to the longest-waiting call, if any. */
  const release = (): void => {
    const next = waiting.shift();
    if (next === undefined) admitted -= 1;
    else next.admit();
  };

  const runOnce = async (task: WorkerTask, signal: AbortSignal): Promise<WorkerRun> => {
    if (closed || signal.aborted) return { ok: false, reason: "cancelled" };
    if (admitted >= settings.threads && waiting.length >= settings.maxQueue) {
      counters.queueFull += 1;
      return { ok: false, reason: "queue_full" };
    }
    if (!(await admit(signal))) {
      counters.cancelled += 1;
      return { ok: false, reason: "cancelled" };
    }
    try {
      return await runAdmitted(task, signal);
    } finally {
      release();
    }
  };

  const runAdmitted = async (task: WorkerTask, signal: AbortSignal): Promise<WorkerRun> => {
    if (closed || signal.aborted) {
      counters.cancelled += 1;
      return { ok: false, reason: "cancelled" };
    }
    const current = ensurePool();
    const id = nextId++;
    const stop = new AbortController();
    let stopped: "over_budget" | "cancelled" | undefined;
    let startedAt: number | undefined;
    let thread: number | undefined;
    let timer: NodeJS.Timeout | undefined;
    const abort = (reason: "over_budget" | "cancelled"): void => {
      stopped ??= reason;
      stopping = true;
      try {
        stop.abort();
      } finally {
        stopping = false;
      }
    };
    onStarted.set(id, (threadId) => {
      startedAt = performance.now();
      running += 1;
      thread = threadId;
      busy.add(threadId);
      timer = setTimeout(() => abort("over_budget"), settings.budgetMs);
      events.emit("started", task.tool);
    });
    const onCallerAbort = (): void => abort("cancelled");
    signal.addEventListener("abort", onCallerAbort, { once: true });
    try {
      const outcome = (await current.run(
        { ...task, id },
        { signal: stop.signal },
      )) as ToolOutcome<unknown>;
      counters.completed += 1;
      return { ok: true, outcome, durationMs: elapsed(startedAt) };
    } catch (error) {
      // Piscina terminates the thread of an aborted call that had been handed to one (counted on
      // workerDestroy) and drops one still waiting for a thread to start.
      if (stopped !== undefined) {
        if (stopped === "over_budget") {
          counters.overBudget += 1;
          return { ok: false, reason: "over_budget", durationMs: elapsed(startedAt) };
        }
        counters.cancelled += 1;
        return { ok: false, reason: "cancelled" };
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
      if (thread !== undefined) busy.delete(thread);
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
        queued: waiting.length,
        terminated,
        threads: pool?.threads.length ?? 0,
      };
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const call of waiting.splice(0)) call.drop();
      await pool?.destroy();
    },
  };
}

function elapsed(startedAt: number | undefined): number {
  return startedAt === undefined ? 0 : Math.round(performance.now() - startedAt);
}

function isStartedMessage(
  message: unknown,
): message is { type: string; id: number; threadId: number } {
  return (
    typeof message === "object" &&
    message !== null &&
    (message as { type?: unknown }).type === TASK_STARTED &&
    typeof (message as { id?: unknown }).id === "number" &&
    typeof (message as { threadId?: unknown }).threadId === "number"
  );
}
