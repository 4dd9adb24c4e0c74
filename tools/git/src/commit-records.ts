import { z } from "zod";
import type { LossyTracker } from "./text-decoding.ts";
import { splitBytes } from "./text-decoding.ts";

export const PersonSchema = z.object({
  name: z.string(),
  email: z.string(),
  date: z.string().describe("ISO 8601 with the original UTC offset"),
});
export type Person = z.infer<typeof PersonSchema>;

export const CommitSchema = z.object({
  sha: z.string(),
  parents: z.array(z.string()),
  author: PersonSchema,
  committer: PersonSchema,
  subject: z.string(),
  message: z.string(),
  message_truncated: z.boolean(),
});
export type Commit = z.infer<typeof CommitSchema>;

/** One commit per NUL-terminated record (`-z`); names and e-mails never contain newlines. */
export const COMMIT_FORMAT = "--format=%H%n%P%n%an%n%ae%n%aI%n%cn%n%ce%n%cI%n%B";
const HEADER_LINES = 8;

export function parseCommitRecord(
  record: Buffer,
  tracker: LossyTracker,
  maxMessageChars: number,
): Commit | undefined {
  const lines: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < HEADER_LINES; i++) {
    const end = record.indexOf(0x0a, start);
    if (end === -1) return undefined;
    lines.push(record.subarray(start, end));
    start = end + 1;
  }
  const text = (index: number): string => tracker.decode(lines[index] ?? Buffer.alloc(0));
  const sha = text(0);
  if (!/^[0-9a-f]{40,64}$/.test(sha)) return undefined;
  const fullMessage = tracker.decode(record.subarray(start)).replace(/\n+$/, "");
  const truncated = fullMessage.length > maxMessageChars;
  return {
    sha,
    parents: text(1) === "" ? [] : text(1).split(" "),
    author: { name: text(2), email: text(3), date: text(4) },
    committer: { name: text(5), email: text(6), date: text(7) },
    subject: fullMessage.split("\n", 1)[0] ?? "",
    message: truncated ? fullMessage.slice(0, maxMessageChars) : fullMessage,
    message_truncated: truncated,
  };
}

export function parseCommitRecords(
  stdout: Buffer,
  tracker: LossyTracker,
  maxMessageChars: number,
): Commit[] {
  const commits: Commit[] = [];
  for (const record of splitBytes(stdout, 0)) {
    const commit = parseCommitRecord(record, tracker, maxMessageChars);
    if (commit) commits.push(commit);
  }
  return commits;
}
