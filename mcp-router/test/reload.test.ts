/**
 * tools.yaml reloads in the router: what depends on the file (registry, catalog, backends,
 * timeouts, tool lists) follows it, a bad file changes nothing, and requests keep being answered.
 */
import { createHash } from "node:crypto";
import { once } from "node:events";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createConfigReloader } from "../../config/src/config-reload.ts";
import { createConfigWatcher, type ConfigWatcher } from "../../config/src/config-watcher.ts";
import { parseConfigText } from "../../config/src/load-config.ts";
import {
  capturingLogger,
  nextCheck,
  outcomeIs,
  replaceFile,
  scratchDir,
  type CapturedLog,
} from "../../config/test/reload-harness.ts";
import { getRegistryTool } from "../../store/src/registry.ts";
import {
  ALICE,
  openSession,
  postMcp,
  readMessages,
  sessionHeaders,
  startRouterFixture,
  startStandInBackend,
  type Identity,
  type RouterFixture,
  type StandInBackend,
} from "./router-harness.ts";

const sha256 = (text: string): string => createHash("sha256").update(text).digest("hex");

function toolsYaml(
  options: { tools?: string[]; backend?: string; maxTtlMs?: number; name?: string } = {},
): string {
  const tools = options.tools ?? [
    "{ name: add }",
    "{ name: fail }",
    "{ name: slow }",
    "{ name: progress }",
  ];
  return `
version: 1
tasks: { max_ttl_ms: ${options.maxTtlMs ?? 86400000} }
scopes:
  calc:
    description: Test calculator
    backend_url: \${${options.backend ?? "CALC_URL"}}
    timeout_ms: 5000
    tools:
${tools.map((tool) => `      - ${tool}`).join("\n")}
  other:
    backend_url: http://127.0.0.1:9
    tools:
      - { name: add }
`;
}

const POLICY = `
version: 1
roles:
  developer: { allow: ["calc.*", "other.*"] }
quotas:
  per_user: { default: { points: 1000, duration: 1m } }
  per_tool: { default: { points: 1000, duration: 1m } }
  per_user_tool: { default: { points: 1000, duration: 1m } }
protected_resource:
  resource_base_url: http://localhost:8000
  authorization_servers: ["http://localhost:8010"]
`;

/** The verdict allows more than tools.yaml lists: what is served is tools.yaml's business. */
const CALLER: Identity = { ...ALICE, tools: ["add", "fail", "slow", "progress", "hidden"] };

type Started = {
  fixture: RouterFixture;
  watcher: ConfigWatcher;
  dir: string;
  logs: CapturedLog[];
  /** Backend URLs by the variable tools.yaml names them with. */
  env: Record<string, string>;
};

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function start(extraBackends: Record<string, StandInBackend> = {}): Promise<Started> {
  const scratch = await scratchDir("router-reload-");
  cleanups.push(() => scratch.remove());
  const initialTools = toolsYaml();
  await writeFile(path.join(scratch.dir, "tools.yaml"), initialTools);
  await writeFile(path.join(scratch.dir, "policy.yaml"), POLICY);
  const env: Record<string, string> = {};
  const fixture = await startRouterFixture({
    config: (backendUrl) => {
      env.CALC_URL = backendUrl;
      for (const [name, backend] of Object.entries(extraBackends)) env[name] = backend.url;
      const parsed = parseConfigText({ toolsYaml: initialTools, policyYaml: POLICY, env });
      if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
      return parsed.config;
    },
    router: {
      configDigests: { "tools.yaml": sha256(initialTools), "policy.yaml": sha256(POLICY) },
    },
  });
  cleanups.push(() => fixture.close());
  const { logger, lines } = capturingLogger("mcp-router");
  const watcher = createConfigWatcher({
    dir: scratch.dir,
    env,
    applied: fixture.router.configStatus().digests,
    onCandidate: createConfigReloader({ consumers: [fixture.router.configConsumer], logger }),
    debounceMs: 50,
    logger,
  });
  cleanups.push(() => watcher.close());
  expect((await watcher.start()).outcome).toBe("unchanged");
  return { fixture, watcher, dir: scratch.dir, logs: lines, env };
}

