import { randomUUID } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ADMIN_VIEW_HEADER,
  signAdminView,
  type AdminViewKind,
  type AdminViewPayload,
} from "../../contract/src/admin-view.ts";
import { parseConfigText, type GatewayConfig } from "../../config/src/load-config.ts";
import type {
  AdminLimits,
  AdminOverview,
  AdminPolicy,
  AdminTools,
  Explanation,
  RestErrorJson,
} from "../src/admin-wire.ts";
import { CONSOLE_CSP } from "../src/console-assets.ts";
import {
  openSession,
  postMcp,
  sessionHeaders,
  startRouterFixture,
  verdictFor,
  VERDICT_KEY,
  type Identity,
  type RouterFixture,
} from "./router-harness.ts";

/**
 * The operators' API and the console's files as the router serves them behind Envoy: verdicts
 * (and ext-authz's views) arrive as headers, so every case ext-authz would never produce can be
 * sent too — the router's own checks are what is tested here.
 */

function consoleConfig(backendUrl: string): GatewayConfig {
  const result = parseConfigText({
    toolsYaml: `
version: 1
definition_changes: pin
scopes:
  calc:
    description: Test calculator
    backend_url: ${backendUrl}
    tools:
      - { name: add }
      - { name: fail }
      - { name: disabled_tool, enabled: false }
`,
    policyYaml: `
version: 1
roles:
  developer: { allow: ["calc.*"] }
  operator: { description: Runs the gateway, allow: [] }
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

const OPERATOR: Identity = { subject: "olivia", tenant: "acme", roles: ["operator"], tools: [] };
const DEVELOPER: Identity = { subject: "dave", tenant: "acme", roles: ["developer"], tools: [] };

type Sent = {
  method?: string;
  identity?: Identity | null;
  scope?: string;
  body?: string;
  headers?: Record<string, string>;
  view?: { kind: AdminViewKind; payload: unknown; requestId?: string };
};

describe("the operators' API behind Envoy (verdicts as headers)", () => {
  let fixture: RouterFixture;

  /** A request as Envoy forwards it after ext-authz's allow: verdict, and a view when given. */
  const send = (target: string, sent: Sent = {}) => {
    const method = sent.method ?? (sent.body === undefined ? "GET" : "POST");
    const body = sent.body ?? "";
    const requestId = randomUUID();
    const identity = sent.identity === undefined ? OPERATOR : sent.identity;
    const headers: Record<string, string> = {
      ...(method === "POST" ? { "content-type": "application/json" } : {}),
      ...(identity === null
        ? {}
        : {
            "x-gateway-verdict": verdictFor(identity, sent.scope ?? "admin", body, { requestId }),
          }),
      ...sent.headers,
    };
    if (sent.view !== undefined) {
      const header = signAdminView(
        sent.view.kind,
        sent.view.payload as AdminViewPayload<typeof sent.view.kind>,
        VERDICT_KEY,
        sent.view.requestId ?? requestId,
      );
      if (header !== undefined) headers[ADMIN_VIEW_HEADER] = header;
    }
    return fetch(`${fixture.router.url}${target}`, {
      method,
      headers,
      ...(method === "POST" ? { body } : {}),
    });
  };
  const row = async (response: Response) => {
    const requestId = response.headers.get("x-request-id")!;
    const [found] = await fixture.auditRows({ kind: "admin", request_id: requestId });
    return found;
  };

  beforeAll(async () => {
    fixture = await startRouterFixture({ config: consoleConfig });
    await fixture.router.catalog.refresh("calc");
  });
  afterAll(async () => {
    await fixture?.close();
  });

  const ENDPOINTS: [string, string, string | undefined][] = [
    ["GET", "/admin/overview", undefined],
    ["GET", "/admin/tools", undefined],
    ["GET", "/admin/policy", undefined],
    ["POST", "/admin/policy/explain", '{"tool":"calc.add","roles":["developer"]}'],
    ["GET", "/admin/limits", undefined],
    ["GET", "/admin/audit", undefined],
    ["POST", "/admin/tools/calc/add/approve", "{}"],
    ["POST", "/admin/tools/calc/add/keep", "{}"],
  ];

  it.each(ENDPOINTS)("%s %s: refused without a verdict", async (method, target, body) => {
    const response = await send(target, {
      method,
      identity: null,
      ...(body === undefined ? {} : { body }),
    });
    expect(response.status).toBe(403);
    expect(((await response.json()) as RestErrorJson).error.code).toBe("GW_VERDICT_INVALID");
  });

  it.each(ENDPOINTS)(
    "%s %s: an admin verdict without an operator role is refused 403 and audited",
    async (method, target, body) => {
      const response = await send(target, {
        method,
        identity: DEVELOPER,
        ...(body === undefined ? {} : { body }),
      });
      expect(response.status).toBe(403);
      expect(((await response.json()) as RestErrorJson).error.code).toBe("GW_INSUFFICIENT_SCOPE");
      expect(await row(response)).toMatchObject({
        subject: "dave",
        outcome: "rejected",
        reason: "operator_role_required",
        status: 403,
      });
    },
  );

  it("refuses an operator's verdict minted for another route (scope rest)", async () => {
    const response = await send("/admin/tools", { scope: "rest" });
    expect(response.status).toBe(403);
    expect((await row(response))?.reason).toBe("operator_role_required");
  });

  it("refuses a verdict for another body", async () => {
    const requestId = randomUUID();
    const response = await fetch(`${fixture.router.url}/admin/policy/explain`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-gateway-verdict": verdictFor(OPERATOR, "admin", '{"tool":"calc.add"}', { requestId }),
      },
      body: '{"tool":"calc.fail","roles":["developer"]}',
    });
    expect(response.status).toBe(403);
    expect(((await response.json()) as RestErrorJson).error.code).toBe("GW_VERDICT_INVALID");
  });

  describe("GET /admin/tools and the tool actions", () => {
    it("shows a backend's changed definition with its diff; approving serves it", async () => {
      fixture.backend.setDescription("add", "Adds two numbers, and now also something else");
      await fixture.router.catalog.refresh("calc");
      const response = await send("/admin/tools");
      expect(response.status).toBe(200);
      const tools = (await response.json()) as AdminTools;
      const calc = tools.scopes.find((scope) => scope.scope === "calc")!;
      expect(calc.backend).toBe(`${fixture.backend.url}/`);
      const add = calc.tools.find((tool) => tool.name === "add")!;
      expect(add).toMatchObject({
        status: "pinned_definition_changed",
        served: true,
        callable: false,
        description: "Adds two numbers",
      });
      expect(add.change?.diff_unavailable).toBeNull();
      expect(add.change?.diff).toEqual(
        expect.arrayContaining([
          { op: "-", text: '  "description": "Adds two numbers",' },
          { op: "+", text: '  "description": "Adds two numbers, and now also something else",' },
        ]),
      );
      expect(calc.tools.find((tool) => tool.name === "disabled_tool")?.status).toBe("disabled");

      const approve = await send("/admin/tools/calc/add/approve", {
        body: JSON.stringify({ observed_digest: add.change!.observed_digest }),
      });
      expect(approve.status).toBe(200);
      const after = (await (await send("/admin/tools")).json()) as AdminTools;
      expect(
        after.scopes.find((scope) => scope.scope === "calc")!.tools.find((t) => t.name === "add"),
      ).toMatchObject({
        status: "active",
        callable: true,
        description: "Adds two numbers, and now also something else",
        change: null,
      });
    });

    it("marks a removed tool inactive, with its history kept", async () => {
      await fixture.database.db
        .insertInto("tool_registry")
        .values({
          scope: "calc",
          name: "retired",
          active: false,
          enabled: true,
          deactivated_at: new Date(),
        })
        .execute();
      const tools = (await (await send("/admin/tools")).json()) as AdminTools;
      const retired = tools.scopes
        .find((scope) => scope.scope === "calc")!
        .tools.find((tool) => tool.name === "retired");
      expect(retired).toMatchObject({ status: "inactive", configured: false, served: false });
    });
  });

  describe("views ext-authz sends", () => {
    const policyView: AdminViewPayload<"policy"> = {
      policy: {
        roles: [
          { name: "developer", description: null },
          { name: "operator", description: "Runs the gateway" },
        ],
        operator_roles: ["operator"],
        rules: [{ path: "roles.developer.deny[0]", when: 'arguments.a == "x"' }],
        tools: [
          { tool: "calc.add", active: true, cells: "cd", conditions: [[0, 0]] },
          { tool: "calc.fail", active: true, cells: "Ad", conditions: [] },
        ],
      },
    };

    it("GET /admin/policy expands ext-authz's matrix", async () => {
      const response = await send("/admin/policy", {
        view: { kind: "policy", payload: policyView },
      });
      expect(response.status).toBe(200);
      const policy = (await response.json()) as AdminPolicy;
      expect(policy.roles).toEqual([
        { name: "developer", description: null, operator: false },
        { name: "operator", description: "Runs the gateway", operator: true },
      ]);
      expect(policy.tools[0]!.cells.developer).toEqual({
        decision: "conditional",
        dry_run_deny: false,
        conditions: [{ rule: "roles.developer.deny[0]", when: 'arguments.a == "x"' }],
      });
      expect(policy.tools[1]!.cells.developer).toMatchObject({
        decision: "allow",
        dry_run_deny: true,
      });
    });

    it.each([
      ["no view", undefined],
      ["a view signed for another request", randomUUID()],
    ])("GET /admin/policy with %s: 503, audited", async (_name, otherRequest) => {
      const response = await send(
        "/admin/policy",
        otherRequest === undefined
          ? {}
          : { view: { kind: "policy", payload: policyView, requestId: otherRequest } },
      );
      expect(response.status).toBe(503);
      expect(((await response.json()) as RestErrorJson).error.code).toBe("GW_AUTHZ_UNAVAILABLE");
      expect(await row(response)).toMatchObject({
        outcome: "rejected",
        reason: "view_unavailable",
      });
    });

    it("refuses a view of another kind (a limits view on /admin/policy)", async () => {
      const response = await send("/admin/policy", {
        view: { kind: "limits", payload: { unavailable: "x" } },
      });
      expect(response.status).toBe(503);
    });

    it("GET /admin/limits decodes the counters' keys", async () => {
      const response = await send("/admin/limits", {
        view: {
          kind: "limits",
          payload: {
            limits: {
              taken_at: "2026-11-30T09:00:00.000Z",
              store: "redis",
              degraded: false,
              tracked: 3,
              counters: [
                {
                  kind: "user_tool",
                  key: "acme/j%2Fdoe/calc.add",
                  used: 9,
                  limit: 10,
                  window_seconds: 60,
                  reset_in_ms: 5000,
                },
                {
                  kind: "user",
                  key: "/anonymous%20one",
                  used: 5,
                  limit: 100,
                  window_seconds: 60,
                  reset_in_ms: 100,
                },
                {
                  kind: "tool",
                  key: "calc.add",
                  used: 50,
                  limit: 0,
                  window_seconds: 60,
                  reset_in_ms: 0,
                },
              ],
            },
          },
        },
      });
      const limits = (await response.json()) as AdminLimits;
      expect(limits).toMatchObject({ available: true, store: "redis", tracked: 3 });
      expect(limits.counters).toEqual([
        {
          kind: "user_tool",
          tenant: "acme",
          user: "j/doe",
          tool: "calc.add",
          used: 9,
          limit: 10,
          share: 0.9,
          window_seconds: 60,
          reset_in_ms: 5000,
        },
        {
          kind: "user",
          tenant: null,
          user: "anonymous one",
          tool: null,
          used: 5,
          limit: 100,
          share: 0.05,
          window_seconds: 60,
          reset_in_ms: 100,
        },
        {
          kind: "tool",
          tenant: null,
          user: null,
          tool: "calc.add",
          used: 50,
          limit: 0,
          share: 0,
          window_seconds: 60,
          reset_in_ms: 0,
        },
      ]);
    });

    it("GET /admin/limits without a view says why", async () => {
      const limits = (await (await send("/admin/limits")).json()) as AdminLimits;
      expect(limits).toMatchObject({ available: false, reason: expect.stringMatching(/no data/) });
      const unavailable = (await (
        await send("/admin/limits", {
          view: {
            kind: "limits",
            payload: { unavailable: "ext-authz could not read its counters" },
          },
        })
      ).json()) as AdminLimits;
      expect(unavailable.reason).toBe("ext-authz could not read its counters");
    });

    it("POST /admin/policy/explain answers ext-authz's explanation with the operator's input", async () => {
      const body = JSON.stringify({
        tool: "calc.add",
        roles: ["developer"],
        arguments: { a: "x" },
      });
      const response = await send("/admin/policy/explain", {
        body,
        view: {
          kind: "explain",
          payload: {
            explain: {
              ok: true,
              tool: "calc.add",
              scope: "calc",
              roles: ["developer"],
              unknown_roles: [],
              arguments_given: true,
              decision: "denied",
              rule: {
                path: "roles.developer.deny[0]",
                effect: "deny",
                tools: "calc.add",
                when: 'arguments.a == "x"',
                mode: "enforce",
              },
              condition_error: null,
              would_deny: [],
              listed: true,
            },
          },
        },
      });
      expect(response.status).toBe(200);
      expect((await response.json()) as Explanation).toMatchObject({
        decision: "denied",
        claims: {},
        arguments: { a: "x" },
      });
      const refused = await send("/admin/policy/explain", {
        body,
        view: { kind: "explain", payload: { explain: { ok: false, error: "tool: ambiguous" } } },
      });
      expect(refused.status).toBe(400);
      expect(((await refused.json()) as RestErrorJson).error.message).toBe("tool: ambiguous");
    });
  });

  it("GET /admin/overview counts this router's tool calls per scope", async () => {
    const endpoint = `${fixture.router.url}/calc/mcp`;
    const session = sessionHeaders(await openSession(endpoint));
    for (let i = 0; i < 3; i++) {
      const answer = await postMcp(
        endpoint,
        {
          jsonrpc: "2.0",
          id: i,
          method: "tools/call",
          params: { name: "add", arguments: { a: 1, b: i } },
        },
        { headers: session },
      );
      expect(answer.status).toBe(200);
    }
    const overview = (await (await send("/admin/overview")).json()) as AdminOverview;
    const calc = overview.scopes.find((scope) => scope.scope === "calc");
    expect(calc?.totals.count).toBeGreaterThanOrEqual(3);
    expect(overview.backends).toEqual([
      expect.objectContaining({ scope: "calc", status: "up", tools_served: 2 }),
    ]);
    expect(overview.audit).toMatchObject({
      mode: "write-ahead",
      queued: expect.any(Number),
      lag_ms: expect.any(Number),
    });
  });
});

describe("GET /console", () => {
  let fixture: RouterFixture;
  let dir: string;
  let script: string;

  beforeAll(async () => {
    // Laid out as console/build.ts writes it (the browser tests serve the real build).
    dir = await mkdtemp(path.join(tmpdir(), "console-files-"));
    const built = path.join(dir, "console");
    script = "assets/console-AB12CD34.js";
    await mkdir(path.join(built, "assets"), { recursive: true });
    await writeFile(
      path.join(built, "index.html"),
      `<!doctype html><html><head><link rel="stylesheet" href="/console/assets/console-EF56.css">` +
        `<script type="module" src="/console/${script}"></script></head><body></body></html>`,
    );
    await writeFile(path.join(built, script), "document.body.textContent = 'console';\n");
    await writeFile(path.join(built, "assets", "console-EF56.css"), "body { margin: 0; }\n");
    await writeFile(path.join(built, "assets", "notes.txt"), "not served: unknown type\n");
    fixture = await startRouterFixture({ config: consoleConfig, router: { consoleDir: built } });
  });
  afterAll(async () => {
    await fixture?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("serves the page without a token, under a strict Content-Security-Policy", async () => {
    for (const target of ["/console", "/console/"]) {
      const response = await fetch(`${fixture.router.url}${target}`);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toBe("text/html; charset=utf-8");
      expect(response.headers.get("content-security-policy")).toBe(CONSOLE_CSP);
      expect(CONSOLE_CSP).toBe(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
          "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
      );
      expect(response.headers.get("x-frame-options")).toBe("DENY");
      expect(response.headers.get("cache-control")).toBe("no-cache");
      const html = await response.text();
      expect(html).toContain(`<script type="module" src="/console/${script}"></script>`);
      expect(html).not.toMatch(/<script>|<style|style=|https?:\/\//);
    }
  });

  it("serves content-hashed assets for a year, and 304 when unchanged", async () => {
    const response = await fetch(`${fixture.router.url}/console/${script}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(response.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    const etag = response.headers.get("etag")!;
    const again = await fetch(`${fixture.router.url}/console/${script}`, {
      headers: { "if-none-match": etag },
    });
    expect(again.status).toBe(304);
    const head = await fetch(`${fixture.router.url}/console/`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
  });

  it.each([
    "/console/assets/notes.txt",
    "/console/assets/nothing.js",
    "/console/assets/../index.html",
    "/console/tools",
    "/console/assets/",
  ])("answers %s 404", async (target) => {
    const response = await fetch(`${fixture.router.url}${target}`);
    expect(response.status).toBe(404);
  });

  it("answers other methods 405", async () => {
    const response = await fetch(`${fixture.router.url}/console`, { method: "POST", body: "{}" });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("GET, HEAD");
  });

  it("says how to build it when it is not built", async () => {
    const unbuilt = await startRouterFixture({
      config: consoleConfig,
      router: { consoleDir: path.join(dir, "missing") },
    });
    try {
      const response = await fetch(`${unbuilt.router.url}/console`);
      expect(response.status).toBe(503);
      expect(await response.text()).toMatch(/npm run build/);
    } finally {
      await unbuilt.close();
    }
  });
});
