import type { VerdictClaims } from "../../../contract/src/verdict.ts";
import {
  jsonResponse,
  type ResponseHeaders,
  type RouterRequest,
  type RouterResponse,
} from "../http-types.ts";
import { authorizeRestCall, restRefusal } from "../rest-call.ts";
import { restError } from "../rest-error.ts";
import type { RouterContext } from "../router-context.ts";
import { jobView, TASK_ID_RE } from "./task-wire.ts";

/**
 * The REST face of tasks: `POST /mcp/invoke {"async": true}` creates one (202), `GET
 * /mcp/jobs/{id}` reads it (with the result once done), `DELETE /mcp/jobs/{id}` cancels it. Same
 * task service, store, ownership and audit as MCP tasks.
 */

export const JOBS_PREFIX = "/mcp/jobs/";

export function jobStatusUrl(id: string): string {
  return `${JOBS_PREFIX}${id}`;
}

export async function startJob(
  ctx: RouterContext,
  input: {
    verdict: VerdictClaims;
    scope: string;
    tool: string;
    arguments: Record<string, unknown> | undefined;
    ttlMs: number | undefined;
    headers: ResponseHeaders;
  },
): Promise<RouterResponse> {
  const { verdict } = input;
  const started = await ctx.tasks.start({
    scope: input.scope,
    tool: input.tool,
    arguments: input.arguments,
    identity: verdict,
    allowedTools: verdict.tools,
    requestId: verdict.requestId,
    ...(input.ttlMs === undefined ? {} : { requestedTtlMs: input.ttlMs }),
    via: "rest",
    logger: ctx.logger.child({ requestId: verdict.requestId, scope: input.scope }),
  });
  if (!started.ok) {
    return restError(started.error, { requestId: verdict.requestId, headers: input.headers });
  }
  const statusUrl = jobStatusUrl(started.task.id);
  return jsonResponse(
    202,
    {
      job_id: started.task.id,
      status_url: statusUrl,
      status: started.task.status,
      request_id: verdict.requestId,
      tool_name: `${input.scope}.${input.tool}`,
      expires_at: started.task.expires_at.toISOString(),
      ...(started.task.poll_interval_ms === null
        ? {}
        : { poll_interval_ms: started.task.poll_interval_ms }),
    },
    { ...input.headers, location: statusUrl },
  );
}

export async function handleRestJob(
  ctx: RouterContext,
  request: RouterRequest,
): Promise<RouterResponse> {
  if (request.method !== "GET" && request.method !== "DELETE") {
    return restRefusal(request, "GW_METHOD_NOT_ALLOWED", { allow: "GET, DELETE" });
  }
  const jobId = request.path.slice(JOBS_PREFIX.length);
  if (!TASK_ID_RE.test(jobId)) return restRefusal(request, "GW_NOT_FOUND");
  const call = await authorizeRestCall(ctx, request, {
    path: "/mcp/jobs",
    message: "request refused before jobs",
  });
  if (!call.ok) return call.response;
  const { verdict, headers, fail } = call;

  if (request.method === "GET") {
    const task = await ctx.tasks.get(jobId, verdict);
    if (task === undefined) return fail("GW_TASK_NOT_FOUND", "Job not found");
    return jsonResponse(200, jobView(task), headers);
  }
  const cancelled = await ctx.tasks.cancel(jobId, verdict, verdict.requestId);
  if (!cancelled.ok) {
    return cancelled.reason === "not_found"
      ? fail("GW_TASK_NOT_FOUND", "Job not found")
      : fail("GW_INVALID_PARAMS", "Job already finished", 409);
  }
  return jsonResponse(200, jobView(cancelled.task), headers);
}
