import { randomUUID } from "node:crypto";
import { encodeCheckRequest } from "../contract/src/authz-wire.ts";
import { buildCheckRequest } from "../mcp-router/src/direct-authz.ts";
import type { LoadTarget } from "./http-load.ts";

/**
 * The CheckRequest bytes the router (AUTHZ_MODE=direct) sends ext-authz for one gateway call,
 * built by the router's own code from the request a client sends.
 */
export function encodedCheckRequest(call: LoadTarget): Buffer {
  const url = new URL(call.url);
  const body = Buffer.from(call.body);
  const headers: Record<string, string> = {
    host: url.host,
    "content-length": String(body.length),
  };
  for (const [name, value] of Object.entries(call.headers)) headers[name.toLowerCase()] = value;
  return encodeCheckRequest(
    buildCheckRequest({
      request: {
        method: "POST",
        path: url.pathname,
        target: url.pathname,
        headers,
        remoteAddress: "127.0.0.1",
        remotePort: 40_000,
        localAddress: "127.0.0.1",
        localPort: Number(url.port),
        httpVersion: "1.1",
        readBody: () => Promise.reject(new Error("not read")),
        signal: new AbortController().signal,
      },
      body,
      requestId: randomUUID(),
      streamId: randomUUID(),
      contextExtensions: { scope: url.pathname.split("/")[1] ?? "" },
    }),
  );
}
