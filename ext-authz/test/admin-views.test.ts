import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { parseConfigText, type GatewayConfig } from "../../config/src/load-config.ts";
import { ADMIN_VIEW_HEADER, verifyAdminView } from "../../contract/src/admin-view.ts";
import { createCheckHandler } from "../src/envoy/grpc-server.ts";
import { headersToRemove } from "../src/envoy/check-response.ts";
import type { QuotaCharge } from "../src/policy/quota.ts";
import { compilePolicy } from "../src/policy/rbac.ts";
import { adminMethods, resolveRoute } from "../src/policy/route.ts";
import { createAdminViews, explainView, policyView } from "../src/runtime/admin-views.ts";
import { createQuotaUsageTracker } from "../src/runtime/quota-usage.ts";
import { createQuotaLimiter } from "../src/runtime/rate-limit.ts";
import { checkRequest, decisionDeps, makeToken, silentLogger, TEST_ENV } from "./fixture-config.ts";

/** ext-authz's side of the operators' API: routes, the counters' table, and the views it sends. */

const charge = (kind: QuotaCharge["kind"], key: string, points = 10): QuotaCharge => ({
  kind,
  key,
  rule: { points, durationMs: 60_000 },
});

async function shippedConfig(): Promise<GatewayConfig> {
  const read = (name: string) => readFile(new URL(`../../config/${name}`, import.meta.url), "utf8");
  const result = parseConfigText({
    toolsYaml: await read("tools.yaml"),
    policyYaml: await read("policy.yaml"),
    env: {},
  });
  if (!result.ok) throw new Error(result.errors.join("\n"));
  return result.config;
}

describe("admin routes", () => {
  const known = () => true;
  it.each([
    ["/admin/audit", ["GET"]],
    ["/admin/overview", ["GET"]],
    ["/admin/tools", ["GET"]],
    ["/admin/policy", ["GET"]],
    ["/admin/policy/explain", ["POST"]],
    ["/admin/limits?x=1", ["GET"]],
    ["/admin/tools/calculator/add/approve", ["POST"]],
    ["/admin/tools/any%20thing/x/keep", ["POST"]],
  ])("%s is an admin route taking %j", (path, methods) => {
    expect(resolveRoute(path, undefined, known)).toEqual({ kind: "admin", endpoint: "/mcp" });
    expect(adminMethods(path)).toEqual(methods);
  });

  it.each([
    "/admin/tools/calculator/approve",
    "/admin/tools/a/b/c/approve",
    "/admin/tools/a/b/delete",
    "/admin/tools/",
  ])("%s is not", (path) => {
    expect(resolveRoute(path, undefined, known)).toEqual({
      kind: "not_found",
      reason: "unknown_route",
    });
    expect(adminMethods(path)).toEqual([]);
  });

  it.each(["/console", "/console/", "/console/assets/app.js"])(
    "%s is the console: public, no token",
    (path) => {
      expect(resolveRoute(path, undefined, known)).toEqual({ kind: "console" });
    },
  );

  it("/consoles is not the console", () => {
    expect(resolveRoute("/consoles", undefined, known).kind).toBe("not_found");
  });
});

describe("the quota usage table", () => {
  it("keeps the latest state per counter, busiest first, per kind", () => {
    let now = 1_000_000;
    const table = createQuotaUsageTracker({ now: () => now });
    table.record(charge("user", "acme/alice"), { consumed: 2, msBeforeReset: 30_000 });
    table.record(charge("user", "acme/bob", 4), { consumed: 3, msBeforeReset: 30_000 });
    table.record(charge("user", "acme/alice"), { consumed: 5, msBeforeReset: 29_000 });
    table.record(charge("tool", "calc.add", 100), { consumed: 1, msBeforeReset: 1_000 });
    expect(table.busiest(10)).toEqual([
      {
        kind: "user",
        key: "acme/bob",
        consumed: 3,
        limit: 4,
        windowSeconds: 60,
        resetAt: 1_030_000,
      },
      {
        kind: "user",
        key: "acme/alice",
        consumed: 5,
        limit: 10,
        windowSeconds: 60,
        resetAt: 1_029_000,
      },
      {
        kind: "tool",
        key: "calc.add",
        consumed: 1,
        limit: 100,
        windowSeconds: 60,
        resetAt: 1_001_000,
      },
    ]);
    expect(table.busiest(1).map((entry) => entry.key)).toEqual(["acme/bob", "calc.add"]);
    table.refunded(charge("user", "acme/bob", 4));
    expect(table.busiest(1)[0]).toMatchObject({ key: "acme/alice", consumed: 5 });
    now += 2_000;
    expect(table.size()).toBe(2);
    expect(table.busiest(10).map((entry) => entry.kind)).toEqual(["user", "user"]);
  });

  it("stays bounded: expired counters go first, then the least recently spent", () => {
    let now = 0;
    const table = createQuotaUsageTracker({ maxEntries: 2, now: () => now });
    table.record(charge("user", "a"), { consumed: 1, msBeforeReset: 100 });
    table.record(charge("user", "b"), { consumed: 1, msBeforeReset: 10_000 });
    now = 200;
    table.record(charge("user", "c"), { consumed: 1, msBeforeReset: 10_000 });
    expect(
      table
        .busiest(10)
        .map((entry) => entry.key)
        .sort(),
    ).toEqual(["b", "c"]);
    table.record(charge("user", "b"), { consumed: 2, msBeforeReset: 10_000 });
    table.record(charge("user", "d"), { consumed: 1, msBeforeReset: 10_000 });
    expect(
      table
        .busiest(10)
        .map((entry) => entry.key)
        .sort(),
    ).toEqual(["b", "d"]);
  });

  it("takes fresh counts, and forgets counters that are gone", () => {
    const table = createQuotaUsageTracker();
    table.record(charge("user", "a"), { consumed: 1, msBeforeReset: 10_000 });
    table.record(charge("user", "b"), { consumed: 1, msBeforeReset: 10_000 });
    const [a, b] = table.busiest(10).sort((x, y) => x.key.localeCompare(y.key));
    table.update(a!, { consumed: 7, msBeforeReset: 5_000 });
    table.update(b!, { consumed: 0, msBeforeReset: 0 });
    expect(table.busiest(10)).toEqual([expect.objectContaining({ key: "a", consumed: 7 })]);
  });
});

