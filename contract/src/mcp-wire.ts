import { z } from "zod";
import type { JsonRpcId } from "./json-rpc.ts";

/**
 * The MCP wire rules ext-authz (which decides on the body) and the router (which serves it) must
 * apply identically. Each rule lives here once: a copy would drift, and a request one side accepts
 * while the other refuses is either unusable or unaudited.
 */

// ---------------------------------------------------------------- protocol revisions and eras

/** Revisions negotiated by `initialize` (session-capable Streamable HTTP; 2024-11-05: HTTP+SSE). */
export const SESSION_PROTOCOL_VERSIONS = [
  "2025-11-25",
  "2025-06-18",
  "2025-03-26",
  "2024-11-05",
] as const;
/** Revisions without `initialize`: the version travels in every request's `_meta`. */
export const STATELESS_PROTOCOL_VERSIONS = ["2026-07-28"] as const;

export type SessionProtocolVersion = (typeof SESSION_PROTOCOL_VERSIONS)[number];
export type StatelessProtocolVersion = (typeof STATELESS_PROTOCOL_VERSIONS)[number];
export type ProtocolVersion = SessionProtocolVersion | StatelessProtocolVersion;
export type Era = "session" | "stateless";

/** Newest first, as `data.supported` of an unsupported-version error lists them. */
export const SUPPORTED_PROTOCOL_VERSIONS: readonly ProtocolVersion[] = [
  ...STATELESS_PROTOCOL_VERSIONS,
  ...SESSION_PROTOCOL_VERSIONS,
];
export const LATEST_SESSION_VERSION: SessionProtocolVersion = "2025-11-25";
/** What a session-era Streamable HTTP request without `MCP-Protocol-Version` speaks (spec). */
export const DEFAULT_SESSION_VERSION: SessionProtocolVersion = "2025-03-26";
/** The HTTP+SSE transport's revision (GET opens the stream, messages are POSTed). */
export const HTTP_SSE_PROTOCOL_VERSION: SessionProtocolVersion = "2024-11-05";

export function isSessionVersion(value: unknown): value is SessionProtocolVersion {
  return (SESSION_PROTOCOL_VERSIONS as readonly unknown[]).includes(value);
}

export function isStatelessVersion(value: unknown): value is StatelessProtocolVersion {
  return (STATELESS_PROTOCOL_VERSIONS as readonly unknown[]).includes(value);
}

/** Session revisions that have tasks (experimental in core from 2025-11-25 on). */
export function sessionVersionHasTasks(version: SessionProtocolVersion): boolean {
  return version === "2025-11-25";
}

/** Session-era negotiation: echo a supported version, else offer the latest. */
export function negotiateSessionVersion(requested: unknown): SessionProtocolVersion {
  return isSessionVersion(requested) ? requested : LATEST_SESSION_VERSION;
}

// ---------------------------------------------------------------- _meta keys

export const META_KEY = {
  protocolVersion: "io.modelcontextprotocol/protocolVersion",
  clientCapabilities: "io.modelcontextprotocol/clientCapabilities",
  clientInfo: "io.modelcontextprotocol/clientInfo",
  serverInfo: "io.modelcontextprotocol/serverInfo",
  relatedTask: "io.modelcontextprotocol/related-task",
  /** 2026-07-28: the lowest log level a request wants notifications/message for. */
  logLevel: "io.modelcontextprotocol/logLevel",
} as const;

/** MCP logging levels (RFC 5424 severities), least severe first. */
export const LOG_LEVELS: readonly string[] = [
  "debug",
  "info",
  "notice",
  "warning",
  "error",
  "critical",
  "alert",
  "emergency",
];

/** The 2026-07-28 tasks extension (tasks/get, tasks/update, tasks/cancel). */
export const TASKS_EXTENSION_ID = "io.modelcontextprotocol/tasks";

// ---------------------------------------------------------------- JSON-RPC messages

export const MAX_ID_LENGTH = 256;
export const MAX_METHOD_LENGTH = 256;
/** Messages in one JSON-RPC batch: every tools/call in it is authorized and charged. */
export const MAX_BATCH_LENGTH = 32;
/** The only revision whose Streamable HTTP has batches (before: none; after: forbidden). */
export const BATCH_PROTOCOL_VERSION: SessionProtocolVersion = "2025-03-26";

export type Params = Record<string, unknown>;

export type WireMessage =
  | { kind: "request"; id: string | number; method: string; params: Params | undefined }
  | { kind: "notification"; method: string; params: Params | undefined }
  /** A client's answer to a request the gateway relayed to it (exactly one of result, error). */
  | { kind: "response"; id: JsonRpcId; result?: unknown; error?: unknown };

export type WireFailure =
  | "invalid_request"
  | "batch_not_allowed"
  | "batch_too_large"
  | "batch_initialize"
  | "header_mismatch"
  | "unsupported_protocol_version";

