import { existsSync, realpathSync, statSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { z } from "zod";
import type { GitRunner } from "./git-runner.ts";

export const RepositoryNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "repository names are 1-64 of A-Z a-z 0-9 . _ -");

export const RepositoryAllowlistSchema = z
  .record(RepositoryNameSchema, z.string().min(1, "repository path must not be empty"))
  .refine((value) => Object.keys(value).length > 0, "the allowlist names no repository");
export type RepositoryAllowlist = z.infer<typeof RepositoryAllowlistSchema>;

export type ParseOutcome<T> = { ok: true; value: T } | { ok: false; error: string };

/**
 * GIT_REPOSITORIES is either a JSON object `{"name": "/path"}` or `name=/path,name2=/path2`.
 * Duplicate names are an error rather than "last one wins".
 */
export function parseRepositoryAllowlist(text: string): ParseOutcome<RepositoryAllowlist> {
  const trimmed = text.trim();
  let candidate: unknown;
  if (trimmed.startsWith("{")) {
    try {
      candidate = JSON.parse(trimmed);
    } catch {
      return { ok: false, error: "GIT_REPOSITORIES: not valid JSON" };
    }
  } else {
    const entries: Record<string, string> = {};
    for (const item of trimmed.split(",")) {
      const part = item.trim();
      if (part === "") continue;
      const eq = part.indexOf("=");
      if (eq <= 0) {
        return { ok: false, error: `GIT_REPOSITORIES: entry "${part}" is not name=path` };
      }
      const name = part.slice(0, eq).trim();
      if (Object.hasOwn(entries, name)) {
        return { ok: false, error: `GIT_REPOSITORIES: repository "${name}" is listed twice` };
      }
      entries[name] = part.slice(eq + 1).trim();
    }
    candidate = entries;
  }
  if (candidate !== null && typeof candidate === "object" && !Array.isArray(candidate)) {
    for (const name of Object.keys(candidate)) {
      const checked = RepositoryNameSchema.safeParse(name);
      if (!checked.success) {
        return {
          ok: false,
          error: `GIT_REPOSITORIES: "${name}": ${checked.error.issues[0]?.message ?? "invalid name"}`,
        };
      }
    }
  }
  const parsed = RepositoryAllowlistSchema.safeParse(candidate);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? ` (${issue.path.join(".")})` : "";
    return { ok: false, error: `GIT_REPOSITORIES${where}: ${issue?.message ?? "invalid"}` };
  }
  return { ok: true, value: parsed.data };
}

export type Repository = {
  name: string;
  /** Absolute, symlink-free git directory; every git call names it explicitly (no discovery). */
  gitDir: string;
  bare: boolean;
};

export type RepositoryRegistry = {
  get(name: string): Repository | undefined;
  list(): readonly Repository[];
};

export function createRepositoryRegistry(repositories: readonly Repository[]): RepositoryRegistry {
  const byName = new Map(repositories.map((repo) => [repo.name, repo]));
  const sorted = [...repositories].sort((a, b) => a.name.localeCompare(b.name));
  return {
    get: (name) => byName.get(name),
    list: () => sorted,
  };
}

/** Walks up from `start` to the first directory holding `.git`, like git's own discovery. */
export function findRepositoryRoot(start: string): string | undefined {
  let current = resolve(start);
  for (;;) {
    if (existsSync(join(current, ".git"))) return current;
    const parent = dirname(current);
    if (parent === current) return undefined;
    current = parent;
  }
}

async function openRepository(
  name: string,
  configuredPath: string,
  runner: GitRunner,
  baseDir: string,
): Promise<ParseOutcome<Repository>> {
  const absolute = isAbsolute(configuredPath) ? configuredPath : resolve(baseDir, configuredPath);
  let real: string;
  try {
    real = realpathSync(absolute);
    if (!statSync(real).isDirectory()) {
      return { ok: false, error: `repository "${name}": ${configuredPath} is not a directory` };
    }
  } catch {
    return { ok: false, error: `repository "${name}": ${configuredPath} does not exist` };
  }
  // A work tree root has .git (a directory, or a file for linked worktrees); otherwise the path
  // must itself be a bare repository. A subdirectory of some other repository is refused.
  const candidate = existsSync(join(real, ".git")) ? join(real, ".git") : real;
  const probe = await runner.run({
    gitDir: candidate,
    subcommand: "rev-parse",
    args: ["--absolute-git-dir", "--is-bare-repository"],
  });
  if (!probe.ok) {
    return { ok: false, error: `repository "${name}": ${configuredPath} is not a git repository` };
  }
  const [gitDir, bare] = probe.stdout.toString("utf8").trim().split("\n");
  if (!gitDir) {
    return { ok: false, error: `repository "${name}": ${configuredPath} is not a git repository` };
  }
  return { ok: true, value: { name, gitDir: realpathSync(gitDir), bare: bare === "true" } };
}

export async function openRepositories(
  allowlist: RepositoryAllowlist,
  runner: GitRunner,
  baseDir: string = process.cwd(),
): Promise<ParseOutcome<RepositoryRegistry>> {
  const opened: Repository[] = [];
  for (const [name, path] of Object.entries(allowlist)) {
    const outcome = await openRepository(name, path, runner, baseDir);
    if (!outcome.ok) return outcome;
    opened.push(outcome.value);
  }
  return { ok: true, value: createRepositoryRegistry(opened) };
}
