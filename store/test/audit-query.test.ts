import { sql } from "kysely";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  AuditQueryError,
  countAuditEventsBefore,
  decodeAuditCursor,
  encodeAuditCursor,
  parseAuditQuery,
  pruneAuditEvents,
  queryAuditEvents,
  type AuditQueryInput,
} from "../src/audit-query.ts";
import type { Database } from "../src/open-database.ts";
import type { NewAuditEventRow } from "../src/schema.ts";
import { backends, requirePostgresInCi } from "./test-databases.ts";

requirePostgresInCi();

const NOW = Date.UTC(2026, 10, 30, 12, 0, 0);
const minutesAgo = (minutes: number) => new Date(NOW - minutes * 60_000);

function event(overrides: Partial<NewAuditEventRow> & { time: Date }): NewAuditEventRow {
  return {
    request_id: `req-${overrides.time.getTime()}`,
    source: "router",
    kind: "invocation",
    subject: "alice",
    roles: ["developer"],
    scope: "calculator",
    method: "tools/call",
    tool: "add",
    outcome: "ok",
    ...overrides,
  };
}

describe("parseAuditQuery", () => {
  it("reads relative and absolute times, limits and filters", () => {
    expect(
      parseAuditQuery(
        { user: "alice", tool: "add", scope: "calculator", outcome: "denied", since: "1h" },
        NOW,
      ),
    ).toEqual({
      subject: "alice",
      tool: "add",
      scope: "calculator",
      outcome: "denied",
      since: minutesAgo(60),
      limit: 100,
    });
    expect(
      parseAuditQuery({ since: "7d", until: "2026-11-30T11:00:00Z", limit: "1000" }, NOW),
    ).toMatchObject({
      since: new Date(NOW - 7 * 86_400_000),
      until: new Date(Date.UTC(2026, 10, 30, 11)),
      limit: 1000,
    });
    expect(parseAuditQuery({ since: "2026-11-29" }, NOW).since).toEqual(
      new Date(Date.UTC(2026, 10, 29)),
    );
  });

  it.each<[AuditQueryInput, RegExp]>([
    [{ since: "yesterday" }, /invalid since/],
    [{ until: "1y" }, /invalid until/],
    [{ since: "2026-13-45T00:00:00Z" }, /invalid since/],
    [{ since: "1h", until: "2h" }, /since must be before until/],
    [{ limit: "0" }, /invalid limit/],
    [{ limit: "1001" }, /invalid limit/],
    [{ limit: "ten" }, /invalid limit/],
    [{ outcome: "OK; drop table" }, /invalid outcome/],
    [{ user: "" }, /invalid user/],
    [{ tool: "x".repeat(513) }, /invalid tool/],
    [{ cursor: "not a cursor" }, /invalid cursor/],
    [{ cursor: Buffer.from("[1,2]").toString("base64url") }, /invalid cursor/],
    [
      { cursor: Buffer.from('["2026-11-30T12:00:00Z","1"]').toString("base64url") },
      /invalid cursor/,
    ],
    [
      { cursor: encodeAuditCursor({ time: "2026-11-30T12:00:00.000000Z", id: "0" }) },
      /invalid cursor/,
    ],
  ])("refuses %j", (input, message) => {
    expect(() => parseAuditQuery(input, NOW)).toThrow(AuditQueryError);
    expect(() => parseAuditQuery(input, NOW)).toThrow(message);
  });

  it("round-trips a cursor", () => {
    const cursor = { time: "2026-11-30T12:00:00.123456Z", id: "42" };
    expect(decodeAuditCursor(encodeAuditCursor(cursor))).toEqual(cursor);
  });
});