export type WireBody =
  | { ok: true; batch: false; message: WireMessage }
  | { ok: true; batch: true; messages: WireMessage[] }
  | { ok: false; reason: WireFailure; id: JsonRpcId; detail?: string };

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

/** The id an error answer may echo: only a well-formed one, never an attacker-sized value. */
export function echoableId(value: unknown): JsonRpcId {
  if (!isObject(value)) return null;
  return validId(value.id) ? value.id : null;
}

/** Strict JSON-RPC 2.0: exact envelope, bounded ids and method, object params, no extra members. */
export function readMessage(value: unknown): WireMessage | undefined {
  if (!isObject(value) || value.jsonrpc !== "2.0") return undefined;
  if (typeof value.method === "string") {
    if (!onlyKeys(value, ["jsonrpc", "method", "params", "id"])) return undefined;
    if (value.method === "" || value.method.length > MAX_METHOD_LENGTH) return undefined;
    if (value.params !== undefined && !isObject(value.params)) return undefined;
    const params = value.params;
    if (!Object.hasOwn(value, "id")) return { kind: "notification", method: value.method, params };
    if (!validId(value.id)) return undefined;
    return { kind: "request", id: value.id, method: value.method, params };
  }
  if (value.method !== undefined) return undefined;
  if (!onlyKeys(value, ["jsonrpc", "id", "result", "error"])) return undefined;
  if (Object.hasOwn(value, "result") === Object.hasOwn(value, "error")) return undefined;
  if (value.id !== null && !validId(value.id)) return undefined;
  // The payload is the client's; whoever relays it checks its shape.
  return Object.hasOwn(value, "result")
    ? { kind: "response", id: value.id, result: value.result }
    : { kind: "response", id: value.id, error: value.error };
}

/** `params._meta["io.modelcontextprotocol/protocolVersion"]` when it is a string. */
export function claimedVersion(params: Params | undefined): string | undefined {
  const meta = params?._meta;
  if (!isObject(meta)) return undefined;
  const version = meta[META_KEY.protocolVersion];
  return typeof version === "string" ? version : undefined;
}

/**
 * A parsed JSON value as one message or a batch. Batches exist only in 2025-03-26 (an absent
 * version header means 2025-03-26); each message must be valid, ids unique (answers are matched
 * by id), and `initialize` is refused: it negotiates the version that decides whether batches
 * exist at all.
 */
export function readBody(value: unknown, headerVersion: string | undefined): WireBody {
  if (!Array.isArray(value)) {
    const message = readMessage(value);
    if (message === undefined)
      return { ok: false, reason: "invalid_request", id: echoableId(value) };
    return { ok: true, batch: false, message };
  }
  const fail = (reason: WireFailure, detail?: string): WireBody => ({
    ok: false,
    reason,
    id: null,
    ...(detail === undefined ? {} : { detail }),
  });
  if (headerVersion !== undefined && headerVersion !== BATCH_PROTOCOL_VERSION) {
    return fail("batch_not_allowed");
  }
  if (value.length === 0) return fail("invalid_request", "A JSON-RPC batch may not be empty");
  if (value.length > MAX_BATCH_LENGTH) {
    return fail(
      "batch_too_large",
      `A JSON-RPC batch may hold at most ${MAX_BATCH_LENGTH} messages`,
    );
  }
  const messages: WireMessage[] = [];
  const ids = new Set<string | number>();
  for (const item of value) {
    const message = readMessage(item);
    if (message === undefined) return fail("invalid_request");
    if (message.kind !== "response") {
      const claim = claimedVersion(message.params);
      if (claim !== undefined && claim !== BATCH_PROTOCOL_VERSION) return fail("batch_not_allowed");
    }
    if (message.kind === "request") {
      if (message.method === "initialize") {
        return fail("batch_initialize", "initialize cannot be sent in a JSON-RPC batch");
      }
      if (ids.has(message.id)) return fail("invalid_request", "A JSON-RPC batch repeats an id");
      ids.add(message.id);
    }
    messages.push(message);
  }
  return { ok: true, batch: true, messages };
}

/**
 * Body-primary era: a request whose `_meta` claims a non-session version is stateless (an
 * unsupported claim then gets -32022 listing what is supported); so is one without a claim whose
 * header names a stateless version (it then fails the header check). Everything else, and
 * `initialize` without a stateless claim, belongs to the session era.
 */
export function eraOf(message: WireMessage, headerVersion: string | undefined): Era {
  if (message.kind === "response")
    return isStatelessVersion(headerVersion) ? "stateless" : "session";
  const claim = claimedVersion(message.params);
  if (claim !== undefined && !isSessionVersion(claim)) return "stateless";
  if (claim === undefined && isStatelessVersion(headerVersion) && message.method !== "initialize") {
    return "stateless";
  }
  return "session";
}

