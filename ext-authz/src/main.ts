/**
 * ext-authz process: env parsed once, config loaded and compiled, then the gRPC server
 * (Authorization + Health) and the metrics port. policy.yaml and tools.yaml are reloaded when
 * they change (and on SIGHUP), see config/src/config-watcher.ts. `startExtAuthz` also lets the
 * embedded stack run it in-process (port 0 → ephemeral ports reported back).
 */
import type { AuthzClient } from "../../contract/src/authz-wire.ts";
import { randomUUID } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import { pathToFileURL } from "node:url";
import { Redis } from "ioredis";
import {
  createConfigReloadState,
  createConfigReloader,
  type ConfigConsumer,
  type ConfigReloadStatus,
} from "../../config/src/config-reload.ts";
import { collectWhenIdle } from "../../contract/src/idle-collect.ts";
import { setupTracing } from "../../contract/src/tracing.ts";
import { createConfigWatcher, type ConfigWatcher } from "../../config/src/config-watcher.ts";
import {
  configDir,
  loadConfig,
  type ConfigDigests,
  type GatewayConfig,
} from "../../config/src/load-config.ts";
import { EnvError, logLevel, type EnvSource } from "../../config/src/env.ts";
import { createLogger, type Logger } from "../../contract/src/log.ts";
import { createAuditWriter } from "../../store/src/audit-writer.ts";
import { openDatabase } from "../../store/src/open-database.ts";
import { createCheckHandler, startGrpcServer, type AuditSink } from "./envoy/grpc-server.ts";
import { compilePolicy } from "./policy/rbac.ts";
import { createTokenVerifier, type TokenVerifier } from "./policy/token.ts";
import { createAdminViews } from "./runtime/admin-views.ts";
import { createAuthzConfig } from "./runtime/authz-config.ts";
import { createTokenKeys } from "./runtime/keys.ts";
import {
  createMetrics,
  startMetricsServer,
  type AuthzMetrics,
  type Degradation,
} from "./runtime/metrics.ts";
import {
  createQuotaLimiter,
  redisClientOptions,
  type RuntimeQuotaLimiter,
} from "./runtime/rate-limit.ts";
import { degradationOf, logBreakerTransitions } from "./runtime/redis-breaker.ts";
import { parseExtAuthzEnv, type ExtAuthzEnv } from "./settings.ts";

/** Room for headers and the rest of the CheckRequest on top of the body limit. */
const CHECK_REQUEST_OVERHEAD_BYTES = 256 * 1024;

export type StartExtAuthzOptions = {
  /** Environment to parse (default process.env). */
  env?: EnvSource;
  /** Already loaded configuration (default: loadConfig with `env`). */
  config?: GatewayConfig;
  /** Digests of the files `config` was read from (shown in /ready and metrics). */
  configDigests?: ConfigDigests;
  /**
   * Reload CONFIG_DIR's files when they change. Default: only when the configuration was loaded
   * here; a caller that passes `config` wires `configConsumer` to its own watcher.
   */
  watchConfig?: boolean;
  /** Also reload on SIGHUP (the process entry point; never in-process callers). */
  reloadOnSighup?: boolean;
  /** Override EXT_AUTHZ_HOST / EXT_AUTHZ_PORT / EXT_AUTHZ_METRICS_PORT; 0 = ephemeral. */
  host?: string;
  port?: number;
  /** null: no metrics HTTP server (the embedded stack may not want one). */
  metricsPort?: number | null;
  /** Audit sink for denials (default: the store's audit writer on DATABASE_URL). */
  audit?: AuditSink;
  logger?: Logger;
  /** Injected clock (ms), for tests. */
  now?: () => number;
};

