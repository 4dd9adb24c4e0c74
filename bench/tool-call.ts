import { randomUUID } from "node:crypto";
import { signGatewayAuth } from "../contract/src/gateway-auth.ts";
import { HEADER } from "../contract/src/headers.ts";
import { META_KEY } from "../contract/src/mcp-wire.ts";
import type { LoadTarget } from "./http-load.ts";

/**
 * The one call every benchmark sends: MCP `tools/call` of `exact_calculate` (multiply three
 * decimals), straight to the calculator as the router forwards it, or to the gateway as a client
 * sends it.
 */

const ARGUMENTS = { operator: "multiply", operands: ["1.25", "3.5", "2"] };
export const EXPECTED_RESULT = '"result":"8.75"';
const ACCEPT = "application/json, text/event-stream";
/** The stateless revision: every request stands alone, no session to open first. */
const STATELESS_REVISION = "2026-07-28";
/** What the router speaks to tool servers. */
const BACKEND_REVISION = "2025-11-25";

/**
 * To the tool server, with a valid X-Gateway-Auth signed anew for each request: a header is
 * accepted once, for the `calculator` audience, within 60 s.
 */
export function directCall(url: string, toolSecret: string, user = "bench"): LoadTarget {
  const body = JSON.stringify({
    jsonrpc: "2.0",
    id: 1,
    method: "tools/call",
    params: { name: "exact_calculate", arguments: ARGUMENTS },
  });
  const identity = (): Record<string, string> => {
    const requestId = randomUUID();
    return {
      [HEADER.userId]: user,
      [HEADER.requestId]: requestId,
      [HEADER.gatewayAuth]: signGatewayAuth({
        secret: toolSecret,
        audience: "calculator",
        userId: user,
        requestId,
        body,
      }),
    };
  };
  return {
    url,
    body,
    headers: {
      "content-type": "application/json",
      accept: ACCEPT,
      [HEADER.mcpProtocolVersion]: BACKEND_REVISION,
      ...identity(),
    },
    perRequestHeaders: identity,
  };
}

/** To the gateway's /calculator/mcp with a Bearer token (a fresh request id per request). */
export function gatewayCall(url: string, token: string): LoadTarget {
  const body = JSON.stringify({
    jsonrpc: "2.0",
    id: 1,
    method: "tools/call",
    params: {
      name: "exact_calculate",
      arguments: ARGUMENTS,
      _meta: {
        [META_KEY.protocolVersion]: STATELESS_REVISION,
        [META_KEY.clientCapabilities]: {},
      },
    },
  });
  return {
    url,
    body,
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
      accept: ACCEPT,
      [HEADER.mcpProtocolVersion]: STATELESS_REVISION,
      [HEADER.mcpMethod]: "tools/call",
      [HEADER.mcpName]: "exact_calculate",
    },
  };
}

/** One call, checked for the right answer, before load is put on a path. */
export async function callOnce(target: LoadTarget): Promise<void> {
  const response = await fetch(target.url, {
    method: "POST",
    headers: target.headers,
    body: target.body,
  });
  const text = await response.text();
  if (response.status !== 200 || !text.includes(EXPECTED_RESULT)) {
    throw new Error(`${target.url}: ${response.status} ${text.slice(0, 300)}`);
  }
}
