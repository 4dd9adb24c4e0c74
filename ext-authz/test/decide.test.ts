import { beforeEach, describe, expect, it } from "vitest";
import { sha256Hex } from "../../contract/src/digest.ts";
import {
  decide,
  REST_VERDICT_SCOPE,
  type CheckInput,
  type Decision,
} from "../src/policy/decide.ts";
import type { QuotaLimiter } from "../src/policy/quota.ts";
import { callerWithRoles, compilePolicy } from "../src/policy/rbac.ts";
import { hasTokenInQuery, resolveRoute } from "../src/policy/route.ts";
import { createQuotaLimiter } from "../src/runtime/rate-limit.ts";
import { parseConfigText } from "../../config/src/load-config.ts";
import { decisionDeps, makeToken, NOW_S, testConfig, TOOLS_YAML } from "./fixture-config.ts";

const rpc = (method: string, params?: Record<string, unknown>, id: number | string = 1) =>
  JSON.stringify({ jsonrpc: "2.0", id, method, ...(params ? { params } : {}) });

async function run(
  input: Omit<Partial<CheckInput>, "body"> & { path: string; body?: string | Uint8Array },
  token: string | null,
  deps = decisionDeps(),
): Promise<Decision> {
  const headers: Record<string, string> = { ...input.headers };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const body =
    typeof input.body === "string"
      ? new TextEncoder().encode(input.body)
      : (input.body ?? new Uint8Array());
  return decide(
    {
      method: input.method ?? "POST",
      path: input.path,
      headers,
      body,
      contextScope: input.contextScope,
    },
    deps,
  );
}

function expectDeny(decision: Decision, reason: string): Extract<Decision, { outcome: "deny" }> {
  expect(decision.outcome === "deny" ? decision.reason : `allowed (${decision.outcome})`).toBe(
    reason,
  );
  return decision as Extract<Decision, { outcome: "deny" }>;
}

function expectAllow(decision: Decision): Extract<Decision, { outcome: "allow" }> {
  expect(decision.outcome === "deny" ? `denied: ${decision.reason}` : decision.outcome).toBe(
    "allow",
  );
  return decision as Extract<Decision, { outcome: "allow" }>;
}

describe("route", () => {
  const known = (scope: string) => ["calculator", "git", "docs"].includes(scope);
  it.each([
    ["/calculator/mcp", undefined, { kind: "mcp", scope: "calculator" }],
    ["/git/sse?x=1", undefined, { kind: "mcp", scope: "git" }],
    ["/mcp/invoke", undefined, { kind: "invoke", scope: undefined }],
    ["/mcp/invoke", "docs", { kind: "invoke", scope: "docs" }],
    ["/mcp/jobs/abc-123", undefined, { kind: "jobs", jobId: "abc-123" }],
    ["/health", undefined, { kind: "health" }],
    [
      "/.well-known/oauth-protected-resource/calculator/mcp",
      undefined,
      { kind: "resource_metadata" },
    ],
    ["/sse", undefined, { kind: "not_found", reason: "removed_endpoint" }],
    ["/messages", undefined, { kind: "not_found", reason: "removed_endpoint" }],
    ["/messages/?session_id=1", undefined, { kind: "not_found", reason: "removed_endpoint" }],
    ["/unknown/mcp", undefined, { kind: "not_found", reason: "unknown_scope" }],
    ["/mcp/mcp", undefined, { kind: "not_found", reason: "unknown_scope" }],
    ["/calculator/mcp", "git", { kind: "not_found", reason: "scope_mismatch" }],
    ["/calculator/mcp", "nope", { kind: "not_found", reason: "unknown_scope" }],
    ["/calculator/mcp/", undefined, { kind: "not_found", reason: "unknown_route" }],
    ["/mcp/jobs/a/b", undefined, { kind: "not_found", reason: "unknown_route" }],
    ["/mcp/jobs/bad%20id", undefined, { kind: "not_found", reason: "unknown_route" }],
    ["/", undefined, { kind: "not_found", reason: "unknown_route" }],
    // Found by mutation testing: the agreeing and the empty context, and anchored patterns.
    ["/calculator/mcp", "calculator", { kind: "mcp", scope: "calculator" }],
    ["/calculator/mcp", "", { kind: "mcp", scope: "calculator" }],
    ["/mcp/invoke", "", { kind: "invoke", scope: undefined }],
    ["/messages/abc", undefined, { kind: "not_found", reason: "removed_endpoint" }],
    ["/x/mcp/jobs/abc", undefined, { kind: "not_found", reason: "unknown_route" }],
    [
      "/.well-known/oauth-protected-resource",
      undefined,
      { kind: "resource_metadata", endpoint: "/" },
    ],
    [
      "/.well-known/oauth-protected-resource/git/sse",
      undefined,
      { kind: "resource_metadata", endpoint: "/git/sse" },
    ],
  ] as const)("%s (context %s)", (path, context, expected) => {
    expect(resolveRoute(path, context, known)).toEqual(expect.objectContaining(expected));
  });

  it.each([
    ["/calculator/mcp", false],
    ["/calculator/mcp?x=1", false],
    ["/calculator/mcp?access_token=t", true],
    ["/calculator/mcp?x=1&access_token=", true],
    ["/calculator/mcp#access_token=t", false],
    ["/calculator/mcp?x=1#access_token=t", false],
  ] as const)("finds an access_token in the query of %s: %s", (path, expected) => {
    expect(hasTokenInQuery(path)).toBe(expected);
  });
});

