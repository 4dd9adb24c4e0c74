/**
 * policy.yaml / tools.yaml reloads in ext-authz: in-process (a real gRPC server on a scratch
 * CONFIG_DIR) and as the built process receiving SIGHUP.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { createConfigReloader, createConfigReloadState } from "../../config/src/config-reload.ts";
import { ConfigError, parseConfigText, type GatewayConfig } from "../../config/src/load-config.ts";
import { createAuthzClient, type AuthzClient } from "../../contract/src/authz-wire.ts";
import type { AuditEvent } from "../../store/src/audit-writer.ts";
import {
  capturingLogger,
  nextCheck,
  outcomeIs,
  replaceFile,
  scratchDir,
} from "../../config/test/reload-harness.ts";
import { startExtAuthz, type RunningExtAuthz } from "../src/main.ts";
import { createAuthzConfig } from "../src/runtime/authz-config.ts";
import {
  checkRequest,
  makeToken,
  NOW_MS,
  recordingAudit,
  silentLogger,
  TEST_ENV,
} from "./fixture-config.ts";

const sha256 = (text: string): string => createHash("sha256").update(text).digest("hex");

/** This test's own files: the shared fixtures are free to change. */
const TOOLS_YAML = `
version: 1
scopes:
  calculator:
    backend_url: http://127.0.0.1:1
    tools:
      - { name: exact_calculate }
  git:
    backend_url: http://127.0.0.1:2
    tools:
      - { name: git_log }
      - { name: git_read_file }
`;
const policyYaml = (analyst: string, auditor = '["git.*"]'): string => `
version: 1
roles:
  developer:
    allow: ["calculator.*", "git.*"]
  analyst:
    allow: ${analyst}
  auditor:
    allow: ${auditor}
    deny: ["git.git_read_file"]
quotas:
  per_user: { default: { points: 100000, duration: 1m } }
  per_tool: { default: { points: 100000, duration: 1m } }
  per_user_tool: { default: { points: 100000, duration: 1m } }
protected_resource:
  resource_base_url: https://gw.example
  authorization_servers: ["https://issuer.example"]
`;
const POLICY_YAML = policyYaml('["calculator.*"]');
/** analyst may also read the git log. */
const GRANTED = policyYaml('["calculator.*", "git.git_log"]');
/** Names a scope tools.yaml does not have. */
const INVALID = policyYaml('["calculator.*"]', '["nowhere.*"]');

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

type Started = {
  running: RunningExtAuthz;
  client: AuthzClient;
  dir: string;
  audit: ReturnType<typeof recordingAudit>;
  logs: ReturnType<typeof capturingLogger>["lines"];
};

async function start(): Promise<Started> {
  const scratch = await scratchDir("ext-authz-reload-");
  cleanups.push(() => scratch.remove());
  await writeFile(path.join(scratch.dir, "tools.yaml"), TOOLS_YAML);
  await writeFile(path.join(scratch.dir, "policy.yaml"), POLICY_YAML);
  const audit = recordingAudit();
  const { logger, lines } = capturingLogger("ext-authz");
  // No `config`: ext-authz loads CONFIG_DIR itself, and so watches it.
  const running = await startExtAuthz({
    env: { ...TEST_ENV, CONFIG_DIR: scratch.dir },
    host: "127.0.0.1",
    port: 0,
    metricsPort: 0,
    audit,
    logger,
    now: () => NOW_MS,
  });
  cleanups.push(() => running.close());
  const client = createAuthzClient(`127.0.0.1:${running.port}`);
  cleanups.push(() => client.close());
  expect(running.configWatcher).toBeDefined();
  return { running, client, dir: scratch.dir, audit, logs: lines };
}

