import { z } from "zod";
import { resolveFileAtRevision } from "../file-at-revision.ts";
import { LossyTracker, splitBytes } from "../text-decoding.ts";
import {
  PathArgSchema,
  RepositoryArgSchema,
  RevisionArgSchema,
  type GitToolContext,
} from "../tool-context.ts";
import { fail, failFromRun, succeed, type ToolOutcome } from "../tool-result.ts";

export const BlameArgsSchema = z
  .strictObject({
    repository: RepositoryArgSchema,
    revision: RevisionArgSchema.default("HEAD"),
    path: PathArgSchema.min(1),
    start_line: z.number().int().min(1).optional().describe("First line (1-based)"),
    end_line: z.number().int().min(1).optional().describe("Last line, inclusive"),
  })
  .refine(
    (args) =>
      args.start_line === undefined ||
      args.end_line === undefined ||
      args.start_line <= args.end_line,
    { message: "start_line must not be greater than end_line", path: ["end_line"] },
  );
export type BlameArgs = z.infer<typeof BlameArgsSchema>;

export const BlameCommitSchema = z.object({
  author: z.string(),
  author_email: z.string(),
  author_time: z.string().describe("ISO 8601, UTC"),
  summary: z.string(),
});

export const BlameOutputSchema = z.object({
  repository: z.string(),
  revision: z.string().describe("Resolved commit SHA"),
  path: z.string(),
  lines: z.array(
    z.object({
      line: z.number().int(),
      commit: z.string(),
      original_line: z.number().int(),
      original_path: z.string(),
      text: z.string(),
    }),
  ),
  commits: z.record(z.string(), BlameCommitSchema).describe("Details of each commit in lines"),
  lossy_utf8: z.boolean(),
});
export type BlameOutput = z.infer<typeof BlameOutputSchema>;

const HEADER = /^([0-9a-f]{40,64}) (\d+) (\d+)/;

/** Parses `git blame --porcelain`: commit details are given the first time a commit appears. */
export function parseBlamePorcelain(
  stdout: Buffer,
  tracker: LossyTracker,
): Pick<BlameOutput, "lines" | "commits"> {
  const lines: BlameOutput["lines"] = [];
  const commits: BlameOutput["commits"] = {};
  const filenames = new Map<string, string>();
  let current: { sha: string; original: number; final: number } | undefined;
  let filename: string | undefined;
  for (const raw of splitBytes(stdout, 0x0a)) {
    if (raw[0] === 0x09) {
      if (!current) continue;
      lines.push({
        line: current.final,
        commit: current.sha,
        original_line: current.original,
        original_path: filename ?? filenames.get(current.sha) ?? "",
        text: tracker.decode(raw.subarray(1)),
      });
      current = undefined;
      filename = undefined;
      continue;
    }
    const text = tracker.decode(raw);
    const header = HEADER.exec(text);
    if (header && !current) {
      const [, sha = "", original = "0", final = "0"] = header;
      current = { sha, original: Number(original), final: Number(final) };
      commits[sha] ??= { author: "", author_email: "", author_time: "", summary: "" };
      continue;
    }
    if (!current) continue;
    const space = text.indexOf(" ");
    const key = space === -1 ? text : text.slice(0, space);
    const value = space === -1 ? "" : text.slice(space + 1);
    const entry = commits[current.sha];
    if (!entry) continue;
    switch (key) {
      case "author":
        entry.author = value;
        break;
      case "author-mail":
        entry.author_email = value.replace(/^<|>$/g, "");
        break;
      case "author-time":
        entry.author_time = new Date(Number(value) * 1000).toISOString();
        break;
      case "summary":
        entry.summary = value;
        break;
      case "filename":
        filename = value;
        filenames.set(current.sha, value);
        break;
      default:
        break;
    }
  }
  return { lines, commits };
}

export async function gitBlame(
  context: GitToolContext,
  args: BlameArgs,
): Promise<ToolOutcome<BlameOutput>> {
  const file = await resolveFileAtRevision(context, args, "git_blame");
  if (!file.ok) return file;
  const { repo, sha, path } = file.value;

  // blame applies textconv filters from the repository by default; they run arbitrary commands.
  const gitArgs = ["--porcelain", "--no-textconv"];
  if (args.start_line !== undefined || args.end_line !== undefined) {
    gitArgs.push("-L", `${args.start_line ?? 1},${args.end_line ?? ""}`);
  }
  // git blame (2.39) does not accept --end-of-options; the revision is a resolved hex SHA.
  gitArgs.push(sha, "--", path);
  const run = await context.runner.run({
    gitDir: repo.gitDir,
    subcommand: "blame",
    args: gitArgs,
    signal: context.signal,
  });
  if (!run.ok) {
    if (run.failure.reason === "exit_code") {
      return fail("invalid_argument", "git_blame: the line range is outside the file");
    }
    return failFromRun(run.failure, "git_blame");
  }
  const tracker = new LossyTracker();
  const parsed = parseBlamePorcelain(run.stdout, tracker);
  return succeed({
    repository: repo.name,
    revision: sha,
    path,
    ...parsed,
    lossy_utf8: tracker.lossy,
  });
}
