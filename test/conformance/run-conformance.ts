/**
 * Runs the server scenarios of the official MCP conformance suite (@modelcontextprotocol/conformance,
 * two versions side by side) against the embedded gateway, through an auth-injecting proxy.
 *
 *   test/conformance/run.sh [--backend fixture|calculator] [--transport streamable-http|stdio]
 *                           [--suite 0.1|0.2] [--scenario id] [--path /conformance/sse]
 *                           [--out dir] [--jobs n] [--scenario-timeout ms] [--run-timeout ms]
 *                           [--trace-upstream] [--include-not-applicable]
 *
 * `--backend fixture` (the default) puts the conformance fixture (test/conformance-fixture) behind
 * the gateway as a standard MCP server, scope `conformance` (`mcp_server` over Streamable HTTP, or
 * stdio with `--transport stdio`), and runs every server scenario against /conformance/mcp.
 * `--backend calculator` runs against the gateway's own /calculator/mcp, with the shipped config.
 *
 * The gateway runs here, on this Node; the suite runs in child processes on the Node 22 that
 * test/conformance/package.json pins (the suite needs it; the project stays on Node 20).
 * Exit status: 0 when every run passed or failed as scenarios.ts expects, 1 otherwise (a failure
 * not listed there, or a listed one that passed), 2 on a harness problem (run.sh adds 124: the
 * whole run hit its ceiling). See docs/conformance.md.
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
import { startAuthProxy, type AuthProxy, type ExchangeRecord } from "./auth-proxy.ts";
import { harnessChecks } from "./harness-checks.ts";
import {
  judgeBroken,
  judgeChecks,
  UNEXPECTED,
  type Check,
  type Status,
  type Verdict,
} from "./judge.ts";
import {
  FIXTURE_SCOPE,
  prepareFixtureBackend,
  type FixtureBackend,
  type FixtureTransport,
} from "./fixture-backend.ts";
import {
  BACKENDS,
  expectationMatches,
  expectationsFor,
  REVISIONS,
  type Backend,
  type Expectation,
} from "./scenarios.ts";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, "../..");
type SuiteId = "0.1" | "0.2";
const SUITES: Record<SuiteId, string> = {
  "0.1": join(HERE, "node_modules", "conformance-0-1"),
  "0.2": join(HERE, "node_modules", "conformance-0-2"),
};
const MIN_SUITE_NODE_MAJOR = 22;

type Options = {
  backend: Backend;
  transport: FixtureTransport;
  suites: SuiteId[];
  scenarios: string[];
  paths: string[];
  out: string | undefined;
  jobs: number;
  scenarioTimeoutMs: number;
  /** No new scenario starts after this; running ones are bounded by scenarioTimeoutMs. */
  runTimeoutMs: number;
  traceUpstream: boolean;
  includeNotApplicable: boolean;
  /** The revision the router speaks to the fixture over Streamable HTTP. */
  upstreamVersion: (typeof UPSTREAM_VERSIONS)[number];
};

const UPSTREAM_VERSIONS = ["2025-11-25", "2026-07-28"] as const;

