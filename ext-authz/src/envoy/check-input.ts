/**
 * CheckRequest → decision input: only what the decision needs. The body is taken as exact bytes
 * (raw_body when Envoy packs bytes, else the UTF-8 string), because the verdict signs its digest.
 */
import type { CheckRequest } from "../../../contract/src/authz-wire.ts";
import type { CheckInput } from "../policy/decide.ts";

export type CheckInputResult = { ok: true; input: CheckInput } | { ok: false };

export function checkInputFromRequest(request: CheckRequest): CheckInputResult {
  const attributes = request.attributes;
  const http = attributes?.request?.http;
  if (!http) return { ok: false };
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(http.headers ?? {})) {
    if (typeof value === "string") headers[name.toLowerCase()] = value;
  }
  const method = http.method || headers[":method"] || "";
  const path = http.path || headers[":path"] || "";
  if (method === "" || !path.startsWith("/")) return { ok: false };
  const raw = http.raw_body;
  const body =
    raw !== undefined && raw.byteLength > 0
      ? raw
      : new Uint8Array(Buffer.from(http.body ?? "", "utf8"));
  const scope = attributes?.context_extensions?.scope;
  return {
    ok: true,
    input: { method, path, headers, body, contextScope: scope === "" ? undefined : scope },
  };
}
