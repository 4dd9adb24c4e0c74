import http from "node:http";
import type { AddressInfo } from "node:net";

/** One HTTP request the upstream received, as it arrived. */
export type Recorded = {
  method: string;
  headers: http.IncomingHttpHeaders;
  /** The parsed JSON body of a POST, else undefined. */
  body: Record<string, unknown> | undefined;
};

/**
 * Answers a POST in place of the default; returns false to leave it to the default. The response
 * is left open as long as the handler wants (`res.on("close")` sees the client abort).
 */
export type PostHandler = (
  body: Record<string, unknown>,
  req: http.IncomingMessage,
  res: http.ServerResponse,
) => boolean;

/**
 * A stand-in MCP endpoint that records every request and its headers. By default it answers a
 * request with `{result: {method}}` as JSON, a notification or response with 202, `initialize`
 * with a session id, GET with 405 and DELETE with 200.
 */
export type RecordingUpstream = {
  url: string;
  requests: Recorded[];
  /** Resolves with the first recorded request (past or future) the predicate accepts. */
  waitFor: (predicate: (request: Recorded) => boolean) => Promise<Recorded>;
  /** The recorded POST whose JSON-RPC body has this id. */
  postWithId: (id: unknown) => Recorded;
  setHandler: (handler: PostHandler | undefined) => void;
  close: () => Promise<void>;
};

export const UPSTREAM_SESSION_ID = "upstream-session-1";

function json(res: http.ServerResponse, status: number, value: unknown, extra = {}): void {
  res.writeHead(status, { "content-type": "application/json", ...extra });
  res.end(JSON.stringify(value));
}

export async function startRecordingUpstream(): Promise<RecordingUpstream> {
  const requests: Recorded[] = [];
  const waiters: { predicate: (request: Recorded) => boolean; resolve: (r: Recorded) => void }[] =
    [];
  let handler: PostHandler | undefined;

  function record(request: Recorded): void {
    requests.push(request);
    for (const waiter of waiters.splice(0)) {
      if (waiter.predicate(request)) waiter.resolve(request);
      else waiters.push(waiter);
    }
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    const body = req.method === "POST" ? (JSON.parse(text) as Record<string, unknown>) : undefined;
    record({ method: req.method ?? "", headers: req.headers, body });
    if (req.method === "GET") return void res.writeHead(405).end();
    if (req.method === "DELETE") return void res.writeHead(200).end();
    if (body === undefined) return void res.writeHead(405).end();
    if (handler?.(body, req, res)) return;
    if (typeof body.method !== "string" || !("id" in body)) return void res.writeHead(202).end();
    if (body.method === "initialize") {
      const params = body.params as { protocolVersion: string };
      const result = {
        protocolVersion: params.protocolVersion,
        capabilities: { tools: {} },
        serverInfo: { name: "recording-upstream", version: "1.0.0" },
      };
      json(
        res,
        200,
        { jsonrpc: "2.0", id: body.id, result },
        { "mcp-session-id": UPSTREAM_SESSION_ID },
      );
      return;
    }
    json(res, 200, { jsonrpc: "2.0", id: body.id, result: { method: body.method } });
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/calculator/mcp`,
    requests,
    waitFor: (predicate) => {
      const found = requests.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve) => waiters.push({ predicate, resolve }));
    },
    postWithId: (id) => {
      const found = requests.filter((request) => request.body?.id === id);
      if (found.length !== 1) throw new Error(`expected one POST with id ${String(id)}`);
      return found[0]!;
    },
    setHandler: (next) => {
      handler = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
