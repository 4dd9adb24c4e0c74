import { z } from "zod";
import { createLogger, type Logger } from "../contract/src/log.ts";
import { setupTracing } from "../contract/src/tracing.ts";
import {
  auditEnvShape,
  baseEnvShape,
  isDevelopment,
  logLevel,
  parseEnv,
  portNumber,
  positiveIntString,
  nonNegativeIntString,
  commaList,
  secretSchema,
  EnvError,
  type EnvSource,
} from "../config/src/env.ts";
import { createConfigReloader } from "../config/src/config-reload.ts";
import { createConfigWatcher, type ConfigWatcher } from "../config/src/config-watcher.ts";
import {
  ConfigError,
  loadConfig as loadConfigFiles,
  type GatewayConfig,
} from "../config/src/load-config.ts";
import { createAuditWriter, type AuditWriter } from "../store/src/audit-writer.ts";
import { openCallJournal, type CallJournal } from "../store/src/call-journal.ts";
import { AUDIT_MODES } from "../mcp-router/src/audit.ts";
import { startAuditPartitionUpkeep } from "../store/src/audit-partitions.ts";
import { migrateToLatest } from "../store/src/migrate.ts";
import { openDatabase, type Database } from "../store/src/open-database.ts";
import { syncRegistry } from "../store/src/registry.ts";
import { startExtAuthz, type RunningExtAuthz } from "../ext-authz/src/main.ts";
import { startRouter, type RouterHandle } from "../mcp-router/src/router.ts";
import type { InProcessHandler } from "../contract/src/in-process-mcp.ts";
import { createToolServer, type ToolServer } from "../tools/kit/src/tool-server.ts";
import {
  CALCULATOR_WORKER_POOL,
  calculatorTools,
} from "../tools/calculator/src/calculator-tools.ts";
import { DOCS_WORKER_POOL, docsTools } from "../tools/docs/src/generate-document.ts";
import { parseWorkerPoolEnv, type WorkerPoolEnv } from "../tools/kit/src/tool-server-env.ts";
import { buildGitToolServer } from "../tools/git/src/server.ts";
import { DEFAULT_LIMITS } from "../tools/git/src/tool-context.ts";
import { createDeferredAuthzClient } from "./deferred-authz-client.ts";
import {
  DEFAULT_ISSUER_PORT,
  servesEmbeddedIssuer,
  startEmbeddedIssuer,
  type EmbeddedIssuer,
} from "./embedded-issuer.ts";

/**
 * The whole gateway in one process: ext-authz, the router in direct mode, the three tool servers
 * and PGlite, plus the development token issuer with NODE_ENV=development. The same services, wired
 * exactly as in Compose, minus Envoy (the router plays Envoy's ext_authz client role itself).
 */
export const EmbeddedEnvSchema = z.object({
  ...baseEnvShape,
  ...auditEnvShape,
  NODE_ENV: z.enum(["development", "test", "production"]).default("development"),
  HOST: z.string().min(1).default("127.0.0.1"),
  PORT: portNumber.default(8000),
  EXT_AUTHZ_PORT: portNumber.default(9191),
  CONFIG_DIR: z.string().min(1).default("./config"),
  DATA_DIR: z.string().min(1).default("./data"),
  DATABASE_URL: z.string().optional(),
  AUDIT_MODE: z.enum(AUDIT_MODES).default("write-ahead"),
  GATEWAY_VERDICT_KEY: secretSchema("GATEWAY_VERDICT_KEY"),
  TOOL_GATEWAY_SHARED_SECRET: secretSchema("TOOL_GATEWAY_SHARED_SECRET"),
  MAX_REQUEST_BYTES: positiveIntString.default(1_048_576),
  ALLOWED_ORIGINS: commaList.default([]),
  SESSION_TTL_SECONDS: positiveIntString.default(86_400),
  /** On SIGTERM, how long requests in progress may finish before connections are closed. */
  DRAIN_TIMEOUT_MS: nonNegativeIntString.default(25_000),
  /** How long the router waits for ext-authz's decision before failing closed with 503. */
  EXT_AUTHZ_TIMEOUT_MS: positiveIntString.default(2_000),
  GIT_REPOSITORIES: z.string().optional(),
  /** Default: the router's listener, so the advertised URLs follow PORT and HOST. */
  GATEWAY_PUBLIC_URL: z.url({ protocol: /^https?$/, error: "expected an http(s) URL" }).optional(),
  /** The development token issuer's port (NODE_ENV=development only). */
  JWT_ISSUER_PORT: portNumber.default(DEFAULT_ISSUER_PORT),
});
export type EmbeddedEnv = z.infer<typeof EmbeddedEnvSchema>;

