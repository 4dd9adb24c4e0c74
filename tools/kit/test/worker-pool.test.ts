import { once } from "node:events";
import { request } from "node:http";
import { threadId as testThreadId } from "node:worker_threads";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  callToolInProcess,
  callToolSigned,
  signedHeaders,
  startTestToolServer,
  type TestToolServer,
} from "../src/testing.ts";
import { parseWorkerPoolEnv } from "../src/tool-server-env.ts";
import {
  defaultWorkerThreads,
  type ThreadExit,
  type ToolWorkerPool,
  type WorkerRun,
} from "../src/worker-pool.ts";
import { misnamedTool, spinTool, threadTool } from "./worker-fixture-tools.ts";

const BUDGET_MS = 500;

function textOf(result: { content: unknown }): string {
  const [first] = result.content as { type: string; text?: string }[];
  return first?.type === "text" ? (first.text ?? "") : "";
}

async function threadOf(server: TestToolServer): Promise<number> {
  const result = await callToolSigned(server.mcpUrl, server.signing, "which_thread", {});
  expect(result.isError).toBeUndefined();
  return (result.structuredContent as { threadId: number }).threadId;
}

function poolOf(server: TestToolServer): ToolWorkerPool {
  const pool = server.server.workers;
  if (pool === undefined) throw new Error("expected a worker pool");
  return pool;
}

/** Sends a tools/call on a raw socket, so the test can hang up while it runs. */
function startRawCall(server: TestToolServer, name: string, args: Record<string, unknown>) {
  const body = JSON.stringify({
    jsonrpc: "2.0",
    id: 1,
    method: "tools/call",
    params: { name, arguments: args },
  });
  const req = request(server.mcpUrl, {
    method: "POST",
    headers: {
      ...signedHeaders({
        secret: server.secret,
        audience: server.audience,
        userId: "u",
        requestId: "raw-1",
        body,
      }),
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
    },
  });
  req.on("error", () => undefined);
  req.end(body);
  return req;
}

describe("tools that declare a worker", () => {
  let server: TestToolServer;

  beforeAll(async () => {
    server = await startTestToolServer([spinTool, threadTool, misnamedTool], {
      workers: { threads: 1, budgetMs: BUDGET_MS, maxQueue: 4 },
    });
  });
  afterAll(async () => {
    await server.close();
  });

  it("run on a worker thread and answer exactly like inline tools", async () => {
    const result = await callToolSigned(server.mcpUrl, server.signing, "which_thread", {});
    const { threadId } = result.structuredContent as { threadId: number };
    expect(threadId).not.toBe(testThreadId);
    expect(JSON.parse(textOf(result))).toEqual({ threadId });
  });

  it("pass refusals through and keep thrown errors in the log", async () => {
    const refused = await callToolSigned(server.mcpUrl, server.signing, "which_thread", {
      mode: "refuse",
    });
    expect(refused).toMatchObject({ isError: true });
    expect(textOf(refused)).toBe("refused on purpose");
    const thrown = await callToolSigned(server.mcpUrl, server.signing, "which_thread", {
      mode: "throw",
    });
    expect(textOf(thrown)).toBe("Tool which_thread failed with an internal error");
  });

  it("refuses a definition whose worker export is another tool", async () => {
    const result = await callToolSigned(server.mcpUrl, server.signing, "misnamed", {});
    expect(textOf(result)).toBe("Tool misnamed failed with an internal error");
  });

  it("stops a call over its budget by terminating its thread; the server answers meanwhile", async () => {
    const pool = poolOf(server);
    const before = pool.stats();
    const firstThread = await threadOf(server);
    const started = once(pool.events, "started");
    const pending = callToolSigned(server.mcpUrl, server.signing, "spin", { ms: -1 });
    await started;
    // The event loop is free while the worker spins: health answers at once.
    const healthStarted = performance.now();
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(200);
    expect(performance.now() - healthStarted).toBeLessThan(BUDGET_MS);

    const result = await pending;
    expect(result).toMatchObject({ isError: true });
    expect(textOf(result)).toBe(
      `Tool spin exceeded its time budget of ${BUDGET_MS} ms and was stopped; shorten or simplify the input`,
    );
    const after = pool.stats();
    expect(after.overBudget).toBe(before.overBudget + 1);
    expect(after.terminated).toBe(before.terminated + 1);
    expect(after.running).toBe(0);
    // The only thread was replaced: the next call runs on a new one.
    expect(await threadOf(server)).not.toBe(firstThread);
  });

  it("lets a call within its budget finish", async () => {
    const result = await callToolSigned(server.mcpUrl, server.signing, "spin", { ms: 50 });
    expect(result.isError).toBeUndefined();
    expect((result.structuredContent as { spunMs: number }).spunMs).toBeGreaterThanOrEqual(50);
  });

  it("runs the handler inline when no pool is given (in-process test calls)", async () => {
    const result = await callToolInProcess(threadTool, {});
    expect(result.structuredContent).toEqual({ threadId: testThreadId });
  });
});

