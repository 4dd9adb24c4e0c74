import { beforeEach, describe, expect, it } from "vitest";
import { parseConfigText } from "../../config/src/load-config.ts";
import { requestItem } from "../../contract/src/mcp-items.ts";
import { decide, type Decision } from "../src/policy/decide.ts";
import { callerWithRoles, compilePolicy } from "../src/policy/rbac.ts";
import { decisionDeps, makeToken } from "./fixture-config.ts";

/**
 * Prompts and resources of a scope served by a standard MCP server: decided like tools, named
 * `prompt:<name>` / `resource:<uri>` (policy patterns `<scope>.prompt:<glob>`,
 * `<scope>.resource:<glob>`), and the patterns a caller may see carried in the verdict.
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
    tools:
      - { name: search }
`;

const POLICY = `
version: 1
roles:
  developer:
    allow: ["calculator.*", "tickets.*"]
    deny: ["tickets.resource:secret://*"]
  reader:
    allow:
      - tickets.prompt:triage-*
      - { tools: "tickets.resource:file:///public/*", when: "claims.tenant == 'acme'" }
  templated:
    allow:
      - { tools: "tickets.prompt:*", when: "arguments.lang == 'en'" }
  calculating:
    allow: ["calculator.*"]
deny: ["tickets.prompt:internal"]
quotas:
  per_user: { default: { points: 1000, duration: 1m } }
  per_tool: { default: { points: 1000, duration: 1m } }
  per_user_tool: { default: { points: 1000, duration: 1m } }
protected_resource:
  resource_base_url: https://gw.example
  authorization_servers: ["https://issuer.example"]
`;

function compiled() {
  const result = parseConfigText({ toolsYaml: TOOLS, policyYaml: POLICY, env: {} });
  if (!result.ok) throw new Error(result.errors.join("\n"));
  return compilePolicy(result.config.tools, result.config.policy);
}

describe("requestItem", () => {
  it.each([
    ["prompts/get", { name: "triage" }, "prompt:triage"],
    ["resources/read", { uri: "file:///a" }, "resource:file:///a"],
    ["resources/subscribe", { uri: "file:///a" }, "resource:file:///a"],
    ["resources/unsubscribe", { uri: "file:///a" }, "resource:file:///a"],
    ["completion/complete", { ref: { type: "ref/prompt", name: "p" } }, "prompt:p"],
    [
      "completion/complete",
      { ref: { type: "ref/resource", uri: "x://{id}" } },
      "resource:x://{id}",
    ],
    ["prompts/get", {}, null],
    ["prompts/get", { name: "" }, null],
    ["resources/read", { uri: 7 }, null],
    ["resources/read", { uri: "a".repeat(2049) }, null],
    ["completion/complete", { ref: { type: "ref/other", name: "p" } }, null],
    ["completion/complete", { ref: ["ref/prompt"] }, null],
    ["prompts/list", {}, undefined],
    ["tools/call", { name: "x" }, undefined],
  ] as const)("%s %j → %j", (method, params, expected) => {
    expect(requestItem(method, params)).toBe(expected);
  });
});

describe("item decisions", () => {
  // Compiled in each test, not when the file is collected: a mutation of the compiler is live then.
  let policy: ReturnType<typeof compiled>;
  beforeEach(() => {
    policy = compiled();
  });
  const caller = (roles: string[], tenant = "acme") => ({
    ...callerWithRoles(roles),
    claims: { roles, tenant, subject: "u" },
  });

  it("decides prompts and resources by their patterns, deny first", () => {
    const developer = caller(["developer"]);
    expect(policy.decideItem(developer, "tickets", "prompt:anything").status).toBe("allowed");
    expect(policy.decideItem(developer, "tickets", "resource:file:///x").status).toBe("allowed");
    const secret = policy.decideItem(developer, "tickets", "resource:secret://db");
    expect(secret.status).toBe("tool_not_allowed");
    expect(secret.rule?.path).toBe("roles.developer.deny[0]");
    expect(policy.decideItem(developer, "tickets", "prompt:internal").rule?.path).toBe("deny[0]");
    // A tool rule never grants an item; an item rule never grants a tool.
    expect(policy.decideItem(caller(["calculating"]), "tickets", "prompt:x").status).toBe(
      "tool_not_allowed",
    );
    expect(policy.decideTool(caller(["reader"]), "tickets", "search").status).toBe(
      "tool_not_allowed",
    );
  });

  it("applies conditions: claims, and a prompt's arguments", () => {
    expect(
      policy.decideItem(caller(["reader"]), "tickets", "resource:file:///public/a").status,
    ).toBe("allowed");
    expect(
      policy.decideItem(caller(["reader"], "other"), "tickets", "resource:file:///public/a").status,
    ).toBe("tool_not_allowed");
    expect(policy.decideItem(caller(["reader"]), "tickets", "prompt:triage-bug").status).toBe(
      "allowed",
    );
    expect(policy.decideItem(caller(["reader"]), "tickets", "prompt:summary").status).toBe(
      "tool_not_allowed",
    );
    const templated = caller(["templated"]);
    expect(policy.decideItem(templated, "tickets", "prompt:p", { lang: "en" }).status).toBe(
      "allowed",
    );
    expect(policy.decideItem(templated, "tickets", "prompt:p", { lang: "fr" }).status).toBe(
      "tool_not_allowed",
    );
  });

  it("has no items on scopes served by gateway tool servers", () => {
    expect(policy.decideItem(caller(["developer"]), "calculator", "prompt:p").status).toBe(
      "tool_unknown",
    );
    expect(policy.itemRules(caller(["developer"]), "calculator")).toBeUndefined();
  });

  it("gives the router the patterns a caller may see", () => {
    expect(policy.itemRules(caller(["developer"]), "tickets")).toEqual({
      allow: ["prompt:*", "resource:*"],
      deny: ["prompt:internal", "resource:secret://*"],
    });
    expect(policy.itemRules(caller(["reader"]), "tickets")).toEqual({
      allow: ["prompt:triage-*", "resource:file:///public/*"],
      deny: ["prompt:internal"],
    });
    // The claims condition is decided for this caller.
    expect(policy.itemRules(caller(["reader"], "other"), "tickets")).toEqual({
      allow: ["prompt:triage-*"],
      deny: ["prompt:internal"],
    });
    // An argument condition may hold: the prompts are listed, each get is decided.
    expect(policy.itemRules(caller(["templated"]), "tickets")?.allow).toEqual(["prompt:*"]);
    expect(policy.itemRules(caller(["calculating"]), "tickets")).toEqual({
      allow: [],
      deny: ["prompt:internal"],
    });
  });
});

describe("decide() for prompts and resources", () => {
  // Compiled in each test, not when the file is collected: a mutation of the compiler is live then.
  let deps: ReturnType<typeof decisionDeps>;
  beforeEach(() => {
    deps = decisionDeps({ policy: compiled() });
  });

  async function check(roles: string[], message: Record<string, unknown>): Promise<Decision> {
    const body = JSON.stringify({ jsonrpc: "2.0", id: 1, ...message });
    return decide(
      {
        method: "POST",
        path: "/tickets/mcp",
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

  it("allows an item the role names and puts the visible patterns in the verdict", async () => {
    const decision = await check(["reader"], {
      method: "prompts/get",
      params: { name: "triage-bug" },
    });
    expect(decision).toMatchObject({
      outcome: "allow",
      scope: "tickets",
      tools: [],
      items: { allow: ["prompt:triage-*"], deny: ["prompt:internal"] },
      context: { tool: "prompt:triage-bug", method: "prompts/get" },
    });
  });

  it("refuses an item no rule allows, naming it and the deciding rule", async () => {
    const decision = await check(["developer"], {
      method: "resources/read",
      params: { uri: "secret://db" },
    });
    expect(decision).toMatchObject({
      outcome: "deny",
      reason: "tool_not_allowed",
      context: { tool: "resource:secret://db", rule: "roles.developer.deny[0]" },
    });
  });

  it("lets a caller with items but no tools list the scope, and refuses one with neither", async () => {
    expect((await check(["reader"], { method: "prompts/list" })).outcome).toBe("allow");
    const none = await check(["calculating"], { method: "prompts/list" });
    expect(none).toMatchObject({ outcome: "deny", reason: "insufficient_scope" });
  });

  it("refuses a prompts/get without a prompt name as an invalid request", async () => {
    const decision = await check(["developer"], { method: "prompts/get", params: {} });
    expect(decision).toMatchObject({ outcome: "deny" });
    expect(JSON.stringify(decision)).toMatch(/prompts\/get needs a valid params\.name/);
  });
});
