import { createHash } from "node:crypto";
import { mkdir, readFile, rename, symlink, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Registry } from "prom-client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  createConfigReloadState,
  createConfigReloader,
  type ConfigConsumer,
  type ReloadReport,
} from "../src/config-reload.ts";
import { createConfigWatcher, type ConfigWatcher } from "../src/config-watcher.ts";
import { ConfigError, loadConfig, type GatewayConfig } from "../src/load-config.ts";
import { registerConfigReloadMetrics } from "../src/reload-metrics.ts";
import {
  capturingLogger,
  nextCheck,
  outcomeIs,
  replaceFile,
  scratchDir,
  type CapturedLog,
} from "./reload-harness.ts";

const fixtures = fileURLToPath(new URL("./fixtures/", import.meta.url));
const TOOLS = await readFile(path.join(fixtures, "tools-minimal.yaml"), "utf8");
const POLICY = await readFile(path.join(fixtures, "policy-minimal.yaml"), "utf8");
const WITH_ANALYST = POLICY.replace(
  "roles:\n",
  'roles:\n  analyst:\n    allow: ["calculator.*"]\n',
);
const UNKNOWN_SCOPE = POLICY.replace('allow: ["*"]', 'allow: ["nowhere.*"]');
const sha256 = (text: string): string => createHash("sha256").update(text).digest("hex");

type Recorder = {
  consumer: ConfigConsumer;
  running: () => GatewayConfig;
  prepared: () => number;
  reports: ReloadReport[];
};

function recordingConsumer(
  initial: GatewayConfig,
  options: { compile?: (config: GatewayConfig) => void; stage?: () => Promise<void> } = {},
): Recorder {
  let running = initial;
  let prepared = 0;
  const reports: ReloadReport[] = [];
  return {
    running: () => running,
    prepared: () => prepared,
    reports,
    consumer: {
      name: "test-service",
      prepare(config) {
        prepared += 1;
        options.compile?.(config);
        return {
          ...(options.stage === undefined ? {} : { stage: options.stage }),
          commit: () => {
            running = config;
          },
        };
      },
      reported: (report) => reports.push(report),
    },
  };
}

const roleNames = (config: GatewayConfig): string[] => Object.keys(config.policy.roles).sort();

let scratch: Awaited<ReturnType<typeof scratchDir>>;
let watcher: ConfigWatcher | undefined;
let logs: CapturedLog[];

beforeEach(async () => {
  scratch = await scratchDir();
  logs = [];
});
afterEach(async () => {
  watcher?.close();
  watcher = undefined;
  await scratch.remove();
});

/** Writes both files into `dir`, loads them as a service would at startup, and starts watching. */
async function startWatching(
  options: {
    dir?: string;
    consumers?: (initial: GatewayConfig) => ConfigConsumer[];
    sighup?: boolean;
    debounceMs?: number;
    skipWrite?: boolean;
  } = {},
): Promise<{ watcher: ConfigWatcher; recorder: Recorder; dir: string }> {
  const dir = options.dir ?? scratch.dir;
  if (options.skipWrite !== true) {
    await writeFile(path.join(dir, "tools.yaml"), TOOLS);
    await writeFile(path.join(dir, "policy.yaml"), POLICY);
  }
  const loaded = await loadConfig({ dir, env: {} });
  if (!loaded.ok) throw new Error(loaded.errors.join("\n"));
  const recorder = recordingConsumer(loaded.config);
  const captured = capturingLogger();
  logs = captured.lines;
  watcher = createConfigWatcher({
    dir,
    env: {},
    applied: loaded.digests,
    onCandidate: createConfigReloader({
      consumers: options.consumers?.(loaded.config) ?? [recorder.consumer],
      logger: captured.logger,
    }),
    debounceMs: options.debounceMs ?? 50,
    sighup: options.sighup ?? false,
    logger: captured.logger,
  });
  // Nothing changed between the load and the watch: the first check finds the same content.
  expect((await watcher.start()).outcome).toBe("unchanged");
  return { watcher, recorder, dir };
}