describe("cancellation and back-pressure", () => {
  it("terminates the thread of a call whose client hung up", async () => {
    const server = await startTestToolServer([spinTool, threadTool], {
      workers: { threads: 1, budgetMs: 60_000, maxQueue: 4 },
    });
    try {
      const pool = poolOf(server);
      const firstThread = await threadOf(server);
      const started = once(pool.events, "started");
      const settled = once(pool.events, "settled") as Promise<[WorkerRun]>;
      const req = startRawCall(server, "spin", { ms: -1 });
      await started;
      req.destroy();
      const [run] = await settled;
      expect(run).toEqual({ ok: false, reason: "cancelled" });
      expect(pool.stats()).toMatchObject({ cancelled: 1, terminated: 1, running: 0 });
      expect(await threadOf(server)).not.toBe(firstThread);
    } finally {
      await server.close();
    }
  });

  it("answers busy when every thread is taken and the queue is full", async () => {
    const server = await startTestToolServer([spinTool, threadTool], {
      workers: { threads: 1, budgetMs: BUDGET_MS, maxQueue: 0 },
    });
    try {
      const pool = poolOf(server);
      await threadOf(server);
      const started = once(pool.events, "started");
      const spinning = callToolSigned(server.mcpUrl, server.signing, "spin", { ms: -1 });
      await started;
      const refused = await callToolSigned(server.mcpUrl, server.signing, "which_thread", {});
      expect(textOf(refused)).toBe(
        "Tool which_thread is busy: too many calls are waiting; retry later",
      );
      expect(textOf(await spinning)).toMatch(/exceeded its time budget/);
      expect(pool.stats()).toMatchObject({ queueFull: 1, overBudget: 1 });
    } finally {
      await server.close();
    }
  });

  it("runs a call that waited behind one stopped over budget, on a new thread", async () => {
    const server = await startTestToolServer([spinTool, threadTool], {
      workers: { threads: 1, budgetMs: BUDGET_MS, maxQueue: 4 },
    });
    try {
      const pool = poolOf(server);
      const firstThread = await threadOf(server);
      const started = once(pool.events, "started");
      const spinning = callToolSigned(server.mcpUrl, server.signing, "spin", { ms: -1 });
      await started;
      const waiting = callToolSigned(server.mcpUrl, server.signing, "which_thread", {});
      expect(textOf(await spinning)).toMatch(/exceeded its time budget/);
      const answer = await waiting;
      expect(answer.isError).toBeUndefined();
      expect((answer.structuredContent as { threadId: number }).threadId).not.toBe(firstThread);
      expect(pool.stats()).toMatchObject({ overBudget: 1, terminated: 1, queued: 0 });
    } finally {
      await server.close();
    }
  });

  it("lets maxQueue calls wait while every thread is busy and refuses the next", async () => {
    // A longer budget: both calls must arrive while the spin still holds the only thread.
    const server = await startTestToolServer([spinTool, threadTool], {
      workers: { threads: 1, budgetMs: 2_000, maxQueue: 1 },
    });
    try {
      const pool = poolOf(server);
      await threadOf(server);
      const started = once(pool.events, "started");
      const spinning = callToolSigned(server.mcpUrl, server.signing, "spin", { ms: -1 });
      await started;
      const answers = await Promise.all([
        callToolSigned(server.mcpUrl, server.signing, "which_thread", {}),
        callToolSigned(server.mcpUrl, server.signing, "which_thread", {}),
      ]);
      expect(textOf(await spinning)).toMatch(/exceeded its time budget/);
      expect(answers.map(textOf).filter((text) => text.includes("is busy"))).toEqual([
        "Tool which_thread is busy: too many calls are waiting; retry later",
      ]);
      expect(answers.filter((answer) => answer.isError === undefined)).toHaveLength(1);
      expect(pool.stats()).toMatchObject({ queueFull: 1, overBudget: 1, queued: 0 });
    } finally {
      await server.close();
    }
  });

  it("cancels a running call when the server closes", async () => {
    const server = await startTestToolServer([spinTool], {
      workers: { threads: 1, budgetMs: 60_000, maxQueue: 4 },
    });
    const pool = poolOf(server);
    const started = once(pool.events, "started");
    const settled = once(pool.events, "settled") as Promise<[WorkerRun]>;
    const req = startRawCall(server, "spin", { ms: -1 });
    await started;
    await server.server.close({ graceMs: 50 });
    req.destroy();
    expect((await settled)[0]).toEqual({ ok: false, reason: "cancelled" });
  });
});