export type RunningExtAuthz = {
  port: number;
  /** null when metricsPort was null. */
  metricsPort: number | null;
  metrics: AuthzMetrics;
  tokens: TokenVerifier;
  setServing: (serving: boolean) => void;
  /** A Check client for a router in this process (see in-process-client.ts). */
  inProcessClient: () => AuthzClient;
  /** Deciding, but not as configured (e.g. Redis breaker open: quotas counted per replica). */
  degradation: () => Degradation;
  /** Applies a reloaded configuration (ConfigWatcher + createConfigReloader). */
  configConsumer: ConfigConsumer;
  configStatus: () => ConfigReloadStatus;
  /** The watch on CONFIG_DIR, when watchConfig. */
  configWatcher: ConfigWatcher | undefined;
  close(): Promise<void>;
};

export async function startExtAuthz(options: StartExtAuthzOptions = {}): Promise<RunningExtAuthz> {
  const envSource = options.env ?? process.env;
  const env = parseExtAuthzEnv(envSource);
  const logger = options.logger ?? createLogger({ name: "ext-authz", level: logLevel(env) });
  const now = options.now ?? Date.now;

  let config = options.config;
  let digests: ConfigDigests = options.configDigests ?? { "tools.yaml": null, "policy.yaml": null };
  if (config === undefined) {
    const loaded = await loadConfig({ env: envSource });
    if (!loaded.ok) throw new Error(`invalid configuration:\n  ${loaded.errors.join("\n  ")}`);
    config = loaded.config;
    digests = loaded.digests;
  }
  const watchConfig = options.watchConfig ?? options.config === undefined;

  const tokens = createTokenVerifier({
    keys: createTokenKeys({
      secret: env.JWT_SECRET_KEY,
      publicKeyPem: env.JWT_PUBLIC_KEY,
      jwksUrl: env.JWT_JWKS_URL,
      jwksTimeoutMs: env.JWT_JWKS_TIMEOUT_MS,
      jwksCooldownSeconds: env.JWT_JWKS_COOLDOWN_SECONDS,
      jwksCacheMaxAgeSeconds: env.JWT_JWKS_CACHE_MAX_AGE_SECONDS,
    }),
    settings: tokenSettings(env),
    now,
  });

  const cleanups: (() => Promise<void>)[] = [];
  try {
    const limiter = createLimiter(env, logger, cleanups);
    const audit = options.audit ?? (await createAuditSink(env, logger, cleanups));
    const configReloads = createConfigReloadState(digests);
    const metrics = createMetrics({ audit, redisBreaker: limiter.breaker, configReloads });
    const degradation = (): Degradation => degradationOf(limiter.breaker);

    // Everything policy.yaml and tools.yaml decide is compiled here, and swapped whole on reload.
    const compile = (next: GatewayConfig) => {
      const policy = compilePolicy(next.tools, next.policy);
      return createCheckHandler({
        decision: {
          policy,
          tokens,
          limiter,
          resourceServer: {
            resourceBaseUrl: next.policy.protected_resource.resource_base_url,
            authorizationServers: next.policy.protected_resource.authorization_servers,
          },
          limits: { maxBodyBytes: env.MAX_REQUEST_BYTES, maxJsonDepth: env.MAX_JSON_DEPTH },
          verdictTtlSeconds: env.GATEWAY_VERDICT_TTL_SECONDS,
          now,
          newRequestId: randomUUID,
        },
        verdictKey: env.GATEWAY_VERDICT_KEY,
        logger,
        audit,
        metrics,
        adminViews: createAdminViews({
          config: next,
          policy,
          quotaUsage: (perKind) => limiter.usage(perKind),
          verdictKey: env.GATEWAY_VERDICT_KEY,
          logger,
        }),
      });
    };
    const authzConfig = createAuthzConfig({
      config,
      compile,
      state: configReloads,
      audit,
      logger,
      onAuditFailure: () => metrics.auditFailures.inc(),
    });
    const check = authzConfig.check;

    const host = options.host ?? env.EXT_AUTHZ_HOST;
    const grpcServer = await startGrpcServer({
      host,
      port: options.port ?? env.EXT_AUTHZ_PORT,
      maxReceiveBytes: env.MAX_REQUEST_BYTES + CHECK_REQUEST_OVERHEAD_BYTES,
      check,
      logger,
      metrics,
    });
    cleanups.unshift(async () => {
      // Health turns NOT_SERVING first while checks are still answered, so Envoy's health checks
      // take this replica out of rotation before its port closes and no request meets a reset.
      grpcServer.setServing(false);
      if (env.SHUTDOWN_DRAIN_MS > 0) {
        logger.info({ drainMs: env.SHUTDOWN_DRAIN_MS }, "draining: health reports NOT_SERVING");
        await delay(env.SHUTDOWN_DRAIN_MS);
      }
      await grpcServer.close(env.SHUTDOWN_GRACE_MS);
    });

    const metricsPortOption =
      options.metricsPort === undefined ? env.EXT_AUTHZ_METRICS_PORT : options.metricsPort;
    let metricsPort: number | null = null;
    if (metricsPortOption !== null) {
      const metricsServer = await startMetricsServer({
        host,
        port: metricsPortOption,
        metrics,
        isServing: grpcServer.isServing,
        degradation,
        configDetail: configReloads.readyDetail,
      });
      metricsPort = metricsServer.port;
      cleanups.splice(1, 0, () => metricsServer.close());
    }

    let configWatcher: ConfigWatcher | undefined;
    if (watchConfig) {
      const watcher = createConfigWatcher({
        dir: configDir({ env: envSource }),
        env: envSource,
        applied: digests,
        onCandidate: createConfigReloader({ consumers: [authzConfig.consumer], logger }),
        sighup: options.reloadOnSighup ?? false,
        logger,
      });
      configWatcher = watcher;
      cleanups.unshift(async () => watcher.close());
      await watcher.start();
    }

    grpcServer.setServing(true);
    logger.info(
      { port: grpcServer.port, metricsPort, redis: env.REDIS_URL !== undefined },
      "ext-authz serving",
    );

    let closing: Promise<void> | undefined;
    return {
      port: grpcServer.port,
      metricsPort,
      metrics,
      tokens,
      setServing: grpcServer.setServing,
      inProcessClient: grpcServer.inProcessClient,
      degradation,
      configConsumer: authzConfig.consumer,
      configStatus: configReloads.status,
      configWatcher,
      close() {
        closing ??= runCleanups(cleanups, logger);
        return closing;
      },
    };
  } catch (error) {
    await runCleanups(cleanups, logger);
    throw error;
  }
}

