import { EventEmitter, once } from "node:events";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { parse, stringify } from "yaml";
import { z } from "zod";
import { HEADER } from "../../contract/src/headers.ts";
import { createLogger } from "../../contract/src/log.ts";
import { signDevToken } from "../../dev/token-cli.ts";
import { startEmbeddedStack, type EmbeddedStack } from "../../dev/embedded-stack.ts";
import type { AuditEventRow } from "../../store/src/schema.ts";
import { createToolServer } from "../../tools/kit/src/tool-server.ts";
import { defineTool, toolError, toolOk } from "../../tools/kit/src/tool-definition.ts";

/**
 * The whole gateway (embedded stack: ext-authz, router in direct mode, tool servers, PGlite) with
 * a test configuration derived from the shipped one: an extra `slow` scope whose tool only ends
 * when aborted, a `down` scope whose backend port is closed, and a tiny per-user quota on
 * calculator.list_units.
 */

export const LEGACY_VERSION = "2025-11-25";
export const MODERN_VERSION = "2026-07-28";
export const SLOW_TIMEOUT_MS = 400;
export const TINY_QUOTA = 2;
export const MAX_REQUEST_BYTES = 262_144;

export const quietLogger = createLogger({ name: "e2e", level: "silent" });

const REPO_CONFIG_DIR = fileURLToPath(new URL("../../config/", import.meta.url));

export type User = { user: string; roles: string[]; tenant: string };
export const ALICE: User = { user: "alice", roles: ["developer"], tenant: "acme" };
export const BOB: User = { user: "bob", roles: ["analyst"], tenant: "acme" };
export const CAROL: User = { user: "carol", roles: ["auditor"], tenant: "acme" };

/** Signals from the `slow` backend, so tests wait on real events rather than time. */
export type SlowBackendEvents = EventEmitter<{ started: []; aborted: [] }>;

export type E2eStack = {
  stack: EmbeddedStack;
  env: Record<string, string>;
  slowEvents: SlowBackendEvents;
  /** Requests that reached the `slow` server over HTTP (the router hands its calls over in-process). */
  slowHttpRequests(): number;
  token(user: User, ttlSeconds?: number): Promise<string>;
  endpoint(scope: string): string;
  /** Audit rows of one request id (both ext-authz and router), oldest first. */
  auditRows(requestId: string): Promise<AuditEventRow[]>;
  /** Every audit row written so far (for "nothing was written" assertions). */
  auditCount(): Promise<number>;
  close(): Promise<void>;
};

/** A localhost port nothing listens on (bound once, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return address.port;
}

async function writeTestConfig(dir: string, downPort: number): Promise<void> {
  const tools = parse(await readFile(join(REPO_CONFIG_DIR, "tools.yaml"), "utf8")) as {
    scopes: Record<string, unknown>;
  };
  tools.scopes.slow = {
    description: "A backend that answers only when aborted",
    backend_url: "${SLOW_URL}",
    timeout_ms: SLOW_TIMEOUT_MS,
    max_response_bytes: 65_536,
    tools: [{ name: "wait", enabled: true }],
  };
  tools.scopes.down = {
    description: "A backend that is not running",
    backend_url: `http://127.0.0.1:${downPort}`,
    timeout_ms: 2_000,
    tools: [{ name: "anything", enabled: true }],
  };
  const policy = parse(await readFile(join(REPO_CONFIG_DIR, "policy.yaml"), "utf8")) as {
    roles: Record<string, { allow: string[] }>;
    quotas: { per_user_tool: { tools?: Record<string, unknown> } };
  };
  policy.roles.developer!.allow.push("slow.*", "down.*");
  policy.quotas.per_user_tool.tools = {
    ...policy.quotas.per_user_tool.tools,
    "calculator.list_units": { points: TINY_QUOTA, duration: "1m" },
  };
  await writeFile(join(dir, "tools.yaml"), stringify(tools));
  await writeFile(join(dir, "policy.yaml"), stringify(policy));
}

/** The embedded stack's environment for an e2e test: loopback, port 0, quiet, test secrets. */
export function embeddedTestEnv(
  configDir: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    NODE_ENV: "test",
    LOG_LEVEL: "silent",
    HOST: "127.0.0.1",
    PORT: "0",
    EXT_AUTHZ_PORT: "0",
    CONFIG_DIR: configDir,
    JWT_SECRET_KEY: "e2e-jwt-secret-key-0123456789abcdefghijklmnop",
    GATEWAY_VERDICT_KEY: "e2e-verdict-key-0123456789abcdefghijklmnopqrs",
    TOOL_GATEWAY_SHARED_SECRET: "e2e-tool-secret-0123456789abcdefghijklmnopqr",
    ...extra,
  };
}

