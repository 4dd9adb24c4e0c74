import { LATEST_SESSION_VERSION } from "../../contract/src/mcp-wire.ts";
import { StringDecoder } from "node:string_decoder";
import { createParser } from "eventsource-parser";
import { Pool, type Dispatcher } from "undici";
import { signGatewayAuth } from "../../contract/src/gateway-auth.ts";
import { HEADER } from "../../contract/src/headers.ts";
import type { InProcessHandler } from "../../contract/src/in-process-mcp.ts";
import { CLIENT_SPAN, SpanStatusCode, traceHeaders, withSpan } from "../../contract/src/tracing.ts";

/**
 * The router's only way to reach a tool server: one JSON-RPC request per HTTP POST to
 * `{backend_url}/mcp`, over a keep-alive undici Pool per backend origin, or handed to a tool server
 * in the same process (the embedded stack) with the same headers and body. The body bytes signed
 * in X-Gateway-Auth are exactly the bytes sent.
 */

/** Protocol revision the router speaks to its own backends (stateless Streamable HTTP). */
export const UPSTREAM_PROTOCOL_VERSION = LATEST_SESSION_VERSION;

export type BackendPools = {
  pool(origin: string): Pool;
  /** The tool server serving `origin` in this process, if there is one. */
  inProcess(origin: string): InProcessHandler | undefined;
  close(): Promise<void>;
};

export function createBackendPools(
  options: {
    connections?: number;
    keepAliveTimeoutMs?: number;
    /** Tool servers in this process by origin (`http://127.0.0.1:port`): called without HTTP. */
    inProcess?: ReadonlyMap<string, InProcessHandler>;
  } = {},
): BackendPools {
  const pools = new Map<string, Pool>();
  return {
    inProcess: (origin) => options.inProcess?.get(origin),
    pool(origin) {
      let pool = pools.get(origin);
      if (pool === undefined) {
        pool = new Pool(origin, {
          connections: options.connections ?? 64,
          keepAliveTimeout: options.keepAliveTimeoutMs ?? 30_000,
          // Our own timer bounds the whole call; undici's would cut long SSE streams short.
          headersTimeout: 0,
          bodyTimeout: 0,
        });
        pools.set(origin, pool);
      }
      return pool;
    },
    async close() {
      const all = [...pools.values()];
      pools.clear();
      await Promise.allSettled(all.map((pool) => pool.close()));
    },
  };
}

export type JsonRpcNotificationMessage = {
  jsonrpc: "2.0";
  method: string;
  params?: Record<string, unknown>;
};

export type UpstreamCall = {
  backendUrl: string;
  /** The scope the backend serves: X-Gateway-Auth is valid on that tool server only. */
  scope: string;
  method: string;
  params: Record<string, unknown>;
  userId: string;
  requestId: string;
  secret: string;
  timeoutMs: number;
  maxResponseBytes: number;
  signal?: AbortSignal;
  /** Notifications the backend streams before its response (progress, list_changed). */
  onNotification?: (notification: JsonRpcNotificationMessage) => void;
};

export type UpstreamFailure =
  "timeout" | "cancelled" | "unavailable" | "http_error" | "too_large" | "invalid_response";

export type UpstreamOutcome = { requestBytes: number; responseBytes: number } & (
  | { kind: "result"; result: Record<string, unknown> }
  /** `data` only from standard MCP servers, whose errors are relayed as they are. */
  | { kind: "rpc_error"; error: { code: number; message: string; data?: unknown } }
  | { kind: "failure"; reason: UpstreamFailure; status?: number }
);

const UPSTREAM_RPC_ID = 1;

export function mcpEndpointUrl(backendUrl: string): URL {
  const base = backendUrl.endsWith("/") ? backendUrl : `${backendUrl}/`;
  return new URL("mcp", base);
}

/** One call to a tool server in its own span, which the tool server's span continues. */
export function callUpstream(pools: BackendPools, call: UpstreamCall): Promise<UpstreamOutcome> {
  return withSpan(
    "router.upstream",
    async (span) => {
      span?.setAttributes({ "gateway.scope": call.scope, "rpc.method": call.method });
      const outcome = await callUpstreamUntraced(pools, call);
      if (span !== undefined) {
        span.setAttribute("gateway.upstream.outcome", outcome.kind);
        if (outcome.kind === "failure") {
          span.setAttribute("gateway.upstream.failure", outcome.reason);
          span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.reason });
        }
      }
      return outcome;
    },
    CLIENT_SPAN,
  );
}

