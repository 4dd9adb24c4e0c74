import type { Kysely } from "kysely";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  AuditQueueFullError,
  AuditWriterClosedError,
  createAuditWriter,
  type AuditEvent,
  type AuditWriter,
  type AuditWriterOptions,
} from "../src/audit-writer.ts";
import type { Database } from "../src/open-database.ts";
import type { DB } from "../src/schema.ts";
import { DbSpy } from "./db-spy.ts";
import { backends, requirePostgresInCi } from "./test-databases.ts";

requirePostgresInCi();

type LogCall = { level: "warn" | "error"; object: object; message: string };

function fakeLogger() {
  const calls: LogCall[] = [];
  return {
    calls,
    warn: (object: object, message: string) => calls.push({ level: "warn", object, message }),
    error: (object: object, message: string) => calls.push({ level: "error", object, message }),
  };
}

const event = (n: number, extra: Partial<AuditEvent> = {}): AuditEvent => ({
  request_id: `req-${n}`,
  source: "router",
  kind: "invocation",
  subject: "alice",
  tenant: "acme",
  roles: ["developer", "analyst"],
  scope: "calculator",
  method: "tools/call",
  tool: "exact_calculate",
  outcome: "ok",
  status: 200,
  latency_ms: 12.6,
  request_bytes: 120,
  response_bytes: 300,
  arguments_digest: "ab".repeat(32),
  ...extra,
});

async function storedRequestIds(db: Kysely<DB>): Promise<string[]> {
  const rows = await db.selectFrom("audit_events").select("request_id").orderBy("id").execute();
  return rows.map((row) => row.request_id);
}

