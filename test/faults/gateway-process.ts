import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { parse, stringify } from "yaml";
import { signDevToken } from "../../dev/token-cli.ts";

/**
 * The gateway as `npm start` runs it (dist/dev/main.js: ext-authz, router, tools in one process) on a
 * PostgreSQL database, in a child process, so a fault that kills it shows up as an exit instead
 * of taking the test runner down; plus a load generator that records what every client got.
 */

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** A run takes seconds; the bound keeps a hung fault from holding the suite for long. */
export const TEST_TIMEOUT_MS = 90_000;

const SECRETS = {
  JWT_SECRET_KEY: "faults-jwt-secret-key-0123456789abcdefghijklmnop",
  GATEWAY_VERDICT_KEY: "faults-verdict-key-0123456789abcdefghijklmnopqrs",
  TOOL_GATEWAY_SHARED_SECRET: "faults-tool-secret-0123456789abcdefghijklmnopqr",
};

export type Gateway = {
  url: string;
  /** PGlite's data directory when no database URL was given. */
  dataDir: string;
  /** Everything the process wrote so far (shown when an assertion fails). */
  output(): string;
  /** Null while the process runs. */
  exitCode(): number | null;
  token(user: string): Promise<string>;
  /** SIGTERM (the audit is flushed before exit); resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL: nothing is flushed, nothing is closed; resolves once the process is gone. */
  kill(): Promise<void>;
  /** SIGKILL if still running, and its scratch directory removed. */
  dispose(): Promise<void>;
};

/** The shipped configuration, with quotas high enough that load never meets a 429. */
async function writeConfig(dir: string): Promise<void> {
  const config = path.join(ROOT, "config");
  const policy = parse(await readFile(path.join(config, "policy.yaml"), "utf8")) as {
    quotas: Record<string, unknown>;
  };
  const plenty = { points: 1_000_000, duration: "1m" };
  policy.quotas = {
    per_user: { default: plenty },
    per_tool: { default: plenty },
    per_user_tool: { default: plenty },
  };
  await writeFile(path.join(dir, "policy.yaml"), stringify(policy));
  await writeFile(
    path.join(dir, "tools.yaml"),
    await readFile(path.join(config, "tools.yaml"), "utf8"),
  );
}

/** On PostgreSQL when `databaseUrl` is given, else on PGlite in a scratch directory. */
export async function startGateway(
  databaseUrl: string | undefined,
  extraEnv: Readonly<Record<string, string>> = {},
): Promise<Gateway> {
  const dir = await mkdtemp(path.join(tmpdir(), "gateway-faults-"));
  await writeConfig(dir);
  const env: Record<string, string> = {
    NODE_ENV: "test",
    LOG_LEVEL: "warn",
    HOST: "127.0.0.1",
    PORT: "0",
    EXT_AUTHZ_PORT: "0",
    CONFIG_DIR: dir,
    DATA_DIR: path.join(dir, "data"),
    ...(databaseUrl === undefined ? {} : { DATABASE_URL: databaseUrl }),
    ...SECRETS,
    ...extraEnv,
  };
  // The scratch directory is the working directory: no developer's .env applies.
  // The build output (test/global-setup.ts builds it), as `npm start` runs it.
  const child: ChildProcessWithoutNullStreams = spawn(
    process.execPath,
    ["--enable-source-maps", fileURLToPath(new URL("../../dist/dev/main.js", import.meta.url))],
    { cwd: dir, env: { PATH: process.env.PATH ?? "", ...env }, stdio: ["pipe", "pipe", "pipe"] },
  );
  let output = "";
  const append = (chunk: Buffer) => (output += chunk.toString("utf8"));
  child.stdout.on("data", append);
  child.stderr.on("data", append);
  const exited = once(child, "exit");
  // A spawn failure is reported by the startup wait below.
  exited.catch(() => undefined);

  const dispose = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };

  let url: string;
  try {
    url = await new Promise<string>((resolve, reject) => {
      const onData = () => {
        const match = /listening on (http:\/\/\S+)\n/.exec(output);
        if (match?.[1]) {
          child.stdout.off("data", onData);
          resolve(match[1]);
        }
      };
      child.stdout.on("data", onData);
      child.once("error", reject);
      child.once("exit", (code, signal) =>
        reject(new Error(`gateway exited during startup (${code ?? signal}):\n${output}`)),
      );
    });
  } catch (error) {
    await dispose();
    throw error;
  }

  return {
    url,
    dataDir: env.DATA_DIR!,
    output: () => output,
    exitCode: () => child.exitCode ?? (child.signalCode === null ? null : -1),
    token: (user) =>
      signDevToken({ user, roles: ["developer"], tenant: "faults", ttlSeconds: 600 }, env),
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGKILL");
      await exited;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill("SIGTERM");
      const [code] = (await exited) as [number | null];
      return code;
    },
    dispose,
  };
}