const TRANSPORTS = ["streamable-http", "stdio"] as const;

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      backend: { type: "string", default: "fixture" },
      transport: { type: "string", default: "streamable-http" },
      suite: { type: "string", multiple: true },
      scenario: { type: "string", multiple: true },
      path: { type: "string", multiple: true },
      out: { type: "string" },
      jobs: { type: "string", default: "2" },
      "scenario-timeout": { type: "string", default: "60000" },
      "run-timeout": { type: "string", default: "480000" },
      "trace-upstream": { type: "boolean", default: false },
      "include-not-applicable": { type: "boolean", default: false },
      "upstream-version": { type: "string", default: "2025-11-25" },
    },
    strict: true,
    allowPositionals: false,
  });
  const suites = (values.suite ?? ["0.1", "0.2"]).map((suite) => {
    if (suite !== "0.1" && suite !== "0.2") throw new Error(`--suite must be 0.1 or 0.2: ${suite}`);
    return suite;
  });
  const backend = BACKENDS.find((b) => b === values.backend);
  if (backend === undefined) throw new Error(`--backend must be ${BACKENDS.join(" or ")}`);
  const transport = TRANSPORTS.find((t) => t === values.transport);
  if (transport === undefined) throw new Error(`--transport must be ${TRANSPORTS.join(" or ")}`);
  if (backend !== "fixture" && transport !== "streamable-http") {
    throw new Error("--transport applies to --backend fixture only");
  }
  if (values["trace-upstream"] && !(backend === "fixture" && transport === "streamable-http")) {
    throw new Error("--trace-upstream needs --backend fixture over streamable-http");
  }
  const upstreamVersion = UPSTREAM_VERSIONS.find((v) => v === values["upstream-version"]);
  if (upstreamVersion === undefined) {
    throw new Error(`--upstream-version must be ${UPSTREAM_VERSIONS.join(" or ")}`);
  }
  if (
    upstreamVersion !== "2025-11-25" &&
    !(backend === "fixture" && transport === "streamable-http")
  ) {
    throw new Error("--upstream-version needs --backend fixture over streamable-http");
  }
  const jobs = Number(values.jobs);
  const scenarioTimeoutMs = Number(values["scenario-timeout"]);
  const runTimeoutMs = Number(values["run-timeout"]);
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > 8) throw new Error("--jobs must be 1..8");
  if (!Number.isInteger(scenarioTimeoutMs) || scenarioTimeoutMs < 1000) {
    throw new Error("--scenario-timeout must be whole milliseconds ≥ 1000");
  }
  if (!Number.isInteger(runTimeoutMs) || runTimeoutMs < 1000) {
    throw new Error("--run-timeout must be whole milliseconds ≥ 1000");
  }
  const defaultPath = backend === "fixture" ? `/${FIXTURE_SCOPE}/mcp` : "/calculator/mcp";
  return {
    backend,
    transport,
    suites,
    upstreamVersion,
    scenarios: values.scenario ?? [],
    paths: values.path ?? [defaultPath],
    out: values.out,
    jobs,
    scenarioTimeoutMs,
    runTimeoutMs,
    traceUpstream: values["trace-upstream"],
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
  notApplicable: Expectation | undefined;
  /** scenarios.ts expects this run (or the entry's checks of it) to fail. */
  expectedFailures: readonly Expectation[];
  /** scenarios.ts expects these checks of the run not to succeed (skipped or warned). */
  notExercised: readonly Expectation[];
};

function plan(
  suite: SuiteId,
  listed: Listed[],
  filter: string[],
  target: {
    backend: Backend;
    transport: FixtureTransport | undefined;
    upstream: Options["upstreamVersion"];
  },
): PlannedRun[] {
  const { notApplicable, expectedFailures, notExercised } = expectationsFor(target.backend);
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
      const run = { suite, scenario, wire, transport: target.transport, upstream: target.upstream };
      runs.push({
        suite,
        scenario,
        revision,
        wire,
        notApplicable: notApplicable.find((entry) => expectationMatches(entry, run)),
        expectedFailures: expectedFailures.filter((entry) => expectationMatches(entry, run)),
        notExercised: notExercised.filter((entry) => expectationMatches(entry, run)),
      });
    }
  }
  return runs;
}

