import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeCursor, encodeCursor, queryFingerprint } from "../src/cursor.ts";
import { createGitRunner, type GitRunner } from "../src/git-runner.ts";
import { parseGitToolEnv } from "../src/git-env.ts";
import { checkRepositoryPath } from "../src/repository-paths.ts";
import { openRepositories, parseRepositoryAllowlist } from "../src/repositories.ts";
import { checkRevisionText } from "../src/revisions.ts";
import { resolveAllowlist } from "../src/server.ts";
import { decodeUtf8, looksBinary, trimIncompleteUtf8 } from "../src/text-decoding.ts";
import { gitDateBound } from "../src/tools/git-log.ts";
import { buildFixtureRepository, type FixtureRepository } from "./fixture-repository.ts";

describe("checkRepositoryPath", () => {
  it.each([
    ["src/main.txt", "src/main.txt"],
    ["src/", "src"],
    ["", ""],
    [".", ""],
    ["-r", "-r"],
    [":(top)x", ":(top)x"],
    ["dir with space/é.txt", "dir with space/é.txt"],
  ])("accepts %j as %j", (input, expected) => {
    expect(checkRepositoryPath(input)).toEqual({ ok: true, value: expected });
  });

  it.each([
    "..",
    "../x",
    "a/../b",
    "a/..",
    "/etc/passwd",
    "\\server\\share",
    "C:/Windows",
    "a//b",
    "./a",
    "a/./b",
    "a\0b",
    "a\nb",
    "x".repeat(5000),
  ])("refuses %j", (input) => {
    expect(checkRepositoryPath(input)).toMatchObject({
      ok: false,
      error: { code: "invalid_path" },
    });
  });
});

describe("checkRevisionText", () => {
  it.each(["HEAD", "main", "v1~2", "HEAD^{/fix}", "a1b2c3", "refs/heads/x"])(
    "accepts %j",
    (rev) => {
      expect(checkRevisionText(rev).ok).toBe(true);
    },
  );
  it.each(["", "-p", "--output=/tmp/x", "HEAD\n", "a\0", "x".repeat(257)])("refuses %j", (rev) => {
    expect(checkRevisionText(rev)).toMatchObject({
      ok: false,
      error: { code: "invalid_revision" },
    });
  });
});

describe("cursor", () => {
  it("round-trips and is bound to the query", () => {
    const fp = queryFingerprint(["git_log", "repo", "abc"]);
    const cursor = encodeCursor(40, fp);
    expect(decodeCursor(cursor, fp)).toEqual({ ok: true, value: 40 });
    expect(decodeCursor(undefined, fp)).toEqual({ ok: true, value: 0 });
    expect(decodeCursor(cursor, queryFingerprint(["git_log", "repo", "abd"]))).toMatchObject({
      ok: false,
      error: { code: "invalid_cursor" },
    });
  });

  it.each([
    "!!!",
    Buffer.from("not json").toString("base64url"),
    Buffer.from(JSON.stringify({ v: 2, o: 1, q: "0123456789abcdef" })).toString("base64url"),
    Buffer.from(JSON.stringify({ v: 1, o: -1, q: "0123456789abcdef" })).toString("base64url"),
    Buffer.from(JSON.stringify({ v: 1, o: 1.5, q: "0123456789abcdef" })).toString("base64url"),
    Buffer.from(JSON.stringify({ v: 1, o: 1, q: "0123456789abcdef", x: 1 })).toString("base64url"),
  ])("refuses malformed cursor %j", (cursor) => {
    expect(decodeCursor(cursor, "0123456789abcdef")).toMatchObject({
      ok: false,
      error: { code: "invalid_cursor" },
    });
  });
});

describe("parseRepositoryAllowlist", () => {
  it("accepts name=path lists and JSON objects", () => {
    expect(parseRepositoryAllowlist("a=/srv/a, b.c=/srv/b")).toEqual({
      ok: true,
      value: { a: "/srv/a", "b.c": "/srv/b" },
    });
    expect(parseRepositoryAllowlist('{"docs":"/srv/docs"}')).toEqual({
      ok: true,
      value: { docs: "/srv/docs" },
    });
  });

  it.each([
    ["", "names no repository"],
    ["a", "is not name=path"],
    ["=/srv", "is not name=path"],
    ["a=/x,a=/y", "listed twice"],
    ["../a=/x", "repository names"],
    ["a=", "must not be empty"],
    ["{not json", "not valid JSON"],
    ['{"a": 1}', "GIT_REPOSITORIES"],
    ["[1]", "is not name=path"],
  ])("refuses %j (%s)", (input, message) => {
    const parsed = parseRepositoryAllowlist(input);
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.error).toContain(message);
  });
});

