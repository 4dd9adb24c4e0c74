/**
 * The configuration the router runs on, and its reload. What tools.yaml decides is held in one
 * object (the handlers' context with its config and tool invoker, the OpenAPI document) that a
 * request takes when it arrives and keeps to its answer; a reload builds a new one and swaps it.
 *
 * Before the swap, the state outside the process follows the new file: the tool registry is
 * synced (tools added, removed ones marked inactive, as at startup) and the tool catalog lists
 * the changed scopes again from their backends. `tasks` is read once by the task runner: a change
 * there is reported as requiring a restart.
 */
import type { Kysely } from "kysely";
import type { ConfigConsumer, ConfigReloadState } from "../../config/src/config-reload.ts";
import { TOOLS_FILE, type GatewayConfig } from "../../config/src/load-config.ts";
import type { Logger } from "../../contract/src/log.ts";
import { configReloadAuditEvent } from "../../store/src/config-reload-audit.ts";
import { syncRegistry } from "../../store/src/registry.ts";
import type { DB } from "../../store/src/schema.ts";
import { INTERACTIVE_RETRY } from "../../store/src/transient-retry.ts";
import type { AuditSink } from "./audit.ts";
import type { RouterContext } from "./router-context.ts";
import type { ToolCatalog } from "./tool-catalog.ts";

export type ActiveConfig = {
  config: GatewayConfig;
  ctx: RouterContext;
  openApi: Record<string, unknown>;
};

export type RouterConfig = {
  /** What a request arriving now runs on. */
  current(): ActiveConfig;
  consumer: ConfigConsumer;
};

/** tools.yaml settings read only at startup, as `file: key` for the log and the audit row. */
export function restartOnlyChanges(started: GatewayConfig, next: GatewayConfig): string[] {
  const before = started.tools.tasks;
  const after = next.tools.tasks;
  return (Object.keys(after) as (keyof typeof after)[])
    .filter((key) => before[key] !== after[key])
    .map((key) => `${TOOLS_FILE}: tasks.${key}`)
    .sort();
}

export function createRouterConfig(options: {
  config: GatewayConfig;
  /** Builds what requests run on; no side effects (a reload may still be refused after it). */
  build: (config: GatewayConfig) => ActiveConfig;
  db: Kysely<DB>;
  catalog: ToolCatalog;
  state: ConfigReloadState;
  audit: AuditSink;
  logger: Logger;
  onAuditFailure: () => void;
  /** After a reload is in force (e.g. to end the sessions of MCP servers no longer configured). */
  onCommit?: (config: GatewayConfig) => void;
}): RouterConfig {
  const started = options.config;
  let active = options.build(started);
  return {
    current: () => active,
    consumer: {
      name: "mcp-router",
      prepare(config) {
        const next = options.build(config);
        return {
          requiresRestart: restartOnlyChanges(started, config),
          async stage() {
            // Interactive retries: a database that stays away fails this reload (SIGHUP retries)
            // instead of holding every later one behind it.
            const sync = await syncRegistry(options.db, config.tools, new Date(), {
              retry: INTERACTIVE_RETRY,
            });
            if (sync.added.length + sync.deactivated.length + sync.reactivated.length > 0) {
              options.logger.info(
                { added: sync.added, deactivated: sync.deactivated, reactivated: sync.reactivated },
                "tool registry synced",
              );
            }
            await options.catalog.reconfigure(config.tools);
          },
          commit() {
            active = next;
            options.onCommit?.(config);
          },
        };
      },
      reported(report) {
        options.state.record(report);
        options.audit.write(configReloadAuditEvent(report, "router")).catch((error: unknown) => {
          options.onAuditFailure();
          options.logger.error(
            { trigger: report.trigger, err: error instanceof Error ? error.name : "unknown" },
            "audit write failed for a configuration reload",
          );
        });
      },
    },
  };
}
