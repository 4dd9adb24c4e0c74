/**
 * `npm run policy` as an operator and a CI job run it: the compiled program on plain node (the
 * global setup builds dist/), its output and its exit codes. The logic is tested in
 * explain.test.ts, policy-matrix.test.ts and policy-table.test.ts.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHECK_POLICY_YAML, TOOLS_YAML } from "./policy-check-fixture.ts";

const CLI = fileURLToPath(new URL("../../dist/ext-authz/src/policy-cli/main.js", import.meta.url));
const SHIPPED_CONFIG = fileURLToPath(new URL("../../config", import.meta.url));
const SHIPPED_TABLE = path.join(SHIPPED_CONFIG, "policy.test.yaml");
const USAGE = "usage: npm run policy -- <command> [--config-dir DIR]";
const run = promisify(execFile);

type Outcome = { code: number; stdout: string; stderr: string };

async function policy(...args: string[]): Promise<Outcome> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as Outcome;
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

/** A refusal: exit 2, the reason on stderr, never a stack trace. */
function expectUsageError(outcome: Outcome, message: string | RegExp): void {
  expect(outcome.code).toBe(2);
  expect(outcome.stdout).toBe("");
  expect(outcome.stderr).toMatch(message);
  expect(outcome.stderr).not.toMatch(/^\s+at /m);
}

let dir: string;
const write = async (name: string, text: string): Promise<string> => {
  const file = path.join(dir, name);
  await writeFile(file, text);
  return file;
};

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "gw-policy-cli-"));
  await write("tools.yaml", TOOLS_YAML);
  await write("policy.yaml", CHECK_POLICY_YAML);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.concurrent("npm run policy -- test (the shipped policy's own gate)", () => {
  it("passes every case of config/policy.test.yaml against config/", async () => {
    const outcome = await policy("test", SHIPPED_TABLE, "--config-dir", SHIPPED_CONFIG);
    expect(outcome.stderr).toBe("");
    expect(outcome.code).toBe(0);
    expect(outcome.stdout).not.toMatch(/^FAIL/m);
    expect(outcome.stdout).toMatch(/^\d+ cases: all passed\n$/m);
  });
});

describe.concurrent("npm run policy -- explain", () => {
  it("prints the decision and the deciding rule, exit 0 for a denial", async () => {
    const outcome = await policy(
      "explain",
      "--config-dir",
      SHIPPED_CONFIG,
      "--roles",
      "auditor",
      "--tool",
      "git.git_diff",
      "--args",
      '{"format":"patch"}',
    );
    expect(outcome.code).toBe(0);
    expect(outcome.stdout).toContain("decision:   denied\n");
    expect(outcome.stdout).toMatch(/^rule: +roles\.auditor\.deny\[\d+\]: deny git\.git_diff$/m);
    expect(outcome.stdout).toContain('arguments.format != "stat"');
  });

  it("prints JSON with --format json, resolving a bare tool name", async () => {
    const outcome = await policy(
      "explain",
      "--config-dir",
      SHIPPED_CONFIG,
      "--roles",
      "auditor",
      "--tool",
      "git_show_commit",
      "--args",
      '{"include_patch":false}',
      "--format",
      "json",
    );
    expect(outcome.code).toBe(0);
    expect(JSON.parse(outcome.stdout)).toMatchObject({
      tool: "git.git_show_commit",
      decision: "allowed",
      rule: { effect: "allow", tools: "git.git_show_commit" },
      listed: true,
    });
  });

  it("explains an unknown tool as the gateway's answer, exit 0", async () => {
    const outcome = await policy(
      "explain",
      "--config-dir",
      dir,
      "--roles",
      "developer",
      "--tool",
      "git.nope",
    );
    expect(outcome.code).toBe(0);
    expect(outcome.stdout).toContain("decision:  unknown tool");
  });

  it.each([
    [["--args", "{format"], /^--args: invalid JSON: /],
    [["--args", "[1]"], /^--args: expected a JSON object/],
    [["--claims", "{"], /^--claims: invalid JSON: /],
    [["--headers", '{"user-agent": 1}'], /^--headers: user-agent: expected a string/],
    [["--format", "yaml"], /^--format: expected one of text, json/],
  ])("refuses %j with exit 2", async (extra, message) => {
    expectUsageError(
      await policy(
        "explain",
        "--config-dir",
        dir,
        "--roles",
        "auditor",
        "--tool",
        "git.git_log",
        ...extra,
      ),
      message,
    );
  });

  it("refuses an ambiguous bare tool name, naming the scopes", async () => {
    expectUsageError(
      await policy("explain", "--config-dir", dir, "--roles", "developer", "--tool", "shared_tool"),
      /"shared_tool" is a tool of several scopes \(calculator, git\): name it <scope>\.<tool>/,
    );
  });

  it("refuses a call without roles or without a tool", async () => {
    expectUsageError(
      await policy("explain", "--config-dir", dir, "--tool", "git.git_log"),
      /^no roles: give --roles/,
    );
    expectUsageError(await policy("explain", "--config-dir", dir, "--roles", "auditor"), /--tool/);
  });
});

