import pg from "pg";
import { migrateToLatest } from "../store/src/migrate.ts";
import { openDatabase } from "../store/src/open-database.ts";

/**
 * A benchmark's own PostgreSQL database, dropped and created anew at the start of each run (never
 * the tests' database), and the questions the benchmarks ask it.
 */

const NAME_RE = /^[a-z_][a-z0-9_]{0,62}$/;

export type BenchDatabase = {
  url: string;
  name: string;
  /** Invocation rows the router wrote for calls of `subject`. */
  invocationRows(subject: string): Promise<number>;
  /** Of `requestIds`, those without a router invocation row. */
  unaudited(requestIds: readonly string[]): Promise<string[]>;
  /** Server connections to this database, by state (active, idle, ...), the asker's excluded. */
  connections(): Promise<Record<string, number>>;
  /** Process ids of the server backends serving this database, the asker's excluded. */
  backendPids(): Promise<number[]>;
  /** Transactions committed or rolled back in this database since the server started. */
  transactions(): Promise<number>;
  /** Rows in audit_events. */
  auditRows(): Promise<number>;
  /** The server's max_connections. */
  maxConnections(): Promise<number>;
  close(): Promise<void>;
};

/**
 * Recreates `name` on the server of `serverUrl` (any database URL there; its path is replaced)
 * and migrates it, so services that start concurrently do not race on the migrations.
 */
export async function freshDatabase(serverUrl: string, name: string): Promise<BenchDatabase> {
  if (!NAME_RE.test(name)) throw new Error(`bad database name ${name}`);
  const maintenance = withDatabase(serverUrl, "postgres");
  const admin = new pg.Client({ connectionString: maintenance });
  await admin.connect().catch((error: Error) => {
    throw new Error(`PostgreSQL at ${redacted(maintenance)} is not reachable: ${error.message}`);
  });
  try {
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(serverUrl, name);
  const database = await openDatabase({ databaseUrl: url });
  try {
    await migrateToLatest(database.db);
  } finally {
    await database.close();
  }

  const pool = new pg.Pool({ connectionString: url, max: 1 });
  const count = async (text: string, values: unknown[] = []) =>
    Number((await pool.query<{ n: string }>(text, values)).rows[0]!.n);
  return {
    url,
    name,
    invocationRows: (subject) =>
      count(
        `select count(*) as n from audit_events
         where source = 'router' and kind = 'invocation' and subject = $1`,
        [subject],
      ),
    async unaudited(requestIds) {
      const audited = new Set<string>();
      for (let offset = 0; offset < requestIds.length; offset += 5_000) {
        const { rows } = await pool.query<{ request_id: string }>(
          `select request_id from audit_events
           where source = 'router' and kind = 'invocation' and request_id = any($1)`,
          [requestIds.slice(offset, offset + 5_000)],
        );
        for (const row of rows) audited.add(row.request_id);
      }
      return requestIds.filter((id) => !audited.has(id));
    },
    async connections() {
      const { rows } = await pool.query<{ state: string | null; n: string }>(
        `select coalesce(state, 'unknown') as state, count(*) as n from pg_stat_activity
         where datname = $1 and pid <> pg_backend_pid() group by 1`,
        [name],
      );
      return Object.fromEntries(rows.map((row) => [row.state ?? "unknown", Number(row.n)]));
    },
    async backendPids() {
      const { rows } = await pool.query<{ pid: number }>(
        `select pid from pg_stat_activity
         where datname = $1 and pid <> pg_backend_pid() and backend_type = 'client backend'`,
        [name],
      );
      return rows.map((row) => row.pid);
    },
    transactions: () =>
      count("select xact_commit + xact_rollback as n from pg_stat_database where datname = $1", [
        name,
      ]),
    auditRows: () => count("select count(*) as n from audit_events"),
    maxConnections: () =>
      count("select setting as n from pg_settings where name = 'max_connections'"),
    close: () => pool.end(),
  };
}

function withDatabase(serverUrl: string, name: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

function redacted(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  if (url.password !== "") url.password = "***";
  return url.toString();
}
