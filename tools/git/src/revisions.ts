import type { GitRunner } from "./git-runner.ts";
import type { Repository } from "./repositories.ts";
import { fail, failFromRun, succeed, type ToolOutcome } from "./tool-result.ts";

const MAX_REVISION_LENGTH = 256;

/**
 * Checks the text of a revision before git sees it. A leading "-" would be read as an option
 * (`--output=…`, `--upload-pack=…`), so it is refused outright even though `--end-of-options`
 * is passed as well.
 */
export function checkRevisionText(revision: string): ToolOutcome<string> {
  if (revision.length === 0) return fail("invalid_revision", "revision must not be empty");
  if (revision.length > MAX_REVISION_LENGTH) {
    return fail("invalid_revision", `revision is longer than ${MAX_REVISION_LENGTH} characters`);
  }
  if (revision.startsWith("-")) {
    return fail("invalid_revision", "revision must not begin with '-'");
  }
  // Control characters (NUL, newline, ...) never appear in a ref name or a revision expression.
  if (/\p{Cc}/u.test(revision)) {
    return fail("invalid_revision", "revision contains a control character");
  }
  return succeed(revision);
}

/** Resolves one user revision to a full commit SHA with `rev-parse --verify`. */
export async function resolveCommit(
  runner: GitRunner,
  repo: Repository,
  revision: string,
): Promise<ToolOutcome<string>> {
  const checked = checkRevisionText(revision);
  if (!checked.ok) return checked;
  const run = await runner.run({
    gitDir: repo.gitDir,
    subcommand: "rev-parse",
    args: ["--verify", "--quiet", "--end-of-options", `${revision}^{commit}`],
  });
  if (!run.ok) {
    if (run.failure.reason === "exit_code") {
      return fail("revision_not_found", `revision "${revision}" does not name a commit`);
    }
    return failFromRun(run.failure, "resolving the revision");
  }
  const sha = run.stdout.toString("utf8").trim();
  if (!/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(sha)) {
    return fail("revision_not_found", `revision "${revision}" does not name a commit`);
  }
  return succeed(sha);
}

export type RevisionRange =
  | { kind: "single"; commit: string }
  | { kind: "range"; from: string; to: string; symmetric: boolean };

/**
 * Accepts `rev`, `a..b` or `a...b` (an empty side means HEAD, as in git). Both ends are resolved
 * to commit SHAs, so git later only ever sees hex object names.
 */
export async function resolveRange(
  runner: GitRunner,
  repo: Repository,
  revision: string,
): Promise<ToolOutcome<RevisionRange>> {
  const checked = checkRevisionText(revision);
  if (!checked.ok) return checked;
  const symmetric = revision.includes("...");
  const separator = symmetric ? "..." : "..";
  const index = revision.indexOf(separator);
  if (index === -1) {
    const commit = await resolveCommit(runner, repo, revision);
    return commit.ok ? succeed({ kind: "single", commit: commit.value }) : commit;
  }
  const left = revision.slice(0, index);
  const right = revision.slice(index + separator.length);
  if (right.includes("..")) {
    return fail("invalid_revision", "a range has exactly one '..' or '...'");
  }
  if (left === "" && right === "") {
    return fail("invalid_revision", "a range needs at least one end");
  }
  const from = await resolveCommit(runner, repo, left === "" ? "HEAD" : left);
  if (!from.ok) return from;
  const to = await resolveCommit(runner, repo, right === "" ? "HEAD" : right);
  if (!to.ok) return to;
  return succeed({ kind: "range", from: from.value, to: to.value, symmetric });
}

/** Revision arguments for commands that walk history (log): `to`, `^from` or `from...to`. */
export function rangeToWalkArgs(range: RevisionRange): string[] {
  if (range.kind === "single") return [range.commit];
  if (range.symmetric) return [`${range.from}...${range.to}`];
  return [range.to, `^${range.from}`];
}
