import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import {
  GATEWAY_ERRORS,
  jsonRpcErrorBody,
  type GatewayErrorCode,
} from "../../../contract/src/errors.ts";
import { isGatewayAuthAudience, verifyGatewayAuth } from "../../../contract/src/gateway-auth.ts";
import { setSpanAttributes, tracingOn, withIncomingSpan } from "../../../contract/src/tracing.ts";
import { HEADER } from "../../../contract/src/headers.ts";
import type {
  InProcessHandler,
  InProcessReply,
  InProcessRequest,
} from "../../../contract/src/in-process-mcp.ts";
import { createMcpEndpoint } from "./mcp-endpoint.ts";
import { createReplayCache } from "./replay-cache.ts";
import { readBodyWithLimit } from "./request-body.ts";
import { compileTools, type ToolDefinition } from "./tool-definition.ts";
import {
  createToolWorkerPool,
  defaultWorkerPoolSettings,
  type ToolWorkerPool,
  type WorkerPoolSettings,
} from "./worker-pool.ts";

export const DEFAULT_MAX_REQUEST_BYTES = 1_048_576;
const MAX_ID_HEADER_LENGTH = 256;

export interface ToolServerAuth {
  /** TOOL_GATEWAY_SHARED_SECRET: HMAC key for `X-Gateway-Auth`. */
  secret: string;
  /**
   * The name the router signs for: this server's scope in tools.yaml. Defaults to the server's
   * `name`; a header minted for any other audience is refused.
   */
  audience?: string;
  /**
   * Accepted verbatim as the header value; only set when the operator opted in. It has no
   * audience, no time and no single-use check: anyone who saw it once can use it anywhere.
   */
  staticSecret?: string;
  /** How long after minting a header is accepted, in seconds (contract default 60). */
  windowSeconds?: number;
  /** How far in the future a header's timestamp may be, in seconds (contract default 5). */
  futureSkewSeconds?: number;
  /** Accepted headers remembered to refuse a second use (default `DEFAULT_REPLAY_CACHE_ENTRIES`). */
  replayCacheEntries?: number;
}

export interface ToolServerOptions {
  name: string;
  version: string;
  tools: readonly ToolDefinition[];
  auth: ToolServerAuth;
  maxRequestBytes?: number;
  logger: Logger;
  /** Injected clock (ms) for signature freshness; tests only. */
  now?: () => number;
  /**
   * The pool for tools that declare `worker` (threads, time budget, queue); defaults from
   * `defaultWorkerPoolSettings`. Threads start as such calls need them and exit once idle.
   */
  workers?: WorkerPoolSettings;
}

export type { InProcessRequest } from "../../../contract/src/in-process-mcp.ts";

/** What the server answers to a POST /mcp, whichever way it came. */
export type ToolReply = InProcessReply;

/** An in-process call after close() began: over HTTP the connection would have been refused. */
export class ToolServerClosedError extends Error {
  override name = "ToolServerClosedError";
  constructor(server: string) {
    super(`tool server ${server} is closing`);
  }
}

export interface ToolServer {
  listen(port: number, host?: string): Promise<{ port: number; url: string }>;
  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then cuts the rest. */
  close(options?: { graceMs?: number }): Promise<void>;
  /** The node server, for tests that need raw sockets. */
  readonly httpServer: HttpServer;
  /** The worker pool, when a tool declares `worker`. */
  readonly workers: ToolWorkerPool | undefined;
  /**
   * POST /mcp without HTTP: the same checks (X-Gateway-Auth, identity, size) and answers; "cancelled"
   * when `signal` aborted the call. Rejects with ToolServerClosedError once close() has begun.
   */
  exchange: InProcessHandler;
}

type Caller = {
  userId: string | undefined;
  requestId: string | undefined;
  authHeader: string | undefined;
  logger: Logger;
};

type CallSummary = { rpcMethod?: string; toolName?: string };

const JSON_CONTENT: Readonly<Record<string, string>> = { "content-type": "application/json" };