export type EmbeddedStackOptions = {
  /** Environment of the stack (default process.env); NODE_ENV defaults to development. */
  env?: EnvSource;
  /** PGlite in memory instead of DATA_DIR (tests). Ignored when DATABASE_URL is set. */
  inMemoryDatabase?: boolean;
  /** Extra tool servers started beside the shipped ones, keyed by the env variable naming their URL. */
  extraBackends?: Readonly<Record<string, ToolServer>>;
  logger?: Logger;
  /** Reload the configuration on SIGHUP too (npm start; never in-process tests). */
  reloadOnSighup?: boolean;
  /** Quiet time after a change to CONFIG_DIR before it is read (default 200 ms). */
  configDebounceMs?: number;
};

export type EmbeddedStack = {
  /** Where the router listens. */
  url: string;
  /** The gateway's public URL: GATEWAY_PUBLIC_URL, else `url`. */
  publicUrl: string;
  /** The development token issuer, when it runs (NODE_ENV=development). */
  issuer: Pick<EmbeddedIssuer, "url" | "issuer" | "algorithm"> | undefined;
  extAuthzAddress: string;
  /** Direct URLs of the tool servers (the benchmark compares against them). */
  backends: Readonly<Record<string, string>>;
  /** The configuration the stack started with (a reload does not change this field). */
  config: GatewayConfig;
  /** Watches CONFIG_DIR: one reload, applied to ext-authz and the router together. */
  configWatcher: ConfigWatcher;
  database: Database;
  audit: AuditWriter;
  /** Names the router in its audit start rows (write-ahead). */
  callJournal: CallJournal;
  router: RouterHandle;
  extAuthz: RunningExtAuthz;
  env: EmbeddedEnv;
  close(): Promise<void>;
};

const BACKEND_HOST = "127.0.0.1";

