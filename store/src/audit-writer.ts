import { sql, type Kysely } from "kysely";
import type {
  AuditKind,
  AuditSource,
  DB,
  NewAuditCallStartRow,
  NewAuditEventRow,
} from "./schema.ts";
import { isTransientDatabaseError } from "./transient-error.ts";
import { backoffDelayMs } from "./transient-retry.ts";

/**
 * ext-authz decisions: allowed | denied. Router invocations: ok | tool_error | timeout |
 * upstream_error | rejected | cancelled; started for a call's start row (begin()), and interrupted
 * for a call whose router died under it (see call-journal.ts). Task lifecycle: created | completed | failed | cancelled.
 */
export type AuditOutcome =
  | "allowed"
  | "denied"
  | "ok"
  | "tool_error"
  | "timeout"
  | "upstream_error"
  | "rejected"
  | "cancelled"
  | "created"
  | "completed"
  | "failed"
  | "started"
  | "interrupted"
  | "would_deny";

export type AuditEvent = {
  /** Defaults to the time write() was called. */
  time?: Date;
  request_id: string;
  source: AuditSource;
  kind: AuditKind;
  subject?: string | null;
  tenant?: string | null;
  roles?: readonly string[];
  scope?: string | null;
  method?: string | null;
  tool?: string | null;
  outcome: AuditOutcome;
  /** Short snake_case code (same as the log field / metric label), never free error text. */
  reason?: string | null;
  status?: number | null;
  latency_ms?: number | null;
  request_bytes?: number | null;
  response_bytes?: number | null;
  arguments_digest?: string | null;
  /** Already redacted (see captureArguments). */
  arguments?: unknown;
  task_id?: string | null;
  /** The policy rule behind the decision (`roles.auditor.deny[4]`). */
  policy_rule?: string | null;
  /** The OpenTelemetry trace the event belongs to (null when tracing is off). */
  trace_id?: string | null;
};

export type AuditWriterLogger = {
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
};

export type AuditWriterOptions = {
  db: Kysely<DB>;
  logger: AuditWriterLogger;
  /**
   * Most rows per transaction (default 200). There is no timer: a batch is written as soon as the
   * previous commit has finished (group commit), so rows that arrive during a commit share the next.
   */
  batchSize?: number;
  /** Events held in memory, including the batch being written (default 10000, env AUDIT_QUEUE_MAX). */
  maxQueue?: number;
  /**
   * How long write() waits for room in a full queue, and how long commit() and begin() wait for
   * their row to be stored: a row still queued at the deadline is withdrawn and the caller refused;
   * one already being written settles with its transaction. Default 2000 (env AUDIT_WAIT_MS).
   */
  waitTimeoutMs?: number;
  /** Transient errors (see isTransientDatabaseError) are retried for as long as it takes. */
  retry?: {
    /** Default 100. */
    initialDelayMs?: number;
    /** Default 2000. */
    maxDelayMs?: number;
    isTransient?: (error: unknown) => boolean;
  };
};

export type AuditWriterStats = {
  /** Events accepted and not yet written. */
  queued: number;
  /** Callers waiting for room in the queue. */
  waiting: number;
  written: number;
  /** Transactions committed (each holds up to batchSize rows). */
  commits: number;
  /** Retry attempts after transient database errors. */
  retried: number;
  /** Events that could not be stored (rejected by the database, or abandoned by close()); each is logged. */
  failed: number;
  /** Rows refused to their caller: no room in the queue, or not stored within waitTimeoutMs. */
  rejected: number;
  /** Event time of the oldest row still queued (how far the log lags behind), or null. */
  oldestQueuedAt?: Date | null;
};

/** The tool call a start row (begin) or an outcome row (completes) belongs to. */
export type AuditCall = { id: string; instance: string };

export type AuditWriter = {
  /** Best effort: resolves once the event is queued. Rejects with AuditQueueFullError or AuditWriterClosedError. */
  write(event: AuditEvent, options?: { completes?: string }): Promise<void>;
  /**
   * Write-ahead: resolves once the event is committed. With `completes`, the call's start row is
   * removed in the same transaction. Rejects with AuditQueueFullError, AuditNotStoredError or
   * AuditWriterClosedError; the caller must then fail closed.
   */
  commit(event: AuditEvent, options?: { completes?: string }): Promise<void>;
  /** Resolves once the call's start row is committed; rejects as commit() does. */
  begin(event: AuditEvent, call: AuditCall): Promise<void>;
  /** Resolves when every event queued before the call has been written (or counted as failed). */
  flush(): Promise<void>;
  /** Refuses new events and flushes the rest; after timeoutMs (default 10000) what is left is counted as failed and logged. */
  close(options?: { timeoutMs?: number }): Promise<void>;
  stats(): AuditWriterStats;
};

