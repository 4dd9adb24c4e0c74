import { randomUUID } from "node:crypto";
import { readFileSync, unlinkSync } from "node:fs";
import { link, open, readFile, rename, unlink } from "node:fs/promises";
import path from "node:path";

/** Another live process (or this one) already has the PGlite data directory open. */
export class DataDirLockedError extends Error {
  readonly dataDir: string;
  readonly pid: number;
  constructor(dataDir: string, lockFile: string, pid: number) {
    super(
      `PGlite data directory ${dataDir} is in use by process ${pid} (lock file ${lockFile}). ` +
        "Only one process may open it: stop the other gateway or migrate run first, " +
        "or point DATA_DIR elsewhere, or use DATABASE_URL for several processes. " +
        `If process ${pid} is not using it, delete the lock file.`,
    );
    this.name = "DataDirLockedError";
    this.dataDir = dataDir;
    this.pid = pid;
  }
}

export type DataDirLock = {
  readonly file: string;
  /** Removes the lock file if it is still ours. Idempotent. */
  release(): Promise<void>;
};

export const LOCK_FILE_NAME = "pglite.lock";

// Lock files this process holds: a lock naming our own pid that is not in here was left by an
// earlier process that had the same pid (a restarted container often does) and is stale.
const held = new Set<string>();

const errnoCode = (error: unknown): unknown => (error as { code?: unknown } | null)?.code;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return errnoCode(error) === "EPERM";
  }
}

const parsePid = (text: string): number | undefined => {
  const trimmed = text.trim();
  return /^[1-9][0-9]{0,9}$/.test(trimmed) ? Number(trimmed) : undefined;
};

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return undefined;
    throw error;
  }
}

/**
 * Takes `<dataDir>/pglite.lock` (created exclusively, holding our pid). PGlite is a single-process
 * database: two processes on one directory silently lose each other's commits, so a second one
 * is refused with DataDirLockedError. A lock whose process is gone is stale and taken over.
 */
export async function acquireDataDirLock(dataDir: string): Promise<DataDirLock> {
  const file = path.resolve(dataDir, LOCK_FILE_NAME);
  const content = `${process.pid}\n`;
  for (let attempt = 0; attempt < 5; attempt += 1) {
    try {
      const handle = await open(file, "wx", 0o600);
      try {
        await handle.writeFile(content);
      } finally {
        await handle.close();
      }
      return hold(file, content);
    } catch (error) {
      if (errnoCode(error) !== "EEXIST") throw error;
    }
    const existing = await readIfExists(file);
    if (existing === undefined) continue;
    const pid = parsePid(existing);
    // An unreadable lock (e.g. a crash between create and write) is treated as stale.
    const live = pid !== undefined && (pid === process.pid ? held.has(file) : isAlive(pid));
    if (live) throw new DataDirLockedError(path.resolve(dataDir), file, pid);
    await removeStale(file, existing);
  }
  throw new Error(`could not take the lock file ${file}: it keeps changing`);
}

/**
 * Moves the stale lock aside before deleting it, so a process that took the lock over in the
 * meantime does not lose it to us: if what we moved is no longer the stale content, it goes back.
 */
async function removeStale(file: string, staleContent: string): Promise<void> {
  const aside = `${file}.${process.pid}.${randomUUID()}.stale`;
  try {
    await rename(file, aside);
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return;
    throw error;
  }
  if ((await readIfExists(aside)) !== staleContent) {
    await link(aside, file).catch(() => undefined);
  }
  await unlink(aside).catch(() => undefined);
}

function hold(file: string, content: string): DataDirLock {
  held.add(file);
  const releaseSync = (): void => {
    if (!held.delete(file)) return;
    try {
      if (readFileSync(file, "utf8") === content) unlinkSync(file);
    } catch {
      // Already gone: nothing to release.
    }
  };
  process.once("exit", releaseSync);
  return {
    file,
    async release() {
      process.off("exit", releaseSync);
      if (!held.has(file)) return;
      held.delete(file);
      if ((await readIfExists(file)) === content) await unlink(file).catch(() => undefined);
    },
  };
}