describe("RBAC compile", () => {
  // Compiled in each test, not when the file is collected: a mutation of the compiler is live then.
  let policy: ReturnType<typeof compilePolicy>;
  beforeEach(() => {
    const config = testConfig();
    policy = compilePolicy(config.tools, config.policy);
  });
  it.each([
    [["developer"], "calculator", ["exact_calculate", "shared_tool", "statistics"]],
    [["developer"], "git", ["git_log", "git_read_file", "shared_tool"]],
    [["auditor"], "git", ["git_log", "shared_tool"]],
    // A role deny beats another role's allow.
    [["developer", "auditor"], "git", ["git_log", "shared_tool"]],
    [["analyst"], "git", []],
    [["limited"], "calculator", ["exact_calculate"]],
    [["nobody"], "calculator", []],
    [["not-a-role"], "calculator", []],
    [[], "calculator", []],
  ] as const)("%j in %s", (roles, scope, tools) => {
    expect(policy.allowedTools(callerWithRoles(roles), scope)).toEqual(tools);
  });
  it("reports tool status", () => {
    expect(policy.toolStatus(callerWithRoles(["developer"]), "calculator", "retired_tool")).toBe(
      "tool_inactive",
    );
    expect(policy.toolStatus(callerWithRoles(["developer"]), "calculator", "git_log")).toBe(
      "tool_unknown",
    );
    expect(policy.toolStatus(callerWithRoles(["auditor"]), "git", "git_read_file")).toBe(
      "tool_not_allowed",
    );
    expect(policy.toolStatus(callerWithRoles(["auditor"]), "git", "git_log")).toBe("allowed");
  });
  it("resolves REST tool names", () => {
    expect(policy.resolveToolName("calculator.statistics")).toEqual({
      kind: "found",
      scope: "calculator",
      tool: "statistics",
    });
    expect(policy.resolveToolName("statistics")).toEqual({
      kind: "found",
      scope: "calculator",
      tool: "statistics",
    });
    expect(policy.resolveToolName("shared_tool")).toEqual({ kind: "ambiguous" });
    expect(policy.resolveToolName("git.shared_tool")).toEqual({
      kind: "found",
      scope: "git",
      tool: "shared_tool",
    });
    expect(policy.resolveToolName("nope")).toEqual({ kind: "unknown" });
  });
  it("gives a multi-role user the most generous per-user quota", () => {
    expect(policy.userQuota(["limited"])).toEqual({ points: 3, durationMs: 60_000 });
    expect(policy.userQuota(["limited", "analyst"])).toEqual({ points: 1000, durationMs: 60_000 });
  });
});

