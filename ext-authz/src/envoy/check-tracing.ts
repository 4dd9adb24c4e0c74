import type { Metadata } from "@grpc/grpc-js";
import type { CheckRequest } from "../../../contract/src/authz-wire.ts";
import { sha256Hex } from "../../../contract/src/digest.ts";
import { TRACEPARENT, TRACESTATE } from "../../../contract/src/tracing.ts";
import type { Decision } from "../policy/decide.ts";

/**
 * What the `ext_authz.check` span records (only when tracing is on). An allowlist, like the
 * decision log line: the decision and what it concerned, never the token, a header, the body or
 * the arguments. The subject is a hash, so a trace backend with looser access than the audit table
 * can correlate a caller's requests without naming them.
 */

/** W3C trace headers carried beside a Check (gRPC metadata from Envoy). */
export type TraceCarrier = Readonly<Record<string, string | undefined>>;

/** The traceparent/tracestate of the gRPC call's metadata (Envoy's ext_authz span). */
export function traceCarrierOf(metadata: Metadata): TraceCarrier | undefined {
  const parent = metadata.get(TRACEPARENT)[0];
  if (typeof parent !== "string") return undefined;
  const state = metadata.get(TRACESTATE)[0];
  return { [TRACEPARENT]: parent, [TRACESTATE]: typeof state === "string" ? state : undefined };
}

/**
 * The headers the span's parent is read from: the call's metadata when it names one (Envoy with
 * tracing on), else the checked request's own headers (the router in direct mode puts its span
 * there; without tracing in Envoy, a client's traceparent).
 */
export function traceParentOf(
  request: CheckRequest,
  carrier: TraceCarrier | undefined,
): TraceCarrier {
  if (carrier !== undefined) return carrier;
  const headers = request.attributes?.request?.http?.headers ?? {};
  return { [TRACEPARENT]: headers[TRACEPARENT], [TRACESTATE]: headers[TRACESTATE] };
}

/** A short, stable pseudonym of the subject (16 hex digits of its SHA-256). */
export function subjectHash(subject: string): string {
  return sha256Hex(subject).slice(0, 16);
}

/** The span attributes of one decision (allowlisted). */
export function decisionAttributes(
  decision: Decision,
  reason: string,
  status: number,
): Record<string, string | number> {
  const attributes: Record<string, string | number> = {
    "gateway.request_id": decision.requestId,
    "gateway.decision": decision.outcome,
    "gateway.reason": reason,
    "http.response.status_code": status,
  };
  const context =
    decision.outcome === "allow" || decision.outcome === "deny" ? decision.context : undefined;
  const scope = decision.outcome === "allow" ? decision.scope : context?.scope;
  if (scope) attributes["gateway.scope"] = scope;
  if (context?.method) attributes["gateway.method"] = context.method;
  if (context?.tool) attributes["gateway.tool"] = context.tool;
  if (context?.subject) attributes["gateway.subject_hash"] = subjectHash(context.subject);
  if (context?.tenant) attributes["gateway.tenant"] = context.tenant;
  if (context?.rule) attributes["gateway.policy_rule"] = context.rule;
  return attributes;
}
