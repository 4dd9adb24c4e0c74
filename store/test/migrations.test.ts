import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { sql } from "kysely";
import { describe, expect, it } from "vitest";
import { migrations } from "../../migrations/index.ts";
import { migrateDown, migrateToLatest, migrationStatus, MigrationError } from "../src/migrate.ts";
import { backends, requirePostgresInCi } from "./test-databases.ts";

requirePostgresInCi();

const names = Object.keys(migrations);

/** The tables of the current schema, partitions left out (audit_events is partitioned by month). */
async function tables(db: Parameters<typeof migrateToLatest>[0]): Promise<string[]> {
  const result = await sql<{ table_name: string }>`
    select relname as table_name from pg_catalog.pg_class
    where relnamespace = current_schema()::regnamespace and relkind in ('r', 'p')
      and not relispartition and relname not like 'kysely_%'
    order by relname`.execute(db);
  return result.rows.map((row) => row.table_name);
}

describe("migration index", () => {
  it("is sorted by its ISO-date names", () => {
    expect(names.length).toBeGreaterThan(0);
    expect([...names].sort()).toEqual(names);
    for (const name of names) expect(name).toMatch(/^\d{4}-\d{2}-\d{2}T\d{4}-[a-z0-9-]+$/);
  });
});

describe.each(backends)("migrations on $name", (backend) => {
  it("go up to the latest and down to zero", async () => {
    const database = await backend.open();
    try {
      const up = await migrateToLatest(database.db);
      expect(up.map((step) => step.name)).toEqual(names);
      expect(await tables(database.db)).toEqual([
        "audit_call_starts",
        "audit_events",
        "mcp_session_revocations",
        "tasks",
        "tool_registry",
        "tool_registry_history",
      ]);
      expect(
        (await migrationStatus(database.db)).every((state) => state.executedAt instanceof Date),
      ).toBe(true);
      expect(await migrateToLatest(database.db)).toEqual([]);

      const oneDown = await migrateDown(database.db);
      expect(oneDown).toEqual([{ name: names.at(-1), direction: "Down", status: "Success" }]);
      // The last one altered a table; every table is still there.
      expect(await tables(database.db)).toHaveLength(6);

      const allDown = await migrateDown(database.db, { all: true });
      expect(allDown.map((step) => step.name)).toEqual(names.slice(0, -1).reverse());
      expect(await tables(database.db)).toEqual([]);
      expect(
        (await migrationStatus(database.db)).every((state) => state.executedAt === undefined),
      ).toBe(true);

      // And up again: down really undid everything.
      await migrateToLatest(database.db);
      expect(await tables(database.db)).toHaveLength(6);
    } finally {
      await database.close();
    }
  });

  it("keeps its bookkeeping in its own schema when another schema has Kysely's", async () => {
    const database = await backend.open();
    try {
      await sql`create schema other_app`.execute(database.db);
      await sql`create table other_app.kysely_migration (name varchar(255) primary key, timestamp varchar(255) not null)`.execute(
        database.db,
      );
      await sql`create table other_app.kysely_migration_lock (id varchar(255) primary key, is_locked integer not null default 0)`.execute(
        database.db,
      );
      const up = await migrateToLatest(database.db);
      expect(up.map((step) => step.name)).toEqual(names);
      expect(await tables(database.db)).toHaveLength(6);
      const theirs = await sql<{
        n: string;
      }>`select count(*) as n from other_app.kysely_migration`.execute(database.db);
      expect(Number(theirs.rows[0]!.n)).toBe(0);
      await migrateDown(database.db, { all: true });
    } finally {
      await sql`drop schema if exists other_app cascade`
        .execute(database.db)
        .catch(() => undefined);
      await database.close();
    }
  });

  it("reports a failed migration as a MigrationError", async () => {
    const database = await backend.open();
    try {
      await sql`create table audit_events (id int)`.execute(database.db);
      const failure = await migrateToLatest(database.db).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(MigrationError);
      expect((failure as MigrationError).message).toMatch(
        /^migration failed at 2026-11-25T0001-create-audit-events:/,
      );
      // The failed migration ran in a transaction: nothing of it is left behind.
      expect(await tables(database.db)).toEqual(["audit_events"]);
    } finally {
      await database.close();
    }
  });
});

describe("migrate CLI", () => {
  const cli = fileURLToPath(new URL("../../dist/store/src/migrate-cli.js", import.meta.url));
  const run = promisify(execFile);

  it("migrates a PGlite DATA_DIR up, shows status, goes down to zero, and rejects bad usage", async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), "gw-migrate-"));
    const env = { ...process.env, DATA_DIR: dataDir, DATABASE_URL: "" };
    const exec = (...args: string[]) => run(process.execPath, [cli, ...args], { env });
    try {
      expect((await exec("up")).stdout).toContain(`up ${names[0]}: Success`);
      expect((await exec("status")).stdout).toMatch(new RegExp(`applied \\S+  ${names.at(-1)}`));
      expect((await exec("down", "--all")).stdout).toContain(`down ${names[0]}: Success`);
      const bad = await exec("sideways").catch(
        (error: unknown) => error as { code: number; stderr: string },
      );
      expect(bad).toMatchObject({ code: 2 });
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
    // Four processes, each loading PGlite's WASM: seconds apiece on a busy machine.
  }, 180_000);
});
