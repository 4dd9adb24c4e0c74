import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Database } from "../src/open-database.ts";
import {
  createTaskStore,
  InvalidCursorError,
  type TaskOwner,
  type TaskStore,
} from "../src/task-store.ts";
import { backends, requirePostgresInCi } from "./test-databases.ts";

requirePostgresInCi();

const alice = { subject: "alice", tenant: "acme" };
const aliceOtherTenant = { subject: "alice", tenant: "globex" };
const bob = { subject: "bob", tenant: null };
const at = (seconds: number) => new Date(Date.UTC(2026, 10, 25, 10, 0, seconds));

describe.each(backends)("task store on $name", (backend) => {
  let database: Database;
  let tasks: TaskStore;
  beforeEach(async () => {
    database = await backend.open({ migrated: true });
    tasks = createTaskStore(database.db);
  });
  afterEach(async () => {
    await database.close();
  });

  const create = (
    owner: TaskOwner = alice,
    seconds = 0,
    extra: { id?: string; ttlMs?: number } = {},
  ) =>
    tasks.create({
      owner,
      scope: "docs",
      tool: "generate_document",
      ttlMs: extra.ttlMs ?? 60_000,
      pollIntervalMs: 1000,
      request: { name: "generate_document", arguments: { title: "T", items: [1, 2] } },
      requestId: "req-1",
      now: at(seconds),
      ...(extra.id ? { id: extra.id } : {}),
    });

  it("creates a working task with an unguessable id, visible to its owner only", async () => {
    const task = await create();
    expect(task).toMatchObject({
      owner_subject: "alice",
      owner_tenant: "acme",
      status: "working",
      created_at: at(0),
      updated_at: at(0),
      ttl_ms: 60_000,
      expires_at: at(60),
      poll_interval_ms: 1000,
      request: { name: "generate_document", arguments: { title: "T", items: [1, 2] } },
      result: null,
      request_id: "req-1",
    });
    expect(task.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(await tasks.get(task.id, alice)).toEqual(task);
    expect(await tasks.get(task.id, aliceOtherTenant)).toBeUndefined();
    expect(await tasks.get(task.id, bob)).toBeUndefined();
    expect(await tasks.getById(task.id)).toEqual(task);
    const bobs = await create(bob);
    expect(bobs.owner_tenant).toBe("");
    expect(await tasks.get(bobs.id, { subject: "bob" })).toEqual(bobs);
  });

  it("lists an owner's tasks newest first, page by page", async () => {
    for (let n = 0; n < 5; n += 1) await create(alice, n, { id: `task-${n}` });
    await create(alice, 2, { id: "task-2b" });
    await create(bob, 9);
    const first = await tasks.list(alice, { limit: 4 });
    expect(first.tasks.map((task) => task.id)).toEqual(["task-4", "task-3", "task-2b", "task-2"]);
    expect(first.nextCursor).toBeDefined();
    const second = await tasks.list(alice, { limit: 4, cursor: first.nextCursor! });
    expect(second.tasks.map((task) => task.id)).toEqual(["task-1", "task-0"]);
    expect(second.nextCursor).toBeUndefined();
    expect((await tasks.list(bob)).tasks).toHaveLength(1);
    await expect(tasks.list(alice, { cursor: "not-a-cursor" })).rejects.toBeInstanceOf(
      InvalidCursorError,
    );
    await expect(
      tasks.list(alice, { cursor: Buffer.from('["x","y"]').toString("base64url") }),
    ).rejects.toBeInstanceOf(InvalidCursorError);
  });

  it("moves through statuses and never leaves a terminal one", async () => {
    const task = await create();
    expect(
      await tasks.updateStatus(task.id, {
        status: "input_required",
        statusMessage: "need input",
        now: at(1),
      }),
    ).toMatchObject({ status: "input_required", status_message: "need input", updated_at: at(1) });
    const done = await tasks.complete(task.id, {
      result: { content: [{ type: "text", text: "ok" }] },
      now: at(2),
    });
    expect(done).toMatchObject({
      status: "completed",
      result: { content: [{ type: "text", text: "ok" }] },
    });
    expect(await tasks.fail(task.id, { error: { code: "late" } })).toBeUndefined();
    expect(await tasks.updateStatus(task.id, { status: "working" })).toBeUndefined();
    expect(await tasks.cancel(task.id, alice)).toEqual({ ok: false, reason: "terminal" });
    expect(await tasks.cancel("missing", alice)).toEqual({ ok: false, reason: "not_found" });

    const failed = await create();
    expect(
      await tasks.fail(failed.id, { error: { code: "upstream" }, statusMessage: "backend failed" }),
    ).toMatchObject({
      status: "failed",
      error: { code: "upstream" },
      status_message: "backend failed",
    });
  });

  it("cancels only for the owner, and a cancelled task cannot complete", async () => {
    const task = await create();
    expect(await tasks.cancel(task.id, bob)).toEqual({ ok: false, reason: "not_found" });
    const cancelled = await tasks.cancel(task.id, alice, at(5));
    expect(cancelled).toMatchObject({ ok: true, task: { status: "cancelled", updated_at: at(5) } });
    expect(await tasks.complete(task.id, { result: {} })).toBeUndefined();
  });

  it("leases: claim, heartbeat, expiry and takeover", async () => {
    const task = await create();
    expect(await tasks.claim(task.id, "worker-a", 10_000, at(1))).toBe(true);
    expect(await tasks.claim(task.id, "worker-b", 10_000, at(2))).toBe(false);
    expect(await tasks.heartbeat(task.id, "worker-a", 10_000, at(5))).toBe(true);
    expect(await tasks.heartbeat(task.id, "worker-b", 10_000, at(5))).toBe(false);
    expect(await tasks.failExpiredLeases(at(10))).toEqual([]);
    // worker-a stopped renewing: its lease ran out at 15s.
    expect(await tasks.heartbeat(task.id, "worker-a", 10_000, at(16))).toBe(false);
    expect(await tasks.claim(task.id, "worker-b", 10_000, at(16))).toBe(true);
    expect(await tasks.getById(task.id)).toMatchObject({
      lease_owner: "worker-b",
      lease_expires_at: at(26),
    });

    const other = await create();
    await tasks.claim(other.id, "worker-c", 1000, at(1));
    expect((await tasks.failExpiredLeases(at(20))).map((row) => row.id)).toEqual([other.id]);
    expect(await tasks.getById(other.id)).toMatchObject({
      status: "failed",
      error: { code: "lease_expired" },
      lease_owner: null,
    });
    expect(await tasks.getById(task.id)).toMatchObject({ status: "working" });
    expect(await tasks.claim(other.id, "worker-d", 1000, at(21))).toBe(false);
  });

  it("creates a task already leased, renews a worker's leases at once, and fails lost ones", async () => {
    const leased = await tasks.create({
      owner: alice,
      scope: "docs",
      tool: "generate_document",
      ttlMs: 60_000,
      lease: { owner: "worker-a", ms: 5000 },
      now: at(0),
    });
    expect(leased).toMatchObject({ lease_owner: "worker-a", lease_expires_at: at(5) });
    const second = await tasks.create({
      owner: bob,
      scope: "docs",
      tool: "generate_document",
      ttlMs: 60_000,
      lease: { owner: "worker-a", ms: 5000 },
      now: at(0),
    });
    const foreign = await create();
    await tasks.claim(foreign.id, "worker-b", 5000, at(0));
    await tasks.cancel(second.id, bob, at(1));
    expect(
      (
        await tasks.heartbeatMany([leased.id, second.id, foreign.id], "worker-a", 5000, at(4))
      ).sort(),
    ).toEqual([leased.id]);
    expect(await tasks.heartbeatMany([], "worker-a", 5000, at(4))).toEqual([]);
    expect(await tasks.getById(leased.id)).toMatchObject({ lease_expires_at: at(9) });
    const failed = await tasks.failExpiredLeases(at(6), { code: -32603, message: "stopped" });
    expect(failed.map((row) => row.id)).toEqual([foreign.id]);
    expect(failed[0]).toMatchObject({
      status: "failed",
      error: { code: -32603, message: "stopped" },
    });
    // A lease that expired without being taken away is renewed by its worker.
    expect(await tasks.heartbeatMany([leased.id], "worker-a", 5000, at(20))).toEqual([leased.id]);
  });

  it("filters an owner's list by scope", async () => {
    await create(alice, 0, { id: "in-docs" });
    await tasks.create({
      id: "in-calc",
      owner: alice,
      scope: "calculator",
      tool: "add",
      ttlMs: 60_000,
      now: at(1),
    });
    expect((await tasks.list(alice, { scope: "calculator" })).tasks.map((t) => t.id)).toEqual([
      "in-calc",
    ]);
    expect((await tasks.list(alice)).tasks).toHaveLength(2);
  });

  it("purges tasks past their ttl", async () => {
    const short = await create(alice, 0, { ttlMs: 1000 });
    const long = await create(alice, 0, { ttlMs: 100_000 });
    expect(await tasks.purgeExpired(at(0))).toBe(0);
    expect(await tasks.purgeExpired(at(2))).toBe(1);
    expect(await tasks.getById(short.id)).toBeUndefined();
    expect(await tasks.getById(long.id)).toBeDefined();
  });
});
