import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gitBlame, BlameArgsSchema } from "../src/tools/git-blame.ts";
import { gitDiff, DiffArgsSchema } from "../src/tools/git-diff.ts";
import { gitGrep, GrepArgsSchema } from "../src/tools/git-grep.ts";
import { gitListFiles, ListFilesArgsSchema } from "../src/tools/git-list-files.ts";
import { gitListRepositories } from "../src/tools/git-list-repositories.ts";
import { gitLog, LogArgsSchema } from "../src/tools/git-log.ts";
import { gitReadFile, ReadFileArgsSchema } from "../src/tools/git-read-file.ts";
import { gitSearchCommits, SearchCommitsArgsSchema } from "../src/tools/git-search-commits.ts";
import { gitShowCommit, ShowCommitArgsSchema } from "../src/tools/git-show-commit.ts";
import type { ToolOutcome } from "../src/tool-result.ts";
import {
  AUTHORS,
  buildFixtureRepository,
  HUGE_FILE_BYTES,
  openFixture,
  type FixtureContext,
  type FixtureRepository,
} from "./fixture-repository.ts";

let fixture: FixtureRepository;
let context: FixtureContext;

beforeAll(async () => {
  fixture = buildFixtureRepository();
  context = await openFixture(fixture);
});
afterAll(() => {
  context.close();
  fixture.cleanup();
});

function value<T>(outcome: ToolOutcome<T>): T {
  if (!outcome.ok) throw new Error(`expected success, got ${JSON.stringify(outcome.error)}`);
  return outcome.value;
}

describe("git_list_repositories", () => {
  it("lists the allowlisted repository with its HEAD, without its path", async () => {
    const out = value(await gitListRepositories(context, {}));
    expect(out.repositories).toEqual([
      { name: "fixture", bare: false, head_ref: "refs/heads/main", head_sha: fixture.commits.huge },
    ]);
    expect(JSON.stringify(out)).not.toContain(fixture.root);
  });
});

describe("git_log", () => {
  const log = (args: Record<string, unknown>) =>
    gitLog(context, LogArgsSchema.parse({ repository: "fixture", ...args }));

  it("returns commits newest first with authors and dates", async () => {
    const out = value(await log({}));
    expect(out.commits.map((c) => c.sha)).toEqual([
      fixture.commits.huge,
      fixture.commits.rename,
      fixture.commits.binary,
      fixture.commits.initial,
    ]);
    const first = out.commits[3]!;
    expect(first.author).toEqual({ ...AUTHORS.alice, date: "2024-01-01T10:00:00+00:00" });
    expect(first.subject).toBe("Initial commit");
    expect(first.message).toBe("Initial commit\n\nWith a body.");
    expect(first.parents).toEqual([]);
    expect(out.commits[0]!.parents).toEqual([fixture.commits.rename]);
    expect(out.next_cursor).toBeUndefined();
  });

  it("returns a commit message that was not UTF-8 as git re-encodes it", async () => {
    const out = value(await log({ revision: fixture.commits.rename, max_count: 1 }));
    expect(out.commits[0]!.subject).toBe("Rename app to main, caf\u00e9");
    expect(out.lossy_utf8).toBe(false);
  });

  it("paginates with an opaque cursor bound to the query", async () => {
    const page1 = value(await log({ max_count: 3 }));
    expect(page1.commits).toHaveLength(3);
    expect(page1.next_cursor).toBeTypeOf("string");
    const page2 = value(await log({ max_count: 3, cursor: page1.next_cursor }));
    expect(page2.commits.map((c) => c.sha)).toEqual([fixture.commits.initial]);
    expect(page2.next_cursor).toBeUndefined();
    const replayed = await log({ max_count: 3, cursor: page1.next_cursor, author: "Bob" });
    expect(replayed).toMatchObject({ ok: false, error: { code: "invalid_cursor" } });
  });

  it("filters by range, path, author, dates and message", async () => {
    const range = value(await log({ revision: `${fixture.commits.binary}..main` }));
    expect(range.commits.map((c) => c.sha)).toEqual([fixture.commits.huge, fixture.commits.rename]);
    const symmetric = value(await log({ revision: "main...feature" }));
    expect(symmetric.commits.map((c) => c.sha).sort()).toEqual(
      [fixture.commits.huge, fixture.commits.rename, fixture.commits.feature].sort(),
    );
    const byPath = value(await log({ path: "src/app.txt" }));
    expect(byPath.commits.map((c) => c.sha)).toEqual([
      fixture.commits.rename,
      fixture.commits.binary,
      fixture.commits.initial,
    ]);
    const followed = value(await log({ path: "src/main.txt", follow_renames: true }));
    expect(followed.commits).toHaveLength(3);
    const byAuthor = value(await log({ author: "bob@example.test" }));
    expect(byAuthor.commits.map((c) => c.sha)).toEqual([fixture.commits.binary]);
    const byDate = value(await log({ since: "2024-01-02", until: "2024-01-03T23:00:00Z" }));
    expect(byDate.commits.map((c) => c.sha)).toEqual([
      fixture.commits.rename,
      fixture.commits.binary,
    ]);
    const byMessage = value(await log({ pattern: "BINARY", ignore_case: true }));
    expect(byMessage.commits.map((c) => c.sha)).toEqual([fixture.commits.binary]);
    const byRegex = value(await log({ pattern: "^Add (a|binary)", fixed_strings: false }));
    expect(byRegex.commits).toHaveLength(2);
  });

  it("rejects bad filters with specific errors", async () => {
    expect(LogArgsSchema.safeParse({ repository: "fixture", since: "yesterday" }).success).toBe(
      false,
    );
    expect(LogArgsSchema.safeParse({ repository: "fixture", max_count: 0 }).success).toBe(false);
    expect(LogArgsSchema.safeParse({ repository: "fixture", extra: 1 }).success).toBe(false);
    const badRegex = await log({ pattern: "(unclosed", fixed_strings: false });
    expect(badRegex).toMatchObject({ ok: false, error: { code: "invalid_argument" } });
  });
});

