import { z } from "zod";
import { decodeCursor, encodeCursor, queryFingerprint } from "../cursor.ts";
import { checkRepositoryPaths } from "../repository-paths.ts";
import { resolveCommit } from "../revisions.ts";
import { LossyTracker } from "../text-decoding.ts";
import {
  CursorArgSchema,
  lookupRepository,
  maxCountArg,
  PatternArgSchema,
  RepositoryArgSchema,
  RevisionArgSchema,
  type GitToolContext,
} from "../tool-context.ts";
import { fail, failFromRun, succeed, type ToolOutcome } from "../tool-result.ts";
import { PathsArgSchema, toPathList } from "./git-diff.ts";

export const GrepArgsSchema = z.strictObject({
  repository: RepositoryArgSchema,
  revision: RevisionArgSchema.default("HEAD"),
  pattern: PatternArgSchema.describe("Text to search for"),
  fixed_strings: z
    .boolean()
    .default(true)
    .describe("true: plain text; false: POSIX extended regular expression"),
  ignore_case: z.boolean().default(false),
  path: PathsArgSchema.optional(),
  max_count: maxCountArg(100, 1000),
  cursor: CursorArgSchema.optional(),
});
export type GrepArgs = z.infer<typeof GrepArgsSchema>;

const MAX_LINE_CHARS = 1000;

export const GrepMatchSchema = z.object({
  path: z.string(),
  line: z.number().int(),
  column: z.number().int(),
  text: z.string().describe(`The matching line, cut at ${MAX_LINE_CHARS} characters`),
});
export type GrepMatch = z.infer<typeof GrepMatchSchema>;

export const GrepOutputSchema = z.object({
  repository: z.string(),
  revision: z.string().describe("Resolved commit SHA searched"),
  matches: z.array(GrepMatchSchema),
  next_cursor: z.string().optional(),
  output_truncated: z
    .boolean()
    .describe("git produced more than the server's cap; later matches were not seen"),
  lossy_utf8: z.boolean(),
});
export type GrepOutput = z.infer<typeof GrepOutputSchema>;

type RawGrepMatch = { path: Buffer; line: number; column: number; text: Buffer };

/** Parses `git grep -z -n --column` records: `<sha>:<path>\0<line>\0<column>\0<text>\n`. */
export function parseGrepOutput(stdout: Buffer, sha: string): RawGrepMatch[] {
  const matches: RawGrepMatch[] = [];
  const prefix = Buffer.from(`${sha}:`, "latin1");
  let at = 0;
  while (at < stdout.length) {
    const pathEnd = stdout.indexOf(0, at);
    const lineEnd = pathEnd === -1 ? -1 : stdout.indexOf(0, pathEnd + 1);
    const columnEnd = lineEnd === -1 ? -1 : stdout.indexOf(0, lineEnd + 1);
    const textEnd = columnEnd === -1 ? -1 : stdout.indexOf(0x0a, columnEnd + 1);
    // A record cut off by the output cap is dropped rather than reported half-read.
    if (textEnd === -1) break;
    let path = stdout.subarray(at, pathEnd);
    if (path.subarray(0, prefix.length).equals(prefix)) path = path.subarray(prefix.length);
    matches.push({
      path,
      line: Number.parseInt(stdout.subarray(pathEnd + 1, lineEnd).toString("latin1"), 10),
      column: Number.parseInt(stdout.subarray(lineEnd + 1, columnEnd).toString("latin1"), 10),
      text: stdout.subarray(columnEnd + 1, textEnd),
    });
    at = textEnd + 1;
  }
  return matches;
}

function decodeMatch(raw: RawGrepMatch, tracker: LossyTracker): GrepMatch {
  const text = tracker.decode(raw.text);
  return {
    path: tracker.decode(raw.path),
    line: raw.line,
    column: raw.column,
    text: text.length > MAX_LINE_CHARS ? text.slice(0, MAX_LINE_CHARS) : text,
  };
}

export async function gitGrep(
  context: GitToolContext,
  args: GrepArgs,
): Promise<ToolOutcome<GrepOutput>> {
  const repo = lookupRepository(context, args.repository);
  if (!repo.ok) return repo;
  const sha = await resolveCommit(context.runner, repo.value, args.revision);
  if (!sha.ok) return sha;
  const paths = checkRepositoryPaths(toPathList(args.path));
  if (!paths.ok) return paths;
  const fingerprint = queryFingerprint([
    "git_grep",
    repo.value.name,
    sha.value,
    args.pattern,
    args.fixed_strings,
    args.ignore_case,
    paths.value,
  ]);
  const offset = decodeCursor(args.cursor, fingerprint);
  if (!offset.ok) return offset;

  // The pattern travels only as the value of -e, so "-O…", "--output=…" or "--open-files-in-pager"
  // are searched for, never obeyed. git grep (2.39) does not accept --end-of-options, but the
  // revision is a resolved hex SHA, which cannot be read as an option.
  const gitArgs = [
    "-z",
    "-n",
    "--column",
    "-I",
    "--no-color",
    "--full-name",
    "--no-textconv",
    args.fixed_strings ? "--fixed-strings" : "--extended-regexp",
  ];
  if (args.ignore_case) gitArgs.push("--ignore-case");
  gitArgs.push("-e", args.pattern, sha.value, "--", ...paths.value);

  const run = await context.runner.run({
    gitDir: repo.value.gitDir,
    subcommand: "grep",
    args: gitArgs,
    okExitCodes: [0, 1],
    onOverflow: "truncate",
    signal: context.signal,
  });
  if (!run.ok) {
    if (run.failure.reason === "exit_code") {
      return fail("invalid_argument", "git_grep: git rejected the pattern");
    }
    return failFromRun(run.failure, "git_grep");
  }
  const tracker = new LossyTracker();
  const all = parseGrepOutput(run.stdout, sha.value);
  const page = all
    .slice(offset.value, offset.value + args.max_count)
    .map((raw) => decodeMatch(raw, tracker));
  const hasMore = all.length > offset.value + args.max_count;
  return succeed({
    repository: repo.value.name,
    revision: sha.value,
    matches: page,
    ...(hasMore ? { next_cursor: encodeCursor(offset.value + args.max_count, fingerprint) } : {}),
    output_truncated: run.truncated,
    lossy_utf8: tracker.lossy,
  });
}
