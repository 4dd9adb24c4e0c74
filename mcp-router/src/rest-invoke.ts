import { z } from "zod";
import { GATEWAY_ERRORS, type GatewayErrorCode } from "../../contract/src/errors.ts";
import { HEADER } from "../../contract/src/headers.ts";
import type { VerdictClaims } from "../../contract/src/verdict.ts";
import type { ToolsConfig } from "../../config/src/tools-schema.ts";
import {
  jsonResponse,
  type ResponseHeaders,
  type RouterRequest,
  type RouterResponse,
} from "./http-types.ts";
import type { RouterContext } from "./router-context.ts";
import { startJob } from "./tasks/rest-jobs.ts";
import { checkTaskEligibility } from "./tasks/task-support.ts";
import { isJsonContentType, isOriginAllowed } from "./transport-checks.ts";

/**
 * `POST /mcp/invoke {tool_name, arguments}`: the REST call kept for scripts. Same verdict, same
 * invokeTool (limits, audit) as MCP tools/call; the answer is plain JSON.
 */

export const InvokeBodySchema = z.strictObject({
  tool_name: z.string().min(1).max(200),
  arguments: z.record(z.string(), z.unknown()).optional(),
  /** Background execution: answered 202 with a job to poll at `/mcp/jobs/{id}`. */
  async: z.boolean().optional(),
  /** Job lifetime (async only), bounded by tools.yaml `tasks.max_ttl_ms`. */
  ttl_ms: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
});
export type InvokeBody = z.infer<typeof InvokeBodySchema>;

/** REST statuses for the errors whose JSON-RPC form travels on HTTP 200. */
const REST_STATUS: Partial<Record<GatewayErrorCode, number>> = {
  GW_UNKNOWN_TOOL: 404,
  GW_INVALID_PARAMS: 400,
  GW_TOOL_PENDING_APPROVAL: 409,
  GW_UPSTREAM_TIMEOUT: 504,
  GW_UPSTREAM_UNAVAILABLE: 502,
  GW_UPSTREAM_RESPONSE_TOO_LARGE: 502,
  GW_UPSTREAM_INVALID: 502,
  GW_METHOD_NOT_FOUND: 404,
  GW_TASK_NOT_FOUND: 404,
};

export function restStatus(code: GatewayErrorCode): number {
  const status = REST_STATUS[code] ?? GATEWAY_ERRORS[code].httpStatus;
  return status === 200 ? 500 : status;
}

export function restError(
  code: GatewayErrorCode,
  options: { detail?: string; requestId?: string; headers?: ResponseHeaders; status?: number } = {},
): RouterResponse {
  return jsonResponse(
    options.status ?? restStatus(code),
    {
      error: { code, message: options.detail ?? GATEWAY_ERRORS[code].message },
      ...(options.requestId === undefined ? {} : { request_id: options.requestId }),
    },
    options.headers,
  );
}

export type RestFail = (code: GatewayErrorCode, detail?: string, status?: number) => RouterResponse;

export type AuthorizedRestCall =
  | {
      ok: true;
      body: Buffer;
      verdict: VerdictClaims;
      /** Sent on every answer: the authorizer's headers and the request id. */
      headers: ResponseHeaders;
      /** A REST error carrying the request id and those headers. */
      fail: RestFail;
    }
  | { ok: false; response: RouterResponse };

/**
 * What every REST route does before its own work: read the body, check the verdict (its scope is
 * checked by the route once it knows the tool), then the Origin.
 */
export async function authorizeRestCall(
  ctx: RouterContext,
  request: RouterRequest,
  log: { path: string; message: string },
): Promise<AuthorizedRestCall> {
  const read = await request.readBody();
  if (!read.ok) return { ok: false, response: restError("GW_PAYLOAD_TOO_LARGE") };
  const auth = await ctx.authorizer.authorize({
    request,
    body: read.body,
    // A scope-bound route (Envoy context_extensions) or the "rest" verdict scope: both valid here.
    scope: undefined,
    contextExtensions: {},
  });
  if (!auth.ok) {
    ctx.metrics.authzRejections.inc({ reason: auth.reason });
    ctx.logger.info({ path: log.path, reason: auth.reason }, log.message);
    return { ok: false, response: auth.response };
  }
  const { verdict } = auth;
  const headers = { ...auth.responseHeaders, [HEADER.requestId]: verdict.requestId };
  const fail: RestFail = (code, detail, status) =>
    restError(code, {
      requestId: verdict.requestId,
      headers,
      ...(detail === undefined ? {} : { detail }),
      ...(status === undefined ? {} : { status }),
    });
  if (!isOriginAllowed(request.headers.origin, ctx.allowedOrigins)) {
    return { ok: false, response: fail("GW_ORIGIN_FORBIDDEN") };
  }
  return { ok: true, body: read.body, verdict, headers, fail };
}

/**
 * `scope.tool` when the prefix names a scope that lists the rest, else a bare name that exactly
 * one scope lists (the same resolution ext-authz applies before it signs the verdict).
 */
export function resolveToolName(
  tools: ToolsConfig,
  toolName: string,
): { kind: "found"; scope: string; tool: string } | { kind: "unknown" } | { kind: "ambiguous" } {
  const dot = toolName.indexOf(".");
  if (dot > 0) {
    const scope = toolName.slice(0, dot);
    const tool = toolName.slice(dot + 1);
    if (tools.scopes[scope]?.tools.some((entry) => entry.name === tool))
      return { kind: "found", scope, tool };
  }
  const owners = Object.entries(tools.scopes).filter(([, scope]) =>
    scope.tools.some((entry) => entry.name === toolName),
  );
  if (owners.length === 1) return { kind: "found", scope: owners[0]![0], tool: toolName };
  return owners.length === 0 ? { kind: "unknown" } : { kind: "ambiguous" };
}

export async function handleRestInvoke(
  ctx: RouterContext,
  request: RouterRequest,
): Promise<RouterResponse> {
  if (request.method !== "POST") {
    return restError("GW_METHOD_NOT_ALLOWED", { headers: { allow: "POST" } });
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
  const parsed = InvokeBodySchema.safeParse(raw);
  if (!parsed.success) {
    return fail(
      "GW_INVALID_PARAMS",
      "Body must be {tool_name: string, arguments?: object, async?: boolean, ttl_ms?: integer}",
    );
  }
  if (parsed.data.ttl_ms !== undefined && parsed.data.async !== true) {
    return fail("GW_INVALID_PARAMS", "ttl_ms applies to async invocations only");
  }
  const resolved = resolveToolName(ctx.config.tools, parsed.data.tool_name);
  if (resolved.kind === "ambiguous")
    return fail("GW_INVALID_PARAMS", "tool_name is ambiguous: use <scope>.<tool>");
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