describe("decide: MCP endpoints", () => {
  it("allows tools/list and lists the caller's tools of this scope", async () => {
    const body = rpc("tools/list");
    const decision = expectAllow(
      await run({ path: "/calculator/mcp", body }, await makeToken({ tenant: "acme" })),
    );
    expect(decision.scope).toBe("calculator");
    expect(decision.tools).toEqual(["exact_calculate", "shared_tool", "statistics"]);
    expect(decision.identity).toMatchObject({
      subject: "alice",
      tenant: "acme",
      roles: ["developer"],
    });
    expect(decision.bodyDigest).toBe(sha256Hex(body));
    expect(decision.verdictExp).toBe(NOW_S + 30);
    expect(decision.requestId).toBe("generated-1");
  });

  it("keeps a well-formed x-request-id and replaces a hostile one", async () => {
    const token = await makeToken();
    const kept = await run(
      { path: "/calculator/mcp", body: rpc("ping"), headers: { "x-request-id": "req-42" } },
      token,
    );
    expect(kept.requestId).toBe("req-42");
    const replaced = await run(
      {
        path: "/calculator/mcp",
        body: rpc("ping"),
        headers: { "x-request-id": "bad id\n" + "x".repeat(300) },
      },
      token,
    );
    expect(replaced.requestId).toBe("generated-1");
  });

  it.each([
    "initialize",
    "ping",
    "server/discover",
    "tools/list",
    "tasks/get",
    "tasks/list",
    "tasks/cancel",
  ])("allows %s with any role that grants something here", async (method) => {
    expectAllow(
      await run(
        { path: "/calculator/mcp", body: rpc(method, { taskId: "t" }) },
        await makeToken({ roles: ["limited"] }),
      ),
    );
  });

  it("allows notifications and client responses", async () => {
    const token = await makeToken();
    expectAllow(
      await run(
        {
          path: "/calculator/mcp",
          body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }),
        },
        token,
      ),
    );
    expectAllow(
      await run(
        { path: "/calculator/mcp", body: JSON.stringify({ jsonrpc: "2.0", id: 5, result: {} }) },
        token,
      ),
    );
  });

  it("denies insufficient_scope when no role grants anything in the scope", async () => {
    const decision = expectDeny(
      await run(
        { path: "/git/mcp", body: rpc("tools/list") },
        await makeToken({ roles: ["analyst"] }),
      ),
      "insufficient_scope",
    );
    expect(decision.error).toBe("GW_INSUFFICIENT_SCOPE");
    expect(decision.challenge?.error).toBe("insufficient_scope");
    expect(decision.rpcId).toBe(1);
    for (const roles of [[], ["nobody"], ["unknown-role"]]) {
      expectDeny(
        await run({ path: "/calculator/mcp", body: rpc("initialize") }, await makeToken({ roles })),
        "insufficient_scope",
      );
    }
    expectDeny(
      await run(
        { path: "/calculator/mcp", body: rpc("ping") },
        await makeToken({ roles: undefined }),
      ),
      "insufficient_scope",
    );
  });

  it.each([
    ["exact_calculate", ["limited"], "calculator", null],
    ["statistics", ["limited"], "calculator", "tool_not_allowed"],
    ["git_read_file", ["auditor"], "git", "tool_not_allowed"],
    ["git_log", ["auditor"], "git", null],
  ] as const)("tools/call %s by %j in %s", async (tool, roles, scope, reason) => {
    const decision = await run(
      { path: `/${scope}/mcp`, body: rpc("tools/call", { name: tool, arguments: {} }, "call-1") },
      await makeToken({ roles }),
    );
    if (reason === null) {
      expectAllow(decision);
    } else {
      const denied = expectDeny(decision, reason);
      expect(denied.error).toBe("GW_TOOL_FORBIDDEN");
      expect(denied.rpcId).toBe("call-1");
      expect(denied.context.tool).toBe(tool);
    }
  });

  it.each([
    ["retired_tool", "disabled in tools.yaml"],
    ["git_log", "another scope's"],
  ])("lets tools/call of an unknown tool (%s, %s) through outside the verdict", async (tool) => {
    const decision = expectAllow(
      await run(
        { path: "/calculator/mcp", body: rpc("tools/call", { name: tool, arguments: {} }, "c") },
        await makeToken({ roles: ["developer"] }),
      ),
    );
    // The router answers -32602 Unknown tool; without it in the verdict it can never be forwarded.
    expect(decision.tools).not.toContain(tool);
  });

  it("allows GET and DELETE without a body, refuses other methods", async () => {
    const token = await makeToken();
    const get = expectAllow(await run({ method: "GET", path: "/calculator/mcp" }, token));
    expect(get.bodyDigest).toBe(sha256Hex(""));
    expectAllow(await run({ method: "DELETE", path: "/calculator/sse" }, token));
    const put = expectDeny(
      await run({ method: "PUT", path: "/calculator/mcp" }, token),
      "method_not_allowed",
    );
    expect(put.allow).toEqual(["POST", "GET", "DELETE"]);
  });

  describe("JSON-RPC batches", () => {
    const message = (id: number, name?: string) =>
      name === undefined
        ? { jsonrpc: "2.0", id, method: "tools/list" }
        : { jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: {} } };
    const batchOf = (...messages: unknown[]) => JSON.stringify(messages);

    it("allows a 2025-03-26 batch whose calls are all allowed; the verdict covers the body", async () => {
      const token = await makeToken();
      const body = batchOf(message(1), message(2, "exact_calculate"), {
        jsonrpc: "2.0",
        method: "notifications/initialized",
      });
      const variants: Record<string, string>[] = [{}, { "mcp-protocol-version": "2025-03-26" }];
      for (const headers of variants) {
        const allowed = expectAllow(await run({ path: "/calculator/mcp", body, headers }, token));
        expect(allowed.bodyDigest).toBe(sha256Hex(body));
        expect(allowed.context).toMatchObject({ method: "batch", tool: "exact_calculate" });
      }
    });

    it("refuses the whole batch when one call is not allowed, spending nothing", async () => {
      const deps = decisionDeps();
      const token = await makeToken({ roles: ["limited"] });
      const body = batchOf(message(1, "exact_calculate"), message(2, "statistics"));
      for (let i = 0; i < 4; i += 1) {
        const denied = expectDeny(
          await run({ path: "/calculator/mcp", body }, token, deps),
          "tool_not_allowed",
        );
        expect(denied.error).toBe("GW_TOOL_FORBIDDEN");
        expect(denied.rpcId).toBeNull();
      }
      // The per-user quota (3 for "limited") is untouched by the four refused batches.
      for (let i = 0; i < 3; i += 1)
        expectAllow(await run({ path: "/calculator/mcp", body: rpc("ping") }, token, deps));
    });

    /** The real limiter, recording what the decision spends and gives back. */
    function recordingLimiter() {
      const real = createQuotaLimiter({ keyPrefix: `test:${Math.random()}` });
      const log: string[] = [];
      const limiter: QuotaLimiter = {
        async consume(charge) {
          const outcome = await real.consume(charge);
          log.push(`${outcome.ok ? "spend" : "refused"} ${charge.kind} ${charge.key}`);
          return outcome;
        },
        async refund(charge) {
          log.push(`refund ${charge.kind} ${charge.key}`);
          await real.refund(charge);
        },
      };
      return { limiter, log };
    }

    it("charges every call of a batch and gives back what a refused batch took", async () => {
      const { limiter, log } = recordingLimiter();
      const deps = decisionDeps({ limiter });
      const token = await makeToken({ sub: "bo" });
      const call = "docs.generate_document";
      // docs.generate_document: 2 calls per minute for everyone, so three in one batch is refused.
      const three = batchOf(
        message(1, "generate_document"),
        message(2, "generate_document"),
        message(3, "generate_document"),
      );
      expectDeny(await run({ path: "/docs/mcp", body: three }, token, deps), "rate_limited_tool");
      const spent = [
        `user_tool /bo/${call}`,
        `user_tool /bo/${call}`,
        `user_tool /bo/${call}`,
        "user /bo",
        `tool ${call}`,
        `tool ${call}`,
      ];
      expect(log.slice(0, 7)).toEqual([
        ...spent.map((charge) => `spend ${charge}`),
        `refused tool ${call}`,
      ]);
      expect(log.slice(7).sort()).toEqual(spent.map((charge) => `refund ${charge}`).sort());

      // Within the limits: the user counter once, the two per-call counters twice each.
      const fresh = recordingLimiter();
      const two = batchOf(message(1, "generate_document"), message(2, "generate_document"));
      expectAllow(
        await run(
          { path: "/docs/mcp", body: two },
          token,
          decisionDeps({ limiter: fresh.limiter }),
        ),
      );
      expect(fresh.log).toEqual([
        `spend user_tool /bo/${call}`,
        `spend user_tool /bo/${call}`,
        "spend user /bo",
        `spend tool ${call}`,
        `spend tool ${call}`,
      ]);
    });

    it("refuses batches under later revisions and malformed batches with a clear error", async () => {
      const token = await makeToken();
      const body = batchOf(message(1), message(2));
      for (const version of ["2025-06-18", "2025-11-25", "2026-07-28"]) {
        const denied = expectDeny(
          await run(
            { path: "/calculator/mcp", body, headers: { "mcp-protocol-version": version } },
            token,
          ),
          "batch_not_allowed",
        );
        expect(denied.error).toBe("GW_BATCH_NOT_SUPPORTED");
      }
      const tooLong = batchOf(...Array.from({ length: 33 }, (_, i) => message(i)));
      const long = expectDeny(
        await run({ path: "/calculator/mcp", body: tooLong }, token),
        "batch_too_large",
      );
      expect(long).toMatchObject({
        error: "GW_INVALID_REQUEST",
        detail: "A JSON-RPC batch may hold at most 32 messages",
      });
      const init = expectDeny(
        await run(
          {
            path: "/calculator/mcp",
            body: batchOf({ jsonrpc: "2.0", id: 1, method: "initialize", params: {} }),
          },
          token,
        ),
        "batch_initialize",
      );
      expect(init.error).toBe("GW_INVALID_REQUEST");
    });
  });
});