describe("threads on demand", () => {
  it("starts no thread before a call, only the threads calls need, and ends them once idle", async () => {
    const server = await startTestToolServer([spinTool, threadTool], {
      workers: { threads: 2, budgetMs: 60_000, maxQueue: 4, idleTimeoutMs: 1_000 },
    });
    try {
      const pool = poolOf(server);
      expect(pool.stats().threads).toBe(0);
      const exited = once(pool.events, "exited") as Promise<[ThreadExit]>;
      const firstThread = await threadOf(server);
      // One call needs one thread, although the pool may have two.
      expect(pool.stats().threads).toBe(1);
      const [exit] = await exited;
      expect(exit).toEqual({ threadId: firstThread, reason: "idle" });
      expect(pool.stats()).toMatchObject({ threads: 0, terminated: 0 });
      // The next call starts a fresh thread.
      expect(await threadOf(server)).not.toBe(firstThread);
      expect(pool.stats().threads).toBe(1);
    } finally {
      await server.close();
    }
  });

  it("keeps a busy thread and counts a stopped one as terminated, not idle", async () => {
    const server = await startTestToolServer([spinTool, threadTool], {
      workers: { threads: 1, budgetMs: 1_000, maxQueue: 4, idleTimeoutMs: 100 },
    });
    try {
      const pool = poolOf(server);
      const exited = once(pool.events, "exited") as Promise<[ThreadExit]>;
      // Spins far beyond the idle timeout: a thread with a call is never idle.
      const result = await callToolSigned(server.mcpUrl, server.signing, "spin", { ms: -1 });
      expect(textOf(result)).toMatch(/exceeded its time budget of 1000 ms/);
      const [exit] = await exited;
      expect(exit.reason).toBe("terminated");
      expect(pool.stats()).toMatchObject({ overBudget: 1, terminated: 1 });
    } finally {
      await server.close();
    }
  });

  it("does not charge a thread's start to the first call's budget", async () => {
    const server = await startTestToolServer([spinTool], {
      workers: { threads: 1, budgetMs: 300, maxQueue: 4, idleTimeoutMs: 0 },
    });
    try {
      const pool = poolOf(server);
      // Idle timeout 0: every call starts a thread, loading the tool modules (well over 300 ms
      // under vitest), and only then the budget starts.
      for (let i = 0; i < 2; i++) {
        const exited = once(pool.events, "exited") as Promise<[ThreadExit]>;
        const result = await callToolSigned(server.mcpUrl, server.signing, "spin", { ms: 10 });
        expect(result.isError).toBeUndefined();
        expect((await exited)[0].reason).toBe("idle");
      }
      expect(pool.stats()).toMatchObject({ completed: 2, overBudget: 0, threads: 0 });
    } finally {
      await server.close();
    }
  });
});

describe("pool settings", () => {
  it.each([
    [1, 1],
    [2, 1],
    [4, 2],
    [8, 4],
    [64, 4],
  ])("uses %i cores as %i threads by default", (cores, threads) => {
    expect(defaultWorkerThreads(cores)).toBe(threads);
  });

  it("reads the prefixed variables, blank meaning unset", () => {
    expect(
      parseWorkerPoolEnv(
        { DOCS_WORKER_THREADS: "3", DOCS_WORKER_BUDGET_MS: "1500", DOCS_WORKER_MAX_QUEUE: "" },
        { prefix: "DOCS", defaultBudgetMs: 30_000 },
      ),
    ).toEqual({
      ok: true,
      settings: { threads: 3, budgetMs: 1500, maxQueue: 64, idleTimeoutMs: 30_000 },
    });
    expect(parseWorkerPoolEnv({}, { prefix: "CALCULATOR", defaultBudgetMs: 8000 })).toEqual({
      ok: true,
      settings: {
        threads: defaultWorkerThreads(),
        budgetMs: 8000,
        maxQueue: 64,
        idleTimeoutMs: 30_000,
      },
    });
    expect(
      parseWorkerPoolEnv(
        { DOCS_WORKER_IDLE_TIMEOUT_MS: "0" },
        { prefix: "DOCS", defaultBudgetMs: 30_000 },
      ),
    ).toMatchObject({ ok: true, settings: { idleTimeoutMs: 0 } });
  });

  it.each([
    [{ DOCS_WORKER_THREADS: "0" }, "DOCS_WORKER_THREADS: DOCS_WORKER_THREADS must be at least 1"],
    [
      { DOCS_WORKER_THREADS: "two" },
      "DOCS_WORKER_THREADS: DOCS_WORKER_THREADS must be a whole number",
    ],
    [
      { DOCS_WORKER_BUDGET_MS: "50" },
      "DOCS_WORKER_BUDGET_MS: DOCS_WORKER_BUDGET_MS must be at least 100",
    ],
    [
      { DOCS_WORKER_MAX_QUEUE: "-1" },
      "DOCS_WORKER_MAX_QUEUE: DOCS_WORKER_MAX_QUEUE must be a whole number",
    ],
    [
      { DOCS_WORKER_IDLE_TIMEOUT_MS: "1e3" },
      "DOCS_WORKER_IDLE_TIMEOUT_MS: DOCS_WORKER_IDLE_TIMEOUT_MS must be a whole number",
    ],
    [
      { DOCS_WORKER_IDLE_TIMEOUT_MS: "86400001" },
      "DOCS_WORKER_IDLE_TIMEOUT_MS: DOCS_WORKER_IDLE_TIMEOUT_MS must be at most 86400000",
    ],
  ])("refuses %j", (env, problem) => {
    expect(parseWorkerPoolEnv(env, { prefix: "DOCS", defaultBudgetMs: 30_000 })).toEqual({
      ok: false,
      problems: [problem],
    });
  });
});
