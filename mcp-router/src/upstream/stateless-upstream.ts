import type { Logger } from "../../../contract/src/log.ts";
import {
  encodeHeaderValue,
  LOG_LEVELS,
  META_KEY,
  TASKS_EXTENSION_ID,
} from "../../../contract/src/mcp-wire.ts";
import type { Scope, StreamableHttpServerConfig } from "../../../config/src/tools-schema.ts";
import {
  isRecord,
  type JsonRpcNotificationMessage,
  type UpstreamFailure,
  type UpstreamOutcome,
} from "../forwarding.ts";
import { SUBSCRIPTION_ID_META_KEY } from "../listen-streams.ts";
import type { ServerRequestAnswer } from "../server-requests.ts";
import { RELAYABLE_CLIENT_CAPABILITIES, type ClientCapability } from "../session.ts";
import type { McpServerBackend } from "./mcp-server-backend.ts";
import {
  clientCredentialsTokenSource,
  credentialedFetch,
  MissingCredentialError,
  TokenRequestError,
  type Env,
} from "./upstream-credentials.ts";
import type { SessionRequest } from "./upstream-session.ts";

/**
 * A 2026-07-28 MCP server over Streamable HTTP: no session and no initialize. Every request is
 * one POST that carries the protocol envelope in `_meta` (revision, the gateway's client info,
 * what the client can answer) and the routing headers (`MCP-Protocol-Version`, `Mcp-Method`,
 * `Mcp-Name`, `Mcp-Param-*`); the answer is JSON, or an SSE stream of notifications ending with
 * the response. No upstream state exists, so no user's requests can meet another's.
 *
 * When the server needs input it answers with an InputRequiredResult. A 2026-07-28 client gets it
 * as it is and answers on its next attempt (`inputResponses`, `requestState`, relayed unchanged).
 * For a 2025 client the gateway maps it (SEP-2322): each input request is relayed as the server
 * request it names, on the client's stream, and the call is sent again with the answers.
 *
 * What 2026-07-28 removed is mapped for 2025 clients per user: `logging/setLevel` is kept and sent
 * as each later request's `_meta` log level; `resources/subscribe` and `resources/unsubscribe`
 * keep a `subscriptions/listen` stream open upstream for the user's resources, whose updates go
 * to the user's streams. A user's subscriptions end after `sessions.idle_timeout_ms` without a
 * request, as a 2025 session would. One listen stream per scope relays `tools/list_changed`.
 */

export const STATELESS_VERSION = "2026-07-28";

/**
 * A scope whose MCP server speaks 2026-07-28: the server runs its own input rounds, which reach a
 * 2026-07-28 client unchanged (the gateway's rounds are for servers that ask over a session).
 */
export function hasStatelessUpstream(scope: Scope | undefined): boolean {
  const server = scope?.mcp_server;
  return server?.transport === "streamable-http" && server.protocol_version === STATELESS_VERSION;
}
/** Rounds of input one call may need before the gateway gives up on mapping them. */
const MAX_INPUT_ROUNDS = 8;

/** Which field of a request's params names its target (`Mcp-Name`). */
const NAME_PARAM: Readonly<Record<string, string>> = {
  "tasks/get": "taskId",
  "tasks/update": "taskId",
  "tasks/cancel": "taskId",
  "tools/call": "name",
  "prompts/get": "name",
  "resources/read": "uri",
};

