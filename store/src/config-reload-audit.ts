import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { ReloadReport } from "../../config/src/config-reload.ts";
import { POLICY_FILE, TOOLS_FILE } from "../../config/src/load-config.ts";
import type { AuditEvent, AuditOutcome } from "./audit-writer.ts";
import type { AuditSource } from "./schema.ts";

const OUTCOME: Record<ReloadReport["outcome"], AuditOutcome> = {
  ok: "ok",
  invalid: "rejected",
  failed: "failed",
};

/**
 * The audit row of a configuration reload attempt (`kind = 'config'`): which process, what
 * triggered it (`reason`: watch or sighup), and the sha256 of each file before and after. Refused
 * attempts are recorded too; their error text stays in the log.
 */
export function configReloadAuditEvent(report: ReloadReport, source: AuditSource): AuditEvent {
  const file = (name: typeof TOOLS_FILE | typeof POLICY_FILE) => ({
    previous: report.previous[name],
    current: report.digests[name],
  });
  return {
    time: report.at,
    request_id: randomUUID(),
    source,
    kind: "config",
    subject: null,
    tenant: null,
    roles: [],
    method: "config.reload",
    outcome: OUTCOME[report.outcome],
    reason: report.trigger,
    arguments: {
      trigger: report.trigger,
      instance: `${hostname()}/${process.pid}`,
      files: { [TOOLS_FILE]: file(TOOLS_FILE), [POLICY_FILE]: file(POLICY_FILE) },
      errors: report.errors.length,
      restart_required: report.requiresRestart,
    },
  };
}