/**
 * The 2026-07-28 per-request envelope: `_meta` must name the protocol version and the client's
 * capabilities (clientInfo is optional). A problem is answered 400 with -32602.
 */
export function statelessEnvelopeProblem(params: Params | undefined): string | undefined {
  const meta = params?._meta;
  if (!isObject(meta)) return "params._meta is required";
  if (typeof meta[META_KEY.protocolVersion] !== "string") {
    return `_meta["${META_KEY.protocolVersion}"] must be a string`;
  }
  if (!isObject(meta[META_KEY.clientCapabilities])) {
    return `_meta["${META_KEY.clientCapabilities}"] must be an object`;
  }
  const info = meta[META_KEY.clientInfo];
  if (info !== undefined && !isObject(info))
    return `_meta["${META_KEY.clientInfo}"] must be an object`;
  return undefined;
}

/** Whether a stateless request's `_meta` client capabilities declare the extension `id`. */
export function declaresExtension(params: Params | undefined, id: string): boolean {
  const meta = params?._meta;
  const capabilities = isObject(meta) ? meta[META_KEY.clientCapabilities] : undefined;
  const extensions = isObject(capabilities) ? capabilities.extensions : undefined;
  return isObject(extensions) && isObject(extensions[id]);
}

// ---------------------------------------------------------------- routing headers

export type RoutingHeaders = {
  protocolVersion: string | undefined;
  method: string | undefined;
  name: string | undefined;
};

/**
 * Methods whose `Mcp-Name` header mirrors a body field (2026-07-28 standard headers; the tasks
 * extension adds `taskId` so intermediaries can route a task's requests to where it lives).
 */
export const MCP_NAME_SOURCE: Readonly<Record<string, "name" | "uri" | "taskId">> = {
  "tools/call": "name",
  "prompts/get": "name",
  "resources/read": "uri",
  "tasks/get": "taskId",
  "tasks/update": "taskId",
  "tasks/cancel": "taskId",
};

/** The body value `Mcp-Name` must equal, when the method has one. */
export function mcpNameSource(
  method: string,
  params: Params | undefined,
): { field: string; value: string | undefined } | undefined {
  const field = Object.hasOwn(MCP_NAME_SOURCE, method) ? MCP_NAME_SOURCE[method] : undefined;
  if (field === undefined) return undefined;
  const value = params?.[field];
  return { field, value: typeof value === "string" ? value : undefined };
}

const BASE64_PREFIX = "=?base64?";
const BASE64_SUFFIX = "?=";
const CANONICAL_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

function needsBase64(value: string): boolean {
  if (value === "" || value !== value.trim()) return true;
  if (value.startsWith(BASE64_PREFIX) && value.endsWith(BASE64_SUFFIX)) return true;
  return !/^[\t\x20-\x7e]*$/.test(value);
}

/** A value as an HTTP field value: plain visible ASCII as is, anything else `=?base64?…?=`. */
export function encodeHeaderValue(value: string): string {
  if (!needsBase64(value)) return value;
  return `${BASE64_PREFIX}${Buffer.from(value, "utf8").toString("base64")}${BASE64_SUFFIX}`;
}