describe("decide: order and public paths", () => {
  it("answers health without a token and serves RFC 9728 metadata", async () => {
    expect((await run({ method: "GET", path: "/health" }, null)).outcome).toBe("public");
    const metadata = await run(
      { method: "GET", path: "/.well-known/oauth-protected-resource/calculator/mcp" },
      null,
    );
    expect(metadata.outcome).toBe("respond");
    if (metadata.outcome !== "respond") return;
    expect(JSON.parse(metadata.body)).toEqual({
      resource: "https://gw.example/calculator/mcp",
      authorization_servers: ["https://issuer.example"],
      bearer_methods_supported: ["header"],
      resource_name: "MCP Gateway: calculator tools",
    });
    expectDeny(
      await run({ method: "GET", path: "/.well-known/oauth-protected-resource/nope/mcp" }, null),
      "unknown_route",
    );
    expectDeny(
      await run(
        { method: "POST", path: "/.well-known/oauth-protected-resource/calculator/mcp" },
        null,
      ),
      "method_not_allowed",
    );
  });

  it("refuses removed and unknown endpoints before looking at the token", async () => {
    expectDeny(await run({ path: "/sse" }, null), "removed_endpoint");
    expectDeny(await run({ path: "/messages" }, null), "removed_endpoint");
    expectDeny(await run({ path: "/weather/mcp" }, null), "unknown_scope");
  });

  it("asks for a token with the endpoint's resource metadata and echoes the JSON-RPC id", async () => {
    const decision = expectDeny(
      await run({ path: "/calculator/mcp", body: rpc("tools/list", {}, 77) }, null),
      "token_missing",
    );
    expect(decision.rpcId).toBe(77);
    expect(decision.challenge).toEqual({
      resourceMetadata: "https://gw.example/.well-known/oauth-protected-resource/calculator/mcp",
    });
  });

  it("refuses a token in the query string even with a valid header", async () => {
    const token = await makeToken();
    expectDeny(
      await run({ path: `/calculator/mcp?access_token=${token}`, body: rpc("ping") }, token),
      "token_in_query",
    );
  });

  it("refuses non-Bearer schemes", async () => {
    const decision = await decide(
      {
        method: "POST",
        path: "/calculator/mcp",
        headers: { authorization: "Basic YWxpY2U6cHc=" },
        body: new TextEncoder().encode(rpc("ping")),
        contextScope: undefined,
      },
      decisionDeps(),
    );
    expectDeny(decision, "token_malformed");
  });

  it("checks the token before the body, and the body before RBAC", async () => {
    expectDeny(await run({ path: "/calculator/mcp", body: "{not json" }, null), "token_missing");
    expectDeny(
      await run({ path: "/git/mcp", body: "{not json" }, await makeToken({ roles: ["analyst"] })),
      "parse_error",
    );
  });

  it("never decides on a truncated body", async () => {
    const token = await makeToken();
    const decision = await run(
      {
        path: "/calculator/mcp",
        body: '{"jsonrpc":"2.0","id":1,"method":"tools/call","par',
        headers: { "x-envoy-auth-partial-body": "true" },
      },
      token,
    );
    expect(expectDeny(decision, "partial_body").error).toBe("GW_PAYLOAD_TOO_LARGE");
  });

  it("refuses bodies over the limit", async () => {
    const deps = decisionDeps({ limits: { maxBodyBytes: 64, maxJsonDepth: 64 } });
    const body = rpc("tools/list", { cursor: "x".repeat(100) });
    expectDeny(
      await run({ path: "/calculator/mcp", body }, await makeToken(), deps),
      "payload_too_large",
    );
  });

  it("refuses a body that is not UTF-8", async () => {
    const body = new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]);
    expectDeny(await run({ path: "/calculator/mcp", body }, await makeToken()), "parse_error");
  });
});

