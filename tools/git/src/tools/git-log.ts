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
  const walk = await resolveCommitWalk(context, args);
  if (!walk.ok) return walk;
  const { repo, range, path } = walk.value;

  const fingerprint = queryFingerprint([
    "git_log",
    repo.name,
    range,
    path,
    args.author,
    args.since,
    args.until,
    args.pattern,
    args.fixed_strings,
    args.ignore_case,
    args.follow_renames,
  ]);

  // Values are glued to their option (`--grep=…`) so no user text is ever a separate argv word.
  const filters: string[] = [];
  if (args.author !== undefined) filters.push(`--author=${args.author}`);
  if (args.since !== undefined) filters.push(`--since=${gitDateBound(args.since, "since")}`);
  if (args.until !== undefined) filters.push(`--until=${gitDateBound(args.until, "until")}`);
  if (args.pattern !== undefined) filters.push(`--grep=${args.pattern}`);
  if (args.fixed_strings) filters.push("--fixed-strings");
  else filters.push("--extended-regexp");
  if (args.ignore_case) filters.push("--regexp-ignore-case");
  if (args.follow_renames && path !== undefined) filters.push("--follow");

  return readCommitPage(context, walk.value, {
    tool: "git_log",
    fingerprint,
    cursor: args.cursor,
    maxCount: args.max_count,
    filters,
    rejected: "git rejected the filters (check pattern and author)",
  });
}
