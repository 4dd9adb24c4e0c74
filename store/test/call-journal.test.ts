import pg from "pg";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createAuditWriter, type AuditEvent, type AuditWriter } from "../src/audit-writer.ts";
import { openCallJournal, type CallJournal } from "../src/call-journal.ts";
import { backends, requirePostgresInCi, type TestDatabase } from "./test-databases.ts";

requirePostgresInCi();

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const LOCK_NAMESPACE = 0x4d435047;

const start = (n: number): AuditEvent => ({
  request_id: `req-${n}`,
  source: "router",
  kind: "invocation",
  subject: "alice",
  tenant: "acme",
  roles: ["developer"],
  scope: "calculator",
  method: "tools/call",
  tool: "exact_calculate",
  outcome: "started",
  arguments_digest: "cd".repeat(32),
});

describe.each(backends)("call journal on $name", (backend) => {
  let database: TestDatabase;
  let writer: AuditWriter;
  const journals: CallJournal[] = [];

  const open = async () => {
    const journal = await openCallJournal(database, {
      logger: quiet,
      reconcileIntervalMs: 0,
      livenessCheckMs: 50,
    });
    journals.push(journal);
    return journal;
  };
  const interrupted = () =>
    database.db
      .selectFrom("audit_events")
      .select(["request_id", "outcome", "reason", "subject", "tool", "arguments_digest", "status"])
      .where("outcome", "=", "interrupted")
      .orderBy("request_id")
      .execute();
  const startsLeft = async () =>
    (await database.db.selectFrom("audit_call_starts").select("call_id").execute()).map(
      (row) => row.call_id,
    );

  beforeEach(async () => {
    database = await backend.open({ migrated: true });
    writer = createAuditWriter({ db: database.db, logger: quiet });
  });

  afterEach(async () => {
    for (const journal of journals.splice(0)) await journal.close();
    await writer.close();
    await database.close();
  });

  it("marks the calls of a router that is gone interrupted when the next one starts, once", async () => {
    await writer.begin(start(1), { id: "call-1", instance: "router-gone" });
    await writer.begin(start(2), { id: "call-2", instance: "router-gone" });
    await writer.begin(start(3), { id: "call-3", instance: "router-gone" });
    await writer.commit({ ...start(3), outcome: "ok", status: 200 }, { completes: "call-3" });

    const journal = await open();
    expect(await startsLeft()).toEqual([]);
    expect(await interrupted()).toEqual([
      {
        request_id: "req-1",
        outcome: "interrupted",
        reason: "interrupted",
        subject: "alice",
        tool: "exact_calculate",
        arguments_digest: "cd".repeat(32),
        status: null,
      },
      expect.objectContaining({ request_id: "req-2", outcome: "interrupted" }),
    ]);
    expect(await journal.reconcile()).toBe(0);
    expect(await interrupted()).toHaveLength(2);
  });

  it("leaves its own calls in progress alone and marks them on close only if still open", async () => {
    const journal = await open();
    await writer.begin(start(1), { id: "call-1", instance: journal.instance });
    await writer.begin(start(2), { id: "call-2", instance: journal.instance });
    expect(await journal.reconcile()).toBe(0);
    await writer.commit({ ...start(1), outcome: "ok", status: 200 }, { completes: "call-1" });

    await journals.pop()?.close();
    expect(await startsLeft()).toEqual([]);
    expect((await interrupted()).map((row) => row.request_id)).toEqual(["req-2"]);
  });

  it.runIf(backend.name === "postgres")(
    "never touches the calls of a router that is alive, and takes them once it is gone",
    async () => {
      // The advisory locks of the database the journal is on.
      const url = database.url;
      const live = new pg.Client({ connectionString: url });
      await live.connect();
      await live.query("select pg_advisory_lock($1, hashtext($2))", [
        LOCK_NAMESPACE,
        "router-live",
      ]);
      await writer.begin(start(1), { id: "call-1", instance: "router-live" });

      const journal = await open();
      expect(await journal.reconcile()).toBe(0);
      expect(await startsLeft()).toEqual(["call-1"]);

      // The live router dies: its session ends and the server releases its lock.
      await live.end();
      const witness = new pg.Client({ connectionString: url });
      await witness.connect();
      try {
        // Blocks until the dead session's lock is gone: no sleeping.
        await witness.query("select pg_advisory_lock($1, hashtext($2))", [
          LOCK_NAMESPACE,
          "router-live",
        ]);
        await witness.query("select pg_advisory_unlock($1, hashtext($2))", [
          LOCK_NAMESPACE,
          "router-live",
        ]);
      } finally {
        await witness.end();
      }
      expect(await journal.reconcile()).toBe(1);
      expect((await interrupted()).map((row) => row.request_id)).toEqual(["req-1"]);
    },
  );

  it.runIf(backend.name === "postgres")(
    "two routers on one database see each other alive",
    async () => {
      const first = await open();
      const second = await open();
      expect(first.instance).not.toBe(second.instance);
      await writer.begin(start(1), { id: "call-1", instance: first.instance });
      await writer.begin(start(2), { id: "call-2", instance: second.instance });
      expect(await first.reconcile()).toBe(0);
      expect(await second.reconcile()).toBe(0);
      expect((await startsLeft()).sort()).toEqual(["call-1", "call-2"]);
    },
  );
});
