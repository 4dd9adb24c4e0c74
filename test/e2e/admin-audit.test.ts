import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfigText, type GatewayConfig } from "../../config/src/load-config.ts";
import { startExtAuthz, type RunningExtAuthz } from "../../ext-authz/src/main.ts";
import {
  makeToken,
  recordingAudit,
  silentLogger,
  TEST_ENV,
} from "../../ext-authz/test/fixture-config.ts";
import type { NewAuditEventRow } from "../../store/src/schema.ts";
import {
  startRouterFixture,
  verdictFor,
  type RouterFixture,
} from "../../mcp-router/test/router-harness.ts";

/** One scope, a developer role and an operator role without tools that policy.yaml names operators'. */
function adminConfig(backendUrl: string): GatewayConfig {
  const result = parseConfigText({
    toolsYaml: `
version: 1
scopes:
  calc:
    backend_url: ${backendUrl}
    tools:
      - { name: add }
`,
    policyYaml: `
version: 1
roles:
  developer: { allow: ["calc.*"] }
  operator: { allow: [] }
operator_roles: [operator]
quotas:
  per_user: { default: { points: 1000, duration: 1m } }
  per_tool: { default: { points: 1000, duration: 1m } }
  per_user_tool: { default: { points: 1000, duration: 1m } }
protected_resource:
  resource_base_url: http://localhost:8000
  authorization_servers: ["http://localhost:8010"]
`,
    env: {},
  });
  if (!result.ok) throw new Error(result.errors.join("\n"));
  return result.config;
}

const T0 = Date.UTC(2026, 10, 30, 9, 0, 0);

function seeded(count: number): NewAuditEventRow[] {
  return Array.from({ length: count }, (_, i) => ({
    // Pairs share a time: pages must cut through ties without losing or repeating a row.
    time: new Date(T0 + Math.floor(i / 2) * 1000),
    request_id: `seed-${i}`,
    source: "router" as const,
    kind: "invocation" as const,
    subject: i % 3 === 0 ? "bob" : "alice",
    roles: ["developer"],
    scope: "calc",
    method: "tools/call",
    tool: i % 4 === 0 ? "mul" : "add",
    outcome: i % 5 === 0 ? "rejected" : "ok",
  }));
}

type Page = {
  events: { request_id: string; subject: string; tool: string }[];
  next_cursor: string | null;
};
type RestError = { error: { code: string; message: string }; request_id: string };

