/**
 * Scale-out: the gateway with 1, 2 and 4 router processes on this machine, sharing one PostgreSQL
 * database, one Redis and one calculator, and what a larger deployment would need.
 *
 *   npm run build && npx tsx bench/scale-out.ts [--routers 1,2,4] [--duration 10]
 *        [--connections 64] [--log-level info] [--database-url postgres://…] [--redis redis://…]
 *
 * Each router has its own ext-authz (AUTHZ_MODE=direct, one ext-authz per router): both tiers are
 * stateless and scale out together in a deployment, and a single ext-authz would be the first
 * bottleneck by construction, hiding the shared ones this measures. The load (--connections in
 * all, split evenly, one autocannon per router) stays the same at every step, so a change in
 * throughput comes from the replicas. Per step it prints requests/s, CPU per request of each
 * process kind (the PostgreSQL backends of the benchmark's database and the private Redis
 * included), Redis commands per check (INFO commandstats), PostgreSQL transactions and audit rows
 * per request, and the PostgreSQL connections held; then it extrapolates to --target req/s.
 *
 * Services run from dist/ with NODE_ENV=production, LOG_LEVEL=info as in bench/targets.ts; the
 * database is `bench_scale_out`, dropped and created anew each run.
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { freshDatabase, type BenchDatabase } from "./bench-database.ts";
import { commandDelta, openBenchRedis, type BenchRedis } from "./bench-redis.ts";
import { runBounded } from "./child-processes.ts";
import { exitWithUsage, numberOption, parseOptions, UsageError } from "./cli-options.ts";
import {
  SERVICE_OPTIONS,
  serviceSettings,
  newSecrets,
  requireDist,
  signToken,
  startCalculator,
  startExtAuthz,
  startRouter,
  writeConfig,
  type ServiceSettings,
  type Secrets,
  type Service,
} from "./gateway-services.ts";
import { percentile, runLoads, type LoadResult } from "./http-load.ts";
import { cpuDeltaMs, cpuOfEach, treeCpuMs } from "./proc-stats.ts";
import { fixed, loadAverage, printTable, type Cell } from "./report.ts";
import { callOnce, gatewayCall } from "./tool-call.ts";

const USAGE =
  "usage: npx tsx bench/scale-out.ts [--routers 1,2,4] [--duration 3..60] [--connections 4..512] " +
  "[--target 10000] [--log-level info] [--database-url postgres://…] [--redis redis://…]";

/** The router's PostgreSQL pool (store/src/open-database.ts default). */
const ROUTER_POOL_MAX = 10;
const WARM_S = 5;
/** Share of a core a replica is planned to use at the target rate, leaving headroom. */
const PLANNED_UTILISATION = 0.7;
/** Commands that run a script are one round trip each; what a script calls is counted as well. */
const SCRIPT_COMMANDS = new Set(["eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"]);

type Settings = {
  routers: number[];
  durationS: number;
  connections: number;
  targetRps: number;
} & ServiceSettings;

function settingsFromArgs(): Settings {
  const values = parseOptions(
    {
      routers: { type: "string" },
      duration: { type: "string" },
      connections: { type: "string" },
      target: { type: "string" },
      ...SERVICE_OPTIONS,
    },
    USAGE,
  );
  try {
    const routers = (values.routers ?? "1,2,4")
      .split(",")
      .map((text) => numberOption("routers", text.trim(), { min: 1, max: 8 })!);
    if (routers.some((n, i) => i > 0 && n <= routers[i - 1]!)) {
      throw new UsageError("--routers must be increasing, e.g. 1,2,4");
    }
    const connections = numberOption("connections", values.connections, { min: 4, max: 512 });
    if (connections !== undefined && connections < routers.at(-1)!) {
      throw new UsageError("--connections must be at least the largest number of routers");
    }
    return {
      routers,
      durationS: numberOption("duration", values.duration, { min: 3, max: 60 }) ?? 10,
      connections: connections ?? 64,
      targetRps: numberOption("target", values.target, { min: 1, max: 1_000_000 }) ?? 10_000,
      ...serviceSettings(values),
    };
  } catch (error) {
    if (error instanceof UsageError) exitWithUsage(error.message, USAGE);
    throw error;
  }
}

const settings = settingsFromArgs();
await runBounded((settings.routers.length * (settings.durationS + 45) + 60) * 1000, () =>
  main(settings),
);