describe("the limiter's usage snapshot", () => {
  it("reports memory counters, a refused spend keeping only the refusing counter's point", async () => {
    const limiter = createQuotaLimiter({ keyPrefix: `usage-${randomUUID()}` });
    const tight = charge("user_tool", "acme/alice/calc.add", 1);
    await limiter.spendAll!([tight, charge("user", "acme/alice")]);
    const refused = await limiter.spendAll!([tight, charge("user", "acme/alice")]);
    expect(refused.ok).toBe(false);
    const snapshot = await limiter.usage(5);
    expect(snapshot).toMatchObject({ store: "memory", degraded: false, tracked: 2 });
    expect(snapshot.counters).toEqual([
      expect.objectContaining({ kind: "user_tool", key: "acme/alice/calc.add", used: 2, limit: 1 }),
      expect.objectContaining({ kind: "user", key: "acme/alice", used: 1, limit: 10 }),
    ]);
    expect(Date.parse(snapshot.taken_at)).not.toBeNaN();
    limiter.close();
  });

  describe.skipIf(!process.env.REDIS_URL)("on Redis", () => {
    const clients: Redis[] = [];
    afterAll(() => {
      for (const client of clients) client.disconnect();
    });
    const connect = async () => {
      const client = new Redis(process.env.REDIS_URL!, {
        enableOfflineQueue: false,
        lazyConnect: true,
      });
      client.on("error", () => undefined);
      clients.push(client);
      await client.connect();
      return client;
    };

    it("reads the counts every replica spent, for the counters this one knows", async () => {
      const prefix = `test-usage:${randomUUID()}`;
      const [a, b] = [await connect(), await connect()];
      const replicaA = createQuotaLimiter({ redis: a, keyPrefix: prefix });
      const replicaB = createQuotaLimiter({ redis: b, keyPrefix: prefix });
      await replicaA.consume(charge("user", "acme/alice"));
      for (let i = 0; i < 3; i++) await replicaB.consume(charge("user", "acme/alice"));
      await replicaB.consume(charge("user", "acme/bob"));
      const snapshot = await replicaA.usage(10);
      expect(snapshot).toMatchObject({ store: "redis", degraded: false });
      expect(snapshot.counters).toEqual([
        expect.objectContaining({ key: "acme/alice", used: 4, limit: 10, window_seconds: 60 }),
      ]);
      expect(snapshot.counters[0]!.reset_in_ms).toBeGreaterThan(50_000);
      const keys = await a.keys(`${prefix}*`);
      await a.del(...keys);
      // Gone from Redis (expired, or deleted): no longer listed.
      expect((await replicaA.usage(10)).counters).toEqual([]);
      replicaA.close();
      replicaB.close();
    });
  });
});

