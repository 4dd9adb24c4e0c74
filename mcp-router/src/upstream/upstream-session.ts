import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import type { Logger } from "../../../contract/src/log.ts";
import type { ServerRequest, ServerRequestAnswer } from "../server-requests.ts";
import type { ClientCapability } from "../session.ts";
import {
  isRecord,
  type JsonRpcNotificationMessage,
  type UpstreamFailure,
  type UpstreamOutcome,
} from "../forwarding.ts";

/**
 * One MCP session with a standard MCP server, over any of the SDK's client transports (Streamable
 * HTTP, stdio): the 2025 lifecycle (initialize, then notifications/initialized), JSON-RPC ids of
 * its own, and each notification delivered to the call it belongs to. A session belongs to one
 * user (or, for a stdio server configured `per: scope`, to the scope), never to several.
 */

export type SessionRequest = {
  method: string;
  params: Record<string, unknown>;
  timeoutMs: number;
  maxResponseBytes: number;
  /** 2026-07-28 servers: the log level the client asked for in its own `_meta`. */
  logLevel?: string;
  /** 2026-07-28 servers: request headers besides the gateway's (`Mcp-Param-*`). */
  headers?: Readonly<Record<string, string>>;
  signal?: AbortSignal;
  onNotification?: (notification: JsonRpcNotificationMessage) => void;
  /**
   * 2026-07-28 servers: an InputRequiredResult goes back as the answer (the client is 2026-07-28
   * too and continues the round itself) instead of being asked through onServerRequest.
   */
  relayInputRequired?: boolean;
  /** Asks the client what the server asks while this request runs (sampling, elicitation, roots). */
  onServerRequest?: (request: ServerRequest) => Promise<ServerRequestAnswer>;
  /** 2026-07-28 servers: the server chose to run this call as a task of its own (SEP-2663). */
  onServerTask?: () => void;
};

/** The server request methods and the client capability each needs. */
const SERVER_REQUEST_CAPABILITY: Readonly<Record<string, ClientCapability>> = {
  "sampling/createMessage": "sampling",
  "elicitation/create": "elicitation",
  "roots/list": "roots",
};

export type UpstreamSessionOptions = {
  protocolVersion: string;
  clientInfo: { name: string; version: string };
  logger: Logger;
  /** Log messages (notifications/message) name no request: relay them to the session's calls. */
  relayLogMessages: boolean;
  /** Declared in initialize: what the session's client can answer when the server asks. */
  clientCapabilities?: readonly ClientCapability[];
  onListChanged?: () => void;
  /**
   * Notifications of the server that belong to no request in progress: resource updates, prompt
   * and resource list changes, and log messages sent while no request runs.
   */
  onServerNotification?: (notification: JsonRpcNotificationMessage) => void;
  /** Called once when the transport closes or fails; the owner forgets the session. */
  onClosed?: () => void;
};

type Pending = {
  resolve: (outcome: UpstreamOutcome) => void;
  onNotification: ((notification: JsonRpcNotificationMessage) => void) | undefined;
  onServerRequest: SessionRequest["onServerRequest"];
  /** The client's progress token, replaced by the session's own (`gw-<id>`) upstream. */
  progressToken: string | number | undefined;
  requestBytes: number;
  maxResponseBytes: number;
};

/** Thrown by open(): the server could not be started or refused the lifecycle. */
export class UpstreamSessionError extends Error {
  override readonly name = "UpstreamSessionError";
}

const PROGRESS_PREFIX = "gw-";

/** Notifications about the session's prompts and resources, relayed to the client's streams. */
const SESSION_NOTIFICATIONS = new Set([
  "notifications/resources/updated",
  "notifications/resources/list_changed",
  "notifications/prompts/list_changed",
]);

export class UpstreamSession {
  readonly #transport: Transport;
  readonly #options: UpstreamSessionOptions;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #closed = false;
  /** performance.now() of the last request or answer. */
  lastActive = performance.now();
  /** What the server answered to initialize. */
  serverCapabilities: Record<string, unknown> = {};
  negotiatedVersion = "";

  private constructor(transport: Transport, options: UpstreamSessionOptions) {
    this.#transport = transport;
    this.#options = options;
    transport.onmessage = (message) => this.#receive(message);
    transport.onclose = () => this.#fail("unavailable");
    transport.onerror = (error) => {
      // The transport reports each failed send too; a broken stdio pipe or a lost standalone
      // stream ends the session through onclose.
      options.logger.debug({ err: error }, "upstream transport error");
    };
  }

