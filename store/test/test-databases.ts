import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import pg from "pg";
import { it } from "vitest";
import { migrateToLatest } from "../src/migrate.ts";
import { openDatabase, type Database } from "../src/open-database.ts";

export type TestBackend = {
  name: "pglite" | "postgres";
  /** A fresh, empty database (own schema on PostgreSQL); `migrated` applies every migration first. */
  open(options?: { migrated?: boolean }): Promise<Database>;
};

const databaseUrl = process.env.DATABASE_URL;
const inCi = process.env.CI === "true";

if (!databaseUrl && !inCi) {
  console.warn(
    "DATABASE_URL is not set: PostgreSQL store tests are skipped (PGlite tests still run)",
  );
}

/** With CI=true a missing DATABASE_URL is a failure, not a skip. */
export function requirePostgresInCi(): void {
  it.runIf(inCi && !databaseUrl)("has DATABASE_URL in CI", () => {
    throw new Error("CI=true but DATABASE_URL is not set");
  });
}

// Starting PGlite costs seconds, so migrated tests share one instance per test file and start
// from emptied tables; unmigrated opens (migration tests) get a fresh instance.
let sharedPglite: Promise<Database> | undefined;

const pglite: TestBackend = {
  name: "pglite",
  async open(options = {}) {
    if (!options.migrated) return openDatabase({ inMemory: true });
    sharedPglite ??= openDatabase({ inMemory: true }).then(async (database) => {
      await migrateToLatest(database.db);
      return database;
    });
    const database = await sharedPglite;
    await sql`truncate tool_registry, tool_registry_history, audit_events, audit_call_starts, tasks restart identity`.execute(
      database.db,
    );
    return { ...database, close: async () => undefined };
  },
};

const postgres = (url: string): TestBackend => ({
  name: "postgres",
  async open(options = {}) {
    const schema = `test_${randomBytes(6).toString("hex")}`;
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      await admin.query(`create schema ${schema}`);
    } finally {
      await admin.end();
    }
    const database = await openDatabase({ databaseUrl: url, schema, poolMax: 4 });
    if (options.migrated) await migrateToLatest(database.db);
    return {
      ...database,
      async close() {
        await database.close();
        const cleanup = new pg.Client({ connectionString: url });
        await cleanup.connect();
        try {
          await cleanup.query(`drop schema ${schema} cascade`);
        } finally {
          await cleanup.end();
        }
      },
    };
  },
});

export const backends: TestBackend[] = databaseUrl ? [pglite, postgres(databaseUrl)] : [pglite];
