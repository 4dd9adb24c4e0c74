import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { decodeJwt, jwtVerify } from "jose";
import { z } from "zod";

/** A Streamable HTTP MCP server that, like the gateway, accepts only bearer tokens from the issuer. */
export type BearerMcpServer = {
  url: string;
  /** Distinct token ids (jti) the server accepted, in first-seen order. */
  acceptedTokenIds: string[];
  /** exp (seconds) of the most recently accepted token. */
  lastExpiry: () => number | undefined;
  unauthorizedCount: () => number;
  /** Resolves once a client has opened the standalone GET stream with an accepted token. */
  streamOpened: Promise<void>;
  /** From now on the most recently accepted token is refused with 401. */
  revokeCurrentToken: () => void;
  close: () => Promise<void>;
};

export const FORBIDDEN_TOOL = "forbidden_tool";

export async function startBearerMcpServer(options: {
  secret: string;
  issuer: string;
  audience: string;
}): Promise<BearerMcpServer> {
  const key = new TextEncoder().encode(options.secret);
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const acceptedTokenIds: string[] = [];
  const revoked = new Set<string>();
  let lastToken: { jti: string; exp: number } | undefined;
  let unauthorized = 0;
  let markStreamOpened: () => void = () => undefined;
  const streamOpened = new Promise<void>((resolve) => (markStreamOpened = resolve));

  function createSessionServer(): McpServer {
    const server = new McpServer(
      { name: "bearer-test-server", version: "1.0.0" },
      { capabilities: { logging: {} } },
    );
    server.registerTool(
      "add",
      { description: "Adds two numbers", inputSchema: { a: z.number(), b: z.number() } },
      async ({ a, b }) => ({ content: [{ type: "text", text: String(a + b) }] }),
    );
    server.registerTool(
      "count_to",
      {
        description: "Logs each step up to n",
        inputSchema: { n: z.number().int().min(1).max(10) },
      },
      async ({ n }, extra) => {
        for (let i = 1; i <= n; i++) {
          await extra.sendNotification({
            method: "notifications/message",
            params: { level: "info", logger: "count_to", data: `step ${i}` },
          });
        }
        return { content: [{ type: "text", text: `counted to ${n}` }] };
      },
    );
    return server;
  }

  function deny(
    res: http.ServerResponse,
    status: number,
    id: unknown,
    code: number,
    message: string,
  ): void {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (status === 401) headers["www-authenticate"] = 'Bearer error="invalid_token"';
    res.writeHead(status, headers);
    res.end(JSON.stringify({ jsonrpc: "2.0", id: id ?? null, error: { code, message } }));
  }

  async function authenticate(req: http.IncomingMessage): Promise<boolean> {
    const header = req.headers.authorization ?? "";
    const match = /^Bearer (\S+)$/.exec(header);
    if (!match) return false;
    const token = match[1]!;
    try {
      const { payload } = await jwtVerify(token, key, {
        issuer: options.issuer,
        audience: options.audience,
        algorithms: ["HS256"],
      });
      const jti = String(payload.jti);
      if (revoked.has(jti)) return false;
      if (!acceptedTokenIds.includes(jti)) acceptedTokenIds.push(jti);
      lastToken = { jti, exp: decodeJwt(token).exp ?? 0 };
      return true;
    } catch {
      return false;
    }
  }

  async function readJson(req: http.IncomingMessage): Promise<unknown> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    return text.length > 0 ? JSON.parse(text) : undefined;
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const body = req.method === "POST" ? await readJson(req) : undefined;
    const message = body as
      { id?: unknown; method?: string; params?: { name?: string } } | undefined;
    if (!(await authenticate(req))) {
      unauthorized++;
      deny(res, 401, message?.id, -32001, "unauthorized");
      return;
    }
    if (message?.method === "tools/call" && message.params?.name === FORBIDDEN_TOOL) {
      deny(res, 403, message.id, -32003, "tool not allowed for this user");
      return;
    }
    if (req.method === "GET") markStreamOpened();
    const sessionId = req.headers["mcp-session-id"];
    let transport = typeof sessionId === "string" ? transports.get(sessionId) : undefined;
    if (!transport && sessionId === undefined && message?.method === "initialize") {
      const created = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => {
          transports.set(id, created);
        },
      });
      created.onclose = () => {
        if (created.sessionId) transports.delete(created.sessionId);
      };
      await createSessionServer().connect(created);
      transport = created;
    }
    if (!transport) {
      deny(res, sessionId === undefined ? 400 : 404, message?.id, -32000, "no such session");
      return;
    }
    await transport.handleRequest(req, res, body);
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) deny(res, 500, null, -32603, "internal error");
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/calculator/mcp`,
    acceptedTokenIds,
    lastExpiry: () => lastToken?.exp,
    unauthorizedCount: () => unauthorized,
    streamOpened,
    revokeCurrentToken: () => {
      if (lastToken) revoked.add(lastToken.jti);
    },
    close: async () => {
      await Promise.all([...transports.values()].map((transport) => transport.close()));
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
