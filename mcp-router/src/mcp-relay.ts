import { requestItem, SESSION_ONLY_ITEM_METHODS } from "../../contract/src/mcp-items.ts";
import { LOG_LEVELS, META_KEY } from "../../contract/src/mcp-wire.ts";
import { buildAuditEvent, type RouterOutcome } from "./audit.ts";
import type { JsonRpcNotificationMessage, UpstreamOutcome } from "./forwarding.ts";
import { inFlightKey } from "./in-flight.ts";
import { requestCapabilities, resumeInputRound, startInputRound } from "./input-required.ts";
import { hasStatelessUpstream } from "./upstream/stateless-upstream.ts";
import {
  createChannel,
  failure,
  NO_ANSWER,
  result,
  type FinalAnswer,
  type McpAnswer,
  type McpCall,
  type StreamItem,
} from "./mcp-answer.ts";
import type { RouterContext } from "./router-context.ts";
import { RELAYABLE_CLIENT_CAPABILITIES } from "./session.ts";
import type { BackendCall } from "./upstream/backends.ts";
import { itemVisible } from "./verdict-access.ts";

/**
 * Requests a scope served by a standard MCP server (`mcp_server` in tools.yaml) passes on to it
 * as they are: prompts, resources, completion and the log level. ext-authz has decided on the
 * prompt or resource a request names (`prompt:<name>`, `resource:<uri>`); the router checks that
 * again against the verdict, filters lists to what the verdict lets the caller see, relays the
 * server's progress and log notifications, and audits every request. A scope served by a gateway
 * tool server has none of these methods ("Method not found").
 */

export const RELAYED_METHODS = [
  "prompts/list",
  "prompts/get",
  "resources/list",
  "resources/templates/list",
  "resources/read",
  "resources/subscribe",
  "resources/unsubscribe",
  "completion/complete",
  "logging/setLevel",
  // The skills extension (SEP-2640), when the server announces it.
  "skills/list",
  "skills/get",
  "resources/directory/read",
] as const;

export const SKILLS_EXTENSION_ID = "io.modelcontextprotocol/skills";

/** Methods 2026-07-28 removed (subscriptions, the session log level): "Method not found" there. */
export const SESSION_ONLY_RELAYED_METHODS: ReadonlySet<string> = new Set([
  ...SESSION_ONLY_ITEM_METHODS,
  "logging/setLevel",
]);

/** Lists filtered per entry: the result key and the item each entry names. */
const LISTS: Readonly<
  Record<string, { key: string; item: (entry: Record<string, unknown>) => unknown }>
> = {
  "prompts/list": { key: "prompts", item: (entry) => `prompt:${String(entry.name)}` },
  "resources/list": { key: "resources", item: (entry) => `resource:${String(entry.uri)}` },
  // A template is shown when the caller may see resources whose URI is the template's text
  // (`resource:*`, or a pattern the template itself matches).
  "resources/templates/list": {
    key: "resourceTemplates",
    item: (entry) => `resource:${String(entry.uriTemplate)}`,
  },
  // A skill is shown when the caller may read its SKILL.md; a directory's children likewise.
  "skills/list": { key: "skills", item: (entry) => `resource:${String(entry.uri)}` },
  "resources/directory/read": {
    key: "resources",
    item: (entry) => `resource:${String(entry.uri)}`,
  },
};

/**
 * Which notifications of a request the client gets. 2026-07-28: log messages only at or above
 * the level the request's `_meta` asks for, none without one (the 2025 revisions set the level
 * per session, upstream).
 */
export function notificationFilter(
  era: McpCall["era"],
  params: Record<string, unknown> | undefined,
): (notification: JsonRpcNotificationMessage) => boolean {
  if (era !== "stateless") return () => true;
  const meta = isRecord(params?._meta) ? params._meta : {};
  const wanted = LOG_LEVELS.indexOf(String(meta[META_KEY.logLevel]));
  return (notification) => {
    if (notification.method !== "notifications/message") return true;
    const level = LOG_LEVELS.indexOf(String(notification.params?.level));
    return wanted !== -1 && level >= wanted;
  };
}

