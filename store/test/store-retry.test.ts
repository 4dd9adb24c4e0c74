import type { Kysely } from "kysely";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Database } from "../src/open-database.ts";
import {
  listRegistryHistory,
  recordObservedDefinition,
  syncRegistry,
  type RegistrySource,
} from "../src/registry.ts";
import type { DB } from "../src/schema.ts";
import { createTaskStore, type TaskStore } from "../src/task-store.ts";
import { adminShutdown, checkViolation, connectionLost, FaultPlugin } from "./fault-plugin.ts";
import { backends, requirePostgresInCi } from "./test-databases.ts";

requirePostgresInCi();

const owner = { subject: "alice", tenant: "acme" };
const at = (seconds: number) => new Date(Date.UTC(2026, 10, 25, 10, 0, seconds));
const fast = { initialDelayMs: 1, maxDelayMs: 2 };
const source: RegistrySource = {
  scopes: {
    calculator: {
      tools: [
        { name: "exact_calculate", enabled: true },
        { name: "statistics", enabled: true },
      ],
    },
  },
};

describe.each(backends)("store writes under connection faults on $name", (backend) => {
  let database: Database;
  let faults: FaultPlugin;
  let db: Kysely<DB>;
  let tasks: TaskStore;

  beforeEach(async () => {
    database = await backend.open({ migrated: true });
    faults = new FaultPlugin();
    db = database.db.withPlugin(faults);
    tasks = createTaskStore(db, { retry: fast });
  });
  afterEach(async () => {
    await database.close();
  });

  const create = (now = at(0)) =>
    tasks.create({
      owner,
      scope: "docs",
      tool: "generate_document",
      ttlMs: 60_000,
      lease: { owner: "replica-1", ms: 1_000 },
      now,
    });
  const taskCount = async () => (await db.selectFrom("tasks").select("id").execute()).length;

  describe("task store", () => {
    it("retries a read after the connection was terminated", async () => {
      const task = await create();
      faults.fail("SelectQueryNode", "before", adminShutdown, 2);
      expect(await tasks.get(task.id, owner)).toMatchObject({ id: task.id });
      expect(faults.count("SelectQueryNode")).toBe(3);
    });

    it("returns the task once when the answer to its creation was lost", async () => {
      faults.fail("InsertQueryNode", "after", connectionLost);
      const task = await create();
      expect(task).toMatchObject({ status: "working", owner_subject: "alice" });
      expect(faults.count("InsertQueryNode")).toBe(2);
      expect(await taskCount()).toBe(1);
    });

    it("reports a completion whose answer was lost as completed, not as already terminal", async () => {
      const task = await create();
      faults.fail("UpdateQueryNode", "after", adminShutdown);
      const done = await tasks.complete(task.id, { result: { ok: 1 }, now: at(5) });
      expect(done).toMatchObject({ id: task.id, status: "completed", result: { ok: 1 } });
      // A later completion of the same task is still refused.
      expect(await tasks.fail(task.id, { error: "late", now: at(6) })).toBeUndefined();
    });

    it("reports a cancellation whose answer was lost as done", async () => {
      const task = await create();
      faults.fail("UpdateQueryNode", "after", connectionLost);
      expect(await tasks.cancel(task.id, owner, at(5))).toMatchObject({
        ok: true,
        task: { status: "cancelled" },
      });
      expect(await tasks.cancel(task.id, owner, at(6))).toEqual({ ok: false, reason: "terminal" });
    });

    it("returns the tasks a lease sweep failed even when its answer was lost", async () => {
      const task = await create(at(0));
      faults.fail("UpdateQueryNode", "after", adminShutdown);
      const failed = await tasks.failExpiredLeases(at(10));
      expect(failed.map((row) => [row.id, row.status])).toEqual([[task.id, "failed"]]);
    });

    it("does not retry an error that retrying cannot fix", async () => {
      const task = await create();
      faults.fail("UpdateQueryNode", "before", checkViolation);
      await expect(tasks.complete(task.id, { result: 1 })).rejects.toMatchObject({
        code: "23514",
      });
      expect(faults.count("UpdateQueryNode")).toBe(1);
    });

    it("gives up after its attempts while the database stays away", async () => {
      const task = await create();
      const bounded = createTaskStore(db, { retry: { ...fast, attempts: 3 } });
      faults.fail("SelectQueryNode", "before", connectionLost, 10);
      await expect(bounded.getById(task.id)).rejects.toThrow("Connection terminated");
      expect(faults.count("SelectQueryNode")).toBe(3);
    });
  });

  describe("registry", () => {
    it("runs the sync transaction again after the connection was terminated in it", async () => {
      faults.fail("InsertQueryNode", "after", adminShutdown);
      const result = await syncRegistry(db, source, at(0), { retry: fast });
      expect(result.added).toEqual(["calculator.exact_calculate", "calculator.statistics"]);
      // The failed attempt was rolled back: each tool has one history row.
      expect((await listRegistryHistory(db)).map((row) => [row.name, row.event])).toEqual([
        ["exact_calculate", "added"],
        ["statistics", "added"],
      ]);
    });

    it("retries recording an observed definition", async () => {
      await syncRegistry(db, source, at(0));
      faults.fail("SelectQueryNode", "before", connectionLost);
      expect(
        await recordObservedDefinition(db, "calculator", "statistics", "d1", at(1), {
          retry: fast,
        }),
      ).toBe("first_seen");
    });

    it("does not retry an error that retrying cannot fix", async () => {
      faults.fail("SelectQueryNode", "before", checkViolation);
      await expect(syncRegistry(db, source, at(0), { retry: fast })).rejects.toMatchObject({
        code: "23514",
      });
      expect(faults.count("SelectQueryNode")).toBe(1);
    });
  });
});