describe.each(backends)("audit writer on $name", (backend) => {
  let database: Database;
  let spy: DbSpy;
  let db: Kysely<DB>;
  let logger: ReturnType<typeof fakeLogger>;
  const writers: AuditWriter[] = [];

  const newWriter = (options: Partial<AuditWriterOptions> = {}): AuditWriter => {
    const writer = createAuditWriter({
      db,
      logger,
      retry: { initialDelayMs: 1, maxDelayMs: 4 },
      ...options,
    });
    writers.push(writer);
    return writer;
  };

  beforeEach(async () => {
    database = await backend.open({ migrated: true });
    spy = new DbSpy();
    db = database.db.withPlugin(spy);
    logger = fakeLogger();
  });

  afterEach(async () => {
    spy.down = false;
    for (const writer of writers.splice(0)) await writer.close({ timeoutMs: 1000 });
    await database.close();
  });

  it("stores every field of an event", async () => {
    const writer = newWriter();
    const time = new Date("2026-11-25T10:00:00.123Z");
    await writer.write(
      event(1, { time, arguments: { a: [1, 2], b: "x" }, task_id: "t-1", reason: "ok" }),
    );
    await writer.write(
      event(2, {
        source: "ext-authz",
        kind: "decision",
        outcome: "denied",
        roles: [],
        tenant: null,
      }),
    );
    await writer.flush();
    const rows = await db.selectFrom("audit_events").selectAll().orderBy("id").execute();
    expect(rows[0]).toMatchObject({
      time,
      request_id: "req-1",
      source: "router",
      kind: "invocation",
      subject: "alice",
      tenant: "acme",
      roles: ["developer", "analyst"],
      scope: "calculator",
      method: "tools/call",
      tool: "exact_calculate",
      outcome: "ok",
      reason: "ok",
      status: 200,
      latency_ms: 13,
      request_bytes: 120,
      response_bytes: 300,
      arguments_digest: "ab".repeat(32),
      arguments: { a: [1, 2], b: "x" },
      task_id: "t-1",
    });
    expect(typeof rows[0]?.id).toBe("string");
    expect(rows[1]).toMatchObject({
      source: "ext-authz",
      outcome: "denied",
      roles: [],
      tenant: null,
      arguments: null,
    });
  });

  it("group-commits: rows queued together share transactions of at most batchSize", async () => {
    const writer = newWriter({ batchSize: 3 });
    for (let n = 1; n <= 7; n += 1) await writer.write(event(n));
    await writer.flush();
    expect(spy.insertedBatches).toEqual([3, 3, 1]);
    expect(writer.stats()).toMatchObject({ queued: 0, written: 7, commits: 3 });
    expect(await storedRequestIds(db)).toEqual([
      "req-1",
      "req-2",
      "req-3",
      "req-4",
      "req-5",
      "req-6",
      "req-7",
    ]);
  });

  it("rows that arrive while a transaction runs go together in the next one", async () => {
    const writer = newWriter({ batchSize: 100 });
    await writer.write(event(1));
    await spy.until(() => spy.attempts >= 1);
    for (let n = 2; n <= 5; n += 1) await writer.write(event(n));
    await writer.flush();
    expect(spy.insertedBatches).toEqual([1, 4]);
  });

  it("writes a lone row at once, with no timer to wait for", async () => {
    const writer = newWriter({ batchSize: 100 });
    await writer.write(event(1));
    await spy.until(() => writer.stats().written === 1);
    expect(spy.insertedBatches).toEqual([1]);
  });

  it("commit() resolves only once the row is in the database", async () => {
    const writer = newWriter();
    const seen: string[][] = [];
    await writer.commit(event(1)).then(async () => seen.push(await storedRequestIds(db)));
    expect(seen).toEqual([["req-1"]]);
  });

  it("begin() stores a call's start; its outcome removes it in the same transaction", async () => {
    const writer = newWriter();
    const call = { id: "call-1", instance: "router-a" };
    await writer.begin(event(1, { arguments: { x: 1 }, task_id: "t-9" }), call);
    const starts = await db.selectFrom("audit_call_starts").selectAll().execute();
    expect(starts).toEqual([
      expect.objectContaining({
        call_id: "call-1",
        instance: "router-a",
        request_id: "req-1",
        subject: "alice",
        roles: ["developer", "analyst"],
        tool: "exact_calculate",
        arguments: { x: 1 },
        task_id: "t-9",
      }),
    ]);
    expect(await storedRequestIds(db)).toEqual([]);

    await writer.commit(event(1), { completes: "call-1" });
    expect(await db.selectFrom("audit_call_starts").selectAll().execute()).toEqual([]);
    expect(await storedRequestIds(db)).toEqual(["req-1"]);
  });

  it("many callers waiting on commit() share transactions", async () => {
    const writer = newWriter();
    await Promise.all(Array.from({ length: 50 }, (_, n) => writer.commit(event(n))));
    expect(writer.stats().written).toBe(50);
    expect(writer.stats().commits).toBeLessThan(5);
  });

  it("commit() during an outage refuses the caller at its deadline and withdraws the row", async () => {
    const writer = newWriter({ waitTimeoutMs: 30 });
    spy.down = true;
    const refused = writer.commit(event(1));
    await expect(refused).rejects.toMatchObject({ name: "AuditNotStoredError", reason: "timeout" });
    expect(writer.stats()).toMatchObject({ queued: 0, rejected: 1 });
    spy.down = false;
    await writer.commit(event(2));
    // The refused row never appears later: the caller answered 503 for it.
    expect(await storedRequestIds(db)).toEqual(["req-2"]);
  });

  it("refuses callers queued at different times each at their own deadline", async () => {
    const waitMs = 150;
    const writer = newWriter({ waitTimeoutMs: waitMs });
    spy.down = true;
    const refusedAt = (promise: Promise<void>) =>
      promise.then(
        () => Number.NaN,
        (error: unknown) => {
          expect(error).toMatchObject({ name: "AuditNotStoredError", reason: "timeout" });
          return performance.now();
        },
      );
    const firstAt = performance.now();
    const first = refusedAt(writer.commit(event(1)));
    await spy.until(() => performance.now() - firstAt >= waitMs / 2);
    const secondAt = performance.now();
    const second = refusedAt(writer.commit(event(2)));
    const [firstRefused, secondRefused] = await Promise.all([first, second]);
    // Never before its own deadline; the second row does not expire with the first.
    expect(firstRefused - firstAt).toBeGreaterThanOrEqual(waitMs - 1);
    expect(secondRefused - secondAt).toBeGreaterThanOrEqual(waitMs - 1);
    expect(writer.stats()).toMatchObject({ queued: 0, rejected: 2 });
  });

  it("commit() with a full queue is refused at once", async () => {
    const writer = newWriter({ maxQueue: 2, waitTimeoutMs: 10_000 });
    spy.down = true;
    await writer.write(event(1));
    await writer.write(event(2));
    await expect(writer.commit(event(3))).rejects.toBeInstanceOf(AuditQueueFullError);
    await expect(
      writer.begin(event(4), { id: "call-4", instance: "router-a" }),
    ).rejects.toBeInstanceOf(AuditQueueFullError);
    spy.down = false;
    await writer.flush();
    expect(await storedRequestIds(db)).toEqual(["req-1", "req-2"]);
  });

  it("commit() of a row the database refuses rejects its caller only", async () => {
    const writer = newWriter();
    const results = await Promise.allSettled([
      writer.commit(event(1)),
      writer.commit(event(2, { source: "bogus" as AuditEvent["source"] })),
      writer.commit(event(3)),
    ]);
    expect(results.map((result) => result.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ reason: "rejected" });
    expect(await storedRequestIds(db)).toEqual(["req-1", "req-3"]);
  });

  it("flushes everything on close and refuses later writes", async () => {
    const writer = newWriter({ batchSize: 100 });
    spy.down = true;
    for (let n = 1; n <= 5; n += 1) await writer.write(event(n));
    await spy.until(() => writer.stats().retried >= 1);
    spy.down = false;
    await writer.close();
    expect(await storedRequestIds(db)).toHaveLength(5);
    await expect(writer.write(event(6))).rejects.toBeInstanceOf(AuditWriterClosedError);
  });

  it("keeps events through a database outage and writes all of them after recovery", async () => {
    const writer = newWriter({ batchSize: 4 });
    spy.down = true;
    for (let n = 1; n <= 10; n += 1) await writer.write(event(n));
    await spy.until(() => writer.stats().retried >= 3);
    expect(writer.stats()).toMatchObject({ queued: 10, written: 0, failed: 0 });
    expect(
      logger.calls.some((call) => call.level === "warn" && call.message.includes("will retry")),
    ).toBe(true);

    spy.down = false;
    await writer.flush();
    expect(writer.stats()).toMatchObject({ queued: 0, written: 10, failed: 0, rejected: 0 });
    expect(await storedRequestIds(db)).toEqual(
      Array.from({ length: 10 }, (_, i) => `req-${i + 1}`),
    );
  });

  it("makes callers wait when the queue is full, then rejects with AuditQueueFullError", async () => {
    const writer = newWriter({ batchSize: 2, maxQueue: 3, waitTimeoutMs: 30 });
    spy.down = true;
    for (let n = 1; n <= 3; n += 1) await writer.write(event(n));
    const refused = writer.write(event(4));
    await expect(refused).rejects.toBeInstanceOf(AuditQueueFullError);
    expect(writer.stats()).toMatchObject({ queued: 3, rejected: 1 });
    expect(
      logger.calls.some((call) => call.level === "error" && call.message.includes("queue full")),
    ).toBe(true);

    spy.down = false;
    await writer.flush();
    expect(await storedRequestIds(db)).toEqual(["req-1", "req-2", "req-3"]);
  });

  it("lets a waiting caller in as soon as the database recovers", async () => {
    const writer = newWriter({ batchSize: 2, maxQueue: 2, waitTimeoutMs: 10_000 });
    spy.down = true;
    await writer.write(event(1));
    await writer.write(event(2));
    let accepted = false;
    const waiting = writer.write(event(3)).then(() => {
      accepted = true;
    });
    await spy.until(() => writer.stats().retried >= 1);
    expect(accepted).toBe(false);
    expect(writer.stats().waiting).toBe(1);
    spy.down = false;
    await waiting;
    await writer.close();
    expect(await storedRequestIds(db)).toEqual(["req-1", "req-2", "req-3"]);
    expect(writer.stats()).toMatchObject({ written: 3, rejected: 0, failed: 0 });
  });

  it("counts and logs an event the database rejects without losing the rest of its batch", async () => {
    const writer = newWriter({ batchSize: 10 });
    await writer.write(event(1));
    await writer.write(event(2, { source: "bogus" as AuditEvent["source"] }));
    await writer.write(event(3));
    await writer.flush();
    expect(await storedRequestIds(db)).toEqual(["req-1", "req-3"]);
    expect(writer.stats()).toMatchObject({ written: 2, failed: 1 });
    const logged = logger.calls.find(
      (call) => call.message === "audit event rejected by the database",
    );
    expect(logged?.object).toMatchObject({ event: { requestId: "req-2" } });
  });

  it("stores events whose text or arguments hold NUL or lone surrogates instead of losing them", async () => {
    const writer = newWriter();
    const nul = "\u0000";
    const lone = "\ud800";
    await writer.write(
      event(1, {
        subject: `ali${nul}ce`,
        tenant: `ac${lone}me`,
        roles: [`dev${nul}`, `x${"\udc00"}`],
        scope: `calc${nul}`,
        method: `tools/call${lone}`,
        tool: `add${nul}${lone}`,
        reason: `r${nul}`,
        task_id: `t${lone}`,
        arguments: {
          text: `a${nul}b`,
          half: `c${lone}d`,
          [`k${nul}ey`]: [`v${"\udfff"}`, { [`in${lone}ner`]: nul }],
          pair: "\ud83d\ude00",
        },
      }),
    );
    await writer.write(event(2, { request_id: `req-${nul}2`, arguments: `${nul}${lone}` }));
    await writer.flush();
    expect(writer.stats()).toMatchObject({ written: 2, failed: 0 });
    const rows = await db.selectFrom("audit_events").selectAll().orderBy("id").execute();
    const r = "\uFFFD";
    expect(rows[0]).toMatchObject({
      subject: `ali${r}ce`,
      tenant: `ac${r}me`,
      roles: [`dev${r}`, `x${r}`],
      scope: `calc${r}`,
      method: `tools/call${r}`,
      tool: `add${r}${r}`,
      reason: `r${r}`,
      task_id: `t${r}`,
      arguments: {
        text: `a${r}b`,
        half: `c${r}d`,
        [`k${r}ey`]: [`v${r}`, { [`in${r}ner`]: r }],
        pair: "\ud83d\ude00",
      },
    });
    expect(rows[1]).toMatchObject({ request_id: `req-${r}2`, arguments: `${r}${r}` });
  });

  it("stores roles and text that look like array-literal or JSON syntax exactly as given", async () => {
    const writer = newWriter();
    const roles = ['quote"d', "back\\slash", "com,ma", "{braces}", "NULL", "", " spaced "];
    const tricky = 'a "b" \\c {d,e} NULL';
    const call = { id: 'call-"1"', instance: "router-{a}" };
    await writer.begin(event(1, { roles, subject: tricky, arguments: { k: tricky } }), call);
    const [start] = await db.selectFrom("audit_call_starts").selectAll().execute();
    expect(start).toMatchObject({
      call_id: call.id,
      instance: call.instance,
      roles,
      subject: tricky,
    });
    expect(start?.arguments).toEqual({ k: tricky });

    await writer.commit(event(1, { roles, subject: tricky, reason: tricky }), {
      completes: call.id,
    });
    const rows = await db.selectFrom("audit_events").selectAll().execute();
    expect(rows).toEqual([
      expect.objectContaining({ roles, subject: tricky, reason: tricky, status: 200 }),
    ]);
    expect(await db.selectFrom("audit_call_starts").selectAll().execute()).toEqual([]);
  });

  it("when close gives up on a database that stays down, counts and logs what is lost", async () => {
    const writer = newWriter({ batchSize: 10 });
    spy.down = true;
    for (let n = 1; n <= 4; n += 1) await writer.write(event(n));
    await writer.close({ timeoutMs: 30 });
    expect(writer.stats()).toMatchObject({ queued: 0, written: 0, failed: 4 });
    const logged = logger.calls.find((call) => call.level === "error" && "lost" in call.object);
    expect(logged?.object).toMatchObject({ lost: 4 });
  });
});
