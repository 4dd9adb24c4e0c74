/** Conditional rules end to end through the Check handler: tools/call arguments, claims, headers. */
import { beforeEach, describe, expect, it } from "vitest";
import { parseConfigText } from "../../config/src/load-config.ts";
import type { CheckResponse } from "../../contract/src/authz-wire.ts";
import { createCheckHandler } from "../src/envoy/grpc-server.ts";
import { callerWithRoles, compilePolicy, type CompiledPolicy } from "../src/policy/rbac.ts";
import { createMetrics } from "../src/runtime/metrics.ts";
import {
  checkRequest,
  decisionDeps,
  makeToken,
  recordingAudit,
  silentLogger,
  TOOLS_YAML,
  VERDICT_KEY,
} from "./fixture-config.ts";

const POLICY = `
version: 1
roles:
  auditor:
    allow: ["git.git_log", "git.git_read_file", "calculator.exact_calculate"]
    deny:
      - tools: git.git_read_file
        when: '!(has(arguments.path) && arguments.path.startsWith("docs/"))'
  finance:
    allow:
      - tools: calculator.*
        when: 'claims.department == "finance"'
      - tools: calculator.statistics
        when: 'arguments.values.size() <= 3'
  curl_user:
    allow:
      - tools: git.git_log
        when: 'request.headers["user-agent"].startsWith("curl/")'
  broken:
    allow:
      - tools: git.git_log
        when: "arguments.limit > 1.0"
  observed:
    allow: ["calculator.*"]
deny:
  - tools: calculator.exact_calculate
    when: 'has(arguments.expression) && arguments.expression.contains("9999")'
  - tools: calculator.*
    when: 'claims.sub == "mallory"'
    mode: dry_run
quotas:
  per_user: { default: { points: 1000, duration: 1m } }
  per_tool: { default: { points: 1000, duration: 1m } }
  per_user_tool: { default: { points: 1000, duration: 1m } }
protected_resource:
  resource_base_url: https://gw.example
  authorization_servers: ["https://issuer.example"]
`;

function compiled(): CompiledPolicy {
  const result = parseConfigText({ toolsYaml: TOOLS_YAML, policyYaml: POLICY, env: {} });
  if (!result.ok) throw new Error(result.errors.join("\n"));
  return compilePolicy(result.config.tools, result.config.policy);
}

function harness() {
  const audit = recordingAudit();
  const metrics = createMetrics({ defaultMetrics: false });
  const check = createCheckHandler({
    decision: decisionDeps({ policy: compiled() }),
    verdictKey: VERDICT_KEY,
    logger: silentLogger,
    audit,
    metrics,
  });
  return { audit, metrics, check };
}

const call = (name: string, args?: unknown, id = 1) => ({
  jsonrpc: "2.0",
  id,
  method: "tools/call",
  params: args === undefined ? { name } : { name, arguments: args },
});

async function send(
  h: ReturnType<typeof harness>,
  scope: string,
  claims: Record<string, unknown>,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<number> {
  const token = await makeToken(claims);
  const response = await h.check(
    checkRequest({
      path: `/${scope}/mcp`,
      scope,
      body: JSON.stringify(body),
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-protocol-version": "2025-06-18",
        ...headers,
      },
    }),
  );
  return httpStatus(response);
}

/** 200 for an allow, else the denied response's HTTP status. */
function httpStatus(response: CheckResponse): number {
  if (response.denied_response == null) return response.status?.code === 0 ? 200 : -1;
  return Number(response.denied_response.status?.code ?? -1);
}

describe("conditional rules decide on the call's arguments", () => {
  it.each([
    [{ path: "docs/guide.md" }, 200],
    [{ path: "src/secret.ts" }, 403],
    [{}, 403],
    [undefined, 403],
    [{ path: 7 }, 403], // the condition fails to evaluate: the deny holds
  ])("auditor reads %j → %s", async (args, status) => {
    const h = harness();
    const roles = { roles: ["auditor"] };
    expect(await send(h, "git", roles, call("git_read_file", args))).toBe(status);
  });

  it("records the deciding rule on the refusal's audit event", async () => {
    const h = harness();
    await send(h, "git", { roles: ["auditor"] }, call("git_read_file", { path: "x" }));
    expect(h.audit.events).toEqual([
      expect.objectContaining({
        outcome: "denied",
        reason: "tool_not_allowed",
        tool: "git_read_file",
        policy_rule: "roles.auditor.deny[0]",
      }),
    ]);
  });

  it("applies a global conditional deny to every role", async () => {
    const h = harness();
    const roles = { roles: ["observed"] };
    const ok = call("exact_calculate", { expression: "1+1" });
    const refused = call("exact_calculate", { expression: "9999*2" });
    expect(await send(h, "calculator", roles, ok)).toBe(200);
    expect(await send(h, "calculator", roles, refused)).toBe(403);
    expect(h.audit.events.at(-1)?.policy_rule).toBe("deny[0]");
  });

  it("refuses a whole batch when one call's arguments are refused", async () => {
    const h = harness();
    const batch = [
      call("git_read_file", { path: "docs/a.md" }, 1),
      call("git_read_file", { path: "etc/passwd" }, 2),
    ];
    // Batches are refused on the 2025-06-18 wire anyway; the 2025-03-26 wire allows them.
    const token = await makeToken({ roles: ["auditor"] });
    const response = await h.check(
      checkRequest({
        path: "/git/mcp",
        scope: "git",
        body: JSON.stringify(batch),
        headers: {
          authorization: `Bearer ${token}`,
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          "mcp-protocol-version": "2025-03-26",
        },
      }),
    );
    expect(httpStatus(response)).toBe(403);
  });

  it("sees the REST invoke body's arguments", async () => {
    const h = harness();
    const token = await makeToken({ roles: ["auditor"] });
    const invoke = async (args: unknown) =>
      h.check(
        checkRequest({
          path: "/mcp/invoke",
          body: JSON.stringify({ tool_name: "git.git_read_file", arguments: args }),
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        }),
      );
    expect(httpStatus(await invoke({ path: "docs/x.md" }))).toBe(200);
    expect(httpStatus(await invoke({ path: "x.md" }))).toBe(403);
  });
});

