/**
 * Request body → what the decision needs: for MCP endpoints the JSON-RPC method, id and (for
 * tools/call) the tool name; for REST invoke the tool_name. Strict JSON-RPC 2.0: exact envelope,
 * bounded ids, no unknown members. Batches only where the protocol revision has them (2025-03-26).
 */
import type { JsonRpcId } from "../../../contract/src/json-rpc.ts";
import { parseStrictJson } from "./strict-json.ts";

export type RpcMessage =
  | {
      kind: "request";
      method: string;
      id: string | number;
      toolName: string | undefined;
      params: Record<string, unknown> | undefined;
    }
  | { kind: "notification"; method: string; params: Record<string, unknown> | undefined }
  | { kind: "response"; id: JsonRpcId };

export type BodyFailure =
  | "parse_error"
  | "invalid_request"
  | "too_deep"
  | "duplicate_key"
  | "batch_not_allowed"
  | "batch_too_large"
  | "batch_initialize"
  | "header_mismatch"
  | "missing_required_header";

export type RpcBody =
  | { ok: true; messages: RpcMessage[]; id: JsonRpcId; batch: boolean }
  | { ok: false; reason: BodyFailure; id: JsonRpcId };

export type InvokeBody = { ok: true; toolName: string } | { ok: false; reason: BodyFailure };

export const MAX_ID_LENGTH = 256;
/** Messages in one JSON-RPC batch: every tools/call in it is authorized and charged. */
export const MAX_BATCH_LENGTH = 32;
/** The only revision whose Streamable HTTP accepts batches (absent header = 2025-03-26). */
export const BATCH_PROTOCOL_VERSION = "2025-03-26";
const MAX_METHOD_LENGTH = 256;
const TOOL_NAME_RE = /^[A-Za-z0-9_.-]{1,128}$/;
/** Methods whose target the 2026-07-28 revision repeats in the Mcp-Name header. */
const NAMED_METHODS: Record<string, string> = {
  "tools/call": "name",
  "prompts/get": "name",
  "resources/read": "uri",
};
const PROTOCOL_VERSION_META_KEY = "io.modelcontextprotocol/protocolVersion";
/** 2025-era revisions; anything newer is the stateless family. */
const LEGACY_VERSIONS = new Set(["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"]);

export type McpHeaders = {
  protocolVersion: string | undefined;
  method: string | undefined;
  name: string | undefined;
};

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function validId(value: unknown): value is string | number {
  if (typeof value === "string") return value.length <= MAX_ID_LENGTH;
  return typeof value === "number" && Number.isSafeInteger(value);
}

function onlyKeys(value: Record<string, unknown>, allowed: readonly string[]): boolean {
  return Object.keys(value).every((key) => allowed.includes(key));
}

/** The id to echo in an error body: only a well-formed one, never an attacker-sized value. */
function echoableId(value: unknown): JsonRpcId {
  if (!isObject(value)) return null;
  return validId(value.id) ? value.id : null;
}

function parseMessage(value: unknown): RpcMessage | undefined {
  if (!isObject(value) || value.jsonrpc !== "2.0") return undefined;
  if (typeof value.method === "string") {
    if (!onlyKeys(value, ["jsonrpc", "method", "params", "id"])) return undefined;
    if (value.method === "" || value.method.length > MAX_METHOD_LENGTH) return undefined;
    if (value.params !== undefined && !isObject(value.params)) return undefined;
    const params = value.params;
    if (!Object.hasOwn(value, "id")) return { kind: "notification", method: value.method, params };
    if (!validId(value.id)) return undefined;
    let toolName: string | undefined;
    if (value.method === "tools/call") {
      const name = params?.name;
      if (typeof name !== "string" || !TOOL_NAME_RE.test(name)) return undefined;
      toolName = name;
    }
    return { kind: "request", method: value.method, id: value.id, toolName, params };
  }
  if (value.method !== undefined) return undefined;
  if (!onlyKeys(value, ["jsonrpc", "id", "result", "error"])) return undefined;
  const hasResult = Object.hasOwn(value, "result");
  const hasError = Object.hasOwn(value, "error");
  if (hasResult === hasError) return undefined;
  if (value.id !== null && !validId(value.id)) return undefined;
  return { kind: "response", id: value.id };
}

function metaVersion(message: RpcMessage): string | undefined {
  if (message.kind === "response") return undefined;
  const meta = message.params?._meta;
  if (!isObject(meta)) return undefined;
  const version = meta[PROTOCOL_VERSION_META_KEY];
  return typeof version === "string" ? version : undefined;
}