describe("decide: REST invoke and jobs", () => {
  const invoke = (tool: string, extra: Record<string, unknown> = {}) =>
    JSON.stringify({ tool_name: tool, arguments: {}, ...extra });

  it.each([
    ["calculator.statistics", "calculator"],
    ["statistics", "calculator"],
    ["git.shared_tool", "git"],
    ["generate_document", "docs"],
  ])("resolves %s to scope %s", async (tool, scope) => {
    const decision = expectAllow(
      await run({ path: "/mcp/invoke", body: invoke(tool, { async: true }) }, await makeToken()),
    );
    expect(decision.scope).toBe(scope);
    expect(decision.context.scope).toBe(scope);
  });

  it("refuses ambiguous, unknown, out-of-route and forbidden tools", async () => {
    const token = await makeToken();
    expectDeny(
      await run({ path: "/mcp/invoke", body: invoke("shared_tool") }, token),
      "tool_ambiguous",
    );
    const unknown = expectDeny(
      await run({ path: "/mcp/invoke", body: invoke("nope") }, token),
      "tool_unknown",
    );
    // Not a permission question: 404 on the REST surface, no insufficient_scope challenge.
    expect(unknown).toMatchObject({ error: "GW_UNKNOWN_TOOL", surface: "rest" });
    expect(unknown.challenge).toBeUndefined();
    expectDeny(
      await run(
        { path: "/mcp/invoke", body: invoke("git.git_log"), contextScope: "calculator" },
        token,
      ),
      "tool_unknown",
    );
    expectDeny(
      await run({ path: "/mcp/invoke", body: invoke("calculator.retired_tool") }, token),
      "tool_inactive",
    );
    const forbidden = expectDeny(
      await run(
        { path: "/mcp/invoke", body: invoke("git_read_file") },
        await makeToken({ roles: ["auditor"] }),
      ),
      "tool_not_allowed",
    );
    expect(forbidden).toMatchObject({ error: "GW_TOOL_FORBIDDEN", surface: "rest" });
    expect(forbidden.challenge?.error).toBe("insufficient_scope");
  });

  it.each([
    ["[]", "invalid_request"],
    ['{"arguments":{}}', "invalid_request"],
    ['{"tool_name":42}', "invalid_request"],
    ['{"tool_name":"statistics","arguments":[]}', "invalid_request"],
    ['{"tool_name":"statistics","async":"yes"}', "invalid_request"],
    ['{"tool_name":"a","tool_name":"statistics"}', "duplicate_key"],
    ["nope", "parse_error"],
  ])("refuses invoke body %s", async (body, reason) => {
    expectDeny(await run({ path: "/mcp/invoke", body }, await makeToken()), reason);
  });

  it("allows jobs with every qualified tool when the route names no scope", async () => {
    const decision = expectAllow(
      await run(
        { method: "GET", path: "/mcp/jobs/job-1" },
        await makeToken({ roles: ["auditor"] }),
      ),
    );
    expect(decision.scope).toBe(REST_VERDICT_SCOPE);
    expect(decision.tools).toEqual(["git.git_log", "git.shared_tool"]);
    const scoped = expectAllow(
      await run(
        { method: "DELETE", path: "/mcp/jobs/job-1", contextScope: "calculator" },
        await makeToken({ roles: ["limited"] }),
      ),
    );
    expect(scoped.scope).toBe("calculator");
    expect(scoped.tools).toEqual(["exact_calculate"]);
    expectDeny(
      await run({ method: "GET", path: "/mcp/jobs/job-1" }, await makeToken({ roles: ["nobody"] })),
      "insufficient_scope",
    );
    expectDeny(
      await run({ method: "POST", path: "/mcp/jobs/job-1" }, await makeToken()),
      "method_not_allowed",
    );
  });
});