/** The log level a 2026-07-28 request asks for in `_meta`, when it names a valid one. */
export function requestLogLevel(params: Record<string, unknown> | undefined): string | undefined {
  const meta = isRecord(params?._meta) ? params._meta : {};
  const level = meta[META_KEY.logLevel];
  return typeof level === "string" && LOG_LEVELS.includes(level) ? level : undefined;
}

/** The log level a stateless client asked for, to pass on to a server that is stateless too. */
export function logLevelRelay(
  call: McpCall,
  params: Record<string, unknown> | undefined,
): { logLevel?: string } {
  const level = call.era === "stateless" ? requestLogLevel(params) : undefined;
  return level === undefined ? {} : { logLevel: level };
}

/** 2026-07-28 results that carry caching hints. */
const CACHEABLE = new Set([
  "prompts/list",
  "resources/list",
  "resources/templates/list",
  "resources/read",
  "skills/list",
  "skills/get",
  "resources/directory/read",
]);

/** Notifications of a request that the client is meant to see. */
const PASSTHROUGH = new Set(["notifications/progress", "notifications/message"]);

/** The server's error, relayed as it said it (bounded). */
function serverError(outcome: Extract<UpstreamOutcome, { kind: "rpc_error" }>): FinalAnswer {
  return {
    kind: "stored_error",
    error: { ...outcome.error, message: outcome.error.message.slice(0, 1000) },
  };
}

function outcomeOf(outcome: UpstreamOutcome): {
  answer: FinalAnswer;
  audited: RouterOutcome;
  reason?: string;
} {
  switch (outcome.kind) {
    case "result":
      return { answer: result(outcome.result), audited: "ok" };
    case "rpc_error":
      return {
        answer: serverError(outcome),
        audited: "upstream_error",
        reason: `backend_rpc_error_${outcome.error.code}`,
      };
    case "failure":
      switch (outcome.reason) {
        case "timeout":
          return { answer: failure("GW_UPSTREAM_TIMEOUT"), audited: "timeout" };
        case "cancelled":
          return { answer: NO_ANSWER, audited: "cancelled" };
        case "too_large":
          return {
            answer: failure("GW_UPSTREAM_RESPONSE_TOO_LARGE"),
            audited: "upstream_error",
            reason: "too_large",
          };
        case "invalid_response":
          return {
            answer: failure("GW_UPSTREAM_INVALID"),
            audited: "upstream_error",
            reason: "invalid_response",
          };
        default:
          return {
            answer: failure("GW_UPSTREAM_UNAVAILABLE"),
            audited: "upstream_error",
            reason: outcome.reason,
          };
      }
  }
}

/** Only the progress token of `_meta` goes upstream: the rest is the client's envelope. */
function upstreamParams(params: Record<string, unknown> | undefined): Record<string, unknown> {
  const { _meta: meta, ...rest } = params ?? {};
  const token =
    meta !== null && typeof meta === "object" && !Array.isArray(meta)
      ? (meta as Record<string, unknown>).progressToken
      : undefined;
  return typeof token === "string" || (typeof token === "number" && Number.isFinite(token))
    ? { ...rest, _meta: { progressToken: token } }
    : rest;
}

/**
 * What a request of a session-era client passes to an MCP server so the server may ask the
 * client things while it runs: the client's declared capabilities, and a relay that puts the
 * server's request on this request's stream (server-requests.ts). Stateless (2026-07-28) clients
 * cannot be asked over a stream: they get neither, and the server's request is refused.
 */
