import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import { join } from "node:path";
import { sql, type Kysely } from "kysely";
import type { AuthzClient } from "../../contract/src/authz-wire.ts";
import type { Logger } from "../../contract/src/log.ts";
import { PACKAGE_ROOT } from "../../contract/src/package-root.ts";
import {
  createConfigReloadState,
  type ConfigConsumer,
  type ConfigReloadStatus,
} from "../../config/src/config-reload.ts";
import type { ConfigDigests, GatewayConfig } from "../../config/src/load-config.ts";
import {
  listActiveTools,
  recordDiscoveredTools,
  recordObservedDefinition,
} from "../../store/src/registry.ts";
import { scopeOfEndpoint } from "../../contract/src/mcp-wire.ts";
import { createTaskStore } from "../../store/src/task-store.ts";
import { isTransientDatabaseError } from "../../store/src/transient-error.ts";
import type { DB } from "../../store/src/schema.ts";
import {
  buildAuditEvent,
  createRouterAudit,
  type AuditMode,
  type AuditRowWriter,
} from "./audit.ts";
import { createDefinitionArchive } from "./admin-definitions.ts";
import { createMetricsHistory } from "./admin-overview.ts";
import { adminRouteLabel, handleAdmin, isAdminPath, type AdminServices } from "./admin-routes.ts";
import { createAuthorizer, type AuthzSettings } from "./authorization.ts";
import { createInputRounds } from "./input-rounds.ts";
import { createListenStreams } from "./listen-streams.ts";
import { createServerRequests } from "./server-requests.ts";
import { createBackends } from "./upstream/backends.ts";
import type { InProcessHandler } from "../../contract/src/in-process-mcp.ts";
import { createBackendPools } from "./forwarding.ts";
import { listen } from "./http-server.ts";
import {
  rpcErrorResponse,
  sseEvent,
  type RouterRequest,
  type RouterResponse,
} from "./http-types.ts";
import { createInFlightCalls } from "./in-flight.ts";
import { createToolInvoker, type ToolInvoker } from "./invoke-tool.ts";
import { handleMcpEndpoint } from "./mcp-endpoint.ts";
import { createSseStreams } from "./sse-streams.ts";
import { createRouterMetrics, type RouterMetrics } from "./metrics.ts";
import { buildOpenApiDocument } from "./openapi.ts";
import { handleDocs, handleMetrics, handleReady, type ReadinessProbe } from "./ops-endpoints.ts";
import { requestIdFor, withRequestId } from "./request-id.ts";
import { restError } from "./rest-error.ts";
import { handleRestInvoke } from "./rest-invoke.ts";
import { createRouterConfig, type ActiveConfig } from "./router-config.ts";
import type { RouterContext } from "./router-context.ts";
import { handleRestJob, JOBS_PREFIX } from "./tasks/rest-jobs.ts";
import { createTaskService, type TaskService } from "./tasks/task-service.ts";
import { chooseRevocations } from "./session-revocations.ts";
import { createSessionCodec, deriveSessionKey, type SessionRevocations } from "./session.ts";
import { createToolCatalog, type ToolCatalog } from "./tool-catalog.ts";
import { compileOriginPolicy } from "./transport-checks.ts";
import { CONSOLE_PATH, createConsoleAssets } from "./console-assets.ts";
import { hasAuditStats } from "../../store/src/audit-metrics.ts";

export type RouterAuthzOption =
  | { mode: "direct"; address: string; deadlineMs?: number; client?: AuthzClient }
  | { mode: "envoy" };