async function callUpstreamUntraced(
  pools: BackendPools,
  call: UpstreamCall,
): Promise<UpstreamOutcome> {
  const body = JSON.stringify({
    jsonrpc: "2.0",
    id: UPSTREAM_RPC_ID,
    method: call.method,
    params: call.params,
  });
  const requestBytes = Buffer.byteLength(body);
  const url = mcpEndpointUrl(call.backendUrl);
  // One controller for both ends (the timeout and the caller's signal): AbortSignal.any costs a
  // dependent-signal registry per call on the hot path.
  const abort = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    abort.abort();
  }, call.timeoutMs);
  const cancel = () => abort.abort();
  if (call.signal?.aborted === true) abort.abort();
  else call.signal?.addEventListener("abort", cancel, { once: true });
  const signal = abort.signal;
  let responseBytes = 0;
  const failure = (reason: UpstreamFailure, status?: number): UpstreamOutcome => ({
    kind: "failure",
    reason,
    requestBytes,
    responseBytes,
    ...(status === undefined ? {} : { status }),
  });
  const abortReason = (): UpstreamFailure =>
    timedOut ? "timeout" : call.signal?.aborted ? "cancelled" : "unavailable";

  try {
    const headers: Record<string, string> = {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      [HEADER.mcpProtocolVersion]: UPSTREAM_PROTOCOL_VERSION,
      [HEADER.userId]: call.userId,
      [HEADER.requestId]: call.requestId,
      // W3C traceparent/tracestate when tracing is on; not covered by X-Gateway-Auth's MAC.
      ...traceHeaders(),
      [HEADER.gatewayAuth]: signGatewayAuth({
        secret: call.secret,
        audience: call.scope,
        userId: call.userId,
        requestId: call.requestId,
        body,
      }),
    };
    const inProcess = url.pathname === "/mcp" ? pools.inProcess(url.origin) : undefined;
    if (inProcess !== undefined) {
      const reply = await untilAborted(inProcess({ headers, body, signal }), signal);
      if (reply === "cancelled") return failure(abortReason());
      responseBytes = Buffer.byteLength(reply.body);
      if (reply.status < 200 || reply.status >= 300) return failure("http_error", reply.status);
      if (!isJsonContent(reply.headers["content-type"])) return failure("invalid_response");
      if (responseBytes > call.maxResponseBytes) return failure("too_large");
      return jsonOutcome(reply.body, requestBytes, responseBytes) ?? failure("invalid_response");
    }
    const response = await pools.pool(url.origin).request({
      path: `${url.pathname}${url.search}`,
      method: "POST",
      headers,
      body,
      signal,
    });
    const contentType = String(response.headers["content-type"] ?? "").toLowerCase();
    if (response.statusCode < 200 || response.statusCode >= 300) {
      await response.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
      return failure("http_error", response.statusCode);
    }

    if (contentType.startsWith("text/event-stream")) {
      const decoder = new StringDecoder("utf8");
      let final: UpstreamOutcome | undefined;
      let invalid = false;
      const parser = createParser({
        onEvent(event) {
          if (final !== undefined || event.data === "") return;
          const message = parseJson(event.data);
          const classified = classifyMessage(message);
          if (classified.kind === "notification") {
            call.onNotification?.(classified.notification);
          } else if (classified.kind === "response") {
            final = { ...classified.outcome, requestBytes, responseBytes };
          } else {
            invalid = true;
          }
        },
      });
      const body = response.body;
      // Event-driven rather than for-await: leaving a for-await loop destroys the stream, and the
      // connection could not go back to the pool.
      const tooLarge = await new Promise<boolean>((resolve) => {
        let settled = false;
        const settle = (value: boolean) => {
          if (settled) return;
          settled = true;
          resolve(value);
        };
        body.on("data", (chunk: Buffer) => {
          if (settled) return;
          responseBytes += chunk.length;
          if (responseBytes > call.maxResponseBytes) {
            body.destroy();
            settle(true);
            return;
          }
          parser.feed(decoder.write(chunk));
          if (final !== undefined || invalid) {
            releaseWhenDone(body);
            settle(false);
          }
        });
        body.on("end", () => settle(false));
        body.on("error", () => settle(false));
        body.on("close", () => settle(false));
      });
      if (tooLarge) return failure("too_large");
      if (signal.aborted && final === undefined) return failure(abortReason());
      if (final !== undefined) return { ...final, responseBytes };
      return failure("invalid_response");
    }

    if (!isJsonContent(contentType)) {
      await response.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
      return failure("invalid_response");
    }
    const read = await readLimited(response.body, call.maxResponseBytes);
    responseBytes = read.bytes;
    if (read.text === undefined) return failure("too_large");
    return jsonOutcome(read.text, requestBytes, responseBytes) ?? failure("invalid_response");
  } catch {
    if (signal.aborted) return failure(abortReason());
    return failure("unavailable");
  } finally {
    clearTimeout(timer);
    call.signal?.removeEventListener("abort", cancel);
  }
}

