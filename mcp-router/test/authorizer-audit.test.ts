import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../contract/src/digest.ts";
import { signVerdict } from "../../contract/src/verdict.ts";
import type { AuditEvent } from "../../store/src/audit-writer.ts";
import { createAuthorizer } from "../src/authorization.ts";
import type { RouterRequest } from "../src/http-types.ts";

const key = "verdict-key-0123456789-abcdefghijklmnop";
const body = Buffer.from('{"jsonrpc":"2.0","id":1,"method":"tools/list"}');

function request(headers: Record<string, string>): RouterRequest {
  return {
    method: "POST",
    path: "/calc/mcp",
    target: "/calc/mcp",
    headers,
    remoteAddress: "127.0.0.1",
    remotePort: 1,
    localAddress: "127.0.0.1",
    localPort: 2,
    httpVersion: "1.1",
    readBody: () => Promise.resolve({ ok: true, body }),
    signal: new AbortController().signal,
  };
}

describe("the router's own refusals", () => {
  it("are audited with the verdict's identity when the signature was genuine", async () => {
    const events: AuditEvent[] = [];
    const authorizer = createAuthorizer({
      settings: { mode: "envoy" },
      verdictKey: key,
      audit: { write: (event) => Promise.resolve(void events.push(event)) },
    });
    const verdict = signVerdict(
      {
        requestId: "req-genuine",
        subject: "alice",
        tenant: "acme",
        roles: ["developer"],
        scope: "calc",
        tools: ["add"],
        bodyDigest: sha256Hex('{"other":"body"}'),
        exp: Math.floor(Date.now() / 1000) + 30,
      },
      key,
    );
    const result = await authorizer.authorize({
      request: request({ "x-gateway-verdict": verdict }),
      body,
      scope: "calc",
      contextExtensions: {},
    });
    expect(result).toMatchObject({ ok: false, reason: "verdict_body_mismatch" });
    expect(events).toEqual([
      expect.objectContaining({
        request_id: "req-genuine",
        subject: "alice",
        outcome: "rejected",
        reason: "verdict_body_mismatch",
        status: 403,
      }),
    ]);
  });

  it("count an audit failure instead of dropping it silently", async () => {
    let counted!: () => void;
    const failureCounted = new Promise<void>((resolve) => (counted = resolve));
    const authorizer = createAuthorizer({
      settings: { mode: "envoy" },
      verdictKey: key,
      audit: { write: () => Promise.reject(new Error("queue full")) },
      onAuditFailure: () => counted(),
    });
    const result = await authorizer.authorize({
      request: request({ "x-request-id": "req-1" }),
      body,
      scope: "calc",
      contextExtensions: {},
    });
    expect(result).toMatchObject({ ok: false, reason: "verdict_missing" });
    await failureCounted;
  });
});