/** What one client got: the HTTP status (0 = no HTTP answer at all) and the request id. */
export type Answer = { status: number; requestId: string | null };

export type Load = {
  answers: Answer[];
  /** Resolves once `count` more answers have arrived. */
  answered(count: number): Promise<void>;
  /** Resolves once `count` more 200 answers have arrived. */
  served(count: number): Promise<void>;
  /** Stops issuing requests; resolves when those in flight have been answered. */
  stop(): Promise<void>;
};

/**
 * `concurrency` clients calling calculator tools through POST /mcp/invoke back to back, each
 * answer recorded. Waiters are released by answers, never by time.
 */
export function startLoad(gateway: Gateway, concurrency: number): Load {
  const answers: Answer[] = [];
  const waiters: { check: () => boolean; resolve: () => void }[] = [];
  let running = true;
  const notify = () => {
    for (const waiter of waiters.filter((candidate) => candidate.check())) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve();
    }
  };
  const served = () => answers.filter((answer) => answer.status === 200).length;
  const waitFor = (check: () => boolean) =>
    check() ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ check, resolve }));

  const client = async (index: number) => {
    const token = await gateway.token(`load-${index}`);
    for (let n = 0; running; n += 1) {
      let answer: Answer;
      try {
        const response = await fetch(`${gateway.url}/mcp/invoke`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify({
            tool_name: "calculator.exact_calculate",
            arguments: { operator: "add", operands: [String(index), String(n)] },
          }),
          signal: AbortSignal.timeout(20_000),
        });
        const body = (await response.json().catch(() => ({}))) as { request_id?: unknown };
        const requestId =
          response.headers.get("x-request-id") ??
          (typeof body.request_id === "string" ? body.request_id : null);
        answer = { status: response.status, requestId };
      } catch {
        answer = { status: 0, requestId: null };
      }
      answers.push(answer);
      notify();
    }
  };
  const clients = Array.from({ length: concurrency }, (_, index) => client(index));

  return {
    answers,
    answered(count) {
      const target = answers.length + count;
      return waitFor(() => answers.length >= target);
    },
    served(count) {
      const target = served() + count;
      return waitFor(() => served() >= target);
    },
    async stop() {
      running = false;
      await Promise.all(clients);
    },
  };
}

export type Readiness = { status: number; checks: Record<string, string>; ms: number };

export async function readiness(gateway: Gateway): Promise<Readiness> {
  const started = performance.now();
  const response = await fetch(`${gateway.url}/ready`, { signal: AbortSignal.timeout(10_000) });
  const body = (await response.json()) as { checks?: Record<string, string> };
  return {
    status: response.status,
    checks: body.checks ?? {},
    ms: performance.now() - started,
  };
}

/** Router audit totals from /metrics. */
export async function auditCounters(gateway: Gateway): Promise<Record<string, number>> {
  const text = await (await fetch(`${gateway.url}/metrics`)).text();
  const counters: Record<string, number> = {};
  for (const match of text.matchAll(/^mcp_router_audit_(\w+) (\S+)$/gm)) {
    counters[match[1]!] = Number(match[2]);
  }
  return counters;
}

/**
 * Request ids among `requestIds` that have no router invocation row: a call a client got an
 * answer for, but that the audit log does not know.
 */
export async function unaudited(databaseUrl: string, requestIds: string[]): Promise<string[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const result = await client.query<{ request_id: string }>(
      `select distinct request_id from audit_events
       where source = 'router' and kind = 'invocation' and request_id = any($1)`,
      [requestIds],
    );
    const audited = new Set(result.rows.map((row) => row.request_id));
    return requestIds.filter((id) => !audited.has(id));
  } finally {
    await client.end();
  }
}
