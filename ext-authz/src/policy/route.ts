/**
 * Path → route. The scope comes from the path (`/{scope}/sse`, `/{scope}/mcp`) or, for the REST
 * endpoints that carry none, from Envoy's per-route `context_extensions.scope`.
 */
import { scopeOfEndpoint } from "../../../contract/src/mcp-wire.ts";

export type Route =
  | { kind: "mcp"; scope: string; endpoint: string }
  | { kind: "invoke"; scope: string | undefined; endpoint: string }
  | { kind: "jobs"; scope: string | undefined; jobId: string; endpoint: string }
  /** The operators' API (`/admin/*`, ADMIN_PATHS): a token with an operator role, no tool access. */
  | { kind: "admin"; endpoint: string }
  | { kind: "health" }
  /** The operators' console (`/console`): static files, no data, served without a token. */
  | { kind: "console" }
  | { kind: "resource_metadata"; endpoint: string }
  | {
      kind: "not_found";
      reason: "unknown_route" | "removed_endpoint" | "unknown_scope" | "scope_mismatch";
    };

/** Liveness/readiness paths that Envoy may route without a check; allowed without a token. */
const HEALTH_PATHS = new Set(["/health", "/healthz", "/ready", "/readyz"]);
/** The console's page and assets (the router's mcp-router/src/console-assets.ts). */
export const CONSOLE_PATH = "/console";
/** Removed in v2: the legacy SSE transport endpoints. */
const REMOVED_PATHS = new Set(["/sse", "/messages"]);
export const RESOURCE_METADATA_PREFIX = "/.well-known/oauth-protected-resource";
const JOB_ID_RE = /^[A-Za-z0-9_-]{1,128}$/;
/**
 * The operators' endpoints (the console's API) and the methods each accepts; the router serves
 * them, ext-authz decides who may. A tool action names its tool in the path: any segments are
 * routed here, and the router answers a malformed or unknown one (400, 404) after authorization.
 */
const ADMIN_ROUTES: ReadonlyMap<string, readonly string[]> = new Map([
  ["/admin/audit", ["GET"]],
  ["/admin/overview", ["GET"]],
  ["/admin/tools", ["GET"]],
  ["/admin/policy", ["GET"]],
  ["/admin/policy/explain", ["POST"]],
  ["/admin/limits", ["GET"]],
]);
export const ADMIN_PATHS: ReadonlySet<string> = new Set(ADMIN_ROUTES.keys());
/** `POST /admin/tools/{scope}/{tool}/approve|keep`. */
export const ADMIN_TOOL_ACTION_RE = /^\/admin\/tools\/[^/]+\/[^/]+\/(?:approve|keep)$/;

/** The methods an admin path accepts; none for a path that is not one. */
export function adminMethods(rawPath: string): readonly string[] {
  const path = pathWithoutQuery(rawPath);
  if (ADMIN_TOOL_ACTION_RE.test(path)) return ["POST"];
  return ADMIN_ROUTES.get(path) ?? [];
}

function isAdminPath(path: string): boolean {
  return ADMIN_PATHS.has(path) || ADMIN_TOOL_ACTION_RE.test(path);
}

export function pathWithoutQuery(path: string): string {
  const cut = path.search(/[?#]/);
  return cut === -1 ? path : path.slice(0, cut);
}

/**
 * `knownScope` says whether tools.yaml defines a scope. `contextScope` is
 * `context_extensions.scope` when Envoy's route set it; it must agree with a scope in the path.
 */
export function resolveRoute(
  rawPath: string,
  contextScope: string | undefined,
  knownScope: (scope: string) => boolean,
): Route {
  const path = pathWithoutQuery(rawPath);
  if (HEALTH_PATHS.has(path)) return { kind: "health" };
  if (path === CONSOLE_PATH || path.startsWith(`${CONSOLE_PATH}/`)) return { kind: "console" };
  if (REMOVED_PATHS.has(path) || path.startsWith("/messages/")) {
    return { kind: "not_found", reason: "removed_endpoint" };
  }
  if (path === RESOURCE_METADATA_PREFIX || path.startsWith(`${RESOURCE_METADATA_PREFIX}/`)) {
    const endpoint = path.slice(RESOURCE_METADATA_PREFIX.length) || "/";
    return { kind: "resource_metadata", endpoint };
  }
  const context = contextScope === undefined || contextScope === "" ? undefined : contextScope;
  if (context !== undefined && !knownScope(context))
    return { kind: "not_found", reason: "unknown_scope" };

  if (path === "/mcp/invoke") return { kind: "invoke", scope: context, endpoint: "/mcp" };
  // Same protected resource (token audience) as the REST API; a route scope has no meaning here.
  if (isAdminPath(path)) return { kind: "admin", endpoint: "/mcp" };
  const jobs = /^\/mcp\/jobs\/([^/]+)$/.exec(path);
  if (jobs) {
    const jobId = jobs[1] ?? "";
    if (!JOB_ID_RE.test(jobId)) return { kind: "not_found", reason: "unknown_route" };
    return { kind: "jobs", scope: context, jobId, endpoint: "/mcp" };
  }
  const scope = scopeOfEndpoint(path);
  if (scope !== undefined) {
    if (!knownScope(scope)) return { kind: "not_found", reason: "unknown_scope" };
    if (context !== undefined && context !== scope)
      return { kind: "not_found", reason: "scope_mismatch" };
    return { kind: "mcp", scope, endpoint: path };
  }
  return { kind: "not_found", reason: "unknown_route" };
}

/** The access_token query parameter (RFC 6750 §2.3) is refused: tokens in URLs end up in logs. */
export function hasTokenInQuery(rawPath: string): boolean {
  const question = rawPath.indexOf("?");
  if (question === -1) return false;
  const query = rawPath.slice(question + 1).split("#", 1)[0] ?? "";
  return new URLSearchParams(query).has("access_token");
}
