import type { z } from "zod";
import {
  defineTool,
  toolError,
  toolOk,
  type DeclaredToolAnnotations,
  type ToolContext,
  type ToolDefinition,
} from "../../kit/src/index.ts";
import type { GitToolContext } from "./tool-context.ts";
import type { ToolOutcome as GitOutcome } from "./tool-result.ts";
import { gitBlame, BlameArgsSchema, BlameOutputSchema } from "./tools/git-blame.ts";
import { gitDiff, DiffArgsSchema, DiffOutputSchema } from "./tools/git-diff.ts";
import { gitGrep, GrepArgsSchema, GrepOutputSchema } from "./tools/git-grep.ts";
import {
  gitListFiles,
  ListFilesArgsSchema,
  ListFilesOutputSchema,
} from "./tools/git-list-files.ts";
import {
  gitListRepositories,
  ListRepositoriesArgsSchema,
  ListRepositoriesOutputSchema,
} from "./tools/git-list-repositories.ts";
import { gitLog, LogArgsSchema, LogOutputSchema } from "./tools/git-log.ts";
import { gitReadFile, ReadFileArgsSchema, ReadFileOutputSchema } from "./tools/git-read-file.ts";
import {
  gitSearchCommits,
  SearchCommitsArgsSchema,
  SearchCommitsOutputSchema,
} from "./tools/git-search-commits.ts";
import {
  gitShowCommit,
  ShowCommitArgsSchema,
  ShowCommitOutputSchema,
} from "./tools/git-show-commit.ts";

export type GitToolDependencies = Omit<GitToolContext, "signal">;

const READ_ONLY: Omit<DeclaredToolAnnotations, "title"> = {
  readOnlyHint: true,
  destructiveHint: false,
  idempotentHint: true,
  openWorldHint: false,
};

type GitToolFunction<I extends z.ZodObject, O extends z.ZodObject> = (
  context: GitToolContext,
  args: z.output<I>,
) => Promise<GitOutcome<z.input<O>>>;

function gitTool<I extends z.ZodObject, O extends z.ZodObject>(
  deps: GitToolDependencies,
  spec: {
    name: string;
    title: string;
    description: string;
    inputSchema: I;
    outputSchema: O;
    run: GitToolFunction<I, O>;
  },
): ToolDefinition {
  return defineTool<I, O>({
    name: spec.name,
    title: spec.title,
    description: spec.description,
    inputSchema: spec.inputSchema,
    outputSchema: spec.outputSchema,
    annotations: { title: spec.title, ...READ_ONLY },
    async handler(input, context: ToolContext) {
      const outcome = await spec.run({ ...deps, signal: context.signal }, input);
      if (outcome.ok) return toolOk(outcome.value);
      context.logger.info({ gitError: outcome.error.code }, "git tool refused the call");
      // "code: message" lets a client branch on the code; the message is already client-safe.
      return toolError(`${outcome.error.code}: ${outcome.error.message}`);
    },
  });
}

export function createGitToolDefinitions(deps: GitToolDependencies): ToolDefinition[] {
  return [
    gitTool(deps, {
      name: "git_list_repositories",
      title: "List git repositories",
      description: "Lists the repositories this server may read, with their current HEAD.",
      inputSchema: ListRepositoriesArgsSchema,
      outputSchema: ListRepositoriesOutputSchema,
      run: gitListRepositories,
    }),
    gitTool(deps, {
      name: "git_log",
      title: "Commit history",
      description:
        "Commits reachable from a revision or in a range a..b, newest first; filters: path, " +
        "author, since/until, message pattern. Paginate with next_cursor.",
      inputSchema: LogArgsSchema,
      outputSchema: LogOutputSchema,
      run: gitLog,
    }),
    gitTool(deps, {
      name: "git_show_commit",
      title: "Show a commit",
      description:
        "One commit: metadata, full message, changed files with line counts and the patch " +
        "(size-capped, patch_truncated says when cut).",
      inputSchema: ShowCommitArgsSchema,
      outputSchema: ShowCommitOutputSchema,
      run: gitShowCommit,
    }),
    gitTool(deps, {
      name: "git_diff",
      title: "Diff two revisions",
      description:
        "Changes between two revisions given as a..b or a...b, optionally limited to paths; " +
        "format stat (file list) or patch (file list + size-capped patch).",
      inputSchema: DiffArgsSchema,
      outputSchema: DiffOutputSchema,
      run: gitDiff,
    }),
    gitTool(deps, {
      name: "git_grep",
      title: "Search file contents",
      description:
        "Searches the files of a revision for a fixed string (default) or a POSIX extended " +
        "regular expression; optional case-insensitivity and path filters. Binary files skipped.",
      inputSchema: GrepArgsSchema,
      outputSchema: GrepOutputSchema,
      run: gitGrep,
    }),
    gitTool(deps, {
      name: "git_blame",
      title: "Blame a file",
      description:
        "For each line of a file at a revision, the commit that last changed it; optional " +
        "start_line/end_line.",
      inputSchema: BlameArgsSchema,
      outputSchema: BlameOutputSchema,
      run: gitBlame,
    }),
    gitTool(deps, {
      name: "git_list_files",
      title: "List files",
      description:
        "Files and directories in the tree of a revision under an optional path prefix, " +
        "recursive by default. Paginate with next_cursor.",
      inputSchema: ListFilesArgsSchema,
      outputSchema: ListFilesOutputSchema,
      run: gitListFiles,
    }),
    gitTool(deps, {
      name: "git_read_file",
      title: "Read a file",
      description:
        "Content of one file at a revision, size-capped (truncated says when cut). Binary " +
        "content comes back base64; symlinks are reported with their target, never followed.",
      inputSchema: ReadFileArgsSchema,
      outputSchema: ReadFileOutputSchema,
      run: gitReadFile,
    }),
    gitTool(deps, {
      name: "git_search_commits",
      title: "Search commits by change (pickaxe)",
      description:
        "Commits whose changes add or remove a string (match=string) or touch lines matching a " +
        "regex (match=regex). Paginate with next_cursor.",
      inputSchema: SearchCommitsArgsSchema,
      outputSchema: SearchCommitsOutputSchema,
      run: gitSearchCommits,
    }),
  ];
}