export function parseRpcBody(text: string, headers: McpHeaders, maxDepth: number): RpcBody {
  const parsed = parseStrictJson(text, maxDepth);
  if (!parsed.ok) {
    return {
      ok: false,
      reason: parsed.error === "parse_error" ? "parse_error" : parsed.error,
      id: null,
    };
  }
  const value = parsed.value;

  if (Array.isArray(value)) return parseBatch(value, headers);

  const id = echoableId(value);
  const message = parseMessage(value);
  if (message === undefined) return { ok: false, reason: "invalid_request", id };
  const mismatch = checkRoutingHeaders(message, headers);
  if (mismatch !== undefined) return { ok: false, reason: mismatch, id };
  return {
    ok: true,
    messages: [message],
    id: message.kind === "response" ? null : id,
    batch: false,
  };
}

/**
 * A batch is authorized whole: every message must be valid, and the decision checks (and
 * charges) every tools/call in it. Only 2025-03-26 has batches; later revisions forbid them.
 */
function parseBatch(values: unknown[], headers: McpHeaders): RpcBody {
  const fail = (reason: BodyFailure): RpcBody => ({ ok: false, reason, id: null });
  if (headers.protocolVersion !== undefined && headers.protocolVersion !== BATCH_PROTOCOL_VERSION)
    return fail("batch_not_allowed");
  if (values.length === 0) return fail("invalid_request");
  if (values.length > MAX_BATCH_LENGTH) return fail("batch_too_large");
  // Mcp-Method / Mcp-Name name one message; they belong to the stateless revision anyway.
  if (headers.method !== undefined || headers.name !== undefined) return fail("header_mismatch");
  const messages: RpcMessage[] = [];
  const ids = new Set<string | number>();
  for (const value of values) {
    const message = parseMessage(value);
    if (message === undefined) return fail("invalid_request");
    if (message.kind !== "response") {
      const claimed = metaVersion(message);
      if (claimed !== undefined && claimed !== BATCH_PROTOCOL_VERSION)
        return fail("batch_not_allowed");
    }
    if (message.kind === "request") {
      // initialize negotiates the version that decides whether batches exist at all.
      if (message.method === "initialize") return fail("batch_initialize");
      // Answers are matched by id: a repeated request id would make them ambiguous.
      if (ids.has(message.id)) return fail("invalid_request");
      ids.add(message.id);
    }
    messages.push(message);
  }
  return { ok: true, messages, id: null, batch: true };
}

/**
 * Authorization is decided on the body; `Mcp-Method`/`Mcp-Name` exist so intermediaries can route
 * without parsing, so a header naming something else than the body is refused (-32020). The
 * stateless revision also makes them mandatory (-32021).
 */
function checkRoutingHeaders(
  message: RpcMessage,
  headers: McpHeaders,
): "header_mismatch" | "missing_required_header" | undefined {
  if (message.kind === "response") {
    return headers.method !== undefined || headers.name !== undefined
      ? "header_mismatch"
      : undefined;
  }
  const claimed = metaVersion(message);
  const modern =
    (claimed !== undefined && !LEGACY_VERSIONS.has(claimed)) ||
    (headers.protocolVersion !== undefined && !LEGACY_VERSIONS.has(headers.protocolVersion));
  if (
    claimed !== undefined &&
    headers.protocolVersion !== undefined &&
    claimed !== headers.protocolVersion &&
    modern
  ) {
    return "header_mismatch";
  }
  const nameField = NAMED_METHODS[message.method];
  const bodyName = nameField === undefined ? undefined : message.params?.[nameField];
  if (headers.method !== undefined && headers.method !== message.method) return "header_mismatch";
  if (headers.name !== undefined && (nameField === undefined || headers.name !== bodyName)) {
    return "header_mismatch";
  }
  if (modern) {
    if (headers.method === undefined) return "missing_required_header";
    if (nameField !== undefined && headers.name === undefined) return "missing_required_header";
  }
  return undefined;
}

/** REST `POST /mcp/invoke {tool_name, arguments?, async?}`: only tool_name matters here. */
export function parseInvokeBody(text: string, maxDepth: number): InvokeBody {
  const parsed = parseStrictJson(text, maxDepth);
  if (!parsed.ok) return { ok: false, reason: parsed.error };
  const value = parsed.value;
  if (!isObject(value)) return { ok: false, reason: "invalid_request" };
  const toolName = value.tool_name;
  if (
    typeof toolName !== "string" ||
    toolName.length > 200 ||
    !/^[A-Za-z0-9_.-]+$/.test(toolName)
  ) {
    return { ok: false, reason: "invalid_request" };
  }
  if (value.arguments !== undefined && !isObject(value.arguments)) {
    return { ok: false, reason: "invalid_request" };
  }
  if (value.async !== undefined && typeof value.async !== "boolean") {
    return { ok: false, reason: "invalid_request" };
  }
  return { ok: true, toolName };
}
