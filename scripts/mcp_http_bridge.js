#!/usr/bin/env node
// Stdio ↔ Streamable HTTP relay for MCP clients that only launch local (stdio) servers.
//
// The client talks MCP over this process's stdin/stdout; every JSON-RPC message is relayed
// unchanged to one gateway endpoint (e.g. http://localhost:8000/calculator/mcp), and every message
// the gateway sends (responses, notifications, server requests, JSON or SSE) is relayed back.
// The bridge adds a bearer token, fetched from the token issuer and refreshed before it expires
// and again after a 401. stdout carries only the protocol; diagnostics go to stderr.
//
// Both protocol eras are relayed, chosen per message as the gateway chooses them: a message whose
// `_meta` claims a revision other than the session-era ones (2026-07-28) is stateless and is
// POSTed on its own with the routing headers that revision requires, no session id, no GET or
// DELETE; everything else (initialize and the session that follows) goes through the session
// transport.
//
// Plain JavaScript on purpose: it runs with `node scripts/mcp_http_bridge.js`, no build step.

/* global AbortSignal, Headers, Response, TextDecoderStream */
import { parseArgs } from "node:util";
import { EventSourceParserStream } from "eventsource-parser/stream";
import {
  StreamableHTTPClientTransport,
  StreamableHTTPError,
} from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";

const NAME = "mcp-http-bridge";
const EXIT_RUNTIME = 1;
const EXIT_USAGE = 2;
const ISSUER_TIMEOUT_MS = 10_000;
const MAX_REFRESH_MARGIN_MS = 60_000;

const USAGE = `Usage: node scripts/mcp_http_bridge.js --endpoint URL (--issuer-url URL --user-id ID | --token TOKEN | --token-env NAME) [options]

Relays MCP between stdio and a Streamable HTTP endpoint of the gateway.

  --endpoint URL          gateway MCP endpoint, e.g. http://localhost:8000/calculator/mcp
  --issuer-url URL        token issuer base URL (POST {URL}/token), e.g. http://localhost:8010
  --user-id ID            subject of the issued tokens (with --issuer-url)
  --roles A,B             comma-separated roles (with --issuer-url)
  --workspace NAME        workspace (tenant) claim (with --issuer-url)
  --api-version V         api_version claim (with --issuer-url)
  --expires-in SECONDS    lifetime to request for each token (default 300)
  --issuer-token TOKEN    X-Issuer-Token for the issuer (prefer --issuer-token-env)
  --issuer-token-env NAME environment variable holding the X-Issuer-Token
  --token TOKEN           a fixed bearer token instead of the issuer (prefer --token-env)
  --token-env NAME        environment variable holding a fixed bearer token
  --verbose               more diagnostics on stderr
  --help                  this text`;

class UsageError extends Error {}

function log(message) {
  process.stderr.write(`[${NAME}] ${message}\n`);
}

function describeError(error) {
  if (error instanceof StreamableHTTPError && typeof error.code === "number" && error.code > 0) {
    return `gateway answered HTTP ${error.code}`;
  }
  if (error instanceof Error) {
    const cause = error.cause;
    const code =
      cause && typeof cause === "object" && "code" in cause ? ` (${String(cause.code)})` : "";
    return `${error.message}${code}`;
  }
  return String(error);
}