describe("loadConfig digests", () => {
  it("are the sha256 of each file's bytes", async () => {
    await writeFile(path.join(scratch.dir, "tools.yaml"), TOOLS);
    await writeFile(path.join(scratch.dir, "policy.yaml"), POLICY);
    const loaded = await loadConfig({ dir: scratch.dir, env: {} });
    expect(loaded.digests).toEqual({ "tools.yaml": sha256(TOOLS), "policy.yaml": sha256(POLICY) });
  });
});

describe("config watcher", () => {
  it("applies a valid change once, reporting the old and new digest of each file", async () => {
    const { watcher, recorder } = await startWatching();
    const applied = nextCheck(watcher, outcomeIs("ok"));
    await replaceFile(path.join(scratch.dir, "policy.yaml"), WITH_ANALYST);
    const result = await applied;

    expect(result.trigger).toBe("watch");
    expect(roleNames(recorder.running())).toEqual(["analyst", "developer"]);
    expect(recorder.reports).toHaveLength(1);
    expect(recorder.reports[0]).toMatchObject({
      trigger: "watch",
      outcome: "ok",
      previous: { "tools.yaml": sha256(TOOLS), "policy.yaml": sha256(POLICY) },
      digests: { "tools.yaml": sha256(TOOLS), "policy.yaml": sha256(WITH_ANALYST) },
      errors: [],
    });
    expect(watcher.applied()["policy.yaml"]).toBe(sha256(WITH_ANALYST));
    expect(logs.find((line) => line.msg === "configuration reloaded")).toMatchObject({
      trigger: "watch",
    });
  });

  it("sees a file written in place (a bind-mounted file edited on the host)", async () => {
    const { watcher, recorder } = await startWatching();
    const applied = nextCheck(
      watcher,
      (result) => result.outcome === "ok" && result.digests["policy.yaml"] === sha256(WITH_ANALYST),
    );
    await writeFile(path.join(scratch.dir, "policy.yaml"), WITH_ANALYST);
    await applied;
    expect(roleNames(recorder.running())).toEqual(["analyst", "developer"]);
  });

  it("refuses an invalid file: the running configuration stays, the error is logged once per content", async () => {
    const { watcher, recorder } = await startWatching();
    const refused = nextCheck(watcher, outcomeIs("invalid"));
    await replaceFile(path.join(scratch.dir, "policy.yaml"), UNKNOWN_SCOPE);
    await refused;

    expect(roleNames(recorder.running())).toEqual(["developer"]);
    // Refused before any service compiled it.
    expect(recorder.prepared()).toBe(0);
    expect(recorder.reports.at(-1)).toMatchObject({
      outcome: "invalid",
      digests: { "policy.yaml": sha256(UNKNOWN_SCOPE) },
      errors: [
        expect.stringMatching(/^policy\.yaml: roles\.developer\.allow(\.0|\[0\]): unknown scope/),
      ],
    });
    expect(logs.filter((line) => line.msg.startsWith("configuration invalid"))).toEqual([
      expect.objectContaining({ error: expect.stringContaining('unknown scope "nowhere"') }),
    ]);
    expect(watcher.applied()["policy.yaml"]).toBe(sha256(POLICY));

    // The same bad content seen again by the watch is not reported again...
    const again = nextCheck(watcher);
    const later = new Date(Date.now() + 5_000);
    await utimes(path.join(scratch.dir, "policy.yaml"), later, later);
    expect((await again).outcome).toBe("unchanged");
    // ...but an operator's explicit SIGHUP gets the answer again.
    expect((await watcher.check("sighup")).outcome).toBe("invalid");
    expect(recorder.reports.filter((report) => report.outcome === "invalid")).toHaveLength(2);

    const fixed = nextCheck(watcher, outcomeIs("ok"));
    await replaceFile(path.join(scratch.dir, "policy.yaml"), WITH_ANALYST);
    await fixed;
    expect(roleNames(recorder.running())).toEqual(["analyst", "developer"]);
  });

  it("treats a service's compile error as invalid: no service swaps", async () => {
    let first: Recorder | undefined;
    let second: Recorder | undefined;
    const { watcher } = await startWatching({
      consumers: (initial) => {
        first = recordingConsumer(initial);
        second = recordingConsumer(initial, {
          compile: (config) => {
            if (Object.hasOwn(config.policy.roles, "analyst")) {
              throw new ConfigError(["policy.yaml: roles.analyst.allow[0].when: syntax error"]);
            }
          },
        });
        return [first.consumer, second.consumer];
      },
    });
    const refused = nextCheck(watcher, outcomeIs("invalid"));
    await replaceFile(path.join(scratch.dir, "policy.yaml"), WITH_ANALYST);
    await refused;

    expect(first?.prepared()).toBe(1);
    expect(roleNames(first!.running())).toEqual(["developer"]);
    expect(roleNames(second!.running())).toEqual(["developer"]);
    // Both are told, so both report it (metrics, /ready, audit).
    for (const recorder of [first!, second!]) {
      expect(recorder.reports.at(-1)).toMatchObject({
        outcome: "invalid",
        errors: ["test-service: policy.yaml: roles.analyst.allow[0].when: syntax error"],
      });
    }
  });

  it("keeps the running configuration when applying fails, and tries again on the next event", async () => {
    let failures = 1;
    let recorder: Recorder | undefined;
    const { watcher } = await startWatching({
      consumers: (initial) => {
        recorder = recordingConsumer(initial, {
          stage: async () => {
            if (failures-- > 0) throw new Error("connection refused to db:5432 password=hunter2");
          },
        });
        return [recorder.consumer];
      },
    });
    const failed = nextCheck(watcher, outcomeIs("failed"));
    await replaceFile(path.join(scratch.dir, "policy.yaml"), WITH_ANALYST);
    await failed;
    expect(roleNames(recorder!.running())).toEqual(["developer"]);
    // The driver's text (which may hold connection details) is not repeated.
    expect(recorder!.reports.at(-1)?.errors).toEqual(["test-service: apply failed (Error)"]);
    expect(JSON.stringify(logs)).not.toContain("hunter2");

    expect((await watcher.check("watch")).outcome).toBe("ok");
    expect(roleNames(recorder!.running())).toEqual(["analyst", "developer"]);
  });

  it("does not reload when the content did not change", async () => {
    const { watcher, recorder } = await startWatching();
    const seen = nextCheck(watcher);
    await replaceFile(path.join(scratch.dir, "tools.yaml"), TOOLS);
    const later = new Date(Date.now() + 5_000);
    await utimes(path.join(scratch.dir, "policy.yaml"), later, later);
    expect((await seen).outcome).toBe("unchanged");
    expect((await watcher.check("sighup")).outcome).toBe("unchanged");
    expect(recorder.prepared()).toBe(0);
    expect(recorder.reports).toEqual([]);
  });

  it("follows an editor that replaces the file, again and again", async () => {
    const { watcher, recorder } = await startWatching();
    const file = path.join(scratch.dir, "policy.yaml");
    let applied = nextCheck(watcher, outcomeIs("ok"));
    await replaceFile(file, WITH_ANALYST);
    await applied;
    expect(roleNames(recorder.running())).toEqual(["analyst", "developer"]);

    applied = nextCheck(watcher, outcomeIs("ok"));
    await replaceFile(file, POLICY);
    await applied;
    expect(roleNames(recorder.running())).toEqual(["developer"]);
  });

  it("follows a Kubernetes ConfigMap update (..data symlink swap); an identical swap is no reload", async () => {
    const dir = scratch.dir;
    const version = async (name: string, policy: string): Promise<void> => {
      await mkdir(path.join(dir, name));
      await writeFile(path.join(dir, name, "tools.yaml"), TOOLS);
      await writeFile(path.join(dir, name, "policy.yaml"), policy);
    };
    /** What the kubelet does: a new ..data_tmp symlink renamed over ..data in one step. */
    const swapTo = async (name: string): Promise<void> => {
      await symlink(name, path.join(dir, "..data_tmp"));
      await rename(path.join(dir, "..data_tmp"), path.join(dir, "..data"));
    };
    await version("..2026_11_30_10_00_00.1", POLICY);
    await symlink("..2026_11_30_10_00_00.1", path.join(dir, "..data"));
    await symlink("..data/tools.yaml", path.join(dir, "tools.yaml"));
    await symlink("..data/policy.yaml", path.join(dir, "policy.yaml"));
    const { watcher, recorder } = await startWatching({ dir, skipWrite: true });

    await version("..2026_11_30_10_01_00.2", WITH_ANALYST);
    const applied = nextCheck(watcher, outcomeIs("ok"));
    await swapTo("..2026_11_30_10_01_00.2");
    await applied;
    expect(roleNames(recorder.running())).toEqual(["analyst", "developer"]);

    await version("..2026_11_30_10_02_00.3", WITH_ANALYST);
    await swapTo("..2026_11_30_10_02_00.3");
    // The swap is complete: whichever check reads the files now reads the new version.
    expect((await watcher.check("watch")).outcome).toBe("unchanged");
    expect(recorder.prepared()).toBe(1);
  });

  it("reloads on SIGHUP, and gives the signal back when closed", async () => {
    const listenersBefore = process.listenerCount("SIGHUP");
    // File events would wait an hour: only the signal can trigger this reload.
    const { watcher, recorder } = await startWatching({ sighup: true, debounceMs: 3_600_000 });
    expect(process.listenerCount("SIGHUP")).toBe(listenersBefore + 1);
    await writeFile(path.join(scratch.dir, "policy.yaml"), WITH_ANALYST);

    const applied = nextCheck(watcher, outcomeIs("ok"));
    process.kill(process.pid, "SIGHUP");
    expect((await applied).trigger).toBe("sighup");
    expect(roleNames(recorder.running())).toEqual(["analyst", "developer"]);
    expect(recorder.reports.at(-1)?.trigger).toBe("sighup");

    watcher.close();
    expect(process.listenerCount("SIGHUP")).toBe(listenersBefore);
  });

  it("runs one check at a time: a check asked for while one waits joins it", async () => {
    const { watcher } = await startWatching();
    const first = watcher.check("watch");
    const second = watcher.check("sighup");
    expect(second).toBe(first);
    // The explicit signal is what the joined check records as its trigger.
    expect((await first).trigger).toBe("sighup");
  });
});