/** The audit queue is full: the caller must fail its request closed rather than go unaudited. */
export class AuditQueueFullError extends Error {
  constructor() {
    super("audit queue is full");
    this.name = "AuditQueueFullError";
  }
}

/** The row was not stored in time, or the database refused it: the caller must fail closed. */
export class AuditNotStoredError extends Error {
  readonly reason: "timeout" | "rejected";

  constructor(reason: "timeout" | "rejected") {
    super(
      reason === "timeout" ? "audit row not stored in time" : "audit row refused by the database",
    );
    this.name = "AuditNotStoredError";
    this.reason = reason;
  }
}

export class AuditWriterClosedError extends Error {
  constructor() {
    super("audit writer is closed");
    this.name = "AuditWriterClosedError";
  }
}

const roundOrNull = (value: number | null | undefined): number | null =>
  value === undefined || value === null || !Number.isFinite(value) ? null : Math.round(value);

// PostgreSQL refuses NUL in text and jsonb, and unpaired surrogates in jsonb (\u escapes): a
// client could otherwise keep its own calls out of the audit log by putting them in its input.
// Both become U+FFFD, so the row is always insertable and the tampering stays visible.
const toWellFormed = (value: string): string =>
  (value as string & { toWellFormed(): string }).toWellFormed();

/** `value` with NUL and lone surrogates replaced by U+FFFD. */
export function storableText<T extends string>(value: T): T {
  return toWellFormed(value).replaceAll("\u0000", "\uFFFD") as T;
}

const storableTextOrNull = (value: string | null | undefined): string | null =>
  value === undefined || value === null ? null : storableText(value);

/** JSON text PostgreSQL's jsonb accepts: every string and object key made storable first. */
export function storableJson(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) => {
    if (typeof item === "string") return storableText(item);
    if (item !== null && typeof item === "object" && !Array.isArray(item)) {
      const entries = Object.entries(item);
      if (entries.every(([key]) => storableText(key) === key)) return item;
      return Object.fromEntries(entries.map(([key, nested]) => [storableText(key), nested]));
    }
    return item;
  });
}

export function toAuditRow(event: AuditEvent, now: Date = new Date()): NewAuditEventRow {
  return {
    time: event.time ?? now,
    request_id: storableText(event.request_id),
    source: storableText(event.source),
    kind: storableText(event.kind),
    subject: storableTextOrNull(event.subject),
    tenant: storableTextOrNull(event.tenant),
    roles: (event.roles ?? []).map((role) => storableText(role)),
    scope: storableTextOrNull(event.scope),
    method: storableTextOrNull(event.method),
    tool: storableTextOrNull(event.tool),
    outcome: storableText(event.outcome),
    reason: storableTextOrNull(event.reason),
    status: roundOrNull(event.status),
    latency_ms: roundOrNull(event.latency_ms),
    request_bytes: roundOrNull(event.request_bytes),
    response_bytes: roundOrNull(event.response_bytes),
    arguments_digest: storableTextOrNull(event.arguments_digest),
    arguments: event.arguments === undefined ? null : storableJson(event.arguments),
    task_id: storableTextOrNull(event.task_id),
    policy_rule: storableTextOrNull(event.policy_rule),
    trace_id: storableTextOrNull(event.trace_id),
  };
}

/** The start row of a tool call: who called what, before the tool runs. */
export function toCallStartRow(
  event: AuditEvent,
  call: AuditCall,
  now: Date = new Date(),
): NewAuditCallStartRow {
  const row = toAuditRow(event, now);
  return {
    call_id: storableText(call.id),
    instance: storableText(call.instance),
    time: row.time,
    request_id: row.request_id,
    source: row.source,
    kind: row.kind,
    subject: row.subject ?? null,
    tenant: row.tenant ?? null,
    roles: row.roles ?? [],
    scope: row.scope ?? null,
    method: row.method ?? null,
    tool: row.tool ?? null,
    arguments_digest: row.arguments_digest ?? null,
    arguments: row.arguments ?? null,
    task_id: row.task_id ?? null,
  };
}