async function reload(started: Started, tools: string, outcome: "ok" | "invalid") {
  const done = nextCheck(started.watcher, outcomeIs(outcome));
  await replaceFile(path.join(started.dir, "tools.yaml"), tools);
  return done;
}

async function listTools(endpoint: string, sessionId: string): Promise<string[]> {
  const response = await postMcp(
    endpoint,
    { jsonrpc: "2.0", id: 1, method: "tools/list" },
    { identity: CALLER, headers: sessionHeaders(sessionId) },
  );
  const [message] = await readMessages(response);
  const tools = (message?.result as { tools: { name: string }[] }).tools;
  return tools.map((tool) => tool.name).sort();
}

async function callTool(
  endpoint: string,
  sessionId: string,
  name: string,
  args: Record<string, unknown> = { a: 1, b: 2 },
): Promise<{ status: number; message: Record<string, unknown> | undefined }> {
  const response = await postMcp(
    endpoint,
    { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name, arguments: args } },
    { identity: CALLER, headers: sessionHeaders(sessionId) },
  );
  const [message] = await readMessages(response);
  return { status: response.status, message };
}

describe("router configuration reload", () => {
  it("follows tools.yaml: a disabled tool is gone, a new one is registered and served", async () => {
    const started = await start();
    const { fixture } = started;
    const endpoint = `${fixture.router.url}/calc/mcp`;
    const sessionId = await openSession(endpoint, CALLER);
    expect(await listTools(endpoint, sessionId)).toEqual(["add", "fail", "progress", "slow"]);
    expect(await getRegistryTool(fixture.database.db, "calc", "hidden")).toBeUndefined();

    await reload(
      started,
      toolsYaml({
        tools: ["{ name: add, enabled: false }", "{ name: fail }", "{ name: hidden }"],
      }),
      "ok",
    );

    expect(await listTools(endpoint, sessionId)).toEqual(["fail", "hidden"]);
    const disabled = await callTool(endpoint, sessionId, "add");
    expect(disabled.message?.error).toMatchObject({ data: { code: "GW_UNKNOWN_TOOL" } });
    const added = await callTool(endpoint, sessionId, "hidden");
    expect(added.message?.result).toMatchObject({
      content: [{ type: "text", text: "should never run" }],
    });
    // The registry follows the file, as at startup: new tools added, removed ones inactive.
    expect(await getRegistryTool(fixture.database.db, "calc", "hidden")).toMatchObject({
      active: true,
    });
    expect(await getRegistryTool(fixture.database.db, "calc", "slow")).toMatchObject({
      active: false,
    });
    expect((await fixture.router.catalog.get("calc")).ok).toBe(true);
  });

  it("moves new calls to a new backend URL while a call under way finishes where it started", async () => {
    const second = await startStandInBackend();
    cleanups.push(() => second.close());
    const started = await start({ SECOND_URL: second });
    const { fixture } = started;
    const endpoint = `${fixture.router.url}/calc/mcp`;
    const sessionId = await openSession(endpoint, CALLER);

    const slowStarted = once(fixture.backend.events, "call");
    const slow = callTool(endpoint, sessionId, "slow", { ms: 1_500 });
    expect(await slowStarted).toEqual(["slow"]);

    await reload(started, toolsYaml({ backend: "SECOND_URL" }), "ok");
    const calledSecond = once(second.events, "call");
    const added = await callTool(endpoint, sessionId, "add");
    expect(added.message?.result).toMatchObject({ content: [{ text: "3" }] });
    expect(await calledSecond).toEqual(["add"]);

    const finished = await slow;
    expect(finished.message?.result).toMatchObject({ content: [{ text: "done" }] });
    expect(fixture.backend.seen.filter((seen) => seen.method === "tools/call")).toHaveLength(1);
  });

  it("applies what it can and says which changed settings require restart", async () => {
    const started = await start();
    const { fixture } = started;
    await reload(started, toolsYaml({ maxTtlMs: 172_800_000 }), "ok");
    expect(started.logs).toContainEqual(
      expect.objectContaining({
        level: 40,
        requiresRestart: ["tools.yaml: tasks.max_ttl_ms"],
        msg: expect.stringContaining("only after a restart"),
      }),
    );
    const ready = (await (await fetch(`${fixture.router.url}/ready`)).json()) as {
      config: Record<string, unknown>;
    };
    expect(ready.config).toMatchObject({
      status: "ok",
      restart_required: ["tools.yaml: tasks.max_ttl_ms"],
    });
    const metrics = await (await fetch(`${fixture.router.url}/metrics`)).text();
    expect(metrics).toContain("mcp_router_config_restart_required 1");

    // Back to what the process started with: nothing waits for a restart any more.
    await reload(started, toolsYaml(), "ok");
    expect(fixture.router.configStatus().restartRequired).toEqual([]);
  });

  it("keeps serving the running tools.yaml when the new one is invalid, and reports it", async () => {
    const started = await start();
    const { fixture } = started;
    const endpoint = `${fixture.router.url}/calc/mcp`;
    const sessionId = await openSession(endpoint, CALLER);
    const bad = toolsYaml({ tools: ['{ name: "bad name!" }'] });
    await reload(started, bad, "invalid");

    expect(await listTools(endpoint, sessionId)).toEqual(["add", "fail", "progress", "slow"]);
    expect((await callTool(endpoint, sessionId, "add")).message?.result).toBeDefined();
    expect(started.logs).toContainEqual(
      expect.objectContaining({
        msg: "configuration invalid: the running one stays",
        error: expect.stringMatching(
          /^tools\.yaml: scopes\.calc\.tools(\.0|\[0\])\.name: invalid tool name/,
        ),
      }),
    );

    const ready = await fetch(`${fixture.router.url}/ready`);
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as { config: unknown }).config).toMatchObject({
      status: "invalid",
      digests: { "tools.yaml": sha256(toolsYaml()) },
      last_reload: { outcome: "invalid", digests: { "tools.yaml": sha256(bad) } },
    });
    const metrics = await (await fetch(`${fixture.router.url}/metrics`)).text();
    expect(metrics).toContain('mcp_router_config_reloads_total{result="invalid"} 1');

    const [row] = await fixture.auditRows({ kind: "config" });
    expect(row).toMatchObject({
      source: "router",
      kind: "config",
      method: "config.reload",
      outcome: "rejected",
      reason: "watch",
      arguments: {
        trigger: "watch",
        files: {
          "tools.yaml": { previous: sha256(toolsYaml()), current: sha256(bad) },
          "policy.yaml": { previous: sha256(POLICY), current: sha256(POLICY) },
        },
      },
    });
  });

  it("answers every call during reloads with a valid and an invalid change: none fails", async () => {
    const second = await startStandInBackend();
    cleanups.push(() => second.close());
    const started = await start({ SECOND_URL: second });
    const endpoint = `${started.fixture.router.url}/calc/mcp`;
    const failures: string[] = [];
    let answered = 0;
    let loading = true;
    const MAX_ROUNDS = 1_000;

    async function worker(): Promise<void> {
      const sessionId = await openSession(endpoint, CALLER);
      for (let round = 0; loading && round < MAX_ROUNDS; round += 1) {
        try {
          const { status, message } = await callTool(endpoint, sessionId, "add");
          const text = (message?.result as { content?: { text?: string }[] } | undefined)
            ?.content?.[0]?.text;
          if (status === 200 && text === "3") answered += 1;
          else failures.push(`status ${status}: ${JSON.stringify(message)}`);
        } catch (error) {
          failures.push((error as Error).message);
        }
      }
    }

    const load = Promise.all(Array.from({ length: 6 }, () => worker()));
    try {
      await reload(started, toolsYaml({ backend: "SECOND_URL" }), "ok");
      await reload(started, toolsYaml({ tools: ['{ name: "bad name!" }'] }), "invalid");
      await reload(started, toolsYaml(), "ok");
    } finally {
      loading = false;
      await load;
    }
    expect(failures).toEqual([]);
    expect(answered).toBeGreaterThan(0);
    // Both backends answered: the load ran across the reloads.
    expect(second.seen.some((seen) => seen.method === "tools/call")).toBe(true);
    expect(started.fixture.router.configStatus().counts).toEqual({ ok: 2, invalid: 1, failed: 0 });
  });
});