export async function startE2eStack(overrides: Record<string, string> = {}): Promise<E2eStack> {
  const configDir = await mkdtemp(join(tmpdir(), "mcp-gateway-e2e-"));
  const env = embeddedTestEnv(configDir, {
    MAX_REQUEST_BYTES: String(MAX_REQUEST_BYTES),
    ...overrides,
  });
  await writeTestConfig(configDir, await closedPort());

  const slowEvents: SlowBackendEvents = new EventEmitter();
  const waitTool = waitUntilAbortedTool(slowEvents);
  const slowServer = createToolServer({
    name: "slow",
    version: "1.0.0",
    tools: [waitTool],
    auth: { secret: env.TOOL_GATEWAY_SHARED_SECRET! },
    logger: quietLogger,
  });

  let slowHttpRequests = 0;
  slowServer.httpServer.on("request", () => {
    slowHttpRequests += 1;
  });

  let stack: EmbeddedStack;
  try {
    stack = await startEmbeddedStack({
      env,
      inMemoryDatabase: true,
      extraBackends: { SLOW_URL: slowServer },
      logger: quietLogger,
    });
  } catch (error) {
    await rm(configDir, { recursive: true, force: true });
    throw error;
  }

  return {
    stack,
    env,
    slowEvents,
    slowHttpRequests: () => slowHttpRequests,
    token: (user, ttlSeconds = 600) =>
      signDevToken({ user: user.user, roles: user.roles, tenant: user.tenant, ttlSeconds }, env),
    endpoint: (scope) => `${stack.url}/${scope}/mcp`,
    async auditRows(requestId) {
      await stack.audit.flush();
      return stack.database.db
        .selectFrom("audit_events")
        .selectAll()
        .where("request_id", "=", requestId)
        .orderBy("id")
        .execute();
    },
    async auditCount() {
      await stack.audit.flush();
      const row = await stack.database.db
        .selectFrom("audit_events")
        .select((eb) => eb.fn.countAll<string>().as("n"))
        .executeTakeFirstOrThrow();
      return Number(row.n);
    },
    async close() {
      await stack.close();
      await rm(configDir, { recursive: true, force: true });
    },
  };
}

/** One HTTP exchange as the client saw it. */
export type Exchange = {
  httpMethod: string;
  rpcMethod: string | undefined;
  status: number;
  requestId: string | null;
  sessionId: string | null;
  retryAfter: string | null;
};

/** A fetch that records every exchange (status, x-request-id) so tests can join audit rows. */
export function recordingFetch(log: Exchange[]): typeof fetch {
  return async (input, init) => {
    const response = await fetch(input, init);
    let rpcMethod: string | undefined;
    if (typeof init?.body === "string") {
      try {
        const parsed = JSON.parse(init.body) as { method?: unknown };
        if (typeof parsed.method === "string") rpcMethod = parsed.method;
      } catch {
        rpcMethod = undefined;
      }
    }
    log.push({
      httpMethod: init?.method ?? "GET",
      rpcMethod,
      status: response.status,
      requestId: response.headers.get(HEADER.requestId),
      sessionId: response.headers.get(HEADER.mcpSessionId),
      retryAfter: response.headers.get("retry-after"),
    });
    return response;
  };
}

export type LegacyConnection = {
  client: Client;
  transport: StreamableHTTPClientTransport;
  exchanges: Exchange[];
  connect(): Promise<void>;
  /** The x-request-id of the latest POST carrying this JSON-RPC method. */
  lastRequestId(rpcMethod: string): string;
  close(): Promise<void>;
};

/** The official 1.x SDK client for a scoped endpoint, speaking 2025-11-25 with a bearer token. */
export function legacyClient(url: string, token: string): LegacyConnection {
  const exchanges: Exchange[] = [];
  const client = new Client({ name: "e2e-sdk-v1", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
    fetch: recordingFetch(exchanges),
  });
  return {
    client,
    transport,
    exchanges,
    connect: () => client.connect(transport),
    lastRequestId(rpcMethod) {
      const found = exchanges.filter((exchange) => exchange.rpcMethod === rpcMethod).at(-1);
      if (found?.requestId === null || found === undefined) {
        throw new Error(`no x-request-id recorded for ${rpcMethod}`);
      }
      return found.requestId;
    },
    close: () => client.close(),
  };
}

export async function connectLegacy(url: string, token: string): Promise<LegacyConnection> {
  const connection = legacyClient(url, token);
  await connection.connect();
  return connection;
}

/** Reads a JSON or SSE response into its JSON-RPC messages. */
export async function readMessages(response: Response): Promise<Record<string, unknown>[]> {
  const text = await response.text();
  if ((response.headers.get("content-type") ?? "").startsWith("text/event-stream")) {
    return text
      .split("\n")
      .filter((line) => line.startsWith("data: "))
      .map((line) => JSON.parse(line.slice("data: ".length)) as Record<string, unknown>);
  }
  return text === "" ? [] : [JSON.parse(text) as Record<string, unknown>];
}

export const STREAMABLE_ACCEPT = "application/json, text/event-stream";

/** A 2026-07-28 (stateless) request: the version and client data ride in `_meta`. */
export function modernRequest(
  method: string,
  params: Record<string, unknown> = {},
  id: number | string = 1,
): Record<string, unknown> {
  return {
    jsonrpc: "2.0",
    id,
    method,
    params: {
      ...params,
      _meta: {
        "io.modelcontextprotocol/protocolVersion": MODERN_VERSION,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": { name: "e2e-raw", version: "1.0.0" },
      },
    },
  };
}

/** The routing headers 2026-07-28 requires beside the body. */
export function modernHeaders(method: string, name?: string): Record<string, string> {
  return {
    "content-type": "application/json",
    accept: STREAMABLE_ACCEPT,
    [HEADER.mcpProtocolVersion]: MODERN_VERSION,
    [HEADER.mcpMethod]: method,
    ...(name === undefined ? {} : { [HEADER.mcpName]: name }),
  };
}

/** A tool that runs until its call is aborted, announcing "started" and "aborted" on `events`. */
export function waitUntilAbortedTool(events: SlowBackendEvents) {
  return defineTool({
    name: "wait",
    description: "Waits until the call is aborted",
    inputSchema: z.strictObject({}),
    outputSchema: z.object({ waited: z.boolean() }),
    annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    handler: (_input, context) =>
      new Promise((resolve) => {
        // A safety net so a broken abort path cannot keep the test process alive.
        const timer = setTimeout(() => resolve(toolOk({ waited: true })), 30_000);
        timer.unref();
        context.signal.addEventListener(
          "abort",
          () => {
            clearTimeout(timer);
            events.emit("aborted");
            resolve(toolError("aborted"));
          },
          { once: true },
        );
        events.emit("started");
      }),
  });
}
