/**
 * Runs the server scenarios of the official MCP conformance suite (@modelcontextprotocol/conformance,
 * two versions side by side) against the embedded gateway, through an auth-injecting proxy.
 *
 *   test/conformance/run.sh [--suite 0.1|0.2] [--scenario id] [--path /calculator/sse]
 *                           [--out dir] [--jobs n] [--scenario-timeout ms] [--include-not-applicable]
 *
 * The gateway runs here, on this Node; the suite runs in child processes on the Node 22 that
 * test/conformance/package.json pins (the suite needs it; the project stays on Node 20).
 * Exit status: 0 when every applicable scenario passed, 1 otherwise, 2 on a harness problem
 * (run.sh adds 124: the whole run hit its ceiling). See docs/conformance.md.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { pino } from "pino";
import { createLogger } from "../../contract/src/log.ts";
import { startEmbeddedStack, type EmbeddedStack } from "../../dev/embedded-stack.ts";
import { signDevToken } from "../../dev/token-cli.ts";
import { startAuthProxy, type ExchangeRecord } from "./auth-proxy.ts";
import { NOT_APPLICABLE, REVISIONS, type NotApplicable } from "./scenarios.ts";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, "../..");
type SuiteId = "0.1" | "0.2";
const SUITES: Record<SuiteId, string> = {
  "0.1": join(HERE, "node_modules", "conformance-0-1"),
  "0.2": join(HERE, "node_modules", "conformance-0-2"),
};
const MIN_SUITE_NODE_MAJOR = 22;

type Options = {
  suites: SuiteId[];
  scenarios: string[];
  paths: string[];
  out: string | undefined;
  jobs: number;
  scenarioTimeoutMs: number;
  includeNotApplicable: boolean;
};

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      suite: { type: "string", multiple: true },
      scenario: { type: "string", multiple: true },
      path: { type: "string", multiple: true },
      out: { type: "string" },
      jobs: { type: "string", default: "2" },
      "scenario-timeout": { type: "string", default: "60000" },
      "include-not-applicable": { type: "boolean", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const suites = (values.suite ?? ["0.1", "0.2"]).map((suite) => {
    if (suite !== "0.1" && suite !== "0.2") throw new Error(`--suite must be 0.1 or 0.2: ${suite}`);
    return suite;
  });
  const jobs = Number(values.jobs);
  const scenarioTimeoutMs = Number(values["scenario-timeout"]);
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > 8) throw new Error("--jobs must be 1..8");
  if (!Number.isInteger(scenarioTimeoutMs) || scenarioTimeoutMs < 1000) {
    throw new Error("--scenario-timeout must be whole milliseconds ≥ 1000");
  }
  return {
    suites,
    scenarios: values.scenario ?? [],
    paths: values.path ?? ["/calculator/mcp"],
    out: values.out,
    jobs,
    scenarioTimeoutMs,
    includeNotApplicable: values["include-not-applicable"],
  };
}

type Completed = { code: number | null; signal: string | null; timedOut: boolean; stdout: string };

/** Runs a command with a hard deadline; the whole process group is killed when it passes. */
function runCommand(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
  cwd: string,
): Promise<Completed> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      env,
      cwd,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const pid = child.pid;
    if (pid !== undefined) running.add(pid);
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (pid !== undefined) killGroup(pid);
    }, timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      if (pid !== undefined) running.delete(pid);
      reject(error);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (pid !== undefined) running.delete(pid);
      resolvePromise({ code, signal, timedOut, stdout: output });
    });
  });
}

/** Suite processes alive right now (each leads its own process group). */
const running = new Set<number>();
function killGroup(pid: number): void {
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // already gone
  }
}

type SuiteNode = { node: string; version: string; env: NodeJS.ProcessEnv };

async function suiteNode(): Promise<SuiteNode> {
  const node = process.env.CONFORMANCE_NODE ?? join(HERE, "node_modules", ".bin", "node");
  const binDir = dirname(node);
  // Node 22 goes first on PATH for the suite only: anything it spawns gets the same Node.
  const env = { ...process.env, PATH: `${binDir}${delimiter}${process.env.PATH ?? ""}` };
  const result = await runCommand(node, ["--version"], env, 10_000, HERE).catch(
    (error: unknown) => {
      throw new Error(
        `cannot run the suite's Node at ${node} (${String(error)}): run test/conformance/run.sh, ` +
          "or set CONFORMANCE_NODE to a Node ≥ 22 on platforms without a node-<os>-<arch> package",
      );
    },
  );
  const version = result.stdout.trim();
  const major = Number(/^v(\d+)\./.exec(version)?.[1]);
  if (!(major >= MIN_SUITE_NODE_MAJOR)) {
    throw new Error(`the suite needs Node ≥ ${MIN_SUITE_NODE_MAJOR}; ${node} is ${version}`);
  }
  return { node, version, env };
}

