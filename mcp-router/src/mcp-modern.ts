import { HEADER } from "../../contract/src/headers.ts";
import type { InboundMessage } from "./json-rpc-message.ts";
import type { RouterResponse } from "./http-types.ts";
import { inFlightKey } from "./in-flight.ts";
import { handleToolsList, rpcError, rpcResult } from "./mcp-tools.ts";
import {
  ALL_VERSIONS,
  isModernVersion,
  metaProtocolVersion,
  SERVER_INFO_META_KEY,
} from "./protocol-version.ts";
import type { McpCall, RouterContext } from "./router-context.ts";
import { handleTaskRequest, handleToolsCallWithTasks } from "./tasks/mcp-tasks.ts";
import { TASKS_EXTENSION_ID } from "./tasks/task-wire.ts";

/**
 * The stateless 2026-07-28 revision: no initialize, no sessions, the version in every request's
 * `_meta`, and routing headers that must agree with the body. The gateway authorizes on the body,
 * so a header naming something else is refused (400, -32020) rather than trusted.
 */

/** Methods whose `Mcp-Name` header mirrors a body parameter. */
const NAME_SOURCE: Record<string, string> = {
  "tools/call": "name",
  "prompts/get": "name",
  "resources/read": "uri",
  "tasks/get": "taskId",
  "tasks/update": "taskId",
  "tasks/cancel": "taskId",
};

const BASE64_PREFIX = "=?base64?";
const BASE64_SUFFIX = "?=";

/** Header values that are not plain visible ASCII travel base64-wrapped (SEP-2243). */
export function decodeHeaderValue(value: string): string | undefined {
  if (!value.startsWith(BASE64_PREFIX) || !value.endsWith(BASE64_SUFFIX)) return value;
  const encoded = value.slice(BASE64_PREFIX.length, value.length - BASE64_SUFFIX.length);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(encoded)) return undefined;
  return Buffer.from(encoded, "base64").toString("utf8");
}

export async function handleModernPost(
  ctx: RouterContext,
  call: McpCall,
  message: InboundMessage,
  version: string,
  headers: Record<string, string>,
): Promise<RouterResponse> {
  const id = message.kind === "request" ? message.request.id : null;
  if (!isModernVersion(version)) {
    return rpcError(call, "GW_UNSUPPORTED_PROTOCOL_VERSION", id, {
      data: { supported: ALL_VERSIONS },
    });
  }
  if (message.kind === "response") return rpcError(call, "GW_INVALID_REQUEST", null);
  if (message.kind === "notification") {
    const { method, params } = message.notification;
    if (method === "notifications/cancelled") {
      const requestId = params?.requestId;
      if (typeof requestId === "string" || typeof requestId === "number") {
        ctx.inFlight.cancel(inFlightKey(call.verdict.subject, undefined, requestId));
      }
    }
    return { status: 202, headers: call.responseHeaders };
  }

  const { request } = message;
  const claim = metaProtocolVersion(request);
  if (claim === undefined) {
    return rpcError(call, "GW_INVALID_PARAMS", request.id, {
      status: 400,
      detail: "Missing _meta io.modelcontextprotocol/protocolVersion",
    });
  }
  const headerVersion = headers[HEADER.mcpProtocolVersion];
  if (headerVersion === undefined) {
    return rpcError(call, "GW_HEADER_MISMATCH", request.id, {
      detail: "MCP-Protocol-Version header is required",
    });
  }
  if (headerVersion !== claim) {
    return rpcError(call, "GW_HEADER_MISMATCH", request.id, {
      detail: "MCP-Protocol-Version header does not match _meta",
    });
  }
  const methodHeader = headers[HEADER.mcpMethod];
  if (methodHeader === undefined) {
    return rpcError(call, "GW_HEADER_MISMATCH", request.id, {
      detail: "Mcp-Method header is required",
    });
  }
  if (methodHeader !== request.method) {
    return rpcError(call, "GW_HEADER_MISMATCH", request.id, {
      detail: "Mcp-Method header does not match the body",
    });
  }
  const nameSource = NAME_SOURCE[request.method];
  if (nameSource !== undefined) {
    const raw = headers[HEADER.mcpName];
    const bodyValue = request.params?.[nameSource];
    if (raw === undefined) {
      return rpcError(call, "GW_HEADER_MISMATCH", request.id, {
        detail: "Mcp-Name header is required",
      });
    }
    if (typeof bodyValue !== "string" || decodeHeaderValue(raw) !== bodyValue) {
      return rpcError(call, "GW_HEADER_MISMATCH", request.id, {
        detail: "Mcp-Name header does not match the body",
      });
    }
  }

  switch (request.method) {
    case "server/discover": {
      const description = ctx.config.tools.scopes[call.scope]?.description;
      return rpcResult(call, request.id, {
        supportedVersions: ALL_VERSIONS,
        capabilities: {
          tools: { listChanged: false },
          extensions: { [TASKS_EXTENSION_ID]: {} },
        },
        ...(description === undefined ? {} : { instructions: description }),
        ttlMs: ctx.listTtlMs,
        cacheScope: "private",
        _meta: { [SERVER_INFO_META_KEY]: ctx.serverInfo },
      });
    }
    case "tools/list":
      return handleToolsList(ctx, call, request.id, request.params);
    case "tools/call":
      return handleToolsCallWithTasks(ctx, call, request.id, request.params);
    default:
      // 2026-07-28: an unknown method is HTTP 404 with -32601 (ping, tasks/result and
      // tasks/list included: removed from this revision).
      return (
        (await handleTaskRequest(ctx, call, request.id, request.method, request.params)) ??
        rpcError(call, "GW_METHOD_NOT_FOUND", request.id, { status: 404 })
      );
  }
}
