/**
 * Decision → CheckResponse, the one place the decision meets the wire. A deny is a successful
 * RPC with a non-zero status: Envoy sends denied_response as a local reply, using its HTTP status
 * verbatim (the gRPC code is not mapped), so every status is set explicitly.
 */
import type { CheckResponse, HeaderValueOption } from "../../../contract/src/authz-wire.ts";
import { RPC_CODE } from "../../../contract/src/authz-wire.ts";
import {
  GATEWAY_ERRORS,
  jsonRpcErrorBody,
  restErrorBody,
  restStatus,
} from "../../../contract/src/errors.ts";
import { GATEWAY_HEADER_PREFIX, HEADER } from "../../../contract/src/headers.ts";
import { signVerdict } from "../../../contract/src/verdict.ts";
import type { Challenge, Decision, DenyDecision } from "../policy/decide.ts";

/**
 * Envoy ≤1.36 reads only `append` (false = overwrite); newer builds read append_action. Both are
 * sent so a client-sent copy of a gateway header never survives on any version.
 */
export function overwrite(key: string, value: string): HeaderValueOption {
  return {
    header: { key, value },
    append: { value: false },
    append_action: "OVERWRITE_IF_EXISTS_OR_ADD",
  };
}

/**
 * Headers to strip on allow: the token (no passthrough) and every client-sent `x-gateway-*`
 * except the verdict, which is overwritten instead. Envoy versions differ in whether removals
 * run before or after the header mutations; never listing a header we set is correct for both.
 */
export function headersToRemove(
  clientHeaders: Readonly<Record<string, string>>,
  /** Other gateway headers this answer sets (overwritten, so not removed). */
  set: readonly string[] = [],
): string[] {
  const remove = [HEADER.authorization as string];
  for (const name of Object.keys(clientHeaders)) {
    const lower = name.toLowerCase();
    if (
      lower.startsWith(GATEWAY_HEADER_PREFIX) &&
      lower !== HEADER.verdict &&
      !set.includes(lower) &&
      !remove.includes(lower)
    ) {
      remove.push(lower);
    }
  }
  return remove;
}

function quoted(value: string): string {
  return `"${value.replace(/[\\"]/g, (ch) => `\\${ch}`).replace(/[\r\n]/g, " ")}"`;
}

export function wwwAuthenticate(challenge: Challenge): string {
  const params: string[] = [];
  if (challenge.error !== undefined) params.push(`error=${quoted(challenge.error)}`);
  if (challenge.description !== undefined)
    params.push(`error_description=${quoted(challenge.description)}`);
  params.push(`resource_metadata=${quoted(challenge.resourceMetadata)}`);
  return `Bearer ${params.join(", ")}`;
}

function rpcStatusFor(httpStatus: number): number {
  if (httpStatus === 401) return RPC_CODE.UNAUTHENTICATED;
  if (httpStatus === 403) return RPC_CODE.PERMISSION_DENIED;
  if (httpStatus === 404) return RPC_CODE.NOT_FOUND;
  if (httpStatus === 429) return RPC_CODE.RESOURCE_EXHAUSTED;
  if (httpStatus === 503) return RPC_CODE.UNAVAILABLE;
  if (httpStatus >= 500) return RPC_CODE.INTERNAL;
  return RPC_CODE.INVALID_ARGUMENT;
}

/**
 * The REST API answers its own shape and statuses (an unknown tool is 404 there); MCP endpoints a
 * JSON-RPC error, where entries the table gives HTTP 200 still need a non-2xx local reply.
 */
function denyStatus(decision: DenyDecision): number {
  if (decision.surface === "rest") return restStatus(decision.error);
  const { httpStatus } = GATEWAY_ERRORS[decision.error];
  return httpStatus === 200 ? 400 : httpStatus;
}

