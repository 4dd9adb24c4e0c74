/**
 * Notices when tools.yaml or policy.yaml change and hands the new content, validated, to the
 * service. Triggers: a watch on the configuration directory (and on the two files), and SIGHUP.
 *
 * The directory is watched, not only the files: an editor that saves by writing a new file and
 * renaming it over the old one, and a Kubernetes ConfigMap update (which swaps the `..data`
 * symlink the file names point through), both leave a watch on the old file looking at a file
 * nobody reads any more. The files are watched as well because a single file bind-mounted by
 * Docker reports a change only on itself, never on the directory it is mounted into.
 *
 * Whatever the event, both files are read again and their sha256 digests compared with those of
 * the configuration running: same content, nothing happens (a ConfigMap sync that changes nothing,
 * `touch`, an editor saving twice). Events are debounced, and checks run one at a time.
 */
import { watch, type FSWatcher } from "node:fs";
import path from "node:path";
import type { Logger } from "../../contract/src/log.ts";
import type { Env } from "./interpolate.ts";
import {
  POLICY_FILE,
  readConfigFiles,
  TOOLS_FILE,
  validateConfigFiles,
  type ConfigDigests,
  type ConfigFiles,
  type LoadResult,
} from "./load-config.ts";

export type ReloadTrigger = "watch" | "sighup";

/**
 * ok: applied. invalid: refused, the running configuration stays (bad file, or a service could
 * not compile it). failed: valid, but applying it failed (e.g. the database was unavailable).
 */
export type ReloadOutcome = "ok" | "invalid" | "failed";
export const RELOAD_OUTCOMES = ["ok", "invalid", "failed"] as const satisfies ReloadOutcome[];

export type ConfigCandidate = {
  trigger: ReloadTrigger;
  /** The configuration running now. */
  previous: ConfigDigests;
  digests: ConfigDigests;
  loaded: LoadResult;
};

export type CheckResult = {
  trigger: ReloadTrigger;
  /** unchanged: the files hold what is running (or what was already refused), nothing was done. */
  outcome: ReloadOutcome | "unchanged";
  digests: ConfigDigests;
};

export type ConfigWatcherOptions = {
  dir: string;
  /** For `${VAR}` interpolation, as at startup. */
  env: Env;
  /** Digests of the configuration the service started with (loadConfig's result). */
  applied: ConfigDigests;
  /** Applies a candidate (see createConfigReloader); its answer decides what counts as running. */
  onCandidate(candidate: ConfigCandidate): Promise<ReloadOutcome>;
  /** Quiet time after the last file event before the files are read; default 200 ms. */
  debounceMs?: number;
  /** Also reload on SIGHUP. Only a process entry point should take the signal over. */
  sighup?: boolean;
  logger: Pick<Logger, "debug" | "info" | "warn" | "error">;
};

export type ConfigWatcher = {
  /** Digests of the configuration running now. */
  applied(): ConfigDigests;
  /**
   * Starts watching, then checks once: a change made between the service's own load and the
   * watch being in place is not missed.
   */
  start(): Promise<CheckResult>;
  /**
   * Reads both files and, if their content is new, validates and applies them. Checks run one at
   * a time; a check asked for while another waits to start joins it.
   */
  check(trigger: ReloadTrigger): Promise<CheckResult>;
  /** Called after every check, whatever its outcome; returns the unsubscribe function. */
  onChecked(listener: (result: CheckResult) => void): () => void;
  close(): void;
};

const DEFAULT_DEBOUNCE_MS = 200;

function sameDigests(a: ConfigDigests, b: ConfigDigests | undefined): boolean {
  return b !== undefined && a[TOOLS_FILE] === b[TOOLS_FILE] && a[POLICY_FILE] === b[POLICY_FILE];
}

