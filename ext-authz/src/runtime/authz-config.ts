/**
 * The configuration ext-authz runs on, held as one compiled Check handler (policy, tool lists,
 * quotas and resource metadata compiled together) and replaced whole by a reload. A Check takes
 * the handler current when it arrives and keeps it to its answer, so a request under way is
 * decided entirely by the configuration it started with.
 */
import type { ConfigConsumer, ConfigReloadState } from "../../../config/src/config-reload.ts";
import type { GatewayConfig } from "../../../config/src/load-config.ts";
import type { CheckRequest, CheckResponse } from "../../../contract/src/authz-wire.ts";
import type { Logger } from "../../../contract/src/log.ts";
import { configReloadAuditEvent } from "../../../store/src/config-reload-audit.ts";
import type { AuditSink } from "../envoy/grpc-server.ts";

export type CheckFn = (request: CheckRequest) => Promise<CheckResponse>;

export type AuthzConfig = {
  check: CheckFn;
  /** Hand to a ConfigWatcher's reloader (alone, or beside the router's in the embedded stack). */
  consumer: ConfigConsumer;
};

export function createAuthzConfig(options: {
  config: GatewayConfig;
  /** Compiles a configuration into a handler; throws when the policy cannot be compiled. */
  compile: (config: GatewayConfig) => CheckFn;
  state: ConfigReloadState;
  audit: AuditSink;
  logger: Logger;
  onAuditFailure: () => void;
}): AuthzConfig {
  let current = options.compile(options.config);
  return {
    check: (request) => current(request),
    consumer: {
      name: "ext-authz",
      prepare(config) {
        const next = options.compile(config);
        return {
          commit() {
            current = next;
          },
        };
      },
      reported(report) {
        options.state.record(report);
        options.audit.write(configReloadAuditEvent(report, "ext-authz")).catch((error: unknown) => {
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
