import { buildAuditEvent } from "./audit.ts";
import { isRecord } from "./forwarding.ts";
import { SUBSCRIPTION_ID_META_KEY, tagged, type ListenFilter } from "./listen-streams.ts";
import {
  createChannel,
  failure,
  KEEPALIVE_MS,
  result,
  type McpAnswer,
  type McpCall,
  type StreamItem,
} from "./mcp-answer.ts";
import { itemVisible } from "./verdict-access.ts";
import type { RouterContext } from "./router-context.ts";
import { sessionBinding } from "./session.ts";

/**
 * 2026-07-28 `subscriptions/listen` (SEP-2575): the stream that replaced the session's GET stream.
 * The client names the notifications it wants; the gateway acknowledges the subset the scope's
 * server can send (and policy lets the user see), then relays those until the client goes away.
 */

/** Resources one stream may subscribe to: each is an upstream subscription kept alive. */
export const MAX_RESOURCE_SUBSCRIPTIONS = 64;
const MAX_URI_LENGTH = 2048;

type Requested = { ok: true; filter: ListenFilter } | { ok: false; detail: string };

/** `params.notifications` as the schema defines it (SubscriptionFilter); anything else refused. */
export function requestedFilter(value: unknown): Requested {
  if (!isRecord(value)) return { ok: false, detail: "params.notifications must be an object" };
  const flag = (name: string): boolean | string => {
    const raw = value[name];
    if (raw === undefined) return false;
    return typeof raw === "boolean" ? raw : `params.notifications.${name} must be a boolean`;
  };
  const flags = {
    toolsListChanged: flag("toolsListChanged"),
    promptsListChanged: flag("promptsListChanged"),
    resourcesListChanged: flag("resourcesListChanged"),
  };
  for (const problem of Object.values(flags)) {
    if (typeof problem === "string") return { ok: false, detail: problem };
  }
  const uris = value.resourceSubscriptions ?? [];
  if (
    !Array.isArray(uris) ||
    uris.length > MAX_RESOURCE_SUBSCRIPTIONS ||
    !uris.every((uri) => typeof uri === "string" && uri !== "" && uri.length <= MAX_URI_LENGTH)
  ) {
    return {
      ok: false,
      detail: `params.notifications.resourceSubscriptions must be at most ${MAX_RESOURCE_SUBSCRIPTIONS} resource URIs`,
    };
  }
  return {
    ok: true,
    filter: {
      toolsListChanged: flags.toolsListChanged === true,
      promptsListChanged: flags.promptsListChanged === true,
      resourcesListChanged: flags.resourcesListChanged === true,
      resourceSubscriptions: [...new Set(uris as string[])],
    },
  };
}

/** The part of the filter the scope's server supports, as its capabilities say. */
function supported(server: Record<string, unknown> | undefined, asked: ListenFilter): ListenFilter {
  const flag = (section: string, name: string) => {
    const value = server?.[section];
    return isRecord(value) && value[name] === true;
  };
  return {
    toolsListChanged: asked.toolsListChanged && flag("tools", "listChanged"),
    promptsListChanged: asked.promptsListChanged && flag("prompts", "listChanged"),
    resourcesListChanged: asked.resourcesListChanged && flag("resources", "listChanged"),
    resourceSubscriptions: flag("resources", "subscribe") ? asked.resourceSubscriptions : [],
  };
}

/** The acknowledged filter on the wire: unsupported types are left out (SEP-2575). */
function acknowledged(filter: ListenFilter): Record<string, unknown> {
  return {
    ...(filter.toolsListChanged ? { toolsListChanged: true } : {}),
    ...(filter.promptsListChanged ? { promptsListChanged: true } : {}),
    ...(filter.resourcesListChanged ? { resourcesListChanged: true } : {}),
    ...(filter.resourceSubscriptions.length > 0
      ? { resourceSubscriptions: filter.resourceSubscriptions }
      : {}),
  };
}

