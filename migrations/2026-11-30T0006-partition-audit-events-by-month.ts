/* eslint-disable @typescript-eslint/no-explicit-any -- migrations are frozen in time: they must not depend on the application's DB type */
import { sql, type Kysely } from "kysely";

// Frozen in time: this file must never import application code.

/**
 * audit_events becomes a table partitioned by month on `time` (UTC month boundaries), so that
 * retention drops whole months instead of deleting row by row. The rows already stored stay where
 * they are: the old table is attached as one partition from the beginning of time to the end of
 * the current month (PostgreSQL checks its rows against that range once, and builds the
 * (id, time) key index; nothing is copied). Month partitions after it are created by the
 * application (store/src/audit-partitions.ts) at start-up and by `npm run audit -- prune`; a
 * DEFAULT partition takes any row no month partition covers, so an insert never fails for want of
 * a partition.
 *
 * The primary key becomes (id, time): a partitioned table's unique keys must contain the
 * partition key. id still comes from the same sequence, so ids stay unique and increasing.
 */

const INDEXES = [
  ["audit_events_subject_time_idx", sql`(subject, time)`],
  ["audit_events_tool_time_idx", sql`(tool, time)`],
  ["audit_events_request_id_idx", sql`(request_id)`],
  ["audit_events_time_idx", sql`(time)`],
  ["audit_events_time_id_idx", sql`(time desc, id desc)`],
] as const;

const COLUMNS = sql`
  id bigint not null default nextval('audit_events_id_seq'),
  time timestamptz not null default now(),
  request_id text not null,
  source text not null,
  kind text not null,
  subject text,
  tenant text,
  roles text[] not null default '{}'::text[],
  scope text,
  method text,
  tool text,
  outcome text not null,
  reason text,
  status integer,
  latency_ms integer,
  request_bytes integer,
  response_bytes integer,
  arguments_digest text,
  arguments jsonb,
  task_id text,
  policy_rule text,
  trace_id text,
  constraint audit_events_source_check check (source in ('ext-authz', 'router')),
  constraint audit_events_kind_check
    check (kind in ('decision', 'invocation', 'list', 'task', 'config', 'admin'))`;

async function createIndexes(db: Kysely<any>, table: string, prefix: string): Promise<void> {
  for (const [name, columns] of INDEXES) {
    await sql`create index ${sql.id(name.replace("audit_events", prefix))} on ${sql.id(table)} ${columns}`.execute(
      db,
    );
  }
  await sql`create index ${sql.id(`${prefix}_denied_time_idx`)} on ${sql.id(table)} (time)
    where outcome in ('denied', 'rejected')`.execute(db);
}

/** The first instant (UTC) of the month after `date`'s, as an ISO 8601 string. */
function nextMonthStart(date: Date): string {
  return new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1)).toISOString();
}

export async function up(db: Kysely<any>): Promise<void> {
  const names = [...INDEXES.map(([name]) => name), "audit_events_denied_time_idx"];
  for (const name of names) {
    await sql`alter index ${sql.id(name)} rename to ${sql.id(name.replace("audit_events", "audit_events_legacy"))}`.execute(
      db,
    );
  }
  await sql`alter table audit_events rename to audit_events_legacy`.execute(db);
  await sql`alter table audit_events_legacy rename constraint audit_events_pkey to audit_events_legacy_pkey`.execute(
    db,
  );
  await sql`alter table audit_events_legacy alter column id drop default`.execute(db);

  await sql`create table audit_events (${COLUMNS}, constraint audit_events_pkey primary key (id, time))
    partition by range (time)`.execute(db);
  await sql`alter sequence audit_events_id_seq owned by audit_events.id`.execute(db);
  await createIndexes(db, "audit_events", "audit_events");

  const { rows } = await sql<{
    count: string;
    latest: Date | null;
  }>`select count(*) as count, max(time) as latest from audit_events_legacy`.execute(db);
  if (Number(rows[0]!.count) === 0) {
    await sql`drop table audit_events_legacy`.execute(db);
  } else {
    const latest = rows[0]!.latest!;
    const now = new Date();
    const bound = nextMonthStart(latest > now ? latest : now);
    // A table has one primary key: the (id) one gives way to the parent's (id, time), built by
    // the attach; the other indexes match the parent's and are attached, not rebuilt.
    await sql`alter table audit_events_legacy drop constraint audit_events_legacy_pkey`.execute(db);
    await sql`alter table audit_events attach partition audit_events_legacy
      for values from (minvalue) to (${sql.lit(bound)})`.execute(db);
  }
  await sql`create table audit_events_default partition of audit_events default`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`create table audit_events_unpartitioned (${COLUMNS}, constraint audit_events_unpartitioned_pkey primary key (id))`.execute(
    db,
  );
  await sql`insert into audit_events_unpartitioned select * from audit_events`.execute(db);
  await sql`alter sequence audit_events_id_seq owned by audit_events_unpartitioned.id`.execute(db);
  await sql`drop table audit_events`.execute(db);
  await sql`alter table audit_events_unpartitioned rename to audit_events`.execute(db);
  await sql`alter table audit_events rename constraint audit_events_unpartitioned_pkey to audit_events_pkey`.execute(
    db,
  );
  await createIndexes(db, "audit_events", "audit_events");
}