describe("git_show_commit", () => {
  const show = (args: Record<string, unknown>) =>
    gitShowCommit(context, ShowCommitArgsSchema.parse({ repository: "fixture", ...args }));

  it("shows metadata, file stats with binary files, and the patch", async () => {
    const out = value(await show({ revision: "v1" }));
    expect(out.commit.sha).toBe(fixture.commits.binary);
    expect(out.commit.author.name).toBe(AUTHORS.bob.name);
    expect(out.files).toEqual(
      expect.arrayContaining([
        {
          path: "assets/logo.bin",
          status: "added",
          additions: null,
          deletions: null,
          binary: true,
        },
        { path: "src/app.txt", status: "modified", additions: 1, deletions: 0, binary: false },
      ]),
    );
    expect(out.patch).toContain("+the needle is here");
    expect(out.patch).toContain("Binary files /dev/null and b/assets/logo.bin differ");
    expect(out.patch_truncated).toBe(false);
    // latin1.txt's added line is not UTF-8.
    expect(out.lossy_utf8).toBe(true);
  });

  it("reports a rename and a root commit", async () => {
    const renamed = value(await show({ revision: fixture.commits.rename, include_patch: false }));
    expect(renamed.files).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          path: "src/main.txt",
          old_path: "src/app.txt",
          status: "renamed",
        }),
        expect.objectContaining({ path: "outside", status: "added" }),
      ]),
    );
    expect(renamed.patch).toBeNull();
    const root = value(await show({ revision: fixture.commits.initial }));
    expect(root.files.map((f) => f.path).sort()).toEqual(["README.md", "src/app.txt"]);
  });

  it("caps the patch of a huge commit and says so", async () => {
    const out = value(await show({ revision: fixture.commits.huge }));
    expect(out.files).toEqual([
      expect.objectContaining({ path: "big.txt", status: "added", binary: false }),
    ]);
    expect(out.patch_truncated).toBe(true);
    expect(Buffer.byteLength(out.patch ?? "")).toBeLessThanOrEqual(context.limits.maxPatchBytes);
  });
});

describe("git_diff", () => {
  const diff = (args: Record<string, unknown>) =>
    gitDiff(context, DiffArgsSchema.parse({ repository: "fixture", ...args }));

  it("lists changed files between two revisions (stat)", async () => {
    const out = value(
      await diff({ revision: `${fixture.commits.initial}..${fixture.commits.rename}` }),
    );
    expect(out.from).toBe(fixture.commits.initial);
    expect(out.to).toBe(fixture.commits.rename);
    expect(out.patch).toBeNull();
    expect(out.files.map((f) => f.path).sort()).toEqual([
      "assets/logo.bin",
      "escape",
      "latin1.txt",
      "outside",
      "src/main.txt",
    ]);
  });

  it("limits to paths and returns a patch", async () => {
    const out = value(await diff({ revision: "v1~1..v1", path: ["src/app.txt"], format: "patch" }));
    expect(out.files).toEqual([expect.objectContaining({ path: "src/app.txt", additions: 1 })]);
    expect(out.patch).toContain("+the needle is here");
    expect(out.patch).not.toContain("logo.bin");
  });

  it("uses the merge base for a...b", async () => {
    const out = value(await diff({ revision: "main...feature" }));
    expect(out.from).toBe(fixture.commits.binary);
    expect(out.files.map((f) => f.path)).toEqual(["feature.txt"]);
  });

  it("needs a range", async () => {
    expect(await diff({ revision: "HEAD" })).toMatchObject({
      ok: false,
      error: { code: "invalid_revision" },
    });
  });
});

