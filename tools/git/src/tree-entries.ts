import { z } from "zod";
import type { Repository } from "./repositories.ts";
import type { LossyTracker } from "./text-decoding.ts";
import type { GitToolContext } from "./tool-context.ts";
import { fail, failFromRun, succeed, type ToolOutcome } from "./tool-result.ts";

export const EntryTypeSchema = z.enum(["file", "executable", "symlink", "directory", "submodule"]);
export type EntryType = z.infer<typeof EntryTypeSchema>;

export type RawTreeEntry = {
  mode: string;
  type: EntryType;
  object: string;
  size: number | null;
  path: Buffer;
};

function entryType(mode: string): EntryType {
  switch (mode) {
    case "040000":
      return "directory";
    case "120000":
      return "symlink";
    case "160000":
      return "submodule";
    case "100755":
      return "executable";
    default:
      return "file";
  }
}

/** Parses `git ls-tree -z --long`: `<mode> <type> <object> <size>\t<path>\0`. */
export function parseTreeEntries(stdout: Buffer): RawTreeEntry[] {
  const entries: RawTreeEntry[] = [];
  let at = 0;
  while (at < stdout.length) {
    const end = stdout.indexOf(0, at);
    if (end === -1) break;
    const record = stdout.subarray(at, end);
    at = end + 1;
    const tab = record.indexOf(0x09);
    if (tab === -1) continue;
    const [mode = "", , object = "", size = "-"] = record
      .subarray(0, tab)
      .toString("latin1")
      .split(/ +/);
    entries.push({
      mode,
      type: entryType(mode),
      object,
      size: size === "-" ? null : Number.parseInt(size, 10),
      path: record.subarray(tab + 1),
    });
  }
  return entries;
}

export function decodeEntryPath(entry: RawTreeEntry, tracker: LossyTracker): string {
  return tracker.decode(entry.path);
}

/**
 * Finds the tree entry for `path` at commit `sha`. Each leading directory is checked too: a
 * path that goes through a symlink is refused, because git objects are never resolved through
 * links (and the work tree, where a link could point outside the repository, is never read).
 */
export async function lookupTreeEntry(
  context: GitToolContext,
  repo: Repository,
  sha: string,
  path: string,
  what: string,
): Promise<ToolOutcome<RawTreeEntry>> {
  const segments = path.split("/");
  const prefixes = segments.map((_, i) => segments.slice(0, i + 1).join("/"));
  // ls-tree takes no "--": after --end-of-options every word after the tree is a path.
  const run = await context.runner.run({
    gitDir: repo.gitDir,
    subcommand: "ls-tree",
    args: ["-z", "--long", "--full-tree", "--end-of-options", sha, ...prefixes],
    signal: context.signal,
  });
  if (!run.ok) return failFromRun(run.failure, what);
  const byPath = new Map(
    parseTreeEntries(run.stdout).map((entry) => [entry.path.toString("utf8"), entry]),
  );
  for (const prefix of prefixes.slice(0, -1)) {
    const entry = byPath.get(prefix);
    if (entry?.type === "symlink") {
      return fail(
        "invalid_path",
        `${what}: "${prefix}" is a symbolic link; links are not followed`,
      );
    }
  }
  const entry = byPath.get(path);
  if (!entry) return fail("path_not_found", `${what}: "${path}" does not exist at that revision`);
  return succeed(entry);
}
