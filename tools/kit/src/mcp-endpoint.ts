import type { IncomingHttpHeaders } from "node:http";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { MAX_BATCH_SIZE } from "@modelcontextprotocol/sdk/server/requestBody.js";
import { safeParse } from "@modelcontextprotocol/sdk/server/zod-compat.js";
import { isJsonContentType } from "@modelcontextprotocol/sdk/shared/mediaType.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import {
  CallToolRequestSchema,
  CallToolResultSchema,
  ErrorCode,
  isInitializeRequest,
  isJSONRPCRequest,
  JSONRPCMessageSchema,
  ListToolsRequestSchema,
  McpError,
  SUPPORTED_PROTOCOL_VERSIONS,
  type CallToolResult,
  type JSONRPCMessage,
  type JSONRPCRequest,
  type RequestId,
} from "@modelcontextprotocol/sdk/types.js";
import type { Logger } from "pino";
import {
  describeIssues,
  type CompiledTool,
  type ToolContext,
  type ToolOutcome,
} from "./tool-definition.ts";
import type { ToolWorkerPool, WorkerRun } from "./worker-pool.ts";

export interface RequestIdentity {
  userId: string;
  requestId: string;
  logger: Logger;
}

/** One authenticated POST /mcp, its body already parsed. */
export interface McpPost {
  headers: IncomingHttpHeaders;
  message: unknown;
  identity: RequestIdentity;
  /** Aborted when the HTTP exchange ends before the answer: the client left or the server stops. */
  signal: AbortSignal;
}

/** What to write back: JSON with a status, 202 without a body, or nothing (the caller left). */
export type McpAnswer =
  { kind: "json"; status: number; body: string } | { kind: "accepted" } | { kind: "cancelled" };

export interface McpEndpoint {
  /** Answers one POST. */
  handle(post: McpPost): Promise<McpAnswer>;
  /** Requests handed to the SDK server and neither answered nor cancelled yet. */
  inFlight(): number;
  /** Aborts what still runs and disconnects the SDK server. */
  close(): Promise<void>;
}

interface PendingCall {
  identity: RequestIdentity;
  callerId: RequestId;
  answer(message: JSONRPCMessage): void;
  cancel(): void;
}

/**
 * Answers stateless Streamable HTTP POSTs (JSON responses, no sessions, no server→client stream)
 * exactly as a fresh SDK `Server` plus `StreamableHTTPServerTransport` per request did, without
 * their per-request cost: a new Ajv instance, Node↔Web stream adapters, and an McpError with a
 * stack trace on every close.
 *
 * The transport rules (Accept, Content-Type, batch size, message shape, one initialize per POST,
 * MCP-Protocol-Version) are the SDK transport's, with its constants and schemas. Behind them:
 *
 * - A well-formed `tools/call` of a known tool, without task augmentation, is run here: parsed
 *   with the SDK's CallToolRequestSchema, its result checked with CallToolResultSchema and shaped
 *   as the SDK's Server and Protocol shape it. That is nearly every request a backend sees, and
 *   the SDK's dispatch around it costs more than the calculator's arithmetic.
 * - Everything else (initialize, ping, tools/list, unknown methods and tools, malformed params,
 *   task augmentation) goes to one SDK `Server` built for the life of the tool server, so every
 *   rarer answer and error is the SDK's own. Its `Protocol` serves many requests in flight on one
 *   transport as long as their ids are unique there; callers may all use the same id (the router
 *   always sends 1), so each request gets a private id on the way in and its own id back on the
 *   way out, and the call's identity is found by the private id. What `initialize` leaves on the
 *   shared server (the client's capabilities) matters only to a server that sends requests to
 *   clients; this one sends none.
 *
 * A client's notifications and responses are acknowledged and dropped, never handed to the shared
 * server: a caller must not be able to cancel (or answer) another caller's request. A stateless
 * backend has no use for them: `initialized` and `progress` mean nothing to a server that never
 * sends requests, and `cancelled` could only name a request of the same POST.
 *
 * The low-level `Server` is used instead of `McpServer` because McpServer refuses to advertise
 * `execution.taskSupport` unless it also runs its own task store, while here the router runs tasks
 * and this backend only ever serves plain calls.
 */