/** A tools/call of `scope.tool` by a user with `roles`: the gRPC status code (0 allow, 7 deny). */
async function callStatus(
  client: AuthzClient,
  roles: string[],
  scope: string,
  tool: string,
): Promise<number | undefined> {
  const token = await makeToken({ sub: `user-${roles.join("-")}`, roles });
  const response = await client.check(
    checkRequest({
      path: `/${scope}/mcp`,
      headers: { authorization: `Bearer ${token}` },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "tools/call",
        params: { name: tool, arguments: {} },
      }),
    }),
    { deadlineMs: 5_000 },
  );
  if (response.status?.code === 7) expect(response.denied_response?.status?.code).toBe("Forbidden");
  return response.status?.code;
}

const ALLOW = 0;
const DENY = 7;

async function reload(started: Started, policy: string, outcome: "ok" | "invalid") {
  const watcher = started.running.configWatcher!;
  const done = nextCheck(watcher, outcomeIs(outcome));
  await replaceFile(path.join(started.dir, "policy.yaml"), policy);
  return done;
}

describe("ext-authz configuration reload", () => {
  it("applies a role change: a tool becomes allowed, then denied again", async () => {
    const started = await start();
    const { client } = started;
    expect(await callStatus(client, ["analyst"], "git", "git_log")).toBe(DENY);

    await reload(started, GRANTED, "ok");
    expect(await callStatus(client, ["analyst"], "git", "git_log")).toBe(ALLOW);
    expect(await callStatus(client, ["analyst"], "git", "git_read_file")).toBe(DENY);

    await reload(started, POLICY_YAML, "ok");
    expect(await callStatus(client, ["analyst"], "git", "git_log")).toBe(DENY);
    expect(started.running.configStatus().counts).toEqual({ ok: 2, invalid: 0, failed: 0 });
  });

  it("keeps the running policy when the new one is invalid, and reports it in the log, metrics, /ready and the audit", async () => {
    const started = await start();
    const { client, running } = started;
    await reload(started, INVALID, "invalid");

    // Still deciding with the policy it had: auditor keeps git, nobody gets "nowhere".
    expect(await callStatus(client, ["auditor"], "git", "git_log")).toBe(ALLOW);
    expect(await callStatus(client, ["auditor"], "git", "git_read_file")).toBe(DENY);

    expect(started.logs).toContainEqual(
      expect.objectContaining({
        msg: "configuration invalid: the running one stays",
        error: expect.stringMatching(
          /^policy\.yaml: roles\.auditor\.allow(\.0|\[0\]): unknown scope/,
        ),
      }),
    );

    const metrics = await (await fetch(`http://127.0.0.1:${running.metricsPort}/metrics`)).text();
    expect(metrics).toContain('ext_authz_config_reloads_total{result="invalid"} 1');
    expect(metrics).toContain('ext_authz_config_reloads_total{result="ok"} 0');
    expect(metrics).toContain(
      `ext_authz_config_info{tools_sha256="${sha256(TOOLS_YAML)}",policy_sha256="${sha256(POLICY_YAML)}"} 1`,
    );

    const ready = await fetch(`http://127.0.0.1:${running.metricsPort}/ready`);
    // Still ready: the configuration running is valid; the files on disk are not.
    expect(ready.status).toBe(200);
    const body = (await ready.json()) as { config: Record<string, unknown> };
    expect(body.config).toMatchObject({
      status: "invalid",
      digests: { "tools.yaml": sha256(TOOLS_YAML), "policy.yaml": sha256(POLICY_YAML) },
      last_reload: {
        trigger: "watch",
        outcome: "invalid",
        errors: 1,
        digests: { "policy.yaml": sha256(INVALID) },
      },
    });
    expect(JSON.stringify(body)).not.toContain("unknown scope");

    const event = started.audit.events.find((e: AuditEvent) => e.kind === "config");
    expect(event).toMatchObject({
      source: "ext-authz",
      kind: "config",
      method: "config.reload",
      outcome: "rejected",
      reason: "watch",
      arguments: {
        trigger: "watch",
        files: {
          "tools.yaml": { previous: sha256(TOOLS_YAML), current: sha256(TOOLS_YAML) },
          "policy.yaml": { previous: sha256(POLICY_YAML), current: sha256(INVALID) },
        },
        errors: 1,
      },
    });

    await reload(started, GRANTED, "ok");
    expect(await callStatus(client, ["analyst"], "git", "git_log")).toBe(ALLOW);
    expect(started.audit.events.filter((e) => e.kind === "config").at(-1)).toMatchObject({
      outcome: "ok",
      arguments: {
        files: { "policy.yaml": { previous: sha256(POLICY_YAML), current: sha256(GRANTED) } },
      },
    });
  });

  it("answers every check during reloads with a valid and an invalid change: none fails", async () => {
    const started = await start();
    const { client } = started;
    const outcomes = { allow: 0, deny: 0 };
    const failures: string[] = [];
    let loading = true;
    const MAX_ROUNDS = 2_000;

    async function worker(index: number): Promise<void> {
      for (let round = 0; loading && round < MAX_ROUNDS; round += 1) {
        const [roles, scope, tool] =
          index % 2 === 0
            ? [["analyst"], "git", "git_log"]
            : [["developer"], "calculator", "exact_calculate"];
        try {
          const code = await callStatus(client, roles, scope, tool);
          if (code === ALLOW) outcomes.allow += 1;
          else if (code === DENY && roles[0] === "analyst") outcomes.deny += 1;
          else failures.push(`${roles[0]}: status ${code}`);
        } catch (error) {
          failures.push(`${roles[0]}: ${(error as Error).message}`);
        }
      }
    }

    const load = Promise.all(Array.from({ length: 8 }, (_, index) => worker(index)));
    try {
      await reload(started, GRANTED, "ok");
      expect(await callStatus(client, ["analyst"], "git", "git_log")).toBe(ALLOW);
      await reload(started, INVALID, "invalid");
      expect(await callStatus(client, ["analyst"], "git", "git_log")).toBe(ALLOW);
      await reload(started, POLICY_YAML, "ok");
      expect(await callStatus(client, ["analyst"], "git", "git_log")).toBe(DENY);
    } finally {
      loading = false;
      await load;
    }
    expect(failures).toEqual([]);
    expect(outcomes.allow).toBeGreaterThan(0);
    expect(outcomes.deny).toBeGreaterThan(0);
    expect(started.running.configStatus().counts).toEqual({ ok: 2, invalid: 1, failed: 0 });
  });

  it("refuses a configuration its policy compiler rejects, without swapping", async () => {
    const state = createConfigReloadState({ "tools.yaml": null, "policy.yaml": null });
    const compiled: string[] = [];
    const initial = parseConfigText({ toolsYaml: TOOLS_YAML, policyYaml: POLICY_YAML, env: {} });
    if (!initial.ok) throw new Error(initial.errors.join("\n"));
    const authz = createAuthzConfig({
      config: initial.config,
      compile: (config: GatewayConfig) => {
        if (Object.hasOwn(config.policy.roles, "broken")) {
          throw new ConfigError(["policy.yaml: roles.broken.allow[0].when: syntax error"]);
        }
        const roles = Object.keys(config.policy.roles).join(",");
        compiled.push(roles);
        return async () => ({ status: { code: 0, message: roles } });
      },
      state,
      audit: recordingAudit(),
      logger: silentLogger,
      onAuditFailure: () => undefined,
    });
    const reloader = createConfigReloader({ consumers: [authz.consumer], logger: silentLogger });
    const broken = POLICY_YAML.replace("  auditor:\n", "  broken:\n    allow: []\n  auditor:\n");
    expect(broken).not.toBe(POLICY_YAML);
    const digests = { "tools.yaml": "t", "policy.yaml": "p" };
    const outcome = await reloader({
      trigger: "sighup",
      previous: digests,
      digests: { ...digests, "policy.yaml": "p2" },
      loaded: parseConfigText({ toolsYaml: TOOLS_YAML, policyYaml: broken, env: {} }),
    });
    expect(outcome).toBe("invalid");
    expect((await authz.check({})).status?.message).toBe(compiled[0]);
    expect(compiled).toHaveLength(1);
    expect(state.status().last).toMatchObject({ outcome: "invalid", errors: 1 });
  });
});

