/**
 * Reading the audit log: the one query behind `npm run audit -- query` and `GET /admin/audit`.
 * Filters are exact matches (subject, tool, scope, outcome) and a time window; pages are keyset
 * pages, newest first (time desc, id desc), with an opaque cursor naming the last row returned.
 */
import { sql, type Kysely } from "kysely";
import type { AuditEventRow, DB } from "./schema.ts";

export const AUDIT_QUERY_DEFAULT_LIMIT = 100;
export const AUDIT_QUERY_MAX_LIMIT = 1000;

/** The filters as a caller gives them: command-line options or URL query parameters. */
export type AuditQueryInput = {
  user?: string | undefined;
  tool?: string | undefined;
  scope?: string | undefined;
  outcome?: string | undefined;
  /** Absolute (ISO 8601) or relative to now (`90s`, `15m`, `1h`, `7d`, `2w`). */
  since?: string | undefined;
  until?: string | undefined;
  limit?: string | undefined;
  cursor?: string | undefined;
};

/** The names AuditQueryInput accepts, for callers that refuse anything else. */
export const AUDIT_QUERY_FIELDS = [
  "user",
  "tool",
  "scope",
  "outcome",
  "since",
  "until",
  "limit",
  "cursor",
] as const satisfies readonly (keyof AuditQueryInput)[];

type Cursor = { time: string; id: string };

export type AuditQuery = {
  subject?: string;
  tool?: string;
  scope?: string;
  outcome?: string;
  /** Inclusive. */
  since?: Date;
  /** Exclusive. */
  until?: Date;
  limit: number;
  after?: Cursor;
};

/** A filter the caller got wrong: the message is safe to show (exit 2, HTTP 400). */
export class AuditQueryError extends Error {
  override readonly name = "AuditQueryError";
}

export type AuditPage = {
  events: AuditEventRow[];
  /** Pass back as `cursor` for the next (older) page; null on the last page. */
  nextCursor: string | null;
};

const RELATIVE_RE = /^(\d{1,9})(s|m|h|d|w)$/;
const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
/** A date, or a date and time with an optional fraction and zone: what Date.parse reads alike everywhere. */
const ISO_RE =
  /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;
/** The cursor's time: microseconds, UTC, as PostgreSQL's to_char below writes it. */
const CURSOR_TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const CURSOR_ID_RE = /^[1-9]\d{0,18}$/;
const MAX_FILTER_LENGTH = 512;
const OUTCOME_RE = /^[a-z_]{1,32}$/;

/** `1h` → now - 1 hour; an ISO 8601 date or time → that instant. */
export function parseAuditTime(value: string, name: string, now: number): Date {
  const relative = RELATIVE_RE.exec(value);
  if (relative) {
    const [, amount, unit] = relative as unknown as [string, string, keyof typeof UNIT_MS];
    return new Date(now - Number(amount) * UNIT_MS[unit]);
  }
  const parsed = ISO_RE.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(parsed)) {
    throw new AuditQueryError(
      `invalid ${name} "${value}": expected an ISO 8601 time (2026-11-30T12:00:00Z) or a duration back from now (30m, 1h, 7d)`,
    );
  }
  return new Date(parsed);
}

export function encodeAuditCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify([cursor.time, cursor.id])).toString("base64url");
}

export function decodeAuditCursor(value: string): Cursor {
  const invalid = new AuditQueryError(
    "invalid cursor: pass back the next_cursor of a previous page",
  );
  if (value.length > 200 || !/^[A-Za-z0-9_-]+$/.test(value)) throw invalid;
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(value, "base64url").toString("utf8"));
  } catch {
    throw invalid;
  }
  if (!Array.isArray(decoded) || decoded.length !== 2) throw invalid;
  const [time, id] = decoded as unknown[];
  if (typeof time !== "string" || !CURSOR_TIME_RE.test(time) || Number.isNaN(Date.parse(time)))
    throw invalid;
  if (typeof id !== "string" || !CURSOR_ID_RE.test(id)) throw invalid;
  return { time, id };
}

function filterText(value: string | undefined, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (value === "" || value.length > MAX_FILTER_LENGTH) {
    throw new AuditQueryError(`invalid ${name}: expected 1-${MAX_FILTER_LENGTH} characters`);
  }
  return value;
}