type Listed = { scenario: string; applicability: string[] };

async function listServerScenarios(suite: SuiteId, node: SuiteNode): Promise<Listed[]> {
  const cli = join(SUITES[suite], "dist", "index.js");
  const result = await runCommand(node.node, [cli, "list", "--server"], node.env, 30_000, HERE);
  if (result.code !== 0) throw new Error(`conformance ${suite} list failed:\n${result.stdout}`);
  return result.stdout
    .split("\n")
    .map((line) => /^\s+-\s+(\S+)(?:\s+\[([^\]]*)\])?\s*$/.exec(line))
    .filter((match) => match !== null)
    .map((match) => ({
      scenario: match[1]!,
      applicability: (match[2] ?? "").split(",").filter((v) => v !== ""),
    }));
}

type PlannedRun = {
  suite: SuiteId;
  scenario: string;
  /** --spec-version for 0.2; undefined = the suite's own choice. */
  revision: string | undefined;
  /** What the table shows in the revision column. */
  wire: string;
  notApplicable: NotApplicable | undefined;
};

function notApplicable(scenario: string): NotApplicable | undefined {
  return NOT_APPLICABLE.find((entry) => entry.scenario === scenario);
}

function plan(suite: SuiteId, listed: Listed[], filter: string[]): PlannedRun[] {
  const runs: PlannedRun[] = [];
  for (const { scenario, applicability } of listed) {
    if (filter.length > 0 && !filter.includes(scenario)) continue;
    // 0.1 has one wire: the 1.x SDK client negotiating its latest revision.
    let wires: { revision: string | undefined; wire: string }[];
    if (suite === "0.1") {
      wires = [{ revision: undefined, wire: "2025-11-25" }];
    } else if (applicability.includes("extension")) {
      wires = [{ revision: undefined, wire: "extension" }];
    } else {
      const served = REVISIONS.filter((revision) => applicability.includes(revision));
      const latest = applicability.at(-1);
      wires =
        served.length > 0
          ? served.map((revision) => ({ revision, wire: revision }))
          : [{ revision: latest, wire: latest ?? "?" }];
    }
    for (const { revision, wire } of wires) {
      runs.push({
        suite,
        scenario,
        revision,
        wire,
        notApplicable: notApplicable(scenario),
      });
    }
  }
  return runs;
}

type Check = {
  id: string;
  name?: string;
  status: string;
  errorMessage?: string;
  details?: unknown;
};

type Outcome = PlannedRun & {
  path: string;
  status: "pass" | "fail" | "timeout" | "error" | "skipped" | "n/a";
  /** failure counts only the checks that apply; excused = failed checks listed as not applicable. */
  counts: { success: number; failure: number; warning: number; excused: number };
  failures: { id: string; message: string }[];
  durationMs: number;
  dir: string | undefined;
};

async function readChecks(dir: string): Promise<Check[] | undefined> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const text = await readFile(join(dir, entry.name, "checks.json"), "utf8").catch(
      () => undefined,
    );
    if (text !== undefined) return JSON.parse(text) as Check[];
  }
  return undefined;
}

function runDirName(run: PlannedRun, path: string): string {
  const safe = (text: string): string => text.replace(/[^A-Za-z0-9._-]+/g, "_");
  return `${safe(run.scenario)}@${safe(run.wire)}${safe(path)}`;
}

