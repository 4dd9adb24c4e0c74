import { TOOL_NAME_PATTERN } from "../../../contract/src/mcp-wire.ts";
import { z } from "zod";
import type { ContentBlock, Tool } from "@modelcontextprotocol/sdk/types.js";
import type { Logger } from "pino";

/**
 * Every tool states its hints explicitly; tool servers behind the gateway never reach the open
 * world (no network beyond their own data), so `openWorldHint` is pinned to false.
 */
export interface DeclaredToolAnnotations {
  title?: string;
  readOnlyHint: boolean;
  destructiveHint?: boolean;
  idempotentHint: boolean;
  openWorldHint: false;
}

export type TaskSupport = "forbidden" | "optional" | "required";

/** What a handler knows about the call besides its arguments. */
export interface ToolContext {
  /** `X-User-ID` as forwarded by the router (bound by the X-Gateway-Auth signature). */
  userId: string;
  /** `x-request-id`, the id that joins gateway and tool logs. */
  requestId: string;
  /** Child logger already carrying requestId, userId and tool. */
  logger: Logger;
  /** Aborted when the client goes away or the server shuts down. */
  signal: AbortSignal;
}

/**
 * A tool result is data: either the structured output (plus optional extra content blocks such as
 * an embedded resource) or a tool-level error the model can act on. `error` is shown to the
 * client verbatim, so it must be written by the tool, never copied from an exception.
 */
export type ToolOutcome<O> =
  { ok: true; output: O; content?: ContentBlock[] } | { ok: false; error: string };

export interface ToolDefinition<
  I extends z.ZodObject = z.ZodObject,
  O extends z.ZodObject = z.ZodObject,
> {
  /** 1–128 characters of A-Za-z0-9 _ - . (MCP tool name rule). */
  name: string;
  title?: string;
  description: string;
  inputSchema: I;
  outputSchema: O;
  annotations: DeclaredToolAnnotations;
  /** Advertised in tools/list; the router runs tasks itself, so calls here are always plain. */
  execution?: { taskSupport: TaskSupport };
  /**
   * Set for CPU-heavy tools: a served call then runs this handler on the tool server's worker pool,
   * under its time budget. The worker imports `module` (pass `import.meta.url`) and finds this very
   * definition as its export `exportName`; arguments and outcome must be structured-cloneable.
   */
  worker?: { module: string; exportName: string };
  // Method syntax on purpose: lets a list of tools with different schemas share one array type.
  handler(
    input: z.output<I>,
    context: ToolContext,
  ): ToolOutcome<z.input<O>> | Promise<ToolOutcome<z.input<O>>>;
}

/** Keeps the input/output types of one tool tied together while producing a list-friendly type. */
export function defineTool<I extends z.ZodObject, O extends z.ZodObject>(
  definition: ToolDefinition<I, O>,
): ToolDefinition {
  return definition;
}

export function toolOk<O>(output: O, content?: ContentBlock[]): ToolOutcome<O> {
  return content === undefined ? { ok: true, output } : { ok: true, output, content };
}

export function toolError(error: string): { ok: false; error: string } {
  return { ok: false, error };
}

const TOOL_NAME = TOOL_NAME_PATTERN;

/** A tool with its JSON Schemas computed once at startup. */
export interface CompiledTool {
  definition: ToolDefinition;
  listing: Tool;
}

export function compileTools(tools: readonly ToolDefinition[]): Map<string, CompiledTool> {
  const compiled = new Map<string, CompiledTool>();
  for (const definition of tools) {
    if (!TOOL_NAME.test(definition.name)) {
      throw new Error(`tool name "${definition.name}" must be 1-128 characters of A-Za-z0-9_-.`);
    }
    if (compiled.has(definition.name)) {
      throw new Error(`tool name "${definition.name}" is defined twice`);
    }
    const listing: Tool = {
      name: definition.name,
      description: definition.description,
      inputSchema: objectJsonSchema(definition.inputSchema, "input"),
      outputSchema: objectJsonSchema(definition.outputSchema, "output"),
      annotations: definition.annotations,
    };
    if (definition.title !== undefined) listing.title = definition.title;
    if (definition.execution !== undefined) listing.execution = definition.execution;
    compiled.set(definition.name, { definition, listing });
  }
  return compiled;
}

function objectJsonSchema(
  schema: z.ZodObject,
  io: "input" | "output",
): { type: "object"; [key: string]: unknown } {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: "any" });
  return { ...rest, type: "object" };
}

/** One line per problem, with the path into the arguments, so a model can fix its call. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 10)
    .map((issue) => {
      const path = issue.path.length === 0 ? "(arguments)" : issue.path.map(String).join(".");
      return `${path}: ${issue.message}`;
    })
    .join("; ");
}