type Outcome = PlannedRun &
  Verdict & {
    path: string;
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
    /** A token of a user of its own for each run: runs never share an upstream session. */
    token: (user: string) => Promise<string>;
    node: SuiteNode;
    out: string;
    timeoutMs: number;
    includeNotApplicable: boolean;
    /** Past this time no run starts (it is reported "not run"). */
    deadline: number;
  },
): Promise<Outcome> {
  const started = Date.now();
  const base = {
    ...planned,
    path,
    counts: { success: 0, failure: 0, warning: 0, skipped: 0, excused: 0 },
    failures: [],
  };
  const wholeScenario = planned.notApplicable !== undefined && !planned.notApplicable.checks;
  if (wholeScenario && !context.includeNotApplicable) {
    return { ...base, status: "n/a", durationMs: 0, dir: undefined };
  }
  if (Date.now() > context.deadline) {
    return {
      ...base,
      status: "not run",
      failures: [{ id: "harness", message: "the whole run's time (--run-timeout) was up" }],
      durationMs: 0,
      dir: undefined,
    };
  }
  const dirName = runDirName(planned, path);
  const dir = join(context.out, `suite-${planned.suite}`, dirName);
  await mkdir(dir, { recursive: true });
  const trace = createWriteStream(join(dir, "exchanges.jsonl"));
  const exchanges: ExchangeRecord[] = [];
  const proxy = await startAuthProxy({
    upstream: context.gatewayUrl,
    token: await context.token(`conformance-${planned.suite}-${dirName}`.slice(0, 120)),
    label: `${planned.suite} ${planned.scenario}@${planned.wire}`,
    onExchange: (record: ExchangeRecord) => {
      exchanges.push(record);
      trace.write(`${JSON.stringify(record)}\n`);
    },
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
  const outcome = await evaluate(planned, dir, completed, context.timeoutMs, exchanges);
  return { ...base, ...outcome, durationMs, dir };
}

/** The run's verdict from what the suite left, against what scenarios.ts expects of it. */
async function evaluate(
  planned: PlannedRun,
  dir: string,
  completed: Completed,
  timeoutMs: number,
  exchanges: readonly ExchangeRecord[],
): Promise<Verdict> {
  if (completed.timedOut) return judgeBroken(planned, `killed after ${timeoutMs} ms`, "timeout");
  if (/^SKIPPED: /m.test(completed.stdout)) return judgeBroken(planned, "", "skipped");
  const suiteChecks = await readChecks(join(dir, "results"));
  if (suiteChecks === undefined) {
    return judgeBroken(
      planned,
      `no checks.json (exit ${completed.code ?? completed.signal}): ${completed.stdout.slice(-400)}`,
      "error",
    );
  }
  return judgeChecks(planned, [...suiteChecks, ...harnessChecks(planned.scenario, exchanges)]);
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
      `${o.counts.success}✓ ${o.counts.failure}✗ ${o.counts.warning}⚠ ${o.counts.skipped}⊘` +
        (o.counts.excused > 0 ? ` ${o.counts.excused} excused` : ""),
      `${(o.durationMs / 1000).toFixed(1)}s`,
    ]);
  const header = ["suite", "scenario", "wire", ...(paths.length > 1 ? ["path"] : [])];
  header.push("result", "checks", "time");
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ");
  return [line(header), ...rows.map(line)].join("\n");
}

