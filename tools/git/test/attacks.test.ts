import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { BlameArgsSchema, gitBlame } from "../src/tools/git-blame.ts";
import { DiffArgsSchema, gitDiff } from "../src/tools/git-diff.ts";
import { gitGrep, GrepArgsSchema } from "../src/tools/git-grep.ts";
import { gitListFiles, ListFilesArgsSchema } from "../src/tools/git-list-files.ts";
import { gitLog, LogArgsSchema } from "../src/tools/git-log.ts";
import { gitReadFile, ReadFileArgsSchema } from "../src/tools/git-read-file.ts";
import { gitSearchCommits, SearchCommitsArgsSchema } from "../src/tools/git-search-commits.ts";
import { gitShowCommit, ShowCommitArgsSchema } from "../src/tools/git-show-commit.ts";
import {
  buildFixtureRepository,
  openFixture,
  OUTSIDE_SECRET,
  type FixtureContext,
  type FixtureRepository,
} from "./fixture-repository.ts";

let fixture: FixtureRepository;
let context: FixtureContext;
/** Every attack that would write a file or run a program aims here; it must stay empty. */
const trap = mkdtempSync(join(tmpdir(), "git-tool-trap-"));

beforeAll(async () => {
  fixture = buildFixtureRepository();
  context = await openFixture(fixture);
});
afterAll(() => {
  context.close();
  fixture.cleanup();
  rmSync(trap, { recursive: true, force: true });
});
afterEach(() => {
  expect(readdirSync(trap)).toEqual([]);
});

const repository = "fixture";
const touch = (name: string) => `sh -c 'touch ${join(trap, name)}'`;

describe("option injection through revisions", () => {
  const hostile = [
    `--output=${join(trap, "output")}`,
    `-O${touch("pager")}`,
    `--open-files-in-pager=${touch("pager2")}`,
    `--upload-pack=${touch("upload")}`,
    "-c",
    "--exec-path=/tmp",
    "-p",
  ];

  it.each(hostile.map((rev) => [rev]))("refuses %s as a revision in every tool", async (rev) => {
    const outcomes = await Promise.all([
      gitLog(context, LogArgsSchema.parse({ repository, revision: rev })),
      gitShowCommit(context, ShowCommitArgsSchema.parse({ repository, revision: rev })),
      gitDiff(context, DiffArgsSchema.parse({ repository, revision: `HEAD..${rev}` })),
      gitDiff(context, DiffArgsSchema.parse({ repository, revision: `${rev}..HEAD` })),
      gitGrep(context, GrepArgsSchema.parse({ repository, revision: rev, pattern: "x" })),
      gitBlame(context, BlameArgsSchema.parse({ repository, revision: rev, path: "README.md" })),
      gitListFiles(context, ListFilesArgsSchema.parse({ repository, revision: rev })),
      gitReadFile(context, ReadFileArgsSchema.parse({ repository, revision: rev, path: "a" })),
      gitSearchCommits(
        context,
        SearchCommitsArgsSchema.parse({ repository, revision: rev, pattern: "x" }),
      ),
    ]);
    for (const outcome of outcomes) {
      expect(outcome).toMatchObject({ ok: false, error: { code: "invalid_revision" } });
    }
  });

  it("reports a missing revision as revision_not_found", async () => {
    for (const revision of [
      "does-not-exist",
      "0000000000000000000000000000000000000000",
      "HEAD~99",
    ]) {
      expect(await gitLog(context, LogArgsSchema.parse({ repository, revision }))).toMatchObject({
        ok: false,
        error: { code: "revision_not_found" },
      });
    }
    // A blob is not a commit.
    const blob = fixture.git(["rev-parse", "HEAD:README.md"]).trim();
    expect(
      await gitShowCommit(context, ShowCommitArgsSchema.parse({ repository, revision: blob })),
    ).toMatchObject({ ok: false, error: { code: "revision_not_found" } });
  });

  it("refuses control characters and over-long revisions", async () => {
    for (const revision of ["HEAD\nmain", "HEAD\0", "a".repeat(300)]) {
      const parsed = LogArgsSchema.safeParse({ repository, revision });
      if (!parsed.success) continue;
      expect(await gitLog(context, parsed.data)).toMatchObject({
        ok: false,
        error: { code: "invalid_revision" },
      });
    }
  });
});

