import type { z } from "zod";
import type { VerdictClaims } from "../../contract/src/verdict.ts";
import { HEADER } from "../../contract/src/headers.ts";
import { buildAuditEvent } from "./audit.ts";
import {
  jsonResponse,
  type ResponseHeaders,
  type RouterRequest,
  type RouterResponse,
} from "./http-types.ts";
import { restRefusal, type RestFail } from "./rest-call.ts";
import { restError } from "./rest-error.ts";
import type { RouterContext } from "./router-context.ts";
import { isOriginAllowed } from "./transport-checks.ts";

/**
 * What every operators' endpoint (`/admin/*`) does around its own work, in this order:
 *
 * 1. the method (405 with Allow, before anything else);
 * 2. authorization by ext-authz like any request (Envoy's verdict, or the Check the router sends
 *    in direct mode): no token 401, a token without an operator role 403 — ext-authz audits those;
 * 3. the Origin, as on every REST route; on POST also cross-site protection (see below);
 * 4. again here, the verdict must be an admin verdict whose roles include one of this router's
 *    own policy.yaml `operator_roles` (defence in depth: a verdict minted for another route, or a
 *    policy.yaml that changed on one side first, is refused 403);
 * 5. the endpoint's work, then its audit row (kind `admin`, method `admin/…`, the operator's
 *    subject and roles, outcome, reason, status, what was asked in `arguments`), stored before
 *    the answer leaves (write-ahead), or 503 without the answer.
 *
 * Cross-site requests. The API takes a Bearer token from the Authorization header, which a
 * browser never attaches by itself, so a page on another site cannot borrow an operator's
 * session... unless an ingress in front turns a session cookie into that header (the production
 * set-up docs/console.md describes). So a POST must also be JSON (a form cannot send
 * `application/json` cross-site without a CORS preflight, which this API never answers), come
 * from an allowed Origin when it names one, and, when the browser says where it comes from
 * (`Sec-Fetch-Site`), come from the same origin.
 */

export const ADMIN_PREFIX = "/admin/";
/** Admin request bodies are small forms (an explain request); anything larger is refused 413. */
export const ADMIN_MAX_BODY_BYTES = 65_536;
/** ext-authz's verdict scope for the operators' endpoints (ADMIN_VERDICT_SCOPE there). */
export const ADMIN_VERDICT_SCOPE = "admin";

export type AdminEndpoint = {
  method: "GET" | "POST";
  /** The audit row's `method`: `admin/tools`, `admin/tools/approve`, … */
  audit: string;
  /** Query parameters the endpoint reads; any other is refused 400. */
  query?: readonly string[];
};

export type AdminCall = {
  verdict: VerdictClaims;
  /** Parsed query string (each known name at most once). */
  query: Readonly<Record<string, string>>;
  /** The view ext-authz sent with its allow (admin-view.ts), to verify; undefined when none. */
  adminView: string | undefined;
  body: Buffer;
  /** A REST error with the verdict's request id and the answer headers. */
  fail: RestFail;
  /** A 200 JSON answer with the answer headers (no-store). */
  ok(value: unknown, extraHeaders?: ResponseHeaders): RouterResponse;
  /** Headers every answer carries (request id, no-store, nosniff). */
  headers: ResponseHeaders;
};

export type AdminAnswer = {
  outcome: "ok" | "rejected";
  response: RouterResponse;
  /** For a rejection: `invalid_params`, `not_found`, … */
  reason?: string;
  scope?: string | null;
  tool?: string | null;
  /** What the operator asked, stored as the audit row's `arguments`. */
  arguments?: unknown;
};

/** A refusal of the endpoint's own checks, in the AdminAnswer shape. */
export function rejected(
  response: RouterResponse,
  reason: string,
  extra: Omit<AdminAnswer, "outcome" | "response" | "reason"> = {},
): AdminAnswer {
  return { outcome: "rejected", response, reason, ...extra };
}

type QueryParse = { ok: true; query: Record<string, string> } | { ok: false; detail: string };

/** The query string: each known parameter at most once, nothing else. */
export function parseAdminQuery(target: string, known: readonly string[]): QueryParse {
  const question = target.indexOf("?");
  const params = new URLSearchParams(question === -1 ? "" : target.slice(question + 1));
  const query: Record<string, string> = {};
  for (const [name, value] of params) {
    if (!known.includes(name)) {
      return {
        ok: false,
        detail:
          known.length === 0
            ? `unknown parameter "${name}": this endpoint takes none`
            : `unknown parameter "${name}": expected ${known.join(", ")}`,
      };
    }
    if (Object.hasOwn(query, name)) return { ok: false, detail: `parameter "${name}" repeated` };
    query[name] = value;
  }
  return { ok: true, query };
}

/** `application/json`, with or without parameters (charset). */
function isJsonContentType(value: string | undefined): boolean {
  if (value === undefined) return false;
  const mediaType = value.split(";", 1)[0]?.trim().toLowerCase();
  return mediaType === "application/json";
}

const SAME_ORIGIN_FETCH_SITES: ReadonlySet<string> = new Set(["same-origin", "none"]);

type BodyParse<T> = { ok: true; value: T } | { ok: false; answer: AdminAnswer };