describe("ext-authz process (dist/ext-authz/src/main.js)", () => {
  const MAIN = fileURLToPath(new URL("../../dist/ext-authz/src/main.js", import.meta.url));

  type LogLine = { msg: string; [field: string]: unknown };

  /** Resolves with the first log line `matches` accepts; rejects when the process exits first. */
  function waitForLine(
    child: ChildProcessWithoutNullStreams,
    lines: LogLine[],
    matches: (line: LogLine) => boolean,
  ): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const found = lines.find(matches);
      if (found !== undefined) {
        resolve(found);
        return;
      }
      const onLine = (line: LogLine): void => {
        if (!matches(line)) return;
        child.off("log-line", onLine);
        child.off("exit", onExit);
        resolve(line);
      };
      const onExit = (code: number | null): void =>
        reject(new Error(`ext-authz exited (${code}) before the expected log line`));
      child.on("log-line", onLine);
      child.once("exit", onExit);
    });
  }

  it("reloads on SIGHUP (and survives it); unchanged content is no reload", async () => {
    const scratch = await scratchDir("ext-authz-sighup-");
    cleanups.push(() => scratch.remove());
    await writeFile(path.join(scratch.dir, "tools.yaml"), TOOLS_YAML);
    await writeFile(path.join(scratch.dir, "policy.yaml"), POLICY_YAML);
    const child = spawn(process.execPath, [MAIN], {
      env: {
        PATH: process.env.PATH ?? "",
        ...TEST_ENV,
        CONFIG_DIR: scratch.dir,
        EXT_AUTHZ_HOST: "127.0.0.1",
        EXT_AUTHZ_PORT: "0",
        EXT_AUTHZ_METRICS_PORT: "0",
        LOG_LEVEL: "info",
      },
      stdio: ["pipe", "pipe", "pipe"],
    });
    cleanups.push(() => {
      if (child.exitCode === null) child.kill("SIGKILL");
    });
    const lines: LogLine[] = [];
    let buffered = "";
    child.stdout.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("utf8");
      const complete = buffered.split("\n");
      buffered = complete.pop() ?? "";
      for (const text of complete) {
        if (text.trim() === "") continue;
        const line = JSON.parse(text) as LogLine;
        lines.push(line);
        child.emit("log-line", line);
      }
    });

    const serving = await waitForLine(child, lines, (line) => line.msg === "ext-authz serving");
    const metricsUrl = `http://127.0.0.1:${serving.metricsPort as number}/metrics`;

    child.kill("SIGHUP");
    await waitForLine(
      child,
      lines,
      (line) =>
        line.msg === "configuration unchanged: nothing to reload" && line.trigger === "sighup",
    );

    await replaceFile(path.join(scratch.dir, "policy.yaml"), GRANTED);
    child.kill("SIGHUP");
    // The signal and the file watch race to it; either way exactly this content is applied.
    await waitForLine(child, lines, (line) => line.msg === "configuration reloaded");
    const metrics = await (await fetch(metricsUrl)).text();
    expect(metrics).toContain(`policy_sha256="${sha256(GRANTED)}"`);
    expect(metrics).toContain('ext_authz_config_reloads_total{result="ok"} 1');
    // Without a database the audit event goes to the log (development and test only).
    await waitForLine(
      child,
      lines,
      (line) =>
        line.msg === "audit event (no database)" &&
        (line.audit as { kind?: string } | undefined)?.kind === "config",
    );

    const exited = once(child, "exit");
    child.kill("SIGTERM");
    const [code] = (await exited) as [number | null];
    expect(code).toBe(0);
  });
});
