/**
 * The performance targets, measured in one run, each printed with its ratio or limit and pass/FAIL.
 *
 *   npm run build && npx tsx bench/targets.ts [--quick] [--duration 10] [--saturate 30]
 *        [--log-level info] [--database-url postgres://…] [--redis redis://…]
 *
 * The run starts with what one hop between two processes costs on this machine (hop-cost.ts):
 * calls spread out pay about that once per process they wake, so it tells machines apart.
 *
 * Every service runs from the compiled build (`dist/`, run `npm run build` first) on plain `node`
 * with NODE_ENV=production and LOG_LEVEL=info (the production default; --log-level changes it), its
 * log lines discarded. Load comes from autocannon in this process; the gateway call is a stateless
 * (2026-07-28) MCP tools/call of exact_calculate on /calculator/mcp with a Bearer token, the direct
 * call the same tools/call as the router forwards it (see tool-call.ts). Measured:
 *
 * - nginx passthrough (when installed), the direct call to the calculator, and the gateway as
 *   separate processes (calculator, ext-authz, mcp-router in AUTHZ_MODE=direct; PostgreSQL +
 *   Redis) at 10 and 50 connections, with the CPU each process spends per request sent
 *   (/proc utime+stime, all threads; nginx's workers included);
 * - the added latency at a fixed 200 req/s (gateway minus direct, p50 and p99), with the CPU per
 *   call of every process on the way (PostgreSQL's backends, a private Redis and this process, the
 *   load generator, included) and how many cores the machine kept busy;
 * - ext-authz Check against a bare grpc-js unary server with the same message sizes, 100 in flight;
 * - a saturating run (50 connections, --saturate seconds): CPU per call of each service, resident
 *   memory idle, at the end of the load and settled, and every answered call's x-request-id looked
 *   up in audit_events. "Idle" and "settled" are read after 20 and 45 s without requests:
 *   V8 keeps the heap it grew under load (mostly garbage not yet collected) until its memory
 *   reducer runs after some seconds of low allocation; the targets are judged on those figures,
 *   and the figure at the end of the load is printed beside them;
 * - the router as deployed behind Envoy (AUTHZ_MODE=envoy), the load generator sending what Envoy
 *   forwards once ext-authz allowed (behind-envoy.ts): its CPU per call, on which the router's
 *   target is judged (in the saturating run it also makes the Check, Envoy's part), and idle RSS;
 * - the audit writer alone into PostgreSQL (rows/s);
 * - the embedded stack (`npm start`'s process, PGlite) under the same saturating run.
 *
 * PostgreSQL: the database `bench_targets` on the server of --database-url (default: DATABASE_URL's
 * server, else postgres://postgres@127.0.0.1:5432), dropped and created anew each run. Redis: see
 * bench-redis.ts. A target that is missed prints FAIL; the exit code reports only errors.
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import path from "node:path";
import { decodeCheckResponse, CHECK_PATH } from "../contract/src/authz-wire.ts";
import { measureAuditWriter } from "./audit-writer-rate.ts";
import { freshDatabase, type BenchDatabase } from "./bench-database.ts";
import { openBenchRedis, type BenchRedis } from "./bench-redis.ts";
import { behindEnvoyCall } from "./behind-envoy.ts";
import { encodedCheckRequest } from "./check-request.ts";
import { HOP_SPREAD_MS, measureHopCost } from "./hop-cost.ts";
import { runBounded, type Child } from "./child-processes.ts";
import { exitWithUsage, numberOption, parseOptions, UsageError } from "./cli-options.ts";
import {
  SERVICE_OPTIONS,
  serviceSettings,
  newSecrets,
  requireDist,
  signToken,
  startCalculator,
  startEmbedded,
  startExtAuthz,
  startRouter,
  writeConfig,
  type ServiceSettings,
  type Secrets,
  type Service,
} from "./gateway-services.ts";
import { callUnary, startEchoServer, unaryClient, unaryLoad } from "./grpc-unary-load.ts";
import { problems, runLoad, type LoadResult, type LoadTarget } from "./http-load.ts";
import { startNginxProxy, type NginxProxy } from "./nginx-proxy.ts";
import {
  cpuDeltaMs,
  cpuMs,
  cpuOfEach,
  machineCpuMs,
  measureCpu,
  rssMb,
  treeRssMb,
} from "./proc-stats.ts";
import {
  atLeast,
  atMost,
  fixed,
  loadAverage,
  megabytes,
  printTable,
  printVerdicts,
  ratioAtLeast,
  type Cell,
  type Verdict,
} from "./report.ts";
import { callOnce, directCall, gatewayCall } from "./tool-call.ts";

const USAGE =
  "usage: npx tsx bench/targets.ts [--quick] [--duration 2..60] [--saturate 5..120] " +
  "[--log-level info] [--database-url postgres://…] [--redis redis://…]";

type Settings = {
  durationS: number;
  saturateS: number;
  warmS: number;
  settleS: number;
  /** After a saturating run V8 keeps the grown heap longer than after start-up. */
  settleAfterLoadS: number;
} & ServiceSettings;

