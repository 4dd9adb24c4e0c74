import {
  checkRoutingHeaders,
  claimedVersion,
  statelessEnvelopeProblem,
  SUPPORTED_PROTOCOL_VERSIONS,
  unsupportedStatelessVersion,
  type WireMessage,
} from "../../contract/src/mcp-wire.ts";
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
  return encodeAnswer(await dispatch(ctx, call, message), {
    era: "stateless",
    id,
    ...exchange,
  });
}
