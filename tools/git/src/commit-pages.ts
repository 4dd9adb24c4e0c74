import { COMMIT_FORMAT, parseCommitRecords, type Commit } from "./commit-records.ts";
import { decodeCursor, encodeCursor } from "./cursor.ts";
import type { Repository } from "./repositories.ts";
import { checkRepositoryPath } from "./repository-paths.ts";
import { rangeToWalkArgs, resolveRange, type RevisionRange } from "./revisions.ts";
import { LossyTracker } from "./text-decoding.ts";
import { lookupRepository, type GitToolContext } from "./tool-context.ts";
import { fail, failFromRun, succeed, type ToolOutcome } from "./tool-result.ts";

/** What a `git log` walk runs over: the repository, the resolved range and an optional path. */
export type CommitWalk = { repo: Repository; range: RevisionRange; path: string | undefined };

export async function resolveCommitWalk(
  context: GitToolContext,
  args: { repository: string; revision: string; path?: string | undefined },
): Promise<ToolOutcome<CommitWalk>> {
  const repo = lookupRepository(context, args.repository);
  if (!repo.ok) return repo;
  const range = await resolveRange(context.runner, repo.value, args.revision);
  if (!range.ok) return range;
  const path = args.path === undefined ? undefined : checkRepositoryPath(args.path);
  if (path && !path.ok) return path;
  return succeed({ repo: repo.value, range: range.value, path: path?.value || undefined });
}

export type CommitPage = {
  repository: string;
  commits: Commit[];
  next_cursor?: string;
  lossy_utf8: boolean;
};

export type CommitPageRequest = {
  tool: string;
  /** From queryFingerprint over everything that selects the commits. */
  fingerprint: string;
  cursor: string | undefined;
  maxCount: number;
  /** Options that select commits; user text must be glued to its option. */
  filters: readonly string[];
  /** Client message when git rejects the filters. */
  rejected: string;
};

/** One page of `git log`; one extra commit is read to know whether a next page exists. */
export async function readCommitPage(
  context: GitToolContext,
  walk: CommitWalk,
  request: CommitPageRequest,
): Promise<ToolOutcome<CommitPage>> {
  const offset = decodeCursor(request.cursor, request.fingerprint);
  if (!offset.ok) return offset;
  const gitArgs = [
    "-z",
    COMMIT_FORMAT,
    `--max-count=${request.maxCount + 1}`,
    `--skip=${offset.value}`,
    "--no-textconv",
    "--no-ext-diff",
    ...request.filters,
    "--end-of-options",
    ...rangeToWalkArgs(walk.range),
    "--",
  ];
  if (walk.path !== undefined) gitArgs.push(walk.path);

  const run = await context.runner.run({
    gitDir: walk.repo.gitDir,
    subcommand: "log",
    args: gitArgs,
    signal: context.signal,
  });
  if (!run.ok) {
    if (run.failure.reason === "exit_code") {
      return fail("invalid_argument", `${request.tool}: ${request.rejected}`);
    }
    return failFromRun(run.failure, request.tool);
  }
  const tracker = new LossyTracker();
  const commits = parseCommitRecords(run.stdout, tracker, context.limits.maxMessageChars);
  const hasMore = commits.length > request.maxCount;
  return succeed({
    repository: walk.repo.name,
    commits: commits.slice(0, request.maxCount),
    ...(hasMore
      ? { next_cursor: encodeCursor(offset.value + request.maxCount, request.fingerprint) }
      : {}),
    lossy_utf8: tracker.lossy,
  });
}
