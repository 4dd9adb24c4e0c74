import { toolEntry, type ToolsConfig } from "../../config/src/tools-schema.ts";
import {
  AMBIGUOUS_TOOL_NAME_HINT,
  REST_INVOKE_BODY_HINT,
  resolveToolName,
  RestInvokeBodySchema,
  type ToolResolution,
} from "../../contract/src/mcp-wire.ts";
import { jsonResponse, type RouterRequest, type RouterResponse } from "./http-types.ts";
import { authorizeRestCall, restRefusal } from "./rest-call.ts";
import type { RouterContext } from "./router-context.ts";
import { startJob } from "./tasks/rest-jobs.ts";
import { checkTaskEligibility } from "./tasks/task-support.ts";
import { isJsonContentType } from "./transport-checks.ts";

/**
 * `POST /mcp/invoke {tool_name, arguments}`: the REST call kept for scripts. Same verdict, same
 * invokeTool (limits, audit) as MCP tools/call; the answer is plain JSON.
 */

/** tools.yaml's names resolved by the rule ext-authz applies before it signs the verdict. */
export function resolveRestToolName(tools: ToolsConfig, toolName: string): ToolResolution {
  const has = (scope: string, tool: string): boolean =>
    Object.hasOwn(tools.scopes, scope) && toolEntry(tools.scopes[scope], tool) !== undefined;
  // A bare name resolves to the scopes that list it; a discovering scope's tools need theirs.
  const lists = (scope: string, tool: string): boolean =>
    tools.scopes[scope]!.tools.some((entry) => entry.name === tool);
  return resolveToolName(toolName, has, (tool) =>
    Object.keys(tools.scopes).filter((scope) => lists(scope, tool)),
  );
}

export async function handleRestInvoke(
  ctx: RouterContext,
  request: RouterRequest,
): Promise<RouterResponse> {
  if (request.method !== "POST") {
    return restRefusal(request, "GW_METHOD_NOT_ALLOWED", { allow: "POST" });
  }
  const call = await authorizeRestCall(ctx, request, {
    path: request.path,
    message: "request refused before invoke",
  });
  if (!call.ok) return call.response;
  const { verdict, headers, fail } = call;

  if (!isJsonContentType(request.headers["content-type"])) return fail("GW_UNSUPPORTED_MEDIA_TYPE");
  let raw: unknown;
  try {
    raw = JSON.parse(call.body.toString("utf8"));
  } catch {
    return fail("GW_PARSE_ERROR");
  }
  // The codes and texts ext-authz answers for the same body, so either refusal reads the same.
  const parsed = RestInvokeBodySchema.safeParse(raw);
  if (!parsed.success) return fail("GW_INVALID_REQUEST", REST_INVOKE_BODY_HINT);
  if (parsed.data.ttl_ms !== undefined && parsed.data.async !== true) {
    return fail("GW_INVALID_PARAMS", "ttl_ms applies to async invocations only");
  }
  const resolved = resolveRestToolName(ctx.config.tools, parsed.data.tool_name);
  if (resolved.kind === "ambiguous") return fail("GW_INVALID_REQUEST", AMBIGUOUS_TOOL_NAME_HINT);
  if (resolved.kind === "unknown")
    return fail("GW_UNKNOWN_TOOL", `Unknown tool: ${parsed.data.tool_name}`);
  // The verdict covers one scope; it must be the scope of the tool actually called.
  if (verdict.scope !== resolved.scope) {
    ctx.metrics.authzRejections.inc({ reason: "verdict_scope_mismatch" });
    return fail("GW_VERDICT_INVALID");
  }

  const eligibility = await checkTaskEligibility(ctx, {
    scope: resolved.scope,
    toolName: resolved.tool,
    arguments: parsed.data.arguments,
    allowedTools: verdict.tools,
  });
  // A call invokeTool would refuse is refused (and audited) there, async or not.
  if (eligibility.ok) {
    if (parsed.data.async === true && eligibility.support === "forbidden") {
      return fail("GW_INVALID_PARAMS", "This tool cannot run as a job: call it without async");
    }
    if (parsed.data.async !== true && eligibility.support === "required") {
      return fail("GW_INVALID_PARAMS", "This tool runs as a job only: send async: true");
    }
    if (parsed.data.async === true) {
      return startJob(ctx, {
        verdict,
        scope: resolved.scope,
        tool: resolved.tool,
        arguments: parsed.data.arguments,
        ttlMs: parsed.data.ttl_ms,
        headers,
      });
    }
  }

  const result = await ctx.invokeTool({
    scope: resolved.scope,
    toolName: resolved.tool,
    arguments: parsed.data.arguments,
    identity: verdict,
    allowedTools: verdict.tools,
    requestId: verdict.requestId,
    via: "rest",
    signal: request.signal,
    logger: ctx.logger,
  });
  if (!result.ok) return fail(result.error, result.detail);
  return jsonResponse(
    200,
    {
      request_id: verdict.requestId,
      tool_name: `${resolved.scope}.${resolved.tool}`,
      is_error: result.result.isError === true,
      result: result.result,
    },
    headers,
  );
}