describe("GET /admin/audit through ext-authz (direct mode)", () => {
  let authz: RunningExtAuthz;
  let fixture: RouterFixture;
  const decisions = recordingAudit();
  const token = (roles: string[], subject = "olivia") => {
    const now = Math.floor(Date.now() / 1000);
    return makeToken({ sub: subject, roles, iat: now - 60, exp: now + 3600 });
  };
  const get = async (query: string, bearer: string | null) =>
    fetch(`${fixture.router.url}/admin/audit${query}`, {
      headers: bearer === null ? {} : { authorization: `Bearer ${bearer}` },
    });

  beforeAll(async () => {
    const backendConfig = adminConfig("http://127.0.0.1:9");
    authz = await startExtAuthz({
      env: TEST_ENV,
      config: backendConfig,
      host: "127.0.0.1",
      port: 0,
      metricsPort: null,
      audit: decisions,
      logger: silentLogger,
    });
    fixture = await startRouterFixture({
      config: adminConfig,
      router: {
        authz: { mode: "direct", address: `127.0.0.1:${authz.port}` },
        verdictKey: TEST_ENV.GATEWAY_VERDICT_KEY,
      },
    });
    await fixture.database.db.insertInto("audit_events").values(seeded(25)).execute();
  });
  afterAll(async () => {
    await fixture?.close();
    await authz?.close();
  });

  it("refuses a request without a token with 401", async () => {
    const response = await get("", null);
    expect(response.status).toBe(401);
    expect(((await response.json()) as RestError).error.code).toBe("GW_TOKEN_MISSING");
  });

  it("refuses a token without an operator role with 403, and ext-authz audits it", async () => {
    const response = await get("?user=alice", await token(["developer"], "dave"));
    expect(response.status).toBe(403);
    const body = (await response.json()) as RestError;
    expect(body.error.code).toBe("GW_INSUFFICIENT_SCOPE");
    expect(response.headers.get("www-authenticate")).toMatch(/error="insufficient_scope"/);
    expect(decisions.events).toContainEqual(
      expect.objectContaining({
        subject: "dave",
        outcome: "denied",
        reason: "operator_role_required",
      }),
    );
  });

  it("filters, and pages through every matching row once", async () => {
    const operator = await token(["operator"]);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const response = await get(
        `?user=alice&tool=add&since=2026-11-30T00:00:00Z&limit=3${cursor === null ? "" : `&cursor=${cursor}`}`,
        operator,
      );
      expect(response.status).toBe(200);
      expect(response.headers.get("cache-control")).toBe("no-store");
      const page = (await response.json()) as Page;
      for (const event of page.events) {
        expect(event).toMatchObject({ subject: "alice", tool: "add" });
        seen.push(event.request_id);
      }
      cursor = page.next_cursor;
      pages += 1;
    } while (cursor !== null && pages < 20);
    const expected = seeded(25)
      .map((row, i) => ({ ...row, i }))
      .filter((row) => row.subject === "alice" && row.tool === "add")
      .sort((a, b) => b.time!.getTime() - a.time!.getTime() || b.i - a.i)
      .map((row) => row.request_id);
    expect(expected.length).toBeGreaterThan(6);
    expect(seen).toEqual(expected);
    expect(pages).toBe(Math.ceil(expected.length / 3));
  });

  it("audits every query itself, with the operator, the filters and the status", async () => {
    const response = await get("?outcome=rejected&limit=2", await token(["operator"], "oscar"));
    expect(response.status).toBe(200);
    const requestId = response.headers.get("x-request-id")!;
    const rows = await fixture.auditRows({ kind: "admin", request_id: requestId });
    expect(rows).toEqual([
      expect.objectContaining({
        kind: "admin",
        subject: "oscar",
        roles: ["operator"],
        method: "admin/audit",
        outcome: "ok",
        status: 200,
        arguments: { outcome: "rejected", limit: "2" },
      }),
    ]);
    // The read is itself in the log it reads.
    const again = (await (await get("?user=oscar", await token(["operator"]))).json()) as Page;
    expect(again.events.map((event) => event.request_id)).toContain(requestId);
  });

  it.each([
    ["?cursor=garbage", /invalid cursor/],
    ["?cursor=W1siMjAyNiJdXQ", /invalid cursor/],
    ["?since=yesterday", /invalid since/],
    ["?limit=5000", /invalid limit/],
    ["?subject=alice", /unknown parameter "subject"/],
    ["?user=a&user=b", /repeated/],
  ])("answers %s with 400 and audits the refusal", async (query, message) => {
    const response = await get(query, await token(["operator"], "olga"));
    expect(response.status).toBe(400);
    const body = (await response.json()) as RestError;
    expect(body.error.code).toBe("GW_INVALID_PARAMS");
    expect(body.error.message).toMatch(message);
    const [row] = await fixture.auditRows({ kind: "admin", request_id: body.request_id });
    expect(row).toMatchObject({ outcome: "rejected", reason: "invalid_params", status: 400 });
  });
});

describe("GET /admin/audit: the router checks the verdict's roles again (envoy mode)", () => {
  let fixture: RouterFixture;
  beforeAll(async () => {
    fixture = await startRouterFixture({ config: adminConfig });
  });
  afterAll(async () => {
    await fixture?.close();
  });

  const get = (verdict: string) =>
    fetch(`${fixture.router.url}/admin/audit?limit=1`, {
      headers: { "x-gateway-verdict": verdict },
    });

  it("serves an admin verdict of an operator", async () => {
    const response = await get(verdictFor({ subject: "olivia", roles: ["operator"] }, "admin", ""));
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ events: expect.any(Array) });
  });

  it.each([
    ["an admin verdict without an operator role", ["developer"], "admin"],
    ["an operator's verdict for another scope", ["operator"], "rest"],
  ])("refuses %s with 403 and audits it", async (_name, roles, scope) => {
    const response = await get(verdictFor({ subject: "mallory", roles }, scope, ""));
    expect(response.status).toBe(403);
    const body = (await response.json()) as RestError;
    expect(body.error.code).toBe("GW_INSUFFICIENT_SCOPE");
    const [row] = await fixture.auditRows({ kind: "admin", request_id: body.request_id });
    expect(row).toMatchObject({
      subject: "mallory",
      outcome: "rejected",
      reason: "operator_role_required",
      status: 403,
    });
  });

  it("refuses a request without a verdict", async () => {
    const response = await fetch(`${fixture.router.url}/admin/audit`);
    expect(response.status).toBe(403);
    expect(((await response.json()) as RestError).error.code).toBe("GW_VERDICT_INVALID");
  });

  it("answers other methods 405", async () => {
    const response = await fetch(`${fixture.router.url}/admin/audit`, { method: "DELETE" });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("GET");
  });
});