export function tokenSettings(env: ExtAuthzEnv) {
  return {
    issuer: env.JWT_ISSUER,
    audience: env.JWT_AUDIENCE,
    algorithms: env.JWT_ALLOWED_ALGORITHMS,
    clockSkewSeconds: env.JWT_CLOCK_SKEW_SECONDS,
    maxTokenAgeMinutes: env.JWT_MAX_TOKEN_AGE_MINUTES,
    maxTokenBytes: env.JWT_MAX_TOKEN_BYTES,
    claims: {
      userId: env.JWT_USER_ID_CLAIM,
      roles: env.JWT_ROLES_CLAIM,
      tenant: env.JWT_TENANT_CLAIM,
      apiVersion: env.JWT_API_VERSION_CLAIM,
      exp: env.JWT_EXP_CLAIM,
      iat: env.JWT_IAT_CLAIM,
    },
    allowedApiVersions: env.JWT_ALLOWED_API_VERSIONS,
    cacheSize: env.JWT_CACHE_SIZE,
  };
}

function createLimiter(
  env: ExtAuthzEnv,
  logger: Logger,
  cleanups: (() => Promise<void>)[],
): RuntimeQuotaLimiter {
  if (env.REDIS_URL === undefined)
    return createQuotaLimiter({ keyPrefix: env.RATE_LIMIT_KEY_PREFIX });
  // Redis down or hanging: the insurance limiter decides instead of checks piling up behind it.
  const redis = new Redis(env.REDIS_URL, redisClientOptions(env.REDIS_COMMAND_TIMEOUT_MS));
  let lastError = "";
  redis.on("error", (error: Error) => {
    // ioredis repeats the same error on every reconnect attempt: log changes only.
    if (error.message === lastError) return;
    lastError = error.message;
    logger.warn(
      { err: error.message },
      "redis unavailable: in-memory insurance limiter is deciding",
    );
  });
  redis.on("ready", () => {
    if (lastError !== "") logger.info("redis available again");
    else logger.debug("redis ready");
    lastError = "";
  });
  const limiter = createQuotaLimiter({
    redis,
    keyPrefix: env.RATE_LIMIT_KEY_PREFIX,
    breaker: {
      failureThreshold: env.REDIS_BREAKER_FAILURES,
      probeIntervalMs: env.REDIS_BREAKER_PROBE_MS,
      probeTimeoutMs: env.REDIS_COMMAND_TIMEOUT_MS,
    },
    onRefundError: (error) =>
      logger.warn(
        { err: error instanceof Error ? error.message : "unknown" },
        "quota refund failed: the point expires with its window",
      ),
  });
  // Connected (again): no need to wait for the next probe to count in Redis.
  redis.on("ready", () => limiter.breaker?.probeNow());
  if (limiter.breaker !== undefined) logBreakerTransitions(limiter.breaker, logger);
  cleanups.push(async () => {
    limiter.close();
    redis.disconnect();
  });
  return limiter;
}

