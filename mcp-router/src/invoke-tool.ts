import { restStatus, type GatewayErrorCode } from "../../contract/src/errors.ts";
import type { Logger } from "../../contract/src/log.ts";
import type { Era } from "../../contract/src/mcp-wire.ts";
import type { GatewayConfig } from "../../config/src/load-config.ts";
import { TOOL_NAME_RE } from "../../config/src/tool-pattern.ts";
import { toolEntry } from "../../config/src/tools-schema.ts";
import { captureArguments } from "../../store/src/capture-arguments.ts";
import { buildAuditEvent, reasonCode, type RouterAudit } from "./audit.ts";
import type { JsonRpcNotificationMessage } from "./forwarding.ts";
import { httpStatusOf } from "./mcp-encoding.ts";
import type { RouterMetrics } from "./metrics.ts";
import type { ToolCatalog } from "./tool-catalog.ts";
import type { BackendCall, Backends } from "./upstream/backends.ts";
import { isToolAllowed } from "./verdict-access.ts";
import { hasStatelessUpstream } from "./upstream/stateless-upstream.ts";
import { paramBindingsOf } from "./param-bindings.ts";
import { paramHeaderValues } from "../../contract/src/mcp-param-headers.ts";

/**
 * The one tools/call path: checks, forwarding, limits and audit. The MCP handlers, REST invoke
 * and the background task runner all call invokeTool, so they cannot drift apart.
 */

export type Identity = {
  subject: string;
  tenant: string | null;
  roles: readonly string[];
};

export type InvokeRequest = {
  scope: string;
  toolName: unknown;
  arguments: unknown;
  identity: Identity;
  /** The verdict's tool set for this scope. */
  allowedTools: readonly string[];
  requestId: string;
  via: "mcp" | "rest" | "task";
  /** MCP calls: the revision whose encoder answers, which decides the HTTP status of an error. */
  era?: Era;
  /** HTTP+SSE: the client's POST got 202 whatever the answer on the stream says. */
  answeredOnStream?: boolean;
  taskId?: string;
  /** Forwarded as `_meta.progressToken`, so backend progress notifications name the client's token. */
  progressToken?: string | number;
  signal?: AbortSignal;
  onNotification?: (notification: JsonRpcNotificationMessage) => void;
  /** MCP-server scopes: what the client can be asked while the call runs, and how. */
  clientCapabilities?: BackendCall["clientCapabilities"];
  onServerRequest?: BackendCall["onServerRequest"];
  onServerTask?: BackendCall["onServerTask"];
  relayInputRequired?: BackendCall["relayInputRequired"];
  /**
   * A 2026-07-28 server's input round continued by a 2026-07-28 client (`inputResponses`,
   * `requestState`): sent to the server as they are.
   */
  continuation?: Record<string, unknown>;
  /** A 2026-07-28 client's `_meta` log level, for a server that speaks 2026-07-28 too. */
  logLevel?: string;
  /** Overrides for background tasks (longer timeout, result size cap). */
  timeoutMs?: number;
  maxResponseBytes?: number;
  /** Already bound to this request's requestId and scope; without it the invoker binds one. */
  logger?: Logger;
};

export type InvokeOutcome =
  "ok" | "tool_error" | "timeout" | "upstream_error" | "rejected" | "cancelled";

export type InvokeResult =
  | {
      ok: true;
      outcome: "ok" | "tool_error";
      result: Record<string, unknown>;
      latencyMs: number;
    }
  | {
      ok: false;
      outcome: Exclude<InvokeOutcome, "ok" | "tool_error">;
      error: GatewayErrorCode;
      /** Gateway-written text only; never an exception message. */
      detail?: string;
      /** MCP-server scopes: the server's own error, which MCP clients get as it is. */
      serverError?: { code: number; message: string; data?: unknown };
      latencyMs: number;
    };

export type ToolInvoker = (request: InvokeRequest) => Promise<InvokeResult>;