/** Column → PostgreSQL type, for the columns that are not text. */
const COLUMN_TYPES: Readonly<Record<string, string>> = {
  time: "timestamptz",
  roles: "text[]",
  arguments: "jsonb",
  status: "integer",
  latency_ms: "integer",
  request_bytes: "integer",
  response_bytes: "integer",
};

const START_COLUMNS = [
  "call_id",
  "instance",
  "time",
  "request_id",
  "source",
  "kind",
  "subject",
  "tenant",
  "roles",
  "scope",
  "method",
  "tool",
  "arguments_digest",
  "arguments",
  "task_id",
] as const satisfies readonly (keyof NewAuditCallStartRow)[];

const EVENT_COLUMNS = [
  "time",
  "request_id",
  "source",
  "kind",
  "subject",
  "tenant",
  "roles",
  "scope",
  "method",
  "tool",
  "outcome",
  "reason",
  "status",
  "latency_ms",
  "request_bytes",
  "response_bytes",
  "arguments_digest",
  "arguments",
  "task_id",
  "policy_rule",
  "trace_id",
] as const satisfies readonly (keyof NewAuditEventRow)[];

/** A PostgreSQL array literal of text elements, each double-quoted with `\` and `"` escaped. */
function textArrayLiteral(values: readonly string[]): string {
  const quoted = values.map(
    (value) => `"${value.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`,
  );
  return `{${quoted.join(",")}}`;
}

/** One column of a batch, as the array its unnest() parameter takes. */
function columnValues(rows: readonly Record<string, unknown>[], column: string): unknown[] {
  return rows.map((row) => {
    const value = row[column];
    if (value === undefined || value === null) return null;
    if (value instanceof Date) return value.toISOString();
    // An array of arrays cannot be one parameter: each row's roles travel as their literal.
    if (Array.isArray(value)) return textArrayLiteral(value as string[]);
    return value;
  });
}

const quoted = (name: string): string => `"${name}"`;

/** The SQL type of one element of a column's array parameter. */
function elementType(column: string): string {
  const type = COLUMN_TYPES[column] ?? "text";
  // roles travel as text literals (see columnValues) and are cast back per row.
  return type === "text[]" ? "text" : type;
}

/**
 * The text of the writer's one statement, cut at its parameters: `with started as (insert into
 * audit_call_starts … select … from unnest(<one array per column>) on conflict … do nothing),
 * completed as (delete the start rows the outcomes close), recorded as (insert into audit_events …
 * unnest(…)) select 1`. One statement is one transaction and one round trip (PGlite runs each on
 * the event loop); a retry after a commit whose answer was lost finds its start rows there
 * already. Its text is the same for every batch, so PostgreSQL parses a short statement instead of
 * a VALUES list that grows with the batch; it is cut once here, and a batch only builds its arrays
 * (building and compiling the statement per batch cost 75–90 µs).
 */
const STORE_FRAGMENTS: readonly string[] = (() => {
  const fragments: string[] = [];
  let text = "with started as (";
  const insertUnnested = (table: string, columns: readonly string[]) => {
    const names = columns.map(quoted).join(", ");
    const selected = columns.map((column) =>
      COLUMN_TYPES[column] === "text[]" ? `${quoted(column)}::text[]` : quoted(column),
    );
    text += `insert into ${quoted(table)} (${names}) select ${selected.join(", ")} from unnest(`;
    columns.forEach((column, index) => {
      fragments.push(index === 0 ? text : `${text}, `);
      text = `::${elementType(column)}[]`;
    });
    text += `) as rows (${names})`;
  };
  insertUnnested("audit_call_starts", START_COLUMNS);
  text += " on conflict (call_id) do nothing), completed as (";
  fragments.push(`${text}delete from audit_call_starts where call_id = any(`);
  text = "::text[])), recorded as (";
  insertUnnested("audit_events", EVENT_COLUMNS);
  fragments.push(`${text}) select 1`);
  return Object.freeze(fragments);
})();

