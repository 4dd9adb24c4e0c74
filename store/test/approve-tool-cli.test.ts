import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrateToLatest } from "../src/migrate.ts";
import { openDatabase } from "../src/open-database.ts";
import {
  getRegistryTool,
  listRegistryHistory,
  recordObservedDefinition,
  syncRegistry,
} from "../src/registry.ts";

const cli = fileURLToPath(new URL("../../dist/store/src/approve-tool-cli.js", import.meta.url));
const run = promisify(execFile);
const approved = "a".repeat(64);
const observed = "b".repeat(64);

type Outcome = { code: number; stdout: string; stderr: string };

describe("approve-tool CLI on a PGlite DATA_DIR", () => {
  let dataDir: string;
  const exec = async (...args: string[]): Promise<Outcome> => {
    try {
      const { stdout, stderr } = await run(process.execPath, [cli, ...args], {
        env: { ...process.env, DATA_DIR: dataDir, DATABASE_URL: "" },
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code: number; stdout: string; stderr: string };
      return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
    }
  };

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), "gw-approve-"));
    const database = await openDatabase({ dataDir });
    try {
      await migrateToLatest(database.db);
      await syncRegistry(database.db, {
        scopes: {
          calc: {
            tools: [
              { name: "add", enabled: true },
              { name: "mul", enabled: true },
            ],
          },
        },
      });
      await recordObservedDefinition(database.db, "calc", "add", approved);
      await recordObservedDefinition(database.db, "calc", "add", observed);
      await recordObservedDefinition(database.db, "calc", "mul", approved);
    } finally {
      await database.close();
    }
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it.each([
    [[]],
    [["approve", "calc"]],
    [["approve", "calc", "add", "extra"]],
    [["list", "-a"]],
    [["sideways"]],
  ])("rejects bad usage %j with exit code 2", async (args) => {
    const outcome = await exec(...args);
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toContain(
      "usage: npm run approve-tool -- list | approve <scope> <tool>",
    );
  });

  it("lists the pending change, refuses unknown or unchanged tools, approves, and lists nothing after", async () => {
    const listed = await exec("list");
    expect(listed.code).toBe(0);
    const lines = listed.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^SCOPE\s+TOOL\s+CHANGED_AT\s+APPROVED_DIGEST\s+OBSERVED_DIGEST$/);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(
      new RegExp(`^calc\\s+add\\s+\\d{4}-\\d\\d-\\d\\dT\\S+Z\\s+${approved}\\s+${observed}$`),
    );

    const unknown = await exec("approve", "calc", "nope");
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("unknown tool calc.nope");

    const unchanged = await exec("approve", "calc", "mul");
    expect(unchanged.code).toBe(1);
    expect(unchanged.stderr).toContain("nothing to approve for calc.mul");

    const approval = await exec("approve", "calc", "add");
    expect(approval.code).toBe(0);
    expect(approval.stdout).toContain(
      `approved calc.add: definition ${observed} replaces ${approved}`,
    );

    expect((await exec("list")).stdout.trim()).toBe("no pending tool definition changes");
    expect((await exec("approve", "calc", "add")).code).toBe(1);

    const database = await openDatabase({ dataDir });
    try {
      expect(await getRegistryTool(database.db, "calc", "add")).toMatchObject({
        approved_definition_digest: observed,
        definition_changed_at: null,
      });
      const history = await listRegistryHistory(database.db, { scope: "calc", name: "add" });
      expect(history.at(-1)).toMatchObject({ event: "definition_approved" });
    } finally {
      await database.close();
    }
  }, 120_000);

  it("says what to do when the database was never migrated", async () => {
    const empty = await mkdtemp(path.join(tmpdir(), "gw-approve-empty-"));
    try {
      const { stderr, code } = await run(process.execPath, [cli, "list"], {
        env: { ...process.env, DATA_DIR: empty, DATABASE_URL: "" },
      }).then(
        (ok) => ({ ...ok, code: 0 }),
        (error: unknown) => error as { code: number; stderr: string },
      );
      expect(code).toBe(1);
      expect(stderr).toContain("run `npm run migrate -- up` first");
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  }, 60_000);
});
