import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGitRunner, type GitSubcommand } from "../src/git-runner.ts";
import { createRepositoryRegistry } from "../src/repositories.ts";
import { DEFAULT_LIMITS } from "../src/tool-context.ts";
import { gitListFiles, ListFilesArgsSchema } from "../src/tools/git-list-files.ts";
import { gitLog, LogArgsSchema } from "../src/tools/git-log.ts";
import {
  buildFixtureRepository,
  HUGE_FILE_BYTES,
  type FixtureRepository,
} from "./fixture-repository.ts";

let fixture: FixtureRepository;
let gitDir: string;
const scratch = mkdtempSync(join(tmpdir(), "git-runner-test-"));

beforeAll(() => {
  fixture = buildFixtureRepository();
  gitDir = join(fixture.repoDir, ".git");
});
afterAll(() => {
  fixture.cleanup();
  rmSync(scratch, { recursive: true, force: true });
});

describe("createGitRunner", () => {
  it("runs an allowlisted subcommand against the given git directory", async () => {
    const runner = createGitRunner({ timeoutMs: 10_000, maxOutputBytes: 1024 });
    const out = await runner.run({ gitDir, subcommand: "rev-parse", args: ["HEAD"] });
    expect(out).toMatchObject({ ok: true, truncated: false });
    expect(out.ok && out.stdout.toString().trim()).toBe(fixture.commits.huge);
    runner.close();
  });

  it("refuses subcommands outside the allowlist without spawning", async () => {
    const runner = createGitRunner({ timeoutMs: 10_000, maxOutputBytes: 1024 });
    for (const subcommand of ["config", "push", "fetch", "-c", "--exec-path=/tmp", "archive"]) {
      expect(
        await runner.run({ gitDir, subcommand: subcommand as GitSubcommand, args: [] }),
      ).toEqual({ ok: false, failure: { reason: "subcommand_not_allowed", stderr: "" } });
    }
    runner.close();
  });

  it("refuses NUL bytes in arguments", async () => {
    const runner = createGitRunner({ timeoutMs: 10_000, maxOutputBytes: 1024 });
    expect(
      await runner.run({ gitDir, subcommand: "log", args: ["HEAD\0--output=x"] }),
    ).toMatchObject({ ok: false, failure: { reason: "invalid_argument" } });
    runner.close();
  });

  it("fails with output_too_large over the cap, or truncates when asked", async () => {
    const runner = createGitRunner({ timeoutMs: 10_000, maxOutputBytes: 64 * 1024 });
    const args = ["-p", `${fixture.commits.huge}:big.txt`];
    expect(await runner.run({ gitDir, subcommand: "cat-file", args })).toMatchObject({
      ok: false,
      failure: { reason: "output_too_large" },
    });
    const truncated = await runner.run({
      gitDir,
      subcommand: "cat-file",
      args,
      onOverflow: "truncate",
    });
    expect(truncated).toMatchObject({ ok: true, truncated: true });
    expect(truncated.ok && truncated.stdout.length).toBe(64 * 1024);
    const full = await runner.run({
      gitDir,
      subcommand: "cat-file",
      args,
      maxOutputBytes: 2 * HUGE_FILE_BYTES,
    });
    expect(full).toMatchObject({ ok: true, truncated: false });
    runner.close();
  });

  it("kills a git that runs past the time limit", async () => {
    const pidFile = join(scratch, "pid");
    const fake = join(scratch, "slow-git");
    writeFileSync(fake, `#!/bin/sh\necho $$ > ${pidFile}\nexec sleep 30\n`);
    chmodSync(fake, 0o755);
    const runner = createGitRunner({ gitBinary: fake, timeoutMs: 300, maxOutputBytes: 1024 });
    const started = Date.now();
    const out = await runner.run({ gitDir, subcommand: "log", args: [] });
    expect(out).toMatchObject({ ok: false, failure: { reason: "timeout" } });
    expect(Date.now() - started).toBeLessThan(10_000);
    const pid = Number.parseInt((await import("node:fs")).readFileSync(pidFile, "utf8"), 10);
    expect(() => process.kill(pid, 0)).toThrow();
    runner.close();
  });

  it("passes no GIT_* variable or config from the server's environment to git", async () => {
    const envFile = join(scratch, "env.txt");
    const fake = join(scratch, "env-git");
    writeFileSync(fake, `#!/bin/sh\nenv > ${envFile}\necho "$@" >> ${envFile}\n`);
    chmodSync(fake, 0o755);
    const saved = { ...process.env };
    process.env.GIT_DIR = "/nonexistent";
    process.env.GIT_WORK_TREE = "/nonexistent";
    process.env.GIT_CONFIG_PARAMETERS = "'core.pager'='touch x'";
    process.env.GIT_EXEC_PATH = "/nonexistent";
    process.env.SECRET_TOKEN = "do-not-leak";
    try {
      const runner = createGitRunner({ gitBinary: fake, timeoutMs: 10_000, maxOutputBytes: 1024 });
      await runner.run({ gitDir, subcommand: "log", args: [] });
      runner.close();
      const seen = (await import("node:fs")).readFileSync(envFile, "utf8");
      expect(seen).not.toMatch(/GIT_DIR=|GIT_WORK_TREE=|GIT_CONFIG_PARAMETERS=|GIT_EXEC_PATH=/);
      expect(seen).not.toContain("do-not-leak");
      for (const expected of [
        "GIT_CONFIG_NOSYSTEM=1",
        "GIT_CONFIG_GLOBAL=/dev/null",
        "GIT_TERMINAL_PROMPT=0",
        "GIT_OPTIONAL_LOCKS=0",
        "GIT_PAGER=cat",
        "GIT_LITERAL_PATHSPECS=1",
      ]) {
        expect(seen).toContain(expected);
      }
      expect(seen).toContain("core.hooksPath=/dev/null");
      expect(seen).toContain("core.fsmonitor=false");
      expect(seen).toContain("protocol.allow=never");
      expect(seen).toContain(`--no-pager --git-dir=${gitDir}`);
      // HOME is a private empty directory, removed on close.
      const home = /^HOME=(.*)$/m.exec(seen)?.[1] ?? "";
      expect(home).toContain("git-tool-home-");
      expect(existsSync(home)).toBe(false);
    } finally {
      process.env = saved;
    }
  });

  it("ignores GIT_DIR in the environment when running real git", async () => {
    const saved = process.env.GIT_DIR;
    process.env.GIT_DIR = "/nonexistent";
    try {
      const runner = createGitRunner({ timeoutMs: 10_000, maxOutputBytes: 1024 });
      const out = await runner.run({ gitDir, subcommand: "rev-parse", args: ["HEAD"] });
      expect(out.ok && out.stdout.toString().trim()).toBe(fixture.commits.huge);
      runner.close();
    } finally {
      if (saved === undefined) delete process.env.GIT_DIR;
      else process.env.GIT_DIR = saved;
    }
  });

  it("reports a non-zero exit with its code and keeps stderr internal", async () => {
    const runner = createGitRunner({ timeoutMs: 10_000, maxOutputBytes: 1024 });
    const out = await runner.run({ gitDir, subcommand: "rev-parse", args: ["--verify", "nope"] });
    expect(out).toMatchObject({ ok: false, failure: { reason: "exit_code", exitCode: 128 } });
    runner.close();
  });

  it("reports a missing git binary as spawn_failed", async () => {
    const runner = createGitRunner({
      gitBinary: join(scratch, "no-such-git"),
      timeoutMs: 10_000,
      maxOutputBytes: 1024,
    });
    expect(await runner.run({ gitDir, subcommand: "log", args: [] })).toMatchObject({
      ok: false,
      failure: { reason: "spawn_failed" },
    });
    runner.close();
  });
});