function storeStatement(
  starts: readonly NewAuditCallStartRow[],
  completed: readonly string[],
  events: readonly NewAuditEventRow[],
) {
  const parameters = [
    ...START_COLUMNS.map((column) => columnValues(starts, column)),
    [...completed],
    ...EVENT_COLUMNS.map((column) => columnValues(events, column)),
  ];
  // The tag's own call, with the fragments cut above: every array is one parameter.
  return sql(STORE_FRAGMENTS as unknown as TemplateStringsArray, ...parameters);
}

const WAITED_ON_MAX_DELAY_MS = 200;

type Waiter = { resolve: () => void; reject: (error: Error) => void };

type NewEntry =
  | { table: "audit_events"; row: NewAuditEventRow; completes?: string }
  | { table: "audit_call_starts"; row: NewAuditCallStartRow };

type Entry = NewEntry & {
  seq: number;
  /** Part of the transaction being written: settles with it, never withdrawn. */
  inFlight: boolean;
  /** The caller's deadline passed while the row was in flight. */
  expired: boolean;
  /** `deadline`: performance.now() at which the caller stops waiting. */
  waiter?: Waiter & { deadline: number };
};

type SpaceWaiter = Waiter & { entry: NewEntry; timer: NodeJS.Timeout };

const summary = (entry: NewEntry) => ({
  requestId: entry.row.request_id,
  source: entry.row.source,
  kind: entry.row.kind,
  outcome: entry.table === "audit_events" ? entry.row.outcome : "started",
  reason: entry.table === "audit_events" ? entry.row.reason : null,
  tool: entry.row.tool,
});

const errorFields = (error: unknown) => ({
  code: (error as { code?: unknown } | null)?.code,
  error: error instanceof Error ? error.message : String(error),
});

/**
 * Append-only audit writer with group commit. Rows wait in a bounded in-memory queue; whenever no
 * transaction is running, everything queued (up to batchSize) is written in one. Callers choose
 * per row: write() returns once queued (best effort), commit() and begin() once stored
 * (write-ahead). Transient database errors are retried with exponential backoff while the rows
 * stay queued, so an outage turns into backpressure and refusals, never into a silent drop.
 */
