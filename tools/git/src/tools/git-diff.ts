import { z } from "zod";
import {
  DIFF_SUMMARY_FLAGS,
  FileChangeSchema,
  PATCH_FLAGS,
  parseDiffSummary,
} from "../diff-summary.ts";
import { checkRepositoryPaths } from "../repository-paths.ts";
import { resolveRange } from "../revisions.ts";
import { LossyTracker } from "../text-decoding.ts";
import {
  lookupRepository,
  PathArgSchema,
  RepositoryArgSchema,
  RevisionArgSchema,
  type GitToolContext,
} from "../tool-context.ts";
import { fail, failFromRun, succeed, type ToolOutcome } from "../tool-result.ts";

export const PathsArgSchema = z
  .union([PathArgSchema, z.array(PathArgSchema).max(64)])
  .describe("One path or a list of paths to limit the result to");

export const DiffArgsSchema = z.strictObject({
  repository: RepositoryArgSchema,
  revision: RevisionArgSchema.describe(
    "Range a..b (changes from a to b) or a...b (from the merge base of a and b to b)",
  ),
  path: PathsArgSchema.optional(),
  format: z.enum(["stat", "patch"]).default("stat").describe("stat: file list; patch: + text"),
});
export type DiffArgs = z.infer<typeof DiffArgsSchema>;

export const DiffOutputSchema = z.object({
  repository: z.string(),
  from: z.string().describe("Resolved base commit SHA"),
  to: z.string().describe("Resolved target commit SHA"),
  files: z.array(FileChangeSchema),
  patch: z.string().nullable(),
  patch_truncated: z.boolean(),
  lossy_utf8: z.boolean(),
});
export type DiffOutput = z.infer<typeof DiffOutputSchema>;

export function toPathList(path: string | string[] | undefined): string[] {
  if (path === undefined) return [];
  return Array.isArray(path) ? path : [path];
}

export async function gitDiff(
  context: GitToolContext,
  args: DiffArgs,
): Promise<ToolOutcome<DiffOutput>> {
  const repo = lookupRepository(context, args.repository);
  if (!repo.ok) return repo;
  const range = await resolveRange(context.runner, repo.value, args.revision);
  if (!range.ok) return range;
  if (range.value.kind !== "range") {
    return fail(
      "invalid_revision",
      "git_diff needs a range a..b or a...b; git_show_commit shows a single commit",
    );
  }
  const paths = checkRepositoryPaths(toPathList(args.path));
  if (!paths.ok) return paths;
  const gitDir = repo.value.gitDir;

  let from = range.value.from;
  const to = range.value.to;
  if (range.value.symmetric) {
    const base = await context.runner.run({
      gitDir,
      subcommand: "merge-base",
      args: ["--end-of-options", from, to],
      signal: context.signal,
    });
    if (!base.ok) {
      if (base.failure.reason === "exit_code") {
        return fail("revision_not_found", "the two revisions have no common ancestor");
      }
      return failFromRun(base.failure, "git_diff");
    }
    from = base.stdout.toString("utf8").trim();
  }

  const tail = ["--end-of-options", from, to, "--", ...paths.value];
  const [summary, patch] = await Promise.all([
    context.runner.run({
      gitDir,
      subcommand: "diff",
      args: [...DIFF_SUMMARY_FLAGS, ...tail],
      signal: context.signal,
    }),
    args.format === "patch"
      ? context.runner.run({
          gitDir,
          subcommand: "diff",
          args: [...PATCH_FLAGS, ...tail],
          maxOutputBytes: context.limits.maxPatchBytes,
          onOverflow: "truncate",
          signal: context.signal,
        })
      : undefined,
  ]);
  if (!summary.ok) return failFromRun(summary.failure, "git_diff");
  if (patch && !patch.ok) return failFromRun(patch.failure, "git_diff");
  const tracker = new LossyTracker();
  return succeed({
    repository: repo.value.name,
    from,
    to,
    files: parseDiffSummary(summary.stdout, tracker),
    patch: patch ? tracker.decode(patch.stdout) : null,
    patch_truncated: patch?.truncated ?? false,
    lossy_utf8: tracker.lossy,
  });
}