/** The JSON body against `schema`; a 400 naming the first problems otherwise. */
export function parseAdminBody<T>(call: AdminCall, schema: z.ZodType<T>): BodyParse<T> {
  let value: unknown;
  try {
    value = JSON.parse(call.body.toString("utf8"));
  } catch {
    return {
      ok: false,
      answer: rejected(
        call.fail("GW_INVALID_PARAMS", "the request body is not valid JSON"),
        "invalid_params",
      ),
    };
  }
  const parsed = schema.safeParse(value);
  if (parsed.success) return { ok: true, value: parsed.data };
  const problems = parsed.error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.length === 0 ? "body" : issue.path.join(".")}: ${issue.message}`);
  return {
    ok: false,
    answer: rejected(call.fail("GW_INVALID_PARAMS", problems.join("; ")), "invalid_params"),
  };
}

export async function runAdminEndpoint(
  ctx: RouterContext,
  request: RouterRequest,
  endpoint: AdminEndpoint,
  work: (call: AdminCall) => Promise<AdminAnswer>,
): Promise<RouterResponse> {
  if (request.method !== endpoint.method) {
    return restRefusal(request, "GW_METHOD_NOT_ALLOWED", { allow: endpoint.method });
  }
  const read = await request.readBody();
  if (!read.ok) return restRefusal(request, "GW_PAYLOAD_TOO_LARGE");
  const auth = await ctx.authorizer.authorize({
    request,
    body: read.body,
    scope: undefined,
    contextExtensions: {},
    surface: "rest",
  });
  if (!auth.ok) {
    ctx.metrics.authzRejections.inc({ reason: auth.reason });
    ctx.logger.info({ path: request.path, reason: auth.reason }, "request refused before admin");
    return auth.response;
  }
  const started = Date.now();
  const { verdict } = auth;
  const headers: ResponseHeaders = {
    ...auth.responseHeaders,
    [HEADER.requestId]: verdict.requestId,
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
  };
  const fail: RestFail = (code, detail, status) =>
    restError(code, {
      requestId: verdict.requestId,
      headers,
      ...(detail === undefined ? {} : { detail }),
      ...(status === undefined ? {} : { status }),
    });
  const query = parseAdminQuery(request.target, endpoint.query ?? []);
  const call: AdminCall = {
    verdict,
    query: query.ok ? query.query : {},
    adminView: auth.adminView,
    body: read.body,
    fail,
    ok: (value, extraHeaders = {}) => jsonResponse(200, value, { ...headers, ...extraHeaders }),
    headers,
  };
  const answer = await checkThenWork(ctx, request, endpoint, call, query, work);
  return auditThenAnswer(ctx, endpoint, call, answer, Date.now() - started);
}

async function checkThenWork(
  ctx: RouterContext,
  request: RouterRequest,
  endpoint: AdminEndpoint,
  call: AdminCall,
  query: QueryParse,
  work: (call: AdminCall) => Promise<AdminAnswer>,
): Promise<AdminAnswer> {
  const { fail, verdict } = call;
  if (!isOriginAllowed(request.headers.origin, ctx.allowedOrigins)) {
    return rejected(fail("GW_ORIGIN_FORBIDDEN"), "origin_forbidden");
  }
  const operatorRoles = new Set(ctx.config.policy.operator_roles);
  if (
    verdict.scope !== ADMIN_VERDICT_SCOPE ||
    !verdict.roles.some((role) => operatorRoles.has(role))
  ) {
    return rejected(
      fail(
        "GW_INSUFFICIENT_SCOPE",
        "This endpoint is for operators: the token has no operator role",
      ),
      "operator_role_required",
    );
  }
  if (endpoint.method === "POST") {
    const site = request.headers["sec-fetch-site"];
    if (site !== undefined && !SAME_ORIGIN_FETCH_SITES.has(site.toLowerCase())) {
      return rejected(
        fail("GW_ORIGIN_FORBIDDEN", "Cross-site requests to the operators' API are refused"),
        "cross_site_request",
      );
    }
    if (!isJsonContentType(request.headers["content-type"])) {
      return rejected(fail("GW_UNSUPPORTED_MEDIA_TYPE"), "unsupported_media_type");
    }
    if (call.body.byteLength > ADMIN_MAX_BODY_BYTES) {
      return rejected(
        fail(
          "GW_PAYLOAD_TOO_LARGE",
          `Request body too large: at most ${ADMIN_MAX_BODY_BYTES} bytes here`,
        ),
        "payload_too_large",
      );
    }
  }
  if (!query.ok) return rejected(fail("GW_INVALID_PARAMS", query.detail), "invalid_params");
  return work(call);
}

/** The row is stored before the answer leaves; without its row, no answer but 503. */
async function auditThenAnswer(
  ctx: RouterContext,
  endpoint: AdminEndpoint,
  call: AdminCall,
  answer: AdminAnswer,
  latencyMs: number,
): Promise<RouterResponse> {
  const { response } = answer;
  const body = "body" in response ? response.body : undefined;
  try {
    await ctx.audit.write(
      buildAuditEvent({
        kind: "admin",
        requestId: call.verdict.requestId,
        identity: call.verdict,
        scope: answer.scope ?? null,
        method: endpoint.audit,
        tool: answer.tool ?? null,
        outcome: answer.outcome,
        ...(answer.reason === undefined ? {} : { rejection: answer.reason }),
        status: response.status,
        latencyMs,
        requestBytes: call.body.byteLength,
        responseBytes: body === undefined ? null : Buffer.byteLength(body),
        captured: { arguments: answer.arguments ?? call.query },
      }),
    );
  } catch (error) {
    ctx.metrics.auditFailures.inc({ reason: "admin" });
    ctx.logger.error(
      {
        err: error,
        requestId: call.verdict.requestId,
        operator: call.verdict.subject,
        method: endpoint.audit,
        outcome: answer.outcome,
      },
      "could not audit an operator request",
    );
    return call.fail("GW_AUDIT_UNAVAILABLE");
  }
  return response;
}
