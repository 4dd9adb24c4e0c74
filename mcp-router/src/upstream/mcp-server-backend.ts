import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { Logger } from "../../../contract/src/log.ts";
import type { McpServerConfig } from "../../../config/src/tools-schema.ts";
import type { JsonRpcNotificationMessage, UpstreamOutcome } from "../forwarding.ts";
import type { ClientCapability } from "../session.ts";
import {
  clientCredentialsTokenSource,
  credentialedFetch,
  MissingCredentialError,
  resolveConfigValues,
  TokenRequestError,
  type Env,
} from "./upstream-credentials.ts";
import { UpstreamSession, UpstreamSessionError, type SessionRequest } from "./upstream-session.ts";

/**
 * The sessions of one scope's MCP server: one per user (Streamable HTTP, and stdio `per: user`,
 * one process each) or one for the scope (stdio `per: scope`). Sessions open on a user's first
 * request, end after `idle_timeout_ms` without one, and are capped at `max`: the least recently
 * used idle session gives way to a new one.
 */

export type McpServerBackend = {
  /**
   * `user` keys the session: a user's requests never share a session with another's. A user's
   * clients that can answer different server requests (`clientCapabilities`) get a session each,
   * initialized with those capabilities.
   */
  call(
    user: string,
    request: SessionRequest,
    clientCapabilities?: readonly ClientCapability[],
  ): Promise<UpstreamOutcome>;
  /** What the server answered to `user`'s session's initialize; undefined when it cannot be opened. */
  capabilities(
    user: string,
    clientCapabilities?: readonly ClientCapability[],
  ): Promise<Record<string, unknown> | undefined>;
  /** Open sessions (processes, for stdio). */
  size(): number;
  close(): Promise<void>;
};

export type McpServerBackendOptions = {
  scope: string;
  config: McpServerConfig;
  env: Env;
  logger: Logger;
  clientInfo: { name: string; version: string };
  onListChanged: () => void;
  /** A notification of `user`'s session that belongs to no request (see UpstreamSession). */
  onSessionNotification?: (user: string, notification: JsonRpcNotificationMessage) => void;
  /** How long opening a session (start, initialize) may take. */
  openTimeoutMs: number;
};

const SCOPE_SESSION = "";

/** A session's key, the user it belongs to (none for a `per: scope` process) and what it declares. */
type SessionKey = { key: string; user: string | undefined; declared: readonly ClientCapability[] };