describe("decide: quotas", () => {
  it("spends the per-user quota on every request", async () => {
    const deps = decisionDeps();
    const token = await makeToken({ roles: ["limited"] });
    for (let i = 0; i < 3; i += 1)
      expectAllow(await run({ path: "/calculator/mcp", body: rpc("ping") }, token, deps));
    const denied = expectDeny(
      await run({ path: "/calculator/mcp", body: rpc("ping") }, token, deps),
      "rate_limited_user",
    );
    expect(denied.rateLimit).toMatchObject({ limit: 3, remaining: 0, kind: "user" });
    expect(denied.rateLimit!.retryAfterMs).toBeGreaterThan(0);
    // Another user is not affected.
    expectAllow(
      await run(
        { path: "/calculator/mcp", body: rpc("ping") },
        await makeToken({ sub: "bob", roles: ["limited"] }),
        deps,
      ),
    );
    // Neither is the same subject in another tenant.
    expectAllow(
      await run(
        { path: "/calculator/mcp", body: rpc("ping") },
        await makeToken({ tenant: "t2", roles: ["limited"] }),
        deps,
      ),
    );
  });

  it("spends per-tool quota across users and per-user-tool quota per user, on calls only", async () => {
    const deps = decisionDeps();
    const call = rpc("tools/call", { name: "generate_document" });
    expectAllow(await run({ path: "/docs/mcp", body: call }, await makeToken({ sub: "u1" }), deps));
    expectAllow(
      await run(
        { path: "/mcp/invoke", body: JSON.stringify({ tool_name: "docs.generate_document" }) },
        await makeToken({ sub: "u2" }),
        deps,
      ),
    );
    expectDeny(
      await run({ path: "/docs/mcp", body: call }, await makeToken({ sub: "u3" }), deps),
      "rate_limited_tool",
    );
    // tools/list and tasks/* never spend tool quota.
    expectAllow(
      await run(
        { path: "/docs/mcp", body: rpc("tools/list") },
        await makeToken({ sub: "u3" }),
        deps,
      ),
    );
    expectAllow(
      await run(
        { path: "/docs/mcp", body: rpc("tasks/result", { taskId: "x" }) },
        await makeToken({ sub: "u3" }),
        deps,
      ),
    );

    const stats = rpc("tools/call", { name: "statistics" });
    expectAllow(
      await run({ path: "/calculator/mcp", body: stats }, await makeToken({ sub: "u1" }), deps),
    );
    expectDeny(
      await run({ path: "/calculator/mcp", body: stats }, await makeToken({ sub: "u1" }), deps),
      "rate_limited_user_tool",
    );
    expectAllow(
      await run({ path: "/calculator/mcp", body: stats }, await makeToken({ sub: "u2" }), deps),
    );
  });
});