export function denyResponse(decision: DenyDecision): CheckResponse {
  const httpStatus = denyStatus(decision);
  const headers: HeaderValueOption[] = [
    overwrite("content-type", "application/json"),
    overwrite(HEADER.requestId, decision.requestId),
  ];
  if (decision.challenge !== undefined) {
    headers.push(overwrite("www-authenticate", wwwAuthenticate(decision.challenge)));
  }
  let data: Record<string, unknown> | undefined;
  if (decision.rateLimit !== undefined) {
    const { limit, remaining, resetMs, retryAfterMs } = decision.rateLimit;
    const retryAfter = Math.max(1, Math.ceil(retryAfterMs / 1000));
    headers.push(
      overwrite("retry-after", String(retryAfter)),
      overwrite("ratelimit-limit", String(limit)),
      overwrite("ratelimit-remaining", String(Math.max(0, remaining))),
      overwrite("ratelimit-reset", String(Math.max(0, Math.ceil(resetMs / 1000)))),
    );
    data = { retryAfterSeconds: retryAfter };
  }
  if (decision.allow !== undefined) headers.push(overwrite("allow", decision.allow.join(", ")));
  const detail = decision.detail === undefined ? {} : { detail: decision.detail };
  // REST clients read Retry-After; the REST shape has no data member to repeat it in.
  const body =
    decision.surface === "rest"
      ? restErrorBody(decision.error, decision.requestId, detail)
      : jsonRpcErrorBody(decision.error, decision.rpcId, {
          ...detail,
          ...(data === undefined ? {} : { data }),
        });
  return {
    status: { code: rpcStatusFor(httpStatus), message: decision.reason },
    denied_response: { status: { code: httpStatus }, headers, body: JSON.stringify(body) },
  };
}

export function checkResponse(
  decision: Decision,
  clientHeaders: Readonly<Record<string, string>>,
  verdictKey: string,
  /** Further request headers for the router on allow (lower-case names), e.g. the quota usage. */
  allowHeaders: Readonly<Record<string, string>> = {},
): CheckResponse {
  switch (decision.outcome) {
    case "allow": {
      const verdict = signVerdict(
        {
          requestId: decision.requestId,
          subject: decision.identity.subject,
          tenant: decision.identity.tenant,
          roles: [...decision.identity.roles],
          scope: decision.scope,
          tools: [...decision.tools],
          ...(decision.items === undefined
            ? {}
            : { items: { allow: [...decision.items.allow], deny: [...decision.items.deny] } }),
          bodyDigest: decision.bodyDigest,
          exp: decision.verdictExp,
        },
        verdictKey,
      );
      return {
        status: { code: RPC_CODE.OK },
        ok_response: {
          headers: [
            overwrite(HEADER.verdict, verdict),
            overwrite(HEADER.userId, decision.identity.subject),
            overwrite(HEADER.requestId, decision.requestId),
            ...Object.entries(allowHeaders).map(([name, value]) => overwrite(name, value)),
          ],
          headers_to_remove: headersToRemove(clientHeaders, Object.keys(allowHeaders)),
        },
      };
    }
    case "public": {
      // No identity, so no verdict: a client-sent verdict must not survive either.
      const remove = headersToRemove(clientHeaders);
      if (clientHeaders[HEADER.verdict] !== undefined) remove.push(HEADER.verdict);
      return {
        status: { code: RPC_CODE.OK },
        ok_response: {
          headers: [overwrite(HEADER.requestId, decision.requestId)],
          headers_to_remove: remove,
        },
      };
    }
    case "respond":
      // An answer ext-authz gives itself (RFC 9728 metadata): delivered as a local reply.
      return {
        status: { code: RPC_CODE.PERMISSION_DENIED, message: decision.reason },
        denied_response: {
          status: { code: decision.status },
          headers: [
            overwrite("content-type", decision.contentType),
            overwrite("cache-control", "public, max-age=300"),
            overwrite(HEADER.requestId, decision.requestId),
          ],
          body: decision.body,
        },
      };
    case "deny":
      return denyResponse(decision);
  }
}
