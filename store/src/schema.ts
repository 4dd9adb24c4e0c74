import type { ColumnType, Generated, Insertable, Selectable } from "kysely";

/** timestamptz: read as Date, written as Date. */
export type Timestamp = ColumnType<Date, Date, Date>;
/** timestamptz with a database default. */
export type DefaultTimestamp = ColumnType<Date, Date | undefined, Date>;
/**
 * jsonb: read as parsed JSON, written as JSON text. Writing text (not objects) keeps pg from
 * turning JS arrays into Postgres array literals, and behaves the same on PGlite.
 */
export type Jsonb = ColumnType<unknown, string | null, string | null>;
/** int8 columns come back as decimal strings on both drivers (precision is never lost). */
export type Int8 = ColumnType<string, never, never>;

export type RegistryEvent =
  | "added"
  | "discovered"
  | "deactivated"
  | "reactivated"
  | "definition_changed"
  | "definition_approved";
/** How a tool entered the registry: listed in tools.yaml, or listed by a discovering scope's server. */
export type ToolSource = "config" | "discovered";
export type TaskSupport = "forbidden" | "optional" | "required";

export type ToolRegistryTable = {
  scope: string;
  name: string;
  active: boolean;
  enabled: boolean;
  task_support: TaskSupport | null;
  timeout_ms: number | null;
  first_seen_at: DefaultTimestamp;
  last_seen_at: DefaultTimestamp;
  deactivated_at: Date | null;
  approved_definition_digest: string | null;
  observed_definition_digest: string | null;
  definition_changed_at: Date | null;
  source: ColumnType<ToolSource, ToolSource | undefined, ToolSource>;
};

export type ToolRegistryHistoryTable = {
  id: Generated<Int8>;
  scope: string;
  name: string;
  event: RegistryEvent;
  at: DefaultTimestamp;
  details: Jsonb;
};

export type AuditSource = "ext-authz" | "router";
export type AuditKind = "decision" | "invocation" | "list" | "task" | "config" | "admin";

export type AuditEventsTable = {
  id: Generated<Int8>;
  time: DefaultTimestamp;
  request_id: string;
  source: AuditSource;
  kind: AuditKind;
  subject: string | null;
  tenant: string | null;
  roles: ColumnType<string[], string[] | undefined, string[]>;
  scope: string | null;
  method: string | null;
  tool: string | null;
  outcome: string;
  reason: string | null;
  status: number | null;
  latency_ms: number | null;
  request_bytes: number | null;
  response_bytes: number | null;
  arguments_digest: string | null;
  arguments: Jsonb;
  task_id: string | null;
  /** The policy rule that refused the call, or the dry-run rule that would have. */
  policy_rule: ColumnType<string | null, string | null | undefined, string | null>;
  /** The OpenTelemetry trace id of the request (null when tracing was off). */
  trace_id: ColumnType<string | null, string | null | undefined, string | null>;
};

/** A tool call under way (see the audit writer's begin()); its outcome row removes it. */
export type AuditCallStartsTable = {
  call_id: string;
  /** The router process that runs the call (see call-journal.ts). */
  instance: string;
  time: DefaultTimestamp;
  request_id: string;
  source: AuditSource;
  kind: AuditKind;
  subject: string | null;
  tenant: string | null;
  roles: ColumnType<string[], string[] | undefined, string[]>;
  scope: string | null;
  method: string | null;
  tool: string | null;
  arguments_digest: string | null;
  arguments: Jsonb;
  task_id: string | null;
};

export type TaskStatus = "working" | "input_required" | "completed" | "failed" | "cancelled";

export type TasksTable = {
  id: string;
  owner_subject: string;
  owner_tenant: string;
  scope: string;
  tool: string;
  status: TaskStatus;
  status_message: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  ttl_ms: number;
  expires_at: Timestamp;
  poll_interval_ms: number | null;
  request: Jsonb;
  result: Jsonb;
  error: Jsonb;
  lease_owner: string | null;
  lease_expires_at: Date | null;
  request_id: string | null;
};

export type DB = {
  tool_registry: ToolRegistryTable;
  tool_registry_history: ToolRegistryHistoryTable;
  audit_events: AuditEventsTable;
  audit_call_starts: AuditCallStartsTable;
  tasks: TasksTable;
};

export type ToolRegistryRow = Selectable<ToolRegistryTable>;
export type ToolRegistryHistoryRow = Selectable<ToolRegistryHistoryTable>;
export type AuditEventRow = Selectable<AuditEventsTable>;
export type NewAuditEventRow = Insertable<AuditEventsTable>;
export type AuditCallStartRow = Selectable<AuditCallStartsTable>;
export type NewAuditCallStartRow = Insertable<AuditCallStartsTable>;
export type TaskRow = Selectable<TasksTable>;
