import { z } from "zod";
import { COMMIT_FORMAT, CommitSchema, parseCommitRecords } from "../commit-records.ts";
import { decodeCursor, encodeCursor, queryFingerprint } from "../cursor.ts";
import { checkRepositoryPath } from "../repository-paths.ts";
import { rangeToWalkArgs, resolveRange } from "../revisions.ts";
import { LossyTracker } from "../text-decoding.ts";
import {
  CursorArgSchema,
  lookupRepository,
  maxCountArg,
  PathArgSchema,
  PatternArgSchema,
  RepositoryArgSchema,
  RevisionArgSchema,
  type GitToolContext,
} from "../tool-context.ts";
import { fail, failFromRun, succeed, type ToolOutcome } from "../tool-result.ts";

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
  const repo = lookupRepository(context, args.repository);
  if (!repo.ok) return repo;
  const range = await resolveRange(context.runner, repo.value, args.revision);
  if (!range.ok) return range;
  const path = args.path === undefined ? undefined : checkRepositoryPath(args.path);
  if (path && !path.ok) return path;
  const pathValue = path?.value || undefined;
  const fingerprint = queryFingerprint([
    "git_search_commits",
    repo.value.name,
    range.value,
    args.pattern,
    args.match,
    args.ignore_case,
    pathValue,
  ]);
  const offset = decodeCursor(args.cursor, fingerprint);
  if (!offset.ok) return offset;

  // The pattern is glued to -S/-G: as a separate word "-S" would take the next argument whatever
  // it looks like, glued there is no way for the text to become an option of its own.
  const gitArgs = [
    "-z",
    COMMIT_FORMAT,
    `--max-count=${args.max_count + 1}`,
    `--skip=${offset.value}`,
    "--no-textconv",
    "--no-ext-diff",
    args.match === "string" ? `-S${args.pattern}` : `-G${args.pattern}`,
  ];
  if (args.ignore_case) gitArgs.push("--regexp-ignore-case");
  gitArgs.push("--end-of-options", ...rangeToWalkArgs(range.value), "--");
  if (pathValue !== undefined) gitArgs.push(pathValue);

  const run = await context.runner.run({
    gitDir: repo.value.gitDir,
    subcommand: "log",
    args: gitArgs,
    signal: context.signal,
  });
  if (!run.ok) {
    if (run.failure.reason === "exit_code") {
      return fail("invalid_argument", "git_search_commits: git rejected the pattern");
    }
    return failFromRun(run.failure, "git_search_commits");
  }
  const tracker = new LossyTracker();
  const commits = parseCommitRecords(run.stdout, tracker, context.limits.maxMessageChars);
  const hasMore = commits.length > args.max_count;
  return succeed({
    repository: repo.value.name,
    commits: commits.slice(0, args.max_count),
    ...(hasMore ? { next_cursor: encodeCursor(offset.value + args.max_count, fingerprint) } : {}),
    lossy_utf8: tracker.lossy,
  });
}
