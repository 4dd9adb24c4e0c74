import type { Migration } from "kysely";
import * as createToolRegistry from "./2026-11-25T0000-create-tool-registry.ts";
import * as createAuditEvents from "./2026-11-25T0001-create-audit-events.ts";
import * as createTasks from "./2026-11-25T0002-create-tasks.ts";
import * as createSessionRevocations from "./2026-11-25T0003-create-session-revocations.ts";
import * as createAuditCallStarts from "./2026-11-30T0000-create-audit-call-starts.ts";
import * as addSessionRevocationTime from "./2026-11-30T0001-add-session-revocation-time.ts";
import * as addConfigAuditKind from "./2026-11-30T0002-add-config-audit-kind.ts";
import * as addAuditPolicyRule from "./2026-11-30T0003-add-audit-policy-rule.ts";
import * as addAuditTraceId from "./2026-11-30T0004-add-audit-trace-id.ts";
import * as addAdminAuditKind from "./2026-11-30T0005-add-admin-audit-kind.ts";
import * as partitionAuditEventsByMonth from "./2026-11-30T0006-partition-audit-events-by-month.ts";
import * as addToolRegistrySource from "./2026-11-30T0007-add-tool-registry-source.ts";

/** Static index so migrations type-check and need no directory scan at run time. Names sort in order. */
export const migrations: Readonly<Record<string, Migration>> = {
  "2026-11-25T0000-create-tool-registry": createToolRegistry,
  "2026-11-25T0001-create-audit-events": createAuditEvents,
  "2026-11-25T0002-create-tasks": createTasks,
  "2026-11-25T0003-create-session-revocations": createSessionRevocations,
  "2026-11-30T0000-create-audit-call-starts": createAuditCallStarts,
  "2026-11-30T0001-add-session-revocation-time": addSessionRevocationTime,
  "2026-11-30T0002-add-config-audit-kind": addConfigAuditKind,
  "2026-11-30T0003-add-audit-policy-rule": addAuditPolicyRule,
  "2026-11-30T0004-add-audit-trace-id": addAuditTraceId,
  "2026-11-30T0005-add-admin-audit-kind": addAdminAuditKind,
  "2026-11-30T0006-partition-audit-events-by-month": partitionAuditEventsByMonth,
  "2026-11-30T0007-add-tool-registry-source": addToolRegistrySource,
};
