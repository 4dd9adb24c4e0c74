import { beforeEach, describe, expect, it } from "vitest";
import { parseConfigText } from "../../config/src/load-config.ts";
import { decide, type Decision } from "../src/policy/decide.ts";
import { callerWithRoles, compilePolicy } from "../src/policy/rbac.ts";
import { decisionDeps, makeToken } from "./fixture-config.ts";

/**
 * `tools: discover`: a scope's tools are what its server lists. ext-authz cannot enumerate them,
 * so it decides each call by name, names an allowed call in the verdict, and gives the router the
 * tool patterns (`tool:<name>`, `tool:*`) a caller may see for filtering `tools/list`.
 */

const TOOLS = `
version: 1
scopes:
  calculator:
    backend_url: http://127.0.0.1:1
    tools:
      - { name: exact_calculate }
  tickets:
    mcp_server: { transport: streamable-http, url: "http://127.0.0.1:2/mcp" }
    tools: discover
  wiki:
    backend_url: http://127.0.0.1:3
    tools: discover
`;

const POLICY = `
version: 1
roles:
  developer:
    allow: ["calculator.*", "tickets.*", "wiki.*"]
    deny: ["tickets.delete_ticket"]
  searcher:
    allow:
      - tickets.search
      - { tools: "tickets.create_ticket", when: "arguments.priority != 'p0'" }
  prompter:
    allow: ["tickets.prompt:*"]
  calculating:
    allow: ["calculator.*"]
deny: [{ tools: "wiki.*", when: "claims.tenant == 'blocked'" }]
quotas:
  per_user: { default: { points: 1000, duration: 1m } }
  per_tool: { default: { points: 1000, duration: 1m } }
  per_user_tool:
    default: { points: 1000, duration: 1m }
    tools: { tickets.search: { points: 1, duration: 1m } }
protected_resource:
  resource_base_url: https://gw.example
  authorization_servers: ["https://issuer.example"]
`;

/** A caller of tenant acme (the wiki deny's condition reads the tenant). */
function callerOf(roles: string[], tenant = "acme") {
  const caller = callerWithRoles(roles);
  return { ...caller, claims: { ...caller.claims, tenant } };
}

function compiled() {
  const result = parseConfigText({ toolsYaml: TOOLS, policyYaml: POLICY, env: {} });
  if (!result.ok) throw new Error(result.errors.join("\n"));
  return compilePolicy(result.config.tools, result.config.policy);
}

describe("policy of a discovering scope", () => {
  it("decides any valid tool name by the rules, and nothing else", () => {
    const policy = compiled();
    const developer = callerWithRoles(["developer"]);
    expect(policy.decideTool(developer, "tickets", "anything_new", {}).status).toBe("allowed");
    expect(policy.decideTool(developer, "tickets", "delete_ticket", {})).toMatchObject({
      status: "tool_not_allowed",
      rule: { path: "roles.developer.deny[0]" },
    });
    expect(policy.decideTool(developer, "tickets", "not a tool name", {}).status).toBe(
      "tool_unknown",
    );
    expect(policy.decideTool(developer, "tickets", "prompt:x", {}).status).toBe("tool_unknown");
    // A scope that lists its tools still knows only those.
    expect(policy.decideTool(developer, "calculator", "anything_new", {}).status).toBe(
      "tool_unknown",
    );
    const searcher = callerWithRoles(["searcher"]);
    expect(policy.decideTool(searcher, "tickets", "search", {}).status).toBe("allowed");
    expect(policy.decideTool(searcher, "tickets", "create_ticket", { priority: "p0" }).status).toBe(
      "tool_not_allowed",
    );
    expect(policy.decideTool(searcher, "tickets", "other", {}).status).toBe("tool_not_allowed");
  });

  it("lists no tool of its own: the caller's tool patterns go to the router instead", () => {
    const policy = compiled();
    const developer = callerOf(["developer"]);
    expect(policy.allowedTools(developer, "tickets")).toEqual([]);
    expect(policy.itemRules(developer, "tickets")).toEqual({
      allow: ["prompt:*", "resource:*", "tool:*"],
      deny: ["tool:delete_ticket"],
    });
    // A conditional allow may hold for some call, so its tool is listed; each call is decided.
    expect(policy.itemRules(callerWithRoles(["searcher"]), "tickets")).toEqual({
      allow: ["tool:create_ticket", "tool:search"],
      deny: [],
    });
    // A gateway tool server that discovers has tools only, no prompts or resources.
    expect(policy.itemRules(developer, "wiki")).toEqual({ allow: ["tool:*"], deny: [] });
    const blocked = callerOf(["developer"], "blocked");
    expect(policy.itemRules(blocked, "wiki")).toEqual({ allow: ["tool:*"], deny: ["tool:*"] });
    expect(policy.itemRules(developer, "calculator")).toBeUndefined();
  });

  it("gives the REST API qualified patterns across the discovering scopes", () => {
    const policy = compiled();
    expect(policy.qualifiedToolRules(callerOf(["developer"]))).toEqual({
      allow: ["tool:tickets.*", "tool:wiki.*"],
      deny: ["tool:tickets.delete_ticket"],
    });
    expect(policy.qualifiedToolRules(callerOf(["calculating"]))).toEqual({
      allow: [],
      deny: [],
    });
  });

  it("resolves a discovering scope's tool only by its qualified name", () => {
    const policy = compiled();
    expect(policy.resolveToolName("tickets.search")).toEqual({
      kind: "found",
      scope: "tickets",
      tool: "search",
    });
    expect(policy.resolveToolName("search").kind).toBe("unknown");
    expect(policy.resolveToolName("exact_calculate")).toMatchObject({ scope: "calculator" });
  });
});

