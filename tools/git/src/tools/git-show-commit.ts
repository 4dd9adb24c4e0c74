import { z } from "zod";
import { COMMIT_FORMAT, CommitSchema, parseCommitRecords } from "../commit-records.ts";
import {
  DIFF_SUMMARY_FLAGS,
  FileChangeSchema,
  PATCH_FLAGS,
  parseDiffSummary,
} from "../diff-summary.ts";
import { resolveCommit } from "../revisions.ts";
import { LossyTracker } from "../text-decoding.ts";
import {
  lookupRepository,
  RepositoryArgSchema,
  RevisionArgSchema,
  type GitToolContext,
} from "../tool-context.ts";
import { fail, failFromRun, succeed, type ToolOutcome } from "../tool-result.ts";

export const ShowCommitArgsSchema = z.strictObject({
  repository: RepositoryArgSchema,
  revision: RevisionArgSchema.default("HEAD"),
  include_patch: z.boolean().default(true).describe("Include the patch text (size-capped)"),
});
export type ShowCommitArgs = z.infer<typeof ShowCommitArgsSchema>;

export const ShowCommitOutputSchema = z.object({
  repository: z.string(),
  commit: CommitSchema,
  files: z.array(FileChangeSchema).describe("Changes against the first parent"),
  patch: z.string().nullable(),
  patch_truncated: z.boolean(),
  lossy_utf8: z.boolean(),
});
export type ShowCommitOutput = z.infer<typeof ShowCommitOutputSchema>;

// Merge commits are shown against their first parent, which is what "what did this merge
// bring in" usually means and keeps the output one ordinary diff.
const MERGE_FLAGS = ["--diff-merges=first-parent"];

export async function gitShowCommit(
  context: GitToolContext,
  args: ShowCommitArgs,
): Promise<ToolOutcome<ShowCommitOutput>> {
  const repo = lookupRepository(context, args.repository);
  if (!repo.ok) return repo;
  const sha = await resolveCommit(context.runner, repo.value, args.revision);
  if (!sha.ok) return sha;
  const gitDir = repo.value.gitDir;

  const [meta, summary, patch] = await Promise.all([
    context.runner.run({
      gitDir,
      subcommand: "log",
      args: ["-z", COMMIT_FORMAT, "--max-count=1", "--end-of-options", sha.value],
      signal: context.signal,
    }),
    context.runner.run({
      gitDir,
      subcommand: "show",
      args: ["--format=", ...DIFF_SUMMARY_FLAGS, ...MERGE_FLAGS, "--end-of-options", sha.value],
      signal: context.signal,
    }),
    args.include_patch
      ? context.runner.run({
          gitDir,
          subcommand: "show",
          args: ["--format=", ...PATCH_FLAGS, ...MERGE_FLAGS, "--end-of-options", sha.value],
          maxOutputBytes: context.limits.maxPatchBytes,
          onOverflow: "truncate",
          signal: context.signal,
        })
      : undefined,
  ]);
  if (!meta.ok) return failFromRun(meta.failure, "git_show_commit");
  if (!summary.ok) return failFromRun(summary.failure, "git_show_commit");
  if (patch && !patch.ok) return failFromRun(patch.failure, "git_show_commit");

  const tracker = new LossyTracker();
  // The single-commit view carries the whole message up to the general output cap.
  const [commit] = parseCommitRecords(meta.stdout, tracker, context.limits.maxOutputBytes);
  if (!commit) return fail("git_failed", "git_show_commit: could not read the commit");
  return succeed({
    repository: repo.value.name,
    commit,
    files: parseDiffSummary(summary.stdout, tracker),
    patch: patch ? tracker.decode(patch.stdout) : null,
    patch_truncated: patch?.truncated ?? false,
    lossy_utf8: tracker.lossy,
  });
}