export function createStatelessMcpServerBackend(options: {
  config: StreamableHttpServerConfig;
  env: Env;
  logger: Logger;
  clientInfo: { name: string; version: string };
  onListChanged?: () => void;
  onSessionNotification?: (user: string, notification: JsonRpcNotificationMessage) => void;
}): McpServerBackend {
  const { config, logger } = options;
  const tokens =
    config.auth === undefined ? undefined : clientCredentialsTokenSource(config.auth, options.env);
  const send = credentialedFetch({ headers: config.headers, tokens, env: options.env });
  let nextId = 1;
  let closed = false;
  const inFlight = new Set<AbortController>();
  let discovered: { at: number; capabilities: Record<string, unknown> } | undefined;
  /** What each user asked for that 2026-07-28 has no request for. */
  const users = new Map<string, UserState>();
  let catalogListen: AbortController | undefined;
  const sweep = setInterval(
    () => {
      const now = performance.now();
      for (const [user, state] of users) {
        if (now - state.lastActive < config.sessions.idle_timeout_ms) continue;
        state.listen?.abort();
        users.delete(user);
      }
    },
    Math.min(60_000, config.sessions.idle_timeout_ms),
  );
  sweep.unref();

  function userState(user: string): UserState {
    let state = users.get(user);
    if (state === undefined) {
      // Bounded like sessions: the least recently active user gives way.
      if (users.size >= config.sessions.max) {
        const [oldest, gone] = users.entries().next().value!;
        gone.listen?.abort();
        users.delete(oldest);
      }
      state = { level: undefined, uris: new Set(), listen: undefined, lastActive: 0 };
    } else {
      users.delete(user);
    }
    users.set(user, state);
    state.lastActive = performance.now();
    return state;
  }

  function envelope(
    params: Record<string, unknown>,
    declared: readonly ClientCapability[],
    level?: string,
    /** The gateway waits for the answer, so the server may run the call as a task. */
    tasks = false,
  ): Record<string, unknown> {
    const meta = isRecord(params._meta) ? params._meta : {};
    const capabilities: Record<string, unknown> = Object.fromEntries(
      declared.map((name) => [name, {}]),
    );
    if (tasks) capabilities.extensions = { [TASKS_EXTENSION_ID]: {} };
    return {
      ...params,
      _meta: {
        ...(level === undefined ? {} : { [META_KEY.logLevel]: level }),
        ...meta,
        [META_KEY.protocolVersion]: STATELESS_VERSION,
        [META_KEY.clientInfo]: options.clientInfo,
        [META_KEY.clientCapabilities]: capabilities,
      },
    };
  }

  /** One POST and its answer. */
  async function post(
    request: SessionRequest,
    params: Record<string, unknown>,
    signal: AbortSignal,
  ): Promise<UpstreamOutcome> {
    const id = nextId++;
    const body = JSON.stringify({ jsonrpc: "2.0", id, method: request.method, params });
    const requestBytes = Buffer.byteLength(body);
    const failed = (reason: UpstreamFailure, status?: number): UpstreamOutcome => ({
      kind: "failure",
      reason,
      requestBytes,
      responseBytes: 0,
      ...(status === undefined ? {} : { status }),
    });
    const headers: Record<string, string> = {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": STATELESS_VERSION,
      "mcp-method": request.method,
      ...request.headers,
    };
    const nameParam = NAME_PARAM[request.method];
    const name = nameParam === undefined ? undefined : params[nameParam];
    if (typeof name === "string") headers["mcp-name"] = encodeHeaderValue(name);

    let response: Response;
    try {
      response = await send(config.url, { method: "POST", headers, body, signal });
    } catch (error) {
      if (signal.aborted) return failed(request.signal?.aborted === true ? "cancelled" : "timeout");
      if (error instanceof MissingCredentialError || error instanceof TokenRequestError) {
        logger.warn({ err: error }, "upstream credentials unavailable");
      } else {
        logger.debug({ err: error }, "upstream request failed");
      }
      return failed("unavailable");
    }
    const type = response.headers.get("content-type") ?? "";
    try {
      if (type.startsWith("text/event-stream") && response.body !== null) {
        return await readStream(response.body, id, request, requestBytes, failed);
      }
      const text = await readBounded(response.body, request.maxResponseBytes);
      if (text === undefined) return failed("too_large");
      const message = text === "" ? undefined : (JSON.parse(text) as unknown);
      const answer = responseOf(message, id);
      if (answer !== undefined) {
        return { ...answer, requestBytes, responseBytes: Buffer.byteLength(text) };
      }
      return failed(response.ok ? "invalid_response" : "http_error", response.status);
    } catch (error) {
      if (signal.aborted) return failed(request.signal?.aborted === true ? "cancelled" : "timeout");
      logger.debug({ err: error }, "upstream answer unreadable");
      return failed("invalid_response", response.status);
    }
  }

  async function readStream(
    body: ReadableStream<Uint8Array>,
    id: number,
    request: SessionRequest,
    requestBytes: number,
    failed: (reason: UpstreamFailure, status?: number) => UpstreamOutcome,
  ): Promise<UpstreamOutcome> {
    const reader = sseMessages(body, request.maxResponseBytes);
    for await (const message of reader) {
      const answer = responseOf(message, id);
      if (answer !== undefined) {
        await body.cancel().catch(() => undefined);
        return { ...answer, requestBytes, responseBytes: reader.bytes };
      }
      const notification = notificationOf(message);
      if (notification !== undefined) request.onNotification?.(notification);
    }
    return failed(reader.bytes > request.maxResponseBytes ? "too_large" : "invalid_response");
  }

  /**
   * Keeps a `subscriptions/listen` stream open with `notifications`, handing each notification
   * (not the acknowledgement) to `deliver`, and opens it again after a drop (1 s, doubling to
   * 30 s) until `controller` aborts. A server that refuses the request is not asked again.
   */
  function keepListening(
    notifications: Record<string, unknown>,
    deliver: (notification: JsonRpcNotificationMessage) => void,
    controller: AbortController,
  ): void {
    const { signal } = controller;
    void (async () => {
      let delayMs = 1_000;
      while (!signal.aborted && !closed) {
        const params = envelope({ notifications }, []);
        const body = JSON.stringify({
          jsonrpc: "2.0",
          id: nextId++,
          method: "subscriptions/listen",
          params,
        });
        try {
          const response = await send(config.url, {
            method: "POST",
            headers: {
              "content-type": "application/json",
              accept: "application/json, text/event-stream",
              "mcp-protocol-version": STATELESS_VERSION,
              "mcp-method": "subscriptions/listen",
            },
            body,
            signal,
          });
          if (!(response.headers.get("content-type") ?? "").startsWith("text/event-stream")) {
            await response.body?.cancel().catch(() => undefined);
            logger.debug({ status: response.status }, "upstream refused subscriptions/listen");
            return;
          }
          for await (const message of sseMessages(response.body!, Number.POSITIVE_INFINITY)) {
            const notification = notificationOf(message);
            if (notification === undefined) continue;
            if (notification.method === "notifications/subscriptions/acknowledged") {
              delayMs = 1_000;
              continue;
            }
            deliver(notification);
          }
        } catch (error) {
          if (signal.aborted) return;
          logger.debug({ err: error }, "upstream listen stream failed");
        }
        await new Promise((resolve) => setTimeout(resolve, delayMs).unref());
        delayMs = Math.min(delayMs * 2, 30_000);
      }
    })();
  }

  /** The user's resource subscriptions, as one listen stream (none when there are none). */
  function relisten(user: string, state: UserState): void {
    state.listen?.abort();
    state.listen = undefined;
    if (state.uris.size === 0 || options.onSessionNotification === undefined) return;
    const controller = new AbortController();
    state.listen = controller;
    const deliver = options.onSessionNotification;
    keepListening(
      { resourceSubscriptions: [...state.uris] },
      (notification) => deliver(user, withoutSubscriptionId(notification)),
      controller,
    );
  }

  /** The requests 2026-07-28 removed, answered here for a 2025 client. */
  function mapped(user: string, request: SessionRequest): UpstreamOutcome | undefined {
    const done = (result: Record<string, unknown> = {}): UpstreamOutcome => ({
      kind: "result",
      result,
      requestBytes: 0,
      responseBytes: 0,
    });
    const invalid = (message: string): UpstreamOutcome => ({
      kind: "rpc_error",
      error: { code: -32602, message },
      requestBytes: 0,
      responseBytes: 0,
    });
    switch (request.method) {
      case "logging/setLevel": {
        const level = request.params.level;
        if (typeof level !== "string" || !LOG_LEVELS.includes(level)) {
          return invalid(`params.level must be one of ${LOG_LEVELS.join(", ")}`);
        }
        userState(user).level = level;
        return done();
      }
      case "resources/subscribe":
      case "resources/unsubscribe": {
        const uri = request.params.uri;
        if (typeof uri !== "string" || uri === "" || uri.length > MAX_URI_LENGTH) {
          return invalid("params.uri must be a resource URI");
        }
        const state = userState(user);
        const subscribe = request.method === "resources/subscribe";
        if (subscribe === state.uris.has(uri)) return done();
        if (subscribe && state.uris.size >= MAX_SUBSCRIPTIONS) {
          return invalid(`At most ${MAX_SUBSCRIPTIONS} resource subscriptions per user`);
        }
        if (subscribe) state.uris.add(uri);
        else state.uris.delete(uri);
        relisten(user, state);
        return done();
      }
      default:
        return undefined;
    }
  }

  /** What a 2025 client answers to the server's `inputRequests`, keyed as the server keyed them. */
  async function gatherInput(
    request: SessionRequest,
    inputRequests: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    const answers = await Promise.all(
      Object.entries(inputRequests).map(async ([key, asked]) => {
        const method = isRecord(asked) && typeof asked.method === "string" ? asked.method : "";
        const askedParams = isRecord(asked) && isRecord(asked.params) ? asked.params : undefined;
        const answer: ServerRequestAnswer = await request.onServerRequest!({
          method,
          params: askedParams,
          key,
        });
        return [key, answer] as const;
      }),
    );
    const inputResponses: Record<string, unknown> = {};
    for (const [key, answer] of answers) {
      // A refused or failed request has no response; the server asks again or gives up.
      if ("result" in answer) inputResponses[key] = answer.result;
    }
    return inputResponses;
  }

  const cannotContinue = (round: number, sizes: Sizes): UpstreamOutcome => ({
    kind: "rpc_error",
    error: {
      code: -32603,
      message:
        round >= MAX_INPUT_ROUNDS
          ? `The server asked for input more than ${MAX_INPUT_ROUNDS} times`
          : "The server needs input this client did not declare it can give",
    },
    ...sizesOf(sizes),
  });

  /**
   * A call the gateway sees through to its end: each InputRequiredResult is answered by asking
   * the client what the server asks (2025 clients) and the call is sent again with the answers
   * and the server's requestState; a task the server chose to run is polled until it ends.
   */
  async function callToEnd(
    request: SessionRequest,
    declared: readonly ClientCapability[],
    level: string | undefined,
    signal: AbortSignal,
  ): Promise<UpstreamOutcome> {
    let params = envelope(request.params, declared, level, request.method === "tools/call");
    for (let round = 0; ; round++) {
      const outcome = await post(request, params, signal);
      if (outcome.kind === "result" && outcome.result.resultType === "task") {
        request.onServerTask?.();
        return awaitTask(request, outcome, declared, level, signal);
      }
      if (outcome.kind !== "result" || outcome.result.resultType !== "input_required") {
        return outcome;
      }
      const { inputRequests, requestState } = outcome.result;
      if (
        request.onServerRequest === undefined ||
        !isRecord(inputRequests) ||
        round >= MAX_INPUT_ROUNDS
      ) {
        return cannotContinue(round, outcome);
      }
      params = {
        ...envelope(request.params, declared, level, true),
        inputResponses: await gatherInput(request, inputRequests),
        ...(requestState === undefined ? {} : { requestState }),
      };
    }
  }

  /**
   * A task the server runs for a call (SEP-2663): polled with tasks/get at the interval it asks
   * for (0.1–10 s), its input requests answered with tasks/update, cancelled with tasks/cancel
   * when the call is abandoned; its result or error is the call's.
   */
  async function awaitTask(
    request: SessionRequest,
    created: UpstreamOutcome & { kind: "result" },
    declared: readonly ClientCapability[],
    level: string | undefined,
    signal: AbortSignal,
  ): Promise<UpstreamOutcome> {
    const taskId = created.result.taskId;
    if (typeof taskId !== "string" || taskId === "") {
      return { kind: "failure", reason: "invalid_response", ...sizesOf(created) };
    }
    const taskRequest = (method: string, extra: Record<string, unknown> = {}) =>
      post(
        { ...request, method, headers: {} },
        envelope({ taskId, ...extra }, declared, level, true),
        signal,
      );
    let pollMs = pollInterval(created.result.pollIntervalMs);
    let rounds = 0;
    for (;;) {
      await pause(pollMs, signal);
      if (signal.aborted) {
        // Abandoned: the server should stop working for nobody.
        void post(
          { ...request, method: "tasks/cancel", headers: {}, signal: undefined },
          envelope({ taskId }, declared, level, true),
          AbortSignal.timeout(5_000),
        ).catch(() => undefined);
        return {
          kind: "failure",
          reason: request.signal?.aborted === true ? "cancelled" : "timeout",
          ...sizesOf(created),
        };
      }
      const got = await taskRequest("tasks/get");
      if (got.kind !== "result") return got;
      const task = got.result;
      pollMs = pollInterval(task.pollIntervalMs ?? pollMs);
      switch (task.status) {
        case "completed":
          return {
            kind: "result",
            result: isRecord(task.result) ? task.result : { content: [] },
            ...sizesOf(got),
          };
        case "failed": {
          const answer = responseOf({ id: 0, error: task.error }, 0);
          return answer?.kind === "rpc_error"
            ? { ...answer, ...sizesOf(got) }
            : { kind: "failure", reason: "invalid_response", ...sizesOf(got) };
        }
        case "cancelled":
          return {
            kind: "rpc_error",
            error: { code: -32603, message: "The server cancelled the task" },
            ...sizesOf(got),
          };
        case "input_required": {
          if (
            request.onServerRequest === undefined ||
            !isRecord(task.inputRequests) ||
            rounds >= MAX_INPUT_ROUNDS
          ) {
            void taskRequest("tasks/cancel").catch(() => undefined);
            return cannotContinue(rounds, got);
          }
          rounds += 1;
          const inputResponses = await gatherInput(request, task.inputRequests);
          const updated = await taskRequest("tasks/update", { inputResponses });
          if (updated.kind !== "result") return updated;
          break;
        }
        default:
          break;
      }
    }
  }

  return {
    async call(user, request, clientCapabilities) {
      if (closed) {
        return { kind: "failure", reason: "unavailable", requestBytes: 0, responseBytes: 0 };
      }
      if (catalogListen === undefined && options.onListChanged !== undefined) {
        catalogListen = new AbortController();
        const onListChanged = options.onListChanged;
        keepListening(
          { toolsListChanged: true },
          (notification) => {
            if (notification.method === "notifications/tools/list_changed") onListChanged();
          },
          catalogListen,
        );
      }
      const answered = mapped(user, request);
      if (answered !== undefined) return answered;
      // A 2026-07-28 client's own level; a 2025 client's from its logging/setLevel.
      const kept = users.get(user) === undefined ? undefined : userState(user).level;
      const level = request.logLevel ?? kept;
      const controller = new AbortController();
      inFlight.add(controller);
      const signal = AbortSignal.any([
        controller.signal,
        AbortSignal.timeout(request.timeoutMs),
        ...(request.signal === undefined ? [] : [request.signal]),
      ]);
      try {
        // A 2026-07-28 client's own declaration travels in its _meta; a 2025 client's is given.
        const declared =
          clientCapabilities ??
          RELAYABLE_CLIENT_CAPABILITIES.filter((name) => {
            const meta = request.params._meta;
            const own = isRecord(meta) ? meta[META_KEY.clientCapabilities] : undefined;
            return isRecord(own) && isRecord(own[name]);
          });
        if (request.relayInputRequired === true) {
          return await post(request, envelope(request.params, declared, level), signal);
        }
        return await callToEnd(request, declared, level, signal);
      } finally {
        inFlight.delete(controller);
      }
    },
    async capabilities() {
      // The server's capabilities are the same for every user: asked once a minute at most.
      if (discovered !== undefined && performance.now() - discovered.at < 60_000) {
        return discovered.capabilities;
      }
      const outcome = await this.call(
        "",
        { method: "server/discover", params: {}, timeoutMs: 10_000, maxResponseBytes: 1_048_576 },
        [],
      );
      if (outcome.kind !== "result" || !isRecord(outcome.result.capabilities)) return undefined;
      discovered = { at: performance.now(), capabilities: outcome.result.capabilities };
      return discovered.capabilities;
    },
    size: () => users.size,
    async close() {
      closed = true;
      clearInterval(sweep);
      catalogListen?.abort();
      for (const state of users.values()) state.listen?.abort();
      users.clear();
      for (const controller of inFlight) controller.abort();
    },
  };
}

