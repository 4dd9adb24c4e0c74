import { randomUUID } from "node:crypto";
import { EventEmitter, once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { sha256Hex } from "../../contract/src/digest.ts";
import { verifyGatewayAuth, type GatewayAuthReplayGuard } from "../../contract/src/gateway-auth.ts";
import { HEADER } from "../../contract/src/headers.ts";
import { createLogger } from "../../contract/src/log.ts";
import { signVerdict, type VerdictClaims } from "../../contract/src/verdict.ts";
import { parseConfigText, type GatewayConfig } from "../../config/src/load-config.ts";
import { createAuditWriter, type AuditWriter } from "../../store/src/audit-writer.ts";
import { openCallJournal, type CallJournal } from "../../store/src/call-journal.ts";
import type { Database } from "../../store/src/open-database.ts";
import { syncRegistry } from "../../store/src/registry.ts";
import type { AuditEventRow } from "../../store/src/schema.ts";
import { serviceDatabase } from "../../store/test/test-databases.ts";
import { startRouter, type RouterHandle, type StartRouterOptions } from "../src/router.ts";

/** Test fixtures for the router: a stand-in MCP backend, a database, signed verdicts. */

export const VERDICT_KEY = "test-verdict-key-0123456789abcdef0123456789";
export const TOOL_SECRET = "test-tool-secret-0123456789abcdef0123456789";
export const LEGACY_ACCEPT = "application/json, text/event-stream";

export const quietLogger = createLogger({ name: "router-test", level: "silent" });

type ToolBehaviour = {
  description: string;
  /** The tool's listed input schema; an open object when not given. */
  inputSchema?: Record<string, unknown>;
  run(
    args: Record<string, unknown>,
    extra: { signal: AbortSignal; sendProgress(progress: number): Promise<void> },
  ): Promise<unknown>;
};

/**
 * A real MCP server (SDK low-level Server, stateless Streamable HTTP) that checks X-Gateway-Auth
 * over the exact body bytes, for its audience and once only, like the real tool servers do.
 */
export type StandInBackend = {
  url: string;
  events: EventEmitter;
  /** Requests seen (method + verified identity), newest last. */
  seen: {
    method: string;
    userId: string | undefined;
    requestId: string | undefined;
    forgedHeaders: boolean;
  }[];
  setDescription(tool: string, description: string): void;
  close(): Promise<void>;
};

export async function startStandInBackend(audience = "calc"): Promise<StandInBackend> {
  const events = new EventEmitter();
  // Unbounded, unlike the tool kit's: a test backend lives for one test file.
  const used = new Set<string>();
  const replay: GatewayAuthReplayGuard = {
    claim(key) {
      if (used.has(key)) return "replayed";
      used.add(key);
      return "first";
    },
  };
  const seen: StandInBackend["seen"] = [];
  const descriptions = new Map<string, string>();
  const tools: Record<string, ToolBehaviour> = {
    add: {
      description: "Adds two numbers",
      run: async (args) => ({
        content: [{ type: "text", text: String(Number(args.a) + Number(args.b)) }],
      }),
    },
    fail: {
      description: "Always reports a tool-level failure",
      run: async () => ({ content: [{ type: "text", text: "division by zero" }], isError: true }),
    },
    slow: {
      description: "Waits until cancelled or for ms milliseconds",
      run: async (args, extra) => {
        if (args.progress === true) await extra.sendProgress(1);
        return new Promise((resolve) => {
          const timer = setTimeout(
            () => resolve({ content: [{ type: "text", text: "done" }] }),
            Number(args.ms ?? 60_000),
          );
          extra.signal.addEventListener("abort", () => clearTimeout(timer));
        });
      },
    },
    big: {
      description: "Returns a large text",
      run: async (args) => ({
        content: [{ type: "text", text: "x".repeat(Number(args.bytes ?? 10_000)) }],
      }),
    },
    progress: {
      description: "Reports progress twice, then answers",
      run: async (_args, extra) => {
        await extra.sendProgress(1);
        await extra.sendProgress(2);
        return { content: [{ type: "text", text: "finished" }] };
      },
    },
    deploy: {
      description: "Echoes where it would deploy; its region is mirrored as Mcp-Param-Region",
      inputSchema: {
        type: "object",
        properties: {
          region: { type: "string", "x-mcp-header": "Region" },
          replicas: { type: "integer", "x-mcp-header": "Replicas" },
          target: {
            type: "object",
            properties: { canary: { type: "boolean", "x-mcp-header": "Canary" } },
          },
        },
      },
      run: async (args) => ({ content: [{ type: "text", text: JSON.stringify(args) }] }),
    },
    hidden: {
      description: "Listed by the backend but not in tools.yaml",
      run: async () => ({ content: [{ type: "text", text: "should never run" }] }),
    },
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      void (async () => {
        const body = Buffer.concat(chunks);
        const userId = req.headers[HEADER.userId] as string | undefined;
        const requestId = req.headers[HEADER.requestId] as string | undefined;
        const auth = verifyGatewayAuth(req.headers[HEADER.gatewayAuth] as string | undefined, {
          secret: TOOL_SECRET,
          audience,
          replay,
          userId: userId ?? "",
          requestId: requestId ?? "",
          body,
        });
        if (!auth.ok) {
          events.emit("auth-failed", auth.reason);
          res
            .writeHead(401, { "content-type": "application/json" })
            .end('{"error":"unauthorized"}');
          return;
        }
        let parsed: { method?: string };
        try {
          parsed = JSON.parse(body.toString("utf8")) as { method?: string };
        } catch {
          res.writeHead(400).end();
          return;
        }
        seen.push({
          method: parsed.method ?? "",
          userId,
          requestId,
          forgedHeaders:
            req.headers[HEADER.verdict] !== undefined || req.headers.authorization !== undefined,
        });
        res.on("close", () => {
          if (!res.writableFinished) events.emit("client-closed", parsed.method);
        });
        const mcp = new Server(
          { name: "stand-in", version: "1.0.0" },
          { capabilities: { tools: {} } },
        );
        mcp.setRequestHandler(ListToolsRequestSchema, () => ({
          tools: Object.entries(tools).map(([name, tool]) => ({
            name,
            description: descriptions.get(name) ?? tool.description,
            inputSchema: tool.inputSchema ?? {
              type: "object",
              properties: {},
              additionalProperties: true,
            },
          })),
        }));
        mcp.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
          const tool = tools[request.params.name];
          if (tool === undefined) throw new Error("unknown tool");
          events.emit("call", request.params.name);
          const token = request.params._meta?.progressToken;
          const result = await tool.run(request.params.arguments ?? {}, {
            signal: extra.signal,
            sendProgress: async (progress) => {
              if (token === undefined) return;
              await extra.sendNotification({
                method: "notifications/progress",
                params: { progressToken: token, progress, total: 2 },
              });
            },
          });
          return result as { content: [] };
        });
        const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
        await mcp.connect(transport);
        await transport.handleRequest(req, res, JSON.parse(body.toString("utf8")));
      })().catch((error: unknown) => {
        events.emit("error-in-backend", error);
        if (!res.headersSent) res.writeHead(500).end();
      });
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    events,
    seen,
    setDescription: (tool, description) => descriptions.set(tool, description),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export function testConfig(
  backendUrl: string,
  options: {
    definitionChanges?: "pin" | "warn";
    timeoutMs?: number;
    maxResponseBytes?: number;
    auditArguments?: string;
    /** More of the stand-in backend's tools to register in the calc scope (e.g. deploy). */
    extraTools?: readonly string[];
  } = {},
): GatewayConfig {
  const toolsYaml = `
version: 1
definition_changes: ${options.definitionChanges ?? "pin"}
audit: { arguments: ${options.auditArguments ?? "digest"}, redact_keys: [password] }
scopes:
  calc:
    description: Test calculator
    backend_url: ${backendUrl}
    timeout_ms: ${options.timeoutMs ?? 5000}
    max_response_bytes: ${options.maxResponseBytes ?? 100000}
    tools:
      - { name: add }
      - { name: fail }
      - { name: slow, timeout_ms: ${options.timeoutMs ?? 5000} }
      - { name: big }
      - { name: progress }
      - { name: disabled_tool, enabled: false }
${(options.extraTools ?? []).map((name) => `      - { name: ${name} }`).join("\n")}
  other:
    backend_url: http://127.0.0.1:9
    tools:
      - { name: add }
`;
  const policyYaml = `
version: 1
roles:
  developer: { allow: ["calc.*", "other.*"] }
  analyst: { allow: ["calc.add"] }
quotas:
  per_user: { default: { points: 1000, duration: 1m } }
  per_tool: { default: { points: 1000, duration: 1m } }
  per_user_tool: { default: { points: 1000, duration: 1m } }
protected_resource:
  resource_base_url: http://localhost:8000
  authorization_servers: ["http://localhost:8010"]
`;
  const result = parseConfigText({ toolsYaml, policyYaml, env: {} });
  if (!result.ok) throw new Error(result.errors.join("\n"));
  return result.config;
}

export type Identity = {
  subject: string;
  tenant?: string | null;
  roles?: string[];
  tools?: string[];
  scope?: string;
};

export const ALICE: Identity = {
  subject: "alice",
  tenant: "acme",
  roles: ["developer"],
  tools: ["add", "fail", "slow", "big", "progress"],
};
export const BOB: Identity = { subject: "bob", tenant: "acme", roles: ["analyst"], tools: ["add"] };

export function verdictFor(
  identity: Identity,
  scope: string,
  body: string | Uint8Array,
  overrides: Partial<VerdictClaims> = {},
): string {
  return signVerdict(
    {
      requestId: randomUUID(),
      subject: identity.subject,
      tenant: identity.tenant ?? null,
      roles: identity.roles ?? [],
      scope: identity.scope ?? scope,
      tools: identity.tools ?? [],
      bodyDigest: sha256Hex(body),
      exp: Math.floor(Date.now() / 1000) + 60,
      ...overrides,
    },
    VERDICT_KEY,
  );
}

export type RouterFixture = {
  router: RouterHandle;
  backend: StandInBackend;
  database: Database;
  audit: AuditWriter;
  callJournal: CallJournal;
  config: GatewayConfig;
  auditRows(
    filter?: Partial<Pick<AuditEventRow, "tool" | "subject" | "kind" | "request_id">>,
  ): Promise<AuditEventRow[]>;
  close(): Promise<void>;
};

export async function startRouterFixture(
  options: {
    config?: (backendUrl: string) => GatewayConfig;
    router?: Partial<StartRouterOptions>;
    audit?: StartRouterOptions["audit"];
  } = {},
): Promise<RouterFixture> {
  const backend = await startStandInBackend();
  const config = options.config?.(backend.url) ?? testConfig(backend.url);
  // Migrated once per test file (PostgreSQL when DATABASE_URL is set, else PGlite), empty here.
  const database = await serviceDatabase({ poolMax: 10 });
  await syncRegistry(database.db, config.tools);
  const callJournal = await openCallJournal(database, { logger: quietLogger });
  const audit = createAuditWriter({ db: database.db, logger: quietLogger });
  const router = await startRouter({
    config,
    db: database.db,
    audit: options.audit ?? audit,
    callJournal,
    logger: quietLogger,
    authz: { mode: "envoy" },
    verdictKey: VERDICT_KEY,
    toolSecret: TOOL_SECRET,
    port: 0,
    allowedOrigins: ["https://app.example.com"],
    // Tests close routers with calls still open on purpose; they need no long drain.
    drainTimeoutMs: 200,
    ...options.router,
  });
  return {
    router,
    backend,
    database,
    audit,
    callJournal,
    config,
    async auditRows(filter = {}) {
      await audit.flush();
      let query = database.db.selectFrom("audit_events").selectAll().where("source", "=", "router");
      if (filter.tool !== undefined) query = query.where("tool", "=", filter.tool);
      if (filter.subject !== undefined) query = query.where("subject", "=", filter.subject);
      if (filter.kind !== undefined) query = query.where("kind", "=", filter.kind);
      if (filter.request_id !== undefined)
        query = query.where("request_id", "=", filter.request_id);
      return query.orderBy("id").execute();
    },
    async close() {
      await router.close();
      await backend.close();
      await audit.close();
      await callJournal.close();
      await database.close();
    },
  };
}

/** POSTs one JSON-RPC message the way Envoy would deliver it: with a verdict over the exact body. */
export async function postMcp(
  url: string,
  message: unknown,
  options: {
    identity?: Identity | null;
    scope?: string;
    headers?: Record<string, string>;
    verdictOverrides?: Partial<VerdictClaims>;
    rawBody?: string;
  } = {},
): Promise<Response> {
  const body = options.rawBody ?? JSON.stringify(message);
  const scope = options.scope ?? new URL(url).pathname.split("/")[1] ?? "";
  const identity = options.identity === undefined ? ALICE : options.identity;
  const headers: Record<string, string> = {
    "content-type": "application/json",
    accept: LEGACY_ACCEPT,
    ...(identity === null
      ? {}
      : { [HEADER.verdict]: verdictFor(identity, scope, body, options.verdictOverrides) }),
    ...options.headers,
  };
  return fetch(url, { method: "POST", headers, body });
}

/** initialize + notifications/initialized; returns the session id. */
export async function openSession(
  url: string,
  identity: Identity = ALICE,
  version = "2025-11-25",
): Promise<string> {
  const init = await postMcp(
    url,
    {
      jsonrpc: "2.0",
      id: 0,
      method: "initialize",
      params: {
        protocolVersion: version,
        capabilities: {},
        clientInfo: { name: "test", version: "1" },
      },
    },
    { identity },
  );
  if (init.status !== 200) throw new Error(`initialize failed: ${init.status}`);
  const sessionId = init.headers.get(HEADER.mcpSessionId);
  if (sessionId === null) throw new Error("no session id");
  return sessionId;
}

export function sessionHeaders(sessionId: string, version = "2025-11-25"): Record<string, string> {
  return { [HEADER.mcpSessionId]: sessionId, [HEADER.mcpProtocolVersion]: version };
}

/** A fetch for MCP SDK clients that plays Envoy + ext-authz: it signs a verdict over each body. */
export function verdictSigningFetch(identity: Identity, scope: string): typeof fetch {
  return async (input, init = {}) => {
    const body = typeof init.body === "string" ? init.body : "";
    const headers = new Headers(init.headers);
    headers.set(HEADER.verdict, verdictFor(identity, scope, body));
    return fetch(input, { ...init, headers });
  };
}

/** Reads a response body that may be JSON or SSE; returns the JSON-RPC messages in order. */
export async function readMessages(response: Response): Promise<Record<string, unknown>[]> {
  const text = await response.text();
  if ((response.headers.get("content-type") ?? "").startsWith("text/event-stream")) {
    return text
      .split("\n\n")
      .flatMap((block) => block.split("\n").filter((line) => line.startsWith("data: ")))
      .map((line) => JSON.parse(line.slice("data: ".length)) as Record<string, unknown>);
  }
  return text === "" ? [] : [JSON.parse(text) as Record<string, unknown>];
}