export function createConfigWatcher(options: ConfigWatcherOptions): ConfigWatcher {
  const { logger } = options;
  let applied = options.applied;
  /** Content already refused as invalid: a file event alone does not report it again. */
  let refused: ConfigDigests | undefined;
  let dirWatcher: FSWatcher | undefined;
  let fileWatchers: FSWatcher[] = [];
  let debounce: NodeJS.Timeout | undefined;
  let tail: Promise<unknown> = Promise.resolve();
  let queued: { entry: { trigger: ReloadTrigger }; promise: Promise<CheckResult> } | undefined;
  let closed = false;
  const listeners = new Set<(result: CheckResult) => void>();
  const onSighup = (): void => {
    void check("sighup");
  };

  function schedule(): void {
    if (closed) return;
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      void check("watch");
    }, options.debounceMs ?? DEFAULT_DEBOUNCE_MS);
    debounce.unref();
  }

  function watchFailed(error: unknown): void {
    logger.warn(
      { dir: options.dir, err: (error as NodeJS.ErrnoException).code ?? "unknown" },
      "configuration directory cannot be watched: reload with SIGHUP",
    );
  }

  /** A file replaced by a new one leaves its watch on the old one: watch the current ones again. */
  function watchFiles(): void {
    for (const watcher of fileWatchers) watcher.close();
    fileWatchers = [];
    if (closed) return;
    for (const name of [TOOLS_FILE, POLICY_FILE]) {
      try {
        const watcher = watch(path.join(options.dir, name), { persistent: false }, schedule);
        // The file went away (being replaced): the directory watch sees it come back.
        watcher.on("error", () => watcher.close());
        fileWatchers.push(watcher);
      } catch {
        // Missing right now (being replaced): the directory watch sees it come back.
      }
    }
  }

  async function run(trigger: ReloadTrigger): Promise<CheckResult> {
    let files: ConfigFiles;
    try {
      files = await readConfigFiles(options.dir);
    } finally {
      watchFiles();
    }
    const { digests } = files;
    let outcome: CheckResult["outcome"];
    if (sameDigests(digests, applied) || (trigger === "watch" && sameDigests(digests, refused))) {
      outcome = "unchanged";
      const fields = { trigger, digests };
      const message = "configuration unchanged: nothing to reload";
      if (trigger === "sighup") logger.info(fields, message);
      else logger.debug(fields, message);
    } else {
      const candidate: ConfigCandidate = {
        trigger,
        previous: applied,
        digests,
        loaded: validateConfigFiles(files, options.env),
      };
      try {
        outcome = await options.onCandidate(candidate);
      } catch (error) {
        outcome = "failed";
        logger.error(
          { trigger, err: error instanceof Error ? error.name : "unknown" },
          "configuration reload failed: the running configuration stays",
        );
      }
      if (outcome === "ok") applied = digests;
      // A failure to apply may be passing (a database restart): the next event tries again.
      refused = outcome === "invalid" ? digests : undefined;
    }
    const result: CheckResult = { trigger, outcome, digests };
    for (const listener of listeners) listener(result);
    return result;
  }

  function check(trigger: ReloadTrigger): Promise<CheckResult> {
    if (queued !== undefined) {
      // An explicit signal is worth recording as the trigger over a file event.
      if (trigger === "sighup") queued.entry.trigger = "sighup";
      return queued.promise;
    }
    const entry = { trigger };
    const promise = tail.then(() => {
      queued = undefined;
      return run(entry.trigger);
    });
    queued = { entry, promise };
    tail = promise.catch(() => undefined);
    return promise;
  }

  return {
    applied: () => applied,
    start() {
      try {
        dirWatcher = watch(options.dir, { persistent: false }, schedule);
        dirWatcher.on("error", watchFailed);
      } catch (error) {
        watchFailed(error);
      }
      watchFiles();
      if (options.sighup === true) process.on("SIGHUP", onSighup);
      return check("watch");
    },
    check,
    onChecked(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      closed = true;
      clearTimeout(debounce);
      process.off("SIGHUP", onSighup);
      dirWatcher?.close();
      for (const watcher of fileWatchers) watcher.close();
      fileWatchers = [];
    },
  };
}