describe.each(backends)("audit query on $name", (backend) => {
  let database: Database;
  beforeEach(async () => {
    database = await backend.open({ migrated: true });
  });
  afterEach(async () => {
    await database.close();
  });

  const insert = (rows: NewAuditEventRow[]) =>
    database.db.insertInto("audit_events").values(rows).execute();
  const query = (input: AuditQueryInput) =>
    queryAuditEvents(database.db, parseAuditQuery(input, NOW));

  it("filters by user, tool, scope, outcome and time window, newest first", async () => {
    await insert([
      event({ time: minutesAgo(1), subject: "alice", tool: "add" }),
      event({ time: minutesAgo(2), subject: "bob", tool: "add", outcome: "rejected" }),
      event({ time: minutesAgo(3), subject: "alice", scope: "git", tool: "git_log" }),
      event({ time: minutesAgo(90), subject: "alice", tool: "add", outcome: "rejected" }),
      event({ time: minutesAgo(60 * 24 * 8), subject: "alice", tool: "add" }),
    ]);
    const subjects = async (input: AuditQueryInput) =>
      (await query(input)).events.map((row) => `${row.subject}:${row.tool}:${row.outcome}`);

    expect(await subjects({})).toEqual([
      "alice:add:ok",
      "bob:add:rejected",
      "alice:git_log:ok",
      "alice:add:rejected",
      "alice:add:ok",
    ]);
    expect(await subjects({ user: "alice", since: "7d" })).toEqual([
      "alice:add:ok",
      "alice:git_log:ok",
      "alice:add:rejected",
    ]);
    expect(await subjects({ tool: "add", outcome: "rejected" })).toEqual([
      "bob:add:rejected",
      "alice:add:rejected",
    ]);
    expect(await subjects({ scope: "git" })).toEqual(["alice:git_log:ok"]);
    expect(await subjects({ since: "1h" })).toHaveLength(3);
    // until is exclusive, since inclusive.
    expect(
      await subjects({ since: minutesAgo(90).toISOString(), until: minutesAgo(3).toISOString() }),
    ).toEqual(["alice:add:rejected"]);
    expect(await subjects({ user: "carol" })).toEqual([]);
  });

  it("passes filters as parameters, never as SQL", async () => {
    await insert([event({ time: minutesAgo(1), subject: "o'brien" })]);
    expect((await query({ user: "o'brien" })).events).toHaveLength(1);
    expect((await query({ user: "' or '1'='1" })).events).toHaveLength(0);
  });

  it("pages through every row once, ties on time and microseconds included", async () => {
    // 23 rows over 5 distinct instants, some a microsecond apart: pages of 4 must cut inside ties.
    for (let i = 0; i < 23; i += 1) {
      const micros = i % 5 === 4 ? "000001" : "000000";
      await sql`insert into audit_events (time, request_id, source, kind, subject, outcome)
        values (${`2026-11-30T11:0${i % 4}:00.${micros}Z`}::timestamptz, ${`r${i}`}, 'router',
          'invocation', 'alice', 'ok')`.execute(database.db);
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await query({ limit: "4", ...(cursor === undefined ? {} : { cursor }) });
      expect(page.events.length).toBeLessThanOrEqual(4);
      seen.push(...page.events.map((row) => row.request_id));
      cursor = page.nextCursor ?? undefined;
      pages += 1;
    } while (cursor !== undefined && pages < 20);
    expect(pages).toBe(6);
    expect(new Set(seen).size).toBe(23);
    expect(seen).toHaveLength(23);

    const all = await query({ limit: "1000" });
    expect(all.nextCursor).toBeNull();
    expect(all.events.map((row) => row.request_id)).toEqual(seen);
    const times = all.events.map((row) => row.time.getTime());
    expect([...times].sort((a, b) => b - a)).toEqual(times);
  });

  it("combines a cursor with filters", async () => {
    await insert(
      Array.from({ length: 6 }, (_, i) =>
        event({ time: minutesAgo(i + 1), subject: i % 2 === 0 ? "alice" : "bob" }),
      ),
    );
    const first = await query({ user: "alice", limit: "2" });
    expect(first.events.map((row) => row.time)).toEqual([minutesAgo(1), minutesAgo(3)]);
    const second = await query({ user: "alice", limit: "2", cursor: first.nextCursor! });
    expect(second.events.map((row) => row.time)).toEqual([minutesAgo(5)]);
    expect(second.nextCursor).toBeNull();
  });

  it("prunes only events older than the cutoff, in batches", async () => {
    await insert([
      ...Array.from({ length: 7 }, (_, i) => event({ time: minutesAgo(60 * 24 * 40 + i) })),
      event({ time: minutesAgo(60 * 24 * 29) }),
      event({ time: minutesAgo(1) }),
    ]);
    const cutoff = new Date(NOW - 30 * 86_400_000);
    expect(await countAuditEventsBefore(database.db, cutoff)).toBe(7);
    expect(await pruneAuditEvents(database.db, cutoff, { batchSize: 3 })).toBe(7);
    const left = await query({});
    expect(left.events.map((row) => row.time)).toEqual([minutesAgo(1), minutesAgo(60 * 24 * 29)]);
    expect(await pruneAuditEvents(database.db, cutoff)).toBe(0);
  });
});
