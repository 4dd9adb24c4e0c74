import { z } from "zod";
import { decodeCursor, encodeCursor, queryFingerprint } from "../cursor.ts";
import { checkRepositoryPath } from "../repository-paths.ts";
import { resolveCommit } from "../revisions.ts";
import { LossyTracker } from "../text-decoding.ts";
import {
  CursorArgSchema,
  lookupRepository,
  maxCountArg,
  PathArgSchema,
  RepositoryArgSchema,
  RevisionArgSchema,
  type GitToolContext,
} from "../tool-context.ts";
import { fail, failFromRun, succeed, type ToolOutcome } from "../tool-result.ts";
import { EntryTypeSchema, parseTreeEntries } from "../tree-entries.ts";

export const ListFilesArgsSchema = z.strictObject({
  repository: RepositoryArgSchema,
  revision: RevisionArgSchema.default("HEAD"),
  path: PathArgSchema.optional().describe("Directory (or file) to list; default the root"),
  recursive: z.boolean().default(true).describe("false: only the directory's direct entries"),
  max_count: maxCountArg(500, 5000),
  cursor: CursorArgSchema.optional(),
});
export type ListFilesArgs = z.infer<typeof ListFilesArgsSchema>;

export const ListFilesOutputSchema = z.object({
  repository: z.string(),
  revision: z.string().describe("Resolved commit SHA"),
  entries: z.array(
    z.object({
      path: z.string(),
      type: EntryTypeSchema,
      size: z.number().int().nullable().describe("Bytes; null for directories and submodules"),
    }),
  ),
  next_cursor: z.string().optional(),
  lossy_utf8: z.boolean(),
});
export type ListFilesOutput = z.infer<typeof ListFilesOutputSchema>;

export async function gitListFiles(
  context: GitToolContext,
  args: ListFilesArgs,
): Promise<ToolOutcome<ListFilesOutput>> {
  const repo = lookupRepository(context, args.repository);
  if (!repo.ok) return repo;
  const sha = await resolveCommit(context.runner, repo.value, args.revision);
  if (!sha.ok) return sha;
  const path = checkRepositoryPath(args.path ?? "");
  if (!path.ok) return path;
  const fingerprint = queryFingerprint([
    "git_list_files",
    repo.value.name,
    sha.value,
    path.value,
    args.recursive,
  ]);
  const offset = decodeCursor(args.cursor, fingerprint);
  if (!offset.ok) return offset;

  const gitArgs = ["-z", "--long", "--full-tree"];
  if (args.recursive) gitArgs.push("-r");
  // ls-tree takes no "--": after --end-of-options every word after the tree is a path.
  gitArgs.push("--end-of-options", sha.value);
  // Non-recursive: "dir/" lists the directory's children, "dir" would list only "dir" itself.
  if (path.value !== "") gitArgs.push(args.recursive ? path.value : `${path.value}/`);

  const run = await context.runner.run({
    gitDir: repo.value.gitDir,
    subcommand: "ls-tree",
    args: gitArgs,
    signal: context.signal,
  });
  if (!run.ok) return failFromRun(run.failure, "git_list_files");
  let entries = parseTreeEntries(run.stdout);
  if (!args.recursive && path.value !== "" && entries.length === 0) {
    // "file/" matches nothing; list the file itself so a file path still answers.
    const single = await context.runner.run({
      gitDir: repo.value.gitDir,
      subcommand: "ls-tree",
      args: ["-z", "--long", "--full-tree", "--end-of-options", sha.value, path.value],
      signal: context.signal,
    });
    if (!single.ok) return failFromRun(single.failure, "git_list_files");
    entries = parseTreeEntries(single.stdout);
  }
  if (path.value !== "" && entries.length === 0) {
    return fail(
      "path_not_found",
      `git_list_files: "${path.value}" does not exist at that revision`,
    );
  }
  const tracker = new LossyTracker();
  const page = entries.slice(offset.value, offset.value + args.max_count).map((entry) => ({
    path: tracker.decode(entry.path),
    type: entry.type,
    size: entry.size,
  }));
  const hasMore = entries.length > offset.value + args.max_count;
  return succeed({
    repository: repo.value.name,
    revision: sha.value,
    entries: page,
    ...(hasMore ? { next_cursor: encodeCursor(offset.value + args.max_count, fingerprint) } : {}),
    lossy_utf8: tracker.lossy,
  });
}
