/**
 * The decision: route → token → body → RBAC → quotas → allow. Pure apart from the injected
 * dependencies (clock, request-id source, token verifier with its keys, quota counters), so every
 * rule is testable as a table. Decisions are data; the Envoy adapter maps them to the wire once.
 */
import type { GatewayErrorCode } from "../../../contract/src/errors.ts";
import { TOOL_ITEM_PREFIX } from "../../../contract/src/mcp-items.ts";
import { HEADER, requestIdFrom } from "../../../contract/src/headers.ts";
import type { JsonRpcId } from "../../../contract/src/json-rpc.ts";
import { AMBIGUOUS_TOOL_NAME_HINT, REST_INVOKE_BODY_HINT } from "../../../contract/src/mcp-wire.ts";
import { sha256Hex } from "../../../contract/src/digest.ts";
import {
  protectedResourceMetadata,
  resourceMetadataUrl,
  resourceUrl,
  type ResourceServerSettings,
} from "./protected-resource.ts";
import { quotaCharges, spendQuota, type QuotaKind, type QuotaLimiter } from "./quota.ts";
import type { CompiledPolicy, ItemRules, PolicyCaller, ToolDecision } from "./rbac.ts";
import {
  adminMethods,
  hasTokenInQuery,
  pathWithoutQuery,
  resolveRoute,
  type Route,
} from "./route.ts";
import { parseInvokeBody, parseRpcBody, type BodyFailure, type RpcMessage } from "./rpc-body.ts";
import { bearerToken, type Identity, type TokenFailure, type TokenVerifier } from "./token.ts";

/** Closed set of denial reasons: the log field, the metric label and the audit reason. */
export type DenialReason =
  | "bad_check_request"
  | "unknown_route"
  | "removed_endpoint"
  | "unknown_scope"
  | "scope_mismatch"
  | "method_not_allowed"
  | "token_missing"
  | "token_in_query"
  | TokenFailure
  | "partial_body"
  | "payload_too_large"
  | BodyFailure
  | "insufficient_scope"
  | "operator_role_required"
  | "tool_unknown"
  | "tool_inactive"
  | "tool_not_allowed"
  | "tool_ambiguous"
  | "rate_limited_user"
  | "rate_limited_tool"
  | "rate_limited_user_tool";

export const DENIAL_ERROR: Record<DenialReason, GatewayErrorCode> = {
  bad_check_request: "GW_INVALID_REQUEST",
  unknown_route: "GW_NOT_FOUND",
  removed_endpoint: "GW_NOT_FOUND",
  unknown_scope: "GW_NOT_FOUND",
  scope_mismatch: "GW_NOT_FOUND",
  method_not_allowed: "GW_METHOD_NOT_ALLOWED",
  token_missing: "GW_TOKEN_MISSING",
  token_in_query: "GW_TOKEN_INVALID",
  token_malformed: "GW_TOKEN_INVALID",
  token_too_large: "GW_TOKEN_INVALID",
  token_invalid: "GW_TOKEN_INVALID",
  token_expired: "GW_TOKEN_INVALID",
  token_not_yet_valid: "GW_TOKEN_INVALID",
  token_iat_future: "GW_TOKEN_INVALID",
  token_too_old: "GW_TOKEN_INVALID",
  token_wrong_issuer: "GW_TOKEN_INVALID",
  token_wrong_audience: "GW_TOKEN_INVALID",
  token_missing_subject: "GW_TOKEN_INVALID",
  token_bad_claims: "GW_TOKEN_INVALID",
  token_api_version: "GW_TOKEN_INVALID",
  token_unknown_kid: "GW_TOKEN_INVALID",
  jwks_unavailable: "GW_AUTHZ_UNAVAILABLE",
  partial_body: "GW_PAYLOAD_TOO_LARGE",
  payload_too_large: "GW_PAYLOAD_TOO_LARGE",
  parse_error: "GW_PARSE_ERROR",
  invalid_request: "GW_INVALID_REQUEST",
  too_deep: "GW_INVALID_REQUEST",
  duplicate_key: "GW_INVALID_REQUEST",
  batch_not_allowed: "GW_BATCH_NOT_SUPPORTED",
  batch_too_large: "GW_INVALID_REQUEST",
  batch_initialize: "GW_INVALID_REQUEST",
  header_mismatch: "GW_HEADER_MISMATCH",
  unsupported_protocol_version: "GW_UNSUPPORTED_PROTOCOL_VERSION",
  insufficient_scope: "GW_INSUFFICIENT_SCOPE",
  operator_role_required: "GW_INSUFFICIENT_SCOPE",
  tool_unknown: "GW_UNKNOWN_TOOL",
  tool_inactive: "GW_UNKNOWN_TOOL",
  tool_not_allowed: "GW_TOOL_FORBIDDEN",
  tool_ambiguous: "GW_INVALID_REQUEST",
  rate_limited_user: "GW_RATE_LIMITED",
  rate_limited_tool: "GW_RATE_LIMITED",
  rate_limited_user_tool: "GW_RATE_LIMITED",
};

