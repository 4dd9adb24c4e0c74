import { createLogger } from "../../contract/src/log.ts";
import { collectWhenIdle } from "../../contract/src/idle-collect.ts";
import { setupTracing } from "../../contract/src/tracing.ts";
import { createConfigReloader } from "../../config/src/config-reload.ts";
import { createConfigWatcher } from "../../config/src/config-watcher.ts";
import { configDir, loadConfig } from "../../config/src/load-config.ts";
import { createAuditWriter } from "../../store/src/audit-writer.ts";
import { openCallJournal } from "../../store/src/call-journal.ts";
import { startAuditPartitionUpkeep } from "../../store/src/audit-partitions.ts";
import { migrateToLatest } from "../../store/src/migrate.ts";
import { openDatabase } from "../../store/src/open-database.ts";
import { syncRegistry } from "../../store/src/registry.ts";
import { isDevelopment, logLevel } from "../../config/src/env.ts";
import { parseRouterEnv, type RouterEnv } from "./router-env.ts";
import { startRouter } from "./router.ts";

/**
 * The router as its own process (Compose, Kubernetes): env parsed once, here. tools.yaml and
 * policy.yaml are reloaded when they change, and on SIGHUP.
 */

async function main(): Promise<void> {
  let env: RouterEnv;
  try {
    env = parseRouterEnv(process.env);
  } catch (error) {
    process.stderr.write(`mcp-router: ${(error as Error).message}\n`);
    process.exit(2);
  }
  const logger = createLogger({ name: "mcp-router", level: logLevel(env) });
  const tracing = await setupTracing({ defaultServiceName: "mcp-router" });
  collectWhenIdle();

  const dir = configDir(env.CONFIG_DIR === undefined ? {} : { dir: env.CONFIG_DIR });
  const loaded = await loadConfig({ dir });
  if (!loaded.ok) {
    for (const error of loaded.errors) logger.fatal({ error }, "invalid configuration");
    process.exit(2);
  }
  const database = await openDatabase(
    env.DATABASE_URL !== undefined
      ? {
          databaseUrl: env.DATABASE_URL,
          onPoolError: (error) => logger.error({ err: error }, "database pool error"),
        }
      : { dataDir: env.DATA_DIR },
  );
  await migrateToLatest(database.db);
  const partitionUpkeep = await startAuditPartitionUpkeep(database.db, logger);
  const sync = await syncRegistry(database.db, loaded.config.tools);
  logger.info({ added: sync.added, deactivated: sync.deactivated }, "tool registry synced");
  const callJournal = await openCallJournal(database, { logger });
  const audit = createAuditWriter({
    db: database.db,
    logger,
    maxQueue: env.AUDIT_QUEUE_MAX,
    waitTimeoutMs: env.AUDIT_WAIT_MS,
  });

  const router = await startRouter({
    config: loaded.config,
    configDigests: loaded.digests,
    db: database.db,
    audit,
    auditMode: env.AUDIT_MODE,
    callJournal,
    logger,
    authz:
      env.AUTHZ_MODE === "direct"
        ? { mode: "direct", address: env.EXT_AUTHZ_ADDRESS, deadlineMs: env.EXT_AUTHZ_TIMEOUT_MS }
        : { mode: "envoy" },
    verdictKey: env.GATEWAY_VERDICT_KEY,
    toolSecret: env.TOOL_GATEWAY_SHARED_SECRET,
    maxRequestBytes: env.MAX_REQUEST_BYTES,
    allowedOrigins: env.ALLOWED_ORIGINS,
    publicUrl: env.GATEWAY_PUBLIC_URL,
    allowLoopbackOrigins: isDevelopment({ NODE_ENV: env.NODE_ENV }),
    ...(env.SESSION_SECRET === undefined ? {} : { sessionSecret: env.SESSION_SECRET }),
    sessionTtlSeconds: env.SESSION_TTL_SECONDS,
    sessionRevocationPollMs: env.SESSION_REVOCATION_POLL_MS,
    drainTimeoutMs: env.DRAIN_TIMEOUT_MS,
    host: env.HOST,
    port: env.PORT,
  });
  logger.info({ url: router.url, authzMode: env.AUTHZ_MODE }, "mcp-router listening");
  const watcher = createConfigWatcher({
    dir,
    env: process.env,
    applied: loaded.digests,
    onCandidate: createConfigReloader({ consumers: [router.configConsumer], logger }),
    sighup: true,
    logger,
  });
  await watcher.start();

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    void (async () => {
      watcher.close();
      partitionUpkeep.stop();
      await router.close();
      await audit.close();
      await callJournal.close().catch((error: unknown) => {
        logger.warn({ err: error }, "calls left without an outcome are reconciled at next start");
      });
      await database.close();
      await tracing?.shutdown();
      process.exit(0);
    })();
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
}

await main();
