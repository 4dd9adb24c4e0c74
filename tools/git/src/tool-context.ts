import { z } from "zod";
import type { GitRunner } from "./git-runner.ts";
import type { Repository, RepositoryRegistry } from "./repositories.ts";
import { fail, succeed, type ToolOutcome } from "./tool-result.ts";

export const GitToolLimitsSchema = z.object({
  /** Cap on bytes returned by git_read_file (larger files come back truncated and flagged). */
  maxFileBytes: z.number().int().positive(),
  /** Cap on the patch text of git_show_commit and git_diff (truncated and flagged). */
  maxPatchBytes: z.number().int().positive(),
  /** Cap on any other git output; exceeding it is an output_too_large error. */
  maxOutputBytes: z.number().int().positive(),
  /** Cap on a commit message in list results. */
  maxMessageChars: z.number().int().positive(),
});
export type GitToolLimits = z.infer<typeof GitToolLimitsSchema>;

export const DEFAULT_LIMITS: GitToolLimits = {
  maxFileBytes: 512 * 1024,
  maxPatchBytes: 256 * 1024,
  maxOutputBytes: 8 * 1024 * 1024,
  maxMessageChars: 4000,
};

export type GitToolContext = {
  runner: GitRunner;
  repositories: RepositoryRegistry;
  limits: GitToolLimits;
  signal?: AbortSignal;
};

export function lookupRepository(context: GitToolContext, name: string): ToolOutcome<Repository> {
  const repo = context.repositories.get(name);
  if (!repo) {
    return fail(
      "unknown_repository",
      `unknown repository "${name}"; git_list_repositories lists the allowed ones`,
    );
  }
  return succeed(repo);
}

// Shared snake_case arguments, identical in every tool.
export const RepositoryArgSchema = z
  .string()
  .min(1)
  .max(64)
  .describe("Repository name as listed by git_list_repositories");
export const RevisionArgSchema = z
  .string()
  .min(1)
  .max(256)
  .describe("Commit-ish: branch, tag, SHA, HEAD~2 ... (must not begin with '-')");
export const PathArgSchema = z
  .string()
  .max(4096)
  .describe("Path relative to the repository root; no '..', not absolute");
export const PatternArgSchema = z.string().min(1).max(1000);
export const CursorArgSchema = z
  .string()
  .max(512)
  .describe("Opaque next_cursor from a previous call with the same arguments");

export function maxCountArg(defaultValue: number, max: number) {
  return z
    .number()
    .int()
    .min(1)
    .max(max)
    .default(defaultValue)
    .describe(`Maximum number of items to return (1-${max}, default ${defaultValue})`);
}
