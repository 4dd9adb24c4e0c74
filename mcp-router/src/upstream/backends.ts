import type { Logger } from "../../../contract/src/log.ts";
import type { Scope } from "../../../config/src/tools-schema.ts";
import {
  callUpstream,
  type BackendPools,
  type JsonRpcNotificationMessage,
  type UpstreamCall,
  type UpstreamOutcome,
} from "../forwarding.ts";
import { createMcpServerBackend, type McpServerBackend } from "./mcp-server-backend.ts";
import { createStatelessMcpServerBackend, STATELESS_VERSION } from "./stateless-upstream.ts";
import { RELAYABLE_CLIENT_CAPABILITIES, type ClientCapability } from "../session.ts";
import type { Env } from "./upstream-credentials.ts";
import type { SessionRequest } from "./upstream-session.ts";

/**
 * Where a scope's requests go: its gateway tool server (`backend_url`: one stateless POST per
 * request, signed with X-Gateway-Auth) or its MCP server (`mcp_server`: per-user sessions, the
 * gateway's own credentials). Callers name the scope and the user; nothing else differs.
 */

export type BackendCall = Omit<UpstreamCall, "backendUrl" | "scope" | "secret"> & {
  /** With userId, keys a user's own session on an MCP server. */
  tenant?: string | null;
  /** The gateway's own listing of the tools: a session of its own, never a user's. */
  forCatalog?: boolean;
  /** The client can answer these server requests (relayed with onServerRequest). */
  clientCapabilities?: readonly ClientCapability[];
  onServerRequest?: SessionRequest["onServerRequest"];
  onServerTask?: SessionRequest["onServerTask"];
  /** 2026-07-28 servers: the call's `Mcp-Param-*` headers. */
  headers?: SessionRequest["headers"];
  relayInputRequired?: boolean;
  logLevel?: SessionRequest["logLevel"];
};

/** Users' keys are JSON arrays, so no user can be given the catalog's session. */
const CATALOG_SESSION = "catalog";

function userKey(tenant: string | null | undefined, userId: string): string {
  return JSON.stringify([tenant ?? null, userId]);
}

/** The user a key names; undefined for the catalog's session. */
function userOf(key: string): { tenant: string | null; userId: string } | undefined {
  if (key === CATALOG_SESSION) return undefined;
  const [tenant, userId] = JSON.parse(key) as [string | null, string];
  return { tenant, userId };
}

export type Backends = {
  call(scope: string, scopeConfig: Scope, call: BackendCall): Promise<UpstreamOutcome>;
  /**
   * The capabilities a scope's MCP server announced to the user's session (opened if need be);
   * undefined for gateway tool servers and servers that cannot be reached.
   */
  serverCapabilities(
    scope: string,
    scopeConfig: Scope,
    user: {
      userId: string;
      tenant: string | null;
      clientCapabilities?: readonly ClientCapability[];
    },
  ): Promise<Record<string, unknown> | undefined>;
  /** Ends the sessions of MCP servers whose scope is gone or whose settings changed. */
  retain(scopes: Readonly<Record<string, Scope>>): Promise<void>;
  close(): Promise<void>;
};

export function createBackends(options: {
  pools: BackendPools;
  toolSecret: string;
  logger: Logger;
  env?: Env;
  clientInfo: { name: string; version: string };
  /** A server said its tool list changed. */
  onListChanged: (scope: string) => void;
  /** A notification of a user's session with a scope's server that belongs to no request. */
  onUserNotification?: (
    scope: string,
    user: { tenant: string | null; userId: string },
    notification: JsonRpcNotificationMessage,
  ) => void;
}): Backends {
  const env = options.env ?? process.env;
  const servers = new Map<string, { settings: string; backend: McpServerBackend }>();

  function serverFor(scope: string, scopeConfig: Scope): McpServerBackend {
    const settings = JSON.stringify(scopeConfig.mcp_server);
    const existing = servers.get(scope);
    if (existing?.settings === settings) return existing.backend;
    if (existing !== undefined) void existing.backend.close();
    const common = {
      env,
      logger: options.logger.child({ scope, backend: "mcp_server" }),
      clientInfo: options.clientInfo,
      onListChanged: () => options.onListChanged(scope),
      onSessionNotification: (user: string, notification: JsonRpcNotificationMessage) => {
        const owner = userOf(user);
        if (owner !== undefined) options.onUserNotification?.(scope, owner, notification);
      },
    };
    const server = scopeConfig.mcp_server!;
    const backend =
      server.transport === "streamable-http" && server.protocol_version === STATELESS_VERSION
        ? createStatelessMcpServerBackend({ ...common, config: server })
        : createMcpServerBackend({
            ...common,
            scope,
            config: server,
            openTimeoutMs: scopeConfig.timeout_ms,
          });
    servers.set(scope, { settings, backend });
    return backend;
  }

  return {
    call(scope, scopeConfig, call) {
      if (scopeConfig.mcp_server === undefined) {
        return callUpstream(options.pools, {
          ...call,
          backendUrl: scopeConfig.backend_url!,
          scope,
          secret: options.toolSecret,
        });
      }
      const key = call.forCatalog === true ? CATALOG_SESSION : userKey(call.tenant, call.userId);
      return serverFor(scope, scopeConfig).call(
        key,
        {
          method: call.method,
          params: call.params,
          timeoutMs: call.timeoutMs,
          maxResponseBytes: call.maxResponseBytes,
          ...(call.signal === undefined ? {} : { signal: call.signal }),
          ...(call.onNotification === undefined ? {} : { onNotification: call.onNotification }),
          ...(call.onServerRequest === undefined ? {} : { onServerRequest: call.onServerRequest }),
          ...(call.onServerTask === undefined ? {} : { onServerTask: call.onServerTask }),
          ...(call.headers === undefined ? {} : { headers: call.headers }),
          ...(call.relayInputRequired === true ? { relayInputRequired: true } : {}),
          ...(call.logLevel === undefined ? {} : { logLevel: call.logLevel }),
        },
        // The catalog's session declares every capability, so that tools a server offers only
        // to such clients are listed too (its own requests are refused: no client to ask).
        call.forCatalog === true ? RELAYABLE_CLIENT_CAPABILITIES : call.clientCapabilities,
      );
    },
    async serverCapabilities(scope, scopeConfig, user) {
      if (scopeConfig.mcp_server === undefined) return undefined;
      return serverFor(scope, scopeConfig).capabilities(
        userKey(user.tenant, user.userId),
        user.clientCapabilities,
      );
    },
    async retain(scopes) {
      const gone: McpServerBackend[] = [];
      for (const [scope, server] of servers) {
        const settings = JSON.stringify(scopes[scope]?.mcp_server);
        if (settings !== server.settings) {
          servers.delete(scope);
          gone.push(server.backend);
        }
      }
      await Promise.allSettled(gone.map((backend) => backend.close()));
    },
    async close() {
      const all = [...servers.values()];
      servers.clear();
      await Promise.allSettled(all.map((server) => server.backend.close()));
    },
  };
}
