import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HEADER } from "../../contract/src/headers.ts";
import type {
  AdminLimits,
  AdminOverview,
  AdminPolicy,
  AdminTools,
  Explanation,
  RestErrorJson,
} from "../../mcp-router/src/admin-wire.ts";
import { ALICE, BOB, startE2eStack, type E2eStack, type User } from "./stack-fixture.ts";

/**
 * The operators' API (/admin/*) through the whole embedded stack: every request authorized by
 * ext-authz (direct mode: the router sends the Check), re-checked and audited by the router; the
 * views only ext-authz has (limits, policy, explain) arrive with its allow.
 */

const OLIVIA: User = { user: "olivia", roles: ["operator"], tenant: "acme" };

type Call = {
  method?: string;
  token?: string | null;
  body?: string;
  headers?: Record<string, string>;
};

describe("the operators' API through ext-authz (embedded stack)", () => {
  let e2e: E2eStack;
  let operator: string;
  let developer: string;

  const call = (path: string, options: Call = {}) => {
    const method = options.method ?? (options.body === undefined ? "GET" : "POST");
    return fetch(`${e2e.stack.url}${path}`, {
      method,
      headers: {
        ...(options.token === null ? {} : { authorization: `Bearer ${options.token ?? operator}` }),
        ...(method === "POST" ? { "content-type": "application/json" } : {}),
        ...options.headers,
      },
      ...(options.body === undefined ? {} : { body: options.body }),
    });
  };
  const json = async <T>(response: Response): Promise<T> => (await response.json()) as T;
  /** The router's audit row of a request (kind admin). */
  const adminRow = async (response: Response) => {
    const requestId = response.headers.get(HEADER.requestId)!;
    const rows = await e2e.auditRows(requestId);
    return rows.find((row) => row.source === "router" && row.kind === "admin");
  };

  beforeAll(async () => {
    e2e = await startE2eStack();
    operator = await e2e.token(OLIVIA);
    developer = await e2e.token(ALICE);
  });
  afterAll(async () => {
    await e2e?.close();
  });

  const ENDPOINTS: [string, string, string | undefined][] = [
    ["GET", "/admin/overview", undefined],
    ["GET", "/admin/tools", undefined],
    ["GET", "/admin/policy", undefined],
    ["POST", "/admin/policy/explain", '{"tool":"calculator.exact_calculate","roles":["analyst"]}'],
    ["GET", "/admin/limits", undefined],
    ["GET", "/admin/audit?limit=1", undefined],
    ["POST", "/admin/tools/calculator/exact_calculate/approve", "{}"],
    ["POST", "/admin/tools/calculator/exact_calculate/keep", "{}"],
  ];

  it.each(ENDPOINTS)("%s %s without a token: 401 with a challenge", async (method, path, body) => {
    const response = await call(path, {
      method,
      token: null,
      ...(body === undefined ? {} : { body }),
    });
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toMatch(/^Bearer /);
    expect((await json<RestErrorJson>(response)).error.code).toBe("GW_TOKEN_MISSING");
  });

  it.each(ENDPOINTS)(
    "%s %s with a token without an operator role: 403, audited by ext-authz",
    async (method, path, body) => {
      const response = await call(path, {
        method,
        token: developer,
        ...(body === undefined ? {} : { body }),
      });
      expect(response.status).toBe(403);
      const error = await json<RestErrorJson>(response);
      expect(error.error.code).toBe("GW_INSUFFICIENT_SCOPE");
      const rows = await e2e.auditRows(error.request_id);
      expect(rows).toContainEqual(
        expect.objectContaining({
          source: "ext-authz",
          subject: "alice",
          outcome: "denied",
          reason: "operator_role_required",
        }),
      );
      expect(rows.filter((row) => row.source === "router")).toEqual([]);
    },
  );

  it("GET /admin/overview: traffic, backends and the audit queue, audited", async () => {
    const alice = await e2e.token(ALICE);
    await fetch(`${e2e.stack.url}/mcp/invoke`, {
      method: "POST",
      headers: { authorization: `Bearer ${alice}`, "content-type": "application/json" },
      body: JSON.stringify({
        tool_name: "calculator.exact_calculate",
        arguments: { operator: "add", operands: ["1", "2"] },
      }),
    });
    const response = await call("/admin/overview");
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("no-store");
    const overview = await json<AdminOverview>(response);
    expect(overview.window_seconds).toBe(900);
    expect(overview.times.length).toBeGreaterThanOrEqual(1);
    expect(overview.requests.totals.count).toBeGreaterThanOrEqual(1);
    const calculator = overview.scopes.find((scope) => scope.scope === "calculator");
    expect(calculator?.totals.count).toBeGreaterThanOrEqual(1);
    expect(calculator?.latency.p50_ms).toBeGreaterThan(0);
    expect(overview.backends.map((backend) => backend.scope).sort()).toEqual(
      Object.keys(e2e.stack.config.tools.scopes).sort(),
    );
    expect(overview.backends.find((b) => b.scope === "calculator")?.status).toBe("up");
    expect(overview.audit).toMatchObject({ mode: "write-ahead", queued: expect.any(Number) });
    expect(await adminRow(response)).toMatchObject({
      subject: "olivia",
      roles: ["operator"],
      method: "admin/overview",
      outcome: "ok",
      status: 200,
    });
  });

  it("GET /admin/tools: every scope and tool with its status", async () => {
    const response = await call("/admin/tools");
    expect(response.status).toBe(200);
    const tools = await json<AdminTools>(response);
    expect(tools.definition_changes).toBe("pin");
    const calculator = tools.scopes.find((scope) => scope.scope === "calculator")!;
    expect(calculator.backend).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(calculator.tools.find((tool) => tool.name === "exact_calculate")).toMatchObject({
      status: "active",
      configured: true,
      enabled: true,
      served: true,
      callable: true,
      change: null,
    });
    expect((await adminRow(response))?.method).toBe("admin/tools");
  });

  it("GET /admin/policy: ext-authz's roles × tools matrix with its conditions", async () => {
    const response = await call("/admin/policy");
    expect(response.status).toBe(200);
    const policy = await json<AdminPolicy>(response);
    expect(policy.operator_roles).toEqual(["operator"]);
    expect(policy.roles).toContainEqual(
      expect.objectContaining({ name: "operator", operator: true }),
    );
    const diff = policy.tools.find((row) => row.tool === "git.git_diff")!;
    expect(diff.cells.developer?.decision).toBe("allow");
    expect(diff.cells.analyst?.decision).toBe("deny");
    expect(diff.cells.auditor).toMatchObject({
      decision: "conditional",
      conditions: [expect.objectContaining({ when: expect.stringContaining("arguments.format") })],
    });
    expect((await adminRow(response))?.method).toBe("admin/policy");
  });

  it("POST /admin/policy/explain: the decision and the rule that decided, audited without values", async () => {
    const denied = await call("/admin/policy/explain", {
      body: JSON.stringify({
        tool: "git.git_diff",
        roles: ["auditor"],
        claims: { sub: "carol", tenant: "acme" },
        arguments: { format: "patch" },
      }),
    });
    expect(denied.status).toBe(200);
    const explanation = await json<Explanation>(denied);
    expect(explanation).toMatchObject({
      tool: "git.git_diff",
      decision: "denied",
      rule: { effect: "deny", path: expect.stringMatching(/^roles\.auditor\.deny\[\d+\]$/) },
      arguments: { format: "patch" },
      listed: true,
    });
    expect(await adminRow(denied)).toMatchObject({
      method: "admin/policy/explain",
      outcome: "ok",
      arguments: {
        tool: "git.git_diff",
        roles: ["auditor"],
        claim_names: ["sub", "tenant"],
        argument_names: ["format"],
        decision: "denied",
      },
    });
    const allowed = await call("/admin/policy/explain", {
      body: JSON.stringify({ tool: "git_diff", roles: ["auditor"], arguments: { format: "stat" } }),
    });
    expect(await json<Explanation>(allowed)).toMatchObject({ decision: "allowed" });
  });

  it("GET /admin/limits: the busiest counters of ext-authz's limiter", async () => {
    const bob = await e2e.token(BOB);
    for (let i = 0; i < 3; i++) {
      await fetch(`${e2e.stack.url}/mcp/invoke`, {
        method: "POST",
        headers: { authorization: `Bearer ${bob}`, "content-type": "application/json" },
        body: JSON.stringify({ tool_name: "calculator.list_units", arguments: {} }),
      });
    }
    const response = await call("/admin/limits");
    expect(response.status).toBe(200);
    const limits = await json<AdminLimits>(response);
    expect(limits).toMatchObject({ available: true, store: "memory", degraded: false });
    expect(limits.counters).toContainEqual(
      expect.objectContaining({
        kind: "user_tool",
        tenant: "acme",
        user: "bob",
        tool: "calculator.list_units",
        used: 3,
        limit: 2,
        share: 1,
      }),
    );
    expect(limits.counters).toContainEqual(
      expect.objectContaining({ kind: "user", user: "bob", limit: 300 }),
    );
    expect((await adminRow(response))?.method).toBe("admin/limits");
  });

  it("GET /admin/audit?format=csv: the page as CSV, the JSON contract unchanged", async () => {
    const csv = await call("/admin/audit?user=olivia&limit=2&format=csv");
    expect(csv.status).toBe(200);
    expect(csv.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    expect(csv.headers.get("x-next-cursor")).toEqual(expect.any(String));
    const lines = (await csv.text()).split("\r\n");
    expect(lines[0]).toMatch(/^time,id,request_id,source,kind,subject,/);
    expect(lines.filter((line) => line !== "")).toHaveLength(3);
    const page = await call("/admin/audit?user=olivia&limit=2");
    expect(page.headers.get("content-type")).toBe("application/json");
    expect(await page.json()).toMatchObject({
      events: expect.any(Array),
      next_cursor: expect.any(String),
    });
  });

  it("approve and keep: a pending change, kept, then approved, each audited", async () => {
    const { db } = e2e.stack.database;
    const before = await db
      .selectFrom("tool_registry")
      .selectAll()
      .where("scope", "=", "calculator")
      .where("name", "=", "statistics")
      .executeTakeFirstOrThrow();
    const observed = before.observed_definition_digest!;
    // A backend that changed its definition: the approved digest is no longer the one served.
    const approved = "a".repeat(64);
    await db
      .updateTable("tool_registry")
      .set({ approved_definition_digest: approved, definition_changed_at: new Date() })
      .where("scope", "=", "calculator")
      .where("name", "=", "statistics")
      .execute();

    const listed = await json<AdminTools>(await call("/admin/tools"));
    const statistics = listed.scopes
      .find((scope) => scope.scope === "calculator")!
      .tools.find((tool) => tool.name === "statistics")!;
    expect(statistics.status).toBe("pinned_definition_changed");
    expect(statistics.change).toMatchObject({
      approved_digest: approved,
      observed_digest: observed,
      policy: "pin",
      kept: null,
      diff_unavailable: expect.stringMatching(/before this router started/),
    });
    expect(statistics.change!.diff!.every((line) => line.op === "+")).toBe(true);

    const path = "/admin/tools/calculator/statistics";
    const kept = await call(`${path}/keep`, {
      body: JSON.stringify({ observed_digest: observed }),
    });
    expect(kept.status).toBe(200);
    expect(await adminRow(kept)).toMatchObject({
      method: "admin/tools/keep",
      scope: "calculator",
      tool: "statistics",
      subject: "olivia",
      outcome: "ok",
      arguments: { approved_digest: approved, observed_digest: observed },
    });
    const afterKeep = await json<AdminTools>(await call("/admin/tools"));
    expect(
      afterKeep.scopes
        .find((scope) => scope.scope === "calculator")!
        .tools.find((tool) => tool.name === "statistics")!.change?.kept,
    ).toMatchObject({ by: "olivia" });

    const stale = await call(`${path}/approve`, {
      body: JSON.stringify({ observed_digest: "b".repeat(64) }),
    });
    expect(stale.status).toBe(409);
    expect((await json<RestErrorJson>(stale)).error.message).toMatch(/changed .* again/);

    const approval = await call(`${path}/approve`, {
      body: JSON.stringify({ observed_digest: observed }),
    });
    expect(approval.status).toBe(200);
    expect(await approval.clone().json()).toEqual({
      scope: "calculator",
      tool: "statistics",
      action: "approve",
      approved_digest: approved,
      observed_digest: observed,
    });
    expect(await adminRow(approval)).toMatchObject({
      method: "admin/tools/approve",
      scope: "calculator",
      tool: "statistics",
      subject: "olivia",
      outcome: "ok",
      status: 200,
    });
    const after = await db
      .selectFrom("tool_registry")
      .selectAll()
      .where("scope", "=", "calculator")
      .where("name", "=", "statistics")
      .executeTakeFirstOrThrow();
    expect(after.approved_definition_digest).toBe(observed);
    const history = await db
      .selectFrom("tool_registry_history")
      .selectAll()
      .where("name", "=", "statistics")
      .where("event", "=", "definition_approved")
      .execute();
    expect(history).toHaveLength(1);

    const again = await call(`${path}/approve`, { body: "{}" });
    expect(again.status).toBe(409);
    expect(await adminRow(again)).toMatchObject({
      outcome: "rejected",
      reason: "no_pending_change",
      status: 409,
    });
  });

  it.each([
    ["/admin/overview?window=1h", "GET", undefined, 400, /unknown parameter "window"/],
    ["/admin/tools?scope=git", "GET", undefined, 400, /unknown parameter "scope"/],
    ["/admin/policy?role=x", "GET", undefined, 400, /unknown parameter/],
    ["/admin/limits?top=5", "GET", undefined, 400, /unknown parameter/],
    ["/admin/audit?format=xml", "GET", undefined, 400, /invalid format/],
    ["/admin/policy/explain", "POST", "{not json", 400, /not valid JSON/],
    ["/admin/policy/explain", "POST", "{}", 400, /tool/],
    ["/admin/policy/explain", "POST", '{"tool":"git.git_log"}', 400, /give roles/],
    ["/admin/policy/explain", "POST", '{"tool":"git.git_log","roles":["a"],"x":1}', 400, /x/],
    ["/admin/policy/explain", "POST", '{"tool":"git.git_log","claims":{"roles":7}}', 400, /roles/],
    ["/admin/tools/Calc%20Ulator/add/approve", "POST", "{}", 400, /not a scope name/],
    ["/admin/tools/calculator/bad%2Fname/approve", "POST", "{}", 400, /not a tool name/],
    ["/admin/tools/calculator/%E0%A4%A/keep", "POST", "{}", 400, /percent-encoding/],
    ["/admin/tools/calculator/list_units/approve", "POST", "[]", 400, /body/],
    [
      "/admin/tools/calculator/list_units/approve",
      "POST",
      '{"observed_digest":"x"}',
      400,
      /SHA-256/,
    ],
    ["/admin/tools/calculator/no_such_tool/approve", "POST", "{}", 404, /not in the tool registry/],
    ["/admin/tools/calculator/list_units/keep", "POST", "{}", 409, /no definition change/],
  ])("%s (%s %s) is answered %i and audited", async (path, method, body, status, message) => {
    const response = await call(path, { method, ...(body === undefined ? {} : { body }) });
    expect(response.status).toBe(status);
    const error = await json<RestErrorJson>(response);
    expect(error.error.message).toMatch(message);
    expect(await adminRow(response)).toMatchObject({
      outcome: "rejected",
      status,
      subject: "olivia",
    });
  });

  it("refuses POSTs that are not JSON, cross-site, from another origin or too large", async () => {
    const path = "/admin/tools/calculator/list_units/keep";
    const form = await call(path, {
      body: "observed_digest=x",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(form.status).toBe(415);
    expect((await adminRow(form))?.reason).toBe("unsupported_media_type");
    const crossSite = await call(path, { body: "{}", headers: { "sec-fetch-site": "cross-site" } });
    expect(crossSite.status).toBe(403);
    expect((await adminRow(crossSite))?.reason).toBe("cross_site_request");
    const origin = await call(path, { body: "{}", headers: { origin: "https://evil.example" } });
    expect(origin.status).toBe(403);
    expect((await json<RestErrorJson>(origin)).error.code).toBe("GW_ORIGIN_FORBIDDEN");
    const large = await call("/admin/policy/explain", {
      body: JSON.stringify({
        tool: "git.git_log",
        roles: ["x"],
        claims: { pad: "x".repeat(70_000) },
      }),
    });
    expect(large.status).toBe(413);
    expect((await adminRow(large))?.reason).toBe("payload_too_large");
    const sameOrigin = await call("/admin/policy/explain", {
      body: '{"tool":"git.git_log","roles":["auditor"]}',
      headers: { "sec-fetch-site": "same-origin", origin: e2e.stack.url },
    });
    expect(sameOrigin.status).toBe(200);
  });

  it("answers a wrong method 405 and an unknown admin path 404", async () => {
    const wrong = await call("/admin/tools", { method: "POST", body: "{}" });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get("allow")).toBe("GET");
    const action = await call("/admin/tools/calculator/list_units/approve", { method: "GET" });
    expect(action.status).toBe(405);
    expect(action.headers.get("allow")).toBe("POST");
    const unknown = await call("/admin/users");
    expect(unknown.status).toBe(404);
    expect((await json<RestErrorJson>(unknown)).error.code).toBe("GW_NOT_FOUND");
  });
});
