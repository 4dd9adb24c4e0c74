import type { Repository } from "./repositories.ts";
import { checkRepositoryPath } from "./repository-paths.ts";
import { resolveCommit } from "./revisions.ts";
import { lookupRepository, type GitToolContext } from "./tool-context.ts";
import { fail, succeed, type ToolOutcome } from "./tool-result.ts";
import { lookupTreeEntry, type EntryType, type RawTreeEntry } from "./tree-entries.ts";

export type FileEntry = RawTreeEntry & { type: Exclude<EntryType, "directory" | "submodule"> };

/** A blob-like path at a resolved commit: repository root, directories and submodules refused. */
export type FileAtRevision = { repo: Repository; sha: string; path: string; entry: FileEntry };

export async function resolveFileAtRevision(
  context: GitToolContext,
  args: { repository: string; revision: string; path: string },
  tool: string,
  notAFileHint = "",
): Promise<ToolOutcome<FileAtRevision>> {
  const repo = lookupRepository(context, args.repository);
  if (!repo.ok) return repo;
  const sha = await resolveCommit(context.runner, repo.value, args.revision);
  if (!sha.ok) return sha;
  const path = checkRepositoryPath(args.path);
  if (!path.ok) return path;
  if (path.value === "") return fail("not_a_file", `${tool}: path names the repository root`);
  const entry = await lookupTreeEntry(context, repo.value, sha.value, path.value, tool);
  if (!entry.ok) return entry;
  const { type } = entry.value;
  if (type === "directory" || type === "submodule") {
    return fail("not_a_file", `${tool}: "${path.value}" is a ${type}${notAFileHint}`);
  }
  return succeed({
    repo: repo.value,
    sha: sha.value,
    path: path.value,
    entry: { ...entry.value, type },
  });
}