describe("reload status", () => {
  const digestsA = { "tools.yaml": "a".repeat(64), "policy.yaml": "b".repeat(64) };
  const digestsB = { "tools.yaml": "a".repeat(64), "policy.yaml": "c".repeat(64) };
  const report = (overrides: Partial<ReloadReport>): ReloadReport => ({
    trigger: "watch",
    outcome: "ok",
    at: new Date("2026-11-30T12:00:00Z"),
    previous: digestsA,
    digests: digestsB,
    errors: [],
    requiresRestart: [],
    ...overrides,
  });

  it("counts reloads, keeps the running digests and the last success, and shows them without error text", async () => {
    const state = createConfigReloadState(digestsA, new Date("2026-11-30T10:00:00Z"));
    const registry = new Registry();
    registerConfigReloadMetrics(registry, state, { prefix: "svc_" });
    expect(state.readyDetail()).toEqual({
      status: "ok",
      digests: digestsA,
      last_success_at: "2026-11-30T10:00:00.000Z",
      restart_required: [],
    });

    state.record(report({ requiresRestart: ["tools.yaml: tasks.max_ttl_ms"] }));
    state.record(
      report({
        outcome: "invalid",
        at: new Date("2026-11-30T13:00:00Z"),
        previous: digestsB,
        digests: digestsA,
        errors: ["policy.yaml: roles: secret-looking detail"],
      }),
    );
    const detail = state.readyDetail();
    expect(detail).toEqual({
      status: "invalid",
      digests: digestsB,
      last_success_at: "2026-11-30T12:00:00.000Z",
      last_reload: {
        trigger: "watch",
        outcome: "invalid",
        at: "2026-11-30T13:00:00.000Z",
        digests: digestsA,
        errors: 1,
      },
      restart_required: ["tools.yaml: tasks.max_ttl_ms"],
    });
    expect(JSON.stringify(detail)).not.toContain("secret-looking");

    const text = await registry.metrics();
    expect(text).toContain('svc_config_reloads_total{result="ok"} 1');
    expect(text).toContain('svc_config_reloads_total{result="invalid"} 1');
    expect(text).toContain('svc_config_reloads_total{result="failed"} 0');
    expect(text).toMatch(/^svc_config_last_reload_success_timestamp_seconds 1796040000$/m);
    expect(text).toContain(
      `svc_config_info{tools_sha256="${digestsB["tools.yaml"]}",policy_sha256="${digestsB["policy.yaml"]}"} 1`,
    );
    expect(text).toContain("svc_config_restart_required 1");
  });
});
