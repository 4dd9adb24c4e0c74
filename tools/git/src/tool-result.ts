import type { GitRunFailure } from "./git-runner.ts";

/** Closed set of reasons a git tool call fails; used as log field and in the client message. */
export type GitToolErrorCode =
  | "unknown_repository"
  | "invalid_argument"
  | "invalid_revision"
  | "revision_not_found"
  | "invalid_path"
  | "path_not_found"
  | "not_a_file"
  | "invalid_cursor"
  | "output_too_large"
  | "timeout"
  | "git_failed";

/** `message` is written for the client: it never contains server paths or git's stderr. */
export type GitToolError = { code: GitToolErrorCode; message: string };

export type ToolOutcome<T> = { ok: true; value: T } | { ok: false; error: GitToolError };

export function succeed<T>(value: T): ToolOutcome<T> {
  return { ok: true, value };
}

export function fail(code: GitToolErrorCode, message: string): { ok: false; error: GitToolError } {
  return { ok: false, error: { code, message } };
}

/** Maps a runner failure to a client-safe error; the raw stderr stays on the server. */
export function failFromRun(
  failure: GitRunFailure,
  what: string,
): { ok: false; error: GitToolError } {
  switch (failure.reason) {
    case "output_too_large":
      return fail(
        "output_too_large",
        `${what}: git output exceeded the server's size cap; narrow the request (path, revision range or max_count)`,
      );
    case "timeout":
      return fail(
        "timeout",
        `${what}: git did not finish within the server's time limit; narrow the request`,
      );
    case "aborted":
      return fail("git_failed", `${what}: the request was cancelled`);
    case "subcommand_not_allowed":
    case "invalid_argument":
      return fail("invalid_argument", `${what}: the request contains an argument git cannot take`);
    case "spawn_failed":
    case "exit_code":
      return fail("git_failed", `${what}: git failed`);
  }
}