export async function handleSubscriptionsListen(
  ctx: RouterContext,
  call: McpCall,
  id: string | number,
  params: Record<string, unknown> | undefined,
): Promise<McpAnswer> {
  const requested = requestedFilter(params?.notifications);
  if (!requested.ok) return failure("GW_INVALID_PARAMS", { detail: requested.detail });
  const started = performance.now();
  const scopeConfig = ctx.config.tools.scopes[call.scope];
  const user = { userId: call.verdict.subject, tenant: call.verdict.tenant };
  const server =
    scopeConfig?.mcp_server === undefined
      ? undefined
      : await ctx.backends.serverCapabilities(call.scope, scopeConfig, user).catch(() => undefined);
  const offered = supported(server, requested.filter);

  const upstream = async (method: string, upstreamParams: Record<string, unknown>) => {
    if (scopeConfig === undefined) return false;
    const outcome = await ctx.backends.call(call.scope, scopeConfig, {
      method,
      params: upstreamParams,
      ...user,
      requestId: call.requestId,
      timeoutMs: scopeConfig.timeout_ms,
      maxResponseBytes: scopeConfig.max_response_bytes,
    });
    return outcome.kind === "result";
  };
  // The server's own subscription, on the user's session (it lasts as long as that session);
  // a resource policy hides from the user is not asked for.
  const subscribe = (uri: string) => upstream("resources/subscribe", { uri });
  const visible = offered.resourceSubscriptions.filter((uri) =>
    itemVisible(call.verdict.items, `resource:${uri}`),
  );
  const accepted = await Promise.all(visible.map(subscribe));
  const filter: ListenFilter = {
    ...offered,
    resourceSubscriptions: visible.filter((_uri, index) => accepted[index]),
  };

  try {
    await ctx.audit.write(
      buildAuditEvent({
        kind: "invocation",
        requestId: call.requestId,
        identity: call.verdict,
        scope: call.scope,
        method: "subscriptions/listen",
        tool: null,
        outcome: "ok",
        latencyMs: Math.round(performance.now() - started),
      }),
    );
  } catch (error) {
    ctx.metrics.auditFailures.inc({ reason: "relay" });
    call.logger.error({ err: error }, "audit write refused; answering 503");
    return failure("GW_AUDIT_UNAVAILABLE");
  }

  const items = createChannel<StreamItem>();
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    clearInterval(keepAlive);
    registration?.close();
    call.signal.removeEventListener("abort", end);
    // A graceful end answers the request; after the client left, nobody reads it.
    items.push({
      kind: "final",
      answer: result({ _meta: { [SUBSCRIPTION_ID_META_KEY]: id } }),
    });
    items.close();
  };
  // `end` runs only after both exist: on the client's abort or the router's shutdown.
  const registration = ctx.listenStreams.open({
    binding: sessionBinding(call),
    subscriptionId: id,
    filter,
    deliver: (notification) => items.push({ kind: "notification", message: notification }),
    end,
  });
  if (registration === undefined) {
    return failure("GW_RATE_LIMITED", { detail: "Too many listen streams for this user" });
  }
  items.push({
    kind: "notification",
    message: tagged(
      {
        jsonrpc: "2.0",
        method: "notifications/subscriptions/acknowledged",
        params: { notifications: acknowledged(filter) },
      },
      id,
    ),
  });
  // The user's session with the server must outlive idle timeouts while the stream is open, and
  // a session opened again has lost its subscriptions: both are renewed on every keepalive.
  const keepAlive = setInterval(() => {
    items.push({ kind: "keepalive" });
    if (scopeConfig?.mcp_server === undefined) return;
    const renewals =
      filter.resourceSubscriptions.length > 0
        ? filter.resourceSubscriptions.map((uri) => subscribe(uri))
        : [upstream("ping", {})];
    void Promise.allSettled(renewals);
  }, KEEPALIVE_MS);
  call.signal.addEventListener("abort", end, { once: true });
  // A client that left while the stream was being set up ends it at once.
  if (call.signal.aborted) end();
  call.logger.info({ filter: acknowledged(filter) }, "listen stream opened");
  return { kind: "stream", items };
}