export async function startEmbeddedStack(
  options: EmbeddedStackOptions = {},
): Promise<EmbeddedStack> {
  const rawEnv: Record<string, string | undefined> = {
    NODE_ENV: "development",
    ...(options.env ?? process.env),
  };
  const env = parseEnv(EmbeddedEnvSchema, rawEnv);
  const workerProblems: string[] = [];
  const workerPool = (pool: WorkerPoolEnv) => {
    const parsed = parseWorkerPoolEnv(rawEnv, pool);
    if (parsed.ok) return parsed.settings;
    workerProblems.push(...parsed.problems);
    return undefined;
  };
  const calculatorWorkers = workerPool(CALCULATOR_WORKER_POOL);
  const docsWorkers = workerPool(DOCS_WORKER_POOL);
  if (workerProblems.length > 0) throw new EnvError(workerProblems);
  // A blank NODE_ENV means development here; every service of the stack must read it so.
  rawEnv.NODE_ENV = env.NODE_ENV;
  const logger = options.logger ?? createLogger({ name: "gateway", level: logLevel(env) });
  const cleanups: (() => Promise<void> | void)[] = [];
  const closeAll = async (): Promise<void> => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch (error) {
        logger.error({ err: error }, "embedded stack: shutdown step failed");
      }
    }
  };

  try {
    // Off unless OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is set; flushed last on close.
    const tracing = await setupTracing({ defaultServiceName: "mcp-gateway", env: rawEnv });
    if (tracing !== undefined) cleanups.push(() => tracing.shutdown());
    const toolAuth = { secret: env.TOOL_GATEWAY_SHARED_SECRET };
    const backends: Record<string, string> = {};
    // The tool servers listen for anyone who calls them over HTTP; the router hands its calls to
    // them in-process (same headers, X-Gateway-Auth checked), sparing both ends the HTTP exchange.
    const inProcessBackends = new Map<string, InProcessHandler>();
    const serve = async (variable: string, server: ToolServer): Promise<void> => {
      const { url } = await server.listen(0, BACKEND_HOST);
      cleanups.push(() => server.close());
      backends[variable] = url;
      inProcessBackends.set(new URL(url).origin, (request) => server.exchange(request));
    };
    const toolLogger = (name: string): Logger => logger.child({ component: name });
    await serve(
      "CALCULATOR_URL",
      createToolServer({
        name: "calculator",
        version: "1.0.0",
        tools: calculatorTools,
        auth: toolAuth,
        maxRequestBytes: env.MAX_REQUEST_BYTES,
        workers: calculatorWorkers,
        logger: toolLogger("calculator"),
      }),
    );
    await serve(
      "DOCS_URL",
      createToolServer({
        name: "docs",
        version: "1.0.0",
        tools: docsTools,
        auth: toolAuth,
        maxRequestBytes: env.MAX_REQUEST_BYTES,
        workers: docsWorkers,
        logger: toolLogger("docs"),
      }),
    );
    const git = await buildGitToolServer({
      repositories: env.GIT_REPOSITORIES,
      cwd: process.cwd(),
      timeoutMs: 10_000,
      limits: DEFAULT_LIMITS,
      auth: toolAuth,
      maxRequestBytes: env.MAX_REQUEST_BYTES,
      logger: toolLogger("git"),
    });
    if (!git.ok) throw new Error(`git tool server: ${JSON.stringify(git.error)}`);
    cleanups.push(() => git.value.close());
    await serve("GIT_URL", git.value.server);
    for (const [variable, server] of Object.entries(options.extraBackends ?? {})) {
      await serve(variable, server);
    }

    let issuer: EmbeddedIssuer | undefined;
    if (servesEmbeddedIssuer(rawEnv)) {
      issuer = await startEmbeddedIssuer({
        env: rawEnv,
        host: env.HOST,
        logger: logger.child({ component: "jwt-issuer" }),
      });
      cleanups.push(() => issuer?.close());
    }
    // ext-authz must accept the issuer's tokens. Backend URLs reach tools.yaml, and the issuer
    // and public URL reach policy.yaml, through their ${VAR} interpolation. Explicit settings win.
    const authEnv = withDefaults(rawEnv, issuer?.authEnv ?? {});
    const configEnv = withDefaults(authEnv, backends);
    const expectedPublicUrl =
      env.GATEWAY_PUBLIC_URL ?? (env.PORT === 0 ? undefined : listenerUrl(env.HOST, env.PORT));
    const envWithPublicUrl = (publicUrl: string | undefined) =>
      publicUrl === undefined ? configEnv : { ...configEnv, GATEWAY_PUBLIC_URL: publicUrl };
    const loadConfig = async (publicUrl: string | undefined) => {
      const loaded = await loadConfigFiles({
        dir: env.CONFIG_DIR,
        env: envWithPublicUrl(publicUrl),
      });
      if (!loaded.ok) throw new ConfigError(loaded.errors);
      return loaded;
    };
    const { config, digests } = await loadConfig(expectedPublicUrl);

    const database = await openDatabase(
      env.DATABASE_URL
        ? {
            databaseUrl: env.DATABASE_URL,
            onPoolError: (error) => logger.error({ err: error }, "database pool error"),
          }
        : options.inMemoryDatabase
          ? { inMemory: true }
          : { dataDir: env.DATA_DIR },
    );
    cleanups.push(() => database.close());
    await migrateToLatest(database.db);
    const partitionUpkeep = await startAuditPartitionUpkeep(database.db, logger);
    cleanups.push(async () => partitionUpkeep.stop());
    const sync = await syncRegistry(database.db, config.tools);
    logger.info(sync, "tool registry synced");

    // Closed after the audit writer has flushed: what is left then never got an outcome.
    const callJournal = await openCallJournal(database, { logger });
    cleanups.push(() => callJournal.close());
    const audit = createAuditWriter({
      db: database.db,
      logger,
      maxQueue: env.AUDIT_QUEUE_MAX,
      waitTimeoutMs: env.AUDIT_WAIT_MS,
    });
    cleanups.push(() => audit.close());

    // The router listens first: with PORT=0 only its listener tells ext-authz the public URL.
    const authz = createDeferredAuthzClient();
    const router = await startRouter({
      config,
      backendEnv: rawEnv,
      inProcessBackends,
      configDigests: digests,
      db: database.db,
      audit,
      auditMode: env.AUDIT_MODE,
      callJournal,
      logger: logger.child({ component: "mcp-router" }),
      authz: {
        mode: "direct",
        address: `${BACKEND_HOST}:${env.EXT_AUTHZ_PORT}`,
        client: authz.client,
        deadlineMs: env.EXT_AUTHZ_TIMEOUT_MS,
      },
      verdictKey: env.GATEWAY_VERDICT_KEY,
      toolSecret: env.TOOL_GATEWAY_SHARED_SECRET,
      maxRequestBytes: env.MAX_REQUEST_BYTES,
      allowedOrigins: env.ALLOWED_ORIGINS,
      // With PORT=0 and no GATEWAY_PUBLIC_URL the own origin is unknown here; in development the
      // loopback rule covers it.
      publicUrl: expectedPublicUrl,
      allowLoopbackOrigins: isDevelopment(rawEnv),
      sessionTtlSeconds: env.SESSION_TTL_SECONDS,
      drainTimeoutMs: env.DRAIN_TIMEOUT_MS,
      host: env.HOST,
      port: env.PORT,
    });
    const routerCleanup = cleanups.length;
    cleanups.push(() => router.close());

    const publicUrl = env.GATEWAY_PUBLIC_URL ?? router.url;
    let extAuthz: RunningExtAuthz;
    try {
      const authzConfig =
        publicUrl === expectedPublicUrl ? { config, digests } : await loadConfig(publicUrl);
      extAuthz = await startExtAuthz({
        env: authEnv,
        config: authzConfig.config,
        configDigests: authzConfig.digests,
        watchConfig: false,
        host: BACKEND_HOST,
        port: env.EXT_AUTHZ_PORT,
        metricsPort: null,
        audit,
        logger: logger.child({ component: "ext-authz" }),
      });
    } catch (error) {
      authz.fail(new Error("ext-authz did not start"));
      throw error;
    }
    const extAuthzAddress = `${BACKEND_HOST}:${extAuthz.port}`;
    // The same messages as over gRPC, without a loopback HTTP/2 connection inside one process.
    const authzClient = extAuthz.inProcessClient();
    authz.bind(authzClient);
    // Closed in reverse: the router drains first, then its client, then ext-authz.
    cleanups.splice(
      routerCleanup,
      0,
      () => extAuthz.close(),
      () => authzClient.close(),
    );

    // One watch, one reload for both: ext-authz and the router never run different files.
    const configWatcher = createConfigWatcher({
      dir: env.CONFIG_DIR,
      env: envWithPublicUrl(publicUrl),
      applied: digests,
      onCandidate: createConfigReloader({
        consumers: [router.configConsumer, extAuthz.configConsumer],
        logger,
      }),
      sighup: options.reloadOnSighup ?? false,
      ...(options.configDebounceMs === undefined ? {} : { debounceMs: options.configDebounceMs }),
      logger,
    });
    cleanups.push(() => configWatcher.close());
    await configWatcher.start();

    return {
      url: router.url,
      publicUrl,
      issuer:
        issuer === undefined
          ? undefined
          : { url: issuer.url, issuer: issuer.issuer, algorithm: issuer.algorithm },
      extAuthzAddress,
      backends,
      config,
      configWatcher,
      database,
      audit,
      callJournal,
      router,
      extAuthz,
      env,
      close: closeAll,
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

/** The URL the router reports for a listener (router.url), known before it listens unless port 0. */
function listenerUrl(host: string, port: number): string {
  const urlHost = host.includes(":") ? `[${host}]` : host === "0.0.0.0" ? "127.0.0.1" : host;
  return `http://${urlHost}:${port}`;
}

/** `env` with `defaults` for the variables it leaves unset or blank (as parseEnv reads blanks). */
function withDefaults(
  env: EnvSource,
  defaults: Readonly<Record<string, string>>,
): Record<string, string | undefined> {
  const merged: Record<string, string | undefined> = { ...env };
  for (const [name, value] of Object.entries(defaults)) {
    if (!merged[name]) merged[name] = value;
  }
  return merged;
}