export function createMcpEndpoint(options: {
  info: { name: string; version: string };
  tools: ReadonlyMap<string, CompiledTool>;
  logger: Logger;
  workers?: ToolWorkerPool;
}): McpEndpoint {
  const { tools, workers } = options;
  const server = new Server(options.info, { capabilities: { tools: { listChanged: false } } });
  const calls = new Map<RequestId, PendingCall>();
  let nextId = 1;
  let closed = false;

  const transport: Transport = {
    start: () => Promise.resolve(),
    close() {
      transport.onclose?.();
      return Promise.resolve();
    },
    send(message) {
      // Progress and log notifications have no place in a JSON response (nor had they before).
      if (
        "id" in message &&
        message.id !== undefined &&
        ("result" in message || "error" in message)
      ) {
        const call = calls.get(message.id);
        if (call !== undefined) {
          calls.delete(message.id);
          call.answer({ ...message, id: call.callerId });
        }
      }
      return Promise.resolve();
    },
  };

  const callContext = (
    tool: CompiledTool,
    identity: RequestIdentity,
    signal: AbortSignal,
  ): ToolContext => ({
    userId: identity.userId,
    requestId: identity.requestId,
    logger: identity.logger.child({ tool: tool.definition.name }),
    signal,
  });

  const listing = [...tools.values()].map((tool) => tool.listing);
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: listing }));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const tool = tools.get(request.params.name);
    if (tool === undefined) {
      throw new McpError(
        ErrorCode.InvalidParams,
        `Unknown tool: ${request.params.name.slice(0, 128)}`,
      );
    }
    // Plain calls of known tools are run directly (callDirectly); this path stays complete so
    // that whatever reaches the SDK is still served as before. No entry: the caller has gone and
    // the answer would be dropped anyway.
    const call = calls.get(extra.requestId);
    if (call === undefined) return cancelledResult(tool.definition.name);
    const args = request.params.arguments ?? {};
    return runTool(tool, args, callContext(tool, call.identity, extra.signal), workers);
  });
  server.onerror = (error) => options.logger.debug({ err: error }, "mcp server error");
  let connected = false;
  const connecting = server.connect(transport).then(() => {
    connected = true;
  });

  /** Hands one request to the SDK server; resolves with its answer, or undefined if cancelled. */
  function viaServer(
    request: JSONRPCRequest,
    identity: RequestIdentity,
    signal: AbortSignal,
  ): Promise<JSONRPCMessage | undefined> {
    if (signal.aborted || closed) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const id = nextId++;
      const cancel = (): void => {
        if (!calls.delete(id)) return;
        resolve(undefined);
        // The protocol's own cancellation: it aborts the handler's signal and drops whatever the
        // handler still returns. No reason, so the signal's reason is the standard AbortError,
        // as when a per-request server was closed.
        transport.onmessage?.({
          jsonrpc: "2.0",
          method: "notifications/cancelled",
          params: { requestId: id },
        });
      };
      calls.set(id, {
        identity,
        callerId: request.id,
        answer(message) {
          signal.removeEventListener("abort", cancel);
          resolve(message);
        },
        cancel,
      });
      signal.addEventListener("abort", cancel, { once: true });
      transport.onmessage?.({ ...request, id });
    });
  }

  /** A well-formed tools/call of a known tool without task augmentation, or undefined. */
  function plainToolCall(
    request: JSONRPCRequest,
  ): { tool: CompiledTool; args: Record<string, unknown> } | undefined {
    if (request.method !== "tools/call") return undefined;
    if (request.params !== undefined && "task" in request.params) return undefined;
    const parsed = safeParse(CallToolRequestSchema, request);
    if (!parsed.success) return undefined;
    const tool = tools.get(parsed.data.params.name);
    return tool === undefined ? undefined : { tool, args: parsed.data.params.arguments ?? {} };
  }

  /**
   * A plain tools/call answered as the SDK's Server (result validated against
   * CallToolResultSchema) and Protocol (response and error shape; nothing once the caller is gone)
   * would answer it.
   */
  async function callDirectly(
    call: { tool: CompiledTool; args: Record<string, unknown> },
    id: RequestId,
    identity: RequestIdentity,
    signal: AbortSignal,
  ): Promise<JSONRPCMessage | undefined> {
    try {
      const result = await runTool(
        call.tool,
        call.args,
        callContext(call.tool, identity, signal),
        workers,
      );
      const checked = safeParse(CallToolResultSchema, result);
      if (!checked.success) {
        const problem =
          checked.error instanceof Error ? checked.error.message : String(checked.error);
        throw new McpError(ErrorCode.InvalidParams, `Invalid tools/call result: ${problem}`);
      }
      if (signal.aborted) return undefined;
      return { result: checked.data, jsonrpc: "2.0", id };
    } catch (error) {
      if (signal.aborted) return undefined;
      return errorResponse(id, error);
    }
  }

  function dispatch(
    request: JSONRPCRequest,
    identity: RequestIdentity,
    signal: AbortSignal,
  ): Promise<JSONRPCMessage | undefined> {
    if (signal.aborted || closed) return Promise.resolve(undefined);
    const call = plainToolCall(request);
    return call === undefined
      ? viaServer(request, identity, signal)
      : callDirectly(call, request.id, identity, signal);
  }

  return {
    async handle({ headers, message, identity, signal }) {
      if (!connected) await connecting;
      const accept = headers.accept;
      if (!accept?.includes("application/json") || !accept.includes("text/event-stream")) {
        return transportError(
          406,
          -32000,
          "Not Acceptable: Client must accept both application/json and text/event-stream",
        );
      }
      if (!isJsonContentType(headers["content-type"])) {
        return transportError(
          415,
          -32000,
          "Unsupported Media Type: Content-Type must be application/json",
        );
      }
      if (Array.isArray(message) && message.length > MAX_BATCH_SIZE) {
        return transportError(
          400,
          -32600,
          `Invalid Request: Batch must not exceed ${MAX_BATCH_SIZE} messages`,
        );
      }
      let messages: JSONRPCMessage[];
      try {
        messages = Array.isArray(message)
          ? message.map((item) => JSONRPCMessageSchema.parse(item))
          : [JSONRPCMessageSchema.parse(message)];
      } catch {
        return transportError(400, -32700, "Parse error: Invalid JSON-RPC message");
      }
      // The method test first spares every other message a failing schema parse.
      const initializing = messages.some(
        (item) => "method" in item && item.method === "initialize" && isInitializeRequest(item),
      );
      if (initializing) {
        if (messages.length > 1) {
          return transportError(
            400,
            -32600,
            "Invalid Request: Only one initialization request is allowed",
          );
        }
      } else {
        // Node joins repeated custom headers with ", ", as the Fetch API does.
        const version = joined(headers["mcp-protocol-version"]);
        if (version !== undefined && !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) {
          return transportError(
            400,
            -32000,
            `Bad Request: Unsupported protocol version: ${version} (supported versions: ${SUPPORTED_PROTOCOL_VERSIONS.join(", ")})`,
          );
        }
      }
      const requests = messages.filter(isJSONRPCRequest);
      if (requests.length === 0) return { kind: "accepted" };
      const answers = await Promise.all(
        requests.map((request) => dispatch(request, identity, signal)),
      );
      if (answers.some((answer) => answer === undefined)) return { kind: "cancelled" };
      return {
        kind: "json",
        status: 200,
        body: JSON.stringify(answers.length === 1 ? answers[0] : answers),
      };
    },
    inFlight: () => calls.size,
    async close() {
      if (closed) return;
      closed = true;
      for (const call of [...calls.values()]) call.cancel();
      await connecting;
      await server.close();
    },
  };
}