export function createToolServer(options: ToolServerOptions): ToolServer {
  if (options.auth.secret === "")
    throw new Error("createToolServer: auth.secret must not be empty");
  const audience = options.auth.audience ?? options.name;
  if (!isGatewayAuthAudience(audience)) {
    throw new Error(
      `createToolServer: audience ${JSON.stringify(audience)} must be 1-64 characters of A-Z a-z 0-9 _ - (set auth.audience when the name is not one)`,
    );
  }
  const replay = createReplayCache({ maxEntries: options.auth.replayCacheEntries });
  const tools = compileTools(options.tools);
  const maxRequestBytes = options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
  const info = { name: options.name, version: options.version };
  const offloaded = [...tools.values()].flatMap(({ definition }) =>
    definition.worker === undefined ? [] : [definition.worker.module],
  );
  const workers =
    offloaded.length === 0
      ? undefined
      : createToolWorkerPool({
          name: options.name,
          settings: options.workers ?? defaultWorkerPoolSettings(),
          logger: options.logger,
          preload: [...new Set(offloaded)],
        });
  const endpoint = createMcpEndpoint({ info, tools, logger: options.logger, workers });
  /** In-process calls running, with what ends each. */
  const inProcess = new Map<Promise<unknown>, AbortController>();
  let closing = false;

  const httpServer = createServer((req, res) => {
    // Keep-alive sockets that finish a response during shutdown are closed instead of kept idle.
    res.on("finish", () => {
      if (closing) setImmediate(() => httpServer.closeIdleConnections());
    });
    handle(req, res).catch((error: unknown) => {
      options.logger.error({ err: error }, "unhandled error in tool server");
      if (!res.headersSent) writeReply(res, errorReply("GW_INTERNAL"));
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/health") {
      if (req.method !== "GET" && req.method !== "HEAD")
        return writeReply(res, errorReply("GW_METHOD_NOT_ALLOWED", { allow: "GET" }));
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ status: "ok", name: info.name, version: info.version }));
      return;
    }
    if (path !== "/mcp") return writeReply(res, errorReply("GW_NOT_FOUND"));
    // Stateless server: there is no server→client stream and no session to delete.
    if (req.method !== "POST") {
      return writeReply(res, errorReply("GW_METHOD_NOT_ALLOWED", { allow: "POST" }));
    }
    // Continues the router's traceparent (sent beside X-Gateway-Auth, outside its MAC).
    await withIncomingSpan("tool_server.request", req.headers, async (span) => {
      span?.setAttribute("gateway.tool_server", info.name);
      await handleMcpPost(req, res);
      span?.setAttribute("http.response.status_code", res.statusCode);
    });
  }

  async function handleMcpPost(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const caller = identify(req.headers);
    if (caller.authHeader === undefined) {
      caller.logger.warn({ reason: "missing" }, "tool call refused: no X-Gateway-Auth");
      return writeReply(res, unauthorized());
    }
    const read = await readBodyWithLimit(req, maxRequestBytes);
    if (!read.ok) {
      if (read.reason === "too_large") return writeReply(res, tooLarge(caller));
      return void res.destroy();
    }
    const callerLeft = new AbortController();
    let summary: CallSummary | undefined;
    res.on("close", () => {
      // Once answered there is nothing left to cancel, and abort() would allocate an AbortError.
      if (!res.writableEnded) callerLeft.abort();
      if (summary !== undefined) logExchange(caller, summary, res.statusCode, started);
    });
    const reply = await answerPost(
      caller,
      caller.authHeader,
      req.headers,
      read.body,
      callerLeft.signal,
      (parsed) => {
        summary = parsed;
      },
    );
    if (reply === "cancelled") return void res.destroy();
    writeReply(res, reply);
  }

  /** A POST /mcp from this process: the same checks and answer as over HTTP, without a socket. */
  async function exchange(request: InProcessRequest): Promise<ToolReply | "cancelled"> {
    if (closing) throw new ToolServerClosedError(info.name);
    const headers = lowerCaseNames(request.headers);
    // Ended by the caller, or by close() once its grace period is over (over HTTP, closing the
    // connection does both).
    const ended = new AbortController();
    const callerLeft = () => ended.abort();
    if (request.signal.aborted) ended.abort();
    else request.signal.addEventListener("abort", callerLeft, { once: true });
    const running = withIncomingSpan("tool_server.request", headers, async (span) => {
      span?.setAttribute("gateway.tool_server", info.name);
      const reply = await exchangeUntraced(headers, request.body, ended.signal).catch(
        (error: unknown) => {
          options.logger.error({ err: error }, "unhandled error in tool server");
          return errorReply("GW_INTERNAL");
        },
      );
      span?.setAttribute("http.response.status_code", reply === "cancelled" ? 499 : reply.status);
      return reply;
    });
    inProcess.set(running, ended);
    try {
      return await running;
    } finally {
      inProcess.delete(running);
      request.signal.removeEventListener("abort", callerLeft);
    }
  }

  async function exchangeUntraced(
    headers: IncomingHttpHeaders,
    body: string,
    signal: AbortSignal,
  ): Promise<ToolReply | "cancelled"> {
    const started = performance.now();
    const caller = identify(headers);
    if (caller.authHeader === undefined) {
      caller.logger.warn({ reason: "missing" }, "tool call refused: no X-Gateway-Auth");
      return unauthorized();
    }
    if (Buffer.byteLength(body) > maxRequestBytes) return tooLarge(caller);
    let summary: CallSummary | undefined;
    const reply = await answerPost(caller, caller.authHeader, headers, body, signal, (parsed) => {
      summary = parsed;
    });
    // 499: the status access logs give a request whose caller went away before the answer.
    if (summary !== undefined) {
      logExchange(caller, summary, reply === "cancelled" ? 499 : reply.status, started);
    }
    return reply;
  }

  function identify(headers: IncomingHttpHeaders): Caller {
    const userId = singleHeader(headers, HEADER.userId);
    const requestId = singleHeader(headers, HEADER.requestId);
    return {
      userId,
      requestId,
      authHeader: singleHeader(headers, HEADER.gatewayAuth),
      logger: options.logger.child({ requestId: requestId ?? null, userId: userId ?? null }),
    };
  }

  function tooLarge(caller: Caller): ToolReply {
    caller.logger.warn({ limit: maxRequestBytes }, "tool call refused: body too large");
    return errorReply("GW_PAYLOAD_TOO_LARGE", { closeConnection: true });
  }

  /** Identity headers, X-Gateway-Auth over the exact body, the JSON, then the endpoint. */
  async function answerPost(
    caller: Caller,
    authHeader: string,
    headers: IncomingHttpHeaders,
    body: string | Buffer,
    signal: AbortSignal,
    onParsed: (summary: CallSummary) => void,
  ): Promise<ToolReply | "cancelled"> {
    const { userId, requestId, logger } = caller;
    if (
      userId === undefined ||
      requestId === undefined ||
      userId.length > MAX_ID_HEADER_LENGTH ||
      requestId.length > MAX_ID_HEADER_LENGTH
    ) {
      logger.warn(
        { reason: "identity_headers" },
        "tool call refused: X-User-ID or x-request-id missing",
      );
      return unauthorized();
    }
    const check = verifyGatewayAuth(authHeader, {
      secret: options.auth.secret,
      staticSecret: options.auth.staticSecret,
      windowSeconds: options.auth.windowSeconds,
      futureSkewSeconds: options.auth.futureSkewSeconds,
      replay,
      audience,
      userId,
      requestId,
      body,
      now: options.now?.(),
    });
    if (!check.ok) {
      logger.warn({ reason: check.reason }, "tool call refused: X-Gateway-Auth rejected");
      return unauthorized();
    }

    let message: unknown;
    try {
      message = JSON.parse(typeof body === "string" ? body : body.toString("utf8"));
    } catch {
      return errorReply("GW_PARSE_ERROR");
    }
    const summary = summarize(message);
    if (tracingOn()) {
      setSpanAttributes({ "rpc.method": summary.rpcMethod, "gateway.tool": summary.toolName });
    }
    onParsed(summary);
    const answer = await endpoint.handle({
      headers,
      message,
      identity: { userId, requestId, logger },
      signal,
    });
    switch (answer.kind) {
      case "json":
        return { status: answer.status, headers: JSON_CONTENT, body: answer.body };
      case "accepted":
        return { status: 202, headers: {}, body: "" };
      case "cancelled":
        return "cancelled";
    }
  }

  function logExchange(caller: Caller, summary: CallSummary, status: number, started: number) {
    caller.logger.info(
      { ...summary, status, durationMs: Math.round(performance.now() - started) },
      "mcp request",
    );
  }

  return {
    httpServer,
    workers,
    exchange,
    listen(port, host = "127.0.0.1") {
      return new Promise((resolve, reject) => {
        httpServer.once("error", reject);
        httpServer.listen(port, host, () => {
          httpServer.off("error", reject);
          const address = httpServer.address() as AddressInfo;
          const shownHost = address.family === "IPv6" ? `[${address.address}]` : address.address;
          resolve({ port: address.port, url: `http://${shownHost}:${address.port}` });
        });
      });
    },
    async close({ graceMs = 10_000 } = {}) {
      // Refuses new in-process calls; HTTP ones and in-process ones get the same grace, side by side.
      closing = true;
      const httpClosed = new Promise<void>((resolve) => {
        if (!httpServer.listening) return resolve();
        const timer = setTimeout(() => httpServer.closeAllConnections(), graceMs);
        timer.unref();
        httpServer.close(() => {
          clearTimeout(timer);
          resolve();
        });
        httpServer.closeIdleConnections();
      });
      await Promise.all([httpClosed, settledWithin([...inProcess.keys()], graceMs)]);
      for (const ended of inProcess.values()) ended.abort();
      // After the listener: calls that finished within the grace period have had their answers.
      await endpoint.close();
      await workers?.close();
    },
  };
}

