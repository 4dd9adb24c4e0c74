import { pino } from "pino";
import { describe, expect, it, vi } from "vitest";
import { ADMIN_VIEW_HEADER } from "../../contract/src/admin-view.ts";
import { sha256Hex } from "../../contract/src/digest.ts";
import { signVerdict } from "../../contract/src/verdict.ts";
import type { AuditEvent } from "../../store/src/audit-writer.ts";
import type { AuthzClient, CheckRequest, CheckResponse } from "../../contract/src/authz-wire.ts";
import { createAuthorizer, type AuthorizeResult } from "../src/authorization.ts";
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

  it("log an audit failure with the refusal's reason and the error", async () => {
    const lines: Record<string, unknown>[] = [];
    let logged!: () => void;
    const failureLogged = new Promise<void>((resolve) => (logged = resolve));
    const logger = pino(
      { level: "error" },
      {
        write: (line: string) => {
          lines.push(JSON.parse(line) as Record<string, unknown>);
          logged();
        },
      },
    );
    const authorizer = createAuthorizer({
      settings: { mode: "envoy" },
      verdictKey: key,
      audit: { write: () => Promise.reject(new Error("queue full")) },
      logger,
    });
    await authorizer.authorize({
      request: request({ "x-gateway-verdict": "v1.a.b" }),
      body,
      scope: "calc",
      contextExtensions: {},
    });
    await failureLogged;
    expect(lines).toEqual([
      expect.objectContaining({
        level: 50,
        reason: "verdict_bad_signature",
        err: expect.objectContaining({ message: "queue full" }) as unknown,
        msg: expect.stringMatching(/audit/) as unknown,
      }),
    ]);
  });
});

const NOW_MS = Date.UTC(2026, 10, 25, 12, 0, 0);
const genuineClaims = {
  requestId: "req-verdict",
  subject: "alice",
  tenant: "acme",
  roles: ["developer"],
  scope: "calc",
  tools: ["add"],
  bodyDigest: sha256Hex(body),
  exp: NOW_MS / 1000 + 30,
};
const verdictOf = (overrides: Partial<typeof genuineClaims> = {}) =>
  signVerdict({ ...genuineClaims, ...overrides }, key);

function envoyAuthorizer(events: AuditEvent[] = [], now = () => NOW_MS) {
  return createAuthorizer({
    settings: { mode: "envoy" },
    verdictKey: key,
    audit: { write: (event) => Promise.resolve(void events.push(event)) },
    now,
  });
}

const refusalBody = (result: AuthorizeResult) =>
  JSON.parse(String(result.ok ? "" : (result.response as { body: string }).body)) as Record<
    string,
    unknown
  >;