describe("option injection through patterns and filters", () => {
  it("treats option-like grep patterns as text", async () => {
    for (const pattern of [
      `-O${touch("grep-pager")}`,
      `--open-files-in-pager=${touch("grep-pager2")}`,
      `--output=${join(trap, "grep-output")}`,
      "-c",
      "--no-index",
    ]) {
      const outcome = await gitGrep(context, GrepArgsSchema.parse({ repository, pattern }));
      expect(outcome).toMatchObject({ ok: true, value: { matches: [] } });
    }
  });

  it("treats option-like pickaxe patterns, authors and messages as text", async () => {
    for (const pattern of [`--output=${join(trap, "pickaxe")}`, `-O${touch("pickaxe-pager")}`]) {
      for (const match of ["string", "regex"] as const) {
        const outcome = await gitSearchCommits(
          context,
          SearchCommitsArgsSchema.parse({
            repository,
            pattern: pattern.replace(/[()]/g, ""),
            match,
          }),
        );
        expect(outcome).toMatchObject({ ok: true, value: { commits: [] } });
      }
      const log = await gitLog(
        context,
        LogArgsSchema.parse({ repository, pattern, author: `--output=${join(trap, "author")}` }),
      );
      expect(log).toMatchObject({ ok: true, value: { commits: [] } });
    }
    expect(existsSync(join(trap, "pickaxe"))).toBe(false);
  });

  it("treats option-like paths as paths after --", async () => {
    const outcome = await gitLog(
      context,
      LogArgsSchema.parse({ repository, path: `--output=${join(trap, "log-path")}`.slice(1) }),
    );
    expect(outcome).toMatchObject({ ok: true, value: { commits: [] } });
    const listing = await gitListFiles(
      context,
      ListFilesArgsSchema.parse({ repository, path: "-r" }),
    );
    expect(listing).toMatchObject({ ok: false, error: { code: "path_not_found" } });
  });
});

describe("paths", () => {
  const badPaths = ["../outside/secret.txt", "src/../../x", "/etc/passwd", "./..", "a//b", "a\0b"];

  it.each(badPaths.map((p) => [p]))("refuses %j in every path-taking tool", async (path) => {
    const outcomes = await Promise.all([
      gitReadFile(context, ReadFileArgsSchema.parse({ repository, path })),
      gitBlame(context, BlameArgsSchema.parse({ repository, path })),
      gitListFiles(context, ListFilesArgsSchema.parse({ repository, path })),
      gitLog(context, LogArgsSchema.parse({ repository, path })),
      gitGrep(context, GrepArgsSchema.parse({ repository, pattern: "x", path })),
      gitDiff(context, DiffArgsSchema.parse({ repository, revision: "v1..main", path })),
      gitSearchCommits(context, SearchCommitsArgsSchema.parse({ repository, pattern: "x", path })),
    ]);
    for (const outcome of outcomes) {
      expect(outcome).toMatchObject({ ok: false, error: { code: "invalid_path" } });
    }
  });

  it("reports a symlink pointing outside as a link and never follows it", async () => {
    const link = await gitReadFile(
      context,
      ReadFileArgsSchema.parse({ repository, path: "outside" }),
    );
    expect(link).toMatchObject({
      ok: true,
      value: { type: "symlink", symlink_target: fixture.outsideDir },
    });
    expect(JSON.stringify(link)).not.toContain(OUTSIDE_SECRET);
    for (const path of ["outside/secret.txt", "escape/etc/passwd"]) {
      expect(
        await gitReadFile(context, ReadFileArgsSchema.parse({ repository, path })),
      ).toMatchObject({ ok: false, error: { code: "invalid_path" } });
      expect(await gitBlame(context, BlameArgsSchema.parse({ repository, path }))).toMatchObject({
        ok: false,
        error: { code: "invalid_path" },
      });
    }
    const grep = await gitGrep(
      context,
      GrepArgsSchema.parse({ repository, pattern: OUTSIDE_SECRET, path: "outside" }),
    );
    expect(grep).toMatchObject({ ok: true, value: { matches: [] } });
    const listing = await gitListFiles(
      context,
      ListFilesArgsSchema.parse({ repository, path: "outside/" }),
    );
    expect(JSON.stringify(listing)).not.toContain("secret.txt");
  });
});

