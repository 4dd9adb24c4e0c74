import { z } from "zod";
import type { LossyTracker } from "./text-decoding.ts";

export const FileChangeSchema = z.object({
  path: z.string(),
  old_path: z.string().optional().describe("Set for renames and copies"),
  status: z.enum(["added", "modified", "deleted", "renamed", "copied", "type_changed", "other"]),
  additions: z.number().int().nullable().describe("null for binary files"),
  deletions: z.number().int().nullable().describe("null for binary files"),
  binary: z.boolean(),
});
export type FileChange = z.infer<typeof FileChangeSchema>;

/** Flags for `git diff`/`git show` that make the summary parseable and never run helpers. */
export const DIFF_SUMMARY_FLAGS = [
  "--raw",
  "--numstat",
  "-z",
  "-M",
  "--no-abbrev",
  "--no-ext-diff",
  "--no-textconv",
  "--no-color",
];

/** Flags for a textual patch: no external diff drivers, no textconv filters, no colour. */
export const PATCH_FLAGS = ["--patch", "-M", "--no-ext-diff", "--no-textconv", "--no-color"];

function statusName(letter: string): FileChange["status"] {
  switch (letter) {
    case "A":
      return "added";
    case "M":
      return "modified";
    case "D":
      return "deleted";
    case "R":
      return "renamed";
    case "C":
      return "copied";
    case "T":
      return "type_changed";
    default:
      return "other";
  }
}

type Cursor = { bytes: Buffer; at: number };

function readUntil(cursor: Cursor, byte: number): Buffer | undefined {
  const end = cursor.bytes.indexOf(byte, cursor.at);
  if (end === -1) return undefined;
  const out = cursor.bytes.subarray(cursor.at, end);
  cursor.at = end + 1;
  return out;
}

/**
 * Parses `--raw --numstat -z` output: first every raw record (`:modes shas status\0path\0`,
 * with a second path for renames and copies), then one numstat record per file in the same order.
 */
export function parseDiffSummary(stdout: Buffer, tracker: LossyTracker): FileChange[] {
  const cursor: Cursor = { bytes: stdout, at: 0 };
  const files: FileChange[] = [];
  // Skip the blank separator git may print between a commit header and the diff.
  while (cursor.at < stdout.length && (stdout[cursor.at] === 0x0a || stdout[cursor.at] === 0)) {
    cursor.at++;
  }
  while (cursor.at < stdout.length && stdout[cursor.at] === 0x3a /* ":" */) {
    const header = readUntil(cursor, 0);
    if (!header) break;
    const fields = header.toString("latin1").split(" ");
    const letter = (fields[4] ?? "").charAt(0);
    const first = readUntil(cursor, 0);
    if (!first) break;
    let path = tracker.decode(first);
    let oldPath: string | undefined;
    if (letter === "R" || letter === "C") {
      const second = readUntil(cursor, 0);
      if (!second) break;
      oldPath = path;
      path = tracker.decode(second);
    }
    files.push({
      path,
      ...(oldPath === undefined ? {} : { old_path: oldPath }),
      status: statusName(letter),
      additions: null,
      deletions: null,
      binary: false,
    });
  }
  for (const file of files) {
    const added = readUntil(cursor, 0x09);
    const deleted = readUntil(cursor, 0x09);
    if (added === undefined || deleted === undefined) break;
    // The path part: "path\0", or for renames "\0old\0new\0".
    const pathPart = readUntil(cursor, 0);
    if (pathPart === undefined) break;
    if (pathPart.length === 0) {
      readUntil(cursor, 0);
      readUntil(cursor, 0);
    }
    const a = added.toString("latin1");
    const d = deleted.toString("latin1");
    if (a === "-" && d === "-") {
      file.binary = true;
    } else {
      file.additions = Number.parseInt(a, 10);
      file.deletions = Number.parseInt(d, 10);
    }
  }
  return files;
}
