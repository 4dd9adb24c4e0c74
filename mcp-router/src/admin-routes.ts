import type { Kysely } from "kysely";
import type { DB } from "../../store/src/schema.ts";
import { ADMIN_AUDIT_PATH, handleAdminAudit } from "./admin-audit.ts";
import type { DefinitionArchive } from "./admin-definitions.ts";
import { ADMIN_LIMITS_PATH, handleAdminLimits } from "./admin-limits.ts";
import { ADMIN_OVERVIEW_PATH, handleAdminOverview, type OverviewDeps } from "./admin-overview.ts";
import {
  ADMIN_EXPLAIN_PATH,
  ADMIN_POLICY_PATH,
  handleAdminExplain,
  handleAdminPolicy,
} from "./admin-policy.ts";
import {
  ADMIN_TOOL_ACTION_RE,
  ADMIN_TOOLS_PATH,
  handleAdminToolAction,
  handleAdminTools,
} from "./admin-tools.ts";
import type { RouterRequest, RouterResponse } from "./http-types.ts";
import { restRefusal } from "./rest-call.ts";
import type { RouterContext } from "./router-context.ts";

/**
 * The operators' API, `/admin/*` (docs/console.md): one handler per path; ext-authz routes the
 * same paths (ext-authz/src/policy/route.ts, ADMIN_PATHS), so a path added here is added there.
 */

export type AdminServices = {
  db: Kysely<DB>;
  definitions: DefinitionArchive;
  overview: OverviewDeps;
  /** GATEWAY_VERDICT_KEY: also signs the views ext-authz sends (contract/src/admin-view.ts). */
  verdictKey: string;
};

export function isAdminPath(path: string): boolean {
  return path.startsWith("/admin/");
}

/** Route label for metrics: the path, with a tool action's scope and tool left out. */
export function adminRouteLabel(path: string): string {
  if (ADMIN_TOOL_ACTION_RE.test(path)) return "/admin/tools/{scope}/{tool}/{action}";
  return [
    ADMIN_AUDIT_PATH,
    ADMIN_OVERVIEW_PATH,
    ADMIN_TOOLS_PATH,
    ADMIN_POLICY_PATH,
    ADMIN_EXPLAIN_PATH,
    ADMIN_LIMITS_PATH,
  ].includes(path)
    ? path
    : "/admin/other";
}

export function handleAdmin(
  ctx: RouterContext,
  request: RouterRequest,
  services: AdminServices,
): Promise<RouterResponse> {
  const { path } = request;
  switch (path) {
    case ADMIN_AUDIT_PATH:
      return handleAdminAudit(ctx, request, services.db);
    case ADMIN_OVERVIEW_PATH:
      return handleAdminOverview(ctx, request, services.overview);
    case ADMIN_TOOLS_PATH:
      return handleAdminTools(ctx, request, services);
    case ADMIN_POLICY_PATH:
      return handleAdminPolicy(ctx, request, services.verdictKey);
    case ADMIN_EXPLAIN_PATH:
      return handleAdminExplain(ctx, request, services.verdictKey);
    case ADMIN_LIMITS_PATH:
      return handleAdminLimits(ctx, request, services.verdictKey);
  }
  if (ADMIN_TOOL_ACTION_RE.test(path)) return handleAdminToolAction(ctx, request, services);
  return Promise.resolve(restRefusal(request, "GW_NOT_FOUND"));
}