/**
 * The body as text, or no text once it passes `limit` bytes (it is then destroyed, unread). Read
 * from its events: an async iterator costs a promise per chunk on every call.
 */
function readLimited(
  body: Dispatcher.ResponseData["body"],
  limit: number,
): Promise<{ text?: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    body.on("data", (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > limit) {
        body.destroy();
        resolve({ bytes });
        return;
      }
      chunks.push(chunk);
    });
    body.on("end", () => resolve({ text: Buffer.concat(chunks, bytes).toString("utf8"), bytes }));
    body.on("error", reject);
    // Destroyed without an error (the caller's signal aborted the request): nothing more comes.
    body.on("close", () => reject(new Error("response body closed before its end")));
  });
}

function isJsonContent(contentType: string | undefined): boolean {
  return (contentType ?? "").toLowerCase().startsWith("application/json");
}

/** The response of a JSON answer; undefined when it is not one to our request. */
function jsonOutcome(
  text: string,
  requestBytes: number,
  responseBytes: number,
): UpstreamOutcome | undefined {
  const classified = classifyMessage(parseJson(text));
  if (classified.kind !== "response") return undefined;
  return { ...classified.outcome, requestBytes, responseBytes };
}

/** `work`'s value, or "cancelled" as soon as `signal` aborts (the work is told by the same signal). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T | "cancelled"> {
  if (signal.aborted) return Promise.resolve("cancelled");
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve("cancelled");
    signal.addEventListener("abort", onAbort, { once: true });
    work.finally(() => signal.removeEventListener("abort", onAbort)).then(resolve, reject);
  });
}

/**
 * The answer is in. A stateless backend ends its stream right after the response: let it finish
 * in the background so the keep-alive connection goes back to the pool instead of being closed,
 * but never wait on a backend that keeps the stream open.
 */
function releaseWhenDone(body: Dispatcher.ResponseData["body"]): void {
  const guard = setTimeout(() => body.destroy(), 5_000);
  guard.unref();
  body.on("close", () => clearTimeout(guard));
  body.resume();
}

type Classified =
  | { kind: "notification"; notification: JsonRpcNotificationMessage }
  | {
      kind: "response";
      outcome:
        | { kind: "result"; result: Record<string, unknown> }
        | { kind: "rpc_error"; error: { code: number; message: string } };
    }
  | { kind: "invalid" };

function classifyMessage(message: unknown): Classified {
  if (!isRecord(message) || message.jsonrpc !== "2.0") return { kind: "invalid" };
  if (typeof message.method === "string" && !("id" in message)) {
    const params = isRecord(message.params) ? message.params : undefined;
    return {
      kind: "notification",
      notification: {
        jsonrpc: "2.0",
        method: message.method,
        ...(params === undefined ? {} : { params }),
      },
    };
  }
  if (message.id !== UPSTREAM_RPC_ID) return { kind: "invalid" };
  if (isRecord(message.result)) {
    return { kind: "response", outcome: { kind: "result", result: message.result } };
  }
  if (
    isRecord(message.error) &&
    typeof message.error.code === "number" &&
    typeof message.error.message === "string"
  ) {
    return {
      kind: "response",
      outcome: {
        kind: "rpc_error",
        error: { code: message.error.code, message: message.error.message },
      },
    };
  }
  return { kind: "invalid" };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
