import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { sql } from "kysely";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DataDirLockedError, LOCK_FILE_NAME } from "../src/data-dir-lock.ts";
import { openDatabase, type Database } from "../src/open-database.ts";

const run = promisify(execFile);

/** The pid of a process that has already exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  await once(child, "exit");
  if (child.pid === undefined) throw new Error("child did not start");
  return child.pid;
}

describe("PGlite data directory lock", () => {
  let dataDir: string;
  const opened: Database[] = [];
  const lockFile = () => path.join(dataDir, LOCK_FILE_NAME);

  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), "gw-lock-"));
  });
  afterEach(async () => {
    for (const database of opened.splice(0)) await database.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("refuses a second open of the same directory until the first is closed", async () => {
    const first = await openDatabase({ dataDir });
    opened.push(first);
    expect((await readFile(lockFile(), "utf8")).trim()).toBe(String(process.pid));

    const refused = await openDatabase({ dataDir }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(DataDirLockedError);
    expect((refused as Error).message).toContain(path.resolve(dataDir));
    expect((refused as Error).message).toContain(`process ${process.pid}`);

    await sql`create table kept (n int)`.execute(first.db);
    await sql`insert into kept values (1)`.execute(first.db);
    await opened.pop()?.close();
    expect(existsSync(lockFile())).toBe(false);

    const second = await openDatabase({ dataDir });
    opened.push(second);
    const rows = await sql<{ n: number }>`select n from kept`.execute(second.db);
    expect(rows.rows).toEqual([{ n: 1 }]);
  });

  it("makes another process (npm run migrate) fail with a message naming the directory", async () => {
    opened.push(await openDatabase({ dataDir }));
    const cli = fileURLToPath(new URL("../../dist/store/src/migrate-cli.js", import.meta.url));
    const failure = await run(process.execPath, [cli, "status"], {
      env: { ...process.env, DATA_DIR: dataDir, DATABASE_URL: "" },
    }).catch((error: unknown) => error as { code: number; stderr: string });
    expect(failure).toMatchObject({ code: 1 });
    expect((failure as { stderr: string }).stderr).toContain(
      `PGlite data directory ${path.resolve(dataDir)} is in use by process ${process.pid}`,
    );
  });

  it("takes over a lock left by a process that is gone, or by an earlier holder of our pid, or an unreadable one", async () => {
    await writeFile(lockFile(), `${await deadPid()}\n`);
    const database = await openDatabase({ dataDir });
    expect((await readFile(lockFile(), "utf8")).trim()).toBe(String(process.pid));
    await database.close();

    // Our own pid, but not held by us: left by an earlier process with the same pid (container restart).
    await writeFile(lockFile(), `${process.pid}\n`);
    const again = await openDatabase({ dataDir });
    await again.close();

    await writeFile(lockFile(), "");
    opened.push(await openDatabase({ dataDir }));
    expect((await readFile(lockFile(), "utf8")).trim()).toBe(String(process.pid));
  });

  it("removes the lock when the process exits without closing the database", async () => {
    const module = new URL("../../dist/store/src/open-database.js", import.meta.url).href;
    const script = `
      const { existsSync } = await import("node:fs");
      const { openDatabase } = await import(${JSON.stringify(module)});
      await openDatabase({ dataDir: ${JSON.stringify(dataDir)} });
      console.log(existsSync(${JSON.stringify(lockFile())}) ? "locked" : "not locked");
      process.exit(0);`;
    const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script]);
    expect(stdout.trim()).toBe("locked");
    expect(existsSync(lockFile())).toBe(false);
  });
});

describe("PGlite settings", () => {
  it("runs with 16MB shared_buffers instead of the 128MB default", async () => {
    const database = await openDatabase({ inMemory: true });
    try {
      const result = await sql<{ shared_buffers: string }>`show shared_buffers`.execute(
        database.db,
      );
      expect(result.rows[0]?.shared_buffers).toBe("16MB");
    } finally {
      await database.close();
    }
  });
});
