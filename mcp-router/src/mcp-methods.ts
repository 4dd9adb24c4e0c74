import {
  declaresExtension,
  negotiateSessionVersion,
  sessionVersionHasTasks,
  SUPPORTED_PROTOCOL_VERSIONS,
  TASKS_EXTENSION_ID,
  META_KEY,
  type Era,
  type Params,
  type WireMessage,
} from "../../contract/src/mcp-wire.ts";
import { inFlightKey } from "./in-flight.ts";
import { failure, NO_ANSWER, result, type McpAnswer, type McpCall } from "./mcp-answer.ts";
import {
  declaredClientCapabilities,
  handleRelay,
  RELAYED_METHODS,
  relayedCapabilities,
  SESSION_ONLY_RELAYED_METHODS,
} from "./mcp-relay.ts";
import { handleSubscriptionsListen } from "./mcp-listen.ts";
import { handleToolsList } from "./mcp-tools.ts";
import type { RouterContext } from "./router-context.ts";
import { sessionBinding } from "./session.ts";
import {
  handleTasksCancel,
  handleTasksGet,
  handleTasksList,
  handleTasksResult,
  handleTasksUpdate,
  handleToolsCallWithTasks,
  SESSION_TASKS_CAPABILITY,
} from "./tasks/mcp-tasks.ts";

/**
 * The one method table: every MCP request method the gateway serves, the eras that have it, and
 * its handler. Handlers answer with data (mcp-answer.ts); the era's encoder makes it HTTP.
 */

type Handler = (
  ctx: RouterContext,
  call: McpCall,
  id: string | number,
  params: Params | undefined,
) => McpAnswer | Promise<McpAnswer>;

type MethodEntry = {
  eras: readonly Era[];
  handle: Handler;
  /** 2026-07-28: methods of the tasks extension exist only for clients that declare it. */
  extension?: typeof TASKS_EXTENSION_ID;
};

const BOTH: readonly Era[] = ["session", "stateless"];

export const MCP_METHODS: Readonly<Record<string, MethodEntry>> = {
  initialize: { eras: ["session"], handle: initialize },
  ping: { eras: ["session"], handle: () => result({}) },
  "server/discover": { eras: ["stateless"], handle: discover },
  "subscriptions/listen": { eras: ["stateless"], handle: handleSubscriptionsListen },
  "tools/list": {
    eras: BOTH,
    handle: (ctx, call, _id, params) => handleToolsList(ctx, call, params),
  },
  "tools/call": { eras: BOTH, handle: handleToolsCallWithTasks },
  "tasks/get": {
    eras: BOTH,
    handle: (ctx, call, _id, params) => handleTasksGet(ctx, call, params),

    extension: TASKS_EXTENSION_ID,
  },
  "tasks/cancel": {
    eras: BOTH,
    handle: (ctx, call, _id, params) => handleTasksCancel(ctx, call, params),

    extension: TASKS_EXTENSION_ID,
  },
  "tasks/result": {
    eras: ["session"],
    handle: (ctx, call, _id, params) => handleTasksResult(ctx, call, params),
  },
  "tasks/list": {
    eras: ["session"],
    handle: (ctx, call, _id, params) => handleTasksList(ctx, call, params),
  },
  "tasks/update": {
    eras: ["stateless"],
    handle: (ctx, call, _id, params) => handleTasksUpdate(ctx, call, params),
    extension: TASKS_EXTENSION_ID,
  },
  // Scopes served by a standard MCP server only (mcp-relay.ts); elsewhere "Method not found".
  ...Object.fromEntries(
    RELAYED_METHODS.map((method): [string, MethodEntry] => [
      method,
      {
        eras: SESSION_ONLY_RELAYED_METHODS.has(method) ? ["session"] : BOTH,
        handle: (ctx, call, id, params) => handleRelay(ctx, call, id, method, params),
      },
    ]),
  ),
};

