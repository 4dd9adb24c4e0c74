import { TOOL_NAME_RE } from "../../../config/src/tool-pattern.ts";
import { toolEntry, type ToolEntry } from "../../../config/src/tools-schema.ts";
import { isToolAllowed } from "../verdict-access.ts";
import type { RouterContext } from "../router-context.ts";
import { isRecord } from "./task-wire.ts";

/**
 * Whether a tool may, must or must not run as a task. tools.yaml `task_support` wins (the
 * operator decides what the gateway runs in the background); otherwise the backend's
 * `execution.taskSupport`; otherwise `forbidden`, the MCP default.
 */
export type TaskSupport = "forbidden" | "optional" | "required";

const TASK_SUPPORT_VALUES: readonly string[] = ["forbidden", "optional", "required"];
/** v1 meta-tools; never tools (invokeTool refuses them too). */
const REMOVED_META_TOOLS = new Set(["find_tools", "call_tool"]);

export function effectiveTaskSupport(
  toolConfig: Pick<ToolEntry, "task_support"> | undefined,
  definition: Record<string, unknown> | undefined,
): TaskSupport {
  if (toolConfig?.task_support !== undefined) return toolConfig.task_support;
  const execution = definition?.execution;
  const declared = isRecord(execution) ? execution.taskSupport : undefined;
  return typeof declared === "string" && TASK_SUPPORT_VALUES.includes(declared)
    ? (declared as TaskSupport)
    : "forbidden";
}

/** The definition served to 2025 clients: `execution.taskSupport` says what the gateway does. */
export function withTaskSupport(
  definition: Record<string, unknown>,
  toolConfig: Pick<ToolEntry, "task_support"> | undefined,
): Record<string, unknown> {
  const support = effectiveTaskSupport(toolConfig, definition);
  const execution = definition.execution;
  if (support === "forbidden" && execution === undefined) return definition;
  return {
    ...definition,
    execution: { ...(isRecord(execution) ? execution : {}), taskSupport: support },
  };
}

export type TaskEligibility =
  | { ok: true; tool: string; support: TaskSupport }
  /** invokeTool will refuse this call; let it (it answers and audits the refusal). */
  | { ok: false };

/**
 * The checks invokeTool applies before forwarding, run up front so a task is only created for a
 * call that would be forwarded. Every refusal here is also a refusal in invokeTool.
 */
export async function checkTaskEligibility(
  ctx: RouterContext,
  input: { scope: string; toolName: unknown; arguments: unknown; allowedTools: readonly string[] },
): Promise<TaskEligibility> {
  const name = input.toolName;
  if (typeof name !== "string" || !TOOL_NAME_RE.test(name) || REMOVED_META_TOOLS.has(name)) {
    return { ok: false };
  }
  const toolConfig = toolEntry(ctx.config.tools.scopes[input.scope], name);
  if (toolConfig?.enabled !== true || !isToolAllowed(input.allowedTools, input.scope, name)) {
    return { ok: false };
  }
  if (input.arguments !== undefined && !isRecord(input.arguments)) return { ok: false };
  const catalog = await ctx.catalog.get(input.scope);
  if (!catalog.ok) return { ok: false };
  const entry = catalog.tools.get(name);
  if (entry === undefined || !entry.callable) return { ok: false };
  return { ok: true, tool: name, support: effectiveTaskSupport(toolConfig, entry.definition) };
}