export type StartRouterOptions = {
  config: GatewayConfig;
  /** Digests of the files `config` was read from (shown in /ready and metrics). */
  configDigests?: ConfigDigests;
  db: Kysely<DB>;
  /** The store's AuditWriter (its stats() are exported as metrics when present). */
  audit: AuditRowWriter;
  /** Default write-ahead (AUDIT_MODE). */
  auditMode?: AuditMode;
  /** The store's call journal (openCallJournal): names this process in start rows. Write-ahead needs it. */
  callJournal?: { readonly instance: string };
  logger: Logger;
  authz: RouterAuthzOption;
  /** GATEWAY_VERDICT_KEY, shared with ext-authz. */
  verdictKey: string;
  /** TOOL_GATEWAY_SHARED_SECRET, shared with the tool servers. */
  toolSecret: string;
  /**
   * Tool servers running in this process, by origin (the embedded stack): calls to a backend URL
   * with that origin are handed over without HTTP, with the same headers and X-Gateway-Auth.
   */
  inProcessBackends?: ReadonlyMap<string, InProcessHandler>;
  /** Where MCP servers' `from_env` credentials are read; default process.env. */
  backendEnv?: Readonly<Record<string, string | undefined>>;
  /** Default 1048576. */
  maxRequestBytes?: number;
  /** Browser origins allowed to call the MCP endpoints; requests without Origin always pass. */
  allowedOrigins?: readonly string[];
  /** The gateway's public URL (GATEWAY_PUBLIC_URL); its origin is always allowed. */
  publicUrl?: string;
  /** Development only: also allow loopback origins (http://localhost:*, 127.0.0.1, [::1]). */
  allowLoopbackOrigins?: boolean;
  /** Session-id signing key; derived from verdictKey when absent. */
  sessionSecret?: string;
  /** Default 86400. */
  sessionTtlSeconds?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** How long close() lets requests in progress finish; default 25000 (under Kubernetes' 30 s). */
  drainTimeoutMs?: number;
  /** Backend tools/list cache lifetime; default 60000. */
  catalogRefreshMs?: number;
  /** Where ended sessions are recorded; default: the database table when present, else memory. */
  sessionRevocations?: SessionRevocations;
  /** How often revocations made on other replicas are fetched; default 1000. */
  sessionRevocationPollMs?: number;
  /** Where the console's built files are (default dist/console under the package root). */
  consoleDir?: string;
  /** Background task runner: lease, heartbeat and sweep timing, and this replica's lease id. */
  tasks?: {
    replicaId?: string;
    leaseMs?: number;
    heartbeatMs?: number;
    sweepIntervalMs?: number;
  };
};

export type RouterHandle = {
  port: number;
  url: string;
  /** The tools/call path (checks, forwarding, limits, audit) for in-process callers such as tasks. */
  invokeTool: ToolInvoker;
  /** MCP tasks and REST jobs (shared store; this replica's runner and sweeper). */
  tasks: TaskService;
  catalog: ToolCatalog;
  metrics: RouterMetrics;
  /** Applies a reloaded configuration (ConfigWatcher + createConfigReloader). */
  configConsumer: ConfigConsumer;
  configStatus: () => ConfigReloadStatus;
  /**
   * Graceful stop: readiness fails, no new connections, requests in progress finish for up to
   * `drainTimeoutMs`; then tasks still running here are marked failed (they cannot outlive it).
   */
  close(): Promise<void>;
};

const VERSION = (
  createRequire(import.meta.url)(join(PACKAGE_ROOT, "package.json")) as { version: string }
).version;

export async function startRouter(options: StartRouterOptions): Promise<RouterHandle> {
  const logger = options.logger;
  const maxRequestBytes = options.maxRequestBytes ?? 1_048_576;
  // gRPC and the ext_authz protos are loaded only to make the Check: a router behind Envoy never
  // does.
  const ownedAuthzClient =
    options.authz.mode === "direct" && options.authz.client === undefined
      ? (await import("../../contract/src/authz-wire.ts")).createAuthzClient(
          options.authz.address,
          { maxSendBytes: maxRequestBytes * 2 + 65_536 },
        )
      : undefined;
  const authzClient =
    options.authz.mode === "direct" ? (options.authz.client ?? ownedAuthzClient) : undefined;
  const settings: AuthzSettings =
    options.authz.mode === "direct" && authzClient !== undefined
      ? { mode: "direct", client: authzClient, deadlineMs: options.authz.deadlineMs ?? 2_000 }
      : { mode: "envoy" };

  const audit = createRouterAudit(
    options.audit,
    options.auditMode ?? "write-ahead",
    options.callJournal?.instance,
  );
  const inFlight = createInFlightCalls();
  const configReloads = createConfigReloadState(
    options.configDigests ?? { "tools.yaml": null, "policy.yaml": null },
  );
  const metrics = createRouterMetrics({
    inFlight: () => inFlight.size(),
    audit: options.audit,
    configReloads,
  });
  const pools = createBackendPools(
    options.inProcessBackends === undefined ? {} : { inProcess: options.inProcessBackends },
  );
  const sseStreams = createSseStreams();
  const listenStreams = createListenStreams();
  const inputRounds = createInputRounds();
  const backends = createBackends({
    pools,
    toolSecret: options.toolSecret,
    logger,
    ...(options.backendEnv === undefined ? {} : { env: options.backendEnv }),
    clientInfo: { name: "mcp-gateway", version: VERSION },
    onListChanged: (scope) => {
      catalog.markStale(scope);
      listenStreams.publishToScope(scope, {
        jsonrpc: "2.0",
        method: "notifications/tools/list_changed",
      });
    },
    // What a user's MCP server session sends outside a request goes to that user's streams.
    onUserNotification: (scope, user, notification) => {
      const binding = { subject: user.userId, tenant: user.tenant, scope };
      sseStreams.publish(binding, sseEvent(notification));
      listenStreams.publishToUser(binding, notification);
    },
  });
  // The definitions the catalog lists, kept for the console's diff of a changed tool.
  const definitions = createDefinitionArchive();
  const catalog = createToolCatalog({
    tools: options.config.tools,
    registry: {
      activeTools: async (scope) =>
        new Set((await listActiveTools(options.db, scope)).map((row) => row.name)),
      recordDiscovered: (scope, names) => recordDiscoveredTools(options.db, scope, names),
      observeDefinition: (scope, name, digest) =>
        recordObservedDefinition(options.db, scope, name, digest),
    },
    backends: definitions.tap(backends),
    logger,
    ...(options.catalogRefreshMs === undefined
      ? {}
      : { refreshIntervalMs: options.catalogRefreshMs }),
    onDefinitionChange(change) {
      metrics.definitionChanges.inc({ scope: change.scope, policy: change.policy });
      logger.warn(change, "backend changed a tool definition");
      audit
        .write(
          buildAuditEvent({
            kind: "decision",
            requestId: randomUUID(),
            identity: null,
            scope: change.scope,
            method: "tools/list",
            tool: change.tool,
            outcome: change.policy === "pin" ? "rejected" : "ok",
            reason: "definition_changed",
            latencyMs: null,
          }),
        )
        .catch((error: unknown) => {
          metrics.auditFailures.inc({ reason: "definition_change" });
          logger.error({ err: error }, "could not audit a tool definition change");
        });
    },
  });
  const revocations =
    options.sessionRevocations ??
    (await chooseRevocations(options.db, logger, {
      ...(options.sessionRevocationPollMs === undefined
        ? {}
        : { pollMs: options.sessionRevocationPollMs }),
    }));
  // Background runs start after their request has answered: they take the configuration running
  // when they start, not the one their request saw.
  const invokeTool: ToolInvoker = (request) => routerConfig.current().ctx.invokeTool(request);
  const tasks = createTaskService({
    store: createTaskStore(options.db),
    // Read once: a reload that changes `tasks` is reported as requiring a restart.
    settings: options.config.tools.tasks,
    invokeTool,
    audit,
    logger: logger.child({ component: "tasks" }),
    onAuditFailure: () => metrics.auditFailures.inc({ reason: "task" }),
    ...options.tasks,
  });

  const shared: Omit<RouterContext, "config" | "invokeTool"> = {
    authorizer: createAuthorizer({
      settings,
      verdictKey: options.verdictKey,
      audit,
      logger,
      onAuditFailure: () => metrics.auditFailures.inc({ reason: "refusal" }),
    }),
    sessions: createSessionCodec({
      key: options.sessionSecret ?? deriveSessionKey(options.verdictKey),
      ttlSeconds: options.sessionTtlSeconds ?? 86_400,
    }),
    revocations,
    sseStreams,
    listenStreams,
    inputRounds,
    catalog,
    backends,
    serverRequests: createServerRequests(),
    tasks,
    inFlight,
    audit,
    metrics,
    logger,
    allowedOrigins: compileOriginPolicy({
      allowedOrigins: options.allowedOrigins ?? [],
      publicUrl: options.publicUrl,
      allowLoopback: options.allowLoopbackOrigins,
    }),
    serverInfo: { name: "mcp-gateway", version: VERSION },
    listTtlMs: 60_000,
  };
  const build = (config: GatewayConfig): ActiveConfig => ({
    config,
    ctx: {
      ...shared,
      config,
      invokeTool: createToolInvoker({
        config,
        catalog,
        backends,
        audit,
        logger,
        metrics,
      }),
    },
    openApi: buildOpenApiDocument(config.tools, VERSION),
  });
  const routerConfig = createRouterConfig({
    config: options.config,
    build,
    db: options.db,
    catalog,
    state: configReloads,
    audit,
    logger,
    onAuditFailure: () => metrics.auditFailures.inc({ reason: "config_reload" }),
    onCommit: (config) => void backends.retain(config.tools.scopes),
  });

  const history = createMetricsHistory({ metrics, logger });
  const auditWriter = options.audit;
  const admin: AdminServices = {
    db: options.db,
    definitions,
    verdictKey: options.verdictKey,
    overview: {
      history,
      auditMode: options.auditMode ?? "write-ahead",
      auditStats: hasAuditStats(auditWriter) ? () => auditWriter.stats() : undefined,
      catalogRefreshMs: options.catalogRefreshMs ?? 60_000,
    },
  };
  const consoleAssets = createConsoleAssets(
    options.consoleDir === undefined ? {} : { dir: options.consoleDir },
  );

  let draining = false;
  let closing: Promise<void> | undefined;
  const probes: ReadinessProbe[] = [
    // Fails as soon as a stop begins, so the balancer sends new work elsewhere during the drain.
    { name: "serving", check: async () => !draining },
    {
      name: "database",
      check: async () => {
        await sql`select 1`.execute(options.db);
        return true;
      },
    },
    { name: "registry", check: async () => (await listActiveTools(options.db)).length > 0 },
  ];
  if (authzClient !== undefined) {
    probes.push({
      name: "ext_authz",
      check: async () => (await authzClient.health("", { deadlineMs: 1_000 })).status === "SERVING",
    });
  }
  async function route(request: RouterRequest): Promise<RouterResponse> {
    const { path } = request;
    // Taken once: this request runs on one configuration even if a reload lands meanwhile.
    const { config, ctx, openApi } = routerConfig.current();
    if (path === "/health" || path === "/healthz") {
      return {
        status: 200,
        headers: { "content-type": "application/json" },
        body: '{"status":"ok"}',
      };
    }
    if (path === "/ready" || path === "/readyz") {
      return handleReady(probes, { config: configReloads.readyDetail() });
    }
    if (path === "/metrics") return handleMetrics(metrics);
    // `docs` is also a scope: its MCP endpoints /docs/sse and /docs/mcp are not pages.
    if ((path === "/docs" || path.startsWith("/docs/")) && scopeOfEndpoint(path) === undefined) {
      return handleDocs(request, openApi);
    }
    if (path === "/mcp/invoke") return handleRestInvoke(ctx, request);
    if (path.startsWith(JOBS_PREFIX)) return handleRestJob(ctx, request);
    if (isAdminPath(path)) return handleAdmin(ctx, request, admin);
    if (path === CONSOLE_PATH || path.startsWith(`${CONSOLE_PATH}/`)) {
      return consoleAssets.handle(request);
    }
    if (path.startsWith("/.well-known/oauth-protected-resource") && settings.mode === "direct") {
      // ext-authz answers resource metadata itself (a local reply); direct mode relays it.
      const read = await request.readBody();
      if (!read.ok) return rpcErrorResponse("GW_PAYLOAD_TOO_LARGE");
      const auth = await ctx.authorizer.authorize({
        request,
        body: read.body,
        scope: undefined,
        contextExtensions: {},
      });
      return auth.ok ? rpcErrorResponse("GW_NOT_FOUND") : auth.response;
    }
    const scope = scopeOfEndpoint(path);
    if (scope !== undefined && Object.hasOwn(config.tools.scopes, scope)) {
      return handleMcpEndpoint(ctx, request, scope);
    }
    // Unknown scopes and the removed v1 endpoints (/sse, /messages) alike.
    return rpcErrorResponse("GW_NOT_FOUND");
  }

  /**
   * Every refusal carries an x-request-id (one the handler set, else the client's or a fresh
   * one), and a failure on the REST API is answered in its shape, not JSON-RPC's.
   */
  async function answer(request: RouterRequest): Promise<RouterResponse> {
    let response: RouterResponse;
    try {
      response = await route(request);
    } catch (error) {
      // A database that is restarting is a temporary condition (503, retry), not a gateway bug.
      const code = isTransientDatabaseError(error) ? "GW_DATABASE_UNAVAILABLE" : "GW_INTERNAL";
      logger.error({ err: error, path: request.path, code }, "unhandled router error");
      const rest =
        request.path === "/mcp/invoke" ||
        request.path.startsWith(JOBS_PREFIX) ||
        isAdminPath(request.path);
      response = rest
        ? restError(code, { requestId: requestIdFor(request) })
        : rpcErrorResponse(code);
    }
    return response.status >= 400 ? withRequestId(response, () => requestIdFor(request)) : response;
  }

  const server = await listen({
    handler: async (request) => {
      const response = await answer(request);
      metrics.httpRequests.inc({
        route: routeLabel(request.path),
        status: String(response.status),
      });
      return response;
    },
    host: options.host ?? "127.0.0.1",
    port: options.port ?? 8080,
    maxRequestBytes,
    logger,
  });
  const host = options.host ?? "127.0.0.1";
  const urlHost = host.includes(":") ? `[${host}]` : host === "0.0.0.0" ? "127.0.0.1" : host;
  // Warm the catalog so the first tools/list does not wait on every backend.
  for (const scope of Object.keys(options.config.tools.scopes)) void catalog.refresh(scope);

  return {
    port: server.port,
    url: `http://${urlHost}:${server.port}`,
    invokeTool,
    tasks,
    catalog,
    metrics,
    configConsumer: routerConfig.consumer,
    configStatus: configReloads.status,
    close() {
      closing ??= (async () => {
        draining = true;
        // HTTP+SSE streams carry no call of their own: they end first, or the drain would wait
        // on them.
        sseStreams.closeAll();
        listenStreams.endAll();
        inputRounds.closeAll();
        history.close();
        await server.close(options.drainTimeoutMs ?? 25_000);
        await tasks.close();
        catalog.close();
        revocations.close?.();
        await backends.close();
        await pools.close();
        ownedAuthzClient?.close();
      })();
      return closing;
    },
  };
}

function routeLabel(path: string): string {
  if (path === "/mcp/invoke" || path === "/health" || path === "/ready" || path === "/metrics")
    return path;
  if (isAdminPath(path)) return adminRouteLabel(path);
  if (path === CONSOLE_PATH || path.startsWith(`${CONSOLE_PATH}/`)) return CONSOLE_PATH;
  // Before the /docs prefix: a scope may be named "docs" (its endpoints are /docs/sse, /docs/mcp).
  if (scopeOfEndpoint(path) !== undefined) return "/{scope}/mcp";
  if (path.startsWith("/docs")) return "/docs";
  if (path.startsWith(JOBS_PREFIX)) return "/mcp/jobs/{id}";
  return "other";
}