describe("git_grep", () => {
  const grep = (args: Record<string, unknown>) =>
    gitGrep(context, GrepArgsSchema.parse({ repository: "fixture", ...args }));

  it("finds a fixed string with path, line and column", async () => {
    const out = value(await grep({ pattern: "needle is" }));
    expect(out.revision).toBe(fixture.commits.huge);
    expect(out.matches).toEqual([
      { path: "src/main.txt", line: 3, column: 5, text: "the needle is here" },
    ]);
  });

  it("supports regex, case folding, path filters and a revision", async () => {
    const regex = value(await grep({ pattern: "^(first|third) line$", fixed_strings: false }));
    expect(regex.matches.map((m) => m.line)).toEqual([1, 4]);
    const folded = value(await grep({ pattern: "HELLO", ignore_case: true }));
    expect(folded.matches.map((m) => m.path)).toEqual(["README.md"]);
    const filtered = value(await grep({ pattern: "line", path: "README.md" }));
    expect(filtered.matches).toEqual([]);
    const old = value(await grep({ pattern: "needle", revision: fixture.commits.initial }));
    expect(old.matches).toEqual([]);
  });

  it("skips binary files, flags non-UTF-8 lines and paginates", async () => {
    const latin = value(await grep({ pattern: "caf" }));
    expect(latin.matches).toEqual([expect.objectContaining({ path: "latin1.txt", line: 1 })]);
    expect(latin.lossy_utf8).toBe(true);
    expect(value(await grep({ pattern: "PNG" })).matches).toEqual([]);
    const page1 = value(await grep({ pattern: "line", max_count: 2 }));
    expect(page1.matches).toHaveLength(2);
    const page2 = value(await grep({ pattern: "line", max_count: 2, cursor: page1.next_cursor }));
    expect(page2.matches.map((m) => m.line)).not.toEqual(page1.matches.map((m) => m.line));
  });

  it("rejects an invalid regular expression as a tool error", async () => {
    expect(await grep({ pattern: "a{2,1}", fixed_strings: false })).toMatchObject({
      ok: false,
      error: { code: "invalid_argument" },
    });
  });
});

describe("git_blame", () => {
  const blame = (args: Record<string, unknown>) =>
    gitBlame(context, BlameArgsSchema.parse({ repository: "fixture", ...args }));

  it("attributes each line to its commit, across the rename", async () => {
    const out = value(await blame({ path: "src/main.txt" }));
    expect(out.lines.map((l) => [l.line, l.commit, l.text])).toEqual([
      [1, fixture.commits.initial, "first line"],
      [2, fixture.commits.initial, "second line"],
      [3, fixture.commits.binary, "the needle is here"],
      [4, fixture.commits.initial, "third line"],
    ]);
    expect(out.lines[0]!.original_path).toBe("src/app.txt");
    expect(out.commits[fixture.commits.binary]).toEqual({
      author: AUTHORS.bob.name,
      author_email: AUTHORS.bob.email,
      author_time: "2024-01-02T11:00:00.000Z",
      summary: "Add binary and latin-1 files",
    });
  });

  it("honours a line range and rejects one outside the file", async () => {
    const out = value(await blame({ path: "src/main.txt", start_line: 3, end_line: 3 }));
    expect(out.lines.map((l) => l.text)).toEqual(["the needle is here"]);
    expect(await blame({ path: "src/main.txt", start_line: 50 })).toMatchObject({
      ok: false,
      error: { code: "invalid_argument" },
    });
    expect(
      BlameArgsSchema.safeParse({ repository: "x", path: "a", start_line: 5, end_line: 2 }).success,
    ).toBe(false);
  });

  it("refuses directories and missing files", async () => {
    expect(await blame({ path: "src" })).toMatchObject({
      ok: false,
      error: { code: "not_a_file" },
    });
    expect(await blame({ path: "nope.txt" })).toMatchObject({
      ok: false,
      error: { code: "path_not_found" },
    });
  });
});