describe("verdict enforcement", () => {
  it("accepts a genuine verdict for the body and scope, with no response headers of its own", async () => {
    const result = await envoyAuthorizer().authorize({
      request: request({ "x-gateway-verdict": verdictOf() }),
      body,
      scope: "calc",
      contextExtensions: {},
    });
    expect(result).toEqual({ ok: true, verdict: genuineClaims, responseHeaders: {} });
  });

  it("passes ext-authz's operator view on only when the request carries one", async () => {
    const plain = await envoyAuthorizer().authorize({
      request: request({ "x-gateway-verdict": verdictOf() }),
      body,
      scope: "calc",
      contextExtensions: {},
    });
    expect(plain.ok && Object.hasOwn(plain, "adminView")).toBe(false);
    const viewed = await envoyAuthorizer().authorize({
      request: request({ "x-gateway-verdict": verdictOf(), [ADMIN_VIEW_HEADER]: "signed-view" }),
      body,
      scope: "calc",
      contextExtensions: {},
    });
    expect(viewed).toMatchObject({ ok: true, adminView: "signed-view" });
  });

  it("leaves the scope to the caller when it names none", async () => {
    const result = await envoyAuthorizer().authorize({
      request: request({ "x-gateway-verdict": verdictOf({ scope: "git" }) }),
      body,
      scope: undefined,
      contextExtensions: {},
    });
    expect(result).toMatchObject({ ok: true, verdict: { scope: "git" } });
  });

  it("refuses a verdict for another scope when the caller names one", async () => {
    const events: AuditEvent[] = [];
    const result = await envoyAuthorizer(events).authorize({
      request: request({ "x-gateway-verdict": verdictOf({ scope: "git" }) }),
      body,
      scope: "calc",
      contextExtensions: {},
    });
    expect(result).toMatchObject({ ok: false, reason: "verdict_scope_mismatch" });
    expect(events[0]).toMatchObject({ scope: "calc", subject: "alice" });
  });

  it("judges expiry by its own clock", async () => {
    const at = (ms: number) =>
      envoyAuthorizer([], () => ms).authorize({
        request: request({ "x-gateway-verdict": verdictOf() }),
        body,
        scope: "calc",
        contextExtensions: {},
      });
    expect((await at(NOW_MS + 29_999)).ok).toBe(true);
    expect(await at(NOW_MS + 30_000)).toMatchObject({ ok: false, reason: "verdict_expired" });
  });

  it("refuses a verdict presented a second time, under the verdict's request id", async () => {
    const events: AuditEvent[] = [];
    const authorizer = envoyAuthorizer(events);
    const input = {
      request: request({ "x-gateway-verdict": verdictOf(), "x-request-id": "client-id" }),
      body,
      scope: "calc",
      contextExtensions: {},
    };
    expect((await authorizer.authorize(input)).ok).toBe(true);
    const replayed = await authorizer.authorize(input);
    expect(replayed).toMatchObject({
      ok: false,
      reason: "verdict_replayed",
      response: { status: 403, headers: { "x-request-id": "req-verdict" } },
    });
    expect(events).toEqual([
      expect.objectContaining({
        request_id: "req-verdict",
        subject: "alice",
        scope: "calc",
        reason: "verdict_replayed",
        status: 403,
      }),
    ]);
    // Another verdict (another signature) for the same request is not a replay.
    const fresh = await authorizer.authorize({
      ...input,
      request: request({ "x-gateway-verdict": verdictOf({ requestId: "req-2" }) }),
    });
    expect(fresh.ok).toBe(true);
    // A replica of its own keeps its own record.
    expect((await envoyAuthorizer().authorize(input)).ok).toBe(true);
  });

  it("keeps a verdict single-use for as long as it is valid, even for an hour", async () => {
    // The replay record lives in lru-cache, which keeps time with performance.now(): both clocks
    // move together here. GATEWAY_VERDICT_TTL_SECONDS allows up to 3600 s, longer than the
    // record's default lifetime.
    let clock = NOW_MS;
    const start = performance.now();
    const perfNow = vi.spyOn(performance, "now").mockImplementation(() => start + clock - NOW_MS);
    try {
      const authorizer = envoyAuthorizer([], () => clock);
      const input = {
        request: request({ "x-gateway-verdict": verdictOf({ exp: NOW_MS / 1000 + 3600 }) }),
        body,
        scope: "calc",
        contextExtensions: {},
      };
      const at = async (ms: number) => {
        clock = NOW_MS + ms;
        // lru-cache reuses a reading of its clock for 1 ms of real time.
        await new Promise((resolve) => setTimeout(resolve, 5));
        return authorizer.authorize(input);
      };
      expect((await at(0)).ok).toBe(true);
      expect(await at(601_000)).toMatchObject({ ok: false, reason: "verdict_replayed" });
      expect(await at(3_599_500)).toMatchObject({ ok: false, reason: "verdict_replayed" });
      expect(await at(3_600_000)).toMatchObject({ ok: false, reason: "verdict_expired" });
    } finally {
      perfNow.mockRestore();
    }
  });

  it("answers a refusal as JSON-RPC or REST, under the client's request id when there are no claims", async () => {
    const events: AuditEvent[] = [];
    const authorizer = envoyAuthorizer(events);
    const mcp = await authorizer.authorize({
      request: request({ "x-request-id": "client-id" }),
      body,
      scope: undefined,
      contextExtensions: {},
    });
    expect(mcp).toMatchObject({
      ok: false,
      reason: "verdict_missing",
      response: { status: 403, headers: { "x-request-id": "client-id" } },
    });
    expect(refusalBody(mcp)).toMatchObject({
      jsonrpc: "2.0",
      id: null,
      error: { data: { code: "GW_VERDICT_INVALID" } },
    });
    const rest = await authorizer.authorize({
      request: request({ "x-request-id": "client-id", "x-gateway-verdict": "v1.a.b" }),
      body,
      scope: "calc",
      contextExtensions: {},
      surface: "rest",
    });
    expect(rest).toMatchObject({ ok: false, reason: "verdict_bad_signature" });
    expect(refusalBody(rest)).toEqual({
      error: expect.objectContaining({ code: "GW_VERDICT_INVALID" }) as unknown,
      request_id: "client-id",
    });
    expect(events.map((event) => [event.request_id, event.scope, event.subject])).toEqual([
      ["client-id", null, null],
      ["client-id", "calc", null],
    ]);
  });

  it("audits a genuine but refused verdict under its own scope when the caller named none", async () => {
    const events: AuditEvent[] = [];
    const result = await envoyAuthorizer(events).authorize({
      request: request({ "x-gateway-verdict": verdictOf({ bodyDigest: sha256Hex("other") }) }),
      body,
      scope: undefined,
      contextExtensions: {},
    });
    expect(result).toMatchObject({ ok: false, reason: "verdict_body_mismatch" });
    expect(events[0]).toMatchObject({ request_id: "req-verdict", scope: "calc" });
  });
});

