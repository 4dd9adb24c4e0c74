import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { csvCell, formatCsv, parseAuditArgs, runAuditCommand } from "../src/audit-cli.ts";
import { migrateToLatest } from "../src/migrate.ts";
import { openDatabase, type Database } from "../src/open-database.ts";
import type { AuditEventRow, NewAuditEventRow } from "../src/schema.ts";
import { backends, requirePostgresInCi } from "./test-databases.ts";

requirePostgresInCi();

const NOW = Date.UTC(2026, 10, 30, 12, 0, 0);
const daysAgo = (days: number) => new Date(NOW - days * 86_400_000);

function row(time: Date, overrides: Partial<NewAuditEventRow> = {}): NewAuditEventRow {
  return {
    time,
    request_id: `req-${time.getTime()}`,
    source: "router",
    kind: "invocation",
    subject: "alice",
    roles: ["developer"],
    scope: "calc",
    method: "tools/call",
    tool: "add",
    outcome: "ok",
    ...overrides,
  };
}

describe("audit CLI arguments", () => {
  it("parses a query with every filter", () => {
    const command = parseAuditArgs(
      [
        "query",
        "--user",
        "alice",
        "--tool",
        "add",
        "--scope",
        "calc",
        "--outcome",
        "denied",
        "--since",
        "1h",
        "--until",
        "2026-11-30T11:30:00Z",
        "--limit",
        "5",
        "--format",
        "csv",
      ],
      {},
      NOW,
    );
    expect(command).toEqual({
      kind: "query",
      format: "csv",
      query: {
        subject: "alice",
        tool: "add",
        scope: "calc",
        outcome: "denied",
        since: new Date(NOW - 3_600_000),
        until: new Date(Date.UTC(2026, 10, 30, 11, 30)),
        limit: 5,
      },
    });
  });

  it("parses prune with the retention from AUDIT_RETENTION_DAYS", () => {
    expect(parseAuditArgs(["prune", "--dry-run"], { AUDIT_RETENTION_DAYS: "30" }, NOW)).toEqual({
      kind: "prune",
      dryRun: true,
      retentionDays: 30,
      before: daysAgo(30),
    });
  });

  it.each<[string[], Record<string, string>, RegExp]>([
    [[], {}, /missing command/],
    [["list"], {}, /unknown command "list"/],
    [["query", "--bogus"], {}, /Unknown option '--bogus'/],
    [["query", "--user"], {}, /argument missing/],
    [["query", "alice"], {}, /positional/],
    [["query", "--format", "xml"], {}, /invalid --format "xml"/],
    [["query", "--since", "soon"], {}, /invalid since "soon"/],
    [["query", "--limit", "0"], {}, /invalid limit/],
    [["query", "--cursor", "abc"], {}, /invalid cursor/],
    [["prune"], {}, /AUDIT_RETENTION_DAYS is not set/],
    [["prune"], { AUDIT_RETENTION_DAYS: "0" }, /invalid AUDIT_RETENTION_DAYS "0"/],
    [["prune"], { AUDIT_RETENTION_DAYS: "1.5" }, /invalid AUDIT_RETENTION_DAYS/],
    [["prune", "--force"], { AUDIT_RETENTION_DAYS: "7" }, /Unknown option '--force'/],
  ])("refuses %j", (args, env, message) => {
    const command = parseAuditArgs(args, env, NOW);
    expect(command).toHaveProperty("error");
    expect((command as { error: string }).error).toMatch(message);
  });
});

describe("CSV", () => {
  it.each([
    ["plain", "plain"],
    ["a,b", '"a,b"'],
    ['say "hi"', '"say ""hi"""'],
    ["two\nlines", '"two\nlines"'],
    ["cr\rhere", '"cr\rhere"'],
    [" padded ", '" padded "'],
    ['=HYPERLINK("http://x")', '"\'=HYPERLINK(""http://x"")"'],
    ["+1", "'+1"],
    ["-2+3", "'-2+3"],
    ["@SUM(A1)", "'@SUM(A1)"],
    ["\tx", "'\tx"],
    ["=1,2", '"\'=1,2"'],
    ["", ""],
  ])("writes %j as %j", (value, expected) => {
    expect(csvCell(value)).toBe(expected);
  });

  it("writes one header and one line per event, CRLF-terminated", () => {
    const event = {
      id: "7",
      time: new Date(NOW),
      request_id: "r1",
      source: "router",
      kind: "invocation",
      subject: "=cmd|' /C calc'!A0",
      tenant: null,
      roles: ["developer", "operator"],
      scope: "calc",
      method: "tools/call",
      tool: "add",
      outcome: "ok",
      reason: null,
      status: 200,
      latency_ms: 3,
      request_bytes: null,
      response_bytes: null,
      arguments_digest: null,
      arguments: { note: 'a "b", c' },
      task_id: null,
      policy_rule: null,
      trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
    } as unknown as AuditEventRow;
    const lines = formatCsv([event]).split("\r\n");
    expect(lines[0]).toBe(
      "time,id,request_id,source,kind,subject,tenant,roles,scope,method,tool,outcome,reason,status,latency_ms,policy_rule,trace_id,task_id,arguments_digest,arguments",
    );
    expect(lines[1]).toBe(
      `2026-11-30T12:00:00.000Z,7,r1,router,invocation,'=cmd|' /C calc'!A0,,developer operator,calc,tools/call,add,ok,,200,3,,4bf92f3577b34da6a3ce929d0e0e4736,,,"{""note"":""a \\""b\\"", c""}"`,
    );
    expect(lines).toHaveLength(3);
    expect(lines[2]).toBe("");
  });
});