async function execute(
  planned: PlannedRun,
  path: string,
  context: {
    gatewayUrl: string;
    token: string;
    node: SuiteNode;
    out: string;
    timeoutMs: number;
    includeNotApplicable: boolean;
  },
): Promise<Outcome> {
  const started = Date.now();
  const base = {
    ...planned,
    path,
    counts: { success: 0, failure: 0, warning: 0, excused: 0 },
    failures: [],
  };
  const wholeScenario = planned.notApplicable !== undefined && !planned.notApplicable.checks;
  if (wholeScenario && !context.includeNotApplicable) {
    return { ...base, status: "n/a", durationMs: 0, dir: undefined };
  }
  const dir = join(context.out, `suite-${planned.suite}`, runDirName(planned, path));
  await mkdir(dir, { recursive: true });
  const trace = createWriteStream(join(dir, "exchanges.jsonl"));
  const proxy = await startAuthProxy({
    upstream: context.gatewayUrl,
    token: context.token,
    label: `${planned.suite} ${planned.scenario}@${planned.wire}`,
    onExchange: (record: ExchangeRecord) => trace.write(`${JSON.stringify(record)}\n`),
  });
  const cli = join(SUITES[planned.suite], "dist", "index.js");
  const args = [cli, "server", "--url", `${proxy.url}${path}`, "--scenario", planned.scenario];
  args.push("--output-dir", join(dir, "results"));
  if (planned.suite === "0.2") {
    if (planned.revision !== undefined) args.push("--spec-version", planned.revision);
    // The suite's own per-scenario bound, inside ours.
    args.push("--timeout", String(Math.max(1000, context.timeoutMs - 5000)));
  }
  let completed: Completed;
  try {
    completed = await runCommand(context.node.node, args, context.node.env, context.timeoutMs, dir);
  } finally {
    await proxy.close();
    await new Promise<void>((done) => trace.end(() => done()));
  }
  await writeFile(join(dir, "output.txt"), completed.stdout);
  const durationMs = Date.now() - started;
  if (completed.timedOut) {
    return {
      ...base,
      status: "timeout",
      failures: [{ id: "harness", message: `killed after ${context.timeoutMs} ms` }],
      durationMs,
      dir,
    };
  }
  if (/^SKIPPED: /m.test(completed.stdout)) return { ...base, status: "skipped", durationMs, dir };
  const checks = await readChecks(join(dir, "results"));
  if (checks === undefined) {
    return {
      ...base,
      status: "error",
      failures: [
        {
          id: "harness",
          message: `no checks.json (exit ${completed.code ?? completed.signal}): ${completed.stdout.slice(-400)}`,
        },
      ],
      durationMs,
      dir,
    };
  }
  const excusedIds = new Set(planned.notApplicable?.checks ?? []);
  const failed = checks.filter((check) => check.status === "FAILURE");
  const counted = failed.filter((check) => !excusedIds.has(check.id));
  const counts = {
    success: checks.filter((check) => check.status === "SUCCESS").length,
    failure: counted.length,
    warning: checks.filter((check) => check.status === "WARNING").length,
    excused: failed.length - counted.length,
  };
  const failures = counted.map((check) => ({
    id: check.id,
    message: check.errorMessage ?? check.name ?? "",
  }));
  return {
    ...base,
    status: wholeScenario ? "n/a" : counts.failure === 0 ? "pass" : "fail",
    counts,
    failures,
    durationMs,
    dir,
  };
}

async function pool<T, R>(items: T[], jobs: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, items.length) }, worker));
  return results;
}

function table(outcomes: Outcome[], paths: string[]): string {
  const rows = outcomes
    .filter((o) => o.dir !== undefined)
    .map((o) => [
      o.suite,
      o.scenario,
      o.wire,
      ...(paths.length > 1 ? [o.path] : []),
      o.status.toUpperCase(),
      `${o.counts.success}✓ ${o.counts.failure}✗ ${o.counts.warning}⚠` +
        (o.counts.excused > 0 ? ` ${o.counts.excused} n/a` : ""),
      `${(o.durationMs / 1000).toFixed(1)}s`,
    ]);
  const header = ["suite", "scenario", "wire", ...(paths.length > 1 ? ["path"] : [])];
  header.push("result", "checks", "time");
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ");
  return [line(header), ...rows.map(line)].join("\n");
}

