import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { chown, mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";

/**
 * PostgreSQL for the fault tests: a database of its own on the server DATABASE_URL names (never
 * stopped, never restarted: other tests share it), or a private server (initdb + pg_ctl on a free
 * port, in a temporary directory) that a test may stop and restart at will.
 */

const run = promisify(execFile);

export type TestDatabase = {
  url: string;
  /** The gateway's backends of this database only: pid <> the caller's own. */
  terminateOtherBackends(): Promise<number>;
  drop(): Promise<void>;
};

export type PrivateServer = {
  port: number;
  createDatabase(): Promise<TestDatabase>;
  /** `pg_ctl stop -m fast`: every backend gets 57P01, then the port closes. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server for good and removes its directory. */
  close(): Promise<void>;
};

/** initdb and pg_ctl: PG_BIN, else PATH, else the Debian/Ubuntu layout (newest version). */
export function findPostgresBin(): string | undefined {
  const hasTools = (dir: string) =>
    existsSync(path.join(dir, "initdb")) && existsSync(path.join(dir, "pg_ctl"));
  const candidates = [
    ...(process.env.PG_BIN ? [process.env.PG_BIN] : []),
    ...(process.env.PATH ?? "").split(path.delimiter).filter(Boolean),
  ];
  const debian = "/usr/lib/postgresql";
  if (existsSync(debian)) {
    const versions = readdirSync(debian)
      .filter((name) => /^\d+$/.test(name))
      .sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((version) => path.join(debian, version, "bin")));
  }
  return candidates.find(hasTools);
}

export const POSTGRES_BIN = findPostgresBin();

export const NO_POSTGRES_REASON =
  "PostgreSQL binaries (initdb, pg_ctl) not found in PG_BIN, PATH or /usr/lib/postgresql/*/bin";

function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

/** A fresh database on the server `serverUrl` points at (the URL's own database is untouched). */
export async function createTestDatabase(serverUrl: string): Promise<TestDatabase> {
  const name = `gateway_faults_${randomBytes(6).toString("hex")}`;
  await withClient(serverUrl, (client) => client.query(`create database ${name}`));
  const url = withDatabase(serverUrl, name);
  // One connection of the test's own, kept open, so terminations can follow each other closely
  // enough to catch the gateway's pool while it reconnects.
  let admin: Promise<pg.Client> | undefined;
  const adminClient = () =>
    (admin ??= (async () => {
      const client = new pg.Client({ connectionString: url });
      client.on("error", () => {
        admin = undefined;
      });
      await client.connect();
      return client;
    })());
  return {
    url,
    async terminateOtherBackends() {
      const client = await adminClient();
      const result = await client.query<{ terminated: boolean }>(
        `select pg_terminate_backend(pid) as terminated from pg_stat_activity
         where datname = current_database() and pid <> pg_backend_pid()`,
      );
      return result.rows.filter((row) => row.terminated).length;
    },
    async drop() {
      const client = await admin?.catch(() => undefined);
      admin = undefined;
      await client?.end().catch(() => undefined);
      await withClient(serverUrl, (client) =>
        client.query(`drop database if exists ${name} with (force)`),
      );
    },
  };
}

/** A port nothing listens on right now (bound once, then released). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

async function postgresUser(): Promise<{ uid: number; gid: number }> {
  const [uid, gid] = await Promise.all([
    run("id", ["-u", "postgres"]),
    run("id", ["-g", "postgres"]),
  ]);
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/**
 * Starts a private server. PostgreSQL refuses to run as root, so under root it runs as the
 * `postgres` user (runuser); otherwise as the current user.
 */
export async function startPrivateServer(bin: string): Promise<PrivateServer> {
  const dir = await mkdtemp(path.join(tmpdir(), "gateway-faults-pg-"));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const { uid, gid } = await postgresUser();
    await chown(dir, uid, gid);
  }
  const dataDir = path.join(dir, "data");
  const logFile = path.join(dir, "server.log");
  const port = await freePort();
  const tool = (name: string, args: readonly string[]) =>
    asRoot
      ? run("runuser", ["-u", "postgres", "--", path.join(bin, name), ...args])
      : run(path.join(bin, name), [...args]);
  // Durability is not under test here: no fsync keeps initdb and restarts fast.
  const serverOptions = [
    `-p ${port}`,
    "-c listen_addresses=127.0.0.1",
    `-k ${dir}`,
    "-c fsync=off",
    "-c max_connections=50",
  ].join(" ");
  const pgCtl = (args: readonly string[]) =>
    tool("pg_ctl", ["-D", dataDir, "-l", logFile, "-t", "30", ...args]);

  await tool("initdb", ["-D", dataDir, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"]);
  const start = async () => {
    await pgCtl(["-w", "-o", serverOptions, "start"]);
  };
  const stop = async () => {
    await pgCtl(["-w", "-m", "fast", "stop"]);
  };
  try {
    await start();
  } catch (error) {
    const log = await readFile(logFile, "utf8").catch(() => "");
    await rm(dir, { recursive: true, force: true });
    throw new Error(`private PostgreSQL did not start: ${String(error)}\n${log}`);
  }
  const serverUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let closed = false;
  return {
    port,
    createDatabase: () => createTestDatabase(serverUrl),
    stop,
    start,
    async close() {
      if (closed) return;
      closed = true;
      try {
        await pgCtl(["-w", "-m", "immediate", "stop"]);
      } catch {
        // Already stopped (a failed test may leave it so): the directory goes either way.
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