/** Checks and converts the filters; throws AuditQueryError naming the first one that is wrong. */
export function parseAuditQuery(input: AuditQueryInput, now: number = Date.now()): AuditQuery {
  const query: AuditQuery = { limit: AUDIT_QUERY_DEFAULT_LIMIT };
  const subject = filterText(input.user, "user");
  if (subject !== undefined) query.subject = subject;
  const tool = filterText(input.tool, "tool");
  if (tool !== undefined) query.tool = tool;
  const scope = filterText(input.scope, "scope");
  if (scope !== undefined) query.scope = scope;
  if (input.outcome !== undefined) {
    if (!OUTCOME_RE.test(input.outcome)) {
      throw new AuditQueryError(
        `invalid outcome "${input.outcome}": expected a word such as ok, denied, rejected`,
      );
    }
    query.outcome = input.outcome;
  }
  if (input.since !== undefined) query.since = parseAuditTime(input.since, "since", now);
  if (input.until !== undefined) query.until = parseAuditTime(input.until, "until", now);
  if (query.since !== undefined && query.until !== undefined && query.since >= query.until) {
    throw new AuditQueryError("invalid time window: since must be before until");
  }
  if (input.limit !== undefined) {
    const limit = /^\d{1,7}$/.test(input.limit) ? Number(input.limit) : Number.NaN;
    if (!(limit >= 1 && limit <= AUDIT_QUERY_MAX_LIMIT)) {
      throw new AuditQueryError(
        `invalid limit "${input.limit}": expected a whole number from 1 to ${AUDIT_QUERY_MAX_LIMIT}`,
      );
    }
    query.limit = limit;
  }
  if (input.cursor !== undefined) query.after = decodeAuditCursor(input.cursor);
  return query;
}

/** One page of audit events matching `query`, newest first. */
export async function queryAuditEvents(db: Kysely<DB>, query: AuditQuery): Promise<AuditPage> {
  let select = db
    .selectFrom("audit_events")
    .selectAll()
    // Microseconds, which a JS Date would lose: the cursor must name the row exactly.
    .select(
      sql<string>`to_char(time at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`.as(
        "cursor_time",
      ),
    );
  if (query.subject !== undefined) select = select.where("subject", "=", query.subject);
  if (query.tool !== undefined) select = select.where("tool", "=", query.tool);
  if (query.scope !== undefined) select = select.where("scope", "=", query.scope);
  if (query.outcome !== undefined) select = select.where("outcome", "=", query.outcome);
  if (query.since !== undefined) select = select.where("time", ">=", query.since);
  if (query.until !== undefined) select = select.where("time", "<", query.until);
  if (query.after !== undefined) {
    const { time, id } = query.after;
    select = select.where(sql<boolean>`(time, id) < (${time}::timestamptz, ${id}::bigint)`);
  }
  const rows = await select
    .orderBy("time", "desc")
    .orderBy("id", "desc")
    // One more than asked: whether there is a next page, without a count.
    .limit(query.limit + 1)
    .execute();
  const more = rows.length > query.limit;
  const page = more ? rows.slice(0, query.limit) : rows;
  const last = page.at(-1);
  const events: AuditEventRow[] = page.map(({ cursor_time: _cursorTime, ...event }) => event);
  return {
    events,
    nextCursor:
      more && last !== undefined
        ? encodeAuditCursor({ time: last.cursor_time, id: int8Text(last.id) })
        : null,
  };
}

/** An event as JSON for the REST API and `--format json`: the time in ISO 8601, the id a string. */
export function auditEventJson(event: AuditEventRow): Record<string, unknown> {
  return { ...event, id: int8Text(event.id), time: event.time.toISOString() };
}

/** int8 columns arrive as decimal strings on both drivers; schema.ts types them as a ColumnType. */
function int8Text(value: AuditEventRow["id"]): string {
  return value as unknown as string;
}

/** Events older than `before`; what `prune` would delete. */
export async function countAuditEventsBefore(db: Kysely<DB>, before: Date): Promise<number> {
  const row = await db
    .selectFrom("audit_events")
    .select((eb) => eb.fn.countAll<string>().as("count"))
    .where("time", "<", before)
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

/**
 * Deletes events older than `before` in batches of `batchSize` (each its own short transaction,
 * so writers are never held up long). Returns how many were deleted.
 */
export async function pruneAuditEvents(
  db: Kysely<DB>,
  before: Date,
  options: { batchSize?: number } = {},
): Promise<number> {
  const batchSize = options.batchSize ?? 10_000;
  let deleted = 0;
  for (;;) {
    const result = await db
      .deleteFrom("audit_events")
      .where(
        "id",
        "in",
        db.selectFrom("audit_events").select("id").where("time", "<", before).limit(batchSize),
      )
      .executeTakeFirst();
    const count = Number(result.numDeletedRows);
    deleted += count;
    if (count < batchSize) return deleted;
  }
}
