import { z } from "zod";
import { readCommitPage, resolveCommitWalk } from "../commit-pages.ts";
import { CommitSchema } from "../commit-records.ts";
import { queryFingerprint } from "../cursor.ts";
import {
  CursorArgSchema,
  maxCountArg,
  PathArgSchema,
  PatternArgSchema,
  RepositoryArgSchema,
  RevisionArgSchema,
  type GitToolContext,
} from "../tool-context.ts";
import type { ToolOutcome } from "../tool-result.ts";

export const SearchCommitsArgsSchema = z.strictObject({
  repository: RepositoryArgSchema,
  revision: RevisionArgSchema.default("HEAD").describe("Commit-ish or range a..b (default HEAD)"),
  pattern: PatternArgSchema,
  match: z
    .enum(["string", "regex"])
    .default("string")
    .describe(
      "string: commits that change how often the text occurs (added or removed, git log -S); " +
        "regex: commits with an added or removed line matching the POSIX regex (git log -G)",
    ),
  ignore_case: z.boolean().default(false),
  path: PathArgSchema.optional(),
  max_count: maxCountArg(20, 200),
  cursor: CursorArgSchema.optional(),
});
export type SearchCommitsArgs = z.infer<typeof SearchCommitsArgsSchema>;

export const SearchCommitsOutputSchema = z.object({
  repository: z.string(),
  commits: z.array(CommitSchema),
  next_cursor: z.string().optional(),
  lossy_utf8: z.boolean(),
});
export type SearchCommitsOutput = z.infer<typeof SearchCommitsOutputSchema>;

export async function gitSearchCommits(
  context: GitToolContext,
  args: SearchCommitsArgs,
): Promise<ToolOutcome<SearchCommitsOutput>> {
  const walk = await resolveCommitWalk(context, args);
  if (!walk.ok) return walk;
  const { repo, range, path } = walk.value;
  const fingerprint = queryFingerprint([
    "git_search_commits",
    repo.name,
    range,
    args.pattern,
    args.match,
    args.ignore_case,
    path,
  ]);

  // The pattern is glued to -S/-G: as a separate word "-S" would take the next argument whatever
  // it looks like, glued there is no way for the text to become an option of its own.
  const filters = [args.match === "string" ? `-S${args.pattern}` : `-G${args.pattern}`];
  if (args.ignore_case) filters.push("--regexp-ignore-case");

  return readCommitPage(context, walk.value, {
    tool: "git_search_commits",
    fingerprint,
    cursor: args.cursor,
    maxCount: args.max_count,
    filters,
    rejected: "git rejected the pattern",
  });
}