/** Client-safe replacement texts where the table's fixed message would mislead. */
const DENIAL_DETAIL: Partial<Record<DenialReason, string>> = {
  partial_body: "Request body was truncated before authorization; send a smaller body",
  too_deep: "Request body is nested too deeply",
  duplicate_key: "Request body repeats an object key",
  token_in_query: "Send the access token in the Authorization header, not the URL",
  tool_ambiguous: AMBIGUOUS_TOOL_NAME_HINT,
  operator_role_required: "This endpoint is for operators: the token has no operator role",
};

/**
 * Which error shape a refusal takes: a JSON-RPC error on the MCP endpoints, the REST API's
 * `{error: {code, message}, request_id}` on `/mcp/invoke` and `/mcp/jobs/*`.
 */
export type Surface = "mcp" | "rest";

/** The verdict scope of `/mcp/jobs/{id}` when Envoy's route names no scope. */
export const REST_VERDICT_SCOPE = "rest";
/** The verdict scope of the operators' endpoints (`/admin/*`): no tools, an operator's roles. */
export const ADMIN_VERDICT_SCOPE = "admin";

export type CheckInput = {
  method: string;
  /** Path with query string, as Envoy sends it. */
  path: string;
  /** Lower-case header names. */
  headers: Readonly<Record<string, string>>;
  /** The exact body bytes (empty when none). */
  body: Uint8Array;
  contextScope: string | undefined;
};

export type DecisionContext = {
  subject: string | null;
  tenant: string | null;
  roles: readonly string[];
  scope: string | null;
  /** JSON-RPC method, `invoke`/`jobs` for REST, or the HTTP method for body-less requests. */
  method: string | null;
  tool: string | null;
  /** The policy rule that refused the call (`roles.auditor.deny[4]`), when one did. */
  rule?: string;
  /** Dry-run denies that held: the tool calls they would refuse. */
  wouldDeny?: readonly WouldDeny[];
};

export type WouldDeny = { scope: string; tool: string; rule: string };

export type Challenge = {
  error?: "invalid_token" | "insufficient_scope" | "invalid_request";
  description?: string;
  resourceMetadata: string;
};

export type RateLimitInfo = {
  limit: number;
  remaining: number;
  resetMs: number;
  retryAfterMs: number;
  kind: QuotaKind;
};

