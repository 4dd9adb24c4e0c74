/**
 * Runs every server scenario of the official MCP conformance suite (both vendored versions, see
 * test/conformance/package.json) DIRECTLY against the conformance fixture, no gateway in
 * between, and prints a table. See docs/conformance-fixture.md.
 *
 *   tsx test/conformance-fixture/run-direct.ts [--suite 0.1|0.2]... [--scenario id]...
 *       [--url http://127.0.0.1:PORT/mcp] [--jobs n] [--scenario-timeout ms] [--out dir]
 *
 * Without --url the fixture is started in this process on an OS-chosen port; with it, the
 * scenarios run against that endpoint instead (another fixture, or the gateway relaying to one).
 * The suite runs in child processes on the Node 22 of test/conformance (CONFORMANCE_NODE
 * overrides it); each scenario is bounded by --scenario-timeout and the whole run by
 * --run-timeout. Exit status: 0 when every scenario passed or is listed in NOT_APPLICABLE
 * below, 1 otherwise, 2 when the harness could not run.
 */
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startConformanceFixture } from "./server.ts";

const HERE = dirname(fileURLToPath(import.meta.url));
const CONFORMANCE = resolve(HERE, "../conformance");
type SuiteId = "0.1" | "0.2";
const SUITE_DIRS: Record<SuiteId, string> = {
  "0.1": join(CONFORMANCE, "node_modules", "conformance-0-1"),
  "0.2": join(CONFORMANCE, "node_modules", "conformance-0-2"),
};
/** The revisions a scenario runs at on suite 0.2 (each one it applies to). */
const REVISIONS = ["2025-11-25", "2026-07-28"] as const;

/**
 * Scenarios that cannot pass against this fixture, with the reason: they still run and are
 * reported, but do not fail the run. Empty today — every server scenario of both suites passes
 * (the suite itself skips `tasks-status-notifications`, pending its own rewrite).
 */
export const NOT_APPLICABLE: Readonly<Record<string, string>> = {};

type Options = {
  suites: SuiteId[];
  scenarios: string[];
  url: string | undefined;
  jobs: number;
  scenarioTimeoutMs: number;
  runTimeoutMs: number;
  out: string | undefined;
};

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      suite: { type: "string", multiple: true },
      scenario: { type: "string", multiple: true },
      url: { type: "string" },
      jobs: { type: "string", default: "4" },
      "scenario-timeout": { type: "string", default: "60000" },
      "run-timeout": { type: "string", default: "600000" },
      out: { type: "string" },
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
  const runTimeoutMs = Number(values["run-timeout"]);
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > 16) throw new Error("--jobs must be 1..16");
  for (const [name, value] of [
    ["--scenario-timeout", scenarioTimeoutMs],
    ["--run-timeout", runTimeoutMs],
  ] as const) {
    if (!Number.isInteger(value) || value < 1000) throw new Error(`${name} must be ms ≥ 1000`);
  }
  return {
    suites,
    scenarios: values.scenario ?? [],
    url: values.url,
    jobs,
    scenarioTimeoutMs,
    runTimeoutMs,
    out: values.out,
  };
}

type Completed = { code: number | null; timedOut: boolean; output: string };

/** Suite processes alive right now; each leads its own process group. */
const running = new Set<number>();

function killGroup(pid: number): void {
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // already gone
  }
}

function run(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
  timeoutMs: number,
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
    child.on("close", (code) => {
      clearTimeout(timer);
      if (pid !== undefined) running.delete(pid);
      resolvePromise({ code, timedOut, output });
    });
  });
}

type SuiteNode = { node: string; env: NodeJS.ProcessEnv };

async function suiteNode(): Promise<SuiteNode> {
  const node = process.env.CONFORMANCE_NODE ?? join(CONFORMANCE, "node_modules", ".bin", "node");
  // Node 22 first on PATH for the suite's processes only.
  const env = { ...process.env, PATH: `${dirname(node)}${delimiter}${process.env.PATH ?? ""}` };
  const result = await run(node, ["--version"], env, HERE, 10_000).catch((error: unknown) => {
    throw new Error(
      `cannot run the suite's Node at ${node} (${String(error)}): run \`npm ci\` in test/conformance, or set CONFORMANCE_NODE`,
    );
  });
  const major = Number(/^v(\d+)\./.exec(result.output.trim())?.[1]);
  if (!(major >= 22))
    throw new Error(`the suite needs Node ≥ 22; ${node} is ${result.output.trim()}`);
  return { node, env };
}

