/**
 * Streamable HTTP serving of the conformance fixture on `node:http`, one endpoint (`/mcp`) for
 * both protocol eras:
 *
 * - 2025-era traffic (an `initialize` handshake, then `Mcp-Session-Id`): one SDK
 *   WebStandardStreamableHTTPServerTransport and one fixture server per session, with an
 *   in-memory event store so an SSE stream closed mid-call can be resumed with `Last-Event-ID`
 *   (SEP-1699), and `DELETE` ending the session (later requests on it get 404).
 * - 2026-07-28 traffic (per-request `_meta` envelope, no session): the SDK's `createMcpHandler`,
 *   which builds a fixture server per request and serves `server/discover`,
 *   `subscriptions/listen`, the header checks of SEP-2243 and InputRequiredResult.
 *
 * In front of both, DNS-rebinding protection: a request whose Host (or Origin, when present)
 * names a host outside the allowed list is refused with 403.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import {
  createMcpHandler,
  hostHeaderValidationResponse,
  isInitializeRequest,
  isLegacyRequest,
  originValidationResponse,
  WebStandardStreamableHTTPServerTransport,
  type EventId,
  type EventStore,
  type JSONRPCMessage,
  type McpServer,
  type StreamId,
} from "@modelcontextprotocol/server";
import { createFixtureServer, createFixtureState, type FixtureState } from "./fixture-server.ts";

export const MCP_PATH = "/mcp";
const MAX_BODY_BYTES = 4 * 1024 * 1024;
/** Events kept per 2025-era session for SSE resumption. */
const MAX_EVENTS_PER_SESSION = 2000;
/** The reconnection delay suggested in SSE `retry:` fields (milliseconds). */
const SSE_RETRY_MS = 500;
/** A 2025-era session nobody used for this long is closed (clients do not always DELETE). */
const SESSION_IDLE_MS = 10 * 60_000;

export interface FixtureHttpOptions {
  port: number;
  host: string;
  /**
   * Host names (without port) accepted in the Host and Origin headers. Default: localhost,
   * 127.0.0.1, [::1] and the host the fixture listens on.
   */
  allowedHosts?: readonly string[];
}

export interface FixtureHttpServer {
  /** The MCP endpoint, e.g. http://127.0.0.1:41234/mcp */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** An in-memory event store for one session: every SSE message is kept (bounded) for replay. */
export function createEventStore(maxEvents = MAX_EVENTS_PER_SESSION): EventStore {
  const events: { id: EventId; streamId: StreamId; message: JSONRPCMessage }[] = [];
  let sequence = 0;
  return {
    storeEvent(streamId, message) {
      sequence += 1;
      const id = `${streamId}.${sequence}`;
      events.push({ id, streamId, message });
      if (events.length > maxEvents) events.splice(0, events.length - maxEvents);
      return Promise.resolve(id);
    },
    getStreamIdForEventId(eventId) {
      return Promise.resolve(events.find((event) => event.id === eventId)?.streamId);
    },
    async replayEventsAfter(lastEventId, { send }) {
      const index = events.findIndex((event) => event.id === lastEventId);
      if (index < 0) throw new Error(`unknown event id ${lastEventId}`);
      const streamId = events[index]!.streamId;
      for (const event of events.slice(index + 1)) {
        if (event.streamId === streamId) await send(event.id, event.message);
      }
      return streamId;
    },
  };
}

interface LegacySession {
  transport: WebStandardStreamableHTTPServerTransport;
  server: McpServer;
  lastUsed: number;
}

function jsonRpcError(status: number, code: number, message: string): Response {
  return new Response(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code, message } }), {
    status,
    headers: { "content-type": "application/json" },
  });
}

async function readBody(req: IncomingMessage): Promise<Buffer | "too-large"> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY_BYTES) return "too-large";
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

function toHeaders(req: IncomingMessage): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) headers.append(name, item);
  }
  return headers;
}

/** Writes a web Response to a node response, streaming its body (SSE included). */
async function writeResponse(response: Response, res: ServerResponse): Promise<void> {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => (headers[name] = value));
  res.writeHead(response.status, headers);
  res.flushHeaders();
  if (response.body === null) {
    res.end();
    return;
  }
  const reader = response.body.getReader();
  const stop = (): void => void reader.cancel().catch(() => undefined);
  res.once("close", stop);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!res.write(value)) await new Promise((resolve) => res.once("drain", resolve));
    }
  } catch {
    // the client went away, or the stream was cancelled
  } finally {
    res.off("close", stop);
    res.end();
  }
}