export type Decision =
  | {
      outcome: "allow";
      requestId: string;
      identity: Identity;
      /** Verdict scope: the tools.yaml scope, or REST_VERDICT_SCOPE for scope-less jobs calls. */
      scope: string;
      /** Tools this caller may use there (bare names; `scope.tool` names for REST_VERDICT_SCOPE). */
      tools: readonly string[];
      /** MCP-server scopes: the prompts and resources the caller may see (verdict `items`). */
      items?: ItemRules;
      bodyDigest: string;
      /** Unix seconds. */
      verdictExp: number;
      context: DecisionContext;
      tokenCached: boolean;
    }
  | { outcome: "public"; requestId: string; reason: "health" | "console" }
  | {
      outcome: "respond";
      requestId: string;
      reason: "resource_metadata";
      status: 200;
      contentType: string;
      body: string;
    }
  | {
      outcome: "deny";
      requestId: string;
      reason: DenialReason;
      error: GatewayErrorCode;
      surface: Surface;
      detail: string | undefined;
      rpcId: JsonRpcId;
      challenge: Challenge | undefined;
      rateLimit: RateLimitInfo | undefined;
      allow: readonly string[] | undefined;
      context: DecisionContext;
    };

export type DenyDecision = Extract<Decision, { outcome: "deny" }>;

export type DecisionDeps = {
  policy: CompiledPolicy;
  tokens: TokenVerifier;
  limiter: QuotaLimiter;
  resourceServer: ResourceServerSettings;
  limits: { maxBodyBytes: number; maxJsonDepth: number };
  verdictTtlSeconds: number;
  now: () => number;
  newRequestId: () => string;
};

const ALLOWED_METHODS: Record<Route["kind"], readonly string[]> = {
  mcp: ["POST", "GET", "DELETE"],
  invoke: ["POST"],
  jobs: ["GET", "DELETE"],
  // Per path: see adminMethods.
  admin: [],
  health: [],
  console: [],
  resource_metadata: ["GET", "HEAD"],
  not_found: [],
};
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** An Envoy CheckRequest without HTTP attributes: answered as a 400 deny, not a gRPC error. */
export function badCheckRequest(requestId: string): DenyDecision {
  return {
    outcome: "deny",
    requestId,
    reason: "bad_check_request",
    error: DENIAL_ERROR.bad_check_request,
    surface: "mcp",
    detail: undefined,
    rpcId: null,
    challenge: undefined,
    rateLimit: undefined,
    allow: undefined,
    context: { subject: null, tenant: null, roles: [], scope: null, method: null, tool: null },
  };
}

/** A path under the REST API is answered in its shape even when it names no valid route. */
function surfaceOf(route: Route, path: string): Surface {
  if (route.kind === "invoke" || route.kind === "jobs" || route.kind === "admin") return "rest";
  if (route.kind !== "not_found") return "mcp";
  const bare = pathWithoutQuery(path);
  return bare === "/mcp/invoke" || bare.startsWith("/mcp/jobs/") || bare.startsWith("/admin/")
    ? "rest"
    : "mcp";
}

