import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import pg from "pg";
import { it } from "vitest";
import { whenFileEnds } from "./file-end.ts";
import { migrateToLatest } from "../src/migrate.ts";
import { openDatabase, type Database } from "../src/open-database.ts";

/** `url`: on PostgreSQL, the URL of the database (for a second pool on it). */
export type TestDatabase = Database & { url?: string };

export type TestBackend = {
  name: "pglite" | "postgres";
  /**
   * An empty database (a database of its own on PostgreSQL); `migrated` applies every migration first.
   *
   * Migrated opens share one migrated database per test file (starting PGlite costs seconds, and
   * so does migrating a schema on a busy machine): each open starts from emptied tables. While an
   * earlier open is still in use (not closed), the next one gets a private database of its own,
   * so two opens never see each other's rows. Unmigrated opens (migration tests) are always fresh.
   */
  open(options?: { migrated?: boolean; poolMax?: number }): Promise<TestDatabase>;
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

type Shared = { database: TestDatabase; tables: string[]; inUse: boolean };

/**
 * The migrated tables of the database's current schema (all of them but Kysely's own). Partitions
 * are left out: truncating a partitioned table empties them, and a test may drop or add some.
 */
async function migratedTables(database: TestDatabase): Promise<string[]> {
  const result = await sql<{ table_name: string }>`
    select relname as table_name from pg_catalog.pg_class
    where relnamespace = current_schema()::regnamespace and relkind in ('r', 'p')
      and not relispartition and relname not like 'kysely_%'
    order by relname`.execute(database.db);
  return result.rows.map((row) => row.table_name);
}

/**
 * One migrated database per test file (from `open`), lent to one user at a time and emptied for
 * each; while it is lent, the next user gets a private one from `open`, closed by that user. The
 * shared one is closed (on PostgreSQL, dropped) when the file is done, and the next file that asks
 * gets a new one.
 */
function sharedMigrated(open: () => Promise<TestDatabase>): () => Promise<TestDatabase> {
  const migrated = async () => {
    const database = await open();
    try {
      await migrateToLatest(database.db);
    } catch (error) {
      await database.close();
      throw error;
    }
    return database;
  };
  let shared: Promise<Shared> | undefined;
  return async () => {
    shared ??= migrated().then(
      async (database) => {
        whenFileEnds(async () => {
          shared = undefined;
          await database.close();
        });
        return { database, tables: await migratedTables(database), inUse: false };
      },
      (error: unknown) => {
        // The files after this one in the worker try again instead of inheriting the failure.
        shared = undefined;
        throw error;
      },
    );
    const lent = await shared;
    if (lent.inUse) return migrated();
    lent.inUse = true;
    try {
      await sql`truncate ${sql.join(lent.tables.map((table) => sql.id(table)))} restart identity cascade`.execute(
        lent.database.db,
      );
    } catch (error) {
      lent.inUse = false;
      throw error;
    }
    let released = false;
    return {
      ...lent.database,
      async close() {
        if (released) return;
        released = true;
        lent.inUse = false;
      },
    };
  };
}

const openPglite = () => openDatabase({ inMemory: true });
const sharedPglite = sharedMigrated(openPglite);

const pglite: TestBackend = {
  name: "pglite",
  async open(options = {}) {
    return options.migrated ? sharedPglite() : openPglite();
  },
};

/**
 * A pool on a new database of its own on the server `url` names, dropped when it is closed. A
 * database rather than a schema, as test files run side by side: Kysely's migrator (no
 * migrationTableSchema) takes its tables in any schema of the database for its own, so migrating a
 * second schema next to a migrated one fails ("kysely_migration_lock" does not exist).
 */
async function openScratchDatabase(url: string, poolMax = 4): Promise<TestDatabase> {
  const name = `gw_test_${randomBytes(6).toString("hex")}`;
  const admin = async (statement: string) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  };
  await admin(`create database ${name}`);
  const scratchUrl = new URL(url);
  scratchUrl.pathname = `/${name}`;
  let database: Database;
  try {
    database = await openDatabase({ databaseUrl: scratchUrl.href, poolMax });
  } catch (error) {
    await admin(`drop database if exists ${name} with (force)`);
    throw error;
  }
  let closed: Promise<void> | undefined;
  return {
    ...database,
    url: scratchUrl.href,
    close() {
      closed ??= (async () => {
        try {
          await database.close();
        } finally {
          await admin(`drop database if exists ${name} with (force)`);
        }
      })();
      return closed;
    },
  };
}

const postgres = (url: string): TestBackend => {
  const shared = new Map<number, () => Promise<TestDatabase>>();
  return {
    name: "postgres",
    async open(options = {}) {
      const poolMax = options.poolMax ?? 4;
      if (!options.migrated) return openScratchDatabase(url, poolMax);
      let open = shared.get(poolMax);
      if (open === undefined) {
        open = sharedMigrated(() => openScratchDatabase(url, poolMax));
        shared.set(poolMax, open);
      }
      return open();
    },
  };
};

export const backends: TestBackend[] = databaseUrl ? [pglite, postgres(databaseUrl)] : [pglite];

/**
 * The database for tests of the services above the store (router, ext-authz audit): PostgreSQL
 * (a database of its own) when DATABASE_URL is set, else PGlite in memory; migrated, shared per test
 * file like `open({ migrated: true })`. `close()` hands it back.
 */
export function serviceDatabase(options: { poolMax?: number } = {}): Promise<TestDatabase> {
  const backend = backends.at(-1)!;
  return backend.open({ migrated: true, ...options });
}
