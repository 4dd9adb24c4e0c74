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

export const DateArgSchema = z
  .union([z.iso.date(), z.iso.datetime({ offset: true })])
  .describe("ISO 8601 date (2024-01-31) or date-time with offset");

/** A bare date means the whole day in UTC; git alone would take "now" as the time of day. */
export function gitDateBound(value: string, bound: "since" | "until"): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return value;
  return `${value}T${bound === "since" ? "00:00:00" : "23:59:59"}Z`;
}

export const LogArgsSchema = z.strictObject({
  repository: RepositoryArgSchema,
  revision: RevisionArgSchema.default("HEAD").describe(
    "Commit-ish or range a..b / a...b (default HEAD)",
  ),
  path: PathArgSchema.optional().describe("Only commits touching this path"),
  author: z.string().min(1).max(200).optional().describe("Author name or e-mail contains"),
  since: DateArgSchema.optional(),
  until: DateArgSchema.optional(),
  pattern: PatternArgSchema.optional().describe("Commit message search"),
  fixed_strings: z.boolean().default(true).describe("pattern/author are plain text, not regex"),
  ignore_case: z.boolean().default(false),
  follow_renames: z.boolean().default(false).describe("Follow a single file across renames"),
  max_count: maxCountArg(50, 500),
  cursor: CursorArgSchema.optional(),
});
export type LogArgs = z.infer<typeof LogArgsSchema>;

export const LogOutputSchema = z.object({
  repository: z.string(),
  commits: z.array(CommitSchema),
  next_cursor: z.string().optional(),
  lossy_utf8: z.boolean().describe("Some text was not valid UTF-8 and contains U+FFFD"),
});
export type LogOutput = z.infer<typeof LogOutputSchema>;

export async function gitLog(
  context: GitToolContext,
  args: LogArgs,
): Promise<ToolOutcome<LogOutput>> {
  const repo = lookupRepository(context, args.repository);
  if (!repo.ok) return repo;
  const range = await resolveRange(context.runner, repo.value, args.revision);
  if (!range.ok) return range;
  const path = args.path === undefined ? undefined : checkRepositoryPath(args.path);
  if (path && !path.ok) return path;
  const pathValue = path?.value || undefined;

  const fingerprint = queryFingerprint([
    "git_log",
    repo.value.name,
    range.value,
    pathValue,
    args.author,
    args.since,
    args.until,
    args.pattern,
    args.fixed_strings,
    args.ignore_case,
    args.follow_renames,
  ]);
  const offset = decodeCursor(args.cursor, fingerprint);
  if (!offset.ok) return offset;

  // Values are glued to their option (`--grep=…`) so no user text is ever a separate argv word.
  const gitArgs = [
    "-z",
    COMMIT_FORMAT,
    `--max-count=${args.max_count + 1}`,
    `--skip=${offset.value}`,
    "--no-textconv",
    "--no-ext-diff",
  ];
  if (args.author !== undefined) gitArgs.push(`--author=${args.author}`);
  if (args.since !== undefined) gitArgs.push(`--since=${gitDateBound(args.since, "since")}`);
  if (args.until !== undefined) gitArgs.push(`--until=${gitDateBound(args.until, "until")}`);
  if (args.pattern !== undefined) gitArgs.push(`--grep=${args.pattern}`);
  if (args.fixed_strings) gitArgs.push("--fixed-strings");
  else gitArgs.push("--extended-regexp");
  if (args.ignore_case) gitArgs.push("--regexp-ignore-case");
  if (args.follow_renames && pathValue !== undefined) gitArgs.push("--follow");
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
      return fail(
        "invalid_argument",
        "git_log: git rejected the filters (check pattern and author)",
      );
    }
    return failFromRun(run.failure, "git_log");
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
