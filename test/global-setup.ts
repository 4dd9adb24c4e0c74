import { execFile } from "node:child_process";
import { rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { TestProject } from "vitest/node";
import { PGLITE_TEMPLATE_ENV } from "../store/src/pglite-template.ts";

/**
 * Runs `npm run build` (tsc -b tsconfig.build.json, incremental: about a second when nothing
 * changed) once before any test, so tests that start processes run the build output on plain
 * `node` (fast to start, like every deployment) instead of loading TypeScript through tsx in each
 * child. A fresh clone's `npm test` builds it here first.
 *
 * Type errors do not stop the run (tsc still emits, and `npm run typecheck` reports them): they are
 * printed here, and test/build.test.ts, which checks the build itself, fails with them.
 */

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const TSC = path.join(ROOT, "node_modules", "typescript", "bin", "tsc");
// A full compile on a busy 2-core machine; the incremental one takes seconds.
const BUILD_TIMEOUT_MS = 300_000;

declare module "vitest" {
  export interface ProvidedContext {
    /** tsc's diagnostics when the build reported errors, else "". */
    buildProblems: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const problems = await new Promise<string>((resolve) => {
    execFile(
      process.execPath,
      [TSC, "-b", "tsconfig.build.json"],
      { cwd: ROOT, timeout: BUILD_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error === null) resolve("");
        else resolve(`${String(stdout)}${String(stderr)}`.trim() || error.message);
      },
    );
  });
  if (problems !== "") {
    console.warn(`npm run build (tsc -b tsconfig.build.json) reported errors:\n${problems}`);
  }
  project.provide("buildProblems", problems);
  return writePgliteTemplate();
}

/**
 * One PGlite initdb for the whole run (about 5 s of CPU each): every in-memory database the tests
 * open, in the workers and in the processes they start, loads this dump instead
 * (store/src/open-database.ts). Removed when the run ends.
 */
async function writePgliteTemplate(): Promise<() => Promise<void>> {
  const { PGlite } = await import("@electric-sql/pglite");
  const client = await PGlite.create();
  const dump = await client.dumpDataDir("none");
  await client.close();
  const file = path.join(tmpdir(), `mcp-gateway-pglite-template-${process.pid}.tar`);
  await writeFile(file, Buffer.from(await dump.arrayBuffer()));
  process.env[PGLITE_TEMPLATE_ENV] = file;
  return () => rm(file, { force: true });
}
