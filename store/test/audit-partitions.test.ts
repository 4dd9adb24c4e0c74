import { Migrator, sql, type Kysely } from "kysely";
import { describe, expect, it } from "vitest";
import { migrations } from "../../migrations/index.ts";
import {
  dropExpiredAuditPartitions,
  ensureAuditPartitions,
  expiredAuditPartitions,
  listAuditPartitions,
  partitionName,
} from "../src/audit-partitions.ts";
import { migrateDown, migrateToLatest } from "../src/migrate.ts";
import { pruneAuditEvents } from "../src/audit-query.ts";
import type { DB, NewAuditEventRow } from "../src/schema.ts";
import { backends, requirePostgresInCi } from "./test-databases.ts";

requirePostgresInCi();

const PARTITIONING = "2026-11-30T0006-partition-audit-events-by-month";
const utc = (year: number, month: number, day = 1) => new Date(Date.UTC(year, month - 1, day));

function event(time: Date, request = `req-${time.toISOString()}`): NewAuditEventRow {
  return { time, request_id: request, source: "router", kind: "invocation", outcome: "ok" };
}

async function insert(db: Kysely<DB>, ...times: Date[]): Promise<void> {
  await db
    .insertInto("audit_events")
    .values(times.map((time) => event(time)))
    .execute();
}

/** Which partition holds each row (tableoid), by request id. */
async function placement(db: Kysely<DB>): Promise<Record<string, string>> {
  const { rows } = await sql<{ request_id: string; partition: string }>`
    select request_id, tableoid::regclass::text as partition from audit_events`.execute(db);
  return Object.fromEntries(rows.map((row) => [row.request_id, row.partition]));
}