type Sizes = { requestBytes: number; responseBytes: number };
const sizesOf = ({ requestBytes, responseBytes }: Sizes): Sizes => ({
  requestBytes,
  responseBytes,
});

/** A server's poll interval, kept between 0.1 and 10 s (1 s when it names none). */
function pollInterval(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value)
    ? Math.min(Math.max(value, 100), 10_000)
    : 1_000;
}

/** Waits `ms`, or less when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

type UserState = {
  /** `logging/setLevel` of a 2025 client, sent as `_meta` on the user's later requests. */
  level: string | undefined;
  /** Resources the user subscribed to, and the listen stream that carries their updates. */
  uris: Set<string>;
  listen: AbortController | undefined;
  lastActive: number;
};

const MAX_SUBSCRIPTIONS = 64;
const MAX_URI_LENGTH = 2048;

function notificationOf(message: unknown): JsonRpcNotificationMessage | undefined {
  return isRecord(message) && typeof message.method === "string" && message.id === undefined
    ? (message as JsonRpcNotificationMessage)
    : undefined;
}

/** A listen stream's notification as a session would have sent it: without the stream's tag. */
function withoutSubscriptionId(
  notification: JsonRpcNotificationMessage,
): JsonRpcNotificationMessage {
  const params = notification.params;
  if (!isRecord(params) || !isRecord(params._meta)) return notification;
  const { [SUBSCRIPTION_ID_META_KEY]: _tag, ...meta } = params._meta;
  const { _meta: _old, ...rest } = params;
  return {
    ...notification,
    params: Object.keys(meta).length === 0 ? rest : { ...rest, _meta: meta },
  };
}