const CONNECTIONS = [10, 50] as const;
/** How many times longer a router is warmed up than the direct call before it is measured. */
const GATEWAY_WARM_FACTOR = 3;
const SATURATE_CONNECTIONS = 50;
const FIXED_RATE = 200;
const FIXED_RATE_CONNECTIONS = 10;
const GRPC_IN_FLIGHT = 100;

function settingsFromArgs(): Settings {
  const values = parseOptions(
    {
      quick: { type: "boolean", default: false },
      duration: { type: "string" },
      saturate: { type: "string" },
      ...SERVICE_OPTIONS,
    },
    USAGE,
  );
  try {
    const quick = values.quick === true;
    return {
      durationS: numberOption("duration", values.duration, { min: 2, max: 60 }) ?? (quick ? 3 : 10),
      saturateS:
        numberOption("saturate", values.saturate, { min: 5, max: 120 }) ?? (quick ? 10 : 30),
      warmS: quick ? 2 : 5,
      settleS: quick ? 15 : 20,
      settleAfterLoadS: quick ? 30 : 45,
      ...serviceSettings(values),
    };
  } catch (error) {
    if (error instanceof UsageError) exitWithUsage(error.message, USAGE);
    throw error;
  }
}

/**
 * Generous: about 12 windows and their warm-ups, two saturating runs, the waits for memory (three
 * idle readings, two settled ones) and the start-ups.
 */
function boundMs(settings: Settings): number {
  const waits = 3 * settings.settleS + 2 * settings.settleAfterLoadS;
  const warmUps = (6 + 2 * GATEWAY_WARM_FACTOR) * settings.warmS;
  return (13 * settings.durationS + 2 * settings.saturateS + waits + warmUps + 150) * 1000;
}

const settings = settingsFromArgs();
await runBounded(boundMs(settings), () => main(settings));

