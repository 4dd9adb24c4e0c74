import { once } from "node:events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTaskStore } from "../../store/src/task-store.ts";
import { startRouter, type RouterHandle, type StartRouterOptions } from "../src/router.ts";
import type { TaskRow } from "../../store/src/schema.ts";
import {
  openSession,
  quietLogger,
  startRouterFixture,
  TOOL_SECRET,
  VERDICT_KEY,
  type RouterFixture,
} from "./router-harness.ts";
import {
  eventually,
  expectTaskShape,
  legacyCall,
  legacyRpc,
  tasksConfig,
} from "./tasks-harness.ts";

/**
 * Several router replicas on one database: any replica answers for any task, a cancel reaches the
 * replica running the call, a stopped or dead replica's tasks end as failed, never stuck.
 */

// Fast heartbeats and sweeps, but a lease long enough to survive event-loop stalls while 200 tasks
// run on a loaded CI machine (a live replica must never lose its own tasks); the dead-replica
// test gives its orphan a 200 ms lease of its own.
const TIMING = { leaseMs: 5_000, heartbeatMs: 50, sweepIntervalMs: 100 };

let fixture: RouterFixture;
let replicaB: RouterHandle;

function startReplica(replicaId: string): Promise<RouterHandle> {
  const options: StartRouterOptions = {
    config: fixture.config,
    db: fixture.database.db,
    audit: fixture.audit,
    callJournal: fixture.callJournal,
    logger: quietLogger,
    authz: { mode: "envoy" },
    verdictKey: VERDICT_KEY,
    toolSecret: TOOL_SECRET,
    port: 0,
    tasks: { ...TIMING, replicaId },
  };
  return startRouter(options);
}

beforeAll(async () => {
  fixture = await startRouterFixture({
    config: (url) => tasksConfig(url),
    router: { tasks: { ...TIMING, replicaId: "replica-a" } },
  });
  replicaB = await startReplica("replica-b");
});
afterAll(async () => {
  await replicaB.close();
  await fixture.close();
});

const endpointOf = (router: RouterHandle) => `${router.url}/calc/mcp`;

async function createTask(
  router: RouterHandle,
  sessionId: string,
  args: Record<string, unknown>,
): Promise<string> {
  const answer = await legacyCall(endpointOf(router), sessionId, "tools/call", {
    name: "slow",
    arguments: args,
    task: {},
  });
  const task = answer.result?.task;
  expectTaskShape(task);
  return task.taskId as string;
}

function nextStatus(router: RouterHandle, taskId: string, status: string): Promise<TaskRow> {
  return new Promise((resolve) => {
    const stop = router.tasks.onChange(taskId, (task) => {
      if (task.status !== status) return;
      stop();
      resolve(task);
    });
  });
}

describe("tasks across replicas", () => {
  it("lets any replica read a task and wait for its result", async () => {
    const sessionA = await openSession(endpointOf(fixture.router));
    const taskId = await createTask(fixture.router, sessionA, { ms: 300 });
    // Sessions are signed, so the same session id is valid on replica B.
    const onB = await legacyCall(endpointOf(replicaB), sessionA, "tasks/get", { taskId });
    expect(onB.result).toMatchObject({ taskId, status: "working" });
    const messages = await legacyRpc(endpointOf(replicaB), sessionA, "tasks/result", { taskId });
    expect(messages.at(-1)?.result).toMatchObject({ content: [{ type: "text", text: "done" }] });
  });

  it("cancels on one replica and aborts the backend call running on another", async () => {
    const session = await openSession(endpointOf(fixture.router));
    const called = once(fixture.backend.events, "call");
    const taskId = await createTask(fixture.router, session, { ms: 60_000 });
    await called;
    const aborted = once(fixture.backend.events, "client-closed");
    const cancelled = await legacyCall(endpointOf(replicaB), session, "tasks/cancel", { taskId });
    expect(cancelled.result).toMatchObject({ status: "cancelled" });
    // Replica A's next heartbeat finds its lease gone and stops the call.
    await aborted;
  });

  it("fails the tasks of a stopped router; a restarted one serves them as failed", async () => {
    const replicaC = await startReplica("replica-c");
    const session = await openSession(endpointOf(replicaC));
    const called = once(fixture.backend.events, "call");
    const taskId = await createTask(replicaC, session, { ms: 60_000 });
    await called;
    await replicaC.close();

    const seenOnB = await legacyCall(endpointOf(replicaB), session, "tasks/get", { taskId });
    expect(seenOnB.result).toMatchObject({
      status: "failed",
      statusMessage: expect.stringMatching(/stopped/),
    });
    const restarted = await startReplica("replica-c");
    try {
      const seen = await legacyCall(endpointOf(restarted), session, "tasks/result", { taskId });
      expect(seen.error).toMatchObject({ code: -32603, data: { code: "GW_INTERNAL" } });
    } finally {
      await restarted.close();
    }
    const rows = (await fixture.auditRows({ kind: "task" })).filter((r) => r.task_id === taskId);
    expect(rows.map((r) => [r.outcome, r.reason])).toContainEqual(["failed", "shutdown"]);
  });

  it("fails a dead replica's task once its lease expires (any live replica's sweeper)", async () => {
    const store = createTaskStore(fixture.database.db);
    // A replica that died right after creating the task: its lease is never renewed.
    const orphan = await store.create({
      id: "orphan-task-0123456789abcdefghij",
      owner: { subject: "alice", tenant: "acme" },
      scope: "calc",
      tool: "slow",
      ttlMs: 60_000,
      requestId: "req-orphan",
      lease: { owner: "replica-dead", ms: 200 },
    });
    // Whichever live replica's sweeper runs first fails it; each announces only its own change.
    const failed = await Promise.race([
      nextStatus(replicaB, orphan.id, "failed"),
      nextStatus(fixture.router, orphan.id, "failed"),
    ]);
    expect(failed.error).toMatchObject({ code: -32603 });
    const session = await openSession(endpointOf(replicaB));
    const seen = await legacyCall(endpointOf(replicaB), session, "tasks/get", {
      taskId: orphan.id,
    });
    expect(seen.result).toMatchObject({ status: "failed" });
    const rows = (await fixture.auditRows({ kind: "task" })).filter((r) => r.task_id === orphan.id);
    expect(rows.map((r) => [r.outcome, r.reason])).toEqual([["failed", "lease_expired"]]);
  });

  it("runs 200 concurrent tasks to completion", async () => {
    const session = await openSession(endpointOf(fixture.router));
    const ids = await Promise.all(
      Array.from({ length: 200 }, () => createTask(fixture.router, session, { ms: 50 })),
    );
    expect(new Set(ids).size).toBe(200);
    const results = await Promise.all(
      ids.map((taskId) =>
        legacyCall(endpointOf(fixture.router), session, "tasks/result", { taskId }),
      ),
    );
    for (const result of results) {
      expect(result.result).toMatchObject({ content: [{ type: "text", text: "done" }] });
    }
    const rows = await fixture.database.db
      .selectFrom("tasks")
      .select(["status"])
      .where("id", "in", ids)
      .execute();
    expect(rows.filter((row) => row.status === "completed")).toHaveLength(200);
    await eventually(
      async () => (fixture.router.tasks.runningCount() === 0 ? true : undefined),
      "the runner to be idle",
    );
  }, 60_000);
});