describe.concurrent("npm run policy -- matrix", () => {
  it("marks auditor × git_show_commit conditional, with a legend", async () => {
    const outcome = await policy("matrix", "--config-dir", SHIPPED_CONFIG);
    expect(outcome.code).toBe(0);
    const lines = outcome.stdout.split("\n");
    const roles = lines[0]!.split(/\s+/).slice(1);
    const row = lines.find((line) => line.startsWith("git.git_show_commit "))!.split(/\s+/);
    expect(row[roles.indexOf("auditor") + 1]).toBe("allow*");
    expect(row[roles.indexOf("developer") + 1]).toBe("allow");
    expect(outcome.stdout).toMatch(/^allow\* +conditional: /m);
  });

  it("prints CSV and JSON", async () => {
    const csv = await policy("matrix", "--config-dir", SHIPPED_CONFIG, "--format", "csv");
    expect(csv.code).toBe(0);
    expect(csv.stdout).toContain("git.git_show_commit,true,allow,deny,conditional,deny\n");
    const json = await policy("matrix", "--config-dir", SHIPPED_CONFIG, "--format", "json");
    expect(JSON.parse(json.stdout)).toMatchObject({
      roles: ["developer", "analyst", "auditor", "operator"],
    });
  });
});

describe.concurrent("npm run policy -- test", () => {
  it("exits 1 and names the failing case", async () => {
    const table = await write(
      "failing.test.yaml",
      `cases:
  - name: auditor greps
    claims: { sub: a, roles: [auditor] }
    tool: git.git_read_file
    arguments: { path: .env }
    expect: allow
  - name: auditor reads the log
    claims: { sub: a, roles: [auditor] }
    tool: git.git_log
    expect: allow
`,
    );
    const outcome = await policy("test", table, "--config-dir", dir);
    expect(outcome.code).toBe(1);
    expect(outcome.stdout).toContain(
      "FAIL  auditor greps (git.git_read_file): expected allow, got deny: roles.auditor.deny[1]",
    );
    expect(outcome.stdout).toContain("2 cases: 1 passed, 1 failed\n");
  });

  it("exits 2 for a malformed file, naming the place", async () => {
    const table = await write(
      "malformed.test.yaml",
      "cases:\n  - { name: x, claims: { sub: a, roles: [] }, tool: git.git_log, expect: nope }\n",
    );
    expectUsageError(
      await policy("test", table, "--config-dir", dir),
      `${table}: cases[0].expect: `,
    );
  });

  it("exits 2 for a missing file", async () => {
    const missing = path.join(dir, "missing.yaml");
    expectUsageError(await policy("test", missing), `${missing}: file not found`);
  });
});

describe.concurrent("usage and configuration errors", () => {
  it("exits 2 with every configuration error", async () => {
    const empty = await mkdtemp(path.join(tmpdir(), "gw-policy-cli-empty-"));
    try {
      expectUsageError(
        await policy("matrix", "--config-dir", empty),
        /^invalid configuration in .*\n {2}tools\.yaml: file not found\n {2}policy\.yaml: file not found\n$/,
      );
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  it.each([
    [[], /^no command\n/],
    [["lint"], /^unknown command lint\n/],
    [["matrix", "--tool", "git.git_log"], /^matrix does not take --tool\n/],
    [["matrix", "extra"], /^matrix takes no argument\n/],
    [["test"], /^test needs one file\n/],
    [["matrix", "--verbose"], /^Unknown option '--verbose'/],
  ])("exits 2 with the usage for %j", async (args, message) => {
    const outcome = await policy(...args);
    expectUsageError(outcome, message);
    expect(outcome.stderr).toContain(USAGE);
  });

  it("prints the usage on --help", async () => {
    const outcome = await policy("--help");
    expect(outcome.code).toBe(0);
    expect(outcome.stdout).toContain(USAGE);
  });
});
