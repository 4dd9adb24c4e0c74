import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir, rename, rm, rmdir } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { PGLITE_TEMPLATE_ENV } from "./pglite-template.ts";

/**
 * PGlite creates a new cluster (initdb) inside the process that opens it, and the memory that
 * costs (about 550 MB) is never given back: a gateway started on a new data directory would keep
 * ~770 MB resident where one reopening it holds ~180 MB for the database. So a new directory is
 * initialised by a short-lived child process, into a sibling directory renamed into place once
 * complete (a crash half-way leaves no cluster that looks finished), and the gateway then opens it.
 */
const INIT_SCRIPT = `
const [entry, dataDir, settings] = process.argv.slice(1);
const { PGlite } = await import(entry);
const startParams = [...PGlite.defaultStartParams, ...JSON.parse(settings)];
const db = await PGlite.create({ dataDir, startParams });
await db.close();
`;

const INIT_TIMEOUT_MS = 120_000;

/** `settings`: start parameters after PGlite's defaults, e.g. `["-c", "shared_buffers=16MB"]`. */
export async function ensurePgliteCluster(pgliteDir: string, settings: string[]): Promise<void> {
  if (existsSync(path.join(pgliteDir, "PG_VERSION"))) return;
  const existing = await readdir(pgliteDir).catch(() => undefined);
  if (existing !== undefined && existing.length > 0) {
    throw new Error(`${pgliteDir} holds files but no database (no PG_VERSION); move it away`);
  }
  const staging = `${pgliteDir}.initdb-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  const entry = pathToFileURL(createRequire(import.meta.url).resolve("@electric-sql/pglite")).href;
  try {
    if (!(await extractTemplate(staging))) {
      await promisify(execFile)(
        process.execPath,
        ["--input-type=module", "-e", INIT_SCRIPT, entry, staging, JSON.stringify(settings)],
        { timeout: INIT_TIMEOUT_MS, maxBuffer: 1024 * 1024 },
      );
    }
    if (existing !== undefined) await rmdir(pgliteDir);
    await rename(staging, pgliteDir);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw new Error(`could not create the embedded database in ${pgliteDir}: ${reasonOf(error)}`);
  }
}

/**
 * Test runs only (see PGLITE_TEMPLATE_ENV in open-database.ts): the cluster is the template's
 * files, unpacked. False, leaving `staging` empty, when there is no template or it fails.
 */
async function extractTemplate(staging: string): Promise<boolean> {
  const template = process.env[PGLITE_TEMPLATE_ENV];
  if (template === undefined || template === "") return false;
  try {
    await mkdir(staging, { recursive: true });
    await promisify(execFile)("tar", ["-xf", template, "-C", staging], { timeout: 60_000 });
    if (existsSync(path.join(staging, "PG_VERSION"))) return true;
  } catch {
    // A plain initdb below.
  }
  await rm(staging, { recursive: true, force: true });
  return false;
}

/** The child's own error line, not the minified source line Node prints above it. */
function reasonOf(error: unknown): string {
  const lines = ((error as { stderr?: string }).stderr ?? "").split("\n").map((l) => l.trim());
  return lines.findLast((line) => /^\w*Error\b/.test(line)) ?? (error as Error).message;
}
