import {
  createServer,
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
import { createMcpEndpoint, type McpAnswer } from "./mcp-endpoint.ts";
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

export interface ToolServer {
  listen(port: number, host?: string): Promise<{ port: number; url: string }>;
  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then cuts the rest. */
  close(options?: { graceMs?: number }): Promise<void>;
  /** The node server, for tests that need raw sockets. */
  readonly httpServer: HttpServer;
  /** The worker pool, when a tool declares `worker`. */
  readonly workers: ToolWorkerPool | undefined;
}

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
  let closing = false;

  const httpServer = createServer((req, res) => {
    // Keep-alive sockets that finish a response during shutdown are closed instead of kept idle.
    res.on("finish", () => {
      if (closing) setImmediate(() => httpServer.closeIdleConnections());
    });
    handle(req, res).catch((error: unknown) => {
      options.logger.error({ err: error }, "unhandled error in tool server");
      if (!res.headersSent) sendError(res, "GW_INTERNAL");
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/health") {
      if (req.method !== "GET" && req.method !== "HEAD")
        return sendError(res, "GW_METHOD_NOT_ALLOWED", "GET");
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ status: "ok", name: info.name, version: info.version }));
      return;
    }
    if (path !== "/mcp") return sendError(res, "GW_NOT_FOUND");
    // Stateless server: there is no server→client stream and no session to delete.
    if (req.method !== "POST") return sendError(res, "GW_METHOD_NOT_ALLOWED", "POST");
    // Continues the router's traceparent (sent beside X-Gateway-Auth, outside its MAC).
    await withIncomingSpan("tool_server.request", req.headers, async (span) => {
      span?.setAttribute("gateway.tool_server", info.name);
      await handleMcpPost(req, res);
      span?.setAttribute("http.response.status_code", res.statusCode);
    });
  }

  async function handleMcpPost(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const userId = singleHeader(req, HEADER.userId);
    const requestId = singleHeader(req, HEADER.requestId);
    const authHeader = singleHeader(req, HEADER.gatewayAuth);
    const logger = options.logger.child({ requestId: requestId ?? null, userId: userId ?? null });

    if (authHeader === undefined) {
      logger.warn({ reason: "missing" }, "tool call refused: no X-Gateway-Auth");
      return sendUnauthorized(res);
    }
    const read = await readBodyWithLimit(req, maxRequestBytes);
    if (!read.ok) {
      if (read.reason === "too_large") {
        logger.warn({ limit: maxRequestBytes }, "tool call refused: body too large");
        return sendError(res, "GW_PAYLOAD_TOO_LARGE", undefined, true);
      }
      return void res.destroy();
    }
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
      return sendUnauthorized(res);
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
      body: read.body,
      now: options.now?.(),
    });
    if (!check.ok) {
      logger.warn({ reason: check.reason }, "tool call refused: X-Gateway-Auth rejected");
      return sendUnauthorized(res);
    }

    let message: unknown;
    try {
      message = JSON.parse(read.body.toString("utf8"));
    } catch {
      return sendError(res, "GW_PARSE_ERROR");
    }
    const summary = summarize(message);
    if (tracingOn()) {
      setSpanAttributes({ "rpc.method": summary.rpcMethod, "gateway.tool": summary.toolName });
    }
    const exchange = new AbortController();
    res.on("close", () => {
      // Once answered there is nothing left to cancel, and abort() would allocate an AbortError.
      if (!res.writableEnded) exchange.abort();
      logger.info(
        { ...summary, status: res.statusCode, durationMs: Math.round(performance.now() - started) },
        "mcp request",
      );
    });
    const answer = await endpoint.handle({
      headers: req.headers,
      message,
      identity: { userId, requestId, logger },
      signal: exchange.signal,
    });
    writeAnswer(res, answer);
  }

  return {
    httpServer,
    workers,
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
      await new Promise<void>((resolve) => {
        if (!httpServer.listening) return resolve();
        closing = true;
        const timer = setTimeout(() => httpServer.closeAllConnections(), graceMs);
        timer.unref();
        httpServer.close(() => {
          clearTimeout(timer);
          resolve();
        });
        httpServer.closeIdleConnections();
      });
      // After the listener: calls that finished within the grace period have had their answers.
      await endpoint.close();
      await workers?.close();
    },
  };
}

function singleHeader(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  if (typeof value !== "string" || value === "") return undefined;
  return value;
}

/** Method and tool name for the access log; never the arguments. */
function summarize(message: unknown): { rpcMethod?: string; toolName?: string } {
  if (message === null || typeof message !== "object" || Array.isArray(message)) return {};
  const record = message as { method?: unknown; params?: { name?: unknown } };
  const rpcMethod = typeof record.method === "string" ? record.method.slice(0, 64) : undefined;
  const name = record.params?.name;
  const toolName =
    rpcMethod === "tools/call" && typeof name === "string" ? name.slice(0, 128) : undefined;
  return { rpcMethod, toolName };
}

function writeAnswer(res: ServerResponse, answer: McpAnswer): void {
  if (res.writableEnded || res.destroyed) return;
  switch (answer.kind) {
    case "json":
      res.writeHead(answer.status, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(answer.body),
      });
      res.end(answer.body);
      return;
    case "accepted":
      res.writeHead(202);
      res.end();
      return;
    case "cancelled":
      // Only reached once the exchange is over; nothing is left to answer.
      res.destroy();
      return;
  }
}

function sendUnauthorized(res: ServerResponse): void {
  // One message for every reason: the caller learns nothing about which check failed.
  sendError(res, "GW_TOKEN_INVALID", undefined, false, "Request is not signed by the gateway");
}

function sendError(
  res: ServerResponse,
  code: GatewayErrorCode,
  allow?: string,
  closeConnection = false,
  detail?: string,
): void {
  const status = GATEWAY_ERRORS[code].httpStatus;
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (allow !== undefined) headers.allow = allow;
  if (closeConnection) headers.connection = "close";
  res.writeHead(status, headers);
  res.end(JSON.stringify(jsonRpcErrorBody(code, null, detail === undefined ? {} : { detail })));
}