describe("decide: quota order and refunds", () => {
  const QUOTA_POLICY = `
version: 1
roles:
  developer:
    allow: ["calculator.*", "git.*", "docs.*"]
  small:
    allow: ["docs.*", "calculator.*"]
  tiny:
    allow: ["docs.*"]
deny: []
quotas:
  per_user:
    default: { points: 1000, duration: 1m }
    roles: { small: { points: 3, duration: 1m }, tiny: { points: 5, duration: 1m } }
  per_tool:
    default: { points: 1000, duration: 1m }
    tools:
      calculator.statistics: { points: 3, duration: 1m }
      docs.generate_document: { points: 1, duration: 1m }
  per_user_tool:
    default: { points: 1000, duration: 1m }
    tools: { calculator.statistics: { points: 1, duration: 1m } }
protected_resource:
  resource_base_url: https://gw.example
  authorization_servers: ["https://issuer.example"]
`;
  const quotaDeps = () => {
    const parsed = parseConfigText({ toolsYaml: TOOLS_YAML, policyYaml: QUOTA_POLICY, env: {} });
    if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
    return decisionDeps({ policy: compilePolicy(parsed.config.tools, parsed.config.policy) });
  };
  const call = (name: string) => rpc("tools/call", { name, arguments: {} });

  it("a user refused by their own per-tool limit never drains the tool's shared pool", async () => {
    const deps = quotaDeps();
    const u1 = await makeToken({ sub: "u1" });
    expectAllow(await run({ path: "/calculator/mcp", body: call("statistics") }, u1, deps));
    for (let i = 0; i < 5; i += 1) {
      expectDeny(
        await run({ path: "/calculator/mcp", body: call("statistics") }, u1, deps),
        "rate_limited_user_tool",
      );
    }
    // The pool of 3 still has two calls left for everyone else.
    for (const sub of ["u2", "u3"]) {
      expectAllow(
        await run(
          { path: "/calculator/mcp", body: call("statistics") },
          await makeToken({ sub }),
          deps,
        ),
      );
    }
    expectDeny(
      await run(
        { path: "/calculator/mcp", body: call("statistics") },
        await makeToken({ sub: "u4" }),
        deps,
      ),
      "rate_limited_tool",
    );
  });

  it("gives the per-user points back when the shared tool pool refuses", async () => {
    const deps = quotaDeps();
    const token = await makeToken({ sub: "s1", roles: ["small"] });
    expectAllow(await run({ path: "/docs/mcp", body: call("generate_document") }, token, deps));
    for (let i = 0; i < 4; i += 1) {
      expectDeny(
        await run({ path: "/docs/mcp", body: call("generate_document") }, token, deps),
        "rate_limited_tool",
      );
    }
    // One point spent of three: two more requests pass, the next is over the user's limit.
    for (let i = 0; i < 2; i += 1)
      expectAllow(await run({ path: "/docs/mcp", body: rpc("ping") }, token, deps));
    expectDeny(
      await run({ path: "/docs/mcp", body: rpc("ping") }, token, deps),
      "rate_limited_user",
    );
  });

  it("keeps one per-user counter whatever roles the user's token carries", async () => {
    const deps = quotaDeps();
    const small = await makeToken({ sub: "s2", roles: ["small"] });
    const tiny = await makeToken({ sub: "s2", roles: ["tiny"] });
    for (let i = 0; i < 3; i += 1)
      expectAllow(await run({ path: "/docs/mcp", body: rpc("ping") }, small, deps));
    expectDeny(
      await run({ path: "/docs/mcp", body: rpc("ping") }, small, deps),
      "rate_limited_user",
    );
    // Another role set (limit 5) continues the same count (now 4) instead of starting afresh.
    expectAllow(await run({ path: "/docs/mcp", body: rpc("ping") }, tiny, deps));
    expectDeny(
      await run({ path: "/docs/mcp", body: rpc("ping") }, tiny, deps),
      "rate_limited_user",
    );
    expectDeny(
      await run({ path: "/docs/mcp", body: rpc("ping") }, small, deps),
      "rate_limited_user",
    );
  });
});

