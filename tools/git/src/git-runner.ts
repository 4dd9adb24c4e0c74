import { execFile, type ExecFileException } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The only git subcommands this server ever runs: all of them read the object database. */
export const ALLOWED_SUBCOMMANDS = [
  "blame",
  "cat-file",
  "diff",
  "grep",
  "log",
  "ls-tree",
  "merge-base",
  "rev-parse",
  "show",
] as const;
export type GitSubcommand = (typeof ALLOWED_SUBCOMMANDS)[number];

export type GitRunFailureReason =
  | "subcommand_not_allowed"
  | "invalid_argument"
  | "output_too_large"
  | "timeout"
  | "aborted"
  | "spawn_failed"
  | "exit_code";

export type GitRunFailure = {
  reason: GitRunFailureReason;
  exitCode?: number;
  /** Internal diagnostics only: may contain server paths, never sent to a client. */
  stderr: string;
};

export type GitRunOutcome =
  | { ok: true; stdout: Buffer; exitCode: number; truncated: boolean }
  | { ok: false; failure: GitRunFailure };

export type GitRunRequest = {
  /** Absolute path of the repository's git directory, from the server's own configuration. */
  gitDir: string;
  subcommand: GitSubcommand;
  args: readonly string[];
  /** Overrides the runner's default cap for this call. */
  maxOutputBytes?: number;
  /** "truncate" returns the first maxOutputBytes with truncated=true instead of failing. */
  onOverflow?: "error" | "truncate";
  timeoutMs?: number;
  /** Exit codes that are not failures (git grep exits 1 when nothing matches). */
  okExitCodes?: readonly number[];
  signal?: AbortSignal;
};

export type GitRunnerOptions = {
  gitBinary?: string;
  timeoutMs: number;
  maxOutputBytes: number;
};

export type GitRunner = {
  run(request: GitRunRequest): Promise<GitRunOutcome>;
  /** Removes the private empty HOME directory. */
  close(): void;
};

// Configuration that overrides whatever the repository's own .git/config says: command-line
// config has the highest precedence, so hooks, fsmonitor, pagers, signature checks and any
// transport are neutralised even in a repository we do not control.
const HARDENING_CONFIG = [
  "core.hooksPath=/dev/null",
  "core.fsmonitor=false",
  "core.pager=cat",
  "core.quotePath=false",
  "core.untrackedCache=false",
  "core.sshCommand=false",
  "protocol.allow=never",
  "log.showSignature=false",
  "i18n.logOutputEncoding=UTF-8",
  "color.ui=false",
  "gc.auto=0",
  "maintenance.auto=false",
  "log.showRoot=true",
];

function hardenedEnv(home: string): NodeJS.ProcessEnv {
  // Built from scratch: nothing from the server's environment (GIT_DIR, GIT_WORK_TREE,
  // GIT_CONFIG_PARAMETERS, GIT_EXEC_PATH, PAGER, ...) reaches git except PATH to find it.
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: home,
    XDG_CONFIG_HOME: home,
    LC_ALL: "C",
    LANG: "C",
    TZ: "UTC",
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_SYSTEM: "/dev/null",
    GIT_CONFIG_GLOBAL: "/dev/null",
    GIT_ATTR_NOSYSTEM: "1",
    GIT_TERMINAL_PROMPT: "0",
    GIT_ASKPASS: "/bin/false",
    SSH_ASKPASS: "/bin/false",
    GIT_PAGER: "cat",
    PAGER: "cat",
    GIT_OPTIONAL_LOCKS: "0",
    GIT_NO_REPLACE_OBJECTS: "1",
    GIT_NO_LAZY_FETCH: "1",
    GIT_PROTOCOL_FROM_USER: "0",
    GIT_ALLOW_PROTOCOL: "",
    // Paths are data, never pathspec magic such as ":(top)" or globs.
    GIT_LITERAL_PATHSPECS: "1",
  };
}

function isAllowedSubcommand(value: string): value is GitSubcommand {
  return (ALLOWED_SUBCOMMANDS as readonly string[]).includes(value);
}

export function createGitRunner(options: GitRunnerOptions): GitRunner {
  const home = mkdtempSync(join(tmpdir(), "git-tool-home-"));
  const env = hardenedEnv(home);
  const gitBinary = options.gitBinary ?? "git";

  async function run(request: GitRunRequest): Promise<GitRunOutcome> {
    if (!isAllowedSubcommand(request.subcommand)) {
      return { ok: false, failure: { reason: "subcommand_not_allowed", stderr: "" } };
    }
    const all = [request.gitDir, ...request.args];
    if (all.some((arg) => arg.includes("\0"))) {
      return { ok: false, failure: { reason: "invalid_argument", stderr: "NUL in argument" } };
    }
    const argv = [
      "--no-pager",
      `--git-dir=${request.gitDir}`,
      ...HARDENING_CONFIG.flatMap((entry) => ["-c", entry]),
      request.subcommand,
      ...request.args,
    ];
    const cap = request.maxOutputBytes ?? options.maxOutputBytes;
    const truncate = request.onOverflow === "truncate";
    const okExitCodes = request.okExitCodes ?? [0];

    return new Promise<GitRunOutcome>((resolve) => {
      const child = execFile(
        gitBinary,
        argv,
        {
          env,
          cwd: home,
          shell: false,
          encoding: "buffer",
          // One byte over the cap tells "exactly at the cap" apart from "over it".
          maxBuffer: cap + 1,
          timeout: request.timeoutMs ?? options.timeoutMs,
          killSignal: "SIGKILL",
          windowsHide: true,
          ...(request.signal ? { signal: request.signal } : {}),
        },
        (error: ExecFileException | null, stdout: Buffer, stderr: Buffer) => {
          const stderrText = stderr.subarray(0, 4096).toString("utf8");
          if (!error) {
            if (stdout.length > cap) {
              if (truncate) {
                resolve({
                  ok: true,
                  stdout: stdout.subarray(0, cap),
                  exitCode: 0,
                  truncated: true,
                });
              } else {
                resolve({ ok: false, failure: { reason: "output_too_large", stderr: stderrText } });
              }
              return;
            }
            resolve({ ok: true, stdout, exitCode: 0, truncated: false });
            return;
          }
          if (error.code === "ERR_CHILD_PROCESS_STDIO_MAXBUFFER") {
            if (truncate && stdout.length > 0) {
              resolve({ ok: true, stdout: stdout.subarray(0, cap), exitCode: 0, truncated: true });
            } else {
              resolve({ ok: false, failure: { reason: "output_too_large", stderr: stderrText } });
            }
            return;
          }
          if (error.name === "AbortError" || request.signal?.aborted) {
            resolve({ ok: false, failure: { reason: "aborted", stderr: stderrText } });
            return;
          }
          if (error.killed && error.signal === "SIGKILL") {
            resolve({ ok: false, failure: { reason: "timeout", stderr: stderrText } });
            return;
          }
          if (typeof error.code === "number") {
            if (okExitCodes.includes(error.code)) {
              resolve({ ok: true, stdout, exitCode: error.code, truncated: false });
            } else {
              resolve({
                ok: false,
                failure: { reason: "exit_code", exitCode: error.code, stderr: stderrText },
              });
            }
            return;
          }
          resolve({ ok: false, failure: { reason: "spawn_failed", stderr: error.message } });
        },
      );
      // Nothing is ever written to git's stdin.
      child.stdin?.end();
    });
  }

  return {
    run,
    close() {
      rmSync(home, { recursive: true, force: true });
    },
  };
}