export function createAuditWriter(options: AuditWriterOptions): AuditWriter {
  const { db, logger } = options;
  const batchSize = Math.max(1, options.batchSize ?? 200);
  const maxQueue = Math.max(1, options.maxQueue ?? 10_000);
  const waitTimeoutMs = options.waitTimeoutMs ?? 2000;
  const initialDelayMs = options.retry?.initialDelayMs ?? 100;
  // Short enough that the queue drains within a couple of seconds of the database coming back.
  const maxDelayMs = options.retry?.maxDelayMs ?? 2000;
  const isTransient = options.retry?.isTransient ?? isTransientDatabaseError;

  const queue: Entry[] = [];
  const spaceWaiters: SpaceWaiter[] = [];
  const flushWaiters: { seq: number; resolve: () => void }[] = [];
  const counters = { written: 0, commits: 0, retried: 0, failed: 0, rejected: 0 };
  let lastSeq = 0;
  let draining: Promise<void> | undefined;
  let closing = false;
  let abandoned = false;
  let wakeBackoff: (() => void) | undefined;
  let deadlineTimer: NodeJS.Timeout | undefined;

  function hasRoom(): boolean {
    return queue.length < maxQueue;
  }

  function enqueue(entry: NewEntry, waiter?: Waiter): void {
    lastSeq += 1;
    const queued = { ...entry, seq: lastSeq, inFlight: false, expired: false } as Entry;
    if (waiter !== undefined) {
      queued.waiter = { ...waiter, deadline: performance.now() + waitTimeoutMs };
      deadlineTimer ??= setTimeout(expireOverdue, waitTimeoutMs);
    }
    queue.push(queued);
    kick();
  }

  /**
   * One timer for all waited-on rows instead of one per row: rows are queued in order and all wait
   * the same time, so the oldest waiting row is always the next to expire.
   */
  function expireOverdue(): void {
    deadlineTimer = undefined;
    const now = performance.now();
    for (const entry of [...queue]) {
      if (entry.waiter === undefined || entry.expired) continue;
      if (entry.waiter.deadline > now) {
        deadlineTimer = setTimeout(expireOverdue, Math.ceil(entry.waiter.deadline - now));
        return;
      }
      expire(entry);
    }
  }

  function kick(): void {
    // One turn of the event loop first, so rows of requests handled in the same turn share it.
    draining ??= new Promise((resolve) => setImmediate(resolve)).then(drain).finally(() => {
      draining = undefined;
      // Rows may have arrived while the last transaction was finishing.
      if (queue.length > 0 && !abandoned) kick();
    });
  }

  /** The caller's deadline: a row not yet being written is withdrawn and refused. */
  function expire(entry: Entry): void {
    if (entry.inFlight) {
      entry.expired = true;
      return;
    }
    withdraw(entry, new AuditNotStoredError("timeout"));
  }

  function withdraw(entry: Entry, error: Error): void {
    const index = queue.indexOf(entry);
    if (index < 0) return;
    queue.splice(index, 1);
    counters.rejected += 1;
    logger.error(
      { event: summary(entry), queued: queue.length },
      "audit row not stored in time; request must fail closed",
    );
    entry.waiter?.reject(error);
    afterRemoval();
  }

  /** Removes the first `count` entries (the batch just written or given up) and tells their callers. */
  function settle(count: number, error?: Error): void {
    for (const entry of queue.splice(0, count)) {
      if (!entry.waiter) continue;
      if (error === undefined) entry.waiter.resolve();
      else entry.waiter.reject(error);
    }
    afterRemoval();
  }

  function afterRemoval(): void {
    if (queue.length === 0 && deadlineTimer !== undefined) {
      clearTimeout(deadlineTimer);
      deadlineTimer = undefined;
    }
    const head = queue[0]?.seq ?? Infinity;
    while (flushWaiters[0] && flushWaiters[0].seq < head) flushWaiters.shift()?.resolve();
    while (spaceWaiters.length > 0 && hasRoom()) {
      const waiter = spaceWaiters.shift();
      if (!waiter) break;
      clearTimeout(waiter.timer);
      enqueue(waiter.entry);
      waiter.resolve();
    }
  }

  async function backoff(attempt: number): Promise<void> {
    // Requests waiting for their rows (write-ahead) have AUDIT_WAIT_MS in all: a terminated
    // connection is replaced in milliseconds, so they are not kept waiting for long backoffs.
    const ceiling = queue.some((entry) => entry.waiter !== undefined)
      ? Math.min(maxDelayMs, WAITED_ON_MAX_DELAY_MS)
      : maxDelayMs;
    await new Promise<void>((resolve) => {
      const handle = setTimeout(resolve, backoffDelayMs(attempt, initialDelayMs, ceiling));
      wakeBackoff = () => {
        clearTimeout(handle);
        resolve();
      };
    });
    wakeBackoff = undefined;
  }

  function abandonAll(): void {
    const count = queue.length;
    if (count === 0) return;
    counters.failed += count;
    logger.error(
      { lost: count, requestIds: queue.slice(0, 20).map((entry) => entry.row.request_id) },
      "audit writer closed before the database accepted these events",
    );
    settle(count, new AuditWriterClosedError());
  }

  /** One transaction: start rows, outcome rows, and the start rows those outcomes close. */
  async function store(batch: readonly Entry[]): Promise<void> {
    const events: NewAuditEventRow[] = [];
    const starts: NewAuditCallStartRow[] = [];
    const completed: string[] = [];
    for (const entry of batch) {
      if (entry.table === "audit_call_starts") {
        starts.push(entry.row);
      } else {
        events.push(entry.row);
        if (entry.completes !== undefined) completed.push(entry.completes);
      }
    }
    await storeStatement(starts, completed, events).execute(db);
  }

  /** Writes rows one by one after a permanent batch failure so one bad row cannot block the rest. */
  async function isolate(batch: Entry[]): Promise<"done" | "transient"> {
    for (const entry of batch) {
      if (abandoned) return "done";
      entry.inFlight = true;
      try {
        await store([entry]);
        counters.written += 1;
        counters.commits += 1;
        settle(1);
      } catch (error) {
        entry.inFlight = false;
        if (isTransient(error)) return "transient";
        counters.failed += 1;
        logger.error(
          { event: summary(entry), ...errorFields(error) },
          "audit event rejected by the database",
        );
        settle(1, new AuditNotStoredError("rejected"));
      }
    }
    return "done";
  }

  async function drain(): Promise<void> {
    let attempt = 0;
    while (queue.length > 0) {
      if (abandoned) {
        abandonAll();
        return;
      }
      const batch = queue.slice(0, batchSize);
      for (const entry of batch) entry.inFlight = true;
      try {
        await store(batch);
        // After close() gave up these rows were already counted as failed: over-reporting loss is the safe side.
        if (abandoned) return;
        counters.written += batch.length;
        counters.commits += 1;
        settle(batch.length);
        attempt = 0;
        continue;
      } catch (error) {
        for (const entry of batch) entry.inFlight = false;
        if (!isTransient(error)) {
          if ((await isolate(batch)) === "done") continue;
        } else {
          logger.warn(
            { queued: queue.length, attempt, ...errorFields(error) },
            "audit insert failed; will retry",
          );
        }
        // Callers whose deadline passed during the attempt are refused now, not after the outage.
        for (const entry of batch) {
          if (entry.expired) withdraw(entry, new AuditNotStoredError("timeout"));
        }
      }
      counters.retried += 1;
      await backoff(attempt);
      attempt += 1;
    }
  }

  /** commit() and begin(): the caller waits for the row to be stored. */
  function stored(entry: NewEntry): Promise<void> {
    if (closing) return Promise.reject(new AuditWriterClosedError());
    if (!hasRoom() || spaceWaiters.length > 0) {
      counters.rejected += 1;
      logger.error(
        { event: summary(entry), queued: queue.length },
        "audit queue full; request must fail closed",
      );
      return Promise.reject(new AuditQueueFullError());
    }
    return new Promise<void>((resolve, reject) => enqueue(entry, { resolve, reject }));
  }

  function flush(): Promise<void> {
    if (queue.length === 0) return Promise.resolve();
    const done = new Promise<void>((resolve) => flushWaiters.push({ seq: lastSeq, resolve }));
    kick();
    return done;
  }

  return {
    write(event, writeOptions = {}) {
      if (closing) return Promise.reject(new AuditWriterClosedError());
      const entry: NewEntry = {
        table: "audit_events",
        row: toAuditRow(event),
        ...(writeOptions.completes === undefined ? {} : { completes: writeOptions.completes }),
      };
      if (hasRoom() && spaceWaiters.length === 0) {
        enqueue(entry);
        return Promise.resolve();
      }
      return new Promise<void>((resolve, reject) => {
        const waiter: SpaceWaiter = {
          entry,
          resolve,
          reject,
          timer: setTimeout(() => {
            const index = spaceWaiters.indexOf(waiter);
            if (index >= 0) spaceWaiters.splice(index, 1);
            counters.rejected += 1;
            logger.error(
              { event: summary(entry), queued: queue.length },
              "audit queue full; request must fail closed",
            );
            reject(new AuditQueueFullError());
          }, waitTimeoutMs),
        };
        spaceWaiters.push(waiter);
      });
    },

    commit(event, commitOptions = {}) {
      return stored({
        table: "audit_events",
        row: toAuditRow(event),
        ...(commitOptions.completes === undefined ? {} : { completes: commitOptions.completes }),
      });
    },

    begin(event, call) {
      return stored({ table: "audit_call_starts", row: toCallStartRow(event, call) });
    },

    flush,

    async close(closeOptions = {}) {
      closing = true;
      let expireClose: () => void = () => undefined;
      const expired = new Promise<"expired">((resolve) => {
        expireClose = () => resolve("expired");
      });
      const deadline = setTimeout(expireClose, closeOptions.timeoutMs ?? 10_000);
      const drained = (async () => {
        while (queue.length > 0 || spaceWaiters.length > 0) await flush();
        await draining;
        return "drained" as const;
      })();
      try {
        if ((await Promise.race([drained, expired])) === "expired") {
          abandoned = true;
          for (const waiter of spaceWaiters.splice(0)) {
            clearTimeout(waiter.timer);
            counters.rejected += 1;
            waiter.reject(new AuditWriterClosedError());
          }
          wakeBackoff?.();
          abandonAll();
        }
      } finally {
        clearTimeout(deadline);
      }
    },

    stats() {
      const oldest = queue[0]?.row.time;
      return {
        queued: queue.length,
        waiting: spaceWaiters.length,
        ...counters,
        oldestQueuedAt: oldest === undefined ? null : new Date(oldest),
      };
    },
  };
}
