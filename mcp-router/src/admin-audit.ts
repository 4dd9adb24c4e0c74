import type { Kysely } from "kysely";
import {
  AUDIT_QUERY_FIELDS,
  AuditQueryError,
  auditEventJson,
  parseAuditQuery,
  queryAuditEvents,
  type AuditQueryInput,
} from "../../store/src/audit-query.ts";
import type { DB } from "../../store/src/schema.ts";
import type { VerdictClaims } from "../../contract/src/verdict.ts";
import { buildAuditEvent, type RouterOutcome } from "./audit.ts";
import { jsonResponse, type RouterRequest, type RouterResponse } from "./http-types.ts";
import { authorizeRestCall, restRefusal, type RestFail } from "./rest-call.ts";
import type { RouterContext } from "./router-context.ts";

/**
 * `GET /admin/audit`: the audit log for operators, with the filters and keyset pages of `npm run
 * audit -- query` (store/src/audit-query.ts) as query parameters, answered `{events,
 * next_cursor}`. ext-authz lets only tokens with an operator role through (verdict scope
 * `admin`); the router checks the verdict's roles against policy.yaml's `operator_roles` again.
 * Every request that reaches here is audited (kind `admin`) before it is answered.
 */

export const ADMIN_AUDIT_PATH = "/admin/audit";
/** ext-authz's verdict scope for the operators' endpoints (ADMIN_VERDICT_SCOPE there). */
export const ADMIN_VERDICT_SCOPE = "admin";

type Parsed = { ok: true; input: AuditQueryInput } | { ok: false; detail: string };

/** The query string as filters: each known parameter at most once, nothing else. */
function queryParameters(target: string): Parsed {
  const question = target.indexOf("?");
  const params = new URLSearchParams(question === -1 ? "" : target.slice(question + 1));
  const input: Record<string, string> = {};
  const known: readonly string[] = AUDIT_QUERY_FIELDS;
  for (const [name, value] of params) {
    if (!known.includes(name)) {
      return {
        ok: false,
        detail: `unknown parameter "${name}": expected ${AUDIT_QUERY_FIELDS.join(", ")}`,
      };
    }
    if (Object.hasOwn(input, name)) return { ok: false, detail: `parameter "${name}" repeated` };
    input[name] = value;
  }
  return { ok: true, input };
}

export async function handleAdminAudit(
  ctx: RouterContext,
  request: RouterRequest,
  db: Kysely<DB>,
): Promise<RouterResponse> {
  if (request.method !== "GET") {
    return restRefusal(request, "GW_METHOD_NOT_ALLOWED", { allow: "GET" });
  }
  const call = await authorizeRestCall(ctx, request, {
    path: ADMIN_AUDIT_PATH,
    message: "request refused before admin",
  });
  if (!call.ok) return call.response;
  const { verdict, headers, fail } = call;
  const started = Date.now();
  const parsed = queryParameters(request.target);
  const recorded = parsed.ok ? parsed.input : {};
  const audited = (outcome: RouterOutcome, response: RouterResponse, reason?: string) =>
    auditThenAnswer(ctx, fail, verdict, {
      outcome,
      response,
      filters: recorded,
      latencyMs: Date.now() - started,
      ...(reason === undefined ? {} : { reason }),
    });

  // Defence in depth: the verdict must be an admin verdict, for an operator of this policy.yaml.
  const operatorRoles = new Set(ctx.config.policy.operator_roles);
  if (
    verdict.scope !== ADMIN_VERDICT_SCOPE ||
    !verdict.roles.some((role) => operatorRoles.has(role))
  ) {
    return audited(
      "rejected",
      fail(
        "GW_INSUFFICIENT_SCOPE",
        "This endpoint is for operators: the token has no operator role",
      ),
      "operator_role_required",
    );
  }
  if (!parsed.ok)
    return audited("rejected", fail("GW_INVALID_PARAMS", parsed.detail), "invalid_params");
  let query;
  try {
    query = parseAuditQuery(parsed.input);
  } catch (error) {
    if (!(error instanceof AuditQueryError)) throw error;
    return audited("rejected", fail("GW_INVALID_PARAMS", error.message), "invalid_params");
  }
  const page = await queryAuditEvents(db, query);
  return audited(
    "ok",
    jsonResponse(
      200,
      { events: page.events.map(auditEventJson), next_cursor: page.nextCursor },
      { ...headers, "cache-control": "no-store" },
    ),
  );
}

/** The read is stored before its answer leaves; without its row, no data (503). */
async function auditThenAnswer(
  ctx: RouterContext,
  fail: RestFail,
  verdict: VerdictClaims,
  input: {
    outcome: RouterOutcome;
    response: RouterResponse;
    filters: AuditQueryInput;
    latencyMs: number;
    reason?: string;
  },
): Promise<RouterResponse> {
  const { response } = input;
  const body = "body" in response ? response.body : undefined;
  try {
    await ctx.audit.write(
      buildAuditEvent({
        kind: "admin",
        requestId: verdict.requestId,
        identity: verdict,
        scope: null,
        method: "admin/audit",
        tool: null,
        outcome: input.outcome,
        ...(input.reason === undefined ? {} : { rejection: input.reason }),
        status: response.status,
        latencyMs: input.latencyMs,
        responseBytes: body === undefined ? null : Buffer.byteLength(body),
        captured: { arguments: input.filters },
      }),
    );
  } catch (error) {
    ctx.metrics.auditFailures.inc({ reason: "admin" });
    ctx.logger.error({ err: error, requestId: verdict.requestId }, "could not audit an admin read");
    return fail("GW_AUDIT_UNAVAILABLE");
  }
  return response;
}
