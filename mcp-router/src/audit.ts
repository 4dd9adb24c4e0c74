import type { GatewayErrorCode } from "../../contract/src/errors.ts";
import { randomUUID } from "node:crypto";
import { currentTraceId, withSpan } from "../../contract/src/tracing.ts";
import type { AuditEvent, AuditOutcome, AuditWriter } from "../../store/src/audit-writer.ts";
import type { AuditKind } from "../../store/src/schema.ts";

/**
 * Audit records written by the router through the store's writer, which group-commits them and
 * rejects (AuditQueueFullError, AuditNotStoredError) instead of dropping; callers then fail closed.
 *
 * `outcome` is the router's outcome word; `reason` is a short snake_case code (also the log field
 * and metric label): the refusal for rejected calls (unknown_tool, tool_forbidden,
 * pending_approval, ...), the outcome word itself for failed ones.
 */
export type AuditSink = { write(event: AuditEvent): Promise<void> };

/**
 * write-ahead (default): a tool call's start is stored before the tool runs and every outcome
 * before its answer is sent. best-effort: rows are queued and the answer does not wait; a crash
 * loses what was queued.
 */
export type AuditMode = "write-ahead" | "best-effort";
export const AUDIT_MODES = ["write-ahead", "best-effort"] as const satisfies readonly AuditMode[];

export type AuditRowWriter = Pick<AuditWriter, "write" | "commit" | "begin">;

/** The router's audit: `write` stores a row as the mode says; begin/end frame one tools/call. */
export type RouterAudit = AuditSink & {
  readonly mode: AuditMode;
  /**
   * Write-ahead: stores the call's start and resolves with its call id once stored (the tool may
   * run). Best effort: nothing is stored, null.
   */
  begin(start: AuditEvent): Promise<string | null>;
  /** The call's outcome, closing its start (write-ahead: resolves once stored). */
  end(outcome: AuditEvent, callId: string | null): Promise<void>;
  /**
   * Queued without waiting, never throws: the row of an answer that had to change because the
   * audit failed (the writer logs and counts a row it cannot keep).
   */
  enqueue(event: AuditEvent, callId: string | null): void;
};

export function createRouterAudit(
  writer: AuditRowWriter,
  mode: AuditMode,
  /** The call journal's instance id; required for write-ahead. */
  instance: string | undefined,
): RouterAudit {
  const audit = createModeAudit(writer, mode, instance);
  // With tracing on, each audit step is a `router.audit` span (attribute audit.op).
  const traced = <T>(op: string, fn: () => Promise<T>): Promise<T> =>
    withSpan("router.audit", (span) => {
      span?.setAttribute("audit.op", op);
      return fn();
    });
  return {
    mode: audit.mode,
    write: (event) => traced("write", () => audit.write(event)),
    begin: (start) => traced("begin", () => audit.begin(start)),
    end: (event, callId) => traced("end", () => audit.end(event, callId)),
    enqueue: (event, callId) =>
      void traced("enqueue", () => Promise.resolve(audit.enqueue(event, callId))),
  };
}

function createModeAudit(
  writer: AuditRowWriter,
  mode: AuditMode,
  instance: string | undefined,
): RouterAudit {
  const completes = (callId: string | null) => (callId === null ? {} : { completes: callId });
  if (mode === "best-effort") {
    return {
      mode,
      write: (event) => writer.write(event),
      begin: () => Promise.resolve(null),
      end: (event, callId) => writer.write(event, completes(callId)),
      enqueue: (event, callId) =>
        void writer.write(event, completes(callId)).catch(() => undefined),
    };
  }
  if (instance === undefined)
    throw new Error("write-ahead audit needs the call journal's instance");
  return {
    mode,
    write: (event) => writer.commit(event),
    async begin(start) {
      const id = randomUUID();
      await writer.begin(start, { id, instance });
      return id;
    },
    end: (event, callId) => writer.commit(event, completes(callId)),
    enqueue: (event, callId) => void writer.write(event, completes(callId)).catch(() => undefined),
  };
}

export type RouterOutcome =
  "ok" | "tool_error" | "timeout" | "upstream_error" | "rejected" | "cancelled";

export type RouterAuditInput = {
  kind: AuditKind;
  requestId: string;
  identity: { subject: string; tenant: string | null; roles: readonly string[] } | null;
  scope: string | null;
  method: string | null;
  tool: string | null;
  outcome: RouterOutcome;
  /** For rejections: the refusal code. */
  rejection?: string | null;
  /** Replaces the reason derived from the outcome (events that are not tool calls). */
  reason?: string;
  status?: number | null;
  latencyMs: number | null;
  requestBytes?: number | null;
  responseBytes?: number | null;
  captured?: { arguments_digest?: string; arguments?: unknown };
  taskId?: string | null;
};

export function auditOutcome(outcome: RouterOutcome): {
  outcome: AuditOutcome;
  reason: string | null;
} {
  switch (outcome) {
    case "ok":
      return { outcome, reason: null };
    case "rejected":
      return { outcome, reason: null };
    case "tool_error":
    case "timeout":
    case "upstream_error":
    case "cancelled":
      return { outcome, reason: outcome };
  }
}

/** `GW_TOOL_FORBIDDEN` → `tool_forbidden`. */
export function reasonCode(code: GatewayErrorCode): string {
  return code.replace(/^GW_/, "").toLowerCase();
}

export function buildAuditEvent(input: RouterAuditInput): AuditEvent {
  const mapped = auditOutcome(input.outcome);
  return {
    time: new Date(),
    request_id: input.requestId,
    source: "router",
    kind: input.kind,
    subject: input.identity?.subject ?? null,
    tenant: input.identity?.tenant ?? null,
    roles: [...(input.identity?.roles ?? [])],
    scope: input.scope,
    method: input.method,
    tool: input.tool,
    outcome: mapped.outcome,
    reason:
      input.reason ??
      (input.outcome === "rejected" ? (input.rejection ?? "rejected") : mapped.reason),
    status: input.status ?? null,
    latency_ms: input.latencyMs,
    request_bytes: input.requestBytes ?? null,
    response_bytes: input.responseBytes ?? null,
    ...(input.captured ?? {}),
    task_id: input.taskId ?? null,
    trace_id: currentTraceId(),
  };
}

/** The record of an MCP tools/call refused by the router before the tool was asked. */
export function rejectedToolCallEvent(
  call: { requestId: string; verdict: RouterAuditInput["identity"]; scope: string },
  refusal: { tool: string; rejection: string; status: number },
): AuditEvent {
  return buildAuditEvent({
    kind: "invocation",
    requestId: call.requestId,
    identity: call.verdict,
    scope: call.scope,
    method: "tools/call",
    tool: refusal.tool,
    outcome: "rejected",
    rejection: refusal.rejection,
    status: refusal.status,
    latencyMs: 0,
  });
}
