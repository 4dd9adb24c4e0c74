import { z } from "zod";
import { resolveFileAtRevision } from "../file-at-revision.ts";
import { decodeUtf8, looksBinary, trimIncompleteUtf8 } from "../text-decoding.ts";
import {
  PathArgSchema,
  RepositoryArgSchema,
  RevisionArgSchema,
  type GitToolContext,
} from "../tool-context.ts";
import { failFromRun, succeed, type ToolOutcome } from "../tool-result.ts";

export const ReadFileArgsSchema = z.strictObject({
  repository: RepositoryArgSchema,
  revision: RevisionArgSchema.default("HEAD"),
  path: PathArgSchema.min(1),
  max_bytes: z
    .number()
    .int()
    .min(1)
    .optional()
    .describe("Return at most this many bytes (never more than the server's cap)"),
});
export type ReadFileArgs = z.infer<typeof ReadFileArgsSchema>;

export const ReadFileOutputSchema = z.object({
  repository: z.string(),
  revision: z.string().describe("Resolved commit SHA"),
  path: z.string(),
  type: z.enum(["file", "executable", "symlink"]),
  size: z.number().int().describe("Full size in bytes"),
  binary: z.boolean(),
  encoding: z.enum(["utf-8", "base64"]).describe("base64 for binary content"),
  content: z.string(),
  content_base64: z
    .string()
    .optional()
    .describe("Exact bytes when the text was not valid UTF-8 (lossy_utf8)"),
  truncated: z.boolean().describe("Only the first bytes are returned"),
  lossy_utf8: z.boolean(),
  symlink_target: z
    .string()
    .optional()
    .describe("For a symlink: where it points. The link is never followed."),
});
export type ReadFileOutput = z.infer<typeof ReadFileOutputSchema>;

export async function gitReadFile(
  context: GitToolContext,
  args: ReadFileArgs,
): Promise<ToolOutcome<ReadFileOutput>> {
  const file = await resolveFileAtRevision(context, args, "git_read_file", "; use git_list_files");
  if (!file.ok) return file;
  const { repo, sha, path, entry } = file.value;
  const { type } = entry;

  const cap = Math.min(args.max_bytes ?? context.limits.maxFileBytes, context.limits.maxFileBytes);
  const run = await context.runner.run({
    gitDir: repo.gitDir,
    subcommand: "cat-file",
    args: ["blob", entry.object],
    maxOutputBytes: cap,
    onOverflow: "truncate",
    signal: context.signal,
  });
  if (!run.ok) return failFromRun(run.failure, "git_read_file");

  const base = {
    repository: repo.name,
    revision: sha,
    path,
    type,
    size: entry.size ?? run.stdout.length,
    truncated: run.truncated,
  };
  if (looksBinary(run.stdout)) {
    return succeed({
      ...base,
      binary: true,
      encoding: "base64",
      content: run.stdout.toString("base64"),
      lossy_utf8: false,
    });
  }
  const bytes = run.truncated ? trimIncompleteUtf8(run.stdout) : run.stdout;
  const decoded = decodeUtf8(bytes);
  return succeed({
    ...base,
    binary: false,
    encoding: "utf-8",
    content: decoded.text,
    ...(decoded.lossy ? { content_base64: bytes.toString("base64") } : {}),
    lossy_utf8: decoded.lossy,
    ...(type === "symlink" ? { symlink_target: decoded.text } : {}),
  });
}