export function createMcpServerBackend(options: McpServerBackendOptions): McpServerBackend {
  const { config, logger } = options;
  const limits =
    config.transport === "stdio"
      ? { idleMs: config.processes.idle_timeout_ms, max: config.processes.max }
      : { idleMs: config.sessions.idle_timeout_ms, max: config.sessions.max };
  const perScope = config.transport === "stdio" && config.processes.per === "scope";
  const tokens =
    config.transport === "streamable-http" && config.auth !== undefined
      ? clientCredentialsTokenSource(config.auth, options.env)
      : undefined;
  /** Insertion order is recency: a used session is moved to the end. */
  const sessions = new Map<string, Promise<UpstreamSession>>();
  let closed = false;

  // The SDK's client transports are loaded by the first session only: a router whose tools are
  // all gateway tool servers never holds them (about 6 MB of heap).
  async function newTransport(): Promise<Transport> {
    if (config.transport === "streamable-http") {
      const { StreamableHTTPClientTransport } =
        await import("@modelcontextprotocol/sdk/client/streamableHttp.js");
      return new StreamableHTTPClientTransport(new URL(config.url), {
        fetch: credentialedFetch({ headers: config.headers, tokens, env: options.env }),
        // A stream that ends before its answer, after an event id, is resumed with a GET and
        // Last-Event-ID (SEP-1699), as is the session's standalone stream; the server's `retry`
        // field sets the delay. Closing the session stops any reconnection.
        reconnectionOptions: {
          initialReconnectionDelay: 1000,
          reconnectionDelayGrowFactor: 2,
          maxReconnectionDelay: 10_000,
          maxRetries: 3,
        },
      });
    }
    const { getDefaultEnvironment, StdioClientTransport } =
      await import("@modelcontextprotocol/sdk/client/stdio.js");
    const transport = new StdioClientTransport({
      command: config.command,
      args: config.args,
      // Only the SDK's safe defaults (PATH, HOME, …) and what the configuration gives.
      env: {
        ...getDefaultEnvironment(),
        ...resolveConfigValues(config.env, options.env, "mcp_server.env"),
      },
      ...(config.cwd === undefined ? {} : { cwd: config.cwd }),
      stderr: "pipe",
    });
    transport.stderr?.on("data", (chunk: Buffer) => {
      logger.debug({ stderr: chunk.toString("utf8").slice(0, 2000) }, "mcp server stderr");
    });
    return transport;
  }

  /**
   * The session key and what it declares: a `per: scope` process is everyone's, so it declares
   * nothing (a server request could not be told whose it is).
   */
  function keyOf(user: string, clientCapabilities: readonly ClientCapability[]): SessionKey {
    // Everyone's process: its notifications cannot be told whose they are.
    if (perScope) return { key: SCOPE_SESSION, user: undefined, declared: [] };
    const declared = [...new Set(clientCapabilities)].sort();
    return { key: JSON.stringify([user, declared]), user, declared };
  }

  async function open({ key, user, declared }: SessionKey): Promise<UpstreamSession> {
    const session = await UpstreamSession.open(
      await newTransport(),
      {
        protocolVersion:
          config.transport === "streamable-http" ? config.protocol_version : "2025-11-25",
        clientInfo: options.clientInfo,
        logger,
        relayLogMessages: !perScope,
        clientCapabilities: declared,
        ...(user === undefined || options.onSessionNotification === undefined
          ? {}
          : {
              onServerNotification: (notification: JsonRpcNotificationMessage) =>
                options.onSessionNotification!(user, notification),
            }),
        onListChanged: options.onListChanged,
        onClosed: () => forgetClosed(key),
      },
      options.openTimeoutMs,
    );
    logger.info(
      { transport: config.transport, version: session.negotiatedVersion, sessions: sessions.size },
      "mcp server session opened",
    );
    return session;
  }

  /** A process that exited or a session the server ended frees its place at once. */
  function forgetClosed(key: string): void {
    const current = sessions.get(key);
    void current?.then(
      (session) => {
        if (session.closed && sessions.get(key) === current) sessions.delete(key);
      },
      () => undefined,
    );
  }

  /** Makes room for one more session: false when every open session is busy. */
  async function makeRoom(): Promise<boolean> {
    if (sessions.size < limits.max) return true;
    for (const [key, pending] of sessions) {
      const session = await pending.catch(() => undefined);
      if (session === undefined || !session.busy) {
        sessions.delete(key);
        void session?.close();
        return true;
      }
    }
    return false;
  }

  async function sessionFor(sessionKey: SessionKey): Promise<UpstreamSession | "full"> {
    const { key } = sessionKey;
    const existing = sessions.get(key);
    if (existing !== undefined) {
      const session = await existing.catch(() => undefined);
      if (session !== undefined && !session.closed) {
        sessions.delete(key);
        sessions.set(key, existing);
        return session;
      }
      if (sessions.get(key) === existing) sessions.delete(key);
    }
    if (!(await makeRoom())) return "full";
    const opening = open(sessionKey);
    sessions.set(key, opening);
    opening.catch(() => {
      if (sessions.get(key) === opening) sessions.delete(key);
    });
    return opening;
  }

  const reaper = setInterval(
    () => {
      const idleBefore = performance.now() - limits.idleMs;
      for (const [key, pending] of sessions) {
        void pending.then(
          (session) => {
            if (!session.busy && session.lastActive < idleBefore && sessions.get(key) === pending) {
              sessions.delete(key);
              void session.close();
            }
          },
          () => undefined,
        );
      }
    },
    Math.min(limits.idleMs, 60_000),
  );
  reaper.unref();

  const unavailable = (request: SessionRequest, status?: number): UpstreamOutcome => ({
    kind: "failure",
    reason: "unavailable",
    requestBytes: Buffer.byteLength(JSON.stringify(request.params)),
    responseBytes: 0,
    ...(status === undefined ? {} : { status }),
  });

  return {
    async call(user, request, clientCapabilities = []) {
      if (closed) return unavailable(request);
      const sessionKey = keyOf(user, clientCapabilities);
      // A session the server forgot (404) is opened again, once: the request never ran.
      for (let attempt = 0; attempt < 2; attempt++) {
        let session: UpstreamSession | "full";
        try {
          session = await sessionFor(sessionKey);
        } catch (error) {
          logger.warn(
            {
              err:
                error instanceof UpstreamSessionError ||
                error instanceof MissingCredentialError ||
                error instanceof TokenRequestError
                  ? error.message
                  : "error",
            },
            "mcp server session could not be opened",
          );
          return unavailable(request);
        }
        if (session === "full") {
          logger.warn({ max: limits.max }, "every mcp server session is busy");
          return unavailable(request);
        }
        const outcome = await session.request(request);
        if (outcome.kind === "failure" && outcome.status === 404 && attempt === 0) continue;
        return outcome;
      }
      return unavailable(request);
    },
    async capabilities(user, clientCapabilities = []) {
      if (closed) return undefined;
      const session = await sessionFor(keyOf(user, clientCapabilities)).catch(() => undefined);
      return session === undefined || session === "full" ? undefined : session.serverCapabilities;
    },
    size: () => sessions.size,
    async close() {
      closed = true;
      clearInterval(reaper);
      const all = [...sessions.values()];
      sessions.clear();
      await Promise.allSettled(all.map(async (pending) => (await pending).close()));
    },
  };
}
