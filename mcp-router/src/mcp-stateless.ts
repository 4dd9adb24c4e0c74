import {
  checkRoutingHeaders,
  claimedVersion,
  statelessEnvelopeProblem,
  SUPPORTED_PROTOCOL_VERSIONS,
  unsupportedStatelessVersion,
  type WireMessage,
} from "../../contract/src/mcp-wire.ts";
import { checkParamHeaders } from "../../contract/src/mcp-param-headers.ts";
import { paramBindingsOf } from "./param-bindings.ts";
import { GATEWAY_ERRORS } from "../../contract/src/errors.ts";
import { rejectedToolCallEvent } from "./audit.ts";
import { rpcErrorResponse, type RouterResponse } from "./http-types.ts";
import type { McpCall } from "./mcp-answer.ts";
import { encodeAnswer, type McpExchange } from "./mcp-encoding.ts";
import { dispatch } from "./mcp-methods.ts";
import type { RouterContext } from "./router-context.ts";

/**
 * The stateless era (2026-07-28): no initialize and no sessions; every request carries its
 * version and the client's capabilities in `_meta`, and routing headers that must agree with the
 * body (the same contract ext-authz applied before signing the verdict).
 */
export async function handleStatelessPost(
  ctx: RouterContext,
  call: McpCall,
  message: WireMessage,
  exchange: McpExchange,
): Promise<RouterResponse> {
  const id = message.kind === "request" ? message.id : null;
  const headers = exchange.responseHeaders;
  // The gateway sends no requests to clients, so there is nothing a response could answer.
  if (message.kind === "response") return rpcErrorResponse("GW_INVALID_REQUEST", null, { headers });

  const unsupported = unsupportedStatelessVersion(
    claimedVersion(message.params),
    exchange.routing.protocolVersion,
  );
  if (unsupported !== undefined) {
    return rpcErrorResponse("GW_UNSUPPORTED_PROTOCOL_VERSION", id, {
      headers,
      data: { supported: SUPPORTED_PROTOCOL_VERSIONS, requested: unsupported },
    });
  }
  if (message.kind === "request") {
    const envelope = statelessEnvelopeProblem(message.params);
    if (envelope !== undefined) {
      return rpcErrorResponse("GW_INVALID_PARAMS", id, { headers, status: 400, detail: envelope });
    }
  }
  const problem = checkRoutingHeaders(message, exchange.routing, "stateless");
  if (problem !== undefined) {
    return rpcErrorResponse("GW_HEADER_MISMATCH", id, { headers, detail: problem.detail });
  }
  const paramProblem = await paramHeaderProblem(ctx, call.scope, message, exchange.headers);
  if (paramProblem !== undefined) {
    // ext-authz allowed the body; only the router knows the tool's schema, so it audits this.
    try {
      await ctx.audit.write(
        rejectedToolCallEvent(call, {
          tool: paramProblem.tool,
          rejection: "header_mismatch",
          status: GATEWAY_ERRORS.GW_HEADER_MISMATCH.httpStatus,
        }),
      );
    } catch (error) {
      ctx.metrics.auditFailures.inc({ reason: "refusal" });
      call.logger.error({ err: error }, "audit write refused; answering 503");
      return rpcErrorResponse("GW_AUDIT_UNAVAILABLE", id, { headers });
    }
    call.logger.info({ tool: paramProblem.tool, reason: "header_mismatch" }, "request refused");
    return rpcErrorResponse("GW_HEADER_MISMATCH", id, { headers, detail: paramProblem.detail });
  }
  return encodeAnswer(await dispatch(ctx, call, message), {
    era: "stateless",
    id,
    ...exchange,
  });
}

/**
 * `Mcp-Param-*` headers of a tools/call against the arguments (SEP-2243), by the tool's schema in
 * the catalog. A tool the catalog does not know is left to the call, which refuses it.
 */
async function paramHeaderProblem(
  ctx: RouterContext,
  scope: string,
  message: WireMessage,
  headers: Readonly<Record<string, string>>,
): Promise<{ tool: string; detail: string } | undefined> {
  if (message.kind !== "request" || message.method !== "tools/call") return undefined;
  const name = message.params?.name;
  if (typeof name !== "string") return undefined;
  const catalog = await ctx.catalog.get(scope);
  const entry = catalog.ok ? catalog.tools.get(name) : undefined;
  if (entry === undefined) return undefined;
  const bindings = paramBindingsOf(entry.definition);
  if (bindings.length === 0) return undefined;
  const detail = checkParamHeaders(bindings, message.params?.arguments, headers);
  return detail === undefined ? undefined : { tool: name, detail };
}