function singleHeader(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  if (typeof value !== "string" || value === "") return undefined;
  return value;
}

/** Method and tool name for the access log; never the arguments. */
function summarize(message: unknown): CallSummary {
  if (message === null || typeof message !== "object" || Array.isArray(message)) return {};
  const record = message as { method?: unknown; params?: { name?: unknown } };
  const rpcMethod = typeof record.method === "string" ? record.method.slice(0, 64) : undefined;
  const name = record.params?.name;
  const toolName =
    rpcMethod === "tools/call" && typeof name === "string" ? name.slice(0, 128) : undefined;
  return { rpcMethod, toolName };
}

function lowerCaseNames(headers: Readonly<Record<string, string>>): IncomingHttpHeaders {
  const lower: IncomingHttpHeaders = {};
  for (const name in headers) lower[name.toLowerCase()] = headers[name];
  return lower;
}

function writeReply(res: ServerResponse, reply: ToolReply): void {
  if (res.writableEnded || res.destroyed) return;
  if (reply.body === "") {
    res.writeHead(reply.status, reply.headers);
    res.end();
    return;
  }
  res.writeHead(reply.status, {
    ...reply.headers,
    "content-length": Buffer.byteLength(reply.body),
  });
  res.end(reply.body);
}

/** Waits for `running` to settle, for at most `ms`. */
async function settledWithin(running: readonly Promise<unknown>[], ms: number): Promise<void> {
  if (running.length === 0) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.allSettled(running),
    new Promise((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}

function unauthorized(): ToolReply {
  // One message for every reason: the caller learns nothing about which check failed.
  return errorReply("GW_TOKEN_INVALID", { detail: "Request is not signed by the gateway" });
}

function errorReply(
  code: GatewayErrorCode,
  options: { allow?: string; closeConnection?: boolean; detail?: string } = {},
): ToolReply {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (options.allow !== undefined) headers.allow = options.allow;
  if (options.closeConnection === true) headers.connection = "close";
  return {
    status: GATEWAY_ERRORS[code].httpStatus,
    headers,
    body: JSON.stringify(
      jsonRpcErrorBody(code, null, options.detail === undefined ? {} : { detail: options.detail }),
    ),
  };
}