describe("parseGitToolEnv", () => {
  const secret = "s".repeat(32);
  it("applies defaults", () => {
    const parsed = parseGitToolEnv({ TOOL_GATEWAY_SHARED_SECRET: secret });
    expect(parsed).toMatchObject({
      ok: true,
      env: { PORT: 8092, HOST: "127.0.0.1", GIT_TIMEOUT_MS: 10_000, MAX_REQUEST_BYTES: 1_048_576 },
    });
    expect(parsed.ok && parsed.env.GIT_REPOSITORIES).toBeUndefined();
  });
  it.each([
    [{}, "TOOL_GATEWAY_SHARED_SECRET"],
    [{ TOOL_GATEWAY_SHARED_SECRET: secret, GIT_TIMEOUT_MS: "abc" }, "GIT_TIMEOUT_MS"],
    [{ TOOL_GATEWAY_SHARED_SECRET: secret, GIT_TIMEOUT_MS: "0" }, "GIT_TIMEOUT_MS"],
    [{ TOOL_GATEWAY_SHARED_SECRET: secret, GIT_MAX_OUTPUT_BYTES: "-1" }, "GIT_MAX_OUTPUT_BYTES"],
    [{ TOOL_GATEWAY_SHARED_SECRET: secret, PORT: "x" }, "PORT"],
  ])("refuses %j", (env, message) => {
    const parsed = parseGitToolEnv(env);
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.message).toContain(message);
  });
});

describe("text decoding", () => {
  it("flags invalid UTF-8 and detects binary like git", () => {
    expect(decodeUtf8(Buffer.from("héllo"))).toEqual({ text: "héllo", lossy: false });
    expect(decodeUtf8(Buffer.from([0x63, 0xe9]))).toEqual({ text: "c\uFFFD", lossy: true });
    expect(looksBinary(Buffer.from("text\n"))).toBe(false);
    expect(looksBinary(Buffer.from([0x41, 0x00]))).toBe(true);
  });
  it("trims a UTF-8 sequence cut by a cap", () => {
    const euro = Buffer.from("a€");
    expect(trimIncompleteUtf8(euro.subarray(0, 3))).toEqual(Buffer.from("a"));
    expect(trimIncompleteUtf8(euro)).toEqual(euro);
    expect(trimIncompleteUtf8(Buffer.from("abc"))).toEqual(Buffer.from("abc"));
  });
  it("expands bare dates to the whole day", () => {
    expect(gitDateBound("2024-01-02", "since")).toBe("2024-01-02T00:00:00Z");
    expect(gitDateBound("2024-01-02", "until")).toBe("2024-01-02T23:59:59Z");
    expect(gitDateBound("2024-01-02T10:00:00+02:00", "until")).toBe("2024-01-02T10:00:00+02:00");
  });
});

describe("opening repositories", () => {
  let fixture: FixtureRepository;
  let runner: GitRunner;
  const scratch = mkdtempSync(join(tmpdir(), "git-open-test-"));
  beforeAll(() => {
    fixture = buildFixtureRepository();
    runner = createGitRunner({ timeoutMs: 10_000, maxOutputBytes: 1024 * 1024 });
  });
  afterAll(() => {
    runner.close();
    fixture.cleanup();
    rmSync(scratch, { recursive: true, force: true });
  });

  it("opens a work tree and a bare repository through symlinks", async () => {
    const bare = join(scratch, "bare.git");
    fixture.git(["clone", "-q", "--bare", fixture.repoDir, bare]);
    const link = join(scratch, "link");
    symlinkSync(fixture.repoDir, link);
    const opened = await openRepositories({ work: link, bare }, runner);
    expect(opened.ok).toBe(true);
    if (!opened.ok) return;
    expect(opened.value.get("work")).toMatchObject({ bare: false });
    expect(opened.value.get("work")?.gitDir).toBe(join(fixture.repoDir, ".git"));
    expect(opened.value.get("bare")).toMatchObject({ bare: true });
    expect(opened.value.list().map((r) => r.name)).toEqual(["bare", "work"]);
  });

  it("refuses a missing path, a plain directory and a subdirectory of a repository", async () => {
    const plain = join(scratch, "plain");
    mkdirSync(plain);
    for (const path of [join(scratch, "missing"), plain, join(fixture.repoDir, "src")]) {
      const opened = await openRepositories({ bad: path }, runner);
      expect(opened.ok).toBe(false);
      expect(!opened.ok && opened.error).toContain('repository "bad"');
    }
  });

  it("serves the enclosing repository as gateway when GIT_REPOSITORIES is unset", () => {
    expect(resolveAllowlist(undefined, join(fixture.repoDir, "src"))).toEqual({
      ok: true,
      value: { gateway: fixture.repoDir },
    });
    expect(resolveAllowlist("  ", fixture.repoDir)).toEqual({
      ok: true,
      value: { gateway: fixture.repoDir },
    });
    expect(resolveAllowlist(undefined, "/")).toEqual({ ok: true, value: {} });
    expect(resolveAllowlist("x=/a", "/")).toEqual({ ok: true, value: { x: "/a" } });
  });
});
