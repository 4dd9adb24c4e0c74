import { mkdtemp, readFile, writeFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, loadConfigOrThrow, parseConfigText } from "../src/load-config.ts";
import { toolEntry } from "../src/tools-schema.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.join(here, "fixtures");
const shippedDir = path.join(here, "..");
const fixture = (name: string): Promise<string> => readFile(path.join(fixtures, name), "utf8");

async function errorsFor(name: string, env: Record<string, string> = {}): Promise<string[]> {
  const isTools = name.startsWith("tools-");
  const toolsYaml = await fixture(isTools ? name : "tools-minimal.yaml");
  const policyYaml = await fixture(isTools ? "policy-minimal.yaml" : name);
  const result = parseConfigText({ toolsYaml, policyYaml, env });
  if (result.ok) throw new Error(`${name} unexpectedly loaded`);
  return result.errors;
}

describe("shipped configuration", () => {
  it("loads config/tools.yaml and config/policy.yaml", async () => {
    const result = await loadConfig({ dir: shippedDir, env: {} });
    if (!result.ok) throw new Error(result.errors.join("\n"));
    const { tools, policy } = result.config;
    expect(Object.keys(tools.scopes).sort()).toEqual(["calculator", "docs", "git"]);
    expect(tools.scopes.calculator?.backend_url).toBe("http://127.0.0.1:8091");
    expect(tools.scopes.git?.tools.map((t) => t.name)).toContain("git_read_file");
    expect(tools.scopes.docs?.tools[0]).toEqual({
      name: "generate_document",
      enabled: true,
      task_support: "optional",
      timeout_ms: 120000,
    });
    expect(Object.keys(policy.roles)).toEqual(["developer", "analyst", "auditor", "operator"]);
    expect(policy.operator_roles).toEqual(["operator"]);
    expect(policy.quotas.per_user.roles.developer).toEqual({
      points: 1200,
      duration: "1m",
      duration_ms: 60_000,
    });
    expect(policy.protected_resource.authorization_servers).toEqual(["http://localhost:8010"]);
  });

  it("interpolates ${VAR:-default} from the given env", async () => {
    const result = await loadConfig({
      dir: shippedDir,
      env: { CALCULATOR_URL: "http://calculator:8091", JWT_ISSUER: "https://issuer.example" },
    });
    if (!result.ok) throw new Error(result.errors.join("\n"));
    expect(result.config.tools.scopes.calculator?.backend_url).toBe("http://calculator:8091");
    expect(result.config.policy.protected_resource.authorization_servers).toEqual([
      "https://issuer.example",
    ]);
  });

  it("uses CONFIG_DIR when no dir is given", async () => {
    const result = await loadConfig({ env: { CONFIG_DIR: shippedDir } });
    expect(result.ok).toBe(true);
  });

  it("returns a deep-frozen result", async () => {
    const config = await loadConfigOrThrow({ dir: shippedDir, env: {} });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.tools.scopes.calculator?.tools[0])).toBe(true);
    expect(Object.isFrozen(config.policy.roles.developer?.allow)).toBe(true);
    expect(() => {
      (config.tools.scopes.calculator as { timeout_ms: number }).timeout_ms = 1;
    }).toThrow(TypeError);
    expect(() => {
      (config.policy.roles.developer?.allow as string[]).push("*");
    }).toThrow(TypeError);
  });
});