describe("the views ext-authz sends", () => {
  it("the policy matrix, compact, with the conditions of conditional cells", async () => {
    const config = await shippedConfig();
    const view = policyView(config);
    const roles = view.roles.map((role) => role.name);
    expect(roles).toEqual(Object.keys(config.policy.roles));
    expect(view.operator_roles).toEqual(["operator"]);
    const diff = view.tools.find((row) => row.tool === "git.git_diff")!;
    const auditor = roles.indexOf("auditor");
    expect(diff.cells[roles.indexOf("developer")]).toBe("a");
    expect(diff.cells[auditor]).toBe("c");
    const [, ...rules] = diff.conditions.find(([role]) => role === auditor)!;
    expect(rules.map((index) => view.rules[index]!.when)).toEqual([
      'has(arguments.format) && arguments.format != "stat"',
    ]);
    expect(view.tools.find((row) => row.tool === "git.git_read_file")!.cells[auditor]).toBe("d");
  });

  it("explains a call, or says why it cannot", async () => {
    const config = await shippedConfig();
    const compiled = compilePolicy(config.tools, config.policy);
    const body = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
    expect(
      explainView(
        config,
        compiled,
        body({ tool: "git.git_diff", roles: ["auditor"], arguments: { format: "stat" } }),
      ),
    ).toMatchObject({ ok: true, decision: "allowed", rule: { path: "roles.auditor.allow[4]" } });
    expect(explainView(config, compiled, body({ tool: "git.git_log" }))).toEqual({
      ok: false,
      error: "roles: give roles, or a roles claim in claims",
    });
    expect(explainView(config, compiled, new TextEncoder().encode("{"))).toEqual({
      ok: false,
      error: "the request body is not valid JSON",
    });
    expect(explainView(config, compiled, body({ tool: "x", claims: { roles: 5 } }))).toMatchObject({
      ok: false,
      error: expect.stringMatching(/^claims\.roles: /),
    });
  });

  it("a Check of an operator's GET /admin/policy carries the view; other requests never", async () => {
    const result = parseConfigText({
      toolsYaml:
        "version: 1\nscopes:\n  calc:\n    backend_url: http://127.0.0.1:9\n    tools:\n      - { name: add }\n",
      policyYaml: [
        "version: 1",
        "roles:",
        "  developer: { allow: [calc.*] }",
        "  operator: { allow: [] }",
        "operator_roles: [operator]",
        "quotas:",
        "  per_user: { default: { points: 100, duration: 1m } }",
        "  per_tool: { default: { points: 100, duration: 1m } }",
        "  per_user_tool: { default: { points: 100, duration: 1m } }",
        "protected_resource:",
        "  resource_base_url: http://localhost:8000",
        '  authorization_servers: ["http://localhost:8010"]',
      ].join("\n"),
      env: {},
    });
    if (!result.ok) throw new Error(result.errors.join("\n"));
    const { config } = result;
    const policy = compilePolicy(config.tools, config.policy);
    const limiter = createQuotaLimiter({ keyPrefix: `views-${randomUUID()}` });
    const check = createCheckHandler({
      decision: decisionDeps({ policy, limiter }),
      verdictKey: TEST_ENV.GATEWAY_VERDICT_KEY,
      logger: silentLogger,
      audit: { write: async () => undefined },
      adminViews: createAdminViews({
        config,
        policy,
        quotaUsage: (perKind) => limiter.usage(perKind),
        verdictKey: TEST_ENV.GATEWAY_VERDICT_KEY,
        logger: silentLogger,
      }),
    });
    const headersOf = async (roles: string[], method: string, path: string, extra = {}) => {
      const token = await makeToken({ roles });
      const response = await check(
        checkRequest({
          method,
          path,
          headers: {
            authorization: `Bearer ${token}`,
            "x-request-id": `req-${randomUUID()}`,
            ...extra,
          },
        }),
      );
      const set = Object.fromEntries(
        (response.ok_response?.headers ?? []).map((option) => [
          option.header!.key,
          option.header!.value!,
        ]),
      );
      return { response, set, removed: response.ok_response?.headers_to_remove ?? [] };
    };

    const allowed = await headersOf(["operator"], "GET", "/admin/policy", {
      [ADMIN_VIEW_HEADER]: "forged",
    });
    const requestId = allowed.set["x-request-id"]!;
    const view = verifyAdminView(
      allowed.set[ADMIN_VIEW_HEADER],
      "policy",
      TEST_ENV.GATEWAY_VERDICT_KEY,
      requestId,
    );
    expect(view).toMatchObject({ ok: true, payload: { policy: { operator_roles: ["operator"] } } });
    // Overwritten, never removed after being set.
    expect(allowed.removed).not.toContain(ADMIN_VIEW_HEADER);

    const limits = await headersOf(["operator"], "GET", "/admin/limits");
    expect(
      verifyAdminView(
        limits.set[ADMIN_VIEW_HEADER],
        "limits",
        TEST_ENV.GATEWAY_VERDICT_KEY,
        limits.set["x-request-id"]!,
      ),
    ).toMatchObject({ ok: true, payload: { limits: { store: "memory" } } });

    const tools = await headersOf(["operator"], "GET", "/admin/tools", {
      [ADMIN_VIEW_HEADER]: "forged",
    });
    expect(tools.set[ADMIN_VIEW_HEADER]).toBeUndefined();
    // A client's copy never reaches the router.
    expect(tools.removed).toContain(ADMIN_VIEW_HEADER);

    const refused = await headersOf(["developer"], "GET", "/admin/policy");
    expect(refused.response.ok_response).toBeUndefined();
    limiter.close();
  });

  it("keeps the gateway headers it sets out of the removals", () => {
    expect(
      headersToRemove({ "x-gateway-admin-view": "x", "x-gateway-other": "y" }, [
        "x-gateway-admin-view",
      ]),
    ).toEqual(["authorization", "x-gateway-other"]);
  });
});
