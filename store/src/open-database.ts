import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { acquireDataDirLock } from "./data-dir-lock.ts";
import { ensurePgliteCluster } from "./pglite-initdb.ts";
import { PGLITE_TEMPLATE_ENV } from "./pglite-template.ts";
import type { DB } from "./schema.ts";

export type DatabaseDialect = "postgres" | "pglite";

export type Database = {
  db: Kysely<DB>;
  dialect: DatabaseDialect;
  close(): Promise<void>;
};

export type OpenDatabaseOptions = {
  /** postgres:// or postgresql:// URL; when set, PostgreSQL is used through a pg pool. */
  databaseUrl?: string;
  /**
   * PGlite data directory (default ./data); the database lives in `<dataDir>/pglite`. One process
   * at a time: `<dataDir>/pglite.lock` makes a second one fail with DataDirLockedError.
   */
  dataDir?: string;
  /** PGlite in memory (tests). Takes precedence over the other options. */
  inMemory?: boolean;
  /** PostgreSQL only: search_path for every pooled connection (isolated schemas in tests). */
  schema?: string;
  /** PostgreSQL only: pool size (default 10). */
  poolMax?: number;
  /**
   * PostgreSQL only: a pooled connection failed (terminated by the server, server restart,
   * network), idle or in use; reported once per connection. The process never crashes on these:
   * the connection is dropped from the pool and a new one is opened when next needed.
   */
  onPoolError?: (error: Error) => void;
  /** PostgreSQL only: how long opening a connection, or waiting for a free one, may take (5000). */
  connectTimeoutMs?: number;
};

const INT8_OID = 20;
const SCHEMA_NAME_RE = /^[a-z_][a-z0-9_]{0,62}$/;

export async function openDatabase(options: OpenDatabaseOptions = {}): Promise<Database> {
  if (options.inMemory) return openPglite(undefined);
  if (options.databaseUrl) return openPostgres(options.databaseUrl, options);
  const dataDir = options.dataDir ?? "./data";
  await mkdir(dataDir, { recursive: true });
  return openPglite(dataDir);
}

/** DATABASE_URL selects PostgreSQL; otherwise PGlite under DATA_DIR (default ./data). */
export function databaseOptionsFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): OpenDatabaseOptions {
  return env.DATABASE_URL
    ? { databaseUrl: env.DATABASE_URL }
    : { dataDir: env.DATA_DIR || "./data" };
}

/**
 * PGlite's default shared_buffers (128 MB) costs about 110 MB of resident memory; the gateway's
 * working set is small, so 16 MB is plenty.
 */
const PGLITE_SHARED_BUFFERS = "16MB";

let template: Promise<Blob | undefined> | undefined;

function pgliteTemplate(): Promise<Blob | undefined> {
  const file = process.env[PGLITE_TEMPLATE_ENV];
  if (file === undefined || file === "") return Promise.resolve(undefined);
  template ??= readFile(file).then(
    (bytes) => new Blob([bytes]),
    () => undefined,
  );
  return template;
}

async function openPglite(dataDir: string | undefined): Promise<Database> {
  const lock = dataDir === undefined ? undefined : await acquireDataDirLock(dataDir);
  try {
    // Loaded here so that PostgreSQL deployments never load the WASM build.
    const [{ PGlite }, { PGliteDialect }] = await Promise.all([
      import("@electric-sql/pglite"),
      import("kysely-pglite-dialect"),
    ]);
    const settings = ["-c", `shared_buffers=${PGLITE_SHARED_BUFFERS}`];
    const pgliteDir = dataDir === undefined ? undefined : path.join(dataDir, "pglite");
    if (pgliteDir !== undefined) await ensurePgliteCluster(pgliteDir, settings);
    const loadDataDir = pgliteDir === undefined ? await pgliteTemplate() : undefined;
    // int8 as a decimal string, as pg does, so both drivers return the same shapes.
    const client = await PGlite.create({
      ...(pgliteDir === undefined ? {} : { dataDir: pgliteDir }),
      ...(loadDataDir === undefined ? {} : { loadDataDir }),
      startParams: [...PGlite.defaultStartParams, ...settings],
      parsers: { [INT8_OID]: (value: string) => value },
    });
    const db = new Kysely<DB>({ dialect: new PGliteDialect(client) });
    return {
      db,
      dialect: "pglite",
      async close() {
        try {
          await db.destroy();
        } finally {
          await lock?.release();
        }
      },
    };
  } catch (error) {
    await lock?.release();
    throw error;
  }
}

function openPostgres(databaseUrl: string, options: OpenDatabaseOptions): Database {
  let url: URL;
  try {
    url = new URL(databaseUrl);
  } catch {
    throw new Error("DATABASE_URL is not a valid URL");
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    throw new Error("DATABASE_URL must start with postgres:// or postgresql://");
  }
  if (options.schema !== undefined && !SCHEMA_NAME_RE.test(options.schema)) {
    throw new Error("schema must match [a-z_][a-z0-9_]{0,62}");
  }
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: options.poolMax ?? 10,
    // Without a bound, a server that stops answering (network partition) holds every caller, and
    // everyone queued behind them, forever; the timeout is a transient error the writers retry.
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
    // Dead peers are noticed by TCP too, not only when the next query is sent.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
  });
  const report = (error: Error) => options.onPoolError?.(error);
  // pg-pool listens for errors on idle clients only. A checked-out client, in a transaction or
  // between two statements, whose backend is terminated (57P01 from pg_terminate_backend or a
  // server shutdown) or whose socket closes emits 'error' itself, and an 'error' event without a
  // listener kills the process. So every client has its own listener from the moment it has
  // connected; pg-pool discards a client that lost its connection when it is released (or at
  // once when idle) and connects a new one on the next checkout.
  pool.on("connect", (client) => {
    // A terminated backend says so (57P01), then its socket closes: one report per connection.
    let reported = false;
    client.on("error", (error) => {
      if (reported) return;
      reported = true;
      report(error);
    });
  });
  // Errors of idle clients also reach the pool; their own listener has already reported them.
  pool.on("error", () => undefined);
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
  return { db, dialect: "postgres", close: () => db.destroy() };
}