/** A handler's failure as the SDK's Protocol words it. */
function errorResponse(id: RequestId, error: unknown): JSONRPCMessage {
  const { code, message, data } = (error ?? {}) as {
    code?: unknown;
    message?: unknown;
    data?: unknown;
  };
  return {
    jsonrpc: "2.0",
    id,
    error: {
      code: Number.isSafeInteger(code) ? (code as number) : ErrorCode.InternalError,
      message: typeof message === "string" ? message : "Internal error",
      ...(data !== undefined && { data }),
    },
  };
}

function joined(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(", ") : value;
}

/** The transport's own refusals: id null, as the SDK's Streamable HTTP transport words them. */
function transportError(status: number, code: number, message: string): McpAnswer {
  return {
    kind: "json",
    status,
    body: JSON.stringify({ jsonrpc: "2.0", error: { code, message }, id: null }),
  };
}

/**
 * Validates, runs and shapes one call exactly as tools/call does (exported for in-process tests).
 * A tool that declares `worker` runs on the pool `workers` gives, when one is given; without a
 * pool every handler runs inline.
 */
export async function runTool(
  tool: CompiledTool,
  args: unknown,
  context: ToolContext,
  workers?: ToolWorkerPool,
): Promise<CallToolResult> {
  const { definition } = tool;
  const parsed = definition.inputSchema.safeParse(args);
  if (!parsed.success) {
    context.logger.info({ outcome: "invalid_arguments" }, "tool call rejected");
    return errorResult(
      `Invalid arguments for tool ${definition.name}: ${describeIssues(parsed.error)}`,
    );
  }
  // Nobody is waiting for the answer: no work starts, and a finished result is dropped.
  if (context.signal.aborted) {
    context.logger.info({ outcome: "cancelled" }, "tool call cancelled before it started");
    return cancelledResult(definition.name);
  }
  const started = performance.now();
  let outcome: ToolOutcome<unknown>;
  if (definition.worker !== undefined && workers !== undefined) {
    const run = await workers.run(
      {
        ...definition.worker,
        tool: definition.name,
        input: parsed.data,
        userId: context.userId,
        requestId: context.requestId,
        log: { level: context.logger.level, bindings: context.logger.bindings() },
      },
      context.signal,
    );
    if (!run.ok) return workerFailure(definition.name, run, workers.settings.budgetMs, context);
    outcome = run.outcome;
  } else {
    try {
      outcome = await definition.handler(parsed.data, context);
    } catch (error) {
      // The exception text stays in the log: it may hold paths or internals.
      context.logger.error({ err: error }, "tool handler threw");
      return errorResult(`Tool ${definition.name} failed with an internal error`);
    }
  }
  const durationMs = Math.round(performance.now() - started);
  if (context.signal.aborted) {
    context.logger.info(
      { outcome: "cancelled", durationMs },
      "tool call cancelled; result dropped",
    );
    return cancelledResult(definition.name);
  }
  if (!outcome.ok) {
    context.logger.info({ outcome: "tool_error", durationMs }, "tool call failed");
    return errorResult(outcome.error);
  }
  const checked = definition.outputSchema.safeParse(outcome.output);
  if (!checked.success) {
    context.logger.error(
      { outcome: "invalid_output", issues: describeIssues(checked.error) },
      "tool produced output that does not match its outputSchema",
    );
    return errorResult(`Tool ${definition.name} failed with an internal error`);
  }
  // At info the HTTP layer's one "mcp request" line per call (tool, status, duration) says it;
  // a second line for every successful call was a tenth of a tool server's CPU under load.
  context.logger.debug({ outcome: "ok", durationMs }, "tool call completed");
  const structuredContent = checked.data;
  return {
    content: [
      { type: "text", text: JSON.stringify(structuredContent) },
      ...(outcome.content ?? []),
    ],
    structuredContent,
  };
}

