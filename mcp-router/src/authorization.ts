import { randomUUID } from "node:crypto";
import { LRUCache } from "lru-cache";
import type { AuthzClient } from "../../contract/src/authz-wire.ts";
import { sha256Hex } from "../../contract/src/digest.ts";
import { ADMIN_VIEW_HEADER } from "../../contract/src/admin-view.ts";
import { HEADER } from "../../contract/src/headers.ts";
import { withSpan } from "../../contract/src/tracing.ts";
import { verifyVerdict, type VerdictClaims } from "../../contract/src/verdict.ts";
import type { Logger } from "../../contract/src/log.ts";
import { buildAuditEvent, type AuditSink } from "./audit.ts";
import { applyCheckResponse, buildCheckRequest } from "./direct-authz.ts";
import {
  rpcErrorResponse,
  type ResponseHeaders,
  type RouterRequest,
  type RouterResponse,
} from "./http-types.ts";
import { requestIdFor } from "./request-id.ts";
import { restError } from "./rest-error.ts";

/**
 * The router's single enforcement point: nothing is served without a valid verdict. In envoy mode
 * the verdict arrives as a header; in direct mode the router first obtains it from ext-authz
 * exactly as Envoy would, then both modes run the same verification.
 */
export type AuthzSettings =
  { mode: "envoy" } | { mode: "direct"; client: AuthzClient; deadlineMs: number };

export type AuthzRejection =
  | "denied"
  | "authz_unavailable"
  | "verdict_missing"
  | "verdict_malformed"
  | "verdict_bad_signature"
  | "verdict_expired"
  | "verdict_body_mismatch"
  | "verdict_scope_mismatch"
  | "verdict_replayed";

export type AuthorizeResult =
  | {
      ok: true;
      verdict: VerdictClaims;
      responseHeaders: ResponseHeaders;
      /**
       * `x-gateway-admin-view` as ext-authz set it with this allow (an operator's read of
       * limits or policy, contract/src/admin-view.ts); absent when it set none.
       */
      adminView?: string;
    }
  | { ok: false; reason: AuthzRejection; response: RouterResponse };

export type Authorizer = {
  authorize(input: {
    request: RouterRequest;
    body: Buffer;
    /** The scope the verdict must name; undefined when the caller checks it after parsing. */
    scope: string | undefined;
    contextExtensions: Record<string, string>;
    /** The shape of the router's own refusals: JSON-RPC (default) or the REST API's. */
    surface?: "mcp" | "rest";
  }): Promise<AuthorizeResult>;
};

/** How often the replay cache drops verdicts past their expiry (on the request path). */
const SWEEP_MS = 5_000;

export function createAuthorizer(options: {
  settings: AuthzSettings;
  verdictKey: string;
  /** Where the router's own refusals are recorded (ext-authz audits its denials itself). */
  audit?: AuditSink;
  logger?: Logger;
  /** Counts refusals whose audit event could not be queued (never silent). */
  onAuditFailure?: () => void;
  now?: () => number;
}): Authorizer {
  const now = options.now ?? Date.now;
  const refuse = (
    request: RouterRequest,
    surface: "mcp" | "rest",
    scope: string | undefined,
    reason: Exclude<AuthzRejection, "denied">,
    claims?: VerdictClaims,
  ): AuthorizeResult => {
    const code = reason === "authz_unavailable" ? "GW_AUTHZ_UNAVAILABLE" : "GW_VERDICT_INVALID";
    // The client sees the id the refusal is audited under.
    const requestId = claims?.requestId ?? requestIdFor(request);
    const response =
      surface === "rest"
        ? restError(code, { requestId })
        : rpcErrorResponse(code, null, { headers: { [HEADER.requestId]: requestId } });
    options.audit
      ?.write(
        buildAuditEvent({
          kind: "decision",
          requestId,
          identity: claims ?? null,
          scope: scope ?? claims?.scope ?? null,
          method: null,
          tool: null,
          outcome: "rejected",
          rejection: reason,
          status: response.status,
          latencyMs: null,
        }),
      )
      .catch((error: unknown) => {
        options.onAuditFailure?.();
        options.logger?.error({ err: error, reason }, "could not audit a refused request");
      });
    return { ok: false, reason, response };
  };
  // A verdict is single-use: the same signed header presented twice is refused on this replica.
  // Bounded by count through maxSize, not max: lru-cache preallocates arrays for `max` entries
  // (9 MB for these 200,000 with their ttl), where this way they grow with use.
  const seen = new LRUCache<string, true>({
    maxSize: 200_000,
    sizeCalculation: () => 1,
    ttl: 600_000,
  });
  let lastSweep = 0;

  const inner: Authorizer = {
    async authorize({ request, body, scope, contextExtensions, surface = "mcp" }) {
      let headers = request.headers;
      let responseHeaders: ResponseHeaders = {};
      if (options.settings.mode === "direct") {
        const checkRequest = buildCheckRequest({
          request,
          body,
          requestId: randomUUID(),
          streamId: randomUUID(),
          contextExtensions,
        });
        let checkResponse;
        try {
          checkResponse = await options.settings.client.check(checkRequest, {
            deadlineMs: options.settings.deadlineMs,
          });
        } catch {
          // Envoy's failure_mode_allow=false with status_on_error 503: fail closed.
          return refuse(request, surface, scope, "authz_unavailable");
        }
        const applied = applyCheckResponse(checkResponse, request.headers);
        if (applied.kind === "deny") {
          return { ok: false, reason: "denied", response: applied.response };
        }
        headers = applied.headers;
        responseHeaders = applied.responseHeaders;
      }

      const verdictHeader = headers[HEADER.verdict];
      const check = verifyVerdict(verdictHeader, {
        key: options.verdictKey,
        bodyDigest: sha256Hex(body),
        ...(scope === undefined ? {} : { scope }),
        now: now(),
      });
      if (!check.ok) {
        return refuse(request, surface, scope, `verdict_${check.reason}`, check.claims);
      }
      // Re-encoded rather than sliced: a slice keeps the whole header alive in the cache.
      const signature = Buffer.from(
        (verdictHeader as string).slice((verdictHeader as string).lastIndexOf(".") + 1),
        "base64url",
      ).toString("base64url");
      if (seen.has(signature)) {
        return refuse(request, surface, scope, "verdict_replayed", check.verdict);
      }
      const at = now();
      seen.set(signature, true, { ttl: Math.max(1, check.verdict.exp * 1000 - at + 1000) });
      // Expired entries are dropped only when touched or evicted; without this sweep the cache
      // would fill to its bound with verdicts nobody can replay any more.
      if (at - lastSweep >= SWEEP_MS) {
        lastSweep = at;
        seen.purgeStale();
      }
      return {
        ok: true,
        verdict: check.verdict,
        responseHeaders,
        ...(headers[ADMIN_VIEW_HEADER] === undefined
          ? {}
          : { adminView: headers[ADMIN_VIEW_HEADER] }),
      };
    },
  };
  return {
    authorize: (input) =>
      withSpan("router.verdict", async (span) => {
        const result = await inner.authorize(input);
        span?.setAttribute("gateway.verdict", result.ok ? "valid" : result.reason);
        return result;
      }),
  };
}