type Listed = { scenario: string; applicability: string[] };

async function listScenarios(suite: SuiteId, node: SuiteNode): Promise<Listed[]> {
  const cli = join(SUITE_DIRS[suite], "dist", "index.js");
  const result = await run(node.node, [cli, "list", "--server"], node.env, HERE, 30_000);
  if (result.code !== 0) throw new Error(`conformance ${suite} list failed:\n${result.output}`);
  return result.output
    .split("\n")
    .map((line) => /^\s+-\s+(\S+)(?:\s+\[([^\]]*)\])?\s*$/.exec(line))
    .filter((match) => match !== null)
    .map((match) => ({
      scenario: match[1]!,
      applicability: (match[2] ?? "").split(",").filter((value) => value !== ""),
    }));
}

type Planned = { suite: SuiteId; scenario: string; revision: string | undefined; wire: string };

function plan(suite: SuiteId, listed: Listed[], filter: string[]): Planned[] {
  const planned: Planned[] = [];
  for (const { scenario, applicability } of listed) {
    if (filter.length > 0 && !filter.includes(scenario)) continue;
    if (suite === "0.1") {
      // Suite 0.1 has one wire: the 1.x SDK client negotiating 2025-11-25.
      planned.push({ suite, scenario, revision: undefined, wire: "2025-11-25" });
    } else if (applicability.includes("extension")) {
      planned.push({ suite, scenario, revision: undefined, wire: "extension" });
    } else {
      const served = REVISIONS.filter((revision) => applicability.includes(revision));
      const revisions = served.length > 0 ? served : [applicability.at(-1)];
      for (const revision of revisions) {
        planned.push({ suite, scenario, revision, wire: revision ?? "?" });
      }
    }
  }
  return planned;
}

type Check = { id: string; name?: string; status: string; errorMessage?: string };

type Outcome = Planned & {
  status: "pass" | "fail" | "timeout" | "error" | "skipped" | "n/a";
  success: number;
  failure: number;
  warning: number;
  skipped: number;
  failures: string[];
  ms: number;
};

async function readChecks(dir: string): Promise<Check[] | undefined> {
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (!entry.isDirectory()) continue;
    const text = await readFile(join(dir, entry.name, "checks.json"), "utf8").catch(
      () => undefined,
    );
    if (text !== undefined) return JSON.parse(text) as Check[];
  }
  return undefined;
}

async function execute(
  planned: Planned,
  context: { url: string; node: SuiteNode; out: string; timeoutMs: number },
): Promise<Outcome> {
  const started = Date.now();
  const safe = (text: string): string => text.replace(/[^A-Za-z0-9._-]+/g, "_");
  const dir = join(
    context.out,
    `suite-${planned.suite}`,
    `${safe(planned.scenario)}@${safe(planned.wire)}`,
  );
  await mkdir(dir, { recursive: true });
  const cli = join(SUITE_DIRS[planned.suite], "dist", "index.js");
  const args = [cli, "server", "--url", context.url, "--scenario", planned.scenario];
  args.push("--output-dir", join(dir, "results"));
  if (planned.suite === "0.2") {
    if (planned.revision !== undefined) args.push("--spec-version", planned.revision);
    args.push("--timeout", String(Math.max(1000, context.timeoutMs - 5000)));
  }
  const completed = await run(context.node.node, args, context.node.env, dir, context.timeoutMs);
  await writeFile(join(dir, "output.txt"), completed.output);
  const base = { ...planned, success: 0, failure: 0, warning: 0, skipped: 0, failures: [] };
  const ms = Date.now() - started;
  const excused = NOT_APPLICABLE[planned.scenario] !== undefined;
  if (completed.timedOut) {
    return { ...base, status: "timeout", failures: [`killed after ${context.timeoutMs} ms`], ms };
  }
  const checks = await readChecks(join(dir, "results"));
  if (checks === undefined) {
    if (/^SKIPPED: /m.test(completed.output)) return { ...base, status: "skipped", ms };
    return {
      ...base,
      status: excused ? "n/a" : "error",
      failures: [`no checks.json (exit ${completed.code}): ${completed.output.slice(-300)}`],
      ms,
    };
  }
  const failed = checks.filter((check) => check.status === "FAILURE");
  const counts = {
    success: checks.filter((check) => check.status === "SUCCESS").length,
    failure: failed.length,
    warning: checks.filter((check) => check.status === "WARNING").length,
    skipped: checks.filter((check) => check.status === "SKIPPED").length,
  };
  const status =
    failed.length > 0
      ? excused
        ? "n/a"
        : "fail"
      : counts.success === 0 && counts.skipped > 0
        ? "skipped"
        : "pass";
  return {
    ...base,
    ...counts,
    status,
    failures: failed.map((check) => `${check.id}: ${check.errorMessage ?? check.name ?? ""}`),
    ms,
  };
}

