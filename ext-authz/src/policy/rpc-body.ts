/**
 * Request body → what the decision needs: for MCP endpoints the JSON-RPC messages (and, for
 * tools/call, the tool name); for REST invoke the tool_name. The JSON is read strictly (depth,
 * duplicate keys); the JSON-RPC and header rules are the wire contract's, shared with the router.
 */
import type { JsonRpcId } from "../../../contract/src/json-rpc.ts";
import {
  checkRoutingHeaders,
  eraOf,
  isToolName,
  readBody,
  RestInvokeBodySchema,
  type RoutingHeaders,
  type WireFailure,
  type WireMessage,
} from "../../../contract/src/mcp-wire.ts";
import { requestItem } from "../../../contract/src/mcp-items.ts";
import { parseStrictJson } from "./strict-json.ts";

/**
 * A wire message; requests also name the tool a tools/call targets, or the prompt or resource
 * (`prompt:<name>`, `resource:<uri>`, the policy's item names) another request targets.
 */
export type RpcMessage =
  | (Extract<WireMessage, { kind: "request" }> & {
      toolName: string | undefined;
      item: string | undefined;
    })
  | Exclude<WireMessage, { kind: "request" }>;

export type BodyFailure = WireFailure | "parse_error" | "too_deep" | "duplicate_key";

export type RpcBody =
  | { ok: true; messages: RpcMessage[]; id: JsonRpcId; batch: boolean }
  | { ok: false; reason: BodyFailure; id: JsonRpcId; detail?: string };

export type InvokeBody =
  | { ok: true; toolName: string; arguments: Readonly<Record<string, unknown>> }
  | { ok: false; reason: BodyFailure; detail?: string };

function withToolName(
  message: WireMessage,
  headerVersion: string | undefined,
): RpcMessage | undefined {
  if (message.kind !== "request") return message;
  if (message.method === "tools/call") {
    const name = message.params?.name;
    return isToolName(name) ? { ...message, toolName: name, item: undefined } : undefined;
  }
  const item = requestItem(message.method, message.params, eraOf(message, headerVersion));
  return item === null ? undefined : { ...message, toolName: undefined, item };
}

export function parseRpcBody(text: string, headers: RoutingHeaders, maxDepth: number): RpcBody {
  const parsed = parseStrictJson(text, maxDepth);
  if (!parsed.ok) return { ok: false, reason: parsed.error, id: null };
  const body = readBody(parsed.value, headers.protocolVersion);
  if (!body.ok) return body;

  if (body.batch) {
    // Mcp-Method / Mcp-Name name one message; a batch has several.
    if (headers.method !== undefined || headers.name !== undefined) {
      return {
        ok: false,
        reason: "header_mismatch",
        id: null,
        detail: "A batch carries no Mcp-Method or Mcp-Name header",
      };
    }
    const messages: RpcMessage[] = [];
    for (const message of body.messages) {
      const named = withToolName(message, headers.protocolVersion);
      if (named === undefined) return { ok: false, reason: "invalid_request", id: null };
      messages.push(named);
    }
    return { ok: true, messages, id: null, batch: true };
  }

  const { message } = body;
  const id = message.kind === "request" ? message.id : null;
  const named = withToolName(message, headers.protocolVersion);
  if (named === undefined) {
    return {
      ok: false,
      reason: "invalid_request",
      id,
      detail:
        message.kind === "request" && message.method !== "tools/call"
          ? `${message.method} needs a valid ${message.method === "prompts/get" ? "params.name" : message.method === "completion/complete" ? "params.ref" : "params.uri"}`
          : "tools/call needs a valid params.name",
    };
  }
  const problem = checkRoutingHeaders(message, headers, eraOf(message, headers.protocolVersion));
  if (problem !== undefined)
    return { ok: false, reason: problem.reason, id, detail: problem.detail };
  return { ok: true, messages: [named], id, batch: false };
}

/** REST `POST /mcp/invoke`: validated whole (the router applies the same schema). */
export function parseInvokeBody(text: string, maxDepth: number): InvokeBody {
  const parsed = parseStrictJson(text, maxDepth);
  if (!parsed.ok) return { ok: false, reason: parsed.error };
  const body = RestInvokeBodySchema.safeParse(parsed.value);
  if (!body.success) return { ok: false, reason: "invalid_request" };
  return { ok: true, toolName: body.data.tool_name, arguments: body.data.arguments ?? {} };
}