/** The not-applicable entries this run met, one line per reason. */
function notApplicableSection(outcomes: Outcome[]): string {
  const byReason = new Map<string, Set<string>>();
  for (const o of outcomes) {
    const entry = o.notApplicable;
    if (entry === undefined) continue;
    const what = entry.checks
      ? `${entry.scenario} (checks ${entry.checks.join(", ")})`
      : entry.scenario;
    byReason.set(entry.reason, (byReason.get(entry.reason) ?? new Set<string>()).add(what));
  }
  return [...byReason]
    .map(([reason, scenarios]) => `  ${[...scenarios].join(", ")}\n      ${reason}`)
    .join("\n");
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  const startedAt = Date.now();
  const node = await suiteNode();
  const versions: Record<string, string> = {};
  for (const suite of options.suites) {
    const manifest = JSON.parse(await readFile(join(SUITES[suite], "package.json"), "utf8")) as {
      version: string;
    };
    versions[suite] = manifest.version;
  }
  const out =
    options.out !== undefined
      ? resolve(options.out)
      : await mkdtemp(join(tmpdir(), "mcp-gateway-conformance-"));
  await mkdir(out, { recursive: true });

  const listed = await Promise.all(options.suites.map((suite) => listServerScenarios(suite, node)));
  const runs = options.suites.flatMap((suite, i) => plan(suite, listed[i]!, options.scenarios));
  if (options.scenarios.length > 0) {
    const known = new Set(listed.flat().map((l) => l.scenario));
    const unknown = options.scenarios.filter((s) => !known.has(s));
    if (unknown.length > 0) throw new Error(`unknown scenario(s): ${unknown.join(", ")}`);
  }

  // The gateway under test: the embedded stack as `npm start` runs it, shipped config, in-memory
  // PGlite, every port chosen by the OS, fresh secrets, nothing inherited from this shell's env.
  const secret = (): string => randomBytes(32).toString("base64url");
  const env: Record<string, string> = {
    NODE_ENV: "test",
    HOST: "127.0.0.1",
    PORT: "0",
    EXT_AUTHZ_PORT: "0",
    CONFIG_DIR: join(REPO, "config"),
    // Named explicitly so the token minted below and ext-authz agree whatever their defaults.
    JWT_ISSUER: "http://localhost:8010",
    JWT_SECRET_KEY: secret(),
    GATEWAY_VERDICT_KEY: secret(),
    TOOL_GATEWAY_SHARED_SECRET: secret(),
  };
  const logDestination = pino.destination({ dest: join(out, "gateway.log"), sync: true });
  const logger = createLogger({ name: "gateway", level: "info", destination: logDestination });
  let stack: EmbeddedStack | undefined;
  const shutdown = async (): Promise<void> => {
    for (const pid of running) killGroup(pid);
    await stack?.close();
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`conformance: ${signal}, stopping\n`);
    void shutdown().finally(() => process.exit(2));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  let outcomes: Outcome[];
  try {
    stack = await startEmbeddedStack({ env, inMemoryDatabase: true, logger });
    const token = await signDevToken(
      { user: "conformance", roles: ["developer"], ttlSeconds: 3600 },
      env,
    );
    process.stdout.write(
      `MCP conformance: suite ${options.suites.map((s) => `${s} = ${versions[s]}`).join(", ")} ` +
        `on Node ${node.version}; gateway on Node ${process.version} at ${stack.url}\n` +
        `paths ${options.paths.join(", ")}; results in ${out}\n\n`,
    );
    const context = {
      gatewayUrl: stack.url,
      token,
      node,
      out,
      timeoutMs: options.scenarioTimeoutMs,
      includeNotApplicable: options.includeNotApplicable,
    };
    const work = runs.flatMap((r) => options.paths.map((path) => ({ r, path })));
    outcomes = await pool(work, options.jobs, async ({ r, path }) => {
      const outcome = await execute(r, path, context);
      if (outcome.dir !== undefined) {
        process.stdout.write(
          `${outcome.status.toUpperCase().padEnd(7)} ${r.suite} ${r.scenario}@${r.wire} ${path}\n`,
        );
      }
      return outcome;
    });
  } finally {
    await shutdown();
    logDestination.flushSync();
  }

  const failed = outcomes.filter((o) => ["fail", "timeout", "error"].includes(o.status));
  process.stdout.write(`\n${table(outcomes, options.paths)}\n`);
  const notApplicableLines = notApplicableSection(outcomes);
  if (notApplicableLines !== "") {
    process.stdout.write(
      `\nNot applicable (see test/conformance/scenarios.ts):\n${notApplicableLines}\n`,
    );
  }
  if (failed.length > 0) {
    process.stdout.write("\nFailed checks:\n");
    for (const o of failed) {
      process.stdout.write(`  ${o.suite} ${o.scenario}@${o.wire} ${o.path}  (${o.dir ?? ""})\n`);
      for (const f of o.failures)
        process.stdout.write(`    - ${f.id}: ${f.message.slice(0, 300)}\n`);
    }
  }
  const count = (status: Outcome["status"]): number =>
    outcomes.filter((o) => o.status === status).length;
  const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);
  process.stdout.write(
    `\n${count("pass")} passed, ${failed.length} failed, ${count("skipped")} skipped by the suite, ` +
      `${count("n/a")} not applicable (scenario runs); ${seconds}s; results in ${out}\n`,
  );
  await writeFile(
    join(out, "summary.json"),
    JSON.stringify(
      { versions, node: node.version, paths: options.paths, seconds: Number(seconds), outcomes },
      null,
      2,
    ),
  );
  return failed.length > 0 ? 1 : 0;
}

let exitCode: number;
try {
  exitCode = await main();
} catch (error) {
  process.stderr.write(`conformance: ${error instanceof Error ? error.message : String(error)}\n`);
  exitCode = 2;
}
// Nothing may keep CI waiting once the verdict is known (a stray socket, a timer in a dependency).
process.exit(exitCode);