function parseHttpUrl(value, flag) {
  let url;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`${flag} must be an absolute http(s) URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`${flag} must be an http(s) URL`);
  }
  return url;
}

function readEnvFlag(name, flag) {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
    throw new UsageError(`${flag} must name an environment variable`);
  const value = process.env[name];
  if (value === undefined || value === "")
    throw new UsageError(`${flag}: environment variable ${name} is not set`);
  return value;
}

function parseOptions(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        endpoint: { type: "string" },
        "issuer-url": { type: "string" },
        "user-id": { type: "string" },
        roles: { type: "string" },
        workspace: { type: "string" },
        "api-version": { type: "string" },
        "expires-in": { type: "string" },
        "issuer-token": { type: "string" },
        "issuer-token-env": { type: "string" },
        token: { type: "string" },
        "token-env": { type: "string" },
        verbose: { type: "boolean", default: false },
        help: { type: "boolean", default: false },
      },
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const v = parsed.values;
  if (v.help) return { help: true };
  if (!v.endpoint) throw new UsageError("--endpoint is required");
  const endpoint = parseHttpUrl(v.endpoint, "--endpoint");

  const staticSources = [v.token, v["token-env"]].filter((x) => x !== undefined).length;
  if (staticSources > 1) throw new UsageError("give only one of --token and --token-env");
  if (staticSources === 1 && v["issuer-url"] !== undefined) {
    throw new UsageError(
      "give either a fixed token (--token/--token-env) or --issuer-url, not both",
    );
  }
  if (staticSources === 1) {
    const token = v.token ?? readEnvFlag(v["token-env"], "--token-env");
    if (/\s/.test(token) || token.length === 0)
      throw new UsageError("the token must be a single word");
    return { help: false, verbose: v.verbose, endpoint, auth: { kind: "static", token } };
  }
  if (v["issuer-url"] === undefined) {
    throw new UsageError(
      "a token source is required: --issuer-url with --user-id, or --token/--token-env",
    );
  }
  const issuerUrl = parseHttpUrl(v["issuer-url"], "--issuer-url");
  if (!v["user-id"]) throw new UsageError("--user-id is required with --issuer-url");
  if (v["issuer-token"] !== undefined && v["issuer-token-env"] !== undefined) {
    throw new UsageError("give only one of --issuer-token and --issuer-token-env");
  }
  const issuerToken =
    v["issuer-token-env"] !== undefined
      ? readEnvFlag(v["issuer-token-env"], "--issuer-token-env")
      : v["issuer-token"];
  let expiresIn = 300;
  if (v["expires-in"] !== undefined) {
    if (!/^[0-9]+$/.test(v["expires-in"]) || Number(v["expires-in"]) < 1) {
      throw new UsageError("--expires-in must be a positive whole number of seconds");
    }
    expiresIn = Number(v["expires-in"]);
  }
  const roles = (v.roles ?? "")
    .split(",")
    .map((role) => role.trim())
    .filter((role) => role.length > 0);
  const request = { user_id: v["user-id"], roles, expires_in_seconds: expiresIn };
  if (v.workspace !== undefined) request.workspace = v.workspace;
  if (v["api-version"] !== undefined) request.api_version = v["api-version"];
  return {
    help: false,
    verbose: v.verbose,
    endpoint,
    auth: { kind: "issuer", issuerUrl, issuerToken, request },
  };
}

function jwtExpiryMs(token) {
  const payload = token.split(".")[1];
  if (!payload) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
    return typeof claims.exp === "number" ? claims.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** Bearer tokens from the issuer, renewed shortly before expiry; one refresh in flight at a time. */
function createIssuerTokens({ issuerUrl, issuerToken, request }, verbose) {
  const tokenUrl = new URL(
    "token",
    issuerUrl.href.endsWith("/") ? issuerUrl : new URL(`${issuerUrl.href}/`),
  );
  let current; // { token, refreshAt }
  let inflight;

  async function fetchToken() {
    const headers = { "content-type": "application/json", accept: "application/json" };
    if (issuerToken !== undefined) headers["x-issuer-token"] = issuerToken;
    let response;
    try {
      response = await fetch(tokenUrl, {
        method: "POST",
        headers,
        body: JSON.stringify(request),
        signal: AbortSignal.timeout(ISSUER_TIMEOUT_MS),
      });
    } catch (error) {
      throw new Error(
        `cannot reach the token issuer at ${tokenUrl.origin}: ${describeError(error)}`,
      );
    }
    const text = await response.text();
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (!response.ok) {
      const reason =
        body && typeof body.error_description === "string" ? `: ${body.error_description}` : "";
      throw new Error(`the token issuer refused the request (HTTP ${response.status})${reason}`);
    }
    if (
      !body ||
      typeof body.access_token !== "string" ||
      typeof body.expires_in !== "number" ||
      body.expires_in <= 0
    ) {
      throw new Error("the token issuer returned an unexpected response");
    }
    const receivedAt = Date.now();
    const claimed = jwtExpiryMs(body.access_token);
    const expiresAt = Math.min(
      receivedAt + body.expires_in * 1000,
      claimed ?? Number.POSITIVE_INFINITY,
    );
    // Renew once 80% of the lifetime has passed (at most a minute early) so a request never
    // leaves with a token that expires in flight.
    const margin = Math.min(MAX_REFRESH_MARGIN_MS, Math.max(0, expiresAt - receivedAt) * 0.2);
    current = { token: body.access_token, refreshAt: expiresAt - margin };
    if (verbose) log(`obtained a token valid for ${Math.round((expiresAt - receivedAt) / 1000)}s`);
    return current.token;
  }

  function refreshOnce() {
    inflight ??= fetchToken().finally(() => {
      inflight = undefined;
    });
    return inflight;
  }

  return {
    canRefresh: true,
    async current() {
      if (current && Date.now() < current.refreshAt) return current.token;
      return refreshOnce();
    },
    /** After a 401: renew unless another request already replaced the rejected token. */
    async refreshAfterRejection(rejected) {
      if (current && current.token !== rejected && Date.now() < current.refreshAt)
        return current.token;
      if (current?.token === rejected) current = undefined;
      return refreshOnce();
    },
  };
}

function createStaticToken(token) {
  return {
    canRefresh: false,
    async current() {
      return token;
    },
    async refreshAfterRejection() {
      return token;
    },
  };
}

function withBearer(init, token) {
  const headers = new Headers(init?.headers);
  headers.set("authorization", `Bearer ${token}`);
  return { ...init, headers };
}

function requestIdOf(init) {
  if (init?.method !== "POST" || typeof init.body !== "string") return undefined;
  try {
    const message = JSON.parse(init.body);
    return message && typeof message === "object" && "method" in message && "id" in message
      ? message.id
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The stdio client never sees HTTP statuses, only JSON-RPC. When the gateway refuses a request
 * with a JSON-RPC error body (403 forbidden tool, 413, 429 …) that error is the useful answer,
 * so it is handed to the transport as an ordinary JSON response for that request.
 */
async function surfaceJsonRpcError(init, response) {
  const id = requestIdOf(init);
  const type = response.headers.get("content-type") ?? "";
  if (response.ok || id === undefined || !type.toLowerCase().includes("application/json"))
    return response;
  const text = await response.text();
  let message;
  try {
    message = JSON.parse(text);
  } catch {
    message = undefined;
  }
  const isError =
    message &&
    typeof message === "object" &&
    message.jsonrpc === "2.0" &&
    message.error &&
    typeof message.error.code === "number" &&
    typeof message.error.message === "string";
  if (!isError) {
    return new Response(text, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  }
  const relayed = { jsonrpc: "2.0", id: message.id ?? id, error: message.error };
  const headers = new Headers(response.headers);
  headers.set("content-type", "application/json");
  headers.delete("content-length");
  return new Response(JSON.stringify(relayed), { status: 200, headers });
}

function createAuthFetch(tokens, verbose) {
  return async function authFetch(url, init) {
    const token = await tokens.current();
    let response = await fetch(url, withBearer(init, token));
    if (response.status === 401 && tokens.canRefresh) {
      await response.body?.cancel();
      if (verbose) log("gateway answered 401; renewing the token and retrying once");
      const fresh = await tokens.refreshAfterRejection(token);
      response = await fetch(url, withBearer(init, fresh));
    }
    return surfaceJsonRpcError(init, response);
  };
}

function isRequest(message) {
  return "method" in message && "id" in message && message.id !== undefined;
}

function isResponse(message) {
  return !("method" in message) && "id" in message && ("result" in message || "error" in message);
}

// ---------------------------------------------------------------- the stateless revision
// A copy of the rules in contract/src/mcp-wire.ts, which this standalone file cannot import;
// scripts/test/mcp-http-bridge-stateless.test.ts fails when the two disagree.

const PROTOCOL_VERSION_META_KEY = "io.modelcontextprotocol/protocolVersion";
/** Revisions negotiated by `initialize`; a message claiming any other revision is stateless. */
const SESSION_PROTOCOL_VERSIONS = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];
/** Methods whose `Mcp-Name` header mirrors a body field. */
const MCP_NAME_SOURCE = {
  "tools/call": "name",
  "prompts/get": "name",
  "resources/read": "uri",
  "tasks/get": "taskId",
  "tasks/update": "taskId",
  "tasks/cancel": "taskId",
};
const BASE64_PREFIX = "=?base64?";
const BASE64_SUFFIX = "?=";

/** The revision a stateless message claims in `_meta`, or undefined for a session-era message. */
function statelessVersionOf(message) {
  const meta = "method" in message ? message.params?._meta : undefined;
  const version =
    meta !== null && typeof meta === "object" ? meta[PROTOCOL_VERSION_META_KEY] : undefined;
  return typeof version === "string" && !SESSION_PROTOCOL_VERSIONS.includes(version)
    ? version
    : undefined;
}

/** A value as an HTTP field value: plain visible ASCII as is, anything else `=?base64?…?=`. */
function encodeHeaderValue(value) {
  const plain =
    value !== "" &&
    value === value.trim() &&
    /^[\t\x20-\x7e]*$/.test(value) &&
    !(value.startsWith(BASE64_PREFIX) && value.endsWith(BASE64_SUFFIX));
  if (plain) return value;
  return `${BASE64_PREFIX}${Buffer.from(value, "utf8").toString("base64")}${BASE64_SUFFIX}`;
}

/** `MCP-Protocol-Version`, `Mcp-Method` and (for the methods that have one) `Mcp-Name`. */
function routingHeaders(message, version) {
  const headers = { "mcp-protocol-version": version, "mcp-method": message.method };
  const field = Object.hasOwn(MCP_NAME_SOURCE, message.method)
    ? MCP_NAME_SOURCE[message.method]
    : undefined;
  const value = field === undefined ? undefined : message.params?.[field];
  if (typeof value === "string") headers["mcp-name"] = encodeHeaderValue(value);
  return headers;
}

// Mcp-Param-{Name} (SEP-2243): a tool's inputSchema may mark primitive arguments with
// `x-mcp-header`; a 2026-07-28 HTTP client mirrors them into headers, and the gateway refuses a
// tools/call whose headers do not (-32020). The stdio client sends no headers, so the bridge does,
// from the tool definitions it has seen listed.
const X_MCP_HEADER = "x-mcp-header";
const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const HEADER_TYPES = new Set(["string", "integer", "number", "boolean"]);
const MAX_SCHEMA_DEPTH = 8;
const MAX_LIST_PAGES = 20;
const HEADER_MISMATCH = -32020;

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** [{ name, path }] of an inputSchema's valid annotations (a name used twice binds nothing). */
function paramHeaderBindings(schema) {
  const found = [];
  const walk = (node, path) => {
    if (!isObject(node) || !isObject(node.properties) || path.length >= MAX_SCHEMA_DEPTH) return;
    for (const [key, property] of Object.entries(node.properties)) {
      if (!isObject(property)) continue;
      const name = property[X_MCP_HEADER];
      if (typeof name === "string" && HTTP_TOKEN.test(name) && HEADER_TYPES.has(property.type)) {
        found.push({ name, path: [...path, key] });
      }
      walk(property, [...path, key]);
    }
  };
  walk(schema, []);
  const counts = new Map();
  for (const { name } of found) {
    counts.set(name.toLowerCase(), (counts.get(name.toLowerCase()) ?? 0) + 1);
  }
  return found.filter(({ name }) => counts.get(name.toLowerCase()) === 1);
}

/** The Mcp-Param-* headers of a tools/call, from its arguments; null or absent ones have none. */
function paramHeaders(bindings, args) {
  const headers = {};
  for (const { name, path } of bindings) {
    let value = args;
    for (const key of path)
      value = isObject(value) && Object.hasOwn(value, key) ? value[key] : undefined;
    if (typeof value === "string")
      headers[`mcp-param-${name.toLowerCase()}`] = encodeHeaderValue(value);
    else if (typeof value === "number" || typeof value === "boolean") {
      headers[`mcp-param-${name.toLowerCase()}`] = String(value);
    }
  }
  return headers;
}

function isJsonRpcMessage(value) {
  return value !== null && typeof value === "object" && value.jsonrpc === "2.0";
}

/** The JSON-RPC messages of one POST's answer: none (202), one JSON body, or an SSE stream. */
async function* answerMessages(response) {
  if (response.status === 202) {
    await response.body?.cancel();
    return;
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new Error(`gateway answered HTTP ${response.status}`);
  }
  const type = (response.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
  if (type === "application/json") {
    const body = await response.json();
    for (const message of Array.isArray(body) ? body : [body]) {
      if (!isJsonRpcMessage(message)) throw new Error("gateway answered a non-JSON-RPC body");
      yield message;
    }
    return;
  }
  if (type !== "text/event-stream") {
    await response.body?.cancel();
    throw new Error(`gateway answered an unexpected content type: ${type || "none"}`);
  }
  if (!response.body) return;
  const events = response.body
    .pipeThrough(new TextDecoderStream())
    .pipeThrough(new EventSourceParserStream());
  for await (const event of events) {
    if ((event.event !== undefined && event.event !== "message") || !event.data) continue;
    const message = JSON.parse(event.data);
    if (!isJsonRpcMessage(message)) throw new Error("gateway sent a non-JSON-RPC event");
    yield message;
  }
}

/**
 * Stateless messages, each its own POST. Over HTTP that revision cancels a request by closing its
 * stream, so a client's `notifications/cancelled` aborts the POST instead of being forwarded.
 */
function createStatelessRelay(endpoint, authFetch, deliver) {
  const inflight = new Map(); // request id → AbortController of its POST
  const bindingsByTool = new Map(); // tool name → its Mcp-Param bindings, from tools/list results

  function learnTools(result) {
    if (!isObject(result) || !Array.isArray(result.tools)) return;
    for (const tool of result.tools) {
      if (isObject(tool) && typeof tool.name === "string") {
        bindingsByTool.set(tool.name, paramHeaderBindings(tool.inputSchema));
      }
    }
  }

  function post(message, version, signal) {
    return authFetch(endpoint, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        ...routingHeaders(message, version),
        ...(message.method === "tools/call" && typeof message.params?.name === "string"
          ? paramHeaders(bindingsByTool.get(message.params.name) ?? [], message.params.arguments)
          : {}),
      },
      body: JSON.stringify(message),
      signal,
    });
  }

  /**
   * A call of a tool the client never listed through this bridge goes without Mcp-Param headers.
   * If the gateway refuses it for that (-32020, before the tool runs), the bridge lists the tools
   * itself and sends the call once more, with the headers the tool's schema asks for.
   */
  async function retryWithParamHeaders(response, message, version, signal) {
    const type = (response.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
    if (type !== "application/json") return response;
    const text = await response.text();
    let refused = false;
    try {
      const answer = JSON.parse(text);
      refused = answer?.id === message.id && answer?.error?.code === HEADER_MISMATCH;
    } catch {
      // Not JSON after all: answerMessages reports it.
    }
    if (refused) {
      try {
        await listTools(message, version, signal);
      } catch (error) {
        if (signal.aborted) throw error;
        log(`listing the tools for Mcp-Param headers failed: ${describeError(error)}`);
      }
      if ((bindingsByTool.get(message.params.name) ?? []).length > 0) {
        return post(message, version, signal);
      }
    }
    return new Response(text, { status: response.status, headers: { "content-type": type } });
  }

  /** The endpoint's tools, listed by the bridge as the client would (every page). */
  async function listTools(template, version, signal) {
    let cursor;
    for (let page = 0; page < MAX_LIST_PAGES; page += 1) {
      const id = `${NAME}-list-${page}`;
      const list = {
        jsonrpc: "2.0",
        id,
        method: "tools/list",
        params: { ...(cursor === undefined ? {} : { cursor }), _meta: template.params?._meta },
      };
      let next;
      for await (const reply of answerMessages(await post(list, version, signal))) {
        if (isResponse(reply) && reply.id === id) {
          learnTools(reply.result);
          next = reply.result?.nextCursor;
        }
      }
      if (typeof next !== "string") return;
      cursor = next;
    }
  }

  async function send(message, version) {
    if (message.method === "notifications/cancelled") {
      inflight.get(message.params?.requestId)?.abort();
      return;
    }
    const controller = new AbortController();
    const request = isRequest(message);
    if (request) inflight.set(message.id, controller);
    let answered = false;
    try {
      let response = await post(message, version, controller.signal);
      const name = message.method === "tools/call" ? message.params?.name : undefined;
      if (request && typeof name === "string" && !bindingsByTool.has(name)) {
        response = await retryWithParamHeaders(response, message, version, controller.signal);
      }
      for await (const reply of answerMessages(response)) {
        if (request && isResponse(reply) && reply.id === message.id) {
          answered = true;
          if (message.method === "tools/list") learnTools(reply.result);
        }
        deliver(reply);
      }
      if (request && !answered) throw new Error("the gateway ended its answer without a response");
    } catch (error) {
      if (!controller.signal.aborted) throw error;
    } finally {
      if (inflight.get(message.id) === controller) inflight.delete(message.id);
    }
  }

  return {
    send,
    close() {
      for (const controller of inflight.values()) controller.abort();
    },
  };
}

async function run(options) {
  const tokens =
    options.auth.kind === "static"
      ? createStaticToken(options.auth.token)
      : createIssuerTokens(options.auth, options.verbose);
  // Fail before speaking MCP: a client shows a dead server's stderr far better than a hung one.
  await tokens.current();

  const authFetch = createAuthFetch(tokens, options.verbose);
  const http = new StreamableHTTPClientTransport(options.endpoint, { fetch: authFetch });
  const stdio = new StdioServerTransport();
  const toClient = (message) =>
    stdio
      .send(message)
      .catch((error) => log(`writing to the client failed: ${describeError(error)}`));
  const stateless = createStatelessRelay(options.endpoint, authFetch, toClient);
  const initializeIds = new Set();
  let closing = false;

  async function shutdown(code) {
    if (closing) return;
    closing = true;
    stateless.close();
    try {
      await http.terminateSession();
    } catch {
      // The session may already be gone; nothing more to do on the way out.
    }
    await http.close().catch(() => {});
    await stdio.close().catch(() => {});
    process.exit(code);
  }

  stdio.onmessage = (message) => {
    const version = statelessVersionOf(message);
    if (version === undefined && isRequest(message) && message.method === "initialize") {
      initializeIds.add(message.id);
    }
    const relayed = version === undefined ? http.send(message) : stateless.send(message, version);
    relayed.catch((error) => {
      const reason = describeError(error);
      log(`relaying ${"method" in message ? message.method : "a response"} failed: ${reason}`);
      if (isRequest(message)) {
        stdio
          .send({
            jsonrpc: "2.0",
            id: message.id,
            error: { code: -32603, message: `MCP gateway request failed: ${reason}` },
          })
          .catch(() => {});
      }
    });
  };
  stdio.onerror = (error) => log(`invalid message from the client: ${describeError(error)}`);

  http.onmessage = (message) => {
    if (
      isResponse(message) &&
      initializeIds.delete(message.id) &&
      message.result?.protocolVersion
    ) {
      // The transport needs the negotiated version for the MCP-Protocol-Version header.
      http.setProtocolVersion(message.result.protocolVersion);
    }
    void toClient(message);
  };
  http.onerror = (error) => {
    if (!closing) log(`gateway stream: ${describeError(error)}`);
  };

  await http.start();
  await stdio.start();
  process.stdin.once("end", () => void shutdown(0));
  process.once("SIGINT", () => void shutdown(0));
  process.once("SIGTERM", () => void shutdown(0));
  if (options.verbose) log(`relaying stdio to ${options.endpoint.href}`);
}

async function main() {
  let options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    log(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
    process.exit(EXIT_USAGE);
  }
  if (options.help) {
    process.stderr.write(`${USAGE}\n`);
    process.exit(0);
  }
  try {
    await run(options);
  } catch (error) {
    log(`error: ${describeError(error)}`);
    process.exit(EXIT_RUNTIME);
  }
}

await main();