async function pool<T, R>(items: T[], jobs: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
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

function table(outcomes: Outcome[]): string {
  const rows = outcomes.map((outcome) => [
    outcome.suite,
    outcome.scenario,
    outcome.wire,
    outcome.status.toUpperCase(),
    `${outcome.success}✓ ${outcome.failure}✗ ${outcome.warning}⚠ ${outcome.skipped}⊘`,
    `${(outcome.ms / 1000).toFixed(1)}s`,
  ]);
  const header = ["suite", "scenario", "wire", "status", "checks", "time"];
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column]!.length)),
  );
  const line = (cells: string[]): string =>
    cells
      .map((cell, column) => cell.padEnd(widths[column]!))
      .join("  ")
      .trimEnd();
  return [line(header), line(widths.map((width) => "-".repeat(width))), ...rows.map(line)].join(
    "\n",
  );
}

async function main(options: Options): Promise<number> {
  const node = await suiteNode();
  const out = options.out ?? (await mkdtemp(join(tmpdir(), "conformance-fixture-")));
  const fixture =
    options.url === undefined ? await startConformanceFixture({ port: 0 }) : undefined;
  const url = options.url ?? fixture!.url;
  try {
    const planned: Planned[] = [];
    for (const suite of options.suites) {
      planned.push(...plan(suite, await listScenarios(suite, node), options.scenarios));
    }
    process.stderr.write(
      `conformance-fixture: ${planned.length} runs against ${url}, results in ${out}\n`,
    );
    const outcomes = await pool(planned, options.jobs, (item) =>
      execute(item, { url, node, out, timeoutMs: options.scenarioTimeoutMs }),
    );
    process.stdout.write(`${table(outcomes)}\n`);
    const bad = outcomes.filter((outcome) => ["fail", "timeout", "error"].includes(outcome.status));
    for (const outcome of outcomes.filter((o) => o.failures.length > 0)) {
      process.stdout.write(
        `\n${outcome.suite} ${outcome.scenario}@${outcome.wire} (${outcome.status}):\n`,
      );
      for (const failure of outcome.failures)
        process.stdout.write(`  - ${failure.slice(0, 400)}\n`);
      const reason = NOT_APPLICABLE[outcome.scenario];
      if (reason !== undefined) process.stdout.write(`  (not applicable: ${reason})\n`);
    }
    const summary = { url, out, outcomes };
    await writeFile(join(out, "summary.json"), JSON.stringify(summary, null, 2));
    const count = (status: Outcome["status"]): number =>
      outcomes.filter((outcome) => outcome.status === status).length;
    process.stdout.write(
      `\n${count("pass")} passed, ${bad.length} failed, ${count("skipped")} skipped, ${count("n/a")} not applicable (of ${outcomes.length})\n`,
    );
    return bad.length === 0 ? 0 : 1;
  } finally {
    await fixture?.close();
  }
}

function exit(code: number): never {
  for (const pid of running) killGroup(pid);
  process.exit(code);
}

try {
  const options = parseOptions(process.argv.slice(2));
  setTimeout(() => {
    process.stderr.write("conformance-fixture: the whole run hit --run-timeout\n");
    exit(124);
  }, options.runTimeoutMs).unref();
  exit(await main(options));
} catch (error) {
  process.stderr.write(
    `conformance-fixture: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  exit(2);
}
