/**
 * Monthly partitions of audit_events (migration 2026-11-30T0006): the months ahead are created
 * before rows arrive for them, and months wholly older than the retention are dropped whole.
 * Boundaries are UTC month starts; partitions are named audit_events_pYYYYMM.
 */
import { sql, type Kysely } from "kysely";
import type { DB } from "./schema.ts";

export type AuditPartition = {
  name: string;
  /** Inclusive lower bound; null for MINVALUE (the table that held the rows before partitioning). */
  from: Date | null;
  /** Exclusive upper bound; null for MAXVALUE. */
  to: Date | null;
  isDefault: boolean;
};

const PARENT = "audit_events";
const DEFAULT_PARTITION = "audit_events_default";
// Every instance that runs the same statements takes this lock first (creating the same partition
// twice at once fails in the catalog, not with IF NOT EXISTS).
const LOCK_KEY = 0x6175_6474; // "audt"

function monthStart(year: number, month: number): Date {
  return new Date(Date.UTC(year, month, 1));
}

export function partitionName(month: Date): string {
  return `${PARENT}_p${month.getUTCFullYear()}${String(month.getUTCMonth() + 1).padStart(2, "0")}`;
}

/** "'2026-12-01 00:00:00+00'" (pg_get_expr under TimeZone UTC), MINVALUE or MAXVALUE. */
function parseBound(text: string): Date | null {
  if (text === "MINVALUE" || text === "MAXVALUE") return null;
  const match = /^'(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d+)?)\+00'$/.exec(text);
  if (match === null) throw new Error(`unexpected partition bound ${text}`);
  return new Date(`${match[1]}T${match[2]}Z`);
}

/** The partitions of audit_events, oldest first, the default partition last. */
export async function listAuditPartitions(db: Kysely<DB>): Promise<AuditPartition[]> {
  return db.transaction().execute(async (trx) => {
    // pg_get_expr prints timestamptz bounds in the session's time zone.
    await sql`set local timezone = 'UTC'`.execute(trx);
    const { rows } = await sql<{ name: string; bound: string }>`
      select c.relname as name, pg_get_expr(c.relpartbound, c.oid) as bound
      from pg_inherits i join pg_class c on c.oid = i.inhrelid
      where i.inhparent = ${sql.lit(PARENT)}::regclass`.execute(trx);
    const partitions = rows.map(({ name, bound }): AuditPartition => {
      if (bound === "DEFAULT") return { name, from: null, to: null, isDefault: true };
      const match = /^FOR VALUES FROM \((.+)\) TO \((.+)\)$/.exec(bound);
      if (match === null) throw new Error(`unexpected partition bound ${bound} of ${name}`);
      return { name, from: parseBound(match[1]!), to: parseBound(match[2]!), isDefault: false };
    });
    return partitions.sort(
      (a, b) =>
        Number(a.isDefault) - Number(b.isDefault) ||
        (a.from?.getTime() ?? -Infinity) - (b.from?.getTime() ?? -Infinity),
    );
  });
}

/**
 * Creates the month partitions from the current month to `monthsAhead` months after it where no
 * partition covers them yet. Rows the default partition already holds for such a month are moved
 * into it. Returns the names of the partitions created.
 */
export async function ensureAuditPartitions(
  db: Kysely<DB>,
  options: { now?: Date; monthsAhead?: number } = {},
): Promise<string[]> {
  const now = options.now ?? new Date();
  const monthsAhead = options.monthsAhead ?? 2;
  const existing = await listAuditPartitions(db);
  const covered = (instant: Date) =>
    existing.some(
      (p) =>
        !p.isDefault && (p.from === null || p.from <= instant) && (p.to === null || instant < p.to),
    );
  const created: string[] = [];
  for (let offset = 0; offset <= monthsAhead; offset += 1) {
    const from = monthStart(now.getUTCFullYear(), now.getUTCMonth() + offset);
    const to = monthStart(now.getUTCFullYear(), now.getUTCMonth() + offset + 1);
    if (covered(from)) continue;
    if (await createMonthPartition(db, from, to)) created.push(partitionName(from));
  }
  return created;
}

/** False when another instance created it first. */
async function createMonthPartition(db: Kysely<DB>, from: Date, to: Date): Promise<boolean> {
  const name = partitionName(from);
  const range = sql`for values from (${sql.lit(from.toISOString())}) to (${sql.lit(to.toISOString())})`;
  return db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(${sql.lit(LOCK_KEY)})`.execute(trx);
    const { rows } = await sql<{ taken: boolean; held: boolean }>`
      select to_regclass(${sql.lit(name)}) is not null as taken,
        exists (select 1 from ${sql.id(DEFAULT_PARTITION)}
                where time >= ${sql.lit(from.toISOString())} and time < ${sql.lit(to.toISOString())}) as held`.execute(
      trx,
    );
    const { taken, held } = rows[0]!;
    if (taken) return false;
    if (!held) {
      await sql`create table ${sql.id(name)} partition of ${sql.id(PARENT)} ${range}`.execute(trx);
      return true;
    }
    // Attaching a range the default partition holds rows of fails: move those rows first.
    await sql`create table ${sql.id(name)} (like ${sql.id(PARENT)} including defaults including constraints)`.execute(
      trx,
    );
    await sql`with moved as (
        delete from ${sql.id(DEFAULT_PARTITION)}
        where time >= ${sql.lit(from.toISOString())} and time < ${sql.lit(to.toISOString())}
        returning *)
      insert into ${sql.id(name)} select * from moved`.execute(trx);
    await sql`alter table ${sql.id(PARENT)} attach partition ${sql.id(name)} ${range}`.execute(trx);
    return true;
  });
}

/** The partitions whose every row is older than `before` (the default partition never is). */
export async function expiredAuditPartitions(
  db: Kysely<DB>,
  before: Date,
): Promise<AuditPartition[]> {
  return (await listAuditPartitions(db)).filter(
    (p) => !p.isDefault && p.to !== null && p.to <= before,
  );
}

/** Drops the partitions wholly older than `before`; returns them with the rows each held. */
export async function dropExpiredAuditPartitions(
  db: Kysely<DB>,
  before: Date,
): Promise<{ name: string; rows: number }[]> {
  const dropped: { name: string; rows: number }[] = [];
  for (const partition of await expiredAuditPartitions(db, before)) {
    const rows = await db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(${sql.lit(LOCK_KEY)})`.execute(trx);
      const { rows: counted } = await sql<{
        count: string;
      }>`select count(*) as count from ${sql.id(partition.name)}`.execute(trx);
      await sql`drop table ${sql.id(partition.name)}`.execute(trx);
      return Number(counted[0]!.count);
    });
    dropped.push({ name: partition.name, rows });
  }
  return dropped;
}

const DAY_MS = 86_400_000;

/**
 * Creates the coming months' partitions now and then once a day, for as long as the process runs
 * (the scheduled `audit prune` does it too). A failure is logged and retried the next day: rows
 * of a month without a partition land in the default partition and are moved when it is created.
 */
export async function startAuditPartitionUpkeep(
  db: Kysely<DB>,
  logger: {
    info(object: object, message: string): void;
    error(object: object, message: string): void;
  },
): Promise<{ stop(): void }> {
  const upkeep = async () => {
    try {
      const created = await ensureAuditPartitions(db);
      if (created.length > 0) logger.info({ created }, "audit partitions created");
    } catch (error) {
      logger.error({ err: error }, "audit partition upkeep failed");
    }
  };
  await upkeep();
  const timer = setInterval(() => void upkeep(), DAY_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