/**
 * The JSON messages of an SSE body, event by event; stops (with `bytes` past `limit`) when the
 * body grows beyond `limit`.
 */
function sseMessages(
  body: ReadableStream<Uint8Array>,
  limit: number,
): AsyncIterable<unknown> & { bytes: number } {
  const reader = {
    bytes: 0,
    async *[Symbol.asyncIterator]() {
      const decoder = new TextDecoder();
      let buffered = "";
      for await (const chunk of body) {
        reader.bytes += chunk.byteLength;
        if (reader.bytes > limit) {
          await body.cancel().catch(() => undefined);
          return;
        }
        buffered += decoder.decode(chunk, { stream: true }).replace(/\r\n?/g, "\n");
        let end: number;
        while ((end = buffered.indexOf("\n\n")) !== -1) {
          const event = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          const data = event
            .split("\n")
            .filter((line) => line.startsWith("data:"))
            .map((line) => line.slice(line.startsWith("data: ") ? 6 : 5))
            .join("\n");
          if (data !== "") yield JSON.parse(data) as unknown;
        }
      }
    },
  };
  return reader;
}

/** The JSON-RPC response with `id` as an outcome; undefined for anything else. */
function responseOf(
  message: unknown,
  id: number,
):
  | { kind: "result"; result: Record<string, unknown> }
  | { kind: "rpc_error"; error: { code: number; message: string; data?: unknown } }
  | undefined {
  if (!isRecord(message) || message.id !== id) return undefined;
  if (isRecord(message.result)) return { kind: "result", result: message.result };
  const error = message.error;
  if (isRecord(error) && typeof error.code === "number" && typeof error.message === "string") {
    return {
      kind: "rpc_error",
      error: {
        code: error.code,
        message: error.message,
        ...(error.data === undefined ? {} : { data: error.data }),
      },
    };
  }
  return undefined;
}

/** The body as text, or undefined when it exceeds `limit` bytes. */
async function readBounded(
  body: ReadableStream<Uint8Array> | null,
  limit: number,
): Promise<string | undefined> {
  if (body === null) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > limit) {
      await body.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}
