import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import {
  CallToolRequestSchema,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
  type CallToolResult,
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

/**
 * One SDK `Server` per HTTP request: the documented stateless pattern, so no state leaks between
 * callers. The low-level `Server` is used instead of `McpServer` because McpServer refuses to
 * advertise `execution.taskSupport` unless it also runs its own task store, while here the router
 * runs tasks and this backend only ever serves plain calls.
 */
export function buildMcpServer(
  info: { name: string; version: string },
  tools: ReadonlyMap<string, CompiledTool>,
  identity: RequestIdentity,
  workers?: ToolWorkerPool,
): Server {
  const server = new Server(info, { capabilities: { tools: { listChanged: false } } });
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
    const logger = identity.logger.child({ tool: tool.definition.name });
    return runTool(
      tool,
      request.params.arguments ?? {},
      {
        userId: identity.userId,
        requestId: identity.requestId,
        logger,
        signal: extra.signal,
      },
      workers,
    );
  });
  return server;
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
  context.logger.info({ outcome: "ok", durationMs }, "tool call completed");
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