  /** Starts the transport and runs the initialize handshake within `timeoutMs`. */
  static async open(
    transport: Transport,
    options: UpstreamSessionOptions,
    timeoutMs: number,
  ): Promise<UpstreamSession> {
    const session = new UpstreamSession(transport, options);
    try {
      await transport.start();
      const outcome = await session.request({
        method: "initialize",
        params: {
          protocolVersion: options.protocolVersion,
          capabilities: Object.fromEntries(
            (options.clientCapabilities ?? []).map((capability) => [capability, {}]),
          ),
          clientInfo: options.clientInfo,
        },
        timeoutMs,
        maxResponseBytes: 1_048_576,
      });
      if (outcome.kind !== "result") {
        throw new UpstreamSessionError(
          outcome.kind === "rpc_error"
            ? `initialize refused (${outcome.error.code})`
            : `initialize failed (${outcome.reason}${outcome.status === undefined ? "" : ` ${outcome.status}`})`,
        );
      }
      const version = outcome.result.protocolVersion;
      if (typeof version !== "string") {
        throw new UpstreamSessionError("initialize answered without a protocolVersion");
      }
      session.negotiatedVersion = version;
      session.serverCapabilities = isRecord(outcome.result.capabilities)
        ? outcome.result.capabilities
        : {};
      // Streamable HTTP sends MCP-Protocol-Version on every later request.
      transport.setProtocolVersion?.(version);
      await transport.send({ jsonrpc: "2.0", method: "notifications/initialized" });
      return session;
    } catch (error) {
      await session.close();
      throw error instanceof UpstreamSessionError
        ? error
        : new UpstreamSessionError(`could not open the session: ${errorText(error)}`);
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  get busy(): boolean {
    return this.#pending.size > 0;
  }

  request(request: SessionRequest): Promise<UpstreamOutcome> {
    const id = this.#nextId++;
    this.lastActive = performance.now();
    const meta = isRecord(request.params._meta) ? request.params._meta : undefined;
    const token = meta?.progressToken;
    const progressToken =
      typeof token === "string" || typeof token === "number" ? token : undefined;
    const params =
      progressToken === undefined
        ? request.params
        : { ...request.params, _meta: { ...meta, progressToken: `${PROGRESS_PREFIX}${id}` } };
    const message = { jsonrpc: "2.0" as const, id, method: request.method, params };
    const requestBytes = Buffer.byteLength(JSON.stringify(message));
    if (this.#closed) return Promise.resolve(failed("unavailable", requestBytes));

    return new Promise<UpstreamOutcome>((resolve) => {
      let settled = false;
      const finish = (outcome: UpstreamOutcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        request.signal?.removeEventListener("abort", onAbort);
        this.#pending.delete(id);
        this.lastActive = performance.now();
        resolve(outcome);
      };
      const giveUp = (reason: "timeout" | "cancelled") => {
        if (settled) return;
        // The server may stop working on it; the answer, if it still comes, is dropped.
        this.#transport
          .send({
            jsonrpc: "2.0",
            method: "notifications/cancelled",
            params: { requestId: id, reason: reason === "timeout" ? "timed out" : "cancelled" },
          })
          .catch(() => undefined);
        finish(failed(reason, requestBytes));
      };
      const onAbort = () => giveUp("cancelled");
      const timer = setTimeout(() => giveUp("timeout"), request.timeoutMs);
      if (request.signal?.aborted === true) {
        giveUp("cancelled");
        return;
      }
      request.signal?.addEventListener("abort", onAbort, { once: true });
      this.#pending.set(id, {
        resolve: finish,
        onNotification: request.onNotification,
        onServerRequest: request.onServerRequest,
        progressToken,
        requestBytes,
        maxResponseBytes: request.maxResponseBytes,
      });
      this.#transport.send(message as JSONRPCMessage).catch((error: unknown) => {
        const status = httpStatus(error);
        this.#options.logger.warn(
          { method: request.method, status, err: errorText(error) },
          "upstream request not delivered",
        );
        // 404: the server forgot the session; the owner opens a new one.
        if (status === 404) void this.close();
        finish(failed("unavailable", requestBytes, status));
      });
    });
  }

  /** Ends the session (Streamable HTTP: DELETE; stdio: the process is stopped). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#fail("unavailable");
    const transport = this.#transport as Transport & { terminateSession?: () => Promise<void> };
    await transport.terminateSession?.().catch(() => undefined);
    await this.#transport.close().catch(() => undefined);
  }

  #fail(reason: UpstreamFailure): void {
    const wasOpen = !this.#closed;
    this.#closed = true;
    for (const pending of [...this.#pending.values()]) {
      pending.resolve(failed(reason, pending.requestBytes));
    }
    if (wasOpen) this.#options.onClosed?.();
  }

  #receive(message: JSONRPCMessage): void {
    this.lastActive = performance.now();
    const raw = message as Record<string, unknown>;
    const hasId = typeof raw.id === "string" || typeof raw.id === "number";
    if (typeof raw.method === "string") {
      if (hasId) {
        const params = isRecord(raw.params) ? raw.params : undefined;
        void this.#answerServerRequest(raw.id as string | number, raw.method, params);
      } else this.#notification(raw.method, isRecord(raw.params) ? raw.params : undefined);
      return;
    }
    if (typeof raw.id !== "number") return;
    const pending = this.#pending.get(raw.id);
    if (pending === undefined) return; // answered after a timeout or cancel
    const responseBytes = Buffer.byteLength(JSON.stringify(message));
    const sizes = { requestBytes: pending.requestBytes, responseBytes };
    if (responseBytes > pending.maxResponseBytes) {
      pending.resolve({ kind: "failure", reason: "too_large", ...sizes });
    } else if (isRecord(raw.result)) {
      pending.resolve({ kind: "result", result: raw.result, ...sizes });
    } else if (
      isRecord(raw.error) &&
      typeof raw.error.code === "number" &&
      typeof raw.error.message === "string"
    ) {
      const { code, message, data } = raw.error;
      pending.resolve({
        kind: "rpc_error",
        error: { code, message, ...(data === undefined ? {} : { data }) },
        ...sizes,
      });
    } else {
      pending.resolve({ kind: "failure", reason: "invalid_response", ...sizes });
    }
  }

  #notification(method: string, params: Record<string, unknown> | undefined): void {
    if (method === "notifications/progress") {
      const token = params?.progressToken;
      const id =
        typeof token === "string" && token.startsWith(PROGRESS_PREFIX)
          ? Number(token.slice(PROGRESS_PREFIX.length))
          : Number.NaN;
      const pending = this.#pending.get(id);
      if (pending?.progressToken === undefined) return;
      pending.onNotification?.({
        jsonrpc: "2.0",
        method,
        params: { ...params, progressToken: pending.progressToken },
      });
      return;
    }
    const notification: JsonRpcNotificationMessage = {
      jsonrpc: "2.0",
      method,
      ...(params ? { params } : {}),
    };
    if (method === "notifications/message") {
      if (!this.#options.relayLogMessages) return;
      if (this.#pending.size === 0) {
        this.#options.onServerNotification?.(notification);
        return;
      }
      for (const pending of this.#pending.values()) pending.onNotification?.(notification);
      return;
    }
    if (method === "notifications/tools/list_changed") {
      this.#options.onListChanged?.();
      return;
    }
    if (SESSION_NOTIFICATIONS.has(method)) this.#options.onServerNotification?.(notification);
  }

  /**
   * A request from the server: ping is answered here; sampling, elicitation and roots go to the
   * client of the latest request in progress that can ask it (the session is one user's), when
   * the client declared the capability; anything else is refused.
   */
  async #answerServerRequest(
    id: string | number,
    method: string,
    params: Record<string, unknown> | undefined,
  ): Promise<void> {
    const send = (answer: Omit<JSONRPCMessage, "jsonrpc" | "id">) =>
      this.#transport
        .send({ jsonrpc: "2.0", id, ...answer } as JSONRPCMessage)
        .catch(() => undefined);
    if (method === "ping") return send({ result: {} });
    const capability = Object.hasOwn(SERVER_REQUEST_CAPABILITY, method)
      ? SERVER_REQUEST_CAPABILITY[method]
      : undefined;
    const asker =
      capability !== undefined && this.#options.clientCapabilities?.includes(capability) === true
        ? [...this.#pending.values()].reverse().find((pending) => pending.onServerRequest)
        : undefined;
    if (asker?.onServerRequest === undefined) {
      return send({ error: { code: -32601, message: `${method} is not relayed by the gateway` } });
    }
    const answer = await asker
      .onServerRequest({ method, params })
      .catch(() => ({ error: { code: -32603, message: "The gateway could not ask the client" } }));
    return send(answer);
  }
}

function failed(reason: UpstreamFailure, requestBytes: number, status?: number): UpstreamOutcome {
  return {
    kind: "failure",
    reason,
    requestBytes,
    responseBytes: 0,
    ...(status === undefined ? {} : { status }),
  };
}

/** The SDK's StreamableHTTPError carries the HTTP status as `code`. */
function httpStatus(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "number" && code >= 100 && code <= 599 ? code : undefined;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message.slice(0, 300) : String(error).slice(0, 300);
}