/** Names that were meta-tools of v1 and are not tools in v2. */
const REMOVED_META_TOOLS = new Set(["find_tools", "call_tool"]);

export function createToolInvoker(deps: {
  config: GatewayConfig;
  catalog: ToolCatalog;
  backends: Backends;
  audit: RouterAudit;
  logger: Logger;
  metrics: RouterMetrics;
  now?: () => number;
}): ToolInvoker {
  const now = deps.now ?? (() => performance.now());

  return async function invokeTool(request) {
    const started = now();
    const logger =
      request.logger ?? deps.logger.child({ requestId: request.requestId, scope: request.scope });
    const toolName = typeof request.toolName === "string" ? request.toolName : undefined;
    const auditConfig = deps.config.tools.audit;
    const captured =
      request.arguments === undefined
        ? {}
        : captureArguments(request.arguments, auditConfig.arguments, auditConfig.redact_keys);

    // Write-ahead: the id of the call's stored start row, which its outcome row closes.
    let callId: string | null = null;

    function eventFor(
      result: InvokeResult,
      extra: { requestBytes?: number; responseBytes?: number; reason?: string },
    ) {
      return buildAuditEvent({
        kind: request.via === "task" ? "task" : "invocation",
        requestId: request.requestId,
        identity: request.identity,
        scope: request.scope,
        method: "tools/call",
        tool: toolName ?? null,
        outcome: result.outcome,
        rejection: result.ok ? null : reasonCode(result.error),
        ...(extra.reason === undefined ? {} : { reason: extra.reason }),
        status: answeredStatus(request, result),
        latencyMs: result.latencyMs,
        requestBytes: extra.requestBytes ?? null,
        responseBytes: extra.responseBytes ?? null,
        captured,
        taskId: request.taskId ?? null,
      });
    }

    function report(result: InvokeResult, detailReason: string | undefined): void {
      deps.metrics.toolCalls.inc({
        scope: request.scope,
        tool: result.outcome === "rejected" ? "-" : (toolName ?? "-"),
        outcome: result.outcome,
        via: request.via,
      });
      deps.metrics.toolCallSeconds.observe(
        { scope: request.scope, outcome: result.outcome },
        result.latencyMs / 1000,
      );
      logger.info(
        {
          tool: toolName,
          outcome: result.outcome,
          detail: detailReason,
          latencyMs: result.latencyMs,
          via: request.via,
        },
        "tools/call",
      );
    }

    /** A call that cannot be audited is not answered as a success: 503, and its row says so. */
    function auditFailed(error: unknown, result: InvokeResult, sizes: object): InvokeResult {
      deps.metrics.auditFailures.inc({ reason: auditFailureReason(error) });
      logger.error({ err: error, tool: toolName }, "audit row not stored; answering 503");
      const refused: InvokeResult = {
        ok: false,
        outcome:
          result.outcome === "ok" || result.outcome === "tool_error"
            ? "upstream_error"
            : result.outcome,
        error: "GW_AUDIT_UNAVAILABLE",
        latencyMs: result.latencyMs,
      };
      deps.audit.enqueue(eventFor(refused, { ...sizes, reason: "audit_unavailable" }), callId);
      return refused;
    }

    async function finish(
      result: InvokeResult,
      extra: { requestBytes?: number; responseBytes?: number; detailReason?: string } = {},
    ): Promise<InvokeResult> {
      const sizes = { requestBytes: extra.requestBytes, responseBytes: extra.responseBytes };
      report(result, extra.detailReason);
      try {
        await deps.audit.end(eventFor(result, sizes), callId);
      } catch (error) {
        return auditFailed(error, result, sizes);
      }
      return result;
    }

    const reject = (error: GatewayErrorCode, detail?: string) =>
      finish({
        ok: false,
        outcome: "rejected",
        error,
        latencyMs: Math.round(now() - started),
        ...(detail === undefined ? {} : { detail }),
      });

    if (toolName === undefined || !TOOL_NAME_RE.test(toolName)) {
      return reject("GW_INVALID_PARAMS", "params.name must be a tool name");
    }
    const scopeConfig = deps.config.tools.scopes[request.scope];
    const toolConfig = toolEntry(scopeConfig, toolName);
    if (
      scopeConfig === undefined ||
      toolConfig?.enabled !== true ||
      REMOVED_META_TOOLS.has(toolName)
    ) {
      return reject("GW_UNKNOWN_TOOL", `Unknown tool: ${toolName}`);
    }
    if (!isToolAllowed(request.allowedTools, request.scope, toolName)) {
      return reject("GW_TOOL_FORBIDDEN");
    }
    if (
      request.arguments !== undefined &&
      (request.arguments === null ||
        typeof request.arguments !== "object" ||
        Array.isArray(request.arguments))
    ) {
      return reject("GW_INVALID_PARAMS", "params.arguments must be an object");
    }
    const catalog = await deps.catalog.get(request.scope);
    if (!catalog.ok) {
      return finish(
        {
          ok: false,
          outcome: "upstream_error",
          error: "GW_UPSTREAM_UNAVAILABLE",
          latencyMs: Math.round(now() - started),
        },
        { detailReason: "catalog_unavailable" },
      );
    }
    const entry = catalog.tools.get(toolName);
    if (entry === undefined) return reject("GW_UNKNOWN_TOOL", `Unknown tool: ${toolName}`);
    if (!entry.callable) return reject("GW_TOOL_PENDING_APPROVAL");

    try {
      // A start row keeps who called what with which arguments; the outcome fields are not stored.
      callId = await deps.audit.begin(
        eventFor({ ok: true, outcome: "ok", result: {}, latencyMs: 0 }, {}),
      );
    } catch (error) {
      // Nothing has reached the tool: the call is refused before it can have a side effect.
      const refused: InvokeResult = {
        ok: false,
        outcome: "rejected",
        error: "GW_AUDIT_UNAVAILABLE",
        latencyMs: Math.round(now() - started),
      };
      report(refused, "audit_start_not_stored");
      return auditFailed(error, refused, {});
    }

    const timeoutMs = request.timeoutMs ?? toolConfig.timeout_ms ?? scopeConfig.timeout_ms;
    const params: Record<string, unknown> = {
      name: toolName,
      arguments: request.arguments ?? {},
      ...(request.relayInputRequired === true ? request.continuation : {}),
      ...(request.progressToken === undefined
        ? {}
        : { _meta: { progressToken: request.progressToken } }),
    };
    const upstream = await deps.backends.call(request.scope, scopeConfig, {
      method: "tools/call",
      params,
      userId: request.identity.subject,
      tenant: request.identity.tenant,
      ...(request.clientCapabilities === undefined
        ? {}
        : { clientCapabilities: request.clientCapabilities }),
      ...(request.onServerRequest === undefined
        ? {}
        : { onServerRequest: request.onServerRequest }),
      ...(request.onServerTask === undefined ? {} : { onServerTask: request.onServerTask }),
      ...(request.relayInputRequired === true ? { relayInputRequired: true } : {}),
      ...(request.logLevel === undefined ? {} : { logLevel: request.logLevel }),
      ...(hasStatelessUpstream(scopeConfig)
        ? { headers: paramHeaderValues(paramBindingsOf(entry.definition), params.arguments) }
        : {}),
      requestId: request.requestId,
      timeoutMs,
      maxResponseBytes: request.maxResponseBytes ?? scopeConfig.max_response_bytes,
      ...(request.signal === undefined ? {} : { signal: request.signal }),
      onNotification: (notification) => {
        if (notification.method === "notifications/tools/list_changed") {
          deps.catalog.markStale(request.scope);
          return;
        }
        request.onNotification?.(notification);
      },
    });
    const latencyMs = Math.round(now() - started);
    const sizes = { requestBytes: upstream.requestBytes, responseBytes: upstream.responseBytes };

    switch (upstream.kind) {
      case "result": {
        const outcome = upstream.result.isError === true ? "tool_error" : "ok";
        return finish({ ok: true, outcome, result: upstream.result, latencyMs }, sizes);
      }
      case "rpc_error": {
        // A standard MCP server's error is its own answer to its client: relayed as it is.
        if (scopeConfig.mcp_server !== undefined) {
          return finish(
            {
              ok: false,
              outcome: "upstream_error",
              error: "GW_UPSTREAM_INVALID",
              serverError: { ...upstream.error, message: upstream.error.message.slice(0, 1000) },
              latencyMs,
            },
            { ...sizes, detailReason: `backend_rpc_error_${upstream.error.code}` },
          );
        }
        // A tool server's bad params stay fixable by the model; anything else is opaque.
        if (upstream.error.code === -32602) {
          return finish(
            {
              ok: false,
              outcome: "upstream_error",
              error: "GW_INVALID_PARAMS",
              detail: upstream.error.message.slice(0, 300),
              latencyMs,
            },
            { ...sizes, detailReason: "backend_invalid_params" },
          );
        }
        return finish(
          { ok: false, outcome: "upstream_error", error: "GW_UPSTREAM_INVALID", latencyMs },
          { ...sizes, detailReason: `backend_rpc_error_${upstream.error.code}` },
        );
      }
      case "failure": {
        switch (upstream.reason) {
          case "timeout":
            return finish(
              {
                ok: false,
                outcome: "timeout",
                error: "GW_UPSTREAM_TIMEOUT",
                detail: `Tool call timed out after ${timeoutMs} ms`,
                latencyMs,
              },
              sizes,
            );
          case "cancelled":
            // The contract has no cancelled code; the detail keeps it from reading as an outage.
            // MCP callers that cancelled get no answer at all (see handleToolsCall).
            return finish(
              {
                ok: false,
                outcome: "cancelled",
                error: "GW_UPSTREAM_UNAVAILABLE",
                detail: "Request cancelled",
                latencyMs,
              },
              sizes,
            );
          case "too_large":
            return finish(
              {
                ok: false,
                outcome: "upstream_error",
                error: "GW_UPSTREAM_RESPONSE_TOO_LARGE",
                latencyMs,
              },
              { ...sizes, detailReason: "response_too_large" },
            );
          case "invalid_response":
            return finish(
              { ok: false, outcome: "upstream_error", error: "GW_UPSTREAM_INVALID", latencyMs },
              { ...sizes, detailReason: "invalid_response" },
            );
          case "unavailable":
          case "http_error":
            return finish(
              { ok: false, outcome: "upstream_error", error: "GW_UPSTREAM_UNAVAILABLE", latencyMs },
              {
                ...sizes,
                detailReason:
                  upstream.reason === "http_error"
                    ? `backend_http_${upstream.status ?? 0}`
                    : "backend_unreachable",
              },
            );
        }
      }
    }
  };
}

/**
 * The HTTP status the client is answered with, as the audit row's `status`: REST gives every
 * error its own status (502, 504, 404, …), MCP sends JSON-RPC errors on 200 except the few the
 * encoder maps to an HTTP status. A cancelled call is not answered (the client left or asked for
 * no answer) and a task's background run answers no request: both have none.
 */
function answeredStatus(request: InvokeRequest, result: InvokeResult): number | null {
  if (request.via === "task" || result.outcome === "cancelled") return null;
  if (request.answeredOnStream === true) return 202;
  if (result.ok) return 200;
  return request.via === "rest"
    ? restStatus(result.error)
    : httpStatusOf(request.era ?? "session", result.error);
}

function auditFailureReason(error: unknown): string {
  if (!(error instanceof Error)) return "write_failed";
  if (error.name === "AuditQueueFullError") return "queue_full";
  if (error.name === "AuditNotStoredError" && (error as { reason?: unknown }).reason === "timeout")
    return "timeout";
  return "write_failed";
}
