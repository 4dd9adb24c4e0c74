import { access, mkdir } from "node:fs/promises";
import path from "node:path";
import { Redis } from "ioredis";
import { startChild } from "./child-processes.ts";
import { freePort } from "./free-port.ts";

/**
 * The Redis a benchmark's ext-authz counts quotas in. By default a private redis-server (when the
 * binary is installed): INFO commandstats counts every client of a server, and the shared local
 * Redis serves the test suites running beside the benchmark, so only a private one tells how many
 * commands a check costs. `--redis URL` uses that server instead, commands of others included.
 */

const REDIS_SERVER = "/usr/bin/redis-server";

export type BenchRedis = {
  url: string;
  /** "private redis-server" or the URL given. */
  description: string;
  /** The private server's process, for its CPU; undefined for a shared server. */
  pid: number | undefined;
  /** Calls per command since the server started (INFO commandstats). */
  commandCalls(): Promise<Map<string, number>>;
  close(): Promise<void>;
};

export async function openBenchRedis(dir: string, url?: string): Promise<BenchRedis> {
  if (url !== undefined) return connect(url, url);
  const installed = await access(REDIS_SERVER).then(
    () => true,
    () => false,
  );
  if (!installed) {
    const fallback = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
    process.stdout.write(
      `note: ${REDIS_SERVER} not installed; using ${fallback} (shared: command counts include other clients)\n`,
    );
    return connect(fallback, `${fallback} (shared)`);
  }
  const port = await freePort();
  const dataDir = path.join(dir, "redis");
  await mkdir(dataDir, { recursive: true });
  const server = startChild(
    "redis-server",
    REDIS_SERVER,
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    { env: {}, cwd: dataDir },
  );
  const redis = await connect(`redis://127.0.0.1:${port}`, "private redis-server");
  return {
    ...redis,
    pid: server.pid,
    async close() {
      await redis.close();
      await server.stop();
    },
  };
}

async function connect(url: string, description: string): Promise<BenchRedis> {
  // Commands wait in the offline queue while the server (just started) begins to listen.
  const client = new Redis(url, {
    maxRetriesPerRequest: null,
    retryStrategy: (attempt) => (attempt > 50 ? null : 100),
  });
  client.on("error", () => undefined);
  try {
    await client.ping();
  } catch (error) {
    client.disconnect();
    throw new Error(`Redis at ${url} is not reachable: ${(error as Error).message}`);
  }
  return {
    url,
    description,
    pid: undefined,
    async commandCalls() {
      const text = await client.info("commandstats");
      const calls = new Map<string, number>();
      for (const match of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
        calls.set(match[1]!, Number(match[2]));
      }
      return calls;
    },
    async close() {
      client.disconnect();
    },
  };
}

/** Commands called between two commandstats readings, INFO's own excluded. */
export function commandDelta(
  before: Map<string, number>,
  after: Map<string, number>,
): Map<string, number> {
  const delta = new Map<string, number>();
  for (const [command, calls] of after) {
    const added = calls - (before.get(command) ?? 0);
    if (added > 0 && command !== "info") delta.set(command, added);
  }
  return delta;
}
