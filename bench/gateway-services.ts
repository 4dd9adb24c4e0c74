import { randomUUID } from "node:crypto";
import { access, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse, stringify } from "yaml";
import { signDevToken } from "../dev/token-cli.ts";
import { startChild, type Child } from "./child-processes.ts";
import { choiceOption, urlOption } from "./cli-options.ts";
import { freePort } from "./free-port.ts";

/**
 * The gateway's services as the benchmarks run them: the compiled build (`dist/`) on plain `node`,
 * NODE_ENV=production, as Compose and Kubernetes run them; each started on free loopback ports and
 * returned once it answers its readiness check.
 */

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const MAINS = {
  calculator: "dist/tools/calculator/src/main.js",
  extAuthz: "dist/ext-authz/src/main.js",
  router: "dist/mcp-router/src/main.js",
  embedded: "dist/dev/main.js",
} as const;

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The options every benchmark that starts the gateway takes, as parseOptions declares them. */
export const SERVICE_OPTIONS = {
  "log-level": { type: "string" },
  "database-url": { type: "string" },
  redis: { type: "string" },
} as const;

export type ServiceSettings = {
  logLevel: LogLevel;
  /** A PostgreSQL server URL; the benchmark creates its own database there. */
  databaseServer: string;
  /** undefined: the benchmark starts a private redis-server. */
  redisUrl: string | undefined;
};

/** Throws UsageError for a bad value. */
export function serviceSettings(values: {
  "log-level"?: string;
  "database-url"?: string;
  redis?: string;
}): ServiceSettings {
  return {
    logLevel: choiceOption("log-level", values["log-level"], LOG_LEVELS) ?? "info",
    databaseServer:
      urlOption("database-url", values["database-url"], ["postgres:", "postgresql:"]) ??
      process.env.DATABASE_URL ??
      "postgres://postgres@127.0.0.1:5432/postgres",
    redisUrl: urlOption("redis", values.redis, ["redis:", "rediss:"]),
  };
}

/** Production requires both; tokens are minted for exactly these. */
const JWT_ISSUER = "https://issuer.bench.invalid";
const JWT_AUDIENCE = "mcp-gateway";
const READY_DEADLINE_MS = 60_000;

export type Secrets = {
  GATEWAY_VERDICT_KEY: string;
  TOOL_GATEWAY_SHARED_SECRET: string;
  JWT_SECRET_KEY: string;
};

export type Service = Child & {
  /** Base URL (HTTP services) or host:port (ext-authz's gRPC). */
  address: string;
};

/** Fresh random secrets for one run, strong enough for NODE_ENV=production. */
export function newSecrets(): Secrets {
  const secret = () => `${randomUUID()}${randomUUID()}`;
  return {
    GATEWAY_VERDICT_KEY: secret(),
    TOOL_GATEWAY_SHARED_SECRET: secret(),
    JWT_SECRET_KEY: secret(),
  };
}

/** Throws with what to do when the build output is not there. */
export async function requireDist(): Promise<void> {
  const missing: string[] = [];
  for (const main of Object.values(MAINS)) {
    await access(path.join(ROOT, main)).catch(() => missing.push(main));
  }
  if (missing.length > 0) {
    throw new Error(
      `the build output is missing (${missing.join(", ")}): run \`npm run build\` first`,
    );
  }
}

/** A token ext-authz accepts (developer role: every calculator tool), valid for an hour. */
export function signToken(secrets: Secrets, user: string): Promise<string> {
  // The minting helper refuses production; the services verify with the same key and claims.
  return signDevToken(
    { user, roles: ["developer"], ttlSeconds: 3600 },
    { ...secrets, NODE_ENV: "test", JWT_ISSUER, JWT_AUDIENCE },
  );
}

/**
 * The shipped tools.yaml and policy.yaml in `dir`, with quotas no load reaches; `calculatorUrl`
 * keeps only the calculator scope, pointed there (the separate-process shape runs no other tool).
 */
export async function writeConfig(dir: string, calculatorUrl?: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const shipped = path.join(ROOT, "config");
  const tools = parse(await readFile(path.join(shipped, "tools.yaml"), "utf8")) as {
    scopes: Record<string, { backend_url: string }>;
  };
  if (calculatorUrl !== undefined) {
    const calculator = tools.scopes.calculator!;
    tools.scopes = { calculator: { ...calculator, backend_url: calculatorUrl } };
  }
  const policy = parse(await readFile(path.join(shipped, "policy.yaml"), "utf8")) as {
    roles: unknown;
    operator_roles?: string[];
    quotas: unknown;
    protected_resource: { authorization_servers: string[] };
  };
  // The other scopes' roles would name scopes this tools.yaml no longer has.
  if (calculatorUrl !== undefined) {
    policy.roles = { developer: { allow: ["calculator.*"] } };
    policy.operator_roles = [];
  }
  const plenty = { points: 1_000_000_000, duration: "1m" };
  policy.quotas = {
    per_user: { default: plenty },
    per_tool: { default: plenty },
    per_user_tool: { default: plenty },
  };
  policy.protected_resource.authorization_servers = [JWT_ISSUER];
  await writeFile(path.join(dir, "tools.yaml"), stringify(tools));
  await writeFile(path.join(dir, "policy.yaml"), stringify(policy));
}

/** What the image sets too (docker/Dockerfile), besides the log level. */
function production(logLevel: LogLevel): Record<string, string> {
  return { NODE_ENV: "production", LOG_LEVEL: logLevel, MALLOC_ARENA_MAX: "2" };
}

/**
 * BENCH_CPU_PROF_DIR: every service writes a V8 CPU profile there when it exits (`node
 * --cpu-prof`, which NODE_OPTIONS does not take), for docs/performance.md's profiles.
 */