/** Whether `method` is a request method of `era` (the router serves nothing else). */
export function servesMethod(method: string, era: Era): boolean {
  return Object.hasOwn(MCP_METHODS, method) && MCP_METHODS[method]!.eras.includes(era);
}

export async function dispatch(
  ctx: RouterContext,
  call: McpCall,
  message: WireMessage,
): Promise<McpAnswer> {
  if (message.kind === "response") {
    // The answer to a server's request relayed to this session; anything else is dropped.
    if (call.sessionId !== undefined) {
      const owner = {
        subject: call.verdict.subject,
        tenant: call.verdict.tenant,
        sessionId: call.sessionId,
      };
      const matched = ctx.serverRequests.answer(owner, message.id, message);
      call.logger.info({ matched }, "client response");
    }
    return NO_ANSWER;
  }
  if (message.kind === "notification") {
    if (message.method === "notifications/cancelled") cancelInFlight(ctx, call, message.params);
    return NO_ANSWER;
  }
  if (!servesMethod(message.method, call.era)) return failure("GW_METHOD_NOT_FOUND");
  const entry = MCP_METHODS[message.method]!;
  if (
    call.era === "stateless" &&
    entry.extension !== undefined &&
    !declaresExtension(message.params, entry.extension)
  ) {
    return failure("GW_MISSING_CLIENT_CAPABILITY", {
      detail: `${message.method} needs the ${entry.extension} extension in the client capabilities`,
      data: { requiredCapabilities: { extensions: { [entry.extension]: {} } } },
    });
  }
  return entry.handle(ctx, call, message.id, message.params);
}

function cancelInFlight(ctx: RouterContext, call: McpCall, params: Params | undefined): void {
  const requestId = params?.requestId;
  if (typeof requestId !== "string" && typeof requestId !== "number") return;
  const cancelled = ctx.inFlight.cancel(
    inFlightKey(call.verdict.subject, call.sessionId, requestId),
  );
  call.logger.info({ cancelled }, "notifications/cancelled");
}

/** Session-era lifecycle: negotiate the version and issue a session bound to user and scope. */
async function initialize(
  ctx: RouterContext,
  call: McpCall,
  _id: string | number,
  params: Params | undefined,
): Promise<McpAnswer> {
  const version = negotiateSessionVersion(params?.protocolVersion);
  const clientCapabilities = declaredClientCapabilities(params);
  const relayed = await relayedCapabilities(ctx, { ...call, clientCapabilities });
  const session = ctx.sessions.issue(sessionBinding(call), version, clientCapabilities);
  const description = ctx.config.tools.scopes[call.scope]?.description;
  return result(
    {
      protocolVersion: version,
      capabilities: {
        tools: { listChanged: false },
        ...relayed,
        // Tasks exist from 2025-11-25 on: an older client must not be offered them.
        ...(sessionVersionHasTasks(version) ? { tasks: SESSION_TASKS_CAPABILITY } : {}),
      },
      serverInfo: ctx.serverInfo,
      ...(description === undefined ? {} : { instructions: description }),
    },
    { headers: { "mcp-session-id": session.id } },
  );
}

/**
 * 2026-07-28 `server/discover`: what this endpoint supports, per user (cacheScope private). Its
 * required clientCapabilities are checked with the envelope of every stateless request.
 */
async function discover(ctx: RouterContext, call: McpCall): Promise<McpAnswer> {
  const description = ctx.config.tools.scopes[call.scope]?.description;
  const relayed = await relayedCapabilities(ctx, call);
  return result({
    supportedVersions: SUPPORTED_PROTOCOL_VERSIONS,
    capabilities: {
      tools: { listChanged: false },
      // The server's sections, `tools` included when listen streams carry its list changes.
      ...relayed,
      extensions: { ...(relayed.extensions as object | undefined), [TASKS_EXTENSION_ID]: {} },
    },
    ...(description === undefined ? {} : { instructions: description }),
    ttlMs: ctx.listTtlMs,
    cacheScope: "private",
    _meta: { [META_KEY.serverInfo]: ctx.serverInfo },
  });
}