/** The inverse of encodeHeaderValue; undefined for a malformed sentinel or non-UTF-8 bytes. */
export function decodeHeaderValue(raw: string): string | undefined {
  const value = raw.replace(/^[\t ]+|[\t ]+$/g, "");
  if (!value.startsWith(BASE64_PREFIX) || !value.endsWith(BASE64_SUFFIX)) return value;
  const encoded = value.slice(BASE64_PREFIX.length, value.length - BASE64_SUFFIX.length);
  if (!CANONICAL_BASE64.test(encoded)) return undefined;
  const bytes = Buffer.from(encoded, "base64");
  // The pattern leaves the unused low bits of the last character free ("Zh==" and "Zg==" are both
  // "f"); one name, one spelling (RFC 4648 §3.5): only what encoding the bytes gives back counts.
  if (bytes.toString("base64") !== encoded) return undefined;
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * The version a stateless request names that the gateway does not speak, if any. The header is
 * judged first: an unknown header version is unsupported, while a known one that differs from
 * `_meta` is a header mismatch; without a header, the `_meta` claim decides.
 */
export function unsupportedStatelessVersion(
  claim: string | undefined,
  headerVersion: string | undefined,
): string | undefined {
  if (headerVersion !== undefined) {
    const known = isStatelessVersion(headerVersion) || isSessionVersion(headerVersion);
    return known ? undefined : headerVersion;
  }
  return claim !== undefined && !isStatelessVersion(claim) ? claim : undefined;
}

export type HeaderProblem = { reason: "header_mismatch"; detail: string };

function mismatch(detail: string): HeaderProblem {
  return { reason: "header_mismatch", detail };
}

/**
 * `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` against the body. Authorization is decided
 * on the body, so a header naming anything else is refused in every era: an intermediary routing
 * on it would otherwise send one thing where another was authorized. The stateless era also makes
 * them mandatory on requests (notifications are exempt). Every failure is HeaderMismatch (-32020).
 */
export function checkRoutingHeaders(
  message: WireMessage,
  headers: RoutingHeaders,
  era: Era,
): HeaderProblem | undefined {
  if (message.kind === "response") {
    return headers.method !== undefined || headers.name !== undefined
      ? mismatch("A JSON-RPC response carries no Mcp-Method or Mcp-Name header")
      : undefined;
  }
  const claim = claimedVersion(message.params);
  // An unsupported revision is answered -32022 (listing what is supported) instead.
  if (
    era === "stateless" &&
    unsupportedStatelessVersion(claim, headers.protocolVersion) !== undefined
  ) {
    return undefined;
  }
  if (era === "stateless") {
    if (message.kind === "request" && headers.protocolVersion === undefined) {
      return mismatch("MCP-Protocol-Version header is required");
    }
    if (
      claim !== undefined &&
      headers.protocolVersion !== undefined &&
      claim !== headers.protocolVersion
    ) {
      return mismatch("MCP-Protocol-Version header does not match _meta");
    }
  }
  if (headers.method !== undefined && headers.method.trim() !== message.method) {
    return mismatch("Mcp-Method header does not match the body");
  }
  if (era === "stateless" && message.kind === "request" && headers.method === undefined) {
    return mismatch("Mcp-Method header is required");
  }
  const source = mcpNameSource(message.method, message.params);
  // On a method the table does not list, Mcp-Name names nothing and routes nothing: ignored.
  if (headers.name !== undefined && source !== undefined) {
    const decoded = decodeHeaderValue(headers.name);
    if (decoded === undefined) return mismatch("Mcp-Name header has an invalid base64 value");
    if (decoded !== source.value) {
      return mismatch(`Mcp-Name header does not match params.${source.field}`);
    }
    return undefined;
  }
  if (era === "stateless" && message.kind === "request" && source?.value !== undefined) {
    return mismatch("Mcp-Name header is required");
  }
  return undefined;
}

// ---------------------------------------------------------------- endpoints

/** `/{scope}/sse` and its alias `/{scope}/mcp`: the scope, or undefined for any other path. */
export function scopeOfEndpoint(path: string): string | undefined {
  return /^\/([^/]+)\/(?:sse|mcp)$/.exec(path)?.[1];
}

// ---------------------------------------------------------------- tool names

/** MCP tool names: 1–128 characters of A–Z a–z 0–9 _ - . */
export const TOOL_NAME_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;

export function isToolName(value: unknown): value is string {
  return typeof value === "string" && TOOL_NAME_PATTERN.test(value);
}

export type ToolResolution =
  { kind: "found"; scope: string; tool: string } | { kind: "unknown" } | { kind: "ambiguous" };

/**
 * A REST `tool_name`: `scope.tool` when the prefix is a scope that lists the rest, else a bare
 * name exactly one scope lists. `scopesListing(name)` names the scopes whose tools include it.
 */
export function resolveToolName(
  name: string,
  hasTool: (scope: string, tool: string) => boolean,
  scopesListing: (tool: string) => readonly string[],
): ToolResolution {
  const dot = name.indexOf(".");
  if (dot > 0) {
    const scope = name.slice(0, dot);
    const tool = name.slice(dot + 1);
    if (hasTool(scope, tool)) return { kind: "found", scope, tool };
  }
  const owners = scopesListing(name);
  if (owners.length === 1) return { kind: "found", scope: owners[0]!, tool: name };
  return owners.length === 0 ? { kind: "unknown" } : { kind: "ambiguous" };
}

// ---------------------------------------------------------------- REST invoke

/** `POST /mcp/invoke`: the REST call kept for scripts. */
export const RestInvokeBodySchema = z.strictObject({
  tool_name: z
    .string()
    .min(1)
    .max(200)
    .regex(/^[A-Za-z0-9_.-]+$/),
  arguments: z.record(z.string(), z.unknown()).optional(),
  /** Background execution: answered 202 with a job to poll at `/mcp/jobs/{id}`. */
  async: z.boolean().optional(),
  /** Job lifetime (async only), bounded by tools.yaml `tasks.max_ttl_ms`. */
  ttl_ms: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
});
export type RestInvokeBody = z.infer<typeof RestInvokeBodySchema>;
export const AMBIGUOUS_TOOL_NAME_HINT = "tool_name is ambiguous: use <scope>.<tool>";
export const REST_INVOKE_BODY_HINT =
  "Body must be {tool_name: string, arguments?: object, async?: boolean, ttl_ms?: integer}";
