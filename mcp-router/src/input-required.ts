import { META_KEY } from "../../contract/src/mcp-wire.ts";
import { isRecord } from "./forwarding.ts";
import type { InputRound } from "./input-rounds.ts";
import {
  createChannel,
  failure,
  type McpAnswer,
  type McpCall,
  type StreamItem,
} from "./mcp-answer.ts";
import type { RouterContext } from "./router-context.ts";
import { RELAYABLE_CLIENT_CAPABILITIES, type ClientCapability } from "./session.ts";
import type { BackendCall } from "./upstream/backends.ts";
import { hasStatelessUpstream } from "./upstream/stateless-upstream.ts";

/** What a 2026-07-28 client's request carries on to a 2026-07-28 server to continue its round. */
export function roundContinuation(
  params: Record<string, unknown> | undefined,
): Record<string, unknown> {
  return {
    ...(params?.inputResponses === undefined ? {} : { inputResponses: params.inputResponses }),
    ...(params?.requestState === undefined ? {} : { requestState: params.requestState }),
  };
}

/**
 * Where a stateless (2026-07-28) request to a scope served by an MCP server meets the input
 * rounds (input-rounds.ts): a request carrying `requestState` continues its round; a new one
 * starts a round when the client declared a capability the server may ask through.
 */

/** The capabilities a 2026-07-28 request declares in `_meta` that the gateway can ask through. */
export function requestCapabilities(
  params: Record<string, unknown> | undefined,
): ClientCapability[] {
  const meta = params?._meta;
  const declared = isRecord(meta) ? meta[META_KEY.clientCapabilities] : undefined;
  if (!isRecord(declared)) return [];
  return RELAYABLE_CLIENT_CAPABILITIES.filter((name) => isRecord(declared[name]));
}

/** Who a round belongs to: the user, and the request it was opened for. */
export function roundOwner(call: McpCall, method: string, target: string) {
  return {
    subject: call.verdict.subject,
    tenant: call.verdict.tenant,
    scope: call.scope,
    method,
    target,
  };
}

/** A later attempt of a round (it carries `requestState`); undefined for any other request. */
export function resumeInputRound(
  ctx: RouterContext,
  call: McpCall,
  method: string,
  target: string,
  params: Record<string, unknown> | undefined,
): McpAnswer | undefined {
  if (call.era !== "stateless" || params?.requestState === undefined) return undefined;
  // A 2026-07-28 server's own state goes back to it; the gateway's only while a task's
  // announcement is held (tasks/announce-after-input.ts).
  if (
    hasStatelessUpstream(ctx.config.tools.scopes[call.scope]) &&
    (typeof params.requestState !== "string" || !ctx.inputRounds.holds(params.requestState))
  ) {
    return undefined;
  }
  if (typeof params.requestState !== "string") {
    return failure("GW_INVALID_PARAMS", { detail: "params.requestState must be a string" });
  }
  const items = createChannel<StreamItem>();
  const resumed = ctx.inputRounds.resume(
    params.requestState,
    roundOwner(call, method, target),
    params.inputResponses,
    items,
    call.signal,
  );
  if (!resumed.ok) return failure("GW_INVALID_PARAMS", { detail: resumed.detail });
  return { kind: "stream", items };
}

/**
 * A new round for a stateless request whose client can answer the server's requests, with
 * `items` (this attempt's stream) attached; undefined when there is nothing the server could ask.
 */
export function startInputRound(
  ctx: RouterContext,
  call: McpCall,
  method: string,
  target: string,
  params: Record<string, unknown> | undefined,
  items: { push(item: StreamItem): void; close(): void },
):
  | { round: InputRound; relay: Pick<BackendCall, "clientCapabilities" | "onServerRequest"> }
  | undefined {
  if (call.era !== "stateless") return undefined;
  const scopeConfig = ctx.config.tools.scopes[call.scope];
  if (scopeConfig?.mcp_server === undefined || hasStatelessUpstream(scopeConfig)) return undefined;
  const capabilities = requestCapabilities(params);
  if (capabilities.length === 0) return undefined;
  const round = ctx.inputRounds.start(
    roundOwner(call, method, target),
    items,
    call.signal,
    scopeConfig.timeout_ms,
  );
  if (round === undefined) return undefined;
  return {
    round,
    relay: { clientCapabilities: capabilities, onServerRequest: (request) => round.ask(request) },
  };
}