async function count(db: Kysely<DB>): Promise<number> {
  const row = await db
    .selectFrom("audit_events")
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

describe("partitionName", () => {
  it("names a month by its UTC year and month", () => {
    expect(partitionName(utc(2026, 1))).toBe("audit_events_p202601");
    expect(partitionName(utc(2026, 12))).toBe("audit_events_p202612");
  });
});

describe.each(backends)("audit partitions on $name", (backend) => {
  it("partitioning keeps the rows already stored, where they are, and the id sequence", async () => {
    const database = await backend.open();
    const db = database.db;
    try {
      const before = Object.fromEntries(
        Object.entries(migrations).filter(([name]) => name < PARTITIONING),
      );
      const migrator = new Migrator({ db, provider: { getMigrations: async () => before } });
      expect((await migrator.migrateToLatest()).error).toBeUndefined();
      await insert(db, utc(2024, 3, 5), utc(2026, 11, 29));
      const ids = (await db.selectFrom("audit_events").select("id").orderBy("id").execute()).map(
        (row) => Number(row.id),
      );

      expect((await migrateToLatest(db)).map((step) => step.name)).toEqual(
        Object.keys(migrations).filter((name) => name >= PARTITIONING),
      );
      const partitions = await listAuditPartitions(db);
      const legacy = partitions.find((p) => p.name === "audit_events_legacy");
      expect(legacy).toMatchObject({ from: null, isDefault: false });
      // Up to the end of the month of the latest row or of today, whichever is later.
      expect(legacy!.to!.getUTCDate()).toBe(1);
      expect(legacy!.to! > new Date()).toBe(true);
      expect(partitions.at(-1)).toMatchObject({ name: "audit_events_default", isDefault: true });
      expect(Object.values(await placement(db))).toEqual([
        "audit_events_legacy",
        "audit_events_legacy",
      ]);

      // New rows continue the old ids, and land in month partitions once they exist.
      const far = utc(new Date().getUTCFullYear() + 3, 6, 15);
      await insert(db, far);
      expect((await placement(db))[`req-${far.toISOString()}`]).toBe("audit_events_default");
      const rows = await db.selectFrom("audit_events").select("id").orderBy("id").execute();
      expect(Number(rows.at(-1)!.id)).toBeGreaterThan(Math.max(...ids));

      // Down again keeps every row in an ordinary table.
      for (const name of Object.keys(migrations).reverse()) {
        await migrateDown(db);
        if (name === PARTITIONING) break;
      }
      const { rows: kind } = await sql<{
        relkind: string;
      }>`select relkind from pg_class where relname = 'audit_events'`.execute(db);
      expect(kind[0]!.relkind).toBe("r");
      expect(await count(db)).toBe(3);
      await insert(db, utc(2026, 11, 30));
      expect(await count(db)).toBe(4);
    } finally {
      await database.close();
    }
  });

  it("a fresh database has month partitions only, and ensure is idempotent", async () => {
    const database = await backend.open({ migrated: true });
    try {
      const db = database.db;
      const created = await ensureAuditPartitions(db, { now: utc(2031, 11, 20) });
      expect(created).toEqual([
        "audit_events_p203111",
        "audit_events_p203112",
        "audit_events_p203201",
      ]);
      expect(await ensureAuditPartitions(db, { now: utc(2031, 11, 20) })).toEqual([]);
      const names = (await listAuditPartitions(db)).map((p) => p.name);
      expect(names).not.toContain("audit_events_legacy");
      expect(names.at(-1)).toBe("audit_events_default");
      const p203112 = (await listAuditPartitions(db)).find(
        (p) => p.name === "audit_events_p203112",
      );
      expect(p203112).toEqual({
        name: "audit_events_p203112",
        from: utc(2031, 12),
        to: utc(2032, 1),
        isDefault: false,
      });

      await insert(db, utc(2031, 12, 31), utc(2032, 1, 1), utc(2032, 2, 1));
      expect(await placement(db)).toMatchObject({
        [`req-${utc(2031, 12, 31).toISOString()}`]: "audit_events_p203112",
        [`req-${utc(2032, 1, 1).toISOString()}`]: "audit_events_p203201",
        [`req-${utc(2032, 2, 1).toISOString()}`]: "audit_events_default",
      });
    } finally {
      await database.close();
    }
  });

  it("moves the default partition's rows of a month into that month's new partition", async () => {
    const database = await backend.open({ migrated: true });
    try {
      const db = database.db;
      await insert(db, utc(2040, 5, 3), utc(2040, 5, 31), utc(2040, 6, 2));
      expect(new Set(Object.values(await placement(db)))).toEqual(
        new Set(["audit_events_default"]),
      );
      expect(await ensureAuditPartitions(db, { now: utc(2040, 5, 10), monthsAhead: 0 })).toEqual([
        "audit_events_p204005",
      ]);
      expect(Object.values(await placement(db)).sort()).toEqual([
        "audit_events_default",
        "audit_events_p204005",
        "audit_events_p204005",
      ]);
      expect(await count(db)).toBe(3);
      // The moved partition has the parent's indexes and key: a duplicate (id, time) is refused.
      const { rows } = await sql<{ id: string; time: Date }>`
        select id, time from audit_events_p204005 limit 1`.execute(db);
      const duplicate = sql`insert into audit_events (id, time, request_id, source, kind, outcome)
        values (${rows[0]!.id}, ${rows[0]!.time}, 'dup', 'router', 'invocation', 'ok')`;
      await expect(duplicate.execute(db)).rejects.toThrow(/duplicate key/);
    } finally {
      await database.close();
    }
  });

  it("prune drops whole months older than the cutoff and deletes the rest row by row", async () => {
    const database = await backend.open({ migrated: true });
    try {
      const db = database.db;
      await ensureAuditPartitions(db, { now: utc(2050, 1, 1) });
      await insert(db, utc(2050, 1, 2), utc(2050, 1, 31), utc(2050, 2, 10), utc(2050, 2, 20));
      await insert(db, utc(2050, 3, 1));
      const cutoff = utc(2050, 2, 15);
      expect((await expiredAuditPartitions(db, cutoff)).map((p) => p.name)).toContain(
        "audit_events_p205001",
      );
      expect((await expiredAuditPartitions(db, cutoff)).map((p) => p.name)).not.toContain(
        "audit_events_p205002",
      );
      const dropped = await dropExpiredAuditPartitions(db, cutoff);
      expect(dropped).toContainEqual({ name: "audit_events_p205001", rows: 2 });
      expect(dropped.map((p) => p.name)).not.toContain("audit_events_default");
      expect(await pruneAuditEvents(db, cutoff)).toBe(1);
      const left = await db.selectFrom("audit_events").select("time").orderBy("time").execute();
      expect(left.map((row) => row.time)).toEqual([utc(2050, 2, 20), utc(2050, 3, 1)]);
      expect((await listAuditPartitions(db)).map((p) => p.name)).not.toContain(
        "audit_events_p205001",
      );
      // A month dropped is covered by the default partition again: nothing is refused.
      await insert(db, utc(2050, 1, 5));
      expect(await count(db)).toBe(3);
    } finally {
      await database.close();
    }
  });
});