describe("decide: audience (RFC 8707 resource indicators)", () => {
  it("accepts a token for the exact endpoint and refuses it on every other", async () => {
    const forCalculator = await makeToken({ aud: "https://gw.example/calculator/mcp" });
    const allowed = expectAllow(
      await run({ path: "/calculator/mcp", body: rpc("tools/list") }, forCalculator),
    );
    expect(allowed.scope).toBe("calculator");
    const deps = decisionDeps();
    expectAllow(await run({ path: "/calculator/mcp", body: rpc("ping") }, forCalculator, deps));
    // Same verifier (the token is now cached): the audience is still checked per endpoint.
    for (const path of ["/git/mcp", "/calculator/sse", "/mcp/invoke"]) {
      const denied = expectDeny(
        await run({ path, body: rpc("ping") }, forCalculator, deps),
        "token_wrong_audience",
      );
      expect(denied.challenge?.error).toBe("invalid_token");
    }
  });

  it("refuses a token for /git/mcp on /calculator/mcp", async () => {
    const forGit = await makeToken({ aud: ["https://gw.example/git/mcp"] });
    expectAllow(await run({ path: "/git/mcp", body: rpc("ping") }, forGit));
    expectDeny(
      await run({ path: "/calculator/mcp", body: rpc("ping") }, forGit),
      "token_wrong_audience",
    );
  });

  it("accepts JWT_AUDIENCE anywhere in an audience list, and the REST API's resource", async () => {
    const both = await makeToken({ aud: ["https://other.example", "mcp-gateway"] });
    expectAllow(await run({ path: "/git/mcp", body: rpc("ping") }, both));
    const rest = await makeToken({ aud: "https://gw.example/mcp" });
    expectAllow(
      await run(
        { path: "/mcp/invoke", body: JSON.stringify({ tool_name: "calculator.statistics" }) },
        rest,
      ),
    );
    expectAllow(await run({ method: "GET", path: "/mcp/jobs/job-1" }, rest));
    expectDeny(
      await run({ path: "/calculator/mcp", body: rpc("ping") }, rest),
      "token_wrong_audience",
    );
  });

  it.each([
    ["no audience", undefined, "token_wrong_audience"],
    ["a prefix of the resource", "https://gw.example/calculator", "token_wrong_audience"],
    [
      "the resource with a trailing slash",
      "https://gw.example/calculator/mcp/",
      "token_wrong_audience",
    ],
    ["a non-string audience", 42, "token_bad_claims"],
    ["an audience list with a non-string", ["mcp-gateway", 7], "token_bad_claims"],
  ])("refuses %s", async (_label, aud, reason) => {
    expectDeny(
      await run({ path: "/calculator/mcp", body: rpc("ping") }, await makeToken({ aud })),
      reason,
    );
  });
});

describe("compiled policy: global deny and several roles", () => {
  const compile = (policyYaml: string) => {
    const parsed = parseConfigText({ toolsYaml: TOOLS_YAML, policyYaml, env: {} });
    if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
    return compilePolicy(parsed.config.tools, parsed.config.policy);
  };
  const otherQuotas = `  per_tool: { default: { points: 1000, duration: 1m } }
  per_user_tool: { default: { points: 1000, duration: 1m } }`;
  const tail = `
protected_resource:
  resource_base_url: https://gw.example
  authorization_servers: ["https://issuer.example"]
`;

  it("a global deny beats every role's allow, for that tool only", () => {
    const policy = compile(`
version: 1
roles:
  developer: { allow: ["calculator.*", "git.*"] }
  admin: { allow: ["*"] }
deny: ["git.git_read_file", "calculator.statistics"]
quotas:
  per_user: { default: { points: 60, duration: 1m } }
${otherQuotas}${tail}`);
    for (const roles of [["developer"], ["admin"], ["developer", "admin"]]) {
      expect(policy.toolStatus(callerWithRoles(roles), "git", "git_read_file")).toBe(
        "tool_not_allowed",
      );
      expect(policy.toolStatus(callerWithRoles(roles), "calculator", "statistics")).toBe(
        "tool_not_allowed",
      );
      expect(policy.toolStatus(callerWithRoles(roles), "git", "git_log")).toBe("allowed");
      expect(policy.allowedTools(callerWithRoles(roles), "git")).toEqual([
        "git_log",
        "shared_tool",
      ]);
    }
    expect(policy.allowedQualifiedTools(callerWithRoles(["admin"]))).not.toContain(
      "git.git_read_file",
    );
  });

  it("several roles: the most generous per-user quota wins, whatever the order", () => {
    const policy = compile(`
version: 1
roles:
  slow: { allow: ["calculator.*"] }
  fast: { allow: ["calculator.*"] }
  plain: { allow: ["calculator.*"] }
deny: []
quotas:
  per_user:
    default: { points: 60, duration: 1m }
    roles:
      slow: { points: 10, duration: 1m }
      fast: { points: 100, duration: 10s }
${otherQuotas}${tail}`);
    const perSecond = (roles: string[]) => {
      const rule = policy.userQuota(roles);
      return rule.points / (rule.durationMs / 1000);
    };
    expect(perSecond(["slow"])).toBeCloseTo(10 / 60);
    expect(perSecond(["slow", "fast"])).toBe(10);
    expect(perSecond(["fast", "slow"])).toBe(10);
    // A role without its own quota counts with the default, and an unknown role not at all.
    expect(perSecond(["slow", "plain"])).toBe(1);
    expect(perSecond(["unknown", "slow"])).toBeCloseTo(10 / 60);
    expect(perSecond(["slow", "fast", "plain"])).toBe(10);
  });
});
