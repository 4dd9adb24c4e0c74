/** Helpers for the reload tests of config, ext-authz, the router and the embedded stack. */
import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createLogger, type Logger } from "../../contract/src/log.ts";
import type { CheckResult, ConfigWatcher } from "../src/config-watcher.ts";

/** Resolves with the next check that `matches` (default: any); rejects after `timeoutMs`. */
export function nextCheck(
  watcher: ConfigWatcher,
  matches: (result: CheckResult) => boolean = () => true,
  timeoutMs = 15_000,
): Promise<CheckResult> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`no matching configuration check within ${timeoutMs} ms`));
    }, timeoutMs);
    const unsubscribe = watcher.onChecked((result) => {
      if (!matches(result)) return;
      clearTimeout(timer);
      unsubscribe();
      resolve(result);
    });
  });
}

export const outcomeIs =
  (outcome: CheckResult["outcome"]) =>
  (result: CheckResult): boolean =>
    result.outcome === outcome;

export async function scratchDir(prefix = "gw-reload-"): Promise<{
  dir: string;
  remove(): Promise<void>;
}> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Writes a file the way most editors save: a new file renamed over the old one. */
export async function replaceFile(file: string, content: string): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, content);
  await rename(temporary, file);
}

export type CapturedLog = { level: number; msg: string; [field: string]: unknown };

/** A logger whose lines are kept (parsed) instead of written. */
export function capturingLogger(name = "reload-test"): { logger: Logger; lines: CapturedLog[] } {
  const lines: CapturedLog[] = [];
  const logger = createLogger({
    name,
    level: "debug",
    destination: { write: (line: string) => void lines.push(JSON.parse(line) as CapturedLog) },
  });
  return { logger, lines };
}