describe("caps seen through a tool", () => {
  it("turns a timeout into a clear tool error", async () => {
    const fake = join(scratch, "slow-git-2");
    writeFileSync(fake, "#!/bin/sh\nexec sleep 30\n");
    chmodSync(fake, 0o755);
    const runner = createGitRunner({ gitBinary: fake, timeoutMs: 200, maxOutputBytes: 1024 });
    const repositories = createRepositoryRegistry([{ name: "r", gitDir, bare: false }]);
    const outcome = await gitLog(
      { runner, repositories, limits: DEFAULT_LIMITS },
      LogArgsSchema.parse({ repository: "r" }),
    );
    expect(outcome).toEqual({
      ok: false,
      error: {
        code: "timeout",
        message:
          "resolving the revision: git did not finish within the server's time limit; narrow the request",
      },
    });
    runner.close();
  });

  it("turns oversized output into output_too_large", async () => {
    const runner = createGitRunner({ timeoutMs: 10_000, maxOutputBytes: 200 });
    const repositories = createRepositoryRegistry([{ name: "r", gitDir, bare: false }]);
    const outcome = await gitListFiles(
      { runner, repositories, limits: { ...DEFAULT_LIMITS, maxOutputBytes: 200 } },
      ListFilesArgsSchema.parse({ repository: "r" }),
    );
    expect(outcome).toMatchObject({ ok: false, error: { code: "output_too_large" } });
    runner.close();
  });
});