export async function decide(input: CheckInput, deps: DecisionDeps): Promise<Decision> {
  const requestId = requestIdFrom(input.headers, deps.newRequestId);
  const httpMethod = input.method.toUpperCase();
  const route = resolveRoute(input.path, input.contextScope, deps.policy.hasScope);
  const surface = surfaceOf(route, input.path);
  const context: DecisionContext = {
    subject: null,
    tenant: null,
    roles: [],
    scope: null,
    method: null,
    tool: null,
  };
  const deny = (
    reason: DenialReason,
    extra: Partial<
      Pick<DenyDecision, "rpcId" | "challenge" | "rateLimit" | "allow" | "detail">
    > = {},
  ): DenyDecision => ({
    outcome: "deny",
    requestId,
    reason,
    error: DENIAL_ERROR[reason],
    surface,
    detail: extra.detail ?? DENIAL_DETAIL[reason],
    rpcId: extra.rpcId ?? null,
    challenge: extra.challenge,
    rateLimit: extra.rateLimit,
    allow: extra.allow,
    context,
  });

  // Route.
  // Public: liveness, and the console's static files (its data comes from /admin/*, checked).
  if (route.kind === "health" || route.kind === "console") {
    return { outcome: "public", requestId, reason: route.kind };
  }
  if (route.kind === "not_found") return deny(route.reason);
  const allowedMethods =
    route.kind === "admin" ? adminMethods(input.path) : ALLOWED_METHODS[route.kind];
  if (!allowedMethods.includes(httpMethod))
    return deny("method_not_allowed", { allow: allowedMethods });
  if (route.kind === "resource_metadata") {
    const document = protectedResourceMetadata(
      deps.resourceServer,
      route.endpoint,
      deps.policy.hasScope,
    );
    if (document === undefined) return deny("unknown_route");
    return {
      outcome: "respond",
      requestId,
      reason: "resource_metadata",
      status: 200,
      contentType: "application/json",
      body: JSON.stringify(document),
    };
  }
  context.scope = route.kind === "admin" ? null : (route.scope ?? null);
  context.method = route.kind === "mcp" ? httpMethod : route.kind;
  const metadataUrl = resourceMetadataUrl(deps.resourceServer, route.endpoint);

  // The body is read before the token only to echo a well-formed JSON-RPC id in a 401.
  const oversized = input.body.byteLength > deps.limits.maxBodyBytes;
  const bodyText = httpMethod === "POST" && !oversized ? decodeBody(input.body) : "";
  const body = oversized
    ? ({ kind: "none" } as const)
    : analyzeBody(route, httpMethod, bodyText, input.headers, deps.limits.maxJsonDepth);
  const rpcId = body.kind === "rpc" ? body.result.id : null;

  // Token.
  if (hasTokenInQuery(input.path)) {
    return deny("token_in_query", {
      rpcId,
      challenge: {
        error: "invalid_request",
        description: DENIAL_DETAIL.token_in_query,
        resourceMetadata: metadataUrl,
      },
    });
  }
  const bearer = bearerToken(input.headers[HEADER.authorization]);
  if (bearer.kind === "absent") {
    return deny("token_missing", { rpcId, challenge: { resourceMetadata: metadataUrl } });
  }
  const verified =
    bearer.kind === "token"
      ? await deps.tokens.verify(bearer.token, resourceUrl(deps.resourceServer, route.endpoint))
      : ({
          ok: false,
          reason: "token_malformed",
          description: "The access token is malformed",
        } as const);
  if (!verified.ok) {
    // Keys that cannot be fetched are a 503, not a token error: a challenge, even without
    // error="invalid_token", would send an MCP client off to re-authorize (RFC 6750 §3).
    if (verified.reason === "jwks_unavailable") return deny(verified.reason, { rpcId });
    return deny(verified.reason, {
      rpcId,
      challenge: {
        error: "invalid_token",
        description: verified.description,
        resourceMetadata: metadataUrl,
      },
    });
  }
  const identity = verified.identity;
  context.subject = identity.subject;
  context.tenant = identity.tenant;
  context.roles = identity.roles;

  // Body. Never decide on a truncated body: the tool name could be in the missing part.
  if (input.headers[HEADER.partialBody]?.toLowerCase() === "true")
    return deny("partial_body", { rpcId });
  if (oversized) return deny("payload_too_large", { rpcId });
  if (body.kind === "rpc" && !body.result.ok) {
    return deny(body.result.reason, { rpcId, detail: body.result.detail });
  }
  if (body.kind === "invoke" && !body.result.ok) {
    const { reason } = body.result;
    const hint = reason === "invalid_request" ? REST_INVOKE_BODY_HINT : undefined;
    return deny(reason, { detail: body.result.detail ?? hint });
  }

  // RBAC.
  const insufficient = (): DenyDecision =>
    deny("insufficient_scope", {
      rpcId,
      challenge: {
        error: "insufficient_scope",
        description: "The token's roles grant nothing on this endpoint",
        resourceMetadata: metadataUrl,
      },
    });
  const toolDenied = (reason: "tool_not_allowed"): DenyDecision =>
    deny(reason, {
      rpcId,
      challenge: {
        error: "insufficient_scope",
        description: "Tool not permitted",
        resourceMetadata: metadataUrl,
      },
    });

  const caller: PolicyCaller = {
    roles: identity.roles,
    claims: {
      ...identity.claims,
      subject: identity.subject,
      tenant: identity.tenant,
      roles: identity.roles,
    },
    request: deps.policy.conditionRequest(httpMethod, input.headers),
  };
  const wouldDeny: WouldDeny[] = [];
  /** Records what the policy said about one call; true when the call may go on. */
  const weigh = (decision: ToolDecision, scope: string, tool: string): boolean => {
    for (const rule of decision.wouldDeny) wouldDeny.push({ scope, tool, rule: rule.path });
    if (wouldDeny.length > 0) context.wouldDeny = wouldDeny;
    if (decision.status === "tool_not_allowed" && decision.rule !== undefined) {
      context.rule = decision.rule.path;
    }
    return decision.status === "allowed";
  };

  let verdictScope: string;
  let tools: readonly string[];
  let items: ItemRules | undefined;
  const toolCalls: { scope: string; tool: string }[] = [];

  switch (route.kind) {
    case "mcp": {
      verdictScope = route.scope;
      tools = deps.policy.allowedTools(caller, route.scope);
      items = deps.policy.itemRules(caller, route.scope);
      const messages: RpcMessage[] =
        body.kind === "rpc" && body.result.ok ? body.result.messages : [];
      const first = messages[0];
      if (body.kind === "rpc" && body.result.ok && body.result.batch) {
        context.method = "batch";
      } else if (first !== undefined) {
        context.method = first.kind === "response" ? "response" : first.method;
      }
      // Nothing of the scope is open to the caller: no tool, no prompt, no resource.
      if (tools.length === 0 && (items === undefined || items.allow.length === 0)) {
        return insufficient();
      }
      // Every tools/call of a batch must be allowed, and each is charged below (one denial
      // refuses the whole batch; spendQuota gives back what the batch already took).
      for (const message of messages) {
        if (message.kind !== "request") continue;
        if (message.item !== undefined) {
          // A prompt or resource: decided like a tool, charged to the user's quota only.
          context.tool = message.item;
          const decision = deps.policy.decideItem(
            caller,
            route.scope,
            message.item,
            message.method === "prompts/get" ? (message.params?.arguments ?? {}) : {},
          );
          // Not an MCP server's scope: the router answers "Method not found".
          if (decision.status === "tool_unknown") continue;
          if (!weigh(decision, route.scope, message.item)) return toolDenied("tool_not_allowed");
          continue;
        }
        if (message.toolName === undefined) continue;
        context.tool = message.toolName;
        const decision = deps.policy.decideTool(
          caller,
          route.scope,
          message.toolName,
          message.params?.arguments ?? {},
        );
        // A tool the scope does not have (or has disabled) is not a permission question: the
        // router answers it -32602 like any MCP server; it is outside the verdict, so it can
        // never be forwarded, and there is no tool counter to charge.
        if (decision.status === "tool_unknown" || decision.status === "tool_inactive") continue;
        if (!weigh(decision, route.scope, message.toolName)) return toolDenied("tool_not_allowed");
        toolCalls.push({ scope: route.scope, tool: message.toolName });
      }
      break;
    }
    case "invoke": {
      const requested = body.kind === "invoke" && body.result.ok ? body.result.toolName : "";
      context.tool = requested;
      const resolved = deps.policy.resolveToolName(requested);
      if (resolved.kind === "ambiguous") return deny("tool_ambiguous");
      // Unknown is not a permission question (404, no insufficient_scope challenge); a tool
      // outside the route's scope, or disabled, is reported exactly like an unknown one.
      const unknown = { detail: `Unknown tool: ${requested}` };
      if (
        resolved.kind === "unknown" ||
        (route.scope !== undefined && resolved.scope !== route.scope)
      ) {
        return deny("tool_unknown", unknown);
      }
      context.scope = resolved.scope;
      context.tool = resolved.tool;
      const decision = deps.policy.decideTool(
        caller,
        resolved.scope,
        resolved.tool,
        body.kind === "invoke" && body.result.ok ? body.result.arguments : {},
      );
      const { status } = decision;
      if (status === "tool_unknown" || status === "tool_inactive") return deny(status, unknown);
      if (!weigh(decision, resolved.scope, resolved.tool)) return toolDenied("tool_not_allowed");
      verdictScope = resolved.scope;
      tools = deps.policy.allowedTools(caller, resolved.scope);
      toolCalls.push({ scope: resolved.scope, tool: resolved.tool });
      break;
    }
    case "jobs": {
      if (route.scope !== undefined) {
        verdictScope = route.scope;
        tools = deps.policy.allowedTools(caller, route.scope);
        items = deps.policy.itemRules(caller, route.scope);
      } else {
        verdictScope = REST_VERDICT_SCOPE;
        tools = deps.policy.allowedQualifiedTools(caller);
        items = deps.policy.qualifiedToolRules(caller);
      }
      if (tools.length === 0 && !items?.allow.some((glob) => glob.startsWith(TOOL_ITEM_PREFIX))) {
        return insufficient();
      }
      break;
    }
    case "admin": {
      // Operators only; which roles are operators' is policy.yaml's `operator_roles`.
      if (!deps.policy.isOperator(identity.roles)) {
        return deny("operator_role_required", {
          challenge: {
            error: "insufficient_scope",
            description: DENIAL_DETAIL.operator_role_required,
            resourceMetadata: metadataUrl,
          },
        });
      }
      verdictScope = ADMIN_VERDICT_SCOPE;
      tools = [];
      break;
    }
  }

  // A discovered tool is in no list of tools.yaml: the verdict names each call it allows.
  for (const call of toolCalls) {
    if (!tools.includes(call.tool)) tools = [...tools, call.tool];
  }

  // Quotas: per user on every request; per user+tool and per tool on tool calls only.
  const charges = quotaCharges({
    tenant: identity.tenant,
    subject: identity.subject,
    userRule: deps.policy.userQuota(identity.roles),
    toolCalls: toolCalls.map((call) => ({
      ...call,
      toolRule: deps.policy.toolQuota(call.scope, call.tool),
      userToolRule: deps.policy.userToolQuota(call.scope, call.tool),
    })),
  });
  const spent = await spendQuota(deps.limiter, charges);
  if (!spent.ok) {
    const { kind } = spent.charge;
    const { limit, remaining, resetMs, retryAfterMs } = spent.outcome;
    return deny(`rate_limited_${kind}`, {
      rpcId,
      rateLimit: { limit, remaining, resetMs, retryAfterMs, kind },
    });
  }

  return {
    outcome: "allow",
    requestId,
    identity,
    scope: verdictScope,
    tools,
    ...(items === undefined ? {} : { items }),
    bodyDigest: sha256Hex(input.body),
    verdictExp: Math.floor(deps.now() / 1000) + deps.verdictTtlSeconds,
    context,
    tokenCached: verified.cached,
  };
}

type BodyAnalysis =
  | { kind: "none" }
  | { kind: "rpc"; result: ReturnType<typeof parseRpcBody> }
  | { kind: "invoke"; result: ReturnType<typeof parseInvokeBody> };

function decodeBody(bytes: Uint8Array): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

function analyzeBody(
  route: Route,
  httpMethod: string,
  text: string | undefined,
  headers: Readonly<Record<string, string>>,
  maxDepth: number,
): BodyAnalysis {
  if (httpMethod !== "POST") return { kind: "none" };
  if (route.kind === "mcp") {
    if (text === undefined)
      return { kind: "rpc", result: { ok: false, reason: "parse_error", id: null } };
    return {
      kind: "rpc",
      result: parseRpcBody(
        text,
        {
          protocolVersion: headers[HEADER.mcpProtocolVersion],
          method: headers[HEADER.mcpMethod],
          name: headers[HEADER.mcpName],
        },
        maxDepth,
      ),
    };
  }
  if (route.kind === "invoke") {
    if (text === undefined) return { kind: "invoke", result: { ok: false, reason: "parse_error" } };
    return { kind: "invoke", result: parseInvokeBody(text, maxDepth) };
  }
  return { kind: "none" };
}