describe("repositories and cursors", () => {
  it("refuses an unknown repository without touching git", async () => {
    for (const name of ["nope", "../repo", "--upload-pack=x"]) {
      expect(await gitLog(context, LogArgsSchema.parse({ repository: name }))).toMatchObject({
        ok: false,
        error: { code: "unknown_repository" },
      });
    }
  });

  it("refuses forged cursors", async () => {
    const forged = Buffer.from(JSON.stringify({ v: 1, o: 1, q: "0123456789abcdef" })).toString(
      "base64url",
    );
    for (const cursor of ["not a cursor", forged, "e30", "x".repeat(600)]) {
      const parsed = LogArgsSchema.safeParse({ repository, cursor });
      if (!parsed.success) continue;
      expect(await gitLog(context, parsed.data)).toMatchObject({
        ok: false,
        error: { code: "invalid_cursor" },
      });
    }
  });
});

describe("hostile repository configuration", () => {
  it("runs no textconv, external diff, pager or fsmonitor configured in the repository", async () => {
    const marker = join(trap, "repo-config");
    const script = join(fixture.root, "evil.sh");
    writeFileSync(script, `#!/bin/sh\ntouch ${marker}\ncat "$@"\n`, { mode: 0o755 });
    fixture.git(["config", "diff.evil.textconv", script]);
    fixture.git(["config", "diff.external", script]);
    fixture.git(["config", "core.pager", script]);
    fixture.git(["config", "core.fsmonitor", script]);
    fixture.git(["config", "core.hooksPath", fixture.root]);
    writeFileSync(join(fixture.repoDir, ".git", "info", "attributes"), "* diff=evil\n");
    try {
      const calls: Array<[string, () => Promise<unknown>]> = [
        [
          "show",
          () =>
            gitShowCommit(
              context,
              ShowCommitArgsSchema.parse({ repository, revision: fixture.commits.binary }),
            ),
        ],
        [
          "diff",
          () =>
            gitDiff(
              context,
              DiffArgsSchema.parse({ repository, revision: "v1..main", format: "patch" }),
            ),
        ],
        [
          "search",
          () =>
            gitSearchCommits(
              context,
              SearchCommitsArgsSchema.parse({ repository, pattern: "needle" }),
            ),
        ],
        [
          "log",
          () =>
            gitLog(
              context,
              LogArgsSchema.parse({ repository, path: "src/main.txt", follow_renames: true }),
            ),
        ],
        ["grep", () => gitGrep(context, GrepArgsSchema.parse({ repository, pattern: "needle" }))],
        [
          "blame",
          () => gitBlame(context, BlameArgsSchema.parse({ repository, path: "src/main.txt" })),
        ],
        [
          "read",
          () =>
            gitReadFile(context, ReadFileArgsSchema.parse({ repository, path: "src/main.txt" })),
        ],
      ];
      for (const [name, call] of calls) {
        expect(await call()).toMatchObject({ ok: true });
        expect({ name, ran: existsSync(marker) }).toEqual({ name, ran: false });
      }
      expect(existsSync(marker)).toBe(false);
    } finally {
      for (const key of [
        "diff.evil.textconv",
        "diff.external",
        "core.pager",
        "core.fsmonitor",
        "core.hooksPath",
      ]) {
        fixture.git(["config", "--unset", key]);
      }
      rmSync(join(fixture.repoDir, ".git", "info", "attributes"));
    }
  });
});
