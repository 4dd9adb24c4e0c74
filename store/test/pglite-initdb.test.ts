import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensurePgliteCluster } from "../src/pglite-initdb.ts";
import { PGLITE_TEMPLATE_ENV } from "../src/pglite-template.ts";

let root: string;
// The test run's template (test/global-setup.ts) would stand in for initdb: tested on its own below.
const template = process.env[PGLITE_TEMPLATE_ENV];
beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "pglite-initdb-"));
  delete process.env[PGLITE_TEMPLATE_ENV];
});
afterAll(async () => {
  if (template !== undefined) process.env[PGLITE_TEMPLATE_ENV] = template;
  await rm(root, { recursive: true, force: true });
});

describe("ensurePgliteCluster", () => {
  it("creates a new cluster in a child process and leaves nothing else behind", async () => {
    const dir = path.join(root, "fresh", "pglite");
    await mkdir(path.dirname(dir), { recursive: true });
    await ensurePgliteCluster(dir, ["-c", "shared_buffers=16MB"]);
    expect(existsSync(path.join(dir, "PG_VERSION"))).toBe(true);
    expect(await readdir(path.dirname(dir))).toEqual(["pglite"]);

    const before = (await stat(path.join(dir, "PG_VERSION"))).mtimeMs;
    await ensurePgliteCluster(dir, ["-c", "shared_buffers=16MB"]);
    expect((await stat(path.join(dir, "PG_VERSION"))).mtimeMs).toBe(before);
  }, 120_000);

  it("fills an empty directory", async () => {
    const dir = path.join(root, "empty", "pglite");
    await mkdir(dir, { recursive: true });
    await ensurePgliteCluster(dir, ["-c", "shared_buffers=16MB"]);
    expect(existsSync(path.join(dir, "PG_VERSION"))).toBe(true);
  }, 120_000);

  it("refuses a directory that holds files but no database", async () => {
    const dir = path.join(root, "foreign", "pglite");
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, "notes.txt"), "mine");
    await expect(ensurePgliteCluster(dir, [])).rejects.toThrow(
      /holds files but no database \(no PG_VERSION\)/,
    );
    expect(await readdir(dir)).toEqual(["notes.txt"]);
  });

  it("reports a failed initialisation and removes its staging directory", async () => {
    const parent = path.join(root, "failing");
    await mkdir(parent, { recursive: true });
    const dir = path.join(parent, "pglite");
    await expect(ensurePgliteCluster(dir, ["-c", "no_such_setting=1"])).rejects.toThrow(
      /could not create the embedded database in .*pglite/,
    );
    expect(await readdir(parent)).toEqual([]);
  }, 120_000);

  it.runIf(template !== undefined)(
    "unpacks the test run's template instead, and falls back to initdb when it is unusable",
    async () => {
      const dir = path.join(root, "templated", "pglite");
      process.env[PGLITE_TEMPLATE_ENV] = template;
      try {
        await ensurePgliteCluster(dir, ["-c", "shared_buffers=16MB"]);
        expect(existsSync(path.join(dir, "PG_VERSION"))).toBe(true);
        // Not a tar file: a plain initdb.
        process.env[PGLITE_TEMPLATE_ENV] = path.join(root, "templated", "pglite", "PG_VERSION");
        const other = path.join(root, "fallback", "pglite");
        await ensurePgliteCluster(other, ["-c", "shared_buffers=16MB"]);
        expect(existsSync(path.join(other, "PG_VERSION"))).toBe(true);
        expect(await readdir(path.dirname(other))).toEqual(["pglite"]);
      } finally {
        delete process.env[PGLITE_TEMPLATE_ENV];
      }
    },
    120_000,
  );
});
