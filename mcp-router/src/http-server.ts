import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "../../contract/src/log.ts";
import { withIncomingSpan } from "../../contract/src/tracing.ts";
import {
  rpcErrorResponse,
  type BodyRead,
  type RouterRequest,
  type RouterResponse,
} from "./http-types.ts";

/** The thin node:http adapter around the router core. */
export type RequestHandler = (request: RouterRequest) => Promise<RouterResponse>;

export type HttpServerHandle = {
  server: http.Server;
  port: number;
  /** Requests being handled or answered right now. */
  active(): number;
  /**
   * Stops accepting connections and lets the requests in progress finish for up to `drainMs`;
   * then closes what is left. Answers sent meanwhile ask keep-alive clients to reconnect.
   */
  close(drainMs?: number): Promise<void>;
};

/**
 * Slow-loris bounds. Both cover receiving the request only (headers, then the whole body); once it
 * is in, a long tool call or an SSE response is not cut short by them. Node checks them every
 * `checkIntervalMs`, so a stalled request is closed (408) within timeout + interval.
 */
export type RequestTimeouts = { headersMs: number; requestMs: number; checkIntervalMs: number };

export const DEFAULT_REQUEST_TIMEOUTS: RequestTimeouts = {
  headersMs: 20_000,
  requestMs: 30_000,
  checkIntervalMs: 5_000,
};

export async function listen(options: {
  handler: RequestHandler;
  host: string;
  port: number;
  maxRequestBytes: number;
  logger: Logger;
  timeouts?: RequestTimeouts;
}): Promise<HttpServerHandle> {
  const timeouts = options.timeouts ?? DEFAULT_REQUEST_TIMEOUTS;
  let inFlight = 0;
  let draining = false;
  let drained: (() => void) | undefined;
  const server = http.createServer(
    {
      headersTimeout: timeouts.headersMs,
      requestTimeout: timeouts.requestMs,
      connectionsCheckingInterval: timeouts.checkIntervalMs,
    },
    (req, res) => {
      inFlight += 1;
      void serve(req, res, { ...options, draining: () => draining }).finally(() => {
        inFlight -= 1;
        if (inFlight === 0) drained?.();
      });
    },
  );
  server.keepAliveTimeout = 65_000;
  // Node answers "100 Continue" on its own unless this event has a listener. A body that is going
  // to be refused must be refused before the client sends it (RFC 9110 §10.1.1): after a 100 the
  // client streams the body into a connection being closed, and sees a reset instead of the 413.
  // Without a 100 the handler answers 413 from the declared length alone, reading nothing.
  server.on("checkContinue", (req: IncomingMessage, res: ServerResponse) => {
    if (!declaresTooLarge(req, options.maxRequestBytes)) res.writeContinue();
    server.emit("request", req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    server,
    port,
    active: () => inFlight,
    async close(drainMs = 0) {
      draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      if (inFlight > 0 && drainMs > 0) {
        // A call that already reached a tool finishes and is answered; only what outlasts the
        // drain window (a stream nobody ends) is cut.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, drainMs);
          timer.unref();
          drained = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      server.closeAllConnections();
      await closed;
    },
  };
}

async function serve(
  req: IncomingMessage,
  res: ServerResponse,
  options: {
    handler: RequestHandler;
    maxRequestBytes: number;
    logger: Logger;
    draining: () => boolean;
  },
): Promise<void> {
  const abort = new AbortController();
  res.on("close", () => {
    if (!res.writableFinished) abort.abort();
  });
  let bodyRejected = false;
  const readBody = createBodyReader(req, options.maxRequestBytes, () => {
    bodyRejected = true;
  });
  const target = req.url ?? "/";
  const queryAt = target.indexOf("?");
  const request: RouterRequest = {
    method: req.method ?? "GET",
    path: queryAt === -1 ? target : target.slice(0, queryAt),
    target,
    headers: flattenHeaders(req),
    remoteAddress: req.socket.remoteAddress,
    remotePort: req.socket.remotePort,
    localAddress: req.socket.localAddress,
    localPort: req.socket.localPort,
    httpVersion: req.httpVersion,
    readBody,
    signal: abort.signal,
  };

  let response: RouterResponse;
  try {
    // The request's span continues the caller's traceparent (Envoy's, in envoy mode).
    response = await withIncomingSpan("router.request", request.headers, async (span) => {
      span?.setAttributes({ "http.request.method": request.method, "url.path": request.path });
      const answer = await options.handler(request);
      span?.setAttribute("http.response.status_code", answer.status);
      return answer;
    });
  } catch (error) {
    options.logger.error({ err: error, path: request.path }, "unhandled router error");
    response = rpcErrorResponse("GW_INTERNAL");
  }
  if (options.draining()) {
    // The replica is stopping: the client should open its next request elsewhere.
    response = { ...response, headers: { ...response.headers, connection: "close" } };
  }
  if (bodyRejected) {
    // The rest of an oversized body is never read: close instead of draining it.
    response = { ...response, headers: { ...response.headers, connection: "close" } };
  }
  await writeResponse(res, response, options.logger);
}

async function writeResponse(
  res: ServerResponse,
  response: RouterResponse,
  logger: Logger,
): Promise<void> {
  if (res.destroyed) return;
  if (!("events" in response)) {
    res.writeHead(response.status, response.headers);
    res.end(response.body);
    return;
  }
  res.writeHead(response.status, {
    "content-type": "text/event-stream",
    "cache-control": "no-cache, no-transform",
    "x-accel-buffering": "no",
    ...response.headers,
  });
  res.flushHeaders();
  try {
    for await (const event of response.events) {
      if (res.destroyed) break;
      res.write(event);
    }
  } catch (error) {
    logger.error({ err: error }, "event stream failed");
  }
  res.end();
}

function flattenHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    headers[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  // Node keeps only the first of repeated Authorization headers. Joined as Envoy joins them, a
  // second credential reaches ext-authz and is refused there, instead of being silently dropped.
  const authorization = req.headersDistinct.authorization;
  if (authorization !== undefined && authorization.length > 1) {
    headers.authorization = authorization.join(",");
  }
  return headers;
}

function declaresTooLarge(req: IncomingMessage, maxBytes: number): boolean {
  const declared = req.headers["content-length"];
  return declared !== undefined && Number(declared) > maxBytes;
}

/**
 * Reads the body at most once, enforcing the limit while reading: a declared Content-Length over
 * the limit is refused before any byte is read, a chunked body as soon as it crosses it.
 */
function createBodyReader(
  req: IncomingMessage,
  maxBytes: number,
  onRejected: () => void,
): () => Promise<BodyRead> {
  let pending: Promise<BodyRead> | undefined;
  return () => {
    pending ??= new Promise<BodyRead>((resolve) => {
      if (declaresTooLarge(req, maxBytes)) {
        onRejected();
        req.pause();
        resolve({ ok: false, reason: "too_large" });
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      let settled = false;
      const settle = (result: BodyRead) => {
        if (settled) return;
        settled = true;
        req.off("data", onData);
        req.off("end", onEnd);
        req.off("error", onError);
        req.off("aborted", onError);
        resolve(result);
      };
      const onData = (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) {
          onRejected();
          req.pause();
          settle({ ok: false, reason: "too_large" });
          return;
        }
        chunks.push(chunk);
      };
      const onEnd = () => settle({ ok: true, body: Buffer.concat(chunks, size) });
      const onError = () => settle({ ok: false, reason: "aborted" });
      req.on("data", onData);
      req.on("end", onEnd);
      req.on("error", onError);
      req.on("aborted", onError);
    });
    return pending;
  };
}
