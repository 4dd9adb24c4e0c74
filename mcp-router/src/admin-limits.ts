import { verifyAdminView, type QuotaUsageCounter } from "../../contract/src/admin-view.ts";
import { runAdminEndpoint, type AdminCall } from "./admin-access.ts";
import type { AdminLimits, LimitCounter } from "./admin-wire.ts";
import type { RouterRequest, RouterResponse } from "./http-types.ts";
import type { RouterContext } from "./router-context.ts";

/**
 * `GET /admin/limits`: the busiest rate-limit counters (per user, per tool, per user and tool).
 * ext-authz holds them, not the router: its allow of this request carries them as a signed view
 * (contract/src/admin-view.ts), behind Envoy and in direct mode alike. On Redis the counts are
 * every replica's; the counters listed are those the answering ext-authz replica spent recently
 * (docs/console.md, Limits).
 */

export const ADMIN_LIMITS_PATH = "/admin/limits";

const decode = (part: string): string => {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
};

/** Counter keys (ext-authz/src/policy/quota.ts): `tenant/subject`, `scope.tool`, `tenant/subject/scope.tool`. */
export function limitCounter(counter: QuotaUsageCounter): LimitCounter {
  const parts = counter.key.split("/");
  const user =
    counter.kind === "tool" ? undefined : { tenant: parts[0] ?? "", subject: parts[1] ?? "" };
  const tool =
    counter.kind === "user" ? null : counter.kind === "tool" ? counter.key : (parts[2] ?? null);
  return {
    kind: counter.kind,
    tenant: user === undefined || user.tenant === "" ? null : decode(user.tenant),
    user: user === undefined ? null : decode(user.subject),
    tool,
    used: counter.used,
    limit: counter.limit,
    share: counter.limit > 0 ? Math.min(1, counter.used / counter.limit) : 0,
    window_seconds: counter.window_seconds,
    reset_in_ms: counter.reset_in_ms,
  };
}

const unavailable = (reason: string): AdminLimits => ({
  available: false,
  reason,
  taken_at: null,
  store: null,
  degraded: false,
  tracked: 0,
  counters: [],
});

/** Why a view is missing or refused, in the words an operator reads on the page. */
export function viewProblem(ctx: RouterContext, call: AdminCall, reason: string): string {
  if (reason !== "missing") {
    ctx.logger.warn({ requestId: call.verdict.requestId, reason }, "admin view refused");
    return "the data ext-authz sent with this request did not verify (is GATEWAY_VERDICT_KEY the same on both?)";
  }
  return "ext-authz sent no data with this request (an ext-authz older than this router?)";
}

export function handleAdminLimits(
  ctx: RouterContext,
  request: RouterRequest,
  verdictKey: string,
): Promise<RouterResponse> {
  return runAdminEndpoint(ctx, request, { method: "GET", audit: "admin/limits" }, async (call) => {
    const view = verifyAdminView(call.adminView, "limits", verdictKey, call.verdict.requestId);
    if (!view.ok) {
      return { outcome: "ok", response: call.ok(unavailable(viewProblem(ctx, call, view.reason))) };
    }
    if ("unavailable" in view.payload) {
      return { outcome: "ok", response: call.ok(unavailable(view.payload.unavailable)) };
    }
    const snapshot = view.payload.limits;
    const limits: AdminLimits = {
      available: true,
      reason: null,
      taken_at: snapshot.taken_at,
      store: snapshot.store,
      degraded: snapshot.degraded,
      tracked: snapshot.tracked,
      counters: snapshot.counters.map(limitCounter),
    };
    return { outcome: "ok", response: call.ok(limits) };
  });
}