describe("defaults", () => {
  it("takes input_before_task for tools of MCP servers only, and a bounded input window", async () => {
    const toolsYaml = `${await fixture("tools-minimal.yaml")}
  tickets:
    mcp_server: { transport: stdio, command: tickets-mcp }
    tools:
      - { name: triage, task_support: required, input_before_task: true }
`;
    const policyYaml = await fixture("policy-minimal.yaml");
    const result = parseConfigText({ toolsYaml, policyYaml, env: {} });
    expect(result.ok ? [] : result.errors).toEqual([]);
    if (result.ok) {
      expect(toolEntry(result.config.tools.scopes.tickets, "triage")?.input_before_task).toBe(true);
    }

    const onToolServer = parseConfigText({
      toolsYaml: toolsYaml.replace(
        "- { name: exact_calculate }",
        "- { name: exact_calculate, input_before_task: true }",
      ),
      policyYaml,
      env: {},
    });
    expect(onToolServer.ok ? [] : onToolServer.errors).toEqual([
      expect.stringMatching(
        /^tools\.yaml: scopes\.calculator\.tools\[0\]\.input_before_task: input_before_task applies to tools of an mcp_server scope only \(line 6\)$/,
      ),
    ]);
    const tooLong = parseConfigText({
      toolsYaml: toolsYaml.replace("version: 1", "version: 1\ntasks: { input_window_ms: 600000 }"),
      policyYaml,
      env: {},
    });
    expect(tooLong.ok ? [] : tooLong.errors).toEqual([
      expect.stringMatching(/^tools\.yaml: tasks\.input_window_ms: /),
    ]);
  });

  it("fills optional fields", async () => {
    const result = parseConfigText({
      toolsYaml: await fixture("tools-minimal.yaml"),
      policyYaml: await fixture("policy-minimal.yaml"),
      env: {},
    });
    if (!result.ok) throw new Error(result.errors.join("\n"));
    const { tools, policy } = result.config;
    expect(tools.definition_changes).toBe("pin");
    expect(tools.audit.arguments).toBe("digest");
    expect(tools.tasks.default_ttl_ms).toBe(3_600_000);
    expect(tools.tasks.input_window_ms).toBe(1000);
    expect(tools.scopes.calculator?.timeout_ms).toBe(30_000);
    expect(tools.scopes.calculator?.tools[0]?.enabled).toBe(true);
    expect(tools.scopes.calculator?.tools[1]?.enabled).toBe(false);
    expect(policy.deny).toEqual([]);
    expect(policy.roles.developer?.deny).toEqual([]);
    expect(policy.quotas.per_user_tool.default.duration_ms).toBe(500);
  });
});