export function serverRequestRelay(
  ctx: RouterContext,
  call: McpCall,
  items: { push(item: StreamItem): void },
  signal: AbortSignal,
  params: Record<string, unknown> | undefined,
): Pick<BackendCall, "clientCapabilities" | "onServerRequest" | "relayInputRequired"> {
  if (call.era === "stateless" && hasStatelessUpstream(ctx.config.tools.scopes[call.scope])) {
    // Both ends speak 2026-07-28: the server's InputRequiredResult is the client's to answer.
    return { clientCapabilities: requestCapabilities(params), relayInputRequired: true };
  }
  const capabilities = call.clientCapabilities ?? [];
  if (call.era !== "session" || call.sessionId === undefined || capabilities.length === 0) {
    return {};
  }
  const owner = {
    subject: call.verdict.subject,
    tenant: call.verdict.tenant,
    sessionId: call.sessionId,
  };
  return {
    clientCapabilities: capabilities,
    onServerRequest: (request) =>
      ctx.serverRequests.relay(
        owner,
        request,
        (message) => items.push({ kind: "request", message }),
        signal,
      ),
  };
}

/** The capabilities an initialize request declares that the gateway can relay requests for. */
export function declaredClientCapabilities(params: Record<string, unknown> | undefined) {
  const declared = isRecord(params?.capabilities) ? params.capabilities : {};
  return RELAYABLE_CLIENT_CAPABILITIES.filter((name) => isRecord(declared[name]));
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value);

/**
 * What the gateway announces of a scope's MCP server besides tools: prompts, resources,
 * completions, logging and the skills extension as the server announced them to the user's own
 * session. List changes and resource updates reach a 2025 client on its session's GET stream and
 * a stateless (2026-07-28) client on `subscriptions/listen`.
 */
export async function relayedCapabilities(
  ctx: RouterContext,
  call: McpCall,
): Promise<Record<string, unknown>> {
  const scopeConfig = ctx.config.tools.scopes[call.scope];
  if (scopeConfig?.mcp_server === undefined) return {};
  const server = await ctx.backends
    .serverCapabilities(call.scope, scopeConfig, {
      userId: call.verdict.subject,
      tenant: call.verdict.tenant,
      ...(call.clientCapabilities === undefined
        ? {}
        : { clientCapabilities: call.clientCapabilities }),
    })
    .catch(() => undefined);
  if (server === undefined) return {};
  const flag = (section: unknown, name: string) => isRecord(section) && section[name] === true;
  return {
    // Only listen streams carry tools/list_changed (the router lists again either way).
    ...(call.era === "stateless" && flag(server.tools, "listChanged")
      ? { tools: { listChanged: true } }
      : {}),
    ...(isRecord(server.prompts)
      ? { prompts: { listChanged: flag(server.prompts, "listChanged") } }
      : {}),
    ...(isRecord(server.resources)
      ? {
          resources: {
            subscribe: flag(server.resources, "subscribe"),
            listChanged: flag(server.resources, "listChanged"),
          },
        }
      : {}),
    ...(isRecord(server.completions) ? { completions: {} } : {}),
    ...(isRecord(server.logging) ? { logging: {} } : {}),
    // Extensions the gateway relays, as the server declared them (the caller adds its own).
    ...(isRecord(server.extensions) && isRecord(server.extensions[SKILLS_EXTENSION_ID])
      ? { extensions: { [SKILLS_EXTENSION_ID]: server.extensions[SKILLS_EXTENSION_ID] } }
      : {}),
  };
}