describe("conditions on claims and request headers", () => {
  it("grants a conditional allow only to tokens whose claims satisfy it", async () => {
    const h = harness();
    const finance = { roles: ["finance"], department: "finance" };
    const sales = { roles: ["finance"], department: "sales" };
    const compute = call("exact_calculate", { expression: "1+1" });
    expect(await send(h, "calculator", finance, compute)).toBe(200);
    expect(await send(h, "calculator", sales, compute)).toBe(403);
  });

  it("sees only the headers policy.yaml exposes", async () => {
    const h = harness();
    const roles = { roles: ["curl_user"] };
    const log = call("git_log", {});
    expect(await send(h, "git", roles, log, { "user-agent": "curl/8.5" })).toBe(200);
    expect(await send(h, "git", roles, log, { "user-agent": "python/3" })).toBe(403);
    expect(await send(h, "git", roles, log, {})).toBe(403);
  });

  it("never grants through an allow whose condition fails to evaluate", async () => {
    const h = harness();
    const roles = { roles: ["broken"] };
    expect(await send(h, "git", roles, call("git_log", { limit: 5 }))).toBe(200);
    expect(await send(h, "git", roles, call("git_log", { limit: "5" }))).toBe(403);
    expect(await send(h, "git", roles, call("git_log", {}))).toBe(403);
  });
});

describe("listing with conditions", () => {
  // Compiled in each test, not when the file is collected: a mutation of the compiler is live then.
  let policy: ReturnType<typeof compiled>;
  beforeEach(() => {
    policy = compiled();
  });

  it("lists a tool whose call may be allowed, hides one no call can reach", () => {
    // git_read_file: allowed, and denied only under an arguments condition → listed.
    expect(policy.allowedTools(callerWithRoles(["auditor"]), "git")).toEqual([
      "git_log",
      "git_read_file",
    ]);
    // An arguments-conditional allow is listed; a claims-conditional one follows the claims.
    const finance = {
      ...callerWithRoles(["finance"]),
      claims: { department: "finance", roles: ["finance"] },
    };
    expect(policy.allowedTools(finance, "calculator")).toEqual([
      "exact_calculate",
      "shared_tool",
      "statistics",
    ]);
    expect(policy.allowedTools(callerWithRoles(["finance"]), "calculator")).toEqual(["statistics"]);
  });

  it("explains which rule decided", () => {
    const auditor = callerWithRoles(["auditor"]);
    const denied = policy.decideTool(auditor, "git", "git_read_file", { path: "a" });
    expect(denied).toMatchObject({
      status: "tool_not_allowed",
      rule: { path: "roles.auditor.deny[0]", effect: "deny", tools: "git.git_read_file" },
      conditionError: undefined,
    });
    const granted = policy.decideTool(auditor, "git", "git_read_file", { path: "docs/a" });
    expect(granted).toMatchObject({ status: "allowed", rule: { path: "roles.auditor.allow[1]" } });
    const failing = policy.decideTool(callerWithRoles(["broken"]), "git", "git_log", {});
    expect(failing).toMatchObject({
      status: "tool_not_allowed",
      rule: { path: "roles.broken.allow[0]" },
      conditionError: expect.stringContaining("limit") as unknown,
    });
    const notObject = policy.decideTool(auditor, "git", "git_read_file", ["docs/a"]);
    expect(notObject).toMatchObject({
      status: "tool_not_allowed",
      conditionError: "arguments is not an object",
    });
  });
});

describe("dry-run rules", () => {
  it("allow the call, and count and audit what they would refuse", async () => {
    const h = harness();
    const claims = { sub: "mallory", roles: ["observed"] };
    const compute = call("exact_calculate", { expression: "1+1" });
    expect(await send(h, "calculator", claims, compute)).toBe(200);
    expect(h.audit.events).toEqual([
      expect.objectContaining({
        outcome: "would_deny",
        reason: "dry_run",
        subject: "mallory",
        scope: "calculator",
        tool: "exact_calculate",
        policy_rule: "deny[1]",
      }),
    ]);
    const text = await h.metrics.registry.getSingleMetricAsString("ext_authz_policy_dry_run_total");
    expect(text).toContain('ext_authz_policy_dry_run_total{rule="deny[1]"} 1');
  });

  it("stay silent when their condition does not hold", async () => {
    const h = harness();
    const compute = call("exact_calculate", { expression: "1+1" });
    expect(await send(h, "calculator", { sub: "alice", roles: ["observed"] }, compute)).toBe(200);
    expect(h.audit.events).toEqual([]);
  });
});
