/**
 * The JSON the operators' API (`/admin/*`) answers, shared with the console (console/src), which
 * imports these types only. No imports here: the console's browser build type-checks this file.
 */

/** `GET /admin/overview`: the last 15 minutes from this router's own metrics. */
export type AdminOverview = {
  generated_at: string;
  window_seconds: number;
  interval_seconds: number;
  /** End of each interval (ISO 8601), oldest first; every series below has one value per time. */
  times: string[];
  /** Every request to the MCP and REST endpoints this router answered. */
  requests: TrafficSeries;
  /** tools/call per scope. */
  scopes: ScopeTraffic[];
  backends: BackendHealth[];
  audit: AuditQueueState;
  /** tools/call forwarded right now. */
  in_flight: number;
};

export type TrafficSeries = {
  per_second: number[];
  /** Share of answers that were errors (HTTP 5xx; for tools/call: tool errors, timeouts, backend failures). */
  error_rate: (number | null)[];
  /** Share refused (HTTP 4xx; for tools/call: rejected). */
  refusal_rate: (number | null)[];
  totals: { count: number; errors: number; refusals: number };
};

export type ScopeTraffic = TrafficSeries & {
  scope: string;
  p50_ms: (number | null)[];
  p99_ms: (number | null)[];
  /** Over the whole window. */
  latency: { p50_ms: number | null; p99_ms: number | null };
};

export type BackendHealth = {
  scope: string;
  /** up: listed recently; stale: serving the last listing after failed refreshes; down: never listed. */
  status: "up" | "stale" | "down" | "unknown";
  tools_served: number;
  listed_at: string | null;
  /** tools/call that failed at the backend (timeouts, unreachable, invalid answers) in the window. */
  backend_failures: number;
};

export type AuditQueueState = {
  mode: "write-ahead" | "best-effort";
  /** Rows accepted and not yet stored; null when the audit sink does not report it. */
  queued: number | null;
  waiting: number | null;
  /** Age of the oldest queued row: how far the stored log lags behind. */
  lag_ms: number | null;
  written_total: number | null;
  failed_total: number | null;
  rejected_total: number | null;
};

export type ToolStatus =
  "active" | "inactive" | "disabled" | "pinned_definition_changed" | "definition_changed";

export type DiffLine = { op: "=" | "-" | "+"; text: string };

export type DefinitionChange = {
  approved_digest: string;
  observed_digest: string;
  changed_at: string | null;
  /** tools.yaml `definition_changes`: pin refuses calls until approved; warn serves the new one. */
  policy: "pin" | "warn";
  /** An operator chose "keep pinned" for this observed definition. */
  kept: { by: string | null; at: string } | null;
  /** The approved definition against the observed one, as sorted, indented JSON lines. */
  diff: DiffLine[] | null;
  /** Why there is no diff (a definition this router has not seen since it started). */
  diff_unavailable: string | null;
};

export type AdminTool = {
  scope: string;
  name: string;
  status: ToolStatus;
  /** tools.yaml: listed, and `enabled`. */
  configured: boolean;
  /** How the tool entered the registry: tools.yaml, or a discovering scope's server listing. */
  source: "config" | "discovered";
  enabled: boolean;
  /** Served in tools/list by this router now (callable: not held for approval). */
  served: boolean;
  callable: boolean;
  description: string | null;
  approved_digest: string | null;
  first_seen_at: string | null;
  last_seen_at: string | null;
  deactivated_at: string | null;
  change: DefinitionChange | null;
};

export type AdminTools = {
  definition_changes: "pin" | "warn";
  scopes: { scope: string; description: string | null; backend: string; tools: AdminTool[] }[];
};

export type ToolActionResult = {
  scope: string;
  tool: string;
  action: "approve" | "keep";
  approved_digest: string;
  observed_digest: string;
};

export type MatrixCellJson = {
  decision: "allow" | "deny" | "conditional";
  dry_run_deny: boolean;
  conditions: { rule: string; when: string | undefined }[];
};

export type AdminPolicy = {
  roles: { name: string; description: string | null; operator: boolean }[];
  tools: { tool: string; active: boolean; cells: Record<string, MatrixCellJson> }[];
  operator_roles: string[];
};

export type RuleJson = {
  path: string;
  effect: "allow" | "deny";
  tools: string;
  when: string | null;
  mode: "enforce" | "dry_run";
};

export type Explanation = {
  tool: string;
  scope: string | null;
  roles: string[];
  unknown_roles: string[];
  claims: Record<string, unknown>;
  arguments: Record<string, unknown>;
  arguments_given: boolean;
  decision: "allowed" | "denied" | "unknown_tool" | "inactive";
  rule: RuleJson | null;
  condition_error: string | null;
  would_deny: RuleJson[];
  listed: boolean;
};

export type LimitCounter = {
  kind: "user" | "tool" | "user_tool";
  tenant: string | null;
  user: string | null;
  /** `scope.tool` for tool and user_tool counters. */
  tool: string | null;
  used: number;
  limit: number;
  /** used / limit. */
  share: number;
  window_seconds: number;
  reset_in_ms: number;
};

export type AdminLimits = {
  available: boolean;
  /** Why the counters are not shown (`available: false`). */
  reason: string | null;
  taken_at: string | null;
  store: "memory" | "redis" | null;
  degraded: boolean;
  tracked: number;
  counters: LimitCounter[];
};

export type AuditEventJson = Record<string, unknown> & {
  id: string;
  time: string;
  request_id: string;
  source: string;
  kind: string;
  subject: string | null;
  scope: string | null;
  tool: string | null;
  outcome: string;
  reason: string | null;
  status: number | null;
};

export type AuditPageJson = { events: AuditEventJson[]; next_cursor: string | null };

export type RestErrorJson = { error: { code: string; message: string }; request_id: string };