export async function startFixtureHttp(
  options: FixtureHttpOptions,
  given?: FixtureState,
): Promise<FixtureHttpServer> {
  const state = given ?? (await createFixtureState());
  const allowed = [
    ...new Set([
      ...(options.allowedHosts ?? ["localhost", "127.0.0.1", "[::1]"]),
      options.host.includes(":") ? `[${options.host}]` : options.host,
    ]),
  ];
  const modern = createMcpHandler(({ era }) => createFixtureServer(state, era), {
    legacy: "reject",
  });
  state.notifier = modern.notify;
  const sessions = new Map<string, LegacySession>();

  const newSession = async (): Promise<LegacySession> => {
    const server = createFixtureServer(state, "legacy");
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      eventStore: createEventStore(),
      retryInterval: SSE_RETRY_MS,
      onsessioninitialized: (id) => void sessions.set(id, session),
      onsessionclosed: (id) => {
        sessions.delete(id);
        void server.close();
      },
    });
    const session: LegacySession = { transport, server, lastUsed: Date.now() };
    transport.onclose = () => {
      if (transport.sessionId !== undefined) sessions.delete(transport.sessionId);
    };
    await server.connect(transport);
    return session;
  };

  /** Routes one request; the body (for POST) was already read. */
  const route = async (request: Request, body: Buffer | undefined): Promise<Response> => {
    const rejected =
      hostHeaderValidationResponse(request, allowed) ?? originValidationResponse(request, allowed);
    if (rejected !== undefined) return rejected;

    let parsed: unknown;
    if (body !== undefined && body.length > 0) {
      try {
        parsed = JSON.parse(body.toString("utf8"));
      } catch {
        parsed = undefined;
      }
    }
    if (!(await isLegacyRequest(request.clone(), parsed))) return modern.fetch(request);

    const sessionId = request.headers.get("mcp-session-id");
    if (sessionId !== null) {
      const session = sessions.get(sessionId);
      if (session === undefined) return jsonRpcError(404, -32001, "Session not found");
      session.lastUsed = Date.now();
      return session.transport.handleRequest(request);
    }
    const opensSession =
      request.method === "POST" &&
      (Array.isArray(parsed) ? parsed.some(isInitializeRequest) : isInitializeRequest(parsed));
    if (!opensSession) {
      if (request.method !== "POST") return jsonRpcError(405, -32000, "Method not allowed.");
      return jsonRpcError(400, -32000, "Bad Request: Mcp-Session-Id header is required");
    }
    const session = await newSession();
    return session.transport.handleRequest(request);
  };

  const closeSession = async (id: string, { transport, server }: LegacySession): Promise<void> => {
    sessions.delete(id);
    await transport.close().catch(() => undefined);
    await server.close().catch(() => undefined);
  };
  const sweep = setInterval(() => {
    const idleSince = Date.now() - SESSION_IDLE_MS;
    for (const [id, session] of sessions) {
      if (session.lastUsed < idleSince) void closeSession(id, session);
    }
  }, 60_000);
  sweep.unref();

  let origin = "http://127.0.0.1";
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", origin);
    if (url.pathname === "/health" && req.method === "GET") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok");
      return;
    }
    if (url.pathname !== MCP_PATH) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
      return;
    }
    const body = req.method === "POST" ? await readBody(req) : undefined;
    if (body === "too-large") {
      await writeResponse(jsonRpcError(413, -32600, "Request body too large"), res);
      return;
    }
    const aborted = new AbortController();
    res.once("close", () => {
      if (!res.writableFinished) aborted.abort();
    });
    // The URL is the listening address; the Host header the client sent stays in the headers,
    // where the DNS-rebinding check reads it.
    const request = new Request(url, {
      method: req.method ?? "GET",
      headers: toHeaders(req),
      ...(body === undefined ? {} : { body }),
      signal: aborted.signal,
    });
    let response: Response;
    try {
      response = await route(request, body);
    } catch (error) {
      response = jsonRpcError(500, -32603, `Internal error: ${String(error)}`);
    }
    await writeResponse(response, res);
  };

  const sockets = new Set<Socket>();
  const http: Server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });
  http.on("connection", (socket) => {
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(options.port, options.host, () => {
      http.off("error", reject);
      resolve();
    });
  });
  const { port } = http.address() as AddressInfo;
  const hostInUrl = options.host.includes(":") ? `[${options.host}]` : options.host;
  origin = `http://${hostInUrl}:${port}`;

  let closed: Promise<void> | undefined;
  return {
    url: `${origin}${MCP_PATH}`,
    port,
    close: () =>
      (closed ??= (async () => {
        const done = new Promise<void>((resolve) => http.close(() => resolve()));
        clearInterval(sweep);
        await modern.close();
        await Promise.all([...sessions].map(([id, session]) => closeSession(id, session)));
        state.tasks.close();
        for (const socket of sockets) socket.destroy();
        await done;
      })()),
  };
}