function workerFailure(
  name: string,
  run: Exclude<WorkerRun, { ok: true }>,
  budgetMs: number,
  context: ToolContext,
): CallToolResult {
  switch (run.reason) {
    case "over_budget":
      context.logger.warn(
        { outcome: "over_budget", durationMs: run.durationMs, budgetMs },
        "tool call stopped: time budget exceeded, worker terminated",
      );
      return errorResult(
        `Tool ${name} exceeded its time budget of ${budgetMs} ms and was stopped; shorten or simplify the input`,
      );
    case "cancelled":
      context.logger.info({ outcome: "cancelled" }, "tool call cancelled; worker stopped");
      return cancelledResult(name);
    case "queue_full":
      context.logger.warn({ outcome: "busy" }, "tool call refused: worker queue full");
      return errorResult(`Tool ${name} is busy: too many calls are waiting; retry later`);
    case "failed":
      context.logger.error({ err: run.error }, "tool worker failed");
      return errorResult(`Tool ${name} failed with an internal error`);
  }
}

/** Never reaches the client that left; shaped like any other result for in-process callers. */
function cancelledResult(name: string): CallToolResult {
  return errorResult(
    `Tool ${name} was cancelled: the client went away or the server is shutting down`,
  );
}

function errorResult(message: string): CallToolResult {
  return { content: [{ type: "text", text: message }], isError: true };
}