describe("bad configuration: one fixture per failure mode", () => {
  const cases: { fixture: string; expected: string[] }[] = [
    {
      fixture: "tools-unknown-key.yaml",
      expected: ["tools.yaml: scopes.calculator.timeout: unknown key (line 5)"],
    },
    {
      fixture: "tools-wrong-type.yaml",
      expected: [
        "tools.yaml: scopes.calculator.timeout_ms: Invalid input: expected number, received string (line 5)",
      ],
    },
    {
      fixture: "tools-duplicate-tool.yaml",
      expected: [
        'tools.yaml: scopes.calculator.tools[2].name: duplicate tool "exact_calculate" (first listed at tools[0]) (line 8)',
      ],
    },
    {
      fixture: "tools-duplicate-yaml-key.yaml",
      expected: ['tools.yaml: line 7, column 3: duplicate key "calculator"'],
    },
    {
      fixture: "tools-bad-tool-name.yaml",
      expected: [
        "tools.yaml: scopes.calculator.tools[0].name: invalid tool name: expected 1-128 characters of A-Z a-z 0-9 _ - . (line 6)",
      ],
    },
    {
      fixture: "tools-unset-variable.yaml",
      expected: [
        "tools.yaml: scopes.calculator.backend_url: environment variable CALCULATOR_BACKEND is not set and has no default (line 4)",
      ],
    },
    {
      fixture: "tools-reserved-scope.yaml",
      expected: [
        "tools.yaml: scopes.metrics: invalid key: reserved scope name (reserved: mcp, sse, messages, health, ready, metrics, admin) (line 4)",
      ],
    },
    {
      fixture: "tools-mcp-server-invalid.yaml",
      expected: [
        "tools.yaml: scopes.both.mcp_server: a scope needs exactly one backend: backend_url or mcp_server (line 9)",
        "tools.yaml: scopes.neither.backend_url: a scope needs exactly one backend: backend_url or mcp_server (line 13)",
        "tools.yaml: scopes.headers.mcp_server.headers.Mcp-Session-Id: invalid key: header set by the gateway itself (host, content-type, content-length, accept, connection, transfer-encoding, mcp-session-id, mcp-protocol-version, last-event-id, x-gateway-auth, x-user-id) (line 20)",
        "tools.yaml: scopes.headers.mcp_server.headers.X-Key.from_env: invalid environment variable name (line 21)",
        "tools.yaml: scopes.stdio.mcp_server.command: empty command (line 27)",
        'tools.yaml: scopes.stdio.mcp_server.processes.per: Invalid option: expected one of "user"|"scope" (line 28)',
        "tools.yaml: scopes.transport.mcp_server.transport: Invalid discriminator value. Expected 'streamable-http' | 'stdio' (line 32)",
      ],
    },
    {
      fixture: "policy-unknown-scope.yaml",
      expected: [
        'policy.yaml: roles.developer.allow[1]: unknown scope "weather" (tools.yaml scopes: calculator, docs) (line 4)',
      ],
    },
    {
      fixture: "policy-unknown-tool.yaml",
      expected: [
        'policy.yaml: roles.developer.allow[0]: unknown tool "calculator.square_root" (not listed in tools.yaml) (line 4)',
      ],
    },
    {
      fixture: "policy-bad-pattern.yaml",
      expected: [
        'policy.yaml: roles.developer.allow[0]: invalid tool pattern: expected "*", "<scope>.*", "<scope>.<tool>", "<scope>.prompt:<name>" or "<scope>.resource:<uri>" (line 4)',
      ],
    },
    {
      fixture: "policy-bad-duration.yaml",
      expected: [
        'policy.yaml: quotas.per_user.default.duration: invalid duration: expected a positive integer with a unit ms, s, m, h or d (e.g. "30s", "1m") (line 7)',
      ],
    },
    {
      fixture: "policy-bad-quota-keys.yaml",
      expected: [
        'policy.yaml: quotas.per_user.roles.admin: unknown role "admin" (line 9)',
        'policy.yaml: quotas.per_tool.tools.docs.*: invalid tool key "docs.*": expected "<scope>.<tool>" (line 13)',
        'policy.yaml: quotas.per_user_tool.tools.docs.summarize: unknown tool "docs.summarize" (not listed in tools.yaml) (line 17)',
      ],
    },
  ];

  it.each(cases)("$fixture", async ({ fixture: name, expected }) => {
    expect(await errorsFor(name)).toEqual(expected);
  });

  it("accepts prompt and resource patterns only for scopes served by an MCP server", async () => {
    const toolsYaml = `${await fixture("tools-minimal.yaml")}
  tickets:
    mcp_server: { transport: stdio, command: tickets-mcp }
    tools:
      - { name: search }
`;
    const policyYaml = (await fixture("policy-minimal.yaml")).replace(
      /allow: \[([^\]]*)\]/,
      'allow: [$1, "tickets.prompt:triage-*", "tickets.resource:file:///srv/*", "calculator.prompt:x", "tickets.prompt:"]',
    );
    const result = parseConfigText({ toolsYaml, policyYaml, env: {} });
    expect(result.ok ? [] : result.errors).toEqual([
      expect.stringMatching(
        /allow\[\d+\]: invalid tool pattern: expected "\*", "<scope>\.\*", "<scope>\.<tool>", "<scope>\.prompt:<name>" or "<scope>\.resource:<uri>"/,
      ),
    ]);
    const fixed = parseConfigText({
      toolsYaml,
      policyYaml: policyYaml.replace(', "tickets.prompt:"', ""),
      env: {},
    });
    expect(fixed.ok ? [] : fixed.errors).toEqual([
      expect.stringMatching(
        /allow\[\d+\]: scope "calculator" has no mcp_server: only MCP servers have prompts and resources/,
      ),
    ]);
  });

  it("takes `tools: discover`, and any tool of such a scope in policy rules and quota keys", async () => {
    const toolsYaml = `${await fixture("tools-minimal.yaml")}
  tickets:
    mcp_server: { transport: stdio, command: tickets-mcp }
    tools: discover
`;
    const policyYaml = (await fixture("policy-minimal.yaml"))
      .replace(/allow: \[([^\]]*)\]/, 'allow: [$1, "tickets.search", "tickets.*"]')
      .replace(
        "default: { points: 100, duration: 1m }",
        "default: { points: 100, duration: 1m }\n    tools: { tickets.create: { points: 5, duration: 1m } }",
      );
    const result = parseConfigText({ toolsYaml, policyYaml, env: {} });
    expect(result.ok ? [] : result.errors).toEqual([]);
    if (!result.ok) return;
    const tickets = result.config.tools.scopes.tickets!;
    expect(tickets).toMatchObject({ discover: true, tools: [] });
    expect(result.config.policy.quotas.per_tool.tools["tickets.create"]).toMatchObject({
      points: 5,
    });
    expect(toolEntry(tickets, "anything")).toEqual({ name: "anything", enabled: true });
    expect(toolEntry(tickets, "not a name")).toBeUndefined();
    // A scope that lists its tools has only those.
    const calculator = result.config.tools.scopes.calculator!;
    expect(calculator.discover).toBeUndefined();
    expect(toolEntry(calculator, "anything")).toBeUndefined();
    expect(toolEntry(calculator, "exact_calculate")).toMatchObject({ name: "exact_calculate" });

    const misspelt = parseConfigText({
      toolsYaml: toolsYaml.replace("tools: discover", "tools: discovery"),
      policyYaml,
      env: {},
    });
    expect(misspelt.ok ? [] : misspelt.errors).toEqual([
      expect.stringMatching(/^tools\.yaml: scopes\.tickets\.tools: .*\(line \d+\)$/),
    ]);
  });

  // Kept inline rather than as a fixture file so that `prettier --check .` can parse every YAML file.
  it("reports a YAML syntax error with its position", async () => {
    const toolsYaml =
      "version: 1\nscopes:\n  calculator:\n    tools: [ { name: exact_calculate }\n";
    const result = parseConfigText({
      toolsYaml,
      policyYaml: await fixture("policy-minimal.yaml"),
      env: {},
    });
    expect(result).toEqual({
      ok: false,
      errors: [
        "tools.yaml: line 5, column 1: Flow sequence in block collection must be sufficiently indented and end with a ]",
      ],
    });
  });

  it("reports every problem of both files at once", async () => {
    const result = parseConfigText({
      toolsYaml: (await fixture("tools-unknown-key.yaml")).replace(
        "timeout: 10000",
        "timeout: 1\n    extra: 2",
      ),
      policyYaml: await fixture("policy-bad-duration.yaml"),
      env: {},
    });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toEqual([
      "tools.yaml: scopes.calculator.timeout: unknown key (line 5)",
      "tools.yaml: scopes.calculator.extra: unknown key (line 6)",
      expect.stringMatching(/^policy\.yaml: quotas\.per_user\.default\.duration: invalid duration/),
    ]);
  });

  it("reports a missing version, missing sections and an empty document", () => {
    const result = parseConfigText({ toolsYaml: "", policyYaml: "version: 2\n", env: {} });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toContain(
      "tools.yaml: (root): Invalid input: expected object, received null",
    );
    expect(result.errors).toContain("policy.yaml: version: Invalid input: expected 1 (line 1)");
    expect(result.errors).toContain(
      "policy.yaml: roles: Invalid input: expected record, received undefined (line 1)",
    );
  });

  it("reports missing files by name", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "gw-config-"));
    try {
      await writeFile(path.join(dir, "tools.yaml"), await fixture("tools-wrong-type.yaml"));
      const result = await loadConfig({ dir, env: {} });
      expect(result).toEqual({
        ok: false,
        errors: [
          "policy.yaml: file not found",
          "tools.yaml: scopes.calculator.timeout_ms: Invalid input: expected number, received string (line 5)",
        ],
        digests: { "tools.yaml": expect.stringMatching(/^[0-9a-f]{64}$/), "policy.yaml": null },
      });
      await expect(loadConfigOrThrow({ dir, env: {} })).rejects.toBeInstanceOf(ConfigError);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