/** The entries of scenarios.ts this run met (not applicable, or expected failures), by reason. */
function expectationSection(
  outcomes: Outcome[],
  pick: (o: Outcome) => readonly Expectation[],
): string {
  const byReason = new Map<string, Set<string>>();
  for (const entry of outcomes.flatMap(pick)) {
    const at = [entry.suite, entry.wire, entry.transport].filter((v) => v !== undefined).join(" @");
    const what =
      entry.scenario +
      (at === "" ? "" : ` [${at}]`) +
      (entry.checks ? ` (checks ${entry.checks.join(", ")})` : "");
    byReason.set(entry.reason, (byReason.get(entry.reason) ?? new Set<string>()).add(what));
  }
  return [...byReason]
    .map(([reason, scenarios]) => `  ${[...scenarios].join(", ")}\n      ${reason}`)
    .join("\n");
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  const startedAt = Date.now();
  const deadline = startedAt + options.runTimeoutMs;
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
  const runs = options.suites.flatMap((suite, i) =>
    plan(suite, listed[i]!, options.scenarios, {
      backend: options.backend,
      transport: options.backend === "fixture" ? options.transport : undefined,
      upstream: options.upstreamVersion,
    }),
  );
  if (options.scenarios.length > 0) {
    const known = new Set(listed.flat().map((l) => l.scenario));
    const unknown = options.scenarios.filter((s) => !known.has(s));
    if (unknown.length > 0) throw new Error(`unknown scenario(s): ${unknown.join(", ")}`);
  }

  // The gateway under test: the embedded stack as `npm start` runs it, in-memory PGlite, every
  // port chosen by the OS, fresh secrets, nothing inherited from this shell's env. The shipped
  // config/ for the calculator; for the fixture, a copy of it plus the fixture's scope.
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
  let fixture: FixtureBackend | undefined;
  let recorder: AuthProxy | undefined;
  let upstreamTrace: ReturnType<typeof createWriteStream> | undefined;
  const shutdown = async (): Promise<void> => {
    for (const pid of running) killGroup(pid);
    await stack?.close();
    await recorder?.close();
    await fixture?.close();
    if (upstreamTrace !== undefined) {
      const trace = upstreamTrace;
      await new Promise<void>((done) => trace.end(() => done()));
    }
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`conformance: ${signal}, stopping\n`);
    void shutdown().finally(() => process.exit(2));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  let outcomes: Outcome[];
  let backendLine: string;
  try {
    if (options.backend === "fixture") {
      const configDir = join(out, "config");
      env.CONFIG_DIR = configDir;
      // --trace-upstream: a recording hop between the router and the fixture, every upstream
      // exchange of every run interleaved (each has its time; --jobs 1 to read one scenario's).
      const route = async (fixtureUrl: string): Promise<string> => {
        const trace = createWriteStream(join(out, "upstream-exchanges.jsonl"));
        upstreamTrace = trace;
        const target = new URL(fixtureUrl);
        recorder = await startAuthProxy({
          upstream: target.origin,
          token: undefined,
          label: "router→fixture",
          onExchange: (record: ExchangeRecord) => trace.write(`${JSON.stringify(record)}\n`),
        });
        return `${recorder.url}${target.pathname}`;
      };
      fixture = await prepareFixtureBackend(options.transport, configDir, {
        ...(options.traceUpstream ? { route } : {}),
        protocolVersion: options.upstreamVersion,
      });
      backendLine =
        `backend: the conformance fixture as scope "${fixture.scope}" (mcp_server over ` +
        `${fixture.transport}${fixture.url === undefined ? "" : ` at ${fixture.url}`}` +
        `${fixture.transport === "streamable-http" ? `, spoken to at ${options.upstreamVersion}` : ""}` +
        `${fixture.configuredUrl === fixture.url ? "" : `, traced via ${fixture.configuredUrl}`}; ` +
        `${fixture.tools.length} tools); config in ${configDir}`;
    } else {
      backendLine = "backend: the gateway's own calculator scope; the shipped config/";
    }
    stack = await startEmbeddedStack({ env, inMemoryDatabase: true, logger });
    process.stdout.write(
      `MCP conformance: suite ${options.suites.map((s) => `${s} = ${versions[s]}`).join(", ")} ` +
        `on Node ${node.version}; gateway on Node ${process.version} at ${stack.url}\n` +
        `${backendLine}\npaths ${options.paths.join(", ")}; results in ${out}\n\n`,
    );
    const context = {
      gatewayUrl: stack.url,
      token: (user: string) => signDevToken({ user, roles: ["developer"], ttlSeconds: 3600 }, env),
      node,
      out,
      timeoutMs: options.scenarioTimeoutMs,
      includeNotApplicable: options.includeNotApplicable,
      deadline,
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

  const unexpected = outcomes.filter((o) => UNEXPECTED.includes(o.status));
  process.stdout.write(`\n${table(outcomes, options.paths)}\n`);
  const notApplicableLines = expectationSection(outcomes, (o) =>
    o.notApplicable === undefined ? [] : [o.notApplicable],
  );
  if (notApplicableLines !== "") {
    process.stdout.write(
      `\nNot applicable (see test/conformance/scenarios.ts):\n${notApplicableLines}\n`,
    );
  }
  const expectedLines = expectationSection(outcomes, (o) =>
    o.status === "xfail" ? o.expectedFailures : [],
  );
  if (expectedLines !== "") {
    process.stdout.write(
      `\nExpected failures (see test/conformance/scenarios.ts):\n${expectedLines}\n`,
    );
  }
  const partialLines = expectationSection(outcomes, (o) =>
    o.status === "partial" ? o.notExercised : [],
  );
  if (partialLines !== "") {
    process.stdout.write(
      `\nPassed, but not exercised through the gateway (see test/conformance/scenarios.ts):\n` +
        `${partialLines}\n`,
    );
  }
  if (unexpected.length > 0) {
    process.stdout.write("\nUnexpected results:\n");
    for (const o of unexpected) {
      process.stdout.write(
        `  ${o.status.toUpperCase()} ${o.suite} ${o.scenario}@${o.wire} ${o.path}  (${o.dir ?? ""})\n`,
      );
      for (const f of o.failures)
        process.stdout.write(`    - ${f.id}: ${f.message.slice(0, 300)}\n`);
    }
  }
  const count = (status: Status): number => outcomes.filter((o) => o.status === status).length;
  const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);
  process.stdout.write(
    `\n${count("pass")} passed, ${count("partial")} passed partly (not exercised), ` +
      `${count("xfail")} failed as expected, ` +
      `${unexpected.length} unexpected (failed, timed out, passed though listed, or not run), ` +
      `${count("skipped")} skipped by the suite, ${count("n/a")} not applicable (scenario runs); ` +
      `${seconds}s; results in ${out}\n`,
  );
  await writeFile(
    join(out, "summary.json"),
    JSON.stringify(
      {
        versions,
        node: node.version,
        backend: options.backend,
        ...(options.backend === "fixture" ? { transport: options.transport } : {}),
        paths: options.paths,
        seconds: Number(seconds),
        outcomes,
      },
      null,
      2,
    ),
  );
  return unexpected.length > 0 ? 1 : 0;
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
