/**
 * Times the audit log's common questions (store/src/audit-query.ts: what `npm run audit -- query`
 * and `GET /admin/audit` run) and a retention prune on a generated audit_events table, partitioned
 * by month as the migrations leave it.
 *
 *   DATABASE_URL=postgres://… npx tsx bench/audit-query.ts [--rows 1000000] [--runs 7]
 *
 * Uses a database of its own (`gw_bench_audit`, dropped and created anew). Rows are spread over
 * 90 days, 1000 subjects, 5 scopes × 10 tools; outcomes 90 % ok, 5 % denied, 3 % rejected,
 * 2 % tool_error. Each query is run `runs` times after one warm-up; the median is reported.
 */
import { parseArgs } from "node:util";
import { sql } from "kysely";
import {
  parseAuditQuery,
  pruneAuditEvents,
  queryAuditEvents,
  type AuditQueryInput,
} from "../store/src/audit-query.ts";
import {
  dropExpiredAuditPartitions,
  ensureAuditPartitions,
} from "../store/src/audit-partitions.ts";
import { openDatabase } from "../store/src/open-database.ts";
import { freshDatabase } from "./bench-database.ts";

const { values } = parseArgs({
  options: { rows: { type: "string", default: "1000000" }, runs: { type: "string", default: "7" } },
});
const rows = Number(values.rows);
const runs = Number(values.runs);
const serverUrl = process.env.DATABASE_URL;
if (!serverUrl) throw new Error("DATABASE_URL is required");

const bench = await freshDatabase(serverUrl, "gw_bench_audit");
const database = await openDatabase({ databaseUrl: bench.url, poolMax: 2 });
const db = database.db;

// The month partitions the generated rows fall into, as months of a running gateway would have.
await ensureAuditPartitions(db, { now: new Date(Date.now() - 95 * 86_400_000), monthsAhead: 5 });

const loadStarted = performance.now();
// One statement; `now()` is the newest row, 90 days back the oldest.
await sql`
  insert into audit_events (time, request_id, source, kind, subject, roles, scope, method, tool,
                            outcome, reason, status, latency_ms)
  select now() - (random() * interval '90 days'),
         md5(i::text), 'router', 'invocation',
         'user-' || (i % 1000), '{developer}',
         'scope' || (i % 5), 'tools/call', 'tool' || (i % 50),
         case when r < 0.90 then 'ok' when r < 0.95 then 'denied'
              when r < 0.98 then 'rejected' else 'tool_error' end,
         null, 200, (random() * 100)::int
  from (select i, random() as r from generate_series(1, ${rows}) as i) as s`.execute(db);
await sql`analyze audit_events`.execute(db);
const loadSeconds = (performance.now() - loadStarted) / 1000;
// Summed over the partitions (a partitioned table has no storage of its own).
const size = await sql<{ table: string; indexes: string; partitions: string }>`
  select pg_size_pretty(sum(pg_table_size(relid))) as table,
         pg_size_pretty(sum(pg_indexes_size(relid))) as indexes,
         count(*) filter (where isleaf) as partitions
  from pg_partition_tree('audit_events')`.execute(db);

async function time(input: AuditQueryInput): Promise<{ ms: number; returned: number }> {
  const query = parseAuditQuery(input);
  await queryAuditEvents(db, query);
  const samples: number[] = [];
  let returned = 0;
  for (let i = 0; i < runs; i += 1) {
    const started = performance.now();
    returned = (await queryAuditEvents(db, query)).events.length;
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  return { ms: samples[Math.floor(samples.length / 2)]!, returned };
}

/** A cursor deep in the table: the 500 000th newest row (or the middle one). */
async function deepCursor(): Promise<string> {
  let cursor: string | undefined;
  const pages = Math.min(500, Math.floor(rows / 2000));
  for (let i = 0; i < pages; i += 1) {
    const page = await queryAuditEvents(
      db,
      parseAuditQuery({ limit: "1000", ...(cursor === undefined ? {} : { cursor }) }),
    );
    cursor = page.nextCursor ?? undefined;
  }
  return cursor!;
}

const cases: [string, AuditQueryInput][] = [
  ["newest 100, no filter", {}],
  ["newest 1000, no filter", { limit: "1000" }],
  ["next page from deep cursor", { cursor: await deepCursor() }],
  ["one user, last 7 days", { user: "user-42", since: "7d" }],
  ["one user, all time", { user: "user-42" }],
  ["one tool, last 24 hours", { tool: "tool7", since: "24h" }],
  ["one tool, all time", { tool: "tool7" }],
  ["refusals (rejected), last 24 hours", { outcome: "rejected", since: "24h" }],
  ["one scope + outcome tool_error", { scope: "scope3", outcome: "tool_error" }],
  ["one user + one tool, last 30 days", { user: "user-42", tool: "tool42", since: "30d" }],
  ["one day window (30 days ago)", { since: "31d", until: "30d" }],
];

console.log(
  `audit_events: ${rows} rows generated in ${loadSeconds.toFixed(1)} s; table ${size.rows[0]!.table}, indexes ${size.rows[0]!.indexes}, ${size.rows[0]!.partitions} partitions`,
);
console.log("| query | rows returned | median ms |");
console.log("|---|---:|---:|");
for (const [name, input] of cases) {
  const result = await time(input);
  console.log(`| ${name} | ${result.returned} | ${result.ms.toFixed(1)} |`);
}

// Retention 45 days: the months wholly older are dropped, the rest of the cutoff's month is
// deleted row by row (what `npm run audit -- prune` does).
const cutoff = new Date(Date.now() - 45 * 86_400_000);
const dropStarted = performance.now();
const dropped = await dropExpiredAuditPartitions(db, cutoff);
const dropSeconds = (performance.now() - dropStarted) / 1000;
const droppedRows = dropped.reduce((sum, p) => sum + p.rows, 0);
console.log(
  `prune (retention 45 days): dropped ${dropped.length} partitions holding ${droppedRows} rows in ${dropSeconds.toFixed(2)} s`,
);
const pruneStarted = performance.now();
const deleted = await pruneAuditEvents(db, cutoff);
const pruneSeconds = (performance.now() - pruneStarted) / 1000;
console.log(
  `  then deleted ${deleted} rows of the cutoff's month in ${pruneSeconds.toFixed(1)} s (${Math.round(deleted / pruneSeconds)} rows/s, batches of 10000)`,
);

await database.close();
await bench.close();
