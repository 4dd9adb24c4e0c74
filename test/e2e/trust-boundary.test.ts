import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuthzClient, type AuthzClient } from "../../contract/src/authz-wire.ts";
import { sha256Hex } from "../../contract/src/digest.ts";
import { HEADER } from "../../contract/src/headers.ts";
import { signVerdict } from "../../contract/src/verdict.ts";
import { startRouter, type RouterHandle } from "../../mcp-router/src/router.ts";
import {
  ALICE,
  BOB,
  MAX_REQUEST_BYTES,
  modernHeaders,
  modernRequest,
  quietLogger,
  readMessages,
  startE2eStack,
  type E2eStack,
} from "./stack-fixture.ts";

/**
 * The trust boundary: identity and authorization come only from a verdict that ext-authz signed
 * for this exact body. Client-sent identity headers, forged or replayed verdicts, and requests that
 * skip ext-authz are refused.
 */

let e2e: E2eStack;
/** A second router replica in AUTHZ_MODE=envoy against the same database, config and keys. */
let envoyRouter: RouterHandle;
let authz: AuthzClient;

beforeAll(async () => {
  e2e = await startE2eStack();
  envoyRouter = await startRouter({
    config: e2e.stack.config,
    db: e2e.stack.database.db,
    audit: e2e.stack.audit,
    callJournal: e2e.stack.callJournal,
    logger: quietLogger,
    authz: { mode: "envoy" },
    verdictKey: e2e.env.GATEWAY_VERDICT_KEY!,
    toolSecret: e2e.env.TOOL_GATEWAY_SHARED_SECRET!,
    maxRequestBytes: MAX_REQUEST_BYTES,
    host: "127.0.0.1",
    port: 0,
  });
  authz = createAuthzClient(e2e.stack.extAuthzAddress);
});
afterAll(async () => {
  authz?.close();
  await envoyRouter?.close();
  await e2e?.close();
});

function calculation(operands: string[], id = 1): string {
  return JSON.stringify(
    modernRequest(
      "tools/call",
      { name: "exact_calculate", arguments: { operator: "add", operands } },
      id,
    ),
  );
}

/** A verdict claiming what an attacker would like: alice, developer, every tool, this body. */
function forgedVerdict(scope: string, body: string, key: string): string {
  return signVerdict(
    {
      requestId: randomUUID(),
      subject: "alice",
      tenant: "acme",
      roles: ["developer"],
      scope,
      tools: e2e.stack.config.tools.scopes[scope]!.tools.map((tool) => tool.name),
      bodyDigest: sha256Hex(body),
      exp: Math.floor(Date.now() / 1000) + 60,
    },
    key,
  );
}

async function invocationRows(requestId: string) {
  return (await e2e.auditRows(requestId)).filter((row) => row.kind === "invocation");
}

async function invocationCount(): Promise<number> {
  await e2e.stack.audit.flush();
  const rows = await e2e.stack.database.db
    .selectFrom("audit_events")
    .select("id")
    .where("kind", "=", "invocation")
    .execute();
  return rows.length;
}

describe("client-sent identity headers through the direct-mode stack", () => {
  it("ignores a forged x-user-id and x-gateway-verdict: the call runs as the token's subject", async () => {
    const body = calculation(["40", "2"]);
    const response = await fetch(e2e.endpoint("calculator"), {
      method: "POST",
      headers: {
        ...modernHeaders("tools/call", "exact_calculate"),
        authorization: `Bearer ${await e2e.token(BOB)}`,
        [HEADER.userId]: "alice",
        // Signed with the real key: even a perfect forgery is replaced by ext-authz's own verdict.
        [HEADER.verdict]: forgedVerdict("calculator", body, e2e.env.GATEWAY_VERDICT_KEY!),
        [HEADER.gatewayAuth]: "forged",
      },
      body,
    });
    expect(response.status).toBe(200);
    const [message] = await readMessages(response);
    expect(message).toMatchObject({ result: { structuredContent: { result: "42" } } });
    const rows = await invocationRows(response.headers.get(HEADER.requestId)!);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      source: "router",
      subject: "bob",
      roles: ["analyst"],
      tool: "exact_calculate",
      outcome: "ok",
    });
  });

  it("does not let a forged verdict open a scope the token's roles lack (403 insufficient_scope)", async () => {
    const body = JSON.stringify(
      modernRequest("tools/call", {
        name: "git_read_file",
        arguments: { repository: "gateway", path: "README.md" },
      }),
    );
    const response = await fetch(e2e.endpoint("git"), {
      method: "POST",
      headers: {
        ...modernHeaders("tools/call", "git_read_file"),
        authorization: `Bearer ${await e2e.token(BOB)}`,
        [HEADER.userId]: "alice",
        [HEADER.verdict]: forgedVerdict("git", body, e2e.env.GATEWAY_VERDICT_KEY!),
      },
      body,
    });
    expect(response.status).toBe(403);
    const [message] = await readMessages(response);
    expect(message).toMatchObject({ error: { data: { code: "GW_INSUFFICIENT_SCOPE" } } });
    const rows = await e2e.auditRows(response.headers.get(HEADER.requestId)!);
    expect(rows).toMatchObject([
      {
        source: "ext-authz",
        subject: "bob",
        scope: "git",
        outcome: "denied",
        reason: "insufficient_scope",
        status: 403,
      },
    ]);
  });

  it("answers 401 with a resource-metadata challenge to a forged verdict without a token", async () => {
    const body = calculation(["1", "1"]);
    const response = await fetch(e2e.endpoint("calculator"), {
      method: "POST",
      headers: {
        ...modernHeaders("tools/call", "exact_calculate"),
        [HEADER.userId]: "alice",
        [HEADER.verdict]: forgedVerdict("calculator", body, e2e.env.GATEWAY_VERDICT_KEY!),
      },
      body,
    });
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toMatch(
      /^Bearer .*resource_metadata="[^"]+\/\.well-known\/oauth-protected-resource\/calculator\/mcp"/,
    );
    const [message] = await readMessages(response);
    expect(message).toMatchObject({ id: 1, error: { data: { code: "GW_TOKEN_MISSING" } } });
    const rows = await e2e.auditRows(response.headers.get(HEADER.requestId)!);
    expect(rows).toMatchObject([
      {
        source: "ext-authz",
        subject: null,
        scope: "calculator",
        outcome: "denied",
        reason: "token_missing",
        status: 401,
      },
    ]);
  });
});