export function handleRelay(
  ctx: RouterContext,
  call: McpCall,
  id: string | number,
  method: string,
  params: Record<string, unknown> | undefined,
): McpAnswer {
  const scopeConfig = ctx.config.tools.scopes[call.scope];
  if (scopeConfig?.mcp_server === undefined) return failure("GW_METHOD_NOT_FOUND");
  const item = requestItem(method, params);
  if (item === null) return failure("GW_INVALID_PARAMS", { detail: `${method}: invalid params` });
  // ext-authz decided on the item; a verdict that does not cover it was not meant for it.
  if (item !== undefined && !itemVisible(call.verdict.items, item)) {
    return failure("GW_TOOL_FORBIDDEN");
  }

  const target = item ?? "";
  const resumed = resumeInputRound(ctx, call, method, target, params);
  if (resumed !== undefined) return resumed;

  const started = performance.now();
  const items = createChannel<StreamItem>();
  const list = Object.hasOwn(LISTS, method) ? LISTS[method] : undefined;
  // A 2026-07-28 client the server may ask things: the request outlives this attempt (SEP-2322).
  const input = startInputRound(ctx, call, method, target, params, items);
  const tracked = ctx.inFlight.start(
    inFlightKey(call.verdict.subject, call.sessionId, id),
    input?.round.signal ?? call.signal,
  );
  const signal = tracked.signal;
  const wanted = notificationFilter(call.era, params);

  void ctx.backends
    .call(call.scope, scopeConfig, {
      method,
      params: upstreamParams(params),
      userId: call.verdict.subject,
      tenant: call.verdict.tenant,
      requestId: call.requestId,
      timeoutMs: scopeConfig.timeout_ms,
      maxResponseBytes: scopeConfig.max_response_bytes,
      signal,
      onNotification: (notification: JsonRpcNotificationMessage) => {
        if (!PASSTHROUGH.has(notification.method) || !wanted(notification)) return;
        if (input !== undefined) input.round.notify(notification);
        else items.push({ kind: "notification", message: notification });
      },
      ...(input?.relay ?? serverRequestRelay(ctx, call, items, signal, params)),
      ...logLevelRelay(call, params),
    })
    .then(async (upstream): Promise<FinalAnswer> => {
      let { answer, audited, reason } = outcomeOf(upstream);
      if (answer.kind === "result" && call.era === "stateless" && CACHEABLE.has(method)) {
        // 2026-07-28 results say how long the client may keep them: lists like tools/list,
        // a resource's content not at all; per user, as everything here is filtered per user.
        answer = result({
          ...answer.result,
          ttlMs: method === "resources/read" ? 0 : ctx.listTtlMs,
          cacheScope: "private",
        });
      }
      if (list !== undefined && answer.kind === "result") {
        const entries = answer.result[list.key];
        if (!Array.isArray(entries)) {
          ({ answer, audited, reason } = {
            answer: failure("GW_UPSTREAM_INVALID"),
            audited: "upstream_error",
            reason: "invalid_response",
          });
        } else {
          const visible = entries.filter(
            (entry: unknown) =>
              entry !== null &&
              typeof entry === "object" &&
              itemVisible(call.verdict.items, String(list.item(entry as Record<string, unknown>))),
          );
          answer = result({ ...answer.result, [list.key]: visible });
        }
      }
      try {
        await ctx.audit.write(
          buildAuditEvent({
            kind: list === undefined ? "invocation" : "list",
            requestId: call.requestId,
            identity: call.verdict,
            scope: call.scope,
            method,
            tool: item ?? null,
            outcome: audited,
            ...(reason === undefined ? {} : { reason }),
            latencyMs: Math.round(performance.now() - started),
            requestBytes: upstream.requestBytes,
            responseBytes: upstream.responseBytes,
          }),
        );
      } catch (error) {
        ctx.metrics.auditFailures.inc({ reason: "relay" });
        call.logger.error({ err: error }, "audit write refused; answering 503");
        return failure("GW_AUDIT_UNAVAILABLE");
      }
      // A request the client cancelled is not answered (its id is forgotten).
      if (audited === "cancelled" && tracked.cancelled) return NO_ANSWER;
      return audited === "cancelled" ? failure("GW_UPSTREAM_UNAVAILABLE") : answer;
    })
    .catch((error: unknown): FinalAnswer => {
      call.logger.error({ err: error }, `${method} relay failed`);
      return failure("GW_INTERNAL");
    })
    .then((answer) => {
      tracked.done();
      if (input !== undefined) {
        input.round.finish(answer);
        return;
      }
      items.push({ kind: "final", answer });
      items.close();
    });
  return { kind: "stream", items };
}