async function createAuditSink(
  env: ExtAuthzEnv,
  logger: Logger,
  cleanups: (() => Promise<void>)[],
): Promise<AuditSink> {
  if (env.DATABASE_URL === undefined) {
    if (env.NODE_ENV === "production") {
      throw new Error("DATABASE_URL is required in production: denials must be audited");
    }
    logger.warn("DATABASE_URL not set: denials are audited to the log only (development)");
    return {
      write: async (event) => {
        logger.warn(
          { audit: { ...event, time: event.time ?? new Date() } },
          "audit event (no database)",
        );
      },
    };
  }
  const database = await openDatabase({
    databaseUrl: env.DATABASE_URL,
    onPoolError: (error) => logger.warn({ err: error.message }, "database pool error"),
  });
  const writer = createAuditWriter({
    db: database.db,
    logger,
    maxQueue: env.AUDIT_QUEUE_MAX,
    waitTimeoutMs: env.AUDIT_WAIT_MS,
  });
  cleanups.push(async () => {
    await writer.close();
    await database.close();
  });
  return writer;
}

async function runCleanups(cleanups: (() => Promise<void>)[], logger: Logger): Promise<void> {
  for (const cleanup of cleanups) {
    try {
      await cleanup();
    } catch (error) {
      logger.warn(
        { err: error instanceof Error ? error.message : "unknown" },
        "shutdown step failed",
      );
    }
  }
}

async function runMain(): Promise<void> {
  let running: RunningExtAuthz;
  const tracing = await setupTracing({ defaultServiceName: "ext-authz" });
  collectWhenIdle();
  try {
    running = await startExtAuthz({ reloadOnSighup: true });
  } catch (error) {
    if (error instanceof EnvError) {
      process.stderr.write(`ext-authz: ${error.message}\n`);
    } else {
      process.stderr.write(
        `ext-authz: ${error instanceof Error ? error.message : "startup failed"}\n`,
      );
    }
    process.exit(1);
  }
  const shutdown = (): void => {
    running
      .close()
      .then(() => tracing?.shutdown())
      .then(
        () => process.exit(0),
        () => process.exit(1),
      );
  };
  process.once("SIGTERM", shutdown);
  process.once("SIGINT", shutdown);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void runMain();
}