describe("direct mode: the router asks ext-authz itself", () => {
  function directAuthorizer(answer: (request: CheckRequest) => Promise<CheckResponse>) {
    const calls: { request: CheckRequest; deadlineMs: number }[] = [];
    const events: AuditEvent[] = [];
    const client: AuthzClient = {
      check: (checkRequest, options) => {
        calls.push({ request: checkRequest, deadlineMs: options.deadlineMs });
        return answer(checkRequest);
      },
      health: () => Promise.reject(new Error("unused")),
      close: () => undefined,
    };
    const authorizer = createAuthorizer({
      settings: { mode: "direct", client, deadlineMs: 1234 },
      verdictKey: key,
      audit: { write: (event) => Promise.resolve(void events.push(event)) },
      now: () => NOW_MS,
    });
    return { authorizer, calls, events };
  }
  const allowWith = (verdict: string): CheckResponse => ({
    status: { code: 0 },
    ok_response: {
      headers: [{ header: { key: "x-gateway-verdict", value: verdict } }],
      headers_to_remove: [],
      response_headers_to_add: [{ header: { key: "x-ratelimit-remaining", value: "9" } }],
    },
  });

  it("sends the check with its deadline and context, then verifies the verdict it got", async () => {
    const { authorizer, calls } = directAuthorizer(() => Promise.resolve(allowWith(verdictOf())));
    const result = await authorizer.authorize({
      request: request({ authorization: "Bearer t" }),
      body,
      scope: "calc",
      contextExtensions: { scope: "calc" },
    });
    expect(result).toEqual({
      ok: true,
      verdict: genuineClaims,
      responseHeaders: { "x-ratelimit-remaining": "9" },
    });
    expect(calls).toHaveLength(1);
    expect(calls[0]!.deadlineMs).toBe(1234);
    expect(calls[0]!.request.attributes?.context_extensions).toEqual({ scope: "calc" });
  });

  it("does not let a verdict sent by the client stand in for ext-authz's", async () => {
    const { authorizer } = directAuthorizer(() =>
      Promise.resolve({ status: { code: 0 }, ok_response: { headers: [], headers_to_remove: [] } }),
    );
    const result = await authorizer.authorize({
      request: request({ "x-gateway-verdict": verdictOf() }),
      body,
      scope: "calc",
      contextExtensions: {},
    });
    expect(result).toMatchObject({ ok: false, reason: "verdict_missing" });
  });

  it("relays a deny as it is, without auditing it again", async () => {
    const { authorizer, events } = directAuthorizer(() =>
      Promise.resolve({
        status: { code: 7 },
        denied_response: { status: { code: 429 }, headers: [], body: "slow down" },
      }),
    );
    const result = await authorizer.authorize({
      request: request({}),
      body,
      scope: "calc",
      contextExtensions: {},
    });
    expect(result).toMatchObject({
      ok: false,
      reason: "denied",
      response: { status: 429, body: "slow down" },
    });
    expect(events).toEqual([]);
  });

  it("fails closed with 503 and an audit record when ext-authz does not answer", async () => {
    const { authorizer, events } = directAuthorizer(() => Promise.reject(new Error("down")));
    for (const surface of ["mcp", "rest"] as const) {
      const result = await authorizer.authorize({
        request: request({ "x-request-id": "client-id" }),
        body,
        scope: "calc",
        contextExtensions: {},
        surface,
      });
      expect(result).toMatchObject({
        ok: false,
        reason: "authz_unavailable",
        response: { status: 503 },
      });
      expect(JSON.stringify(refusalBody(result))).toContain("GW_AUTHZ_UNAVAILABLE");
    }
    expect(events.map((event) => [event.reason, event.status, event.scope])).toEqual([
      ["authz_unavailable", 503, "calc"],
      ["authz_unavailable", 503, "calc"],
    ]);
  });
});