describe("decide() on a discovering scope", () => {
  // Compiled in each test, not when the file is collected: a mutation of the compiler is live then.
  let deps: ReturnType<typeof decisionDeps>;
  beforeEach(() => {
    deps = decisionDeps({ policy: compiled() });
  });

  async function check(
    roles: string[],
    path: string,
    message: Record<string, unknown> | undefined,
    method = "POST",
  ): Promise<Decision> {
    const body = message === undefined ? "" : JSON.stringify({ jsonrpc: "2.0", id: 1, ...message });
    return decide(
      {
        method,
        path,
        headers: {
          authorization: `Bearer ${await makeToken({ roles })}`,
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          "mcp-protocol-version": "2025-11-25",
          "mcp-session-id": "s",
        },
        body: new TextEncoder().encode(body),
        contextScope: undefined,
      },
      deps,
    );
  }

  const call = (name: string, args: Record<string, unknown> = {}) => ({
    method: "tools/call",
    params: { name, arguments: args },
  });

  it("names an allowed call's tool in the verdict and charges its quotas", async () => {
    const allowed = await check(["searcher"], "/tickets/mcp", call("search"));
    expect(allowed).toMatchObject({
      outcome: "allow",
      scope: "tickets",
      tools: ["search"],
      items: { allow: ["tool:create_ticket", "tool:search"], deny: [] },
      context: { tool: "search" },
    });
    // tickets.search's per-user quota is one call a minute: the quota key is the tool's name.
    expect(await check(["searcher"], "/tickets/mcp", call("search"))).toMatchObject({
      outcome: "deny",
      reason: "rate_limited_user_tool",
    });
  });

  it("refuses a call the rules refuse, with the deciding rule", async () => {
    expect(await check(["developer"], "/tickets/mcp", call("delete_ticket"))).toMatchObject({
      outcome: "deny",
      reason: "tool_not_allowed",
      context: { tool: "delete_ticket", rule: "roles.developer.deny[0]" },
    });
    expect(
      await check(["searcher"], "/tickets/mcp", call("create_ticket", { priority: "p0" })),
    ).toMatchObject({ outcome: "deny", reason: "tool_not_allowed" });
  });

  it("lets tools/list through to a caller with tool patterns only", async () => {
    const listed = await check(["searcher"], "/tickets/mcp", { method: "tools/list" });
    expect(listed).toMatchObject({ outcome: "allow", tools: [] });
    const none = await check(["calculating"], "/tickets/mcp", { method: "tools/list" });
    expect(none).toMatchObject({ outcome: "deny", reason: "insufficient_scope" });
  });

  it("invokes by qualified name over REST", async () => {
    const body = { tool_name: "tickets.search", arguments: {} };
    const decision = await decide(
      {
        method: "POST",
        path: "/mcp/invoke",
        headers: {
          authorization: `Bearer ${await makeToken({ roles: ["searcher"] })}`,
          "content-type": "application/json",
        },
        body: new TextEncoder().encode(JSON.stringify(body)),
        contextScope: undefined,
      },
      deps,
    );
    expect(decision).toMatchObject({ outcome: "allow", scope: "tickets", tools: ["search"] });
  });

  it("lets REST job requests through with the qualified patterns", async () => {
    const jobs = await check(["searcher"], "/mcp/jobs/abcdefghijklmnopqrstuvwx", undefined, "GET");
    expect(jobs).toMatchObject({
      outcome: "allow",
      items: { allow: ["tool:tickets.create_ticket", "tool:tickets.search"], deny: [] },
    });
    const prompts = await check(
      ["prompter"],
      "/mcp/jobs/abcdefghijklmnopqrstuvwx",
      undefined,
      "GET",
    );
    expect(prompts).toMatchObject({ outcome: "deny", reason: "insufficient_scope" });
  });
});