describe.each(backends)("audit CLI commands on $name", (backend) => {
  let database: Database;
  let out: string;
  let err: string;
  const io = {
    out: (text: string) => void (out += text),
    err: (text: string) => void (err += text),
  };
  const run = async (args: string[], env: Record<string, string> = {}) => {
    const command = parseAuditArgs(args, env, NOW);
    if ("error" in command) throw new Error(command.error);
    return runAuditCommand(command, database, io);
  };
  beforeEach(async () => {
    database = await backend.open({ migrated: true });
    out = "";
    err = "";
    await database.db
      .insertInto("audit_events")
      .values([
        row(daysAgo(0.01), { subject: "alice", tool: "add" }),
        row(daysAgo(0.02), { subject: "bob", tool: "mul", outcome: "rejected" }),
        row(daysAgo(10), { subject: "alice", tool: "mul" }),
        row(daysAgo(40), { subject: "alice", tool: "add" }),
        row(daysAgo(41), { subject: "carol", tool: "add" }),
      ])
      .execute();
  });
  afterEach(async () => {
    await database.close();
  });

  it("prints a page as JSON with the next cursor, and the next page from it", async () => {
    expect(await run(["query", "--user", "alice", "--limit", "2", "--format", "json"])).toBe(0);
    const first = JSON.parse(out) as { events: { time: string }[]; next_cursor: string };
    expect(first.events.map((event) => event.time)).toEqual([
      daysAgo(0.01).toISOString(),
      daysAgo(10).toISOString(),
    ]);
    out = "";
    await run([
      "query",
      "--user",
      "alice",
      "--limit",
      "2",
      "--format",
      "json",
      "--cursor",
      first.next_cursor,
    ]);
    const second = JSON.parse(out) as { events: { time: string }[]; next_cursor: string | null };
    expect(second).toEqual({
      events: [expect.objectContaining({ time: daysAgo(40).toISOString(), subject: "alice" })],
      next_cursor: null,
    });
  });

  it("prints a table, with the next cursor on stderr", async () => {
    expect(await run(["query", "--tool", "mul", "--limit", "1"])).toBe(0);
    const lines = out.trimEnd().split("\n");
    expect(lines[0]).toMatch(
      /^TIME\s+SUBJECT\s+SCOPE\s+TOOL\s+METHOD\s+OUTCOME\s+REASON\s+STATUS\s+REQUEST_ID$/,
    );
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/bob\s+calc\s+mul\s+tools\/call\s+rejected/);
    expect(err).toMatch(/^more events: add --cursor [A-Za-z0-9_-]+\n$/);
  });

  it("prints CSV", async () => {
    await run(["query", "--outcome", "rejected", "--format", "csv"]);
    const lines = out.split("\r\n");
    expect(lines).toHaveLength(3);
    expect(lines[1]).toContain(",bob,");
    expect(err).toBe("");
  });

  it("says when nothing matches", async () => {
    await run(["query", "--user", "nobody"]);
    expect(out).toBe("no audit events match\n");
  });

  it("prune --dry-run counts, prune deletes only events past the retention", async () => {
    const env = { AUDIT_RETENTION_DAYS: "30" };
    expect(await run(["prune", "--dry-run"], env)).toBe(0);
    expect(out).toMatch(/^would delete 2 audit events older than 2026-10-31T12:00:00.000Z/);
    const all = () =>
      database.db.selectFrom("audit_events").select("time").orderBy("time", "desc").execute();
    expect(await all()).toHaveLength(5);
    out = "";
    expect(await run(["prune"], env)).toBe(0);
    expect(out).toMatch(/^deleted 2 audit events older than/);
    expect((await all()).map((left) => left.time)).toEqual([
      daysAgo(0.01),
      daysAgo(0.02),
      daysAgo(10),
    ]);
  });
});

describe("npm run audit (the entry point) on a PGlite DATA_DIR", () => {
  const entry = fileURLToPath(new URL("../src/audit-cli.ts", import.meta.url));
  const tsx = fileURLToPath(new URL("../../node_modules/.bin/tsx", import.meta.url));
  const exec = promisify(execFile);
  let dataDir: string;
  const cli = async (args: string[], env: Record<string, string> = {}) => {
    try {
      const { stdout, stderr } = await exec(tsx, [entry, ...args], {
        env: { ...process.env, DATA_DIR: dataDir, DATABASE_URL: "", ...env },
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code: number; stdout: string; stderr: string };
      return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
    }
  };
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), "gw-audit-cli-"));
    const database = await openDatabase({ dataDir });
    try {
      await migrateToLatest(database.db);
      await database.db
        .insertInto("audit_events")
        .values([row(new Date(Date.now() - 60_000)), row(new Date(Date.now() - 100 * 86_400_000))])
        .execute();
    } finally {
      await database.close();
    }
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it("exits 2 with the usage on bad arguments, before opening the database", async () => {
    const outcome = await cli(["query", "--since", "tomorrow"]);
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toMatch(/invalid since "tomorrow"/);
    expect(outcome.stderr).toContain("usage: npm run audit -- query");
    expect(outcome.stdout).toBe("");
  });

  it("queries as JSON and prunes", async () => {
    const queried = await cli(["query", "--format", "json"]);
    expect(queried.code).toBe(0);
    expect(queried.stderr).toContain("database: PGlite in");
    expect((JSON.parse(queried.stdout) as { events: unknown[] }).events).toHaveLength(2);
    const pruned = await cli(["prune"], { AUDIT_RETENTION_DAYS: "90" });
    expect(pruned.code).toBe(0);
    expect(pruned.stdout).toMatch(/^deleted 1 audit events/);
  });
});
