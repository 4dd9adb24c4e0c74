import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadConfig } from "../../config/src/load-config.ts";
import { FIXTURE_TASK_SUPPORT } from "../conformance-fixture/server.ts";
import type { ExchangeRecord } from "./auth-proxy.ts";
import { FIXTURE_SCOPE, prepareFixtureBackend } from "./fixture-backend.ts";
import { harnessChecks, messagesOf, toolCallAnswer } from "./harness-checks.ts";
import { judgeBroken, judgeChecks, type Check, type Expected } from "./judge.ts";
import {
  expectationMatches,
  expectationsFor,
  FIXTURE_EXPECTED_FAILURES,
  FIXTURE_NOT_EXERCISED,
  type Expectation,
} from "./scenarios.ts";

/** The conformance harness's own parts: the fixture's configuration, the verdicts, its checks. */

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function configDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "conformance-harness-"));
  dirs.push(dir);
  return dir;
}

const env = {
  GATEWAY_VERDICT_KEY: "harness-test-verdict-key-0123456789abcdefghij",
  TOOL_GATEWAY_SHARED_SECRET: "harness-test-tool-secret-0123456789abcdefghi",
};

describe("the fixture behind the gateway", () => {
  it("writes a configuration the gateway loads: the fixture's every tool, developer allowed", async () => {
    const dir = await configDir();
    const backend = await prepareFixtureBackend("streamable-http", dir);
    try {
      const loaded = await loadConfig({ dir, env });
      expect(loaded.ok, JSON.stringify(loaded)).toBe(true);
      if (!loaded.ok) return;
      const scope = loaded.config.tools.scopes[FIXTURE_SCOPE]!;
      expect(scope.mcp_server).toMatchObject({ transport: "streamable-http", url: backend.url });
      const names = scope.tools.map((tool) => tool.name);
      expect(names[0]).toBe("test_simple_text");
      expect(names).toEqual(backend.tools.map((tool) => tool.name));
      expect(names).toEqual(expect.arrayContaining(["test_reconnection", "slow_compute", "greet"]));
      for (const [name, mode] of Object.entries(FIXTURE_TASK_SUPPORT)) {
        expect(scope.tools.find((tool) => tool.name === name)?.task_support).toBe(mode);
      }
      // The shipped scopes stay as they are.
      expect(Object.keys(loaded.config.tools.scopes)).toEqual(
        expect.arrayContaining(["calculator", "git", "docs", FIXTURE_SCOPE]),
      );
      const policy = parse(await readFile(join(dir, "policy.yaml"), "utf8")) as {
        roles: Record<string, { allow: unknown[] }>;
      };
      expect(policy.roles.developer!.allow).toContain(`${FIXTURE_SCOPE}.*`);
      expect(policy.roles.analyst!.allow).not.toContain(`${FIXTURE_SCOPE}.*`);
    } finally {
      await backend.close();
    }
  });

  it("routes the gateway through another URL when asked (the upstream recorder)", async () => {
    const dir = await configDir();
    const backend = await prepareFixtureBackend("streamable-http", dir, {
      route: (url) => Promise.resolve(url.replace(/:\d+\//, ":1/")),
    });
    try {
      const tools = parse(await readFile(join(dir, "tools.yaml"), "utf8")) as {
        scopes: Record<string, { mcp_server: { url: string } }>;
      };
      expect(tools.scopes[FIXTURE_SCOPE]!.mcp_server.url).toBe("http://127.0.0.1:1/mcp");
      expect(backend.configuredUrl).toBe("http://127.0.0.1:1/mcp");
    } finally {
      await backend.close();
    }
  });

  it("as a stdio command: the project's Node runs the fixture's server.ts --stdio", async () => {
    const dir = await configDir();
    const backend = await prepareFixtureBackend("stdio", dir);
    await backend.close();
    expect(backend.url).toBeUndefined();
    const loaded = await loadConfig({ dir, env });
    expect(loaded.ok, JSON.stringify(loaded)).toBe(true);
    if (!loaded.ok) return;
    const server = loaded.config.tools.scopes[FIXTURE_SCOPE]!.mcp_server;
    expect(server).toMatchObject({ transport: "stdio", command: process.execPath });
    expect(server?.transport === "stdio" ? server.args.slice(-2) : []).toEqual([
      expect.stringMatching(/conformance-fixture\/server\.ts$/),
      "--stdio",
    ]);
  });
});

const check = (id: string, status: string): Check => ({ id, status });
const entry = (fields: Partial<Expectation>): Expectation => ({
  scenario: "s",
  reason: "because",
  ...fields,
});
const expecting = (fields: Partial<Expected>): Expected => ({
  notApplicable: undefined,
  expectedFailures: [],
  notExercised: [],
  ...fields,
});

describe("verdicts", () => {
  it("passes, fails, and counts", () => {
    expect(judgeChecks(expecting({}), [check("a", "SUCCESS"), check("b", "WARNING")])).toEqual({
      status: "pass",
      counts: { success: 1, failure: 0, warning: 1, skipped: 0, excused: 0 },
      failures: [],
    });
    const failed = judgeChecks(expecting({}), [{ ...check("a", "FAILURE"), errorMessage: "no" }]);
    expect(failed.status).toBe("fail");
    expect(failed.failures).toEqual([{ id: "a", message: "no" }]);
  });

  it("an expected failure fails as listed; an extra failure still counts", () => {
    const expected = expecting({ expectedFailures: [entry({ checks: ["a"] })] });
    expect(judgeChecks(expected, [check("a", "FAILURE"), check("b", "SUCCESS")])).toMatchObject({
      status: "xfail",
      counts: { failure: 0, excused: 1 },
    });
    expect(judgeChecks(expected, [check("a", "FAILURE"), check("b", "FAILURE")])).toMatchObject({
      status: "fail",
      failures: [{ id: "b" }],
    });
  });

  it("a listed failure that no longer fails is stale (xpass)", () => {
    const expected = expecting({ expectedFailures: [entry({ checks: ["a", "b"] })] });
    const verdict = judgeChecks(expected, [check("a", "FAILURE"), check("b", "SUCCESS")]);
    expect(verdict.status).toBe("xpass");
    expect(verdict.failures.map((f) => f.id)).toEqual(["b"]);
    const whole = expecting({ expectedFailures: [entry({})] });
    expect(judgeChecks(whole, [check("a", "SUCCESS")]).status).toBe("xpass");
    expect(judgeChecks(whole, [check("a", "FAILURE")]).status).toBe("xfail");
    expect(judgeBroken(whole, "killed", "timeout").status).toBe("xfail");
    expect(judgeBroken(expecting({}), "killed", "timeout").status).toBe("timeout");
  });

  it("not exercised: a pass with the listed checks skipped or warned; stale once they succeed", () => {
    const expected = expecting({ notExercised: [entry({ checks: ["x"] })] });
    expect(judgeChecks(expected, [check("x", "SKIPPED"), check("w", "SUCCESS")]).status).toBe(
      "partial",
    );
    expect(judgeChecks(expected, [check("w", "SUCCESS")]).status).toBe("partial");
    expect(judgeChecks(expected, [check("x", "SUCCESS")]).status).toBe("xpass");
    expect(judgeChecks(expected, [check("x", "FAILURE")]).status).toBe("fail");
  });

  it("not applicable checks are excused; a whole not-applicable scenario is n/a", () => {
    const some = expecting({ notApplicable: entry({ checks: ["a"] }) });
    expect(judgeChecks(some, [check("a", "FAILURE"), check("b", "SUCCESS")]).status).toBe("pass");
    const whole = expecting({ notApplicable: entry({}) });
    expect(judgeChecks(whole, [check("a", "FAILURE")]).status).toBe("n/a");
  });

  it("a run whose every check the suite skipped is skipped", () => {
    expect(judgeChecks(expecting({}), [check("a", "SKIPPED")]).status).toBe("skipped");
  });
});

describe("scenarios.ts", () => {
  it("matches entries by scenario, suite and wire", () => {
    const run = { suite: "0.2", scenario: "s", wire: "2026-07-28" };
    expect(expectationMatches(entry({}), run)).toBe(true);
    expect(expectationMatches(entry({ wire: "2026-07-28", suite: "0.2" }), run)).toBe(true);
    expect(expectationMatches(entry({ wire: "2025-11-25" }), run)).toBe(false);
    expect(expectationMatches(entry({ suite: "0.1" }), run)).toBe(false);
    expect(expectationMatches(entry({ scenario: "t" }), run)).toBe(false);
    expect(expectationMatches(entry({ transport: "stdio" }), run)).toBe(false);
    expect(expectationMatches(entry({ transport: "stdio" }), { ...run, transport: "stdio" })).toBe(
      true,
    );
  });

  it("the fixture lists name precise checks with a reason, each check once", () => {
    const seen = new Set<string>();
    for (const item of [...FIXTURE_EXPECTED_FAILURES, ...FIXTURE_NOT_EXERCISED]) {
      expect(item.reason.length).toBeGreaterThan(20);
      expect(item.checks?.length ?? 0, item.scenario).toBeGreaterThan(0);
      for (const id of item.checks ?? []) {
        const at = [item.suite, item.wire, item.transport].map((v) => v ?? "*").join("@");
        const key = `${item.scenario}@${at}#${id}`;
        expect(seen.has(key), key).toBe(false);
        seen.add(key);
      }
    }
    expect(expectationsFor("fixture").notApplicable).toEqual([]);
    expect(expectationsFor("calculator").expectedFailures).toEqual([]);
  });
});

function exchange(request: string, response: string, status = 200): ExchangeRecord {
  return {
    label: "t",
    startedAt: new Date(0).toISOString(),
    durationMs: 1,
    request: { method: "POST", path: "/conformance/mcp", headers: {}, body: request },
    response: { status, headers: {}, body: response, complete: true },
  };
}

describe("the harness's own checks", () => {
  const call = JSON.stringify({
    jsonrpc: "2.0",
    id: 1,
    method: "tools/call",
    params: { name: "test_reconnection", arguments: {} },
  });

  it("reads JSON-RPC messages from JSON and from SSE bodies", () => {
    expect(messagesOf('{"jsonrpc":"2.0","id":1,"result":{}}')).toEqual([
      { jsonrpc: "2.0", id: 1, result: {} },
    ]);
    const sse =
      'id: a.1\nretry: 500\ndata: \n\nevent: message\ndata: {"jsonrpc":"2.0","method":"x"}\n\n' +
      'event: message\ndata: {"jsonrpc":"2.0","id":1,"result":{"ok":true}}\n\n';
    expect(messagesOf(sse)).toEqual([
      { jsonrpc: "2.0", method: "x" },
      { jsonrpc: "2.0", id: 1, result: { ok: true } },
    ]);
    expect(messagesOf("not json")).toEqual([]);
  });

  it("server-sse-polling: the call must have a result", () => {
    const answered = [exchange(call, 'data: {"jsonrpc":"2.0","id":1,"result":{"content":[]}}\n\n')];
    expect(harnessChecks("server-sse-polling", answered)).toEqual([
      expect.objectContaining({ id: "harness-sse-polling-call-answered", status: "SUCCESS" }),
    ]);
    const timedOut = [
      exchange(
        call,
        '{"jsonrpc":"2.0","id":1,"error":{"code":-32008,"message":"Tool call timed out after 45000 ms"}}',
      ),
    ];
    const [failed] = harnessChecks("server-sse-polling", timedOut);
    expect(failed).toMatchObject({ status: "FAILURE" });
    expect(failed!.errorMessage).toContain("-32008");
    expect(toolCallAnswer([], "test_reconnection")).toMatchObject({ kind: "none" });
    expect(harnessChecks("tools-list", timedOut)).toEqual([]);
  });
});