describe("verdicts at an envoy-mode router replica", () => {
  /** Asks ext-authz for a verdict exactly as Envoy would for this body. */
  async function genuineVerdict(body: string, token: string) {
    const path = "/calculator/mcp";
    const response = await authz.check(
      {
        attributes: {
          request: {
            http: {
              id: randomUUID(),
              method: "POST",
              path,
              host: "gateway.test",
              scheme: "http",
              protocol: "HTTP/1.1",
              size: Buffer.byteLength(body),
              body,
              headers: {
                ":method": "POST",
                ":path": path,
                ":authority": "gateway.test",
                ":scheme": "http",
                authorization: `Bearer ${token}`,
                ...modernHeaders("tools/call", "exact_calculate"),
              },
            },
          },
          context_extensions: { scope: "calculator" },
        },
      },
      { deadlineMs: 5_000 },
    );
    expect(response.status?.code).toBe(0);
    const header = (name: string) =>
      response.ok_response?.headers.find((option) => option.header?.key === name)?.header?.value;
    const verdict = header(HEADER.verdict);
    const requestId = header(HEADER.requestId);
    expect(verdict).toMatch(/^v1\./);
    expect(requestId).toEqual(expect.any(String));
    return { verdict: verdict!, requestId: requestId! };
  }

  function postToReplica(body: string, extra: Record<string, string>): Promise<Response> {
    return fetch(`${envoyRouter.url}/calculator/mcp`, {
      method: "POST",
      headers: { ...modernHeaders("tools/call", "exact_calculate"), ...extra },
      body,
    });
  }

  it("refuses a genuine verdict replayed with another body, accepts it once with its own body", async () => {
    const bodyA = calculation(["1", "2"]);
    const bodyB = calculation(["1000000", "2"]);
    const { verdict, requestId } = await genuineVerdict(bodyA, await e2e.token(BOB));

    const swapped = await postToReplica(bodyB, { [HEADER.verdict]: verdict });
    expect(swapped.status).toBe(403);
    const [swappedMessage] = await readMessages(swapped);
    expect(swappedMessage).toMatchObject({ error: { data: { code: "GW_VERDICT_INVALID" } } });
    expect(await invocationRows(requestId)).toEqual([]);

    // The verdict itself is genuine: with the body it was issued for, the call runs once.
    const original = await postToReplica(bodyA, { [HEADER.verdict]: verdict });
    expect(original.status).toBe(200);
    const [originalMessage] = await readMessages(original);
    expect(originalMessage).toMatchObject({ result: { structuredContent: { result: "3" } } });

    // ... and only once.
    const replayed = await postToReplica(bodyA, { [HEADER.verdict]: verdict });
    expect(replayed.status).toBe(403);
    const rows = await invocationRows(requestId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      source: "router",
      subject: "bob",
      tool: "exact_calculate",
      outcome: "ok",
    });
  });

  it("refuses requests that bypass ext-authz: bearer token only, x-user-id, or a verdict signed with another key", async () => {
    const before = await invocationCount();
    const body = calculation(["5", "5"]);
    const attempts: Record<string, string>[] = [
      { authorization: `Bearer ${await e2e.token(ALICE)}` },
      { [HEADER.userId]: "alice" },
      {
        [HEADER.verdict]: forgedVerdict("calculator", body, "some-other-key-0123456789abcdefghij"),
      },
      { [HEADER.verdict]: "v1.e30.AAAA" },
    ];
    for (const headers of attempts) {
      const response = await postToReplica(body, headers);
      expect(response.status).toBe(403);
      const [message] = await readMessages(response);
      expect(message).toMatchObject({ error: { data: { code: "GW_VERDICT_INVALID" } } });
      // Every refusal names a request id (a fresh one: there is no verdict to take it from).
      expect(response.headers.get(HEADER.requestId)).toMatch(/^[\x21-\x7e]{1,200}$/);
    }
    // Nothing ran: not one invocation row was written for these requests.
    expect(await invocationCount()).toBe(before);
  });

  it("audits refused verdicts (bypass and body mismatch) at the router", async () => {
    // DESIGN: every decision is audited; a request refused at the enforcement point is one.
    const body = calculation(["6", "7"]);
    const { verdict, requestId } = await genuineVerdict(body, await e2e.token(BOB));
    await postToReplica(calculation(["6", "8"]), { [HEADER.verdict]: verdict });
    await postToReplica(body, { authorization: `Bearer ${await e2e.token(ALICE)}` });

    expect(await e2e.auditRows(requestId)).toMatchObject([
      { source: "router", subject: "bob", outcome: "rejected", reason: "verdict_body_mismatch" },
    ]);
    await e2e.stack.audit.flush();
    const bypass = await e2e.stack.database.db
      .selectFrom("audit_events")
      .selectAll()
      .where("source", "=", "router")
      .where("reason", "=", "verdict_missing")
      .execute();
    expect(bypass.length).toBeGreaterThanOrEqual(1);
  });
});
