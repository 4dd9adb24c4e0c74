import { randomUUID } from "node:crypto";
import type { CheckResponse } from "../contract/src/authz-wire.ts";
import { HEADER } from "../contract/src/headers.ts";
import { sha256Hex } from "../contract/src/digest.ts";
import { signVerdict, verifyVerdict } from "../contract/src/verdict.ts";
import { applyCheckResponse } from "../mcp-router/src/direct-authz.ts";
import type { LoadTarget } from "./http-load.ts";

/**
 * The request Envoy forwards to the router (AUTHZ_MODE=envoy) once ext-authz allowed a client's
 * call: the client's headers with ext-authz's answer applied (Authorization removed, the verdict,
 * user and request id set), as the router's direct mode applies it. A verdict is accepted once,
 * so every request gets the same claims signed anew with its own request id, as ext-authz signs
 * one per Check; the bench holds the verdict key, as it holds the tool servers' secret for the
 * direct call.
 */
export function behindEnvoyCall(
  call: LoadTarget,
  allowed: CheckResponse,
  verdictKey: string,
): LoadTarget {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(call.headers)) headers[name.toLowerCase()] = value;
  const applied = applyCheckResponse(allowed, headers);
  if (applied.kind !== "allow") throw new Error(`the Check was denied (${applied.status})`);
  // Read back as the router reads it: the claims ext-authz signed for this body.
  const checked = verifyVerdict(applied.headers[HEADER.verdict], {
    key: verdictKey,
    bodyDigest: sha256Hex(call.body),
  });
  if (!checked.ok)
    throw new Error(`the allow answer carries no usable verdict (${checked.reason})`);
  const claims = checked.verdict;
  const lifetimeS = claims.exp - Math.floor(Date.now() / 1000);
  return {
    url: call.url,
    body: call.body,
    headers: applied.headers,
    perRequestHeaders: () => {
      const requestId = randomUUID();
      const verdict = signVerdict(
        { ...claims, requestId, exp: Math.floor(Date.now() / 1000) + lifetimeS },
        verdictKey,
      );
      return { [HEADER.requestId]: requestId, [HEADER.verdict]: verdict };
    },
  };
}