describe("git_list_files", () => {
  const list = (args: Record<string, unknown>) =>
    gitListFiles(context, ListFilesArgsSchema.parse({ repository: "fixture", ...args }));

  it("lists the tree recursively with types and sizes", async () => {
    const out = value(await list({}));
    expect(out.entries).toEqual([
      { path: "README.md", type: "file", size: 22 },
      { path: "assets/logo.bin", type: "file", size: 9 },
      expect.objectContaining({ path: "big.txt", type: "file" }),
      { path: "escape", type: "symlink", size: 8 },
      { path: "latin1.txt", type: "file", size: 11 },
      expect.objectContaining({ path: "outside", type: "symlink" }),
      { path: "src/main.txt", type: "file", size: 53 },
    ]);
  });

  it("lists one level under a prefix, a single file, and paginates", async () => {
    expect(
      value(await list({ recursive: false })).entries.map((e) => [e.path, e.type]),
    ).toContainEqual(["src", "directory"]);
    expect(
      value(await list({ path: "src/", recursive: false })).entries.map((e) => e.path),
    ).toEqual(["src/main.txt"]);
    expect(value(await list({ path: "README.md", recursive: false })).entries).toHaveLength(1);
    const page1 = value(await list({ max_count: 4 }));
    const page2 = value(await list({ max_count: 4, cursor: page1.next_cursor }));
    expect([...page1.entries, ...page2.entries]).toHaveLength(7);
    expect(page2.next_cursor).toBeUndefined();
    expect(await list({ path: "missing" })).toMatchObject({
      ok: false,
      error: { code: "path_not_found" },
    });
  });
});

describe("git_read_file", () => {
  const read = (args: Record<string, unknown>) =>
    gitReadFile(context, ReadFileArgsSchema.parse({ repository: "fixture", ...args }));

  it("reads UTF-8 text at a revision", async () => {
    const out = value(await read({ path: "src/app.txt", revision: fixture.commits.initial }));
    expect(out).toMatchObject({
      revision: fixture.commits.initial,
      type: "file",
      binary: false,
      encoding: "utf-8",
      content: "first line\nsecond line\nthird line\n",
      truncated: false,
      lossy_utf8: false,
    });
  });

  it("returns binary content as base64 and non-UTF-8 text flagged with exact bytes", async () => {
    const bin = value(await read({ path: "assets/logo.bin" }));
    expect(bin.binary).toBe(true);
    expect(bin.encoding).toBe("base64");
    expect(Buffer.from(bin.content, "base64")).toEqual(
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0x01, 0xff, 0xfe, 0x00]),
    );
    const latin = value(await read({ path: "latin1.txt" }));
    expect(latin.lossy_utf8).toBe(true);
    expect(latin.content).toBe("caf\uFFFD cr\uFFFDme\n");
    expect(Buffer.from(latin.content_base64!, "base64").toString("latin1")).toBe(
      "caf\xe9 cr\xe8me\n",
    );
  });

  it("truncates a huge file at the cap and reports the full size", async () => {
    const out = value(await read({ path: "big.txt" }));
    expect(out.truncated).toBe(true);
    expect(out.size).toBeGreaterThanOrEqual(HUGE_FILE_BYTES);
    expect(Buffer.byteLength(out.content)).toBe(context.limits.maxFileBytes);
    const small = value(await read({ path: "big.txt", max_bytes: 10 }));
    expect(small.content).toBe("0123456789");
  });

  it("refuses directories", async () => {
    expect(await read({ path: "src" })).toMatchObject({ ok: false, error: { code: "not_a_file" } });
  });
});

describe("git_search_commits", () => {
  const search = (args: Record<string, unknown>) =>
    gitSearchCommits(context, SearchCommitsArgsSchema.parse({ repository: "fixture", ...args }));

  it("finds commits that add or remove a string (pickaxe -S)", async () => {
    const out = value(await search({ pattern: "needle is here" }));
    expect(out.commits.map((c) => c.sha)).toEqual([fixture.commits.binary]);
    const folded = value(await search({ pattern: "NEEDLE IS HERE", ignore_case: true }));
    expect(folded.commits.map((c) => c.sha)).toEqual([fixture.commits.binary]);
  });

  it("finds commits whose diff matches a regex (-G) and paginates", async () => {
    const out = value(await search({ pattern: "^(first|second) line", match: "regex" }));
    expect(out.commits.map((c) => c.sha)).toEqual([fixture.commits.initial]);
    const page1 = value(await search({ pattern: ".", match: "regex", max_count: 1 }));
    expect(page1.commits).toHaveLength(1);
    expect(page1.next_cursor).toBeTypeOf("string");
    const page2 = value(
      await search({ pattern: ".", match: "regex", max_count: 1, cursor: page1.next_cursor }),
    );
    expect(page2.commits[0]!.sha).not.toBe(page1.commits[0]!.sha);
  });

  it("limits to a path and a range", async () => {
    expect(value(await search({ pattern: "needle", path: "README.md" })).commits).toEqual([]);
    expect(
      value(await search({ pattern: "needle", revision: `${fixture.commits.binary}..main` }))
        .commits,
    ).toEqual([]);
  });
});