async function main(settings: Settings): Promise<void> {
  await requireDist();
  process.stdout.write(
    `performance targets: node ${process.version}, services on dist/ with NODE_ENV=production ` +
      `LOG_LEVEL=${settings.logLevel}; windows ${settings.durationS} s, saturating runs ` +
      `${settings.saturateS} s at ${SATURATE_CONNECTIONS} connections\n` +
      `start: ${loadAverage()}\n`,
  );
  const hop = await measureHopCost();
  process.stdout.write(
    `one hop between two processes (64-byte loopback TCP round trip): the answering process ` +
      `spends ${fixed(hop.spreadServerUs, 0)} µs of CPU per round trip when they are ${HOP_SPREAD_MS} ms apart, ` +
      `${fixed(hop.busyServerUs, 0)} µs back to back; spread-out p50 ${fixed(hop.spreadP50Us, 0)} µs\n`,
  );
  const dir = await mkdtemp(path.join(tmpdir(), "mcp-bench-targets-"));
  const verdicts: Verdict[] = [];
  try {
    const database = await freshDatabase(settings.databaseServer, "bench_targets");
    const redis = await openBenchRedis(dir, settings.redisUrl);
    process.stdout.write(`PostgreSQL database ${database.name}; Redis: ${redis.description}\n`);
    try {
      verdicts.push(...(await separateProcesses(settings, dir, database, redis)));
      verdicts.push(...(await auditWriterAlone(settings, database)));
      verdicts.push(...(await embeddedStack(settings, dir)));
    } finally {
      await database.close();
      await redis.close();
    }
    printVerdicts("Summary", verdicts);
    process.stdout.write(`end: ${loadAverage()}\n`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

type Gateway = {
  secrets: Secrets;
  calculator: Service;
  extAuthz: Service;
  router: Service;
  token: string;
};

async function separateProcesses(
  settings: Settings,
  dir: string,
  database: BenchDatabase,
  redis: BenchRedis,
): Promise<Verdict[]> {
  const secrets = newSecrets();
  const calculator = await startCalculator({ secrets, logLevel: settings.logLevel });
  const configDir = path.join(dir, "config");
  await writeConfig(configDir, calculator.address);
  const extAuthz = await startExtAuthz({
    secrets,
    logLevel: settings.logLevel,
    configDir,
    databaseUrl: database.url,
    redisUrl: redis.url,
    rateLimitKeyPrefix: `bench:${randomUUID()}`,
  });
  const router = await startRouter({
    secrets,
    logLevel: settings.logLevel,
    configDir,
    databaseUrl: database.url,
    extAuthzAddress: extAuthz.address,
  });
  const gateway: Gateway = {
    secrets,
    calculator,
    extAuthz,
    router,
    token: await signToken(secrets, "bench"),
  };
  const services = { calculator, "ext-authz": extAuthz, "mcp-router": router };
  const verdicts: Verdict[] = [];

  const direct = () => directCall(`${calculator.address}/mcp`, secrets.TOOL_GATEWAY_SHARED_SECRET);
  const viaGateway = () => gatewayCall(`${router.address}/calculator/mcp`, gateway.token);
  await callOnce(direct());
  await callOnce(viaGateway());
  await sleep(settings.settleS);
  const idle = await rssOf(services);

  const nginx = await startNginxProxy(dir, calculator.address);
  try {
    const baseline = nginx && {
      proxy: nginx,
      target: () => directCall(`${nginx.address}/mcp`, secrets.TOOL_GATEWAY_SHARED_SECRET),
    };
    if (baseline) await callOnce(baseline.target());
    else process.stdout.write("\nnote: /usr/sbin/nginx not installed: no nginx baseline\n");
    verdicts.push(...(await throughput(settings, gateway, { direct, viaGateway, baseline })));
    verdicts.push(...(await fixedRate(settings, gateway, { database, redis }, direct, viaGateway)));
  } finally {
    await nginx?.stop();
  }
  verdicts.push(...(await checkVersusEcho(settings, gateway)));
  verdicts.push(...(await saturate(settings, gateway, database, idle)));
  verdicts.push(...(await routerBehindEnvoy(settings, gateway, configDir, database)));
  for (const service of [router, extAuthz, calculator]) await service.stop();
  return verdicts;
}

async function throughput(
  settings: Settings,
  gateway: Gateway,
  paths: {
    direct: () => LoadTarget;
    viaGateway: () => LoadTarget;
    baseline: { proxy: NginxProxy; target: () => LoadTarget } | undefined;
  },
): Promise<Verdict[]> {
  const runs: { name: string; target: () => LoadTarget; pids: Record<string, number> }[] = [
    ...(paths.baseline
      ? [
          {
            name: "nginx → calculator",
            target: paths.baseline.target,
            pids: { nginx: paths.baseline.proxy.pid, calculator: gateway.calculator.pid },
          },
        ]
      : []),
    { name: "direct", target: paths.direct, pids: { calculator: gateway.calculator.pid } },
    {
      name: "gateway",
      target: paths.viaGateway,
      pids: {
        router: gateway.router.pid,
        "ext-authz": gateway.extAuthz.pid,
        calculator: gateway.calculator.pid,
      },
    },
  ];
  for (const run of runs) {
    // The gateway's CPU per call keeps falling for 10-15 s after start-up (V8 optimizes its much
    // longer code path later than the tool server's); measured warm, as a running gateway is.
    const warmS = run.name === "gateway" ? GATEWAY_WARM_FACTOR * settings.warmS : settings.warmS;
    await runLoad(run.target(), { connections: 10, durationS: warmS });
  }
  const rows: Cell[][] = [];
  const verdicts: Verdict[] = [];
  for (const connections of CONNECTIONS) {
    const results = new Map<string, LoadResult>();
    for (const run of runs) {
      const measured = await measureCpu(run.pids, () =>
        runLoad(run.target(), { connections, durationS: settings.durationS }),
      );
      const load = measured.result;
      results.set(run.name, load);
      const perRequest = Object.entries(measured.cpuMs)
        .map(([name, ms]) => `${name} ${fixed(ms / Math.max(load.sent, 1), 3)}`)
        .join(", ");
      rows.push([
        run.name,
        connections,
        fixed(load.rps, 0),
        fixed(load.p50, 2),
        fixed(load.p99, 2),
        "",
        perRequest,
        problems(load),
      ]);
    }
    const direct = results.get("direct")!;
    for (const row of rows.slice(-runs.length)) {
      row[5] = fixed(results.get(String(row[0]))!.rps / direct.rps, 2);
    }
    verdicts.push(
      ratioAtLeast(
        `gateway throughput, ${connections} connections`,
        results.get("gateway")!.rps,
        direct.rps,
        0.6,
        "req/s",
      ),
    );
  }
  printTable(
    `Throughput: tools/call exact_calculate, ${settings.durationS} s per row`,
    ["path", "conns", "req/s", "p50 ms", "p99 ms", "× direct", "CPU ms per request", "non-2xx"],
    rows,
  );
  return verdicts;
}

/** The stores every gateway call reaches, for their CPU. */
type SharedStores = { database: BenchDatabase; redis: BenchRedis };

async function fixedRate(
  settings: Settings,
  gateway: Gateway,
  stores: SharedStores,
  direct: () => LoadTarget,
  viaGateway: () => LoadTarget,
): Promise<Verdict[]> {
  const options = {
    connections: FIXED_RATE_CONNECTIONS,
    durationS: settings.durationS,
    rate: FIXED_RATE,
  };
  const directRun = await cpuPerCall({ calculator: gateway.calculator.pid }, stores, () =>
    runLoad(direct(), options),
  );
  const gatewayRun = await cpuPerCall(
    {
      calculator: gateway.calculator.pid,
      "mcp-router": gateway.router.pid,
      "ext-authz": gateway.extAuthz.pid,
    },
    stores,
    () => runLoad(viaGateway(), options),
  );
  const addedP50 = gatewayRun.result.p50 - directRun.result.p50;
  const addedP99 = gatewayRun.result.p99 - directRun.result.p99;
  printTable(
    `Latency at a fixed ${FIXED_RATE} req/s (${FIXED_RATE_CONNECTIONS} connections, ${settings.durationS} s each)`,
    ["path", "req/s", "p50 ms", "p99 ms", "non-2xx"],
    [
      [
        "direct",
        fixed(directRun.result.rps, 0),
        fixed(directRun.result.p50, 2),
        fixed(directRun.result.p99, 2),
        problems(directRun.result),
      ],
      [
        "gateway",
        fixed(gatewayRun.result.rps, 0),
        fixed(gatewayRun.result.p50, 2),
        fixed(gatewayRun.result.p99, 2),
        problems(gatewayRun.result),
      ],
      ["added by the gateway", "", fixed(addedP50, 2), fixed(addedP99, 2), ""],
    ],
  );
  const names = Object.keys(gatewayRun.perCall);
  printTable(
    `CPU per call in those windows (ms): calls ${fixed(1000 / FIXED_RATE, 0)} ms apart wake each ` +
      "process they pass through; the machine's share busy is what queues the calls",
    ["process", "direct", "gateway"],
    [
      ...names.map((name) => [
        name,
        fixed(directRun.perCall[name] ?? NaN, 3),
        fixed(gatewayRun.perCall[name]!, 3),
      ]),
      [
        `cores busy (of ${cpus().length})`,
        fixed(directRun.coresBusy, 2),
        fixed(gatewayRun.coresBusy, 2),
      ],
    ],
  );
  return [
    atMost(`added p50 at ${FIXED_RATE} req/s`, addedP50, 2, "ms"),
    atMost(`added p99 at ${FIXED_RATE} req/s`, addedP99, 10, "ms"),
  ];
}

/**
 * CPU per request sent during `work`: of each service, of PostgreSQL's backends and the private
 * Redis (when there is one), of this process (the load generator) and of the whole machine; and
 * how many cores the machine kept busy on average.
 */
async function cpuPerCall(
  services: Readonly<Record<string, number>>,
  stores: SharedStores,
  work: () => Promise<LoadResult>,
): Promise<{ result: LoadResult; perCall: Record<string, number>; coresBusy: number }> {
  const sampleOthers = async () => ({
    postgres: await cpuOfEach(await stores.database.backendPids()),
    redis: stores.redis.pid === undefined ? NaN : await cpuMs(stores.redis.pid),
    generator: await cpuMs(process.pid),
    machine: await machineCpuMs(),
  });
  const before = await sampleOthers();
  const started = performance.now();
  const run = await measureCpu(services, work);
  const after = await sampleOthers();
  const sampledMs = performance.now() - started;
  const sent = Math.max(run.result.sent, 1);
  const perCall: Record<string, number> = {};
  for (const [name, ms] of Object.entries(run.cpuMs)) perCall[name] = ms / sent;
  perCall.PostgreSQL = cpuDeltaMs(before.postgres, after.postgres) / sent;
  perCall.Redis = (after.redis - before.redis) / sent;
  perCall["load generator"] = (after.generator - before.generator) / sent;
  const machineBusy = after.machine.busy - before.machine.busy;
  perCall["whole machine"] = machineBusy / sent;
  return { result: run.result, perCall, coresBusy: machineBusy / sampledMs };
}

async function checkVersusEcho(settings: Settings, gateway: Gateway): Promise<Verdict[]> {
  const request = encodedCheckRequest(
    gatewayCall(`${gateway.router.address}/calculator/mcp`, gateway.token),
  );
  const authzClient = unaryClient(gateway.extAuthz.address);
  let echo: (Child & { address: string; method: string }) | undefined;
  try {
    const answer = await callUnary(authzClient, CHECK_PATH, request);
    const decoded = decodeCheckResponse(answer);
    if ((decoded.status?.code ?? 0) !== 0) {
      throw new Error(`the Check was denied: ${decoded.status?.message ?? "no message"}`);
    }
    echo = await startEchoServer(answer.length);
    const echoClient = unaryClient(echo.address);
    try {
      const options = { inFlight: GRPC_IN_FLIGHT, durationS: settings.durationS };
      await unaryLoad(authzClient, CHECK_PATH, request, { ...options, durationS: settings.warmS });
      await unaryLoad(echoClient, echo.method, request, { ...options, durationS: settings.warmS });
      const check = await measureCpu({ server: gateway.extAuthz.pid }, () =>
        unaryLoad(authzClient, CHECK_PATH, request, options),
      );
      const bare = await measureCpu({ server: echo.pid }, () =>
        unaryLoad(echoClient, echo!.method, request, options),
      );
      const row = (name: string, run: typeof check): Cell[] => [
        name,
        fixed(run.result.rate, 0),
        fixed(run.result.p50, 2),
        fixed(run.result.p99, 2),
        fixed(run.cpuMs.server! / Math.max(run.result.completed, 1), 3),
        run.result.errors,
      ];
      printTable(
        `gRPC: ext-authz Check (cached token, quotas in Redis) vs a bare grpc-js unary server; ` +
          `request ${request.length} B, response ${answer.length} B, ${GRPC_IN_FLIGHT} in flight, ${settings.durationS} s each`,
        ["server", "calls/s", "p50 ms", "p99 ms", "server CPU ms/call", "errors"],
        [row("ext-authz Check", check), row("bare unary echo", bare)],
      );
      return [
        ratioAtLeast(
          "ext-authz Check vs bare grpc echo",
          check.result.rate,
          bare.result.rate,
          0.7,
          "calls/s",
        ),
      ];
    } finally {
      echoClient.close();
    }
  } finally {
    authzClient.close();
    await echo?.stop();
  }
}

async function saturate(
  settings: Settings,
  gateway: Gateway,
  database: BenchDatabase,
  idle: Record<string, number>,
): Promise<Verdict[]> {
  const subject = "bench-saturate";
  const token = await signToken(gateway.secrets, subject);
  const pids = {
    "mcp-router": gateway.router.pid,
    "ext-authz": gateway.extAuthz.pid,
    calculator: gateway.calculator.pid,
  };
  const requestIds: string[] = [];
  let withoutId = 0;
  const run = await measureCpu(pids, () =>
    runLoad(gatewayCall(`${gateway.router.address}/calculator/mcp`, token), {
      connections: SATURATE_CONNECTIONS,
      durationS: settings.saturateS,
      onAnswer: (_status, headers) => {
        const id = headers["x-request-id"];
        if (typeof id === "string") requestIds.push(id);
        else withoutId += 1;
      },
    }),
  );
  const load = run.result;
  const atEnd = await rssOfPids(pids);
  await sleep(settings.settleAfterLoadS);
  const after = await rssOfPids(pids);
  const audit = await reconcileAudit(database, subject, requestIds);
  const perCall = (name: string) => run.cpuMs[name]! / Math.max(load.sent, 1);
  printTable(
    `Saturating run: gateway (separate processes), ${SATURATE_CONNECTIONS} connections, ${settings.saturateS} s: ` +
      `${fixed(load.rps, 0)} req/s, p50 ${fixed(load.p50, 2)} ms, p99 ${fixed(load.p99, 2)} ms, ${problems(load)}; ` +
      "the router (AUTHZ_MODE=direct) also makes the gRPC Check that Envoy makes in a deployment",
    ["service", "CPU ms per call", "RSS idle", "RSS at end of load", "RSS settled"],
    Object.keys(pids).map((name) => [
      name,
      fixed(perCall(name), 3),
      megabytes(idle[name]!),
      megabytes(atEnd[name]!),
      megabytes(after[name]!),
    ]),
  );
  printTable(
    "Audit of the saturating run: every answer's request id looked up in audit_events",
    ["answered", "with their row", "missing", "no x-request-id", "rows of the run's user"],
    [[load.answered, requestIds.length - audit.missing, audit.missing, withoutId, audit.rows]],
  );
  return [
    // The router's own target is judged behind Envoy (routerBehindEnvoy): here it also plays
    // Envoy's ext_authz client, which a deployment leaves to Envoy.
    atMost("CPU per tools/call: ext-authz", perCall("ext-authz"), 0.35, "ms"),
    atMost("CPU per tools/call: calculator", perCall("calculator"), 0.4, "ms"),
    ...Object.keys(pids).map((name) => atMost(`RSS idle: ${name}`, idle[name]!, 90, "MB")),
    ...Object.keys(pids).map((name) =>
      atMost(`RSS after saturating run: ${name}`, after[name]!, 130, "MB"),
    ),
    {
      target: "audit: no loss in the saturating run",
      measured: `${audit.missing + withoutId} of ${load.answered} answers unaudited`,
      bound: "0 missing",
      pass: audit.missing + withoutId === 0,
    },
  ];
}

/**
 * The router as deployed: behind Envoy (AUTHZ_MODE=envoy), which makes the Check and forwards the
 * call with ext-authz's answer applied. No Envoy runs here, so the load generator sends what Envoy
 * would forward (behind-envoy.ts), from a real allow answer of this run's ext-authz. A second
 * router on the same database and calculator, 50 connections; the one of the saturating run
 * (AUTHZ_MODE=direct) spent the same plus the gRPC Check it makes in Envoy's place.
 */
async function routerBehindEnvoy(
  settings: Settings,
  gateway: Gateway,
  configDir: string,
  database: BenchDatabase,
): Promise<Verdict[]> {
  const router = await startRouter({
    secrets: gateway.secrets,
    logLevel: settings.logLevel,
    configDir,
    databaseUrl: database.url,
    extAuthzAddress: gateway.extAuthz.address,
    name: "mcp-router (AUTHZ_MODE=envoy)",
    env: { AUTHZ_MODE: "envoy" },
  });
  try {
    const call = gatewayCall(`${router.address}/calculator/mcp`, gateway.token);
    const authzClient = unaryClient(gateway.extAuthz.address);
    let allowed;
    try {
      allowed = decodeCheckResponse(
        await callUnary(authzClient, CHECK_PATH, encodedCheckRequest(call)),
      );
    } finally {
      authzClient.close();
    }
    const target = behindEnvoyCall(call, allowed, gateway.secrets.GATEWAY_VERDICT_KEY);
    await callOnce(target);
    await sleep(settings.settleS);
    const idle = await rssMb(router.pid);
    const pids = { "mcp-router": router.pid, calculator: gateway.calculator.pid };
    await runLoad(target, {
      connections: SATURATE_CONNECTIONS,
      durationS: GATEWAY_WARM_FACTOR * settings.warmS,
    });
    const run = await measureCpu(pids, () =>
      runLoad(target, { connections: SATURATE_CONNECTIONS, durationS: settings.durationS }),
    );
    const perCall = (name: string) => run.cpuMs[name]! / Math.max(run.result.sent, 1);
    printTable(
      `The router behind Envoy (AUTHZ_MODE=envoy; the load generator sends what Envoy forwards ` +
        `after ext-authz allowed), ${SATURATE_CONNECTIONS} connections, ${settings.durationS} s: ` +
        `${fixed(run.result.rps, 0)} req/s, p50 ${fixed(run.result.p50, 2)} ms, ${problems(run.result)}`,
      ["service", "CPU ms per call", "RSS idle"],
      [
        ["mcp-router", fixed(perCall("mcp-router"), 3), megabytes(idle)],
        ["calculator", fixed(perCall("calculator"), 3), ""],
      ],
    );
    return [
      atMost("CPU per tools/call: mcp-router (behind Envoy)", perCall("mcp-router"), 0.5, "ms"),
    ];
  } finally {
    await router.stop();
  }
}

/**
 * Answers without their invocation row. Write-ahead, a row is committed before its answer leaves;
 * one more look after a pause covers AUDIT_MODE=best-effort. The user's row count also holds calls
 * whose answers the load generator dropped when the run ended.
 */
async function reconcileAudit(database: BenchDatabase, subject: string, requestIds: string[]) {
  let missing = await database.unaudited(requestIds);
  if (missing.length > 0) {
    await sleep(2);
    missing = await database.unaudited(missing);
  }
  return { missing: missing.length, rows: await database.invocationRows(subject) };
}

async function auditWriterAlone(settings: Settings, database: BenchDatabase): Promise<Verdict[]> {
  const result = await measureAuditWriter(database.url, settings.durationS);
  printTable(
    `Audit writer alone into PostgreSQL (write(), default batch size and queue), ${settings.durationS} s`,
    ["queued", "stored", "failed", "commits", "rows/s"],
    [[result.queued, result.stored, result.failed, result.commits, fixed(result.rowsPerSecond, 0)]],
  );
  return [atLeast("audit writer alone into PostgreSQL", result.rowsPerSecond, 20_000, "rows/s")];
}

async function embeddedStack(settings: Settings, dir: string): Promise<Verdict[]> {
  const secrets = newSecrets();
  const stack = await startEmbedded({
    secrets,
    logLevel: settings.logLevel,
    dir: path.join(dir, "embedded"),
  });
  try {
    const target = gatewayCall(
      `${stack.address}/calculator/mcp`,
      await signToken(secrets, "bench"),
    );
    await callOnce(target);
    await sleep(settings.settleS);
    const idle = await rssMb(stack.pid);
    await runLoad(target, { connections: 10, durationS: settings.warmS });
    const run = await measureCpu({ stack: stack.pid }, () =>
      runLoad(target, { connections: SATURATE_CONNECTIONS, durationS: settings.saturateS }),
    );
    const atEnd = await rssMb(stack.pid);
    await sleep(settings.settleAfterLoadS);
    const after = await rssMb(stack.pid);
    const perCall = run.cpuMs.stack! / Math.max(run.result.sent, 1);
    printTable(
      `Embedded stack (npm start's process: dist/dev/main.js, PGlite), ${SATURATE_CONNECTIONS} connections, ${settings.saturateS} s`,
      [
        "req/s",
        "p50 ms",
        "p99 ms",
        "CPU ms per call",
        "RSS idle",
        "RSS at end of load",
        "RSS settled",
        "non-2xx",
      ],
      [
        [
          fixed(run.result.rps, 0),
          fixed(run.result.p50, 2),
          fixed(run.result.p99, 2),
          fixed(perCall, 3),
          megabytes(idle),
          megabytes(atEnd),
          megabytes(after),
          problems(run.result),
        ],
      ],
    );
    return [
      atMost("embedded stack: CPU per tools/call (all of it)", perCall, 1.5, "ms"),
      atMost("embedded stack: RSS after saturating run", after, 250, "MB"),
    ];
  } finally {
    await stack.stop(10_000);
  }
}

async function rssOf(services: Record<string, Child>): Promise<Record<string, number>> {
  return rssOfPids(Object.fromEntries(Object.entries(services).map(([name, s]) => [name, s.pid])));
}

async function rssOfPids(pids: Record<string, number>): Promise<Record<string, number>> {
  const entries = await Promise.all(
    Object.entries(pids).map(async ([name, pid]) => [name, await treeRssMb(pid)] as const),
  );
  return Object.fromEntries(entries);
}

function sleep(seconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, seconds * 1000));
}