function profileArgs(): string[] {
  const dir = process.env.BENCH_CPU_PROF_DIR;
  return dir === undefined || dir === "" ? [] : ["--cpu-prof", "--cpu-prof-dir", dir];
}

/** The V8 flags `npm start` passes (package.json) besides --expose-gc and source maps. */
const EMBEDDED_FLAGS = ["--wasm-num-compilation-tasks=1"];

function startNode(
  name: string,
  main: string,
  env: Record<string, string>,
  cwd?: string,
  flags: readonly string[] = [],
): Child {
  return startChild(
    name,
    process.execPath,
    ["--expose-gc", ...flags, ...profileArgs(), path.join(ROOT, main)],
    {
      env,
      ...(cwd === undefined ? {} : { cwd }),
    },
  );
}

export async function startCalculator(options: {
  secrets: Secrets;
  logLevel: LogLevel;
}): Promise<Service> {
  const port = await freePort();
  const child = startNode("calculator", MAINS.calculator, {
    ...production(options.logLevel),
    HOST: "127.0.0.1",
    PORT: String(port),
    TOOL_GATEWAY_SHARED_SECRET: options.secrets.TOOL_GATEWAY_SHARED_SECRET,
  });
  const address = `http://127.0.0.1:${port}`;
  await waitUntilOk(child, `${address}/health`);
  return { ...child, address };
}

export async function startExtAuthz(options: {
  secrets: Secrets;
  logLevel: LogLevel;
  configDir: string;
  databaseUrl: string;
  redisUrl: string;
  /** Quota counters of this run only, in a Redis others may share. */
  rateLimitKeyPrefix: string;
  name?: string;
}): Promise<Service & { metricsUrl: string }> {
  const [port, metricsPort] = await Promise.all([freePort(), freePort()]);
  const child = startNode(options.name ?? "ext-authz", MAINS.extAuthz, {
    ...production(options.logLevel),
    ...options.secrets,
    JWT_ISSUER,
    JWT_AUDIENCE,
    CONFIG_DIR: options.configDir,
    DATABASE_URL: options.databaseUrl,
    REDIS_URL: options.redisUrl,
    RATE_LIMIT_KEY_PREFIX: options.rateLimitKeyPrefix,
    EXT_AUTHZ_HOST: "127.0.0.1",
    EXT_AUTHZ_PORT: String(port),
    EXT_AUTHZ_METRICS_PORT: String(metricsPort),
    SHUTDOWN_DRAIN_MS: "0",
  });
  const metricsUrl = `http://127.0.0.1:${metricsPort}`;
  await waitUntilOk(child, `${metricsUrl}/ready`);
  return { ...child, address: `127.0.0.1:${port}`, metricsUrl };
}

export async function startRouter(options: {
  secrets: Secrets;
  logLevel: LogLevel;
  configDir: string;
  databaseUrl: string;
  extAuthzAddress: string;
  name?: string;
  /** More variables (e.g. AUDIT_MODE), over the ones set here. */
  env?: Record<string, string>;
}): Promise<Service> {
  const port = await freePort();
  const child = startNode(options.name ?? "mcp-router", MAINS.router, {
    ...production(options.logLevel),
    GATEWAY_VERDICT_KEY: options.secrets.GATEWAY_VERDICT_KEY,
    TOOL_GATEWAY_SHARED_SECRET: options.secrets.TOOL_GATEWAY_SHARED_SECRET,
    AUTHZ_MODE: "direct",
    EXT_AUTHZ_ADDRESS: options.extAuthzAddress,
    CONFIG_DIR: options.configDir,
    DATABASE_URL: options.databaseUrl,
    HOST: "127.0.0.1",
    PORT: String(port),
    DRAIN_TIMEOUT_MS: "2000",
    ...options.env,
  });
  const address = `http://127.0.0.1:${port}`;
  await waitUntilOk(child, `${address}/ready`);
  return { ...child, address };
}

/**
 * `npm start`'s process (dev/main.js: ext-authz, router, tool servers and PGlite in one), on a new
 * PGlite database in `dir`, which is also its working directory so no developer's .env applies.
 */
export async function startEmbedded(options: {
  secrets: Secrets;
  logLevel: LogLevel;
  dir: string;
}): Promise<Service> {
  const configDir = path.join(options.dir, "config");
  await writeConfig(configDir);
  const [port, extAuthzPort] = await Promise.all([freePort(), freePort()]);
  const child = startNode(
    "embedded stack",
    MAINS.embedded,
    {
      ...production(options.logLevel),
      ...options.secrets,
      JWT_ISSUER,
      JWT_AUDIENCE,
      CONFIG_DIR: configDir,
      DATA_DIR: path.join(options.dir, "data"),
      HOST: "127.0.0.1",
      PORT: String(port),
      EXT_AUTHZ_PORT: String(extAuthzPort),
      SHUTDOWN_DRAIN_MS: "0",
      DRAIN_TIMEOUT_MS: "2000",
    },
    options.dir,
    EMBEDDED_FLAGS,
  );
  const address = `http://127.0.0.1:${port}`;
  await waitUntilOk(child, `${address}/ready`);
  return { ...child, address };
}

/** Polls `url` until it answers 200; fails at once when the child has exited. */
export async function waitUntilOk(child: Child, url: string): Promise<void> {
  const until = Date.now() + READY_DEADLINE_MS;
  for (;;) {
    if (child.exitedEarly()) throw new Error(`${child.name} exited during start-up`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) throw new Error(`${child.name}: ${url} did not answer 200 in time`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
