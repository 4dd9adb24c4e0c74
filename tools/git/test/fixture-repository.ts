import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createGitRunner, type GitRunner } from "../src/git-runner.ts";
import { openRepositories, type RepositoryRegistry } from "../src/repositories.ts";
import { DEFAULT_LIMITS, type GitToolContext, type GitToolLimits } from "../src/tool-context.ts";

/** A throw-away repository with known authors, dates and content, built with plain git. */
export type FixtureRepository = {
  root: string;
  repoDir: string;
  /** A directory beside the repository that symlinks in it point to. */
  outsideDir: string;
  commits: {
    initial: string;
    binary: string;
    rename: string;
    huge: string;
    feature: string;
  };
  git(args: string[], extraEnv?: Record<string, string>): string;
  cleanup(): void;
};

export const AUTHORS = {
  alice: { name: "Alice Example", email: "alice@example.test" },
  bob: { name: "Bob Example", email: "bob@example.test" },
  carol: { name: "Carol Example", email: "carol@example.test" },
} as const;

export const HUGE_FILE_BYTES = 3 * 1024 * 1024;
export const OUTSIDE_SECRET = "TOP-SECRET-OUTSIDE-THE-REPOSITORY";

export function buildFixtureRepository(): FixtureRepository {
  const root = mkdtempSync(join(tmpdir(), "git-tool-fixture-"));
  const repoDir = join(root, "repo");
  const outsideDir = join(root, "outside");
  const home = join(root, "home");
  mkdirSync(repoDir);
  mkdirSync(outsideDir);
  mkdirSync(home);
  writeFileSync(join(outsideDir, "secret.txt"), `${OUTSIDE_SECRET}\n`);

  const baseEnv = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: home,
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    TZ: "UTC",
  };
  const git = (args: string[], extraEnv: Record<string, string> = {}): string =>
    execFileSync("git", args, { cwd: repoDir, env: { ...baseEnv, ...extraEnv } }).toString("utf8");
  const write = (path: string, content: string | Buffer): void => {
    mkdirSync(dirname(join(repoDir, path)), { recursive: true });
    writeFileSync(join(repoDir, path), content);
  };
  const commit = (who: keyof typeof AUTHORS, date: string, message: string | Buffer): string => {
    const person = AUTHORS[who];
    const env = {
      GIT_AUTHOR_NAME: person.name,
      GIT_AUTHOR_EMAIL: person.email,
      GIT_AUTHOR_DATE: date,
      GIT_COMMITTER_NAME: person.name,
      GIT_COMMITTER_EMAIL: person.email,
      GIT_COMMITTER_DATE: date,
    };
    git(["add", "-A"]);
    const messageFile = join(root, "message.txt");
    writeFileSync(messageFile, message);
    git(["commit", "-q", "--cleanup=verbatim", "-F", messageFile], env);
    return git(["rev-parse", "HEAD"]).trim();
  };

  git(["init", "-q", "-b", "main"]);
  write("README.md", "# Fixture\nhello world\n");
  write("src/app.txt", "first line\nsecond line\nthird line\n");
  const initial = commit("alice", "2024-01-01T10:00:00Z", "Initial commit\n\nWith a body.\n");

  write("src/app.txt", "first line\nsecond line\nthe needle is here\nthird line\n");
  write("assets/logo.bin", Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0x01, 0xff, 0xfe, 0x00]));
  write("latin1.txt", Buffer.from("caf\xe9 cr\xe8me\n", "latin1"));
  const binary = commit("bob", "2024-01-02T11:00:00Z", "Add binary and latin-1 files\n");
  git(["tag", "v1"]);

  git(["mv", "src/app.txt", "src/main.txt"]);
  symlinkSync(outsideDir, join(repoDir, "outside"));
  symlinkSync("../../..", join(repoDir, "escape"));
  // A commit message that is not UTF-8 (and has no encoding header).
  const rename = commit(
    "alice",
    "2024-01-03T12:00:00Z",
    Buffer.from("Rename app to main, caf\xe9\n", "latin1"),
  );

  const line = "0123456789 filler text for a huge file\n";
  write("big.txt", line.repeat(Math.ceil(HUGE_FILE_BYTES / line.length)));
  const huge = commit("carol", "2024-01-04T13:00:00Z", "Add a huge file\n");

  git(["checkout", "-q", "-b", "feature", binary]);
  write("feature.txt", "feature work\n");
  const feature = commit("carol", "2024-01-05T14:00:00Z", "Feature work\n");
  git(["checkout", "-q", "main"]);

  return {
    root,
    repoDir,
    outsideDir,
    commits: { initial, binary, rename, huge, feature },
    git,
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

export type FixtureContext = GitToolContext & { close(): void };

export async function openFixture(
  fixture: FixtureRepository,
  limits: Partial<GitToolLimits> = {},
  runnerOptions: { timeoutMs?: number } = {},
): Promise<FixtureContext> {
  const merged = { ...DEFAULT_LIMITS, ...limits };
  const runner: GitRunner = createGitRunner({
    timeoutMs: runnerOptions.timeoutMs ?? 20_000,
    maxOutputBytes: merged.maxOutputBytes,
  });
  const opened = await openRepositories({ fixture: fixture.repoDir }, runner);
  if (!opened.ok) throw new Error(opened.error);
  const repositories: RepositoryRegistry = opened.value;
  return { runner, repositories, limits: merged, close: () => runner.close() };
}