type Pair = { router: Service; extAuthz: Service };

/** What one step measured, per request sent unless named otherwise. */
type Step = {
  routers: number;
  load: LoadResult;
  rps: number;
  cpuMs: { router: number; extAuthz: number; calculator: number; postgres: number; redis: number };
  redisCommands: Map<string, number>;
  transactions: number;
  auditRows: number;
  connections: { max: number; maxActive: number };
};

async function main(settings: Settings): Promise<void> {
  await requireDist();
  process.stdout.write(
    `scale-out: node ${process.version}, services on dist/ with NODE_ENV=production ` +
      `LOG_LEVEL=${settings.logLevel}; ${settings.connections} connections in all, ` +
      `${settings.durationS} s per step; one ext-authz per router\nstart: ${loadAverage()}\n`,
  );
  const dir = await mkdtemp(path.join(tmpdir(), "mcp-bench-scale-"));
  try {
    const database = await freshDatabase(settings.databaseServer, "bench_scale_out");
    const redis = await openBenchRedis(dir, settings.redisUrl);
    process.stdout.write(`PostgreSQL database ${database.name}; Redis: ${redis.description}\n`);
    try {
      const steps = await measureSteps(settings, dir, database, redis);
      printSteps(settings, steps);
      printExtrapolation(settings, steps, await database.maxConnections());
    } finally {
      await database.close();
      await redis.close();
    }
    process.stdout.write(`\nend: ${loadAverage()}\n`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function measureSteps(
  settings: Settings,
  dir: string,
  database: BenchDatabase,
  redis: BenchRedis,
): Promise<Step[]> {
  const secrets = newSecrets();
  const calculator = await startCalculator({ secrets, logLevel: settings.logLevel });
  const configDir = path.join(dir, "config");
  await writeConfig(configDir, calculator.address);
  const token = await signToken(secrets, "bench");
  const rateLimitKeyPrefix = `bench:${randomUUID()}`;
  const pairs: Pair[] = [];
  const steps: Step[] = [];
  for (const count of settings.routers) {
    while (pairs.length < count) {
      pairs.push(
        await startPair(settings, secrets, configDir, database, redis, rateLimitKeyPrefix, pairs),
      );
    }
    const targets = pairs.map((pair) =>
      gatewayCall(`${pair.router.address}/calculator/mcp`, token),
    );
    for (const target of targets) await callOnce(target);
    const perRouter = Math.floor(settings.connections / count);
    // New routers must be warm (JIT, pools) before their costs are measured.
    await runLoads(targets, { connections: perRouter, durationS: WARM_S });
    steps.push(
      await measureStep(settings, count, perRouter, targets, pairs, calculator, database, redis),
    );
  }
  return steps;
}

async function startPair(
  settings: Settings,
  secrets: Secrets,
  configDir: string,
  database: BenchDatabase,
  redis: BenchRedis,
  rateLimitKeyPrefix: string,
  existing: readonly Pair[],
): Promise<Pair> {
  const n = existing.length + 1;
  const extAuthz = await startExtAuthz({
    secrets,
    logLevel: settings.logLevel,
    configDir,
    databaseUrl: database.url,
    redisUrl: redis.url,
    rateLimitKeyPrefix,
    name: `ext-authz ${n}`,
  });
  const router = await startRouter({
    secrets,
    logLevel: settings.logLevel,
    configDir,
    databaseUrl: database.url,
    extAuthzAddress: extAuthz.address,
    name: `mcp-router ${n}`,
  });
  return { router, extAuthz };
}

async function measureStep(
  settings: Settings,
  count: number,
  perRouter: number,
  targets: Parameters<typeof runLoads>[0],
  pairs: readonly Pair[],
  calculator: Service,
  database: BenchDatabase,
  redis: BenchRedis,
): Promise<Step> {
  const cpuOf = async (services: readonly Service[]) =>
    (await Promise.all(services.map((service) => treeCpuMs(service.pid)))).reduce(
      (sum, ms) => sum + ms,
      0,
    );
  const routers = pairs.map((pair) => pair.router);
  const authz = pairs.map((pair) => pair.extAuthz);
  const sample = async () => ({
    router: await cpuOf(routers),
    extAuthz: await cpuOf(authz),
    calculator: await cpuOf([calculator]),
    redis: redis.pid === undefined ? NaN : await treeCpuMs(redis.pid),
    postgres: await cpuOfEach(await database.backendPids()),
    commands: await redis.commandCalls(),
    transactions: await database.transactions(),
    auditRows: await database.auditRows(),
  });

  const before = await sample();
  const held: number[] = [];
  const active: number[] = [];
  const watch = setInterval(() => {
    void database.connections().then((states) => {
      held.push(Object.values(states).reduce((sum, n) => sum + n, 0));
      active.push(states.active ?? 0);
    });
  }, 1_000);
  const started = performance.now();
  let results: LoadResult[];
  try {
    results = await runLoads(targets, { connections: perRouter, durationS: settings.durationS });
  } finally {
    clearInterval(watch);
  }
  const seconds = (performance.now() - started) / 1000;
  // Requests cut off when the load ended still finish on the servers: count their costs too.
  await new Promise((resolve) => setTimeout(resolve, 500));
  const after = await sample();

  const load = combine(results, seconds);
  const requests = Math.max(load.sent, 1);
  const postgres = cpuDeltaMs(before.postgres, after.postgres);
  held.sort((a, b) => a - b);
  active.sort((a, b) => a - b);
  return {
    routers: count,
    load,
    rps: load.rps,
    cpuMs: {
      router: (after.router - before.router) / requests,
      extAuthz: (after.extAuthz - before.extAuthz) / requests,
      calculator: (after.calculator - before.calculator) / requests,
      postgres: postgres / requests,
      redis: (after.redis - before.redis) / requests,
    },
    redisCommands: perRequest(commandDelta(before.commands, after.commands), requests),
    transactions: (after.transactions - before.transactions) / requests,
    auditRows: (after.auditRows - before.auditRows) / requests,
    connections: { max: percentile(held, 1), maxActive: percentile(active, 1) },
  };
}

/** The per-router results as one: counts summed, percentiles of the slowest router. */
function combine(results: readonly LoadResult[], seconds: number): LoadResult {
  const refused = new Map<number, number>();
  for (const result of results) {
    for (const [status, n] of result.refused) refused.set(status, (refused.get(status) ?? 0) + n);
  }
  const ok = results.reduce((sum, r) => sum + r.ok, 0);
  return {
    sent: results.reduce((sum, r) => sum + r.sent, 0),
    answered: results.reduce((sum, r) => sum + r.answered, 0),
    ok,
    refused,
    errors: results.reduce((sum, r) => sum + r.errors, 0),
    seconds,
    rps: ok / seconds,
    p50: Math.max(...results.map((r) => r.p50)),
    p99: Math.max(...results.map((r) => r.p99)),
  };
}

function perRequest(counts: Map<string, number>, requests: number): Map<string, number> {
  return new Map([...counts].map(([name, n]) => [name, n / requests]));
}

function printSteps(settings: Settings, steps: readonly Step[]): void {
  const first = steps[0]!;
  printTable(
    `Throughput with N routers (each with its own ext-authz), ${settings.connections} connections in all, ${settings.durationS} s per step`,
    ["routers", "req/s", "× 1 router", "p50 ms*", "p99 ms*", "non-2xx"],
    steps.map((step) => [
      step.routers,
      fixed(step.rps, 0),
      fixed(step.rps / first.rps, 2),
      fixed(step.load.p50, 1),
      fixed(step.load.p99, 1),
      step.load.answered - step.load.ok + step.load.errors,
    ]),
  );
  process.stdout.write("* of the slowest router\n");
  printTable(
    "CPU per request (ms), all processes of a kind together",
    ["routers", "mcp-router", "ext-authz", "calculator", "PostgreSQL backends", "Redis", "total"],
    steps.map((step) => {
      const c = step.cpuMs;
      const total = c.router + c.extAuthz + c.calculator + c.postgres + (c.redis || 0);
      return [
        step.routers,
        fixed(c.router, 3),
        fixed(c.extAuthz, 3),
        fixed(c.calculator, 3),
        fixed(c.postgres, 3),
        fixed(c.redis, 3),
        fixed(total, 3),
      ];
    }),
  );
  printTable(
    "Shared resources per request",
    [
      "routers",
      "Redis round trips (script calls)",
      "other Redis commands, inside scripts or alone",
      "PG transactions",
      "audit rows",
      "PG connections held (max)",
      "PG active (max)",
    ],
    steps.map((step): Cell[] => {
      const { scripts, others } = splitCommands(step.redisCommands);
      return [
        step.routers,
        fixed(scripts, 2),
        [...others].map(([name, n]) => `${name} ${fixed(n, 2)}`).join(", ") || "none",
        fixed(step.transactions, 2),
        fixed(step.auditRows, 2),
        step.connections.max,
        step.connections.maxActive,
      ];
    }),
  );
}

function splitCommands(commands: Map<string, number>) {
  let scripts = 0;
  const others = new Map<string, number>();
  for (const [name, n] of commands) {
    if (SCRIPT_COMMANDS.has(name)) scripts += n;
    else others.set(name, n);
  }
  return { scripts, others };
}

/**
 * Linear extrapolation from the per-request costs of the first step (one replica per tier, the
 * least contention here) and of the last (the most processes sharing this machine's cores): each
 * figure is a rate times a measured cost, given as "first / last".
 */
function printExtrapolation(
  settings: Settings,
  steps: readonly Step[],
  maxConnections: number,
): void {
  const bases = [steps[0]!, steps.at(-1)!];
  const target = settings.targetRps;
  const cores = (ms: number) => (target * ms) / 1000;
  const replicas = (ms: number) => Math.ceil(cores(ms) / PLANNED_UTILISATION);
  const both = (cell: (step: Step) => string) => bases.map(cell).join(" / ");
  const roundTrips = (step: Step) => splitCommands(step.redisCommands).scripts;
  const routerReplicas = (step: Step) => replicas(step.cpuMs.router);
  printTable(
    `What ${target} req/s of this call needs, from the per-request costs with ` +
      `${bases.map((step) => `${step.routers} router(s)`).join(" / ")}`,
    ["resource", "per request", `at ${target} req/s`, "needs"],
    [
      [
        "mcp-router CPU",
        both((s) => `${fixed(s.cpuMs.router, 3)} ms`),
        both((s) => `${fixed(cores(s.cpuMs.router), 1)} cores`),
        `${both((s) => String(routerReplicas(s)))} replicas at ${PLANNED_UTILISATION * 100}% of a core`,
      ],
      [
        "ext-authz CPU",
        both((s) => `${fixed(s.cpuMs.extAuthz, 3)} ms`),
        both((s) => `${fixed(cores(s.cpuMs.extAuthz), 1)} cores`),
        `${both((s) => String(replicas(s.cpuMs.extAuthz)))} replicas at ${PLANNED_UTILISATION * 100}% of a core`,
      ],
      [
        "tool server CPU (calculator)",
        both((s) => `${fixed(s.cpuMs.calculator, 3)} ms`),
        both((s) => `${fixed(cores(s.cpuMs.calculator), 1)} cores`),
        `${both((s) => String(replicas(s.cpuMs.calculator)))} replicas`,
      ],
      [
        "Redis round trips",
        both((s) => fixed(roundTrips(s), 2)),
        `${both((s) => fixed(target * roundTrips(s), 0))} /s`,
        `${both((s) => fixed(cores(s.cpuMs.redis), 2))} of Redis's one core`,
      ],
      [
        "PostgreSQL transactions",
        both((s) => fixed(s.transactions, 2)),
        `${both((s) => fixed(target * s.transactions, 0))} /s`,
        `${both((s) => fixed(cores(s.cpuMs.postgres), 1))} cores of backends`,
      ],
      [
        "audit rows (audit_events)",
        both((s) => fixed(s.auditRows, 2)),
        `${both((s) => fixed(target * s.auditRows, 0))} /s`,
        "vs the writer alone (bench/targets.ts)",
      ],
      [
        "PostgreSQL connections",
        `≤ ${ROUTER_POOL_MAX} per router`,
        `${both((s) => String(routerReplicas(s)))} routers`,
        `≤ ${both((s) => String(routerReplicas(s) * ROUTER_POOL_MAX))} (+ ext-authz pools on denials); this server allows ${maxConnections}`,
      ],
    ],
  );
  process.stdout.write(
    "Linear in the request rate: batching (group commit, HTTP/2) makes per-request costs fall\n" +
      "with load, contention on this 2-core machine makes them rise; Envoy, TLS and the network\n" +
      "are not included.\n",
  );
}
